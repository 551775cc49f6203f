//! What the operations that write or show a whole ticket share: the caller's view of a
//! ticket, the write quota, retries of contended writes, idempotent answers, and the ticket
//! answer with its files.

use chrono::{Timelike, Utc};
use serde_json::Value;
use std::collections::HashMap;

use super::{App, Created};
use crate::cursor::Position;
use crate::domain::Upload;
use crate::domain::{
    Attachment, AttachmentId, AttachmentStatus, Caller, ThreadOrder, Ticket, TicketId,
};
use crate::error::ApiError;
use crate::idempotency::{Idempotency, Recorded};
use crate::store::{TicketRecord, THREAD_PAGE_DEFAULT};
use crate::view;

/// How often a write that lost a race with another request is tried again from a fresh read.
pub(super) const WRITE_ATTEMPTS: usize = 8;
pub(super) use super::back_off;

/// The ticket item alone, if the caller may see it: what writes decide on (never the
/// partition, which grows with every thread). Others' tickets are 404, as missing ones.
pub(super) async fn visible_ticket(
    app: &App,
    caller: &Caller,
    id: &TicketId,
) -> Result<Ticket, ApiError> {
    app.store
        .ticket(id)
        .await?
        .filter(|t| t.visible_to(caller))
        .ok_or(ApiError::NotFound)
}

/// How long a minute's quota item is kept before TTL removes it.
const QUOTA_RECORD_SECONDS: i64 = 3600;

/// Takes one write from the caller's quota for this minute: the window taken (to give back
/// if the request turns out to be a replay), or 429 `QUOTA_EXCEEDED` with the seconds left
/// in the minute.
pub(super) async fn take_quota(app: &App, caller: &Caller) -> Result<String, ApiError> {
    let now = Utc::now();
    let window = now.format("%Y-%m-%dT%H:%M").to_string();
    let limit = if caller.is_agent() {
        app.config.agent_writes
    } else {
        app.config.customer_writes
    };
    let expires_at = now.timestamp() + QUOTA_RECORD_SECONDS;
    if app
        .store
        .take_quota(&caller.sub, &window, limit, expires_at)
        .await?
    {
        Ok(window)
    } else {
        Err(ApiError::QuotaExceeded {
            retry_after: 60 - u64::from(now.second()),
        })
    }
}

impl Created {
    pub(super) fn new(body: Value, location: String, etag: Option<u64>) -> Self {
        Created {
            body,
            location,
            etag,
            replayed: false,
        }
    }

    /// What an idempotent request keeps of this answer for its retries.
    pub(super) fn record_for(&self, idem: Option<&Idempotency>) -> Option<Recorded> {
        let now = Utc::now().timestamp();
        idem.map(|i| i.record(201, &self.body, Some(self.location.clone()), self.etag, now))
    }

    fn replay(idem: &Idempotency, recorded: &Recorded) -> Result<Self, ApiError> {
        Ok(Created {
            body: idem.replay(recorded)?,
            location: recorded.location.clone().unwrap_or_default(),
            etag: recorded.etag,
            replayed: true,
        })
    }
}

/// The earlier answer to this request, if it was made before with the same key.
pub(super) async fn earlier(
    app: &App,
    idem: Option<&Idempotency>,
) -> Result<Option<Created>, ApiError> {
    let Some(idem) = idem else {
        return Ok(None);
    };
    match app
        .store
        .idempotency_record(idem, Utc::now().timestamp())
        .await?
    {
        Some(recorded) => Created::replay(idem, &recorded).map(Some),
        None => Ok(None),
    }
}

/// Another try of the same request wrote first: answer what it answered.
pub(super) async fn replay_after_race(
    app: &App,
    idem: Option<&Idempotency>,
) -> Result<Created, ApiError> {
    earlier(app, idem)
        .await?
        .ok_or_else(|| ApiError::Internal("idempotency record vanished".into()))
}

/// Presigned uploads for new attachments, computed before anything is written.
pub(super) async fn uploads(
    app: &App,
    attachments: &[Attachment],
) -> Result<HashMap<AttachmentId, Upload>, ApiError> {
    let mut out = HashMap::new();
    for a in attachments {
        out.insert(a.id.clone(), app.files()?.upload(a).await?);
    }
    Ok(out)
}

/// The ticket with its threads and attachments as this caller may see them: uploaded files
/// with a fresh download URL, new ones with their upload.
pub(super) async fn render(
    app: &App,
    record: &TicketRecord,
    caller: &Caller,
    uploads: &HashMap<AttachmentId, Upload>,
) -> Result<Value, ApiError> {
    let threads = shown_threads(app, record, caller, uploads).await?;
    let summary = view::ticket_summary(&record.ticket, caller, &app.config.sla, Utc::now());
    // The page is the latest threads; the cursor leads to earlier ones, newest first.
    let order = ThreadOrder::Desc;
    let next = seal_threads_cursor(
        app,
        caller,
        &record.ticket.id,
        order,
        record.earlier.clone(),
    );
    let pagination = view::threads_pagination(THREAD_PAGE_DEFAULT, order, next);
    Ok(view::ticket_detail(summary, threads, pagination))
}

/// The record's threads this caller may see, each with its attachments as they may see them:
/// uploaded files with a fresh download URL, new ones with their upload.
pub(super) async fn shown_threads(
    app: &App,
    record: &TicketRecord,
    caller: &Caller,
    uploads: &HashMap<AttachmentId, Upload>,
) -> Result<Vec<Value>, ApiError> {
    let mut shown = Vec::new();
    for t in record.threads.iter().filter(|t| t.visible_to(caller)) {
        let mut files = Vec::new();
        let theirs = record.attachments.iter().filter(|a| a.thread_id == t.id);
        for a in theirs.filter(|a| a.visible_to(caller)) {
            let url = match a.status {
                AttachmentStatus::Uploaded => Some(app.files()?.download(a).await?),
                _ => None,
            };
            files.push(view::attachment(a, url, uploads.get(&a.id)));
        }
        shown.push(view::thread(t, files));
    }
    Ok(shown)
}

/// What a threads cursor is bound to: the ticket, who asked, as what, and in which order.
fn threads_scope(caller: &Caller, ticket_id: &TicketId, order: ThreadOrder) -> String {
    format!(
        "threads\n{ticket_id}\n{}\n{:?}\n{order:?}",
        caller.sub, caller.role
    )
}

/// The cursor to the threads after `next` (a thread's sort key), in `order`.
pub(super) fn seal_threads_cursor(
    app: &App,
    caller: &Caller,
    ticket_id: &TicketId,
    order: ThreadOrder,
    next: Option<String>,
) -> Option<String> {
    next.map(|sk| {
        let at = Position {
            skip: 0,
            partition: ticket_id.to_string(),
            id: String::new(),
            created_key: sk,
            shards: Vec::new(),
        };
        app.cursors
            .seal(&threads_scope(caller, ticket_id, order), &at)
    })
}

/// The sort key a threads cursor of this caller, ticket and order leads to.
pub(super) fn open_threads_cursor(
    app: &App,
    caller: &Caller,
    ticket_id: &TicketId,
    order: ThreadOrder,
    cursor: &str,
) -> Result<String, ApiError> {
    let at = app
        .cursors
        .open(&threads_scope(caller, ticket_id, order), cursor)?;
    if at.partition != ticket_id.as_str() || !at.created_key.starts_with("THREAD#") {
        return Err(ApiError::InvalidCursor);
    }
    Ok(at.created_key)
}
