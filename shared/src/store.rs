//! The single-table DynamoDB store: key design, indexes, and every read and write the
//! operations need. Every write that touches more than one item is one TransactWriteItems.
//!
//! Items (table keys `PK`, `SK`):
//! - ticket: `TICKET#<id>` / `TICKET`, with the list-index keys below (only ticket items have
//!   them, so every index is sparse);
//! - thread: `TICKET#<id>` / `THREAD#<timestamp>#<threadId>` (oldest first in one Query);
//! - attachment: `TICKET#<id>` / `ATTACH#<attachmentId>` (read in the same Query);
//! - per-customer counters: `COUNTS#CLIENT#<sub>` / `COUNTS`;
//! - global counters, sharded: `COUNTS#ALL#<n>` / `COUNTS` (also remember the first month);
//! - idempotency records: `IDEMPOTENCY#<digest of caller, operation, key>` / `IDEMPOTENCY`,
//!   expired by DynamoDB's TTL on `expiresAt`;
//! - write quotas: `QUOTA#<sub>` / `<yyyy-mm-ddThh:mm>` (`writes` that minute), expired by TTL.
//!
//! List indexes, all sorted by `createdKey` = `<createdAt>#<id>`, read newest first:
//! `byClient` (`CLIENT#<sub>`) and `byAssignee` (`ASSIGNEE#<sub|none>`) are bounded by one
//! person; the agent-wide ones are bucketed by month so no partition takes every write for
//! ever: `byStatus` (`STATUS#<s>#<yyyy-mm>`), `byPriority`, `byCategory`, `byMonth` (`ALL#<yyyy-mm>`).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest, ScalarAttributeType,
    TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{Datelike, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::auth::Caller;
use crate::cursor::Position;
use crate::error::ApiError;
use crate::idempotency::{Idempotency, Recorded, EXPIRES_ATTRIBUTE};
use crate::input::TICKET_ATTACHMENT_BYTES_MAX;
use crate::input::{Assignee, ListFilters, Sort};
use crate::model::{
    timestamp, Attachment, AttachmentStatus, Category, Priority, Status, Thread, Ticket,
};
use crate::sla::{first_response_due, SlaPolicy};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const CREATED_KEY: &str = "createdKey";
const TICKET_SK: &str = "TICKET";
const THREAD_PREFIX: &str = "THREAD#";
const ATTACHMENT_PREFIX: &str = "ATTACH#";
const COUNTS_SK: &str = "COUNTS";
const FIRST_MONTH: &str = "firstMonth";
const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

fn quota_pk(sub: &str) -> String {
    format!("QUOTA#{sub}")
}

fn idempotency_pk(key_hash: &str) -> String {
    format!("IDEMPOTENCY#{key_hash}")
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
const AWAITING: &str = "AWAITING";
const ESCALATE: &str = "ESCALATE";

/// The table's keys and indexes as data: what `template.yaml` must declare (a test compares).
pub fn schema() -> serde_json::Value {
    json!({
        "keySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        "attributeDefinitions": attribute_names().iter()
            .map(|n| json!({"AttributeName": n, "AttributeType": "S"})).collect::<Vec<_>>(),
        "timeToLiveAttribute": EXPIRES_ATTRIBUTE,
        "globalSecondaryIndexes": INDEXES.iter().map(|i| json!({
            "IndexName": i.name,
            "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"},
                          {"AttributeName": i.sort_key, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        })).collect::<Vec<_>>(),
    })
}

fn attribute_names() -> Vec<&'static str> {
    let mut names = vec![PK, SK];
    for index in INDEXES {
        for name in [index.partition_key, index.sort_key] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Creates the table as [`schema`] describes it (local stack and tests; SAM does it in AWS).
pub async fn create_table(client: &Client, table: &str) -> Result<(), ApiError> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| ApiError::internal("key schema", e))
    };
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for name in attribute_names() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| ApiError::internal("attribute", e))?,
        );
    }
    for index in INDEXES {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| ApiError::internal("index", e))?,
        );
    }
    req.send()
        .await
        .map_err(|e| ApiError::internal("create table", e.into_service_error()))?;
    let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| ApiError::internal("ttl", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| ApiError::internal("table ttl", e.into_service_error()))?;
    Ok(())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    serde_dynamo::from_item(item).map_err(|e| ApiError::internal("decode item", e))
}

fn ticket_pk(id: &str) -> String {
    format!("TICKET#{id}")
}

/// Where a thread sorts in its ticket's partition (what thread cursors hold).
pub fn thread_sk(t: &Thread) -> String {
    format!("{THREAD_PREFIX}{}#{}", t.timestamp, t.id)
}

/// `yyyy-mm` of a contract timestamp.
fn month_of(timestamp: &str) -> &str {
    timestamp.get(..7).unwrap_or(timestamp)
}

fn current_month() -> String {
    let now = Utc::now();
    format!("{:04}-{:02}", now.year(), now.month())
}

fn previous_month(month: &str) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    Some(if m <= 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    })
}

fn assignee_key(assignee: Option<&str>) -> String {
    format!("ASSIGNEE#{}", assignee.unwrap_or("none"))
}

/// Whether a ticket still waits for its first response (and so is in the due-soon queue).
fn awaiting_first_response(t: &Ticket) -> bool {
    t.first_response_at.is_none() && !matches!(t.status, Status::Resolved | Status::Closed)
}

/// The index keys of a ticket, derived from its fields (written whenever the ticket is);
/// `None` for a sparse index the ticket is not in.
fn index_keys(t: &Ticket, policy: &SlaPolicy) -> Vec<(&'static str, Option<String>)> {
    let month = month_of(&t.created_at);
    let awaiting = awaiting_first_response(t);
    let due = first_response_due(t, policy).map(|d| format!("{}#{}", timestamp(d), t.id));
    vec![
        (
            BY_CLIENT.partition_key,
            Some(format!("CLIENT#{}", t.client)),
        ),
        (
            BY_ASSIGNEE.partition_key,
            Some(assignee_key(t.assigned_to.as_deref())),
        ),
        (
            BY_STATUS.partition_key,
            Some(format!("STATUS#{}#{month}", t.status)),
        ),
        (
            BY_PRIORITY.partition_key,
            Some(format!("PRIORITY#{}#{month}", t.priority)),
        ),
        (
            BY_CATEGORY.partition_key,
            Some(format!("CATEGORY#{}#{month}", t.category)),
        ),
        (BY_MONTH.partition_key, Some(format!("ALL#{month}"))),
        (CREATED_KEY, Some(format!("{}#{}", t.created_at, t.id))),
        (
            BY_FIRST_RESPONSE_DUE.partition_key,
            awaiting.then(|| AWAITING.to_owned()),
        ),
        (
            BY_ESCALATION.partition_key,
            (awaiting && t.escalated_at.is_none() && t.priority.raised().is_some())
                .then(|| ESCALATE.to_owned()),
        ),
        (DUE_KEY, due.filter(|_| awaiting)),
    ]
}

