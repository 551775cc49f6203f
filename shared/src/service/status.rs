//! Status changes, and the versioned write that they, agents' updates share: decided on one
//! read of the ticket, written only on the version read.

use std::collections::HashMap;

use super::common::{back_off, render, take_quota, WRITE_ATTEMPTS};
use super::App;
use crate::domain::rules::{plan_rating, plan_status};
use crate::domain::{Caller, Change, ChangeStatus, Rate, Status, Ticket, TicketId, Timestamp};
use crate::error::ApiError;
use crate::store::{Expect, ThreadQuery, TicketRecord, TicketWrite, WriteError};
use serde_json::Value;

/// Changes the status. When another request got there first, a status that moved meanwhile
/// means this request lost a race (409); anything else (a new thread) is decided again.
pub async fn change_status(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    input: ChangeStatus,
    if_match: Option<u64>,
) -> Result<(Ticket, Value), ApiError> {
    let mut first_seen: Option<Status> = None;
    change_on_version(app, caller, id, if_match, |ticket, at| {
        match first_seen {
            None => first_seen = Some(ticket.status),
            Some(seen) if seen != ticket.status => return Err(ApiError::Conflict),
            Some(_) => {}
        }
        Ok(plan_status(ticket, caller, &input, at)?)
    })
    .await
}

/// The customer rates their resolved (or recently closed) ticket, or changes their rating.
/// Agents are refused before anything is read; other customers do not see the ticket (404).
pub async fn rate_ticket(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    input: Rate,
    if_match: Option<u64>,
) -> Result<(Ticket, Value), ApiError> {
    if caller.is_agent() {
        return Err(ApiError::Forbidden(
            "only the ticket's customer may rate it".into(),
        ));
    }
    let window = chrono::Duration::days(i64::from(app.config.rating_window_days));
    change_on_version(app, caller, id, if_match, |ticket, at| {
        Ok(plan_rating(ticket, caller, &input, at, window)?)
    })
    .await
}

/// Reads the ticket, lets `decide` make the change (`None`: nothing to change, answer the
/// ticket as it is), and writes it only on the version read. With `If-Match`, a version that
/// differs at the first read is 412 and one that moves before the write is 409; without it,
/// the change is decided again on a fresh read.
pub(super) async fn change_on_version(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    if_match: Option<u64>,
    mut decide: impl FnMut(&Ticket, &Timestamp) -> Result<Option<Change>, ApiError>,
) -> Result<(Ticket, Value), ApiError> {
    let latest = ThreadQuery::latest(caller.is_agent());
    // The decision needs the ticket item alone; the answer's page of threads is read in the
    // same Query (beside the caller's quota, the first time), and its attachments beside the
    // write.
    let read = || async {
        let (ticket, page) = app.store.ticket_with_threads(id, &latest).await?;
        let ticket = ticket
            .filter(|t| t.visible_to(caller))
            .ok_or(ApiError::NotFound)?;
        Ok::<_, ApiError>((ticket, page))
    };
    let (first, quota) = tokio::join!(read(), take_quota(app, caller));
    quota?;
    let mut first = Some(first);
    for attempt in 0..WRITE_ATTEMPTS {
        let (ticket, page) = match first.take() {
            Some(read) => read?,
            None => read().await?,
        };
        if attempt == 0 && if_match.is_some_and(|v| v != ticket.version) {
            return Err(ApiError::PreconditionFailed);
        }
        let ids = page.attachment_ids();
        let Some(change) = decide(&ticket, &caller.now())? else {
            let attachments = app.store.attachments(id, &ids).await?;
            let record = TicketRecord::latest(ticket, page, attachments, Vec::new());
            let body = render(app, &record, caller, &HashMap::new()).await?;
            return Ok((record.ticket, body));
        };
        let write = TicketWrite::new(&change, Expect::version_of(&ticket));
        let (written, attachments) =
            tokio::join!(app.store.update(&write), app.store.attachments(id, &ids));
        let done = match written {
            Ok(()) => true,
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Changed) if if_match.is_some() => return Err(ApiError::Conflict),
            Err(WriteError::Changed) => false,
            Err(WriteError::Contended) => {
                back_off(attempt).await;
                false
            }
            Err(WriteError::Duplicate) => return Err(WriteError::no_idempotency_here()),
        };
        if done {
            let after = change.ticket_after_write(&ticket);
            let record = TicketRecord::latest(after, page, attachments?, change.threads);
            let body = render(app, &record, caller, &HashMap::new()).await?;
            return Ok((record.ticket, body));
        }
    }
    Err(ApiError::Conflict)
}
