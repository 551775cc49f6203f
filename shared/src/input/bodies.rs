//! Request bodies parsed into the domain's commands ("parse, don't validate").

use serde_json::{Map, Value};

use super::fields::Fields;
use crate::domain::{
    AddThread, Category, ChangeStatus, NewTicket, Priority, Rate, Rating, Status, UpdateTicket,
    UserId,
};
use crate::error::ApiError;

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 20_000;
pub const RESOLUTION_MAX: usize = 5_000;
pub const COMMENT_MAX: usize = 2_000;

/// `POST /v2/support-tickets`.
pub fn create_ticket(body: Map<String, Value>) -> Result<NewTicket, ApiError> {
    let mut f = Fields::new(
        body,
        &[
            "title",
            "description",
            "priority",
            "category",
            "tags",
            "client",
            "attachments",
        ],
    );
    let attachments = f.attachments("attachments");
    let title = f.text("title", TITLE_MAX, false);
    let description = f.text("description", TEXT_MAX, true);
    let priority = f.enumeration("priority", Priority::ALL);
    let category = f.enumeration("category", Category::ALL);
    let tags = f.tags("tags");
    let client = f.optional_user_id("client");
    let value = (|| {
        Some(NewTicket {
            title: title?,
            description: description?,
            priority: priority?,
            category: category?,
            tags,
            client,
            attachments,
        })
    })();
    f.finish(value)
}

/// `POST /v2/support-tickets/{id}/threads`.
pub fn add_thread(body: Map<String, Value>) -> Result<AddThread, ApiError> {
    let mut f = Fields::new(body, &["message", "internal", "attachments"]);
    let attachments = f.attachments("attachments");
    let message = f.text("message", TEXT_MAX, true);
    let internal = f.optional_bool("internal").unwrap_or(false);
    let value = message.map(|message| AddThread {
        message,
        internal,
        attachments,
    });
    f.finish(value)
}

/// `PATCH /v2/support-tickets/{id}/status`.
pub fn change_status(body: Map<String, Value>) -> Result<ChangeStatus, ApiError> {
    let mut f = Fields::new(body, &["status", "resolution"]);
    let status = f.enumeration("status", Status::ALL);
    let given = f.has("resolution");
    let resolution = f.optional_text("resolution", RESOLUTION_MAX, true);
    match status {
        Some(Status::Resolved) if !given => {
            f.fail("resolution", "is required when status is resolved");
        }
        Some(s) if resolution.is_some() && !matches!(s, Status::Resolved | Status::Closed) => {
            f.fail(
                "resolution",
                "is only accepted with status resolved or closed",
            );
        }
        _ => {}
    }
    let value = status.map(|status| ChangeStatus { status, resolution });
    f.finish(value)
}

/// `POST /v2/support-tickets/{id}/satisfaction`: `rating`, and an optional `comment`.
pub fn rate(body: Map<String, Value>) -> Result<Rate, ApiError> {
    let mut f = Fields::new(body, &["rating", "comment"]);
    let rating = f.enumeration("rating", Rating::ALL);
    let comment = f.optional_text("comment", COMMENT_MAX, true);
    let value = rating.map(|rating| Rate { rating, comment });
    f.finish(value)
}

const UPDATE_FIELDS: &[&str] = &["assignedTo", "priority", "category", "tags", "title"];

/// `PATCH /v2/support-tickets/{id}`: each field optional, at least one.
pub fn update_ticket(body: Map<String, Value>) -> Result<UpdateTicket, ApiError> {
    let given: Vec<String> = body.keys().cloned().collect();
    let nulls: Vec<String> = body
        .iter()
        .filter(|(k, v)| v.is_null() && k.as_str() != "assignedTo")
        .map(|(k, _)| k.clone())
        .collect();
    let mut f = Fields::new(body, UPDATE_FIELDS);
    let present = |name: &str| given.iter().any(|g| g == name);
    let mut u = UpdateTicket::default();
    if present("assignedTo") {
        u.assigned_to = Some(f.optional_user_id("assignedTo"));
    }
    if f.has("priority") {
        u.priority = f.enumeration("priority", Priority::ALL);
    }
    if f.has("category") {
        u.category = f.enumeration("category", Category::ALL);
    }
    if f.has("tags") {
        u.tags = Some(f.tags("tags"));
    }
    if f.has("title") {
        u.title = f.text("title", TITLE_MAX, false);
    }
    for name in nulls.iter().filter(|n| UPDATE_FIELDS.contains(&n.as_str())) {
        f.fail(name, "must not be null: only assignedTo can be cleared");
    }
    if !UPDATE_FIELDS.iter().any(|n| present(n)) {
        f.fail(
            "body",
            format!("give at least one of: {}", UPDATE_FIELDS.join(", ")),
        );
    }
    f.finish(Some(u))
}

/// `POST /v2/webhooks`: `url` (its form; where it resolves is the service's to check),
/// `events` (one or more of the catalogue's types, each once), `includeInternal`.
pub fn new_webhook(
    body: Map<String, Value>,
    policy: &crate::domain::webhooks::UrlPolicy,
) -> Result<crate::domain::webhooks::NewWebhook, ApiError> {
    use crate::domain::EventKind;
    let mut f = Fields::new(body, &["url", "events", "includeInternal"]);
    let url = f.required("url").and_then(|v| match v {
        Value::String(u) => Some(u),
        _ => {
            f.fail("url", "must be a string");
            None
        }
    });
    let url = url.and_then(|u| match policy.check_url(&u) {
        Ok(_) => Some(u),
        Err(e) => {
            f.fail("url", e);
            None
        }
    });
    let mut events: Vec<EventKind> = Vec::new();
    match f.required("events") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.into_iter().enumerate() {
                match item.as_str().and_then(|k| k.parse::<EventKind>().ok()) {
                    Some(k) if events.contains(&k) => {
                        f.fail(&format!("events[{i}]"), "is listed twice")
                    }
                    Some(k) => events.push(k),
                    None => f.fail(
                        &format!("events[{i}]"),
                        format!(
                            "must be one of: {}",
                            EventKind::ALL
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
            }
        }
        Some(_) => f.fail("events", "must be a non-empty list of event types"),
        None => {}
    }
    let include_internal = f.optional_bool("includeInternal").unwrap_or(false);
    let value = url.map(|url| crate::domain::webhooks::NewWebhook {
        url,
        events,
        include_internal,
    });
    f.finish(value)
}

/// `POST /v2/erasures`: `{"client": "<sub>"}`, the customer whose data goes.
pub fn data_subject(body: Map<String, Value>) -> Result<UserId, ApiError> {
    let mut f = Fields::new(body, &["client"]);
    let client = if f.has("client") {
        f.optional_user_id("client")
    } else {
        f.required("client");
        None
    };
    f.finish(client)
}

/// `POST /v2/exports`: `{"client": "<sub>"}` (admins), or `{}` (a customer: themselves).
pub fn export_request(body: Map<String, Value>) -> Result<Option<UserId>, ApiError> {
    let mut f = Fields::new(body, &["client"]);
    let client = if f.has("client") {
        f.optional_user_id("client").map(Some)
    } else {
        Some(None)
    };
    f.finish(client)
}
