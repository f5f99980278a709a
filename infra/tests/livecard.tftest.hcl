# The whole deployment planned and applied against a mocked AWS provider
# (nothing is called): the table's keys, index, TTL and protection; IAM
# scoped to the table, the secrets and the WebSocket stage; the routes wired
# to the right functions; the media nodes' ports; and secrets nobody else
# may read.

mock_provider "aws" {
  source = "./tests/mocks"
}


variables {
  lambda_zip_dir     = "tests/fixtures/lambda"
  secret_reader_arns = ["arn:aws:iam::123456789012:role/operators"]
  media = {
    image    = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-media-node:0.1.0"
    tls_port = 5349
  }
}

run "table" {
  command = apply
  module {
    source = "./modules/table"
  }
  variables {
    name                = "livecard"
    kms_key_arn         = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
    deletion_protection = true
  }
  assert {
    condition     = aws_dynamodb_table.this.hash_key == "pk" && aws_dynamodb_table.this.range_key == "sk" && aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST"
    error_message = "The table is keyed pk/sk, on demand (docs/store.md)."
  }
  assert {
    condition = length(aws_dynamodb_table.this.global_secondary_index) == 1 && alltrue([
      for g in aws_dynamodb_table.this.global_secondary_index :
      g.name == "gsi1" && g.hash_key == "gsi1pk" && g.range_key == "gsi1sk" && g.projection_type == "ALL"
    ])
    error_message = "The one index is gsi1 (gsi1pk/gsi1sk, all attributes)."
  }
  assert {
    condition     = one(aws_dynamodb_table.this.ttl).attribute_name == "ttl" && one(aws_dynamodb_table.this.ttl).enabled
    error_message = "TTL is on the ttl attribute."
  }
  assert {
    condition     = aws_dynamodb_table.this.stream_enabled && aws_dynamodb_table.this.stream_view_type == "KEYS_ONLY"
    error_message = "A keys-only stream wakes the forwarder (it reads the outbox itself)."
  }
  assert {
    condition = (
      one(aws_dynamodb_table.this.point_in_time_recovery).enabled &&
      one(aws_dynamodb_table.this.server_side_encryption).enabled &&
      one(aws_dynamodb_table.this.server_side_encryption).kms_key_arn == var.kms_key_arn &&
      aws_dynamodb_table.this.deletion_protection_enabled
    )
    error_message = "Point-in-time recovery, encryption with the customer-managed key, deletion protection."
  }
}

