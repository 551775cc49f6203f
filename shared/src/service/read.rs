//! Reading a ticket with its latest threads, and its threads a page at a time.

use serde_json::{Map, Value};
use std::collections::HashMap;

use super::common::{
    open_threads_cursor, render, seal_threads_cursor, shown_threads, visible_ticket,
};
use super::App;
use crate::domain::{Caller, ThreadOrder, Ticket, TicketId};
use crate::error::ApiError;
use crate::input::ThreadsQuery;
use crate::store::{ThreadQuery, TicketRecord};
use crate::view;

/// The ticket with its latest page of threads, as the caller may see it.
pub async fn get_ticket(
    app: &App,
    caller: &Caller,
    id: &TicketId,
) -> Result<(Ticket, Value), ApiError> {
    let record = app
        .store
        .ticket_record(id, caller.is_agent())
        .await?
        .filter(|r| r.ticket.visible_to(caller))
        .ok_or(ApiError::NotFound)?;
    let body = render(app, &record, caller, &HashMap::new()).await?;
    Ok((record.ticket, body))
}

/// A page of the threads the caller may see, each with its attachments, and the cursor to
/// the next page.
pub async fn list_threads(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    query: ThreadsQuery,
) -> Result<Map<String, Value>, ApiError> {
    let after = match &query.cursor {
        Some(c) => Some(open_threads_cursor(app, caller, id, query.order, c)?),
        None => None,
    };
    let q = ThreadQuery {
        after,
        limit: query.limit,
        newest_first: query.order == ThreadOrder::Desc,
        internal: caller.is_agent(),
    };
    let (ticket, page) = tokio::join!(visible_ticket(app, caller, id), app.store.threads(id, &q));
    let (ticket, page) = (ticket?, page?);
    let attachments = app.store.attachments(id, &page.attachment_ids()).await?;
    let record = TicketRecord::page(ticket, page, attachments);
    let threads = shown_threads(app, &record, caller, &HashMap::new()).await?;
    let next = seal_threads_cursor(app, caller, id, query.order, record.earlier);
    let pagination = view::threads_pagination(query.limit, query.order, next);
    Ok(view::page(threads, pagination, None))
}