/// The index key attributes computed from a ticket field.
fn derived_keys(field: &str) -> &'static [&'static str] {
    const AWAITING_KEYS: &[&str] = &[
        BY_FIRST_RESPONSE_DUE.partition_key,
        BY_ESCALATION.partition_key,
        DUE_KEY,
    ];
    match field {
        "status" => &[
            BY_STATUS.partition_key,
            BY_FIRST_RESPONSE_DUE.partition_key,
            BY_ESCALATION.partition_key,
            DUE_KEY,
        ],
        "priority" => &[
            BY_PRIORITY.partition_key,
            BY_ESCALATION.partition_key,
            DUE_KEY,
        ],
        "category" => &[BY_CATEGORY.partition_key],
        "assignedTo" => &[BY_ASSIGNEE.partition_key],
        "firstResponseAt" | "escalatedAt" => AWAITING_KEYS,
        _ => &[],
    }
}

/// A value as an item, without NULL attributes: an absent attribute is what
/// `if_not_exists` and `attribute_not_exists` test for.
fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, ApiError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| ApiError::internal("encode item", e))?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    Ok(item)
}

fn ticket_item(t: &Ticket, policy: &SlaPolicy) -> Result<Item, ApiError> {
    let mut item = to_item(t)?;
    item.insert(PK.into(), s(ticket_pk(&t.id)));
    item.insert(SK.into(), s(TICKET_SK));
    for (name, value) in index_keys(t, policy) {
        if let Some(v) = value {
            item.insert(name.into(), s(v));
        }
    }
    Ok(item)
}

/// The attribute of a thread item listing its attachments' ids, so that a page of threads
/// reads exactly its own attachments.
const ATTACHMENT_IDS: &str = "attachmentIds";

fn thread_item(ticket_id: &str, t: &Thread, attachments: &[Attachment]) -> Result<Item, ApiError> {
    let mut item = to_item(t)?;
    // A thread's attachments are items of their own (their status changes); never copies.
    item.remove("attachments");
    let ids: Vec<AttributeValue> = attachments
        .iter()
        .filter(|a| a.thread_id == t.id)
        .map(|a| s(a.id.clone()))
        .collect();
    if !ids.is_empty() {
        item.insert(ATTACHMENT_IDS.into(), AttributeValue::L(ids));
    }
    item.insert(PK.into(), s(ticket_pk(ticket_id)));
    item.insert(SK.into(), s(thread_sk(t)));
    Ok(item)
}

fn attachment_ids(item: &Item) -> Vec<String> {
    match item.get(ATTACHMENT_IDS) {
        Some(AttributeValue::L(ids)) => ids.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
        _ => Vec::new(),
    }
}

fn attachment_sk(id: &str) -> String {
    format!("{ATTACHMENT_PREFIX}{id}")
}

fn attachment_item(a: &Attachment) -> Result<Item, ApiError> {
    let mut item = to_item(a)?;
    item.insert(PK.into(), s(ticket_pk(&a.ticket_id)));
    item.insert(SK.into(), s(attachment_sk(&a.id)));
    if a.status == AttachmentStatus::Pending {
        item.insert(
            BY_PENDING_UPLOAD.partition_key.into(),
            s(pending_partition(day_of(&a.created_at))),
        );
    }
    Ok(item)
}

fn pending_partition(day: &str) -> String {
    format!("PENDING#{day}")
}

fn day_of(timestamp: &str) -> &str {
    timestamp.get(..10).unwrap_or(timestamp)
}

/// A ticket with its most recent page of threads and their attachments.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketRecord {
    pub ticket: Ticket,
    /// The page, oldest first.
    pub threads: Vec<Thread>,
    /// The attachments of those threads.
    pub attachments: Vec<Attachment>,
    /// Where the threads before this page start (newest first), if there are any.
    pub earlier: Option<String>,
}

/// Threads on a single-ticket answer, and the most a page of threads holds.
pub const THREAD_PAGE_DEFAULT: usize = 50;
pub const THREAD_PAGE_MAX: usize = 100;
/// What a page of threads or tickets may come to, estimated generously (every byte of the JSON
/// counted twice, for the escaping of the body inside Lambda's response envelope, plus room
/// for each attachment's URLs): a page stops before it, so no answer nears Lambda's 6 MB.
/// (A ticket's description alone may be 20,000 characters: 100 of them would not fit.)
pub const PAGE_BYTES: usize = 3 * 1024 * 1024;
const ATTACHMENT_BYTES_ESTIMATE: usize = 4 * 1024;
/// DynamoDB requests one page of a list or of threads may make.
pub const QUERY_BUDGET: usize = 5;
/// Items a filtered list reads per Query (ticket items are about 1–2 KB, so well within
/// DynamoDB's 1 MB a page), and the most an unfiltered one asks for.
const FILTERED_READ: usize = 500;
const UNFILTERED_READ_MAX: usize = 1000;

fn key_string(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// Which threads of a ticket to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadQuery {
    /// The sort key of the last thread already seen.
    pub after: Option<String>,
    pub limit: usize,
    pub newest_first: bool,
    /// Whether internal notes are read (agents) or skipped (customers).
    pub internal: bool,
}

impl ThreadQuery {
    /// The page a single-ticket answer shows: the latest threads.
    pub fn latest(internal: bool) -> Self {
        ThreadQuery {
            after: None,
            limit: THREAD_PAGE_DEFAULT,
            newest_first: true,
            internal,
        }
    }
}

/// A page of threads, in the order asked, with their attachment ids, and where the next page
/// starts (`None` on the last).
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadPage {
    pub threads: Vec<(Thread, Vec<String>)>,
    pub next: Option<String>,
}

impl ThreadPage {
    pub fn attachment_ids(&self) -> Vec<String> {
        self.threads
            .iter()
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect()
    }
}

