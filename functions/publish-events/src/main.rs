//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use support_tickets::event::StreamEvent;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    support_tickets::memory::release_startup_pages();
    support_tickets::logging::init();
    let (app, out) = support_tickets::service::app_with_outbound().await?;
    run(service_fn(|event: LambdaEvent<StreamEvent>| async {
        Ok::<_, Error>(publish_events::handle(&app, &out, event.payload).await)
    }))
    .await
}
