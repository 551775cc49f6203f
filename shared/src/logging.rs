//! Logs as Lambda wants them: one line per event on stdout, JSON when the function's log format
//! is JSON (`AWS_LAMBDA_LOG_FORMAT`), at the level of `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`),
//! INFO by default. Like lambda_runtime's default subscriber, but with a plain level instead of
//! an `EnvFilter`: per-module directives are not needed here, and leaving the filter's regex
//! engine out makes every binary smaller (README, Performance).

use lambda_runtime::tracing::subscriber::{
    self,
    filter::{LevelFilter, Targets},
    prelude::*,
};

/// Libraries that log what must never be logged when let down to TRACE (lambda_runtime logs
/// the raw event: the bearer token and the body): whatever level the operator sets, these log
/// at DEBUG at most.
const CAPPED: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "aws_config",
    "aws_sdk_dynamodb",
    "aws_sdk_s3",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

pub fn init() {
    init_with(|name| std::env::var(name).ok());
}

fn level(get: &impl Fn(&str) -> Option<String>) -> LevelFilter {
    get("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| get("RUST_LOG"))
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO)
}

fn json(get: &impl Fn(&str) -> Option<String>) -> bool {
    get("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"))
}

fn targets(level: LevelFilter) -> Targets {
    let capped = std::cmp::min(level, LevelFilter::DEBUG);
    CAPPED
        .iter()
        .fold(Targets::new().with_default(level), |t, name| {
            t.with_target(*name, capped)
        })
}

fn init_with(get: impl Fn(&str) -> Option<String>) {
    let level = level(&get);
    let fmt = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if json(&get) {
        fmt.json().finish().with(targets(level)).init()
    } else {
        fmt.finish().with(targets(level)).init()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_env as env;

    #[test]
    fn the_level_comes_from_lambda_then_rust_log_then_info() {
        assert_eq!(level(&env(&[])), LevelFilter::INFO);
        assert_eq!(level(&env(&[("RUST_LOG", "debug")])), LevelFilter::DEBUG);
        assert_eq!(
            level(&env(&[
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
                ("RUST_LOG", "debug")
            ])),
            LevelFilter::WARN
        );
        assert_eq!(
            level(&env(&[("RUST_LOG", "hyper=debug")])),
            LevelFilter::INFO
        );
    }

    #[test]
    fn libraries_that_log_raw_events_stop_at_debug() {
        use lambda_runtime::tracing::Level;
        let t = targets(LevelFilter::TRACE);
        assert!(t.would_enable("support_tickets::store", &Level::TRACE));
        assert!(!t.would_enable("lambda_runtime::layers::api_response", &Level::TRACE));
        assert!(t.would_enable("lambda_runtime", &Level::DEBUG));
        assert!(!t.would_enable("aws_smithy_runtime::client", &Level::TRACE));
        let t = targets(LevelFilter::WARN);
        assert!(!t.would_enable("lambda_runtime", &Level::DEBUG));
    }

    #[test]
    fn json_only_when_lambda_says_so() {
        assert!(json(&env(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")])));
        assert!(!json(&env(&[("AWS_LAMBDA_LOG_FORMAT", "Text")])));
        assert!(!json(&env(&[])));
    }
}
