//! What a committed change announces: the event catalogue's events, derived from a ticket as
//! it was before and after one change (and the threads that change added), or from an
//! attachment whose upload settled. Each event's id is derived from the change itself, so a
//! change delivered again (a stream retry, a replay) announces the same ids.

use sha2::{Digest, Sha256};

use super::ids::{TicketId, Timestamp, UserId};
use super::kinds::{AttachmentStatus, Category, EventKind, Priority, Rating, Status};
use super::ticket::{Attachment, Thread, Ticket};

/// The catalogue's version: it changes only when an event loses or renames a field.
pub const CATALOGUE_VERSION: u32 = 1;

/// Why a priority moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityCause {
    Manual,
    Escalation,
}

impl PriorityCause {
    pub const fn as_str(self) -> &'static str {
        match self {
            PriorityCause::Manual => "manual",
            PriorityCause::Escalation => "escalation",
        }
    }
}

/// Why a ticket was purged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeReason {
    /// An admin deleted it and its grace period ended.
    Deleted,
    /// It was closed longer than the deployment keeps closed tickets.
    Retention,
    /// Its customer was erased.
    Erased,
}

impl PurgeReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            PurgeReason::Deleted => "deleted",
            PurgeReason::Retention => "retention",
            PurgeReason::Erased => "erased",
        }
    }
}

/// A field an update changed, as it was and as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved<T> {
    pub from: T,
    pub to: T,
}

/// What happened, with what a consumer needs to know of it.
#[derive(Clone, Debug, PartialEq)]
pub enum Happened {
    Created(Box<Ticket>),
    ThreadAdded(Thread),
    StatusChanged {
        from: Status,
        to: Status,
        resolution: Option<String>,
    },
    Assigned {
        to: UserId,
        from: Option<UserId>,
    },
    Unassigned {
        from: UserId,
    },
    PriorityChanged {
        from: Priority,
        to: Priority,
        cause: PriorityCause,
    },
    Updated {
        category: Option<Moved<Category>>,
        tags: Option<Moved<Vec<String>>>,
        title: Option<Moved<String>>,
    },
    AttachmentUploaded(Attachment),
    AttachmentRejected(Attachment),
    /// The customer rated the ticket, or changed their rating.
    Rated {
        rating: Rating,
        comment: Option<String>,
        previous: Option<Rating>,
    },
    /// An admin deleted the ticket: restorable until `purge_after`.
    Deleted {
        purge_after: Timestamp,
    },
    /// An admin restored the deleted ticket.
    Restored,
    /// Every item and file of the ticket is gone.
    Purged {
        reason: PurgeReason,
    },
}

/// One event about one ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub ticket_id: TicketId,
    /// The ticket's version after the change (events of one ticket are ordered by it). An
    /// upload changes no ticket field: its events carry the version the ticket had when the
    /// upload was announced.
    pub ticket_version: u64,
    pub actor: UserId,
    pub time: Timestamp,
    pub happened: Happened,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match &self.happened {
            Happened::Created(_) => EventKind::TicketCreated,
            Happened::ThreadAdded(_) => EventKind::ThreadAdded,
            Happened::StatusChanged { .. } => EventKind::StatusChanged,
            Happened::Assigned { .. } => EventKind::Assigned,
            Happened::Unassigned { .. } => EventKind::Unassigned,
            Happened::PriorityChanged { .. } => EventKind::PriorityChanged,
            Happened::Updated { .. } => EventKind::Updated,
            Happened::AttachmentUploaded(_) => EventKind::AttachmentUploaded,
            Happened::AttachmentRejected(_) => EventKind::AttachmentRejected,
            Happened::Rated { .. } => EventKind::TicketRated,
            Happened::Deleted { .. } => EventKind::TicketDeleted,
            Happened::Restored => EventKind::TicketRestored,
            Happened::Purged { .. } => EventKind::TicketPurged,
        }
    }

    /// Whether the event carries what only agents may see (an internal note, its files).
    pub fn internal(&self) -> bool {
        match &self.happened {
            Happened::ThreadAdded(t) => t.internal,
            Happened::AttachmentUploaded(a) | Happened::AttachmentRejected(a) => a.internal,
            _ => false,
        }
    }

    /// `evt_` and 32 hex digits of a digest of what identifies the change: the ticket and
    /// its version for changes to the ticket, the thread for a thread, the attachment and
    /// its outcome for an upload. The same change always has the same id.
    pub fn id(&self) -> String {
        let what = match &self.happened {
            Happened::ThreadAdded(t) => format!("thread:{}", t.id),
            Happened::AttachmentUploaded(a) | Happened::AttachmentRejected(a) => {
                format!("attachment:{}:{}", a.id, self.kind())
            }
            _ => format!("v{}:{}", self.ticket_version, self.kind()),
        };
        let digest = Sha256::digest(format!("{}:{what}", self.ticket_id).as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("evt_{hex}")
    }
}

