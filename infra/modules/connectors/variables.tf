variable "name" {
  description = "Prefix of the resources' names."
  type        = string
}

variable "connectors" {
  description = "The connectors service: image, task size, and the systems it reads (docs/presence.md, docs/deploy.md)."
  type = object({
    image            = string
    cpu              = number
    memory           = number
    subnet_ids       = list(string)
    assign_public_ip = bool
    teams = object({
      tenant     = string
      client_id  = string
      poll       = string
      write_back = bool
      push       = bool
    })
    xmpp = object({
      component = string
      server    = string
    })
    sip = object({
      server      = string
      domain      = string
      port        = number
      allow_cidrs = list(string)
    })
  })
}

variable "cluster_arn" {
  description = "The ECS cluster (the media nodes')."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the task's subnets."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's range: /healthz and /metrics are reachable from it."
  type        = string
}

variable "table_arn" {
  description = "The table."
  type        = string
}

variable "table_name" {
  description = "The table's name."
  type        = string
}

variable "app_secret_arn" {
  description = "The secrets document the functions read (the service runs the same handlers)."
  type        = string
}

variable "ws_execution_arn" {
  description = "The WebSocket API stage's execution ARN (pushes to open consoles)."
  type        = string
}

variable "public_url" {
  description = "LIVECARD_PUBLIC_URL."
  type        = string
}

variable "ws_url" {
  description = "LIVECARD_WS_URL."
  type        = string
}

variable "ws_callback_url" {
  description = "LIVECARD_WS_CALLBACK_URL (the Management API)."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer-managed key."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention."
  type        = number
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
