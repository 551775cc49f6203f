//! `POST /v2/support-tickets`: open a ticket; its description becomes the first thread.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Reply};
use support_tickets::input::CreateTicket;
use support_tickets::{service, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = app.caller(&req)?;
        let body = http::json_object(&req)?;
        let idem = http::idempotency(&req, &caller, "create-ticket", &body)?;
        let input = CreateTicket::parse(body)?;
        let created = service::create_ticket(app, &caller, input, idem).await?;
        Ok(Reply::from_created(created))
    })
    .await)
}
