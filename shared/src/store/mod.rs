//! The single-table DynamoDB store: key design, indexes, and every read and write the
//! operations need. Every write that touches more than one item is one TransactWriteItems.
//! It never sees a caller: who may read or write what is the service's to decide.
//!
//! Items (table keys `PK`, `SK`):
//! - ticket: `TICKET#<id>` / `TICKET`, with the list-index keys below (only ticket items have
//!   them, so every index is sparse);
//! - thread: `TICKET#<id>` / `THREAD#<timestamp>#<threadId>` (oldest first in one Query);
//! - attachment: `TICKET#<id>` / `ATTACH#<attachmentId>` (read in the same Query);
//! - per-customer counters: `COUNTS#CLIENT#<sub>` / `COUNTS`, and global ones, sharded:
//!   `COUNTS#ALL#<n>` / `COUNTS`, written only by the consumer of the table's stream, each
//!   batch once (its marker `STREAMBATCH#<first record's eventID>` / `COUNTS`, expired by TTL);
//! - the metrics' rollups, written with the counts, sharded like them (store::metrics):
//!   `METRICS#<yyyy-mm>#<n>` / `H#…` (hours) and `D#…` (days), `METRICS#MONTHS#<n>` /
//!   `<dimension>#<yyyy-mm>#<group>`;
//! - the first month with a ticket: `META` / `FIRST_MONTH`;
//! - idempotency records: `IDEMPOTENCY#<sub>` / `IDEMPOTENCY#<digest of caller, operation,
//!   key>`, expired by DynamoDB's TTL on `expiresAt` (one partition per caller: an erasure
//!   finds them);
//! - write quotas: `QUOTA#<sub>` / `<yyyy-mm-ddThh:mm>` (`writes` that minute), expired by TTL.
//!
//! List indexes, sorted by `createdKey` = `<createdAt>#<id>`, read newest first:
//! `byClient` (`CLIENT#<sub>`) and `byAssignee` (`ASSIGNEE#<sub>`) are bounded by one
//! person; the keys every ticket would share are bucketed by month and write-sharded
//! ([`INDEX_SHARDS`], merged on read): `byStatus` (`STATUS#<s>#<yyyy-mm>#<shard>`),
//! `byPriority`, `byCategory`, `byMonth` (`ALL#<yyyy-mm>#<shard>`), `ASSIGNEE#none#<shard>`,
//! and the due-soon queues `AWAITING#<shard>` and `ESCALATE#<shard>`.

mod attachments;
mod codec;
mod counts;
mod events;
mod exports;
mod import;
mod keys;
mod lists;
mod metrics;
mod purge;
mod quota;
mod schema;
mod threads;
mod webhooks;
mod write;

pub use counts::{ticket_image, ticket_status, CountBatch, BATCH_ITEMS_MAX};
pub use events::{written, Written};
pub use exports::{ExportRecord, TicketsPage, EXPORT_DAYS};
pub use import::Rekeyed;
pub use keys::*;
pub use lists::{plan_list, ListPlan, Partitions, Scope, QUERY_BUDGET};
pub use purge::{ErasureRecord, Removed};
pub use schema::{create_table, schema};
pub use threads::{
    ThreadPage, ThreadQuery, TicketRecord, PAGE_BYTES, THREAD_PAGE_DEFAULT, THREAD_PAGE_MAX,
};
pub use webhooks::{ATTEMPTS_SHOWN, DELIVERY_DAYS, LEASE_SECONDS};
pub use write::{Creation, Expect, TicketWrite, WriteError};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, WriteRequest};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::domain::SlaPolicy;
use crate::error::ApiError;

pub type Item = HashMap<String, AttributeValue>;

/// The most puts or deletes one BatchWriteItem takes (DynamoDB's limit).
pub(crate) const BATCH_WRITE_MAX: usize = 25;
/// Sends of a BatchWriteItem's unprocessed part before giving up (429).
const BATCH_WRITE_TRIES: usize = 8;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn key_string(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, ApiError> {
    codec::from_item(item).map_err(|e| ApiError::internal("decode item", e))
}

/// Whether a conditional write (UpdateItem, PutItem, DeleteItem) was applied: `false` when
/// its condition did not hold.
pub(crate) fn condition_held<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    context: &str,
) -> Result<bool, ApiError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(sdk_error(context, e)),
    }
}

