//! The export queue (docs/data-lifecycle.md): each message is one export job, its archive
//! written in one go. A job that fails is named in the answer (partial batch failure) and
//! handed over again after the queue's visibility timeout; its last try marks it failed.

use support_tickets::event::{queue_response, SqsBatchResponse, SqsEvent};
use support_tickets::service::run_export;
use support_tickets::App;

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        let received = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let body = message.body.unwrap_or_default();
        if let Err(e) = run_export(app, &body, received).await {
            tracing::error!(error = ?e, message = %id, "export failed: handed over again");
            failed.push(id);
        }
    }
    queue_response(failed)
}
