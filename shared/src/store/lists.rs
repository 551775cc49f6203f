//! Lists: which index and partitions a list reads ([`plan_list`]), reading pages of it within
//! a budget of requests and bytes, the escalation index, and the per-status counters.

use std::collections::{HashMap, VecDeque};

use super::keys::*;
use super::threads::{estimated_bytes, PAGE_BYTES};
use super::{decode, key_string, s, sdk_error, Item, Store};
use crate::cursor::Position;
use crate::domain::sla::first_response_due;
use crate::domain::{
    Assignee, Category, ListFilters, Priority, Sort, Status, Ticket, Timestamp, UserId,
};
use crate::error::ApiError;

/// DynamoDB requests one page of a list or of threads may make (for a list of sharded keys:
/// rounds of Queries, one per shard side by side, [`SHARDED_ROUNDS`]).
pub const QUERY_BUDGET: usize = 5;
/// Rounds of Queries a page of a list of sharded, month-bucketed keys may make: a page deep
/// into a walk (`page=N`) crosses months, each at least one round (an empty one too).
pub const SHARDED_ROUNDS: usize = 8;
/// Items a filtered list reads per Query (ticket items are about 1–2 KB, so well within
/// DynamoDB's 1 MB a page), and the most an unfiltered one asks for.
const FILTERED_READ: usize = 500;
/// The least a filtered list reads from each shard per Query.
const FILTERED_READ_SHARD_MIN: usize = 50;
const UNFILTERED_READ_MAX: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPlan {
    pub index: &'static Index,
    pub partitions: Partitions,
    pub status: Option<Status>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// `Some(None)`: unassigned tickets only.
    pub assignee: Option<Option<UserId>>,
    pub client: Option<String>,
}

/// The index partitions a list reads. Sharded keys are written in [`INDEX_SHARDS`] shards
/// (`<key>#<shard>`) and read together, merged in the index's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partitions {
    /// One partition, not sharded (a customer's, an agent's).
    One(String),
    /// One key, sharded (`ASSIGNEE#none`, `AWAITING`).
    Sharded(String),
    /// `<prefix><yyyy-mm>`, sharded, newest month first, down to the first month with a ticket.
    Monthly(String),
}

/// Whose tickets a list reads, as the service decided from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// A customer's own tickets: their partition of `byClient`, whatever the filters.
    Own(&'a UserId),
    /// Every ticket (agents): the index of the most specific filter.
    All,
}

/// Chooses the index that selects the most with its key. A customer's own tickets are read
/// from their partition of `byClient` (bounded by their own tickets); every ticket from the
/// index of the most specific filter given. `Assignee::Me` must have been resolved to a user.
pub fn plan_list(scope: Scope<'_>, f: &ListFilters, sort: Sort) -> ListPlan {
    let mut plan = ListPlan {
        index: &BY_MONTH,
        partitions: Partitions::Monthly("ALL#".into()),
        status: f.status,
        category: f.category,
        priority: f.priority,
        assignee: f.assigned_to.as_ref().and_then(|a| match a {
            Assignee::User(u) => Some(Some(u.clone())),
            Assignee::Unassigned => Some(None),
            Assignee::Me => None,
        }),
        client: None,
    };
    if let Scope::Own(client) = scope {
        plan.index = &BY_CLIENT;
        plan.partitions = Partitions::One(format!("CLIENT#{client}"));
    } else if sort == Sort::FirstResponseDue {
        // The due-soon queue: one sparse key, every other filter within it.
        plan.index = &BY_FIRST_RESPONSE_DUE;
        plan.partitions = Partitions::Sharded(AWAITING.into());
        plan.client = f.client.as_ref().map(|c| format!("CLIENT#{c}"));
    } else if let Some(client) = &f.client {
        plan.index = &BY_CLIENT;
        plan.partitions = Partitions::One(format!("CLIENT#{client}"));
    } else if let Some(assignee) = plan.assignee.take() {
        plan.index = &BY_ASSIGNEE;
        plan.partitions = match assignee {
            Some(agent) => Partitions::One(assignee_key(&agent)),
            None => Partitions::Sharded(UNASSIGNED.into()),
        };
    } else if let Some(status) = plan.status.take() {
        plan.index = &BY_STATUS;
        plan.partitions = Partitions::Monthly(format!("STATUS#{status}#"));
    } else if let Some(priority) = plan.priority.take() {
        plan.index = &BY_PRIORITY;
        plan.partitions = Partitions::Monthly(format!("PRIORITY#{priority}#"));
    } else if let Some(category) = plan.category.take() {
        plan.index = &BY_CATEGORY;
        plan.partitions = Partitions::Monthly(format!("CATEGORY#{category}#"));
    }
    plan
}

