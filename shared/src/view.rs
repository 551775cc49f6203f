//! The contract's JSON: how tickets, threads, attachments, service levels and pages are
//! shown. The one place the wire shapes are written; the service decides what a caller sees
//! and passes it here.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::domain::events::{Event, Happened, CATALOGUE_VERSION};
use crate::domain::kinds::StatusCounts;
use crate::domain::metrics::{self, Counter, Report, Tally};
use crate::domain::sla::{self, Clocks, SlaPolicy};
use crate::domain::webhooks::Subscription;
use crate::domain::{
    Attachment, AttachmentStatus, Caller, Thread, ThreadOrder, Ticket, Timestamp, Upload,
};
use crate::input::MetricsQuery;

/// A ticket as a list shows it to `caller`, with its service levels as of `now`.
pub fn ticket_summary(
    t: &Ticket,
    caller: &Caller,
    policy: &SlaPolicy,
    now: DateTime<Utc>,
) -> Value {
    let clocks = sla::clocks(t, policy, now);
    json!({
        "_id": t.id,
        "title": t.title,
        "description": t.description,
        "status": t.status,
        "priority": t.priority,
        "category": t.category,
        "client": t.client,
        "assignedTo": t.assigned_to,
        "tags": t.tags,
        "resolution": t.resolution,
        "createdAt": t.created_at,
        "updatedAt": t.updated_at,
        "resolvedAt": t.resolved_at,
        "closedAt": t.closed_at,
        "firstResponseAt": t.first_response_at,
        // Customers are shown the threads they can see, so the count betrays no internal note.
        "threadCount": t.thread_count_for(caller),
        "version": t.version,
        "sla": clocks.as_ref().map(sla_levels),
        "firstResponseSeconds": clocks.as_ref().and_then(|c| c.first_response_seconds),
        "resolutionSeconds": clocks.as_ref().and_then(|c| c.resolution_seconds),
        "satisfaction": t.satisfaction.as_ref().map(|s| json!({
            "rating": s.rating,
            "comment": s.comment,
            "ratedAt": s.rated_at,
        })),
    })
}

fn sla_levels(c: &Clocks) -> Value {
    json!({
        "firstResponseDueAt": Timestamp::at(c.first_response_due),
        "resolutionDueAt": Timestamp::at(c.resolution_due),
        "firstResponseBreached": c.first_response_breached,
        "resolutionBreached": c.resolution_breached,
    })
}

/// A thread with its attachments (already shown: [`attachment`]).
pub fn thread(t: &Thread, attachments: Vec<Value>) -> Value {
    json!({
        "_id": t.id,
        "author": t.author,
        "message": t.message,
        "timestamp": t.timestamp,
        "type": t.kind,
        "internal": t.internal,
        "attachments": attachments,
    })
}

/// An attachment: a download `url` only once uploaded, and its `upload` in the answer to the
/// request that declared it (or renewed it).
pub fn attachment(a: &Attachment, url: Option<String>, upload: Option<&Upload>) -> Value {
    let mut v = json!({
        "_id": a.id,
        "filename": a.filename,
        "size": a.size,
        "type": a.content_type,
        "threadId": a.thread_id,
        "status": a.status,
        "createdAt": a.created_at,
    });
    if let (AttachmentStatus::Uploaded, Some(url)) = (a.status, url) {
        v["url"] = url.into();
    }
    if let Some(upload) = upload {
        v["upload"] = json!({
            "url": upload.url,
            "method": upload.method,
            "headers": upload.headers,
            "expiresAt": upload.expires_at,
        });
    }
    v
}

/// The ticket with its threads (shown: [`thread`], oldest first), every attachment of theirs
/// in one list too, and where the earlier threads are.
pub fn ticket_detail(summary: Value, threads: Vec<Value>, pagination: Value) -> Value {
    let mut value = summary;
    let attachments: Vec<Value> = threads
        .iter()
        .filter_map(|t| t["attachments"].as_array())
        .flatten()
        .cloned()
        .collect();
    value["threads"] = Value::Array(threads);
    value["attachments"] = Value::Array(attachments);
    value["threadsPagination"] = pagination;
    value
}

/// Where a page of threads goes on.
pub fn threads_pagination(limit: usize, order: ThreadOrder, next: Option<String>) -> Value {
    json!({
        "limit": limit,
        "order": order.as_str(),
        "hasMore": next.is_some(),
        "nextCursor": next,
    })
}

