//! Who is calling: the caller's id and role, from the API Gateway JWT authorizer's verified
//! claims, or (only when configured so, for local development) from a token verified here.
//! What the claims make of a caller is the domain's (`domain::caller`).

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::HashMap;

use crate::config::AuthMode;
use crate::domain::caller::caller_from_claims;
use crate::domain::Caller;
use crate::error::ApiError;

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
    LocalHs256(super::local_auth::LocalKey),
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
    /// The authenticator the settings ask for; local verification only in builds that have it.
    pub fn new(mode: &AuthMode) -> Result<Self, String> {
        match mode {
            AuthMode::ApiGateway { groups_claim } => Ok(Authenticator::ApiGateway {
                groups_claim: groups_claim.clone(),
            }),
            #[cfg(feature = "local-auth")]
            AuthMode::LocalHs256 { secret } => Ok(Authenticator::LocalHs256(
                super::local_auth::LocalKey::new(secret),
            )),
            #[cfg(not(feature = "local-auth"))]
            AuthMode::LocalHs256 { .. } => {
                Err("local token verification is not in this build".to_owned())
            }
        }
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
    .ok_or(ApiError::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GROUPS_CLAIM_DEFAULT;
    use crate::domain::Role;
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
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut ctx = ApiGatewayV2httpRequestContext::default();
        ctx.authorizer = Some(authorizer);
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
