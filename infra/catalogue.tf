# The platform's resource catalogue, mirroring chalice_app/chalicelib/resources.py
# (the single declaration). tests/infra/test_parity.py fails when the two differ,
# so change both together. Names are "<name_prefix>-<suffix>".

locals {
  tables = {
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
    loyalty_enrolments = {
      env_var          = "LOYALTY_ENROLMENTS_TABLE"
      suffix           = "loyalty-enrolments"
      hash_key         = "user_id"
      hash_key_type    = "S"
      range_key        = null
      range_key_type   = null
      stream_view_type = null
      ttl_attribute    = null
    }
    gdpr_consents = {
      env_var          = "GDPR_CONSENTS_TABLE"
      suffix           = "gdpr-consents"
      hash_key         = "user_id"
      hash_key_type    = "S"
      range_key        = null
      range_key_type   = null
      stream_view_type = null
      ttl_attribute    = null
    }
    crm_contacts = {
      env_var          = "CRM_CONTACTS_TABLE"
      suffix           = "crm-contacts"
      hash_key         = "user_id"
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

  # visibility_timeout_seconds = 6 x lambda_timeout_seconds (AWS guidance for
  # SQS event sources); the pubsub module validates the ratio.
  queues_catalogue = {
    loyalty = {
      env_var  = "LOYALTY_QUEUE"
      suffix   = "loyalty-enrolment"
      consumer = "loyalty_enrolment"
      filter_policy = {
        "$or" = [
          { type = ["com.example.user.created", "com.example.user.erased"], loyalty = ["true"] },
          { type = ["com.example.user.loyalty_joined", "com.example.user.loyalty_left"] },
        ]
      }
      max_receive_count             = 3
      lambda_timeout_seconds        = 30
      visibility_timeout_seconds    = 180
      message_retention_seconds     = 345600
      dlq_message_retention_seconds = 1209600
    }
    gdpr = {
      env_var                       = "GDPR_QUEUE"
      suffix                        = "gdpr-consents"
      consumer                      = "gdpr_consent_record"
      filter_policy                 = { type = [{ prefix = "com.example.user." }] }
      max_receive_count             = 3
      lambda_timeout_seconds        = 30
      visibility_timeout_seconds    = 180
      message_retention_seconds     = 345600
      dlq_message_retention_seconds = 1209600
    }
    crm = {
      env_var  = "CRM_QUEUE"
      suffix   = "crm-contacts"
      consumer = "crm_contact_sync"
      filter_policy = {
        "$or" = [
          { type = ["com.example.user.created", "com.example.user.erased"], marketing = ["true"] },
          { type = ["com.example.user.consents_changed"] },
        ]
      }
      max_receive_count             = 3
      lambda_timeout_seconds        = 30
      visibility_timeout_seconds    = 180
      message_retention_seconds     = 345600
      dlq_message_retention_seconds = 1209600
    }
  }

  stream_failure_queue_suffix = "stream-failures"

  event_stream_suffix = "events"

  # CloudWatch namespace of the handlers' EMF metrics (chalicelib/observability.py NAMESPACE).
  metrics_namespace = "EventPlatform"

  archive = {
    bucket_suffix              = "archive"
    delivery_suffix            = "archive"
    prefix                     = "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    error_prefix               = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    buffering_interval_seconds = 60
    buffering_size_mb          = 5
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
}