run "functions" {
  command = apply
  module {
    source = "./modules/functions"
  }
  variables {
    name                 = "livecard"
    zip_dir              = "tests/fixtures/lambda/arm64"
    architecture         = "arm64"
    table_arn            = "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard"
    table_name           = "livecard"
    table_stream_arn     = "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard/stream/2026-12-01T00:00:00.000"
    forward_allow        = ["10.20.0.0/16"]
    secret_arn           = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/app-AbCdEf"
    kms_key_arn          = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
    public_url           = "https://contact.example.com"
    ws_url               = "wss://wsapi0001.execute-api.eu-central-1.amazonaws.com/live"
    ws_callback_url      = "https://wsapi0001.execute-api.eu-central-1.amazonaws.com/live"
    ws_execution_arn     = "arn:aws:execute-api:eu-central-1:123456789012:wsapi0001/live"
    reserved_concurrency = { http = 100, ws = 80, sweep = 1 }
    log_retention_days   = 30
    ice_servers          = { turn = ["turn:coturn.example.com:3478?transport=udp", "turns:coturn.example.com:5349?transport=tcp"] }
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.fn : f.environment[0].variables["LIVECARD_TURN_SERVERS"] == "turn:coturn.example.com:3478?transport=udp,turns:coturn.example.com:5349?transport=tcp" && !contains(keys(f.environment[0].variables), "LIVECARD_STUN_SERVERS")])
    error_message = "Named TURN servers reach every function, by the settings' own name; no STUN variable when none is named."
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.fn : f.runtime == "provided.al2023" && f.architectures == tolist(["arm64"]) && f.kms_key_arn == var.kms_key_arn])
    error_message = "Every function runs on provided.al2023 with the architecture given, settings encrypted."
  }
  assert {
    condition     = aws_lambda_function.fn["sweep"].reserved_concurrent_executions == 1 && aws_lambda_function.fn["ws"].reserved_concurrent_executions == 80
    error_message = "Reserved concurrency comes from the variable."
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.forward.event_source_arn == var.table_stream_arn &&
      aws_lambda_event_source_mapping.forward.function_name == aws_lambda_function.fn["forward"].arn &&
      one(one(aws_lambda_event_source_mapping.forward.filter_criteria).filter).pattern == jsonencode({ eventName = ["INSERT"], dynamodb = { Keys = { sk = { S = ["DELIVERY"] } } } }) &&
      one(one(aws_lambda_event_source_mapping.forward.destination_config).on_failure).destination_arn == aws_sqs_queue.dead_letters.arn
    )
    error_message = "The forwarder wakes on the stream's new delivery items only; failed batches are noted in the dead-letter queue."
  }
  assert {
    condition = alltrue([
      for k, p in aws_iam_role_policy.fn : (k == "forward") == anytrue([for st in jsondecode(p.policy).Statement : st.Sid == "TableStream"])
    ]) && one([for st in jsondecode(aws_iam_role_policy.fn["forward"].policy).Statement : st if st.Sid == "TableStream"]).Resource == var.table_stream_arn
    error_message = "Only the forwarder reads the table's stream, and only it."
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.fn : f.environment[0].variables["LIVECARD_FORWARD_ALLOW"] == "10.20.0.0/16"])
    error_message = "The forwarding allow-list reaches every function (the admin API checks destinations with it)."
  }
  assert {
    condition     = length(aws_lambda_function.fn["sweep"].dead_letter_config) == 1 && length(aws_lambda_function.fn["http"].dead_letter_config) == 0
    error_message = "The asynchronously invoked sweep has a dead-letter queue."
  }
  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.fn : g.retention_in_days == 30 && g.kms_key_id == var.kms_key_arn])
    error_message = "Log groups keep logs for the retention given, encrypted."
  }
  assert {
    condition = alltrue([
      for k, p in aws_iam_role_policy.fn : alltrue([
        for st in jsondecode(p.policy).Statement :
        st.Sid != "Table" || toset(flatten([st.Resource])) == toset([var.table_arn, "${var.table_arn}/index/*"])
      ])
    ])
    error_message = "The functions' table access is scoped to the table and its indexes."
  }
  assert {
    condition = alltrue([
      for k, p in aws_iam_role_policy.fn : alltrue([
        for st in jsondecode(p.policy).Statement : st.Sid != "Secrets" || flatten([st.Resource]) == [var.secret_arn]
      ])
    ])
    error_message = "The functions read only the secrets document."
  }
  assert {
    condition = alltrue([
      for k, p in aws_iam_role_policy.fn : alltrue([
        for st in jsondecode(p.policy).Statement : !contains(flatten([st.Action]), "*") && !anytrue([for a in flatten([st.Action]) : endswith(a, ":*")])
      ])
    ])
    error_message = "No wildcard actions."
  }
  assert {
    condition     = length([for st in jsondecode(aws_iam_role_policy.fn["http"].policy).Statement : st if st.Sid == "PushToConnections"]) == 0
    error_message = "The HTTP function cannot push to WebSocket connections."
  }
  assert {
    condition = alltrue([
      for k in ["ws", "sweep"] : anytrue([
        for st in jsondecode(aws_iam_role_policy.fn[k].policy).Statement :
        st.Sid == "PushToConnections" && st.Resource == "${var.ws_execution_arn}/*/@connections/*"
      ])
    ])
    error_message = "ws and sweep push only through the live stage's connections."
  }
  assert {
    condition     = aws_cloudwatch_event_rule.sweep.schedule_expression == "rate(1 minute)" && aws_lambda_function.fn["sweep"].environment[0].variables["LIVECARD_SWEEP_SECONDS"] == "55"
    error_message = "EventBridge runs the sweep every minute; it sweeps for 55 s of it."
  }
  assert {
    condition     = aws_lambda_function.fn["http"].environment[0].variables["LIVECARD_SECRETS_ARN"] == var.secret_arn && aws_lambda_function.fn["ws"].environment[0].variables["LIVECARD_TABLE"] == "livecard"
    error_message = "The functions are configured by environment (docs/lambda.md)."
  }
}

