//! Bulk work outside the API: import for tests and benchmarks, and re-keying the tickets
//! after a change to the key design.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use std::collections::HashMap;

use super::keys::{attachment_item, index_keys, thread_item, ticket_item, SK, TICKET_SK};
use super::{condition_held, decode, n, s, sdk_error, Store};
use crate::domain::{Attachment, Thread, Ticket, TicketId};
use crate::error::ApiError;

/// What a re-keying pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rekeyed {
    pub tickets: usize,
    /// Tickets whose index keys were rewritten.
    pub rewritten: usize,
    /// Tickets that changed while being re-keyed (a request wrote them): run it again.
    pub changed: usize,
}

impl Store {
    /// Writes tickets, threads and attachment records as they are, without transactions,
    /// counters or conditions (BatchWriteItem, 25 items a request): for seeding large tables
    /// in tests and benchmarks (`tickets-dev seed-*`), never for the API's writes.
    pub async fn import(
        &self,
        tickets: &[Ticket],
        threads: &[(TicketId, Thread)],
        attachments: &[Attachment],
    ) -> Result<(), ApiError> {
        if let Some(first) = tickets.iter().map(|t| t.created_at.month()).min() {
            self.remember_month(first).await?;
        }
        let mut items = Vec::new();
        for t in tickets {
            items.push(ticket_item(t, &self.policy, self.retention)?);
        }
        for (ticket_id, t) in threads {
            items.push(thread_item(ticket_id, t, attachments)?);
        }
        for a in attachments {
            items.push(attachment_item(a)?);
        }
        for chunk in items.chunks(super::BATCH_WRITE_MAX) {
            let puts = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map_err(|e| ApiError::internal("put request", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, ApiError>>()?;
            self.batch_write(puts, "import").await?;
        }
        Ok(())
    }

    /// Rewrites every ticket's index keys as the current key design derives them (after a
    /// change such as the index write shards): each ticket item is read (a Scan of ticket
    /// items: a maintenance pass, never a request's work) and, where its stored keys differ,
    /// updated on the version read. Safe to run while the API serves and to run again.
    pub async fn rekey(&self) -> Result<Rekeyed, ApiError> {
        let mut report = Rekeyed::default();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :ticket")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":ticket", s(TICKET_SK))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("rekey scan", e))?;
            for item in page.items.unwrap_or_default() {
                report.tickets += 1;
                let stored = item.clone();
                let ticket: Ticket = decode(item)?;
                let wanted: HashMap<&str, Option<String>> =
                    index_keys(&ticket, &self.policy).into_iter().collect();
                let differs = wanted
                    .iter()
                    .any(|(k, v)| stored.get(*k).and_then(|a| a.as_s().ok()) != v.as_ref());
                if !differs {
                    continue;
                }
                if self.rewrite_keys(&ticket, &wanted).await? {
                    report.rewritten += 1;
                } else {
                    report.changed += 1;
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(report);
            }
        }
    }

    async fn rewrite_keys(
        &self,
        ticket: &Ticket,
        wanted: &HashMap<&str, Option<String>>,
    ) -> Result<bool, ApiError> {
        let mut names = HashMap::from([("#v".to_owned(), "version".to_owned())]);
        let mut values: HashMap<String, AttributeValue> =
            HashMap::from([(":v".to_owned(), n(ticket.version as i64))]);
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        for (i, (key, value)) in wanted.iter().enumerate() {
            names.insert(format!("#k{i}"), (*key).to_owned());
            match value {
                Some(v) => {
                    values.insert(format!(":k{i}"), s(v.clone()));
                    sets.push(format!("#k{i} = :k{i}"));
                }
                None => removes.push(format!("#k{i}")),
            }
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(super::PK, s(super::keys::ticket_pk(&ticket.id)))
            .key(SK, s(TICKET_SK))
            .update_expression(expr)
            .condition_expression("#v = :v")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        condition_held(result, "rekey")
    }
}
