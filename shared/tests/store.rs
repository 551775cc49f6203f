//! The store against a real DynamoDB endpoint (moto, started by `make test`): conditions,
//! transactions and pagination through real SDK calls. Each test has a table of its own.

use support_tickets::auth::{Caller, Role};
use support_tickets::input::{CreateTicket, ListFilters, Sort};
use support_tickets::model::{new_id, Category, Priority, Status, Thread, ThreadType, Ticket};
use support_tickets::service::dynamodb_client;
use support_tickets::sla::SlaPolicy;
use support_tickets::store::{
    self, plan_list, Counts, Store, TicketRecord, TicketWrite, WriteError,
};

async fn store() -> Store {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "store tests run against moto: set AWS_ENDPOINT_URL (make test starts one)"
    );
    let client = dynamodb_client().await;
    let table = format!("store-test-{}", new_id());
    store::create_table(&client, &table)
        .await
        .expect("create table");
    Store::new(client, table, 4, SlaPolicy::default())
}

fn agent() -> Caller {
    Caller {
        sub: "agent-1".into(),
        role: Role::Agent,
    }
}

fn customer(sub: &str) -> Caller {
    Caller {
        sub: sub.into(),
        role: Role::Customer,
    }
}

fn ticket(client: &str, created_at: &str, status: Status) -> (Ticket, Thread) {
    let input = CreateTicket {
        title: "title".into(),
        description: "description".into(),
        priority: Priority::Medium,
        category: Category::Billing,
        tags: vec!["a".into()],
        client: None,
        attachments: vec![],
    };
    let mut t = Ticket::open(input, client.into(), created_at);
    // Tests put tickets straight into other statuses; the service only ever creates `open`.
    t.status = status;
    let first = Thread::new(
        client,
        "description".into(),
        ThreadType::User,
        false,
        created_at,
    );
    (t, first)
}

fn now() -> String {
    support_tickets::model::timestamp(chrono::Utc::now())
}

