//! Bulk import for tests and benchmarks.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::keys::{thread_item, ticket_item};
use super::{sdk_error, Store};
use crate::domain::{Thread, Ticket, TicketId};
use crate::error::ApiError;

impl Store {
    /// Writes tickets and threads as they are, without transactions, counters or conditions
    /// (BatchWriteItem, 25 items a request): for seeding large tables in tests and
    /// benchmarks (`tickets-dev seed-*`), never for the API's writes.
    pub async fn import(
        &self,
        tickets: &[Ticket],
        threads: &[(TicketId, Thread)],
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
}
