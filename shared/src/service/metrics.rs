//! The service's metrics for agents: a report over local days, read from the rollups the
//! stream consumer keeps (never from tickets), with the time it is complete up to.

use super::App;
use crate::domain::metrics::{report, GroupBy, Report};
use crate::domain::{Caller, Timestamp};
use crate::error::ApiError;
use crate::input::MetricsQuery;
use crate::store::Scope;

/// A report and what it is made of.
#[derive(Debug)]
pub struct Metrics {
    pub report: Report,
    /// The commit time of the newest change the rollups hold (none before the first).
    pub as_of: Option<Timestamp>,
    /// Query requests the rollups took (pages included).
    pub reads: usize,
}

/// Agents only (403 for customers, before anything is read).
pub async fn service_metrics(
    app: &App,
    caller: &Caller,
    query: &MetricsQuery,
) -> Result<Metrics, ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden(
            "only agents may read the service's metrics".into(),
        ));
    }
    let (Some(first), Some(last)) = (query.days.first(), query.days.last()) else {
        return Err(ApiError::parameter("from", "the range holds no day"));
    };
    let dimension = GroupBy::dimension(query.group_by);
    let (rollups, counts) = tokio::join!(
        app.store.metric_readings(dimension, first.start, last.end),
        app.store.counts(Scope::All)
    );
    let (readings, reads) = rollups?;
    let (_, as_of) = counts?;
    Ok(Metrics {
        report: report(&readings, &query.days, query.group_by),
        as_of,
        reads,
    })
}
