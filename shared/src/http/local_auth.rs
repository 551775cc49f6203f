//! Local development only (feature `local-auth`): the functions verify `Authorization: Bearer`
//! HS256 tokens themselves, as API Gateway's authorizer would in AWS.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::Request;
use serde::Deserialize;

use crate::domain::caller::caller_from_claims;
use crate::domain::Caller;
use crate::error::ApiError;

/// The local token secret, ready to verify with.
#[derive(Clone)]
pub struct LocalKey(DecodingKey);

impl LocalKey {
    pub fn new(secret: &str) -> Self {
        LocalKey(DecodingKey::from_secret(secret.as_bytes()))
    }

    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        caller_from_token(bearer(req)?, &self.0)
    }
}

fn bearer(req: &Request) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(lambda_http::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized);
    }
    Ok(token.trim())
}

#[derive(Deserialize)]
struct LocalClaims {
    sub: String,
    #[serde(rename = "cognito:groups", default)]
    groups: Option<serde_json::Value>,
    #[serde(default)]
    token_use: Option<String>,
    /// The time the request is taken to happen at (tests writing a history): local tokens
    /// only, never read in AWS.
    #[serde(rename = "local:now", default)]
    now: Option<String>,
}

fn caller_from_token(token: &str, key: &DecodingKey) -> Result<Caller, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<LocalClaims>(token, key, &validation)
        .map_err(|_| ApiError::Unauthorized)?;
    let groups = match data.claims.groups {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(list @ serde_json::Value::Array(_)) => Some(list.to_string()),
        _ => None,
    };
    let clock = match &data.claims.now {
        Some(raw) => Some(crate::domain::Timestamp::parse(raw).ok_or(ApiError::Unauthorized)?),
        None => None,
    };
    let mut caller = caller_from_claims(
        &data.claims.sub,
        groups.as_deref(),
        data.claims.token_use.as_deref(),
    )
    .ok_or(ApiError::Unauthorized)?;
    caller.clock = clock;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "test-secret";

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn later() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    fn local() -> DecodingKey {
        DecodingKey::from_secret(SECRET.as_bytes())
    }

    #[test]
    fn a_valid_local_token_names_the_caller_and_role() {
        let t = token(
            json!({"sub": "bob", "exp": later(), "cognito:groups": ["agents"]}),
            SECRET,
        );
        let c = caller_from_token(&t, &local()).unwrap();
        assert_eq!(c, Caller::new("bob", Role::Agent));
        let t = token(json!({"sub": "alice", "exp": later()}), SECRET);
        assert_eq!(
            caller_from_token(&t, &local()).unwrap().role,
            Role::Customer
        );
    }

    /// Tests write a history over days with local tokens that set the request's time.
    #[test]
    fn a_local_token_may_set_the_time_of_the_request() {
        let t = token(
            json!({"sub": "bob", "exp": later(), "local:now": "2026-11-20T10:00:00Z"}),
            SECRET,
        );
        let c = caller_from_token(&t, &local()).unwrap();
        assert_eq!(c.now().as_str(), "2026-11-20T10:00:00.000Z");
        let t = token(json!({"sub": "bob", "exp": later()}), SECRET);
        assert_eq!(caller_from_token(&t, &local()).unwrap().clock, None);
    }

    #[test]
    fn bad_local_tokens_are_unauthorized() {
        let past = chrono::Utc::now().timestamp() - 10;
        let cases = [
            token(json!({"sub": "a", "exp": past}), SECRET),
            token(json!({"sub": "a", "exp": later()}), "another-key"),
            token(json!({"exp": later()}), SECRET),
            token(json!({"sub": "a"}), SECRET),
            token(json!({"sub": "", "exp": later()}), SECRET),
            token(
                json!({"sub": "a", "exp": later(), "local:now": "yesterday"}),
                SECRET,
            ),
            "not.a.token".to_string(),
            // alg none: header {"alg":"none"}, no signature
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.".into(),
        ];
        for t in cases {
            assert_eq!(
                caller_from_token(&t, &local()),
                Err(ApiError::Unauthorized),
                "{t}"
            );
        }
    }
}
