# Replay beyond one machine: a Step Functions state machine whose Distributed
# Map folds every hash bucket of the archive in its own child execution (one
# invocation of the replay worker Lambda, which Chalice deploys), then merges
# the parts into a new read-model generation and switches readers
# (chalicelib/service/replay_worker.py runs every step).

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  # Built from the name: the role's policy needs it before the state machine exists.
  state_machine_arn = "${local.arn_prefix}:stateMachine:${var.name}"
  # What definition.asl.json is rendered with (scripts/replay_aws.py renders it the same way).
  definition_values = {
    worker_function_arn          = var.worker_function_arn
    bucket_count                 = var.bucket_count
    max_concurrency              = var.max_concurrency
    tolerated_failure_percentage = var.tolerated_failure_percentage
  }
  definition = templatefile("${path.module}/definition.asl.json", local.definition_values)
}

resource "aws_cloudwatch_log_group" "replay" {
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "replay" {
  name               = "${var.name}-states"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "replay" {
  # Every state invokes the worker, and nothing else.
  statement {
    sid       = "InvokeWorker"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.worker_function_arn, "${var.worker_function_arn}:*"]
  }

  # A Distributed Map runs its children as executions of this state machine.
  statement {
    sid       = "RunMapChildren"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid       = "WatchMapChildren"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = ["${local.arn_prefix}:execution:${var.name}/*"]
  }

  statement {
    sid       = "StateMachineKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  # The log delivery and X-Ray actions take no resource ARN: "*" is the only one.
  statement {
    sid = "ExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "XRayTracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "replay" {
  name   = "replay"
  role   = aws_iam_role.replay.id
  policy = data.aws_iam_policy_document.replay.json
}

resource "aws_sfn_state_machine" "replay" {
  name       = var.name
  role_arn   = aws_iam_role.replay.arn
  type       = "STANDARD"
  definition = local.definition

  # Execution data is a projection's name, bucket numbers, counts and the
  # summary: never an event or a personal field (the parts stay in S3).
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.replay.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = var.kms_key_arn
    kms_data_key_reuse_period_seconds = 300
  }

  depends_on = [aws_iam_role_policy.replay]
}
