//! The erasure queue (docs/data-lifecycle.md): each message is one step of an erasure job. A
//! step that fails is named in the answer (partial batch failure): the queue hands it over
//! again after its visibility timeout, and the step starts from what is left.

use support_tickets::event::{queue_response, SqsBatchResponse, SqsEvent};
use support_tickets::outbound::Outbound;
use support_tickets::service::erase_step;
use support_tickets::App;

pub async fn handle(app: &App, out: &Outbound, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        let body = message.body.unwrap_or_default();
        if let Err(e) = erase_step(app, out, &body).await {
            tracing::error!(error = ?e, message = %id, "erasure step failed: handed over again");
            failed.push(id);
        }
    }
    queue_response(failed)
}
