# Stages, routes and integrations of the two APIs: every HTTP request goes
# to the http function (payload 2.0); $connect, $disconnect and $default of
# the WebSocket API go to the ws function. Access logs and throttling on
# both stages.

resource "aws_cloudwatch_log_group" "access" {
  # checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, default 30 days); a year of request and relay logs costs more than it helps here. Set 365 where a policy requires it.
  for_each          = toset(["http", "ws"])
  name              = "/aws/apigateway/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_integration" "http" {
  api_id                 = var.http_api_id
  integration_type       = "AWS_PROXY"
  integration_uri        = var.http_function.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 10000
}

resource "aws_apigatewayv2_route" "http" {
  # checkov:skip=CKV_AWS_309:The visitor pages and API are public by design; the handlers authenticate what needs it (admin API keys, advisor session cookies, session tokens).
  api_id    = var.http_api_id
  route_key = "$default"
  target    = "integrations/${aws_apigatewayv2_integration.http.id}"
}

resource "aws_apigatewayv2_stage" "http" {
  api_id      = var.http_api_id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = var.throttling.rate_limit
    throttling_burst_limit = var.throttling.burst_limit
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access["http"].arn
    # Route keys, not paths: card and sign-in links carry secrets.
    format = jsonencode({
      requestId = "$context.requestId", time = "$context.requestTimeEpoch", routeKey = "$context.routeKey",
      status    = "$context.status", latency = "$context.responseLatency", error = "$context.integrationErrorMessage"
    })
  }
  tags = var.tags
}

resource "aws_lambda_permission" "http" {
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = var.http_function.name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${var.http_execution_arn}/*/*"
}

resource "aws_apigatewayv2_integration" "ws" {
  api_id             = var.ws_api_id
  integration_type   = "AWS_PROXY"
  integration_uri    = var.ws_function.invoke_arn
  integration_method = "POST"
}

resource "aws_apigatewayv2_route" "ws" {
  # checkov:skip=CKV_AWS_309:Visitors connect without an account; the ws function checks the single-use ticket or session token of every connection.
  for_each  = toset(["$connect", "$disconnect", "$default"])
  api_id    = var.ws_api_id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.ws.id}"
}

resource "aws_apigatewayv2_stage" "ws" {
  # checkov:skip=CKV2_AWS_51:Visitors' browsers connect; they cannot present client certificates. Connections are authorized by the ws function (tickets, session tokens).
  api_id      = var.ws_api_id
  name        = var.ws_stage
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = var.throttling.rate_limit
    throttling_burst_limit = var.throttling.burst_limit
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access["ws"].arn
    format = jsonencode({
      requestId = "$context.requestId", time = "$context.requestTimeEpoch", routeKey = "$context.routeKey",
      status    = "$context.status", connectionId = "$context.connectionId", error = "$context.integrationErrorMessage"
    })
  }
  tags = var.tags
}

resource "aws_lambda_permission" "ws" {
  statement_id  = "AllowWebSocketApi"
  action        = "lambda:InvokeFunction"
  function_name = var.ws_function.name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${var.ws_execution_arn}/*/*"
}