/// The events of one committed write of a ticket: `before` is none when the write created
/// it; `threads` are those the write added, in order. A write that did not move the version
/// (the service's own bookkeeping: index keys rewritten) announces nothing.
pub fn ticket_events(before: Option<&Ticket>, after: &Ticket, threads: &[Thread]) -> Vec<Event> {
    let actor = after.changed_by.clone().unwrap_or_else(UserId::system);
    let event = |happened| Event {
        ticket_id: after.id.clone(),
        ticket_version: after.version,
        actor: actor.clone(),
        time: after.updated_at.clone(),
        happened,
    };
    let mut events = Vec::new();
    match before {
        None => events.push(event(Happened::Created(Box::new(after.clone())))),
        Some(b) if b.version == after.version => return events,
        Some(b) if b.deletion.is_none() && after.deletion.is_some() => {
            let purge_after = after.deletion.as_ref().map(|d| d.purge_after.clone());
            events.extend(purge_after.map(|purge_after| event(Happened::Deleted { purge_after })));
        }
        Some(b) if b.deletion.is_some() && after.deletion.is_none() => {
            events.push(event(Happened::Restored));
        }
        Some(b) => {
            if b.status != after.status {
                events.push(event(Happened::StatusChanged {
                    from: b.status,
                    to: after.status,
                    resolution: after.resolution.clone(),
                }));
            }
            match (&b.assigned_to, &after.assigned_to) {
                (from, Some(to)) if from.as_ref() != Some(to) => {
                    events.push(event(Happened::Assigned {
                        to: to.clone(),
                        from: from.clone(),
                    }))
                }
                (Some(from), None) => {
                    events.push(event(Happened::Unassigned { from: from.clone() }))
                }
                _ => {}
            }
            if b.priority != after.priority {
                let escalated = b.escalated_at.is_none() && after.escalated_at.is_some();
                events.push(event(Happened::PriorityChanged {
                    from: b.priority,
                    to: after.priority,
                    cause: if escalated {
                        PriorityCause::Escalation
                    } else {
                        PriorityCause::Manual
                    },
                }));
            }
            let category = (b.category != after.category).then_some(Moved {
                from: b.category,
                to: after.category,
            });
            let tags = (b.tags != after.tags).then(|| Moved {
                from: b.tags.clone(),
                to: after.tags.clone(),
            });
            let title = (b.title != after.title).then(|| Moved {
                from: b.title.clone(),
                to: after.title.clone(),
            });
            if category.is_some() || tags.is_some() || title.is_some() {
                events.push(event(Happened::Updated {
                    category,
                    tags,
                    title,
                }));
            }
            if let Some(s) = after.satisfaction.as_ref().filter(|s| {
                b.satisfaction.as_ref().map(|p| (p.rating, &p.comment))
                    != Some((s.rating, &s.comment))
            }) {
                events.push(event(Happened::Rated {
                    rating: s.rating,
                    comment: s.comment.clone(),
                    previous: b.satisfaction.as_ref().map(|p| p.rating),
                }));
            }
        }
    }
    events.extend(
        threads
            .iter()
            .map(|t| event(Happened::ThreadAdded(t.clone()))),
    );
    events
}

/// The event of a ticket's item leaving the table (`committed` then): its purge. DynamoDB's
/// TTL removes the item of a deleted ticket whose grace ended or of a closed one past the
/// retention period (`by_ttl`); anything else that removes it is an erasure.
pub fn purge_event(before: &Ticket, committed: Timestamp, by_ttl: bool) -> Event {
    let reason = match (&before.deletion, by_ttl) {
        (Some(_), _) => PurgeReason::Deleted,
        (None, true) => PurgeReason::Retention,
        (None, false) => PurgeReason::Erased,
    };
    Event {
        ticket_id: before.id.clone(),
        ticket_version: before.version,
        actor: UserId::system(),
        time: committed,
        happened: Happened::Purged { reason },
    }
}

