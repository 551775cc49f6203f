//! A ticket and its threads: the ticket item, pages of threads (bounded in count, bytes and
//! requests), and the record a single-ticket answer is made from.

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::{attachment_ids, thread_sk, ticket_pk, PK, SK, THREAD_PREFIX, TICKET_SK};
use super::{decode, s, sdk_error, Item, Store, QUERY_BUDGET};
use crate::domain::{Attachment, AttachmentId, Thread, Ticket, TicketId};
use crate::error::ApiError;

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
    pub threads: Vec<(Thread, Vec<AttachmentId>)>,
    pub next: Option<String>,
}

impl ThreadPage {
    pub fn attachment_ids(&self) -> Vec<AttachmentId> {
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
pub(crate) fn estimated_bytes(value: &impl serde::Serialize, attachments: usize) -> usize {
    let mut json = Counted(0);
    // Counted as written, not collected: the JSON itself is not needed.
    let _ = serde_json::to_writer(&mut json, value);
    2 * json.0 + attachments * ATTACHMENT_BYTES_ESTIMATE
}

/// A writer that keeps only how many bytes it was given.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a page of threads or tickets may come to, estimated generously (every byte of the JSON
/// counted twice, for the escaping of the body inside Lambda's response envelope, plus room
/// for each attachment's URLs): a page stops before it, so no answer nears Lambda's 6 MB.
/// (A ticket's description alone may be 20,000 characters: 100 of them would not fit.)
pub const PAGE_BYTES: usize = 3 * 1024 * 1024;
const ATTACHMENT_BYTES_ESTIMATE: usize = 4 * 1024;

impl Store {
    /// The ticket item alone (strongly consistent).
    #[tracing::instrument(skip_all)]
    pub async fn ticket(&self, id: &TicketId) -> Result<Option<Ticket>, ApiError> {
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
        out.item.map(decode).transpose()
    }

    /// The ticket with its latest page of threads (as `internal` allows) and their
    /// attachments: the ticket item and the page in one Query (the ticket's sort key sorts
    /// right after its threads', so reading down from it meets the ticket, then the newest
    /// threads), then the attachments.
    #[tracing::instrument(skip_all)]
    pub async fn ticket_record(
        &self,
        id: &TicketId,
        internal: bool,
    ) -> Result<Option<TicketRecord>, ApiError> {
        let latest = ThreadQuery::latest(internal);
        let (ticket, page) = self.ticket_with_threads(id, &latest).await?;
        let Some(ticket) = ticket else {
            return Ok(None);
        };
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
    pub async fn threads(&self, id: &TicketId, q: &ThreadQuery) -> Result<ThreadPage, ApiError> {
        self.read_threads(id, q, false).await.map(|(_, page)| page)
    }

    /// The ticket item and the latest page of threads `q` asks for (newest first, from the
    /// top), in the same Queries: what a write decides on and answers with.
    pub async fn ticket_with_threads(
        &self,
        id: &TicketId,
        q: &ThreadQuery,
    ) -> Result<(Option<Ticket>, ThreadPage), ApiError> {
        self.read_threads(id, q, true).await
    }

    /// A page of threads and, `with_ticket` (the latest page: newest first, from the top),
    /// the ticket item read in the same Queries.
    async fn read_threads(
        &self,
        id: &TicketId,
        q: &ThreadQuery,
        with_ticket: bool,
    ) -> Result<(Option<Ticket>, ThreadPage), ApiError> {
        debug_assert!(!with_ticket || (q.newest_first && q.after.is_none()));
        let pk = ticket_pk(id);
        let mut ticket = None;
        let mut start = q.after.as_ref().map(|sk| {
            Item::from([
                (PK.to_owned(), s(pk.clone())),
                (SK.to_owned(), s(sk.clone())),
            ])
        });
        let mut threads: Vec<(Thread, Vec<AttachmentId>)> = Vec::new();
        let (mut bytes, mut last_key) = (0, None);
        for _ in 0..QUERY_BUDGET {
            // One more item while the ticket has not been met: it comes first.
            let wanted = q.limit + 1 - threads.len() + usize::from(with_ticket && ticket.is_none());
            let mut query = self.client.query().table_name(&self.table);
            query = if with_ticket {
                query
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :threads AND :ticket")
                    .expression_attribute_values(":ticket", s(TICKET_SK))
            } else {
                query.key_condition_expression("#pk = :pk AND begins_with(#sk, :threads)")
            };
            let mut query = query
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
                // (Key attributes cannot be filtered on: the ticket passes as the one item
                // without `internal`; every thread has it.)
                query
                    .filter_expression(if with_ticket {
                        "attribute_not_exists(#internal) OR #internal = :public"
                    } else {
                        "#internal = :public"
                    })
                    .expression_attribute_names("#internal", "internal")
                    .expression_attribute_values(":public", AttributeValue::Bool(false))
                    .limit(wanted.max(THREAD_PAGE_MAX) as i32)
            };
            let out = query.send().await.map_err(|e| sdk_error("threads", e))?;
            for item in out.items.unwrap_or_default() {
                let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
                if with_ticket && sk.as_deref() == Some(TICKET_SK) {
                    ticket = Some(decode(item)?);
                    continue;
                }
                let ids = attachment_ids(&item);
                let thread: Thread = decode(item)?;
                let size = estimated_bytes(&thread, ids.len());
                let full =
                    threads.len() == q.limit || (!threads.is_empty() && bytes + size > PAGE_BYTES);
                if full {
                    let page = ThreadPage {
                        threads,
                        next: last_key,
                    };
                    return Ok((ticket, page));
                }
                bytes += size;
                threads.push((thread, ids));
                last_key = sk;
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                let page = ThreadPage {
                    threads,
                    next: None,
                };
                return Ok((ticket, page));
            }
        }
        // The budget ran out: go on from the last item read, returned or not (a thread's).
        let next = start
            .and_then(|k| k.get(SK).and_then(|v| v.as_s().ok()).cloned())
            .filter(|sk| sk.as_str() != TICKET_SK)
            .or(last_key);
        Ok((ticket, ThreadPage { threads, next }))
    }
}
