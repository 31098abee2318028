# One least-privilege policy per Chalice function (autogen_policy = false):
# explicit actions only, every resource scoped by ARN.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  function_prefix = "${var.app_name}-${var.stage}"
  function_arn    = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function"
  log_group_arn   = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws/lambda"
  t               = var.table_arns

  platform_handlers = [
    "api_handler",
    "ledger_relay",
    "user_events_fanout",
    "projector",
    "search_erasure",
    "search_late_redaction",
    "search_transform",
    "replay_worker",
  ]
  handlers = concat(local.platform_handlers, keys(var.subscribers))
  # Chalice names the REST API's function <app>-<stage> and every other one
  # <app>-<stage>-<handler> (chalice.deploy.appgraph).
  function_names = {
    for h in local.handlers : h => h == "api_handler" ? local.function_prefix : "${local.function_prefix}-${h}"
  }

  # Functions mapped to a stream (the ledger's DynamoDB stream or Kinesis);
  # scripts/tf_outputs_to_chalice.py STREAM_CONSUMERS lists the same (tested).
  stream_consumers = ["ledger_relay", "user_events_fanout", "projector", "search_erasure"]

  sends_email = anytrue([for s in values(var.subscribers) : contains(s.needs, "send_email")])
  # The SES identity of the sender address, built like the function ARNs: known at plan time.
  email_identity_arn = "arn:${data.aws_partition.current.partition}:ses:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:identity/${coalesce(var.email_sender, "none")}"

  # Tables of the subscribers whose records the API serves.
  served_tables = [for s in values(var.subscribers) : local.t[s.table] if contains(s.needs, "served_by_api")]

  dynamodb_stream_read = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
  kinesis_read         = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
  kms_use              = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
  sqs_consume          = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
  sqs_send             = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
  logs_write           = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
  xray_write           = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
}

# ------------------------------------------------------------------ REST API

data "aws_iam_policy_document" "api_handler" {
  source_policy_documents = [data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["api_handler"]}:*"]
  }

  # The ledger is append-only: the API reads it and appends events (conditional
  # puts, alone or in a transaction), never updates or deletes one.
  statement {
    sid       = "AppendToLedger"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"]
    resources = [local.t["ledger"]]
  }

  # Profiles and email-uniqueness items: an erasure updates the profile and
  # releases the email (deletes its item).
  statement {
    sid       = "Users"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [local.t["users"]]
  }

  statement {
    sid       = "IdempotencyKeys"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [local.t["idempotency"]]
  }

  # A person's wrapped data key: created at registration, read to open their
  # fields, deleted by their erasure (crypto-shredding).
  statement {
    sid       = "PersonalDataKeyItems"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [local.t["personal_data_keys"]]
  }

  statement {
    sid       = "AccountSnapshots"
    actions   = ["dynamodb:PutItem"]
    resources = [local.t["read_models"]]
  }

  statement {
    sid       = "PersonalDataKeys"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.personal_data_kms_key_arn]
  }

  statement {
    sid       = "ReadModels"
    actions   = ["dynamodb:GetItem"]
    resources = concat([local.t["read_models"]], local.served_tables)
  }

  statement {
    sid       = "TableKey"
    actions   = local.kms_use
    resources = [var.state_kms_key_arn]
  }

  # GET /search: queries through the read alias only (the adapter POSTs the
  # query body). Not the domain: no _bulk, _delete_by_query or index writes.
  statement {
    sid       = "Search"
    actions   = ["es:ESHttpPost"]
    resources = ["${var.opensearch_domain_arn}/${var.opensearch_read_alias}/_search"]
  }
}

# ------------------------------------------- outbox relay: ledger -> Kinesis

data "aws_iam_policy_document" "ledger_relay" {
  source_policy_documents = [data.aws_iam_policy_document.on_failure_queue.json, data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["ledger_relay"]}:*"]
  }

  statement {
    sid       = "ReadLedgerStream"
    actions   = local.dynamodb_stream_read
    resources = ["${local.t["ledger"]}/stream/*"]
  }

  statement {
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [var.state_kms_key_arn]
  }

  statement {
    sid       = "PublishEvents"
    actions   = ["kinesis:PutRecords"]
    resources = [var.event_stream_arn]
  }

  statement {
    sid       = "StreamKey"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.event_stream_kms_key_arn]
  }
}

# -------------------------------------------- fan-out: Kinesis -> SNS topic

