variable "name" {
  description = "Name of the replay state machine."
  type        = string
}

variable "worker_function_arn" {
  description = "ARN of the replay worker Lambda (<app>-<stage>-replay_worker, deployed by Chalice) that every state invokes."
  type        = string
}

variable "bucket_count" {
  description = "Hash buckets of the archive (var.archive_bucket_count): the Distributed Map runs one child per bucket."
  type        = number

  validation {
    condition     = var.bucket_count >= 1 && var.bucket_count <= 10000
    error_message = "bucket_count must be between 1 and 10000."
  }
}

variable "max_concurrency" {
  description = "Children of the Distributed Map running at once (Step Functions allows up to 10,000); each is one Lambda invocation folding one bucket."
  type        = number
  default     = 64

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 10000
    error_message = "max_concurrency must be between 1 and 10000."
  }
}

variable "tolerated_failure_percentage" {
  description = "Percentage of children that may fail (after their retries) without stopping the Map at once. The finish step still refuses to switch readers to a generation with a bucket missing."
  type        = number
  default     = 0

  validation {
    condition     = var.tolerated_failure_percentage >= 0 && var.tolerated_failure_percentage <= 100
    error_message = "tolerated_failure_percentage must be between 0 and 100."
  }
}

variable "worker_memory_mb" {
  description = "Memory of the replay worker Lambda (Lambda allows 128 to 10240 MB; CPU grows with it). Handed to Chalice by scripts/tf_outputs_to_chalice.py."
  type        = number
  default     = 1769

  validation {
    condition     = var.worker_memory_mb >= 128 && var.worker_memory_mb <= 10240
    error_message = "worker_memory_mb must be between 128 and 10240."
  }
}

variable "worker_timeout_seconds" {
  description = "Timeout of the replay worker Lambda (resources.REPLAY.timeout_seconds; Lambda allows at most 900 s)."
  type        = number
  default     = 900

  validation {
    condition     = var.worker_timeout_seconds >= 1 && var.worker_timeout_seconds <= 900
    error_message = "worker_timeout_seconds must be between 1 and 900."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the state machine's data and its log group (the key must allow CloudWatch Logs)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the state machine's execution log group."
  type        = number
}
