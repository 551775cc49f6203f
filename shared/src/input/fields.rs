//! A JSON object body read field by field: every problem is collected with the field it
//! concerns, so one answer names them all.

use serde_json::{Map, Value};
use std::str::FromStr;

use crate::domain::ids::UserId;
use crate::domain::{names, NewAttachment};
use crate::error::{ApiError, FieldError};

pub const TAGS_MAX: usize = 20;
pub const TAG_MAX: usize = 50;
pub const ATTACHMENTS_MAX: usize = 10;
pub const FILENAME_MAX: usize = 255;
pub const ATTACHMENT_SIZE_MAX: u64 = 25 * 1024 * 1024;

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

    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Present and not null.
    fn take(&mut self, field: &str) -> Option<Value> {
        match self.map.remove(field) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        }
    }

    pub(crate) fn required(&mut self, field: &str) -> Option<Value> {
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
    pub fn optional_user_id(&mut self, field: &str) -> Option<UserId> {
        let value = self.take(field)?;
        let s = self.string_of(field, value)?;
        if RESERVED_USER_IDS.contains(&s.as_str()) {
            self.fail(
                field,
                format!("'{s}' is reserved for list filters; name a user id (null unassigns)"),
            );
            return None;
        }
        match UserId::parse(&s) {
            Ok(id) => Some(id),
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
    pub fn attachments(&mut self, field: &str) -> Vec<NewAttachment> {
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
                out.push(NewAttachment {
                    filename,
                    size,
                    content_type,
                });
            }
        }
        out
    }
}
