//! The rules: what a reply, a status change, an update and an escalation do to a ticket,
//! each decided on one read of it as a [`Change`], the limits they keep, and the audit lines
//! they leave. The status machine itself is `status`.

use chrono::{DateTime, Utc};

use super::caller::Caller;
use super::commands::{AddThread, ChangeStatus, Rate, UpdateTicket};
use super::ids::{Timestamp, UserId};
use super::kinds::{Priority, Status, ThreadType};
pub use super::refusal::Refusal;
use super::sla::{self, SlaPolicy};
use super::status::{
    decide_status_change, reopens_on_customer_reply, status_message, StatusChange,
};
use super::ticket::{Attachment, Field, NewAttachment, Satisfaction, Thread, Ticket};

pub use super::status::STATUS_FIELDS;

/// What one ticket may hold in attachments, over all its threads.
pub const TICKET_ATTACHMENT_BYTES_MAX: u64 = 100 * 1024 * 1024;

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

/// The ticket fields an agent's update writes.
pub const UPDATE_FIELDS: &[Field] = &[
    Field::AssignedTo,
    Field::Priority,
    Field::Category,
    Field::Tags,
    Field::Title,
    Field::UpdatedAt,
    Field::ChangedBy,
];

/// The ticket fields a reply or note writes.
pub const THREAD_FIELDS: &[Field] = &[Field::UpdatedAt, Field::ChangedBy];

/// The kind of thread a caller writes.
pub fn thread_kind(caller: &Caller) -> ThreadType {
    if caller.is_agent() {
        ThreadType::Agent
    } else {
        ThreadType::User
    }
}

/// Internal notes are agents' only.
pub fn check_internal_note(caller: &Caller, internal: bool) -> Result<(), Refusal> {
    if internal && !caller.is_agent() {
        return Err(Refusal::Forbidden("only agents may write internal notes"));
    }
    Ok(())
}

/// Refuses declarations that would take a ticket holding `current` bytes over its total; the
/// bytes they add.
pub fn check_ticket_bytes(current: u64, decls: &[NewAttachment]) -> Result<u64, Refusal> {
    let adding: u64 = decls.iter().map(|d| d.size).sum();
    if current.saturating_add(adding) > TICKET_ATTACHMENT_BYTES_MAX {
        return Err(Refusal::AttachmentBytes {
            left: TICKET_ATTACHMENT_BYTES_MAX.saturating_sub(current),
        });
    }
    Ok(adding)
}

/// Threads a change adds: all of them, and those a customer can see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadCounts {
    pub all: u32,
    pub public: u32,
}

/// A change to one ticket, decided on one read of it: the ticket after it, the fields it
/// writes, the threads and attachments it adds, and whether it is the first response.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub after: Ticket,
    pub fields: Vec<Field>,
    /// New threads, in the order they happened.
    pub threads: Vec<Thread>,
    pub attachments: Vec<Attachment>,
    /// The first public agent reply: `firstResponseAt` is set to `after.updated_at` unless a
    /// concurrent reply set it first.
    pub first_response: bool,
    /// Bytes of attachments declared by this change.
    pub attachment_bytes: u64,
}

impl Change {
    /// `by` made the change: the ticket records it as its last actor.
    pub(super) fn new(
        mut after: Ticket,
        fields: &[Field],
        threads: Vec<Thread>,
        by: &UserId,
    ) -> Self {
        after.changed_by = Some(by.clone());
        debug_assert!(
            fields.contains(&Field::ChangedBy),
            "every change names its actor"
        );
        Change {
            after,
            fields: fields.to_vec(),
            threads,
            attachments: Vec::new(),
            first_response: false,
            attachment_bytes: 0,
        }
    }

    pub fn added(&self) -> ThreadCounts {
        ThreadCounts {
            all: self.threads.len() as u32,
            public: self.threads.iter().filter(|t| !t.internal).count() as u32,
        }
    }

