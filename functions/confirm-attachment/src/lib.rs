//! The bucket's `ObjectCreated` events: each new object is checked against its attachment's
//! declaration. A failure is returned as an error (`errorType` `Retryable` or `Permanent`) so
//! the event is delivered again.

use aws_lambda_events::event::s3::S3Event;
use serde_json::{json, Value};
use support_tickets::event::EventError;
use support_tickets::{service, App};

pub async fn handle(app: &App, event: S3Event) -> Result<Value, EventError> {
    let mut results = Vec::new();
    for record in event.records {
        let Some(raw) = record.s3.object.key else {
            continue;
        };
        let key = decode_key(&raw);
        let status = service::confirm_upload(app, &key)
            .await
            .map_err(|e| EventError::new(format!("confirming {key}"), e))?;
        tracing::info!(key = %key, status = ?status, "object checked");
        results.push(json!({"key": key, "status": status}));
    }
    Ok(json!({"results": results}))
}

/// Object keys arrive URL-encoded in S3 events, with `+` for spaces.
pub fn decode_key(raw: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::decode_key;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(decode_key("tickets/a/b"), "tickets/a/b");
        assert_eq!(decode_key("a+b%2Fc%20d"), "a b/c d");
        assert_eq!(decode_key("bad%zz%4"), "bad%zz%4");
        assert_eq!(decode_key("%é%C3%A9"), "%éé");
    }
}
