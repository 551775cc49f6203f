//! The identifiers and times of the contract as types of their own, so that a ticket id is
//! never passed where a user id belongs, and each is checked once, where it enters.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// What every id and time type shares: read as its text, shown and debugged as it.
macro_rules! text_type {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        /// Shown as its text, as the plain strings it replaced were (cursor scopes digest it).
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Declares a service-chosen id: a time-ordered UUID (v7), lowercase; anything else cannot
/// name one (and answers 404, not 400).
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }

            /// The id written as `raw` (any case), if it is one.
            pub fn parse(raw: &str) -> Option<Self> {
                is_uuid(raw).then(|| $name(raw.to_ascii_lowercase()))
            }
        }

        text_type!($name);

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

uuid_id!(
    /// A ticket's `_id`.
    TicketId
);
uuid_id!(
    /// A thread's `_id`.
    ThreadId
);
uuid_id!(
    /// An attachment's `_id`.
    AttachmentId
);

/// Ids are UUIDs in their 36-character form.
pub fn is_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()
}

/// The longest user id, in bytes.
pub const USER_ID_MAX: usize = 128;

/// A user: a token's `sub`, a ticket's `client`, an assignee, a thread's author. One shape
/// wherever it comes from: 1 to 128 bytes, no whitespace or control characters (Cognito's
/// `sub` is a UUID; external issuers' ids such as `auth0|5f7c` or `00u1abcd` fit too).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > USER_ID_MAX {
            return Err(format!("must be 1 to {USER_ID_MAX} characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace or control characters".into());
        }
        Ok(UserId(raw.to_owned()))
    }

    /// The author of the threads the service writes on its own (escalation).
    pub fn system() -> Self {
        UserId("system".to_owned())
    }
}

text_type!(UserId);

/// The contract's timestamp: RFC 3339, UTC, milliseconds, `Z`. Its text sorts in time order,
/// which the store's sort keys rely on.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    pub fn at(t: DateTime<Utc>) -> Self {
        Timestamp(t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn now() -> Self {
        Timestamp::at(Utc::now())
    }

    /// A timestamp in the contract's form, if `raw` is one.
    pub fn parse(raw: &str) -> Option<Self> {
        let t = DateTime::parse_from_rfc3339(raw).ok()?.with_timezone(&Utc);
        Some(Timestamp::at(t))
    }

    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.0)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// `yyyy-mm`.
    pub fn month(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }

    /// `yyyy-mm-dd`.
    pub fn day(&self) -> &str {
        self.0.get(..10).unwrap_or(&self.0)
    }
}

text_type!(Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_uuids() {
        let id = TicketId::new();
        assert_eq!(TicketId::parse(&id.to_ascii_uppercase()), Some(id));
        assert_eq!(TicketId::parse("123"), None);
        assert_eq!(AttachmentId::parse("../../etc/passwd"), None);
    }

    #[test]
    fn user_ids_have_one_shape() {
        assert!(UserId::parse("auth0|5f7c").is_ok());
        assert!(UserId::parse(&"u".repeat(USER_ID_MAX)).is_ok());
        for bad in [
            "",
            "two words",
            "tab\there",
            "nul\0",
            &"u".repeat(USER_ID_MAX + 1),
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = Timestamp::parse("2026-11-25T19:00:00.123456+00:00").unwrap();
        assert_eq!(t.as_str(), "2026-11-25T19:00:00.123Z");
        assert_eq!((t.month(), t.day()), ("2026-11", "2026-11-25"));
        assert_eq!(Timestamp::parse("yesterday"), None);
    }
}
