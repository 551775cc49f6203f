//! The table's stream, filtered to ticket items that DynamoDB's TTL removed (a deleted
//! ticket whose grace period ended): each ticket's files and remaining items are purged, in
//! order. A failure answers with that record (partial batch failure): the stream delivers it
//! again, and the purge removes what is left.

use support_tickets::event::{removed_ticket, stream_failure, DynamoDbEventResponse, StreamEvent};
use support_tickets::service::purge_ticket;
use support_tickets::App;

pub async fn handle(app: &App, event: StreamEvent) -> DynamoDbEventResponse {
    let mut purged = 0;
    for (id, sequence) in event.records.iter().filter_map(removed_ticket) {
        match purge_ticket(app, &id).await {
            (removed, Ok(())) => {
                purged += 1;
                tracing::info!(ticket = %id, items = removed.items, files = removed.files, "ticket purged");
            }
            (removed, Err(e)) => {
                tracing::error!(ticket = %id, error = %e, items = removed.items, files = removed.files, "ticket not purged (all of it): delivered again");
                return stream_failure(Some(&sequence));
            }
        }
    }
    tracing::info!(records = event.records.len(), purged, "purge done");
    stream_failure(None)
}
