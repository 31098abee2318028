variable "app_name" {
  description = "Chalice app name."
  type        = string
}

variable "stage" {
  description = "Chalice stage; functions are named <app_name>-<stage>-<handler>."
  type        = string
}

variable "subscribers" {
  description = "User-event subscribers by Chalice handler name: their queue key, table key and abstract needs (delete_identity, open_personal_data, read_ledger, send_email, served_by_api)."
  type = map(object({
    queue = string
    table = string
    needs = list(string)
  }))
}

variable "email_sender" {
  description = "Sender address of subscribers needing send_email: they may send as it (ses:FromAddress) through its SES identity only."
  type        = string
  default     = null
}

variable "table_arns" {
  description = "DynamoDB table ARN by catalogue key (the platform's tables and every subscriber's)."
  type        = map(string)
}

variable "state_kms_key_arn" {
  description = "KMS key of the DynamoDB tables."
  type        = string
}

variable "event_stream_arn" {
  description = "ARN of the Kinesis event stream."
  type        = string
}

variable "event_stream_kms_key_arn" {
  description = "KMS key of the Kinesis event stream."
  type        = string
}

variable "topic_arn" {
  description = "ARN of the user-events SNS topic."
  type        = string
}

variable "queue_arns" {
  description = "Consumer queue ARN by subscriber key."
  type        = map(string)
}

variable "stream_failure_queue_arn" {
  description = "ARN of the stream consumers' on-failure queue."
  type        = string
}

variable "pubsub_kms_key_arn" {
  description = "KMS key of the topic and queues."
  type        = string
}

variable "search_redaction_queue_arn" {
  description = "Delay queue of the erasures' late redaction pass: search_erasure sends to it, search_late_redaction consumes it."
  type        = string
}

variable "personal_data_kms_key_arn" {
  description = "KMS key that encrypts the per-person data keys."
  type        = string
}

variable "opensearch_domain_arn" {
  description = "ARN of the OpenSearch domain."
  type        = string
}

variable "user_pool_arn" {
  description = "ARN of the Cognito user pool: subscribers needing delete_identity may delete its users (AdminDeleteUser) and nothing else."
  type        = string
}

variable "opensearch_read_alias" {
  description = "Alias the API searches through (OPENSEARCH_INDEX): the API may query <domain>/<alias>/_search only."
  type        = string
}

variable "archive_bucket_arn" {
  description = "ARN of the event archive bucket (the replay worker reads it and keeps its parts there)."
  type        = string
}

variable "archive_prefix" {
  description = "Key prefix of the archived events (chalicelib.adapters.archive.ARCHIVE_PREFIX): the replay worker reads objects under it only."
  type        = string
  default     = "events/"
}

variable "replay_parts_prefix" {
  description = "Key prefix of a replay's bucket parts in the archive bucket (resources.REPLAY.parts_prefix)."
  type        = string
  default     = "replay/"
}

variable "archive_kms_key_arn" {
  description = "KMS key of the archive bucket."
  type        = string
}
