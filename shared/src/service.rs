//! The operations: authorization, the rules of the model, and the store, put together.
//! Handlers call these and only shape the HTTP answer. The operations that need the bucket
//! live in `tickets` (feature `files`) and are re-exported here.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::BehaviorVersion;
use serde_json::{json, Map, Value};
use std::time::Duration;

use crate::auth::Caller;
use crate::config::Config;
use crate::cursor::Cursors;
use crate::error::ApiError;
#[cfg(feature = "files")]
use crate::files::Files;
use crate::input::ListQuery;
use crate::model::{priority_message, timestamp, Thread, ThreadType};
use crate::store::{plan_list, Store, TicketWrite, WriteError};
#[cfg(feature = "files")]
pub use crate::tickets::*;
use chrono::{DateTime, Utc};

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
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_env()?;
        Ok(App::new(config, &sdk_config().await))
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let client = aws_sdk_dynamodb::Client::new(sdk);
        let store = Store::new(
            client,
            config.table_name.clone(),
            config.counter_shards,
            config.sla.clone(),
        );
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

    pub fn caller(&self, req: &lambda_http::Request) -> Result<Caller, ApiError> {
        self.config.authenticator.caller(req)
    }

    #[cfg(feature = "files")]
    pub(crate) fn files(&self) -> Result<&Files, ApiError> {
        self.files
            .as_ref()
            .ok_or_else(|| ApiError::Internal("BUCKET_NAME is not configured".into()))
    }
}

/// The shared SDK settings: one TLS stack (rustls + ring), the standard AWS settings
/// (`AWS_ENDPOINT_URL` reaches a local emulator), and timeouts that keep a slow dependency
/// from holding a request until the function's own timeout.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
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
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

/// Writes without an idempotency record cannot fail on one.
pub(crate) fn no_idempotency_here() -> ApiError {
    ApiError::Internal("idempotency conflict on a write without a key".into())
}

/// The time a scheduled event was due (its `time`), so a run is decided by its schedule,
/// not by when it ran; now when the event has none.
pub fn scheduled_time(event: &serde_json::Value) -> DateTime<Utc> {
    event
        .get("time")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

/// How long a declared attachment may stay pending before it expires and gives its bytes
/// back to the ticket's budget.
pub const UPLOAD_WINDOW_HOURS: i64 = 24;
/// Attachments one sweep expires at most (the next hourly run takes the rest).
const EXPIRE_BATCH: usize = 500;
/// Days of declarations a sweep looks back over (past the first 24 h): room for sweeps that
/// failed.
const EXPIRE_LOOKBACK_DAYS: i64 = 7;

/// What one sweep of uploads that never came did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    /// Ids of the attachments now `expired`.
    pub expired: Vec<String>,
}

