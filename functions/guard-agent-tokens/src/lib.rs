//! Cognito's pre token generation trigger (V1, every sign-in and refresh): a member of
//! `agents` gets the group in their tokens only if their account has TOTP MFA enabled. With
//! the pool's MFA `OPTIONAL`, Cognito asks every user who enabled it for the second factor at
//! each sign-in, so an agent's token always comes from a sign-in with two factors; an agent
//! without it is answered as a customer until they set it up. The rule itself is
//! `support_tickets::domain::caller::groups_for_token`; this reads the account's MFA settings.

use aws_sdk_cognitoidentityprovider::Client;
use serde_json::{json, Value};
use support_tickets::domain::caller::groups_for_token;

const TOTP: &str = "SOFTWARE_TOKEN_MFA";

pub async fn handle(cognito: &Client, mut event: Value) -> Result<Value, lambda_runtime::Error> {
    let groups: Vec<String> = event["request"]["groupConfiguration"]["groupsToOverride"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let Some(keep) = groups_for_token(&groups, || async {
        let pool = event["userPoolId"].as_str().unwrap_or_default();
        let user = event["userName"].as_str().unwrap_or_default();
        let out = cognito
            .admin_get_user()
            .user_pool_id(pool)
            .username(user)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading the user's MFA settings: {}",
                    e.into_service_error()
                )
            })?;
        Ok::<bool, String>(out.user_mfa_setting_list().iter().any(|m| m == TOTP))
    })
    .await?
    else {
        return Ok(event);
    };
    tracing::info!("agents group left out of the tokens: no TOTP MFA on the account");
    event["response"]["claimsOverrideDetails"] = json!({
        "groupOverrideDetails": {"groupsToOverride": keep}
    });
    Ok(event)
}
