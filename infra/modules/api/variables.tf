variable "name" {
  description = "Prefix of the log groups' names."
  type        = string
}

variable "http_api_id" {
  description = "The HTTP API."
  type        = string
}

variable "http_execution_arn" {
  description = "The HTTP API's execution ARN."
  type        = string
}

variable "ws_api_id" {
  description = "The WebSocket API."
  type        = string
}

variable "ws_execution_arn" {
  description = "The WebSocket API's execution ARN."
  type        = string
}

variable "ws_stage" {
  description = "The WebSocket stage's name (part of the URLs the functions use)."
  type        = string
}

variable "http_function" {
  description = "The HTTP function: name, arn, invoke_arn."
  type        = object({ name = string, arn = string, invoke_arn = string })
}

variable "ws_function" {
  description = "The WebSocket function: name, arn, invoke_arn."
  type        = object({ name = string, arn = string, invoke_arn = string })
}

variable "throttling" {
  description = "Stage throttling."
  type        = object({ rate_limit = number, burst_limit = number })
}

variable "kms_key_arn" {
  description = "Encrypts the access logs."
  type        = string
}

variable "log_retention_days" {
  description = "Access log retention."
  type        = number
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