    /// The ticket as it is once the change is written over `before`: one version on, its
    /// threads counted.
    pub fn ticket_after_write(&self, before: &Ticket) -> Ticket {
        let added = self.added();
        let mut after = self.after.clone();
        after.version = before.version + 1;
        after.thread_count = before.thread_count + added.all;
        after.public_thread_count = before.public_thread_count + added.public;
        if self.first_response && after.first_response_at.is_none() {
            after.first_response_at = Some(after.updated_at.clone());
        }
        after
    }
}

/// A reply or note (its internal-note check already passed: [`check_internal_note`]): the
/// thread, its attachments, and a reopen by a customer's reply to a ticket waiting on them.
pub fn plan_thread(
    ticket: &Ticket,
    caller: &Caller,
    input: &AddThread,
    at: &Timestamp,
) -> Result<Change, Refusal> {
    if ticket.status == Status::Closed {
        return Err(Refusal::TicketClosed);
    }
    let attachment_bytes = check_ticket_bytes(ticket.attachment_bytes, &input.attachments)?;
    let thread = Thread::new(
        &caller.sub,
        input.message.clone(),
        thread_kind(caller),
        input.internal,
        at,
    );
    let attachments = input
        .attachments
        .iter()
        .map(|d| Attachment::new(&ticket.id, &thread, d.clone()))
        .collect();
    let mut after = ticket.clone();
    after.updated_at = at.clone();
    let mut change = Change::new(after, THREAD_FIELDS, vec![thread], &caller.sub);
    if !caller.is_agent() && reopens_on_customer_reply(ticket.status) {
        change.after.apply_status(Status::Open, None, at);
        change.fields = STATUS_FIELDS.to_vec();
        let message = status_message(ticket.status, Status::Open, None);
        change.threads.push(Thread::system(
            &caller.sub,
            format!("{message} (customer replied)"),
            at,
        ));
    }
    change.attachments = attachments;
    change.attachment_bytes = attachment_bytes;
    change.first_response =
        caller.is_agent() && !input.internal && ticket.first_response_at.is_none();
    Ok(change)
}

/// A status request: `None` when the ticket has that status already. The resolution is the
/// agents' record: a customer's closing words become a thread of theirs instead.
pub fn plan_status(
    ticket: &Ticket,
    caller: &Caller,
    input: &ChangeStatus,
    at: &Timestamp,
) -> Result<Option<Change>, Refusal> {
    let StatusChange::Move { from, to } =
        decide_status_change(caller, ticket.status, input.status)?
    else {
        return Ok(None);
    };
    let (resolution, said) = if caller.is_agent() {
        (input.resolution.clone(), None)
    } else {
        (None, input.resolution.clone())
    };
    let mut after = ticket.clone();
    after.apply_status(to, resolution, at);
    let mut threads: Vec<Thread> = said
        .map(|text| Thread::new(&caller.sub, text, ThreadType::User, false, at))
        .into_iter()
        .collect();
    let message = status_message(from, to, after.resolution.as_deref());
    threads.push(Thread::system(&caller.sub, message, at));
    Ok(Some(Change::new(
        after,
        STATUS_FIELDS,
        threads,
        &caller.sub,
    )))
}

/// An agent's update of assignment, priority, category, tags or title, with system threads
/// recording assignment and priority changes; `None` when nothing changes.
pub fn plan_update(
    ticket: &Ticket,
    caller: &Caller,
    input: &UpdateTicket,
    at: &Timestamp,
) -> Result<Option<Change>, Refusal> {
    if ticket.status == Status::Closed {
        return Err(Refusal::TicketClosed);
    }
    let mut after = ticket.clone();
    let mut threads = Vec::new();
    if let Some(to) = &input.assigned_to {
        if *to != ticket.assigned_to {
            let message =
                assignment_message(ticket.assigned_to.as_deref(), to.as_deref(), &caller.sub);
            threads.push(Thread::system(&caller.sub, message, at));
            after.assigned_to = to.clone();
        }
    }
    if let Some(p) = input.priority.filter(|p| *p != ticket.priority) {
        threads.push(Thread::system(
            &caller.sub,
            priority_message(ticket.priority, p),
            at,
        ));
        after.priority = p;
    }
    if let Some(c) = input.category {
        after.category = c;
    }
    if let Some(tags) = &input.tags {
        after.tags = tags.clone();
    }
    if let Some(title) = &input.title {
        after.title = title.clone();
    }
    if after == *ticket {
        return Ok(None);
    }
    after.updated_at = at.clone();
    Ok(Some(Change::new(
        after,
        UPDATE_FIELDS,
        threads,
        &caller.sub,
    )))
}

