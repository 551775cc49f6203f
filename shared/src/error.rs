//! The errors callers branch on, and their one mapping to status codes and contract codes.
//!
//! `Internal` keeps its cause as text, not as a `source()`: it carries the context the cause
//! was met in (`"transact write: TransactionCanceledException: ..."`), it is logged once at the
//! edge (`http::respond`) and never sent, and `ApiError` stays `Clone + PartialEq` for the
//! tests that compare outcomes. The event functions' errors (`service::EventError`) keep theirs.

use crate::domain::rules::{Refusal, TICKET_ATTACHMENT_BYTES_MAX};
use crate::domain::{names, Status};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("the request body is not valid")]
    Validation(Vec<FieldError>),
    #[error("the query parameters are not valid")]
    InvalidParameters(Vec<FieldError>),
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    #[error("authentication is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("support ticket not found")]
    NotFound,
    #[error("webhook subscription not found")]
    WebhookNotFound,
    #[error("no delivery of that event to this webhook")]
    DeliveryNotFound,
    #[error("erasure not found")]
    ErasureNotFound,
    #[error("export not found")]
    ExportNotFound,
    #[error("as many webhook subscriptions exist as a deployment keeps ({0}); delete one first")]
    WebhookLimit(usize),
    #[error("a ticket cannot move from {from} to {to}")]
    InvalidTransition {
        from: Status,
        to: Status,
        allowed: Vec<Status>,
    },
    #[error("the ticket is closed and takes no more threads")]
    TicketClosed,
    #[error("{0}")]
    NotRateable(String),
    #[error("the ticket was changed by another request; read it again and retry")]
    Conflict,
    #[error("the ticket holds the most threads it can take; open a new ticket")]
    ThreadLimit,
    #[error("the attachment is no longer waiting for its upload (uploaded, rejected or expired after 24 hours); declare it again")]
    NotPending,
    #[error("the ticket's version does not match If-Match")]
    PreconditionFailed,
    #[error("the request body is larger than 256 KiB")]
    PayloadTooLarge,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("too many requests; retry later")]
    Throttled,
    #[error("this caller has made as many writes as a minute allows; retry after the minute")]
    QuotaExceeded { retry_after: u64 },
    /// The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Forbidden(why) => ApiError::Forbidden(why.to_owned()),
            Refusal::InvalidTransition { from, to, allowed } => {
                ApiError::InvalidTransition { from, to, allowed }
            }
            Refusal::TicketClosed => ApiError::TicketClosed,
            Refusal::NotRateable(why) => ApiError::NotRateable(why),
            Refusal::Purged => ApiError::NotFound,
            Refusal::AttachmentBytes { left } => ApiError::validation(
                "attachments",
                format!(
                    "a ticket holds at most {} MiB of attachments; {left} bytes are left",
                    TICKET_ATTACHMENT_BYTES_MAX / (1024 * 1024)
                ),
            ),
        }
    }
}

impl ApiError {
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        ApiError::Internal(format!("{context}: {err}"))
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn parameter(field: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidParameters(vec![FieldError::new(field, message)])
    }

    pub fn status_code(&self) -> u16 {
        use ApiError::*;
        match self {
            InvalidJson(_) | Validation(_) | InvalidParameters(_) | InvalidCursor => 400,
            Unauthorized => 401,
            Forbidden(_) => 403,
            NotFound | WebhookNotFound | DeliveryNotFound | ErasureNotFound | ExportNotFound => 404,
            InvalidTransition { .. }
            | TicketClosed
            | Conflict
            | ThreadLimit
            | NotPending
            | NotRateable(_)
            | WebhookLimit(_) => 409,
            PreconditionFailed => 412,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            IdempotencyKeyReused => 422,
            Throttled | QuotaExceeded { .. } => 429,
            Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidJson(_) => "INVALID_JSON",
            Validation(_) => "VALIDATION_ERROR",
            InvalidParameters(_) => "INVALID_PARAMETERS",
            InvalidCursor => "INVALID_CURSOR",
            Unauthorized => "UNAUTHORIZED",
            Forbidden(_) => "FORBIDDEN",
            NotFound => "SUPPORT_TICKET_NOT_FOUND",
            WebhookNotFound => "WEBHOOK_NOT_FOUND",
            DeliveryNotFound => "DELIVERY_NOT_FOUND",
            ErasureNotFound => "ERASURE_NOT_FOUND",
            ExportNotFound => "EXPORT_NOT_FOUND",
            WebhookLimit(_) => "WEBHOOK_LIMIT",
            InvalidTransition { .. } => "INVALID_TRANSITION",
            TicketClosed => "TICKET_CLOSED",
            NotRateable(_) => "NOT_RATEABLE",
            Conflict | NotPending => "CONFLICT",
            ThreadLimit => "THREAD_LIMIT",
            PreconditionFailed => "PRECONDITION_FAILED",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Throttled => "THROTTLED",
            QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The human sentence sent as `error`: for field errors, the first field's message, so a
    /// client that shows only `error` still says what to fix.
    pub fn message(&self) -> String {
        match self {
            ApiError::Validation(d) | ApiError::InvalidParameters(d) if !d.is_empty() => {
                format!("{}: {}", d[0].field, d[0].message)
            }
            _ => self.to_string(),
        }
    }

    pub fn details(&self) -> Option<Vec<FieldError>> {
        match self {
            ApiError::Validation(d) | ApiError::InvalidParameters(d) => Some(d.clone()),
            ApiError::InvalidTransition { allowed, .. } => Some(vec![FieldError::new(
                "status",
                if allowed.is_empty() {
                    "no transitions are allowed from this status".to_string()
                } else {
                    format!("allowed: {}", names(allowed))
                },
            )]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing_internal() {
        let e = ApiError::internal("dynamodb", "ResourceNotFoundException: table tickets-dev");
        assert_eq!(e.status_code(), 500);
        assert_eq!(e.message(), "internal error");
        assert!(e.details().is_none());
    }

    #[test]
    fn field_errors_name_the_field_in_the_sentence() {
        let e = ApiError::validation("title", "must not be empty");
        assert_eq!(e.message(), "title: must not be empty");
        assert_eq!(e.code(), "VALIDATION_ERROR");
    }
}
