//! Removing data for good: a ticket's whole partition (its purge), a customer's tickets as
//! the erasure finds them, their own records (quota, idempotency, counter), and the erasure
//! jobs' records (docs/data-lifecycle.md).

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use serde::{Deserialize, Serialize};

use super::keys::*;
use super::{decode, key_string, n, s, sdk_error, Item, Store, BATCH_WRITE_MAX};
use crate::domain::{Status, Ticket, TicketId};
use crate::error::ApiError;

pub(crate) fn erasure_pk(id: &str) -> String {
    format!("ERASURE#{id}")
}
const ERASURE_SK: &str = "ERASURE";

/// An erasure job as stored: its progress, and the customer it erases until it is done (the
/// receipt keeps only a keyed digest of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub state: String,
    /// The customer, while the job runs; removed when it is done.
    #[serde(default)]
    pub client: Option<String>,
    pub client_digest: String,
    pub requested_by: String,
    pub requested_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// How many steps have been done: a step's message carries the number it is, so a
    /// repeated message is told apart from the next one.
    pub step: u64,
    pub tickets: u64,
    pub items: u64,
    pub files: u64,
    #[serde(default)]
    pub records: u64,
}

/// What one step of an erasure removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub tickets: u64,
    pub items: u64,
    pub files: u64,
    pub records: u64,
}

impl Removed {
    pub fn add(&mut self, other: Removed) {
        self.tickets += other.tickets;
        self.items += other.items;
        self.files += other.files;
        self.records += other.records;
    }
}