/// Where a page of tickets goes on (`page` when asked by page number).
pub fn tickets_pagination(limit: usize, page: Option<usize>, next: Option<String>) -> Value {
    let mut p = json!({
        "limit": limit,
        "hasMore": next.is_some(),
        "nextCursor": next,
    });
    if let Some(page) = page {
        p["page"] = json!(page);
    }
    p
}

pub fn counts(c: &StatusCounts) -> Value {
    json!({
        "open": c.open,
        "pending": c.pending,
        "in_progress": c.in_progress,
        "resolved": c.resolved,
        "closed": c.closed,
    })
}

/// A list answer's members besides `success`: `data`, `pagination`, and if asked `counts`
/// with `countsAsOf` (the commit time of the newest change they include; null before any).
pub fn page(
    data: Vec<Value>,
    pagination: Value,
    counts: Option<(StatusCounts, Option<Timestamp>)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("data".into(), Value::Array(data));
    out.insert("pagination".into(), pagination);
    if let Some((c, as_of)) = counts {
        out.insert("counts".into(), self::counts(&c));
        out.insert("countsAsOf".into(), json!(as_of));
    }
    out
}

/// An event as the bus and webhooks carry it (the catalogue, docs/events.md; its JSON Schemas
/// are in `events/schemas/`).
pub fn event(e: &Event) -> Value {
    let data = match &e.happened {
        Happened::Created(t) => json!({"ticket": {
            "_id": t.id,
            "title": t.title,
            "description": t.description,
            "status": t.status,
            "priority": t.priority,
            "category": t.category,
            "client": t.client,
            "assignedTo": t.assigned_to,
            "tags": t.tags,
            "createdAt": t.created_at,
            "version": t.version,
        }}),
        Happened::ThreadAdded(t) => json!({"thread": {
            "_id": t.id,
            "author": t.author,
            "message": t.message,
            "timestamp": t.timestamp,
            "type": t.kind,
            "internal": t.internal,
        }}),
        Happened::StatusChanged {
            from,
            to,
            resolution,
        } => json!({"from": from, "to": to, "resolution": resolution}),
        Happened::Assigned { to, from } => json!({"assignedTo": to, "previousAssignee": from}),
        Happened::Unassigned { from } => json!({"previousAssignee": from}),
        Happened::PriorityChanged { from, to, cause } => {
            json!({"from": from, "to": to, "cause": cause.as_str()})
        }
        Happened::Updated {
            category,
            tags,
            title,
        } => {
            let mut changes = Map::new();
            if let Some(m) = category {
                changes.insert("category".into(), json!({"from": m.from, "to": m.to}));
            }
            if let Some(m) = tags {
                changes.insert("tags".into(), json!({"from": m.from, "to": m.to}));
            }
            if let Some(m) = title {
                changes.insert("title".into(), json!({"from": m.from, "to": m.to}));
            }
            json!({ "changes": changes })
        }
        Happened::AttachmentUploaded(a) | Happened::AttachmentRejected(a) => {
            json!({"attachment": {
                "_id": a.id,
                "threadId": a.thread_id,
                "filename": a.filename,
                "size": a.size,
                "type": a.content_type,
                "status": a.status,
                "internal": a.internal,
            }})
        }
        Happened::Rated {
            rating,
            comment,
            previous,
        } => json!({"rating": rating, "comment": comment, "previousRating": previous}),
        Happened::Deleted { purge_after } => json!({"purgeAfter": purge_after}),
        Happened::Restored => json!({}),
        Happened::Purged { reason } => json!({"reason": reason.as_str()}),
    };
    json!({
        "id": e.id(),
        "type": e.kind(),
        "catalogueVersion": CATALOGUE_VERSION,
        "timestamp": e.time,
        "ticketId": e.ticket_id,
        "ticketVersion": e.ticket_version,
        "actor": e.actor,
        "internal": e.internal(),
        "data": data,
    })
}

/// A deleted ticket: when it was deleted, by whom, and when its purge is due.
pub fn deletion(t: &Ticket) -> Value {
    let d = t.deletion.as_ref();
    json!({
        "_id": t.id,
        "deletedAt": d.map(|d| &d.deleted_at),
        "deletedBy": d.map(|d| &d.deleted_by),
        "purgeAfter": d.map(|d| &d.purge_after),
        "version": t.version,
    })
}

/// An erasure job: its state and what it removed. It names no one: the customer only as a
/// digest under the deployment's key.
pub fn erasure(job: &crate::store::ErasureRecord) -> Value {
    let mut v = job_head(
        &job.id,
        &job.state,
        &job.client_digest,
        (&job.requested_by, &job.requested_at),
        job.finished_at.as_deref(),
    );
    v["removed"] = json!({
        "tickets": job.tickets,
        "items": job.items,
        "files": job.files,
        "records": job.records,
    });
    v
}

