//! The edges events leave by (feature `events`): the EventBridge bus they are published on,
//! the SQS queues webhook deliveries go through, and the HTTP client that delivers them,
//! which connects only to addresses a webhook may reach (checked when the host is resolved,
//! at every delivery, so a name that later resolves to a private address is refused too).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::config::WebhookSettings;
use crate::domain::webhooks::UrlPolicy;
use crate::error::ApiError;

/// Most entries one PutEvents takes.
pub const PUT_EVENTS_MAX: usize = 10;
/// Most bytes of entries one PutEvents takes (EventBridge's limit is 256 KiB).
pub const PUT_EVENTS_BYTES: usize = 256 * 1024;
/// The `source` of every event on the bus.
pub const EVENT_SOURCE: &str = "support-tickets";
/// How long a receiver has to answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a receiver's answer that are read (the rest is dropped).
const ANSWER_BYTES: usize = 4096;

fn aws_error<E: std::fmt::Debug>(context: &str, e: E) -> ApiError {
    ApiError::internal(context, format!("{e:?}"))
}

/// One event for the bus: its type and its JSON.
pub struct BusEntry {
    pub kind: &'static str,
    pub detail: String,
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

/// The AWS clients and settings events and webhooks need.
#[derive(Clone)]
pub struct Outbound {
    bus: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    settings: WebhookSettings,
    http: Option<Sender>,
}

impl Outbound {
    pub fn new(sdk: &aws_config::SdkConfig, settings: WebhookSettings) -> Self {
        let http = Sender::new(settings.urls)
            .map_err(
                |e| tracing::error!(error = %e, "no HTTPS client: webhooks cannot be delivered"),
            )
            .ok();
        Outbound {
            bus: aws_sdk_eventbridge::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            settings,
            http,
        }
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    fn setting<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
        value
            .as_deref()
            .ok_or_else(|| ApiError::Internal(format!("{name} is not configured")))
    }

    /// Puts entries on the bus (at most [`PUT_EVENTS_MAX`]); per entry, the error that kept
    /// it off, if any.
    pub async fn put_events(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ApiError> {
        let bus = Self::setting(&self.settings.event_bus, "EVENT_BUS_NAME")?;
        let mut request = self.bus.put_events();
        for e in entries {
            request = request.entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(EVENT_SOURCE)
                    .detail_type(e.kind)
                    .detail(&e.detail)
                    .set_time(
                        e.time
                            .map(|t| aws_smithy_types::DateTime::from_millis(t.timestamp_millis())),
                    )
                    .build(),
            );
        }
        let out = request
            .send()
            .await
            .map_err(|e| aws_error("put events", e))?;
        let results = out.entries.unwrap_or_default();
        Ok((0..entries.len())
            .map(|i| match results.get(i) {
                Some(r) if r.event_id.is_some() => None,
                Some(r) => Some(r.error_code.clone().unwrap_or_else(|| "failed".into())),
                None => Some("no answer for the entry".into()),
            })
            .collect())
    }

    /// Queues delivery messages (bodies), ten per request; the bodies that did not go.
    pub async fn queue_deliveries(&self, bodies: &[String]) -> Result<Vec<String>, ApiError> {
        let queue = Self::setting(&self.settings.delivery_queue, "WEBHOOK_DELIVERY_QUEUE_URL")?;
        let mut failed = Vec::new();
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| aws_error("delivery message", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_error("queue deliveries", e))?;
            for f in out.failed {
                if let Some(body) = f.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    failed.push(body.clone());
                }
            }
        }
        Ok(failed)
    }

    /// Hides a delivery message for `seconds`: its next try comes then.
    pub async fn retry_later(&self, receipt: &str, seconds: u32) -> Result<(), ApiError> {
        let queue = Self::setting(&self.settings.delivery_queue, "WEBHOOK_DELIVERY_QUEUE_URL")?;
        self.sqs
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt)
            .visibility_timeout(seconds as i32)
            .send()
            .await
            .map_err(|e| aws_error("retry later", e))?;
        Ok(())
    }

    /// Parks a delivery whose tries ran out in the dead-letter queue.
    pub async fn park(&self, body: &str) -> Result<(), ApiError> {
        let queue = Self::setting(
            &self.settings.dead_letter_queue,
            "WEBHOOK_DEAD_LETTER_QUEUE_URL",
        )?;
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .send()
            .await
            .map_err(|e| aws_error("park delivery", e))?;
        Ok(())
    }

    /// Sends one message to `queue`, handed over after `delay_seconds` (at most 900).
    pub async fn send(&self, queue: &str, body: &str, delay_seconds: u32) -> Result<(), ApiError> {
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .delay_seconds(delay_seconds.min(900) as i32)
            .send()
            .await
            .map_err(|e| aws_error("send message", e))?;
        Ok(())
    }

    pub fn sender(&self) -> Result<&Sender, ApiError> {
        self.http
            .as_ref()
            .ok_or_else(|| ApiError::Internal("no HTTPS client".into()))
    }
}

