//! Hello world on lambda_http 1.x, as its own README writes it: no settings, no SDK, no
//! logging. What every function of this project costs beyond this is what `make bench`
//! reports as a ratio to it (docs/performance.md).

use lambda_http::{run, service_fn, Body, Error, Request, Response};

async fn hello(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"success":true,"data":"hello"}"#))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
