output "bucket_name" {
  description = "Name of the archive bucket."
  value       = aws_s3_bucket.archive.bucket
}

output "bucket_arn" {
  description = "ARN of the archive bucket."
  value       = aws_s3_bucket.archive.arn
}

output "access_log_bucket_name" {
  description = "Name of the bucket receiving the archive's server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "delivery_stream_name" {
  description = "Name of the Firehose delivery stream archiving the events to S3."
  value       = aws_kinesis_firehose_delivery_stream.archive.name
}

output "delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream archiving the events to S3."
  value       = aws_kinesis_firehose_delivery_stream.archive.arn
}

output "search_delivery_stream_name" {
  description = "Name of the Firehose delivery stream indexing the events into OpenSearch."
  value       = aws_kinesis_firehose_delivery_stream.search.name
}

output "search_delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream indexing the events into OpenSearch."
  value       = aws_kinesis_firehose_delivery_stream.search.arn
}

output "archive_firehose_role_arn" {
  description = "IAM role of the archive delivery stream (S3 only; no OpenSearch access)."
  value       = aws_iam_role.firehose.arn
}

output "search_firehose_role_arn" {
  description = "IAM role of the search delivery stream; map it to an OpenSearch role with write access to the index (fine-grained access control)."
  value       = aws_iam_role.search.arn
}

output "failed_documents_prefix" {
  description = "S3 key prefix of failed search documents (expiring)."
  value       = var.failed_documents_prefix
}

output "opensearch_index" {
  description = "Index the delivery stream writes."
  value       = var.opensearch_index
}

output "search_redaction_queue_name" {
  description = "Delay queue of the erasures' late redaction pass in the search index."
  value       = aws_sqs_queue.search_redaction.name
}

output "search_redaction_queue_arn" {
  description = "ARN of the search redaction delay queue."
  value       = aws_sqs_queue.search_redaction.arn
}

output "search_redaction_dlq_name" {
  description = "DLQ of the search redaction queue (erasures whose late redaction kept failing)."
  value       = aws_sqs_queue.search_redaction_dlq.name
}

output "search_redaction_delay_seconds" {
  description = "Delay of the search redaction queue: the search delivery window plus the margin."
  value       = aws_sqs_queue.search_redaction.delay_seconds
}
