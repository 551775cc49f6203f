//! The key design: every item's keys, the list indexes and the index keys a ticket carries,
//! and how domain values become items.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Datelike, Utc};
#[cfg(test)]
use std::collections::HashMap;

use super::{s, Item};
use crate::domain::sla::{first_response_due, SlaPolicy};
use crate::domain::{
    Attachment, AttachmentId, AttachmentStatus, Field, Status, Thread, Ticket, TicketId, Timestamp,
};
use crate::error::ApiError;
use crate::idempotency::EXPIRES_ATTRIBUTE;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const CREATED_KEY: &str = "createdKey";
pub(crate) const TICKET_SK: &str = "TICKET";
pub(crate) const THREAD_PREFIX: &str = "THREAD#";
pub(crate) const ATTACHMENT_PREFIX: &str = "ATTACH#";
pub(crate) const COUNTS_SK: &str = "COUNTS";
pub(crate) const FIRST_MONTH: &str = "firstMonth";
pub(crate) const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

pub(crate) fn quota_pk(sub: &str) -> String {
    format!("QUOTA#{sub}")
}

/// A caller's idempotency records share a partition (bounded by their write quota), so an
/// erasure reads them with one Query; each record's sort key is the digest of its key.
pub(crate) fn idempotency_pk(owner: &str) -> String {
    format!("IDEMPOTENCY#{owner}")
}

pub(crate) fn idempotency_sk(key_hash: &str) -> String {
    format!("{IDEMPOTENCY_SK}#{key_hash}")
}

pub const DUE_KEY: &str = "firstResponseDueKey";

/// A list index: its name, partition-key attribute, sort-key attribute, and the order lists
/// read it in (newest first by `createdKey`; soonest due first by `firstResponseDueKey`).
#[derive(Debug, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub ascending: bool,
}

const fn newest_first(name: &'static str, partition_key: &'static str) -> Index {
    Index {
        name,
        partition_key,
        sort_key: CREATED_KEY,
        ascending: false,
    }
}

pub const BY_CLIENT: Index = newest_first("byClient", "clientKey");
pub const BY_ASSIGNEE: Index = newest_first("byAssignee", "assigneeKey");
pub const BY_STATUS: Index = newest_first("byStatus", "statusKey");
pub const BY_PRIORITY: Index = newest_first("byPriority", "priorityKey");
pub const BY_CATEGORY: Index = newest_first("byCategory", "categoryKey");
pub const BY_MONTH: Index = newest_first("byMonth", "monthKey");
/// Tickets still awaiting a first response, soonest due first (sparse: answered, resolved
/// and closed tickets leave it).
pub const BY_FIRST_RESPONSE_DUE: Index = Index {
    name: "byFirstResponseDue",
    partition_key: "awaitingKey",
    sort_key: DUE_KEY,
    ascending: true,
};
/// The same tickets, below urgent, until the automatic escalation has raised their priority
/// once.
pub const BY_ESCALATION: Index = Index {
    name: "byEscalation",
    partition_key: "escalationKey",
    sort_key: DUE_KEY,
    ascending: true,
};
/// Attachments still pending, oldest first, bucketed by the day they were declared
/// (`PENDING#<yyyy-mm-dd>`): what the sweep that expires uploads never made reads. Sparse:
/// attachment items leave it when they settle.
pub const BY_PENDING_UPLOAD: Index = Index {
    name: "byPendingUpload",
    partition_key: "pendingKey",
    sort_key: "createdAt",
    ascending: true,
};
pub const INDEXES: [&Index; 9] = [
    &BY_CLIENT,
    &BY_ASSIGNEE,
    &BY_STATUS,
    &BY_PRIORITY,
    &BY_CATEGORY,
    &BY_MONTH,
    &BY_FIRST_RESPONSE_DUE,
    &BY_ESCALATION,
    &BY_PENDING_UPLOAD,
];
pub(crate) const AWAITING: &str = "AWAITING";
pub(crate) const ESCALATE: &str = "ESCALATE";
pub(crate) const UNASSIGNED: &str = "ASSIGNEE#none";

/// Write shards of the index keys that every ticket of a month (or every unassigned or
/// unanswered ticket) would otherwise share: `ALL#<month>`, `STATUS#<s>#<month>`,
/// `PRIORITY#<p>#<month>`, `CATEGORY#<c>#<month>`, `ASSIGNEE#none`, `AWAITING`, `ESCALATE` each
/// end in `#<shard>`, the shard taken from the ticket's id, and lists merge the shards on read.
/// Chosen by the capacity model (docs/capacity.md: at 1,000 creates/s the busiest shard takes
/// 40 % of a partition's write limit; 8 would put two keys at exactly half). Changing it re-keys every ticket: see docs/data-model.md.
pub const INDEX_SHARDS: usize = 10;

