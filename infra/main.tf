# Root module: the platform's AWS resources. Chalice deploys the Lambdas
# (scripts/tf_outputs_to_chalice.py hands these outputs to .chalice/config.json).

locals {
  sends_email = anytrue([for s in values(var.subscribers) : contains(s.needs, "send_email")])
}

# ------------------------------------------------------------------ KMS keys

module "key_state" {
  source      = "./modules/kms_key"
  alias       = "${var.name_prefix}-state"
  description = "${var.name_prefix}: DynamoDB tables (ledger, read models, consumers)"
}

module "key_event_log" {
  source      = "./modules/kms_key"
  alias       = "${var.name_prefix}-event-log"
  description = "${var.name_prefix}: Kinesis event stream"
}

module "key_pubsub" {
  source             = "./modules/kms_key"
  alias              = "${var.name_prefix}-pubsub"
  description        = "${var.name_prefix}: SNS topic and SQS queues"
  service_principals = ["sns.amazonaws.com"]
}

module "key_archive" {
  source       = "./modules/kms_key"
  alias        = "${var.name_prefix}-archive"
  description  = "${var.name_prefix}: S3 event archive and Firehose logs"
  logs_service = true
}

module "key_search" {
  source       = "./modules/kms_key"
  alias        = "${var.name_prefix}-search"
  description  = "${var.name_prefix}: OpenSearch domain and its logs"
  logs_service = true
}

# Encrypts each person's data key (crypto-shredding, see README "GDPR").
# Erasure deletes the person's encrypted data key, not this key.
module "key_personal_data" {
  source      = "./modules/kms_key"
  alias       = "${var.name_prefix}-personal-data"
  description = "${var.name_prefix}: per-person data keys (envelope encryption of personal fields)"
}

# The WAF request logs of the API (tokens redacted).
module "key_api_logs" {
  source       = "./modules/kms_key"
  alias        = "${var.name_prefix}-api-logs"
  description  = "${var.name_prefix}: WAF logs of the REST API"
  logs_service = true
}

# Alarm notifications: CloudWatch publishes to the encrypted alarm topic.
module "key_alarms" {
  source             = "./modules/kms_key"
  alias              = "${var.name_prefix}-alarms"
  description        = "${var.name_prefix}: SNS alarm topic"
  service_principals = ["cloudwatch.amazonaws.com"]
}

# ------------------------------------------------------------------ modules

module "state" {
  source      = "./modules/state"
  name_prefix = var.name_prefix
  tables      = local.tables
  kms_key_arn = module.key_state.key_arn
  # An erased person's data key stays restorable from backups this long, no longer.
  pitr_recovery_days = { personal_data_keys = var.personal_data_key_backup_days }
}

module "event_log" {
  source          = "./modules/event_log"
  name            = "${var.name_prefix}-${local.event_stream_suffix}"
  retention_hours = var.stream_retention_hours
  stream_mode     = var.stream_mode
  shard_count     = var.stream_shard_count
  kms_key_arn     = module.key_event_log.key_arn
}

module "pubsub" {
  source                      = "./modules/pubsub"
  name_prefix                 = var.name_prefix
  topic_suffix                = local.user_events_topic_suffix
  stream_failure_queue_suffix = local.stream_failure_queue_suffix
  queues                      = local.queues
  kms_key_arn                 = module.key_pubsub.key_arn
}

module "search" {
  source             = "./modules/search"
  domain_name        = "${var.name_prefix}-search"
  instance_type      = var.search_instance_type
  instance_count     = var.search_instance_count
  volume_size_gb     = var.search_volume_size_gb
  master_user_arn    = var.search_master_user_arn
  kms_key_arn        = module.key_search.key_arn
  log_retention_days = var.log_retention_days
}

