//! `PATCH /v2/support-tickets/{id}`: assignment, priority, category, tags, title (agents).

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Reply};
use support_tickets::input::UpdateTicket;
use support_tickets::{service, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = app.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let input = UpdateTicket::parse(http::json_object(&req)?)?;
        let if_match = http::if_match(&req)?;
        let (ticket, body) = service::update_ticket(app, &caller, &id, input, if_match).await?;
        Ok(Reply::ok(body).etag(ticket.version))
    })
    .await)
}
