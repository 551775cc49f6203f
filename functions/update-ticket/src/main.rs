//! Lambda entry point: tracing, settings and SDK clients once at cold start, then serve.

use lambda_http::{run, service_fn, tracing, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let app = support_tickets::App::from_env().await?;
    run(service_fn(|req| update_ticket::handle(&app, req))).await
}
