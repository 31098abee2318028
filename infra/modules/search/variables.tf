variable "domain_name" {
  description = "OpenSearch domain name (3-28 lowercase characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,27}$", var.domain_name))
    error_message = "domain_name must be 3-28 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "engine_version" {
  description = "OpenSearch engine version."
  type        = string
  default     = "OpenSearch_2.13"
}

variable "instance_type" {
  description = "Data node instance type."
  type        = string
}

variable "instance_count" {
  description = "Number of data nodes; 2 or more enables zone awareness across 2 AZs."
  type        = number
}

variable "volume_size_gb" {
  description = "EBS gp3 volume size per data node, in GiB."
  type        = number
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for encryption at rest and the domain's log groups."
  type        = string
}

variable "master_user_arn" {
  description = "IAM ARN of the fine-grained access control master user; null means the identity running terraform."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the domain's CloudWatch log groups."
  type        = number
}
