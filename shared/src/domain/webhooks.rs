//! Webhook subscriptions: which events go where, where they may not go (the SSRF rules), how
//! a delivery is signed (the Standard Webhooks scheme) and when a failed one is tried again.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{KeyInit, Mac};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::events::Event;
use super::ids::{Timestamp, UserId};
use super::kinds::EventKind;

/// Subscriptions one deployment keeps (all are read for every batch of events).
pub const SUBSCRIPTIONS_MAX: usize = 50;
/// The longest URL a subscription takes.
pub const URL_MAX: usize = 2048;

/// What a subscription is asked for with (the request, parsed; the URL's form checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventKind>,
    pub include_internal: bool,
}

/// A subscription as stored. The secret signs its deliveries; it is shown once, when the
/// subscription is made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[serde(rename = "_id")]
    pub id: String,
    pub url: String,
    pub events: Vec<EventKind>,
    pub include_internal: bool,
    pub secret: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
}

impl Subscription {
    /// A new subscription with a fresh id and secret (`whsec_` and 32 random bytes).
    pub fn new(
        url: String,
        events: Vec<EventKind>,
        include_internal: bool,
        by: &UserId,
        at: &Timestamp,
    ) -> Self {
        let key: [u8; 32] = rand::random();
        Subscription {
            id: format!("wh_{}", uuid::Uuid::now_v7().simple()),
            url,
            events,
            include_internal,
            secret: format!("whsec_{}", B64.encode(key)),
            created_by: by.clone(),
            created_at: at.clone(),
        }
    }

    /// Whether this subscription is sent `event`: one of its types, and internal ones only
    /// when it asked for them.
    pub fn wants(&self, event: &Event) -> bool {
        self.wants_kind(event.kind(), event.internal())
    }

    pub fn wants_kind(&self, kind: EventKind, internal: bool) -> bool {
        self.events.contains(&kind) && (!internal || self.include_internal)
    }
}

/// Where a URL may point. In AWS only `https` to public addresses; locally a documented
/// setting (`WEBHOOK_ALLOW_LOOPBACK`) also lets `http://127.0.0.1` receivers in, for
/// development and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    pub allow_loopback: bool,
}

/// A subscription URL taken apart: scheme, host (without brackets), port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl UrlPolicy {
    /// Checks a URL's form (not where its host resolves: [`UrlPolicy::address_allowed`]).
    pub fn check_url(&self, url: &str) -> Result<Target, String> {
        if url.len() > URL_MAX {
            return Err(format!("must be at most {URL_MAX} characters"));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|_| "must be an absolute URL".to_owned())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if self.allow_loopback => false,
            _ => return Err("must be an https URL".into()),
        };
        let authority = uri.authority().ok_or("must name a host")?;
        if authority.as_str().contains('@') {
            return Err("must not carry credentials".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err("must name a host".into());
        }
        if !https && host.parse::<IpAddr>().map(|ip| ip.is_loopback()) != Ok(true) {
            return Err("must be an https URL (http only to 127.0.0.1 locally)".into());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !self.address_allowed(ip) {
                return Err(
                    "must not point at a private, loopback, link-local or metadata address".into(),
                );
            }
        } else if host == "localhost" || host.ends_with(".localhost") || host.ends_with(".internal")
        {
            return Err(
                "must not point at a private, loopback, link-local or metadata address".into(),
            );
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target { https, host, port })
    }

    /// Whether a delivery may connect to `ip`: public unicast only (loopback too when the
    /// local setting allows it).
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        match ip {
            IpAddr::V4(v4) => public_v4(v4),
            IpAddr::V6(v6) => public_v6(v6),
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_link_local() // 169.254/16: the instance metadata service among them
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 (metadata) among them
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x64 && ip.segments()[1] == 0xff9b) // NAT64 (may reach private IPv4)
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

/// When a failed delivery is tried again: seconds after each failure, the last entry
/// ending the tries (then the delivery is parked in the dead-letter queue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<u32>);

