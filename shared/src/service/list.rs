//! Lists of tickets: who may list what, a page at a time, with counts on request.

use chrono::Utc;
use serde_json::{Map, Value};

use super::App;
use crate::domain::{Assignee, Caller, Sort};
use crate::error::ApiError;
use crate::input::ListQuery;
use crate::store::{plan_list, Scope};
use crate::view;

/// The digest input a cursor is bound to: who asked, as what, with which filters.
fn cursor_scope(caller: &Caller, query: &ListQuery) -> String {
    format!(
        "{}\n{:?}\n{:?}\n{:?}",
        caller.sub, caller.role, query.filters, query.sort
    )
}

/// A page of tickets, with `pagination` and (on request) `counts`. Customers list their own
/// tickets only, and may not filter by client or assignee nor sort by the agents' queue.
pub async fn list_tickets(
    app: &App,
    caller: &Caller,
    query: ListQuery,
) -> Result<Map<String, Value>, ApiError> {
    let f = &query.filters;
    let scope = if caller.is_agent() {
        Scope::All
    } else if f.client.is_some() || f.assigned_to.is_some() || query.sort != Sort::Newest {
        return Err(ApiError::Forbidden(
            "only agents may filter by client or assignedTo, or sort by firstResponseDue".into(),
        ));
    } else {
        Scope::Own(&caller.sub)
    };
    let mut filters = query.filters.clone();
    if filters.assigned_to == Some(Assignee::Me) {
        filters.assigned_to = Some(Assignee::User(caller.sub.clone()));
    }
    let plan = plan_list(scope, &filters, query.sort);
    let bound = cursor_scope(caller, &query);
    let after = match &query.cursor {
        Some(c) => Some(app.cursors.open(&bound, c)?),
        None => None,
    };
    // `page=N` passes over the (N-1) × limit tickets before it within the same read budget
    // (bounded by the parser); a walk cut short by the budget continues through the cursor.
    let skip = (query.page.unwrap_or(1) - 1) * query.limit;
    let page = app.store.list(&plan, after, skip, query.limit);
    let counts = async {
        if query.count_by_status {
            app.store.counts(scope).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (page, counts) = tokio::join!(page, counts);
    let (tickets, next) = page?;
    let now = Utc::now();
    let data = tickets
        .iter()
        .map(|t| view::ticket_summary(t, caller, &app.config.sla, now))
        .collect();
    let next = next.map(|n| app.cursors.seal(&bound, &n));
    let pagination = view::tickets_pagination(query.limit, query.page, next);
    Ok(view::page(data, pagination, counts?))
}
