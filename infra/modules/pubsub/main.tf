data "aws_iam_policy_document" "queue" {
  for_each = var.queues

  statement {
    sid       = "AllowUserEventsTopic"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue[each.key].arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.user_events.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.queue[each.key].arn]

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

resource "aws_sns_topic" "user_events" {
  name              = "${var.name_prefix}-${var.topic_suffix}"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sqs_queue" "dlq" {
  for_each = var.queues

  name                              = "${var.name_prefix}-${each.value.suffix}-dlq"
  message_retention_seconds         = each.value.dlq_message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "queue" {
  for_each = var.queues

  name                              = "${var.name_prefix}-${each.value.suffix}"
  visibility_timeout_seconds        = each.value.visibility_timeout_seconds
  message_retention_seconds         = each.value.message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
}

# Only its own queue may move messages into a DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

resource "aws_sqs_queue_policy" "queue" {
  for_each = var.queues

  queue_url = aws_sqs_queue.queue[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

resource "aws_sns_topic_subscription" "queue" {
  for_each = var.queues

  topic_arn            = aws_sns_topic.user_events.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.queue[each.key].arn
  raw_message_delivery = true
  filter_policy_scope  = "MessageAttributes"
  filter_policy        = each.value.filter_policy_json

  depends_on = [aws_sqs_queue_policy.queue]
}

# Stream consumers' on-failure destination (records they gave up on).
resource "aws_sqs_queue" "stream_failures" {
  name                              = "${var.name_prefix}-${var.stream_failure_queue_suffix}"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}
