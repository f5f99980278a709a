//! The AWS SDK configuration every livecard process on AWS shares (the
//! Lambda functions, the media nodes): credentials and region from the
//! environment's standard chain, only Amazon's root certificates trusted,
//! standard retries with backoff and full jitter, and short timeouts.
//! Endpoints may be overridden the standard way (`AWS_ENDPOINT_URL_*`),
//! which is how the tests point them at loopback servers.

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
