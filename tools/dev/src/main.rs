//! Local development helpers (never deployed):
//! - `tickets-dev create-table`: create `$TABLE_NAME` at `$AWS_ENDPOINT_URL` unless it exists;
//! - `tickets-dev token <sub> [customer|agent] [ttl-seconds]`: a local HS256 token;
//! - `tickets-dev schema`: the table's keys and indexes as JSON (checked against template.yaml).

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use std::process::ExitCode;
use support_tickets::config::LOCAL_JWT_SECRET_DEFAULT;
use support_tickets::service::dynamodb_client;
use support_tickets::store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-table") => create_table().await,
        Some("token") => token(&args[1..]),
        Some("schema") => {
            println!("{:#}", store::schema());
            Ok(())
        }
        _ => Err(
            "usage: tickets-dev create-table | token <sub> [customer|agent] [ttl-seconds] | schema"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickets-dev: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn create_table() -> Result<(), String> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let client = dynamodb_client().await;
    let exists = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_ok();
    if exists {
        println!("table {table} exists");
        return Ok(());
    }
    store::create_table(&client, &table)
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!("table {table} created");
    Ok(())
}

fn token(args: &[String]) -> Result<(), String> {
    let sub = args.first().ok_or("token needs a subject (user id)")?;
    let groups: Vec<&str> = match args.get(1).map(String::as_str) {
        None | Some("customer") => vec![],
        Some("agent") => vec!["agents"],
        Some(other) => return Err(format!("role must be customer or agent, not {other}")),
    };
    let ttl: i64 = match args.get(2) {
        Some(t) => t.parse().map_err(|_| "ttl must be a number of seconds")?,
        None => 12 * 3600,
    };
    let secret = std::env::var("LOCAL_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| LOCAL_JWT_SECRET_DEFAULT.to_owned());
    let claims = json!({
        "sub": sub,
        "cognito:groups": groups,
        "exp": chrono::Utc::now().timestamp() + ttl,
        "iat": chrono::Utc::now().timestamp(),
    });
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}
