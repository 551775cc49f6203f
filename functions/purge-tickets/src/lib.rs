//! The table's stream, filtered to ticket items that DynamoDB's TTL removed (a deleted
//! ticket whose grace period ended, or a closed one past the retention period): each
//! ticket's files and remaining items are purged, in order, and counted by reason in the
//! logs. A failure answers with that record (partial batch failure): the stream delivers it
//! again, and the purge removes what is left.

use support_tickets::domain::events::PurgeReason;
use support_tickets::event::{removed_ticket, stream_failure, DynamoDbEventResponse, StreamEvent};
use support_tickets::service::purge_ticket;
use support_tickets::App;

pub async fn handle(app: &App, event: StreamEvent) -> DynamoDbEventResponse {
    let (mut deleted, mut retention) = (0, 0);
    for removed in event.records.iter().filter_map(removed_ticket) {
        let id = &removed.ticket;
        let purge = purge_ticket(app, id).await;
        let went = purge.removed;
        match purge.result {
            Ok(()) => {
                if removed.reason == PurgeReason::Deleted {
                    deleted += 1;
                } else {
                    retention += 1;
                }
                tracing::info!(ticket = %id, reason = removed.reason.as_str(), items = went.items, files = went.files, "ticket purged");
            }
            Err(e) => {
                tracing::error!(ticket = %id, error = %e, items = went.items, files = went.files, "ticket not purged (all of it): delivered again");
                return stream_failure(Some(&removed.sequence));
            }
        }
    }
    tracing::info!(
        records = event.records.len(),
        deleted,
        retention,
        "tickets purged"
    );
    stream_failure(None)
}
