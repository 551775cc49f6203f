//! Counts per status, off the write path: the consumer of the table's stream adds each batch
//! of committed changes to the counters once ([`Store::apply_counts`]); lists read them
//! ([`Store::counts`]). And the month of the first ticket, which month-bucketed lists walk
//! down to ([`Store::remember_month`], [`Store::first_month`]).

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use std::collections::HashMap;

use super::keys::*;
use super::lists::Scope;
use super::write::WriteError;
use super::{condition_held, key_string, n, s, sdk_error, Item, Store};
use crate::domain::counts::Deltas;
use crate::domain::kinds::StatusCounts;
use crate::domain::metrics::Rollups;
use crate::domain::{Status, Timestamp, UserId};
use crate::error::ApiError;
use crate::idempotency::EXPIRES_ATTRIBUTE;

/// When a counter item last took a change: the commit time of the newest change folded in.
const AS_OF: &str = "asOf";
/// The item that remembers the first month with a ticket.
const META_PK: &str = "META";
const FIRST_MONTH_SK: &str = "FIRST_MONTH";
/// How long a folded batch's marker is kept: longer than the stream keeps records (24 h).
const MARKER_SECONDS: i64 = 48 * 3600;

pub(crate) fn batch_marker_pk(first_event: &str) -> String {
    format!("STREAMBATCH#{first_event}")
}

/// One batch of the stream folded into deltas, as one write.
pub struct CountBatch<'a> {
    /// The stream record the batch starts with: its marker's key.
    pub first_event: &'a str,
    /// The sequence number of the batch's last record (what a replay skips up to).
    pub up_to: &'a str,
    /// The commit time of the batch's newest change.
    pub as_of: &'a Timestamp,
    pub deltas: &'a Deltas,
    /// What the batch adds to the metrics' rollups.
    pub rollups: &'a Rollups,
}

/// The most items one transaction of a batch holds (DynamoDB's limit is 100).
pub const BATCH_ITEMS_MAX: usize = 100;

/// Adds a counter item's per-status numbers to `counts`.
fn add_counter_item(counts: &mut StatusCounts, item: &Item) {
    for &status in Status::ALL {
        let n = item
            .get(status.as_str())
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        counts.add(status, n);
    }
}

/// A ticket item's customer and status, from a stream image of it (none for other items,
/// and for an empty image: before a put, after a delete).
pub fn ticket_status(
    keys: &serde_dynamo::Item,
    image: &serde_dynamo::Item,
) -> Option<(UserId, Status)> {
    #[derive(serde::Deserialize)]
    struct Key {
        #[serde(rename = "SK")]
        sort: String,
    }
    #[derive(serde::Deserialize)]
    struct Counted {
        client: UserId,
        status: Status,
        #[serde(default)]
        deletion: Option<serde::de::IgnoredAny>,
    }
    let key: Key = serde_dynamo::from_item(keys.clone()).ok()?;
    if key.sort != TICKET_SK || image.is_empty() {
        return None;
    }
    let c: Counted = serde_dynamo::from_item(image.clone()).ok()?;
    // A deleted ticket is counted nowhere, as a purged one.
    c.deletion.is_none().then_some((c.client, c.status))
}

/// A ticket item's whole ticket, from a stream image of it (none for other items and empty
/// images; `Err` for a ticket item that does not read as a ticket).
pub fn ticket_image(
    keys: &serde_dynamo::Item,
    image: &serde_dynamo::Item,
) -> Result<Option<crate::domain::Ticket>, ApiError> {
    let key: Item = keys.clone().into();
    if key_string(&key, SK) != TICKET_SK || image.is_empty() {
        return Ok(None);
    }
    super::decode(image.clone().into()).map(Some)
}

