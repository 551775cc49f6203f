//! `Idempotency-Key` on create and add-thread: a retry with the same key, caller and body
//! within 24 hours gets the original answer and writes nothing; the same key with another body
//! is refused. The record is written in the same transaction as what it describes, so a
//! request either did everything and left its record, or did nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::Caller;
use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";
pub const TTL_SECONDS: i64 = 24 * 3600;
/// The TTL attribute of idempotency records (declared in template.yaml).
pub const EXPIRES_ATTRIBUTE: &str = "expiresAt";

/// A request that carries an idempotency key: where its record lives, and what it asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// The caller: their records share a partition, so an erasure finds them.
    pub owner: String,
    /// Digest of caller, operation and key: the record's id.
    pub key_hash: String,
    /// Digest of the request's target and body, to tell a retry from another request.
    pub request_hash: String,
}

/// The answer kept for replays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    pub request_hash: String,
    pub status: u16,
    /// The `data` of the answer, as JSON text.
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<u64>,
    /// Seconds since the epoch; DynamoDB's TTL removes the record some time after.
    pub expires_at: i64,
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// 1–255 visible ASCII characters.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

impl Idempotency {
    /// `operation` names what is done and to what (`create-ticket`, `add-thread:<id>`); the
    /// body is compared in canonical form (object keys sorted), so key order does not matter.
    pub fn new(
        caller: &Caller,
        operation: &str,
        key: &str,
        body: &Map<String, Value>,
    ) -> Result<Self, ApiError> {
        check_key(key)?;
        let canonical = Value::Object(body.clone()).to_string();
        Ok(Idempotency {
            owner: caller.sub.to_string(),
            key_hash: digest(&[caller.sub.as_str(), operation, key]),
            request_hash: digest(&[operation, &canonical]),
        })
    }

    pub fn record(
        &self,
        status: u16,
        body: &Value,
        location: Option<String>,
        etag: Option<u64>,
        now: i64,
    ) -> Recorded {
        Recorded {
            request_hash: self.request_hash.clone(),
            status,
            body: body.to_string(),
            location,
            etag,
            expires_at: now + TTL_SECONDS,
        }
    }

    /// The recorded answer, if it answers this very request; 422 if the key was used for
    /// another one.
    pub fn replay(&self, recorded: &Recorded) -> Result<Value, ApiError> {
        if recorded.request_hash != self.request_hash {
            return Err(ApiError::IdempotencyKeyReused);
        }
        serde_json::from_str(&recorded.body).map_err(|e| ApiError::internal("replay", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use serde_json::json;

    fn caller(sub: &str) -> Caller {
        Caller::new(sub, Role::Customer)
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_are_scoped_per_caller_and_operation() {
        let b = body(json!({"title": "t"}));
        let a = Idempotency::new(&caller("alice"), "create-ticket", "k1", &b).unwrap();
        let bob = Idempotency::new(&caller("bob"), "create-ticket", "k1", &b).unwrap();
        let thread = Idempotency::new(&caller("alice"), "add-thread:x", "k1", &b).unwrap();
        assert_ne!(a.key_hash, bob.key_hash);
        assert_ne!(a.key_hash, thread.key_hash);
    }

    #[test]
    fn a_retry_replays_and_another_body_is_refused() {
        let first = body(json!({"title": "t", "priority": "low"}));
        let same = body(json!({"priority": "low", "title": "t"}));
        let other = body(json!({"title": "u", "priority": "low"}));
        let idem = Idempotency::new(&caller("alice"), "create-ticket", "k", &first).unwrap();
        let rec = idem.record(201, &json!({"_id": "1"}), None, Some(1), 0);
        assert_eq!(rec.expires_at, TTL_SECONDS);
        let retry = Idempotency::new(&caller("alice"), "create-ticket", "k", &same).unwrap();
        assert_eq!(retry.replay(&rec).unwrap(), json!({"_id": "1"}));
        let reuse = Idempotency::new(&caller("alice"), "create-ticket", "k", &other).unwrap();
        assert_eq!(reuse.replay(&rec), Err(ApiError::IdempotencyKeyReused));
    }

    #[test]
    fn keys_must_be_visible_ascii() {
        for bad in ["", " a", "ä", "a\tb", &"k".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key(&"k".repeat(255)).is_ok());
        assert!(check_key("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
    }
}
