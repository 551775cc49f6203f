//! Local development helpers (never deployed):
//! - `tickets-dev create-table`: create `$TABLE_NAME` at `$AWS_ENDPOINT_URL` unless it exists;
//! - `tickets-dev create-bucket`: create `$BUCKET_NAME` unless it exists, with the CORS rule of
//!   template.yaml for the origins in `$FRONTEND_ORIGINS` (comma-separated);
//! - `tickets-dev token <sub> [customer|agent|admin] [ttl-seconds]`: a local HS256 token;
//! - `tickets-dev schema`: the table's keys and indexes as JSON (checked against template.yaml);
//! - `tickets-dev presign <ticket-id> <filename> <type> <size> [ttl-seconds]`: the upload and
//!   download URLs the service would hand out for such an attachment in `$BUCKET_NAME` (the
//!   signature tests run them against an S3 endpoint that checks SigV4);
//! - `tickets-dev seed-tickets <client> <count> [description-characters]`: `count` open
//!   tickets of `client` written straight into `$TABLE_NAME` (no counters, no transactions),
//!   for tests of large tables (descriptions of that many worst-case characters);
//! - `tickets-dev seed-threads <ticket-id> <count> <characters>`: `count` public threads of
//!   that many characters each (the worst case for answer sizes: quotes and 4-byte emoji)
//!   added straight to a ticket, with its thread counts;
//! - `tickets-dev seed-customer <client> <count>`: `count` tickets of `client`, each with
//!   its opening thread, an agent's reply and one uploaded attachment record, written straight
//!   into `$TABLE_NAME`; prints the attachments' object keys, one a line (the caller puts the
//!   bytes), for the tests of erasure;
//! - `tickets-dev rekey`: every ticket of `$TABLE_NAME` given the index keys the current key
//!   design derives (after a deploy that changed it, such as the index write shards); also
//!   against AWS, with its credentials and no `AWS_ENDPOINT_URL`.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use std::process::ExitCode;
use support_tickets::config::LOCAL_JWT_SECRET_DEFAULT;
use support_tickets::service::{dynamodb_client, sdk_config};
use support_tickets::store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("create-table") => create_table().await,
        Some("create-bucket") => create_bucket().await,
        Some("token") => token(&args[1..]),
        Some("presign") => presign(&args[1..]).await,
        Some("seed-tickets") => seed_tickets(&args[1..]).await,
        Some("seed-threads") => seed_threads(&args[1..]).await,
        Some("seed-customer") => seed_customer(&args[1..]).await,
        Some("rekey") => rekey().await,
        Some("schema") => {
            println!("{:#}", store::schema());
            Ok(())
        }
        _ => Err(
            "usage: tickets-dev create-table | create-bucket | token <sub> [customer|agent|admin] \
             [ttl-seconds] | schema | presign ... | seed-tickets <client> <count> | \
             seed-threads <ticket-id> <count> <characters> | seed-customer <client> <count> | rekey"
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

async fn create_bucket() -> Result<(), String> {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let bucket = std::env::var("BUCKET_NAME").map_err(|_| "BUCKET_NAME is not set")?;
    let origins = std::env::var("FRONTEND_ORIGINS").unwrap_or_default();
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config().await.map_err(|e| e.to_string())?)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    if s3.head_bucket().bucket(&bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| format!("create bucket: {:?}", e.into_service_error()))?;
    }
    let mut rule = CorsRule::builder()
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_headers("content-type")
        .allowed_headers("if-none-match")
        .expose_headers("etag")
        .max_age_seconds(3000);
    for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        rule = rule.allowed_origins(origin);
    }
    let cors = CorsConfiguration::builder()
        .cors_rules(rule.build().map_err(|e| e.to_string())?)
        .build()
        .map_err(|e| e.to_string())?;
    s3.put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(cors)
        .send()
        .await
        .map_err(|e| format!("bucket cors: {:?}", e.into_service_error()))?;
    println!("bucket {bucket} ready (CORS for: {origins})");
    Ok(())
}