/// What an erasure's and an export's answers share: the job's id and state, whom it is about
/// (a digest), who asked and when, when it finished.
fn job_head(
    id: &str,
    state: &str,
    client_digest: &str,
    requested: (&str, &str),
    finished_at: Option<&str>,
) -> Value {
    json!({
        "_id": id,
        "state": state,
        "clientDigest": client_digest,
        "requestedBy": requested.0,
        "requestedAt": requested.1,
        "finishedAt": finished_at,
    })
}

/// An export job: its state, what the archive holds, and once done a link to download it.
pub fn export(job: &crate::store::ExportRecord, download: Option<(String, Timestamp)>) -> Value {
    let mut v = job_head(
        &job.id,
        &job.state,
        &job.client_digest,
        (&job.requested_by, &job.requested_at),
        job.finished_at.as_deref(),
    );
    v["archive"] = json!({
        "tickets": job.tickets,
        "threads": job.threads,
        "files": job.files,
        "bytes": job.bytes,
    });
    v["download"] = json!(download.map(|(url, expires)| json!({"url": url, "expiresAt": expires})));
    v["error"] = json!(job.error);
    v
}

/// One ticket as an export holds it: as its customer sees it, with every thread they see and
/// each file's path in the archive.
pub fn exported_ticket(summary: Value, threads: Vec<Value>) -> Value {
    json!({"ticket": summary, "threads": threads})
}

/// The `customer.erased` event: the catalogue's envelope without a ticket.
pub fn erased_event(
    id: &str,
    job: &crate::store::ErasureRecord,
    client: &str,
    at: &crate::domain::Timestamp,
) -> Value {
    json!({
        "id": id,
        "type": crate::domain::EventKind::CustomerErased,
        "catalogueVersion": CATALOGUE_VERSION,
        "timestamp": at,
        "actor": job.requested_by,
        "internal": false,
        "data": {
            "erasure": job.id,
            "client": client,
            "removed": {
                "tickets": job.tickets,
                "items": job.items,
                "files": job.files,
                "records": job.records,
            },
        },
    })
}

/// A webhook subscription; its secret only in the answer that made it.
pub fn webhook(w: &Subscription, with_secret: bool) -> Value {
    let mut v = json!({
        "_id": w.id,
        "url": w.url,
        "events": w.events,
        "includeInternal": w.include_internal,
        "createdBy": w.created_by,
        "createdAt": w.created_at,
    });
    if with_secret {
        v["secret"] = w.secret.clone().into();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{agent, alice, ticket_at};
    use crate::domain::*;

    #[test]
    fn customers_do_not_see_internal_counts_nor_bookkeeping() {
        let mut t = ticket_at(Status::Open, Priority::Low, "2026-11-25T10:00:00.000Z");
        t.thread_count = 2;
        let (policy, now) = (SlaPolicy::default(), Utc::now());
        let customer = alice();
        let seen = ticket_summary(&t, &customer, &policy, now);
        assert_eq!(seen["threadCount"], 1);
        for hidden in [
            "publicThreadCount",
            "attachmentBytes",
            "slaPausedSeconds",
            "slaPausedSince",
            "escalatedAt",
        ] {
            assert!(seen.get(hidden).is_none(), "{hidden}");
        }
        assert_eq!(
            seen["sla"]["firstResponseDueAt"],
            "2026-11-26T10:00:00.000Z"
        );
        let agent = agent();
        assert_eq!(ticket_summary(&t, &agent, &policy, now)["threadCount"], 2);
    }
}

/// A share as the metrics show it: four decimals, none without anything to share.
fn share(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!((x * 10_000.0).round() / 10_000.0))
}

