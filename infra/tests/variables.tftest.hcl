# Bad values fail at plan, naming what is expected.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  lambda_zip_dir = "tests/fixtures/lambda"
  media          = { image = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-media-node:0.1.0" }
}

run "architecture" {
  command = plan
  variables { architecture = "sparc" }
  expect_failures = [var.architecture]
}

run "name" {
  command = plan
  variables { name = "Live Card!" }
  expect_failures = [var.name]
}

run "public_url" {
  command = plan
  variables { public_url = "http://contact.example.com/path" }
  expect_failures = [var.public_url]
}

run "ice_servers" {
  command = plan
  variables { ice_servers = { turn = ["http://coturn.example.com"] } }
  expect_failures = [var.ice_servers]
}

run "turn_provider" {
  command = plan
  variables { turn_provider = { url = "http://rtc.example.com/generate-ice-servers", token = "a-secret-token" } }
  expect_failures = [var.turn_provider]
}

run "turn_provider_accepted" {
  command = plan
  variables { turn_provider = { url = "https://rtc.live.cloudflare.com/v1/turn/keys/k1/credentials/generate-ice-servers", token = "a-secret-token" } }
}

run "turn_provider_ttl" {
  command = plan
  variables { turn_provider = { url = "https://rtc.example.com/generate-ice-servers", token = "a-secret-token", ttl_s = 60 } }
  expect_failures = [var.turn_provider]
}

run "throttling" {
  command = plan
  variables { throttling = { rate_limit = 0, burst_limit = 10 } }
  expect_failures = [var.throttling]
}

run "reserved_concurrency" {
  command = plan
  variables { reserved_concurrency = { http = 0, ws = 10, sweep = 1 } }
  expect_failures = [var.reserved_concurrency]
}

run "log_retention" {
  command = plan
  variables { log_retention_days = 10 }
  expect_failures = [var.log_retention_days]
}

run "secret_readers" {
  command = plan
  variables { secret_reader_arns = ["operators"] }
  expect_failures = [var.secret_reader_arns]
}

run "image" {
  command = plan
  variables { media = { image = "latest" } }
  expect_failures = [var.media]
}

run "vpc_cidr" {
  command = plan
  variables { media = { image = "registry.example.com/livecard/media-node:1", vpc_cidr = "10.42.0.0/28" } }
  expect_failures = [var.media]
}

run "not_a_cidr" {
  command = plan
  variables { media = { image = "registry.example.com/livecard/media-node:1", vpc_cidr = "10.42.0.300/16" } }
  expect_failures = [var.media]
}

run "relay_ports" {
  command = plan
  variables { media = { image = "registry.example.com/livecard/media-node:1", relay_ports = { min = 60000, max = 50000 } } }
  expect_failures = [var.media]
}

run "tls_port" {
  command = plan
  variables { media = { image = "registry.example.com/livecard/media-node:1", tls_port = 3478 } }
  expect_failures = [var.media]
}

run "node_count" {
  command = plan
  variables { media = { image = "registry.example.com/livecard/media-node:1", desired_count = -1 } }
  expect_failures = [var.media]
}

run "graviton_instance" {
  command = plan
  variables { media = { image = "registry.example.com/livecard/media-node:1", instance_type = "c7g.large" } }
  expect_failures = [var.media]
}

run "missing_zips" {
  command = plan
  variables { lambda_zip_dir = "tests/fixtures/nowhere" }
  expect_failures = [var.lambda_zip_dir]
}

run "connectors_none_configured" {
  command = plan
  variables {
    connectors = { image = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-connectors:0.1.0" }
  }
  expect_failures = [var.connectors]
}

run "connectors_size" {
  command = plan
  variables {
    connectors = {
      image  = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-connectors:0.1.0"
      cpu    = 256
      memory = 4096
      sip    = { server = "10.8.0.5:5060" }
    }
  }
  expect_failures = [var.connectors]
}

run "connectors_teams_client_id" {
  command = plan
  variables {
    connectors = {
      image = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-connectors:0.1.0"
      teams = { tenant = "contoso.onmicrosoft.com", client_id = "livecard" }
    }
  }
  expect_failures = [var.connectors]
}

run "connectors_sip_server" {
  command = plan
  variables {
    connectors = {
      image = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-connectors:0.1.0"
      sip   = { server = "pbx.example.com", allow_cidrs = ["10.8.0.0/33"] }
    }
  }
  expect_failures = [var.connectors]
}
