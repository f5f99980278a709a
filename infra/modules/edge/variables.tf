variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "table_arn" {
  description = "The livecard table."
  type        = string
}

variable "kms_key_arn" {
  description = "The key the table is encrypted with."
  type        = string
}

variable "tags" {
  description = "Tags for the user."
  type        = map(string)
  default     = {}
}
