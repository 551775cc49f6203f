//! The EventBridge schedule (every 5 minutes): escalate tickets whose first response is
//! overdue as of the event's `time`, so a run is decided by its schedule, not by when it ran.

use serde_json::Value;
use support_tickets::{service, App};

pub async fn handle(app: &App, event: Value) -> Result<Value, lambda_runtime::Error> {
    let now = service::scheduled_time(&event);
    let report = service::escalate_breached(app, now)
        .await
        .map_err(|e| format!("escalation failed: {e:?}"))?;
    tracing::info!(
        breached = report.breached,
        escalated = report.escalated.len(),
        "escalation run"
    );
    Ok(serde_json::to_value(report)?)
}
