//! `PATCH /v2/support-tickets/{id}/status`: move a ticket through the status machine.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let input = input::change_status(http::json_object(&req)?)?;
        let if_match = http::if_match(&req)?;
        let (ticket, body) =
            service::change_status(&api.app, &caller, &id, input, if_match).await?;
        Ok(Reply::ok(body).etag(ticket.version))
    })
    .await)
}
