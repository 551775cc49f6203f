//! Logs as Lambda wants them: one line per event on stdout, JSON when the function's log format
//! is JSON (`AWS_LAMBDA_LOG_FORMAT`), at the level of `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`),
//! INFO by default. Like lambda_runtime's default subscriber, but with a plain level instead of
//! an `EnvFilter`: per-module directives are not needed here, and leaving the filter's regex
//! engine out makes every binary smaller (README, Performance).

use lambda_http::tracing::subscriber::{self, filter::LevelFilter};

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

fn init_with(get: impl Fn(&str) -> Option<String>) {
    let fmt = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level(&get));
    if json(&get) {
        fmt.json().init()
    } else {
        fmt.init()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

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
    fn json_only_when_lambda_says_so() {
        assert!(json(&env(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")])));
        assert!(!json(&env(&[("AWS_LAMBDA_LOG_FORMAT", "Text")])));
        assert!(!json(&env(&[])));
    }
}