#[tokio::test]
async fn create_writes_ticket_thread_and_counters_together() {
    let store = store().await;
    let (t, first) = ticket("alice", &now(), Status::Open);
    store.create(&t, &first, &[], None).await.unwrap();

    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(record.ticket, t);
    assert_eq!(record.threads, vec![first.clone()]);
    let open = Counts {
        open: 1,
        ..Default::default()
    };
    assert_eq!(store.counts(&customer("alice")).await.unwrap(), open);
    assert_eq!(store.counts(&agent()).await.unwrap(), open);
    assert_eq!(
        store.counts(&customer("bob")).await.unwrap(),
        Counts::default()
    );

    // The same ticket again: the condition fails and nothing of the second write lands.
    let again = store.create(&t, &first, &[], None).await;
    assert!(matches!(again, Err(WriteError::Changed)), "{again:?}");
    assert_eq!(store.counts(&agent()).await.unwrap(), open);
    assert_eq!(
        store
            .ticket_record(&t.id, true)
            .await
            .unwrap()
            .unwrap()
            .threads
            .len(),
        1
    );
    assert!(store.ticket(&new_id()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_stale_update_writes_nothing() {
    let store = store().await;
    let (t, first) = ticket("alice", &now(), Status::Open);
    store.create(&t, &first, &[], None).await.unwrap();

    let at = now();
    let mut after = t.clone();
    after.apply_status(Status::Pending, None, &at);
    let system = Thread::new("agent-1", "moved".into(), ThreadType::System, false, &at);
    let write = |version| TicketWrite {
        after: &after,
        fields: support_tickets::model::STATUS_FIELDS,
        threads: (1, 1),
        first_response: None,
        expect_status: Status::Open,
        expect_version: Some(version),
        attachment_bytes: 0,
        thread_limit: None,
    };
    let stale = store
        .update(&write(7), &[&system], &[], Some(Status::Open), None)
        .await;
    assert!(matches!(stale, Err(WriteError::Changed)), "{stale:?}");
    let TicketRecord {
        ticket: read,
        threads,
        ..
    } = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(
        (read.status, read.version, threads.len()),
        (Status::Open, 1, 1)
    );
    assert_eq!(store.counts(&agent()).await.unwrap().open, 1);

    store
        .update(&write(1), &[&system], &[], Some(Status::Open), None)
        .await
        .unwrap();
    let TicketRecord {
        ticket: read,
        threads,
        ..
    } = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(
        (read.status, read.version, read.thread_count),
        (Status::Pending, 2, 2)
    );
    assert_eq!(threads.last(), Some(&system));
    let counts = store.counts(&customer("alice")).await.unwrap();
    assert_eq!((counts.open, counts.pending), (0, 1));
}

/// Walks every page and checks each ticket comes exactly once, newest first.
async fn walk(store: &Store, caller: &Caller, filters: &ListFilters, limit: usize) -> Vec<Ticket> {
    walk_sorted(store, caller, filters, Sort::Newest, limit).await
}

async fn walk_sorted(
    store: &Store,
    caller: &Caller,
    filters: &ListFilters,
    sort: Sort,
    limit: usize,
) -> Vec<Ticket> {
    let plan = plan_list(caller, filters, sort).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store.list(&plan, after, 0, limit).await.unwrap();
        // Short pages with more to come are allowed: a walk over empty months may use up the
        // read budget (QUERY_BUDGET) before the page is full.
        assert!(page.len() <= limit);
        seen.extend(page);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    seen
}

fn newest_first(tickets: &mut [Ticket]) {
    tickets.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
}

#[tokio::test]
async fn pages_walk_every_month_newest_first_exactly_once() {
    let store = store().await;
    let mut all = Vec::new();
    // Created in time order, as the service does; September stays empty.
    let months = ["2026-06", "2026-08", "2026-10"];
    for (m, month) in months.iter().enumerate() {
        for i in 0..7 {
            let status = if i % 3 == 0 {
                Status::Pending
            } else {
                Status::Open
            };
            let client = if i % 2 == 0 { "alice" } else { "bob" };
            let at = format!("{month}-1{m}T10:00:0{i}.000Z");
            let (t, first) = ticket(client, &at, status);
            store.create(&t, &first, &[], None).await.unwrap();
            all.push(t);
        }
    }
    for i in 0..4 {
        let (t, first) = ticket(
            "alice",
            &now(),
            if i == 0 {
                Status::Pending
            } else {
                Status::Open
            },
        );
        store.create(&t, &first, &[], None).await.unwrap();
        all.push(t);
    }
    newest_first(&mut all);

    for limit in [1, 5, 10, 100] {
        let seen = walk(&store, &agent(), &ListFilters::default(), limit).await;
        assert_eq!(seen, all, "limit {limit}");
    }

    let pending = ListFilters {
        status: Some(Status::Pending),
        ..Default::default()
    };
    let expected: Vec<Ticket> = all
        .iter()
        .filter(|t| t.status == Status::Pending)
        .cloned()
        .collect();
    assert_eq!(walk(&store, &agent(), &pending, 2).await, expected);

    let alice: Vec<Ticket> = all
        .iter()
        .filter(|t| t.client == "alice")
        .cloned()
        .collect();
    assert_eq!(
        walk(&store, &customer("alice"), &ListFilters::default(), 3).await,
        alice
    );
    let alice_pending: Vec<Ticket> = alice
        .iter()
        .filter(|t| t.status == Status::Pending)
        .cloned()
        .collect();
    assert_eq!(
        walk(&store, &customer("alice"), &pending, 1).await,
        alice_pending
    );

    let counts = store.counts(&agent()).await.unwrap();
    assert_eq!(counts.open + counts.pending, all.len() as i64);
    assert_eq!(counts.pending, expected.len() as i64);
}

#[tokio::test]
async fn an_empty_table_lists_nothing() {
    let store = store().await;
    assert!(walk(&store, &agent(), &ListFilters::default(), 10)
        .await
        .is_empty());
    assert!(
        walk(&store, &customer("alice"), &ListFilters::default(), 10)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn attachments_live_in_the_ticket_partition_within_the_ticket_total() {
    use support_tickets::input::{AttachmentDecl, TICKET_ATTACHMENT_BYTES_MAX};
    use support_tickets::model::{Attachment, AttachmentStatus};
    let store = store().await;
    let (mut t, first) = ticket("alice", &now(), Status::Open);
    let decl = |size| AttachmentDecl {
        filename: "log.txt".into(),
        size,
        content_type: "text/plain".into(),
    };
    let a = Attachment::new(&t.id, &first, decl(TICKET_ATTACHMENT_BYTES_MAX - 10));
    t.attachment_bytes = a.size;
    store
        .create(&t, &first, std::slice::from_ref(&a), None)
        .await
        .unwrap();
    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(record.attachments, vec![a.clone()]);
    assert_eq!(
        record.ticket.attachment_bytes,
        TICKET_ATTACHMENT_BYTES_MAX - 10
    );

    // A thread declaring more than the room left: refused whole, nothing lands.
    let at = now();
    let reply = Thread::new("alice", "more".into(), ThreadType::User, false, &at);
    let mut after = t.clone();
    after.updated_at = at.clone();
    let write = |bytes| TicketWrite {
        after: &after,
        fields: &["updatedAt"],
        threads: (1, 1),
        first_response: None,
        expect_status: Status::Open,
        expect_version: None,
        attachment_bytes: bytes,
        thread_limit: None,
    };
    let big = Attachment::new(&t.id, &reply, decl(11));
    let refused = store
        .update(&write(11), &[&reply], &[big], None, None)
        .await;
    assert!(matches!(refused, Err(WriteError::Changed)), "{refused:?}");
    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!((record.threads.len(), record.attachments.len()), (1, 1));
    let fits = Attachment::new(&t.id, &reply, decl(10));
    store
        .update(
            &write(10),
            &[&reply],
            std::slice::from_ref(&fits),
            None,
            None,
        )
        .await
        .unwrap();
    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(record.ticket.attachment_bytes, TICKET_ATTACHMENT_BYTES_MAX);
    assert_eq!(record.attachments.len(), 2);

    // Settling happens once.
    assert!(store
        .settle_attachment(&fits, AttachmentStatus::Uploaded)
        .await
        .unwrap());
    assert!(!store
        .settle_attachment(&fits, AttachmentStatus::Rejected)
        .await
        .unwrap());
    let stored = store.attachment(&t.id, &fits.id).await.unwrap().unwrap();
    assert_eq!(stored.status, AttachmentStatus::Uploaded);
}

#[tokio::test]
async fn the_due_soon_queue_holds_unanswered_tickets_soonest_first() {
    let store = store().await;
    let base = chrono::Utc::now() - chrono::Duration::hours(30);
    let at = |h: i64| support_tickets::model::timestamp(base + chrono::Duration::hours(h));
    // (created +h, priority): due = created + 1 h (urgent), 4 h (high), 8 h (medium), 24 h (low)
    let plan = [
        (0, Priority::Low),
        (1, Priority::Urgent),
        (2, Priority::Medium),
        (3, Priority::High),
    ];
    let mut made = Vec::new();
    for (h, p) in plan {
        let (mut t, first) = ticket("alice", &at(h), Status::Open);
        t.priority = p;
        store.create(&t, &first, &[], None).await.unwrap();
        made.push(t);
    }
    let ids = |ts: Vec<Ticket>| ts.into_iter().map(|t| t.id).collect::<Vec<_>>();
    // Due: urgent +2 h, high +7 h, medium +10 h, low +24 h.
    let expected = vec![
        made[1].id.clone(),
        made[3].id.clone(),
        made[2].id.clone(),
        made[0].id.clone(),
    ];
    let queue = walk_sorted(
        &store,
        &agent(),
        &ListFilters::default(),
        Sort::FirstResponseDue,
        1,
    )
    .await;
    assert_eq!(ids(queue), expected);

    // The first public agent answer takes a ticket out of the queue.
    let answered = &made[3];
    let reply_at = now();
    let reply = Thread::new("agent-1", "hi".into(), ThreadType::Agent, false, &reply_at);
    let mut after = answered.clone();
    after.updated_at = reply_at.clone();
    let write = TicketWrite {
        after: &after,
        fields: &["updatedAt"],
        threads: (1, 1),
        first_response: Some(&reply_at),
        expect_status: Status::Open,
        expect_version: None,
        attachment_bytes: 0,
        thread_limit: None,
    };
    store
        .update(&write, &[&reply], &[], None, None)
        .await
        .unwrap();
    let queue = walk_sorted(
        &store,
        &agent(),
        &ListFilters::default(),
        Sort::FirstResponseDue,
        10,
    )
    .await;
    assert_eq!(
        ids(queue),
        vec![
            expected[0].clone(),
            expected[2].clone(),
            expected[3].clone()
        ]
    );
    let read = store.ticket(&answered.id).await.unwrap().unwrap();
    assert_eq!(read.first_response_at.as_deref(), Some(reply_at.as_str()));

    let urgent = ListFilters {
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    let queue = walk_sorted(&store, &agent(), &urgent, Sort::FirstResponseDue, 10).await;
    assert_eq!(ids(queue), vec![made[1].id.clone()]);
}
