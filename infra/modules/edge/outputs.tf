output "user_name" {
  description = "The IAM user the Worker signs as."
  value       = aws_iam_user.edge.name
}

output "group_name" {
  description = "Its group, which carries the table policy."
  value       = aws_iam_group.edge.name
}

output "region" {
  description = "The table's region (the Worker's AWS_REGION)."
  value       = data.aws_region.current.name
}
