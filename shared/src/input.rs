//! Request bodies and query strings parsed into values that can only be valid
//! ("parse, don't validate"). Every problem is reported with the field it concerns, all at once.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{ApiError, FieldError};
use crate::model::{names, Category, Priority, Status};

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 20_000;
pub const RESOLUTION_MAX: usize = 5_000;
pub const TAGS_MAX: usize = 20;
pub const TAG_MAX: usize = 50;
pub const USER_ID_MAX: usize = 128;
pub const LIMIT_DEFAULT: usize = 10;
pub const LIMIT_MAX: usize = 100;
/// `page × limit` at most this: deeper pages walk too many cursors in one request.
pub const PAGE_DEPTH_MAX: usize = 1_000;

/// A JSON object body, read field by field; collects every problem before answering.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// Takes the parsed body; names every field that is not in `allowed`.
    pub fn new(map: Map<String, Value>, allowed: &[&str]) -> Self {
        let mut errors: Vec<FieldError> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| FieldError::new(k.as_str(), "is not a known field"))
            .collect();
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        Fields { map, errors }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Present and not null.
    fn take(&mut self, field: &str) -> Option<Value> {
        match self.map.remove(field) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        }
    }

    fn required(&mut self, field: &str) -> Option<Value> {
        let value = self.take(field);
        if value.is_none() {
            self.fail(field, "is required");
        }
        value
    }

    fn string_of(&mut self, field: &str, value: Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s),
            _ => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// A required text, trimmed, `1..=max` characters; `multiline` allows newlines and tabs.
    pub fn text(&mut self, field: &str, max: usize, multiline: bool) -> Option<String> {
        let value = self.required(field)?;
        let s = self.string_of(field, value)?;
        self.check_text(field, &s, max, multiline)
    }

    /// Like [`Fields::text`], but the field may be absent or null.
    pub fn optional_text(&mut self, field: &str, max: usize, multiline: bool) -> Option<String> {
        let value = self.take(field)?;
        let s = self.string_of(field, value)?;
        self.check_text(field, &s, max, multiline)
    }

    fn check_text(&mut self, field: &str, s: &str, max: usize, multiline: bool) -> Option<String> {
        match check_text(s, max, multiline) {
            Ok(t) => Some(t),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    pub fn enumeration<T: FromStr + Copy + std::fmt::Display>(
        &mut self,
        field: &str,
        all: &[T],
    ) -> Option<T> {
        let value = self.required(field)?;
        let s = self.string_of(field, value)?;
        match s.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.fail(field, format!("must be one of: {}", names(all)));
                None
            }
        }
    }

    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        match self.take(field)? {
            Value::Bool(b) => Some(b),
            _ => {
                self.fail(field, "must be true or false");
                None
            }
        }
    }

    /// Tags: at most 20, each 1–50 characters without whitespace or control characters;
    /// lowercased and deduplicated, first occurrence kept.
    pub fn tags(&mut self, field: &str) -> Vec<String> {
        let Some(value) = self.take(field) else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            self.fail(field, "must be a list of strings");
            return Vec::new();
        };
        if items.len() > TAGS_MAX {
            self.fail(field, format!("at most {TAGS_MAX} tags"));
            return Vec::new();
        }
        let mut tags: Vec<String> = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let name = format!("{field}[{i}]");
            let Value::String(tag) = item else {
                self.fail(&name, "must be a string");
                continue;
            };
            let n = tag.chars().count();
            if n == 0 || n > TAG_MAX {
                self.fail(&name, format!("must be 1 to {TAG_MAX} characters"));
            } else if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.fail(&name, "must not contain whitespace or control characters");
            } else {
                let tag = tag.to_lowercase();
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
        tags
    }

    /// A user id given by an agent (`client` on create): the same shape as a token's `sub`.
    /// A user id to store (an assignee, a ticket's client): `me` and `none` are reserved for
    /// the list filters and never name a user (`null` unassigns).
    pub fn optional_user_id(&mut self, field: &str) -> Option<String> {
        let value = self.take(field)?;
        let s = self.string_of(field, value)?;
        if RESERVED_USER_IDS.contains(&s.as_str()) {
            self.fail(
                field,
                format!("'{s}' is reserved for list filters; name a user id (null unassigns)"),
            );
            return None;
        }
        match check_user_id(&s) {
            Ok(()) => Some(s),
            Err(m) => {
                self.fail(field, m);
                None
            }
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.map.get(field).is_some_and(|v| !v.is_null())
    }

    /// Ends parsing: the value if every field was fine, else every problem found.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

/// Trims and checks a text's length in characters and its characters.
pub fn check_text(s: &str, max: usize, multiline: bool) -> Result<String, String> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 {
        return Err("must not be empty".into());
    }
    if n > max {
        return Err(format!("must be at most {max} characters"));
    }
    let allowed_control = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if t.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}

