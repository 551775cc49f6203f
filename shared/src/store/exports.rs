//! Exports of a customer's data: the job's record, and the customer's tickets a page at a time
//! (docs/data-lifecycle.md).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::keys::*;
use super::{decode, n, s, sdk_error, Item, Store};
use crate::domain::Ticket;
use crate::error::ApiError;

fn export_pk(id: &str) -> String {
    format!("EXPORT#{id}")
}
const EXPORT_SK: &str = "EXPORT";
/// How long an export's record is kept (its archive: the bucket's lifecycle rule).
pub const EXPORT_DAYS: i64 = 7;

/// An export job as stored. The customer's id only while it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub client: Option<String>,
    pub client_digest: String,
    pub requested_by: String,
    pub requested_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The archive's object key.
    pub key: String,
    #[serde(default)]
    pub tickets: u64,
    #[serde(default)]
    pub threads: u64,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub error: Option<String>,
}

/// A page of a customer's tickets (their list's partition, oldest first) and where the next
/// starts.
pub struct TicketsPage {
    pub tickets: Vec<Ticket>,
    pub next: Option<Item>,
}

impl Store {
    /// Records a new export job, kept [`EXPORT_DAYS`] (TTL).
    pub async fn put_export(&self, job: &ExportRecord, now: i64) -> Result<(), ApiError> {
        let expires = now + EXPORT_DAYS * 86_400;
        self.put_record(
            (export_pk(&job.id), EXPORT_SK),
            job,
            Some(expires),
            "put export",
        )
        .await
    }

    pub async fn export(&self, id: &str) -> Result<Option<ExportRecord>, ApiError> {
        self.record((export_pk(id), EXPORT_SK), "export").await
    }

    /// Ends a running job (`done` or `failed`), forgetting the customer. False when it was
    /// not running.
    #[tracing::instrument(skip_all)]
    pub async fn finish_export(&self, job: &ExportRecord) -> Result<bool, ApiError> {
        let mut values = std::collections::HashMap::from([
            (":state".to_owned(), s(&job.state)),
            (":running".to_owned(), s("running")),
            (":t".to_owned(), n(job.tickets as i64)),
            (":th".to_owned(), n(job.threads as i64)),
            (":f".to_owned(), n(job.files as i64)),
            (":b".to_owned(), n(job.bytes as i64)),
            (
                ":at".to_owned(),
                s(job.finished_at.clone().unwrap_or_default()),
            ),
        ]);
        let mut set =
            "#state = :state, #t = :t, #th = :th, #f = :f, #bytes = :b, #at = :at".to_owned();
        let mut names = std::collections::HashMap::from([
            ("#state".to_owned(), "state".to_owned()),
            ("#bytes".to_owned(), "bytes".to_owned()),
            ("#t".to_owned(), "tickets".to_owned()),
            ("#th".to_owned(), "threads".to_owned()),
            ("#f".to_owned(), "files".to_owned()),
            ("#at".to_owned(), "finishedAt".to_owned()),
            ("#client".to_owned(), "client".to_owned()),
        ]);
        if let Some(e) = &job.error {
            values.insert(":err".into(), s(e));
            names.insert("#error".into(), "error".into());
            set.push_str(", #error = :err");
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(export_pk(&job.id)))
            .key(SK, s(EXPORT_SK))
            .update_expression(format!("SET {set} REMOVE #client"))
            .condition_expression("#state = :running")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        super::condition_held(result, "finish export")
    }

    /// A page of the customer's tickets (the ones they see: deleted ones are not in this
    /// partition), oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn client_tickets(
        &self,
        client: &str,
        start: Option<Item>,
    ) -> Result<TicketsPage, ApiError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_CLIENT.name)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", BY_CLIENT.partition_key)
            .expression_attribute_values(":k", AttributeValue::S(format!("CLIENT#{client}")))
            .limit(100)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("client tickets", e))?;
        let tickets = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<Ticket>, _>>()?;
        Ok(TicketsPage {
            tickets: tickets.into_iter().filter(|t| !t.is_deleted()).collect(),
            next: out.last_evaluated_key.filter(|k| !k.is_empty()),
        })
    }
}
