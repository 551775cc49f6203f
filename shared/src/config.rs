//! Settings from the environment, read once at cold start.

use crate::domain::sla::{SlaPolicy, Targets};
use crate::domain::webhooks::{RetrySchedule, UrlPolicy};
use crate::domain::Priority;

/// The claim that lists the caller's groups, unless `GROUPS_CLAIM` names another (an external
/// OIDC issuer's).
pub const GROUPS_CLAIM_DEFAULT: &str = "cognito:groups";

/// The local token secret when `LOCAL_JWT_SECRET` is not set. It only ever takes effect with
/// `AUTH_MODE=local`, which the SAM template never sets; it is published in the README.
pub const LOCAL_JWT_SECRET_DEFAULT: &str = "local-development-secret";
/// The cursor key used locally when `CURSOR_SECRET` is not set (same rule as above).
const LOCAL_CURSOR_SECRET_DEFAULT: &str = "local-development-cursor-key";
pub const COUNTER_SHARDS_DEFAULT: u32 = 8;
/// The most threads a ticket takes from replies (`MAX_THREADS`; template parameter MaxThreads).
pub const MAX_THREADS_DEFAULT: u32 = 1000;
/// Writes a caller may make in a minute (`CUSTOMER_WRITES_PER_MINUTE`,
/// `AGENT_WRITES_PER_MINUTE`; template parameters of the same names in CamelCase).
pub const CUSTOMER_WRITES_DEFAULT: u32 = 60;
pub const AGENT_WRITES_DEFAULT: u32 = 600;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1}")]
    Invalid(&'static str, String),
}