impl Store {
    /// Every key of a partition (strongly consistent, a page at a time).
    #[tracing::instrument(skip_all)]
    async fn partition_keys(&self, pk: &str) -> Result<Vec<Item>, ApiError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk))
                .projection_expression("#pk, #sk")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("partition keys", e))?;
            keys.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Deletes items by key, 25 to a BatchWriteItem; adds to `deleted` as each batch goes (a
    /// missing item's delete counts too: it is gone either way).
    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    async fn delete_keys(&self, keys: Vec<Item>, deleted: &mut u64) -> Result<(), ApiError> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let deletes = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| ApiError::internal("delete request", e))
                })
                .collect::<Result<_, _>>()?;
            self.batch_write(deletes, "delete items").await?;
            *deleted += chunk.len() as u64;
        }
        Ok(())
    }

    /// Deletes a ticket's threads and attachment records (the partition but its ticket
    /// item), adding the items that went to `deleted`, also when it fails part-way.
    #[tracing::instrument(skip_all, fields(ticket = %id))]
    pub async fn purge_ticket_contents(
        &self,
        id: &TicketId,
        deleted: &mut u64,
    ) -> Result<(), ApiError> {
        let keys = self.partition_keys(&ticket_pk(id)).await?;
        let rest: Vec<Item> = keys
            .into_iter()
            .filter(|k| key_string(k, SK) != TICKET_SK)
            .collect();
        self.delete_keys(rest, deleted).await
    }

    /// Deletes a ticket's item: the last of a purge, so that one that stops part-way leaves
    /// the ticket to be found (and purged again) by whatever started it. The ticket as it was,
    /// if it was there.
    #[tracing::instrument(skip_all, fields(ticket = %id))]
    pub async fn delete_ticket_item(&self, id: &TicketId) -> Result<Option<Ticket>, ApiError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(ticket_pk(id)))
            .key(SK, s(TICKET_SK))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("delete ticket", e))?;
        match out.attributes.filter(|a| !a.is_empty()) {
            Some(item) => decode(item).map(Some),
            None => Ok(None),
        }
    }

    /// Up to `limit` of a customer's tickets, live and deleted ones (`byClient`: their lists'
    /// partition and their deleted tickets' one), oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn client_ticket_ids(
        &self,
        client: &str,
        limit: usize,
    ) -> Result<Vec<TicketId>, ApiError> {
        let mut ids = Vec::new();
        for partition in [format!("CLIENT#{client}"), deleted_client_key(client)] {
            if ids.len() >= limit {
                break;
            }
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_CLIENT.name)
                .key_condition_expression("#k = :k")
                .expression_attribute_names("#k", BY_CLIENT.partition_key)
                .expression_attribute_names("#id", "_id")
                .expression_attribute_values(":k", s(partition))
                .projection_expression("#id")
                .limit((limit - ids.len()) as i32)
                .send()
                .await
                .map_err(|e| sdk_error("client tickets", e))?;
            ids.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|i| TicketId::parse(&key_string(i, "_id"))),
            );
        }
        Ok(ids)
    }

    /// Deletes a caller's own records: their write quotas and idempotency records (each one
    /// partition); how many went.
    #[tracing::instrument(skip_all)]
    pub async fn purge_caller_records(&self, sub: &str) -> Result<u64, ApiError> {
        let mut keys = self.partition_keys(&quota_pk(sub)).await?;
        keys.extend(self.partition_keys(&idempotency_pk(sub)).await?);
        let mut deleted = 0;
        self.delete_keys(keys, &mut deleted).await?;
        Ok(deleted)
    }

    /// Deletes a customer's counter once every one of its counts is back to zero (the
    /// stream's consumer has taken their purged tickets out of it): true when it is gone.
    /// Until then it is kept, so a late change cannot recreate it below zero.
    #[tracing::instrument(skip_all)]
    pub async fn purge_client_counter(&self, sub: &str) -> Result<bool, ApiError> {
        let pk = self.client_counter(sub);
        let mut condition = vec!["attribute_not_exists(#pk)".to_owned()];
        let mut zero = Vec::new();
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(&pk))
            .key(SK, s(COUNTS_SK))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":zero", n(0));
        for (i, status) in Status::ALL.iter().enumerate() {
            request = request.expression_attribute_names(format!("#s{i}"), status.as_str());
            zero.push(format!("(attribute_not_exists(#s{i}) OR #s{i} = :zero)"));
        }
        condition.push(zero.join(" AND "));
        let result = request
            .condition_expression(condition.join(" OR "))
            .send()
            .await;
        super::condition_held(result, "client counter")
    }

    /// Deletes a customer's counter whatever it holds (an erasure that waited long enough
    /// for it to drain).
    #[tracing::instrument(skip_all)]
    pub async fn remove_client_counter(&self, sub: &str) -> Result<bool, ApiError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(self.client_counter(sub)))
            .key(SK, s(COUNTS_SK))
            .send()
            .await
            .map_err(|e| sdk_error("client counter", e))?;
        tracing::warn!("a customer's counter removed before it drained to zero");
        Ok(true)
    }

    /// Records a new erasure job (its id is new: a put that finds one is refused).
    pub async fn put_erasure(&self, job: &ErasureRecord) -> Result<(), ApiError> {
        self.put_record((erasure_pk(&job.id), ERASURE_SK), job, None, "put erasure")
            .await
    }

    pub async fn erasure(&self, id: &str) -> Result<Option<ErasureRecord>, ApiError> {
        self.record((erasure_pk(id), ERASURE_SK), "erasure").await
    }

    /// Adds a step's removals to the job and moves it to step `step + 1`, only if it is still
    /// at `step` (a repeated message's step is not counted twice); `done` ends it, forgetting
    /// the customer. False when the job had moved on.
    #[tracing::instrument(skip_all)]
    pub async fn advance_erasure(
        &self,
        id: &str,
        step: u64,
        removed: Removed,
        done: Option<&str>,
    ) -> Result<bool, ApiError> {
        let mut expr = "SET #step = :next ADD #t :t, #i :i, #f :f, #r :r".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(erasure_pk(id)))
            .key(SK, s(ERASURE_SK))
            .expression_attribute_names("#step", "step")
            .expression_attribute_names("#t", "tickets")
            .expression_attribute_names("#i", "items")
            .expression_attribute_names("#f", "files")
            .expression_attribute_names("#r", "records")
            .expression_attribute_values(":step", n(step as i64))
            .expression_attribute_values(":next", n(step as i64 + 1))
            .expression_attribute_values(":t", n(removed.tickets as i64))
            .expression_attribute_values(":i", n(removed.items as i64))
            .expression_attribute_values(":f", n(removed.files as i64))
            .expression_attribute_values(":r", n(removed.records as i64));
        if let Some(at) = done {
            expr = "SET #step = :next, #state = :done, #fin = :at ADD #t :t, #i :i, #f :f, #r :r REMOVE #client"
                .to_owned();
            request = request
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#fin", "finishedAt")
                .expression_attribute_names("#client", "client")
                .expression_attribute_values(":done", s("done"))
                .expression_attribute_values(":at", s(at));
        }
        let result = request
            .update_expression(expr)
            .condition_expression("#step = :step")
            .send()
            .await;
        super::condition_held(result, "advance erasure")
    }
}