# Two delivery streams from the event stream: archive (Kinesis -> S3, sealed
# events as they are) and search (Kinesis -> search_transform -> OpenSearch,
# failed documents only to S3, expiring). See modules/archive.
module "archive" {
  source                     = "./modules/archive"
  bucket_name                = "${var.name_prefix}-${local.archive.bucket_suffix}"
  delivery_stream_name       = "${var.name_prefix}-${local.archive.delivery_suffix}"
  source_stream_arn          = module.event_log.stream_arn
  source_stream_kms_key_arn  = module.key_event_log.key_arn
  kms_key_arn                = module.key_archive.key_arn
  prefix                     = replace(local.archive.prefix, "{count}", tostring(var.archive_bucket_count))
  bucket_count               = var.archive_bucket_count
  error_prefix               = local.archive.error_prefix
  buffering_interval_seconds = local.archive.buffering_interval_seconds
  buffering_size_mb          = local.archive.buffering_size_mb
  transition_days            = var.archive_transition_days
  glacier_days               = var.archive_glacier_days
  log_retention_days         = var.log_retention_days

  search_delivery_stream_name       = "${var.name_prefix}-${local.search_delivery.delivery_suffix}"
  opensearch_domain_arn             = module.search.domain_arn
  search_buffering_interval_seconds = local.search_delivery.buffering_interval_seconds
  search_buffering_size_mb          = local.search_delivery.buffering_size_mb
  failed_documents_prefix           = local.search_delivery.failed_documents_prefix
  failed_documents_expiry_days      = var.search_failed_documents_expiry_days
  # Built from app name, stage, account and region (the function need not exist yet).
  search_transform_function_arn    = module.iam.function_arns["search_transform"]
  search_transform_enabled         = var.search_transform_enabled
  search_retry_duration_seconds    = local.search_delivery.retry_duration_seconds
  search_transform_timeout_seconds = local.search_delivery.transform_timeout_seconds
  search_redaction = {
    queue_name                    = "${var.name_prefix}-${local.search_late_redaction.suffix}"
    margin_seconds                = local.search_late_redaction.margin_seconds
    max_receive_count             = local.search_late_redaction.max_receive_count
    visibility_timeout_seconds    = 6 * local.search_late_redaction.lambda_timeout_seconds
    message_retention_seconds     = local.search_late_redaction.message_retention_seconds
    dlq_message_retention_seconds = local.search_late_redaction.dlq_message_retention_seconds
    kms_key_arn                   = module.key_pubsub.key_arn
  }
}

# The identity provider: the API accepts access tokens of this pool only.
module "identity" {
  source                        = "./modules/identity"
  pool_name                     = "${var.name_prefix}-${local.user_pool.suffix}"
  app_client_name               = "${var.name_prefix}-${local.user_pool.app_client_suffix}"
  groups                        = local.user_pool.groups
  password_minimum_length       = local.user_pool.password_minimum_length
  access_token_validity_minutes = local.user_pool.access_token_validity_minutes
  id_token_validity_minutes     = local.user_pool.id_token_validity_minutes
  refresh_token_validity_days   = local.user_pool.refresh_token_validity_days
  explicit_auth_flows           = local.user_pool.explicit_auth_flows
  advanced_security_mode        = var.cognito_advanced_security_mode
  self_sign_up_enabled          = var.cognito_self_sign_up_enabled
  deletion_protection           = var.cognito_deletion_protection
}

# The sender identity of subscribers that need "send_email".
# Counted inside the module, not on the call: resource addresses stay free of a
# module index (the rehearsal targets resources by configuration address).
module "email_identity" {
  source  = "./modules/email_identity"
  enabled = local.sends_email
  sender  = var.email_sender
}

