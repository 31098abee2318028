output "policies" {
  description = "IAM policy JSON by Chalice handler name; tf_outputs_to_chalice.py writes each to .chalice/policy-<stage>-<handler>.json."
  value = merge(
    {
      api_handler           = data.aws_iam_policy_document.api_handler.json
      ledger_relay          = data.aws_iam_policy_document.ledger_relay.json
      user_events_fanout    = data.aws_iam_policy_document.user_events_fanout.json
      projector             = data.aws_iam_policy_document.projector.json
      search_erasure        = data.aws_iam_policy_document.search_erasure.json
      search_late_redaction = data.aws_iam_policy_document.search_late_redaction.json
      search_transform      = data.aws_iam_policy_document.search_transform.json
      replay_worker         = data.aws_iam_policy_document.replay_worker.json
    },
    { for handler, policy in data.aws_iam_policy_document.queue_consumer : handler => policy.json },
  )
}

output "function_names" {
  description = "Deployed Lambda function name by Chalice handler name."
  value       = local.function_names
}

output "function_arns" {
  description = "Lambda function ARN (unqualified) by Chalice handler name; deterministic, so usable before `chalice deploy` creates the functions."
  value       = { for h, name in local.function_names : h => "${local.function_arn}:${name}" }
}

output "stream_consumer_function_names" {
  description = "Deployed function name by handler, of the functions mapped to a stream (alarmed on iterator age)."
  value       = { for h in local.stream_consumers : h => local.function_names[h] }
}
