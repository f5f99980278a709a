output "app_secret_arn" {
  description = "The secrets document the functions read (LIVECARD_SECRETS_ARN)."
  value       = aws_secretsmanager_secret.app.arn
}

output "turn_secret_arn" {
  description = "The TURN shared secret the media nodes read."
  value       = aws_secretsmanager_secret.turn.arn
}