run "api" {
  command = apply
  module {
    source = "./modules/api"
  }
  variables {
    name               = "livecard"
    http_api_id        = "httpapi01"
    http_execution_arn = "arn:aws:execute-api:eu-central-1:123456789012:httpapi01"
    ws_api_id          = "wsapi0001"
    ws_execution_arn   = "arn:aws:execute-api:eu-central-1:123456789012:wsapi0001"
    ws_stage           = "live"
    http_function      = { name = "livecard-http", arn = "arn:aws:lambda:eu-central-1:123456789012:function:livecard-http", invoke_arn = "arn:aws:apigateway:eu-central-1:lambda:path/functions/livecard-http/invocations" }
    ws_function        = { name = "livecard-ws", arn = "arn:aws:lambda:eu-central-1:123456789012:function:livecard-ws", invoke_arn = "arn:aws:apigateway:eu-central-1:lambda:path/functions/livecard-ws/invocations" }
    throttling         = { rate_limit = 200, burst_limit = 400 }
    kms_key_arn        = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
    log_retention_days = 30
  }
  override_resource {
    target = aws_apigatewayv2_integration.http
    values = { id = "int-http" }
  }
  override_resource {
    target = aws_apigatewayv2_integration.ws
    values = { id = "int-ws" }
  }
  assert {
    condition     = aws_apigatewayv2_route.http.route_key == "$default" && aws_apigatewayv2_route.http.target == "integrations/int-http"
    error_message = "The HTTP API's default route goes to the http integration."
  }
  assert {
    condition     = aws_apigatewayv2_integration.http.integration_uri == var.http_function.invoke_arn && aws_apigatewayv2_integration.http.payload_format_version == "2.0"
    error_message = "The http integration invokes the http function with payload 2.0."
  }
  assert {
    condition     = toset(keys(aws_apigatewayv2_route.ws)) == toset(["$connect", "$disconnect", "$default"]) && alltrue([for r in aws_apigatewayv2_route.ws : r.target == "integrations/int-ws"])
    error_message = "$connect, $disconnect and $default go to the ws integration."
  }
  assert {
    condition     = aws_apigatewayv2_integration.ws.integration_uri == var.ws_function.invoke_arn && aws_lambda_permission.ws.function_name == "livecard-ws" && aws_lambda_permission.http.function_name == "livecard-http"
    error_message = "The ws integration invokes the ws function; each API may invoke its own function."
  }
  assert {
    condition     = one(aws_apigatewayv2_stage.http.default_route_settings).throttling_rate_limit == 200 && length(aws_apigatewayv2_stage.ws.access_log_settings) == 1 && length(aws_apigatewayv2_stage.http.access_log_settings) == 1
    error_message = "Stages throttle and log access."
  }
}