/// Cancellation reasons that mean "try again": another transaction held an item, or the item's
/// partition or index was throttled.
pub(crate) const CONTENDED_REASONS: &[&str] = &[
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// Maps an SDK failure: throttling is the caller's to retry later, anything else is internal.
pub(crate) fn sdk_error<E, R>(context: &str, err: SdkError<E, R>) -> ApiError
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

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    shards: u32,
    /// Service levels decide the due-soon index keys.
    policy: SlaPolicy,
    /// How long closed tickets are kept before they are purged (`RETENTION_DAYS`), if not
    /// for ever: the ticket item's TTL.
    retention: Option<chrono::Duration>,
    /// The month of the first ticket ever: fixed once there is one, so cached per container.
    first_month: Arc<OnceLock<String>>,
    /// The latest month this container made sure lists walk down to.
    month_remembered: Arc<Mutex<Option<String>>>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>, shards: u32, policy: SlaPolicy) -> Self {
        Store {
            client,
            table: table.into(),
            shards: shards.max(1),
            policy,
            retention: None,
            first_month: Arc::new(OnceLock::new()),
            month_remembered: Arc::new(Mutex::new(None)),
        }
    }

    /// Closed tickets are purged `days` after closing (none: kept for ever).
    pub fn with_retention(mut self, days: Option<u32>) -> Self {
        self.retention = days.map(|d| chrono::Duration::days(i64::from(d)));
        self
    }

    /// Requests that read nothing (`DescribeEndpoints`), side by side: they leave that many
    /// connections to DynamoDB, TLS and all, in the client's pool, and the credentials
    /// resolved. Two, because most first requests make two calls side by side (a read beside
    /// the caller's quota, the ticket beside its threads, a list beside its counts): with one
    /// connection ready the second call made its own handshake (1.2 M instructions).
    pub async fn connect(&self) -> Result<(), ApiError> {
        let one = || async {
            self.client
                .describe_endpoints()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error("connect", e))
        };
        let (a, b) = tokio::join!(one(), one());
        a.and(b)
    }

    /// The table's name (maintenance tools and tests).
    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn client_counter(&self, sub: &str) -> String {
        format!("COUNTS#CLIENT#{sub}")
    }

    pub(crate) fn global_counter(&self, shard: u32) -> String {
        format!("COUNTS#ALL#{shard}")
    }

    /// Puts a record (a job's, a webhook subscription) as a new item, kept until
    /// `expires_at` (TTL) if given.
    pub(crate) async fn put_record<T: serde::Serialize>(
        &self,
        key: (String, &str),
        value: &T,
        expires_at: Option<i64>,
        context: &str,
    ) -> Result<(), ApiError> {
        let mut item = keys::to_item(value)?;
        item.insert(PK.into(), s(key.0));
        item.insert(SK.into(), s(key.1));
        if let Some(at) = expires_at {
            item.insert(crate::idempotency::EXPIRES_ATTRIBUTE.into(), n(at));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map_err(|e| sdk_error(context, e))?;
        Ok(())
    }

    /// A record by its key, read consistently.
    pub(crate) async fn record<T: serde::de::DeserializeOwned>(
        &self,
        key: (String, &str),
        context: &str,
    ) -> Result<Option<T>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(key.0))
            .key(SK, s(key.1))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(context, e))?;
        out.item.map(decode).transpose()
    }

    /// One BatchWriteItem of up to [`BATCH_WRITE_MAX`] puts or deletes of this table, what
    /// DynamoDB leaves unprocessed sent again after a growing pause (a busy partition), 429
    /// when some is still left after [`BATCH_WRITE_TRIES`] sends.
    pub(crate) async fn batch_write(
        &self,
        requests: Vec<WriteRequest>,
        context: &str,
    ) -> Result<(), ApiError> {
        let mut pending = requests;
        for attempt in 0..BATCH_WRITE_TRIES {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                let ms = 25u64 << attempt.min(5);
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| sdk_error(context, e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Throttled)
        }
    }

    /// BatchGetItem of up to 100 keys of this table, strongly consistent, unprocessed keys
    /// asked again (five requests at most, then 429).
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<Item>,
        context: &str,
    ) -> Result<Vec<Item>, ApiError> {
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
}
