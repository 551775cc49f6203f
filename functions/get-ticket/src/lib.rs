//! `GET /v2/support-tickets/{id}`: the ticket with its threads, as the caller may see it.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::service;

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let (ticket, body) = service::get_ticket(&api.app, &caller, &id).await?;
        Ok(Reply::ok(body).etag(ticket.version))
    })
    .await)
}
