output "name" {
  description = "The table's name (LIVECARD_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "The table's ARN."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "The table's stream (keys only), the forwarder's trigger."
  value       = aws_dynamodb_table.this.stream_arn
}