# Rate limits of the REST API (per identity and per IP). Chalice creates the
# API after this apply: scripts/post_deploy.py associates the web ACL with the
# stage and applies the stage throttling (outputs api_web_acl_arn, api_throttling).
module "api_protection" {
  source                    = "./modules/api_protection"
  name                      = "${var.name_prefix}-api"
  rate_limit_per_identity   = var.api_rate_limit_per_identity
  rate_limit_per_ip         = var.api_rate_limit_per_ip
  evaluation_window_seconds = var.api_rate_limit_window_seconds
  blocked_status_code       = local.rate_limited_response.status_code
  blocked_response_body     = local.rate_limited_response.body
  kms_key_arn               = module.key_api_logs.key_arn
  log_retention_days        = var.log_retention_days
}

module "iam" {
  source                     = "./modules/iam"
  app_name                   = var.chalice_app_name
  stage                      = var.chalice_stage
  subscribers                = { for k, s in var.subscribers : s.handler => { queue = k, table = s.table_key, needs = s.needs } }
  email_sender               = var.email_sender
  table_arns                 = module.state.table_arns
  state_kms_key_arn          = module.key_state.key_arn
  event_stream_arn           = module.event_log.stream_arn
  event_stream_kms_key_arn   = module.key_event_log.key_arn
  topic_arn                  = module.pubsub.topic_arn
  queue_arns                 = module.pubsub.queue_arns
  stream_failure_queue_arn   = module.pubsub.stream_failure_queue_arn
  pubsub_kms_key_arn         = module.key_pubsub.key_arn
  opensearch_domain_arn      = module.search.domain_arn
  personal_data_kms_key_arn  = module.key_personal_data.key_arn
  search_redaction_queue_arn = module.archive.search_redaction_queue_arn
  user_pool_arn              = module.identity.user_pool_arn
  opensearch_read_alias      = module.archive.opensearch_index
  archive_bucket_arn         = module.archive.bucket_arn
  archive_kms_key_arn        = module.key_archive.key_arn
  replay_parts_prefix        = local.replay.parts_prefix
}

# ------------------------------------------------------------------ replay

# Replay beyond one machine: a Distributed Map over the archive's buckets, one
# child (the replay_worker Lambda) per bucket; `scripts/replay.py --on aws`.
module "key_replay" {
  source       = "./modules/kms_key"
  alias        = "${var.name_prefix}-replay"
  description  = "${var.name_prefix}: replay state machine and its logs"
  logs_service = true
}

module "replay" {
  source                       = "./modules/replay"
  name                         = "${var.name_prefix}-${local.replay.state_machine_suffix}"
  worker_function_arn          = module.iam.function_arns[local.replay.handler]
  bucket_count                 = var.archive_bucket_count
  max_concurrency              = var.replay_max_concurrency
  tolerated_failure_percentage = var.replay_tolerated_failure_percentage
  worker_memory_mb             = var.replay_worker_memory_mb
  worker_timeout_seconds       = local.replay.timeout_seconds
  kms_key_arn                  = module.key_replay.key_arn
  log_retention_days           = var.log_retention_days
}

# ------------------------------------------------------------------ operations

# Subscribe the on-call (email, chat, pager) to this topic; every alarm notifies it.
resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = module.key_alarms.key_arn
}

module "monitoring" {
  source          = "./modules/monitoring"
  name_prefix     = var.name_prefix
  alarm_topic_arn = aws_sns_topic.alarms.arn
  failure_queue_names = merge(
    { for k, name in module.pubsub.dlq_names : "${k}-dlq" => name },
    { (local.stream_failure_queue_suffix) = module.pubsub.stream_failure_queue_name },
    { "${local.search_late_redaction.suffix}-dlq" = module.archive.search_redaction_dlq_name },
  )
  event_stream_name              = module.event_log.stream_name
  function_names                 = module.iam.function_names
  stream_consumer_function_names = module.iam.stream_consumer_function_names
  iterator_age_threshold_ms      = var.iterator_age_threshold_ms
  archive_delivery_stream_name   = module.archive.delivery_stream_name
  search_delivery_stream_name    = module.archive.search_delivery_stream_name
  api_name                       = var.chalice_app_name
  metrics_namespace              = local.metrics_namespace
}
