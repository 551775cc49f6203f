//! The operations that answer with a whole ticket, its threads and its files (presigned
//! uploads and downloads), and the confirmation of uploads: everything that needs the bucket.
//! Built with the `files` feature; list-tickets and escalate-tickets go without.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Duration;

use crate::auth::Caller;
use crate::cursor::Position;
use crate::error::ApiError;
use crate::idempotency::{Idempotency, Recorded};
use crate::input::{
    AddThread, AttachmentDecl, ChangeStatus, CreateTicket, UpdateTicket,
    TICKET_ATTACHMENT_BYTES_MAX,
};
use crate::input::{ThreadOrder, ThreadsQuery};
use crate::model::{
    assignment_message, decide_status_change, is_valid_id, priority_message,
    reopens_on_customer_reply, status_message, timestamp, Attachment, AttachmentStatus, Status,
    StatusChange, Thread, ThreadType, Ticket, Upload, STATUS_FIELDS,
};
use crate::service::{no_idempotency_here, App};
use crate::store::{ThreadQuery, TicketRecord, TicketWrite, WriteError, THREAD_PAGE_DEFAULT};
use chrono::Utc;

/// How often a write that lost a race with another request is tried again from a fresh read.
const WRITE_ATTEMPTS: usize = 8;

fn now() -> String {
    timestamp(chrono::Utc::now())
}

