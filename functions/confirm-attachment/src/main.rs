//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    support_tickets::memory::release_startup_pages();
    support_tickets::logging::init();
    let app = support_tickets::App::from_env().await?;
    run(service_fn(|event: LambdaEvent<S3Event>| {
        confirm_attachment::handle(&app, event.payload)
    }))
    .await
}