/// A resolver that keeps only the addresses webhooks may reach, and fails when none is left.
#[derive(Clone)]
struct VettedResolver {
    policy: UrlPolicy,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for VettedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.address_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the host resolves only to addresses webhooks may not reach",
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

/// What a receiver answered, or why none came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Delivers webhooks: POSTs through the vetted resolver, with a timeout, no redirects.
#[derive(Clone)]
pub struct Sender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<VettedResolver>>, Full<Bytes>>,
    policy: UrlPolicy,
}

impl Sender {
    pub fn new(policy: UrlPolicy) -> Result<Self, std::io::Error> {
        let mut http = HttpConnector::new_with_resolver(VettedResolver { policy });
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(3)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?;
        let connector = if policy.allow_loopback {
            builder.https_or_http().enable_http1().wrap_connector(http)
        } else {
            builder.https_only().enable_http1().wrap_connector(http)
        };
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        Ok(Sender { client, policy })
    }

    /// POSTs `body` to `url` with `headers`. The URL is checked again first (a subscription
    /// made under other rules, an address literal).
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            latency_ms: started.elapsed().as_millis() as u64,
            error: Some(error),
        };
        if let Err(e) = self.policy.check_url(url) {
            return failed(format!("refused: the URL {e}"));
        }
        let mut request = http::Request::post(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(e) => return failed(format!("request: {e}")),
        };
        let answer = tokio::time::timeout(DELIVERY_TIMEOUT, async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            // Only a little of the answer is read: receivers' bodies are not kept.
            let mut body = response.into_body();
            let mut read = 0;
            while read < ANSWER_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                    _ => break,
                }
            }
            Ok::<_, hyper_util::client::legacy::Error>(status)
        })
        .await;
        match answer {
            Err(_) => failed(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())),
            Ok(Err(e)) => {
                let mut detail = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    detail = format!("{detail}: {s}");
                    source = s.source();
                }
                failed(detail)
            }
            Ok(Ok(status)) => Answer {
                status: Some(status),
                latency_ms: started.elapsed().as_millis() as u64,
                error: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use tower_service::Service;

    /// Each try is checked where it connects: the resolver keeps only addresses a webhook may
    /// reach, so a name that (now) resolves to a private or loopback address is refused then.
    #[tokio::test]
    async fn the_resolver_a_delivery_connects_through_refuses_private_addresses() {
        let name = Name::from_str("localhost").unwrap();
        let mut aws = VettedResolver {
            policy: UrlPolicy::default(),
        };
        let refused = aws.call(name.clone()).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        let mut local = VettedResolver {
            policy: UrlPolicy {
                allow_loopback: true,
            },
        };
        let found: Vec<SocketAddr> = local.call(name).await.unwrap().collect();
        assert!(!found.is_empty() && found.iter().all(|a| a.ip().is_loopback()));
    }

    #[tokio::test]
    async fn an_address_literal_is_refused_before_any_connection() {
        let sender = Sender::new(UrlPolicy::default()).unwrap();
        let answer = sender
            .post("https://169.254.169.254/latest/meta-data", &[], Vec::new())
            .await;
        assert_eq!(answer.status, None);
        assert!(
            answer.error.unwrap().starts_with("refused"),
            "not even tried"
        );
    }
}
