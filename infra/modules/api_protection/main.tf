# The REST API's web ACL (WAFv2, regional): rate-based rules per identity (the
# Authorization header) and per client IP. Chalice creates the API and its
# stage after this apply, so scripts/post_deploy.py associates the ACL with the
# stage (and applies the stage throttling this module only carries through).

locals {
  blocked_body_key = "too_many_requests"
  # Rule names double as CloudWatch metric names (<web ACL>-<rule>).
  rules = {
    per_identity = { priority = 0, name = "rate-per-identity" }
    per_ip       = { priority = 1, name = "rate-per-ip" }
  }
}

resource "aws_wafv2_web_acl" "api" {
  #checkov:skip=CKV_AWS_192:The Log4j (Log4Shell) rule set guards Java backends; every function behind this API is Python, and this ACL holds rate limits only.
  name        = var.name
  description = "Rate limits of the REST API: per identity (Authorization header) and per client IP"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  # A caller over a limit gets the answer of the stage throttling, in the API's error shape.
  custom_response_body {
    key          = local.blocked_body_key
    content      = var.blocked_response_body
    content_type = "APPLICATION_JSON"
  }

  # One caller (one access token, hence one Cognito identity) may send at most
  # var.rate_limit_per_identity requests in any evaluation window. Requests
  # without the header are not counted here: the per-IP rule covers them.
  rule {
    name     = local.rules.per_identity.name
    priority = local.rules.per_identity.priority

    action {
      block {
        custom_response {
          response_code            = var.blocked_status_code
          custom_response_body_key = local.blocked_body_key
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.rate_limit_per_identity
        evaluation_window_sec = var.evaluation_window_seconds
        aggregate_key_type    = "CUSTOM_KEYS"

        custom_key {
          header {
            name = "authorization"
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-${local.rules.per_identity.name}"
      sampled_requests_enabled   = true
    }
  }

  # Every request of one source address, signed in or not (sign-up floods,
  # token guessing, many identities from one machine).
  rule {
    name     = local.rules.per_ip.name
    priority = local.rules.per_ip.priority

    action {
      block {
        custom_response {
          response_code            = var.blocked_status_code
          custom_response_body_key = local.blocked_body_key
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.rate_limit_per_ip
        evaluation_window_sec = var.evaluation_window_seconds
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-${local.rules.per_ip.name}"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

# WAF logs every request it evaluates; the bearer token is redacted (a log
# line must never hold a credential). WAF requires the aws-waf-logs- prefix.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "api" {
  resource_arn            = aws_wafv2_web_acl.api.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}
