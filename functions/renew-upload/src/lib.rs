//! `POST /v2/support-tickets/{id}/attachments/{attachmentId}/upload`: a fresh presigned upload
//! for an attachment still pending, for the ticket's owner or an agent.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Reply};
use support_tickets::{service, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = app.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let attachment = http::path_id(&req, "attachmentId")?;
        Ok(Reply::ok(
            service::renew_upload(app, &caller, &id, &attachment).await?,
        ))
    })
    .await)
}
