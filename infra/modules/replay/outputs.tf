output "state_machine_arn" {
  description = "ARN of the replay state machine: scripts/replay.py --on aws --state-machine <this> starts it."
  value       = aws_sfn_state_machine.replay.arn
}

output "state_machine_name" {
  description = "Name of the replay state machine."
  value       = aws_sfn_state_machine.replay.name
}

output "role_arn" {
  description = "IAM role the state machine runs as (invokes the worker, runs the Map's child executions)."
  value       = aws_iam_role.replay.arn
}

output "log_group_name" {
  description = "Log group of the state machine's executions."
  value       = aws_cloudwatch_log_group.replay.name
}

output "worker" {
  description = "Lambda settings of the replay worker, which Chalice deploys (scripts/tf_outputs_to_chalice.py)."
  value = {
    memory_mb       = var.worker_memory_mb
    timeout_seconds = var.worker_timeout_seconds
  }
}

output "definition_values" {
  description = "The values definition.asl.json is rendered with: the deploy rehearsal renders it with them and compares it with the deployed definition."
  value       = local.definition_values
}
