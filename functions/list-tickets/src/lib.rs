//! `GET /v2/support-tickets`: ticket summaries, newest first, a page at a time.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Reply};
use support_tickets::input::ListQuery;
use support_tickets::{service, App};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = app.caller(&req)?;
        let pairs = http::query_pairs(&req);
        let query = ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        Ok(Reply::ok_with(
            service::list_tickets(app, &caller, query).await?,
        ))
    })
    .await)
}
