variable "name" {
  description = "Prefix of every resource name (letters, digits and hyphens, 3 to 24 characters)."
  type        = string
  default     = "livecard"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,23}$", var.name))
    error_message = "name must be 3 to 24 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "public_url" {
  description = "The portal's public URL (https://contact.example.com) when a custom domain fronts the HTTP API; empty for the API's own URL."
  type        = string
  default     = ""
  validation {
    condition     = var.public_url == "" || can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", var.public_url))
    error_message = "public_url must be empty or https://host[:port] with no path."
  }
}

variable "ice_servers" {
  description = "TURN servers that share the TURN secret (coturn with use-auth-secret; turn: or turns: URLs) and STUN servers (stun: URLs) the ICE-server endpoint hands out besides the media nodes; at most 8 of each."
  type = object({
    turn = optional(list(string), [])
    stun = optional(list(string), [])
  })
  default = {}
  validation {
    condition = (
      length(var.ice_servers.turn) <= 8 && length(var.ice_servers.stun) <= 8
      && alltrue([for u in var.ice_servers.turn : can(regex("^turns?:[^\\s,]{1,250}$", u))])
      && alltrue([for u in var.ice_servers.stun : can(regex("^stuns?:[^\\s,]{1,250}$", u))])
    )
    error_message = "ice_servers: at most 8 turn: or turns: URLs and 8 stun: URLs, without spaces or commas."
  }
}

variable "lambda_zip_dir" {
  description = "Where scripts/build-lambda.sh left the zips (dist/lambda); the architecture's folder is used."
  type        = string
  validation {
    condition     = alltrue([for f in ["http", "ws", "sweep"] : fileexists("${var.lambda_zip_dir}/${var.architecture}/livecard-${f}.zip")])
    error_message = "The Lambda zips are missing: run scripts/build-lambda.sh, which writes dist/lambda/<architecture>/livecard-{http,ws,sweep}.zip."
  }
}

variable "architecture" {
  description = "The Lambda functions' architecture: x86_64 or arm64."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function (http, ws, sweep, forward)."
  type = object({
    http    = number
    ws      = number
    sweep   = number
    forward = optional(number, 2)
  })
  default = { http = 100, ws = 100, sweep = 1, forward = 2 }
  validation {
    condition = alltrue([
      for n in [var.reserved_concurrency.http, var.reserved_concurrency.ws, var.reserved_concurrency.sweep, var.reserved_concurrency.forward] : n >= 1 && n <= 1000 && floor(n) == n
    ])
    error_message = "reserved_concurrency values must be whole numbers from 1 to 1000."
  }
}

variable "log_retention_days" {
  description = "How long logs are kept (a CloudWatch Logs retention value)."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "deletion_protection" {
  description = "Protect the table from deletion."
  type        = bool
  default     = true
}

variable "throttling" {
  description = "API Gateway stage throttling: steady requests per second and burst, for each API."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = { rate_limit = 200, burst_limit = 400 }
  validation {
    condition     = var.throttling.rate_limit >= 1 && var.throttling.burst_limit >= 1 && var.throttling.burst_limit <= 5000
    error_message = "throttling needs rate_limit >= 1 and burst_limit from 1 to 5000."
  }
}

variable "secrets_version" {
  description = "Bump to generate new secrets (card keys, session and visitor keys, webhook, TURN and admin secrets). See docs/deploy.md before rotating."
  type        = number
  default     = 1
  validation {
    condition     = var.secrets_version >= 1 && floor(var.secrets_version) == var.secrets_version
    error_message = "secrets_version must be a whole number from 1."
  }
}

variable "secret_reader_arns" {
  description = "IAM principals (operators) allowed to read the secrets besides the functions and media nodes, to fetch the first admin key."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.secret_reader_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "secret_reader_arns must be IAM role or user ARNs."
  }
}

