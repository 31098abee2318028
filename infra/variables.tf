variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (\"<name_prefix>-<suffix>\"); must match NAME_PREFIX of the Chalice app. The archive bucket name must be globally unique, so pick a prefix nobody else uses."
  type        = string
  default     = "evp"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name_prefix))
    error_message = "name_prefix must be 2-16 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "chalice_app_name" {
  description = "Chalice app_name (chalice_app/.chalice/config.json); Lambda functions deploy as <app>-<stage>-<handler>."
  type        = string
  default     = "event-platform"
}

variable "chalice_stage" {
  description = "Chalice stage the IAM policies and outputs are written for."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,15}$", var.chalice_stage))
    error_message = "chalice_stage must be lowercase letters, digits or underscores, starting with a letter."
  }
}

variable "stream_retention_hours" {
  description = "Retention of the event stream in hours (Kinesis allows 24..8760)."
  type        = number
  default     = 8760

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 and 8760."
  }
}

variable "stream_mode" {
  description = "Kinesis capacity mode: PROVISIONED (shard_count shards) or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "stream_shard_count" {
  description = "Number of shards when stream_mode is PROVISIONED."
  type        = number
  default     = 2

  validation {
    condition     = var.stream_shard_count >= 1 && var.stream_shard_count <= 500
    error_message = "stream_shard_count must be between 1 and 500."
  }
}

variable "archive_transition_days" {
  description = "Days after which archived events move to STANDARD_IA; GLACIER follows after archive_glacier_days."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_transition_days >= 30
    error_message = "S3 requires at least 30 days before a transition to STANDARD_IA."
  }
}

variable "archive_bucket_count" {
  description = "Hash buckets of the archive: Firehose writes each event under bucket=<hash of its subject mod this> (resources.ARCHIVE_DELIVERY.bucket_count is the default), so a replay folds buckets apart. Objects written under another count stay readable (replay filters them by subject)."
  type        = number
  default     = 64

  validation {
    # Firehose allows 500 active partitions per delivery stream; around midnight
    # two days of every bucket are open.
    condition     = var.archive_bucket_count >= 1 && var.archive_bucket_count <= 250 && floor(var.archive_bucket_count) == var.archive_bucket_count
    error_message = "archive_bucket_count must be a whole number between 1 and 250."
  }
}

variable "archive_glacier_days" {
  description = "Days after which archived events move to GLACIER (must be later than archive_transition_days)."
  type        = number
  default     = 180

  validation {
    condition     = var.archive_glacier_days >= 60
    error_message = "archive_glacier_days must be at least 60."
  }
}

variable "search_instance_type" {
  description = "OpenSearch data node instance type."
  type        = string
  default     = "t3.medium.search"
}

variable "search_instance_count" {
  description = "Number of OpenSearch data nodes; 2 or more enables zone awareness."
  type        = number
  default     = 1

  validation {
    condition     = var.search_instance_count >= 1 && var.search_instance_count <= 20
    error_message = "search_instance_count must be between 1 and 20."
  }
}

variable "search_volume_size_gb" {
  description = "EBS volume size per OpenSearch data node, in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.search_volume_size_gb >= 10 && var.search_volume_size_gb <= 1024
    error_message = "search_volume_size_gb must be between 10 and 1024."
  }
}

variable "search_master_user_arn" {
  description = "IAM role/user ARN that becomes the OpenSearch fine-grained-access-control master user. Defaults to the identity running terraform."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups this stack creates (OpenSearch, Firehose)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least one year (365, 400, 545, 731, ...)."
  }
}

variable "early_adopter_count" {
  description = "How many of the first users count as early adopters (EARLY_ADOPTER_COUNT of the app)."
  type        = number
  default     = 100

  validation {
    condition     = var.early_adopter_count >= 0
    error_message = "early_adopter_count must not be negative."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins (scheme://host[:port]) allowed to call the API with CORS (CORS_ALLOWED_ORIGINS of the app). None by default: browsers on other origins get no CORS headers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : can(regex("^https?://[^/,*\\s]+$", origin))])
    error_message = "cors_allowed_origins must be origins such as https://app.example.com (no path, comma or wildcard)."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency per Chalice function (handler name -> executions); functions not listed get none. null (default): 2 for each stream consumer and each subscriber's declared reserved_concurrency. AWS keeps 10 executions unreserved, so accounts with the default limit of 10 need {}."
  type        = map(number)
  default     = null

  validation {
    condition     = var.lambda_reserved_concurrency == null || alltrue([for v in values(coalesce(var.lambda_reserved_concurrency, {})) : v >= 0 && floor(v) == v])
    error_message = "Reserved concurrency values must be non-negative integers."
  }
}

variable "subscribers" {
  description = "The user-events subscribers by queue key, generated from chalicelib/resources.py SUBSCRIBERS into subscribers.auto.tfvars.json (run scripts/gen_subscribers_tfvars.py; do not edit by hand): handler, queue settings, table, abstract IAM needs."
  type = map(object({
    handler              = string
    needs                = list(string)
    reserved_concurrency = number
    queue = object({
      env_var                       = string
      suffix                        = string
      filter_policy_json            = string
      max_receive_count             = number
      lambda_timeout_seconds        = number
      visibility_timeout_seconds    = number
      message_retention_seconds     = number
      dlq_message_retention_seconds = number
    })
    table_key = string
    table = object({
      env_var          = string
      suffix           = string
      hash_key         = string
      hash_key_type    = string
      range_key        = optional(string)
      range_key_type   = optional(string)
      stream_view_type = optional(string)
      ttl_attribute    = optional(string)
    })
  }))

  validation {
    condition     = alltrue([for s in values(var.subscribers) : alltrue([for n in s.needs : contains(["delete_identity", "open_personal_data", "read_ledger", "send_email", "served_by_api"], n)])])
    error_message = "A subscriber need must be one the iam module grants: delete_identity, open_personal_data, read_ledger, send_email or served_by_api."
  }
}

variable "email_sender" {
  description = "Address subscribers that need send_email send from (an SES email identity this stack creates; verify it by the link SES mails to it). Required when any subscriber needs send_email."
  type        = string
  default     = null

  validation {
    condition     = var.email_sender == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.email_sender))
    error_message = "email_sender must be an email address."
  }
}

