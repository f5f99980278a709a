variable "name" {
  description = "Prefix of the functions' names."
  type        = string
}

variable "zip_dir" {
  description = "The folder with livecard-http.zip, livecard-ws.zip, livecard-sweep.zip and livecard-forward.zip for the architecture."
  type        = string
}

variable "architecture" {
  description = "x86_64 or arm64."
  type        = string
}

variable "table_arn" {
  description = "The table's ARN."
  type        = string
}

variable "table_name" {
  description = "The table's name."
  type        = string
}

variable "secret_arn" {
  description = "The secrets document's ARN."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer-managed key."
  type        = string
}

variable "public_url" {
  description = "Where the portal is."
  type        = string
}

variable "ws_url" {
  description = "The signaling WebSocket URL clients open."
  type        = string
}

variable "ws_callback_url" {
  description = "The WebSocket API's Management API endpoint."
  type        = string
}

variable "ws_execution_arn" {
  description = "The WebSocket stage's execution ARN (connections are managed under it)."
  type        = string
}

variable "reserved_concurrency" {
  description = "Reserved concurrency per function."
  type = object({
    http    = number
    ws      = number
    sweep   = number
    forward = optional(number, 2)
  })
}

variable "table_stream_arn" {
  description = "The table's stream: new deliveries wake the forwarder."
  type        = string
}

variable "forward_allow" {
  description = "Networks analytics destinations may be reached in despite the deny rules (LIVECARD_FORWARD_ALLOW)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Log retention in days."
  type        = number
}

variable "ice_servers" {
  description = "TURN (turn:/turns:) and STUN (stun:) URLs the functions hand out besides the media nodes (LIVECARD_TURN_SERVERS, LIVECARD_STUN_SERVERS)."
  type = object({
    turn = optional(list(string), [])
    stun = optional(list(string), [])
  })
  default = {}
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