data "aws_iam_policy_document" "user_events_fanout" {
  source_policy_documents = [data.aws_iam_policy_document.event_stream_reader.json, data.aws_iam_policy_document.on_failure_queue.json, data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["user_events_fanout"]}:*"]
  }

  # sns:Publish also authorises PublishBatch.
  statement {
    sid       = "PublishUserEvents"
    actions   = ["sns:Publish"]
    resources = [var.topic_arn]
  }
}

# ------------------------------------------ projector: Kinesis -> read models

data "aws_iam_policy_document" "projector" {
  source_policy_documents = [data.aws_iam_policy_document.event_stream_reader.json, data.aws_iam_policy_document.on_failure_queue.json, data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["projector"]}:*"]
  }

  # Conditional puts and counter updates of the read models; the early-adopter
  # list is deleted when it is rebuilt.
  statement {
    sid       = "WriteReadModels"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [local.t["read_models"]]
  }

  # An aggregate's events, to fill a version gap (query by aggregate id).
  statement {
    sid       = "ReadLedger"
    actions   = ["dynamodb:Query"]
    resources = [local.t["ledger"]]
  }

  statement {
    sid       = "TableKey"
    actions   = local.kms_use
    resources = [var.state_kms_key_arn]
  }
}

# ----------------------------------------------------- SQS consumers

# Each subscriber drains its own queue into its own table; its declared needs
# add the statements of reading the ledger (the versions its filter policy
# kept from it), opening personal data, sending email and deleting identities.
data "aws_iam_policy_document" "queue_consumer" {
  for_each = var.subscribers

  source_policy_documents = concat(
    [data.aws_iam_policy_document.tracing.json],
    contains(each.value.needs, "read_ledger") ? [data.aws_iam_policy_document.read_ledger.json] : [],
    contains(each.value.needs, "open_personal_data") ? [data.aws_iam_policy_document.open_personal_data.json] : [],
    contains(each.value.needs, "send_email") ? [data.aws_iam_policy_document.send_email.json] : [],
    contains(each.value.needs, "delete_identity") ? [data.aws_iam_policy_document.delete_identity.json] : [],
  )

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names[each.key]}:*"]
  }

  statement {
    sid       = "ConsumeQueue"
    actions   = local.sqs_consume
    resources = [var.queue_arns[each.value.queue]]
  }

  statement {
    sid       = "QueueKey"
    actions   = ["kms:Decrypt"]
    resources = [var.pubsub_kms_key_arn]
  }

  # A consumer's versioned records: read, conditional put or update.
  statement {
    sid       = "WriteOwnTable"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [local.t[each.value.table]]
  }


  statement {
    sid       = "TableKey"
    actions   = local.kms_use
    resources = [var.state_kms_key_arn]
  }
}

# Sending email: from the platform's SES identity, as its sender address only.
# One statement when a subscriber needs it (a dynamic block, not a counted
# document, so referencing it never indexes an instance that may not exist).
data "aws_iam_policy_document" "send_email" {
  dynamic "statement" {
    for_each = local.sends_email ? [local.email_identity_arn] : []

    content {
      sid       = "SendEmail"
      actions   = ["ses:SendEmail"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "ses:FromAddress"
        values   = [var.email_sender]
      }
    }
  }
}

# Ending an erased person's identity: delete users of the platform's pool, nothing else.
data "aws_iam_policy_document" "delete_identity" {
  statement {
    sid       = "DeleteIdentity"
    actions   = ["cognito-idp:AdminDeleteUser"]
    resources = [var.user_pool_arn]
  }
}

# Reading a user's events from the ledger (query by aggregate id).
data "aws_iam_policy_document" "read_ledger" {
  statement {
    sid       = "ReadLedger"
    actions   = ["dynamodb:Query"]
    resources = [local.t["ledger"]]
  }
}

# Opening sealed personal fields: read the person's wrapped data key and
# unwrap it. Shared by subscribers that need it and the search transformation.
data "aws_iam_policy_document" "open_personal_data" {
  statement {
    sid       = "ReadPersonalDataKeys"
    actions   = ["dynamodb:GetItem"]
    resources = [local.t["personal_data_keys"]]
  }

  statement {
    sid       = "OpenPersonalData"
    actions   = ["kms:Decrypt"]
    resources = [var.personal_data_kms_key_arn]
  }
}

# ------------------------------- search: Firehose transformation, erasure

