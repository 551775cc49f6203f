//! Who is calling, and what their verified claims make of them. Reading the claims out of a
//! request is the HTTP edge's (`http::auth`); the rules are here.

use super::ids::{Timestamp, UserId};

pub const AGENTS_GROUP: &str = "agents";
/// Members manage webhook subscriptions (docs/events.md); nothing else.
pub const ADMINS_GROUP: &str = "admins";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Customer,
    Agent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub sub: UserId,
    pub role: Role,
    /// In the `admins` group: may manage webhooks.
    pub admin: bool,
    /// When the caller's request is taken to happen: always now in AWS. Only a local
    /// development token may set it (`local:now`, feature `local-auth`), so that tests can
    /// write a ticket's history over days.
    pub clock: Option<Timestamp>,
}

impl Caller {
    pub fn is_agent(&self) -> bool {
        self.role == Role::Agent
    }

    /// The time the caller's writes are stamped with.
    pub fn now(&self) -> Timestamp {
        self.clock.clone().unwrap_or_else(Timestamp::now)
    }

    /// A customer as the service acts for them (an export shows what they would see).
    pub fn customer(sub: UserId) -> Self {
        Caller {
            sub,
            role: Role::Customer,
            admin: false,
            clock: None,
        }
    }

    /// A caller as the tests name one.
    #[cfg(test)]
    pub(crate) fn new(sub: &str, role: Role) -> Self {
        Caller {
            sub: UserId::parse(sub).expect("a test's user id"),
            role,
            admin: false,
            clock: None,
        }
    }
}

/// The caller named by verified claims, or none. Only access tokens are accepted: Cognito's
/// ID tokens (`token_use: id`) carry the same `sub` and groups and would pass API Gateway's
/// audience check, but they are meant for the client, not for APIs. Issuers without
/// `token_use` are taken as they are. A `sub` must be a [`UserId`].
pub fn caller_from_claims(
    sub: &str,
    groups: Option<&str>,
    token_use: Option<&str>,
) -> Option<Caller> {
    if token_use.is_some_and(|u| u != "access") {
        return None;
    }
    let sub = UserId::parse(sub).ok()?;
    let groups = groups.map(parse_groups).unwrap_or_default();
    let role = if groups.iter().any(|g| g == AGENTS_GROUP) {
        Role::Agent
    } else {
        Role::Customer
    };
    let admin = groups.iter().any(|g| g == ADMINS_GROUP);
    Some(Caller {
        sub,
        role,
        admin,
        clock: None,
    })
}

/// The groups a token may carry: `None` to keep them as they are, or the groups without
/// `agents` and `admins` when the account has no second factor (`has_mfa`, asked only of agents, since it
/// costs a request). Agents act on every customer's data; a password alone must not be enough.
pub async fn groups_for_token<F, Fut, E>(
    groups: &[String],
    has_mfa: F,
) -> Result<Option<Vec<String>>, E>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
{
    let privileged = |g: &String| g == AGENTS_GROUP || g == ADMINS_GROUP;
    if !groups.iter().any(privileged) || has_mfa().await? {
        return Ok(None);
    }
    Ok(Some(
        groups.iter().filter(|g| !privileged(g)).cloned().collect(),
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
        assert_eq!(
            decide(groups(&["admins", "agents", "billing"]), false).await,
            (Some(groups(&["billing"])), true),
            "admins manage webhooks: a password alone is not enough either"
        );
    }

    #[test]
    fn admins_are_named_by_their_group_and_are_not_agents() {
        let admin = caller_from_claims("ops", Some("[admins]"), Some("access")).unwrap();
        assert!(admin.admin && !admin.is_agent());
        let both = caller_from_claims("lead", Some(r#"["agents","admins"]"#), None).unwrap();
        assert!(both.admin && both.is_agent());
        let agent = caller_from_claims("a", Some("[agents]"), None).unwrap();
        assert!(!agent.admin);
    }

    #[test]
    fn only_access_tokens_with_a_user_id_name_a_caller() {
        let sub = |sub, token_use| caller_from_claims(sub, None, token_use).map(|c| c.sub);
        assert_eq!(sub("u", Some("access")), UserId::parse("u").ok());
        assert_eq!(
            sub("u", None),
            UserId::parse("u").ok(),
            "issuers without token_use"
        );
        assert_eq!(sub("u", Some("id")), None);
        assert_eq!(sub("u", Some("refresh")), None);
        assert_eq!(sub("", None), None);
        assert_eq!(sub("two words", None), None);
    }
}
