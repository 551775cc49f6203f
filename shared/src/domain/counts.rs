//! Counts per status, kept off the write path: committed changes move tickets between
//! statuses ([`Move`]), and a batch of moves folds into what each counter must add
//! ([`Deltas`]).

use std::collections::BTreeMap;

use super::kinds::StatusCounts;
use super::{Status, UserId};

/// A committed change seen by the counts: a ticket of `client` left `from` (none: it is new)
/// for `to` (none: it is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub client: UserId,
    pub from: Option<Status>,
    pub to: Option<Status>,
}

/// What a batch of moves adds to the global counts and to each customer's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deltas {
    pub global: StatusCounts,
    pub clients: BTreeMap<UserId, StatusCounts>,
}

impl Deltas {
    /// Whether the batch changes no count (every move stayed within its status).
    pub fn is_empty(&self) -> bool {
        self.global == StatusCounts::default()
            && self.clients.values().all(|c| *c == StatusCounts::default())
    }
}

/// Folds moves into deltas; a ticket that keeps its status moves nothing.
pub fn fold<'a>(moves: impl IntoIterator<Item = &'a Move>) -> Deltas {
    let mut out = Deltas::default();
    for m in moves {
        if m.from == m.to {
            continue;
        }
        let client = out.clients.entry(m.client.clone()).or_default();
        for (status, n) in [(m.from, -1), (m.to, 1)] {
            if let Some(status) = status {
                out.global.add(status, n);
                client.add(status, n);
            }
        }
    }
    out.clients.retain(|_, c| *c != StatusCounts::default());
    out
}

impl StatusCounts {
    /// The statuses with a count other than zero, as `(status, count)`.
    pub fn nonzero(&self) -> Vec<(Status, i64)> {
        Status::ALL
            .iter()
            .map(|&s| (s, self.get(s)))
            .filter(|&(_, n)| n != 0)
            .collect()
    }

    /// Adds another set of counts to these.
    pub fn add_all(&mut self, other: &StatusCounts) {
        for &s in Status::ALL {
            self.add(s, other.get(s));
        }
    }

    pub fn get(&self, status: Status) -> i64 {
        match status {
            Status::Open => self.open,
            Status::Pending => self.pending,
            Status::InProgress => self.in_progress,
            Status::Resolved => self.resolved,
            Status::Closed => self.closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(client: &str, from: Option<Status>, to: Option<Status>) -> Move {
        Move {
            client: UserId::parse(client).unwrap(),
            from,
            to,
        }
    }

    #[test]
    fn new_moved_and_unmoved_tickets_fold_into_per_customer_and_global_deltas() {
        use Status::*;
        let moves = [
            mv("alice", None, Some(Open)),
            mv("alice", Some(Open), Some(Pending)),
            mv("bob", None, Some(Open)),
            mv("bob", Some(Open), Some(Open)),
            mv("carol", Some(Resolved), Some(Open)),
            mv("carol", Some(Open), Some(Resolved)),
        ];
        let d = fold(&moves);
        assert_eq!(d.global.open, 1);
        assert_eq!(d.global.pending, 1);
        assert_eq!(d.global.resolved, 0);
        assert_eq!(d.clients.len(), 2, "carol's moves cancel out: {d:?}");
        let alice = &d.clients[&UserId::parse("alice").unwrap()];
        assert_eq!(alice.nonzero(), vec![(Pending, 1)]);
        assert!(!d.is_empty());
        assert!(fold(&[mv("bob", Some(Open), Some(Open))]).is_empty());
        assert_eq!(
            fold(&[mv("dan", Some(Closed), None)]).global.closed,
            -1,
            "a ticket that is gone leaves its status"
        );
    }
}
