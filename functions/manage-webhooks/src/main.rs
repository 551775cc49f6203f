//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use lambda_http::{run, service_fn, Error};
use support_tickets::http::Api;
use support_tickets::outbound::Outbound;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support_tickets::logging::init();
    let api = Api::from_env().await?;
    let sdk = support_tickets::service::sdk_config().await;
    let out = Outbound::new(&sdk, api.app.config.webhooks.clone());
    run(service_fn(|req| manage_webhooks::handle(&api, &out, req))).await
}