/// A short random pause before retrying a contended transaction.
async fn back_off(attempt: usize) {
    let ms = 5 * (attempt as u64 + 1) + rand::random::<u64>() % 20;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A fresh upload URL for an attachment still pending (the first may have expired, or a
/// replayed answer carried an old one): for the ticket's owner or an agent (internal notes'
/// files: agents only), within 24 hours of its declaration, on a ticket not closed.
pub async fn renew_upload(
    app: &App,
    caller: &Caller,
    ticket_id: &str,
    attachment_id: &str,
) -> Result<Value, ApiError> {
    let (ticket, attachment) = tokio::join!(
        visible_ticket(app, caller, ticket_id),
        app.store.attachment(ticket_id, attachment_id)
    );
    let ticket = ticket?;
    let attachment = attachment?
        .filter(|a| a.visible_to(caller))
        .ok_or(ApiError::NotFound)?;
    if ticket.status == Status::Closed {
        return Err(ApiError::TicketClosed);
    }
    let declared = chrono::DateTime::parse_from_rfc3339(&attachment.created_at)
        .map_err(|e| ApiError::internal("attachment time", e))?
        .with_timezone(&Utc);
    let window = chrono::Duration::hours(crate::service::UPLOAD_WINDOW_HOURS);
    if attachment.status != AttachmentStatus::Pending || Utc::now() - declared >= window {
        return Err(ApiError::NotPending);
    }
    let upload = app.files()?.upload(&attachment).await?;
    Ok(attachment.to_json(None, Some(&upload)))
}

/// Takes one write from the caller's quota for this minute: the window taken (to give back
/// if the request turns out to be a replay), or 429 `QUOTA_EXCEEDED` with the seconds left
/// in the minute.
async fn take_quota(app: &App, caller: &Caller) -> Result<String, ApiError> {
    use chrono::Timelike;
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

/// How long a minute's quota item is kept before TTL removes it.
const QUOTA_RECORD_SECONDS: i64 = 3600;

/// Refuses declarations that would take a ticket over its total.
fn check_ticket_bytes(current: u64, decls: &[AttachmentDecl]) -> Result<u64, ApiError> {
    let adding: u64 = decls.iter().map(|d| d.size).sum();
    if current.saturating_add(adding) > TICKET_ATTACHMENT_BYTES_MAX {
        return Err(ApiError::validation(
            "attachments",
            format!(
                "a ticket holds at most {} MiB of attachments; {} bytes are left",
                TICKET_ATTACHMENT_BYTES_MAX / (1024 * 1024),
                TICKET_ATTACHMENT_BYTES_MAX.saturating_sub(current)
            ),
        ));
    }
    Ok(adding)
}

/// Presigned uploads for new attachments, computed before anything is written.
async fn uploads(
    app: &App,
    attachments: &[Attachment],
) -> Result<HashMap<String, Upload>, ApiError> {
    let mut out = HashMap::new();
    for a in attachments {
        out.insert(a.id.clone(), app.files()?.upload(a).await?);
    }
    Ok(out)
}

/// The ticket with its threads and attachments as this caller may see them: uploaded files
/// with a fresh download URL, new ones with their upload.
pub async fn render(
    app: &App,
    record: &TicketRecord,
    caller: &Caller,
    uploads: &HashMap<String, Upload>,
) -> Result<Value, ApiError> {
    let threads = threads_with_files(app, record, caller, uploads).await?;
    let mut body = record
        .ticket
        .detail_for(&threads, caller, &app.config.sla, chrono::Utc::now());
    // The page is the latest threads; the cursor leads to earlier ones, newest first.
    let order = ThreadOrder::Desc;
    let next = record.earlier.clone();
    body["threadsPagination"] = json!({
        "limit": THREAD_PAGE_DEFAULT,
        "order": order.as_str(),
        "hasMore": next.is_some(),
        "nextCursor": seal_threads_cursor(app, caller, &record.ticket.id, order, next),
    });
    Ok(body)
}

/// The record's threads, each with its attachments as this caller may see them: uploaded
/// files with a fresh download URL, new ones with their upload.
async fn threads_with_files(
    app: &App,
    record: &TicketRecord,
    caller: &Caller,
    uploads: &HashMap<String, Upload>,
) -> Result<Vec<Thread>, ApiError> {
    let mut threads = record.threads.clone();
    for a in record.attachments.iter().filter(|a| a.visible_to(caller)) {
        let Some(thread) = threads.iter_mut().find(|t| t.id == a.thread_id) else {
            continue;
        };
        let url = match a.status {
            AttachmentStatus::Uploaded => Some(app.files()?.download(a).await?),
            _ => None,
        };
        thread.attachments.push(a.to_json(url, uploads.get(&a.id)));
    }
    Ok(threads)
}

/// The answer to a request that creates something: what it made, where, and whether it is
/// the replay of an earlier try with the same `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq)]
pub struct Created {
    pub body: Value,
    pub location: String,
    pub etag: Option<u64>,
    pub replayed: bool,
}

impl Created {
    fn new(body: Value, location: String, etag: Option<u64>) -> Self {
        Created {
            body,
            location,
            etag,
            replayed: false,
        }
    }

    /// What an idempotent request keeps of this answer for its retries.
    fn record_for(&self, idem: Option<&Idempotency>) -> Option<Recorded> {
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
async fn earlier(app: &App, idem: Option<&Idempotency>) -> Result<Option<Created>, ApiError> {
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

pub async fn create_ticket(
    app: &App,
    caller: &Caller,
    mut input: CreateTicket,
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
    let at = now();
    let kind = if caller.is_agent() {
        ThreadType::Agent
    } else {
        ThreadType::User
    };
    let first = Thread::new(&caller.sub, input.description.clone(), kind, false, &at);
    let client = input.client.clone().unwrap_or_else(|| caller.sub.clone());
    let decls = std::mem::take(&mut input.attachments);
    let mut ticket = Ticket::open(input, client, &at);
    ticket.attachment_bytes = bytes;
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
    let pair = idem.as_ref().zip(recorded.as_ref());
    // A cancelled transaction wrote nothing, and a fresh UUIDv7 cannot collide: a create
    // cancelled by contention or throttling (on the shared counters) is tried again, then 429.
    for attempt in 0..CREATE_ATTEMPTS {
        match app
            .store
            .create(
                &record.ticket,
                &record.threads[0],
                &record.attachments,
                pair,
            )
            .await
        {
            Ok(()) => return Ok(created),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Duplicate) => return replay_after_race(app, idem.as_ref()).await,
            // A fresh id's put-if-absent can only fail on this very write: an attempt that
            // timed out on the client but landed, then was sent again (DynamoDB dedupes such
            // retries by ClientRequestToken; moto does not). It is done.
            Err(WriteError::Changed) if app.store.ticket(&record.ticket.id).await?.is_some() => {
                return Ok(created)
            }
            Err(WriteError::Changed | WriteError::Contended) => back_off(attempt).await,
        }
    }
    Err(ApiError::Throttled)
}

const CREATE_ATTEMPTS: usize = 3;

/// Another try of the same request wrote first: answer what it answered.
async fn replay_after_race(app: &App, idem: Option<&Idempotency>) -> Result<Created, ApiError> {
    earlier(app, idem)
        .await?
        .ok_or_else(|| ApiError::Internal("idempotency record vanished".into()))
}

async fn visible_record(app: &App, caller: &Caller, id: &str) -> Result<TicketRecord, ApiError> {
    app.store
        .ticket_record(id, caller.is_agent())
        .await?
        .filter(|r| r.ticket.visible_to(caller))
        .ok_or(ApiError::NotFound)
}

/// The ticket item alone, if the caller may see it: what writes decide on (never the
/// partition, which grows with every thread).
async fn visible_ticket(app: &App, caller: &Caller, id: &str) -> Result<Ticket, ApiError> {
    app.store
        .ticket(id)
        .await?
        .filter(|t| t.visible_to(caller))
        .ok_or(ApiError::NotFound)
}

/// What a threads cursor is bound to: the ticket, who asked, as what, and in which order.
fn threads_scope(caller: &Caller, ticket_id: &str, order: ThreadOrder) -> String {
    format!(
        "threads\n{ticket_id}\n{}\n{:?}\n{order:?}",
        caller.sub, caller.role
    )
}

fn seal_threads_cursor(
    app: &App,
    caller: &Caller,
    ticket_id: &str,
    order: ThreadOrder,
    next: Option<String>,
) -> Option<String> {
    next.map(|sk| {
        let at = Position {
            skip: 0,
            partition: ticket_id.to_owned(),
            id: String::new(),
            created_key: sk,
        };
        app.cursors
            .seal(&threads_scope(caller, ticket_id, order), &at)
    })
}

/// `GET /v2/support-tickets/{id}/threads`: a page of the threads the caller may see, each
/// with its attachments, and the cursor to the next page.
pub async fn list_threads(
    app: &App,
    caller: &Caller,
    id: &str,
    query: ThreadsQuery,
) -> Result<Map<String, Value>, ApiError> {
    let after = match &query.cursor {
        Some(c) => {
            let at = app
                .cursors
                .open(&threads_scope(caller, id, query.order), c)?;
            if at.partition != id || !at.created_key.starts_with("THREAD#") {
                return Err(ApiError::InvalidCursor);
            }
            Some(at.created_key)
        }
        None => None,
    };
    let q = ThreadQuery {
        after,
        limit: query.limit,
        newest_first: query.order == ThreadOrder::Desc,
        internal: caller.is_agent(),
    };
    let (ticket, page) = tokio::join!(visible_ticket(app, caller, id), app.store.threads(id, &q));
    let (ticket, page) = (ticket?, page?);
    let attachments = app.store.attachments(id, &page.attachment_ids()).await?;
    let record = TicketRecord::page(ticket, page, attachments);
    let threads = threads_with_files(app, &record, caller, &HashMap::new()).await?;
    let mut out = Map::new();
    out.insert(
        "data".into(),
        Value::Array(threads.iter().map(Thread::to_json).collect()),
    );
    out.insert(
        "pagination".into(),
        json!({
            "limit": query.limit,
            "order": query.order.as_str(),
            "hasMore": record.earlier.is_some(),
            "nextCursor": seal_threads_cursor(app, caller, id, query.order, record.earlier),
        }),
    );
    Ok(out)
}

pub async fn get_ticket(app: &App, caller: &Caller, id: &str) -> Result<(Ticket, Value), ApiError> {
    let record = visible_record(app, caller, id).await?;
    let body = render(app, &record, caller, &HashMap::new()).await?;
    Ok((record.ticket, body))
}

/// What a new thread does to its ticket, decided from the ticket as read.
#[derive(Debug)]
pub struct ThreadPlan {
    pub thread: Thread,
    pub attachments: Vec<Attachment>,
    pub attachment_bytes: u64,
    /// The system thread recording a reopen by the customer's reply.
    pub reopen: Option<Thread>,
    pub first_response: bool,
    pub after: Ticket,
}

pub fn plan_thread(
    ticket: &Ticket,
    caller: &Caller,
    input: &AddThread,
    at: &str,
) -> Result<ThreadPlan, ApiError> {
    if input.internal && !caller.is_agent() {
        return Err(ApiError::Forbidden(
            "only agents may write internal notes".into(),
        ));
    }
    if ticket.status == Status::Closed {
        return Err(ApiError::TicketClosed);
    }
    let attachment_bytes = check_ticket_bytes(ticket.attachment_bytes, &input.attachments)?;
    let kind = if caller.is_agent() {
        ThreadType::Agent
    } else {
        ThreadType::User
    };
    let thread = Thread::new(&caller.sub, input.message.clone(), kind, input.internal, at);
    let attachments = input
        .attachments
        .iter()
        .map(|d| Attachment::new(&ticket.id, &thread, d.clone()))
        .collect();
    let mut after = ticket.clone();
    after.updated_at = at.to_owned();
    let reopen = (!caller.is_agent() && reopens_on_customer_reply(ticket.status)).then(|| {
        after.apply_status(Status::Open, None, at);
        Thread::new(
            &caller.sub,
            format!(
                "{} (customer replied)",
                status_message(ticket.status, Status::Open, None)
            ),
            ThreadType::System,
            false,
            at,
        )
    });
    Ok(ThreadPlan {
        first_response: caller.is_agent() && !input.internal && ticket.first_response_at.is_none(),
        thread,
        attachments,
        attachment_bytes,
        reopen,
        after,
    })
}

/// Adds a thread; concurrent threads on one ticket all land (counts are added, not set), and a
/// status that moved meanwhile is re-read and decided again.
pub async fn add_thread(
    app: &App,
    caller: &Caller,
    id: &str,
    input: AddThread,
    idem: Option<Idempotency>,
) -> Result<Created, ApiError> {
    if input.internal && !caller.is_agent() {
        return Err(ApiError::Forbidden(
            "only agents may write internal notes".into(),
        ));
    }
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
        let at = now();
        let mut plan = plan_thread(&ticket, caller, &input, &at)?;
        if ticket.thread_count >= app.config.max_threads {
            return Err(ApiError::ThreadLimit);
        }
        let uploads = uploads(app, &plan.attachments).await?;
        for a in &plan.attachments {
            plan.thread
                .attachments
                .push(a.to_json(None, uploads.get(&a.id)));
        }
        let created = Created::new(
            plan.thread.to_json(),
            format!("/v2/support-tickets/{id}"),
            None,
        );
        let recorded = created.record_for(idem.as_ref());
        let public = i64::from(!plan.thread.internal) + i64::from(plan.reopen.is_some());
        let all = 1 + i64::from(plan.reopen.is_some());
        let fields: &[&str] = if plan.reopen.is_some() {
            STATUS_FIELDS
        } else {
            &["updatedAt"]
        };
        let write = TicketWrite {
            after: &plan.after,
            fields,
            threads: (all, public),
            first_response: plan.first_response.then_some(at.as_str()),
            expect_status: ticket.status,
            expect_version: None,
            attachment_bytes: plan.attachment_bytes,
            thread_limit: Some(app.config.max_threads),
        };
        let mut threads = vec![&plan.thread];
        threads.extend(plan.reopen.as_ref());
        let pair = idem.as_ref().zip(recorded.as_ref());
        let written = app
            .store
            .update(
                &write,
                &threads,
                &plan.attachments,
                Some(ticket.status),
                pair,
            )
            .await;
        match written {
            Ok(()) => return Ok(created),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Duplicate) => return replay_after_race(app, idem.as_ref()).await,
            // This very write landed on an earlier try whose answer was lost (see create).
            Err(WriteError::Changed) if app.store.has_thread(id, &plan.thread).await? => {
                return Ok(created)
            }
            // The status or the attachment total moved: decide again from a fresh read.
            Err(WriteError::Changed) => continue,
            Err(WriteError::Contended) => back_off(attempt).await,
        }
    }
    Err(ApiError::Conflict)
}

/// Changes the status. The write holds only if the ticket still has the version it was
/// decided on; when another request got there first, a status that moved meanwhile means
/// this request lost a race (409), anything else (a new thread) is decided again.
pub async fn change_status(
    app: &App,
    caller: &Caller,
    id: &str,
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
        let StatusChange::Move { from, to } =
            decide_status_change(caller, ticket.status, input.status)?
        else {
            return Ok(None);
        };
        // The resolution is the agents' record: a customer's closing words become a thread
        // of theirs instead of overwriting it.
        let (resolution, said) = if caller.is_agent() {
            (input.resolution.clone(), None)
        } else {
            (None, input.resolution.clone())
        };
        let mut after = ticket.clone();
        after.apply_status(to, resolution, at);
        let message = status_message(from, to, after.resolution.as_deref());
        let mut notes: Vec<Thread> = said
            .map(|text| Thread::new(&caller.sub, text, ThreadType::User, false, at))
            .into_iter()
            .collect();
        notes.push(Thread::new(
            &caller.sub,
            message,
            ThreadType::System,
            false,
            at,
        ));
        Ok(Some(VersionedChange {
            after,
            notes,
            fields: STATUS_FIELDS,
            status_from: Some(from),
        }))
    })
    .await
}

/// A change decided on one read of a ticket: the ticket after it, the system threads that
/// record it, the fields it writes, and the status it leaves (for the counters).
struct VersionedChange {
    after: Ticket,
    notes: Vec<Thread>,
    fields: &'static [&'static str],
    status_from: Option<Status>,
}

