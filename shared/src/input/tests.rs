use super::*;
use crate::domain::ids::UserId;
use crate::domain::*;
use crate::error::ApiError;
use serde_json::{json, Map, Value};

#[test]
fn threads_queries_take_limit_order_and_cursor_only() {
    let q = ThreadsQuery::parse([]).unwrap();
    assert_eq!((q.limit, q.order, q.cursor), (50, ThreadOrder::Asc, None));
    let q = ThreadsQuery::parse([("limit", "100"), ("order", "desc"), ("cursor", "c")]).unwrap();
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

fn create(v: Value) -> Result<NewTicket, ApiError> {
    create_ticket(obj(v))
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
    let t = add_thread(obj(json!({"message": " hi ", "internal": true}))).unwrap();
    assert_eq!(
        t,
        AddThread {
            message: "hi".into(),
            internal: true,
            attachments: vec![],
        }
    );
    let e = add_thread(obj(json!({"internal": "yes"}))).unwrap_err();
    let mut fields = fields_of(e);
    fields.sort();
    assert_eq!(fields, ["internal", "message"]);
}

fn with_files(files: Value) -> Result<NewTicket, ApiError> {
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
    let file =
        |name: &str, size: u64, kind: &str| json!({"filename": name, "size": size, "type": kind});
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
    let u = update_ticket(obj(json!({"assignedTo": null}))).unwrap();
    assert_eq!(u.assigned_to, Some(None));
    assert_eq!(u.priority, None);
    let u = update_ticket(obj(json!({"assignedTo": "agent-7", "priority": "urgent",
        "tags": ["VIP", "vip"], "title": " New title "})))
    .unwrap();
    assert_eq!(u.assigned_to, Some(UserId::parse("agent-7").ok()));
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
        let e = update_ticket(obj(body.clone())).unwrap_err();
        assert!(fields_of(e).contains(&field.to_string()), "{body}");
    }
}

#[test]
fn resolution_is_required_to_resolve() {
    let e = change_status(obj(json!({"status": "resolved"}))).unwrap_err();
    assert_eq!(fields_of(e), ["resolution"]);
    let e = change_status(obj(json!({"status": "resolved", "resolution": "  "}))).unwrap_err();
    assert_eq!(fields_of(e), ["resolution"]);
    let ok = change_status(obj(json!({"status": "resolved", "resolution": "done"})));
    assert_eq!(ok.unwrap().resolution.as_deref(), Some("done"));
    let e = change_status(obj(json!({"status": "pending", "resolution": "x"}))).unwrap_err();
    assert_eq!(fields_of(e), ["resolution"]);
    let e = change_status(obj(json!({"status": "done"}))).unwrap_err();
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

#[test]
fn a_rating_is_good_or_bad_with_an_optional_comment() {
    let r = rate(obj(
        json!({"rating": "good", "comment": " quick and kind "}),
    ))
    .unwrap();
    assert_eq!(r.rating, Rating::Good);
    assert_eq!(r.comment.as_deref(), Some("quick and kind"));
    assert_eq!(rate(obj(json!({"rating": "bad"}))).unwrap().comment, None);
    for (body, field) in [
        (json!({}), "rating"),
        (json!({"rating": "meh"}), "rating"),
        (json!({"rating": 5}), "rating"),
        (
            json!({"rating": "good", "comment": "x".repeat(2001)}),
            "comment",
        ),
        (json!({"rating": "good", "stars": 5}), "stars"),
    ] {
        assert_eq!(
            fields_of(rate(obj(body.clone())).unwrap_err())[0],
            field,
            "{body}"
        );
    }
}
