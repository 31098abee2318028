variable "name_prefix" {
  description = "Prefix of every table name."
  type        = string
}

variable "tables" {
  description = "Tables by key (see infra/catalogue.tf): suffix, hash/range keys and types, stream view type, TTL attribute."
  type = map(object({
    env_var          = string
    suffix           = string
    hash_key         = string
    hash_key_type    = string
    range_key        = optional(string)
    range_key_type   = optional(string)
    stream_view_type = optional(string)
    ttl_attribute    = optional(string)
  }))
}

variable "pitr_recovery_days" {
  description = "Point-in-time recovery window per table key (default 35 days). A shorter window bounds how long a deleted item, such as an erased person's data key, can be restored."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for days in values(var.pitr_recovery_days) : days >= 1 && days <= 35])
    error_message = "PITR recovery periods must be between 1 and 35 days."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key encrypting every table."
  type        = string
}