/// How callers are identified (the HTTP edge builds its authenticator from this).
#[derive(Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// In AWS: API Gateway verified the token; read the claims it passes on, the groups from
    /// this claim.
    ApiGateway { groups_claim: String },
    /// Locally (`AUTH_MODE=local`, builds with the `local-auth` feature only): verify
    /// `Authorization: Bearer` as HS256 with this secret.
    LocalHs256 { secret: String },
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMode::ApiGateway { groups_claim } => {
                write!(f, "ApiGateway {{ groups_claim: {groups_claim:?} }}")
            }
            AuthMode::LocalHs256 { .. } => f.write_str("LocalHs256(<secret>)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub auth: AuthMode,
    pub cursor_secret: Vec<u8>,
    pub counter_shards: u32,
    pub max_threads: u32,
    /// Writes a minute per customer and per agent.
    pub customer_writes: u32,
    pub agent_writes: u32,
    /// The attachments bucket; functions that never touch files run without it.
    pub bucket_name: Option<String>,
    /// Path-style S3 addresses (`S3_FORCE_PATH_STYLE=true`), for local emulators.
    pub s3_path_style: bool,
    pub sla: SlaPolicy,
    /// How many days after closing a customer may still rate their ticket
    /// (`SATISFACTION_WINDOW_DAYS`, 0 to 365, default 7).
    pub rating_window_days: u32,
    /// Days a deleted ticket can be restored before it is purged (`DELETE_GRACE_DAYS`, 0 to
    /// 365, default 7).
    pub delete_grace_days: u32,
    /// Days closed tickets are kept before they are purged (`RETENTION_DAYS`, 1 to 3650;
    /// unset or 0: kept for ever).
    pub retention_days: Option<u32>,
    /// The queue export jobs go through (`EXPORT_QUEUE_URL`; the export functions).
    pub export_queue: Option<String>,
    /// The queue an erasure's steps go through (`ERASURE_QUEUE_URL`; the erasure functions).
    pub erasure_queue: Option<String>,
    /// Events and webhooks (docs/events.md): the bus the table's changes are published on,
    /// the queues deliveries go through, the retry schedule, and where receivers may be.
    pub webhooks: WebhookSettings,
}

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub event_bus: Option<String>,
    pub delivery_queue: Option<String>,
    pub dead_letter_queue: Option<String>,
    pub retries: RetrySchedule,
    pub urls: UrlPolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = get("TABLE_NAME")
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let local = match get("AUTH_MODE").as_deref() {
            None | Some("") | Some("apigateway") => false,
            Some("local") => true,
            Some(other) => {
                return Err(ConfigError::Invalid(
                    "AUTH_MODE",
                    format!("{other:?} (expected apigateway or local)"),
                ))
            }
        };
        let auth = if local {
            local_auth(&get)?
        } else {
            let groups_claim = get("GROUPS_CLAIM").filter(|c| !c.trim().is_empty());
            AuthMode::ApiGateway {
                groups_claim: groups_claim.unwrap_or_else(|| GROUPS_CLAIM_DEFAULT.to_owned()),
            }
        };
        let cursor_secret = match get("CURSOR_SECRET").filter(|s| !s.is_empty()) {
            Some(s) if s.len() >= 16 => s.into_bytes(),
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "CURSOR_SECRET",
                    "must be at least 16 characters".into(),
                ))
            }
            None if local => LOCAL_CURSOR_SECRET_DEFAULT.as_bytes().to_vec(),
            None => return Err(ConfigError::Missing("CURSOR_SECRET")),
        };
        let counter_shards = number(&get, "COUNTER_SHARDS", COUNTER_SHARDS_DEFAULT, 1..=50)?;
        let max_threads = number(&get, "MAX_THREADS", MAX_THREADS_DEFAULT, 1..=10_000)?;
        let customer_writes = number(
            &get,
            "CUSTOMER_WRITES_PER_MINUTE",
            CUSTOMER_WRITES_DEFAULT,
            1..=100_000,
        )?;
        let agent_writes = number(
            &get,
            "AGENT_WRITES_PER_MINUTE",
            AGENT_WRITES_DEFAULT,
            1..=100_000,
        )?;
        let bucket_name = get("BUCKET_NAME").filter(|b| !b.is_empty());
        let s3_path_style = match get("S3_FORCE_PATH_STYLE").as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ConfigError::Invalid("S3_FORCE_PATH_STYLE", other.into())),
        };
        let sla = sla_policy(&get)?;
        let rating_window_days = number(
            &get,
            "SATISFACTION_WINDOW_DAYS",
            crate::domain::rules::RATING_WINDOW_DAYS_DEFAULT as u32,
            0..=365,
        )?;
        let delete_grace_days = number(
            &get,
            "DELETE_GRACE_DAYS",
            crate::domain::lifecycle::DELETE_GRACE_DAYS_DEFAULT,
            0..=365,
        )?;
        let retention_days = match number(&get, "RETENTION_DAYS", 0, 0..=3650)? {
            0 => None,
            days => Some(days),
        };
        let set = |k: &str| get(k).filter(|v| !v.is_empty());
        let erasure_queue = set("ERASURE_QUEUE_URL");
        let export_queue = set("EXPORT_QUEUE_URL");
        let retries = match set("WEBHOOK_RETRY_SECONDS") {
            None => RetrySchedule::standard(),
            Some(raw) => RetrySchedule::parse(&raw)
                .map_err(|e| ConfigError::Invalid("WEBHOOK_RETRY_SECONDS", e))?,
        };
        // Local development and tests only: receivers on 127.0.0.1 over plain http. The
        // template never sets it.
        let allow_loopback = match set("WEBHOOK_ALLOW_LOOPBACK").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid("WEBHOOK_ALLOW_LOOPBACK", other.into()))
            }
        };
        let webhooks = WebhookSettings {
            event_bus: set("EVENT_BUS_NAME"),
            delivery_queue: set("WEBHOOK_DELIVERY_QUEUE_URL"),
            dead_letter_queue: set("WEBHOOK_DEAD_LETTER_QUEUE_URL"),
            retries,
            urls: UrlPolicy { allow_loopback },
        };
        Ok(Config {
            webhooks,
            sla,
            rating_window_days,
            delete_grace_days,
            retention_days,
            erasure_queue,
            export_queue,
            table_name,
            auth,
            cursor_secret,
            counter_shards,
            max_threads,
            customer_writes,
            agent_writes,
            bucket_name,
            s3_path_style,
        })
    }
}

/// A whole number setting within `range`, or its default when unset.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    match get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or(ConfigError::Invalid(name, v)),
    }
}