run "media" {
  command = apply
  module {
    source = "./modules/media"
  }
  variables {
    name = "livecard"
    media = {
      image         = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-media-node:0.1.0"
      desired_count = 2
      instance_type = "c6i.large"
      cpu           = 1536
      memory        = 3072
      vpc_cidr      = "10.42.0.0/16"
      relay_ports   = { min = 49152, max = 65535 }
      tls_port      = 5349
      capacity      = 2000
      drain_seconds = 110
    }
    table_arn          = "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard"
    table_name         = "livecard"
    notify_url         = "https://abc123.execute-api.eu-central-1.amazonaws.com"
    turn_secret_arn    = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/turn-GhIjKl"
    kms_key_arn        = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
    log_retention_days = 30
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.node.container_definitions)[0].environment, { name = "LIVECARD_MEDIA_NOTIFY_URL", value = "https://abc123.execute-api.eu-central-1.amazonaws.com" })
    error_message = "A draining node tells the API which calls to move."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.turn["udp"].from_port == 3478 && aws_vpc_security_group_ingress_rule.turn["tcp"].to_port == 3478 && aws_vpc_security_group_ingress_rule.turn["udp"].cidr_ipv4 == "0.0.0.0/0"
    error_message = "TURN is open on 3478 UDP and TCP."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.tls[0].from_port == 5349 && aws_vpc_security_group_ingress_rule.tls[0].ip_protocol == "tcp"
    error_message = "TURN over TLS is open on the TLS port."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.relay.from_port == 49152 && aws_vpc_security_group_ingress_rule.relay.to_port == 65535 && aws_vpc_security_group_ingress_rule.relay.ip_protocol == "udp"
    error_message = "The relay range is open for UDP."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.ops.from_port == 9090 && aws_vpc_security_group_ingress_rule.ops.cidr_ipv4 == "10.42.0.0/16"
    error_message = "/healthz and /metrics are reachable from inside the VPC only."
  }
  assert {
    condition     = one(aws_launch_template.node.metadata_options).http_tokens == "required" && one(aws_launch_template.node.network_interfaces).associate_public_ip_address == "true"
    error_message = "Nodes have public addresses and IMDSv2 only."
  }
  assert {
    condition = (
      jsondecode(aws_iam_role_policy.task.policy).Statement[0].Action == ["dynamodb:PutItem"] &&
      jsondecode(aws_iam_role_policy.task.policy).Statement[0].Resource == var.table_arn &&
      jsondecode(aws_iam_role_policy.task.policy).Statement[0].Condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["MEDIANODE#*"]
    )
    error_message = "A media node may only put its own MEDIANODE# item."
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.execution_secret.policy).Statement[0].Resource == var.turn_secret_arn
    error_message = "The media nodes read only the TURN secret."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.node.container_definitions)[0].user == "65532:65532" && jsondecode(aws_ecs_task_definition.node.container_definitions)[0].secrets[0].valueFrom == "${var.turn_secret_arn}:turn_secret::"
    error_message = "The node runs as non-root and gets the TURN secret injected."
  }
}

