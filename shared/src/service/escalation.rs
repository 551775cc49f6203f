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

/// Raises by one level the priority of every ticket whose first response was due before
/// `now` and has not come, once per ticket (it then leaves the escalation index), with a
/// system thread. Reads only the breached part of the sparse escalation index; each ticket
/// is written only on the version it was decided on, like a status change.
pub async fn escalate_breached(app: &App, now: DateTime<Utc>) -> Result<Escalation, ApiError> {
    let candidates = app.store.escalation_candidates(&Timestamp::at(now)).await?;
    let mut report = Escalation {
        breached: candidates.len(),
        ..Escalation::default()
    };
    for seen in candidates {
        // Re-read: the index is eventually consistent, and the ticket may have moved.
        let Some(ticket) = app.store.ticket(&seen.id).await? else {
            continue;
        };
        let Some(change) = plan_escalation(&ticket, &app.config.sla, now) else {
            continue;
        };
        let write = TicketWrite::new(&change, Expect::version_of(&ticket));
        match app.store.update(&write).await {
            Ok(()) => report.escalated.push(ticket.id),
            // Changed meanwhile (answered, reprioritised): the next run decides again.
            Err(WriteError::Changed | WriteError::Contended) => {}
            Err(WriteError::Duplicate) => return Err(WriteError::no_idempotency_here()),
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    Ok(report)
}
