//! One isolate's set-up: configuration from the Worker's variables and
//! secrets, the DynamoDB client over `fetch`, and the handlers, built on the
//! first request and shared by every later one (and by the Durable Objects
//! of the same isolate).
//!
//! | name | kind | |
//! |---|---|---|
//! | `LIVECARD_TABLE` | var | the DynamoDB table |
//! | `AWS_REGION` | var | its region |
//! | `AWS_ENDPOINT_URL_DYNAMODB` | var | another DynamoDB-compatible endpoint (tests, local) |
//! | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` | secrets | the Worker's IAM user |
//! | `LIVECARD_SECRETS` | secret | the deployment's secrets document (`docs/deploy.md`) |
//! | `LIVECARD_PUBLIC_URL`, … | vars | the functions' settings (`docs/configuration.md`) |

use crate::platform::{FetchClient, JsClock, JsSleep, JsTime};
use crate::socket::DurableConnections;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use livecard_app::contact::push::StoredPush;
use livecard_app::system::OsRandom;
use livecard_app::{App, Clock};
use livecard_store::dynamo::DynamoStore;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use worker::Env;

/// The handlers as the Worker and its Durable Objects run them.
pub type EdgeApp = App<DynamoStore, EdgePush>;
/// Subscriptions in DynamoDB, connections in Durable Objects.
pub type EdgePush = StoredPush<DynamoStore, DurableConnections>;

/// The Durable Object namespace holding the signaling connections.
pub const SOCKETS: &str = "SOCKETS";

/// Subscriptions made by a connection last this long unless renewed; a
/// connection's object renews them well before (its alarm).
pub const SUBSCRIPTION_MS: u64 = 2 * 3_600_000;

/// Why the Worker cannot start: names the setting, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is not valid: expected {expected}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
    },
    #[error("settings: {0}")]
    Settings(#[from] livecard_app::settings::SettingsError),
    #[error("LIVECARD_SECRETS: {0}")]
    Secrets(#[from] livecard_app::secrets::SecretsError),
    #[error("the binding {SOCKETS} is missing: {0}")]
    Binding(String),
}

thread_local! {
    static HOST: RefCell<Option<Rc<EdgeApp>>> = const { RefCell::new(None) };
}

/// The handlers of this isolate, built on first use.
pub fn app(env: &Env) -> Result<Rc<EdgeApp>, ConfigError> {
    if let Some(app) = HOST.with(|h| h.borrow().clone()) {
        return Ok(app);
    }
    let app = Rc::new(build(env)?);
    HOST.with(|h| *h.borrow_mut() = Some(app.clone()));
    Ok(app)
}

fn value(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.var(name).ok().map(|v| v.to_string()))
        .filter(|v| !v.trim().is_empty())
}

fn build(env: &Env) -> Result<EdgeApp, ConfigError> {
    let required = |name: &'static str| value(env, name).ok_or(ConfigError::Missing(name));
    let table = required("LIVECARD_TABLE")?;
    let region = livecard_app::settings::checked_region(&required("AWS_REGION")?).ok_or(
        ConfigError::Invalid {
            name: "AWS_REGION",
            expected: "a region name (eu-central-1)",
        },
    )?;
    let endpoint = match value(env, "AWS_ENDPOINT_URL_DYNAMODB") {
        Some(url) => Some(
            livecard_app::settings::checked_url(&url, &["https://", "http://"]).ok_or(
                ConfigError::Invalid {
                    name: "AWS_ENDPOINT_URL_DYNAMODB",
                    expected: "an http(s) URL",
                },
            )?,
        ),
        None => None,
    };
    let credentials = Credentials::from_keys(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        None,
    );
    let settings = livecard_app::Settings::load(None, |name| value(env, name))?;
    let public_url = settings
        .public_url
        .clone()
        .ok_or(ConfigError::Missing("LIVECARD_PUBLIC_URL"))?;
    let secrets = livecard_app::secrets::SecretsDocument::parse(&required("LIVECARD_SECRETS")?)?;

    let mut conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(credentials)
        .http_client(FetchClient)
        .time_source(SharedTimeSource::new(JsTime))
        .sleep_impl(SharedAsyncSleep::new(JsSleep))
        .retry_config(livecard_store::aws::retry_config())
        .timeout_config(livecard_store::aws::timeout_config());
    conf.set_endpoint_url(endpoint);
    let client = aws_sdk_dynamodb::Client::from_conf(conf.build());
    let store = DynamoStore::new(client, table);

    let sockets = env
        .durable_object(SOCKETS)
        .map_err(|e| ConfigError::Binding(e.to_string()))?;
    let clock: Arc<dyn Clock> = Arc::new(JsClock);
    let push = StoredPush::new(
        store.clone(),
        DurableConnections::new(sockets),
        clock.clone(),
        SUBSCRIPTION_MS,
    );
    let mut config = settings.config(&public_url);
    // Many isolates write the same sessions: never reuse a read.
    config.session_cache_ms = 0;
    // The public presence reads (which never use an instance's read cache)
    // are shared by the data centre's cache, within the same bound.
    config.shared_read_ms = config.read_cache_ms;
    let app = App::new(store, clock, Arc::new(OsRandom), config, secrets).with_push(push);
    // The handlers' outgoing HTTP (a TURN credentials provider).
    #[cfg(target_arch = "wasm32")]
    let app = app.with_fetch(Arc::new(crate::platform::WorkerFetch));
    Ok(app)
}
