//! Webhooks: subscriptions managed by admins, events fanned out to the subscriptions that
//! want them, and each delivery tried on the retry schedule until a receiver answers 2xx,
//! then never again (unless an admin redelivers it); parked in the dead-letter queue when
//! the schedule runs out.

use serde_json::{json, Value};

use super::App;
use crate::domain::webhooks::{
    signature, Attempt, Delivery, DeliveryState, NewWebhook, Subscription, SUBSCRIPTIONS_MAX,
};
use crate::domain::{Caller, EventKind, Timestamp};
use crate::error::ApiError;
use crate::outbound::Outbound;
use crate::view;

/// Webhooks are the admins' (checked before anything of the request is read).
pub fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only members of the admins group manage webhooks".into(),
        ))
    }
}

/// Checks where a subscription's host resolves now: every address must be one webhooks may
/// reach (each delivery checks again, at connection).
async fn check_host(app: &App, url: &str) -> Result<(), ApiError> {
    let policy = app.config.webhooks.urls;
    let target = policy
        .check_url(url)
        .map_err(|e| ApiError::validation("url", e))?;
    let found: Vec<std::net::IpAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|_| ApiError::validation("url", "the host does not resolve"))?
        .map(|a| a.ip())
        .collect();
    if found.is_empty() {
        return Err(ApiError::validation("url", "the host does not resolve"));
    }
    if found.iter().any(|ip| !policy.address_allowed(*ip)) {
        return Err(ApiError::validation(
            "url",
            "the host resolves to a private, loopback, link-local or metadata address",
        ));
    }
    Ok(())
}

/// `POST /v2/webhooks`: the subscription with its secret (shown this once).
pub async fn create_webhook(
    app: &App,
    caller: &Caller,
    input: NewWebhook,
) -> Result<Value, ApiError> {
    admin_only(caller)?;
    check_host(app, &input.url).await?;
    if app.store.subscriptions().await?.len() >= SUBSCRIPTIONS_MAX {
        return Err(ApiError::WebhookLimit(SUBSCRIPTIONS_MAX));
    }
    let sub = Subscription::new(
        input.url,
        input.events,
        input.include_internal,
        &caller.sub,
        &Timestamp::now(),
    );
    app.store.put_subscription(&sub).await?;
    Ok(view::webhook(&sub, true))
}

pub async fn list_webhooks(app: &App, caller: &Caller) -> Result<Value, ApiError> {
    admin_only(caller)?;
    let subs = app.store.subscriptions().await?;
    Ok(Value::Array(
        subs.iter().map(|s| view::webhook(s, false)).collect(),
    ))
}

pub async fn get_webhook(app: &App, caller: &Caller, id: &str) -> Result<Value, ApiError> {
    admin_only(caller)?;
    let sub = app
        .store
        .subscription(id)
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    Ok(view::webhook(&sub, false))
}

pub async fn delete_webhook(app: &App, caller: &Caller, id: &str) -> Result<(), ApiError> {
    admin_only(caller)?;
    if app.store.delete_subscription(id).await? {
        Ok(())
    } else {
        Err(ApiError::WebhookNotFound)
    }
}

/// `GET /v2/webhooks/{id}/deliveries`: the latest attempts, newest first.
pub async fn webhook_deliveries(app: &App, caller: &Caller, id: &str) -> Result<Value, ApiError> {
    admin_only(caller)?;
    if app.store.subscription(id).await?.is_none() {
        return Err(ApiError::WebhookNotFound);
    }
    let attempts = app.store.attempts(id).await?;
    Ok(Value::Array(
        attempts
            .iter()
            .map(|a| {
                json!({
                    "eventId": a.event_id,
                    "type": a.kind,
                    "at": a.at,
                    "attempt": a.attempt,
                    "ok": a.ok,
                    "statusCode": a.status_code,
                    "latencyMs": a.latency_ms,
                    "error": a.error,
                })
            })
            .collect(),
    ))
}

/// The body of a delivery message on the queue.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryMessage {
    pub webhook: String,
    pub event: String,
}

