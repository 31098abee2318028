data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  logs_name  = "${var.bucket_name}-access-logs"
}

# ---------------------------------------------------------------- archive bucket

resource "aws_s3_bucket" "archive" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice per deployment (needs a second region); versioning + lifecycle protect the data here.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object-created events; replay.py lists the date-partitioned prefixes.
  bucket = var.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    id     = "events-to-colder-storage"
    status = "Enabled"

    filter {}

    transition {
      days          = var.transition_days
      storage_class = "STANDARD_IA"
    }

    transition {
      days          = var.glacier_days
      storage_class = "GLACIER"
    }

    noncurrent_version_transition {
      noncurrent_days = 30
      storage_class   = "GLACIER"
    }

    noncurrent_version_expiration {
      noncurrent_days = 365
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Documents OpenSearch rejected were already decrypted by the search
  # transformation Lambda: keep them only long enough to investigate. The
  # current version expires (delete marker) after N days and the version it
  # leaves behind one day later, so no copy outlives N + 1 days (plus the
  # lifecycle's own scheduling delay).
  rule {
    id     = "expire-failed-search-documents"
    status = "Enabled"

    filter {
      prefix = var.failed_documents_prefix
    }

    expiration {
      days = var.failed_documents_expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]
}

resource "aws_s3_bucket_logging" "archive" {
  bucket        = aws_s3_bucket.archive.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "archive/"

  # S3 refuses a logging target whose policy does not yet let the logging
  # service write (InvalidTargetBucketForLogging on a fresh apply).
  depends_on = [aws_s3_bucket_policy.access_logs]
}

data "aws_iam_policy_document" "archive" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket     = aws_s3_bucket.archive.id
  policy     = data.aws_iam_policy_document.archive.json
  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# ------------------------------------------------------ server access log bucket

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated across regions.
  #checkov:skip=CKV_AWS_145:S3 server access logging can only deliver to SSE-S3 (AES256) buckets, not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:No consumer for access-log object events.
  bucket = local.logs_name
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = 365
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.archive.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# ------------------------------------------------------------------ Firehose
#
# Two delivery streams read the event stream, each with its own role:
#   archive: Kinesis -> S3, no transformation. The events are stored exactly as
#            the ledger sealed them (personal fields encrypted per person), so
#            crypto-shredding covers every archived copy.
#   search:  Kinesis -> search_transform Lambda (opens personal fields) ->
#            OpenSearch. Only documents OpenSearch rejects reach S3, under
#            failed_documents_prefix, which the lifecycle expires quickly.
# One stream with s3_backup_mode = AllDocuments would back up the documents it
# delivered, i.e. the decrypted ones, into the archive.

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Both delivery streams read the same source stream.
data "aws_iam_policy_document" "read_source_stream" {
  statement {
    sid       = "ReadSourceStream"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
    resources = [var.source_stream_arn]
  }

  statement {
    sid       = "DecryptSourceStream"
    actions   = ["kms:Decrypt"]
    resources = [var.source_stream_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["kinesis.${local.region}.amazonaws.com"]
    }
  }
}

# ------------------------------------------------------------ archive stream

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${var.delivery_stream_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "s3" {
  name           = "S3Delivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_iam_role" "firehose" {
  name               = "${var.delivery_stream_name}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
}

data "aws_iam_policy_document" "firehose" {
  source_policy_documents = [data.aws_iam_policy_document.read_source_stream.json]

  statement {
    sid = "WriteArchive"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetBucketLocation",
      "s3:GetObject",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
      "s3:PutObject",
    ]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]
  }

  statement {
    sid       = "EncryptArchive"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "DeliveryErrorLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "delivery"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

# Every event, as sealed in the ledger, newline-delimited (the relay ends each
# record with "\n"), under a hash bucket of its subject and its date. The bucket
# comes from Firehose's own metadata extraction (dynamic partitioning, a JQ query
# on the record; no Lambda): JQ has no hash function, so the query spells one, a
# polynomial over the subject's code points mod bucket_count, zero-padded. It is
# projections/archive_buckets.py bucket_of; tests run this query with jq against
# it. The record itself is not changed (no field added, the CloudEvent stays as
# the ledger sealed it) and nothing here sees a decrypted personal field.
locals {
  bucket_width = length(tostring(var.bucket_count - 1))
  bucket_query = "{bucket: ((.subject // \"\") | explode | reduce .[] as $c (0; (. * 31 + $c) % ${var.bucket_count}) | tostring | (\"${join("", [for _ in range(local.bucket_width) : "0"])}\"[0:(${local.bucket_width} - length)] + .))}"
}

resource "aws_kinesis_firehose_delivery_stream" "archive" {
  #checkov:skip=CKV_AWS_240:Server-side encryption cannot be enabled on a delivery stream whose source is a Kinesis stream; the source stream is KMS-encrypted and so is the bucket.
  #checkov:skip=CKV_AWS_241:Same reason as CKV_AWS_240: the source stream's CMK and the bucket's CMK protect the data.
  name        = var.delivery_stream_name
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = var.source_stream_arn
    role_arn           = aws_iam_role.firehose.arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = aws_s3_bucket.archive.arn
    prefix              = var.prefix
    error_output_prefix = var.error_prefix
    buffering_interval  = var.buffering_interval_seconds
    buffering_size      = var.buffering_size_mb
    compression_format  = "UNCOMPRESSED"
    kms_key_arn         = var.kms_key_arn

    dynamic_partitioning_configuration {
      enabled        = true
      retry_duration = 300
    }

    processing_configuration {
      enabled = true

      processors {
        type = "MetadataExtraction"

        parameters {
          parameter_name  = "JsonParsingEngine"
          parameter_value = "JQ-1.6"
        }

        parameters {
          parameter_name  = "MetadataExtractionQuery"
          parameter_value = local.bucket_query
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.s3.name
    }
  }

  lifecycle {
    precondition {
      condition     = strcontains(var.prefix, "!{partitionKeyFromQuery:bucket}")
      error_message = "The archive prefix must hold !{partitionKeyFromQuery:bucket}."
    }
  }

  depends_on = [aws_iam_role_policy.firehose]
}

# ------------------------------------------------------------- search stream

resource "aws_cloudwatch_log_group" "search" {
  name              = "/aws/kinesisfirehose/${var.search_delivery_stream_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "search_opensearch" {
  name           = "OpenSearchDelivery"
  log_group_name = aws_cloudwatch_log_group.search.name
}

resource "aws_cloudwatch_log_stream" "search_backup" {
  name           = "S3Backup"
  log_group_name = aws_cloudwatch_log_group.search.name
}

resource "aws_iam_role" "search" {
  name               = "${var.search_delivery_stream_name}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
}

data "aws_iam_policy_document" "search" {
  source_policy_documents = [data.aws_iam_policy_document.read_source_stream.json]

  # Firehose invokes the transformation with this role (no resource policy on
  # the function is needed); the function is deployed by Chalice.
  statement {
    sid       = "InvokeTransformation"
    actions   = ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"]
    resources = [var.search_transform_function_arn]
  }

  statement {
    sid       = "FailedDocumentsBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.archive.arn]
  }

  statement {
    sid       = "WriteFailedDocuments"
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${var.failed_documents_prefix}*"]
  }

  statement {
    sid       = "EncryptFailedDocuments"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "DescribeDomain"
    actions   = ["es:DescribeDomain", "es:DescribeDomains", "es:DescribeDomainConfig"]
    resources = [var.opensearch_domain_arn]
  }

  statement {
    sid       = "IndexDocuments"
    actions   = ["es:ESHttpPost", "es:ESHttpPut", "es:ESHttpGet"]
    resources = [var.opensearch_domain_arn, "${var.opensearch_domain_arn}/*"]
  }

  statement {
    sid       = "DeliveryErrorLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.search.arn}:*"]
  }
}

resource "aws_iam_role_policy" "search" {
  name   = "delivery"
  role   = aws_iam_role.search.id
  policy = data.aws_iam_policy_document.search.json
}

# The processor's ARN is built from the deterministic Chalice function name
# (<app>-<stage>-search_transform). On a fresh deployment `terraform apply`
# runs before `chalice deploy` creates the function; see infra/README.md for
# search_transform_enabled and the second apply.
resource "aws_kinesis_firehose_delivery_stream" "search" {
  #checkov:skip=CKV_AWS_240:Server-side encryption cannot be enabled on a delivery stream whose source is a Kinesis stream; the source stream is KMS-encrypted and so is the bucket.
  #checkov:skip=CKV_AWS_241:Same reason as CKV_AWS_240: the source stream's CMK and the bucket's CMK protect the data.
  name        = var.search_delivery_stream_name
  destination = "opensearch"

  kinesis_source_configuration {
    kinesis_stream_arn = var.source_stream_arn
    role_arn           = aws_iam_role.search.arn
  }

  opensearch_configuration {
    domain_arn            = var.opensearch_domain_arn
    role_arn              = aws_iam_role.search.arn
    index_name            = var.opensearch_index
    index_rotation_period = "NoRotation"
    buffering_interval    = var.search_buffering_interval_seconds
    buffering_size        = var.search_buffering_size_mb
    retry_duration        = var.search_retry_duration_seconds
    s3_backup_mode        = "FailedDocumentsOnly"

    dynamic "processing_configuration" {
      for_each = var.search_transform_enabled ? [var.search_transform_function_arn] : []
      content {
        enabled = true

        processors {
          type = "Lambda"

          parameters {
            parameter_name  = "LambdaArn"
            parameter_value = processing_configuration.value
          }

          parameters {
            parameter_name  = "NumberOfRetries"
            parameter_value = "3"
          }

          parameters {
            parameter_name  = "BufferSizeInMBs"
            parameter_value = "1"
          }

          parameters {
            parameter_name  = "BufferIntervalInSeconds"
            parameter_value = tostring(var.search_buffering_interval_seconds)
          }
        }
      }
    }

    # Documents OpenSearch rejected (decrypted) and records the Lambda failed
    # (still sealed) land under this prefix, in sub-folders Firehose adds
    # ("AmazonOpenSearchService-failed/", "processing-failed/"): all expire.
    s3_configuration {
      role_arn            = aws_iam_role.search.arn
      bucket_arn          = aws_s3_bucket.archive.arn
      prefix              = var.failed_documents_prefix
      error_output_prefix = var.failed_documents_prefix
      buffering_interval  = var.search_buffering_interval_seconds
      buffering_size      = var.search_buffering_size_mb
      compression_format  = "UNCOMPRESSED"
      kms_key_arn         = var.kms_key_arn

      cloudwatch_logging_options {
        enabled         = true
        log_group_name  = aws_cloudwatch_log_group.search.name
        log_stream_name = aws_cloudwatch_log_stream.search_backup.name
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.search.name
      log_stream_name = aws_cloudwatch_log_stream.search_opensearch.name
    }
  }

  depends_on = [aws_iam_role_policy.search]
}

# ------------------------------------------- erasures: the late redaction pass

# search_transform opens a document, then Firehose buffers and retries it for
# up to the window below before OpenSearch has it. An erasure redacts what is
# indexed at once (search_erasure), and again after this delay
# (search_late_redaction), when every document opened before the person's key
# was deleted has been delivered. The delay is derived from the delivery
# stream's own settings; chalicelib/resources.py SEARCH_LATE_REDACTION sums the same.
locals {
  search_delivery_window_seconds = var.search_transform_timeout_seconds + var.search_buffering_interval_seconds + var.search_retry_duration_seconds
  search_redaction_delay_seconds = local.search_delivery_window_seconds + var.search_redaction.margin_seconds
}

resource "aws_sqs_queue" "search_redaction_dlq" {
  name                              = "${var.search_redaction.queue_name}-dlq"
  message_retention_seconds         = var.search_redaction.dlq_message_retention_seconds
  kms_master_key_id                 = var.search_redaction.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "search_redaction" {
  name                              = var.search_redaction.queue_name
  delay_seconds                     = local.search_redaction_delay_seconds
  visibility_timeout_seconds        = var.search_redaction.visibility_timeout_seconds
  message_retention_seconds         = var.search_redaction.message_retention_seconds
  kms_master_key_id                 = var.search_redaction.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.search_redaction_dlq.arn
    maxReceiveCount     = var.search_redaction.max_receive_count
  })

  lifecycle {
    precondition {
      condition     = local.search_redaction_delay_seconds <= 900
      error_message = "The search delivery window (transform timeout + buffering interval + retry duration) plus the margin exceeds SQS's longest delay (900 s): shorten the retry duration."
    }
  }
}

# Only the redaction queue may move messages into its DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "search_redaction_dlq" {
  queue_url = aws_sqs_queue.search_redaction_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.search_redaction.arn]
  })
}
