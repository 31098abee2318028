output "table_names" {
  description = "Table name by catalogue key."
  value       = { for k, t in aws_dynamodb_table.this : k => t.name }
}

output "table_arns" {
  description = "Table ARN by catalogue key."
  value       = { for k, t in aws_dynamodb_table.this : k => t.arn }
}

output "stream_arns" {
  description = "Latest stream ARN by catalogue key, for tables with a stream."
  value       = { for k, t in aws_dynamodb_table.this : k => t.stream_arn if t.stream_enabled }
}
