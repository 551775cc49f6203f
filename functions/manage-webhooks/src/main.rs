//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use lambda_http::{run, service_fn, Error};
use support_tickets::http::{Api, Authenticator};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    support_tickets::memory::release_startup_pages();
    support_tickets::logging::init();
    let (app, out) = support_tickets::service::app_with_outbound().await?;
    let auth = Authenticator::new(&app.config.auth)?;
    let api = Api { app, auth };
    run(service_fn(|req| manage_webhooks::handle(&api, &out, req))).await
}
