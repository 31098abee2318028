variable "name_prefix" {
  description = "Prefix of every alarm name and of the dashboard name."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (on ALARM and back to OK)."
  type        = string
}

variable "failure_queue_names" {
  description = "Queues where failed messages wait, by key: every consumer DLQ and the stream consumers' failure queue. Any message in one of them alarms."
  type        = map(string)
}

variable "event_stream_name" {
  description = "Kinesis event stream whose read iterator age is watched."
  type        = string
}

variable "function_names" {
  description = "Deployed Lambda function name by Chalice handler name; each gets an errors and a throttles alarm."
  type        = map(string)
}

variable "stream_consumer_function_names" {
  description = "Function name by handler, of the functions mapped to a stream (Kinesis or the ledger's DynamoDB stream); each gets an iterator age alarm."
  type        = map(string)
}

variable "iterator_age_threshold_ms" {
  description = "Alarm when the oldest unread record of the Kinesis stream, or of a stream consumer's shard (Kinesis or DynamoDB stream), is older than this, in milliseconds."
  type        = number
  default     = 60000

  validation {
    condition     = var.iterator_age_threshold_ms >= 1000
    error_message = "iterator_age_threshold_ms must be at least 1000 (1 s)."
  }
}

variable "archive_delivery_stream_name" {
  description = "Firehose delivery stream to the S3 archive (alarms on failed S3 deliveries)."
  type        = string
}

variable "search_delivery_stream_name" {
  description = "Firehose delivery stream to OpenSearch (alarms on failed index deliveries)."
  type        = string
}

variable "api_name" {
  description = "API Gateway REST API name (Chalice names it after the app)."
  type        = string
}

variable "api_stage" {
  description = "API Gateway stage Chalice deploys to."
  type        = string
  default     = "api"
}

variable "api_5xx_threshold" {
  description = "Alarm when the API answers more than this many 5xx responses in 5 minutes."
  type        = number
  default     = 0

  validation {
    condition     = var.api_5xx_threshold >= 0
    error_message = "api_5xx_threshold must not be negative."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the platform's own EMF metrics (chalicelib/adapters/observability.py NAMESPACE), shown on the dashboard."
  type        = string
}