impl ListPlan {
    fn filter(&self) -> Option<(String, HashMap<String, String>, Item)> {
        let mut parts = Vec::new();
        let mut names = HashMap::new();
        let mut values = Item::new();
        let mut add = |attr: &str, value: Option<String>| {
            let i = parts.len();
            names.insert(format!("#q{i}"), attr.to_owned());
            match value {
                Some(value) => {
                    parts.push(format!("#q{i} = :q{i}"));
                    values.insert(format!(":q{i}"), s(value));
                }
                None => parts.push(format!("attribute_not_exists(#q{i})")),
            }
        };
        if let Some(v) = self.status {
            add("status", Some(v.to_string()));
        }
        if let Some(v) = self.category {
            add("category", Some(v.to_string()));
        }
        if let Some(v) = self.priority {
            add("priority", Some(v.to_string()));
        }
        if let Some(v) = &self.assignee {
            add(
                crate::domain::Field::AssignedTo.attribute(),
                v.as_ref().map(|u| u.to_string()),
            );
        }
        if let Some(v) = &self.client {
            add(BY_CLIENT.partition_key, Some(v.clone()));
        }
        (!parts.is_empty()).then(|| (parts.join(" AND "), names, values))
    }

    /// How many shards each partition of this list has.
    fn shards(&self) -> usize {
        match self.partitions {
            Partitions::One(_) => 1,
            Partitions::Sharded(_) | Partitions::Monthly(_) => INDEX_SHARDS,
        }
    }

    /// Rounds of Queries a page may make.
    fn rounds(&self) -> usize {
        match self.partitions {
            Partitions::One(_) => QUERY_BUDGET,
            Partitions::Sharded(_) | Partitions::Monthly(_) => SHARDED_ROUNDS,
        }
    }

    /// The stored key of one shard of a partition.
    fn shard_partition(&self, partition: &str, shard: usize) -> String {
        match self.partitions {
            Partitions::One(_) => partition.to_owned(),
            _ => shard_key(partition, shard),
        }
    }

    fn first_partition(&self) -> String {
        match &self.partitions {
            Partitions::One(p) | Partitions::Sharded(p) => p.clone(),
            Partitions::Monthly(prefix) => format!("{prefix}{}", current_month()),
        }
    }

    fn next_partition(&self, current: &str, floor: &str) -> Option<String> {
        let Partitions::Monthly(prefix) = &self.partitions else {
            return None;
        };
        let month = previous_month(current.strip_prefix(prefix.as_str())?)?;
        (month.as_str() >= floor).then(|| format!("{prefix}{month}"))
    }

    fn owns(&self, partition: &str) -> bool {
        match &self.partitions {
            Partitions::One(p) | Partitions::Sharded(p) => p == partition,
            Partitions::Monthly(prefix) => partition.starts_with(prefix.as_str()),
        }
    }
}

/// A shard position in a cursor that says the shard is read to its end.
const SHARD_DONE: &str = "~";

/// One shard of a partition as a list reads it: what was read and not yet passed on, where
/// the next Query starts, and the position to resume from.
struct ShardRead {
    /// The shard's stored partition key.
    key: String,
    start: Option<Item>,
    /// No more items in DynamoDB after those buffered.
    done: bool,
    buffer: VecDeque<(String, Ticket)>,
    /// The sort key of the last ticket passed on (or skipped) from this shard.
    mark: String,
}

impl ShardRead {
    fn new(plan: &ListPlan, key: String, mark: &str) -> Result<Self, ApiError> {
        let start = match mark {
            "" | SHARD_DONE => None,
            sort => {
                // Both list sort keys end in the ticket's id: the start key is rebuilt from it.
                let id = sort
                    .rsplit('#')
                    .next()
                    .and_then(crate::domain::TicketId::parse)
                    .ok_or(ApiError::InvalidCursor)?;
                let mut item = Item::new();
                item.insert(PK.into(), s(ticket_pk(&id)));
                item.insert(SK.into(), s(TICKET_SK));
                item.insert(plan.index.partition_key.into(), s(key.clone()));
                item.insert(plan.index.sort_key.into(), s(sort));
                Some(item)
            }
        };
        Ok(ShardRead {
            key,
            start,
            done: mark == SHARD_DONE,
            buffer: VecDeque::new(),
            mark: mark.to_owned(),
        })
    }