/// Reads the ticket, lets `decide` make the change (`None`: nothing to change, answer the
/// ticket as it is), and writes it only on the version read. With `If-Match`, a version that
/// differs at the first read is 412 and one that moves before the write is 409; without it,
/// the change is decided again on a fresh read.
async fn change_on_version(
    app: &App,
    caller: &Caller,
    id: &str,
    if_match: Option<u64>,
    mut decide: impl FnMut(&Ticket, &str) -> Result<Option<VersionedChange>, ApiError>,
) -> Result<(Ticket, Value), ApiError> {
    let latest = ThreadQuery::latest(caller.is_agent());
    // The decision needs the ticket item alone; the answer's page of threads is read beside
    // it (and the caller's quota, the first time), and its attachments beside the write.
    let read = || async {
        let (ticket, page) = tokio::join!(
            visible_ticket(app, caller, id),
            app.store.threads(id, &latest)
        );
        Ok::<_, ApiError>((ticket?, page?))
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
        let at = now();
        let ids = page.attachment_ids();
        let Some(mut change) = decide(&ticket, &at)? else {
            let attachments = app.store.attachments(id, &ids).await?;
            let record = TicketRecord::latest(ticket, page, attachments, Vec::new());
            let body = render(app, &record, caller, &HashMap::new()).await?;
            return Ok((record.ticket, body));
        };
        let added = change.notes.len() as u32;
        change.after.updated_at = at.clone();
        change.after.version = ticket.version + 1;
        change.after.thread_count = ticket.thread_count + added;
        change.after.public_thread_count = ticket.public_thread_count + added;
        let write = TicketWrite {
            after: &change.after,
            fields: change.fields,
            threads: (i64::from(added), i64::from(added)),
            first_response: None,
            expect_status: ticket.status,
            expect_version: Some(ticket.version),
            attachment_bytes: 0,
            thread_limit: None,
        };
        let notes: Vec<&Thread> = change.notes.iter().collect();
        let (written, attachments) = tokio::join!(
            app.store
                .update(&write, &notes, &[], change.status_from, None),
            app.store.attachments(id, &ids)
        );
        match written {
            Ok(()) => {
                let record = TicketRecord::latest(change.after, page, attachments?, change.notes);
                let body = render(app, &record, caller, &HashMap::new()).await?;
                return Ok((record.ticket, body));
            }
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Changed) if if_match.is_some() => return Err(ApiError::Conflict),
            Err(WriteError::Changed) => continue,
            Err(WriteError::Contended) => back_off(attempt).await,
            Err(WriteError::Duplicate) => return Err(no_idempotency_here()),
        }
    }
    Err(ApiError::Conflict)
}

