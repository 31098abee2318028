output "identity_arn" {
  description = "ARN of the SES email identity (null when not enabled)."
  value       = one(aws_sesv2_email_identity.sender[*].arn)
}
