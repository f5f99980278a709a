# Media nodes: TURN needs each node's own public address and its relay port
# range reachable, which a load balancer cannot give. So each node is an EC2
# instance with a public IP in a public subnet, running the node's container
# with host networking (one per instance, an ECS daemon service). The node
# reads its public address and instance id from the instance metadata
# service (IMDSv2, LIVECARD_MEDIA_EXTERNAL_IP=imds) and registers itself in
# the table; the ICE-server endpoint hands out the healthy, least-loaded
# ones. See docs/deploy.md.

data "aws_region" "current" {}
data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394:The first two zones are used; subnets are made once and kept, so a zone AWS adds later changes nothing.
  state = "available"
}

# The ECS-optimized Amazon Linux 2023 image (x86_64: the node's static
# binary is built for it).
data "aws_ssm_parameter" "ecs_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

locals {
  azs    = slice(data.aws_availability_zones.available.names, 0, min(2, length(data.aws_availability_zones.available.names)))
  region = data.aws_region.current.name
  tls    = var.media.tls_port > 0
  ops    = 9090
}

resource "aws_vpc" "this" {
  # checkov:skip=CKV2_AWS_11:Flow logs are left to the operator: at TURN's packet rates they cost more than the relay (docs/deploy.md shows how to add them).
  cidr_block           = var.media.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = "${var.name}-media" })
}

# Nothing may use the default security group.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = var.tags
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = var.tags
}

resource "aws_subnet" "public" {
  count                   = length(local.azs)
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.media.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-media-${local.azs[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
  tags = var.tags
}

resource "aws_route_table_association" "public" {
  count          = length(aws_subnet.public)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "node" {
  name        = "${var.name}-media"
  description = "livecard media nodes: TURN from anywhere, the relay range, ops from inside the VPC"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "turn" {
  for_each          = toset(["udp", "tcp"])
  security_group_id = aws_security_group.node.id
  description       = "TURN over ${upper(each.key)}"
  ip_protocol       = each.key
  from_port         = 3478
  to_port           = 3478
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "tls" {
  count             = local.tls ? 1 : 0
  security_group_id = aws_security_group.node.id
  description       = "TURN over TLS"
  ip_protocol       = "tcp"
  from_port         = var.media.tls_port
  to_port           = var.media.tls_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "relay" {
  security_group_id = aws_security_group.node.id
  description       = "Relayed media from peers"
  ip_protocol       = "udp"
  from_port         = var.media.relay_ports.min
  to_port           = var.media.relay_ports.max
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "ops" {
  security_group_id = aws_security_group.node.id
  description       = "/healthz and /metrics from inside the VPC only"
  ip_protocol       = "tcp"
  from_port         = local.ops
  to_port           = local.ops
  cidr_ipv4         = var.media.vpc_cidr
}

resource "aws_vpc_security_group_egress_rule" "all" {
  # checkov:skip=CKV_AWS_382:A TURN relay sends to peers anywhere on the internet; the node's own peer policy refuses private, loopback, link-local and the other denied ranges (docs/turn.md).
  security_group_id = aws_security_group.node.id
  description       = "Relay to peers, answers to clients, AWS endpoints"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_cloudwatch_log_group" "node" {
  # checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, default 30 days); a year of request and relay logs costs more than it helps here. Set 365 where a policy requires it.
  name              = "/livecard/${var.name}/media"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = "${var.name}-media"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

# The instances: the ECS agent's role and nothing else.
resource "aws_iam_role" "instance" {
  name = "${var.name}-media-instance"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name}-media-instance"
  role = aws_iam_role.instance.name
}

# The task's execution role: pull the image, write logs, inject the TURN
# secret.
resource "aws_iam_role" "execution" {
  name = "${var.name}-media-execution"
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
  name = "${var.name}-media-turn-secret"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "TurnSecret", Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = var.turn_secret_arn },
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

# The node itself: register and renew its own item in the table, nothing
# else (the partition key must be MEDIANODE#...).
resource "aws_iam_role" "task" {
  name = "${var.name}-media-task"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  name = "${var.name}-media-register"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RegisterItself"
        Effect    = "Allow"
        Action    = ["dynamodb:PutItem"]
        Resource  = var.table_arn
        Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["MEDIANODE#*"] } }
      },
      {
        Sid       = "Key"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource  = var.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "dynamodb.${local.region}.amazonaws.com" } }
      },
    ]
  })
}

