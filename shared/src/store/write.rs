//! Writes: every change to a ticket is one value ([`TicketWrite`], around the domain's
//! [`Change`]) and one transaction, with its threads, attachments and idempotency record; how a cancelled transaction ended is told apart ([`WriteError`]).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;

use super::keys::*;
use super::{decode, n, s, sdk_error, Item, Store, CONTENDED_REASONS};
use crate::domain::rules::TICKET_ATTACHMENT_BYTES_MAX;
use crate::domain::{Attachment, Change, Field, SlaPolicy, Status, Thread, Ticket};
use crate::error::ApiError;
use crate::idempotency::{Idempotency, Recorded, EXPIRES_ATTRIBUTE};

/// A new ticket as one write: the ticket, its first thread and that thread's attachments, and
/// the request's idempotency record.
pub struct Creation<'a> {
    pub ticket: &'a Ticket,
    pub first: &'a Thread,
    pub attachments: &'a [Attachment],
    pub idempotency: Option<(&'a Idempotency, &'a Recorded)>,
}

/// What the ticket must still be when a change is written, as it was when it was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    pub status: Status,
    /// None: any version (concurrent replies may land meanwhile; their counts are added).
    pub version: Option<u64>,
}

impl Expect {
    /// The status read: other changes may land meanwhile, a status change may not.
    pub fn status_of(t: &Ticket) -> Self {
        Expect {
            status: t.status,
            version: None,
        }
    }

    /// The version read: nothing may change meanwhile.
    pub fn version_of(t: &Ticket) -> Self {
        Expect {
            status: t.status,
            version: Some(t.version),
        }
    }
}

/// A change to a ticket as one write ([`Store::update`]).
pub struct TicketWrite<'a> {
    pub change: &'a Change,
    pub expect: Expect,
    /// The most threads the ticket may hold before this change (replies only: status
    /// changes and updates still record their system threads past it).
    pub thread_limit: Option<u32>,
    pub idempotency: Option<(&'a Idempotency, &'a Recorded)>,
}

impl<'a> TicketWrite<'a> {
    pub fn new(change: &'a Change, expect: Expect) -> Self {
        TicketWrite {
            change,
            expect,
            thread_limit: None,
            idempotency: None,
        }
    }

