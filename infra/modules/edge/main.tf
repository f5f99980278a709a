# The AWS side of the edge host (functions/worker, a Cloudflare Worker): an
# IAM user the Worker signs its DynamoDB requests as. A Worker has no AWS
# identity to assume a role with, so it holds access keys, kept only as
# Worker secrets: they are created outside Terraform (`edge_worker_steps`),
# so the secret key is never in the state. The user may use the table and
# its index with exactly the operations the store uses, and the table's key
# only through DynamoDB.

data "aws_region" "current" {}

resource "aws_iam_group" "edge" {
  name = "${var.name}-edge"
  path = "/livecard/"
}

resource "aws_iam_group_policy" "table" {
  name  = "${var.name}-edge-table"
  group = aws_iam_group.edge.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Table"
        Effect = "Allow"
        Action = [
          "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
          "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Query",
          "dynamodb:ConditionCheckItem",
        ]
        Resource = [var.table_arn, "${var.table_arn}/index/*"]
      },
      {
        Sid      = "TableKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = var.kms_key_arn
        Condition = {
          StringEquals = { "kms:ViaService" = "dynamodb.${data.aws_region.current.name}.amazonaws.com" }
        }
      },
    ]
  })
}

resource "aws_iam_user" "edge" {
  # checkov:skip=CKV_AWS_273: a Cloudflare Worker cannot take part in SSO or assume a role; its keys are Worker secrets, rotated by the operator
  name = "${var.name}-edge-worker"
  path = "/livecard/"
  tags = var.tags
}

resource "aws_iam_user_group_membership" "edge" {
  user   = aws_iam_user.edge.name
  groups = [aws_iam_group.edge.name]
}
