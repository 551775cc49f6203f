//! `GET /v2/support-tickets/{id}`: the ticket with its threads, as the caller may see it.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Reply};
use support_tickets::{service, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = app.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let (ticket, body) = service::get_ticket(app, &caller, &id).await?;
        Ok(Reply::ok(body).etag(ticket.version))
    })
    .await)
}
