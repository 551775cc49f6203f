//! Opening a ticket: its description becomes the first thread.

use super::common::{back_off, earlier, render, replay_after_race, take_quota, uploads};
use super::{App, Created};
use crate::domain::rules::{check_ticket_bytes, thread_kind};
use crate::domain::{Attachment, Caller, NewTicket, Thread, Ticket};
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{Creation, TicketRecord, WriteError};

/// Tries of a create cancelled by contention or throttling (on the shared counters).
const CREATE_ATTEMPTS: usize = 3;

pub async fn create_ticket(
    app: &App,
    caller: &Caller,
    mut input: NewTicket,
    idem: Option<Idempotency>,
) -> Result<Created, ApiError> {
    if input.client.is_some() && !caller.is_agent() {
        return Err(ApiError::Forbidden(
            "only agents may open a ticket for another client".into(),
        ));
    }
    // The quota is taken beside the idempotency read; a replay gives it back.
    let (replay, quota) = tokio::join!(earlier(app, idem.as_ref()), take_quota(app, caller));
    if let Some(replay) = replay? {
        if let Ok(window) = quota {
            app.store.refund_quota(&caller.sub, &window).await?;
        }
        return Ok(replay);
    }
    quota?;
    let bytes = check_ticket_bytes(0, &input.attachments)?;
    let at = caller.now();
    let first = Thread::new(
        &caller.sub,
        input.description.clone(),
        thread_kind(caller),
        false,
        &at,
    );
    let client = input.client.take().unwrap_or_else(|| caller.sub.clone());
    let decls = std::mem::take(&mut input.attachments);
    let mut ticket = Ticket::open(input, client, &at);
    ticket.attachment_bytes = bytes;
    ticket.changed_by = Some(caller.sub.clone());
    let attachments: Vec<Attachment> = decls
        .into_iter()
        .map(|d| Attachment::new(&ticket.id, &first, d))
        .collect();
    let uploads = uploads(app, &attachments).await?;
    let record = TicketRecord {
        ticket,
        threads: vec![first],
        attachments,
        earlier: None,
    };
    // The answer is known before the write, so its replay can be written with it.
    let created = Created::new(
        render(app, &record, caller, &uploads).await?,
        format!("/v2/support-tickets/{}", record.ticket.id),
        Some(record.ticket.version),
    );
    let recorded = created.record_for(idem.as_ref());
    let write = Creation {
        ticket: &record.ticket,
        first: &record.threads[0],
        attachments: &record.attachments,
        idempotency: idem.as_ref().zip(recorded.as_ref()),
    };
    // A cancelled transaction wrote nothing, and a fresh UUIDv7 cannot collide: a create
    // cancelled by contention or throttling is tried again, then 429.
    for attempt in 0..CREATE_ATTEMPTS {
        match app.store.create(&write).await {
            Ok(()) => return Ok(created),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Duplicate) => return replay_after_race(app, idem.as_ref()).await,
            Err(WriteError::Changed | WriteError::Contended) => back_off(attempt).await,
        }
    }
    Err(ApiError::Throttled)
}
