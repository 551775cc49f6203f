//! The ticket, its threads, the enums of the contract, and the status machine.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::sla::SlaPolicy;

/// Declares a lowercase string enum with its wire names in one place, so parsing, printing
/// and serde all agree.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $wire)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($wire => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(Status {
    Open => "open",
    Pending => "pending",
    InProgress => "in_progress",
    Resolved => "resolved",
    Closed => "closed",
});

wire_enum!(Priority {
    Low => "low",
    Medium => "medium",
    High => "high",
    Urgent => "urgent",
});

impl Priority {
    /// One level up, if there is one.
    pub fn raised(self) -> Option<Priority> {
        match self {
            Priority::Low => Some(Priority::Medium),
            Priority::Medium => Some(Priority::High),
            Priority::High => Some(Priority::Urgent),
            Priority::Urgent => None,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

/// "Priority raised from medium to urgent" / "Priority lowered from high to low".
pub fn priority_message(from: Priority, to: Priority) -> String {
    let way = if to.rank() > from.rank() {
        "raised"
    } else {
        "lowered"
    };
    format!("Priority {way} from {from} to {to}")
}

/// "Assigned to agent-7 by agent-2" / "Unassigned from agent-7 by agent-2".
pub fn assignment_message(from: Option<&str>, to: Option<&str>, by: &str) -> String {
    match (from, to) {
        (_, Some(to)) => format!("Assigned to {to} by {by}"),
        (Some(from), None) => format!("Unassigned from {from} by {by}"),
        (None, None) => format!("Unassigned by {by}"),
    }
}

wire_enum!(Category {
    Technical => "technical",
    Billing => "billing",
    Account => "account",
    FeatureRequest => "feature_request",
    General => "general",
});

wire_enum!(AttachmentStatus {
    Pending => "pending",
    Uploaded => "uploaded",
    Rejected => "rejected",
    Expired => "expired",
});

wire_enum!(ThreadType {
    User => "user",
    Agent => "agent",
    System => "system",
});

/// Lists the wire names of an enum, for error messages.
pub fn names<T: Copy + fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The contract's timestamp: RFC 3339, UTC, milliseconds, `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Ids are UUIDs; anything else cannot name a ticket (and answers 404, not 400).
pub fn is_valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok() && id.len() == 36
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    #[serde(rename = "_id")]
    pub id: String,
    pub author: String,
    pub message: String,
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: ThreadType,
    pub internal: bool,
    #[serde(default)]
    pub attachments: Vec<serde_json::Value>,
}

impl Thread {
    pub fn new(author: &str, message: String, kind: ThreadType, internal: bool, at: &str) -> Self {
        Thread {
            id: new_id(),
            author: author.to_owned(),
            message,
            timestamp: at.to_owned(),
            kind,
            internal,
            attachments: Vec::new(),
        }
    }

    pub fn visible_to(&self, caller: &Caller) -> bool {
        !self.internal || caller.is_agent()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A file attached to a thread, as stored. The bytes live in the bucket under [`Attachment::key`],
/// a name chosen here, never derived from the filename.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(rename = "_id")]
    pub id: String,
    pub ticket_id: String,
    pub thread_id: String,
    pub filename: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: String,
    pub status: AttachmentStatus,
    /// Copied from its thread: attachments of internal notes are agents' only.
    pub internal: bool,
    pub created_at: String,
}

/// Where and how to upload an attachment's bytes: a presigned PUT.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub url: String,
    pub method: &'static str,
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: String,
}

impl Attachment {
    pub fn new(ticket_id: &str, thread: &Thread, decl: crate::input::AttachmentDecl) -> Self {
        Attachment {
            id: new_id(),
            ticket_id: ticket_id.to_owned(),
            thread_id: thread.id.clone(),
            filename: decl.filename,
            size: decl.size,
            content_type: decl.content_type,
            status: AttachmentStatus::Pending,
            internal: thread.internal,
            created_at: thread.timestamp.clone(),
        }
    }

    /// The object key: service-chosen ids only.
    pub fn key(&self) -> String {
        format!("tickets/{}/{}", self.ticket_id, self.id)
    }

    pub fn visible_to(&self, caller: &Caller) -> bool {
        !self.internal || caller.is_agent()
    }

    /// The attachment as answered: a download `url` only once uploaded, and its `upload` in
    /// the answer to the request that declared it.
    pub fn to_json(&self, url: Option<String>, upload: Option<&Upload>) -> serde_json::Value {
        let mut v = serde_json::json!({
            "_id": self.id,
            "filename": self.filename,
            "size": self.size,
            "type": self.content_type,
            "threadId": self.thread_id,
            "status": self.status,
            "createdAt": self.created_at,
        });
        if let (AttachmentStatus::Uploaded, Some(url)) = (self.status, url) {
            v["url"] = url.into();
        }
        if let Some(upload) = upload {
            v["upload"] = serde_json::to_value(upload).unwrap_or_default();
        }
        v
    }
}

/// A ticket as stored and as answered (threads and attachments only on single-ticket answers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    #[serde(rename = "_id")]
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: Priority,
    pub category: Category,
    pub client: String,
    pub assigned_to: Option<String>,
    pub tags: Vec<String>,
    pub resolution: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub first_response_at: Option<String>,
    /// Every thread, internal ones included.
    pub thread_count: u32,
    /// The threads a customer can see; customers are shown this as `threadCount`, so the count
    /// does not betray internal notes.
    pub public_thread_count: u32,
    pub version: u64,
    /// Bytes declared by all its attachments, kept under the per-ticket limit.
    #[serde(default)]
    pub attachment_bytes: u64,
    /// Resolution-clock time spent paused (`pending`, `resolved`) before the current pause.
    #[serde(default)]
    pub sla_paused_seconds: u64,
    /// Start of the current pause, if the clock is paused.
    #[serde(default)]
    pub sla_paused_since: Option<String>,
    /// When the automatic escalation raised the priority (once per ticket).
    #[serde(default)]
    pub escalated_at: Option<String>,
}

impl Ticket {
    /// A new ticket, `open`, version 1, with its first thread counted.
    pub fn open(input: crate::input::CreateTicket, client: String, at: &str) -> Self {
        Ticket {
            id: new_id(),
            title: input.title,
            description: input.description,
            status: Status::Open,
            priority: input.priority,
            category: input.category,
            client,
            assigned_to: None,
            tags: input.tags,
            resolution: None,
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
            resolved_at: None,
            closed_at: None,
            first_response_at: None,
            thread_count: 1,
            public_thread_count: 1,
            version: 1,
            attachment_bytes: 0,
            sla_paused_seconds: 0,
            sla_paused_since: None,
            escalated_at: None,
        }
    }

