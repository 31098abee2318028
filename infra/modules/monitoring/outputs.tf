output "alarm_names" {
  description = "Every alarm this module creates (what README \"Operating it\" documents)."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.failure_queue_not_empty : a.alarm_name],
    [aws_cloudwatch_metric_alarm.stream_iterator_age.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.consumer_iterator_age : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.function_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.function_throttles : a.alarm_name],
    [
      aws_cloudwatch_metric_alarm.archive_delivery_failures.alarm_name,
      aws_cloudwatch_metric_alarm.search_delivery_failures.alarm_name,
      aws_cloudwatch_metric_alarm.api_5xx.alarm_name,
    ],
  )
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the platform's operations."
  value       = aws_cloudwatch_dashboard.platform.dashboard_name
}
