//! The domain: tickets, their threads and attachments, who acts on them, and the rules they
//! follow. Pure: no AWS, no HTTP, no JSON values; everything above builds on it.

pub mod caller;
pub mod commands;
pub mod counts;
pub mod events;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod ids;
pub mod kinds;
pub mod lifecycle;
pub mod metrics;
pub mod refusal;
pub mod rules;
pub mod sla;
pub mod status;
pub mod ticket;
pub mod webhooks;

pub use caller::{Caller, Role};
pub use commands::{
    AddThread, Assignee, ChangeStatus, ListFilters, Rate, Sort, ThreadOrder, UpdateTicket,
};
pub use ids::{AttachmentId, ThreadId, TicketId, Timestamp, UserId};
pub use kinds::{
    names, AttachmentStatus, Category, EventKind, Priority, Rating, Status, ThreadType,
};
pub use refusal::Refusal;
pub use rules::{Change, ThreadCounts};
pub use sla::SlaPolicy;
pub use ticket::{
    Attachment, Deletion, Field, NewAttachment, NewTicket, Satisfaction, Thread, Ticket, Upload,
};
