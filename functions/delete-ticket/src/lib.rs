//! Admins only (others 403; customers 404 for tickets that are not theirs):
//! - `DELETE /v2/support-tickets/{id}`: the ticket is hidden everywhere at once and purged
//!   after the grace period unless restored;
//! - `POST /v2/support-tickets/{id}/restore`: brings a deleted ticket back as it was.

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::service;

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = http::ticket_id(&req)?;
        if req.method() == Method::DELETE {
            Ok(Reply::ok(
                service::delete_ticket(&api.app, &caller, &id).await?,
            ))
        } else {
            Ok(Reply::ok(
                service::restore_ticket(&api.app, &caller, &id).await?,
            ))
        }
    })
    .await)
}
