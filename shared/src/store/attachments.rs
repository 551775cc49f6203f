//! Attachment items: read by id, settled when their upload is checked, and expired (with
//! their bytes given back to the ticket) when it never came.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::keys::*;
use super::write::WriteError;
use super::{condition_held, decode, n, s, sdk_error, Item, Store};
use crate::domain::{Attachment, AttachmentId, AttachmentStatus, TicketId, Timestamp};
use crate::error::ApiError;

impl Store {
    /// The attachment items with these ids (BatchGetItem, 100 keys a request).
    pub async fn attachments(
        &self,
        ticket_id: &TicketId,
        ids: &[AttachmentId],
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

    #[tracing::instrument(skip_all)]
    pub async fn attachment(
        &self,
        ticket_id: &TicketId,
        id: &AttachmentId,
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

    /// Pending attachments declared before `cutoff` on the given days (`yyyy-mm-dd`), oldest
    /// first, at most `limit` in all: one Query per day on the sparse pending index.
    #[tracing::instrument(skip_all)]
    pub async fn pending_before(
        &self,
        cutoff: &Timestamp,
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
                .expression_attribute_values(":cutoff", s(cutoff.as_str()))
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
            Err(WriteError::Duplicate) => Err(WriteError::no_idempotency_here()),
        }
    }
}
