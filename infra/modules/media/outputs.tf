output "execution_role_arn" {
  description = "The task execution role (the only reader of the TURN secret)."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "The nodes' security group."
  value       = aws_security_group.node.id
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "settings" {
  description = "What clients and operators need to know about the nodes."
  value = {
    turn_port     = 3478
    tls_port      = var.media.tls_port
    relay_ports   = "${var.media.relay_ports.min}-${var.media.relay_ports.max}"
    desired_count = var.media.desired_count
    instance_type = var.media.instance_type
  }
}
