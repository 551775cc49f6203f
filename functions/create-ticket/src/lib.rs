//! `POST /v2/support-tickets`: open a ticket; its description becomes the first thread.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let body = http::json_object(&req)?;
        let idem = http::idempotency(&req, &caller, "create-ticket", &body)?;
        let input = input::create_ticket(body)?;
        let created = service::create_ticket(&api.app, &caller, input, idem).await?;
        Ok(Reply::from_created(created))
    })
    .await)
}
