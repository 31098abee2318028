variable "bucket_name" {
  description = "Name of the archive bucket (globally unique)."
  type        = string
}

variable "delivery_stream_name" {
  description = "Name of the Firehose delivery stream archiving the event stream to S3."
  type        = string
}

variable "search_delivery_stream_name" {
  description = "Name of the Firehose delivery stream indexing the event stream into OpenSearch."
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
  description = "Customer-managed KMS key for the archive bucket, the failed search documents and the Firehose log groups."
  type        = string
}

variable "prefix" {
  description = "S3 key prefix of archived events (Firehose expressions allowed)."
  type        = string
}

variable "bucket_count" {
  description = "Hash buckets of the archive (the prefix holds !{partitionKeyFromQuery:bucket}): bucket = polynomial hash of the subject mod this, as projections/archive_buckets.py computes it."
  type        = number

  validation {
    condition     = var.bucket_count >= 1 && var.bucket_count <= 250
    error_message = "bucket_count must be between 1 and 250 (Firehose's active partitions)."
  }
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
  description = "Firehose buffer size (64..100 MiB: the range with dynamic partitioning, buffered per bucket)."
  type        = number

  validation {
    condition     = var.buffering_size_mb >= 64 && var.buffering_size_mb <= 100
    error_message = "buffering_size_mb must be between 64 and 100 (dynamic partitioning)."
  }
}

variable "opensearch_domain_arn" {
  description = "ARN of the OpenSearch domain that indexes every event."
  type        = string
}

variable "search_buffering_interval_seconds" {
  description = "Buffering interval of the search delivery stream and its transformation (60..900 s)."
  type        = number

  validation {
    condition     = var.search_buffering_interval_seconds >= 60 && var.search_buffering_interval_seconds <= 900
    error_message = "search_buffering_interval_seconds must be between 60 and 900."
  }
}

variable "search_buffering_size_mb" {
  description = "Buffer size of the search delivery stream (1..100 MiB)."
  type        = number

  validation {
    condition     = var.search_buffering_size_mb >= 1 && var.search_buffering_size_mb <= 100
    error_message = "search_buffering_size_mb must be between 1 and 100."
  }
}

variable "search_retry_duration_seconds" {
  description = "How long the search delivery stream retries a delivery OpenSearch refused (0..7200 s); part of the erasure window the late redaction pass waits out."
  type        = number

  validation {
    condition     = var.search_retry_duration_seconds >= 0 && var.search_retry_duration_seconds <= 7200
    error_message = "search_retry_duration_seconds must be between 0 and 7200."
  }
}

variable "search_transform_timeout_seconds" {
  description = "Lambda timeout of search_transform (Firehose allows a processor up to 300 s): an opened document leaves the transform within it."
  type        = number

  validation {
    condition     = var.search_transform_timeout_seconds >= 1 && var.search_transform_timeout_seconds <= 300
    error_message = "search_transform_timeout_seconds must be between 1 and 300."
  }
}

variable "search_redaction" {
  description = "The erasures' late redaction delay queue (resources.SEARCH_LATE_REDACTION): name, margin added to the delivery window, consumer settings, and the KMS key that encrypts it."
  type = object({
    queue_name                    = string
    margin_seconds                = number
    max_receive_count             = number
    visibility_timeout_seconds    = number
    message_retention_seconds     = number
    dlq_message_retention_seconds = number
    kms_key_arn                   = string
  })
}

variable "search_transform_function_arn" {
  description = "ARN of the Lambda function (search_transform) that opens personal fields before indexing; the search delivery stream's role may invoke only this function."
  type        = string
}

variable "search_transform_enabled" {
  description = "Attach search_transform as the search delivery stream's processor. Without it the index receives the personal fields sealed (not searchable by name)."
  type        = bool
  default     = true
}

variable "failed_documents_prefix" {
  description = "S3 key prefix (in the archive bucket) of documents the search delivery stream failed to index or transform; may hold decrypted personal data."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+/$", var.failed_documents_prefix))
    error_message = "failed_documents_prefix must be one plain folder name ending with \"/\" (no Firehose expressions), so one lifecycle rule covers it."
  }
}

variable "failed_documents_expiry_days" {
  description = "Days after which failed search documents expire (their noncurrent versions one day later)."
  type        = number
  default     = 7

  validation {
    condition     = var.failed_documents_expiry_days >= 1 && var.failed_documents_expiry_days <= 29
    error_message = "failed_documents_expiry_days must be between 1 and 29 (before the archive's first storage transition)."
  }
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
  description = "Retention of the Firehose error log groups."
  type        = number
}
