variable "name" {
  description = "Name of the Kinesis data stream."
  type        = string
}

variable "retention_hours" {
  description = "Retention in hours (24..8760)."
  type        = number

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760
    error_message = "retention_hours must be between 24 and 8760."
  }
}

variable "stream_mode" {
  description = "PROVISIONED or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  description = "Shards when stream_mode is PROVISIONED (ignored for ON_DEMAND)."
  type        = number
  default     = 2
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for server-side encryption."
  type        = string
}