variable "media" {
  description = "Media nodes (EC2 instances with public IPs running the node's container on ECS): image, count, size, network, ports."
  type = object({
    image         = string
    desired_count = optional(number, 2)
    instance_type = optional(string, "c6i.large")
    cpu           = optional(number, 1536)
    memory        = optional(number, 3072)
    vpc_cidr      = optional(string, "10.42.0.0/16")
    relay_ports   = optional(object({ min = number, max = number }), { min = 49152, max = 65535 })
    tls_port      = optional(number, 0)
    capacity      = optional(number, 2000)
    drain_seconds = optional(number, 110)
  })
  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.media.image))
    error_message = "media.image must be a full image reference: registry/repository:tag or @sha256:digest."
  }
  validation {
    condition     = var.media.desired_count >= 0 && var.media.desired_count <= 50 && floor(var.media.desired_count) == var.media.desired_count
    error_message = "media.desired_count must be a whole number from 0 to 50."
  }
  validation {
    condition     = var.media.cpu >= 256 && var.media.cpu <= 65536 && var.media.memory >= 512 && var.media.memory <= 524288
    error_message = "media.cpu must be 256 to 65536 CPU units and media.memory 512 to 524288 MiB (and fit the instance type)."
  }
  validation {
    condition     = can(regex("^[a-z]+[0-9]+[a-z0-9-]*\\.[a-z0-9]+$", var.media.instance_type)) && !can(regex("^[a-z]+[0-9]+[a-z]*g", split(".", var.media.instance_type)[0]))
    error_message = "media.instance_type must be an x86_64 EC2 instance type such as c6i.large (the node's image is x86_64; Graviton types end their family in g)."
  }
  validation {
    condition     = var.media.drain_seconds >= 0 && var.media.drain_seconds <= 3600
    error_message = "media.drain_seconds must be 0 to 3600."
  }
  validation {
    condition     = can(cidrnetmask(var.media.vpc_cidr)) && tonumber(split("/", var.media.vpc_cidr)[1]) <= 24
    error_message = "media.vpc_cidr must be an IPv4 CIDR block of /24 or larger, such as 10.42.0.0/16."
  }
  validation {
    condition     = var.media.relay_ports.min >= 1024 && var.media.relay_ports.max <= 65535 && var.media.relay_ports.min < var.media.relay_ports.max
    error_message = "media.relay_ports must be a range within 1024-65535 with min below max."
  }
  validation {
    condition     = var.media.tls_port == 0 || (var.media.tls_port >= 1024 && var.media.tls_port <= 65535 && var.media.tls_port != 3478)
    error_message = "media.tls_port must be 0 (no TLS) or a port from 1024 to 65535 other than 3478."
  }
  validation {
    condition     = var.media.capacity >= 1 && var.media.capacity <= 100000
    error_message = "media.capacity (allocations per node) must be 1 to 100000."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "generate_secrets" {
  description = "Generate the secrets (true), or write secrets_document (false)."
  type        = bool
  default     = true
}

variable "secrets_document" {
  description = "With generate_secrets = false: the secrets document to write (the local livecard-data/secrets.json, with turn_secret and admin_api_key), so card links made locally stay valid. Never stored in state (it is written as a write-only value); a saved plan file holds it, so do not save plans with it."
  type        = string
  default     = null
  sensitive   = true
}

variable "turn_provider" {
  description = "With generate_secrets = true: a TURN service that mints credentials over HTTP (Cloudflare Realtime TURN's generate-ice-servers), written into the generated secrets document as turn_provider (docs/turn.md). With a secrets_document, put turn_provider in the document instead. Never stored in state (write-only value)."
  type = object({
    url        = string
    token      = string
    ttl_s      = optional(number, 14400)
    timeout_ms = optional(number, 2000)
  })
  default   = null
  sensitive = true
  validation {
    condition = var.turn_provider == null || try(
      can(regex("^https://[^\\s@]{1,500}$", var.turn_provider.url))
      && length(var.turn_provider.token) >= 8 && length(var.turn_provider.token) <= 1024
      && var.turn_provider.ttl_s >= 600 && var.turn_provider.ttl_s <= 172800
      && var.turn_provider.timeout_ms >= 200 && var.turn_provider.timeout_ms <= 10000,
      false
    )
    error_message = "turn_provider: an https:// url, a token of 8 to 1024 characters, ttl_s from 600 to 172800, timeout_ms from 200 to 10000."
  }
}

variable "edge_worker" {
  description = "Also serve livecard from a Cloudflare Worker (functions/worker): creates the IAM user it signs its DynamoDB requests as (docs/deploy.md, \"At the edge\")."
  type        = bool
  default     = false
}

variable "forward_allow" {
  description = "Networks (CIDR) analytics destinations may be reached in although the relay's deny rules refuse them, e.g. a Matomo on the company network reached through a VPC peering. Empty: public addresses only."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for n in var.forward_allow : can(cidrhost(n, 0))])
    error_message = "forward_allow must be CIDR ranges (10.20.0.0/16)."
  }
}

