//! The HTTP edge shared by every API function, and the only user of lambda_http: who calls
//! (`auth`), reading bodies, ids and headers, the `{success, data}` envelope, and the one
//! mapping from [`ApiError`] to a response.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::time::Instant;

mod auth;
#[cfg(feature = "local-auth")]
mod local_auth;
mod strict;

pub use auth::Authenticator;

use crate::domain::{AttachmentId, Caller, TicketId};
use crate::error::ApiError;
use crate::idempotency::{self, Idempotency};
use crate::service::{App, Created};
use strict::{Strict, DUPLICATE};

/// What an HTTP function holds from its cold start: the service and how callers are known.
#[derive(Clone)]
pub struct Api {
    pub app: App,
    pub auth: Authenticator,
}

impl Api {
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let app = App::from_env().await?;
        let auth = Authenticator::new(&app.config.auth)?;
        Ok(Api { app, auth })
    }

    /// The caller of this request (401 when there is none).
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        self.auth.caller(req)
    }
}

pub const BODY_MAX: usize = 256 * 1024;

/// The id of this invocation, as `requestId` in errors and in the logs.
pub fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The body as a JSON object: size, media type and syntax checked, in that order.
pub fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > BODY_MAX {
        return Err(ApiError::PayloadTooLarge);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(map))) => Ok(map),
        Ok(_) => Err(ApiError::InvalidJson(
            "the request body must be a JSON object".into(),
        )),
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err(ApiError::InvalidJson(
            "the request body repeats a member name".into(),
        )),
        Err(_) => Err(ApiError::InvalidJson(
            "the request body is not valid JSON".into(),
        )),
    }
}

fn path_parameter<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.path_parameters_ref().and_then(|p| p.first(name))
}

/// The `{id}` path parameter; one that cannot be an id names no ticket (404).
pub fn ticket_id(req: &Request) -> Result<TicketId, ApiError> {
    path_parameter(req, "id")
        .and_then(TicketId::parse)
        .ok_or(ApiError::NotFound)
}

/// The `{attachmentId}` path parameter (404 when it cannot be one).
pub fn attachment_id(req: &Request) -> Result<AttachmentId, ApiError> {
    path_parameter(req, "attachmentId")
        .and_then(AttachmentId::parse)
        .ok_or(ApiError::NotFound)
}

/// `If-Match: "<version>"` (quotes optional, `W/` tolerated); anything else is not a version
/// this API ever issued, so it cannot match.
pub fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(raw) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::PreconditionFailed)?
        .trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| ApiError::PreconditionFailed)
}

