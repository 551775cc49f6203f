//! Two queues feed this function (docs/events.md):
//! - the events queue, which the bus's rule fills with every event: each is fanned out to
//!   the subscriptions that want it (a delivery recorded and a message queued for each);
//! - the delivery queue: one message per subscription and event. Each is tried once per
//!   hand-over, all of a batch at once; a failed try hides its message until the next try
//!   of the retry schedule (the queue hands it over again then), and the last one parks it
//!   in the dead-letter queue.
//!
//! The answer names the messages to hand over again (partial batch failure).

use serde_json::Value;
use support_tickets::event::{queue_response, SqsBatchResponse, SqsEvent, SqsMessage};
use support_tickets::outbound::Outbound;
use support_tickets::service::{deliver, fan_out, Outcome};
use support_tickets::App;
use tokio::task::JoinSet;

/// What a message is: an event from the bus (its envelope has `detail-type`), or a
/// delivery.
fn bus_event(body: &str) -> Option<Value> {
    let envelope: Value = serde_json::from_str(body).ok()?;
    envelope.get("detail-type")?;
    Some(envelope.get("detail")?.clone())
}

pub async fn handle(app: &App, out: &Outbound, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    let mut tries = JoinSet::new();
    // The batch's bus events are fanned out together: the subscriptions are read once.
    let mut fanned: Vec<(String, Value)> = Vec::new();
    for message in event.records {
        let SqsMessage {
            message_id,
            body,
            receipt_handle,
            attributes,
            ..
        } = message;
        let (id, body) = (message_id.unwrap_or_default(), body.unwrap_or_default());
        if let Some(detail) = bus_event(&body) {
            fanned.push((id, detail));
            continue;
        }
        let received = attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let (app, out) = (app.clone(), out.clone());
        let receipt = receipt_handle.unwrap_or_default();
        tries.spawn(async move {
            let outcome = deliver(&app, &out, &body, received, &receipt).await;
            (id, outcome)
        });
    }
    if !fanned.is_empty() {
        let events: Vec<Value> = fanned.iter().map(|(_, e)| e.clone()).collect();
        if let Err(e) = fan_out(app, out, &events).await {
            // All of them again: a fan-out repeated records nothing twice.
            tracing::error!(error = ?e, events = events.len(), "events not fanned out");
            failed.extend(fanned.into_iter().map(|(id, _)| id));
        }
    }
    while let Some(done) = tries.join_next().await {
        match done {
            Ok((_, Ok(Outcome::Done | Outcome::Parked))) => {}
            Ok((id, Ok(Outcome::Later))) => failed.push(id),
            Ok((id, Err(e))) => {
                tracing::error!(error = ?e, message = %id, "delivery not tried");
                failed.push(id);
            }
            Err(e) => tracing::error!(error = %e, "a delivery task failed"),
        }
    }
    queue_response(failed)
}
