//! The operations, one file per use case: each reads what it needs, asks the domain's rules,
//! writes through the store and has the view show the result. Every authorization decision
//! is made here (the store never sees a caller). Those that answer with a whole ticket need
//! the bucket for its files (feature `files`); list-tickets and the schedules go without.

#[cfg(feature = "files")]
mod attachments;
#[cfg(feature = "files")]
mod common;
mod counts;
#[cfg(feature = "files")]
mod create;
#[cfg(all(feature = "events", feature = "files"))]
mod erasure;
mod escalation;
#[cfg(feature = "events")]
mod events;
mod expiry;
#[cfg(all(feature = "events", feature = "files"))]
mod export;
#[cfg(feature = "files")]
mod lifecycle;
mod list;
mod metrics;
#[cfg(feature = "files")]
mod read;
#[cfg(feature = "files")]
mod status;
#[cfg(feature = "files")]
mod threads;
#[cfg(feature = "files")]
mod update;
#[cfg(feature = "events")]
mod webhooks;

#[cfg(feature = "files")]
pub use attachments::{confirm_upload, renew_upload};
pub use counts::{fold_changes, Counted, Folded};
#[cfg(feature = "files")]
pub use create::create_ticket;
#[cfg(all(feature = "events", feature = "files"))]
pub use erasure::{erase_step, erasure_status, start_erasure, ErasureStep};
pub use escalation::{escalate_breached, Escalation};
#[cfg(feature = "events")]
pub use events::{publish, Published, StreamChange};
pub use expiry::{expire_uploads, Expiry, UPLOAD_WINDOW_HOURS};
#[cfg(all(feature = "events", feature = "files"))]
pub use export::{export_status, run_export, start_export, ExportJob, EXPORT_TRIES};
#[cfg(feature = "files")]
pub use lifecycle::{delete_ticket, purge_ticket, restore_ticket};
pub use list::list_tickets;
pub use metrics::{service_metrics, Metrics};
#[cfg(feature = "files")]
pub use read::{get_ticket, list_threads};
#[cfg(feature = "files")]
pub use status::{change_status, rate_ticket};
#[cfg(feature = "files")]
pub use threads::add_thread;
#[cfg(feature = "files")]
pub use update::update_ticket;
#[cfg(feature = "events")]
pub use webhooks::{
    admin_only, create_webhook, delete_webhook, deliver, fan_out, get_webhook, list_webhooks,
    redeliver, webhook_deliveries, DeliveryMessage, Outcome,
};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::cursor::Cursors;
#[cfg(feature = "files")]
use crate::error::ApiError;
#[cfg(feature = "files")]
use crate::files::Files;
use crate::store::Store;

/// Everything a function needs, built once at cold start.
#[derive(Clone)]
pub struct App {
    pub config: Config,
    pub store: Store,
    pub cursors: Cursors,
    /// The attachments bucket, where `BUCKET_NAME` is set (functions built with `files`).
    #[cfg(feature = "files")]
    pub files: Option<Files>,
}

impl App {
    /// The state of a function, and its connection to DynamoDB made (see [`App::connect`]).
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        let app = App::new(config, &sdk_config().await?);
        app.connect().await;
        Ok(app)
    }

    /// Connects to DynamoDB during init: the TLS handshake, the credentials and the endpoint
    /// are then done while Lambda gives init a whole vCPU, instead of on the first request at
    /// the function's share of one (docs/performance.md). `DescribeEndpoints` reads no table
    /// and DynamoDB answers it without authorization on its public endpoints; a failure only
    /// costs the first request the handshake, so it is logged, not fatal.
    pub async fn connect(&self) {
        let started = Instant::now();
        match self.store.connect().await {
            Ok(()) => tracing::info!(
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "connected during init"
            ),
            Err(e) => tracing::warn!(error = %e, "could not connect during init"),
        }
    }

    /// Also during init, what a function's first request would otherwise do once per
    /// instance (docs/performance.md): create-ticket remembers this month, list-tickets reads
    /// the first month. Failures are logged; the first request then does it.
    pub async fn prepare(&self, work: Prepare) {
        let done = match work {
            Prepare::ThisMonth => self.store.remember_this_month().await,
            Prepare::FirstMonth => self.store.read_first_month().await,
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, ?work, "could not prepare during init");
        }
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let client = aws_sdk_dynamodb::Client::new(sdk);
        let store = Store::new(
            client,
            config.table_name.clone(),
            config.counter_shards,
            config.sla.clone(),
        )
        .with_retention(config.retention_days);
        let cursors = Cursors::new(&config.cursor_secret);
        #[cfg(feature = "files")]
        let files = config
            .bucket_name
            .clone()
            .map(|bucket| Files::new(sdk, bucket, config.s3_path_style));
        App {
            config,
            store,
            cursors,
            #[cfg(feature = "files")]
            files,
        }
    }

    #[cfg(feature = "files")]
    pub(crate) fn files(&self) -> Result<&Files, ApiError> {
        self.files
            .as_ref()
            .ok_or_else(|| ApiError::Internal("BUCKET_NAME is not configured".into()))
    }
}