# Invoked by the search delivery stream (Firehose) with batches of sealed
# events; returns them with personal fields opened for the index. Reads a
# person's data key and unwraps it; writes nothing.
data "aws_iam_policy_document" "search_transform" {
  source_policy_documents = [data.aws_iam_policy_document.open_personal_data.json, data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["search_transform"]}:*"]
  }

  statement {
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [var.state_kms_key_arn]
  }
}

# Kinesis consumer: on user.erased, re-indexes the person's
# documents with personal fields redacted and force-merges (expunge deletes).
data "aws_iam_policy_document" "search_erasure" {
  source_policy_documents = [data.aws_iam_policy_document.event_stream_reader.json, data.aws_iam_policy_document.on_failure_queue.json, data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["search_erasure"]}:*"]
  }

  statement {
    sid       = "RedactSearchDocuments"
    actions   = ["es:ESHttpGet", "es:ESHttpPost", "es:ESHttpPut"]
    resources = [var.opensearch_domain_arn, "${var.opensearch_domain_arn}/*"]
  }

  # Schedules the late redaction pass (its queue is encrypted with the messaging
  # key, which on_failure_queue already grants).
  statement {
    sid       = "ScheduleLateRedaction"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [var.search_redaction_queue_arn]
  }
}

# SQS consumer of the search redaction delay queue: redacts an erased person's
# documents again once the search delivery window has passed.
data "aws_iam_policy_document" "search_late_redaction" {
  source_policy_documents = [data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["search_late_redaction"]}:*"]
  }

  statement {
    sid       = "ConsumeQueue"
    actions   = local.sqs_consume
    resources = [var.search_redaction_queue_arn]
  }

  statement {
    sid       = "QueueKey"
    actions   = ["kms:Decrypt"]
    resources = [var.pubsub_kms_key_arn]
  }

  statement {
    sid       = "RedactSearchDocuments"
    actions   = ["es:ESHttpGet", "es:ESHttpPost", "es:ESHttpPut"]
    resources = [var.opensearch_domain_arn, "${var.opensearch_domain_arn}/*"]
  }
}

# ------------------------------------------------------------- replay in AWS

# Invoked by the replay state machine (modules/replay) for each step: reads the
# archive, stores and reads the buckets' parts under the replay prefix, writes
# the new read-model generation (and its pointer), reads the ledger to settle
# and catch up. It never writes the archive's events or the ledger.
data "aws_iam_policy_document" "replay_worker" {
  source_policy_documents = [data.aws_iam_policy_document.read_ledger.json, data.aws_iam_policy_document.tracing.json]

  statement {
    sid       = "Logs"
    actions   = local.logs_write
    resources = ["${local.log_group_arn}/${local.function_names["replay_worker"]}:*"]
  }

  statement {
    sid       = "ListArchive"
    actions   = ["s3:ListBucket"]
    resources = [var.archive_bucket_arn]
  }

  statement {
    sid       = "ReadArchive"
    actions   = ["s3:GetObject"]
    resources = ["${var.archive_bucket_arn}/${var.archive_prefix}*"]
  }

  statement {
    sid       = "ReplayParts"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.archive_bucket_arn}/${var.replay_parts_prefix}*"]
  }

  statement {
    sid       = "ArchiveKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.archive_kms_key_arn]
  }

  statement {
    sid       = "WriteReadModels"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"]
    resources = [local.t["read_models"]]
  }

  statement {
    sid       = "TableKey"
    actions   = local.kms_use
    resources = [var.state_kms_key_arn]
  }
}

# ------------------------------------------------- shared statement fragments

# Stream consumers (DynamoDB stream or Kinesis) send records that exhaust
# their retries to the on-failure queue, which the messaging key encrypts.
# X-Ray active tracing (every function): these two actions have no resource-level
# permissions, so "*" is the only resource they take.
data "aws_iam_policy_document" "tracing" {
  statement {
    sid       = "XRayTracing"
    actions   = local.xray_write
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "on_failure_queue" {
  statement {
    sid       = "OnFailure"
    actions   = local.sqs_send
    resources = [var.stream_failure_queue_arn]
  }

  # Also covers publishing to the topic, which the same key encrypts.
  statement {
    sid       = "MessagingKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.pubsub_kms_key_arn]
  }
}

# Kinesis consumers: read the event stream and decrypt its records.
data "aws_iam_policy_document" "event_stream_reader" {
  statement {
    sid       = "ReadEventStream"
    actions   = local.kinesis_read
    resources = [var.event_stream_arn]
  }

  statement {
    sid       = "StreamKey"
    actions   = ["kms:Decrypt"]
    resources = [var.event_stream_kms_key_arn]
  }
}