impl DeliveryMessage {
    fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `POST /v2/webhooks/{id}/deliveries/{eventId}/redeliver`: the delivery pending again and
/// queued, whatever became of it (same id and body: receivers can tell it is the same event).
pub async fn redeliver(
    app: &App,
    out: &Outbound,
    caller: &Caller,
    id: &str,
    event: &str,
) -> Result<Value, ApiError> {
    admin_only(caller)?;
    if app.store.subscription(id).await?.is_none() {
        return Err(ApiError::WebhookNotFound);
    }
    if !app.store.reopen_delivery(id, event).await? {
        return Err(ApiError::DeliveryNotFound);
    }
    let message = DeliveryMessage {
        webhook: id.to_owned(),
        event: event.to_owned(),
    };
    if !out.queue_deliveries(&[message.body()]).await?.is_empty() {
        return Err(ApiError::Throttled);
    }
    Ok(json!({"eventId": event, "state": "pending"}))
}

/// Fans events (as the bus carries them) out to the subscriptions that want them: a delivery
/// recorded per subscription and event, and a message queued for it. An event handed over
/// again is queued again; its delivery is recorded once, and sent until one 2xx.
pub async fn fan_out(app: &App, out: &Outbound, events: &[Value]) -> Result<usize, ApiError> {
    let subs = app.store.subscriptions().await?;
    let now = chrono::Utc::now().timestamp();
    let mut messages = Vec::new();
    for event in events {
        let (Some(id), Some(kind)) = (
            event["id"].as_str(),
            event["type"]
                .as_str()
                .and_then(|k| k.parse::<EventKind>().ok()),
        ) else {
            tracing::error!("an event without id or known type: left out");
            continue;
        };
        let internal = event["internal"].as_bool().unwrap_or(true);
        for sub in subs.iter().filter(|s| s.wants_kind(kind, internal)) {
            let delivery = Delivery {
                event_id: id.to_owned(),
                kind,
                payload: event.to_string(),
                state: DeliveryState::Pending,
                tries: 0,
            };
            app.store.add_delivery(&sub.id, &delivery, now).await?;
            messages.push(
                DeliveryMessage {
                    webhook: sub.id.clone(),
                    event: id.to_owned(),
                }
                .body(),
            );
        }
    }
    let queued = messages.len();
    let failed = out.queue_deliveries(&messages).await?;
    if !failed.is_empty() {
        return Err(ApiError::Internal(format!(
            "{} delivery messages were not queued",
            failed.len()
        )));
    }
    Ok(queued)
}

/// What became of one delivery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered now, delivered before, or nothing to deliver (the subscription is gone).
    Done,
    /// Failed; the message is hidden until its next try (the queue hands it over again).
    Later,
    /// Failed for the last time: parked in the dead-letter queue.
    Parked,
}

/// One try of one delivery. `received` is how often the queue has handed this message over
/// (SQS's ApproximateReceiveCount, 1 the first time).
pub async fn deliver(
    app: &App,
    out: &Outbound,
    body: &str,
    received: u32,
    receipt: &str,
) -> Result<Outcome, ApiError> {
    let Ok(message) = serde_json::from_str::<DeliveryMessage>(body) else {
        tracing::error!("a delivery message that is not one: dropped");
        return Ok(Outcome::Done);
    };
    let Some(sub) = app.store.subscription(&message.webhook).await? else {
        return Ok(Outcome::Done);
    };
    let now = chrono::Utc::now().timestamp();
    let Some(delivery) = app
        .store
        .claim_delivery(&sub.id, &message.event, now)
        .await?
    else {
        // Delivered, parked, or held by another try of the same message.
        return Ok(match app.store.delivery(&sub.id, &message.event).await? {
            Some(d) if d.state == DeliveryState::Pending => {
                out.retry_later(receipt, crate::store::LEASE_SECONDS as u32)
                    .await?;
                Outcome::Later
            }
            _ => Outcome::Done,
        });
    };
    let sent_at = chrono::Utc::now().timestamp();
    let signed = signature(
        &sub.secret,
        &delivery.event_id,
        sent_at,
        delivery.payload.as_bytes(),
    )
    .map_err(|e| ApiError::internal("sign", e))?;
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("user-agent", "support-tickets-webhooks/1".to_owned()),
        ("webhook-id", delivery.event_id.clone()),
        ("webhook-timestamp", sent_at.to_string()),
        ("webhook-signature", signed),
    ];
    let answer = out
        .sender()?
        .post(&sub.url, &headers, delivery.payload.clone().into_bytes())
        .await;
    let schedule = &app.config.webhooks.retries;
    let next = if answer.ok() {
        None
    } else {
        schedule.after(received)
    };
    let state = match (answer.ok(), next) {
        (true, _) => DeliveryState::Delivered,
        (false, Some(_)) => DeliveryState::Pending,
        (false, None) => DeliveryState::Failed,
    };
    let attempt = Attempt {
        event_id: delivery.event_id.clone(),
        kind: delivery.kind,
        at: Timestamp::now(),
        attempt: delivery.tries + 1,
        status_code: answer.status,
        ok: answer.ok(),
        latency_ms: answer.latency_ms,
        error: answer.error.clone(),
    };
    app.store
        .record_attempt(&sub.id, &attempt, state, now)
        .await?;
    tracing::info!(
        webhook = %sub.id,
        event = %delivery.event_id,
        status = answer.status,
        latency_ms = answer.latency_ms,
        error = answer.error.as_deref(),
        "webhook delivery"
    );
    match state {
        DeliveryState::Delivered => Ok(Outcome::Done),
        DeliveryState::Pending => {
            out.retry_later(receipt, next.unwrap_or(0)).await?;
            Ok(Outcome::Later)
        }
        DeliveryState::Failed => {
            out.park(body).await?;
            Ok(Outcome::Parked)
        }
    }
}
