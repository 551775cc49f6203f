//! The publisher: committed writes from the table's stream, turned into the catalogue's events
//! and put on the event bus, in stream order. A batch that fails part-way is delivered again
//! from the first write whose events did not all go; events put before that are put again
//! then, with the same ids (consumers and the webhook deliveries keep one per id).

use super::App;
use crate::domain::events::{attachment_event, purge_event, ticket_events, Event};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::outbound::{BusEntry, Outbound, PUT_EVENTS_BYTES, PUT_EVENTS_MAX};
use crate::store::Written;
use crate::view;

/// One record of the stream, as the publisher sees it.
#[derive(Clone, Debug)]
pub struct StreamChange {
    /// The stream's sequence number (what a partial failure names).
    pub sequence: String,
    pub at: Timestamp,
    /// What was written, if it is something events are made of.
    pub written: Option<Written>,
}

/// What one delivery did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub records: usize,
    pub events: usize,
    /// Events too large for the bus, logged and left out (they cannot ever go).
    pub too_large: usize,
}

/// The events of one write, in order.
async fn events_of(app: &App, change: &StreamChange) -> Result<Vec<Event>, ApiError> {
    match &change.written {
        None => Ok(Vec::new()),
        Some(Written::Ticket {
            before,
            after,
            threads,
        }) => {
            let threads = if threads.is_empty()
                || before.as_ref().map(|b| b.version) == Some(after.version)
            {
                Vec::new()
            } else {
                app.store.threads_by_key(&after.id, threads).await?
            };
            Ok(ticket_events(before.as_deref(), after, &threads))
        }
        // DynamoDB's TTL removed it (its deletion's grace or its retention ended); an erasure
        // announces the tickets it removes itself, and anything else that removes a ticket
        // item (maintenance, a test's clean-up) is no change of the service's.
        Some(Written::TicketRemoved { before, by_ttl }) => Ok(by_ttl
            .then(|| purge_event(before, change.at.clone(), true))
            .into_iter()
            .collect()),
        Some(Written::Attachment { before, after }) => {
            let before = before.as_deref();
            if attachment_event(before, after, 0, change.at.clone()).is_none() {
                return Ok(Vec::new());
            }
            let version = app
                .store
                .ticket(&after.ticket_id)
                .await?
                .map_or(0, |t| t.version);
            Ok(attachment_event(before, after, version, change.at.clone())
                .into_iter()
                .collect())
        }
    }
}

/// Publishes the events of `changes`, in order. On a failure, the index of the first change
/// whose events did not all go: the stream delivers again from there.
pub async fn publish(
    app: &App,
    out: &Outbound,
    changes: &[StreamChange],
) -> Result<Published, (usize, ApiError)> {
    let mut report = Published {
        records: changes.len(),
        ..Published::default()
    };
    // (index of the change, entry), gathered and put in requests of at most ten entries and
    // 256 KiB.
    let mut pending: Vec<(usize, BusEntry)> = Vec::new();
    let mut bytes = 0;
    for (i, change) in changes.iter().enumerate() {
        let events = match events_of(app, change).await {
            Ok(e) => e,
            Err(e) => {
                flush(out, &mut pending, &mut report).await?;
                return Err((i, e));
            }
        };
        for event in events {
            let detail = view::event(&event).to_string();
            let size = detail.len() + event.kind().as_str().len() + 64;
            if size > PUT_EVENTS_BYTES {
                tracing::error!(event = %event.id(), size, "event larger than the bus takes: left out");
                report.too_large += 1;
                continue;
            }
            if pending.len() == PUT_EVENTS_MAX || bytes + size > PUT_EVENTS_BYTES {
                flush(out, &mut pending, &mut report).await?;
                bytes = 0;
            }
            bytes += size;
            pending.push((
                i,
                BusEntry {
                    kind: event.kind().as_str(),
                    detail,
                    time: event.time.time(),
                },
            ));
        }
    }
    flush(out, &mut pending, &mut report).await?;
    Ok(report)
}

/// Puts the gathered entries; on a failure, the index of the first change with an entry
/// that did not go (the entries before it went, and may go again on the redelivery).
async fn flush(
    out: &Outbound,
    pending: &mut Vec<(usize, BusEntry)>,
    report: &mut Published,
) -> Result<(), (usize, ApiError)> {
    if pending.is_empty() {
        return Ok(());
    }
    let (indexes, entries): (Vec<usize>, Vec<BusEntry>) = pending.drain(..).unzip();
    let results = out
        .put_events(&entries)
        .await
        .map_err(|e| (indexes[0], e))?;
    report.events += results.iter().filter(|r| r.is_none()).count();
    match results.iter().position(Option::is_some) {
        None => Ok(()),
        Some(failed) => {
            let error = results[failed].clone().unwrap_or_default();
            Err((
                indexes[failed],
                ApiError::Internal(format!("put events: {error}")),
            ))
        }
    }
}
