//! The admins' webhook API (members of the `admins` group only; anyone else gets 403):
//! - `POST /v2/webhooks`: subscribe (`url`, `events`, `includeInternal`); the answer holds the
//!   signing secret, shown this once;
//! - `GET /v2/webhooks`, `GET /v2/webhooks/{id}`, `DELETE /v2/webhooks/{id}`;
//! - `GET /v2/webhooks/{id}/deliveries`: the latest attempts, newest first;
//! - `POST /v2/webhooks/{id}/deliveries/{eventId}/redeliver`: send an event again.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::{Map, Value};
use support_tickets::http::{self, Api, Reply};
use support_tickets::outbound::Outbound;
use support_tickets::{input, service, ApiError};

fn parameter<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.path_parameters_ref().and_then(|p| p.first(name))
}

pub async fn handle(api: &Api, out: &Outbound, req: Request) -> Result<Response<Body>, Error> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let response = http::respond(&req, async {
        let caller = api.caller(&req)?;
        service::admin_only(&caller)?;
        let app = &api.app;
        let id = parameter(&req, "id");
        let event = parameter(&req, "eventId");
        match (req.method(), id, event) {
            (&Method::POST, None, None) => {
                let new = input::new_webhook(http::json_object(&req)?, &app.config.webhooks.urls)?;
                let created = service::create_webhook(app, &caller, new).await?;
                let location = format!("/v2/webhooks/{}", created["_id"].as_str().unwrap_or(""));
                Ok(Reply::created(created, location))
            }
            (&Method::GET, None, None) => {
                let list = service::list_webhooks(app, &caller).await?;
                Ok(Reply::ok_with(Map::from_iter([("data".to_owned(), list)])))
            }
            (&Method::GET, Some(id), None) if path.ends_with("/deliveries") => {
                let attempts = service::webhook_deliveries(app, &caller, id).await?;
                Ok(Reply::ok_with(Map::from_iter([(
                    "data".to_owned(),
                    attempts,
                )])))
            }
            (&Method::GET, Some(id), None) => {
                Ok(Reply::ok(service::get_webhook(app, &caller, id).await?))
            }
            (&Method::DELETE, Some(id), None) => {
                service::delete_webhook(app, &caller, id).await?;
                Ok(Reply::ok(Value::Null))
            }
            (&Method::POST, Some(id), Some(event)) => {
                let queued = service::redeliver(app, out, &caller, id, event).await?;
                Ok(Reply::ok(queued))
            }
            _ => Err(ApiError::NotFound),
        }
    })
    .await;
    // A redelivery is accepted, not done: 202.
    let mut response = response;
    if req.method() == Method::POST
        && path.ends_with("/redeliver")
        && response.status() == StatusCode::OK
    {
        *response.status_mut() = StatusCode::ACCEPTED;
    }
    Ok(response)
}