/// The automatic escalation of a ticket whose first response was due before `now` and has
/// not come: its priority one level up, once, with a system thread; `None` when it does not
/// (or no longer) qualify.
pub fn plan_escalation(ticket: &Ticket, policy: &SlaPolicy, now: DateTime<Utc>) -> Option<Change> {
    let breached = sla::clocks(ticket, policy, now).is_some_and(|c| c.first_response_breached);
    let raised = ticket.priority.raised()?;
    if !breached || ticket.first_response_at.is_some() || ticket.escalated_at.is_some() {
        return None;
    }
    let at = Timestamp::at(now);
    let mut after = ticket.clone();
    after.priority = raised;
    after.escalated_at = Some(at.clone());
    after.updated_at = at.clone();
    let message = format!(
        "{} (first response overdue)",
        priority_message(ticket.priority, raised)
    );
    let note = Thread::system(&UserId::system(), message, &at);
    Some(Change::new(
        after,
        &[
            Field::Priority,
            Field::EscalatedAt,
            Field::UpdatedAt,
            Field::ChangedBy,
        ],
        vec![note],
        &UserId::system(),
    ))
}

/// The ticket fields a rating writes.
pub const RATING_FIELDS: &[Field] = &[Field::Satisfaction, Field::UpdatedAt, Field::ChangedBy];

/// How long after closing a ticket its customer may still rate it, unless configured.
pub const RATING_WINDOW_DAYS_DEFAULT: i64 = 7;