impl TicketRecord {
    /// A single-ticket answer's record: the latest page (read newest first) with the threads
    /// written since appended, oldest first, cut back to a page; the cursor to earlier
    /// threads moves with the cut.
    pub fn latest(
        ticket: Ticket,
        page: ThreadPage,
        attachments: Vec<Attachment>,
        added: Vec<Thread>,
    ) -> Self {
        let mut threads: Vec<Thread> = page.threads.into_iter().rev().map(|(t, _)| t).collect();
        threads.extend(added);
        let mut earlier = page.next;
        if threads.len() > THREAD_PAGE_DEFAULT {
            threads.drain(..threads.len() - THREAD_PAGE_DEFAULT);
            earlier = threads.first().map(thread_sk);
        }
        TicketRecord {
            ticket,
            threads,
            attachments,
            earlier,
        }
    }

    /// A page of threads in the order it was read, with their attachments.
    pub fn page(ticket: Ticket, page: ThreadPage, attachments: Vec<Attachment>) -> Self {
        TicketRecord {
            ticket,
            threads: page.threads.into_iter().map(|(t, _)| t).collect(),
            attachments,
            earlier: page.next,
        }
    }
}

/// What `value` adds to an answer inside Lambda's envelope, at most (see [`PAGE_BYTES`]).
fn estimated_bytes(value: &impl serde::Serialize, attachments: usize) -> usize {
    2 * serde_json::to_string(value).map(|j| j.len()).unwrap_or(0)
        + attachments * ATTACHMENT_BYTES_ESTIMATE
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, ApiError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(|e| ApiError::internal("put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Moves of the per-status counters, as `(status, delta)`.
type Deltas = Vec<(Status, i64)>;

/// An `ADD` of counter deltas to one counter item, optionally remembering the first month.
fn counter_update(
    table: &str,
    pk: String,
    deltas: &Deltas,
    first_month: Option<&str>,
) -> Result<TransactWriteItem, ApiError> {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut adds = Vec::new();
    for (i, (status, delta)) in deltas.iter().enumerate() {
        names.insert(format!("#c{i}"), status.as_str().to_owned());
        values.insert(format!(":c{i}"), n(*delta));
        adds.push(format!("#c{i} :c{i}"));
    }
    let mut expr = format!("ADD {}", adds.join(", "));
    if let Some(month) = first_month {
        names.insert("#first".into(), FIRST_MONTH.into());
        values.insert(":first".into(), s(month));
        expr.push_str(" SET #first = if_not_exists(#first, :first)");
    }
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(pk))
        .key(SK, s(COUNTS_SK))
        .update_expression(expr)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| ApiError::internal("counter update", e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// How a conditional multi-item write ended, for the service to decide (retry, 409, 412).
#[derive(Debug)]
pub enum WriteError {
    /// A condition on the ticket did not hold: it changed since it was read.
    Changed,
    /// DynamoDB cancelled the transaction because another one touched the same items.
    Contended,
    /// The request's idempotency record exists already: an earlier try of it got there first.
    Duplicate,
    Failed(ApiError),
}

impl From<ApiError> for WriteError {
    fn from(e: ApiError) -> Self {
        WriteError::Failed(e)
    }
}

/// Whether a conditional UpdateItem was applied: `false` when its condition did not hold.
fn condition_held<R: std::fmt::Debug>(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, R>>,
    context: &str,
) -> Result<bool, ApiError> {
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error(context, e)),
    }
}

/// Cancellation reasons that mean "try again": another transaction held an item, or the item's
/// partition or index was throttled.
const CONTENDED_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// Maps an SDK failure: throttling is the caller's to retry later, anything else is internal.
fn sdk_error<E, R>(context: &str, err: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_owned);
    match code.as_deref() {
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "LimitExceededException",
        ) => ApiError::Throttled,
        _ => ApiError::internal(
            context,
            format!(
                "{}: {}",
                code.as_deref().unwrap_or("no code"),
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        ),
    }
}

/// What an update of the ticket item does besides setting its fields to their new values.
pub struct TicketWrite<'a> {
    /// The ticket after the change; its fields (and index keys) are written as they are here.
    pub after: &'a Ticket,
    /// Fields to write from `after`: set when present, removed when `None`.
    pub fields: &'a [&'static str],
    /// Threads added by this change, all / visible to the customer.
    pub threads: (i64, i64),
    /// `firstResponseAt` set now unless it already is (the first public agent reply).
    pub first_response: Option<&'a str>,
    /// The status the ticket must still have.
    pub expect_status: Status,
    /// The version the ticket must still have (none: any).
    pub expect_version: Option<u64>,
    /// Bytes of attachments declared by this change, added to the ticket's total only while
    /// that stays within the per-ticket limit.
    pub attachment_bytes: u64,
    /// The most threads the ticket may hold before this change (replies only: status
    /// changes and updates still record their system threads past it).
    pub thread_limit: Option<u32>,
}

