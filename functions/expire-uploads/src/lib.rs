//! The EventBridge schedule (every hour): attachments still pending 24 hours after they were
//! declared (as of the event's `time`) become `expired` and give their bytes back to their
//! ticket's budget.

use serde_json::Value;
use support_tickets::event::{scheduled_time, EventBridgeEvent, EventError};
use support_tickets::{service, App};

pub async fn handle(app: &App, event: EventBridgeEvent) -> Result<Value, EventError> {
    let report = service::expire_uploads(app, scheduled_time(&event))
        .await
        .map_err(|e| EventError::new("upload expiry run", e))?;
    tracing::info!(expired = report.expired.len(), "upload expiry run");
    Ok(serde_json::to_value(report).unwrap_or_default())
}