    pub fn visible_to(&self, caller: &Caller) -> bool {
        caller.is_agent() || self.client == caller.sub
    }

    /// The ticket as this caller may see it in a list (threads: [`Ticket::detail_for`]), with
    /// its service levels as of `now`.
    pub fn summary_for(
        &self,
        caller: &Caller,
        policy: &SlaPolicy,
        now: DateTime<Utc>,
    ) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let clocks = crate::sla::clocks(self, policy, now);
        if let Some(map) = value.as_object_mut() {
            let count = if caller.is_agent() {
                self.thread_count
            } else {
                self.public_thread_count
            };
            for internal in [
                "publicThreadCount",
                "attachmentBytes",
                "slaPausedSeconds",
                "slaPausedSince",
                "escalatedAt",
            ] {
                map.remove(internal);
            }
            map.insert("threadCount".into(), count.into());
            let sla = clocks.as_ref().map(|c| c.sla());
            map.insert("sla".into(), serde_json::to_value(sla).unwrap_or_default());
            map.insert(
                "firstResponseSeconds".into(),
                clocks
                    .as_ref()
                    .and_then(|c| c.first_response_seconds)
                    .into(),
            );
            map.insert(
                "resolutionSeconds".into(),
                clocks.as_ref().and_then(|c| c.resolution_seconds).into(),
            );
        }
        value
    }

    /// The ticket with its threads (oldest first) and attachments, as this caller may see it.
    pub fn detail_for(
        &self,
        threads: &[Thread],
        caller: &Caller,
        policy: &SlaPolicy,
        now: DateTime<Utc>,
    ) -> serde_json::Value {
        let mut value = self.summary_for(caller, policy, now);
        let visible: Vec<&Thread> = threads.iter().filter(|t| t.visible_to(caller)).collect();
        let attachments: Vec<&serde_json::Value> =
            visible.iter().flat_map(|t| t.attachments.iter()).collect();
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "threads".into(),
                serde_json::to_value(visible).unwrap_or_default(),
            );
            map.insert(
                "attachments".into(),
                serde_json::to_value(attachments).unwrap_or_default(),
            );
        }
        value
    }
}

