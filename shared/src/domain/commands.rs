//! What callers ask for, once their requests are parsed (`input`): the commands the service
//! carries out.

use super::ids::UserId;
use super::kinds::{Category, Priority, Rating, Status};
use super::ticket::NewAttachment;

/// A reply or an internal note.
#[derive(Clone, Debug, PartialEq)]
pub struct AddThread {
    pub message: String,
    pub internal: bool,
    pub attachments: Vec<NewAttachment>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChangeStatus {
    pub status: Status,
    pub resolution: Option<String>,
}

/// A customer's rating of their ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rate {
    pub rating: Rating,
    pub comment: Option<String>,
}

/// An agent's update: each field optional, at least one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateTicket {
    /// `Some(None)`: unassign.
    pub assigned_to: Option<Option<UserId>>,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    pub tags: Option<Vec<String>>,
    pub title: Option<String>,
}

/// Who a list is about, for agents: a named user, the caller (`me`) or nobody (`none`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Assignee {
    User(UserId),
    Me,
    Unassigned,
}

/// The order of a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest first (`createdAt`, the default).
    #[default]
    Newest,
    /// Tickets still awaiting a first response, soonest due first (`firstResponseDue`).
    FirstResponseDue,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilters {
    pub status: Option<Status>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub assigned_to: Option<Assignee>,
    pub client: Option<UserId>,
}

/// The order of a page of threads: oldest first (`asc`, the default) or newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadOrder {
    Asc,
    Desc,
}

impl ThreadOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadOrder::Asc => "asc",
            ThreadOrder::Desc => "desc",
        }
    }
}
