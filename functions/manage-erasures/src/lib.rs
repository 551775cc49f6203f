//! Admins only (anyone else 403, before the body is read):
//! - `POST /v2/erasures` `{"client": "<sub>"}`: starts erasing everything of that customer's
//!   (202, the job);
//! - `GET /v2/erasures/{id}`: the job's state and what it removed; once done, its receipt.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::outbound::Outbound;
use support_tickets::{input, service, ApiError};

pub async fn handle(api: &Api, out: &Outbound, req: Request) -> Result<Response<Body>, Error> {
    let mut response = http::respond(&req, async {
        let caller = api.caller(&req)?;
        if !caller.admin {
            return Err(ApiError::Forbidden(
                "only members of the admins group erase customers".into(),
            ));
        }
        let id = req.path_parameters_ref().and_then(|p| p.first("id"));
        match (req.method(), id) {
            (&Method::POST, None) => {
                let client = input::data_subject(http::json_object(&req)?)?;
                let job = service::start_erasure(&api.app, out, &caller, client).await?;
                let location = format!("/v2/erasures/{}", job["_id"].as_str().unwrap_or(""));
                Ok(Reply::created(job, location))
            }
            (&Method::GET, Some(id)) => Ok(Reply::ok(
                service::erasure_status(&api.app, &caller, id).await?,
            )),
            _ => Err(ApiError::ErasureNotFound),
        }
    })
    .await;
    // The erasure is accepted, not done: 202.
    if req.method() == Method::POST && response.status() == StatusCode::CREATED {
        *response.status_mut() = StatusCode::ACCEPTED;
    }
    Ok(response)
}