/// The ticket fields an update writes.
const UPDATE_FIELDS: &[&str] = &[
    "assignedTo",
    "priority",
    "category",
    "tags",
    "title",
    "updatedAt",
];

/// Applies an agent's update to a copy of the ticket: the ticket after it, and the system
/// threads that record assignment and priority changes. `None` when nothing changes.
pub fn plan_update(
    ticket: &Ticket,
    caller: &Caller,
    input: &UpdateTicket,
    at: &str,
) -> Option<(Ticket, Vec<Thread>)> {
    let mut after = ticket.clone();
    let mut notes = Vec::new();
    let system = |message: String| Thread::new(&caller.sub, message, ThreadType::System, false, at);
    if let Some(to) = &input.assigned_to {
        if *to != ticket.assigned_to {
            notes.push(system(assignment_message(
                ticket.assigned_to.as_deref(),
                to.as_deref(),
                &caller.sub,
            )));
            after.assigned_to = to.clone();
        }
    }
    if let Some(p) = input.priority.filter(|p| *p != ticket.priority) {
        notes.push(system(priority_message(ticket.priority, p)));
        after.priority = p;
    }
    if let Some(c) = input.category {
        after.category = c;
    }
    if let Some(tags) = &input.tags {
        after.tags = tags.clone();
    }
    if let Some(title) = &input.title {
        after.title = title.clone();
    }
    if after == *ticket {
        return None;
    }
    Some((after, notes))
}

