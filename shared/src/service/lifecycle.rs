//! Deleting and restoring a ticket (admins), and purging one for good: after its grace
//! period (the stream's record of DynamoDB's TTL removing its item) or by an erasure.

use chrono::Utc;
use serde_json::Value;

use super::common::{back_off, WRITE_ATTEMPTS};
use super::App;
use crate::domain::lifecycle::{plan_delete, plan_restore};
use crate::domain::{Caller, Change, Ticket, TicketId, Timestamp};
use crate::error::ApiError;
use crate::store::{Expect, Removed, TicketWrite, WriteError};
use crate::view;

/// The ticket as an admin's delete or restore reads it: deleted ones too. Customers who may
/// not see it are answered as if it did not exist (404), those who may are refused (403), as
/// agents are, without the ticket being read.
async fn ticket_for_admin(app: &App, caller: &Caller, id: &TicketId) -> Result<Ticket, ApiError> {
    let what = "only members of the admins group delete and restore tickets";
    if caller.is_agent() {
        return Err(ApiError::Forbidden(what.into()));
    }
    let ticket = app.store.ticket(id).await?.ok_or(ApiError::NotFound)?;
    if !caller.admin {
        return Err(if ticket.visible_to(caller) {
            ApiError::Forbidden(what.into())
        } else {
            ApiError::NotFound
        });
    }
    Ok(ticket)
}

/// Reads the ticket, lets `decide` make the change (`None`: nothing to change) and writes it
/// on the version read, again from a fresh read when another change got there first. The
/// ticket after it.
async fn change_as_admin(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    decide: impl Fn(&Ticket, &Timestamp) -> Result<Option<Change>, ApiError>,
) -> Result<Ticket, ApiError> {
    for attempt in 0..WRITE_ATTEMPTS {
        let ticket = ticket_for_admin(app, caller, id).await?;
        let Some(change) = decide(&ticket, &caller.now())? else {
            return Ok(ticket);
        };
        match app
            .store
            .update(&TicketWrite::new(&change, Expect::version_of(&ticket)))
            .await
        {
            Ok(()) => return Ok(change.ticket_after_write(&ticket)),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Changed) => {}
            Err(WriteError::Contended) => back_off(attempt).await,
            Err(WriteError::Duplicate) => return Err(WriteError::no_idempotency_here()),
        }
    }
    Err(ApiError::Conflict)
}

/// Deletes the ticket (admins): 404 everywhere at once, out of every list and count, and
/// restorable for `DELETE_GRACE_DAYS`. Deleting a deleted ticket is 404, as reading it is.
pub async fn delete_ticket(app: &App, caller: &Caller, id: &TicketId) -> Result<Value, ApiError> {
    let grace = chrono::Duration::days(i64::from(app.config.delete_grace_days));
    let after = change_as_admin(app, caller, id, |t, at| {
        if t.is_deleted() {
            return Err(ApiError::NotFound);
        }
        Ok(plan_delete(t, caller, at, grace)?)
    })
    .await?;
    Ok(view::deletion(&after))
}

/// Restores a deleted ticket (admins) as it was, before its purge is due; a ticket that is
/// not deleted is answered as it is.
pub async fn restore_ticket(app: &App, caller: &Caller, id: &TicketId) -> Result<Value, ApiError> {
    let after = change_as_admin(app, caller, id, |t, at| Ok(plan_restore(t, caller, at)?)).await?;
    Ok(view::ticket_summary(
        &after,
        caller,
        &app.config.sla,
        Utc::now(),
    ))
}

/// What a ticket's purge did: what went (also when it failed part-way), the ticket as it was
/// when its item went (none if it was gone already), and how it ended.
pub struct Purge {
    pub removed: Removed,
    pub ticket: Option<Box<Ticket>>,
    pub result: Result<(), ApiError>,
}

/// Purges a ticket: the objects under its prefix and its threads and attachment records
/// (together), then its ticket item. Run again after a failure, it removes what is left; on
/// a purged ticket it removes nothing.
pub async fn purge_ticket(app: &App, id: &TicketId) -> Purge {
    let mut removed = Removed::default();
    let prefix = format!("tickets/{id}/");
    // Boxed: the SDK's futures nest deep enough that a caller's own future (a function's
    // handler) otherwise overflows the compiler's layout depth limit.
    let files = Box::pin(async {
        match app.files() {
            Ok(files) => files.delete_prefix(&prefix).await,
            Err(e) => Err(e),
        }
    });
    let mut items = 0;
    let contents = Box::pin(app.store.purge_ticket_contents(id, &mut items));
    let (files, contents) = tokio::join!(files, contents);
    removed.items = items;
    // What was removed counts even when the other half failed: the next try finds it gone
    // and would not count it again.
    if let Ok(n) = files {
        removed.files = n;
    }
    let mut ticket = None;
    let result = match (files, contents) {
        (Ok(_), Ok(())) => app.store.delete_ticket_item(id).await.map(|was| {
            removed.items += u64::from(was.is_some());
            removed.tickets = u64::from(was.is_some());
            ticket = was.map(Box::new);
        }),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    Purge {
        removed,
        ticket,
        result,
    }
}