run "connectors" {
  command = apply
  module {
    source = "./modules/connectors"
  }
  variables {
    name = "livecard"
    connectors = {
      image            = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-connectors:0.1.0"
      cpu              = 256
      memory           = 512
      subnet_ids       = ["subnet-0a", "subnet-0b"]
      assign_public_ip = false
      teams            = { tenant = "contoso.onmicrosoft.com", client_id = "11111111-2222-3333-4444-555555555555", poll = "15s", write_back = true, push = true }
      xmpp             = null
      sip              = { server = "10.8.0.5:5060", domain = "pbx.example.com", port = 5070, allow_cidrs = ["10.8.0.0/24"] }
    }
    cluster_arn        = "arn:aws:ecs:eu-central-1:123456789012:cluster/livecard-media"
    vpc_id             = "vpc-0123"
    vpc_cidr           = "10.42.0.0/16"
    table_arn          = "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard"
    table_name         = "livecard"
    app_secret_arn     = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/app-AbCdEf"
    ws_execution_arn   = "arn:aws:execute-api:eu-central-1:123456789012:abc123/live"
    public_url         = "https://contact.example.com"
    ws_url             = "wss://abc123.execute-api.eu-central-1.amazonaws.com/live"
    ws_callback_url    = "https://abc123.execute-api.eu-central-1.amazonaws.com/live"
    kms_key_arn        = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
    log_retention_days = 30
  }
  override_resource {
    target = aws_secretsmanager_secret.connectors
    values = { arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/connectors-XyZ" }
  }
  assert {
    condition = (
      aws_ecs_service.connectors.desired_count == 1 && aws_ecs_service.connectors.launch_type == "FARGATE" &&
      aws_ecs_service.connectors.deployment_maximum_percent == 100
    )
    error_message = "One connectors task at a time, on Fargate."
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].user == "65532:65532" &&
      jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].readonlyRootFilesystem
    )
    error_message = "The service runs as non-root on a read-only root."
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].secrets == [
        { name = "LIVECARD_TEAMS_CLIENT_SECRET", valueFrom = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/connectors-XyZ:teams_client_secret::" },
        { name = "LIVECARD_TEAMS_SYNC_REFRESH_TOKEN", valueFrom = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/connectors-XyZ:teams_sync_refresh_token::" },
      ] &&
      !anytrue([for e in jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].environment : strcontains(e.name, "SECRET") && e.name != "LIVECARD_SECRETS_ARN"])
    )
    error_message = "The Teams client secret is injected from the connectors' secret, never in the task's plain environment; no XMPP secret without XMPP."
  }
  assert {
    condition = (
      contains([for e in jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].environment : "${e.name}=${e.value}"], "LIVECARD_SIP_BIND=0.0.0.0:5070") &&
      contains([for e in jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].environment : "${e.name}=${e.value}"], "LIVECARD_TEAMS_TENANT=contoso.onmicrosoft.com") &&
      contains([for e in jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].environment : "${e.name}=${e.value}"], "LIVECARD_TEAMS_NOTIFY_URL=https://contact.example.com/api/v1/connectors/teams/notifications") &&
      contains([for e in jsondecode(aws_ecs_task_definition.connectors.container_definitions)[0].environment : "${e.name}=${e.value}"], "LIVECARD_SECRETS_ARN=${var.app_secret_arn}")
    )
    error_message = "The task gets the deployment's settings and the configured connectors'."
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.sip["10.8.0.0/24"].from_port == 5070 && aws_vpc_security_group_ingress_rule.sip["10.8.0.0/24"].ip_protocol == "udp" &&
      aws_vpc_security_group_ingress_rule.ops.cidr_ipv4 == "10.42.0.0/16" && length(aws_vpc_security_group_ingress_rule.sip) == 1
    )
    error_message = "SIP NOTIFYs only from the PBX's range; health and metrics from inside the VPC."
  }
  assert {
    condition = (
      jsondecode(aws_iam_role_policy.task.policy).Statement[1].Resource == var.app_secret_arn &&
      jsondecode(aws_iam_role_policy.task.policy).Statement[3].Resource == "arn:aws:execute-api:eu-central-1:123456789012:abc123/live/*/@connections/*" &&
      !contains(jsondecode(aws_iam_role_policy.task.policy).Statement[0].Action, "dynamodb:Scan") &&
      jsondecode(aws_iam_role_policy.execution_secret.policy).Statement[0].Resource == "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/connectors-XyZ"
    )
    error_message = "The task uses the table, the secrets document and the stage's connections; only its execution role reads the connectors' credentials."
  }
}

run "edge" {
  command = apply
  module {
    source = "./modules/edge"
  }
  variables {
    name        = "livecard"
    table_arn   = "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard"
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001"
  }
  assert {
    condition = (
      length(jsondecode(aws_iam_group_policy.table.policy).Statement) == 2 &&
      toset(jsondecode(aws_iam_group_policy.table.policy).Statement[0].Action) == toset([
        "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
        "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:ConditionCheckItem",
      ]) &&
      toset(jsondecode(aws_iam_group_policy.table.policy).Statement[0].Resource) == toset([
        "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard",
        "arn:aws:dynamodb:eu-central-1:123456789012:table/livecard/index/*",
      ])
    )
    error_message = "The Worker may use the table and its index with the store's operations only (no scans, no table changes)."
  }
  assert {
    condition = (
      jsondecode(aws_iam_group_policy.table.policy).Statement[1].Resource == "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000001" &&
      jsondecode(aws_iam_group_policy.table.policy).Statement[1].Condition.StringEquals["kms:ViaService"] == "dynamodb.eu-central-1.amazonaws.com"
    )
    error_message = "The table's key is usable only through DynamoDB."
  }
  assert {
    condition     = aws_iam_user_group_membership.edge.groups == toset([aws_iam_group.edge.name]) && aws_iam_user.edge.path == "/livecard/"
    error_message = "The Worker's user gets its rights only from its group."
  }
}

