//! The automatic escalation of tickets whose first response is overdue.

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::rules::plan_escalation;
use crate::domain::{TicketId, Timestamp};
use crate::error::ApiError;
use crate::store::{Expect, TicketWrite, WriteError};

/// What one run of the automatic escalation did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalation {
    /// Breached tickets found in the escalation index.
    pub breached: usize,
    /// Ids of the tickets whose priority was raised.
    pub escalated: Vec<TicketId>,
}

/// Tickets escalated side by side in one run.
const CONCURRENT: usize = 16;
/// The most tickets one run escalates: each is a read and a transaction, [`CONCURRENT`] at a
/// time, so a full run stays well inside the function's timeout; the rest wait for the next
/// run (every 5 minutes), soonest due first.
pub const PER_RUN: usize = 500;

/// Raises by one level the priority of every ticket whose first response was due before
/// `now` and has not come (up to [`PER_RUN`] of them, soonest due first), once per ticket (it
/// then leaves the escalation index), with a system thread. Reads only the breached part of
/// the sparse escalation index; each ticket is written only on the version it was decided
/// on, like a status change.
pub async fn escalate_breached(app: &App, now: DateTime<Utc>) -> Result<Escalation, ApiError> {
    let candidates = app
        .store
        .escalation_candidates(&Timestamp::at(now), PER_RUN)
        .await?;
    let mut report = Escalation {
        breached: candidates.len(),
        ..Escalation::default()
    };
    let mut waiting = candidates.into_iter().map(|t| t.id);
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < CONCURRENT {
            let Some(id) = waiting.next() else { break };
            let app = app.clone();
            running.spawn(async move { escalate_one(&app, id, now).await });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        if let Some(id) = done.map_err(|e| ApiError::internal("escalation", e))?? {
            report.escalated.push(id);
        }
    }
    report.escalated.sort();
    Ok(report)
}

/// Escalates one ticket if it still should be: its id when it was raised.
async fn escalate_one(
    app: &App,
    id: TicketId,
    now: DateTime<Utc>,
) -> Result<Option<TicketId>, ApiError> {
    // Re-read: the index is eventually consistent, and the ticket may have moved (or been
    // deleted: it left the index, which may not show it yet).
    let Some(ticket) = app.store.ticket(&id).await?.filter(|t| !t.is_deleted()) else {
        return Ok(None);
    };
    let Some(change) = plan_escalation(&ticket, &app.config.sla, now) else {
        return Ok(None);
    };
    let write = TicketWrite::new(&change, Expect::version_of(&ticket));
    match app.store.update(&write).await {
        Ok(()) => Ok(Some(ticket.id)),
        // Changed meanwhile (answered, reprioritised): the next run decides again.
        Err(WriteError::Changed | WriteError::Contended) => Ok(None),
        Err(WriteError::Duplicate) => Err(WriteError::no_idempotency_here()),
        Err(WriteError::Failed(e)) => Err(e),
    }
}
