//! Lists: which index and partitions a list reads ([`plan_list`]), reading pages of it within
//! a budget of requests and bytes, the escalation index, and the per-status counters.

use std::collections::HashMap;

use super::keys::*;
use super::threads::{estimated_bytes, PAGE_BYTES};
use super::{decode, key_string, s, sdk_error, Item, Store};
use crate::cursor::Position;
use crate::domain::kinds::StatusCounts;
use crate::domain::{
    Assignee, Category, ListFilters, Priority, Sort, Status, Ticket, Timestamp, UserId,
};
use crate::error::ApiError;

/// DynamoDB requests one page of a list or of threads may make.
pub const QUERY_BUDGET: usize = 5;
/// Items a filtered list reads per Query (ticket items are about 1–2 KB, so well within
/// DynamoDB's 1 MB a page), and the most an unfiltered one asks for.
const FILTERED_READ: usize = 500;
const UNFILTERED_READ_MAX: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPlan {
    pub index: &'static Index,
    pub partitions: Partitions,
    pub status: Option<Status>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub client: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partitions {
    One(String),
    /// `<prefix><yyyy-mm>`, newest month first, down to the first month with a ticket.
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
            Assignee::User(u) => Some(assignee_key(Some(u))),
            Assignee::Unassigned => Some(assignee_key(None)),
            Assignee::Me => None,
        }),
        client: None,
    };
    if let Scope::Own(client) = scope {
        plan.index = &BY_CLIENT;
        plan.partitions = Partitions::One(format!("CLIENT#{client}"));
    } else if sort == Sort::FirstResponseDue {
        // The due-soon queue: one sparse partition, every other filter within it.
        plan.index = &BY_FIRST_RESPONSE_DUE;
        plan.partitions = Partitions::One(AWAITING.into());
        plan.client = f.client.as_ref().map(|c| format!("CLIENT#{c}"));
    } else if let Some(client) = &f.client {
        plan.index = &BY_CLIENT;
        plan.partitions = Partitions::One(format!("CLIENT#{client}"));
    } else if let Some(assignee) = plan.assignee.take() {
        plan.index = &BY_ASSIGNEE;
        plan.partitions = Partitions::One(assignee);
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
        let mut add = |attr: &str, value: String| {
            let i = parts.len();
            parts.push(format!("#q{i} = :q{i}"));
            names.insert(format!("#q{i}"), attr.to_owned());
            values.insert(format!(":q{i}"), s(value));
        };
        if let Some(v) = self.status {
            add("status", v.to_string());
        }
        if let Some(v) = self.category {
            add("category", v.to_string());
        }
        if let Some(v) = self.priority {
            add("priority", v.to_string());
        }
        if let Some(v) = &self.assignee {
            add(BY_ASSIGNEE.partition_key, v.clone());
        }
        if let Some(v) = &self.client {
            add(BY_CLIENT.partition_key, v.clone());
        }
        (!parts.is_empty()).then(|| (parts.join(" AND "), names, values))
    }

    fn first_partition(&self) -> String {
        match &self.partitions {
            Partitions::One(p) => p.clone(),
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
            Partitions::One(p) => p == partition,
            Partitions::Monthly(prefix) => partition.starts_with(prefix.as_str()),
        }
    }
}

/// Adds a counter item's per-status numbers to `counts`.
fn add_counter_item(counts: &mut StatusCounts, item: &Item) {
    for &status in Status::ALL {
        let n = item
            .get(status.as_str())
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        counts.add(status, n);
    }
}