/// The shard of a ticket's sharded index keys: from the random tail of its UUIDv7, so tickets
/// spread evenly and a ticket's shard never changes.
pub(crate) fn shard_of(id: &TicketId) -> usize {
    let tail = &id.as_str()[id.len().saturating_sub(8)..];
    u32::from_str_radix(tail, 16).map_or(0, |n| n as usize % INDEX_SHARDS)
}

/// A sharded index key: `<key>#<shard>`.
pub(crate) fn shard_key(key: &str, shard: usize) -> String {
    format!("{key}#{shard}")
}

pub(crate) fn ticket_pk(id: &str) -> String {
    format!("TICKET#{id}")
}

/// Where a thread sorts in its ticket's partition (what thread cursors hold).
pub fn thread_sk(t: &Thread) -> String {
    format!("{THREAD_PREFIX}{}#{}", t.timestamp, t.id)
}

pub(crate) fn current_month() -> String {
    let now = Utc::now();
    format!("{:04}-{:02}", now.year(), now.month())
}

pub(crate) fn previous_month(month: &str) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    Some(if m <= 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    })
}

/// The assignee index partition of an agent's tickets (unassigned ones are sharded:
/// [`UNASSIGNED`]).
pub(crate) fn assignee_key(assignee: &str) -> String {
    format!("ASSIGNEE#{assignee}")
}

/// Whether a ticket still waits for its first response (and so is in the due-soon queue).
pub(crate) fn awaiting_first_response(t: &Ticket) -> bool {
    t.first_response_at.is_none() && !matches!(t.status, Status::Resolved | Status::Closed)
}

/// The index keys of a ticket, derived from its fields (written whenever the ticket is);
/// `None` for a sparse index the ticket is not in.
pub(crate) fn index_keys(t: &Ticket, policy: &SlaPolicy) -> Vec<(&'static str, Option<String>)> {
    if t.is_deleted() {
        return deleted_index_keys(t);
    }
    let month = t.created_at.month();
    let awaiting = awaiting_first_response(t);
    let due = first_response_due(t, policy).map(|d| format!("{}#{}", Timestamp::at(d), t.id));
    let shard = shard_of(&t.id);
    let sharded = |key: &str| Some(shard_key(key, shard));
    vec![
        (
            BY_CLIENT.partition_key,
            Some(format!("CLIENT#{}", t.client)),
        ),
        (
            BY_ASSIGNEE.partition_key,
            match &t.assigned_to {
                Some(agent) => Some(assignee_key(agent)),
                None => sharded(UNASSIGNED),
            },
        ),
        (
            BY_STATUS.partition_key,
            sharded(&format!("STATUS#{}#{month}", t.status)),
        ),
        (
            BY_PRIORITY.partition_key,
            sharded(&format!("PRIORITY#{}#{month}", t.priority)),
        ),
        (
            BY_CATEGORY.partition_key,
            sharded(&format!("CATEGORY#{}#{month}", t.category)),
        ),
        (BY_MONTH.partition_key, sharded(&format!("ALL#{month}"))),
        (CREATED_KEY, Some(format!("{}#{}", t.created_at, t.id))),
        (
            BY_FIRST_RESPONSE_DUE.partition_key,
            awaiting.then(|| shard_key(AWAITING, shard)),
        ),
        (
            BY_ESCALATION.partition_key,
            (awaiting && t.escalated_at.is_none() && t.priority.raised().is_some())
                .then(|| shard_key(ESCALATE, shard)),
        ),
        (DUE_KEY, due.filter(|_| awaiting)),
    ]
}

/// What a deletion or a restore rewrites: every index key, and the TTL attribute (a restored
/// closed ticket takes its retention's again).
const DELETION_KEYS: &[&str] = &[
    BY_CLIENT.partition_key,
    BY_ASSIGNEE.partition_key,
    BY_STATUS.partition_key,
    BY_PRIORITY.partition_key,
    BY_CATEGORY.partition_key,
    BY_MONTH.partition_key,
    BY_FIRST_RESPONSE_DUE.partition_key,
    BY_ESCALATION.partition_key,
    DUE_KEY,
    EXPIRES_ATTRIBUTE,
];

/// The partition of a customer's deleted tickets in `byClient`: out of their lists, still
/// found by the erasure of the customer (docs/data-lifecycle.md).
pub(crate) fn deleted_client_key(client: &str) -> String {
    format!("DELETED#CLIENT#{client}")
}