/// One row's (or the totals') metrics (definitions: docs/metrics.md).
pub fn metric_values(t: &Tally) -> Value {
    use Counter::*;
    let times = |h: &[i64], n: i64| json!({"count": n, "p50": metrics::percentile(h, 50), "p90": metrics::percentile(h, 90)});
    let b = &t.backlog;
    json!({
        "created": t.count(Created),
        "firstResponded": t.count(FirstResponded),
        "resolved": t.count(Resolved),
        "reopened": t.count(Reopened),
        "closed": t.count(Closed),
        "escalated": t.count(Escalated),
        "firstResponseSeconds": times(&t.first_response, t.first_response.iter().sum()),
        "resolutionSeconds": times(&t.resolution, t.resolution.iter().sum()),
        "sla": {
            "firstResponse": {
                "met": t.count(FirstResponseMet),
                "breached": t.count(FirstResponseBreached),
                "metShare": share(t.share(FirstResponseMet, FirstResponseBreached)),
            },
            "resolution": {
                "met": t.count(ResolutionMet),
                "breached": t.count(ResolutionBreached),
                "metShare": share(t.share(ResolutionMet, ResolutionBreached)),
            },
        },
        "backlog": {
            "open": b.open, "pending": b.pending, "in_progress": b.in_progress,
            "resolved": b.resolved, "closed": b.closed,
        },
        "satisfaction": {
            "good": t.count(Good),
            "bad": t.count(Bad),
            "goodShare": share(t.share(Good, Bad)),
        },
    })
}

/// The metrics answer: the range, its zone and grouping, `asOf`, the totals and a row per
/// day or group.
pub fn metrics_report(report: &Report, as_of: Option<&Timestamp>, q: &MetricsQuery) -> Value {
    let groups: Vec<Value> = report
        .rows
        .iter()
        .map(|(name, t)| {
            let mut v = metric_values(t);
            v["group"] = json!(name);
            v
        })
        .collect();
    json!({
        "from": q.from.format("%Y-%m-%d").to_string(),
        "to": q.to.format("%Y-%m-%d").to_string(),
        "tz": q.zone,
        "groupBy": q.group_by.map(|g| g.as_str()),
        "asOf": as_of,
        "totals": metric_values(&report.totals),
        "groups": groups,
    })
}

/// The CSV columns, in order, as paths into [`metric_values`].
const CSV_COLUMNS: &[(&str, &[&str])] = &[
    ("created", &["created"]),
    ("firstResponded", &["firstResponded"]),
    ("resolved", &["resolved"]),
    ("reopened", &["reopened"]),
    ("closed", &["closed"]),
    ("escalated", &["escalated"]),
    ("firstResponseP50Seconds", &["firstResponseSeconds", "p50"]),
    ("firstResponseP90Seconds", &["firstResponseSeconds", "p90"]),
    ("resolutionCount", &["resolutionSeconds", "count"]),
    ("resolutionP50Seconds", &["resolutionSeconds", "p50"]),
    ("resolutionP90Seconds", &["resolutionSeconds", "p90"]),
    ("firstResponseMet", &["sla", "firstResponse", "met"]),
    (
        "firstResponseBreached",
        &["sla", "firstResponse", "breached"],
    ),
    (
        "firstResponseMetShare",
        &["sla", "firstResponse", "metShare"],
    ),
    ("resolutionMet", &["sla", "resolution", "met"]),
    ("resolutionBreached", &["sla", "resolution", "breached"]),
    ("resolutionMetShare", &["sla", "resolution", "metShare"]),
    ("backlogOpen", &["backlog", "open"]),
    ("backlogPending", &["backlog", "pending"]),
    ("backlogInProgress", &["backlog", "in_progress"]),
    ("backlogResolved", &["backlog", "resolved"]),
    ("backlogClosed", &["backlog", "closed"]),
    ("satisfactionGood", &["satisfaction", "good"]),
    ("satisfactionBad", &["satisfaction", "bad"]),
    ("satisfactionGoodShare", &["satisfaction", "goodShare"]),
];

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
/// or `@` (which a spreadsheet would run as a formula) is neutralised with a `'`.
fn csv_field(raw: &str) -> String {
    let text = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The metrics as CSV (RFC 4180, CRLF): a header, then one row per day or group (`all`
/// without a grouping). Empty cells where JSON has null.
pub fn metrics_csv(report: &Report, q: &MetricsQuery) -> String {
    let first = q.group_by.map_or("group", |g| g.as_str());
    let mut out = std::iter::once(first)
        .chain(CSV_COLUMNS.iter().map(|(name, _)| *name))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    let all = [("all".to_owned(), report.totals.clone())];
    let rows = if q.group_by.is_some() {
        &report.rows[..]
    } else {
        &all[..]
    };
    for (name, t) in rows {
        let values = metric_values(t);
        let mut cells = vec![csv_field(name)];
        for (_, path) in CSV_COLUMNS {
            let v = path.iter().fold(&values, |v, k| &v[*k]);
            cells.push(match v {
                Value::Null => String::new(),
                other => other.to_string(),
            });
        }
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod metrics_tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("agent-7"), "agent-7");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
