//! The table's stream (ticket items only, by the event source's filter; anything else is
//! passed over here too): every committed change of a ticket's status is added to its
//! customer's counts and the global ones, each delivery's batch once. A failure answers with
//! the first change not added (partial batch failure), so the stream delivers again from
//! there and nothing before it twice.

use support_tickets::event::{counted, stream_response, DynamoDbEventResponse, StreamEvent};
use support_tickets::service::{fold_changes, Counted};
use support_tickets::App;

pub async fn handle(app: &App, event: StreamEvent) -> DynamoDbEventResponse {
    let changes: Vec<Counted> = event.records.iter().filter_map(counted).collect();
    match fold_changes(app, &changes).await {
        Ok(report) => {
            tracing::info!(
                records = event.records.len(),
                folded = report.folded,
                replayed = report.replayed,
                batches = report.batches,
                "counts folded"
            );
            stream_response(None)
        }
        Err((at, e)) => {
            tracing::error!(error = %e, failed_at = at, "counts not folded");
            stream_response(changes.get(at))
        }
    }
}
