variable "enabled" {
  description = "Whether any subscriber needs send_email; without one no identity is created."
  type        = bool
}

variable "sender" {
  description = "Sender email address (var.email_sender of the root module); required when enabled."
  type        = string
  default     = null
}
