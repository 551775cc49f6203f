//! The escalation function fed with events/escalate-tickets.json (its `time` set to the test's
//! clock), over tickets prepared in moto: exactly the breached ones are raised, once.

mod common;

use chrono::{Duration, Utc};
use serde_json::Value;
use support_tickets::domain::{
    Category, NewTicket, Priority, Thread, ThreadType, Ticket, TicketId, Timestamp, UserId,
};
use support_tickets::event::EventBridgeEvent;
use support_tickets::store::Creation;
use support_tickets::App;

/// A ticket created `hours_ago`, answered or not.
async fn prepare(app: &App, priority: Priority, hours_ago: i64, answered: bool) -> Ticket {
    let created = Timestamp::at(Utc::now() - Duration::hours(hours_ago));
    let input = NewTicket {
        title: format!("{priority} from {hours_ago} h ago"),
        description: "d".into(),
        priority,
        category: Category::Technical,
        tags: vec![],
        client: None,
        attachments: vec![],
    };
    let alice = UserId::parse("alice").unwrap();
    let mut t = Ticket::open(input, alice.clone(), &created);
    if answered {
        t.first_response_at = Some(created.clone());
    }
    let first = Thread::new(&alice, "d".into(), ThreadType::User, false, &created);
    let write = Creation {
        ticket: &t,
        first: &first,
        attachments: &[],
        idempotency: None,
    };
    app.store.create(&write).await.unwrap();
    t
}

fn scheduled_event() -> EventBridgeEvent {
    let path = format!(
        "{}/../events/escalate-tickets.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["time"] = Utc::now().to_rfc3339().into();
    serde_json::from_value(event).unwrap()
}

#[tokio::test]
async fn escalation_raises_exactly_the_breached_tickets_once() {
    let app = common::app("escalation-test").await;
    // First-response targets: urgent 1 h, high 4 h, medium 8 h, low 24 h.
    let medium_late = prepare(&app, Priority::Medium, 10, false).await;
    let high_late = prepare(&app, Priority::High, 5, false).await;
    let low_in_time = prepare(&app, Priority::Low, 2, false).await;
    let urgent_late = prepare(&app, Priority::Urgent, 3, false).await;
    let answered_late = prepare(&app, Priority::High, 6, true).await;

    let report = escalate_tickets::handle(&app, scheduled_event())
        .await
        .unwrap();
    let mut escalated: Vec<TicketId> = serde_json::from_value(report["escalated"].clone()).unwrap();
    escalated.sort();
    let mut expected = vec![medium_late.id.clone(), high_late.id.clone()];
    expected.sort();
    assert_eq!(escalated, expected, "{report}");

    let read = |id: TicketId| {
        let app = app.clone();
        async move { app.store.ticket_record(&id, true).await.unwrap().unwrap() }
    };
    let m = read(medium_late.id.clone()).await;
    assert_eq!((m.ticket.priority, m.ticket.version), (Priority::High, 2));
    let note = m.threads.last().unwrap();
    assert_eq!(note.kind, ThreadType::System);
    assert_eq!(
        note.message,
        "Priority raised from medium to high (first response overdue)"
    );
    assert_eq!(
        read(high_late.id.clone()).await.ticket.priority,
        Priority::Urgent
    );
    for untouched in [&low_in_time, &urgent_late, &answered_late] {
        let r = read(untouched.id.clone()).await;
        assert_eq!(
            (r.ticket.priority, r.ticket.version),
            (untouched.priority, 1)
        );
        assert_eq!(r.threads.len(), 1);
    }

    // Twice changes nothing more, though the raised tickets are still unanswered and late.
    let again = escalate_tickets::handle(&app, scheduled_event())
        .await
        .unwrap();
    assert_eq!(again["escalated"], serde_json::json!([]), "{again}");
    assert_eq!(read(medium_late.id.clone()).await.ticket.version, 2);
    assert_eq!(read(high_late.id.clone()).await.ticket.version, 2);
}

#[tokio::test]
async fn one_run_escalates_100_breached_tickets_side_by_side() {
    let app = common::app("escalation-batch-test").await;
    let mut late = Vec::new();
    for _ in 0..100 {
        late.push(prepare(&app, Priority::Low, 30, false).await.id);
    }
    late.sort();
    let started = std::time::Instant::now();
    let report = escalate_tickets::handle(&app, scheduled_event())
        .await
        .unwrap();
    let escalated: Vec<TicketId> = serde_json::from_value(report["escalated"].clone()).unwrap();
    // Measured, not asserted on time (shared machines): how long one run of 100 took.
    println!("100 escalations in one run: {:?}", started.elapsed());
    assert_eq!(report["breached"], 100);
    assert_eq!(escalated, late, "all of them, in one run");
    for id in late {
        let t = app.store.ticket(&id).await.unwrap().unwrap();
        assert_eq!((t.priority, t.version), (Priority::Medium, 2));
    }
}
