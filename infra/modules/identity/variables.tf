variable "pool_name" {
  description = "Name of the Cognito user pool."
  type        = string
}

variable "app_client_name" {
  description = "Name of the API's app client."
  type        = string
}

variable "groups" {
  description = "Groups (roles) by name, with their description; a person in no group is a customer."
  type        = map(string)
}

variable "password_minimum_length" {
  description = "Minimum password length (upper, lower, digit and symbol are always required)."
  type        = number
  default     = 12

  validation {
    condition     = var.password_minimum_length >= 12 && var.password_minimum_length <= 99
    error_message = "password_minimum_length must be between 12 and 99."
  }
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access tokens in minutes (5..1440)."
  type        = number
  default     = 60

  validation {
    condition     = var.access_token_validity_minutes >= 5 && var.access_token_validity_minutes <= 1440
    error_message = "access_token_validity_minutes must be between 5 and 1440."
  }
}

variable "id_token_validity_minutes" {
  description = "Lifetime of ID tokens in minutes (5..1440)."
  type        = number
  default     = 60

  validation {
    condition     = var.id_token_validity_minutes >= 5 && var.id_token_validity_minutes <= 1440
    error_message = "id_token_validity_minutes must be between 5 and 1440."
  }
}

variable "refresh_token_validity_days" {
  description = "Lifetime of refresh tokens in days (1..3650)."
  type        = number
  default     = 30

  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650
    error_message = "refresh_token_validity_days must be between 1 and 3650."
  }
}

variable "explicit_auth_flows" {
  description = "Auth flows of the app client (ALLOW_*); plain USER_PASSWORD_AUTH is not allowed."
  type        = list(string)

  validation {
    condition     = !contains(var.explicit_auth_flows, "ALLOW_USER_PASSWORD_AUTH")
    error_message = "ALLOW_USER_PASSWORD_AUTH sends passwords to the service; use ALLOW_USER_SRP_AUTH."
  }
}

variable "advanced_security_mode" {
  description = "Threat protection: ENFORCED (default, blocks risky sign-ins), AUDIT, or OFF (Essentials plan, cheaper)."
  type        = string
  default     = "ENFORCED"

  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.advanced_security_mode)
    error_message = "advanced_security_mode must be OFF, AUDIT or ENFORCED."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the pool (and every identity in it); set false only to destroy it."
  type        = bool
  default     = true
}

variable "self_sign_up_enabled" {
  description = "Whether people may sign up themselves (customers); false lets only operators create users."
  type        = bool
  default     = true
}
