output "connectors_secret_arn" {
  description = "The secret the operator puts the connectors' credentials in (teams_client_secret, xmpp_secret; docs/deploy.md)."
  value       = aws_secretsmanager_secret.connectors.arn
}

output "service_name" {
  description = "The ECS service."
  value       = aws_ecs_service.connectors.name
}

output "security_group_id" {
  description = "The task's security group."
  value       = aws_security_group.connectors.id
}