    /// The UpdateItem of the ticket: the changed fields set (or removed) as the ticket after
    /// the change has them, the index keys derived from those fields only (the others may
    /// have been changed by a concurrent request and must not be overwritten from a stale
    /// read), thread counts, version and attachment bytes added, under the expectations.
    fn ticket_update(
        &self,
        table: &str,
        policy: &SlaPolicy,
        retention: Option<chrono::Duration>,
    ) -> Result<TransactWriteItem, ApiError> {
        let change = self.change;
        let item = ticket_item(&change.after, policy, retention)?;
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        let mut keys: Vec<&'static str> = Vec::new();
        let sources = change
            .fields
            .iter()
            .copied()
            .chain(change.first_response.then_some(Field::FirstResponseAt));
        for field in sources {
            for key in derived_keys(field) {
                if !keys.contains(key) {
                    keys.push(key);
                }
            }
        }
        let first_response_keys = derived_keys(Field::FirstResponseAt);
        let written = change
            .fields
            .iter()
            .map(|f| f.attribute())
            .chain(keys.iter().copied());
        for (i, attribute) in written.enumerate() {
            names.insert(format!("#f{i}"), attribute.to_owned());
            // A first response takes the ticket out of the due-soon queue, whatever else.
            let answered = change.first_response && first_response_keys.contains(&attribute);
            match item.get(attribute).filter(|_| !answered) {
                Some(v) => {
                    values.insert(format!(":f{i}"), v.clone());
                    sets.push(format!("#f{i} = :f{i}"));
                }
                None => removes.push(format!("#f{i}")),
            }
        }
        if change.first_response {
            names.insert("#fr".into(), Field::FirstResponseAt.attribute().into());
            values.insert(":fr".into(), s(change.after.updated_at.as_str()));
            sets.push("#fr = if_not_exists(#fr, :fr)".into());
        }
        let added = change.added();
        names.insert("#tc".into(), "threadCount".into());
        names.insert("#ptc".into(), "publicThreadCount".into());
        names.insert("#v".into(), "version".into());
        names.insert("#st".into(), Field::Status.attribute().into());
        names.insert("#pk".into(), PK.into());
        values.insert(":tc".into(), n(i64::from(added.all)));
        values.insert(":ptc".into(), n(i64::from(added.public)));
        values.insert(":one".into(), n(1));
        values.insert(":expst".into(), s(self.expect.status.as_str()));
        let mut condition = "attribute_exists(#pk) AND #st = :expst".to_owned();
        // A ticket deleted since it was read takes no other change (the writer reads again
        // and finds it gone).
        if !change.fields.contains(&Field::Deletion) {
            names.insert("#del".into(), Field::Deletion.attribute().into());
            condition.push_str(" AND attribute_not_exists(#del)");
        }
        if let Some(v) = self.expect.version {
            values.insert(":expv".into(), n(v as i64));
            condition.push_str(" AND #v = :expv");
        }
        if let Some(max) = self.thread_limit {
            values.insert(":maxtc".into(), n(i64::from(max)));
            condition.push_str(" AND #tc < :maxtc");
        }
        // The threads this change adds, by key: the stream's record of this write names them,
        // so its events can carry them (service::events).
        names.insert("#lt".into(), LAST_THREADS.into());
        values.insert(":lt".into(), last_threads(&change.threads));
        sets.push("#lt = :lt".into());
        let mut adds = vec!["#tc :tc", "#ptc :ptc", "#v :one"];
        if change.attachment_bytes > 0 {
            let room = TICKET_ATTACHMENT_BYTES_MAX.saturating_sub(change.attachment_bytes);
            names.insert("#ab".into(), "attachmentBytes".into());
            values.insert(":ab".into(), n(change.attachment_bytes as i64));
            values.insert(":room".into(), n(room as i64));
            condition.push_str(" AND (attribute_not_exists(#ab) OR #ab <= :room)");
            adds.push("#ab :ab");
        }
        let mut expr = String::new();
        if !sets.is_empty() {
            expr.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        expr.push_str(&format!(" ADD {}", adds.join(", ")));
        let update = Update::builder()
            .table_name(table)
            .key(PK, s(ticket_pk(&change.after.id)))
            .key(SK, s(TICKET_SK))
            .update_expression(expr.trim_start())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| ApiError::internal("ticket update", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

pub(crate) fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, ApiError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .build()
        .map_err(|e| ApiError::internal("put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
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

impl WriteError {
    /// A write without an idempotency record cannot fail on one.
    pub fn no_idempotency_here() -> ApiError {
        ApiError::Internal("idempotency conflict on a write without a key".into())
    }
}

impl From<ApiError> for WriteError {
    fn from(e: ApiError) -> Self {
        WriteError::Failed(e)
    }
}

impl Store {
    /// The conditional put of an idempotency record (see [`crate::idempotency`]): it holds only
    /// where there is no live record for the key.
    fn idempotency_put(
        &self,
        idem: &Idempotency,
        recorded: &Recorded,
        now: i64,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut item = to_item(recorded)?;
        item.insert(PK.into(), s(idempotency_pk(&idem.owner)));
        item.insert(SK.into(), s(idempotency_sk(&idem.key_hash)));
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
            .key(PK, s(idempotency_pk(&idem.owner)))
            .key(SK, s(idempotency_sk(&idem.key_hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("idempotency record", e))?;
        let recorded: Option<Recorded> = out.item.map(decode).transpose()?;
        Ok(recorded.filter(|r| r.expires_at >= now))
    }

    /// Runs the items as one transaction; `idempotency` is the index of the idempotency put
    /// among them, whose failed condition means the request was done before.
    pub(crate) async fn transact_with(
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

    /// The ticket, its first thread and its attachments, all or nothing. The month it is
    /// listed under is made known to lists first ([`Store::remember_month`]). The counts
    /// follow from the table's stream ([`Store::apply_counts`]), off this write's path.
    #[tracing::instrument(skip_all, fields(ticket = %new.ticket.id))]
    pub async fn create(&self, new: &Creation<'_>) -> Result<(), WriteError> {
        let ticket = new.ticket;
        self.remember_month(ticket.created_at.month()).await?;
        let mut item = ticket_item(ticket, &self.policy, self.retention)?;
        item.insert(
            LAST_THREADS.into(),
            last_threads(std::slice::from_ref(new.first)),
        );
        let mut items = vec![
            put_new(&self.table, item)?,
            put_new(
                &self.table,
                thread_item(&ticket.id, new.first, new.attachments)?,
            )?,
        ];
        for a in new.attachments {
            items.push(put_new(&self.table, attachment_item(a)?)?);
        }
        self.transact_idempotent(items, new.idempotency).await
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

    /// A change to a ticket in one transaction: the ticket item, its new threads and
    /// attachments, and the idempotency record.
    #[tracing::instrument(skip_all, fields(ticket = %write.change.after.id))]
    pub async fn update(&self, write: &TicketWrite<'_>) -> Result<(), WriteError> {
        let change = write.change;
        let after = &change.after;
        let mut items = vec![write.ticket_update(&self.table, &self.policy, self.retention)?];
        for t in &change.threads {
            items.push(put_new(
                &self.table,
                thread_item(&after.id, t, &change.attachments)?,
            )?);
        }
        for a in &change.attachments {
            items.push(put_new(&self.table, attachment_item(a)?)?);
        }
        self.transact_idempotent(items, write.idempotency).await
    }
}