resource "aws_launch_template" "node" {
  # checkov:skip=CKV_AWS_88:A TURN relay must be reachable at its own public address (a load balancer cannot carry its relay ports); the security group opens only TURN and the relay range.
  name_prefix   = "${var.name}-media-"
  image_id      = data.aws_ssm_parameter.ecs_ami.value
  instance_type = var.media.instance_type
  user_data     = base64encode("#!/bin/bash\necho ECS_CLUSTER=${aws_ecs_cluster.this.name} >> /etc/ecs/ecs.config\necho ECS_CONTAINER_STOP_TIMEOUT=${var.media.drain_seconds + 10}s >> /etc/ecs/ecs.config\n")
  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }
  network_interfaces {
    associate_public_ip_address = true
    security_groups             = [aws_security_group.node.id]
  }
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      encrypted   = true
      volume_size = 30
      volume_type = "gp3"
    }
  }
  monitoring {
    enabled = true
  }
  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-media" })
  }
  tags = var.tags
}

resource "aws_autoscaling_group" "node" {
  name                = "${var.name}-media"
  min_size            = var.media.desired_count
  max_size            = var.media.desired_count
  desired_capacity    = var.media.desired_count
  vpc_zone_identifier = aws_subnet.public[*].id
  health_check_type   = "EC2"
  launch_template {
    id      = aws_launch_template.node.id
    version = "$Latest"
  }
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }
  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }
}

resource "aws_ecs_task_definition" "node" {
  family                   = "${var.name}-media"
  requires_compatibilities = ["EC2"]
  network_mode             = "host"
  cpu                      = var.media.cpu
  memory                   = var.media.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions = jsonencode([{
    name                   = "media-node"
    image                  = var.media.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    stopTimeout            = var.media.drain_seconds + 10
    environment = [
      { name = "LIVECARD_TABLE", value = var.table_name },
      { name = "LIVECARD_MEDIA_EXTERNAL_IP", value = "imds" },
      { name = "LIVECARD_MEDIA_RELAY_IP", value = "0.0.0.0" },
      { name = "LIVECARD_MEDIA_RELAY_PORTS", value = "${var.media.relay_ports.min}-${var.media.relay_ports.max}" },
      { name = "LIVECARD_MEDIA_MAX_ALLOCATIONS", value = tostring(var.media.capacity) },
      { name = "LIVECARD_MEDIA_DRAIN_DEADLINE_S", value = tostring(var.media.drain_seconds) },
      { name = "LIVECARD_MEDIA_NOTIFY_URL", value = var.notify_url },
      { name = "AWS_REGION", value = local.region },
    ]
    secrets = [{ name = "LIVECARD_TURN_SECRET", valueFrom = "${var.turn_secret_arn}:turn_secret::" }]
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    healthCheck = {
      command     = ["CMD", "/livecard-media-node", "healthcheck", "--addr", "127.0.0.1:${local.ops}"]
      interval    = 10
      timeout     = 3
      retries     = 3
      startPeriod = 10
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.node.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = "node"
      }
    }
  }])
  tags = var.tags
}

resource "aws_ecs_service" "node" {
  name                = "${var.name}-media"
  cluster             = aws_ecs_cluster.this.id
  task_definition     = aws_ecs_task_definition.node.arn
  scheduling_strategy = "DAEMON"
  launch_type         = "EC2"
  tags                = var.tags
}
