//! Opaque list cursors: where the last page stopped, bound to the query that produced it and
//! authenticated, so an altered cursor or one from another query is refused, not misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The last ticket a page returned, and the index partition it was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "p")]
    pub partition: String,
    #[serde(rename = "i")]
    pub id: String,
    #[serde(rename = "c")]
    pub created_key: String,
    /// Lists: per shard of the partition, the sort key of the last ticket read from it (empty:
    /// none yet; `~`: the shard is read to its end).
    #[serde(rename = "h", default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<String>,
    /// Tickets still to pass over before the page starts (`page=N` cut short by the read
    /// budget).
    #[serde(rename = "s", default, skip_serializing_if = "is_zero")]
    pub skip: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Digest of the query (caller, role, filters) the cursor belongs to.
    q: String,
    #[serde(flatten)]
    at: Position,
}

#[derive(Clone)]
pub struct Cursors {
    key: Vec<u8>,
}

impl Cursors {
    pub fn new(key: &[u8]) -> Self {
        Cursors { key: key.to_vec() }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    /// A digest of `value` under this deployment's key (hex): what a receipt keeps of a
    /// person, so that who holds the id can check it and who holds the receipt cannot
    /// recover it.
    pub fn keyed_digest(&self, purpose: &str, value: &str) -> String {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn seal(&self, scope: &str, at: &Position) -> String {
        let payload = Payload {
            q: digest(scope),
            at: at.clone(),
        };
        let body = serde_json::to_vec(&payload).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn open(&self, scope: &str, cursor: &str) -> Result<Position, ApiError> {
        let (body, tag) = cursor.split_once('.').ok_or(ApiError::InvalidCursor)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| ApiError::InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| ApiError::InvalidCursor)?;
        let mut mac = self.mac();
        mac.update(&body);
        mac.verify_slice(&tag)
            .map_err(|_| ApiError::InvalidCursor)?;
        let payload: Payload =
            serde_json::from_slice(&body).map_err(|_| ApiError::InvalidCursor)?;
        if payload.q != digest(scope) {
            return Err(ApiError::InvalidCursor);
        }
        Ok(payload.at)
    }
}

fn digest(scope: &str) -> String {
    let hash = Sha256::digest(scope.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Position {
        Position {
            shards: Vec::new(),
            skip: 0,
            partition: "CLIENT#alice".into(),
            id: "019a".into(),
            created_key: "2026-11-25T19:00:00.000Z#019a".into(),
        }
    }

    #[test]
    fn a_cursor_opens_for_its_own_query_only() {
        let c = Cursors::new(b"key");
        let token = c.seal("alice|customer|status=open", &at());
        assert_eq!(c.open("alice|customer|status=open", &token), Ok(at()));
        assert_eq!(
            c.open("alice|customer|status=closed", &token),
            Err(ApiError::InvalidCursor)
        );
        assert_eq!(
            c.open("bob|customer|status=open", &token),
            Err(ApiError::InvalidCursor)
        );
        assert_eq!(
            Cursors::new(b"other").open("alice|customer|status=open", &token),
            Err(ApiError::InvalidCursor)
        );
    }

    #[test]
    fn an_altered_cursor_is_refused() {
        let c = Cursors::new(b"key");
        let token = c.seal("s", &at());
        let (body, tag) = token.split_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = raw.len() - 3;
        raw[last] ^= 1;
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode(raw), tag);
        assert_eq!(c.open("s", &forged), Err(ApiError::InvalidCursor));
        for junk in ["", ".", "abc", "a.b", "%%%.###"] {
            assert_eq!(c.open("s", junk), Err(ApiError::InvalidCursor));
        }
    }
}
