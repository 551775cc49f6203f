//! Service levels: per-priority targets for the first response and for resolution, and the
//! arithmetic of due times, pauses and breaches. Pure functions of a ticket and a clock.
//!
//! Rules (also in docs/api.md):
//! - Both clocks start at `createdAt`; due times are `createdAt` + the target of the ticket's
//!   *current* priority, so changing the priority recomputes them.
//! - The first-response clock stops at `firstResponseAt` (the first public agent thread), or
//!   when the ticket is resolved or closed without one.
//! - The resolution clock stops at `resolvedAt` (else `closedAt`). It is paused while the
//!   ticket is `pending` (waiting on the customer) or `resolved` (a reopen resumes it): the
//!   paused time pushes `resolutionDueAt` later.
//! - A clock is breached when it stopped, or it is now, strictly after its due time.

use chrono::{DateTime, Duration, Utc};

use super::ids::Timestamp;
use super::kinds::Priority;
use super::ticket::Ticket;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    pub first_response: Duration,
    pub resolution: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaPolicy {
    urgent: Targets,
    high: Targets,
    medium: Targets,
    low: Targets,
}

fn hours(first: i64, resolution: i64) -> Targets {
    Targets {
        first_response: Duration::hours(first),
        resolution: Duration::hours(resolution),
    }
}

impl Default for SlaPolicy {
    /// urgent 1 h / 4 h, high 4 h / 24 h, medium 8 h / 72 h, low 24 h / 168 h.
    fn default() -> Self {
        SlaPolicy {
            urgent: hours(1, 4),
            high: hours(4, 24),
            medium: hours(8, 72),
            low: hours(24, 168),
        }
    }
}

impl SlaPolicy {
    pub fn targets(&self, p: Priority) -> Targets {
        match p {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        }
    }

    /// The policy with `priority`'s targets replaced (settings: `config`).
    pub fn with(mut self, priority: Priority, targets: Targets) -> Self {
        let slot = match priority {
            Priority::Urgent => &mut self.urgent,
            Priority::High => &mut self.high,
            Priority::Medium => &mut self.medium,
            Priority::Low => &mut self.low,
        };
        *slot = targets;
        self
    }
}

fn parse(t: &Timestamp) -> Option<DateTime<Utc>> {
    t.time()
}

/// The clocks of one ticket, with the metrics they give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clocks {
    pub first_response_due: DateTime<Utc>,
    pub resolution_due: DateTime<Utc>,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
    /// Seconds from creation to the first response, once there is one.
    pub first_response_seconds: Option<i64>,
    /// Seconds from creation to resolution, paused time excluded, once resolved or closed.
    pub resolution_seconds: Option<i64>,
}

/// When the first response falls due for this ticket's priority.
pub fn first_response_due(t: &Ticket, policy: &SlaPolicy) -> Option<DateTime<Utc>> {
    Some(parse(&t.created_at)? + policy.targets(t.priority).first_response)
}

pub fn clocks(t: &Ticket, policy: &SlaPolicy, now: DateTime<Utc>) -> Option<Clocks> {
    let created = parse(&t.created_at)?;
    let targets = policy.targets(t.priority);
    let stopped = t
        .resolved_at
        .as_ref()
        .or(t.closed_at.as_ref())
        .and_then(parse);
    let first_response = t.first_response_at.as_ref().and_then(parse);

    let first_response_due = created + targets.first_response;
    let first_end = first_response.or(stopped).unwrap_or(now);

    let end = stopped.unwrap_or(now);
    let paused_now = t
        .sla_paused_since
        .as_ref()
        .and_then(parse)
        .map(|since| (end - since).max(Duration::zero()))
        .unwrap_or_else(Duration::zero);
    let paused = Duration::seconds(t.sla_paused_seconds as i64) + paused_now;
    let resolution_due = created + targets.resolution + paused;

    Some(Clocks {
        first_response_due,
        resolution_due,
        first_response_breached: first_end > first_response_due,
        resolution_breached: end > resolution_due,
        first_response_seconds: first_response.map(|f| (f - created).num_seconds()),
        resolution_seconds: stopped.map(|s| ((s - created) - paused).num_seconds()),
    })
}

