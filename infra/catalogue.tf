# The platform's resource catalogue, mirroring chalice_app/chalicelib/resources.py
# (the single declaration). tests/infra/test_parity.py fails when the two differ,
# so change both together. Names are "<name_prefix>-<suffix>".
#
# Subscribers (their queues, DLQs, subscriptions, tables and IAM) are not
# written here: they come from var.subscribers, which
# scripts/gen_subscribers_tfvars.py generates into subscribers.auto.tfvars.json.

locals {
  platform_tables = {
    ledger = {
      env_var          = "LEDGER_TABLE"
      suffix           = "ledger"
      hash_key         = "aggregate_id"
      hash_key_type    = "S"
      range_key        = "version"
      range_key_type   = "N"
      stream_view_type = "NEW_IMAGE"
      ttl_attribute    = null
    }
    users = {
      env_var          = "USERS_TABLE"
      suffix           = "users"
      hash_key         = "pk"
      hash_key_type    = "S"
      range_key        = null
      range_key_type   = null
      stream_view_type = null
      ttl_attribute    = null
    }
    read_models = {
      env_var          = "READ_MODELS_TABLE"
      suffix           = "read-models"
      hash_key         = "pk"
      hash_key_type    = "S"
      range_key        = null
      range_key_type   = null
      stream_view_type = null
      ttl_attribute    = null
    }
    personal_data_keys = {
      env_var          = "PERSONAL_DATA_KEYS_TABLE"
      suffix           = "personal-data-keys"
      hash_key         = "user_id"
      hash_key_type    = "S"
      range_key        = null
      range_key_type   = null
      stream_view_type = null
      ttl_attribute    = null
    }
    idempotency = {
      env_var          = "IDEMPOTENCY_TABLE"
      suffix           = "idempotency"
      hash_key         = "pk"
      hash_key_type    = "S"
      range_key        = null
      range_key_type   = null
      stream_view_type = null
      ttl_attribute    = "expires_at"
    }
  }

  user_events_topic_suffix = "user-events"

  tables = merge(local.platform_tables, { for s in values(var.subscribers) : s.table_key => s.table })

  # Consumer queues by subscriber key, handed to the pubsub module.
  queues = { for k, s in var.subscribers : k => merge(s.queue, { consumer = s.handler }) }

  stream_failure_queue_suffix = "stream-failures"

  event_stream_suffix = "events"

  # CloudWatch namespace of the handlers' EMF metrics (chalicelib/adapters/observability.py NAMESPACE).
  metrics_namespace = "EventPlatform"

  archive = {
    bucket_suffix              = "archive"
    delivery_suffix            = "archive"
    prefix                     = "events/buckets={count}/bucket=!{partitionKeyFromQuery:bucket}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    error_prefix               = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    buffering_interval_seconds = 60
    buffering_size_mb          = 64
  }

  # Kinesis -> search_transform (decrypts personal fields) -> OpenSearch. Only
  # documents OpenSearch rejects are backed up, under failed_documents_prefix;
  # they expire after var.search_failed_documents_expiry_days (whose default is
  # resources.SEARCH_DELIVERY.failed_documents_expiry_days).
  search_delivery = {
    delivery_suffix            = "search"
    failed_documents_prefix    = "search-failed/"
    buffering_interval_seconds = 60
    buffering_size_mb          = 5
    retry_duration_seconds     = 300
    transform_timeout_seconds  = 60
  }

  # resources.SEARCH_LATE_REDACTION: the erasures' second pass in the index, fed by a
  # delay queue whose delay modules/archive derives from the search delivery above.
  search_late_redaction = {
    handler                       = "search_late_redaction"
    env_var                       = "SEARCH_REDACTION_QUEUE"
    suffix                        = "search-redaction"
    margin_seconds                = 60
    max_receive_count             = 5
    batch_size                    = 10
    maximum_concurrency           = 2
    lambda_timeout_seconds        = 60
    message_retention_seconds     = 345600
    dlq_message_retention_seconds = 1209600
  }

  # resources.REPLAY: the replay state machine's worker (modules/replay).
  replay = {
    handler              = "replay_worker"
    state_machine_suffix = "replay"
    parts_prefix         = "replay/"
    timeout_seconds      = 900
  }

  # resources.USER_POOL: the Cognito pool the API trusts, its app client and groups.
  user_pool = {
    suffix            = "users"
    app_client_suffix = "api"
    groups = {
      admin     = "Operators: every route, for every person"
      marketing = "Marketing: may read CRM contacts"
    }
    password_minimum_length       = 12
    access_token_validity_minutes = 60
    id_token_validity_minutes     = 60
    refresh_token_validity_days   = 30
    explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  }

  # What a caller over a WAF rate limit gets: the answer of the stage throttling,
  # chalicelib/entrypoints/gateway_responses.py THROTTLED (tests/infra/test_parity.py).
  rate_limited_response = {
    status_code = 429
    body        = "{\"error\":\"too_many_requests\",\"message\":\"too many requests; retry later\",\"details\":[]}"
  }
}
