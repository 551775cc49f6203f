//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use support_tickets::event::SqsEvent;
use support_tickets::outbound::Outbound;

#[tokio::main]
async fn main() -> Result<(), Error> {
    support_tickets::logging::init();
    let app = support_tickets::App::from_env().await?;
    let sdk = support_tickets::service::sdk_config().await;
    let out = Outbound::new(&sdk, app.config.webhooks.clone());
    run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(deliver_webhooks::handle(&app, &out, event.payload).await)
    }))
    .await
}
