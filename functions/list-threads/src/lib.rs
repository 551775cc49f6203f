//! `GET /v2/support-tickets/{id}/threads`: the ticket's threads a page at a time, as the
//! caller may see them, each with its attachments.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let query = input::ThreadsQuery::parse(http::query_pairs(&req).iter().map(http::pair))?;
        let page = service::list_threads(&api.app, &caller, &id, query).await?;
        Ok(Reply::ok_with(page))
    })
    .await)
}
