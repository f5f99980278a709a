variable "name" {
  description = "The table's name."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer-managed KMS key that encrypts the table."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the table from deletion."
  type        = bool
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