    fn waiting(&self) -> bool {
        self.buffer.is_empty() && !self.done
    }

    /// Where a next page resumes this shard.
    fn resume(&self) -> String {
        if self.buffer.is_empty() && self.done {
            SHARD_DONE.to_owned()
        } else {
            self.mark.clone()
        }
    }
}

/// The shard whose next ticket comes first in the index's order, if any has one buffered.
fn next_shard(shards: &[ShardRead], ascending: bool) -> Option<usize> {
    let heads = shards
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.buffer.front().map(|(sort, _)| (i, sort)));
    if ascending {
        heads.min_by(|a, b| a.1.cmp(b.1)).map(|(i, _)| i)
    } else {
        heads.max_by(|a, b| a.1.cmp(b.1)).map(|(i, _)| i)
    }
}

impl Store {
    /// Up to `limit` tickets after `after` (and after passing over `skip` more, for `page=N`),
    /// and where the next page starts: none on the last page (one more ticket is looked for
    /// before saying there are more). The shards of a partition are read side by side and
    /// merged in the index's order: a ticket is passed on only while every shard that may
    /// still hold an earlier one has its next ticket in hand. At most [`QUERY_BUDGET`] rounds
    /// of Queries ([`SHARDED_ROUNDS`] on sharded keys): when a sparse filter uses them up, the page comes back short, and the
    /// position says where each shard's reading stopped.
    #[tracing::instrument(skip_all, fields(index = plan.index.name))]
    pub async fn list(
        &self,
        plan: &ListPlan,
        after: Option<Position>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Ticket>, Option<Position>), ApiError> {
        let floor = match &plan.partitions {
            Partitions::Monthly(_) => match self.first_month().await? {
                Some(m) => m,
                None => return Ok((Vec::new(), None)),
            },
            _ => String::new(),
        };
        let n = plan.shards();
        let mut skip = after.as_ref().map_or(skip, |p| p.skip);
        let (mut partition, mut marks) = match after {
            Some(pos) if plan.owns(&pos.partition) && pos.shards.len() == n => {
                (pos.partition, pos.shards)
            }
            Some(_) => return Err(ApiError::InvalidCursor),
            None => (plan.first_partition(), vec![String::new(); n]),
        };
        let filter = plan.filter();
        let mut found: Vec<Ticket> = Vec::new();
        // Each shard's position as of the last ticket of the page (not the one looked for
        // beyond it).
        let mut page_end: Option<(String, Vec<String>)> = None;
        let (mut rounds, mut bytes, mut full) = (0, 0, false);
        'partitions: loop {
            let mut shards = (0..n)
                .map(|i| ShardRead::new(plan, plan.shard_partition(&partition, i), &marks[i]))
                .collect::<Result<Vec<_>, _>>()?;
            loop {
                while found.len() <= limit && !shards.iter().any(ShardRead::waiting) {
                    let Some(i) = next_shard(&shards, plan.index.ascending) else {
                        break;
                    };
                    let (sort, ticket) = shards[i].buffer.pop_front().expect("a buffered head");
                    if skip > 0 {
                        skip -= 1;
                        shards[i].mark = sort;
                        continue;
                    }
                    let size = estimated_bytes(&ticket, 0);
                    if found.len() < limit && !found.is_empty() && bytes + size > PAGE_BYTES {
                        // Too large a page: it ends before this ticket.
                        shards[i].buffer.push_front((sort, ticket));
                        full = true;
                        break;
                    }
                    bytes += size;
                    shards[i].mark = sort;
                    found.push(ticket);
                    if found.len() <= limit {
                        let at = shards.iter().map(ShardRead::resume).collect();
                        page_end = Some((partition.clone(), at));
                    }
                }
                if found.len() > limit || full {
                    break 'partitions;
                }
                let waiting: Vec<usize> = (0..n).filter(|&i| shards[i].waiting()).collect();
                if waiting.is_empty() {
                    // Every shard of this partition is read: on to the month before.
                    match plan.next_partition(&partition, &floor) {
                        Some(next) => {
                            partition = next;
                            marks = vec![String::new(); n];
                            continue 'partitions;
                        }
                        None => break 'partitions,
                    }
                }
                if rounds == plan.rounds() {
                    // Out of budget: go on from where each shard's reading stopped.
                    let at = Position {
                        partition,
                        id: String::new(),
                        created_key: String::new(),
                        shards: shards.iter().map(ShardRead::resume).collect(),
                        skip,
                    };
                    return Ok((found, Some(at)));
                }
                rounds += 1;
                let wanted = skip + limit + 1 - found.len();
                // A filter drops items after they are read (and counted by Limit): read wide.
                let page = if filter.is_some() {
                    (FILTERED_READ / n).max(FILTERED_READ_SHARD_MIN)
                } else {
                    (wanted * 3 / (2 * n) + 2).min(UNFILTERED_READ_MAX)
                };
                let mut reads = tokio::task::JoinSet::new();
                for &i in &waiting {
                    let query = self.shard_query(plan, &shards[i], page, filter.as_ref());
                    reads.spawn(async move { (i, query.send().await) });
                }
                while let Some(joined) = reads.join_next().await {
                    let (i, out) = joined.map_err(|e| ApiError::internal("list", e))?;
                    let out = out.map_err(|e| sdk_error("list", e))?;
                    let shard = &mut shards[i];
                    for item in out.items.unwrap_or_default() {
                        // The position is the stored sort key, exactly as the index has it.
                        let sort = key_string(&item, plan.index.sort_key);
                        shard.buffer.push_back((sort, decode(item)?));
                    }
                    match out.last_evaluated_key {
                        Some(key) => {
                            if shard.buffer.is_empty() {
                                // A filter dropped everything read: resume after it.
                                shard.mark = key_string(&key, plan.index.sort_key);
                            }
                            shard.start = Some(key);
                        }
                        None => shard.done = true,
                    }
                }
            }
        }
        let more = found.len() > limit || full;
        found.truncate(limit);
        let next = match page_end {
            Some((partition, shards)) if more => Some(Position {
                partition,
                id: String::new(),
                created_key: String::new(),
                shards,
                skip: 0,
            }),
            _ => None,
        };
        Ok((found, next))
    }

    fn shard_query(
        &self,
        plan: &ListPlan,
        shard: &ShardRead,
        page: usize,
        filter: Option<&(String, HashMap<String, String>, Item)>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(plan.index.name)
            .key_condition_expression("#ipk = :ipk")
            .expression_attribute_names("#ipk", plan.index.partition_key)
            .expression_attribute_values(":ipk", s(shard.key.clone()))
            .scan_index_forward(plan.index.ascending)
            .limit(page as i32)
            .set_exclusive_start_key(shard.start.clone());
        if let Some((expr, names, values)) = filter {
            q = q.filter_expression(expr);
            for (k, v) in names {
                q = q.expression_attribute_names(k, v);
            }
            for (k, v) in values {
                q = q.expression_attribute_values(k, v.clone());
            }
        }
        q
    }

    /// Tickets still awaiting a first response that was due before `before` and that the
    /// escalation has not raised yet: the breached part of the sparse escalation index only.
    #[tracing::instrument(skip_all)]
    pub async fn escalation_candidates(
        &self,
        before: &Timestamp,
        max: usize,
    ) -> Result<Vec<Ticket>, ApiError> {
        let mut out = Vec::new();
        for shard in 0..INDEX_SHARDS {
            out.extend(self.escalation_shard(shard, before, max).await?);
        }
        // Soonest due first across the shards, as the index orders each; the `max` soonest.
        out.sort_by(|a, b| {
            let due = |t: &Ticket| first_response_due(t, &self.policy);
            due(a).cmp(&due(b))
        });
        out.truncate(max);
        Ok(out)
    }

    /// Up to `max` of one shard's breached tickets, soonest due first.
    async fn escalation_shard(
        &self,
        shard: usize,
        before: &Timestamp,
        max: usize,
    ) -> Result<Vec<Ticket>, ApiError> {
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < max {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_ESCALATION.name)
                .key_condition_expression("#pk = :pk AND #due < :before")
                .expression_attribute_names("#pk", BY_ESCALATION.partition_key)
                .expression_attribute_names("#due", BY_ESCALATION.sort_key)
                .expression_attribute_values(":pk", s(shard_key(ESCALATE, shard)))
                .expression_attribute_values(":before", s(before.as_str()))
                .set_exclusive_start_key(start)
                .limit((max - out.len()) as i32)
                .send()
                .await
                .map_err(|e| sdk_error("escalation candidates", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Priority, UserId};

    #[test]
    fn months_walk_back_across_years() {
        assert_eq!(previous_month("2026-01").as_deref(), Some("2025-12"));
        assert_eq!(previous_month("2026-11").as_deref(), Some("2026-10"));
    }

    #[test]
    fn a_customers_scope_reads_only_their_own_partition() {
        let alice = UserId::parse("alice").unwrap();
        let f = ListFilters {
            status: Some(Status::Open),
            ..Default::default()
        };
        let plan = plan_list(Scope::Own(&alice), &f, Sort::Newest);
        assert_eq!(plan.index, &BY_CLIENT);
        assert_eq!(plan.partitions, Partitions::One("CLIENT#alice".into()));
        assert_eq!(plan.status, Some(Status::Open));
        let f = ListFilters {
            client: UserId::parse("bob").ok(),
            ..Default::default()
        };
        assert_eq!(
            plan_list(Scope::Own(&alice), &f, Sort::Newest).partitions,
            Partitions::One("CLIENT#alice".into()),
            "a customer's scope is their own partition, whatever the filter says"
        );
    }

    #[test]
    fn agents_read_the_most_specific_index() {
        let plan = plan_list(Scope::All, &ListFilters::default(), Sort::Newest);
        assert_eq!(plan.index, &BY_MONTH);
        let f = ListFilters {
            status: Some(Status::Pending),
            priority: Some(Priority::High),
            ..Default::default()
        };
        let plan = plan_list(Scope::All, &f, Sort::Newest);
        assert_eq!(plan.index, &BY_STATUS);
        assert_eq!(
            plan.partitions,
            Partitions::Monthly("STATUS#pending#".into())
        );
        assert_eq!((plan.status, plan.priority), (None, Some(Priority::High)));
        let f = ListFilters {
            status: Some(Status::Pending),
            assigned_to: Some(Assignee::Unassigned),
            ..Default::default()
        };
        let plan = plan_list(Scope::All, &f, Sort::Newest);
        assert_eq!(plan.index, &BY_ASSIGNEE);
        assert_eq!(plan.partitions, Partitions::Sharded("ASSIGNEE#none".into()));
        assert_eq!(plan.status, Some(Status::Pending));
        assert_eq!(plan.assignee, None);
    }

    #[test]
    fn shared_keys_are_read_in_every_shard_and_a_persons_in_one() {
        let plan = plan_list(Scope::All, &ListFilters::default(), Sort::Newest);
        assert_eq!(plan.shards(), INDEX_SHARDS);
        assert_eq!(plan.shard_partition("ALL#2026-11", 3), "ALL#2026-11#3");
        let alice = UserId::parse("alice").unwrap();
        let own = plan_list(Scope::Own(&alice), &ListFilters::default(), Sort::Newest);
        assert_eq!(own.shards(), 1);
        assert_eq!(own.shard_partition("CLIENT#alice", 0), "CLIENT#alice");
    }

    #[test]
    fn the_merge_takes_the_next_ticket_in_the_index_order() {
        let plan = plan_list(Scope::All, &ListFilters::default(), Sort::Newest);
        let ticket = crate::domain::fixtures::ticket(Status::Open);
        let mut shards: Vec<ShardRead> = (0..3)
            .map(|i| ShardRead::new(&plan, format!("ALL#2026-11#{i}"), "").unwrap())
            .collect();
        for (i, sort) in [(0, "2026-11-02"), (1, "2026-11-05"), (2, "2026-11-03")] {
            shards[i].buffer.push_back((sort.into(), ticket.clone()));
        }
        assert_eq!(next_shard(&shards, false), Some(1), "newest first");
        assert_eq!(next_shard(&shards, true), Some(0), "soonest due first");
        shards[0].done = true;
        shards[0].buffer.clear();
        assert_eq!(shards[0].resume(), SHARD_DONE);
        assert!(!shards[0].waiting() && !shards[1].waiting());
    }

    #[test]
    fn a_cursor_position_that_names_no_ticket_is_refused() {
        let plan = plan_list(Scope::All, &ListFilters::default(), Sort::Newest);
        assert!(
            ShardRead::new(&plan, "ALL#2026-11#0".into(), "2026-11-02T00:00:00.000Z#x").is_err()
        );
    }

    #[test]
    fn a_monthly_walk_stops_at_the_first_month() {
        let plan = plan_list(Scope::All, &ListFilters::default(), Sort::Newest);
        assert_eq!(
            plan.next_partition("ALL#2026-01", "2025-11").as_deref(),
            Some("ALL#2025-12")
        );
        assert_eq!(plan.next_partition("ALL#2025-11", "2025-11"), None);
        assert!(!plan.owns("CLIENT#alice"));
    }
}
