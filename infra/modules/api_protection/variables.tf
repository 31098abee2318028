variable "name" {
  description = "Name of the web ACL (and prefix of its metrics and log group)."
  type        = string
}

variable "rate_limit_per_identity" {
  description = "Requests one Authorization header (one identity's token) may send per evaluation window before WAF blocks it."
  type        = number
}

variable "rate_limit_per_ip" {
  description = "Requests one client IP may send per evaluation window before WAF blocks it."
  type        = number
}

variable "evaluation_window_seconds" {
  description = "Window WAF counts requests over (60, 120, 300 or 600 seconds)."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key of the WAF log group (the key must allow the CloudWatch Logs service)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the WAF log group."
  type        = number
}

variable "blocked_status_code" {
  description = "HTTP status of a request a rate-based rule blocks."
  type        = number
}

variable "blocked_response_body" {
  description = "JSON body of a request a rate-based rule blocks (the API's error shape)."
  type        = string
}
