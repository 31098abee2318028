# Everything the Chalice app needs; scripts/tf_outputs_to_chalice.py reads
# these through `terraform output -json`.

output "aws_region" {
  description = "Region of the deployment."
  value       = var.aws_region
}

output "name_prefix" {
  description = "Resource name prefix (NAME_PREFIX of the app)."
  value       = var.name_prefix
}

output "chalice_app_name" {
  description = "Chalice app name the IAM policies were written for."
  value       = var.chalice_app_name
}

output "chalice_stage" {
  description = "Chalice stage the IAM policies were written for."
  value       = var.chalice_stage
}

output "table_names" {
  description = "DynamoDB table name by catalogue key (resources.TABLES[*].key)."
  value       = module.state.table_names
}

output "table_arns" {
  description = "DynamoDB table ARN by catalogue key."
  value       = module.state.table_arns
}

output "ledger_stream_arn" {
  description = "DynamoDB stream ARN of the ledger table (LEDGER_STREAM_ARN)."
  value       = module.state.stream_arns["ledger"]
}

output "event_stream_name" {
  description = "Kinesis event stream name (EVENT_STREAM)."
  value       = module.event_log.stream_name
}

output "event_stream_arn" {
  description = "Kinesis event stream ARN."
  value       = module.event_log.stream_arn
}

output "user_events_topic_arn" {
  description = "SNS user-events topic ARN (USER_EVENTS_TOPIC_ARN)."
  value       = module.pubsub.topic_arn
}

output "queue_names" {
  description = "SQS consumer queue name by catalogue key (resources.QUEUES[*].key)."
  value       = module.pubsub.queue_names
}

output "queue_arns" {
  description = "SQS consumer queue ARN by catalogue key."
  value       = module.pubsub.queue_arns
}

output "dlq_arns" {
  description = "Dead-letter queue ARN by consumer queue key."
  value       = module.pubsub.dlq_arns
}

output "stream_failure_queue_name" {
  description = "On-failure queue of the stream consumers (STREAM_FAILURE_QUEUE)."
  value       = module.pubsub.stream_failure_queue_name
}

output "search_redaction_queue_name" {
  description = "Delay queue of the erasures' late redaction pass in the search index (SEARCH_REDACTION_QUEUE)."
  value       = module.archive.search_redaction_queue_name
}

output "search_redaction_delay_seconds" {
  description = "The search redaction queue's delay: the search delivery window (transform timeout + buffering interval + retry duration) plus a margin."
  value       = module.archive.search_redaction_delay_seconds
}

output "stream_failure_queue_arn" {
  description = "ARN of the stream consumers' on-failure queue (post_deploy.py)."
  value       = module.pubsub.stream_failure_queue_arn
}

output "archive_bucket_name" {
  description = "S3 event archive bucket (ARCHIVE_BUCKET)."
  value       = module.archive.bucket_name
}

output "archive_delivery_stream_name" {
  description = "Firehose delivery stream archiving the event stream to S3 (sealed events, no transformation)."
  value       = module.archive.delivery_stream_name
}

output "search_delivery_stream_name" {
  description = "Firehose delivery stream indexing the event stream into OpenSearch through search_transform."
  value       = module.archive.search_delivery_stream_name
}

output "firehose_role_arn" {
  description = "Role of the search delivery stream: map it to an OpenSearch role with write access to the events index."
  value       = module.archive.search_firehose_role_arn
}

output "search_transform_function_arn" {
  description = "ARN the search delivery stream invokes as its processor (created by `chalice deploy`)."
  value       = module.iam.function_arns["search_transform"]
}

output "search_failed_documents_prefix" {
  description = "Archive bucket prefix of failed search documents (expire after search_failed_documents_expiry_days)."
  value       = module.archive.failed_documents_prefix
}

output "opensearch_endpoint" {
  description = "OpenSearch HTTPS endpoint (OPENSEARCH_ENDPOINT, with https://)."
  value       = "https://${module.search.endpoint}"
}

output "opensearch_index" {
  description = "OpenSearch index holding the events."
  value       = module.archive.opensearch_index
}

output "personal_data_kms_key_arn" {
  description = "KMS key that encrypts the per-person data keys (PERSONAL_DATA_KMS_KEY)."
  value       = module.key_personal_data.key_arn
}

output "early_adopter_count" {
  description = "EARLY_ADOPTER_COUNT of the app."
  value       = var.early_adopter_count
}

output "cors_allowed_origins" {
  description = "Browser origins allowed to call the API (CORS_ALLOWED_ORIGINS of the app)."
  value       = var.cors_allowed_origins
}

output "lambda_function_names" {
  description = "Deployed Lambda function name by Chalice handler name."
  value       = module.iam.function_names
}

output "lambda_iam_policies" {
  description = "Least-privilege IAM policy JSON by Chalice handler name."
  value       = module.iam.policies
}

output "lambda_reserved_concurrency" {
  description = "Reserved concurrency by Chalice handler name."
  value = var.lambda_reserved_concurrency != null ? var.lambda_reserved_concurrency : merge(
    { ledger_relay = 2, user_events_fanout = 2, projector = 2 },
    { for s in values(var.subscribers) : s.handler => s.reserved_concurrency },
  )
}

output "email_sender" {
  description = "Sender address of subscribers that send email (EMAIL_SENDER); empty when none is set."
  value       = var.email_sender == null ? "" : var.email_sender
}

output "cognito_user_pool_id" {
  description = "Cognito user pool whose access tokens the API accepts (COGNITO_USER_POOL_ID)."
  value       = module.identity.user_pool_id
}

output "cognito_app_client_id" {
  description = "The API's app client; access tokens carry it as client_id (COGNITO_APP_CLIENT_ID)."
  value       = module.identity.app_client_id
}

output "cognito_issuer" {
  description = "Issuer of the pool's tokens (COGNITO_ISSUER)."
  value       = module.identity.issuer
}

output "cognito_jwks_url" {
  description = "JSON Web Key Set of the pool, to verify token signatures (COGNITO_JWKS_URL)."
  value       = module.identity.jwks_url
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies: subscribe the on-call to it."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm (README \"Operating it\" says what each means and how to recover)."
  value       = module.monitoring.alarm_names
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the platform's operations."
  value       = module.monitoring.dashboard_name
}

output "api_throttling" {
  description = "Stage throttling of the REST API (requests per second, burst); scripts/post_deploy.py applies it to every method of the stage Chalice deploys."
  value = {
    rate_limit  = var.api_throttling_rate_limit
    burst_limit = var.api_throttling_burst_limit
  }
}

output "api_web_acl_arn" {
  description = "WAF web ACL of the REST API (rate limits per identity and per IP); scripts/post_deploy.py associates it with the stage."
  value       = module.api_protection.web_acl_arn
}

output "replay_state_machine_arn" {
  description = "Replay state machine: scripts/replay.py --on aws --state-machine <this> --projection NAME."
  value       = module.replay.state_machine_arn
}

output "replay_worker" {
  description = "Lambda memory and timeout of the replay worker, which Chalice deploys (tf_outputs_to_chalice.py)."
  value       = module.replay.worker
}

output "replay_definition_values" {
  description = "The values the replay state machine's definition was rendered with (the deploy rehearsal checks the deployed definition against them)."
  value       = module.replay.definition_values
}
