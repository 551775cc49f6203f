//! What the table's stream says about a write, in domain terms: the ticket before and after
//! it and the threads it added, or an attachment before and after. The stream's images are
//! the items as stored; the service turns them into events.

use super::keys::*;
use super::{decode, key_string, s, Item, Store};
use crate::domain::{Attachment, Thread, Ticket, TicketId};
use crate::error::ApiError;

/// One committed write the events are made from (none for the service's own items:
/// idempotency records, quotas, counters, subscriptions and deliveries).
#[derive(Clone, Debug, PartialEq)]
pub enum Written {
    Ticket {
        before: Option<Box<Ticket>>,
        after: Box<Ticket>,
        /// Sort keys of the threads the write added (read with [`Store::threads_by_key`]).
        threads: Vec<String>,
    },
    Attachment {
        before: Option<Box<Attachment>>,
        after: Box<Attachment>,
    },
    /// The ticket item was removed: the ticket's purge, by DynamoDB's TTL (`by_ttl`, which
    /// the stream's record tells: [`crate::event::stream_changes`]) or by an erasure.
    TicketRemoved { before: Box<Ticket>, by_ttl: bool },
}

fn to_item(image: &serde_dynamo::Item) -> Option<Item> {
    if image.is_empty() {
        return None;
    }
    Some(image.clone().into())
}

/// The write a stream record shows; `Err` when a ticket or attachment item cannot be read
/// (the record is reported, not retried for ever); `Ok(None)` for items without events, and
/// for deletions other than a ticket item's.
pub fn written(
    keys: &serde_dynamo::Item,
    old: &serde_dynamo::Item,
    new: &serde_dynamo::Item,
) -> Result<Option<Written>, ApiError> {
    let Some(keys) = to_item(keys) else {
        return Ok(None);
    };
    let (pk, sk) = (key_string(&keys, PK), key_string(&keys, SK));
    if !pk.starts_with("TICKET#") {
        return Ok(None);
    }
    let Some(after) = to_item(new) else {
        if sk == TICKET_SK {
            if let Some(before) = to_item(old) {
                return Ok(Some(Written::TicketRemoved {
                    before: Box::new(decode(before)?),
                    by_ttl: false,
                }));
            }
        }
        return Ok(None);
    };
    if sk == TICKET_SK {
        let threads = match after.get(LAST_THREADS).and_then(|v| v.as_l().ok()) {
            Some(list) => list.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            None => Vec::new(),
        };
        let before = to_item(old)
            .map(decode::<Ticket>)
            .transpose()?
            .map(Box::new);
        // A write that added no threads carries the last list on unchanged: only a write
        // that set it names its threads.
        let threads = match (&before, to_item(old)) {
            (Some(_), Some(old)) if old.get(LAST_THREADS) == after.get(LAST_THREADS) => Vec::new(),
            _ => threads,
        };
        return Ok(Some(Written::Ticket {
            before,
            after: Box::new(decode(after)?),
            threads,
        }));
    }
    if sk.starts_with(ATTACHMENT_PREFIX) {
        return Ok(Some(Written::Attachment {
            before: to_item(old).map(decode).transpose()?.map(Box::new),
            after: Box::new(decode(after)?),
        }));
    }
    Ok(None)
}

impl Store {
    /// Threads of one ticket by sort key, in the order asked (consistent reads: they were
    /// committed before the stream showed the write that names them). Missing ones are left
    /// out.
    pub async fn threads_by_key(
        &self,
        ticket: &TicketId,
        keys: &[String],
    ) -> Result<Vec<Thread>, ApiError> {
        let mut found: Vec<(String, Thread)> = Vec::new();
        for chunk in keys.chunks(100) {
            let wanted: Vec<Item> = chunk
                .iter()
                .map(|sk| {
                    Item::from([
                        (PK.to_owned(), s(ticket_pk(ticket))),
                        (SK.to_owned(), s(sk.clone())),
                    ])
                })
                .collect();
            for item in self.batch_get(wanted, "threads by key").await? {
                let sk = key_string(&item, SK);
                found.push((sk, decode(item)?));
            }
        }
        Ok(keys
            .iter()
            .filter_map(|k| found.iter().find(|(sk, _)| sk == k).map(|(_, t)| t.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(v: serde_json::Value) -> serde_dynamo::Item {
        serde_dynamo::to_item(v).unwrap()
    }

    /// The service's own items (idempotency records, quotas, counters, markers, webhook items)
    /// and threads written on their own announce nothing, whatever the stream shows of them.
    #[test]
    fn only_tickets_and_attachments_are_writes_events_are_made_of() {
        for (pk, sk) in [
            ("IDEMPOTENCY#d1g3st", "IDEMPOTENCY"),
            ("QUOTA#alice", "2026-11-26T10:00"),
            ("COUNTS#ALL#3", "COUNTS"),
            ("STREAMBATCH#e1", "COUNTS"),
            ("META", "FIRST_MONTH"),
            ("WEBHOOKS", "WEBHOOK#wh_1"),
            ("WEBHOOK#wh_1", "DELIVERY#evt_1"),
            (
                "TICKET#01937f5e-7a3c-7cc0-8d2a-6f1e2b3c4d5e",
                "THREAD#2026-11-26T10:00:00.000Z#t",
            ),
        ] {
            let keys = image(serde_json::json!({"PK": pk, "SK": sk}));
            let new = image(serde_json::json!({"PK": pk, "SK": sk, "n": 1}));
            assert_eq!(
                written(&keys, &Default::default(), &new).unwrap(),
                None,
                "{pk}"
            );
        }
        // A removed thread or attachment record (a purge) announces nothing of its own.
        let keys = image(serde_json::json!({"PK": "TICKET#x", "SK": "ATTACH#a"}));
        assert_eq!(written(&keys, &keys, &Default::default()).unwrap(), None);
    }

    /// A ticket item that leaves the table is the ticket's purge, with the ticket as it was.
    #[test]
    fn a_removed_ticket_item_is_its_purge() {
        let t = crate::domain::fixtures::ticket(crate::domain::Status::Open);
        let item = ticket_item(&t, &crate::domain::SlaPolicy::default(), None).unwrap();
        let old: serde_dynamo::Item = item.into();
        let keys = image(serde_json::json!({"PK": ticket_pk(&t.id), "SK": "TICKET"}));
        assert_eq!(
            written(&keys, &old, &Default::default()).unwrap(),
            Some(Written::TicketRemoved {
                before: Box::new(t),
                by_ttl: false
            })
        );
    }
}
