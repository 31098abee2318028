output "alarm_names" {
  description = "Every alarm this module creates (what README \"Operating it\" documents)."
  value       = [for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_name]
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the platform's operations."
  value       = aws_cloudwatch_dashboard.platform.dashboard_name
}
