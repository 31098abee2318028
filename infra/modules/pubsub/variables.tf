variable "name_prefix" {
  description = "Prefix of every topic and queue name."
  type        = string
}

variable "topic_suffix" {
  description = "Suffix of the user-events topic name."
  type        = string
}

variable "stream_failure_queue_suffix" {
  description = "Suffix of the queue receiving records that stream consumers gave up on."
  type        = string
}

variable "queues" {
  description = "Consumer queues by subscriber key (from var.subscribers of the root): name suffix, SNS filter policy (JSON), DLQ maxReceiveCount, consumer Lambda timeout, visibility timeout and retention."
  type = map(object({
    env_var                       = string
    suffix                        = string
    consumer                      = string
    filter_policy_json            = string
    max_receive_count             = number
    lambda_timeout_seconds        = number
    visibility_timeout_seconds    = number
    message_retention_seconds     = number
    dlq_message_retention_seconds = number
  }))

  validation {
    condition     = alltrue([for q in values(var.queues) : q.visibility_timeout_seconds >= q.lambda_timeout_seconds])
    error_message = "SQS event sources require each queue's visibility_timeout_seconds to be at least its consumer's lambda_timeout_seconds."
  }

  validation {
    condition     = alltrue([for q in values(var.queues) : q.max_receive_count >= 1 && q.max_receive_count <= 1000])
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the topic and queues; its policy must let sns.amazonaws.com use it."
  type        = string
}
