# Alarms and a dashboard: every failure an operator must act on notifies one
# SNS topic; README "Operating it" maps each alarm to the command that recovers.

data "aws_region" "current" {}

locals {
  alarm_actions = [var.alarm_topic_arn]
  region        = data.aws_region.current.name

  # Every alarm, by name suffix: one declaration each, one resource block below.
  alarms = merge(
    # Any message in a DLQ or in stream-failures: something failed for good.
    { for key, queue in var.failure_queue_names : "${key}-not-empty" => {
      description = "Messages wait in ${queue}: inspect with `ops.py dlq`, fix the cause, then `ops.py redrive ${queue}`."
      namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = queue }
      statistic   = "Maximum", period = 60, periods = 1, threshold = 0, comparison = "GreaterThanThreshold"
    } },
    { "event-stream-iterator-age" = {
      description = "A reader of ${var.event_stream_name} is behind by more than ${var.iterator_age_threshold_ms} ms."
      namespace   = "AWS/Kinesis", metric = "GetRecords.IteratorAgeMilliseconds", dimensions = { StreamName = var.event_stream_name }
      statistic   = "Maximum", period = 60, periods = 5, threshold = var.iterator_age_threshold_ms, comparison = "GreaterThanThreshold"
    } },
    # Per stream-mapped function: Kinesis consumers and the ledger relay (DynamoDB stream).
    { for handler, function in var.stream_consumer_function_names : "${handler}-iterator-age" => {
      description = "${function} is behind its stream by more than ${var.iterator_age_threshold_ms} ms."
      namespace   = "AWS/Lambda", metric = "IteratorAge", dimensions = { FunctionName = function }
      statistic   = "Maximum", period = 60, periods = 5, threshold = var.iterator_age_threshold_ms, comparison = "GreaterThanThreshold"
    } },
    { for handler, function in var.function_names : "${handler}-errors" => {
      description = "${function} failed invocations."
      namespace   = "AWS/Lambda", metric = "Errors", dimensions = { FunctionName = function }
      statistic   = "Sum", period = 300, periods = 1, threshold = 0, comparison = "GreaterThanThreshold"
    } },
    { for handler, function in var.function_names : "${handler}-throttles" => {
      description = "${function} invocations were throttled (reserved or account concurrency exhausted)."
      namespace   = "AWS/Lambda", metric = "Throttles", dimensions = { FunctionName = function }
      statistic   = "Sum", period = 300, periods = 1, threshold = 0, comparison = "GreaterThanThreshold"
    } },
    # Success is the share of records delivered in the period; below 1 some failed.
    { "archive-delivery-to-s3" = {
      description = "${var.archive_delivery_stream_name} failed to deliver records to the S3 archive (Firehose retries; failed records land under errors/)."
      namespace   = "AWS/Firehose", metric = "DeliveryToS3.Success", dimensions = { DeliveryStreamName = var.archive_delivery_stream_name }
      statistic   = "Minimum", period = 300, periods = 1, threshold = 1, comparison = "LessThanThreshold"
    } },
    { "search-delivery-to-opensearch" = {
      description = "${var.search_delivery_stream_name} failed to index records into OpenSearch (failed documents go to the archive bucket's search-failed/ prefix)."
      namespace   = "AWS/Firehose", metric = "DeliveryToAmazonOpenSearchService.Success", dimensions = { DeliveryStreamName = var.search_delivery_stream_name }
      statistic   = "Minimum", period = 300, periods = 1, threshold = 1, comparison = "LessThanThreshold"
    } },
    { "api-5xx" = {
      description = "The API answered 5xx: a bug or a dependency outage (bad input is always 4xx)."
      namespace   = "AWS/ApiGateway", metric = "5XXError", dimensions = { ApiName = var.api_name, Stage = var.api_stage }
      statistic   = "Sum", period = 300, periods = 1, threshold = var.api_5xx_threshold, comparison = "GreaterThanThreshold"
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_dashboard" "platform" {
  dashboard_name = "${var.name_prefix}-operations"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Failure queues (messages waiting)"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = [
            for name in values(var.failure_queue_names) :
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Iterator age (ms)"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = concat(
            [["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", var.event_stream_name]],
            [for name in values(var.stream_consumer_function_names) : ["AWS/Lambda", "IteratorAge", "FunctionName", name]],
          )
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Lambda errors and throttles"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = flatten([for name in values(var.function_names) : [["AWS/Lambda", "Errors", "FunctionName", name], ["AWS/Lambda", "Throttles", "FunctionName", name]]])
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Consumers: applied, duplicates, gap retries, failures"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [
            [{ expression = "SEARCH('{${var.metrics_namespace},consumer,service} MetricName=\"ConsumerApplied\"', 'Sum', 300)", id = "applied" }],
            [{ expression = "SEARCH('{${var.metrics_namespace},consumer,service} MetricName=\"ConsumerDuplicate\"', 'Sum', 300)", id = "duplicate" }],
            [{ expression = "SEARCH('{${var.metrics_namespace},consumer,service} MetricName=\"ConsumerGapRetry\"', 'Sum', 300)", id = "gap" }],
            [{ expression = "SEARCH('{${var.metrics_namespace},consumer,service} MetricName=\"ConsumerFailed\"', 'Sum', 300)", id = "failed" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Events appended (per type), relayed, published"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = [
            [{ expression = "SEARCH('{${var.metrics_namespace},service,type} MetricName=\"EventsAppended\"', 'Sum', 300)", id = "appended" }],
            [{ expression = "SEARCH('{${var.metrics_namespace},consumer,service} MetricName=\"RelayBatchSize\"', 'Sum', 300)", id = "relayed" }],
            [{ expression = "SEARCH('{${var.metrics_namespace},consumer,service} MetricName=\"FanoutPublished\"', 'Sum', 300)", id = "published" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Projector lag (event time to applied, ms) and API 5xx"
          region = local.region
          period = 60
          metrics = [
            [var.metrics_namespace, "ProjectorLag", "consumer", "projector", "service", "event-platform", { stat = "p99" }],
            ["AWS/ApiGateway", "5XXError", "ApiName", var.api_name, "Stage", var.api_stage, { stat = "Sum", yAxis = "right" }],
          ]
        }
      },
    ]
  })
}
