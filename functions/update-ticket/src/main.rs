//! Lambda entry point: logging, settings and SDK clients once at cold start, then serve.

use lambda_http::{run, service_fn, Error};
use support_tickets::http::Api;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    support_tickets::memory::release_startup_pages();
    support_tickets::logging::init();
    let api = Api::from_env().await?;
    run(service_fn(|req| update_ticket::handle(&api, req))).await
}