async fn presign(args: &[String]) -> Result<(), String> {
    use support_tickets::domain::{
        Attachment, NewAttachment, Thread, ThreadType, TicketId, Timestamp, UserId,
    };
    use support_tickets::files::Files;
    let [ticket, filename, content_type, size, rest @ ..] = args else {
        return Err("presign <ticket-id> <filename> <type> <size> [ttl-seconds]".into());
    };
    let size: u64 = size.parse().map_err(|_| "size must be a number")?;
    let ttl: u64 = match rest.first() {
        Some(t) => t.parse().map_err(|_| "ttl must be a number of seconds")?,
        None => support_tickets::files::UPLOAD_TTL.as_secs(),
    };
    let bucket = std::env::var("BUCKET_NAME").map_err(|_| "BUCKET_NAME is not set")?;
    let files = Files::new(
        &sdk_config().await.map_err(|e| e.to_string())?,
        bucket,
        true,
    );
    let ticket = TicketId::parse(ticket).ok_or("the ticket id must be a UUID")?;
    let tool = UserId::parse("tool").map_err(|e| e.to_string())?;
    let thread = Thread::new(
        &tool,
        "m".into(),
        ThreadType::User,
        false,
        &Timestamp::now(),
    );
    let decl = NewAttachment {
        filename: filename.clone(),
        size,
        content_type: content_type.clone(),
    };
    let attachment = Attachment::new(&ticket, &thread, decl);
    let upload = files
        .upload_for(&attachment, std::time::Duration::from_secs(ttl))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let download = files
        .download(&attachment)
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "{}",
        json!({"key": attachment.key(), "upload": upload, "download": download})
    );
    Ok(())
}