/// Updates assignment, priority, category, tags or title (agents only). Like a status change,
/// the write holds only on the version it was decided on.
pub async fn update_ticket(
    app: &App,
    caller: &Caller,
    id: &str,
    input: UpdateTicket,
    if_match: Option<u64>,
) -> Result<(Ticket, Value), ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden("only agents may update tickets".into()));
    }
    change_on_version(app, caller, id, if_match, |ticket, at| {
        if ticket.status == Status::Closed {
            return Err(ApiError::TicketClosed);
        }
        Ok(
            plan_update(ticket, caller, &input, at).map(|(after, notes)| VersionedChange {
                after,
                notes,
                fields: UPDATE_FIELDS,
                status_from: None,
            }),
        )
    })
    .await
}

/// Checks an object that arrived in the bucket against its declaration: `uploaded` when it has
/// the declared size and type, otherwise deleted and `rejected`. Safe to run more than once for
/// the same object (S3 delivers events at least once). Keys this service did not issue are
/// deleted: only presigned uploads may write under `tickets/`.
pub async fn confirm_upload(app: &App, key: &str) -> Result<Option<AttachmentStatus>, ApiError> {
    let files = app.files()?;
    let ids = key
        .strip_prefix("tickets/")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(t, a)| is_valid_id(t) && is_valid_id(a));
    let Some((ticket_id, attachment_id)) = ids else {
        tracing::warn!(key, "object outside the attachment key scheme; deleting");
        files.delete(key).await?;
        return Ok(None);
    };
    let Some(attachment) = app.store.attachment(ticket_id, attachment_id).await? else {
        tracing::warn!(key, "object without an attachment record; deleting");
        files.delete(key).await?;
        return Ok(None);
    };
    match attachment.status {
        AttachmentStatus::Pending => {}
        // An upload through a still valid URL after the first was rejected, or after the
        // attachment expired: not kept.
        AttachmentStatus::Rejected | AttachmentStatus::Expired => {
            files.delete(key).await?;
            return Ok(Some(attachment.status));
        }
        // Confirmed bytes cannot be replaced (the upload URL is conditional on no object);
        // a repeated event changes nothing.
        AttachmentStatus::Uploaded => return Ok(Some(attachment.status)),
    }
    let Some(stored) = files.stored(key).await? else {
        return Ok(Some(AttachmentStatus::Pending));
    };
    let matches = stored.size == attachment.size
        && stored
            .content_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&attachment.content_type));
    let status = if matches {
        AttachmentStatus::Uploaded
    } else {
        tracing::info!(
            key,
            declared = attachment.size,
            stored = stored.size,
            "upload does not match its declaration; deleting"
        );
        files.delete(key).await?;
        AttachmentStatus::Rejected
    };
    app.store.settle_attachment(&attachment, status).await?;
    Ok(Some(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::model::{Category, Priority};

    fn ticket(status: Status) -> Ticket {
        let input = CreateTicket {
            title: "t".into(),
            description: "d".into(),
            priority: Priority::Medium,
            category: Category::General,
            tags: vec![],
            client: None,
            attachments: vec![],
        };
        let mut t = Ticket::open(input, "alice".into(), "2026-11-25T00:00:00.000Z");
        t.status = status;
        if status == Status::Resolved {
            t.resolution = Some("fixed".into());
            t.resolved_at = Some(t.created_at.clone());
        }
        t
    }

    fn alice() -> Caller {
        Caller {
            sub: "alice".into(),
            role: Role::Customer,
        }
    }

    fn agent() -> Caller {
        Caller {
            sub: "agent-7".into(),
            role: Role::Agent,
        }
    }

    fn reply(internal: bool) -> AddThread {
        AddThread {
            message: "hello".into(),
            internal,
            attachments: vec![],
        }
    }

    const AT: &str = "2026-11-26T00:00:00.000Z";

    #[test]
    fn a_customer_reply_reopens_pending_and_resolved_tickets() {
        for status in [Status::Pending, Status::Resolved] {
            let plan = plan_thread(&ticket(status), &alice(), &reply(false), AT).unwrap();
            assert_eq!(plan.thread.kind, ThreadType::User);
            let system = plan.reopen.expect("a system thread");
            assert_eq!(system.kind, ThreadType::System);
            assert!(system
                .message
                .starts_with(&format!("Status changed from {status} to open")));
            assert_eq!(plan.after.status, Status::Open);
            assert_eq!(plan.after.resolved_at, None);
            assert_eq!(plan.after.resolution, None);
        }
        for status in [Status::Open, Status::InProgress] {
            let plan = plan_thread(&ticket(status), &alice(), &reply(false), AT).unwrap();
            assert!(plan.reopen.is_none());
            assert_eq!(plan.after.status, status);
        }
        let plan = plan_thread(&ticket(Status::Pending), &agent(), &reply(false), AT).unwrap();
        assert!(plan.reopen.is_none(), "agents' replies do not reopen");
    }

    #[test]
    fn first_response_is_the_first_public_agent_thread() {
        let t = ticket(Status::Open);
        assert!(
            plan_thread(&t, &agent(), &reply(false), AT)
                .unwrap()
                .first_response
        );
        assert!(
            !plan_thread(&t, &agent(), &reply(true), AT)
                .unwrap()
                .first_response
        );
        assert!(
            !plan_thread(&t, &alice(), &reply(false), AT)
                .unwrap()
                .first_response
        );
        let mut answered = t.clone();
        answered.first_response_at = Some(AT.into());
        assert!(
            !plan_thread(&answered, &agent(), &reply(false), AT)
                .unwrap()
                .first_response
        );
    }

    #[test]
    fn closed_tickets_take_no_threads_and_customers_no_internal_notes() {
        assert_eq!(
            plan_thread(&ticket(Status::Closed), &agent(), &reply(false), AT).unwrap_err(),
            ApiError::TicketClosed
        );
        assert!(matches!(
            plan_thread(&ticket(Status::Open), &alice(), &reply(true), AT),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn status_fields_follow_the_contract() {
        let mut t = ticket(Status::Open);
        t.resolution = None;
        t.resolved_at = None;
        t.apply_status(Status::Resolved, Some("done".into()), AT);
        assert_eq!(
            (t.resolved_at.as_deref(), t.resolution.as_deref()),
            (Some(AT), Some("done"))
        );
        t.apply_status(Status::Open, None, AT);
        assert_eq!(
            (t.resolved_at.as_deref(), t.resolution.as_deref()),
            (None, None)
        );
        t.apply_status(Status::Closed, None, AT);
        assert_eq!(t.closed_at.as_deref(), Some(AT));
        assert_eq!(t.updated_at, AT);
    }
}
