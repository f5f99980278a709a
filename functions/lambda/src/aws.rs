//! The AWS SDK clients, built once per cold start.
//!
//! Credentials and region come from the Lambda environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`); endpoints may be overridden the standard way
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`), which
//! is how the tests point them at loopback servers. Every client retries
//! throttling and transient errors with exponential backoff and full jitter
//! (the SDK's standard retry mode), then reports the error.

use aws_config::SdkConfig;

pub use livecard_store::aws::{MAX_ATTEMPTS, sdk_config};

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// Opens the store's connection (and runs the SDK's first-request set-up)
/// with a read of a key that never exists. Failures only log: the first
/// real request reports them.
pub async fn warm_up(client: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let result = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("WARMUP".into()))
        .key("sk", AttributeValue::S("WARMUP".into()))
        .send()
        .await;
    if let Err(err) = result {
        use aws_sdk_dynamodb::error::ProvideErrorMetadata;
        tracing::warn!(
            code = err.code().unwrap_or("unknown"),
            "store warm-up failed"
        );
    }
}

/// The Management API of one WebSocket API stage.
pub fn management(config: &SdkConfig, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    let conf = aws_sdk_apigatewaymanagement::config::Builder::from(config)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(conf)
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsLoadError {
    #[error("the secret could not be read from Secrets Manager: {0}")]
    Read(String),
    #[error("the secret has no string value")]
    NotString,
    #[error(transparent)]
    Invalid(#[from] livecard_app::secrets::SecretsError),
}

/// Reads the secrets document from Secrets Manager (once, at a cold start).
pub async fn load_secrets(
    config: &SdkConfig,
    arn: &str,
) -> Result<livecard_app::Secrets, SecretsLoadError> {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    let client = aws_sdk_secretsmanager::Client::new(config);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| {
            // Code and message only: never the raw response.
            SecretsLoadError::Read(format!(
                "{}: {}",
                err.code().unwrap_or("unknown"),
                err.message().unwrap_or("request failed")
            ))
        })?;
    let text = out.secret_string().ok_or(SecretsLoadError::NotString)?;
    Ok(livecard_app::secrets::SecretsDocument::parse(text)?)
}
