//! `POST /v2/support-tickets/{id}/threads`: a reply or an internal note.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let body = http::json_object(&req)?;
        let idem = http::idempotency(&req, &caller, &format!("add-thread:{id}"), &body)?;
        let input = input::add_thread(body)?;
        let created = service::add_thread(&api.app, &caller, &id, input, idem).await?;
        Ok(Reply::from_created(created))
    })
    .await)
}