/// Every attachment still pending 24 hours after it was declared becomes `expired`, and its
/// bytes leave the ticket's 100 MiB budget. Reads only the sparse pending index, newest days
/// last.
pub async fn expire_uploads(app: &App, now: DateTime<Utc>) -> Result<Expiry, ApiError> {
    let cutoff = now - chrono::Duration::hours(UPLOAD_WINDOW_HOURS);
    let days: Vec<String> = (0..=EXPIRE_LOOKBACK_DAYS)
        .rev()
        .map(|d| {
            (cutoff - chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let candidates = app
        .store
        .pending_before(&timestamp(cutoff), &days, EXPIRE_BATCH)
        .await?;
    let mut report = Expiry::default();
    for a in candidates {
        if app.store.expire_attachment(&a).await? {
            report.expired.push(a.id);
        }
    }
    Ok(report)
}

/// What one run of the automatic escalation did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalation {
    /// Breached tickets found in the escalation index.
    pub breached: usize,
    /// Ids of the tickets whose priority was raised.
    pub escalated: Vec<String>,
}

/// Raises by one level the priority of every ticket whose first response was due before
/// `now` and has not come, once per ticket (it then leaves the escalation index), with a
/// system thread. Reads only the breached part of the sparse escalation index.
pub async fn escalate_breached(app: &App, now: DateTime<Utc>) -> Result<Escalation, ApiError> {
    let at = timestamp(now);
    let candidates = app.store.escalation_candidates(&at).await?;
    let mut report = Escalation {
        breached: candidates.len(),
        ..Escalation::default()
    };
    for seen in candidates {
        // Re-read: the index is eventually consistent, and the ticket may have moved.
        let Some(ticket) = app.store.ticket(&seen.id).await? else {
            continue;
        };
        let breached = crate::sla::clocks(&ticket, &app.config.sla, now)
            .is_some_and(|c| c.first_response_breached);
        let Some(raised) = ticket.priority.raised() else {
            continue;
        };
        if !breached || ticket.first_response_at.is_some() || ticket.escalated_at.is_some() {
            continue;
        }
        let mut after = ticket.clone();
        after.priority = raised;
        after.escalated_at = Some(at.clone());
        after.updated_at = at.clone();
        after.version += 1;
        after.thread_count += 1;
        after.public_thread_count += 1;
        let note = Thread::new(
            "system",
            format!(
                "{} (first response overdue)",
                priority_message(ticket.priority, raised)
            ),
            ThreadType::System,
            false,
            &at,
        );
        let write = TicketWrite {
            after: &after,
            fields: &["priority", "escalatedAt", "updatedAt"],
            threads: (1, 1),
            first_response: None,
            expect_status: ticket.status,
            expect_version: Some(ticket.version),
            attachment_bytes: 0,
            thread_limit: None,
        };
        match app.store.update(&write, &[&note], &[], None, None).await {
            Ok(()) => report.escalated.push(ticket.id.clone()),
            // Changed meanwhile (answered, reprioritised): the next run decides again.
            Err(WriteError::Changed | WriteError::Contended) => {}
            Err(WriteError::Duplicate) => return Err(no_idempotency_here()),
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    Ok(report)
}

/// The digest input a cursor is bound to: who asked, as what, with which filters.
fn cursor_scope(caller: &Caller, query: &ListQuery) -> String {
    format!(
        "{}\n{:?}\n{:?}\n{:?}",
        caller.sub, caller.role, query.filters, query.sort
    )
}

/// A page of tickets, with `pagination` and (on request) `counts`.
pub async fn list_tickets(
    app: &App,
    caller: &Caller,
    query: ListQuery,
) -> Result<Map<String, Value>, ApiError> {
    let plan = plan_list(caller, &query.filters, query.sort)?;
    let scope = cursor_scope(caller, &query);
    let after = match &query.cursor {
        Some(c) => Some(app.cursors.open(&scope, c)?),
        None => None,
    };
    // `page=N` passes over the (N-1) × limit tickets before it within the same read budget
    // (bounded by the parser); a walk cut short by the budget continues through the cursor.
    let skip = (query.page.unwrap_or(1) - 1) * query.limit;
    let page = app.store.list(&plan, after, skip, query.limit);
    let counts = async {
        if query.count_by_status {
            app.store.counts(caller).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (page, counts) = tokio::join!(page, counts);
    let (tickets, next) = page?;
    let now = chrono::Utc::now();
    let mut pagination = json!({
        "limit": query.limit,
        "hasMore": next.is_some(),
        "nextCursor": next.map(|n| app.cursors.seal(&scope, &n)),
    });
    if let Some(p) = query.page {
        pagination["page"] = json!(p);
    }
    let mut out = Map::new();
    out.insert(
        "data".into(),
        Value::Array(
            tickets
                .iter()
                .map(|t| t.summary_for(caller, &app.config.sla, now))
                .collect(),
        ),
    );
    out.insert("pagination".into(), pagination);
    if let Some(c) = counts? {
        out.insert("counts".into(), json!(c));
    }
    Ok(out)
}
