//! The end of a ticket's life:
//! - `PATCH /v2/support-tickets/{id}/status`: move a ticket through the status machine;
//! - `POST /v2/support-tickets/{id}/satisfaction`: its customer rates it once it is resolved
//!   (or closed at most `SATISFACTION_WINDOW_DAYS` ago), and may change the rating then.

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    let rating = req.method() == Method::POST
        && req
            .uri()
            .path()
            .trim_end_matches('/')
            .ends_with("/satisfaction");
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let if_match = http::if_match(&req)?;
        let (ticket, body) = if rating {
            let input = input::rate(http::json_object(&req)?)?;
            service::rate_ticket(&api.app, &caller, &id, input, if_match).await?
        } else {
            let input = input::change_status(http::json_object(&req)?)?;
            service::change_status(&api.app, &caller, &id, input, if_match).await?
        };
        Ok(Reply::ok(body).etag(ticket.version))
    })
    .await)
}
