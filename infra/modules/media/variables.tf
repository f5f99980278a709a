variable "name" {
  description = "Prefix of the resources' names."
  type        = string
}

variable "media" {
  description = "The media nodes: image, count, instance type, task size, network, ports, capacity, drain."
  type = object({
    image         = string
    desired_count = number
    instance_type = string
    cpu           = number
    memory        = number
    vpc_cidr      = string
    relay_ports   = object({ min = number, max = number })
    tls_port      = number
    capacity      = number
    drain_seconds = number
  })
}

variable "table_arn" {
  description = "The table the nodes register in."
  type        = string
}

variable "table_name" {
  description = "The table's name."
  type        = string
}

variable "notify_url" {
  description = "The API's base URL: a draining node tells it which calls it relays, so they move first (LIVECARD_MEDIA_NOTIFY_URL)."
  type        = string
  validation {
    condition     = can(regex("^https?://[^\\s]+$", var.notify_url))
    error_message = "notify_url is the API's base URL, such as https://abc123.execute-api.eu-central-1.amazonaws.com."
  }
}

variable "turn_secret_arn" {
  description = "The TURN shared secret (JSON with turn_secret)."
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
