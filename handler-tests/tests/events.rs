//! The sample events in events/ fed to the handlers as API Gateway delivers them: the
//! production identity path (claims from the JWT authorizer), against moto.

mod common;

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use std::collections::HashMap;

fn event(name: &str) -> Request {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    lambda_http::request::from_str(&text).unwrap()
}

fn on_ticket(req: Request, id: &str) -> Request {
    req.with_path_parameters(HashMap::from([("id".to_string(), id.to_string())]))
}

fn json(res: &Response<Body>) -> Value {
    serde_json::from_slice(res.body().as_ref()).unwrap()
}

#[tokio::test]
async fn every_sample_event_is_served_with_authorizer_claims() {
    let api = common::api("events-test").await;

    let res = create_ticket::handle(&api, event("create-ticket"))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created = json(&res);
    let id = created["data"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["client"], "user-123");
    assert_eq!(created["data"]["threads"][0]["type"], "user");
    assert_eq!(
        res.headers()["location"],
        format!("/v2/support-tickets/{id}").as_str()
    );

    let res = get_ticket::handle(&api, on_ticket(event("get-ticket"), &id))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "\"1\"");

    // The sample's own id names no ticket: 404, not 401, so the claims were read.
    let res = get_ticket::handle(&api, event("get-ticket")).await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(json(&res)["code"], "SUPPORT_TICKET_NOT_FOUND");

    let res = add_thread::handle(&api, on_ticket(event("add-thread"), &id))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(json(&res)["data"]["type"], "user");

    // The agent's groups arrive as API Gateway flattens them: "[agents]".
    let res = update_status::handle(&api, on_ticket(event("update-status"), &id))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = json(&res);
    assert_eq!(body["data"]["status"], "resolved");
    assert_eq!(body["data"]["resolution"], "Rotated the API key");

    // The customer's threads, oldest first: the description, the reply, the status change.
    let res = list_threads::handle(&api, on_ticket(event("list-threads"), &id))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = json(&res);
    let kinds: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["user", "user", "system"]);
    assert_eq!(body["pagination"]["hasMore"], false);

    let res = list_tickets::handle(&api, event("list-tickets"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = json(&res);
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        0,
        "status=open: none open"
    );
    // Counts follow from the table's stream (count-tickets, tested in counts.rs and end to
    // end); with no consumer here they are still empty, and say so.
    assert_eq!(body["counts"]["resolved"], 0);
    assert_eq!(body["countsAsOf"], Value::Null);
}

#[tokio::test]
async fn an_event_without_authorizer_claims_is_unauthorized() {
    let api = common::api("events-test").await;
    let mut raw: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../events/create-ticket.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    raw["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let req = lambda_http::request::from_str(&raw.to_string()).unwrap();
    let res = create_ticket::handle(&api, req).await.unwrap();
    assert_eq!(res.status(), 401);
    let body = json(&res);
    assert_eq!(body["code"], "UNAUTHORIZED");
    assert_eq!(body["success"], false);
    assert!(body["requestId"].is_string());
}
