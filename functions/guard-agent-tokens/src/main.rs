//! Lambda entry point: logging and the Cognito client once at cold start, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    support_tickets::memory::release_startup_pages();
    support_tickets::logging::init();
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(
        &support_tickets::service::sdk_config().await?,
    );
    run(service_fn(|event: LambdaEvent<Value>| {
        guard_agent_tokens::handle(&cognito, event.payload)
    }))
    .await
}
