//! Erasing a customer (admins): a job recorded in the table and carried out in steps, each a
//! message on the erasure queue. A step purges a few of the customer's tickets (files, then
//! items) and queues the next; the last removes their own records and counter, ends the job
//! and announces `customer.erased`. A step that fails is handed over again by the queue and
//! starts from what is left, so the job resumes where it stopped; a job run again finds
//! nothing and changes nothing (docs/data-lifecycle.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::lifecycle::purge_ticket;
use super::App;
use crate::domain::events::purge_event;
use crate::domain::{Caller, EventKind, Ticket, TicketId, Timestamp, UserId};
use crate::error::ApiError;
use crate::outbound::{BusEntry, Outbound, PUT_EVENTS_MAX};
use crate::store::{ErasureRecord, Removed};
use crate::view;
use tokio::task::JoinSet;

/// Tickets one step purges: each is a Query, a few BatchWriteItems, an S3 listing and a
/// DeleteObjects, [`PURGES_AT_ONCE`] at a time, well inside the function's timeout.
pub const TICKETS_PER_STEP: usize = 50;
/// Tickets purged at once within a step.
const PURGES_AT_ONCE: usize = 10;
/// Seconds before the step after one that failed part-way.
const AFTER_FAILURE_SECONDS: u32 = 2;
/// Seconds before a step that waits for the counter to drain looks again.
const COUNTER_WAIT_SECONDS: u32 = 5;
/// Steps that find no ticket but a counter not yet at zero before the job gives up waiting
/// and removes the counter anyway (the stream's consumer is far behind or a count drifted).
const COUNTER_WAITS_MAX: u64 = 120;

const RUNNING: &str = "running";

/// One step's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureStep {
    pub erasure: String,
    pub step: u64,
    /// Steps so far that waited for the counter.
    #[serde(default)]
    pub waits: u64,
}

fn admins_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only members of the admins group erase customers".into(),
        ))
    }
}

fn queue(app: &App) -> Result<&str, ApiError> {
    app.config
        .erasure_queue
        .as_deref()
        .ok_or_else(|| ApiError::Internal("ERASURE_QUEUE_URL is not configured".into()))
}

async fn send_step(
    app: &App,
    out: &Outbound,
    step: &ErasureStep,
    delay: u32,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(step).map_err(|e| ApiError::internal("erasure step", e))?;
    out.send(queue(app)?, &body, delay).await
}

/// Starts the erasure of `client`'s data: the job, recorded, and its first step queued. The
/// answer is the job as `GET /v2/erasures/{id}` shows it.
pub async fn start_erasure(
    app: &App,
    out: &Outbound,
    caller: &Caller,
    client: UserId,
) -> Result<Value, ApiError> {
    admins_only(caller)?;
    let job = ErasureRecord {
        id: uuid::Uuid::now_v7().to_string(),
        state: RUNNING.into(),
        client_digest: app.cursors.keyed_digest("customer", client.as_str()),
        client: Some(client.to_string()),
        requested_by: caller.sub.to_string(),
        requested_at: caller.now().to_string(),
        finished_at: None,
        step: 0,
        tickets: 0,
        items: 0,
        files: 0,
        records: 0,
    };
    app.store.put_erasure(&job).await?;
    let first = ErasureStep {
        erasure: job.id.clone(),
        step: 0,
        waits: 0,
    };
    send_step(app, out, &first, 0).await?;
    Ok(view::erasure(&job))
}

/// The job's progress, and once done its receipt.
pub async fn erasure_status(app: &App, caller: &Caller, id: &str) -> Result<Value, ApiError> {
    admins_only(caller)?;
    let uuid_like = uuid::Uuid::parse_str(id).is_ok();
    let job = match uuid_like {
        true => app.store.erasure(id).await?,
        false => None,
    };
    job.map(|j| view::erasure(&j))
        .ok_or(ApiError::ErasureNotFound)
}

