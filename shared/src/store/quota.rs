//! Write quotas: one counter item per caller and minute, taken from and given back to.

use super::keys::quota_pk;
use super::{condition_held, n, s, Store, PK, SK};
use crate::domain::UserId;
use crate::error::ApiError;
use crate::idempotency::EXPIRES_ATTRIBUTE;

impl Store {
    /// Takes one write from the caller's quota of the minute `window` (a conditional `ADD` on
    /// `QUOTA#<sub>` / `<window>`, removed by TTL after `expires_at`); `false` when the minute's
    /// `limit` is used up. One item per caller and minute: concurrent writes of one caller
    /// update it one after another, they never cancel each other as transactions would.
    #[tracing::instrument(skip_all)]
    pub async fn take_quota(
        &self,
        sub: &UserId,
        window: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<bool, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(quota_pk(sub)))
            .key(SK, s(window))
            .update_expression("ADD #w :one SET #exp = if_not_exists(#exp, :exp)")
            .condition_expression("attribute_not_exists(#w) OR #w < :limit")
            .expression_attribute_names("#w", "writes")
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .send()
            .await;
        condition_held(result, "take quota")
    }

    /// Gives back a write taken from the quota of `window` (the request was a replay); a
    /// count already at zero stays there.
    #[tracing::instrument(skip_all)]
    pub async fn refund_quota(&self, sub: &UserId, window: &str) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(quota_pk(sub)))
            .key(SK, s(window))
            .update_expression("ADD #w :minus")
            .condition_expression("#w > :zero")
            .expression_attribute_names("#w", "writes")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        condition_held(result, "refund quota").map(|_| ())
    }
}
