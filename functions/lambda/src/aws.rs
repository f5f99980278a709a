//! The AWS SDK clients, built once per cold start.
//!
//! Lambda hands every function a fixed environment: the execution role's
//! credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, valid for the instance's life) and `AWS_REGION`.
//! The functions read exactly those, with no provider chains, profile files
//! or STS client to set up at a cold start. Endpoints may be overridden the
//! standard way (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, or `AWS_ENDPOINT_URL` for all), which
//! is how the tests point them at loopback servers. Every client retries
//! throttling and transient errors with exponential backoff and full jitter
//! (the SDK's standard retry mode), then reports the error.

use crate::env::SettingsError;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::SdkConfig;
use aws_types::region::Region;
use livecard_store::aws::{http_client, retry_config, timeout_config};

pub use livecard_store::aws::MAX_ATTEMPTS;

/// The SDK set-up of one function instance.
#[derive(Clone, Debug)]
pub struct Aws {
    sdk: SdkConfig,
    dynamodb_endpoint: Option<String>,
    secrets_endpoint: Option<String>,
}

impl Aws {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same, from any source of variables (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(SettingsError::Missing(name));
        let region = value("AWS_REGION")
            .or_else(|| value("AWS_DEFAULT_REGION"))
            .ok_or(SettingsError::Missing("AWS_REGION"))?;
        let region =
            livecard_app::settings::checked_region(&region).ok_or(SettingsError::Invalid {
                name: "AWS_REGION",
                expected: "a region name (eu-central-1)",
            })?;
        let credentials = Credentials::new(
            required("AWS_ACCESS_KEY_ID")?,
            required("AWS_SECRET_ACCESS_KEY")?,
            value("AWS_SESSION_TOKEN"),
            None,
            "lambda-environment",
        );
        let sdk = SdkConfig::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http_client())
            .retry_config(retry_config())
            .timeout_config(timeout_config())
            .build();
        Self::from_sdk(sdk, get)
    }

    /// The clients from an SDK configuration, with the endpoints the
    /// variables override. Also for an SDK configuration loaded elsewhere:
    /// the connectors service on ECS, whose credentials come from the
    /// container's standard chain (`livecard_store::aws::sdk_config`).
    pub fn from_sdk(
        sdk: SdkConfig,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let endpoint = |name: &'static str| -> Result<Option<String>, SettingsError> {
            let (name, url) = match value(name) {
                Some(url) => (name, url),
                None => match value("AWS_ENDPOINT_URL") {
                    Some(url) => ("AWS_ENDPOINT_URL", url),
                    None => return Ok(None),
                },
            };
            livecard_app::settings::checked_url(&url, &["https://", "http://"])
                .map(Some)
                .ok_or(SettingsError::Invalid {
                    name,
                    expected: "an http(s) URL",
                })
        };
        Ok(Self {
            dynamodb_endpoint: endpoint("AWS_ENDPOINT_URL_DYNAMODB")?,
            secrets_endpoint: endpoint("AWS_ENDPOINT_URL_SECRETS_MANAGER")?,
            sdk,
        })
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(&self.sdk);
        conf.set_endpoint_url(self.dynamodb_endpoint.clone());
        aws_sdk_dynamodb::Client::from_conf(conf.build())
    }

    /// The Management API of one WebSocket API stage.
    pub fn management(&self, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.sdk)
            .endpoint_url(endpoint)
            .build();
        aws_sdk_apigatewaymanagement::Client::from_conf(conf)
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let mut conf = aws_sdk_secretsmanager::config::Builder::from(&self.sdk);
        conf.set_endpoint_url(self.secrets_endpoint.clone());
        aws_sdk_secretsmanager::Client::from_conf(conf.build())
    }
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
pub async fn load_secrets(aws: &Aws, arn: &str) -> Result<livecard_app::Secrets, SecretsLoadError> {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    let client = aws.secrets_manager();
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
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-central-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<_> = LAMBDA.to_vec();
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
        pairs
    }

    #[test]
    fn the_lambda_environment_configures_the_clients() {
        let aws = Aws::from_lookup(lookup(LAMBDA)).expect("configured");
        assert_eq!(aws.sdk.region().map(|r| r.as_ref()), Some("eu-central-1"));
        assert!(aws.sdk.credentials_provider().is_some());
        assert_eq!(aws.dynamodb_endpoint, None);
        assert_eq!(aws.secrets_endpoint, None);
        // Secrets never in a log line.
        let shown = format!("{aws:?}");
        assert!(
            !shown.contains("secret\"") && !shown.contains("token\""),
            "{shown}"
        );
    }

    #[test]
    fn endpoints_are_overridden_per_service_then_for_all() {
        let aws = Aws::from_lookup(lookup(&with(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2"),
        ])))
        .expect("configured");
        assert_eq!(aws.dynamodb_endpoint.as_deref(), Some("http://127.0.0.1:2"));
        assert_eq!(aws.secrets_endpoint.as_deref(), Some("http://127.0.0.1:1"));
    }

    #[test]
    fn a_missing_or_invalid_variable_is_named() {
        let err = Aws::from_lookup(lookup(&with(&[("AWS_REGION", "")]))).expect_err("refused");
        assert_eq!(err, SettingsError::Missing("AWS_REGION"));
        let aws = Aws::from_lookup(lookup(&with(&[
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ])))
        .expect("the default region is enough");
        assert_eq!(aws.sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        let err =
            Aws::from_lookup(lookup(&with(&[("AWS_SECRET_ACCESS_KEY", "")]))).expect_err("refused");
        assert_eq!(err, SettingsError::Missing("AWS_SECRET_ACCESS_KEY"));
        let err =
            Aws::from_lookup(lookup(&with(&[("AWS_REGION", "eu central")]))).expect_err("refused");
        assert!(err.to_string().contains("AWS_REGION"), "{err}");
        let err = Aws::from_lookup(lookup(&with(&[(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "ftp://x",
        )])))
        .expect_err("refused");
        assert!(
            err.to_string().contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
            "{err}"
        );
        // A session token is optional (a user's long-term keys).
        assert!(Aws::from_lookup(lookup(&with(&[("AWS_SESSION_TOKEN", "")]))).is_ok());
    }
}
