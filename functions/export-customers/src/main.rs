//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use support_tickets::event::SqsEvent;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    support_tickets::memory::release_startup_pages();
    support_tickets::logging::init();
    let app = support_tickets::App::from_env().await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, Error>(export_customers::handle(&app, event.payload).await)
    }))
    .await
}
