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

variable "kms_key_arn" {
  description = "Customer-managed KMS key encrypting every table."
  type        = string
}
