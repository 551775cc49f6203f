//! The edge of the event functions (S3 notifications, EventBridge schedules, the table's
//! stream): what their events mean to the service, and how their failures reach Lambda. An error's `errorType` says whether delivering the event again can
//! help (`Retryable`: a dependency failed or throttled; S3 and EventBridge retry asynchronous
//! invocations) or not (`Permanent`: the event itself is wrong), and keeps its cause.

use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;

use crate::error::ApiError;

pub use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord as StreamRecord};
pub use aws_lambda_events::eventbridge::EventBridgeEvent;
pub use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
pub use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::domain::counts::Move;
use crate::domain::Timestamp;
use crate::service::Counted;
use crate::store::{ticket_image, ticket_status};

/// A stream record as a change the counts see: only ticket items count, and only their
/// status and customer (none for threads, attachments and the service's own items).
pub fn counted(record: &StreamRecord) -> Option<Counted> {
    let change = &record.change;
    let before = ticket_status(&change.keys, &change.old_image);
    let after = ticket_status(&change.keys, &change.new_image);
    let client = after.as_ref().or(before.as_ref())?.0.clone();
    let tickets = match (
        ticket_image(&change.keys, &change.old_image),
        ticket_image(&change.keys, &change.new_image),
    ) {
        (Ok(b), Ok(a)) => Some((b.map(Box::new), a.map(Box::new))),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(event = %record.event_id, error = %e, "a ticket image that cannot be read: counted, not in the metrics");
            None
        }
    };
    Some(Counted {
        event_id: record.event_id.clone(),
        sequence: change.sequence_number.clone().unwrap_or_default(),
        at: Timestamp::at(change.approximate_creation_date_time),
        change: Move {
            client,
            from: before.map(|(_, s)| s),
            to: after.map(|(_, s)| s),
        },
        tickets,
    })
}

/// Whether the record is of DynamoDB's TTL removing an expired item (AWS marks those with the
/// service as the record's `userIdentity`).
pub fn by_ttl(record: &StreamRecord) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|u| u.principal_id == "dynamodb.amazonaws.com")
}

/// A ticket whose item a stream record shows removed: its id, the record's sequence number,
/// and why (`deleted`: its deletion's grace ended; `retention`: it was closed longer than
/// the deployment keeps closed tickets).
pub struct Removed {
    pub ticket: crate::domain::TicketId,
    pub sequence: String,
    pub reason: crate::domain::events::PurgeReason,
}

/// The ticket whose item a stream record shows removed; none for any other record.
pub fn removed_ticket(record: &StreamRecord) -> Option<Removed> {
    let change = &record.change;
    if !change.new_image.is_empty() {
        return None;
    }
    let keys: crate::store::Item = change.keys.clone().into();
    let pk = keys.get(crate::store::PK)?.as_s().ok()?;
    let sk = keys.get(crate::store::SK)?.as_s().ok()?;
    if sk != "TICKET" {
        return None;
    }
    let ticket = crate::domain::TicketId::parse(pk.strip_prefix("TICKET#")?)?;
    let deleted = change
        .old_image
        .get(crate::domain::Field::Deletion.attribute())
        .is_some_and(|v| !matches!(v, serde_dynamo::AttributeValue::Null(_)));
    Some(Removed {
        ticket,
        sequence: change.sequence_number.clone().unwrap_or_default(),
        reason: if deleted {
            crate::domain::events::PurgeReason::Deleted
        } else {
            crate::domain::events::PurgeReason::Retention
        },
    })
}

/// The answer to a stream delivery: none failed, or the sequence number of the first change
/// that was not added (the stream delivers again from there, and the changes before it are
/// not delivered again).
pub fn stream_response(failed_at: Option<&Counted>) -> DynamoDbEventResponse {
    stream_failure(failed_at.map(|c| c.sequence.as_str()))
}

/// The stream's records as the publisher sees them: what each wrote, if it is something
/// events are made of. A record whose item cannot be read is logged and passed over: one bad
/// record never holds up its shard.
#[cfg(feature = "events")]
pub fn stream_changes(records: &[StreamRecord]) -> Vec<crate::service::StreamChange> {
    records
        .iter()
        .map(|r| {
            let c = &r.change;
            let written = match crate::store::written(&c.keys, &c.old_image, &c.new_image) {
                Ok(Some(crate::store::Written::TicketRemoved { before, .. })) => {
                    Some(crate::store::Written::TicketRemoved {
                        before,
                        by_ttl: by_ttl(r),
                    })
                }
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(event = %r.event_id, error = %e, "a record that cannot be read: no events");
                    None
                }
            };
            crate::service::StreamChange {
                sequence: c.sequence_number.clone().unwrap_or_default(),
                at: Timestamp::at(c.approximate_creation_date_time),
                written,
            }
        })
        .collect()
}

/// The answer to a stream delivery whose records from `failed` on must come again.
pub fn stream_failure(sequence: Option<&str>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(s) = sequence {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(s.to_owned());
        response.batch_item_failures.push(failure);
    }
    response
}

/// The answer to a queue delivery: the messages that must come again.
pub fn queue_response(failed: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for id in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// An event function's failure.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A dependency failed or throttled: the same event may well succeed later.
    #[error("{context}: {source}")]
    Retryable {
        context: String,
        #[source]
        source: ApiError,
    },
    /// The event cannot succeed as it is.
    #[error("{context}: {source}")]
    Permanent {
        context: String,
        #[source]
        source: ApiError,
    },
}

impl EventError {
    /// Sorts a service error met while handling `context` (a key, a run).
    pub fn new(context: impl Into<String>, source: ApiError) -> Self {
        let context = context.into();
        match source {
            ApiError::Throttled | ApiError::Internal(_) => {
                EventError::Retryable { context, source }
            }
            source => EventError::Permanent { context, source },
        }
    }

    /// The `errorType` Lambda records (and the logs and a destination show).
    pub fn error_type(&self) -> &'static str {
        match self {
            EventError::Retryable { .. } => "Retryable",
            EventError::Permanent { .. } => "Permanent",
        }
    }
}

impl From<EventError> for Diagnostic {
    fn from(e: EventError) -> Self {
        let error_type = e.error_type().to_owned();
        let (EventError::Retryable { context, source } | EventError::Permanent { context, source }) =
            e;
        // An internal error's detail is the operators' to read: the event functions answer
        // Lambda, never a client, so it is kept whole here (and logged by the runtime).
        let detail = match source {
            ApiError::Internal(detail) => detail,
            other => other.to_string(),
        };
        Diagnostic {
            error_type,
            error_message: format!("{context}: {detail}"),
        }
    }
}

/// The time a scheduled event was due (its `time`), so a run is decided by its schedule,
/// not by when it ran; now when the event has none.
pub fn scheduled_time(event: &EventBridgeEvent) -> DateTime<Utc> {
    event.time.unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_tell_retryable_from_permanent() {
        let throttled = EventError::new("run", ApiError::Throttled);
        let failed = EventError::new("run", ApiError::internal("dynamodb", "timeout"));
        let wrong = EventError::new("run", ApiError::NotFound);
        assert_eq!(throttled.error_type(), "Retryable");
        assert_eq!(Diagnostic::from(failed).error_type, "Retryable");
        let d = Diagnostic::from(wrong);
        assert_eq!(d.error_type, "Permanent");
        assert_eq!(d.error_message, "run: support ticket not found");
        let e = EventError::new("k", ApiError::internal("dynamodb", "timeout"));
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    }
}
