//! Who is calling: the caller's id and role, from the API Gateway JWT authorizer's verified
//! claims, or (only when configured so, for local development) from a token verified here.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::HashMap;

use crate::error::ApiError;

pub const AGENTS_GROUP: &str = "agents";
/// The claim that lists the caller's groups, unless `GROUPS_CLAIM` names another (an external
/// OIDC issuer's).
pub const GROUPS_CLAIM_DEFAULT: &str = "cognito:groups";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub role: Role,
}

impl Caller {
    pub fn is_agent(&self) -> bool {
        self.role == Role::Agent
    }
}

/// How callers are identified, chosen once at cold start.
#[derive(Clone)]
pub enum Authenticator {
    /// In AWS: API Gateway verified the token; read the claims it passes on, the groups from
    /// this claim.
    ApiGateway { groups_claim: String },
    /// Locally: verify `Authorization: Bearer` as HS256 with this secret. Only in builds with
    /// the `local-auth` feature (the workspace's debug builds); deployed functions are built
    /// without it and cannot accept such tokens whatever their environment says.
    #[cfg(feature = "local-auth")]
    LocalHs256(crate::local_auth::LocalKey),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authenticator::ApiGateway { groups_claim } => {
                write!(f, "ApiGateway {{ groups_claim: {groups_claim:?} }}")
            }
            #[cfg(feature = "local-auth")]
            Authenticator::LocalHs256(_) => f.write_str("LocalHs256(<secret>)"),
        }
    }
}

impl Authenticator {
    #[cfg(feature = "local-auth")]
    pub fn local(secret: &str) -> Self {
        Authenticator::LocalHs256(crate::local_auth::LocalKey::new(secret))
    }

    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        match self {
            Authenticator::ApiGateway { groups_claim } => {
                caller_from_context(req.request_context_ref(), groups_claim)
            }
            #[cfg(feature = "local-auth")]
            Authenticator::LocalHs256(key) => key.caller(req),
        }
    }
}