/// `SLA_URGENT`, `SLA_HIGH`, `SLA_MEDIUM`, `SLA_LOW`: `<first response>/<resolution>` in
/// minutes (`60/240`); each one absent keeps its default.
fn sla_policy(get: &impl Fn(&str) -> Option<String>) -> Result<SlaPolicy, ConfigError> {
    let mut policy = SlaPolicy::default();
    for (name, priority) in [
        ("SLA_URGENT", Priority::Urgent),
        ("SLA_HIGH", Priority::High),
        ("SLA_MEDIUM", Priority::Medium),
        ("SLA_LOW", Priority::Low),
    ] {
        let Some(raw) = get(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let parsed = raw
            .split_once('/')
            .and_then(|(f, r)| Some((f.trim().parse::<i64>().ok()?, r.trim().parse::<i64>().ok()?)))
            .filter(|(f, r)| *f > 0 && *r > 0);
        let (first, resolution) = parsed.ok_or_else(|| {
            ConfigError::Invalid(name, format!("{raw:?} (expected <minutes>/<minutes>)"))
        })?;
        let targets = Targets {
            first_response: chrono::Duration::minutes(first),
            resolution: chrono::Duration::minutes(resolution),
        };
        policy = policy.with(priority, targets);
    }
    Ok(policy)
}

#[cfg(feature = "local-auth")]
fn local_auth(get: &impl Fn(&str) -> Option<String>) -> Result<AuthMode, ConfigError> {
    let secret = get("LOCAL_JWT_SECRET").filter(|s| !s.is_empty());
    Ok(AuthMode::LocalHs256 {
        secret: secret.unwrap_or_else(|| LOCAL_JWT_SECRET_DEFAULT.to_owned()),
    })
}

#[cfg(not(feature = "local-auth"))]
fn local_auth(_: &impl Fn(&str) -> Option<String>) -> Result<AuthMode, ConfigError> {
    Err(ConfigError::Invalid(
        "AUTH_MODE",
        "local token verification is not in this build (deployed functions are built without \
         the local-auth feature)"
            .into(),
    ))
}

/// Tests' settings: a lookup over fixed pairs, in place of the process's environment, for the
/// functions that read their settings through a `get` (logging, the SDK's credentials).
#[cfg(test)]
pub(crate) fn test_env<'a>(
    pairs: &'a [(&'a str, &'a str)],
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn production_needs_a_cursor_secret_and_never_uses_local_auth() {
        assert!(matches!(
            config(&[("TABLE_NAME", "t")]),
            Err(ConfigError::Missing("CURSOR_SECRET"))
        ));
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SECRET", "0123456789abcdef"),
            ("LOCAL_JWT_SECRET", "ignored-without-auth-mode"),
        ])
        .unwrap();
        assert!(
            matches!(c.auth, AuthMode::ApiGateway { ref groups_claim } if groups_claim == "cognito:groups")
        );
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SECRET", "0123456789abcdef"),
            ("GROUPS_CLAIM", "https://example.com/roles"),
        ])
        .unwrap();
        assert!(
            matches!(c.auth, AuthMode::ApiGateway { ref groups_claim } if groups_claim == "https://example.com/roles")
        );
    }

    #[test]
    fn numbers_are_bounded_with_defaults() {
        let base = [("TABLE_NAME", "t"), ("CURSOR_SECRET", "0123456789abcdef")];
        assert_eq!(config(&base).unwrap().max_threads, MAX_THREADS_DEFAULT);
        let with = |v| config(&[base[0], base[1], ("MAX_THREADS", v)]);
        assert_eq!(with("25").unwrap().max_threads, 25);
        assert!(matches!(
            with("0"),
            Err(ConfigError::Invalid("MAX_THREADS", _))
        ));
        assert!(matches!(
            with("many"),
            Err(ConfigError::Invalid("MAX_THREADS", _))
        ));
        assert_eq!(config(&base).unwrap().rating_window_days, 7);
        let window = |v| config(&[base[0], base[1], ("SATISFACTION_WINDOW_DAYS", v)]);
        assert_eq!(window("0").unwrap().rating_window_days, 0);
        assert!(matches!(
            window("366"),
            Err(ConfigError::Invalid("SATISFACTION_WINDOW_DAYS", _))
        ));
    }

    #[test]
    fn sla_targets_come_from_the_environment_in_minutes() {
        let env = |k: &str| (k == "SLA_URGENT").then(|| "30/120".to_string());
        let p = sla_policy(&env).unwrap();
        assert_eq!(
            p.targets(Priority::Urgent).first_response,
            chrono::Duration::minutes(30)
        );
        assert_eq!(
            p.targets(Priority::Low),
            SlaPolicy::default().targets(Priority::Low)
        );
        for bad in ["30", "a/b", "0/10", "-5/10"] {
            let env = |k: &str| (k == "SLA_HIGH").then(|| bad.to_string());
            assert!(sla_policy(&env).is_err(), "{bad}");
        }
    }

    #[cfg(not(feature = "local-auth"))]
    #[test]
    fn deployed_builds_refuse_local_mode() {
        let err = config(&[("TABLE_NAME", "t"), ("AUTH_MODE", "local")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid("AUTH_MODE", _)), "{err}");
    }

    #[cfg(feature = "local-auth")]
    #[test]
    fn local_mode_is_explicit() {
        let c = config(&[("TABLE_NAME", "t"), ("AUTH_MODE", "local")]).unwrap();
        assert!(matches!(c.auth, AuthMode::LocalHs256 { .. }));
        assert!(config(&[("TABLE_NAME", "t"), ("AUTH_MODE", "off")]).is_err());
        assert!(config(&[("AUTH_MODE", "local")]).is_err());
    }
}