impl RetrySchedule {
    /// The Standard Webhooks reference schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
    /// (27.6 hours of retries after the first try, eight tries in all).
    pub fn standard() -> Self {
        RetrySchedule(vec![5, 300, 1800, 7200, 18000, 36000, 36000])
    }

    /// `5,300,…` (seconds); each at most 12 hours (the longest an SQS message can be hidden).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(|d| {
                d.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("not seconds: {d:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.iter().any(|d| *d > 43_200) {
            return Err("one to many delays of at most 43200 seconds".into());
        }
        Ok(RetrySchedule(delays))
    }

    /// The delay before try `tried + 1`, after `tried` tries failed; none when the tries are
    /// spent.
    pub fn after(&self, tried: u32) -> Option<u32> {
        self.0.get(tried.checked_sub(1)? as usize).copied()
    }

    /// Tries in all: the first and one per delay.
    pub fn tries(&self) -> u32 {
        self.0.len() as u32 + 1
    }

    pub fn total_seconds(&self) -> u64 {
        self.0.iter().map(|d| u64::from(*d)).sum()
    }
}

/// The `webhook-signature` header of the Standard Webhooks specification: `v1,` and the
/// base64 HMAC-SHA256, keyed by the secret's bytes (after `whsec_`), of
/// `<id>.<timestamp>.<body>`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the secret is not base64".to_owned())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Where one event stands with one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not yet answered with a 2xx; tried again on the schedule.
    Pending,
    /// Answered with a 2xx once: never sent again unless an admin asks.
    Delivered,
    /// The schedule ran out: parked in the dead-letter queue.
    Failed,
}

/// One event for one subscription: its body as signed, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The event's JSON, exactly the bytes that are signed and sent.
    pub payload: String,
    pub state: DeliveryState,
    #[serde(default)]
    pub tries: u32,
}

/// One try of a delivery, as `GET /v2/webhooks/{id}/deliveries` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub at: Timestamp,
    /// 1 for the first try of this event for this subscription.
    pub attempt: u32,
    /// The receiver's status code; none when no answer came (refused, timed out, blocked).
    pub status_code: Option<u16>,
    pub ok: bool,
    pub latency_ms: u64,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> UrlPolicy {
        UrlPolicy::default()
    }

    #[test]
    fn only_https_to_public_hosts_in_aws() {
        assert!(aws().check_url("https://hooks.example.com/in").is_ok());
        assert_eq!(
            aws()
                .check_url("https://hooks.example.com:8443/x")
                .unwrap()
                .port,
            8443
        );
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:10.0.0.1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://user:pw@hooks.example.com/",
            "hooks.example.com",
            "/relative",
        ] {
            assert!(aws().check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locally_http_to_loopback_only() {
        let local = UrlPolicy {
            allow_loopback: true,
        };
        assert!(local.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(local.check_url("http://10.0.0.1/hook").is_err());
        assert!(local.check_url("http://hooks.example.com/").is_err());
        assert!(local.address_allowed("127.0.0.1".parse().unwrap()));
        assert!(!local.address_allowed("192.168.1.1".parse().unwrap()));
        assert!(!aws().address_allowed("127.0.0.1".parse().unwrap()));
        assert!(aws().address_allowed("93.184.215.14".parse().unwrap()));
        assert!(aws().address_allowed("2606:4700::1".parse().unwrap()));
    }

    #[test]
    fn the_standard_schedule_outlasts_a_day() {
        let s = RetrySchedule::standard();
        assert!(s.total_seconds() >= 24 * 3600);
        assert_eq!(s.tries(), 8);
        assert_eq!(s.after(1), Some(5));
        assert_eq!(s.after(7), Some(36000));
        assert_eq!(s.after(8), None);
        assert_eq!(s.after(0), None);
        assert_eq!(RetrySchedule::parse("1, 2").unwrap().0, [1, 2]);
        assert!(RetrySchedule::parse("1,x").is_err());
        assert!(RetrySchedule::parse("50000").is_err());
    }

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signatures_match_the_specification() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
