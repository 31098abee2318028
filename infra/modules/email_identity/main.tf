# The address subscribers send email from. SES mails a verification link to
# it; until it is clicked (or the domain is verified) SES refuses to send.
resource "aws_sesv2_email_identity" "sender" {
  count = var.enabled ? 1 : 0

  email_identity = var.sender

  lifecycle {
    precondition {
      condition     = var.sender != null
      error_message = "Set email_sender: a subscriber needs send_email (chalicelib/resources.py)."
    }
  }
}