/// The event of an attachment's upload settling (`pending` to `uploaded` or `rejected`);
/// none for other writes of it (its declaration, its expiry). `ticket_version` is the
/// ticket's version when it is announced.
pub fn attachment_event(
    before: Option<&Attachment>,
    after: &Attachment,
    ticket_version: u64,
    at: Timestamp,
) -> Option<Event> {
    if before.map(|b| b.status) != Some(AttachmentStatus::Pending) {
        return None;
    }
    let happened = match after.status {
        AttachmentStatus::Uploaded => Happened::AttachmentUploaded(after.clone()),
        AttachmentStatus::Rejected => Happened::AttachmentRejected(after.clone()),
        AttachmentStatus::Pending | AttachmentStatus::Expired => return None,
    };
    Some(Event {
        ticket_id: after.ticket_id.clone(),
        ticket_version,
        // Uploads are the browser's; S3 tells the service, which settles them.
        actor: UserId::system(),
        time: at,
        happened,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{agent, alice, at, ticket};
    use crate::domain::rules::{plan_escalation, plan_status, plan_thread, plan_update};
    use crate::domain::{AddThread, ChangeStatus, SlaPolicy, UpdateTicket};

    const AT: &str = "2026-11-26T10:00:00.000Z";

    fn written(before: &Ticket, change: &crate::domain::Change) -> Vec<Event> {
        ticket_events(
            Some(before),
            &change.ticket_after_write(before),
            &change.threads,
        )
    }

    fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind().as_str()).collect()
    }

    #[test]
    fn a_new_ticket_announces_itself_and_its_first_thread() {
        let t = ticket(Status::Open);
        let first = Thread::new(
            &t.client,
            "help".into(),
            crate::domain::ThreadType::User,
            false,
            &at(AT),
        );
        let events = ticket_events(None, &t, std::slice::from_ref(&first));
        assert_eq!(kinds(&events), ["ticket.created", "thread.added"]);
        assert!(events
            .iter()
            .all(|e| e.ticket_version == 1 && e.actor == t.client));
    }

    #[test]
    fn a_status_change_names_from_to_and_the_actor() {
        let t = ticket(Status::Open);
        let input = ChangeStatus {
            status: Status::Resolved,
            resolution: Some("fixed".into()),
        };
        let change = plan_status(&t, &agent(), &input, &at(AT)).unwrap().unwrap();
        let events = written(&t, &change);
        assert_eq!(kinds(&events), ["ticket.status_changed", "thread.added"]);
        assert_eq!(
            events[0].happened,
            Happened::StatusChanged {
                from: Status::Open,
                to: Status::Resolved,
                resolution: Some("fixed".into())
            }
        );
        assert_eq!(events[0].actor, agent().sub);
        assert_eq!(events[0].ticket_version, 2);
    }

    #[test]
    fn an_update_announces_each_kind_of_change_once() {
        let t = ticket(Status::Open);
        let input = UpdateTicket {
            assigned_to: Some(Some(agent().sub)),
            priority: Some(Priority::High),
            category: Some(Category::Billing),
            tags: Some(vec!["vip".into()]),
            title: None,
        };
        let change = plan_update(&t, &agent(), &input, &at(AT)).unwrap().unwrap();
        let events = written(&t, &change);
        let ticket_kinds: Vec<_> = kinds(&events)
            .into_iter()
            .filter(|k| *k != "thread.added")
            .collect();
        assert_eq!(
            ticket_kinds,
            [
                "ticket.assigned",
                "ticket.priority_changed",
                "ticket.updated"
            ]
        );
        let Happened::Updated {
            category, title, ..
        } = &events[2].happened
        else {
            panic!("{:?}", events[2]);
        };
        assert_eq!(category.as_ref().map(|m| m.to), Some(Category::Billing));
        assert_eq!(title, &None, "an unchanged title is not announced");
        let assigned = change.ticket_after_write(&t);
        let unassign = UpdateTicket {
            assigned_to: Some(None),
            ..UpdateTicket::default()
        };
        let change = plan_update(&assigned, &agent(), &unassign, &at(AT))
            .unwrap()
            .unwrap();
        let events = written(&assigned, &change);
        assert_eq!(kinds(&events)[0], "ticket.unassigned");
        assert_ne!(
            events[0].id(),
            Event {
                ticket_version: 9,
                ..events[0].clone()
            }
            .id()
        );
    }

    #[test]
    fn escalation_is_a_priority_change_of_its_own_cause() {
        let t = ticket(Status::Open);
        let late = at("2026-12-31T00:00:00.000Z").time().unwrap();
        let change = plan_escalation(&t, &SlaPolicy::default(), late).unwrap();
        let events = written(&t, &change);
        let Happened::PriorityChanged { cause, .. } = events[0].happened else {
            panic!("{events:?}");
        };
        assert_eq!(cause, PriorityCause::Escalation);
        assert_eq!(events[0].actor, UserId::system());
    }

    #[test]
    fn internal_notes_are_marked_and_ids_are_stable() {
        let t = ticket(Status::Open);
        let note = AddThread {
            message: "between us".into(),
            internal: true,
            attachments: vec![],
        };
        let change = plan_thread(&t, &agent(), &note, &at(AT)).unwrap();
        let events = written(&t, &change);
        assert_eq!(kinds(&events), ["thread.added"]);
        assert!(events[0].internal());
        assert_eq!(
            events[0].id(),
            written(&t, &change)[0].id(),
            "same change, same id"
        );
        assert!(events[0].id().starts_with("evt_") && events[0].id().len() == 36);
        let reply = AddThread {
            internal: false,
            ..note
        };
        let other = plan_thread(&t, &alice(), &reply, &at(AT)).unwrap();
        assert_ne!(events[0].id(), written(&t, &other)[0].id());
        assert!(!written(&t, &other)[0].internal());
    }

    #[test]
    fn bookkeeping_writes_announce_nothing() {
        let t = ticket(Status::Open);
        assert!(ticket_events(Some(&t), &t, &[]).is_empty());
    }

    #[test]
    fn only_settled_uploads_are_announced() {
        let t = ticket(Status::Open);
        let thread = Thread::new(
            &t.client,
            "f".into(),
            crate::domain::ThreadType::User,
            true,
            &at(AT),
        );
        let pending = Attachment::new(
            &t.id,
            &thread,
            crate::domain::NewAttachment {
                filename: "a.png".into(),
                size: 3,
                content_type: "image/png".into(),
            },
        );
        let mut done = pending.clone();
        done.status = AttachmentStatus::Uploaded;
        let e = attachment_event(Some(&pending), &done, 3, at(AT)).unwrap();
        assert_eq!(e.kind(), EventKind::AttachmentUploaded);
        assert!(e.internal(), "a note's file is internal");
        done.status = AttachmentStatus::Rejected;
        let e = attachment_event(Some(&pending), &done, 3, at(AT)).unwrap();
        assert_eq!(e.kind(), EventKind::AttachmentRejected);
        assert!(
            attachment_event(None, &pending, 1, at(AT)).is_none(),
            "declared"
        );
        let mut expired = pending.clone();
        expired.status = AttachmentStatus::Expired;
        assert!(attachment_event(Some(&pending), &expired, 1, at(AT)).is_none());
        assert!(attachment_event(Some(&done), &done, 1, at(AT)).is_none());
    }

    #[test]
    fn a_deletion_a_restore_and_a_purge_are_announced_with_their_reason() {
        use crate::domain::caller::{Caller, Role};
        use crate::domain::lifecycle::{plan_delete, plan_restore};
        let mut root = Caller::new("root", Role::Customer);
        root.admin = true;
        let t = ticket(Status::Open);
        let grace = chrono::Duration::days(7);
        let deletion = plan_delete(&t, &root, &at(AT), grace).unwrap().unwrap();
        let deleted = deletion.ticket_after_write(&t);
        let events = written(&t, &deletion);
        assert_eq!(kinds(&events), ["ticket.deleted"]);
        let purge_after = deleted.deletion.clone().unwrap().purge_after;
        assert_eq!(events[0].happened, Happened::Deleted { purge_after });
        assert_eq!(
            (events[0].actor.as_str(), events[0].ticket_version),
            ("root", 2)
        );
        let restore = plan_restore(&deleted, &root, &at(AT)).unwrap().unwrap();
        assert_eq!(kinds(&written(&deleted, &restore)), ["ticket.restored"]);
        let reason = |t: &Ticket, ttl| match purge_event(t, at(AT), ttl).happened {
            Happened::Purged { reason } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(&deleted, true), PurgeReason::Deleted);
        assert_eq!(reason(&t, true), PurgeReason::Retention);
        assert_eq!(reason(&t, false), PurgeReason::Erased);
        let purged = purge_event(&deleted, at(AT), true);
        assert_eq!(
            (purged.actor.as_str(), purged.ticket_version),
            ("system", 2)
        );
        assert_ne!(purged.id(), events[0].id(), "its own id");
    }
}
