//! The metrics' rollups (docs/metrics.md): written by the consumer of the table's stream in
//! the same transaction as the counts ([`Store::apply_counts`]), read by the metrics report
//! ([`Store::metric_readings`]) without ever reading a ticket.
//!
//! Items, in partitions sharded like the global counters (a batch writes the shard it drew
//! for the global counter: concurrent batches rarely hold the same item, and no partition
//! takes more than its share of the consumer's writes, docs/capacity.md); reads query every
//! shard and sum them:
//! - hour: `METRICS#<yyyy-mm>#<shard>` / `H#<dimension>#<yyyy-mm-ddThh>#<group>`, counts per
//!   quarter hour (`<q><measure>`);
//! - day: `METRICS#<yyyy-mm>#<shard>` / `D#<dimension>#<yyyy-mm-dd>#<group>`, backlog moves;
//! - month: `METRICS#MONTHS#<shard>` / `<dimension>#<yyyy-mm>#<group>`, backlog moves.
//!
//! Each item also holds its level, dimension, bucket and group as attributes (`lv`, `dim`,
//! `bucket`, `group`): a group (an agent's id) may hold any character, so keys are never
//! parsed.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

use super::keys::{PK, SK};
use super::{key_string, n, s, sdk_error, Item, Store};
use crate::domain::metrics::{reading, wanted, Dimension, Level, Reading, RollupKey, Rollups};
use crate::error::ApiError;

const MONTHS_PK: &str = "METRICS#MONTHS";
const LEVEL: &str = "lv";
const DIMENSION: &str = "dim";
const BUCKET: &str = "bucket";
const GROUP: &str = "group";

fn level_code(level: Level) -> &'static str {
    match level {
        Level::Hour => "H",
        Level::Day => "D",
        Level::Month => "M",
    }
}

/// The partition of a rollup item of `level` whose bucket is `bucket`, in `shard`.
fn partition(level: Level, bucket: &str, shard: u32) -> String {
    match level {
        Level::Month => format!("{MONTHS_PK}#{shard}"),
        _ => format!("METRICS#{}#{shard}", bucket.get(..7).unwrap_or(bucket)),
    }
}

/// The sort key's start, up to the bucket (a Query's bounds).
fn sort_prefix(level: Level, dimension: Dimension, bucket: &str) -> String {
    match level {
        Level::Month => format!("{}#{bucket}", dimension.as_str()),
        _ => format!("{}#{}#{bucket}", level_code(level), dimension.as_str()),
    }
}

/// The UpdateItem expression adding to `count` attributes (`#m<i>` / `:m<i>`) of a rollup
/// item and naming what it is.
fn rollup_expression(count: usize) -> String {
    let adds: Vec<String> = (0..count).map(|i| format!("#m{i} :m{i}")).collect();
    format!(
        "ADD {} SET #lv = :lv, #dim = :dim, #b = :b, #g = :g",
        adds.join(", ")
    )
}

fn rollup_key_of(item: &Item) -> Option<RollupKey> {
    let level = match key_string(item, LEVEL).as_str() {
        "H" => Level::Hour,
        "D" => Level::Day,
        "M" => Level::Month,
        _ => return None,
    };
    let dim = key_string(item, DIMENSION);
    let dimension = *Dimension::ALL.iter().find(|d| d.as_str() == dim)?;
    Some(RollupKey {
        level,
        dimension,
        bucket: key_string(item, BUCKET),
        group: key_string(item, GROUP),
    })
}

