//! The webhook API's sample events (events/manage-webhooks.*.json) fed to its handler as API
//! Gateway delivers them: an admin's claims (`cognito:groups` flattened to "[admins]") reach
//! the service, and a customer's do not.

mod common;

use lambda_http::{Body, Request, Response};
use serde_json::Value;
use support_tickets::outbound::Outbound;
use support_tickets::service::sdk_config;

fn event(name: &str) -> Request {
    let path = format!(
        "{}/../events/manage-webhooks.{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json(res: &Response<Body>) -> Value {
    serde_json::from_slice(res.body().as_ref()).unwrap()
}

#[tokio::test]
async fn every_webhook_sample_is_served_to_an_admin_only() {
    let api = common::api("webhooks-test").await;
    let out = Outbound::new(
        &sdk_config().await.expect("SDK settings"),
        api.app.config.webhooks.clone(),
    );
    let call = |name: &'static str| {
        let (api, out) = (api.clone(), out.clone());
        async move {
            manage_webhooks::handle(&api, &out, event(name))
                .await
                .unwrap()
        }
    };

    let res = call("list").await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(&res)["data"], serde_json::json!([]));
    // The sample's receiver, moved to a name that never resolves (RFC 2606 `.invalid`, so the
    // answer is the same with or without a network): refused for its host (400), not for its
    // caller (403).
    let text = std::fs::read_to_string(format!(
        "{}/../events/manage-webhooks.create.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("hooks.example.com", "hooks.example.invalid");
    let req = lambda_http::request::from_str(&text).unwrap();
    let res = manage_webhooks::handle(&api, &out, req).await.unwrap();
    assert_eq!(res.status(), 400, "{}", json(&res));
    assert_eq!(json(&res)["details"][0]["field"], "url");
    assert_eq!(
        json(&res)["details"][0]["message"],
        "the host does not resolve"
    );
    for name in ["get", "delete", "deliveries", "redeliver"] {
        let res = call(name).await;
        assert_eq!(res.status(), 404, "{name}");
        assert_eq!(json(&res)["code"], "WEBHOOK_NOT_FOUND", "{name}");
    }

    // The same requests from a customer.
    let text = std::fs::read_to_string(format!(
        "{}/../events/manage-webhooks.list.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("[admins]", "[]");
    let req = lambda_http::request::from_str(&text).unwrap();
    let res = manage_webhooks::handle(&api, &out, req).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(json(&res)["code"], "FORBIDDEN");
}
