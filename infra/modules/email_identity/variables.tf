variable "sender" {
  description = "Sender email address (set var.email_sender of the root module)."
  type        = string
  nullable    = false
}
