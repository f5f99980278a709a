# Everything livecard needs on AWS, with a handful of variables:
#
#   scripts/build-lambda.sh && scripts/build-media-node.sh
#   (push the media node image to a registry, e.g. ECR)
#   cd infra/examples/complete
#   terraform init && terraform apply -var region=eu-central-1 \
#     -var media_image=<account>.dkr.ecr.eu-central-1.amazonaws.com/livecard-media-node:0.1.0 \
#     -var 'secret_reader_arns=["arn:aws:iam::<account>:role/admin"]'

terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "region" {
  description = "The AWS region to deploy to, such as eu-central-1."
  type        = string
  validation {
    condition     = can(regex("^(us|eu|ap|sa|ca|me|af|il|mx)-(gov-)?(north|south|east|west|central|northeast|southeast|northwest|southwest)-[1-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-central-1 or us-east-1."
  }
}

variable "media_image" {
  description = "The media node image (registry/repository:tag), built from media-node/Dockerfile."
  type        = string
}

variable "public_url" {
  description = "The portal's URL when a custom domain fronts the HTTP API; empty for the API's own."
  type        = string
  default     = ""
}

variable "architecture" {
  description = "The Lambda functions' architecture: x86_64 or arm64."
  type        = string
  default     = "arm64"
}

variable "lambda_zip_dir" {
  description = "Where scripts/build-lambda.sh left the zips."
  type        = string
  default     = "../../../dist/lambda"
}

variable "media_nodes" {
  description = "How many media nodes."
  type        = number
  default     = 2
}

variable "secret_reader_arns" {
  description = "Operators allowed to read the secrets (to fetch the first admin key)."
  type        = list(string)
  default     = []
}

provider "aws" {
  region = var.region
}

module "livecard" {
  source             = "../.."
  public_url         = var.public_url
  lambda_zip_dir     = var.lambda_zip_dir
  architecture       = var.architecture
  secret_reader_arns = var.secret_reader_arns
  media = {
    image         = var.media_image
    desired_count = var.media_nodes
  }
}

output "portal_url" {
  description = "The contact portal."
  value       = module.livecard.portal_url
}

output "websocket_url" {
  description = "The signaling WebSocket URL."
  value       = module.livecard.websocket_url
}

output "card_link_base" {
  description = "Card links start with this."
  value       = module.livecard.card_link_base
}

output "media_nodes" {
  description = "Media node settings."
  value       = module.livecard.media_nodes
}

output "first_steps" {
  description = "The first admin key and card."
  value       = module.livecard.first_steps
}
