variable "name" {
  description = "Prefix of the secrets' names."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer-managed KMS key that encrypts the secrets."
  type        = string
}

variable "secrets_version" {
  description = "Bump to write newly generated secrets."
  type        = number
}

variable "tags" {
  description = "Tags for the secrets."
  type        = map(string)
  default     = {}
}

variable "generate" {
  description = "Generate the secrets (true) or write `document` (false)."
  type        = bool
  default     = true
}

variable "document" {
  description = "The secrets document to write when `generate` is false (JSON, the format of the local secrets.json, with turn_secret)."
  type        = string
  default     = null
  sensitive   = true
}

variable "turn_provider" {
  description = "A TURN credentials provider written into the generated document as turn_provider (null: none)."
  type = object({
    url        = string
    token      = string
    ttl_s      = number
    timeout_ms = number
  })
  default   = null
  sensitive = true
}
