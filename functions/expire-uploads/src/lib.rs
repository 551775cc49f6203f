//! The EventBridge schedule (every hour): attachments still pending 24 hours after they were
//! declared (as of the event's `time`) become `expired` and give their bytes back to their
//! ticket's budget.

use serde_json::Value;
use support_tickets::{service, App};

pub async fn handle(app: &App, event: Value) -> Result<Value, lambda_runtime::Error> {
    let now = service::scheduled_time(&event);
    let report = service::expire_uploads(app, now)
        .await
        .map_err(|e| format!("expiring uploads failed: {e:?}"))?;
    tracing::info!(expired = report.expired.len(), "upload expiry run");
    Ok(serde_json::to_value(report)?)
}
