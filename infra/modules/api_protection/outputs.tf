output "web_acl_arn" {
  description = "ARN of the web ACL; scripts/post_deploy.py associates it with the API's stage."
  value       = aws_wafv2_web_acl.api.arn
}

output "web_acl_name" {
  description = "Name of the web ACL."
  value       = aws_wafv2_web_acl.api.name
}
