//! `GET /v2/support-tickets/{id}/threads`: the ticket's threads a page at a time, as the
//! caller may see them, each with its attachments.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Reply};
use support_tickets::input::ThreadsQuery;
use support_tickets::{service, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = app.caller(&req)?;
        let id = http::ticket_id(&req)?;
        let pairs = http::query_pairs(&req);
        let query = ThreadsQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(Reply::ok_with(
            service::list_threads(app, &caller, &id, query).await?,
        ))
    })
    .await)
}
