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

output "cluster_arn" {
  description = "The ECS cluster (the connectors service runs in it too)."
  value       = aws_ecs_cluster.this.arn
}

output "vpc_id" {
  description = "The nodes' VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's address range."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "The public subnets, one per zone."
  value       = aws_subnet.public[*].id
}