/// A deleted ticket's index keys: only its customer's deleted partition (and the sort key
/// there); every list index leaves it.
fn deleted_index_keys(t: &Ticket) -> Vec<(&'static str, Option<String>)> {
    let mut keys: Vec<(&'static str, Option<String>)> = DELETION_KEYS
        .iter()
        .filter(|k| **k != EXPIRES_ATTRIBUTE)
        .map(|k| (*k, None))
        .collect();
    keys[0].1 = Some(deleted_client_key(t.client.as_str()));
    keys.push((CREATED_KEY, Some(format!("{}#{}", t.created_at, t.id))));
    keys
}

/// The index key attributes computed from a ticket field.
pub(crate) fn derived_keys(field: Field) -> &'static [&'static str] {
    const AWAITING_KEYS: &[&str] = &[
        BY_FIRST_RESPONSE_DUE.partition_key,
        BY_ESCALATION.partition_key,
        DUE_KEY,
    ];
    match field {
        // Closing starts the retention period, where one is set.
        Field::Status => &[
            BY_STATUS.partition_key,
            BY_FIRST_RESPONSE_DUE.partition_key,
            BY_ESCALATION.partition_key,
            DUE_KEY,
            EXPIRES_ATTRIBUTE,
        ],
        Field::Priority => &[
            BY_PRIORITY.partition_key,
            BY_ESCALATION.partition_key,
            DUE_KEY,
        ],
        Field::Category => &[BY_CATEGORY.partition_key],
        Field::AssignedTo => &[BY_ASSIGNEE.partition_key],
        Field::FirstResponseAt | Field::EscalatedAt => AWAITING_KEYS,
        Field::Tags
        | Field::Title
        | Field::Resolution
        | Field::UpdatedAt
        | Field::ResolvedAt
        | Field::ClosedAt
        | Field::SlaPausedSeconds
        | Field::SlaPausedSince
        | Field::ChangedBy
        | Field::Satisfaction => &[],
        // A deleted ticket leaves every list index and takes the TTL of its purge; a restored
        // one comes back to them.
        Field::Deletion => DELETION_KEYS,
    }
}

/// A value as an item, without NULL attributes: an absent attribute is what
/// `if_not_exists` and `attribute_not_exists` test for.
pub(crate) fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, ApiError> {
    super::codec::to_item(value).map_err(|e| ApiError::internal("encode item", e))
}

/// When DynamoDB's TTL removes a ticket's item (its purge follows, from the stream's record
/// of that: service::purge_ticket): a deleted ticket's purge time; a closed one's `closedAt`
/// plus the retention period, where the deployment keeps closed tickets only that long.
pub(crate) fn expiry(t: &Ticket, retention: Option<chrono::Duration>) -> Option<i64> {
    if let Some(d) = &t.deletion {
        return d.purge_after.time().map(|at| at.timestamp());
    }
    let closed = t
        .closed_at
        .as_ref()
        .filter(|_| t.status == Status::Closed)?;
    Some((closed.time()? + retention?).timestamp())
}

pub(crate) fn ticket_item(
    t: &Ticket,
    policy: &SlaPolicy,
    retention: Option<chrono::Duration>,
) -> Result<Item, ApiError> {
    let mut item = to_item(t)?;
    item.insert(PK.into(), s(ticket_pk(&t.id)));
    item.insert(SK.into(), s(TICKET_SK));
    for (name, value) in index_keys(t, policy) {
        if let Some(v) = value {
            item.insert(name.into(), s(v));
        }
    }
    if let Some(at) = expiry(t, retention) {
        item.insert(EXPIRES_ATTRIBUTE.into(), AttributeValue::N(at.to_string()));
    }
    Ok(item)
}

/// The attribute of a thread item listing its attachments' ids, so that a page of threads
/// reads exactly its own attachments.
const ATTACHMENT_IDS: &str = "attachmentIds";

pub(crate) fn thread_item(
    ticket_id: &TicketId,
    t: &Thread,
    attachments: &[Attachment],
) -> Result<Item, ApiError> {
    let mut item = to_item(t)?;
    // A thread's attachments are items of their own (their status changes): only their ids.
    let ids: Vec<AttributeValue> = attachments
        .iter()
        .filter(|a| a.thread_id == t.id)
        .map(|a| s(a.id.as_str()))
        .collect();
    if !ids.is_empty() {
        item.insert(ATTACHMENT_IDS.into(), AttributeValue::L(ids));
    }
    item.insert(PK.into(), s(ticket_pk(ticket_id)));
    item.insert(SK.into(), s(thread_sk(t)));
    Ok(item)
}