fn caller_from_context(
    ctx: Option<&RequestContext>,
    groups_claim: &str,
) -> Result<Caller, ApiError> {
    let claims = match ctx {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    let claims: &HashMap<String, String> = claims.ok_or(ApiError::Unauthorized)?;
    let sub = claims.get("sub").ok_or(ApiError::Unauthorized)?;
    caller_from_claims(
        sub,
        claims.get(groups_claim).map(String::as_str),
        claims.get("token_use").map(String::as_str),
    )
}

/// The caller named by verified claims. Only access tokens are accepted: Cognito's ID tokens
/// (`token_use: id`) carry the same `sub` and groups and would pass API Gateway's audience
/// check, but they are meant for the client, not for APIs. Issuers without `token_use` are
/// taken as they are.
pub(crate) fn caller_from_claims(
    sub: &str,
    groups: Option<&str>,
    token_use: Option<&str>,
) -> Result<Caller, ApiError> {
    if token_use.is_some_and(|u| u != "access") {
        return Err(ApiError::Unauthorized);
    }
    let sub = sub.trim();
    if sub.is_empty() || sub.chars().any(char::is_control) || sub.len() > 256 {
        return Err(ApiError::Unauthorized);
    }
    let role = if groups.is_some_and(|g| parse_groups(g).iter().any(|g| g == AGENTS_GROUP)) {
        Role::Agent
    } else {
        Role::Customer
    };
    Ok(Caller {
        sub: sub.to_owned(),
        role,
    })
}

/// The groups a token may carry: `None` to keep them as they are, or the groups without
/// `agents` when the account has no second factor (`has_mfa`, asked only of agents, since it
/// costs a request). Agents act on every customer's data; a password alone must not be enough.
pub async fn groups_for_token<F, Fut, E>(
    groups: &[String],
    has_mfa: F,
) -> Result<Option<Vec<String>>, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
{
    if !groups.iter().any(|g| g == AGENTS_GROUP) || has_mfa().await? {
        return Ok(None);
    }
    Ok(Some(
        groups
            .iter()
            .filter(|g| *g != AGENTS_GROUP)
            .cloned()
            .collect(),
    ))
}

/// Groups arrive as a JSON list (names exact), as API Gateway's flattening of a list claim,
/// `[a b]` (names separated by single spaces: API Gateway joins them so, and Cognito group
/// names cannot contain whitespace), or as one plain name. Names are never split on commas:
/// `x,agents` is one group, not `agents`.
pub fn parse_groups(raw: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    match raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => inner
            .split(' ')
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        None => vec![raw.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn agent(raw: &str) -> bool {
        caller_from_claims("u", Some(raw), None).unwrap().role == Role::Agent
    }

    #[test]
    fn groups_in_every_shape_match_whole_names() {
        for raw in [
            r#"["customers","agents"]"#,
            "[customers agents]",
            "[agents]",
            "agents",
        ] {
            assert!(agent(raw), "{raw}");
        }
        for raw in [
            "agents-lite",
            "x,agents",
            "[x,agents]",
            r#"["x,agents"]"#,
            r#"["Billing agents"]"#,
            "Billing agents",
            "Agents",
            "[]",
            "",
        ] {
            assert!(!agent(raw), "{raw}");
        }
    }

    #[tokio::test]
    async fn agents_keep_their_group_only_with_a_second_factor() {
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let decide = |g: Vec<String>, mfa: bool| async move {
            let asked = std::cell::Cell::new(false);
            let out = groups_for_token(&g, || async {
                asked.set(true);
                Ok::<_, ()>(mfa)
            })
            .await
            .unwrap();
            (out, asked.get())
        };
        assert_eq!(
            decide(groups(&["agents", "billing"]), true).await,
            (None, true)
        );
        assert_eq!(
            decide(groups(&["agents", "billing"]), false).await,
            (Some(groups(&["billing"])), true)
        );
        assert_eq!(
            decide(groups(&["customers"]), false).await,
            (None, false),
            "customers need no second factor and cost no request"
        );
    }

    #[test]
    fn only_access_tokens_name_a_caller() {
        let role = |token_use| caller_from_claims("u", None, token_use).map(|c| c.sub);
        assert_eq!(role(Some("access")), Ok("u".to_string()));
        assert_eq!(role(None), Ok("u".to_string()), "issuers without token_use");
        assert_eq!(role(Some("id")), Err(ApiError::Unauthorized));
        assert_eq!(role(Some("refresh")), Err(ApiError::Unauthorized));
    }

    #[test]
    fn no_authorizer_claims_is_unauthorized() {
        assert_eq!(
            caller_from_context(None, GROUPS_CLAIM_DEFAULT),
            Err(ApiError::Unauthorized)
        );
    }

    fn authorizer_context(claims: &[(&str, &str)]) -> RequestContext {
        use lambda_http::aws_lambda_events::apigw::{
            ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
            ApiGatewayV2httpRequestContext,
        };
        let jwt = ApiGatewayRequestAuthorizerJwtDescription {
            claims: claims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let ctx = ApiGatewayV2httpRequestContext {
            authorizer: Some(ApiGatewayRequestAuthorizer {
                jwt: Some(jwt),
                ..Default::default()
            }),
            ..Default::default()
        };
        RequestContext::ApiGatewayV2(ctx)
    }

    #[test]
    fn the_groups_claim_is_configurable_for_external_issuers() {
        let ctx = authorizer_context(&[
            ("sub", "okta|7"),
            ("cognito:groups", "[customers]"),
            ("roles", "[agents]"),
        ]);
        let role = |claim| caller_from_context(Some(&ctx), claim).unwrap().role;
        assert_eq!(role(GROUPS_CLAIM_DEFAULT), Role::Customer);
        assert_eq!(role("roles"), Role::Agent);
        assert_eq!(role("absent"), Role::Customer);
    }
}
