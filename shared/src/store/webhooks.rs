//! Webhook items: the subscriptions (one partition, `WEBHOOKS`, read whole for each batch of
//! events: at most [`SUBSCRIPTIONS_MAX`]), and per subscription its deliveries
//! (`WEBHOOK#<id>` / `DELIVERY#<event id>`: the signed body and where it stands) and its
//! recent attempts (`ATTEMPT#<time>#<event id>`), both expired by TTL.

use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem, Update};

use super::keys::{to_item, PK, SK};
use super::write::WriteError;
use super::{condition_held, decode, n, s, sdk_error, Item, Store};
use crate::domain::webhooks::{Attempt, Delivery, DeliveryState, Subscription, SUBSCRIPTIONS_MAX};
use crate::error::ApiError;
use crate::idempotency::EXPIRES_ATTRIBUTE;

const SUBSCRIPTIONS_PK: &str = "WEBHOOKS";
/// How long deliveries and attempts are kept: past the retry schedule, for the log.
pub const DELIVERY_DAYS: i64 = 30;
/// How long one try holds a delivery: longer than a try takes (its timeout is 10 s).
pub const LEASE_SECONDS: i64 = 30;
/// Attempts a deliveries page shows.
pub const ATTEMPTS_SHOWN: i32 = 50;

fn subscription_sk(id: &str) -> String {
    format!("WEBHOOK#{id}")
}

fn webhook_pk(id: &str) -> String {
    format!("WEBHOOK#{id}")
}

fn delivery_key(subscription: &str, event: &str) -> Item {
    Item::from([
        (PK.to_owned(), s(webhook_pk(subscription))),
        (SK.to_owned(), s(format!("DELIVERY#{event}"))),
    ])
}

fn expires(now: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    n(now + DELIVERY_DAYS * 86_400)
}

impl Store {
    /// All subscriptions, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, ApiError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(SUBSCRIPTIONS_PK))
            .consistent_read(true)
            .limit(SUBSCRIPTIONS_MAX as i32 + 1)
            .send()
            .await
            .map_err(|e| sdk_error("subscriptions", e))?;
        let mut subs: Vec<Subscription> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect::<Result<_, _>>()?;
        subs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(subs)
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, ApiError> {
        let sk = subscription_sk(id);
        self.record((SUBSCRIPTIONS_PK.to_owned(), &sk), "subscription")
            .await
    }

    pub async fn put_subscription(&self, sub: &Subscription) -> Result<(), ApiError> {
        let sk = subscription_sk(&sub.id);
        self.put_record(
            (SUBSCRIPTIONS_PK.to_owned(), &sk),
            sub,
            None,
            "put subscription",
        )
        .await
    }

    /// `false` when there was no such subscription.
    pub async fn delete_subscription(&self, id: &str) -> Result<bool, ApiError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(SUBSCRIPTIONS_PK))
            .key(SK, s(subscription_sk(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_error("delete subscription", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// Records a delivery unless it is recorded already (an event handed over again);
    /// `true` when it was new.
    pub async fn add_delivery(
        &self,
        subscription: &str,
        delivery: &Delivery,
        now: i64,
    ) -> Result<bool, ApiError> {
        let mut item = to_item(delivery)?;
        item.extend(delivery_key(subscription, &delivery.event_id));
        item.insert(EXPIRES_ATTRIBUTE.into(), expires(now));
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        condition_held(out, "add delivery")
    }

    pub async fn delivery(
        &self,
        subscription: &str,
        event: &str,
    ) -> Result<Option<Delivery>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(subscription, event)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("delivery", e))?;
        out.item.map(decode).transpose()
    }

    /// Takes a pending delivery for one try, unless another try holds it or it was
    /// delivered: the delivery as claimed, or none (then nothing is sent).
    pub async fn claim_delivery(
        &self,
        subscription: &str,
        event: &str,
        now: i64,
    ) -> Result<Option<Delivery>, ApiError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(subscription, event)))
            .update_expression("SET #lease = :until")
            .condition_expression(
                "attribute_exists(#pk) AND #state = :pending \
                 AND (attribute_not_exists(#lease) OR #lease < :now)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":until", n(now + LEASE_SECONDS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => o.attributes.map(decode).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error("claim delivery", e)),
        }
    }

    /// Records a try's outcome: the delivery's new state (its lease let go) and the attempt,
    /// in one transaction.
    pub async fn record_attempt(
        &self,
        subscription: &str,
        attempt: &Attempt,
        state: DeliveryState,
        now: i64,
    ) -> Result<(), ApiError> {
        let state_name = match state {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(delivery_key(subscription, &attempt.event_id)))
            .update_expression("SET #state = :state REMOVE #lease ADD #tries :one")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_names("#tries", "tries")
            .expression_attribute_values(":state", s(state_name))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| ApiError::internal("attempt", e))?;
        let mut item = to_item(attempt)?;
        item.insert(PK.into(), s(webhook_pk(subscription)));
        item.insert(
            SK.into(),
            s(format!("ATTEMPT#{}#{}", attempt.at, attempt.event_id)),
        );
        item.insert(EXPIRES_ATTRIBUTE.into(), expires(now));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| ApiError::internal("attempt", e))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact_with(items, None).await {
            Ok(()) => Ok(()),
            Err(WriteError::Failed(e)) => Err(e),
            Err(WriteError::Contended) => Err(ApiError::Throttled),
            Err(WriteError::Changed | WriteError::Duplicate) => Err(ApiError::NotFound),
        }
    }

    /// Sets a delivery pending again (an admin's redelivery); `false` when there is none.
    pub async fn reopen_delivery(&self, subscription: &str, event: &str) -> Result<bool, ApiError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(subscription, event)))
            .update_expression("SET #state = :pending REMOVE #lease")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        condition_held(out, "reopen delivery")
    }

    /// The latest attempts, newest first.
    pub async fn attempts(&self, subscription: &str) -> Result<Vec<Attempt>, ApiError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :attempt)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(webhook_pk(subscription)))
            .expression_attribute_values(":attempt", s("ATTEMPT#"))
            .scan_index_forward(false)
            .limit(ATTEMPTS_SHOWN)
            .send()
            .await
            .map_err(|e| sdk_error("attempts", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect()
    }
}
