//! The hourly sweep of uploads that never came.

use chrono::{DateTime, Utc};

use super::App;
use crate::domain::{AttachmentId, Timestamp};
use crate::error::ApiError;

/// How long a declared attachment may stay pending before it expires and gives its bytes
/// back to the ticket's budget.
pub const UPLOAD_WINDOW_HOURS: i64 = 24;
/// Attachments one sweep expires at most (the next hourly run takes the rest).
const EXPIRE_BATCH: usize = 500;
/// Days of declarations a sweep looks back over (past the first 24 h): room for sweeps that
/// failed.
const EXPIRE_LOOKBACK_DAYS: i64 = 7;

/// What one sweep of uploads that never came did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    /// Ids of the attachments now `expired`.
    pub expired: Vec<AttachmentId>,
}

/// Every attachment still pending 24 hours after it was declared becomes `expired`, and its
/// bytes leave the ticket's 100 MiB budget. Reads only the sparse pending index, newest days
/// last.
pub async fn expire_uploads(app: &App, now: DateTime<Utc>) -> Result<Expiry, ApiError> {
    let cutoff = now - chrono::Duration::hours(UPLOAD_WINDOW_HOURS);
    let days: Vec<String> = (0..=EXPIRE_LOOKBACK_DAYS)
        .rev()
        .map(|d| {
            (cutoff - chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let candidates = app
        .store
        .pending_before(&Timestamp::at(cutoff), &days, EXPIRE_BATCH)
        .await?;
    let mut report = Expiry::default();
    for a in candidates {
        if app.store.expire_attachment(&a).await? {
            report.expired.push(a.id);
        }
    }
    Ok(report)
}
