//! Exports of a customer's data (docs/data-lifecycle.md):
//! - `POST /v2/exports`: a customer `{}` (their own data) or an admin `{"client": "<sub>"}`
//!   starts one (202, the job); agents 403;
//! - `GET /v2/exports/{id}`: the job, for whoever asked for it (404 for anyone else), with a
//!   download link once done.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::outbound::Outbound;
use support_tickets::{input, service, ApiError};

pub async fn handle(api: &Api, out: &Outbound, req: Request) -> Result<Response<Body>, Error> {
    let mut response = http::respond(&req, async {
        let caller = api.caller(&req)?;
        let id = req.path_parameters_ref().and_then(|p| p.first("id"));
        match (req.method(), id) {
            (&Method::POST, None) => {
                if caller.is_agent() && !caller.admin {
                    return Err(ApiError::Forbidden(
                        "only customers (their own data) and admins export".into(),
                    ));
                }
                let client = input::export_request(http::json_object(&req)?)?;
                let job = service::start_export(&api.app, out, &caller, client).await?;
                let location = format!("/v2/exports/{}", job["_id"].as_str().unwrap_or(""));
                Ok(Reply::created(job, location))
            }
            (&Method::GET, Some(id)) => Ok(Reply::ok(
                service::export_status(&api.app, &caller, id).await?,
            )),
            _ => Err(ApiError::ExportNotFound),
        }
    })
    .await;
    // The export is accepted, not done: 202.
    if req.method() == Method::POST && response.status() == StatusCode::CREATED {
        *response.status_mut() = StatusCode::ACCEPTED;
    }
    Ok(response)
}