fn token(args: &[String]) -> Result<(), String> {
    let sub = args.first().ok_or("token needs a subject (user id)")?;
    let groups: Vec<&str> = match args.get(1).map(String::as_str) {
        None | Some("customer") => vec![],
        Some("agent") => vec!["agents"],
        // Manages webhooks (docs/events.md); an admin is no agent unless also in agents.
        Some("admin") => vec!["admins"],
        Some(other) => {
            return Err(format!(
                "role must be customer, agent or admin, not {other}"
            ))
        }
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

/// The store of `$TABLE_NAME` with the settings the functions would have.
async fn store() -> Result<support_tickets::store::Store, String> {
    use support_tickets::config::Config;
    let config = Config::from_lookup(|k| {
        std::env::var(k)
            .ok()
            .or_else(|| (k == "CURSOR_SECRET").then(|| "seeding-needs-no-cursors".into()))
    })
    .map_err(|e| e.to_string())?;
    Ok(support_tickets::App::new(config, &sdk_config().await.map_err(|e| e.to_string())?).store)
}

fn count(arg: &str) -> Result<usize, String> {
    arg.parse().map_err(|_| format!("{arg} is not a number"))
}

async fn seed_tickets(args: &[String]) -> Result<(), String> {
    use support_tickets::domain::{Category, NewTicket, Priority, Ticket, Timestamp, UserId};
    let (client, n, description) = match args {
        [client, n] => (client, n, "seeded".to_owned()),
        [client, n, chars] => (client, n, worst_case_text(count(chars)?)),
        _ => return Err("seed-tickets <client> <count> [description-characters]".into()),
    };
    let client = UserId::parse(client).map_err(|e| format!("client {e}"))?;
    let now = chrono::Utc::now();
    let tickets: Vec<Ticket> = (0..count(n)?)
        .map(|i| {
            let input = NewTicket {
                title: format!("Seeded ticket {i}"),
                description: description.clone(),
                priority: Priority::Low,
                category: Category::General,
                tags: vec![],
                client: None,
                attachments: vec![],
            };
            let at = Timestamp::at(now - chrono::Duration::milliseconds(i as i64));
            Ticket::open(input, client.clone(), &at)
        })
        .collect();
    store()
        .await?
        .import(&tickets, &[], &[])
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!("{}", tickets.len());
    Ok(())
}

async fn seed_customer(args: &[String]) -> Result<(), String> {
    use support_tickets::domain::{
        Attachment, AttachmentStatus, Category, NewAttachment, NewTicket, Priority, Thread,
        ThreadType, Ticket, Timestamp, UserId,
    };
    let [client, n] = args else {
        return Err("seed-customer <client> <count>".into());
    };
    let client = UserId::parse(client).map_err(|e| format!("client {e}"))?;
    let agent = UserId::parse("seed-agent").map_err(|e| format!("agent {e}"))?;
    let now = chrono::Utc::now();
    let (mut tickets, mut threads, mut files) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..count(n)? {
        let at = Timestamp::at(now - chrono::Duration::milliseconds(10 * i as i64));
        let later = Timestamp::at(now - chrono::Duration::milliseconds(10 * i as i64 - 5));
        let input = NewTicket {
            title: format!("Seeded ticket {i}"),
            description: format!("Personal details of {client}, ticket {i}"),
            priority: Priority::Low,
            category: Category::Account,
            tags: vec![],
            client: None,
            attachments: vec![],
        };
        let mut ticket = Ticket::open(input.clone(), client.clone(), &at);
        let first = Thread::new(&client, input.description, ThreadType::User, false, &at);
        let reply = Thread::new(&agent, "Looking".into(), ThreadType::Agent, false, &later);
        let decl = NewAttachment {
            filename: "passport.pdf".into(),
            size: 9,
            content_type: "application/pdf".into(),
        };
        let mut file = Attachment::new(&ticket.id, &first, decl);
        file.status = AttachmentStatus::Uploaded;
        ticket.thread_count = 2;
        ticket.public_thread_count = 2;
        ticket.version = 2;
        ticket.attachment_bytes = file.size;
        threads.push((ticket.id.clone(), first));
        threads.push((ticket.id.clone(), reply));
        files.push(file);
        tickets.push(ticket);
    }
    store()
        .await?
        .import(&tickets, &threads, &files)
        .await
        .map_err(|e| format!("{e:?}"))?;
    for f in &files {
        println!("{}", f.key());
    }
    Ok(())
}

async fn rekey() -> Result<(), String> {
    let report = store().await?.rekey().await.map_err(|e| format!("{e:?}"))?;
    println!(
        "{} tickets, {} re-keyed, {} changed meanwhile{}",
        report.tickets,
        report.rewritten,
        report.changed,
        if report.changed > 0 {
            ": run it again"
        } else {
            ""
        }
    );
    Ok(())
}

async fn seed_threads(args: &[String]) -> Result<(), String> {
    use support_tickets::domain::{Thread, ThreadType, TicketId, Timestamp};
    let [ticket_id, n, chars] = args else {
        return Err("seed-threads <ticket-id> <count> <characters>".into());
    };
    let (n, chars) = (count(n)?, count(chars)?);
    let ticket_id = TicketId::parse(ticket_id).ok_or("the ticket id must be a UUID")?;
    let store = store().await?;
    let mut ticket = store
        .ticket(&ticket_id)
        .await
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no such ticket")?;
    let message = worst_case_text(chars);
    let start = chrono::Utc::now();
    let threads: Vec<(TicketId, Thread)> = (0..n)
        .map(|i| {
            let at = Timestamp::at(start + chrono::Duration::milliseconds(i as i64));
            let t = Thread::new(
                &ticket.client,
                message.clone(),
                ThreadType::User,
                false,
                &at,
            );
            (ticket_id.clone(), t)
        })
        .collect();
    ticket.thread_count += n as u32;
    ticket.public_thread_count += n as u32;
    ticket.version += n as u64;
    store
        .import(&[ticket], &threads, &[])
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!("{n}");
    Ok(())
}

/// `chars` characters of the largest JSON: quotes (escaped twice inside Lambda's envelope)
/// and 4-byte emoji.
fn worst_case_text(chars: usize) -> String {
    "\"😀".chars().cycle().take(chars).collect()
}
