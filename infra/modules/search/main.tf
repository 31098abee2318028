data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# The role (not the assumed-role session) running terraform.
data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  domain_arn  = "arn:${local.partition}:es:${data.aws_region.current.name}:${local.account_id}:domain/${var.domain_name}"
  master_user = coalesce(var.master_user_arn, data.aws_iam_session_context.current.issuer_arn)
  log_types   = ["INDEX_SLOW_LOGS", "SEARCH_SLOW_LOGS", "ES_APPLICATION_LOGS", "AUDIT_LOGS"]
}

resource "aws_cloudwatch_log_group" "domain" {
  for_each = toset(local.log_types)

  name              = "/aws/opensearch/${var.domain_name}/${lower(each.key)}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "OpenSearchLogs"
    actions   = ["logs:PutLogEvents", "logs:CreateLogStream"]
    resources = [for g in aws_cloudwatch_log_group.domain : "${g.arn}:*"]

    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.domain_arn]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "domain" {
  policy_name     = "${var.domain_name}-opensearch-logs"
  policy_document = data.aws_iam_policy_document.logs.json
}

# IAM gate: principals of this account only; fine-grained access control then
# maps IAM roles (Firehose, the API Lambda) to OpenSearch roles.
data "aws_iam_policy_document" "access" {
  statement {
    sid = "AccountPrincipals"
    actions = [
      "es:ESHttpGet",
      "es:ESHttpHead",
      "es:ESHttpPost",
      "es:ESHttpPut",
      "es:ESHttpDelete",
    ]
    resources = ["${local.domain_arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_opensearch_domain" "this" {
  #checkov:skip=CKV2_AWS_59:Dedicated master nodes triple the cost of this reference deployment; enable them with zone awareness for production.
  #checkov:skip=CKV_AWS_318:High availability (dedicated masters, 3 AZs) is a cost decision left to var.search_instance_count; the default is one node.
  #checkov:skip=CKV_AWS_248:The domain is not in a VPC (Firehose and Lambda reach it over HTTPS with SigV4), so no security group is used.
  #checkov:skip=CKV_AWS_137:Public endpoint by design: access needs SigV4 from this account and fine-grained access control.
  domain_name     = var.domain_name
  engine_version  = var.engine_version
  access_policies = data.aws_iam_policy_document.access.json

  cluster_config {
    instance_type          = var.instance_type
    instance_count         = var.instance_count
    zone_awareness_enabled = var.instance_count > 1

    dynamic "zone_awareness_config" {
      for_each = var.instance_count > 1 ? [1] : []
      content {
        availability_zone_count = 2
      }
    }
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_size_gb
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = var.kms_key_arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    anonymous_auth_enabled         = false
    internal_user_database_enabled = false

    master_user_options {
      master_user_arn = local.master_user
    }
  }

  log_publishing_options {
    log_type                 = "INDEX_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["INDEX_SLOW_LOGS"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "SEARCH_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["SEARCH_SLOW_LOGS"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "ES_APPLICATION_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["ES_APPLICATION_LOGS"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "AUDIT_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["AUDIT_LOGS"].arn
    enabled                  = true
  }

  depends_on = [aws_cloudwatch_log_resource_policy.domain]
}
