//! The table's stream (ticket and attachment items, by the event source's filter; anything
//! else is passed over here too): each committed change becomes the catalogue's events
//! (docs/events.md) on the event bus. A failure answers with the first change whose events
//! did not all go (partial batch failure): the stream delivers again from there, and the
//! events repeated then carry the same ids.

use support_tickets::event::{stream_changes, stream_failure, DynamoDbEventResponse, StreamEvent};
use support_tickets::outbound::Outbound;
use support_tickets::service::publish;
use support_tickets::App;

pub async fn handle(app: &App, out: &Outbound, event: StreamEvent) -> DynamoDbEventResponse {
    let changes = stream_changes(&event.records);
    match publish(app, out, &changes).await {
        Ok(report) => {
            tracing::info!(
                records = report.records,
                events = report.events,
                too_large = report.too_large,
                "events published"
            );
            stream_failure(None)
        }
        Err((at, e)) => {
            tracing::error!(error = ?e, failed_at = at, "events not all published");
            stream_failure(changes.get(at).map(|c| c.sequence.as_str()))
        }
    }
}