/// Values of the `assignedTo` list filter that are not user ids.
pub const RESERVED_USER_IDS: &[&str] = &["me", "none"];

pub fn check_user_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > USER_ID_MAX {
        return Err(format!("must be 1 to {USER_ID_MAX} characters"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateTicket {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub category: Category,
    pub tags: Vec<String>,
    /// Only agents may set it (checked by the service, which knows the caller).
    pub client: Option<String>,
    pub attachments: Vec<AttachmentDecl>,
}

impl CreateTicket {
    pub fn parse(body: Map<String, Value>) -> Result<Self, ApiError> {
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
            Some(CreateTicket {
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
}

/// A file the client means to upload, as declared in the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentDecl {
    pub filename: String,
    pub size: u64,
    pub content_type: String,
}

pub const ATTACHMENTS_MAX: usize = 10;
pub const FILENAME_MAX: usize = 255;
pub const ATTACHMENT_SIZE_MAX: u64 = 25 * 1024 * 1024;
/// What one ticket may hold in all, over all its threads.
pub const TICKET_ATTACHMENT_BYTES_MAX: u64 = 100 * 1024 * 1024;

/// The media types a file may be declared as: images, PDF, plain text and logs, CSV, JSON,
/// ZIP and Office documents.
pub const ALLOWED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/x-log",
    "text/csv",
    "application/json",
    "application/zip",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// Unicode's format characters (general category Cf, Unicode 15.1): invisible, and some
/// reorder what is shown (U+202E makes `exe.txt` read as `txt.exe`), so a filename that holds
/// one could show a user another name than it has.
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

pub fn check_filename(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n == 0 || n > FILENAME_MAX {
        return Err(format!("must be 1 to {FILENAME_MAX} characters"));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control() || is_format_char(c))
    {
        return Err(
            "must not contain '/', '\\', control or invisible formatting characters".into(),
        );
    }
    if name.trim().is_empty() || name == "." || name == ".." {
        return Err("is not a file name".into());
    }
    Ok(())
}

impl Fields {
    /// `attachments: [{filename, size, type}]`, at most 10, each within the limits.
    pub fn attachments(&mut self, field: &str) -> Vec<AttachmentDecl> {
        let Some(value) = self.take(field) else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            self.fail(field, "must be a list of {filename, size, type}");
            return Vec::new();
        };
        if items.len() > ATTACHMENTS_MAX {
            self.fail(
                field,
                format!("at most {ATTACHMENTS_MAX} attachments per request"),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let at = |name: &str| format!("{field}[{i}].{name}");
            let Value::Object(map) = item else {
                self.fail(
                    &format!("{field}[{i}]"),
                    "must be an object {filename, size, type}",
                );
                continue;
            };
            let mut f = Fields::new(map, &["filename", "size", "type"]);
            let filename = f
                .required("filename")
                .and_then(|v| f.string_of("filename", v));
            if let Some(name) = &filename {
                if let Err(m) = check_filename(name) {
                    f.fail("filename", m);
                }
            }
            let size = match f.required("size") {
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(s) if (1..=ATTACHMENT_SIZE_MAX).contains(&s) => Some(s),
                    _ => {
                        f.fail("size", format!("must be a whole number of bytes from 1 to {ATTACHMENT_SIZE_MAX} (25 MiB)"));
                        None
                    }
                },
                Some(_) => {
                    f.fail("size", "must be a number of bytes");
                    None
                }
                None => None,
            };
            let content_type = f.required("type").and_then(|v| f.string_of("type", v));
            if let Some(t) = &content_type {
                if !ALLOWED_TYPES.contains(&t.as_str()) {
                    f.fail(
                        "type",
                        format!("must be one of: {}", ALLOWED_TYPES.join(", ")),
                    );
                }
            }
            let ok = f.errors.is_empty();
            for e in f.errors {
                self.fail(&at(&e.field), e.message);
            }
            if let (true, Some(filename), Some(size), Some(content_type)) =
                (ok, filename, size, content_type)
            {
                out.push(AttachmentDecl {
                    filename,
                    size,
                    content_type,
                });
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AddThread {
    pub message: String,
    pub internal: bool,
    pub attachments: Vec<AttachmentDecl>,
}

impl AddThread {
    pub fn parse(body: Map<String, Value>) -> Result<Self, ApiError> {
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChangeStatus {
    pub status: Status,
    pub resolution: Option<String>,
}

impl ChangeStatus {
    pub fn parse(body: Map<String, Value>) -> Result<Self, ApiError> {
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
}

/// `PATCH /v2/support-tickets/{id}`: each field optional, at least one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateTicket {
    /// `Some(None)`: unassign.
    pub assigned_to: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    pub tags: Option<Vec<String>>,
    pub title: Option<String>,
}

const UPDATE_FIELDS: &[&str] = &["assignedTo", "priority", "category", "tags", "title"];

impl UpdateTicket {
    pub fn parse(body: Map<String, Value>) -> Result<Self, ApiError> {
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
}

/// Who a list is about, for agents: a named user, the caller (`me`) or nobody (`none`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Assignee {
    User(String),
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
    pub client: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: usize,
    pub filters: ListFilters,
    pub cursor: Option<String>,
    pub page: Option<usize>,
    pub count_by_status: bool,
    pub sort: Sort,
}

const LIST_PARAMS: &[&str] = &[
    "sort",
    "limit",
    "status",
    "category",
    "priority",
    "assignedTo",
    "client",
    "cursor",
    "countByStatus",
    "page",
];

impl ListQuery {
    /// Parses the query string pairs; an unknown, repeated or bad parameter is named.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut params: BTreeMap<&str, &str> = BTreeMap::new();
        let mut errors = Vec::new();
        for (k, v) in pairs {
            if !LIST_PARAMS.contains(&k) {
                errors.push(FieldError::new(k, "is not a known parameter"));
            } else if params.insert(k, v).is_some() {
                errors.push(FieldError::new(k, "must be given once"));
            }
        }
        let mut q = ListQuery {
            limit: LIMIT_DEFAULT,
            filters: ListFilters::default(),
            cursor: None,
            page: None,
            count_by_status: false,
            sort: Sort::Newest,
        };
        let mut bad = |name: &str, message: String| errors.push(FieldError::new(name, message));
        for (&k, &v) in &params {
            match k {
                "limit" => match v.parse::<usize>() {
                    Ok(n) if (1..=LIMIT_MAX).contains(&n) => q.limit = n,
                    _ => bad(k, format!("must be a whole number from 1 to {LIMIT_MAX}")),
                },
                "status" => match v.parse() {
                    Ok(s) => q.filters.status = Some(s),
                    Err(_) => bad(k, format!("must be one of: {}", names(Status::ALL))),
                },
                "category" => match v.parse() {
                    Ok(c) => q.filters.category = Some(c),
                    Err(_) => bad(k, format!("must be one of: {}", names(Category::ALL))),
                },
                "priority" => match v.parse() {
                    Ok(p) => q.filters.priority = Some(p),
                    Err(_) => bad(k, format!("must be one of: {}", names(Priority::ALL))),
                },
                "sort" => match v {
                    "createdAt" => q.sort = Sort::Newest,
                    "firstResponseDue" => q.sort = Sort::FirstResponseDue,
                    _ => bad(k, "must be createdAt or firstResponseDue".into()),
                },
                "assignedTo" => match check_user_id(v) {
                    Ok(()) if v == "none" => q.filters.assigned_to = Some(Assignee::Unassigned),
                    Ok(()) if v == "me" => q.filters.assigned_to = Some(Assignee::Me),
                    Ok(()) => q.filters.assigned_to = Some(Assignee::User(v.to_owned())),
                    Err(m) => bad(k, m),
                },
                "client" => match check_user_id(v) {
                    Ok(()) => q.filters.client = Some(v.to_owned()),
                    Err(m) => bad(k, m),
                },
                "cursor" if v.is_empty() || v.len() > 4096 => bad(k, "is not valid".into()),
                "cursor" => q.cursor = Some(v.to_owned()),
                "countByStatus" => match v {
                    "true" => q.count_by_status = true,
                    "false" => q.count_by_status = false,
                    _ => bad(k, "must be true or false".into()),
                },
                "page" => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => q.page = Some(n),
                    _ => bad(k, "must be a whole number of at least 1".into()),
                },
                _ => {}
            }
        }
        if let Some(page) = q.page {
            if q.cursor.is_some() {
                bad("page", "cannot be combined with cursor".into());
            } else if page.saturating_mul(q.limit) > PAGE_DEPTH_MAX {
                bad(
                    "page",
                    format!("page × limit must be at most {PAGE_DEPTH_MAX}; use cursor"),
                );
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(ApiError::InvalidParameters(errors))
        }
    }
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

/// `GET /v2/support-tickets/{id}/threads`: `limit` (1–100, default 50), `order`, `cursor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadsQuery {
    pub limit: usize,
    pub order: ThreadOrder,
    pub cursor: Option<String>,
}

pub const THREADS_LIMIT_DEFAULT: usize = 50;
pub const THREADS_LIMIT_MAX: usize = 100;

impl ThreadsQuery {
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut q = ThreadsQuery {
            limit: THREADS_LIMIT_DEFAULT,
            order: ThreadOrder::Asc,
            cursor: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut errors = Vec::new();
        for (k, v) in pairs {
            if seen.contains(&k) {
                errors.push(FieldError::new(k, "must be given once"));
                continue;
            }
            seen.push(k);
            match k {
                "limit" => match v.parse::<usize>() {
                    Ok(n) if (1..=THREADS_LIMIT_MAX).contains(&n) => q.limit = n,
                    _ => errors.push(FieldError::new(
                        k,
                        format!("must be a whole number from 1 to {THREADS_LIMIT_MAX}"),
                    )),
                },
                "order" => match v {
                    "asc" => q.order = ThreadOrder::Asc,
                    "desc" => q.order = ThreadOrder::Desc,
                    _ => errors.push(FieldError::new(k, "must be asc or desc")),
                },
                "cursor" if v.is_empty() || v.len() > 4096 => {
                    errors.push(FieldError::new(k, "is not valid"))
                }
                "cursor" => q.cursor = Some(v.to_owned()),
                _ => errors.push(FieldError::new(k, "is not a known parameter")),
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(ApiError::InvalidParameters(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn threads_queries_take_limit_order_and_cursor_only() {
        let q = ThreadsQuery::parse([]).unwrap();
        assert_eq!((q.limit, q.order, q.cursor), (50, ThreadOrder::Asc, None));
        let q =
            ThreadsQuery::parse([("limit", "100"), ("order", "desc"), ("cursor", "c")]).unwrap();
        assert_eq!(
            (q.limit, q.order, q.cursor.as_deref()),
            (100, ThreadOrder::Desc, Some("c"))
        );
        for (pairs, field) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("order", "newest")], "order"),
            (vec![("status", "open")], "status"),
            (vec![("order", "asc"), ("order", "desc")], "order"),
            (vec![("cursor", "")], "cursor"),
        ] {
            match ThreadsQuery::parse(pairs) {
                Err(ApiError::InvalidParameters(e)) => assert_eq!(e[0].field, field),
                other => panic!("{other:?}"),
            }
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn fields_of(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(d) | ApiError::InvalidParameters(d) => {
                d.into_iter().map(|f| f.field).collect()
            }
            other => panic!("not a field error: {other:?}"),
        }
    }

    fn create(v: Value) -> Result<CreateTicket, ApiError> {
        CreateTicket::parse(obj(v))
    }

    fn valid() -> Value {
        json!({"title": " API Integration Issue ", "description": "Getting 401 errors",
               "priority": "high", "category": "technical", "tags": ["API", "auth", "api"]})
    }

    #[test]
    fn create_trims_and_normalises() {
        let t = create(valid()).unwrap();
        assert_eq!(t.title, "API Integration Issue");
        assert_eq!(t.priority, Priority::High);
        assert_eq!(t.tags, vec!["api", "auth"]);
        assert_eq!(t.client, None);
    }

    #[test]
    fn create_names_every_bad_field() {
        let e = create(json!({"title": "  ", "priority": "highest", "category": 3,
                              "tags": ["a b"], "colour": "red"}))
        .unwrap_err();
        let mut fields = fields_of(e);
        fields.sort();
        assert_eq!(
            fields,
            [
                "category",
                "colour",
                "description",
                "priority",
                "tags[0]",
                "title"
            ]
        );
    }

    #[test]
    fn length_limits_count_characters_after_trimming() {
        let mut v = valid();
        v["title"] = json!(format!("  {}  ", "é".repeat(200)));
        assert!(create(v.clone()).is_ok());
        v["title"] = json!("é".repeat(201));
        assert_eq!(fields_of(create(v).unwrap_err()), ["title"]);
        let mut v = valid();
        v["description"] = json!("x".repeat(20_001));
        assert_eq!(fields_of(create(v).unwrap_err()), ["description"]);
        let mut v = valid();
        v["description"] = json!("line one\nline two\ttabbed");
        assert!(create(v).is_ok());
    }

    #[test]
    fn control_characters_are_refused_in_titles() {
        let mut v = valid();
        v["title"] = json!("bad\u{0}title");
        assert_eq!(fields_of(create(v).unwrap_err()), ["title"]);
        let mut v = valid();
        v["title"] = json!("two\nlines");
        assert_eq!(fields_of(create(v).unwrap_err()), ["title"]);
    }

    #[test]
    fn tag_limits() {
        let mut v = valid();
        v["tags"] = json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>());
        assert_eq!(fields_of(create(v).unwrap_err()), ["tags"]);
        let mut v = valid();
        v["tags"] = json!(["x".repeat(51)]);
        assert_eq!(fields_of(create(v).unwrap_err()), ["tags[0]"]);
        let mut v = valid();
        v["tags"] = json!("api");
        assert_eq!(fields_of(create(v).unwrap_err()), ["tags"]);
    }

    #[test]
    fn thread_input() {
        let t = AddThread::parse(obj(json!({"message": " hi ", "internal": true}))).unwrap();
        assert_eq!(
            t,
            AddThread {
                message: "hi".into(),
                internal: true,
                attachments: vec![],
            }
        );
        let e = AddThread::parse(obj(json!({"internal": "yes"}))).unwrap_err();
        let mut fields = fields_of(e);
        fields.sort();
        assert_eq!(fields, ["internal", "message"]);
    }

    fn with_files(files: Value) -> Result<CreateTicket, ApiError> {
        let mut v = valid();
        v["attachments"] = files;
        create(v)
    }

    #[test]
    fn attachments_are_declared_within_the_limits() {
        let t = with_files(json!([
            {"filename": "error_logs.txt", "size": 1024, "type": "text/plain"},
            {"filename": "Übersicht (1).pdf", "size": 25 * 1024 * 1024, "type": "application/pdf"},
        ]))
        .unwrap();
        assert_eq!(t.attachments.len(), 2);
        assert_eq!(t.attachments[0].content_type, "text/plain");
        let file = |name: &str, size: u64, kind: &str| json!({"filename": name, "size": size, "type": kind});
        for (files, field) in [
            (
                json!((0..11)
                    .map(|i| file(&format!("f{i}"), 1, "text/plain"))
                    .collect::<Vec<_>>()),
                "attachments",
            ),
            (
                json!([file("big.zip", 25 * 1024 * 1024 + 1, "application/zip")]),
                "attachments[0].size",
            ),
            (
                json!([file("empty.txt", 0, "text/plain")]),
                "attachments[0].size",
            ),
            (
                json!([file("x.exe", 10, "application/x-msdownload")]),
                "attachments[0].type",
            ),
            (
                json!([file("../../etc/passwd", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("a\\b.txt", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("evil\r\nX-Injected: 1.txt", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("..", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("invoice\u{202E}txt.exe", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("a\u{200B}.txt", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("\u{FEFF}a.txt", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file("tag\u{E0041}.txt", 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([file(&"a".repeat(256), 10, "text/plain")]),
                "attachments[0].filename",
            ),
            (
                json!([{"filename": "a.txt", "size": "10", "type": "text/plain"}]),
                "attachments[0].size",
            ),
            (
                json!([{"filename": "a.txt", "size": 1.5, "type": "text/plain"}]),
                "attachments[0].size",
            ),
            (
                json!([{"filename": "a.txt", "size": 10, "type": "text/plain", "path": "/"}]),
                "attachments[0].path",
            ),
            (
                json!([{"size": 10, "type": "text/plain"}]),
                "attachments[0].filename",
            ),
            (json!(["a.txt"]), "attachments[0]"),
            (json!("a.txt"), "attachments"),
        ] {
            let e = with_files(files.clone()).unwrap_err();
            assert_eq!(fields_of(e), [field], "{files}");
        }
    }

    #[test]
    fn updates_take_any_field_and_null_only_for_assignment() {
        let u = UpdateTicket::parse(obj(json!({"assignedTo": null}))).unwrap();
        assert_eq!(u.assigned_to, Some(None));
        assert_eq!(u.priority, None);
        let u = UpdateTicket::parse(obj(json!({"assignedTo": "agent-7", "priority": "urgent",
            "tags": ["VIP", "vip"], "title": " New title "})))
        .unwrap();
        assert_eq!(u.assigned_to, Some(Some("agent-7".into())));
        assert_eq!(u.priority, Some(Priority::Urgent));
        assert_eq!(u.tags, Some(vec!["vip".to_string()]));
        assert_eq!(u.title.as_deref(), Some("New title"));
        for (body, field) in [
            (json!({}), "body"),
            (json!({"status": "open"}), "status"),
            (json!({"priority": null}), "priority"),
            (json!({"title": null}), "title"),
            (json!({"priority": "p1"}), "priority"),
            (json!({"assignedTo": "two words"}), "assignedTo"),
            (json!({"assignedTo": 7}), "assignedTo"),
            (json!({"assignedTo": "none"}), "assignedTo"),
            (json!({"assignedTo": "me"}), "assignedTo"),
            (json!({"title": ""}), "title"),
        ] {
            let e = UpdateTicket::parse(obj(body.clone())).unwrap_err();
            assert!(fields_of(e).contains(&field.to_string()), "{body}");
        }
    }

    #[test]
    fn resolution_is_required_to_resolve() {
        let e = ChangeStatus::parse(obj(json!({"status": "resolved"}))).unwrap_err();
        assert_eq!(fields_of(e), ["resolution"]);
        let e = ChangeStatus::parse(obj(json!({"status": "resolved", "resolution": "  "})))
            .unwrap_err();
        assert_eq!(fields_of(e), ["resolution"]);
        let ok = ChangeStatus::parse(obj(json!({"status": "resolved", "resolution": "done"})));
        assert_eq!(ok.unwrap().resolution.as_deref(), Some("done"));
        let e =
            ChangeStatus::parse(obj(json!({"status": "pending", "resolution": "x"}))).unwrap_err();
        assert_eq!(fields_of(e), ["resolution"]);
        let e = ChangeStatus::parse(obj(json!({"status": "done"}))).unwrap_err();
        assert_eq!(fields_of(e), ["status"]);
    }

    #[test]
    fn list_query_defaults_and_values() {
        let q = ListQuery::parse([]).unwrap();
        assert_eq!(q.limit, 10);
        assert!(!q.count_by_status);
        let q = ListQuery::parse([
            ("limit", "100"),
            ("status", "in_progress"),
            ("assignedTo", "none"),
            ("countByStatus", "true"),
            ("page", "3"),
        ])
        .unwrap();
        assert_eq!(q.limit, 100);
        assert_eq!(q.filters.status, Some(Status::InProgress));
        assert_eq!(q.filters.assigned_to, Some(Assignee::Unassigned));
        assert!(q.count_by_status);
        assert_eq!(q.page, Some(3));
    }

    #[test]
    fn list_query_names_bad_parameters() {
        for (pairs, field) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("limit", "ten")], "limit"),
            (vec![("status", "OPEN")], "status"),
            (vec![("sort", "asc")], "sort"),
            (
                vec![("sort", "firstResponseDue"), ("sort", "createdAt")],
                "sort",
            ),
            (vec![("countByStatus", "yes")], "countByStatus"),
            (vec![("page", "0")], "page"),
            (vec![("page", "11"), ("limit", "100")], "page"),
            (vec![("page", "2"), ("cursor", "abc")], "page"),
            (vec![("status", "open"), ("status", "closed")], "status"),
        ] {
            let e = ListQuery::parse(pairs.clone()).unwrap_err();
            assert_eq!(fields_of(e), [field], "{pairs:?}");
        }
        assert!(ListQuery::parse([("page", "10"), ("limit", "100")]).is_ok());
    }
}
