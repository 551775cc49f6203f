//! `GET /v2/support-tickets`: ticket summaries, newest first, a page at a time.

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let query = input::ListQuery::parse(http::query_pairs(&req).iter().map(http::pair))?;
        let page = service::list_tickets(&api.app, &caller, query).await?;
        Ok(Reply::ok_with(page))
    })
    .await)
}
