# The secrets document the functions read (docs/lambda.md, the same format
# as the local secrets.json) and the TURN shared secret the media nodes
# read: generated here (Secrets Manager's GetRandomPassword), or a document
# brought along (a local install's secrets.json, so its card links stay
# valid; an ephemeral variable, never in state or plan). They are written
# as write-only values, only when `secrets_version` changes. The generated
# values of the apply that wrote them stay in the state's data-source
# records until the next refresh replaces them with unused ones: keep the
# state encrypted and access-controlled (docs/deploy.md).

locals {
  generate = var.generate
}

data "aws_secretsmanager_random_password" "card" {
  count               = local.generate ? 1 : 0
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "session" {
  count               = local.generate ? 1 : 0
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "visitor" {
  count               = local.generate ? 1 : 0
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "webhook" {
  count               = local.generate ? 1 : 0
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "turn" {
  count               = local.generate ? 1 : 0
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "identity" {
  count               = local.generate ? 1 : 0
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "admin" {
  count               = local.generate ? 1 : 0
  password_length     = 48
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "app" {
  # checkov:skip=CKV2_AWS_57:Rotation keeps old card keys and TURN secrets valid for a while (key ids, turn_secret_previous), which a generic rotation Lambda cannot do; it is done with secrets_version or the steps in docs/deploy.md.
  name                    = "${var.name}/app"
  description             = "livecard secrets document: card keys, session and visitor keys, presence webhook, TURN and admin secrets"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

# 64 letters and digits are valid base64 of 48 bytes: every key is the
# random text itself.
resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  secret_string_wo = local.generate ? jsonencode(merge({
    card_signing_key        = "k${var.secrets_version}"
    card_keys               = { "k${var.secrets_version}" = data.aws_secretsmanager_random_password.card[0].random_password }
    session_key             = data.aws_secretsmanager_random_password.session[0].random_password
    visitor_key             = data.aws_secretsmanager_random_password.visitor[0].random_password
    presence_webhook_secret = "whsec_${data.aws_secretsmanager_random_password.webhook[0].random_password}"
    turn_secret             = data.aws_secretsmanager_random_password.turn[0].random_password
    admin_api_key           = "lck_${data.aws_secretsmanager_random_password.admin[0].random_password}"
    identity_image_key      = data.aws_secretsmanager_random_password.identity[0].random_password
  }, { for k, v in { turn_provider = var.turn_provider } : k => v if v != null })) : var.document
  secret_string_wo_version = var.secrets_version
  lifecycle {
    precondition {
      condition     = var.generate || var.document != null
      error_message = "generate_secrets is false: give the document to write in secrets_document."
    }
  }
}

resource "aws_secretsmanager_secret" "turn" {
  # checkov:skip=CKV2_AWS_57:Rotation keeps old card keys and TURN secrets valid for a while (key ids, turn_secret_previous), which a generic rotation Lambda cannot do; it is done with secrets_version or the steps in docs/deploy.md.
  name                    = "${var.name}/turn"
  description             = "livecard TURN shared secret (the media nodes)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "turn" {
  secret_id = aws_secretsmanager_secret.turn.id
  secret_string_wo = jsonencode({
    turn_secret = local.generate ? data.aws_secretsmanager_random_password.turn[0].random_password : jsondecode(var.document).turn_secret
  })
  secret_string_wo_version = var.secrets_version
}
