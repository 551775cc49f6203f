//! The consumer of the table's stream: committed changes to tickets, folded into the counts
//! per status and the metrics' rollups in batches, each batch added once however often the
//! stream delivers it.

use std::collections::BTreeSet;

use super::{back_off, App};
use crate::domain::counts::{fold, Move};
use crate::domain::metrics::{facts, Rollups, ATTRIBUTES_PER_WRITE_MAX};
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

/// The changes the next transaction folds (at least one), with what they add: as many as keep
/// it within [`BATCH_ITEMS_MAX`] items (its marker, a global shard, a counter per customer,
/// the rollup items) and every rollup item's write within [`ATTRIBUTES_PER_WRITE_MAX`]
/// attributes. Each change's rollups are made once and merged.
fn next_chunk<'a>(
    changes: &'a [Counted],
    policy: &SlaPolicy,
) -> (&'a [Counted], crate::domain::counts::Deltas, Rollups) {
    let mut rollups = Rollups::default();
    let mut clients = BTreeSet::new();
    let mut end = 0;
    while end < changes.len().min(BATCH_CHANGES) {
        let mut one = Rollups::default();
        changes[end].rollups(policy, &mut one);
        let mut merged = rollups.clone();
        merged.merge(one);
        let client = &changes[end].change.client;
        let customers = clients.len() + usize::from(!clients.contains(client));
        let too_big = 2 + customers + merged.len() > BATCH_ITEMS_MAX
            || merged.widest() > ATTRIBUTES_PER_WRITE_MAX;
        if end > 0 && too_big {
            break;
        }
        clients.insert(client.clone());
        rollups = merged;
        end += 1;
    }
    let chunk = &changes[..end];
    (chunk, fold(chunk.iter().map(|c| &c.change)), rollups)
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
    use super::*;
    use crate::domain::{Priority, Status};

    /// Imported tickets, each answered and resolved in its own quarter and time bucket of one
    /// hour: the hour's items gain attributes with every change, so a batch is cut before one
    /// item's write names more than DynamoDB's expression takes; no change is left out.
    #[test]
    fn a_batch_stops_before_a_rollup_write_grows_too_wide() {
        let changes: Vec<Counted> = (0..90)
            .map(|i: i64| {
                let answered = chrono::DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc)
                    + chrono::Duration::minutes(15 * (i % 4));
                let waited = (60.0 * 2f64.powf((i / 2) as f64 / 4.0)) as i64 + 1;
                let created = Timestamp::at(answered - chrono::Duration::seconds(waited));
                let mut t = crate::domain::fixtures::ticket_at(
                    Status::Resolved,
                    Priority::Low,
                    created.as_str(),
                );
                t.first_response_at = Some(Timestamp::at(answered));
                t.resolved_at = Some(Timestamp::at(answered));
                Counted {
                    event_id: format!("e{i}"),
                    sequence: i.to_string(),
                    at: Timestamp::at(answered),
                    change: Move {
                        client: t.client.clone(),
                        from: None,
                        to: Some(Status::Resolved),
                    },
                    tickets: Some((None, Some(Box::new(t)))),
                }
            })
            .collect();
        let policy = SlaPolicy::default();
        let mut rest = &changes[..];
        let mut chunks = Vec::new();
        while !rest.is_empty() {
            let (chunk, _, rollups) = next_chunk(rest, &policy);
            assert!(rollups.widest() <= ATTRIBUTES_PER_WRITE_MAX);
            assert!(2 + 1 + rollups.len() <= BATCH_ITEMS_MAX);
            chunks.push(chunk.len());
            rest = &rest[chunk.len()..];
        }
        assert!(chunks.len() > 1, "cut short: {chunks:?}");
        assert_eq!(chunks.iter().sum::<usize>(), 90);
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(at_or_before("99", "100"));
        assert!(at_or_before("100", "100"));
        assert!(!at_or_before("101", "100"));
        assert!(!at_or_before("1000", "999"));
    }
}
