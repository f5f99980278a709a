output "portal_url" {
  description = "The contact portal."
  value       = local.public_url
}

output "websocket_url" {
  description = "The signaling WebSocket URL (clients get it in API answers too)."
  value       = local.ws_url
}

output "card_link_base" {
  description = "Card links are this followed by the card token."
  value       = "${local.public_url}/c/"
}

output "table_name" {
  description = "The DynamoDB table."
  value       = module.table.name
}

output "secrets_arn" {
  description = "The secrets document (card keys, session keys, the admin API key, ...)."
  value       = module.secrets.app_secret_arn
}

output "media_nodes" {
  description = "Media node settings: ports to reach, relay range, count, instance type, cluster."
  value       = merge(module.media.settings, { cluster = module.media.cluster_name, security_group = module.media.security_group_id })
}

output "dead_letter_queue_arn" {
  description = "Failed sweep invocations land here."
  value       = module.functions.dead_letter_queue_arn
}

output "first_steps" {
  description = "Commands for the first admin key and the first card (run by a principal in secret_reader_arns)."
  value       = <<-EOT
    export LIVECARD_API=${local.public_url}
    export LIVECARD_ADMIN_KEY=$(aws secretsmanager get-secret-value --secret-id ${module.secrets.app_secret_arn} --query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_api_key"])')
    livecard advisor add --id anna --name "Anna Schmidt" --topics sales --languages en,de
    livecard advisor signin-link anna
    livecard card create --advisor anna --channels chat,audio,video
  EOT
}

output "edge_worker_steps" {
  description = "With edge_worker: the commands that give the Worker its keys and secrets, then deploy it (run from functions/worker, after scripts/build-worker.sh)."
  value = var.edge_worker ? join("\n", [
    "# Keys for the Worker's IAM user (only here and in the Worker's secrets; rotate by repeating and deleting the old key):",
    "aws iam create-access-key --user-name ${module.edge[0].user_name} > edge-key.json",
    "python3 -c 'import json; print(json.load(open(\"edge-key.json\"))[\"AccessKey\"][\"AccessKeyId\"])' | npx wrangler secret put AWS_ACCESS_KEY_ID",
    "python3 -c 'import json; print(json.load(open(\"edge-key.json\"))[\"AccessKey\"][\"SecretAccessKey\"])' | npx wrangler secret put AWS_SECRET_ACCESS_KEY",
    "shred -u edge-key.json",
    "# The same secrets document the functions read:",
    "aws secretsmanager get-secret-value --secret-id ${module.secrets.app_secret_arn} --query SecretString --output text | npx wrangler secret put LIVECARD_SECRETS",
    "# wrangler.toml [vars]: LIVECARD_TABLE = \"${module.table.name}\", AWS_REGION = \"${module.edge[0].region}\", LIVECARD_PUBLIC_URL = \"${local.public_url}\"",
    "npx wrangler deploy",
  ]) : null
}

output "connectors_steps" {
  description = "With connectors: how to give the service its credentials (they never pass through Terraform), then start it."
  value = var.connectors == null ? null : join("\n", [
    "# The connectors' credentials, as one JSON document (only the keys of the systems configured):",
    "aws secretsmanager put-secret-value --secret-id ${module.connectors[0].connectors_secret_arn} --secret-string file://connectors-secret.json   # {\"teams_client_secret\": \"...\", \"teams_sync_refresh_token\": \"...\", \"xmpp_secret\": \"...\"}",
    "shred -u connectors-secret.json",
    "# A new task reads them:",
    "aws ecs update-service --cluster ${module.media.cluster_name} --service ${module.connectors[0].service_name} --force-new-deployment",
  ])
}