/// The statuses a ticket may move to from `from`, per the contract's table.
pub fn allowed_targets(from: Status) -> &'static [Status] {
    use Status::*;
    match from {
        Open => &[Pending, InProgress, Resolved, Closed],
        Pending => &[Open, InProgress, Resolved, Closed],
        InProgress => &[Open, Pending, Resolved, Closed],
        Resolved => &[Open, InProgress, Closed],
        Closed => &[],
    }
}

/// What a status request amounts to once the rules have been applied.
#[derive(Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// The ticket already has that status: answer 200, write nothing.
    Unchanged,
    Move {
        from: Status,
        to: Status,
    },
}

/// Decides whether `caller` may move a ticket (which they can see) from `from` to `to`.
/// The machine is checked first, so a request that could never succeed says so (409) whoever
/// sends it; then the role: customers may only close, or reopen a resolved ticket.
pub fn decide_status_change(
    caller: &Caller,
    from: Status,
    to: Status,
) -> Result<StatusChange, ApiError> {
    if from == to {
        return Ok(StatusChange::Unchanged);
    }
    let allowed = allowed_targets(from);
    if !allowed.contains(&to) {
        return Err(ApiError::InvalidTransition {
            from,
            to,
            allowed: allowed.to_vec(),
        });
    }
    let customer_may = to == Status::Closed || (from == Status::Resolved && to == Status::Open);
    if caller.role == Role::Customer && !customer_may {
        return Err(ApiError::Forbidden(
            "customers may only close their ticket or reopen a resolved one".into(),
        ));
    }
    Ok(StatusChange::Move { from, to })
}

/// The audit line written as a system thread when the status moves.
pub fn status_message(from: Status, to: Status, resolution: Option<&str>) -> String {
    match resolution {
        Some(r) if to == Status::Resolved => format!("Status changed from {from} to {to}: {r}"),
        _ => format!("Status changed from {from} to {to}"),
    }
}

/// The ticket fields a status change writes.
pub const STATUS_FIELDS: &[&str] = &[
    "status",
    "updatedAt",
    "resolvedAt",
    "closedAt",
    "resolution",
    "slaPausedSeconds",
    "slaPausedSince",
];

impl Ticket {
    /// Moves the ticket to `to` at `at`: `resolvedAt` and `resolution` are set on resolving
    /// and cleared when a resolved ticket goes back to work; `closedAt` is set on closing
    /// (a resolution given then is kept as the closing note).
    pub fn apply_status(&mut self, to: Status, resolution: Option<String>, at: &str) {
        let from = self.status;
        // The resolution clock pauses while pending or resolved; once resolved it has
        // stopped, so closing then adds no paused time.
        if to == Status::Closed && self.resolved_at.is_some() {
            self.sla_paused_since = None;
        } else {
            crate::sla::track_pause(self, matches!(to, Status::Pending | Status::Resolved), at);
        }
        match to {
            Status::Resolved => {
                self.resolved_at = Some(at.to_owned());
                self.resolution = resolution;
            }
            Status::Closed => {
                self.closed_at = Some(at.to_owned());
                if resolution.is_some() {
                    self.resolution = resolution;
                }
            }
            _ if from == Status::Resolved => {
                self.resolved_at = None;
                self.resolution = None;
            }
            _ => {}
        }
        self.status = to;
        self.updated_at = at.to_owned();
    }
}