pub(crate) fn attachment_ids(item: &Item) -> Vec<AttachmentId> {
    match item.get(ATTACHMENT_IDS) {
        Some(AttributeValue::L(ids)) => ids
            .iter()
            .filter_map(|v| v.as_s().ok().and_then(|id| AttachmentId::parse(id)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The ticket's attribute naming the threads its last change added (their sort keys).
pub(crate) const LAST_THREADS: &str = "lastThreads";

pub(crate) fn last_threads(threads: &[Thread]) -> AttributeValue {
    AttributeValue::L(threads.iter().map(|t| s(thread_sk(t))).collect())
}

pub(crate) fn attachment_sk(id: &str) -> String {
    format!("{ATTACHMENT_PREFIX}{id}")
}

pub(crate) fn attachment_item(a: &Attachment) -> Result<Item, ApiError> {
    let mut item = to_item(a)?;
    item.insert(PK.into(), s(ticket_pk(&a.ticket_id)));
    item.insert(SK.into(), s(attachment_sk(&a.id)));
    if a.status == AttachmentStatus::Pending {
        item.insert(
            BY_PENDING_UPLOAD.partition_key.into(),
            s(pending_partition(a.created_at.day())),
        );
    }
    Ok(item)
}

pub(crate) fn pending_partition(day: &str) -> String {
    format!("PENDING#{day}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    #[test]
    fn tickets_spread_over_the_shards_and_keep_theirs() {
        let mut seen = [0usize; INDEX_SHARDS];
        for _ in 0..4000 {
            seen[shard_of(&TicketId::new())] += 1;
        }
        // 400 expected in each: a shard more than 30 % off would be no spread at all.
        assert!(seen.iter().all(|&n| (280..520).contains(&n)), "{seen:?}");
        let t = fixtures::ticket(Status::Open);
        assert_eq!(shard_of(&t.id), shard_of(&t.id));
    }

    #[test]
    fn shared_index_keys_carry_the_tickets_shard_and_personal_ones_do_not() {
        let mut t = fixtures::ticket(Status::Open);
        let shard = shard_of(&t.id);
        let keys: HashMap<_, _> = index_keys(&t, &SlaPolicy::default()).into_iter().collect();
        let month = t.created_at.month().to_owned();
        assert_eq!(keys["monthKey"], Some(format!("ALL#{month}#{shard}")));
        assert_eq!(
            keys["statusKey"],
            Some(format!("STATUS#open#{month}#{shard}"))
        );
        assert_eq!(keys["assigneeKey"], Some(format!("ASSIGNEE#none#{shard}")));
        assert_eq!(keys["awaitingKey"], Some(format!("AWAITING#{shard}")));
        assert_eq!(keys["clientKey"], Some(format!("CLIENT#{}", t.client)));
        t.assigned_to = Some(crate::domain::UserId::parse("bob").unwrap());
        let keys: HashMap<_, _> = index_keys(&t, &SlaPolicy::default()).into_iter().collect();
        assert_eq!(keys["assigneeKey"], Some("ASSIGNEE#bob".into()));
    }

    #[test]
    fn a_ticket_expires_when_its_purge_is_due_or_its_retention_ends() {
        use crate::domain::fixtures::at;
        let days = |n| Some(chrono::Duration::days(n));
        let mut t = fixtures::ticket(Status::Open);
        assert_eq!(expiry(&t, days(30)), None, "open tickets are kept");
        t.status = Status::Closed;
        t.closed_at = Some(at("2026-11-26T00:00:00.000Z"));
        assert_eq!(expiry(&t, None), None, "no retention: kept for ever");
        let end = at("2026-12-26T00:00:00.000Z").time().unwrap().timestamp();
        assert_eq!(expiry(&t, days(30)), Some(end));
        t.deletion = Some(crate::domain::Deletion {
            deleted_at: at("2026-11-27T00:00:00.000Z"),
            deleted_by: crate::domain::UserId::parse("root").unwrap(),
            purge_after: at("2026-12-04T00:00:00.000Z"),
        });
        let purge = at("2026-12-04T00:00:00.000Z").time().unwrap().timestamp();
        assert_eq!(
            expiry(&t, days(30)),
            Some(purge),
            "a deletion's purge comes first"
        );
        // A deleted ticket is in no list: only its customer's deleted partition finds it.
        let keys: HashMap<_, _> = index_keys(&t, &SlaPolicy::default()).into_iter().collect();
        assert_eq!(
            keys["clientKey"],
            Some(format!("DELETED#CLIENT#{}", t.client))
        );
        for list in [
            "statusKey",
            "monthKey",
            "assigneeKey",
            "priorityKey",
            "categoryKey",
        ] {
            assert_eq!(keys[list], None, "{list}");
        }
        assert!(derived_keys(Field::Deletion).contains(&EXPIRES_ATTRIBUTE));
        assert!(derived_keys(Field::Status).contains(&EXPIRES_ATTRIBUTE));
    }
}
