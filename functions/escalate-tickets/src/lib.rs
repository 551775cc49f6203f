//! The EventBridge schedule (every 5 minutes): escalate tickets whose first response is
//! overdue as of the event's `time`, so a run is decided by its schedule, not by when it ran.

use serde_json::Value;
use support_tickets::event::{scheduled_time, EventBridgeEvent, EventError};
use support_tickets::{service, App};

pub async fn handle(app: &App, event: EventBridgeEvent) -> Result<Value, EventError> {
    let report = service::escalate_breached(app, scheduled_time(&event))
        .await
        .map_err(|e| EventError::new("escalation run", e))?;
    tracing::info!(
        breached = report.breached,
        escalated = report.escalated.len(),
        "escalation run"
    );
    Ok(serde_json::to_value(report).unwrap_or_default())
}