impl Store {
    /// The `ADD`s of one batch's rollups, one update per item, in the batch's shard.
    pub(crate) fn rollup_updates(
        &self,
        rollups: &Rollups,
        shard: u32,
    ) -> Result<Vec<TransactWriteItem>, ApiError> {
        let mut out = Vec::with_capacity(rollups.len());
        for (key, attributes) in &rollups.0 {
            let mut names = HashMap::from([
                ("#lv".to_owned(), LEVEL.to_owned()),
                ("#dim".to_owned(), DIMENSION.to_owned()),
                ("#b".to_owned(), BUCKET.to_owned()),
                ("#g".to_owned(), GROUP.to_owned()),
            ]);
            let mut values = HashMap::from([
                (":lv".to_owned(), s(level_code(key.level))),
                (":dim".to_owned(), s(key.dimension.as_str())),
                (":b".to_owned(), s(key.bucket.clone())),
                (":g".to_owned(), s(key.group.clone())),
            ]);
            for (i, (attribute, delta)) in attributes.iter().enumerate() {
                names.insert(format!("#m{i}"), attribute.clone());
                values.insert(format!(":m{i}"), n(*delta));
            }
            let sort = format!(
                "{}#{}",
                sort_prefix(key.level, key.dimension, &key.bucket),
                key.group
            );
            let update = Update::builder()
                .table_name(&self.table)
                .key(PK, s(partition(key.level, &key.bucket, shard)))
                .key(SK, s(sort))
                .update_expression(rollup_expression(attributes.len()))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(|e| ApiError::internal("rollup update", e))?;
            out.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(out)
    }

    /// The rollups a report of `dimension` over `[from, to)` reads (see
    /// `domain::metrics::wanted`), in every shard: one Query of the months before `from`'s,
    /// one of the days of its month before its day, one per month of the hours from `from`'s
    /// UTC day to `to`; all at once. Also the number of Query requests made (pages included).
    #[tracing::instrument(skip_all, fields(dimension = dimension.as_str()))]
    pub async fn metric_readings(
        &self,
        dimension: Dimension,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<Reading>, usize), ApiError> {
        let last = to - Duration::milliseconds(1);
        let last_hour = Level::Hour.bucket(last);
        let (day, month) = (Level::Day.bucket(from), Level::Month.bucket(from));
        let hour_low = format!("{}T00", day);
        // (partition, low, high): both bounds inclusive; `$` sorts after `#`.
        let mut ranges = vec![
            (
                Level::Month,
                month.clone(),
                format!("{}#", dimension.as_str()),
                sort_prefix(Level::Month, dimension, &month),
            ),
            (
                Level::Day,
                day.clone(),
                format!("D#{}#", dimension.as_str()),
                sort_prefix(Level::Day, dimension, &day),
            ),
        ];
        let mut m = Level::Month.start(&month);
        while let Some(start) = m.filter(|s| *s <= last) {
            ranges.push((
                Level::Hour,
                Level::Month.bucket(start),
                sort_prefix(Level::Hour, dimension, &hour_low),
                format!("{}$", sort_prefix(Level::Hour, dimension, &last_hour)),
            ));
            m = start
                .checked_add_months(chrono::Months::new(1))
                .filter(|next| *next > start);
        }
        let mut reads = tokio::task::JoinSet::new();
        for (level, bucket, low, high) in ranges {
            for shard in 0..self.shards {
                let store = self.clone();
                let pk = partition(level, &bucket, shard);
                let (low, high) = (low.clone(), high.clone());
                reads.spawn(async move { store.query_between(pk, low, high).await });
            }
        }
        let mut readings = Vec::new();
        let mut requests = 0;
        while let Some(done) = reads.join_next().await {
            let result = done.map_err(|e| ApiError::internal("metrics read", e))?;
            let (items, pages) = result?;
            requests += pages;
            for item in items {
                let Some(key) = rollup_key_of(&item).filter(|k| k.dimension == dimension) else {
                    continue;
                };
                if !wanted(&key, from, to) {
                    continue;
                }
                for (attribute, value) in &item {
                    let Some(count) = value.as_n().ok().and_then(|v| v.parse::<i64>().ok()) else {
                        continue;
                    };
                    readings.extend(reading(&key, attribute, count));
                }
            }
        }
        Ok((readings, requests))
    }

    /// Every item of `pk` with a sort key between `low` and `high`, page by page; and the
    /// number of pages.
    async fn query_between(
        &self,
        pk: String,
        low: String,
        high: String,
    ) -> Result<(Vec<Item>, usize), ApiError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let mut pages = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("metrics", e))?;
            pages += 1;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => return Ok((items, pages)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DynamoDB refuses update expressions over 4 KB (moto takes any): the widest write a
    /// batch may make stays within it.
    #[test]
    fn the_widest_rollup_write_is_an_expression_dynamodb_takes() {
        use crate::domain::metrics::ATTRIBUTES_PER_WRITE_MAX;
        assert!(rollup_expression(ATTRIBUTES_PER_WRITE_MAX).len() <= 4096);
        assert!(
            rollup_expression(4 * ATTRIBUTES_PER_WRITE_MAX).len() > 4096,
            "the bound bites"
        );
    }

    #[test]
    fn sort_keys_keep_each_level_and_dimension_in_bucket_order() {
        assert_eq!(
            partition(Level::Hour, "2026-11-26T10", 3),
            "METRICS#2026-11#3"
        );
        assert_eq!(partition(Level::Day, "2026-11-26", 0), "METRICS#2026-11#0");
        assert_eq!(partition(Level::Month, "2026-11", 7), "METRICS#MONTHS#7");
        let hour = sort_prefix(Level::Hour, Dimension::Assignee, "2026-11-26T10");
        assert_eq!(hour, "H#assignee#2026-11-26T10");
        // An item of the bucket sorts after its prefix and before the prefix and `$`.
        let item = format!("{hour}#agent$7");
        assert!(hour < item && item < format!("{hour}$"));
        // Days before the 26th are below the bound of the 26th; the 26th's items are not.
        let bound = sort_prefix(Level::Day, Dimension::All, "2026-11-26");
        assert!(
            format!(
                "{}#all#0",
                sort_prefix(Level::Day, Dimension::All, "2026-11-25")
            ) < bound
        );
        assert!(format!("{bound}#all#0") > bound);
    }
}
