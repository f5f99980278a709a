//! The AWS SDK set-up every livecard process on AWS shares (the Lambda
//! functions, the media nodes): only Amazon's root certificates trusted,
//! standard retries with backoff and full jitter, and short timeouts.
//! [`sdk_config`] (feature `aws`) adds credentials and region from the
//! environment's standard chains, for the media nodes; the Lambda functions
//! read their fixed environment directly (`livecard_lambda::aws`).
//! Endpoints may be overridden the standard way (`AWS_ENDPOINT_URL_*`),
//! which is how the tests point them at loopback servers.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use std::time::Duration;
#[cfg(feature = "native")]
use {
    aws_sdk_dynamodb::config::SharedHttpClient,
    aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata,
    aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnectorSettings, SharedHttpConnector,
    },
    aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
};

/// Amazon Trust Services' root certificates (PEM).
#[cfg(any(feature = "native", test))]
const AMAZON_ROOTS: &str = include_str!("amazon-roots.pem");

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 4;

/// The shared SDK configuration, from the environment's standard chains
/// (the media nodes on ECS: container credentials).
#[cfg(feature = "aws")]
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// The HTTPS client every SDK client shares: rustls, trusting only
/// Amazon's roots.
#[cfg(feature = "native")]
pub fn http_client() -> SharedHttpClient {
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
    let client = match tls {
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
    SharedHttpClient::new(ConnectorOnFirstRequest(client))
}

/// The SDK's HTTP client builds a TLS connector when each service client is
/// built, only to validate and drop it, then builds the one it uses on the
/// first request. With three service clients that was four TLS
/// configurations per cold start; this builds one, on the first request
/// (errors surface there all the same: the certificates are compiled in).
#[cfg(feature = "native")]
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

#[cfg(feature = "native")]
impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Standard retries (exponential backoff, full jitter) for throttling and
/// transient errors, then the error is reported.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff(Duration::from_secs(2))
}

/// Short timeouts: a stuck connection fails over to a retry.
pub fn timeout_config() -> TimeoutConfig {
    timeout_config_with(Duration::from_secs(5))
}

/// The same, with another limit per attempt.
pub fn timeout_config_with(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(attempt)
        .build()
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