variable "connectors" {
  description = "The presence connectors service (docs/presence.md): an ECS task reading Microsoft Teams, the company's XMPP server and/or the phone system. null (the default) runs none. Without network, the task runs in the media nodes' public subnets with a public address; give network (a VPC, its range and subnets) for a PBX or XMPP server reached through the operator's own network."
  type = object({
    image  = string
    cpu    = optional(number, 256)
    memory = optional(number, 512)
    network = optional(object({
      vpc_id     = string
      vpc_cidr   = string
      subnet_ids = list(string)
    }))
    teams = optional(object({
      tenant     = string
      client_id  = string
      poll       = optional(string, "15s")
      write_back = optional(bool, true)
      push       = optional(bool, false)
    }))
    xmpp = optional(object({
      component = string
      server    = string
    }))
    sip = optional(object({
      server      = string
      domain      = optional(string, "")
      port        = optional(number, 5070)
      allow_cidrs = optional(list(string), [])
    }))
  })
  default = null
  validation {
    condition     = var.connectors == null || can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.connectors.image))
    error_message = "connectors.image must be a full image reference: registry/repository:tag or @sha256:digest."
  }
  validation {
    condition     = var.connectors == null || try(var.connectors.teams != null || var.connectors.xmpp != null || var.connectors.sip != null, false)
    error_message = "connectors needs at least one of teams, xmpp or sip."
  }
  validation {
    condition = var.connectors == null || try(contains([
      "256/512", "256/1024", "256/2048", "512/1024", "512/2048", "512/4096", "1024/2048", "1024/4096", "1024/8192",
    ], "${var.connectors.cpu}/${var.connectors.memory}"), false)
    error_message = "connectors.cpu/memory must be a Fargate size: 256/512 to 1024/8192 (for example 256/512)."
  }
  validation {
    condition     = try(var.connectors.teams == null, true) || try(can(regex("^[0-9a-fA-F-]{36}$", var.connectors.teams.client_id)) && length(trimspace(var.connectors.teams.tenant)) > 0 && can(regex("^[0-9]+(s|m)$", var.connectors.teams.poll)), false)
    error_message = "connectors.teams needs the tenant, the app registration's client_id (a GUID) and poll as seconds or minutes (15s)."
  }
  validation {
    condition     = try(var.connectors.xmpp == null, true) || try(can(regex("^[a-z0-9.-]+$", var.connectors.xmpp.component)) && can(regex("^[A-Za-z0-9.-]+:[0-9]+$", var.connectors.xmpp.server)), false)
    error_message = "connectors.xmpp needs the component's domain (presence.example.com) and the server as host:port (xmpp.example.com:5275)."
  }
  validation {
    condition     = try(var.connectors.sip == null, true) || try(can(regex("^[0-9.]+:[0-9]+$", var.connectors.sip.server)) && var.connectors.sip.port >= 1024 && var.connectors.sip.port <= 65535 && alltrue([for c in var.connectors.sip.allow_cidrs : can(cidrhost(c, 0))]), false)
    error_message = "connectors.sip needs the PBX as IP:port (10.0.0.5:5060), a port of 1024 to 65535 for its NOTIFYs, and allow_cidrs as CIDR ranges."
  }
}