variable "personal_data_key_backup_days" {
  description = "Point-in-time recovery window of the per-person data key table: after an erasure, the person's (KMS-encrypted) data key can be restored from backups for at most this many days."
  type        = number
  default     = 7

  validation {
    condition     = var.personal_data_key_backup_days >= 1 && var.personal_data_key_backup_days <= 35
    error_message = "personal_data_key_backup_days must be between 1 and 35."
  }
}

variable "search_transform_enabled" {
  description = "Attach the search_transform Lambda (<app>-<stage>-search_transform, deployed by Chalice) as the processor of the search delivery stream. Set false only for a first apply that Firehose refuses because the function does not exist yet; without the processor the index receives personal fields sealed (not searchable by name)."
  type        = bool
  default     = true
}

variable "search_failed_documents_expiry_days" {
  description = "Days after which documents the search delivery stream failed to index (they may hold decrypted personal data) expire from the archive bucket; their noncurrent versions go one day later."
  type        = number
  default     = 7

  validation {
    condition     = var.search_failed_documents_expiry_days >= 1 && var.search_failed_documents_expiry_days <= 29
    error_message = "search_failed_documents_expiry_days must be between 1 and 29."
  }
}

variable "cognito_advanced_security_mode" {
  description = "Cognito threat protection: ENFORCED (default; Plus plan), AUDIT, or OFF (Essentials plan)."
  type        = string
  default     = "ENFORCED"

  validation {
    condition     = contains(["OFF", "AUDIT", "ENFORCED"], var.cognito_advanced_security_mode)
    error_message = "cognito_advanced_security_mode must be OFF, AUDIT or ENFORCED."
  }
}

variable "cognito_deletion_protection" {
  description = "Refuse to delete the user pool and every identity in it; apply with false before destroying."
  type        = bool
  default     = true
}

variable "cognito_self_sign_up_enabled" {
  description = "Whether customers may sign up to the user pool themselves; false lets only operators create users."
  type        = bool
  default     = true
}

variable "iterator_age_threshold_ms" {
  description = "Alarm when the event stream, or a stream consumer (Kinesis or the ledger's DynamoDB stream), is behind by more than this many milliseconds."
  type        = number
  default     = 60000

  validation {
    condition     = var.iterator_age_threshold_ms >= 1000
    error_message = "iterator_age_threshold_ms must be at least 1000 (1 s)."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the API stage accepts (API Gateway stage throttling, every method); scripts/post_deploy.py applies it to the stage Chalice deploys."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  description = "Requests the API stage accepts at once above the steady rate (token bucket size); applied with api_throttling_rate_limit."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a positive integer."
  }
}

variable "api_rate_limit_per_identity" {
  description = "WAF: requests one Authorization header (one identity's token) may send per api_rate_limit_window_seconds before it is blocked."
  type        = number
  default     = 1000

  validation {
    condition     = var.api_rate_limit_per_identity >= 10 && var.api_rate_limit_per_identity <= 2000000000
    error_message = "api_rate_limit_per_identity must be between 10 and 2000000000 (WAF's range)."
  }
}

variable "api_rate_limit_per_ip" {
  description = "WAF: requests one client IP may send per api_rate_limit_window_seconds before it is blocked."
  type        = number
  default     = 3000

  validation {
    condition     = var.api_rate_limit_per_ip >= 10 && var.api_rate_limit_per_ip <= 2000000000
    error_message = "api_rate_limit_per_ip must be between 10 and 2000000000 (WAF's range)."
  }
}

variable "api_rate_limit_window_seconds" {
  description = "WAF: the window the rate-based rules count requests over."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.api_rate_limit_window_seconds)
    error_message = "api_rate_limit_window_seconds must be 60, 120, 300 or 600."
  }
}

variable "replay_max_concurrency" {
  description = "Children of the replay state machine's Distributed Map running at once (one per archive bucket at most; Step Functions allows 10,000)."
  type        = number
  default     = 64

  validation {
    condition     = var.replay_max_concurrency >= 1 && var.replay_max_concurrency <= 10000
    error_message = "replay_max_concurrency must be between 1 and 10000."
  }
}

variable "replay_tolerated_failure_percentage" {
  description = "Percentage of the replay's bucket folds that may fail without stopping the Map at once; the finish step still refuses to switch readers with a bucket missing."
  type        = number
  default     = 0

  validation {
    condition     = var.replay_tolerated_failure_percentage >= 0 && var.replay_tolerated_failure_percentage <= 100
    error_message = "replay_tolerated_failure_percentage must be between 0 and 100."
  }
}

variable "replay_worker_memory_mb" {
  description = "Memory of the replay_worker Lambda (128 to 10240 MB; 1769 MB is one full vCPU)."
  type        = number
  default     = 1769

  validation {
    condition     = var.replay_worker_memory_mb >= 128 && var.replay_worker_memory_mb <= 10240
    error_message = "replay_worker_memory_mb must be between 128 and 10240."
  }
}
