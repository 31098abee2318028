variable "alias" {
  description = "Alias name without the \"alias/\" prefix."
  type        = string
}

variable "description" {
  description = "What the key protects."
  type        = string
}

variable "service_principals" {
  description = "AWS service principals (e.g. sns.amazonaws.com) allowed to generate data keys and decrypt with this key, limited to this account."
  type        = list(string)
  default     = []
}

variable "logs_service" {
  description = "Allow CloudWatch Logs of this region to encrypt log groups of this account with the key."
  type        = bool
  default     = false
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion completes."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}
