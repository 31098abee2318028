output "topic_arn" {
  description = "ARN of the user-events topic."
  value       = aws_sns_topic.user_events.arn
}

output "queue_names" {
  description = "Consumer queue name by key."
  value       = { for k, q in aws_sqs_queue.queue : k => q.name }
}

output "queue_arns" {
  description = "Consumer queue ARN by key."
  value       = { for k, q in aws_sqs_queue.queue : k => q.arn }
}

output "queue_urls" {
  description = "Consumer queue URL by key."
  value       = { for k, q in aws_sqs_queue.queue : k => q.id }
}

output "dlq_names" {
  description = "Dead-letter queue name by consumer queue key."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.name }
}

output "dlq_arns" {
  description = "Dead-letter queue ARN by consumer queue key."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.arn }
}

output "stream_failure_queue_name" {
  description = "Name of the stream consumers' on-failure queue."
  value       = aws_sqs_queue.stream_failures.name
}

output "stream_failure_queue_arn" {
  description = "ARN of the stream consumers' on-failure queue."
  value       = aws_sqs_queue.stream_failures.arn
}
