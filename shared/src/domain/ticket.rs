//! The ticket, its threads and its attachments, as stored; what a new one is made from; and
//! the ticket's fields as names (what a write changes).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::caller::Caller;
use super::ids::{AttachmentId, ThreadId, TicketId, Timestamp, UserId};
use super::kinds::{AttachmentStatus, Category, Priority, Rating, Status, ThreadType};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    #[serde(rename = "_id")]
    pub id: ThreadId,
    pub author: UserId,
    pub message: String,
    pub timestamp: Timestamp,
    #[serde(rename = "type")]
    pub kind: ThreadType,
    pub internal: bool,
}

impl Thread {
    pub fn new(
        author: &UserId,
        message: String,
        kind: ThreadType,
        internal: bool,
        at: &Timestamp,
    ) -> Self {
        Thread {
            id: ThreadId::new(),
            author: author.clone(),
            message,
            timestamp: at.clone(),
            kind,
            internal,
        }
    }

    /// A public system thread recording what `by` did.
    pub fn system(by: &UserId, message: String, at: &Timestamp) -> Self {
        Thread::new(by, message, ThreadType::System, false, at)
    }

    pub fn visible_to(&self, caller: &Caller) -> bool {
        !self.internal || caller.is_agent()
    }
}

/// A file the client means to upload, as declared in the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttachment {
    pub filename: String,
    pub size: u64,
    pub content_type: String,
}

/// A file attached to a thread, as stored. The bytes live in the bucket under [`Attachment::key`],
/// a name chosen here, never derived from the filename.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(rename = "_id")]
    pub id: AttachmentId,
    pub ticket_id: TicketId,
    pub thread_id: ThreadId,
    pub filename: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: String,
    pub status: AttachmentStatus,
    /// Copied from its thread: attachments of internal notes are agents' only.
    pub internal: bool,
    pub created_at: Timestamp,
}

impl Attachment {
    pub fn new(ticket_id: &TicketId, thread: &Thread, decl: NewAttachment) -> Self {
        Attachment {
            id: AttachmentId::new(),
            ticket_id: ticket_id.clone(),
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
}

/// Where and how to upload an attachment's bytes: a presigned PUT.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub url: String,
    pub method: &'static str,
    pub headers: BTreeMap<String, String>,
    pub expires_at: Timestamp,
}

/// What a ticket is opened with (the request, parsed).
#[derive(Clone, Debug, PartialEq)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub category: Category,
    pub tags: Vec<String>,
    /// Only agents may set it (checked by the service, which knows the caller).
    pub client: Option<UserId>,
    pub attachments: Vec<NewAttachment>,
}

/// The customer's rating of a resolved or recently closed ticket (the latest, if they changed
/// it), with the groups the ticket was in when rated: the metrics count the rating there, and
/// a changed rating is taken back from there (`domain::metrics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Satisfaction {
    pub rating: Rating,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub rated_at: Timestamp,
    pub rated_priority: Priority,
    pub rated_category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rated_assignee: Option<UserId>,
}

/// An admin's soft delete: the ticket is hidden everywhere (404, out of every list and
/// count) and can be restored until `purge_after`; DynamoDB's TTL then removes the ticket
/// item and the purge removes the rest of it (docs/data-lifecycle.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    pub deleted_at: Timestamp,
    pub deleted_by: UserId,
    pub purge_after: Timestamp,
}

/// A ticket as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    #[serde(rename = "_id")]
    pub id: TicketId,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: Priority,
    pub category: Category,
    pub client: UserId,
    pub assigned_to: Option<UserId>,
    pub tags: Vec<String>,
    pub resolution: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub first_response_at: Option<Timestamp>,
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
    pub sla_paused_since: Option<Timestamp>,
    /// When the automatic escalation raised the priority (once per ticket).
    #[serde(default)]
    pub escalated_at: Option<Timestamp>,
    /// Who made the last change (`system` for the service's own): what its events name as
    /// their actor. Tickets written before it was kept have none.
    #[serde(default)]
    pub changed_by: Option<UserId>,
    /// The customer's rating, once they gave one.
    #[serde(default)]
    pub satisfaction: Option<Satisfaction>,
    /// Set while the ticket is soft-deleted.
    #[serde(default)]
    pub deletion: Option<Deletion>,
}

impl Ticket {
    /// A new ticket of `client`'s, `open`, version 1, with its first thread counted.
    pub fn open(input: NewTicket, client: UserId, at: &Timestamp) -> Self {
        Ticket {
            id: TicketId::new(),
            title: input.title,
            description: input.description,
            status: Status::Open,
            priority: input.priority,
            category: input.category,
            client: client.clone(),
            assigned_to: None,
            tags: input.tags,
            resolution: None,
            created_at: at.clone(),
            updated_at: at.clone(),
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
            changed_by: Some(client),
            satisfaction: None,
            deletion: None,
        }
    }

    /// A deleted ticket is seen by nobody (admins restore it by id).
    pub fn visible_to(&self, caller: &Caller) -> bool {
        self.deletion.is_none() && (caller.is_agent() || self.client == caller.sub)
    }

    pub fn is_deleted(&self) -> bool {
        self.deletion.is_some()
    }

    /// The ticket's threads counted as a caller may see them.
    pub fn thread_count_for(&self, caller: &Caller) -> u32 {
        if caller.is_agent() {
            self.thread_count
        } else {
            self.public_thread_count
        }
    }
}

/// A ticket field a change writes (set to its value in the ticket after the change, removed
/// when that is none). Each owns its attribute name, the field's name in the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Status,
    Priority,
    Category,
    AssignedTo,
    Tags,
    Title,
    Resolution,
    UpdatedAt,
    ResolvedAt,
    ClosedAt,
    FirstResponseAt,
    SlaPausedSeconds,
    SlaPausedSince,
    EscalatedAt,
    ChangedBy,
    Satisfaction,
    Deletion,
}

impl Field {
    pub const fn attribute(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Priority => "priority",
            Field::Category => "category",
            Field::AssignedTo => "assignedTo",
            Field::Tags => "tags",
            Field::Title => "title",
            Field::Resolution => "resolution",
            Field::UpdatedAt => "updatedAt",
            Field::ResolvedAt => "resolvedAt",
            Field::ClosedAt => "closedAt",
            Field::FirstResponseAt => "firstResponseAt",
            Field::SlaPausedSeconds => "slaPausedSeconds",
            Field::SlaPausedSince => "slaPausedSince",
            Field::EscalatedAt => "escalatedAt",
            Field::ChangedBy => "changedBy",
            Field::Satisfaction => "satisfaction",
            Field::Deletion => "deletion",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field's attribute is the name the ticket is stored under: a misspelt one would
    /// write nothing.
    #[test]
    fn field_attributes_are_the_stored_names() {
        let t = crate::domain::fixtures::ticket(Status::Open);
        let mut stored = serde_json::to_value(&t).unwrap();
        let object = stored.as_object_mut().unwrap();
        for f in [
            Field::Status,
            Field::Priority,
            Field::Category,
            Field::AssignedTo,
            Field::Tags,
            Field::Title,
            Field::Resolution,
            Field::UpdatedAt,
            Field::ResolvedAt,
            Field::ClosedAt,
            Field::FirstResponseAt,
            Field::SlaPausedSeconds,
            Field::SlaPausedSince,
            Field::EscalatedAt,
            Field::ChangedBy,
            Field::Satisfaction,
            Field::Deletion,
        ] {
            assert!(object.contains_key(f.attribute()), "{f:?}");
        }
    }
}
