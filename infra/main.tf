# livecard on AWS: the table, the secrets, the three Lambda functions behind
# an HTTP API and a WebSocket API, the sweep schedule, and media nodes on ECS
# Fargate. docs/deploy.md explains the design and the steps.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  ws_stage  = "live"
  # The WebSocket URL clients open, and the Management API endpoint the
  # functions push through.
  ws_url          = "wss://${aws_apigatewayv2_api.ws.id}.execute-api.${local.region}.amazonaws.com/${local.ws_stage}"
  ws_callback_url = "https://${aws_apigatewayv2_api.ws.id}.execute-api.${local.region}.amazonaws.com/${local.ws_stage}"
  public_url      = var.public_url != "" ? var.public_url : aws_apigatewayv2_api.http.api_endpoint
  tags            = merge({ "app" = "livecard" }, var.tags)
}

# One customer-managed key encrypts the table, the secrets, the logs and the
# dead-letter queue.
resource "aws_kms_key" "main" {
  description             = "${var.name}: table, secrets, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypt"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:*" }
        }
      },
      {
        Sid       = "EventsAndSqs"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "sqs.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

module "table" {
  source              = "./modules/table"
  name                = var.name
  kms_key_arn         = aws_kms_key.main.arn
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

module "secrets" {
  source          = "./modules/secrets"
  name            = var.name
  kms_key_arn     = aws_kms_key.main.arn
  secrets_version = var.secrets_version
  generate        = var.generate_secrets
  document        = var.secrets_document
  turn_provider   = var.turn_provider
  tags            = local.tags
}

# The two APIs exist before the functions (whose settings name their URLs);
# their stages, routes and integrations follow the functions.
resource "aws_apigatewayv2_api" "http" {
  name          = "${var.name}-http"
  protocol_type = "HTTP"
  description   = "livecard pages, widget and JSON API"
  tags          = local.tags
}

resource "aws_apigatewayv2_api" "ws" {
  name                       = "${var.name}-ws"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.type"
  description                = "livecard signaling"
  tags                       = local.tags
}

module "functions" {
  source               = "./modules/functions"
  name                 = var.name
  zip_dir              = "${var.lambda_zip_dir}/${var.architecture}"
  architecture         = var.architecture
  table_arn            = module.table.arn
  table_name           = module.table.name
  table_stream_arn     = module.table.stream_arn
  forward_allow        = var.forward_allow
  secret_arn           = module.secrets.app_secret_arn
  kms_key_arn          = aws_kms_key.main.arn
  public_url           = local.public_url
  ws_url               = local.ws_url
  ws_callback_url      = local.ws_callback_url
  ws_execution_arn     = "${aws_apigatewayv2_api.ws.execution_arn}/${local.ws_stage}"
  reserved_concurrency = var.reserved_concurrency
  log_retention_days   = var.log_retention_days
  ice_servers          = var.ice_servers
  tags                 = local.tags
}

module "api" {
  source             = "./modules/api"
  name               = var.name
  http_api_id        = aws_apigatewayv2_api.http.id
  http_execution_arn = aws_apigatewayv2_api.http.execution_arn
  ws_api_id          = aws_apigatewayv2_api.ws.id
  ws_execution_arn   = aws_apigatewayv2_api.ws.execution_arn
  ws_stage           = local.ws_stage
  http_function      = module.functions.http
  ws_function        = module.functions.ws
  throttling         = var.throttling
  kms_key_arn        = aws_kms_key.main.arn
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

# The presence connectors (Teams, XMPP, the phone system), when configured:
# one ECS task beside the media nodes; docs/deploy.md, "Presence connectors".
module "connectors" {
  source = "./modules/connectors"
  count  = var.connectors == null ? 0 : 1
  name   = var.name
  connectors = {
    image            = var.connectors.image
    cpu              = var.connectors.cpu
    memory           = var.connectors.memory
    subnet_ids       = var.connectors.network == null ? module.media.public_subnet_ids : var.connectors.network.subnet_ids
    assign_public_ip = var.connectors.network == null
    teams            = var.connectors.teams
    xmpp             = var.connectors.xmpp
    sip              = var.connectors.sip
  }
  cluster_arn        = module.media.cluster_arn
  vpc_id             = var.connectors.network == null ? module.media.vpc_id : var.connectors.network.vpc_id
  vpc_cidr           = var.connectors.network == null ? module.media.vpc_cidr : var.connectors.network.vpc_cidr
  table_arn          = module.table.arn
  table_name         = module.table.name
  app_secret_arn     = module.secrets.app_secret_arn
  ws_execution_arn   = "${aws_apigatewayv2_api.ws.execution_arn}/${local.ws_stage}"
  public_url         = local.public_url
  ws_url             = local.ws_url
  ws_callback_url    = local.ws_callback_url
  kms_key_arn        = aws_kms_key.main.arn
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

# The edge host (a Cloudflare Worker in front of the same table), when
# wanted: its IAM user; docs/deploy.md, "At the edge".
module "edge" {
  source      = "./modules/edge"
  count       = var.edge_worker ? 1 : 0
  name        = var.name
  table_arn   = module.table.arn
  kms_key_arn = aws_kms_key.main.arn
  tags        = local.tags
}

module "media" {
  source             = "./modules/media"
  name               = var.name
  media              = var.media
  table_arn          = module.table.arn
  table_name         = module.table.name
  notify_url         = aws_apigatewayv2_api.http.api_endpoint
  turn_secret_arn    = module.secrets.turn_secret_arn
  kms_key_arn        = aws_kms_key.main.arn
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

# Who may read the secrets: the functions (the document) and the media
# nodes' task execution role (the TURN secret), and the operators named.
# Everyone else is denied, whatever their IAM policies say.
resource "aws_secretsmanager_secret_policy" "app" {
  secret_arn = module.secrets.app_secret_arn
  policy     = local.secret_policy[0]
}

resource "aws_secretsmanager_secret_policy" "turn" {
  secret_arn = module.secrets.turn_secret_arn
  policy     = local.secret_policy[1]
}

locals {
  app_readers  = concat(values(module.functions.role_arns), var.secret_reader_arns)
  turn_readers = concat([module.media.execution_role_arn], var.secret_reader_arns)
  secret_policy = [
    for readers in [local.app_readers, local.turn_readers] : jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "OnlyTheReadersNamed"
        Effect    = "Deny"
        Principal = "*"
        Action    = ["secretsmanager:GetSecretValue"]
        Resource  = "*"
        Condition = { StringNotLike = { "aws:PrincipalArn" = readers } }
      }]
    })
  ]
}
