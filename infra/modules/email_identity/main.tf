# The address subscribers send email from. SES mails a verification link to
# it; until it is clicked (or the domain is verified) SES refuses to send.
resource "aws_sesv2_email_identity" "sender" {
  email_identity = var.sender
}
