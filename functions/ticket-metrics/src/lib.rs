//! `GET /v2/support-tickets/metrics`: the service's metrics over local days (agents only),
//! as JSON, or as CSV with `Accept: text/csv` (one row per day or group).

use lambda_http::{Body, Error, Request, Response};
use support_tickets::http::{self, Api, Reply};
use support_tickets::{input, service, view};

pub async fn handle(api: &Api, req: Request) -> Result<Response<Body>, Error> {
    Ok(http::respond(&req, async {
        let caller = api.caller(&req)?;
        let pairs = http::query_pairs(&req);
        // The default range ends today, by the caller's clock (a local test token may set it).
        let now = caller.now().time().unwrap_or_default();
        let query = input::MetricsQuery::parse(pairs.iter().map(http::pair), now)?;
        let metrics = service::service_metrics(&api.app, &caller, &query).await?;
        tracing::info!(
            reads = metrics.reads,
            days = query.days.len(),
            "metrics read"
        );
        if http::wants_csv(&req) {
            return Ok(Reply::csv(view::metrics_csv(&metrics.report, &query)));
        }
        Ok(Reply::ok(view::metrics_report(
            &metrics.report,
            metrics.as_of.as_ref(),
            &query,
        )))
    })
    .await)
}
