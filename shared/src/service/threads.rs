//! Replies and internal notes.

use super::common::{
    back_off, earlier, replay_after_race, take_quota, uploads, visible_ticket, WRITE_ATTEMPTS,
};
use super::{App, Created};
use crate::domain::rules::{check_internal_note, plan_thread};
use crate::domain::{AddThread, Caller, TicketId};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{Expect, TicketWrite, WriteError};
use crate::view;

/// Adds a thread; concurrent threads on one ticket all land (counts are added, not set), and a
/// status that moved meanwhile is re-read and decided again.
pub async fn add_thread(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    input: AddThread,
    idem: Option<Idempotency>,
) -> Result<Created, ApiError> {
    check_internal_note(caller, input.internal)?;
    // Keys are per caller and ticket: an earlier answer is the caller's own, checked once.
    if let Some(replay) = earlier(app, idem.as_ref()).await? {
        return Ok(replay);
    }
    // The quota is taken beside the first read of the ticket.
    let (first, quota) = tokio::join!(visible_ticket(app, caller, id), take_quota(app, caller));
    quota?;
    let mut first = Some(first);
    for attempt in 0..WRITE_ATTEMPTS {
        let ticket = match first.take() {
            Some(read) => read?,
            None => visible_ticket(app, caller, id).await?,
        };
        let change = plan_thread(&ticket, caller, &input, &caller.now())?;
        if ticket.thread_count >= app.config.max_threads {
            return Err(ApiError::ThreadLimit);
        }
        let uploads = uploads(app, &change.attachments).await?;
        let reply = &change.threads[0];
        let files = change
            .attachments
            .iter()
            .map(|a| view::attachment(a, None, uploads.get(&a.id)))
            .collect();
        let created = Created::new(
            view::thread(reply, files),
            format!("/v2/support-tickets/{id}"),
            None,
        );
        let recorded = created.record_for(idem.as_ref());
        let write = TicketWrite {
            thread_limit: Some(app.config.max_threads),
            idempotency: idem.as_ref().zip(recorded.as_ref()),
            ..TicketWrite::new(&change, Expect::status_of(&ticket))
        };
        match app.store.update(&write).await {
            Ok(()) => return Ok(created),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Duplicate) => return replay_after_race(app, idem.as_ref()).await,
            // The status or the attachment total moved: decide again from a fresh read.
            Err(WriteError::Changed) => continue,
            Err(WriteError::Contended) => back_off(attempt).await,
        }
    }
    Err(ApiError::Conflict)
}
