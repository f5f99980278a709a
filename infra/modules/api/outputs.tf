output "http_url" {
  description = "The HTTP API's URL."
  value       = aws_apigatewayv2_stage.http.invoke_url
}

output "ws_url" {
  description = "The WebSocket stage's URL."
  value       = aws_apigatewayv2_stage.ws.invoke_url
}
