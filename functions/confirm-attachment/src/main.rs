//! Lambda entry point: tracing, settings and SDK clients once at cold start, then serve.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = support_tickets::App::from_env().await?;
    run(service_fn(|event: LambdaEvent<S3Event>| {
        confirm_attachment::handle(&app, event.payload)
    }))
    .await
}
