//! Agents' updates: assignment, priority, category, tags, title.

use serde_json::Value;

use super::status::change_on_version;
use super::App;
use crate::domain::rules::plan_update;
use crate::domain::{Caller, Ticket, TicketId, UpdateTicket};
use crate::error::ApiError;

/// Updates a ticket (agents only). Like a status change, the write holds only on the version
/// it was decided on.
pub async fn update_ticket(
    app: &App,
    caller: &Caller,
    id: &TicketId,
    input: UpdateTicket,
    if_match: Option<u64>,
) -> Result<(Ticket, Value), ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden("only agents may update tickets".into()));
    }
    change_on_version(app, caller, id, if_match, |ticket, at| {
        Ok(plan_update(ticket, caller, &input, at)?)
    })
    .await
}
