//! Lambda entry point: tracing, settings and SDK clients once at cold start, then serve.

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = support_tickets::App::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| {
        escalate_tickets::handle(&app, event.payload)
    }))
    .await
}