impl Store {
    /// Up to `limit` tickets after `after` (and after passing over `skip` more, for `page=N`),
    /// and where the next page starts: none on the last page (one more ticket is looked for
    /// before saying there are more). At most [`QUERY_BUDGET`] Queries: when a sparse filter
    /// uses them up, the page comes back short, and the position says where reading stopped.
    #[tracing::instrument(skip_all, fields(index = plan.index.name))]
    pub async fn list(
        &self,
        plan: &ListPlan,
        after: Option<Position>,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<Ticket>, Option<Position>), ApiError> {
        let floor = match &plan.partitions {
            Partitions::One(_) => String::new(),
            Partitions::Monthly(_) => match self.first_month().await? {
                Some(m) => m,
                None => return Ok((Vec::new(), None)),
            },
        };
        let mut skip = after.as_ref().map_or(skip, |p| p.skip);
        let (mut partition, mut start) = match after {
            Some(pos) if plan.owns(&pos.partition) && pos.id.is_empty() => (pos.partition, None),
            Some(pos) if plan.owns(&pos.partition) => {
                let mut key = Item::new();
                key.insert(PK.into(), s(ticket_pk(&pos.id)));
                key.insert(SK.into(), s(TICKET_SK));
                key.insert(plan.index.partition_key.into(), s(pos.partition.clone()));
                key.insert(plan.index.sort_key.into(), s(pos.created_key));
                (pos.partition, Some(key))
            }
            Some(_) => return Err(ApiError::InvalidCursor),
            None => (plan.first_partition(), None),
        };
        let filter = plan.filter();
        let mut found: Vec<(String, String, Ticket)> = Vec::new();
        let (mut queries, mut bytes, mut full) = (0, 0, false);
        while found.len() <= limit && !full {
            if queries == QUERY_BUDGET {
                // Out of budget: go on from where reading stopped.
                let (id, created_key) = match &start {
                    Some(key) => (
                        key_string(key, PK).trim_start_matches("TICKET#").to_owned(),
                        key_string(key, plan.index.sort_key),
                    ),
                    None => (String::new(), String::new()),
                };
                let next = Position {
                    partition,
                    id,
                    created_key,
                    skip,
                };
                return Ok((found.into_iter().map(|(_, _, t)| t).collect(), Some(next)));
            }
            let wanted = skip + limit + 1 - found.len();
            // A filter drops items after they are read (and counted by Limit): read wide.
            let page = if filter.is_some() {
                FILTERED_READ
            } else {
                wanted.min(UNFILTERED_READ_MAX)
            };
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(plan.index.name)
                .key_condition_expression("#ipk = :ipk")
                .expression_attribute_names("#ipk", plan.index.partition_key)
                .expression_attribute_values(":ipk", s(partition.clone()))
                .scan_index_forward(plan.index.ascending)
                .limit(page as i32)
                .set_exclusive_start_key(start.take());
            if let Some((expr, names, values)) = &filter {
                q = q.filter_expression(expr);
                for (k, v) in names {
                    q = q.expression_attribute_names(k, v);
                }
                for (k, v) in values {
                    q = q.expression_attribute_values(k, v.clone());
                }
            }
            queries += 1;
            let out = q.send().await.map_err(|e| sdk_error("list", e))?;
            for item in out.items.unwrap_or_default() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                // The position is the stored sort key, exactly as the index has it.
                let sort_value = key_string(&item, plan.index.sort_key);
                let ticket: Ticket = decode(item)?;
                let size = estimated_bytes(&ticket, 0);
                if found.len() < limit && !found.is_empty() && bytes + size > PAGE_BYTES {
                    // Too large a page: it ends here, and goes on after its last ticket.
                    full = true;
                    break;
                }
                bytes += size;
                found.push((partition.clone(), sort_value, ticket));
            }
            if full {
                break;
            }
            if out.last_evaluated_key.is_some() {
                start = out.last_evaluated_key;
            } else if let Some(next) = plan.next_partition(&partition, &floor) {
                partition = next;
            } else {
                break;
            }
        }
        let more = found.len() > limit || full;
        found.truncate(limit);
        let next = match found.last() {
            Some((partition, sort_value, t)) if more => Some(Position {
                partition: partition.clone(),
                id: t.id.to_string(),
                created_key: sort_value.clone(),
                skip: 0,
            }),
            _ => None,
        };
        Ok((found.into_iter().map(|(_, _, t)| t).collect(), next))
    }

    /// Tickets still awaiting a first response that was due before `before` and that the
    /// escalation has not raised yet: the breached part of the sparse escalation index only.
    #[tracing::instrument(skip_all)]
    pub async fn escalation_candidates(&self, before: &Timestamp) -> Result<Vec<Ticket>, ApiError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_ESCALATION.name)
                .key_condition_expression("#pk = :pk AND #due < :before")
                .expression_attribute_names("#pk", BY_ESCALATION.partition_key)
                .expression_attribute_names("#due", BY_ESCALATION.sort_key)
                .expression_attribute_values(":pk", s(ESCALATE))
                .expression_attribute_values(":before", s(before.as_str()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("escalation candidates", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Tickets per status: a customer's own counter, or the sum of the global shards.
    #[tracing::instrument(skip_all)]
    pub async fn counts(&self, scope: Scope<'_>) -> Result<StatusCounts, ApiError> {
        let mut counts = StatusCounts::default();
        if let Scope::Own(client) = scope {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(PK, s(self.client_counter(client)))
                .key(SK, s(COUNTS_SK))
                .send()
                .await
                .map_err(|e| sdk_error("counts", e))?;
            if let Some(item) = out.item {
                add_counter_item(&mut counts, &item);
            }
        } else {
            for item in self.global_counters().await? {
                add_counter_item(&mut counts, &item);
            }
        }
        Ok(counts)
    }

    async fn global_counters(&self) -> Result<Vec<Item>, ApiError> {
        let keys = (0..self.shards)
            .map(|shard| {
                Item::from([
                    (PK.to_owned(), s(self.global_counter(shard))),
                    (SK.to_owned(), s(COUNTS_SK)),
                ])
            })
            .collect();
        self.batch_get(keys, "global counts").await
    }

    async fn first_month(&self) -> Result<Option<String>, ApiError> {
        if let Some(m) = self.first_month.get() {
            return Ok(Some(m.clone()));
        }
        let first = self
            .global_counters()
            .await?
            .iter()
            .filter_map(|i| i.get(FIRST_MONTH).and_then(|v| v.as_s().ok()).cloned())
            .min();
        if let Some(m) = &first {
            let _ = self.first_month.set(m.clone());
        }
        Ok(first)
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
        assert_eq!(plan.partitions, Partitions::One("ASSIGNEE#none".into()));
        assert_eq!(plan.status, Some(Status::Pending));
        assert_eq!(plan.assignee, None);
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
