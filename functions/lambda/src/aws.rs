//! The AWS SDK clients, built once per cold start.
//!
//! Credentials and region come from the Lambda environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`); endpoints may be overridden the standard way
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`), which
//! is how the tests point them at loopback servers. Every client retries
//! throttling and transient errors with exponential backoff and full jitter
//! (the SDK's standard retry mode), then reports the error.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Amazon Trust Services' root certificates (PEM).
const AMAZON_ROOTS: &str = include_str!("amazon-roots.pem");

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 4;

/// The shared SDK configuration.
pub async fn sdk_config() -> SdkConfig {
    use aws_smithy_http_client::tls::{
        Provider, TlsContext, TrustStore, rustls_provider::CryptoMode,
    };
    // Only the roots AWS's endpoints chain to: nothing else is trusted, and
    // a cold start does not read the system's whole certificate store (that
    // alone took 5 ms here).
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_ROOTS.as_bytes());
    let tls = TlsContext::builder().with_trust_store(trust).build();
    let http = match tls {
        Ok(tls) => aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls)
            .build_https(),
        Err(err) => {
            tracing::warn!(error = %err, "the Amazon roots were refused; using the system's");
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https()
        }
    };
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(25))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn the_amazon_roots_are_five_well_formed_certificates() {
        let mut count = 0;
        for block in AMAZON_ROOTS.split("-----BEGIN CERTIFICATE-----").skip(1) {
            let body = block
                .split("-----END CERTIFICATE-----")
                .next()
                .expect("end marker");
            let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64");
            // A DER SEQUENCE with a long-form length.
            assert_eq!(der[0], 0x30);
            count += 1;
        }
        assert_eq!(count, 5);
    }
}
