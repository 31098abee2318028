output "identity_arn" {
  description = "ARN of the SES email identity; ses:SendEmail is granted on it only."
  value       = aws_sesv2_email_identity.sender.arn
}