/// The customer's rating of their ticket: allowed while it is resolved, or up to `window`
/// after it was closed, and changeable as often as that; recorded on the ticket and in an
/// internal system thread (agents see the comment). `None` when it repeats the rating given.
/// Only the ticket's customer may rate it (others cannot see it: the service answers 404).
pub fn plan_rating(
    ticket: &Ticket,
    caller: &Caller,
    input: &Rate,
    at: &Timestamp,
    window: chrono::Duration,
) -> Result<Option<Change>, Refusal> {
    if caller.is_agent() {
        return Err(Refusal::Forbidden("only the ticket's customer may rate it"));
    }
    match ticket.status {
        Status::Resolved => {}
        Status::Closed => {
            let closed = ticket.closed_at.as_ref().and_then(|c| c.time());
            let now = at.time();
            let open = matches!((closed, now), (Some(c), Some(n)) if n - c <= window);
            if !open {
                return Err(Refusal::NotRateable(format!(
                    "a closed ticket can be rated for {} days after closing",
                    window.num_days()
                )));
            }
        }
        other => {
            return Err(Refusal::NotRateable(format!(
                "a ticket can be rated once resolved (it is {other})"
            )))
        }
    }
    let previous = ticket.satisfaction.as_ref();
    if previous.is_some_and(|p| p.rating == input.rating && p.comment == input.comment) {
        return Ok(None);
    }
    let mut after = ticket.clone();
    after.satisfaction = Some(Satisfaction {
        rating: input.rating,
        comment: input.comment.clone(),
        rated_at: at.clone(),
        rated_priority: ticket.priority,
        rated_category: ticket.category,
        rated_assignee: ticket.assigned_to.clone(),
    });
    after.updated_at = at.clone();
    let said = match previous {
        Some(p) if p.rating != input.rating => {
            format!(
                "Customer changed their rating from {} to {}",
                p.rating, input.rating
            )
        }
        Some(_) => format!(
            "Customer changed their comment on the {} rating",
            input.rating
        ),
        None => format!("Customer rated the support {}", input.rating),
    };
    let message = match &input.comment {
        Some(c) => format!("{said}: {c}"),
        None => said,
    };
    let note = Thread::new(&caller.sub, message, ThreadType::System, true, at);
    Ok(Some(Change::new(
        after,
        RATING_FIELDS,
        vec![note],
        &caller.sub,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{agent, alice, at, ticket};
    use crate::domain::kinds::Rating;

    fn rate(rating: Rating, comment: Option<&str>) -> Rate {
        Rate {
            rating,
            comment: comment.map(str::to_owned),
        }
    }

    #[test]
    fn a_resolved_ticket_is_rated_by_its_customer_once_and_changeable() {
        let window = chrono::Duration::days(7);
        let t = ticket(Status::Resolved);
        let change = plan_rating(
            &t,
            &alice(),
            &rate(Rating::Good, Some("fast")),
            &at(AT),
            window,
        )
        .unwrap()
        .unwrap();
        let s = change.after.satisfaction.clone().unwrap();
        assert_eq!(
            (s.rating, s.comment.as_deref()),
            (Rating::Good, Some("fast"))
        );
        assert_eq!(change.fields, RATING_FIELDS);
        let note = &change.threads[0];
        assert!(note.internal, "the comment is the agents'");
        assert_eq!(note.message, "Customer rated the support good: fast");
        // The same again changes nothing; another rating replaces it.
        let rated = change.after;
        let same = rate(Rating::Good, Some("fast"));
        assert_eq!(
            plan_rating(&rated, &alice(), &same, &at(AT), window),
            Ok(None)
        );
        let bad = plan_rating(&rated, &alice(), &rate(Rating::Bad, None), &at(AT), window)
            .unwrap()
            .unwrap();
        assert_eq!(bad.after.satisfaction.unwrap().rating, Rating::Bad);
        assert_eq!(
            bad.threads[0].message,
            "Customer changed their rating from good to bad"
        );
        assert!(matches!(
            plan_rating(&rated, &agent(), &same, &at(AT), window),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn open_tickets_and_long_closed_ones_cannot_be_rated() {
        let window = chrono::Duration::days(7);
        let good = rate(Rating::Good, None);
        for status in [Status::Open, Status::Pending, Status::InProgress] {
            assert!(matches!(
                plan_rating(&ticket(status), &alice(), &good, &at(AT), window),
                Err(Refusal::NotRateable(_))
            ));
        }
        let mut closed = ticket(Status::Resolved);
        closed.apply_status(Status::Closed, None, &at("2026-11-19T00:00:00.000Z"));
        let day7 = at("2026-11-26T00:00:00.000Z");
        assert!(plan_rating(&closed, &alice(), &good, &day7, window).is_ok());
        let later = at("2026-11-26T00:00:00.001Z");
        assert!(matches!(
            plan_rating(&closed, &alice(), &good, &later, window),
            Err(Refusal::NotRateable(_))
        ));
    }

    fn reply(internal: bool) -> AddThread {
        AddThread {
            message: "hello".into(),
            internal,
            attachments: vec![],
        }
    }

    const AT: &str = "2026-11-26T00:00:00.000Z";

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
    }

    #[test]
    fn a_customer_reply_reopens_pending_and_resolved_tickets() {
        for status in [Status::Pending, Status::Resolved] {
            let plan = plan_thread(&ticket(status), &alice(), &reply(false), &at(AT)).unwrap();
            assert_eq!(plan.threads[0].kind, ThreadType::User);
            let system = plan.threads.get(1).expect("a system thread");
            assert_eq!(system.kind, ThreadType::System);
            assert!(system
                .message
                .starts_with(&format!("Status changed from {status} to open")));
            assert_eq!(plan.after.status, Status::Open);
            assert_eq!(plan.after.resolved_at, None);
            assert_eq!(plan.after.resolution, None);
            assert_eq!(plan.fields, STATUS_FIELDS);
        }
        for status in [Status::Open, Status::InProgress] {
            let plan = plan_thread(&ticket(status), &alice(), &reply(false), &at(AT)).unwrap();
            assert_eq!(plan.threads.len(), 1);
            assert_eq!(plan.after.status, status);
            assert_eq!(plan.fields, THREAD_FIELDS);
        }
        let plan = plan_thread(&ticket(Status::Pending), &agent(), &reply(false), &at(AT)).unwrap();
        assert_eq!(plan.threads.len(), 1, "agents' replies do not reopen");
    }

    #[test]
    fn first_response_is_the_first_public_agent_thread() {
        let t = ticket(Status::Open);
        let first = |t: &Ticket, c: &Caller, internal| {
            plan_thread(t, c, &reply(internal), &at(AT))
                .unwrap()
                .first_response
        };
        assert!(first(&t, &agent(), false));
        assert!(!first(&t, &agent(), true));
        assert!(!first(&t, &alice(), false));
        let mut answered = t.clone();
        answered.first_response_at = Some(at(AT));
        assert!(!first(&answered, &agent(), false));
    }

    #[test]
    fn closed_tickets_take_no_threads_and_customers_no_internal_notes() {
        assert_eq!(
            plan_thread(&ticket(Status::Closed), &agent(), &reply(false), &at(AT)).unwrap_err(),
            Refusal::TicketClosed
        );
        assert!(matches!(
            check_internal_note(&alice(), true),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(check_internal_note(&agent(), true), Ok(()));
        assert_eq!(check_internal_note(&alice(), false), Ok(()));
    }

    #[test]
    fn a_customer_closing_with_words_leaves_them_as_a_thread_not_the_resolution() {
        let t = ticket(Status::Open);
        let input = ChangeStatus {
            status: Status::Closed,
            resolution: Some("no longer needed".into()),
        };
        let change = plan_status(&t, &alice(), &input, &at(AT)).unwrap().unwrap();
        assert_eq!(change.after.resolution, None);
        assert_eq!(change.threads.len(), 2);
        assert_eq!(change.threads[0].message, "no longer needed");
        assert_eq!(change.added(), ThreadCounts { all: 2, public: 2 });
        let after = change.ticket_after_write(&t);
        assert_eq!((after.version, after.thread_count), (2, 3));
    }

    #[test]
    fn an_update_that_changes_nothing_writes_nothing() {
        let t = ticket(Status::Open);
        let same = UpdateTicket {
            priority: Some(Priority::Medium),
            ..Default::default()
        };
        assert_eq!(plan_update(&t, &agent(), &same, &at(AT)), Ok(None));
        let raise = UpdateTicket {
            priority: Some(Priority::Urgent),
            ..Default::default()
        };
        let change = plan_update(&t, &agent(), &raise, &at(AT)).unwrap().unwrap();
        assert_eq!(
            change.threads[0].message,
            "Priority raised from medium to urgent"
        );
        assert_eq!(change.fields, UPDATE_FIELDS);
    }

    #[test]
    fn escalation_raises_a_breached_unanswered_ticket_once() {
        let t = ticket(Status::Open); // medium: first response due after 8 h
        let policy = SlaPolicy::default();
        let early = at("2026-11-25T07:00:00.000Z").time().unwrap();
        let late = at("2026-11-25T09:00:00.000Z").time().unwrap();
        assert_eq!(plan_escalation(&t, &policy, early), None);
        let change = plan_escalation(&t, &policy, late).unwrap();
        assert_eq!(change.after.priority, Priority::High);
        assert_eq!(change.threads[0].author.as_str(), "system");
        assert_eq!(plan_escalation(&change.after, &policy, late), None, "once");
    }
}
