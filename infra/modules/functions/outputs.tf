output "http" {
  description = "The HTTP function (name, ARN, invoke ARN)."
  value = {
    name       = aws_lambda_function.fn["http"].function_name
    arn        = aws_lambda_function.fn["http"].arn
    invoke_arn = aws_lambda_function.fn["http"].invoke_arn
  }
}

output "ws" {
  description = "The WebSocket function (name, ARN, invoke ARN)."
  value = {
    name       = aws_lambda_function.fn["ws"].function_name
    arn        = aws_lambda_function.fn["ws"].arn
    invoke_arn = aws_lambda_function.fn["ws"].invoke_arn
  }
}

output "role_arns" {
  description = "Each function's role, by function."
  value       = { for k, r in aws_iam_role.fn : k => r.arn }
}

output "dead_letter_queue_arn" {
  description = "Failed sweep invocations land here."
  value       = aws_sqs_queue.dead_letters.arn
}
