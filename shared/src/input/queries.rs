//! Query strings parsed into list requests; an unknown, repeated or bad parameter is named.

use std::collections::BTreeMap;

use crate::domain::ids::UserId;
use crate::domain::{names, Assignee, Category, ListFilters, Priority, Sort, Status, ThreadOrder};
use crate::error::{ApiError, FieldError};

pub const LIMIT_DEFAULT: usize = 10;
pub const LIMIT_MAX: usize = 100;
/// `page × limit` at most this: deeper pages walk too many cursors in one request.
pub const PAGE_DEPTH_MAX: usize = 1_000;

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

/// The query's pairs by name, and an error for each unknown or repeated one.
pub(crate) fn known_params<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    allowed: &[&str],
) -> (BTreeMap<&'a str, &'a str>, Vec<FieldError>) {
    let mut params = BTreeMap::new();
    let mut errors = Vec::new();
    for (k, v) in pairs {
        if !allowed.contains(&k) {
            errors.push(FieldError::new(k, "is not a known parameter"));
        } else if params.insert(k, v).is_some() {
            errors.push(FieldError::new(k, "must be given once"));
        }
    }
    (params, errors)
}

impl ListQuery {
    /// Parses the query string pairs; an unknown, repeated or bad parameter is named.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let (params, mut errors) = known_params(pairs, LIST_PARAMS);
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
                "assignedTo" => match UserId::parse(v) {
                    Ok(_) if v == "none" => q.filters.assigned_to = Some(Assignee::Unassigned),
                    Ok(_) if v == "me" => q.filters.assigned_to = Some(Assignee::Me),
                    Ok(user) => q.filters.assigned_to = Some(Assignee::User(user)),
                    Err(m) => bad(k, m),
                },
                "client" => match UserId::parse(v) {
                    Ok(user) => q.filters.client = Some(user),
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
