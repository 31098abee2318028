output "domain_name" {
  description = "Name of the OpenSearch domain."
  value       = aws_opensearch_domain.this.domain_name
}

output "domain_arn" {
  description = "ARN of the OpenSearch domain."
  value       = aws_opensearch_domain.this.arn
}

output "endpoint" {
  description = "HTTPS endpoint of the domain (host name, no scheme)."
  value       = aws_opensearch_domain.this.endpoint
}