/// The request's `Idempotency-Key`, bound to the caller, the operation and the body.
pub fn idempotency(
    req: &Request,
    caller: &Caller,
    operation: &str,
    body: &Map<String, Value>,
) -> Result<Option<Idempotency>, ApiError> {
    let Some(raw) = req.headers().get(idempotency::HEADER) else {
        return Ok(None);
    };
    let key = raw.to_str().map_err(|_| {
        ApiError::validation(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    })?;
    Idempotency::new(caller, operation, key, body).map(Some)
}

/// The query string as pairs, every value of a repeated name included.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.query_string_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the caller asked for CSV (`Accept: text/csv`); anything else is answered in JSON.
pub fn wants_csv(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// A query pair as the parsers take it.
pub fn pair((k, v): &(String, String)) -> (&str, &str) {
    (k.as_str(), v.as_str())
}

pub struct Reply {
    status: StatusCode,
    body: Value,
    /// A body other than JSON, with its media type (CSV reports).
    text: Option<(String, &'static str)>,
    headers: Vec<(header::HeaderName, String)>,
}

impl Reply {
    pub fn ok(data: Value) -> Self {
        Reply::with_status(StatusCode::OK, success(data))
    }

    pub fn created(data: Value, location: String) -> Self {
        Reply::with_status(StatusCode::CREATED, success(data)).header(header::LOCATION, location)
    }

    /// A success body with more top-level members than `data` (lists).
    pub fn ok_with(members: Map<String, Value>) -> Self {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(true));
        body.extend(members);
        Reply::with_status(StatusCode::OK, Value::Object(body))
    }

    fn with_status(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body,
            text: None,
            headers: Vec::new(),
        }
    }

    /// 200 with a CSV document (`text/csv; charset=utf-8`, RFC 4180).
    pub fn csv(document: String) -> Self {
        let mut reply = Reply::with_status(StatusCode::OK, Value::Null);
        reply.text = Some((document, "text/csv; charset=utf-8"));
        reply
    }

    pub fn header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn etag(self, version: u64) -> Self {
        self.header(header::ETAG, format!("\"{version}\""))
    }

    /// 201 with `Location`, the `ETag` if any, and `Idempotent-Replayed: true` on a replay.
    pub fn from_created(created: Created) -> Self {
        let mut reply = Reply::created(created.body, created.location);
        if let Some(v) = created.etag {
            reply = reply.etag(v);
        }
        if created.replayed {
            reply = reply.header(
                header::HeaderName::from_static("idempotent-replayed"),
                "true".into(),
            );
        }
        reply
    }

    fn into_response(self) -> Response<Body> {
        let (body, media_type) = match self.text {
            Some((text, media_type)) => (text, media_type),
            // Straight into bytes (`Value`'s Display goes through a formatter per token).
            None => (
                serde_json::to_string(&self.body).unwrap_or_default(),
                "application/json",
            ),
        };
        let mut res = Response::new(Body::Text(body));
        *res.status_mut() = self.status;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        res
    }
}

/// `{"success": true, "data": ...}`, the data moved in (`json!` would copy it whole).
fn success(data: Value) -> Value {
    let mut body = Map::with_capacity(2);
    body.insert("success".into(), Value::Bool(true));
    body.insert("data".into(), data);
    Value::Object(body)
}

pub fn error_reply(err: &ApiError, request_id: &str) -> Reply {
    let mut body = json!({
        "success": false,
        "error": err.message(),
        "code": err.code(),
        "requestId": request_id,
    });
    if let Some(details) = err.details() {
        body["details"] = json!(details);
    }
    let status =
        StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reply = Reply::with_status(status, body);
    match err {
        ApiError::Throttled => reply.header(header::RETRY_AFTER, "1".into()),
        ApiError::QuotaExceeded { retry_after } => {
            reply.header(header::RETRY_AFTER, retry_after.to_string())
        }
        _ => reply,
    }
}

/// Runs a handler body and turns its outcome into the response, logging one line per request
/// (never bodies or tokens) and the detail of internal errors, which the client never sees.
pub async fn respond<F>(req: &Request, work: F) -> Response<Body>
where
    F: Future<Output = Result<Reply, ApiError>>,
{
    let started = Instant::now();
    let request_id = request_id(req);
    let reply = match work.await {
        Ok(reply) => reply,
        Err(err) => {
            if let ApiError::Internal(detail) = &err {
                tracing::error!(request_id = %request_id, error = %detail, "request failed");
            }
            error_reply(&err, &request_id)
        }
    };
    let route = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        _ => None,
    };
    tracing::info!(
        request_id = %request_id,
        route = route.as_deref().unwrap_or("-"),
        method = %req.method(),
        path = %req.uri().path(),
        status = reply.status.as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    reply.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn post(content_type: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/v2/support-tickets");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(Body::Text(body.to_owned())).unwrap()
    }

    #[test]
    fn bodies_are_checked_for_size_type_and_syntax() {
        assert!(json_object(&post(Some("application/json"), "{}")).is_ok());
        assert!(json_object(&post(Some("Application/JSON; charset=utf-8"), "{}")).is_ok());
        assert_eq!(
            json_object(&post(Some("text/plain"), "{}")),
            Err(ApiError::UnsupportedMediaType)
        );
        assert_eq!(
            json_object(&post(None, "{}")),
            Err(ApiError::UnsupportedMediaType)
        );
        assert!(matches!(
            json_object(&post(Some("application/json"), "{\"a\":")),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            json_object(&post(Some("application/json"), "[1]")),
            Err(ApiError::InvalidJson(_))
        ));
        let mut binary = post(Some("application/json"), "");
        *binary.body_mut() = Body::Binary(vec![0xff, 0xfe, b'{', b'}']);
        assert!(matches!(
            json_object(&binary),
            Err(ApiError::InvalidJson(_))
        ));
        for dup in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": {"b": 1, "b": 1}}"#,
            r#"{"a": [{"c": 0, "c": 0}]}"#,
        ] {
            assert_eq!(
                json_object(&post(Some("application/json"), dup)),
                Err(ApiError::InvalidJson(
                    "the request body repeats a member name".into()
                )),
                "{dup}"
            );
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            json_object(&post(Some("application/json"), &deep)),
            Err(ApiError::InvalidJson(_))
        ));
        let huge = r#"{"size": 1e400}"#;
        assert!(matches!(
            json_object(&post(Some("application/json"), huge)),
            Err(ApiError::InvalidJson(_))
        ));
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(BODY_MAX));
        assert_eq!(
            json_object(&post(Some("application/json"), &big)),
            Err(ApiError::PayloadTooLarge)
        );
    }

    #[test]
    fn errors_have_the_contract_shape() {
        let reply = error_reply(&ApiError::validation("title", "is required"), "req-1");
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.body,
            json!({"success": false, "error": "title: is required", "code": "VALIDATION_ERROR",
                   "requestId": "req-1", "details": [{"field": "title", "message": "is required"}]})
        );
        let reply = error_reply(&ApiError::Throttled, "r");
        assert!(reply
            .headers
            .iter()
            .any(|(n, v)| n == header::RETRY_AFTER && v == "1"));
        let reply = error_reply(&ApiError::QuotaExceeded { retry_after: 17 }, "r");
        assert_eq!(reply.status, 429);
        assert_eq!(reply.body["code"], "QUOTA_EXCEEDED");
        assert!(reply
            .headers
            .iter()
            .any(|(n, v)| n == header::RETRY_AFTER && v == "17"));
    }
}
