variable "bucket_name" {
  description = "Name of the archive bucket (globally unique)."
  type        = string
}

variable "delivery_stream_name" {
  description = "Name of the Firehose delivery stream."
  type        = string
}

variable "source_stream_arn" {
  description = "ARN of the Kinesis data stream Firehose reads."
  type        = string
}

variable "source_stream_kms_key_arn" {
  description = "KMS key encrypting the source stream (Firehose must decrypt)."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the archive bucket and the Firehose log group."
  type        = string
}

variable "prefix" {
  description = "S3 key prefix of archived events (Firehose expressions allowed)."
  type        = string
}

variable "error_prefix" {
  description = "S3 key prefix of records Firehose failed to deliver or index."
  type        = string
}

variable "buffering_interval_seconds" {
  description = "Firehose buffering interval (60..900 s)."
  type        = number

  validation {
    condition     = var.buffering_interval_seconds >= 60 && var.buffering_interval_seconds <= 900
    error_message = "buffering_interval_seconds must be between 60 and 900."
  }
}

variable "buffering_size_mb" {
  description = "Firehose buffer size (1..100 MiB)."
  type        = number

  validation {
    condition     = var.buffering_size_mb >= 1 && var.buffering_size_mb <= 100
    error_message = "buffering_size_mb must be between 1 and 100."
  }
}

variable "opensearch_domain_arn" {
  description = "ARN of the OpenSearch domain that indexes every event."
  type        = string
}

variable "opensearch_index" {
  description = "OpenSearch index name."
  type        = string
  default     = "events"
}

variable "transition_days" {
  description = "Days before objects move to STANDARD_IA."
  type        = number
  default     = 30
}

variable "glacier_days" {
  description = "Days before objects move to GLACIER."
  type        = number
  default     = 180

  validation {
    condition     = var.glacier_days >= 60
    error_message = "glacier_days must be at least 60."
  }
}

variable "log_retention_days" {
  description = "Retention of the Firehose error log group."
  type        = number
}
