//! What the handler tests share: an App on a table of its own in moto.

use std::collections::HashMap;
use support_tickets::config::Config;
use support_tickets::domain::TicketId;
use support_tickets::http::{Api, Authenticator};
use support_tickets::service::sdk_config;
use support_tickets::{store, App};

/// An App with production settings (claims from the authorizer) on a new table named
/// `<prefix>-<id>`, in the moto that `make test` started.
pub async fn app(prefix: &str) -> App {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "handler tests run against moto: set AWS_ENDPOINT_URL (make test starts one)"
    );
    let table = format!("{prefix}-{}", TicketId::new());
    let env: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", table.clone()),
        ("CURSOR_SECRET", "handler-test-cursor-key".to_string()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let sdk = sdk_config().await.expect("SDK settings");
    store::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
        .await
        .unwrap();
    App::new(config, &sdk)
}

/// The HTTP functions' state over [`app`]: claims from the authorizer, as in AWS.
#[allow(dead_code)]
pub async fn api(prefix: &str) -> Api {
    let app = app(prefix).await;
    let auth = Authenticator::new(&app.config.auth).unwrap();
    Api { app, auth }
}
