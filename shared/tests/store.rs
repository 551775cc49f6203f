//! The store against a real DynamoDB endpoint (moto, started by `make test`): conditions,
//! transactions and pagination through real SDK calls. Each test has a table of its own.

use support_tickets::domain::kinds::StatusCounts;
use support_tickets::domain::rules::{STATUS_FIELDS, TICKET_ATTACHMENT_BYTES_MAX};
use support_tickets::domain::{
    Attachment, AttachmentStatus, Category, Change, Field, ListFilters, NewAttachment, NewTicket,
    Priority, SlaPolicy, Sort, Status, Thread, ThreadType, Ticket, TicketId, Timestamp, UserId,
};
use support_tickets::service::dynamodb_client;
use support_tickets::store::{
    self, plan_list, Creation, Expect, Scope, Store, TicketRecord, TicketWrite, WriteError,
};

async fn store() -> Store {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "store tests run against moto: set AWS_ENDPOINT_URL (make test starts one)"
    );
    let client = dynamodb_client().await;
    let table = format!("store-test-{}", TicketId::new());
    store::create_table(&client, &table)
        .await
        .expect("create table");
    Store::new(client, table, 4, SlaPolicy::default())
}

fn user(sub: &str) -> UserId {
    UserId::parse(sub).unwrap()
}

fn ts(t: &str) -> Timestamp {
    Timestamp::parse(t).unwrap()
}

/// A new ticket with its first thread, as one write.
async fn create(store: &Store, t: &Ticket, first: &Thread, attachments: &[Attachment]) {
    store
        .create(&creation(t, first, attachments))
        .await
        .unwrap();
}

fn creation<'a>(t: &'a Ticket, first: &'a Thread, attachments: &'a [Attachment]) -> Creation<'a> {
    Creation {
        ticket: t,
        first,
        attachments,
        idempotency: None,
    }
}

/// A change adding `threads` (and `attachments`) to `after`, writing `fields`.
fn change(
    after: &Ticket,
    fields: &[Field],
    threads: Vec<Thread>,
    attachments: Vec<Attachment>,
) -> Change {
    let attachment_bytes = attachments.iter().map(|a| a.size).sum();
    Change {
        after: after.clone(),
        fields: fields.to_vec(),
        threads,
        attachments,
        first_response: false,
        attachment_bytes,
    }
}

fn ticket(client: &str, created_at: &str, status: Status) -> (Ticket, Thread) {
    let created_at = &ts(created_at);
    let input = NewTicket {
        title: "title".into(),
        description: "description".into(),
        priority: Priority::Medium,
        category: Category::Billing,
        tags: vec!["a".into()],
        client: None,
        attachments: vec![],
    };
    let mut t = Ticket::open(input, user(client), created_at);
    // Tests put tickets straight into other statuses; the service only ever creates `open`.
    t.status = status;
    let first = Thread::new(
        &user(client),
        "description".into(),
        ThreadType::User,
        false,
        created_at,
    );
    (t, first)
}

fn now() -> String {
    Timestamp::now().to_string()
}

#[tokio::test]
async fn create_writes_ticket_and_thread_together_and_no_counter() {
    let store = store().await;
    let (t, first) = ticket("alice", &now(), Status::Open);
    create(&store, &t, &first, &[]).await;

    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(record.ticket, t);
    assert_eq!(record.threads, vec![first.clone()]);
    // Counts are the stream consumer's (apply_counts): the write path leaves them alone.
    let none = (StatusCounts::default(), None);
    assert_eq!(
        store.counts(Scope::Own(&user("alice"))).await.unwrap(),
        none
    );
    assert_eq!(store.counts(Scope::All).await.unwrap(), none);

    // The same ticket again: the condition fails and nothing of the second write lands.
    let again = store.create(&creation(&t, &first, &[])).await;
    assert!(matches!(again, Err(WriteError::Changed)), "{again:?}");
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
    assert!(store.ticket(&TicketId::new()).await.unwrap().is_none());
}