/// Once-per-instance work a function does during init ([`App::prepare`]).
#[derive(Clone, Copy, Debug)]
pub enum Prepare {
    ThisMonth,
    FirstMonth,
}

/// The shared SDK settings: one TLS stack (rustls + ring) trusting AWS's roots (`tls`), the
/// standard AWS settings (`AWS_ENDPOINT_URL` reaches a local emulator), and timeouts that
/// keep a slow dependency from holding a request until the function's own timeout (which
/// also makes the SDK's stalled-stream check, a timer on every response body, redundant).
pub async fn sdk_config() -> Result<aws_config::SdkConfig, Box<dyn std::error::Error + Send + Sync>>
{
    sdk_config_with(|name| std::env::var(name).ok()).await
}

/// [`sdk_config`] with the settings it reads (`AWS_CA_BUNDLE`, the credentials' names) taken
/// from `get`.
async fn sdk_config_with(
    get: impl Fn(&str) -> Option<String>,
) -> Result<aws_config::SdkConfig, Box<dyn std::error::Error + Send + Sync>> {
    let tls = crate::tls::context(&get)?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(tls)
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build();
    // Three attempts with a short first back-off: a failing dependency is reported well
    // inside the function's 10 s timeout instead of timing the invocation out.
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(1));
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(retries)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    // Lambda puts the role's credentials in the environment, where the default chain looks
    // first and finds them. Naming that provider leaves the rest of the chain unbuilt (profile
    // files, SSO, web identity with an STS client of its own and its endpoint rules parsed,
    // ECS, IMDS): 0.5 M of init's instructions (docs/performance.md, "Where init goes").
    // Anywhere else without them (a developer's profile), the default chain as before.
    let loader = if credentials_in_environment(&get) {
        loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
    } else {
        loader
    };
    Ok(loader.load().await)
}

/// Whether the environment holds credentials that the default chain's first provider (the
/// environment's) would take: an access key and a secret key (`SECRET_ACCESS_KEY` is its
/// fallback name), neither empty.
fn credentials_in_environment(get: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| get(name).is_some_and(|value| !value.trim().is_empty());
    set("AWS_ACCESS_KEY_ID") && (set("AWS_SECRET_ACCESS_KEY") || set("SECRET_ACCESS_KEY"))
}

/// The state of the event and webhook functions: the service and the outbound clients (bus,
/// queues, webhook HTTP), on one SDK configuration loaded once at cold start.
#[cfg(feature = "events")]
pub async fn app_with_outbound(
) -> Result<(App, crate::outbound::Outbound), Box<dyn std::error::Error + Send + Sync>> {
    let sdk = sdk_config().await?;
    let app = App::new(Config::from_env()?, &sdk);
    app.connect().await;
    let out = crate::outbound::Outbound::new(&sdk, app.config.webhooks.clone());
    Ok((app, out))
}

/// A DynamoDB client on the shared settings (tools and tests).
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await.expect("SDK settings"))
}

/// The answer to a request that creates something: what it made, where, and whether it is
/// the replay of an earlier try with the same `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub body: Value,
    pub location: String,
    pub etag: Option<u64>,
    pub replayed: bool,
}

/// A short random pause before retrying a contended transaction.
pub(crate) async fn back_off(attempt: usize) {
    let ms = 5 * (attempt as u64 + 1) + rand::random::<u64>() % 20;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_env as env;

    #[test]
    fn credentials_count_as_in_the_environment_only_with_both_keys_set() {
        let full = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        assert!(credentials_in_environment(env(&full)));
        let fallback = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("SECRET_ACCESS_KEY", "secret"),
        ];
        assert!(credentials_in_environment(env(&fallback)));
        assert!(!credentials_in_environment(env(&[(
            "AWS_ACCESS_KEY_ID",
            "AKID"
        )])));
        assert!(!credentials_in_environment(env(&[(
            "AWS_SECRET_ACCESS_KEY",
            "s"
        )])));
        let blank = [
            ("AWS_ACCESS_KEY_ID", " "),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        assert!(!credentials_in_environment(env(&blank)));
        let blank = [("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "")];
        assert!(!credentials_in_environment(env(&blank)));
        assert!(!credentials_in_environment(env(&[])));
    }

    #[tokio::test]
    async fn credentials_in_the_environment_leave_the_default_chain_unbuilt() {
        let lambda = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        let provider = |sdk: &aws_config::SdkConfig| format!("{:?}", sdk.credentials_provider());
        let sdk = sdk_config_with(env(&lambda)).await.unwrap();
        assert!(
            provider(&sdk).contains("EnvironmentVariableCredentialsProvider"),
            "{}",
            provider(&sdk)
        );
        assert!(!provider(&sdk).contains("DefaultCredentialsChain"));
        let elsewhere = sdk_config_with(env(&[])).await.unwrap();
        assert!(provider(&elsewhere).contains("DefaultCredentialsChain"));
    }
}