/// A customer's reply to a ticket waiting on them (`pending`) or already `resolved` puts it
/// back in the agents' queue.
pub fn reopens_on_customer_reply(status: Status) -> bool {
    matches!(status, Status::Pending | Status::Resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            sub: "u".into(),
            role,
        }
    }

    /// Every cell of the contract's table, for both roles.
    #[test]
    fn every_transition_for_both_roles() {
        use Status::*;
        let table: &[(Status, &[Status])] = &[
            (Open, &[Pending, InProgress, Resolved, Closed]),
            (Pending, &[Open, InProgress, Resolved, Closed]),
            (InProgress, &[Open, Pending, Resolved, Closed]),
            (Resolved, &[Open, InProgress, Closed]),
            (Closed, &[]),
        ];
        for &(from, allowed) in table {
            for &to in Status::ALL {
                let agent = decide_status_change(&caller(Role::Agent), from, to);
                let customer = decide_status_change(&caller(Role::Customer), from, to);
                if from == to {
                    assert_eq!(agent, Ok(StatusChange::Unchanged), "{from}->{to}");
                    assert_eq!(customer, Ok(StatusChange::Unchanged), "{from}->{to}");
                } else if !allowed.contains(&to) {
                    for result in [agent, customer] {
                        match result {
                            Err(ApiError::InvalidTransition { allowed: a, .. }) => {
                                assert_eq!(a, allowed.to_vec())
                            }
                            other => panic!("{from}->{to}: expected 409, got {other:?}"),
                        }
                    }
                } else {
                    assert_eq!(agent, Ok(StatusChange::Move { from, to }), "{from}->{to}");
                    let customer_ok = to == Closed || (from == Resolved && to == Open);
                    if customer_ok {
                        assert_eq!(customer, Ok(StatusChange::Move { from, to }));
                    } else {
                        assert!(
                            matches!(customer, Err(ApiError::Forbidden(_))),
                            "{from}->{to}: customer got {customer:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn priority_and_assignment_messages() {
        assert_eq!(
            priority_message(Priority::Medium, Priority::Urgent),
            "Priority raised from medium to urgent"
        );
        assert_eq!(
            priority_message(Priority::High, Priority::Low),
            "Priority lowered from high to low"
        );
        assert_eq!(
            assignment_message(None, Some("agent-7"), "agent-2"),
            "Assigned to agent-7 by agent-2"
        );
        assert_eq!(
            assignment_message(Some("agent-7"), None, "agent-2"),
            "Unassigned from agent-7 by agent-2"
        );
        assert_eq!(Priority::High.raised(), Some(Priority::Urgent));
        assert_eq!(Priority::Urgent.raised(), None);
    }

    #[test]
    fn enums_round_trip_their_wire_names() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("in_progress".parse::<Status>(), Ok(Status::InProgress));
        assert_eq!(
            "feature_request".parse::<Category>(),
            Ok(Category::FeatureRequest)
        );
        assert!("Open".parse::<Status>().is_err());
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T19:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-11-25T19:00:00.123Z");
    }

    #[test]
    fn ids_must_be_uuids() {
        assert!(is_valid_id(&new_id()));
        assert!(!is_valid_id("123"));
        assert!(!is_valid_id("../../etc/passwd"));
    }

    #[test]
    fn status_message_mentions_resolution_only_when_resolving() {
        assert_eq!(
            status_message(Status::Open, Status::Resolved, Some("fixed")),
            "Status changed from open to resolved: fixed"
        );
        assert_eq!(
            status_message(Status::Resolved, Status::Closed, Some("fixed")),
            "Status changed from resolved to closed"
        );
    }

    #[test]
    fn customers_do_not_see_internal_threads_nor_their_count() {
        let agent = caller(Role::Agent);
        let customer = Caller {
            sub: "alice".into(),
            role: Role::Customer,
        };
        let public = Thread::new("alice", "hi".into(), ThreadType::User, false, "t");
        let note = Thread::new("agent", "secret".into(), ThreadType::Agent, true, "t");
        let ticket = Ticket {
            id: new_id(),
            title: "t".into(),
            description: "d".into(),
            status: Status::Open,
            priority: Priority::Low,
            category: Category::General,
            client: "alice".into(),
            assigned_to: None,
            tags: vec![],
            resolution: None,
            created_at: "t".into(),
            updated_at: "t".into(),
            resolved_at: None,
            closed_at: None,
            first_response_at: None,
            thread_count: 2,
            public_thread_count: 1,
            version: 2,
            attachment_bytes: 0,
            sla_paused_seconds: 0,
            sla_paused_since: None,
            escalated_at: None,
        };
        let threads = [public, note];
        let (policy, now) = (SlaPolicy::default(), Utc::now());
        let seen = ticket.detail_for(&threads, &customer, &policy, now);
        assert_eq!(seen["threads"].as_array().unwrap().len(), 1);
        assert_eq!(seen["threadCount"], 1);
        assert!(seen.get("publicThreadCount").is_none());
        let seen = ticket.detail_for(&threads, &agent, &policy, now);
        assert_eq!(seen["threads"].as_array().unwrap().len(), 2);
        assert_eq!(seen["threadCount"], 2);
    }
}