run "deployment" {
  variables {
    edge_worker = true
    connectors = {
      image = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-connectors:0.1.0"
      xmpp  = { component = "presence.example.com", server = "xmpp.example.com:5275" }
    }
  }
  assert {
    condition     = length(module.edge) == 1 && strcontains(output.edge_worker_steps, "aws iam create-access-key --user-name livecard-edge-worker") && strcontains(output.edge_worker_steps, "wrangler secret put LIVECARD_SECRETS") && strcontains(output.edge_worker_steps, "npx wrangler deploy")
    error_message = "With edge_worker, the Worker's user exists and the outputs say how to give it keys and deploy."
  }
  assert {
    condition = (
      length(module.connectors) == 1 && strcontains(output.connectors_steps, "aws secretsmanager put-secret-value") &&
      strcontains(output.connectors_steps, "--force-new-deployment")
    )
    error_message = "With connectors, the service exists in the media nodes' network and the outputs say how to give it its credentials."
  }
  command = apply
  override_resource {
    target = module.secrets.aws_secretsmanager_secret.app
    values = { arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/app-AbCdEf", id = "livecard/app" }
  }
  override_resource {
    target = module.secrets.aws_secretsmanager_secret.turn
    values = { arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:livecard/turn-GhIjKl", id = "livecard/turn" }
  }
  override_resource {
    target = aws_apigatewayv2_api.http
    values = { id = "httpapi01", execution_arn = "arn:aws:execute-api:eu-central-1:123456789012:httpapi01", api_endpoint = "https://httpapi01.execute-api.eu-central-1.amazonaws.com" }
  }
  override_resource {
    target = aws_apigatewayv2_api.ws
    values = { id = "wsapi0001", execution_arn = "arn:aws:execute-api:eu-central-1:123456789012:wsapi0001", api_endpoint = "wss://wsapi0001.execute-api.eu-central-1.amazonaws.com" }
  }
  assert {
    condition     = aws_kms_key.main.enable_key_rotation
    error_message = "The customer-managed key rotates."
  }
  assert {
    condition = (
      jsondecode(aws_secretsmanager_secret_policy.app.policy).Statement[0].Effect == "Deny" &&
      jsondecode(aws_secretsmanager_secret_policy.app.policy).Statement[0].Principal == "*" &&
      toset(jsondecode(aws_secretsmanager_secret_policy.app.policy).Statement[0].Condition.StringNotLike["aws:PrincipalArn"]) == toset(concat(values(module.functions.role_arns), ["arn:aws:iam::123456789012:role/operators"]))
    )
    error_message = "Only the functions and the operators named may read the secrets document."
  }
  assert {
    condition     = toset(jsondecode(aws_secretsmanager_secret_policy.turn.policy).Statement[0].Condition.StringNotLike["aws:PrincipalArn"]) == toset([module.media.execution_role_arn, "arn:aws:iam::123456789012:role/operators"])
    error_message = "Only the media nodes and the operators named may read the TURN secret."
  }
  assert {
    condition     = alltrue([for p in [aws_secretsmanager_secret_policy.app.policy, aws_secretsmanager_secret_policy.turn.policy] : length([for st in jsondecode(p).Statement : st if st.Effect == "Allow"]) == 0])
    error_message = "No secret policy grants access (IAM grants it to the roles named)."
  }
  assert {
    condition     = output.card_link_base == "https://httpapi01.execute-api.eu-central-1.amazonaws.com/c/" && output.websocket_url == "wss://wsapi0001.execute-api.eu-central-1.amazonaws.com/live"
    error_message = "The outputs name the portal's card links and the WebSocket URL."
  }
  assert {
    condition     = output.media_nodes.turn_port == 3478 && output.media_nodes.relay_ports == "49152-65535"
    error_message = "The outputs give the media node settings."
  }
}
