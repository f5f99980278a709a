# The presence connectors (docs/presence.md) as a small ECS service beside
# the media nodes: one Fargate task running the connectors image
# (functions/connectors/Dockerfile) with the Lambda functions' handlers on
# the same table, secrets document and WebSocket stage, so presence it learns
# from Teams, the XMPP server or the phone system is stored and pushed to
# consoles exactly as the functions would. One task: the connectors keep
# per-advisor state (Teams call sessions, SIP subscriptions), and what a
# task wrote expires by itself when it is replaced.
#
# The connectors' own credentials (Teams client secret, XMPP component
# secret) live in a secret of their own that the operator fills
# (docs/deploy.md); Terraform never sees them, and ECS injects them into the
# task's environment.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  ops    = 9091
  c      = var.connectors
  environment = concat(
    [
      { name = "LIVECARD_TABLE", value = var.table_name },
      { name = "LIVECARD_PUBLIC_URL", value = var.public_url },
      { name = "LIVECARD_WS_URL", value = var.ws_url },
      { name = "LIVECARD_WS_CALLBACK_URL", value = var.ws_callback_url },
      { name = "LIVECARD_SECRETS_ARN", value = var.app_secret_arn },
      { name = "LIVECARD_CONNECTORS_HTTP", value = "0.0.0.0:${local.ops}" },
      { name = "AWS_REGION", value = local.region },
    ],
    local.c.teams == null ? [] : [
      { name = "LIVECARD_TEAMS_TENANT", value = local.c.teams.tenant },
      { name = "LIVECARD_TEAMS_CLIENT_ID", value = local.c.teams.client_id },
      { name = "LIVECARD_TEAMS_POLL", value = local.c.teams.poll },
      { name = "LIVECARD_TEAMS_WRITE_BACK", value = tostring(local.c.teams.write_back) },
    ],
    try(local.c.teams.push, false) ? [
      { name = "LIVECARD_TEAMS_NOTIFY_URL", value = "${var.public_url}/api/v1/connectors/teams/notifications" },
    ] : [],
    local.c.xmpp == null ? [] : [
      { name = "LIVECARD_XMPP_COMPONENT", value = local.c.xmpp.component },
      { name = "LIVECARD_XMPP_SERVER", value = local.c.xmpp.server },
    ],
    local.c.sip == null ? [] : [
      { name = "LIVECARD_SIP_SERVER", value = local.c.sip.server },
      { name = "LIVECARD_SIP_BIND", value = "0.0.0.0:${local.c.sip.port}" },
    ],
    try(local.c.sip.domain, "") == "" ? [] : [
      { name = "LIVECARD_SIP_DOMAIN", value = local.c.sip.domain },
    ],
  )
  secrets = concat(
    local.c.teams == null ? [] : [
      { name = "LIVECARD_TEAMS_CLIENT_SECRET", valueFrom = "${aws_secretsmanager_secret.connectors.arn}:teams_client_secret::" },
    ],
    try(local.c.teams.push, false) ? [
      { name = "LIVECARD_TEAMS_SYNC_REFRESH_TOKEN", valueFrom = "${aws_secretsmanager_secret.connectors.arn}:teams_sync_refresh_token::" },
    ] : [],
    local.c.xmpp == null ? [] : [
      { name = "LIVECARD_XMPP_SECRET", valueFrom = "${aws_secretsmanager_secret.connectors.arn}:xmpp_secret::" },
    ],
  )
}

resource "aws_secretsmanager_secret" "connectors" {
  # checkov:skip=CKV2_AWS_57:The Teams client secret and the XMPP component secret are issued by Microsoft Entra and the XMPP server; they are rotated there and put here by the operator (docs/deploy.md).
  name                    = "${var.name}/connectors"
  description             = "livecard connectors: teams_client_secret, teams_sync_refresh_token, xmpp_secret (filled by the operator)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_cloudwatch_log_group" "connectors" {
  # checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, default 30 days). Set 365 where a policy requires it.
  name              = "/livecard/${var.name}/connectors"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_security_group" "connectors" {
  name        = "${var.name}-connectors"
  description = "livecard connectors: out to Graph, the XMPP server and the PBX; SIP NOTIFYs in from the PBX; ops from inside the VPC"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "ops" {
  security_group_id = aws_security_group.connectors.id
  description       = "/healthz and /metrics from inside the VPC only"
  ip_protocol       = "tcp"
  from_port         = local.ops
  to_port           = local.ops
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_security_group_ingress_rule" "sip" {
  for_each          = local.c.sip == null ? toset([]) : toset(local.c.sip.allow_cidrs)
  security_group_id = aws_security_group.connectors.id
  description       = "SIP NOTIFYs from the phone system"
  ip_protocol       = "udp"
  from_port         = local.c.sip.port
  to_port           = local.c.sip.port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "all" {
  # checkov:skip=CKV_AWS_382:Microsoft Graph, the company's XMPP server and PBX, and the AWS endpoints are anywhere the operator's network puts them.
  security_group_id = aws_security_group.connectors.id
  description       = "Graph, the XMPP server, the PBX, AWS endpoints"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# Pull the image, write logs, inject the connectors' credentials.
resource "aws_iam_role" "execution" {
  name = "${var.name}-connectors-execution"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secret" {
  name = "${var.name}-connectors-credentials"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "ConnectorCredentials", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = aws_secretsmanager_secret.connectors.arn },
      {
        Sid       = "Key"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = var.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      },
    ]
  })
}

# The service itself: what the functions' handlers need to set presence
# (the table and its index, the secrets document, its key) and to push to
# consoles of the one stage. Nothing else.
resource "aws_iam_role" "task" {
  name = "${var.name}-connectors-task"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  name = "${var.name}-connectors"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
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
      { Sid = "Secrets", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = var.app_secret_arn },
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
      { Sid = "PushToConnections", Effect = "Allow", Action = ["execute-api:ManageConnections"], Resource = "${var.ws_execution_arn}/*/@connections/*" },
    ]
  })
}

resource "aws_ecs_task_definition" "connectors" {
  family                   = "${var.name}-connectors"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.c.cpu
  memory                   = local.c.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name                   = "connectors"
    image                  = local.c.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    stopTimeout            = 10
    environment            = local.environment
    secrets                = local.secrets
    healthCheck = {
      command     = ["CMD", "/livecard-connectors", "healthcheck", "--addr", "127.0.0.1:${local.ops}"]
      interval    = 15
      timeout     = 3
      retries     = 3
      startPeriod = 15
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.connectors.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "connectors"
      }
    }
  }])
  tags = var.tags
}

resource "aws_ecs_service" "connectors" {
  name            = "${var.name}-connectors"
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.connectors.arn
  launch_type     = "FARGATE"
  desired_count   = 1
  # One task at a time: a replacement starts after the old one stopped.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  network_configuration {
    subnets          = local.c.subnet_ids
    security_groups  = [aws_security_group.connectors.id]
    assign_public_ip = local.c.assign_public_ip
  }
  tags = var.tags
}
