//! The enumerations of the contract, each with its wire names written once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a lowercase string enum with its wire names in one place, so parsing, printing
/// and serde all agree.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $wire)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($wire => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(Status {
    Open => "open",
    Pending => "pending",
    InProgress => "in_progress",
    Resolved => "resolved",
    Closed => "closed",
});

wire_enum!(Priority {
    Low => "low",
    Medium => "medium",
    High => "high",
    Urgent => "urgent",
});

impl Priority {
    /// One level up, if there is one.
    pub fn raised(self) -> Option<Priority> {
        match self {
            Priority::Low => Some(Priority::Medium),
            Priority::Medium => Some(Priority::High),
            Priority::High => Some(Priority::Urgent),
            Priority::Urgent => None,
        }
    }

    pub(crate) fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

wire_enum!(Category {
    Technical => "technical",
    Billing => "billing",
    Account => "account",
    FeatureRequest => "feature_request",
    General => "general",
});

wire_enum!(
    /// A customer's satisfaction with how their ticket was handled (CSAT).
    Rating {
        Good => "good",
        Bad => "bad",
    }
);

wire_enum!(AttachmentStatus {
    Pending => "pending",
    Uploaded => "uploaded",
    Rejected => "rejected",
    Expired => "expired",
});

wire_enum!(ThreadType {
    User => "user",
    Agent => "agent",
    System => "system",
});

/// Tickets per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub open: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub resolved: i64,
    pub closed: i64,
}

impl StatusCounts {
    pub fn add(&mut self, status: Status, n: i64) {
        let slot = match status {
            Status::Open => &mut self.open,
            Status::Pending => &mut self.pending,
            Status::InProgress => &mut self.in_progress,
            Status::Resolved => &mut self.resolved,
            Status::Closed => &mut self.closed,
        };
        *slot += n;
    }
}

/// Lists the wire names of an enum, for error messages.
pub fn names<T: Copy + fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_wire_names() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("in_progress".parse::<Status>(), Ok(Status::InProgress));
        assert_eq!(
            "feature_request".parse::<Category>(),
            Ok(Category::FeatureRequest)
        );
        assert!("Open".parse::<Status>().is_err());
        assert_eq!(Priority::High.raised(), Some(Priority::Urgent));
        assert_eq!(Priority::Urgent.raised(), None);
    }
}

wire_enum!(
    /// The event catalogue (docs/events.md, `events/schemas/`): what a committed change is
    /// announced as. Version 1 of the catalogue.
    EventKind {
        TicketCreated => "ticket.created",
        ThreadAdded => "thread.added",
        StatusChanged => "ticket.status_changed",
        Assigned => "ticket.assigned",
        Unassigned => "ticket.unassigned",
        PriorityChanged => "ticket.priority_changed",
        Updated => "ticket.updated",
        AttachmentUploaded => "attachment.uploaded",
        AttachmentRejected => "attachment.rejected",
        TicketRated => "ticket.rated",
        TicketDeleted => "ticket.deleted",
        TicketRestored => "ticket.restored",
        TicketPurged => "ticket.purged",
        CustomerErased => "customer.erased",
    }
);