impl Store {
    /// The sequence number a batch starting with `first_event` was folded up to, if it was.
    #[tracing::instrument(skip_all)]
    pub async fn folded_up_to(&self, first_event: &str) -> Result<Option<String>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(batch_marker_pk(first_event)))
            .key(SK, s(COUNTS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("batch marker", e))?;
        Ok(out.item.map(|i| key_string(&i, "upTo")))
    }

    /// Adds a batch's deltas to the customers' counters and one global shard, and its rollups
    /// to the metrics' items of that shard, with the batch's marker, in one transaction: a
    /// batch is added once (`Duplicate` when its marker exists already). `Contended` when
    /// another batch held an item meanwhile. The global shard always takes the batch's
    /// `asOf`: the metrics answer with it.
    #[tracing::instrument(skip_all, fields(customers = batch.deltas.clients.len()))]
    pub async fn apply_counts(&self, batch: &CountBatch<'_>) -> Result<(), WriteError> {
        let expires = chrono::Utc::now().timestamp() + MARKER_SECONDS;
        let marker = Put::builder()
            .table_name(&self.table)
            .item(PK, s(batch_marker_pk(batch.first_event)))
            .item(SK, s(COUNTS_SK))
            .item("upTo", s(batch.up_to))
            .item(EXPIRES_ATTRIBUTE, n(expires))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(|e| ApiError::internal("batch marker", e))?;
        let mut items = vec![TransactWriteItem::builder().put(marker).build()];
        let shard = rand::random::<u32>() % self.shards;
        items.push(self.counter_update(
            self.global_counter(shard),
            &batch.deltas.global,
            batch.as_of,
        )?);
        for (client, counts) in &batch.deltas.clients {
            if *counts != StatusCounts::default() {
                items.push(self.counter_update(
                    self.client_counter(client),
                    counts,
                    batch.as_of,
                )?);
            }
        }
        items.extend(self.rollup_updates(batch.rollups, shard)?);
        self.transact_with(items, Some(0)).await
    }

    /// An `ADD` of the non-zero deltas to one counter item (none may be), and its `asOf`.
    fn counter_update(
        &self,
        pk: String,
        deltas: &StatusCounts,
        as_of: &Timestamp,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut names = HashMap::from([("#asof".to_owned(), AS_OF.to_owned())]);
        let mut values = HashMap::from([(":asof".to_owned(), s(as_of.as_str()))]);
        let mut adds = Vec::new();
        for (i, (status, delta)) in deltas.nonzero().into_iter().enumerate() {
            names.insert(format!("#c{i}"), status.as_str().to_owned());
            values.insert(format!(":c{i}"), n(delta));
            adds.push(format!("#c{i} :c{i}"));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(COUNTS_SK))
            .update_expression(if adds.is_empty() {
                "SET #asof = :asof".to_owned()
            } else {
                format!("ADD {} SET #asof = :asof", adds.join(", "))
            })
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| ApiError::internal("counter update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Tickets per status (a customer's own counter, or the sum of the global shards), and
    /// the commit time of the newest change they include (none before the first).
    #[tracing::instrument(skip_all)]
    pub async fn counts(
        &self,
        scope: Scope<'_>,
    ) -> Result<(StatusCounts, Option<Timestamp>), ApiError> {
        let items = match scope {
            Scope::Own(client) => self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(self.client_counter(client)))
                .key(SK, s(COUNTS_SK))
                .send()
                .await
                .map_err(|e| sdk_error("counts", e))?
                .item
                .into_iter()
                .collect(),
            Scope::All => self.global_counters().await?,
        };
        let mut counts = StatusCounts::default();
        for item in &items {
            add_counter_item(&mut counts, item);
        }
        let as_of = items
            .iter()
            .filter_map(|i| Timestamp::parse(&key_string(i, AS_OF)))
            .max();
        Ok((counts, as_of))
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

    /// Makes sure lists walk down to `month` (the month of a ticket about to be written):
    /// the first month is kept as the least ever remembered. Once per container and month:
    /// tickets are created in time order, so this is nearly never a request.
    pub(crate) async fn remember_month(&self, month: &str) -> Result<(), ApiError> {
        if self
            .month_remembered
            .lock()
            .is_ok_and(|m| m.as_deref().is_some_and(|known| known <= month))
        {
            return Ok(());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(META_PK))
            .key(SK, s(FIRST_MONTH_SK))
            .update_expression("SET #m = :m")
            .condition_expression("attribute_not_exists(#m) OR #m > :m")
            .expression_attribute_names("#m", FIRST_MONTH)
            .expression_attribute_values(":m", s(month))
            .send()
            .await;
        // Held or not (an earlier month is known), the first month is now at most `month`.
        condition_held(result, "remember month")?;
        if let Ok(mut m) = self.month_remembered.lock() {
            *m = Some(month.to_owned());
        }
        Ok(())
    }

    /// This month remembered ahead of the first create (create-ticket's init).
    pub async fn remember_this_month(&self) -> Result<(), ApiError> {
        self.remember_month(&super::keys::current_month()).await
    }

    /// The first month read and kept ahead of the first month-bucketed list (list-tickets'
    /// init).
    pub async fn read_first_month(&self) -> Result<(), ApiError> {
        self.first_month().await.map(|_| ())
    }

    /// The month of the first ticket ever: fixed once there is one, so cached per container.
    pub(crate) async fn first_month(&self) -> Result<Option<String>, ApiError> {
        if let Some(m) = self.first_month.get() {
            return Ok(Some(m.clone()));
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(META_PK))
            .key(SK, s(FIRST_MONTH_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("first month", e))?;
        let first = out.item.map(|i| key_string(&i, FIRST_MONTH));
        if let Some(m) = &first {
            let _ = self.first_month.set(m.clone());
        }
        Ok(first)
    }
}
