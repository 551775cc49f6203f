//! Why the rules refuse a request (the error layer gives each its status code).

use super::kinds::Status;

/// Why the rules refuse a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The caller's role may not do this.
    Forbidden(&'static str),
    /// The status machine has no such move.
    InvalidTransition {
        from: Status,
        to: Status,
        allowed: Vec<Status>,
    },
    /// Closed tickets take no more threads or updates.
    TicketClosed,
    /// The ticket cannot be rated now: it is not resolved, or it was closed longer ago than
    /// the rating window.
    NotRateable(String),
    /// The ticket's purge is due: it can no longer be restored (it is as good as gone).
    Purged,
    /// The declarations would take the ticket over its attachment total; `left` bytes remain.
    AttachmentBytes { left: u64 },
}