impl TicketWrite<'_> {
    fn build(&self, table: &str, policy: &SlaPolicy) -> Result<TransactWriteItem, ApiError> {
        let item = ticket_item(self.after, policy)?;
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        // Only the index keys derived from the fields written here: the others may have
        // been changed by a concurrent request and must not be overwritten from a stale read.
        let mut keys: Vec<&'static str> = Vec::new();
        let sources = self
            .fields
            .iter()
            .copied()
            .chain(self.first_response.map(|_| "firstResponseAt"));
        for field in sources {
            for key in derived_keys(field) {
                if !keys.contains(key) {
                    keys.push(key);
                }
            }
        }
        let first_response_keys = derived_keys("firstResponseAt");
        let written = self.fields.iter().copied().chain(keys.iter().copied());
        for (i, field) in written.enumerate() {
            names.insert(format!("#f{i}"), field.to_owned());
            // A first response takes the ticket out of the due-soon queue, whatever else.
            let answered = self.first_response.is_some() && first_response_keys.contains(&field);
            match item.get(field).filter(|_| !answered) {
                Some(v) => {
                    values.insert(format!(":f{i}"), v.clone());
                    sets.push(format!("#f{i} = :f{i}"));
                }
                None => removes.push(format!("#f{i}")),
            }
        }
        if let Some(at) = self.first_response {
            names.insert("#fr".into(), "firstResponseAt".into());
            values.insert(":fr".into(), s(at));
            sets.push("#fr = if_not_exists(#fr, :fr)".into());
        }
        names.insert("#tc".into(), "threadCount".into());
        names.insert("#ptc".into(), "publicThreadCount".into());
        names.insert("#v".into(), "version".into());
        names.insert("#st".into(), "status".into());
        names.insert("#pk".into(), PK.into());
        values.insert(":tc".into(), n(self.threads.0));
        values.insert(":ptc".into(), n(self.threads.1));
        values.insert(":one".into(), n(1));
        values.insert(":expst".into(), s(self.expect_status.as_str()));
        let mut condition = "attribute_exists(#pk) AND #st = :expst".to_owned();
        if let Some(v) = self.expect_version {
            values.insert(":expv".into(), n(v as i64));
            condition.push_str(" AND #v = :expv");
        }
        if let Some(max) = self.thread_limit {
            values.insert(":maxtc".into(), n(i64::from(max)));
            condition.push_str(" AND #tc < :maxtc");
        }
        let mut adds = vec!["#tc :tc", "#ptc :ptc", "#v :one"];
        if self.attachment_bytes > 0 {
            let room = TICKET_ATTACHMENT_BYTES_MAX.saturating_sub(self.attachment_bytes);
            names.insert("#ab".into(), "attachmentBytes".into());
            values.insert(":ab".into(), n(self.attachment_bytes as i64));
            values.insert(":room".into(), n(room as i64));
            condition.push_str(" AND (attribute_not_exists(#ab) OR #ab <= :room)");
            adds.push("#ab :ab");
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        expr.push_str(&format!(" ADD {}", adds.join(", ")));
        let update = Update::builder()
            .table_name(table)
            .key(PK, s(ticket_pk(&self.after.id)))
            .key(SK, s(TICKET_SK))
            .update_expression(expr)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| ApiError::internal("ticket update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// Where a list reads: one index, one partition or a walk over monthly partitions, and what
/// the index key does not already select (a filter within that partition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPlan {
    pub index: &'static Index,
    pub partitions: Partitions,
    pub status: Option<Status>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub client: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partitions {
    One(String),
    /// `<prefix><yyyy-mm>`, newest month first, down to the first month with a ticket.
    Monthly(String),
}

/// Chooses the index that selects the most with its key. Customers always read their own
/// partition of `byClient` (bounded by their own tickets); agents read the index of the most
/// specific filter given.
pub fn plan_list(caller: &Caller, f: &ListFilters, sort: Sort) -> Result<ListPlan, ApiError> {
    let mut plan = ListPlan {
        index: &BY_MONTH,
        partitions: Partitions::Monthly("ALL#".into()),
        status: f.status,
        category: f.category,
        priority: f.priority,
        assignee: f.assigned_to.as_ref().map(|a| match a {
            Assignee::User(u) => assignee_key(Some(u)),
            Assignee::Me => assignee_key(Some(&caller.sub)),
            Assignee::Unassigned => assignee_key(None),
        }),
        client: None,
    };
    if !caller.is_agent() {
        if f.client.is_some() || f.assigned_to.is_some() || sort != Sort::Newest {
            return Err(ApiError::Forbidden(
                "only agents may filter by client or assignedTo, or sort by firstResponseDue"
                    .into(),
            ));
        }
        plan.index = &BY_CLIENT;
        plan.partitions = Partitions::One(format!("CLIENT#{}", caller.sub));
    } else if sort == Sort::FirstResponseDue {
        // The due-soon queue: one sparse partition, every other filter within it.
        plan.index = &BY_FIRST_RESPONSE_DUE;
        plan.partitions = Partitions::One(AWAITING.into());
        plan.client = f.client.as_ref().map(|c| format!("CLIENT#{c}"));
    } else if let Some(client) = &f.client {
        plan.index = &BY_CLIENT;
        plan.partitions = Partitions::One(format!("CLIENT#{client}"));
    } else if let Some(assignee) = plan.assignee.take() {
        plan.index = &BY_ASSIGNEE;
        plan.partitions = Partitions::One(assignee);
    } else if let Some(status) = plan.status.take() {
        plan.index = &BY_STATUS;
        plan.partitions = Partitions::Monthly(format!("STATUS#{status}#"));
    } else if let Some(priority) = plan.priority.take() {
        plan.index = &BY_PRIORITY;
        plan.partitions = Partitions::Monthly(format!("PRIORITY#{priority}#"));
    } else if let Some(category) = plan.category.take() {
        plan.index = &BY_CATEGORY;
        plan.partitions = Partitions::Monthly(format!("CATEGORY#{category}#"));
    }
    Ok(plan)
}

impl ListPlan {
    fn filter(&self) -> Option<(String, HashMap<String, String>, Item)> {
        let mut parts = Vec::new();
        let mut names = HashMap::new();
        let mut values = Item::new();
        let mut add = |attr: &str, value: String| {
            let i = parts.len();
            parts.push(format!("#q{i} = :q{i}"));
            names.insert(format!("#q{i}"), attr.to_owned());
            values.insert(format!(":q{i}"), s(value));
        };
        if let Some(v) = self.status {
            add("status", v.to_string());
        }
        if let Some(v) = self.category {
            add("category", v.to_string());
        }
        if let Some(v) = self.priority {
            add("priority", v.to_string());
        }
        if let Some(v) = &self.assignee {
            add(BY_ASSIGNEE.partition_key, v.clone());
        }
        if let Some(v) = &self.client {
            add(BY_CLIENT.partition_key, v.clone());
        }
        (!parts.is_empty()).then(|| (parts.join(" AND "), names, values))
    }

    fn first_partition(&self) -> String {
        match &self.partitions {
            Partitions::One(p) => p.clone(),
            Partitions::Monthly(prefix) => format!("{prefix}{}", current_month()),
        }
    }

    fn next_partition(&self, current: &str, floor: &str) -> Option<String> {
        let Partitions::Monthly(prefix) = &self.partitions else {
            return None;
        };
        let month = previous_month(current.strip_prefix(prefix.as_str())?)?;
        (month.as_str() >= floor).then(|| format!("{prefix}{month}"))
    }

    fn owns(&self, partition: &str) -> bool {
        match &self.partitions {
            Partitions::One(p) => p == partition,
            Partitions::Monthly(prefix) => partition.starts_with(prefix.as_str()),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub open: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub resolved: i64,
    pub closed: i64,
}

impl Counts {
    fn add_item(&mut self, item: &Item) {
        let get = |s: Status| {
            item.get(s.as_str())
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        self.open += get(Status::Open);
        self.pending += get(Status::Pending);
        self.in_progress += get(Status::InProgress);
        self.resolved += get(Status::Resolved);
        self.closed += get(Status::Closed);
    }
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    shards: u32,
    /// Service levels decide the due-soon index keys.
    policy: SlaPolicy,
    /// The month of the first ticket ever: fixed once there is one, so cached per container.
    first_month: Arc<OnceLock<String>>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>, shards: u32, policy: SlaPolicy) -> Self {
        Store {
            client,
            table: table.into(),
            shards: shards.max(1),
            policy,
            first_month: Arc::new(OnceLock::new()),
        }
    }

    fn client_counter(&self, sub: &str) -> String {
        format!("COUNTS#CLIENT#{sub}")
    }

    fn global_counter(&self, shard: u32) -> String {
        format!("COUNTS#ALL#{shard}")
    }

    fn any_global_counter(&self) -> String {
        self.global_counter(rand::random::<u32>() % self.shards)
    }

    /// The conditional put of an idempotency record (see [`crate::idempotency`]): it holds only
    /// where there is no live record for the key.
    fn idempotency_put(
        &self,
        idem: &Idempotency,
        recorded: &Recorded,
        now: i64,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut item = to_item(recorded)?;
        item.insert(PK.into(), s(idempotency_pk(&idem.key_hash)));
        item.insert(SK.into(), s(IDEMPOTENCY_SK));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(|e| ApiError::internal("put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The live record of an idempotency key, if any (an expired one TTL has not removed yet
    /// counts as none).
    #[tracing::instrument(skip_all)]
    pub async fn idempotency_record(
        &self,
        idem: &Idempotency,
        now: i64,
    ) -> Result<Option<Recorded>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(idempotency_pk(&idem.key_hash)))
            .key(SK, s(IDEMPOTENCY_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("idempotency record", e))?;
        let recorded: Option<Recorded> = out.item.map(decode).transpose()?;
        Ok(recorded.filter(|r| r.expires_at >= now))
    }

    /// Runs the items as one transaction; `idempotency` is the index of the idempotency put
    /// among them, whose failed condition means the request was done before.
    async fn transact_with(
        &self,
        items: Vec<TransactWriteItem>,
        idempotency: Option<usize>,
    ) -> Result<(), WriteError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            err.as_service_error()
        {
            let reasons = cancel.cancellation_reasons();
            let failed_at =
                |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            if idempotency.is_some_and(failed_at) {
                return Err(WriteError::Duplicate);
            }
            let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
            if codes.contains(&"ConditionalCheckFailed") {
                return Err(WriteError::Changed);
            }
            // Nothing was written: a conflict or a throttled item is the caller's to retry.
            if codes.iter().any(|c| CONTENDED_REASONS.contains(c)) {
                return Err(WriteError::Contended);
            }
        }
        if matches!(
            err.code(),
            Some("TransactionConflictException" | "TransactionInProgressException")
        ) {
            return Err(WriteError::Contended);
        }
        Err(WriteError::Failed(sdk_error("transact write", err)))
    }

    /// The ticket, its first thread and both counters, all or nothing.
    #[tracing::instrument(skip_all, fields(ticket = %ticket.id))]
    pub async fn create(
        &self,
        ticket: &Ticket,
        first: &Thread,
        attachments: &[Attachment],
        idempotency: Option<(&Idempotency, &Recorded)>,
    ) -> Result<(), WriteError> {
        let deltas = vec![(ticket.status, 1)];
        let mut items = vec![
            put_new(&self.table, ticket_item(ticket, &self.policy)?)?,
            put_new(&self.table, thread_item(&ticket.id, first, attachments)?)?,
            counter_update(
                &self.table,
                self.client_counter(&ticket.client),
                &deltas,
                None,
            )?,
            counter_update(
                &self.table,
                self.any_global_counter(),
                &deltas,
                Some(month_of(&ticket.created_at)),
            )?,
        ];
        for a in attachments {
            items.push(put_new(&self.table, attachment_item(a)?)?);
        }
        self.transact_idempotent(items, idempotency).await
    }

    async fn transact_idempotent(
        &self,
        mut items: Vec<TransactWriteItem>,
        idempotency: Option<(&Idempotency, &Recorded)>,
    ) -> Result<(), WriteError> {
        let index = match idempotency {
            Some((idem, recorded)) => {
                let now = chrono::Utc::now().timestamp();
                items.push(self.idempotency_put(idem, recorded, now)?);
                Some(items.len() - 1)
            }
            None => None,
        };
        self.transact_with(items, index).await
    }

    /// The ticket item alone (strongly consistent).
    #[tracing::instrument(skip_all)]
    pub async fn ticket(&self, id: &str) -> Result<Option<Ticket>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(id)))
            .key(SK, s(TICKET_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get ticket", e))?;
        out.item
            .map(|item| serde_dynamo::from_item(item).map_err(|e| ApiError::internal("decode", e)))
            .transpose()
    }

    /// The ticket with its latest page of threads (as `internal` allows) and their
    /// attachments: the ticket item and the page are read together, then the attachments.
    #[tracing::instrument(skip_all)]
    pub async fn ticket_record(
        &self,
        id: &str,
        internal: bool,
    ) -> Result<Option<TicketRecord>, ApiError> {
        let latest = ThreadQuery::latest(internal);
        let (ticket, page) = tokio::join!(self.ticket(id), self.threads(id, &latest));
        let Some(ticket) = ticket? else {
            return Ok(None);
        };
        let page = page?;
        let attachments = self.attachments(id, &page.attachment_ids()).await?;
        Ok(Some(TicketRecord::latest(
            ticket,
            page,
            attachments,
            Vec::new(),
        )))
    }

    /// One page of a ticket's threads: at most `limit`, at most [`PAGE_BYTES`] as
    /// estimated, in at most [`QUERY_BUDGET`] Queries. A page cut short by the bytes or the
    /// budget says where to go on, like a full one.
    #[tracing::instrument(skip_all)]
    pub async fn threads(&self, id: &str, q: &ThreadQuery) -> Result<ThreadPage, ApiError> {
        let pk = ticket_pk(id);
        let mut start = q.after.as_ref().map(|sk| {
            Item::from([
                (PK.to_owned(), s(pk.clone())),
                (SK.to_owned(), s(sk.clone())),
            ])
        });
        let mut threads: Vec<(Thread, Vec<String>)> = Vec::new();
        let (mut bytes, mut last_key) = (0, None);
        for _ in 0..QUERY_BUDGET {
            let wanted = q.limit + 1 - threads.len();
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :threads)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":threads", s(THREAD_PREFIX))
                .scan_index_forward(!q.newest_first)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            query = if q.internal {
                query.limit(wanted as i32)
            } else {
                // Internal notes are dropped after they are read: read wider pages.
                query
                    .filter_expression("#internal = :public")
                    .expression_attribute_names("#internal", "internal")
                    .expression_attribute_values(":public", AttributeValue::Bool(false))
                    .limit(wanted.max(THREAD_PAGE_MAX) as i32)
            };
            let out = query.send().await.map_err(|e| sdk_error("threads", e))?;
            for item in out.items.unwrap_or_default() {
                let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
                let ids = attachment_ids(&item);
                let thread: Thread = decode(item)?;
                let size = estimated_bytes(&thread, ids.len());
                let full =
                    threads.len() == q.limit || (!threads.is_empty() && bytes + size > PAGE_BYTES);
                if full {
                    return Ok(ThreadPage {
                        threads,
                        next: last_key,
                    });
                }
                bytes += size;
                threads.push((thread, ids));
                last_key = sk;
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(ThreadPage {
                    threads,
                    next: None,
                });
            }
        }
        // The budget ran out: go on from the last item read, returned or not.
        let next = start
            .and_then(|k| k.get(SK).and_then(|v| v.as_s().ok()).cloned())
            .or(last_key);
        Ok(ThreadPage { threads, next })
    }

    /// Pending attachments declared before `cutoff` on the given days (`yyyy-mm-dd`), oldest
    /// first, at most `limit` in all: one Query per day on the sparse pending index.
    #[tracing::instrument(skip_all)]
    pub async fn pending_before(
        &self,
        cutoff: &str,
        days: &[String],
        limit: usize,
    ) -> Result<Vec<Attachment>, ApiError> {
        let mut out = Vec::new();
        for day in days {
            if out.len() >= limit {
                break;
            }
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_PENDING_UPLOAD.name)
                .key_condition_expression("#pk = :pk AND #at < :cutoff")
                .expression_attribute_names("#pk", BY_PENDING_UPLOAD.partition_key)
                .expression_attribute_names("#at", BY_PENDING_UPLOAD.sort_key)
                .expression_attribute_values(":pk", s(pending_partition(day)))
                .expression_attribute_values(":cutoff", s(cutoff))
                .limit((limit - out.len()) as i32)
                .send()
                .await
                .map_err(|e| sdk_error("pending uploads", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
        }
        Ok(out)
    }

    /// Moves a pending attachment to `expired` and gives its bytes back to its ticket's
    /// budget, in one transaction; `false` when it had settled meanwhile.
    #[tracing::instrument(skip_all, fields(attachment = %a.id))]
    pub async fn expire_attachment(&self, a: &Attachment) -> Result<bool, ApiError> {
        let attachment = Update::builder()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(&a.ticket_id)))
            .key(SK, s(attachment_sk(&a.id)))
            .update_expression("SET #st = :expired REMOVE #pending")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#pending", BY_PENDING_UPLOAD.partition_key)
            .expression_attribute_values(":expired", s(AttachmentStatus::Expired.as_str()))
            .expression_attribute_values(":pending", s(AttachmentStatus::Pending.as_str()))
            .build()
            .map_err(|e| ApiError::internal("expire attachment", e))?;
        let ticket = Update::builder()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(&a.ticket_id)))
            .key(SK, s(TICKET_SK))
            .update_expression("ADD #ab :release")
            .condition_expression("attribute_exists(#pk) AND #ab >= :size")
            .expression_attribute_names("#ab", "attachmentBytes")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":release", n(-(a.size as i64)))
            .expression_attribute_values(":size", n(a.size as i64))
            .build()
            .map_err(|e| ApiError::internal("release bytes", e))?;
        let items = vec![
            TransactWriteItem::builder().update(attachment).build(),
            TransactWriteItem::builder().update(ticket).build(),
        ];
        match self.transact_with(items, None).await {
            Ok(()) => Ok(true),
            Err(WriteError::Changed) => Ok(false),
            Err(WriteError::Contended) => Err(ApiError::Throttled),
            Err(WriteError::Failed(e)) => Err(e),
            Err(WriteError::Duplicate) => Err(ApiError::Internal("no idempotency here".into())),
        }
    }

    /// Takes one write from the caller's quota of the minute `window` (a conditional `ADD` on
    /// `QUOTA#<sub>` / `<window>`, removed by TTL after `expires_at`); `false` when the minute's
    /// `limit` is used up. One item per caller and minute: concurrent writes of one caller
    /// update it one after another, they never cancel each other as transactions would.
    #[tracing::instrument(skip_all)]
    pub async fn take_quota(
        &self,
        sub: &str,
        window: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(quota_pk(sub)))
            .key(SK, s(window))
            .update_expression("ADD #w :one SET #exp = if_not_exists(#exp, :exp)")
            .condition_expression("attribute_not_exists(#w) OR #w < :limit")
            .expression_attribute_names("#w", "writes")
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .send()
            .await;
        condition_held(result, "take quota")
    }

    /// Gives back a write taken from the quota of `window` (the request was a replay); a
    /// count already at zero stays there.
    #[tracing::instrument(skip_all)]
    pub async fn refund_quota(&self, sub: &str, window: &str) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(quota_pk(sub)))
            .key(SK, s(window))
            .update_expression("ADD #w :minus")
            .condition_expression("#w > :zero")
            .expression_attribute_names("#w", "writes")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        condition_held(result, "refund quota").map(|_| ())
    }

    /// Writes tickets and threads as they are, without transactions, counters or conditions
    /// (BatchWriteItem, 25 items a request): for seeding large tables in tests and
    /// benchmarks (`tickets-dev seed-*`), never for the API's writes.
    pub async fn import(
        &self,
        tickets: &[Ticket],
        threads: &[(String, Thread)],
    ) -> Result<(), ApiError> {
        let mut items = Vec::new();
        for t in tickets {
            items.push(ticket_item(t, &self.policy)?);
        }
        for (ticket_id, t) in threads {
            items.push(thread_item(ticket_id, t, &[])?);
        }
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map_err(|e| ApiError::internal("put request", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, ApiError>>()?;
            for _ in 0..10 {
                if pending.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| sdk_error("import", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(ApiError::Throttled);
            }
        }
        Ok(())
    }

    /// The attachment items with these ids (BatchGetItem, 100 keys a request).
    pub async fn attachments(
        &self,
        ticket_id: &str,
        ids: &[String],
    ) -> Result<Vec<Attachment>, ApiError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    Item::from([
                        (PK.to_owned(), s(ticket_pk(ticket_id))),
                        (SK.to_owned(), s(attachment_sk(id))),
                    ])
                })
                .collect();
            for item in self.batch_get(keys, "attachments").await? {
                out.push(decode(item)?);
            }
        }
        out.sort_by(|a: &Attachment, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// BatchGetItem of up to 100 keys of this table, strongly consistent, unprocessed keys
    /// asked again (five requests at most, then 429).
    async fn batch_get(&self, keys: Vec<Item>, context: &str) -> Result<Vec<Item>, ApiError> {
        let mut pending = Some(keys);
        let mut items = Vec::new();
        for _ in 0..5 {
            let Some(keys) = pending.take().filter(|k| !k.is_empty()) else {
                return Ok(items);
            };
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| ApiError::internal(context, e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| sdk_error(context, e))?;
            if let Some(mut responses) = out.responses {
                items.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys);
        }
        match pending {
            Some(k) if !k.is_empty() => Err(ApiError::Throttled),
            _ => Ok(items),
        }
    }

    /// Whether this thread is stored (strongly consistent).
    #[tracing::instrument(skip_all)]
    pub async fn has_thread(&self, ticket_id: &str, t: &Thread) -> Result<bool, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(ticket_id)))
            .key(SK, s(thread_sk(t)))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", PK)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get thread", e))?;
        Ok(out.item.is_some())
    }

    #[tracing::instrument(skip_all)]
    pub async fn attachment(
        &self,
        ticket_id: &str,
        id: &str,
    ) -> Result<Option<Attachment>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(ticket_id)))
            .key(SK, s(attachment_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get attachment", e))?;
        out.item.map(decode).transpose()
    }

    /// Moves an attachment out of `pending`; `false` when it was no longer pending.
    #[tracing::instrument(skip_all)]
    pub async fn settle_attachment(
        &self,
        a: &Attachment,
        to: AttachmentStatus,
    ) -> Result<bool, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(&a.ticket_id)))
            .key(SK, s(attachment_sk(&a.id)))
            .update_expression("SET #st = :to REMOVE #pending")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#pending", BY_PENDING_UPLOAD.partition_key)
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":pending", s(AttachmentStatus::Pending.as_str()))
            .send()
            .await;
        condition_held(result, "settle attachment")
    }

    /// New threads and the ticket's update in one transaction; when the status moves, the
    /// counters move with it.
    #[tracing::instrument(skip_all, fields(ticket = %write.after.id))]
    pub async fn update(
        &self,
        write: &TicketWrite<'_>,
        new_threads: &[&Thread],
        attachments: &[Attachment],
        status_from: Option<Status>,
        idempotency: Option<(&Idempotency, &Recorded)>,
    ) -> Result<(), WriteError> {
        let mut items = vec![write.build(&self.table, &self.policy)?];
        for t in new_threads {
            items.push(put_new(
                &self.table,
                thread_item(&write.after.id, t, attachments)?,
            )?);
        }
        for a in attachments {
            items.push(put_new(&self.table, attachment_item(a)?)?);
        }
        if let Some(from) = status_from.filter(|f| *f != write.after.status) {
            let deltas = vec![(from, -1), (write.after.status, 1)];
            items.push(counter_update(
                &self.table,
                self.client_counter(&write.after.client),
                &deltas,
                None,
            )?);
            items.push(counter_update(
                &self.table,
                self.any_global_counter(),
                &deltas,
                None,
            )?);
        }
        self.transact_idempotent(items, idempotency).await
    }

    /// Up to `limit` tickets after `after` (and after passing over `skip` more, for `page=N`),
    /// and where the next page starts: none on the last page (one more ticket is looked for
    /// before saying there are more). At most [`QUERY_BUDGET`] Queries: when a sparse filter
    /// uses them up, the page comes back short, and the position says where reading stopped.
    #[tracing::instrument(skip_all, fields(index = plan.index.name))]
    pub async fn list(
        &self,
        plan: &ListPlan,
        after: Option<Position>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Ticket>, Option<Position>), ApiError> {
        let floor = match &plan.partitions {
            Partitions::One(_) => String::new(),
            Partitions::Monthly(_) => match self.first_month().await? {
                Some(m) => m,
                None => return Ok((Vec::new(), None)),
            },
        };
        let mut skip = after.as_ref().map_or(skip, |p| p.skip);
        let (mut partition, mut start) = match after {
            Some(pos) if plan.owns(&pos.partition) && pos.id.is_empty() => (pos.partition, None),
            Some(pos) if plan.owns(&pos.partition) => {
                let mut key = Item::new();
                key.insert(PK.into(), s(ticket_pk(&pos.id)));
                key.insert(SK.into(), s(TICKET_SK));
                key.insert(plan.index.partition_key.into(), s(pos.partition.clone()));
                key.insert(plan.index.sort_key.into(), s(pos.created_key));
                (pos.partition, Some(key))
            }
            Some(_) => return Err(ApiError::InvalidCursor),
            None => (plan.first_partition(), None),
        };
        let filter = plan.filter();
        let mut found: Vec<(String, String, Ticket)> = Vec::new();
        let (mut queries, mut bytes, mut full) = (0, 0, false);
        while found.len() <= limit && !full {
            if queries == QUERY_BUDGET {
                // Out of budget: go on from where reading stopped.
                let (id, created_key) = match &start {
                    Some(key) => (
                        key_string(key, PK).trim_start_matches("TICKET#").to_owned(),
                        key_string(key, plan.index.sort_key),
                    ),
                    None => (String::new(), String::new()),
                };
                let next = Position {
                    partition,
                    id,
                    created_key,
                    skip,
                };
                return Ok((found.into_iter().map(|(_, _, t)| t).collect(), Some(next)));
            }
            let wanted = skip + limit + 1 - found.len();
            // A filter drops items after they are read (and counted by Limit): read wide.
            let page = if filter.is_some() {
                FILTERED_READ
            } else {
                wanted.min(UNFILTERED_READ_MAX)
            };
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(plan.index.name)
                .key_condition_expression("#ipk = :ipk")
                .expression_attribute_names("#ipk", plan.index.partition_key)
                .expression_attribute_values(":ipk", s(partition.clone()))
                .scan_index_forward(plan.index.ascending)
                .limit(page as i32)
                .set_exclusive_start_key(start.take());
            if let Some((expr, names, values)) = &filter {
                q = q.filter_expression(expr);
                for (k, v) in names {
                    q = q.expression_attribute_names(k, v);
                }
                for (k, v) in values {
                    q = q.expression_attribute_values(k, v.clone());
                }
            }
            queries += 1;
            let out = q.send().await.map_err(|e| sdk_error("list", e))?;
            for item in out.items.unwrap_or_default() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                // The position is the stored sort key, exactly as the index has it.
                let sort_value = key_string(&item, plan.index.sort_key);
                let ticket: Ticket = decode(item)?;
                let size = estimated_bytes(&ticket, 0);
                if found.len() < limit && !found.is_empty() && bytes + size > PAGE_BYTES {
                    // Too large a page: it ends here, and goes on after its last ticket.
                    full = true;
                    break;
                }
                bytes += size;
                found.push((partition.clone(), sort_value, ticket));
            }
            if full {
                break;
            }
            if out.last_evaluated_key.is_some() {
                start = out.last_evaluated_key;
            } else if let Some(next) = plan.next_partition(&partition, &floor) {
                partition = next;
            } else {
                break;
            }
        }
        let more = found.len() > limit || full;
        found.truncate(limit);
        let next = match found.last() {
            Some((partition, sort_value, t)) if more => Some(Position {
                partition: partition.clone(),
                id: t.id.clone(),
                created_key: sort_value.clone(),
                skip: 0,
            }),
            _ => None,
        };
        Ok((found.into_iter().map(|(_, _, t)| t).collect(), next))
    }

    /// Tickets still awaiting a first response that was due before `before` and that the
    /// escalation has not raised yet: the breached part of the sparse escalation index only.
    #[tracing::instrument(skip_all)]
    pub async fn escalation_candidates(&self, before: &str) -> Result<Vec<Ticket>, ApiError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_ESCALATION.name)
                .key_condition_expression("#pk = :pk AND #due < :before")
                .expression_attribute_names("#pk", BY_ESCALATION.partition_key)
                .expression_attribute_names("#due", BY_ESCALATION.sort_key)
                .expression_attribute_values(":pk", s(ESCALATE))
                .expression_attribute_values(":before", s(before))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("escalation candidates", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Tickets per status: the customer's own counter, or the sum of the global shards.
    #[tracing::instrument(skip_all)]
    pub async fn counts(&self, caller: &Caller) -> Result<Counts, ApiError> {
        let mut counts = Counts::default();
        if caller.is_agent() {
            for item in self.global_counters().await? {
                counts.add_item(&item);
            }
        } else {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(self.client_counter(&caller.sub)))
                .key(SK, s(COUNTS_SK))
                .send()
                .await
                .map_err(|e| sdk_error("counts", e))?;
            if let Some(item) = out.item {
                counts.add_item(&item);
            }
        }
        Ok(counts)
    }

    async fn global_counters(&self) -> Result<Vec<Item>, ApiError> {
        let keys = (0..self.shards)
            .map(|shard| {
                Item::from([
                    (PK.to_owned(), s(self.global_counter(shard))),
                    (SK.to_owned(), s(COUNTS_SK)),
                ])
            })
            .collect();
        self.batch_get(keys, "global counts").await
    }

    async fn first_month(&self) -> Result<Option<String>, ApiError> {
        if let Some(m) = self.first_month.get() {
            return Ok(Some(m.clone()));
        }
        let first = self
            .global_counters()
            .await?
            .iter()
            .filter_map(|i| i.get(FIRST_MONTH).and_then(|v| v.as_s().ok()).cloned())
            .min();
        if let Some(m) = &first {
            let _ = self.first_month.set(m.clone());
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn agent() -> Caller {
        Caller {
            sub: "agent-1".into(),
            role: Role::Agent,
        }
    }

    #[test]
    fn months_walk_back_across_years() {
        assert_eq!(previous_month("2026-01").as_deref(), Some("2025-12"));
        assert_eq!(previous_month("2026-11").as_deref(), Some("2026-10"));
        assert_eq!(month_of("2026-11-25T19:00:00.123Z"), "2026-11");
    }

    #[test]
    fn customers_read_only_their_own_partition() {
        let alice = Caller {
            sub: "alice".into(),
            role: Role::Customer,
        };
        let f = ListFilters {
            status: Some(Status::Open),
            ..Default::default()
        };
        let plan = plan_list(&alice, &f, Sort::Newest).unwrap();
        assert_eq!(plan.index, &BY_CLIENT);
        assert_eq!(plan.partitions, Partitions::One("CLIENT#alice".into()));
        assert_eq!(plan.status, Some(Status::Open));
        let f = ListFilters {
            client: Some("bob".into()),
            ..Default::default()
        };
        assert!(matches!(
            plan_list(&alice, &f, Sort::Newest),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn agents_read_the_most_specific_index() {
        let plan = plan_list(&agent(), &ListFilters::default(), Sort::Newest).unwrap();
        assert_eq!(plan.index, &BY_MONTH);
        let f = ListFilters {
            status: Some(Status::Pending),
            priority: Some(Priority::High),
            ..Default::default()
        };
        let plan = plan_list(&agent(), &f, Sort::Newest).unwrap();
        assert_eq!(plan.index, &BY_STATUS);
        assert_eq!(
            plan.partitions,
            Partitions::Monthly("STATUS#pending#".into())
        );
        assert_eq!((plan.status, plan.priority), (None, Some(Priority::High)));
        let f = ListFilters {
            status: Some(Status::Pending),
            assigned_to: Some(Assignee::Unassigned),
            ..Default::default()
        };
        let plan = plan_list(&agent(), &f, Sort::Newest).unwrap();
        assert_eq!(plan.index, &BY_ASSIGNEE);
        assert_eq!(plan.partitions, Partitions::One("ASSIGNEE#none".into()));
        assert_eq!(plan.status, Some(Status::Pending));
        assert_eq!(plan.assignee, None);
    }

    #[test]
    fn a_monthly_walk_stops_at_the_first_month() {
        let plan = plan_list(&agent(), &ListFilters::default(), Sort::Newest).unwrap();
        assert_eq!(
            plan.next_partition("ALL#2026-01", "2025-11").as_deref(),
            Some("ALL#2025-12")
        );
        assert_eq!(plan.next_partition("ALL#2025-11", "2025-11"), None);
        assert!(!plan.owns("CLIENT#alice"));
    }

    #[test]
    fn schema_lists_every_index_with_its_sort_key() {
        let s = schema();
        let indexes = s["globalSecondaryIndexes"].as_array().unwrap();
        assert_eq!(indexes.len(), 9);
        for i in indexes {
            let sort = &i["KeySchema"][1]["AttributeName"];
            assert!(
                sort == CREATED_KEY || sort == DUE_KEY || sort == BY_PENDING_UPLOAD.sort_key,
                "{i}"
            );
        }
        let defined = s["attributeDefinitions"].as_array().unwrap();
        assert_eq!(
            defined.len(),
            2 + 9 + 3,
            "keys, index partitions, three sort keys"
        );
    }
}
