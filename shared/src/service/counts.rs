//! The consumer of the table's stream: committed changes to tickets, folded into the counts
//! per status and the metrics' rollups in batches, each batch added once however often the
//! stream delivers it.

use super::{back_off, App};
use crate::domain::counts::{fold, Move};
use crate::domain::metrics::{facts, Rollups};
use crate::domain::{SlaPolicy, Ticket, Timestamp};
use crate::error::ApiError;
use crate::store::{CountBatch, WriteError, BATCH_ITEMS_MAX};

/// One committed change to a ticket, as the stream delivered it.
#[derive(Clone, Debug, PartialEq)]
pub struct Counted {
    pub event_id: String,
    /// The stream's sequence number (increasing within a shard, which a batch comes from).
    pub sequence: String,
    /// When the change was committed (the stream's approximate creation time).
    pub at: Timestamp,
    pub change: Move,
    /// The ticket before and after the change (none: new, or deleted); none when an image
    /// did not read as a ticket, which then adds nothing to the metrics.
    pub tickets: Option<Images>,
}

/// A ticket as the stream showed it before and after a change (none: new, or deleted).
pub type Images = (Option<Box<Ticket>>, Option<Box<Ticket>>);

impl Counted {
    /// What the change adds to the metrics' rollups.
    fn rollups(&self, policy: &SlaPolicy, into: &mut Rollups) {
        let Some((before, after)) = &self.tickets else {
            return;
        };
        let committed = self.at.time().unwrap_or_else(chrono::Utc::now);
        for f in facts(before.as_deref(), after.as_deref(), committed, policy) {
            into.add(&f);
        }
    }
}

/// What one delivery did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Folded {
    /// Changes added to the counts now.
    pub folded: usize,
    /// Changes an earlier delivery had already added (a replay), passed over.
    pub replayed: usize,
    /// Transactions written.
    pub batches: usize,
}

/// The most changes one transaction folds; fewer when their counters and rollup items would
/// take it over [`BATCH_ITEMS_MAX`].
pub const BATCH_CHANGES: usize = 90;
/// Tries of a batch whose counters another batch held meanwhile.
const ATTEMPTS: usize = 8;

/// Whether stream sequence number `a` comes at or before `b` (decimal strings of any length).
fn at_or_before(a: &str, b: &str) -> bool {
    (a.len(), a) <= (b.len(), b)
}

/// Folds the changes of one delivery, in order, in transactions of at most
/// [`BATCH_CHANGES`] changes and [`BATCH_ITEMS_MAX`] items; each transaction carries a marker keyed by its first change, so a
/// delivery repeated after a failure passes over what was already added. On a failure, the
/// index of the first change not added: the stream delivers again from there.
pub async fn fold_changes(app: &App, changes: &[Counted]) -> Result<Folded, (usize, ApiError)> {
    let mut report = Folded::default();
    let mut i = 0;
    while i < changes.len() {
        match app.store.folded_up_to(&changes[i].event_id).await {
            Ok(Some(up_to)) => {
                let start = i;
                while i < changes.len() && at_or_before(&changes[i].sequence, &up_to) {
                    i += 1;
                }
                // A marker always covers at least the change it is keyed by.
                i = i.max(start + 1);
                report.replayed += i - start;
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err((i, e)),
        }
        let (chunk, deltas, rollups) = next_chunk(&changes[i..], &app.config.sla);
        if !deltas.is_empty() || !rollups.is_empty() {
            let last = chunk.last().expect("a chunk is never empty");
            let as_of = chunk.iter().map(|c| &c.at).max().unwrap_or(&last.at);
            let batch = CountBatch {
                first_event: &changes[i].event_id,
                up_to: &last.sequence,
                as_of,
                deltas: &deltas,
                rollups: &rollups,
            };
            if !apply(app, &batch).await.map_err(|e| (i, e))? {
                // Its marker exists: an earlier delivery added it (perhaps as a shorter
                // batch). The marker is read again, and the fold goes on where it ends.
                continue;
            }
            report.batches += 1;
        }
        report.folded += chunk.len();
        i += chunk.len();
    }
    Ok(report)
}

/// The changes the next transaction folds (at least one), with what they add.
fn next_chunk<'a>(
    changes: &'a [Counted],
    policy: &SlaPolicy,
) -> (&'a [Counted], crate::domain::counts::Deltas, Rollups) {
    let mut rollups = Rollups::default();
    let mut deltas = fold(std::iter::empty());
    let mut end = 0;
    while end < changes.len().min(BATCH_CHANGES) {
        let mut more = rollups.clone();
        changes[end].rollups(policy, &mut more);
        let counted = fold(changes[..=end].iter().map(|c| &c.change));
        if end > 0 && CountBatch::items(&counted, &more) > BATCH_ITEMS_MAX {
            break;
        }
        (rollups, deltas) = (more, counted);
        end += 1;
    }
    (&changes[..end], deltas, rollups)
}

/// Adds one batch, trying again while other batches hold its counters; `false` when its
/// marker shows it was added before.
async fn apply(app: &App, batch: &CountBatch<'_>) -> Result<bool, ApiError> {
    for attempt in 0..ATTEMPTS {
        match app.store.apply_counts(batch).await {
            Ok(()) => return Ok(true),
            Err(WriteError::Duplicate) => return Ok(false),
            Err(WriteError::Contended) => back_off(attempt).await,
            Err(WriteError::Changed) => return Err(WriteError::no_idempotency_here()),
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    Err(ApiError::Throttled)
}

#[cfg(test)]
mod tests {
    use super::at_or_before;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(at_or_before("99", "100"));
        assert!(at_or_before("100", "100"));
        assert!(!at_or_before("101", "100"));
        assert!(!at_or_before("1000", "999"));
    }
}
