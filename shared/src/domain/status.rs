//! The status machine: which moves there are, who may make them, what a move does to the
//! ticket, and the audit line it leaves.

use super::caller::{Caller, Role};
use super::ids::Timestamp;
use super::kinds::Status;
use super::refusal::Refusal;
use super::sla;
use super::ticket::{Field, Ticket};

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
) -> Result<StatusChange, Refusal> {
    if from == to {
        return Ok(StatusChange::Unchanged);
    }
    let allowed = allowed_targets(from);
    if !allowed.contains(&to) {
        return Err(Refusal::InvalidTransition {
            from,
            to,
            allowed: allowed.to_vec(),
        });
    }
    let customer_may = to == Status::Closed || (from == Status::Resolved && to == Status::Open);
    if caller.role == Role::Customer && !customer_may {
        return Err(Refusal::Forbidden(
            "customers may only close their ticket or reopen a resolved one",
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
pub const STATUS_FIELDS: &[Field] = &[
    Field::Status,
    Field::UpdatedAt,
    Field::ResolvedAt,
    Field::ClosedAt,
    Field::Resolution,
    Field::SlaPausedSeconds,
    Field::SlaPausedSince,
    Field::ChangedBy,
];

impl Ticket {
    /// Moves the ticket to `to` at `at`: `resolvedAt` and `resolution` are set on resolving
    /// and cleared when a resolved ticket goes back to work; `closedAt` is set on closing
    /// (a resolution given then is kept as the closing note).
    pub fn apply_status(&mut self, to: Status, resolution: Option<String>, at: &Timestamp) {
        let from = self.status;
        // The resolution clock pauses while pending or resolved; once resolved it has
        // stopped, so closing then adds no paused time.
        if to == Status::Closed && self.resolved_at.is_some() {
            self.sla_paused_since = None;
        } else {
            sla::track_pause(self, matches!(to, Status::Pending | Status::Resolved), at);
        }
        match to {
            Status::Resolved => {
                self.resolved_at = Some(at.clone());
                self.resolution = resolution;
            }
            Status::Closed => {
                self.closed_at = Some(at.clone());
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
        self.updated_at = at.clone();
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
    use crate::domain::fixtures::{agent, alice, at, ticket};

    const AT: &str = "2026-11-26T00:00:00.000Z";

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
                let agent = decide_status_change(&agent(), from, to);
                let customer = decide_status_change(&alice(), from, to);
                if from == to {
                    assert_eq!(agent, Ok(StatusChange::Unchanged), "{from}->{to}");
                    assert_eq!(customer, Ok(StatusChange::Unchanged), "{from}->{to}");
                } else if !allowed.contains(&to) {
                    for result in [agent, customer] {
                        match result {
                            Err(Refusal::InvalidTransition { allowed: a, .. }) => {
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
                            matches!(customer, Err(Refusal::Forbidden(_))),
                            "{from}->{to}: customer got {customer:?}"
                        );
                    }
                }
            }
        }
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
    fn status_fields_follow_the_contract() {
        let mut t = ticket(Status::Open);
        t.apply_status(Status::Resolved, Some("done".into()), &at(AT));
        assert_eq!(
            (t.resolved_at.as_deref(), t.resolution.as_deref()),
            (Some(AT), Some("done"))
        );
        t.apply_status(Status::Open, None, &at(AT));
        assert_eq!(
            (t.resolved_at.as_deref(), t.resolution.as_deref()),
            (None, None)
        );
        t.apply_status(Status::Closed, None, &at(AT));
        assert_eq!(t.closed_at.as_deref(), Some(AT));
        assert_eq!(t.updated_at.as_str(), AT);
    }
}
