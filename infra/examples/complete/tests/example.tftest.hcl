# The example root plans with a handful of variables, and a bad region is
# refused at plan.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  region         = "eu-central-1"
  media_image    = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/livecard-media-node:0.1.0"
  lambda_zip_dir = "../../tests/fixtures/lambda"
}

run "plans" {
  command = plan
  assert {
    condition     = output.media_nodes.desired_count == 2 && output.media_nodes.turn_port == 3478
    error_message = "Two media nodes by default, TURN on 3478."
  }
}

run "bad_region" {
  command = plan
  variables { region = "moon-base-1" }
  expect_failures = [var.region]
}
