//! What the crate's tests build domain values from (tests only).

use super::caller::{Caller, Role};
use super::ids::Timestamp;
use super::kinds::{Category, Priority, Status};
use super::ticket::{NewTicket, Ticket};

pub(crate) fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).expect("a test's timestamp")
}

pub(crate) fn alice() -> Caller {
    Caller::new("alice", Role::Customer)
}

pub(crate) fn agent() -> Caller {
    Caller::new("agent-7", Role::Agent)
}

/// A ticket request of this priority, without attachments.
pub(crate) fn new_ticket(priority: Priority) -> NewTicket {
    NewTicket {
        title: "t".into(),
        description: "d".into(),
        priority,
        category: Category::General,
        tags: vec![],
        client: None,
        attachments: vec![],
    }
}

/// Alice's medium ticket opened at `created`, put straight into `status` (resolved ones with a
/// resolution).
pub(crate) fn ticket_at(status: Status, priority: Priority, created: &str) -> Ticket {
    let mut t = Ticket::open(new_ticket(priority), alice().sub, &at(created));
    t.status = status;
    if status == Status::Resolved {
        t.resolution = Some("fixed".into());
        t.resolved_at = Some(t.created_at.clone());
    }
    t
}

/// Alice's medium ticket of 2026-11-25, in `status`.
pub(crate) fn ticket(status: Status) -> Ticket {
    ticket_at(status, Priority::Medium, "2026-11-25T00:00:00.000Z")
}
