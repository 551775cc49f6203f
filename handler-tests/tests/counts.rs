//! count-tickets fed stream deliveries (events/count-tickets.json and deliveries built like
//! it) over tables in moto: every ticket change counts once, whatever is delivered again.

mod common;

use serde_json::{json, Value};
use support_tickets::event::StreamEvent;
use support_tickets::store::Scope;
use support_tickets::{domain::UserId, App};

fn sample() -> Value {
    let path = format!(
        "{}/../events/count-tickets.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn event(records: &[Value]) -> StreamEvent {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// A stream record of a ticket item of `client` moving `from` → `to` (null: none).
fn record(n: usize, client: &str, from: Option<&str>, to: Option<&str>) -> Value {
    let image = |status: Option<&str>| {
        status.map_or(
            json!(null),
            |s| json!({"client": {"S": client}, "status": {"S": s}, "SK": {"S": "TICKET"}}),
        )
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1790000000 + n as i64,
        "Keys": {"PK": {"S": format!("TICKET#t{n}")}, "SK": {"S": "TICKET"}},
        "SequenceNumber": format!("{}", 5000 + n),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = image(from).as_object() {
        dynamodb["OldImage"] = json!(old);
    }
    if let Some(new) = image(to).as_object() {
        dynamodb["NewImage"] = json!(new);
    }
    json!({
        "eventID": format!("event-{n}"),
        "eventName": if from.is_none() { "INSERT" } else if to.is_none() { "REMOVE" } else { "MODIFY" },
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
    })
}

async fn counts(app: &App, client: Option<&str>) -> [i64; 5] {
    let who = client.map(|c| UserId::parse(c).unwrap());
    let scope = who.as_ref().map_or(Scope::All, Scope::Own);
    let (c, _) = app.store.counts(scope).await.unwrap();
    [c.open, c.pending, c.in_progress, c.resolved, c.closed]
}

#[tokio::test]
async fn the_sample_delivery_counts_once_however_often_it_comes() {
    let app = common::app("counts-sample").await;
    for _ in 0..3 {
        let answer = count_tickets::handle(&app, serde_json::from_value(sample()).unwrap()).await;
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    }
    assert_eq!(counts(&app, Some("sample-customer")).await, [0, 1, 0, 0, 0]);
    assert_eq!(counts(&app, None).await, [0, 1, 0, 0, 0]);
}

#[tokio::test]
async fn long_deliveries_fold_in_batches_and_replays_of_any_length_add_nothing() {
    let app = common::app("counts-batches").await;
    // 200 new tickets of 40 customers, 60 of them then moved, and other items' records
    // (threads) that count nothing.
    let mut records: Vec<Value> = (0..200)
        .map(|n| record(n, &format!("c{}", n % 40), None, Some("open")))
        .collect();
    records.extend(
        (200..260).map(|n| record(n, &format!("c{}", n % 40), Some("open"), Some("closed"))),
    );
    let mut thread = record(260, "c0", None, Some("open"));
    thread["dynamodb"]["Keys"]["SK"] = json!({"S": "THREAD#2026#x"});
    records.push(thread);

    // A first, shorter delivery lands; then the stream delivers again from the start with
    // more (as after a lost answer), and again whole: each change counts once.
    let short = count_tickets::handle(&app, event(&records[..150])).await;
    assert!(short.batch_item_failures.is_empty());
    for _ in 0..2 {
        let whole = count_tickets::handle(&app, event(&records)).await;
        assert!(whole.batch_item_failures.is_empty(), "{whole:?}");
    }
    assert_eq!(counts(&app, None).await, [140, 0, 0, 0, 60]);
    // c0: five new tickets (0, 40, ..., 160), and two of its tickets (200, 240) closed.
    assert_eq!(counts(&app, Some("c0")).await, [3, 0, 0, 0, 2]);
}
