# The four functions of docs/lambda.md from the zips of
# scripts/build-lambda.sh, each with its own role (least privilege), log
# group and reserved concurrency; the sweep on an EventBridge schedule with
# a dead-letter queue for failed invocations; the forwarder on the table's
# stream (new deliveries), its failed batches noted in the same queue.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  functions = {
    http = {
      timeout = 10
      memory  = 512
      # Pages and the JSON API need the store and the secrets.
      manage_connections = false
      environment        = {}
    }
    ws = {
      timeout            = 10
      memory             = 512
      manage_connections = true
      environment        = {}
    }
    sweep = {
      timeout            = 60
      memory             = 256
      manage_connections = true
      # Sweeps for 55 of each minute, every 5 s (docs/lambda.md).
      environment = {
        LIVECARD_SWEEP_SECONDS       = "55"
        LIVECARD_SWEEP_EVERY_SECONDS = "5"
      }
    }
    # Analytics out: GA4, Matomo, webhooks (docs/analytics.md).
    forward = {
      timeout            = 60
      memory             = 256
      manage_connections = false
      environment        = {}
    }
  }
}

resource "aws_cloudwatch_log_group" "fn" {
  # checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, default 30 days); a year of request and relay logs costs more than it helps here. Set 365 where a policy requires it.
  for_each          = local.functions
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "fn" {
  for_each = local.functions
  name     = "${var.name}-${each.key}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = var.tags
}

# Exactly what each function does: its logs, its traces, the table and its
# index, the secrets document, the key that encrypts them, and (ws, sweep)
# pushing to WebSocket connections of the one stage; the sweep may also
# drop a failed event into its dead-letter queue.
resource "aws_iam_role_policy" "fn" {
  for_each = local.functions
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.fn[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "Logs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.fn[each.key].arn}:*"
        },
        {
          Sid      = "Traces"
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = "*"
        },
        {
          Sid    = "Table"
          Effect = "Allow"
          Action = [
            "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
            "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Query",
            "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
          ]
          Resource = [var.table_arn, "${var.table_arn}/index/*"]
        },
        {
          Sid      = "Secrets"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = var.secret_arn
        },
        {
          Sid      = "Key"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
          Resource = var.kms_key_arn
          Condition = {
            StringEquals = {
              "kms:ViaService" = ["dynamodb.${local.region}.amazonaws.com", "secretsmanager.${local.region}.amazonaws.com"]
            }
          }
        },
      ],
      [for st in local.push_statements : st if each.value.manage_connections],
      [for st in local.dead_letter_statements : st if contains(["sweep", "forward"], each.key)],
      [for st in local.stream_statements : st if each.key == "forward"],
    )
  })
}

locals {
  stream_statements = [{
    Sid      = "TableStream"
    Effect   = "Allow"
    Action   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    Resource = var.table_stream_arn
  }]
  push_statements = [{
    Sid      = "PushToConnections"
    Effect   = "Allow"
    Action   = ["execute-api:ManageConnections"]
    Resource = "${var.ws_execution_arn}/*/@connections/*"
  }]
  dead_letter_statements = [
    {
      Sid      = "DeadLetters"
      Effect   = "Allow"
      Action   = ["sqs:SendMessage"]
      Resource = aws_sqs_queue.dead_letters.arn
    },
    {
      Sid      = "DeadLetterKey"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = var.kms_key_arn
      Condition = {
        StringEquals = { "kms:ViaService" = "sqs.${local.region}.amazonaws.com" }
      }
    },
  ]
}

resource "aws_sqs_queue" "dead_letters" {
  name                              = "${var.name}-sweep-dead-letters"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = var.tags
}

resource "aws_lambda_function" "fn" {
  for_each = local.functions
  # checkov:skip=CKV_AWS_117:The functions reach DynamoDB, Secrets Manager and API Gateway over AWS's public endpoints (TLS, IAM); a VPC would add NAT cost and no protection.
  # checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the zips are built and checked by scripts/build-lambda.sh in CI.
  # checkov:skip=CKV_AWS_116:http and ws are invoked synchronously by API Gateway (no dead letters possible); the sweep, invoked asynchronously, has one (see dead_letter_config below); the forwarder's stream mapping sends failed batches to the same queue (on_failure below).
  function_name                  = "${var.name}-${each.key}"
  role                           = aws_iam_role.fn[each.key].arn
  filename                       = "${var.zip_dir}/livecard-${each.key}.zip"
  source_code_hash               = filebase64sha256("${var.zip_dir}/livecard-${each.key}.zip")
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = each.value.memory
  timeout                        = each.value.timeout
  reserved_concurrent_executions = var.reserved_concurrency[each.key]
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge({
      LIVECARD_TABLE           = var.table_name
      LIVECARD_PUBLIC_URL      = var.public_url
      LIVECARD_WS_URL          = var.ws_url
      LIVECARD_WS_CALLBACK_URL = var.ws_callback_url
      LIVECARD_SECRETS_ARN     = var.secret_arn
      RUST_LOG                 = "info"
      }, each.value.environment,
      length(var.forward_allow) > 0 ? { LIVECARD_FORWARD_ALLOW = join(",", var.forward_allow) } : {},
      length(var.ice_servers.turn) > 0 ? { LIVECARD_TURN_SERVERS = join(",", var.ice_servers.turn) } : {},
    length(var.ice_servers.stun) > 0 ? { LIVECARD_STUN_SERVERS = join(",", var.ice_servers.stun) } : {})
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "dead_letter_config" {
    for_each = each.key == "sweep" ? [1] : []
    content {
      target_arn = aws_sqs_queue.dead_letters.arn
    }
  }

  depends_on = [aws_cloudwatch_log_group.fn, aws_iam_role_policy.fn]
  tags       = var.tags
}

# The sweep: every minute (it keeps sweeping for 55 s of it).
resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${var.name}-sweep"
  description         = "livecard sweep: ring deadlines, queue timeouts, inactivity"
  schedule_expression = "rate(1 minute)"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule = aws_cloudwatch_event_rule.sweep.name
  arn  = aws_lambda_function.fn["sweep"].arn
  retry_policy {
    maximum_event_age_in_seconds = 120
    maximum_retry_attempts       = 2
  }
  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

resource "aws_lambda_permission" "sweep" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn["sweep"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep.arn
}

resource "aws_lambda_function_event_invoke_config" "sweep" {
  function_name                = aws_lambda_function.fn["sweep"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 120
}

# EventBridge may drop failed deliveries into the queue too.
resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dead_letters.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.sweep.arn } }
    }]
  })
}

# The forwarder wakes when deliveries are made: the stream's inserts of
# delivery items only. What it cannot send now waits in the outbox for its
# retry time, sent by the sweep; a batch that keeps failing (the store was
# unavailable) is noted in the dead-letter queue, and its deliveries are
# still in the outbox.
resource "aws_lambda_event_source_mapping" "forward" {
  event_source_arn                   = var.table_stream_arn
  function_name                      = aws_lambda_function.fn["forward"].arn
  starting_position                  = "LATEST"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 1
  maximum_retry_attempts             = 3
  bisect_batch_on_function_error     = false

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT"]
        dynamodb  = { Keys = { sk = { S = ["DELIVERY"] } } }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.dead_letters.arn
    }
  }
}
