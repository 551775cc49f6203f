//! `POST /v2/support-tickets/{id}/attachments/{attachmentId}/upload`: a fresh presigned upload
//! for an attachment still pending, for the ticket's owner or an agent.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::service;

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let attachment = http::attachment_id(&req)?;
        let renewed = service::renew_upload(&api.app, &caller, &id, &attachment).await?;
        Ok(Reply::ok(renewed))
    })
    .await)
}