/// Carries out one step of a job (a queue message's body). `Err` hands the message over again
/// (the step is repeated from what is left).
pub async fn erase_step(app: &App, out: &Outbound, body: &str) -> Result<(), ApiError> {
    let Ok(step) = serde_json::from_str::<ErasureStep>(body) else {
        tracing::error!("an erasure message that does not read: dropped");
        return Ok(());
    };
    let Some(job) = app.store.erasure(&step.erasure).await? else {
        tracing::error!(erasure = %step.erasure, "no such erasure: message dropped");
        return Ok(());
    };
    if job.state != RUNNING {
        return Ok(());
    }
    if job.step != step.step {
        // A step repeated after it was recorded (its next may not have gone): the next one
        // is queued again; one that starts twice is recorded once (advance_erasure).
        if job.step == step.step + 1 {
            let next = ErasureStep {
                step: job.step,
                ..step
            };
            send_step(app, out, &next, 0).await?;
        }
        return Ok(());
    }
    let client = job
        .client
        .clone()
        .ok_or_else(|| ApiError::Internal("a running erasure without its customer".into()))?;
    let ids = app
        .store
        .client_ticket_ids(&client, TICKETS_PER_STEP)
        .await?;
    let next = ErasureStep {
        erasure: job.id.clone(),
        step: step.step + 1,
        waits: step.waits,
    };
    if !ids.is_empty() {
        let (removed, purged, failure) = purge_all(app, ids).await;
        announce_purged(out, &purged).await;
        // A step that failed part-way records what it removed and leaves the rest to the next
        // step; one that removed nothing is handed over again by the queue (and parked in the
        // dead-letter queue if it keeps failing).
        if let Some(e) = &failure {
            if removed == Removed::default() {
                return Err(e.clone());
            }
            tracing::warn!(erasure = %job.id, error = %e, "erasure step failed part-way: going on from what is left");
        }
        let delay = if failure.is_some() {
            AFTER_FAILURE_SECONDS
        } else {
            0
        };
        if app
            .store
            .advance_erasure(&job.id, step.step, removed, None)
            .await?
        {
            send_step(app, out, &next, delay).await?;
        }
        return Ok(());
    }
    // No ticket left: the customer's own records, then their counter once the stream's
    // consumer has taken every purged ticket out of it.
    let removed = Removed {
        records: app.store.purge_caller_records(&client).await?,
        // Their export archives, if any are left (the bucket expires them after a week).
        files: app
            .files()?
            .delete_prefix(&format!("exports/{}/", job.client_digest))
            .await?,
        ..Removed::default()
    };
    let counter_gone = app.store.purge_client_counter(&client).await?
        || step.waits >= COUNTER_WAITS_MAX && app.store.remove_client_counter(&client).await?;
    if !counter_gone {
        if app
            .store
            .advance_erasure(&job.id, step.step, removed, None)
            .await?
        {
            let wait = ErasureStep {
                waits: step.waits + 1,
                ..next
            };
            send_step(app, out, &wait, COUNTER_WAIT_SECONDS).await?;
        }
        return Ok(());
    }
    let at = Timestamp::now();
    let mut done = job.clone();
    done.tickets += removed.tickets;
    done.items += removed.items;
    done.files += removed.files;
    done.records += removed.records;
    // Announced before the job is marked done: a step repeated after a failure between the
    // two announces it again, with the same event id.
    announce(out, &done, &client, &at).await?;
    if app
        .store
        .advance_erasure(&job.id, step.step, removed, Some(at.as_str()))
        .await?
    {
        tracing::info!(erasure = %job.id, tickets = done.tickets, items = done.items, files = done.files, records = done.records, "customer erased");
    }
    Ok(())
}

/// Purges the tickets, [`PURGES_AT_ONCE`] at a time, stopping after the first group with a
/// failure: what went (also of the tickets that failed part-way), the tickets whose item
/// went, and the failure.
async fn purge_all(app: &App, ids: Vec<TicketId>) -> (Removed, Vec<Ticket>, Option<ApiError>) {
    let mut removed = Removed::default();
    let mut purged = Vec::new();
    for group in ids.chunks(PURGES_AT_ONCE) {
        let mut purges = JoinSet::new();
        for id in group {
            let (app, id) = (app.clone(), id.clone());
            purges.spawn(async move { purge_ticket(&app, &id).await });
        }
        let mut failure = None;
        while let Some(done) = purges.join_next().await {
            let purge = match done {
                Ok(purge) => purge,
                Err(e) => {
                    failure.get_or_insert(ApiError::internal("purge task", e));
                    continue;
                }
            };
            removed.add(purge.removed);
            purged.extend(purge.ticket.map(|t| *t));
            if let Err(e) = purge.result {
                failure.get_or_insert(e);
            }
        }
        if failure.is_some() {
            return (removed, purged, failure);
        }
    }
    (removed, purged, None)
}

/// `ticket.purged` (reason `erased`) for each ticket an erasure step removed, on the bus, ten
/// to a PutEvents. Best effort: the tickets are gone either way, and a step repeated would
/// not find them again; what did not go is logged.
async fn announce_purged(out: &Outbound, tickets: &[Ticket]) {
    let at = Timestamp::now();
    let entries: Vec<BusEntry> = tickets
        .iter()
        .map(|t| {
            let event = purge_event(t, at.clone(), false);
            BusEntry {
                kind: event.kind().as_str(),
                detail: view::event(&event).to_string(),
                time: at.time(),
            }
        })
        .collect();
    for chunk in entries.chunks(PUT_EVENTS_MAX) {
        match out.put_events(chunk).await {
            Ok(results) if results.iter().all(Option::is_none) => {}
            Ok(results) => {
                let lost = results.iter().filter(|r| r.is_some()).count();
                tracing::error!(lost, "ticket.purged events not put on the bus");
            }
            Err(e) => {
                tracing::error!(error = ?e, lost = chunk.len(), "ticket.purged events not put on the bus")
            }
        }
    }
}

/// `customer.erased` on the bus: the customer's id, for integrators to erase their copies
/// (docs/data-lifecycle.md); its id is the job's, so a repeat is recognised as one.
async fn announce(
    out: &Outbound,
    job: &ErasureRecord,
    client: &str,
    at: &Timestamp,
) -> Result<(), ApiError> {
    let digest = Sha256::digest(format!("erasure:{}", job.id).as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let detail = view::erased_event(&format!("evt_{hex}"), job, client, at);
    let entry = BusEntry {
        kind: EventKind::CustomerErased.as_str(),
        detail: detail.to_string(),
        time: at.time(),
    };
    match out.put_events(&[entry]).await?.first() {
        Some(Some(error)) => Err(ApiError::Internal(format!("put events: {error}"))),
        _ => Ok(()),
    }
}