/// The ticket and its latest page come from one Query read down from the ticket's item:
/// the ticket first, then the newest threads; customers' pages leave internal notes out
/// and still get the ticket; a ticket that is not there is none, threads or not.
#[tokio::test]
async fn the_latest_page_is_read_with_the_ticket() {
    let store = store().await;
    let (t, first) = ticket("alice", &now(), Status::Open);
    create(&store, &t, &first, &[]).await;
    // 120 more threads, every third an internal note, in two writes.
    let mut all = vec![first.clone()];
    for _ in 0..2 {
        let added: Vec<Thread> = (0..60)
            .map(|i| {
                Thread::new(
                    &user("agent-1"),
                    format!("thread {i}"),
                    ThreadType::User,
                    i % 3 == 0,
                    &Timestamp::now(),
                )
            })
            .collect();
        let write = change(&t, &[Field::UpdatedAt], added.clone(), vec![]);
        store
            .update(&TicketWrite::new(&write, Expect::status_of(&t)))
            .await
            .unwrap();
        all.extend(added);
    }
    all.sort_by_key(store::thread_sk);

    let agent = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(agent.ticket.id, t.id);
    assert_eq!(agent.threads, all[all.len() - 50..].to_vec());
    assert_eq!(agent.earlier, Some(store::thread_sk(&all[all.len() - 50])));

    let public: Vec<Thread> = all.iter().filter(|th| !th.internal).cloned().collect();
    assert_eq!(public.len(), 81);
    let customer = store.ticket_record(&t.id, false).await.unwrap().unwrap();
    assert_eq!(customer.ticket, agent.ticket);
    assert_eq!(customer.threads, public[31..].to_vec());
    assert_eq!(customer.earlier, Some(store::thread_sk(&public[31])));

    // A page of threads alone, from where the latest page ended, meets no ticket.
    let rest = store
        .threads(
            &t.id,
            &store::ThreadQuery {
                after: customer.earlier.clone(),
                limit: 50,
                newest_first: true,
                internal: false,
            },
        )
        .await
        .unwrap();
    let rest: Vec<Thread> = rest.threads.into_iter().map(|(th, _)| th).rev().collect();
    assert_eq!(rest, public[..31].to_vec());

    assert!(store
        .ticket_record(&TicketId::new(), false)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_stale_update_writes_nothing() {
    let store = store().await;
    let (t, first) = ticket("alice", &now(), Status::Open);
    create(&store, &t, &first, &[]).await;

    let at = Timestamp::now();
    let mut after = t.clone();
    after.apply_status(Status::Pending, None, &at);
    let system = Thread::new(
        &user("agent-1"),
        "moved".into(),
        ThreadType::System,
        false,
        &at,
    );
    let moved = change(&after, STATUS_FIELDS, vec![system.clone()], vec![]);
    let expect = |version| Expect {
        status: Status::Open,
        version: Some(version),
    };
    let stale = store.update(&TicketWrite::new(&moved, expect(7))).await;
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

    store
        .update(&TicketWrite::new(&moved, expect(1)))
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
}

#[tokio::test]
async fn counts_take_each_batch_once() {
    use support_tickets::domain::counts::{fold, Move};
    let store = store().await;
    let moves = [
        Move {
            client: user("alice"),
            from: None,
            to: Some(Status::Open),
        },
        Move {
            client: user("bob"),
            from: Some(Status::Open),
            to: Some(Status::Resolved),
        },
    ];
    let deltas = fold(&moves);
    let at = ts("2026-11-20T10:00:00.000Z");
    let rollups = Default::default();
    let batch = store::CountBatch {
        first_event: "event-1",
        up_to: "1200",
        as_of: &at,
        deltas: &deltas,
        rollups: &rollups,
    };
    assert_eq!(store.folded_up_to("event-1").await.unwrap(), None);
    store.apply_counts(&batch).await.unwrap();
    let again = store.apply_counts(&batch).await;
    assert!(matches!(again, Err(WriteError::Duplicate)), "{again:?}");
    assert_eq!(
        store.folded_up_to("event-1").await.unwrap().as_deref(),
        Some("1200")
    );
    let (all, as_of) = store.counts(Scope::All).await.unwrap();
    assert_eq!((all.open, all.resolved), (0, 1), "bob's open left");
    assert_eq!(as_of, Some(at.clone()));
    let (alice, _) = store.counts(Scope::Own(&user("alice"))).await.unwrap();
    assert_eq!(alice.open, 1);
    let (bob, _) = store.counts(Scope::Own(&user("bob"))).await.unwrap();
    assert_eq!((bob.open, bob.resolved), (-1, 1));
}

/// The metrics' rollups go in with a batch's counts, once, whatever shard each batch takes;
/// a report's reads find them by level and range (the backlog before the range from month,
/// day and hour items; the facts in it from hour items), and only those of its dimension.
#[tokio::test]
async fn rollups_are_added_once_and_read_back_by_range() {
    use support_tickets::domain::counts::fold;
    use support_tickets::domain::metrics::{
        facts, report, Counter, Day, Dimension, GroupBy, Rollups,
    };
    let store = store().await;
    let base = "2026-10";
    let created = ts(&format!("{base}-01T23:50:00.000Z"));
    let (mut t, _) = ticket("alice", created.as_str(), Status::Open);
    let policy = support_tickets::domain::SlaPolicy::default();
    let mut rollups = Rollups::default();
    for f in facts(None, Some(&t), created.time().unwrap(), &policy) {
        rollups.add(&f);
    }
    let before = t.clone();
    t.status = Status::Resolved;
    t.resolved_at = Some(ts(&format!("{base}-03T00:10:00.000Z")));
    t.updated_at = t.resolved_at.clone().unwrap();
    let mut later = Rollups::default();
    for f in facts(Some(&before), Some(&t), created.time().unwrap(), &policy) {
        later.add(&f);
    }
    let deltas = fold(std::iter::empty());
    for (event, r) in [
        (format!("m1-{base}"), &rollups),
        (format!("m2-{base}"), &later),
    ] {
        let batch = store::CountBatch {
            first_event: &event,
            up_to: "1",
            as_of: &created,
            deltas: &deltas,
            rollups: r,
        };
        store.apply_counts(&batch).await.unwrap();
        let again = store.apply_counts(&batch).await;
        assert!(matches!(again, Err(WriteError::Duplicate)), "{again:?}");
    }
    let day = |d: u32| Day {
        date: format!("{base}-{d:02}"),
        start: ts(&format!("{base}-{d:02}T00:00:00.000Z")).time().unwrap(),
        end: ts(&format!("{base}-{:02}T00:00:00.000Z", d + 1))
            .time()
            .unwrap(),
    };
    // The 3rd alone: created before it (the backlog comes from the 1st's rollups), resolved
    // in it.
    let days = [day(3)];
    let (readings, requests) = store
        .metric_readings(Dimension::All, days[0].start, days[0].end)
        .await
        .unwrap();
    assert_eq!(
        requests,
        3 * 4,
        "months, days, one month of hours; in each of 4 shards"
    );
    let rep = report(&readings, &days, None);
    assert_eq!(rep.totals.count(Counter::Created), 0);
    assert_eq!(rep.totals.count(Counter::Resolved), 1);
    assert_eq!(rep.totals.backlog.resolved, 1);
    assert_eq!(rep.totals.backlog.open, 0);
    let days = [day(1), day(2), day(3)];
    let (readings, _) = store
        .metric_readings(Dimension::Priority, days[0].start, days[2].end)
        .await
        .unwrap();
    let rep = report(&readings, &days, Some(GroupBy::Priority));
    assert_eq!(
        rep.totals.count(Counter::Created),
        1,
        "once, in one dimension"
    );
    let medium = rep.rows.iter().find(|(g, _)| g == "medium").unwrap();
    assert_eq!(medium.1.count(Counter::Resolved), 1);
    assert_eq!(medium.1.backlog.resolved, 1);
}

/// Walks every page and checks each ticket comes exactly once, newest first.
async fn walk(store: &Store, scope: Scope<'_>, filters: &ListFilters, limit: usize) -> Vec<Ticket> {
    walk_sorted(store, scope, filters, Sort::Newest, limit).await
}

async fn walk_sorted(
    store: &Store,
    scope: Scope<'_>,
    filters: &ListFilters,
    sort: Sort,
    limit: usize,
) -> Vec<Ticket> {
    let plan = plan_list(scope, filters, sort);
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

/// The shard a ticket's shared index keys carry (the tail of its id, as the store takes it).
fn shard(t: &Ticket) -> usize {
    let id = t.id.as_str();
    u32::from_str_radix(&id[id.len() - 8..], 16).unwrap() as usize % store::INDEX_SHARDS
}

#[tokio::test]
async fn walks_over_every_shard_and_month_return_each_ticket_once_in_order() {
    let store = store().await;
    let mut all = Vec::new();
    // 200 tickets over three months (and the current one), in every shard: statuses,
    // priorities and assignees vary so that each filter's walk crosses shards and months.
    let months = ["2026-07", "2026-09", "2026-10"];
    for i in 0..200 {
        let month = months.get(i / 60).copied();
        let at = match month {
            Some(m) => format!(
                "{m}-{:02}T10:{:02}:{:02}.000Z",
                1 + (i % 28),
                i % 60,
                i / 60
            ),
            None => now(),
        };
        let status = [
            Status::Open,
            Status::Pending,
            Status::Open,
            Status::InProgress,
        ][i % 4];
        let (mut t, first) = ticket(["alice", "bob", "carol"][i % 3], &at, status);
        t.priority = [Priority::Low, Priority::High, Priority::Medium][i % 3 / 2 + i % 2];
        if i % 5 == 0 {
            t.assigned_to = Some(user("dana"));
        }
        create(&store, &t, &first, &[]).await;
        all.push(t);
    }
    let shards: std::collections::BTreeSet<usize> = all.iter().map(shard).collect();
    assert_eq!(
        shards.len(),
        store::INDEX_SHARDS,
        "every shard holds tickets"
    );
    newest_first(&mut all);
    let only = |keep: &dyn Fn(&Ticket) -> bool| -> Vec<Ticket> {
        all.iter().filter(|t| keep(t)).cloned().collect()
    };

    for limit in [13] {
        let seen = walk(&store, Scope::All, &ListFilters::default(), limit).await;
        assert_eq!(seen.len(), all.len(), "limit {limit}");
        assert!(
            seen == all,
            "limit {limit}: every ticket once, newest first"
        );
    }
    let open = ListFilters {
        status: Some(Status::Open),
        ..Default::default()
    };
    assert!(walk(&store, Scope::All, &open, 9).await == only(&|t| t.status == Status::Open));
    let high = ListFilters {
        priority: Some(Priority::High),
        ..Default::default()
    };
    assert!(walk(&store, Scope::All, &high, 11).await == only(&|t| t.priority == Priority::High));
    // Unassigned: the sharded ASSIGNEE#none key; and a filter within another index.
    let unassigned = ListFilters {
        assigned_to: Some(support_tickets::domain::Assignee::Unassigned),
        ..Default::default()
    };
    assert!(walk(&store, Scope::All, &unassigned, 13).await == only(&|t| t.assigned_to.is_none()));
    let open_unassigned = ListFilters {
        status: Some(Status::Open),
        priority: Some(Priority::High),
        ..Default::default()
    };
    assert!(
        walk(&store, Scope::All, &open_unassigned, 6).await
            == only(&|t| t.status == Status::Open && t.priority == Priority::High)
    );
    // page=N: the same walk, N-1 pages passed over.
    let plan = plan_list(Scope::All, &ListFilters::default(), Sort::Newest);
    for page in [1, 4, 9] {
        let (tickets, _) = store.list(&plan, None, (page - 1) * 20, 20).await.unwrap();
        assert!(
            tickets[..] == all[(page - 1) * 20..page * 20],
            "page {page}"
        );
    }
    // The due-soon queue: every unanswered ticket (open, pending, in progress), soonest due
    // first, across its shards.
    let due = walk_sorted(
        &store,
        Scope::All,
        &ListFilters::default(),
        Sort::FirstResponseDue,
        17,
    )
    .await;
    assert_eq!(due.len(), all.len());
    let policy = SlaPolicy::default();
    let keys: Vec<_> = due
        .iter()
        .map(|t| {
            (
                support_tickets::domain::sla::first_response_due(t, &policy),
                t.id.clone(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert!(keys == sorted, "soonest due first");
}

#[tokio::test]
async fn rekeying_gives_tickets_of_an_older_key_design_their_keys() {
    let store = store().await;
    let (t, first) = ticket("alice", &now(), Status::Open);
    create(&store, &t, &first, &[]).await;
    // The month bucket as the design before the write shards wrote it: no shard suffix.
    let client = dynamodb_client().await;
    client
        .update_item()
        .table_name(store.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("TICKET#{}", t.id)),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("TICKET".into()),
        )
        .update_expression("SET monthKey = :old")
        .expression_attribute_values(
            ":old",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ALL#{}", t.created_at.month())),
        )
        .send()
        .await
        .unwrap();
    let all = ListFilters::default();
    assert!(
        walk(&store, Scope::All, &all, 10).await.is_empty(),
        "lost to lists"
    );
    let report = store.rekey().await.unwrap();
    assert_eq!(
        (report.tickets, report.rewritten, report.changed),
        (1, 1, 0)
    );
    assert_eq!(walk(&store, Scope::All, &all, 10).await, vec![t.clone()]);
    assert_eq!(
        store.rekey().await.unwrap().rewritten,
        0,
        "nothing left to do"
    );
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
            create(&store, &t, &first, &[]).await;
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
        create(&store, &t, &first, &[]).await;
        all.push(t);
    }
    newest_first(&mut all);

    for limit in [1, 5, 10, 100] {
        let seen = walk(&store, Scope::All, &ListFilters::default(), limit).await;
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
    assert_eq!(walk(&store, Scope::All, &pending, 2).await, expected);

    let alice: Vec<Ticket> = all
        .iter()
        .filter(|t| t.client.as_str() == "alice")
        .cloned()
        .collect();
    assert_eq!(
        walk(
            &store,
            Scope::Own(&user("alice")),
            &ListFilters::default(),
            3
        )
        .await,
        alice
    );
    let alice_pending: Vec<Ticket> = alice
        .iter()
        .filter(|t| t.status == Status::Pending)
        .cloned()
        .collect();
    assert_eq!(
        walk(&store, Scope::Own(&user("alice")), &pending, 1).await,
        alice_pending
    );
}

#[tokio::test]
async fn an_empty_table_lists_nothing() {
    let store = store().await;
    assert!(walk(&store, Scope::All, &ListFilters::default(), 10)
        .await
        .is_empty());
    assert!(walk(
        &store,
        Scope::Own(&user("alice")),
        &ListFilters::default(),
        10
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn attachments_live_in_the_ticket_partition_within_the_ticket_total() {
    let store = store().await;
    let (mut t, first) = ticket("alice", &now(), Status::Open);
    let decl = |size| NewAttachment {
        filename: "log.txt".into(),
        size,
        content_type: "text/plain".into(),
    };
    let a = Attachment::new(&t.id, &first, decl(TICKET_ATTACHMENT_BYTES_MAX - 10));
    t.attachment_bytes = a.size;
    create(&store, &t, &first, std::slice::from_ref(&a)).await;
    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!(record.attachments, vec![a.clone()]);
    assert_eq!(
        record.ticket.attachment_bytes,
        TICKET_ATTACHMENT_BYTES_MAX - 10
    );

    // A thread declaring more than the room left: refused whole, nothing lands.
    let at = Timestamp::now();
    let reply = Thread::new(&user("alice"), "more".into(), ThreadType::User, false, &at);
    let mut after = t.clone();
    after.updated_at = at.clone();
    let adding = |a: &Attachment| {
        change(
            &after,
            &[Field::UpdatedAt],
            vec![reply.clone()],
            vec![a.clone()],
        )
    };
    let big = Attachment::new(&t.id, &reply, decl(11));
    let too_much = adding(&big);
    let refused = store
        .update(&TicketWrite::new(&too_much, Expect::status_of(&t)))
        .await;
    assert!(matches!(refused, Err(WriteError::Changed)), "{refused:?}");
    let record = store.ticket_record(&t.id, true).await.unwrap().unwrap();
    assert_eq!((record.threads.len(), record.attachments.len()), (1, 1));
    let fits = Attachment::new(&t.id, &reply, decl(10));
    let room = adding(&fits);
    store
        .update(&TicketWrite::new(&room, Expect::status_of(&t)))
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
    let at = |h: i64| Timestamp::at(base + chrono::Duration::hours(h)).to_string();
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
        create(&store, &t, &first, &[]).await;
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
        Scope::All,
        &ListFilters::default(),
        Sort::FirstResponseDue,
        1,
    )
    .await;
    assert_eq!(ids(queue), expected);

    // The first public agent answer takes a ticket out of the queue.
    let answered = &made[3];
    let reply_at = Timestamp::now();
    let reply = Thread::new(
        &user("agent-1"),
        "hi".into(),
        ThreadType::Agent,
        false,
        &reply_at,
    );
    let mut after = answered.clone();
    after.updated_at = reply_at.clone();
    let mut first_answer = change(&after, &[Field::UpdatedAt], vec![reply], vec![]);
    first_answer.first_response = true;
    store
        .update(&TicketWrite::new(
            &first_answer,
            Expect::status_of(answered),
        ))
        .await
        .unwrap();
    let queue = walk_sorted(
        &store,
        Scope::All,
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
    assert_eq!(read.first_response_at, Some(reply_at));

    let urgent = ListFilters {
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    let queue = walk_sorted(&store, Scope::All, &urgent, Sort::FirstResponseDue, 10).await;
    assert_eq!(ids(queue), vec![made[1].id.clone()]);
}

/// Subscriptions and deliveries: a delivery is recorded once per event, tried by one try at
/// a time, never again once delivered, and again when reopened; attempts newest first.
#[tokio::test]
async fn webhook_deliveries_are_claimed_once_and_logged() {
    use support_tickets::domain::webhooks::{Attempt, Delivery, DeliveryState, Subscription};
    use support_tickets::domain::EventKind;
    let store = store().await;
    let at = ts("2026-11-26T10:00:00.000Z");
    let a = Subscription::new(
        "https://a.example.com/".into(),
        vec![EventKind::TicketCreated],
        false,
        &user("ops"),
        &at,
    );
    let b = Subscription::new(
        "https://b.example.com/".into(),
        vec![EventKind::ThreadAdded],
        true,
        &user("ops"),
        &at,
    );
    store.put_subscription(&a).await.unwrap();
    store.put_subscription(&b).await.unwrap();
    let listed: Vec<String> = store
        .subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [a.id.clone(), b.id.clone()]);
    assert_eq!(store.subscription(&a.id).await.unwrap(), Some(a.clone()));
    assert!(store.delete_subscription(&b.id).await.unwrap());
    assert!(!store.delete_subscription(&b.id).await.unwrap());

    let now = chrono::Utc::now().timestamp();
    let delivery = Delivery {
        event_id: "evt_1".into(),
        kind: EventKind::TicketCreated,
        payload: "{}".into(),
        state: DeliveryState::Pending,
        tries: 0,
    };
    assert!(store.add_delivery(&a.id, &delivery, now).await.unwrap());
    assert!(
        !store.add_delivery(&a.id, &delivery, now).await.unwrap(),
        "once per event"
    );
    let claimed = store.claim_delivery(&a.id, "evt_1", now).await.unwrap();
    assert_eq!(
        claimed,
        Some(delivery.clone()),
        "the claim hands over the delivery"
    );
    assert!(
        store
            .claim_delivery(&a.id, "evt_1", now)
            .await
            .unwrap()
            .is_none(),
        "one try at a time"
    );
    assert!(
        store
            .claim_delivery(&a.id, "evt_1", now + 31)
            .await
            .unwrap()
            .is_some(),
        "a lease that ran out (a try that died) frees the delivery"
    );
    let attempt = |n: u32, second: u32, ok: bool| Attempt {
        event_id: "evt_1".into(),
        kind: EventKind::TicketCreated,
        at: ts(&format!("2026-11-26T10:00:0{second}.000Z")),
        attempt: n,
        status_code: Some(if ok { 200 } else { 500 }),
        ok,
        latency_ms: 3,
        error: None,
    };
    store
        .record_attempt(&a.id, &attempt(1, 1, false), DeliveryState::Pending, now)
        .await
        .unwrap();
    assert!(
        store
            .claim_delivery(&a.id, "evt_1", now)
            .await
            .unwrap()
            .is_some(),
        "lease let go"
    );
    store
        .record_attempt(&a.id, &attempt(2, 2, true), DeliveryState::Delivered, now)
        .await
        .unwrap();
    assert!(
        store
            .claim_delivery(&a.id, "evt_1", now)
            .await
            .unwrap()
            .is_none(),
        "delivered: never again"
    );
    let stored = store.delivery(&a.id, "evt_1").await.unwrap().unwrap();
    assert_eq!((stored.state, stored.tries), (DeliveryState::Delivered, 2));
    assert!(store.reopen_delivery(&a.id, "evt_1").await.unwrap());
    assert!(
        store
            .claim_delivery(&a.id, "evt_1", now)
            .await
            .unwrap()
            .is_some(),
        "an admin's redelivery"
    );
    assert!(!store.reopen_delivery(&a.id, "evt_2").await.unwrap());
    let log: Vec<u32> = store
        .attempts(&a.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.attempt)
        .collect();
    assert_eq!(log, [2, 1], "newest first");
}

#[tokio::test]
async fn a_deleted_ticket_leaves_the_lists_takes_no_change_and_its_purge_removes_everything() {
    use support_tickets::domain::lifecycle::DELETION_FIELDS;
    use support_tickets::domain::Deletion;
    use support_tickets::store::{ErasureRecord, Removed};
    let store = store().await;
    let (gone, first) = ticket("alice", &now(), Status::Open);
    let (kept, kept_first) = ticket("alice", &now(), Status::Open);
    let (bobs, bobs_first) = ticket("bob", &now(), Status::Open);
    create(&store, &gone, &first, &[]).await;
    create(&store, &kept, &kept_first, &[]).await;
    create(&store, &bobs, &bobs_first, &[]).await;
    let reply = Thread::new(
        &user("alice"),
        "hi".into(),
        ThreadType::User,
        false,
        &ts(&now()),
    );
    let replied = change(&gone, &[Field::UpdatedAt], vec![reply.clone()], vec![]);
    store
        .update(&TicketWrite::new(&replied, Expect::status_of(&gone)))
        .await
        .unwrap();

    let mut deleted = gone.clone();
    deleted.deletion = Some(Deletion {
        deleted_at: ts(&now()),
        deleted_by: user("root"),
        purge_after: ts("2030-01-01T00:00:00.000Z"),
    });
    let deletion = change(&deleted, DELETION_FIELDS, vec![], vec![]);
    let mut read = gone.clone();
    read.version = 2;
    store
        .update(&TicketWrite::new(&deletion, Expect::version_of(&read)))
        .await
        .unwrap();
    // Out of the customer's list; a write decided before the deletion lands nothing.
    let own = walk(
        &store,
        Scope::Own(&user("alice")),
        &ListFilters::default(),
        10,
    )
    .await;
    assert_eq!(own.iter().map(|t| &t.id).collect::<Vec<_>>(), [&kept.id]);
    let late = change(&gone, &[Field::UpdatedAt], vec![], vec![]);
    let stale = store
        .update(&TicketWrite::new(&late, Expect::status_of(&gone)))
        .await;
    assert!(matches!(stale, Err(WriteError::Changed)), "{stale:?}");
    // The erasure still finds it, beside the live one; not bob's.
    let mut found = store.client_ticket_ids("alice", 10).await.unwrap();
    found.sort();
    let mut wanted = vec![gone.id.clone(), kept.id.clone()];
    wanted.sort();
    assert_eq!(found, wanted);

    let mut items = 0;
    store
        .purge_ticket_contents(&gone.id, &mut items)
        .await
        .unwrap();
    assert_eq!(items, 2, "the first thread and the reply");
    let was = store.delete_ticket_item(&gone.id).await.unwrap().unwrap();
    assert_eq!((was.id.clone(), was.version), (gone.id.clone(), 3));
    assert!(was.deletion.is_some(), "the ticket as it was");
    assert!(
        store.delete_ticket_item(&gone.id).await.unwrap().is_none(),
        "gone already"
    );
    assert!(store.ticket(&gone.id).await.unwrap().is_none());
    let mut again = 0;
    store
        .purge_ticket_contents(&gone.id, &mut again)
        .await
        .unwrap();
    assert_eq!(again, 0, "a purged ticket has nothing left");
    assert!(store.ticket_record(&bobs.id, true).await.unwrap().is_some());

    // A job's step is recorded once; done forgets the customer.
    let job = ErasureRecord {
        id: TicketId::new().to_string(),
        state: "running".into(),
        client: Some("alice".into()),
        client_digest: "d".into(),
        requested_by: "root".into(),
        requested_at: now(),
        finished_at: None,
        step: 0,
        tickets: 0,
        items: 0,
        files: 0,
        records: 0,
    };
    store.put_erasure(&job).await.unwrap();
    let step = Removed {
        tickets: 1,
        items: 3,
        files: 0,
        records: 0,
    };
    assert!(store.advance_erasure(&job.id, 0, step, None).await.unwrap());
    assert!(!store.advance_erasure(&job.id, 0, step, None).await.unwrap());
    assert!(store
        .advance_erasure(
            &job.id,
            1,
            Removed::default(),
            Some("2026-11-26T00:00:00.000Z")
        )
        .await
        .unwrap());
    let done = store.erasure(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state.as_str(), done.step, done.tickets, done.items),
        ("done", 2, 1, 3)
    );
    assert_eq!(done.client, None);
}