/// Keeps the pause bookkeeping when a ticket moves from one status to another at `at`:
/// entering `pending` or `resolved` starts a pause, leaving both ends it.
pub fn track_pause(t: &mut Ticket, to_paused: bool, at: &Timestamp) {
    match (&t.sla_paused_since, to_paused) {
        (None, true) => t.sla_paused_since = Some(at.clone()),
        (Some(since), false) => {
            if let (Some(s), Some(a)) = (parse(since), parse(at)) {
                t.sla_paused_seconds += (a - s).num_seconds().max(0) as u64;
            }
            t.sla_paused_since = None;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::kinds::Status;

    fn timestamp(t: DateTime<Utc>) -> String {
        Timestamp::at(t).to_string()
    }

    const T0: &str = "2026-11-25T10:00:00.000Z";

    fn at(t: &str) -> DateTime<Utc> {
        ts(t).time().unwrap()
    }

    fn ts(t: &str) -> Timestamp {
        Timestamp::parse(t).unwrap()
    }

    fn ticket(priority: Priority) -> Ticket {
        crate::domain::fixtures::ticket_at(Status::Open, priority, T0)
    }

    fn clocks_at(t: &Ticket, now: &str) -> Clocks {
        clocks(t, &SlaPolicy::default(), at(now)).unwrap()
    }

    #[test]
    fn due_times_follow_the_priority() {
        let c = clocks_at(&ticket(Priority::Urgent), T0);
        assert_eq!(timestamp(c.first_response_due), "2026-11-25T11:00:00.000Z");
        assert_eq!(timestamp(c.resolution_due), "2026-11-25T14:00:00.000Z");
        let c = clocks_at(&ticket(Priority::Low), T0);
        assert_eq!(timestamp(c.first_response_due), "2026-11-26T10:00:00.000Z");
        assert_eq!(timestamp(c.resolution_due), "2026-12-02T10:00:00.000Z");
    }

    #[test]
    fn breaches_start_after_the_boundary_second() {
        let t = ticket(Priority::Urgent);
        assert!(!clocks_at(&t, "2026-11-25T11:00:00.000Z").first_response_breached);
        assert!(clocks_at(&t, "2026-11-25T11:00:00.001Z").first_response_breached);
        assert!(clocks_at(&t, "2026-11-25T11:00:01.000Z").first_response_breached);
        assert!(!clocks_at(&t, "2026-11-25T14:00:00.000Z").resolution_breached);
        assert!(clocks_at(&t, "2026-11-25T14:00:01.000Z").resolution_breached);
    }

    #[test]
    fn a_first_response_stops_the_first_clock() {
        let mut t = ticket(Priority::Urgent);
        t.first_response_at = Some(ts("2026-11-25T10:30:00.000Z"));
        let c = clocks_at(&t, "2026-11-26T00:00:00.000Z");
        assert!(!c.first_response_breached);
        assert_eq!(c.first_response_seconds, Some(1800));
        t.first_response_at = Some(ts("2026-11-25T11:00:01.000Z"));
        assert!(clocks_at(&t, "2026-11-26T00:00:00.000Z").first_response_breached);
    }

    #[test]
    fn resolution_stops_the_second_clock() {
        let mut t = ticket(Priority::Urgent);
        t.apply_status(
            Status::Resolved,
            Some("done".into()),
            &ts("2026-11-25T13:00:00.000Z"),
        );
        let later = clocks_at(&t, "2026-11-30T00:00:00.000Z");
        assert!(!later.resolution_breached);
        assert_eq!(later.resolution_seconds, Some(3 * 3600));
        assert!(
            later.first_response_breached,
            "resolved without any answer, after 1 h"
        );
    }

    #[test]
    fn pending_pauses_the_resolution_clock() {
        let mut t = ticket(Priority::Urgent); // resolution due 14:00
        t.apply_status(Status::Pending, None, &ts("2026-11-25T12:00:00.000Z"));
        // Waiting on the customer for 5 h: not breached, and the due time moves with the wait.
        let waiting = clocks_at(&t, "2026-11-25T17:00:00.000Z");
        assert!(!waiting.resolution_breached);
        assert_eq!(
            timestamp(waiting.resolution_due),
            "2026-11-25T19:00:00.000Z"
        );
        t.apply_status(Status::Open, None, &ts("2026-11-25T17:00:00.000Z"));
        assert_eq!(t.sla_paused_seconds, 5 * 3600);
        let back = clocks_at(&t, "2026-11-25T18:59:59.000Z");
        assert_eq!(timestamp(back.resolution_due), "2026-11-25T19:00:00.000Z");
        assert!(!back.resolution_breached);
        assert!(clocks_at(&t, "2026-11-25T19:00:01.000Z").resolution_breached);
        t.apply_status(
            Status::Resolved,
            Some("ok".into()),
            &ts("2026-11-25T18:00:00.000Z"),
        );
        let c = clocks_at(&t, "2026-12-01T00:00:00.000Z");
        assert_eq!(
            c.resolution_seconds,
            Some(3 * 3600),
            "8 h elapsed, 5 h paused"
        );
    }

    #[test]
    fn a_pause_that_ends_in_closing_still_counts() {
        let mut t = ticket(Priority::Urgent);
        t.apply_status(Status::Pending, None, &ts("2026-11-25T12:00:00.000Z"));
        t.apply_status(Status::Closed, None, &ts("2026-11-26T12:00:00.000Z"));
        let c = clocks_at(&t, "2026-12-01T00:00:00.000Z");
        assert!(!c.resolution_breached);
        assert_eq!(c.resolution_seconds, Some(2 * 3600));
    }

    #[test]
    fn changing_the_priority_recomputes_from_creation() {
        let mut t = ticket(Priority::Low);
        assert!(!clocks_at(&t, "2026-11-25T12:00:00.000Z").first_response_breached);
        t.priority = Priority::Urgent;
        let c = clocks_at(&t, "2026-11-25T12:00:00.000Z");
        assert_eq!(timestamp(c.first_response_due), "2026-11-25T11:00:00.000Z");
        assert!(c.first_response_breached);
    }
}
