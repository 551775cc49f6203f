//! Service metrics (docs/metrics.md): what each committed change of a ticket adds to the
//! rollups ([`facts`], [`Rollups`]), and how rollups read back into a report ([`report`]).
//!
//! A fact happens at a time the ticket itself records (`createdAt`, `firstResponseAt`,
//! `resolvedAt`, `closedAt`, `escalatedAt`, the rating's time, `updatedAt` for moves), so the
//! rollups do not depend on when the stream delivers a change. Rollups are kept per UTC hour
//! and group, with a count per quarter hour inside: every zone's day boundaries (whole
//! quarter hours since 1972) fall on a bucket edge. The backlog is kept as moves between
//! statuses, summed from the beginning; per UTC day and month as well, so the backlog at any
//! instant is a bounded number of reads.
//!
//! Definitions (also in docs/metrics.md):
//! - created: tickets opened; first responded: tickets given their first public agent reply;
//!   resolved / closed: moves into that status; reopened: moves out of `resolved` back to
//!   work; escalated: automatic escalations.
//! - First-response time: from creation to the first public agent reply, counted when the
//!   reply is written. Its clock is met or breached at the reply; a ticket closed without any
//!   reply counts its clock when it is closed.
//! - Resolution time: from creation to the clock's stop (resolving, or closing unresolved),
//!   time spent `pending` or `resolved` excluded; counted at every stop (a reopened ticket
//!   resolved again counts again), met or breached against the due time of the ticket's
//!   priority then.
//! - Satisfaction: the latest rating of each ticket, at its time, in the groups the ticket
//!   was in when rated.
//! - A fact counts in the groups (priority, category, assignee) the ticket has right after
//!   the change that made it.

use chrono::{DateTime, Duration, Timelike, Utc};
use std::collections::{BTreeMap, BTreeSet};

use super::ids::{Timestamp, UserId};
use super::kinds::{Category, Priority, Rating, Status, StatusCounts};
use super::sla::{self, SlaPolicy};
use super::ticket::Ticket;

/// Minutes in a rollup's smallest bucket.
pub const QUARTER_MINUTES: i64 = 15;

/// The counted facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    Created,
    FirstResponded,
    Resolved,
    Reopened,
    Closed,
    Escalated,
    FirstResponseMet,
    FirstResponseBreached,
    ResolutionMet,
    ResolutionBreached,
    Good,
    Bad,
}

impl Counter {
    pub const ALL: [Counter; 12] = [
        Counter::Created,
        Counter::FirstResponded,
        Counter::Resolved,
        Counter::Reopened,
        Counter::Closed,
        Counter::Escalated,
        Counter::FirstResponseMet,
        Counter::FirstResponseBreached,
        Counter::ResolutionMet,
        Counter::ResolutionBreached,
        Counter::Good,
        Counter::Bad,
    ];

    /// The counter's short name in a rollup item.
    const fn code(self) -> &'static str {
        match self {
            Counter::Created => "cr",
            Counter::FirstResponded => "fr",
            Counter::Resolved => "rs",
            Counter::Reopened => "ro",
            Counter::Closed => "cl",
            Counter::Escalated => "es",
            Counter::FirstResponseMet => "fm",
            Counter::FirstResponseBreached => "fb",
            Counter::ResolutionMet => "rm",
            Counter::ResolutionBreached => "rb",
            Counter::Good => "gd",
            Counter::Bad => "bd",
        }
    }

    fn index(self) -> usize {
        Counter::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    fn rated(r: Rating) -> Counter {
        match r {
            Rating::Good => Counter::Good,
            Rating::Bad => Counter::Bad,
        }
    }
}

/// What a fact adds one (or minus one) to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    Count(Counter),
    /// A first-response time, by histogram bucket.
    FirstResponseTime(usize),
    /// A resolution time, by histogram bucket.
    ResolutionTime(usize),
    /// A ticket entering (+1) or leaving (-1) a status.
    Backlog(Status),
}

impl Measure {
    /// The measure's attribute name in a rollup item (after the quarter, in hour items).
    pub fn code(&self) -> String {
        match self {
            Measure::Count(c) => c.code().to_owned(),
            Measure::FirstResponseTime(b) => format!("F{b}"),
            Measure::ResolutionTime(b) => format!("R{b}"),
            Measure::Backlog(s) => format!("B{}", s.as_str()),
        }
    }

    pub fn parse(code: &str) -> Option<Measure> {
        let bucket = |rest: &str| rest.parse::<usize>().ok().filter(|b| *b < BUCKETS);
        if let Some(c) = Counter::ALL.iter().find(|c| c.code() == code) {
            return Some(Measure::Count(*c));
        }
        if let Some(rest) = code.strip_prefix('F') {
            return bucket(rest).map(Measure::FirstResponseTime);
        }
        if let Some(rest) = code.strip_prefix('R') {
            return bucket(rest).map(Measure::ResolutionTime);
        }
        code.strip_prefix('B')?.parse().ok().map(Measure::Backlog)
    }
}

/// Buckets of the time histograms: `[0, 60 s)`, then `[e(k-1), e(k))` with
/// `e(k) = 60 s · 2^(k/4)` (rounded to the second) for k = 1..=68 (up to 91 days), and the
/// last from `e(68)` up.
pub const BUCKETS: usize = 70;

/// The upper edge of bucket `k` in seconds (`None` for the last, which is open).
pub fn bucket_upper(k: usize) -> Option<i64> {
    (k < BUCKETS - 1).then(|| (60.0 * 2f64.powf(k as f64 / 4.0)).round() as i64)
}

/// The lower edge of bucket `k` in seconds.
pub fn bucket_lower(k: usize) -> i64 {
    if k == 0 {
        0
    } else {
        bucket_upper(k - 1).unwrap_or(0)
    }
}

/// The bucket a duration falls in (negative ones in the first).
pub fn bucket_of(seconds: i64) -> usize {
    (0..BUCKETS - 1)
        .find(|&k| bucket_upper(k).is_some_and(|u| seconds < u))
        .unwrap_or(BUCKETS - 1)
}

/// What a percentile falling in bucket `k` is reported as: the geometric middle of its edges
/// (within 2^(1/8) − 1 ≈ 9.1 % of any value in it), 30 s for the first (within 30 s), the
/// lower edge for the last.
pub fn bucket_estimate(k: usize) -> i64 {
    match (k, bucket_upper(k)) {
        (0, _) => 30,
        (_, Some(upper)) => ((bucket_lower(k) as f64) * (upper as f64)).sqrt().round() as i64,
        (_, None) => bucket_lower(k),
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of a histogram, as its bucket's estimate;
/// none when it is empty.
pub fn percentile(histogram: &[i64], p: u32) -> Option<i64> {
    let n: i64 = histogram.iter().map(|c| (*c).max(0)).sum();
    if n <= 0 {
        return None;
    }
    let rank = ((i64::from(p) * n) + 99) / 100;
    let mut seen = 0;
    for (k, c) in histogram.iter().enumerate() {
        seen += (*c).max(0);
        if seen >= rank.max(1) {
            return Some(bucket_estimate(k));
        }
    }
    None
}

/// The ways the rollups are grouped; `All` holds the totals (and the days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    All,
    Priority,
    Category,
    Assignee,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::All,
        Dimension::Priority,
        Dimension::Category,
        Dimension::Assignee,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Priority => "priority",
            Dimension::Category => "category",
            Dimension::Assignee => "assignee",
        }
    }
}

/// The group of unassigned tickets (user ids of agents are never this: see `UNASSIGNED`).
pub const UNASSIGNED: &str = "none";
/// The one group of [`Dimension::All`].
pub const ALL_GROUP: &str = "all";

/// The groups a ticket is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Groups {
    pub priority: Priority,
    pub category: Category,
    pub assignee: Option<UserId>,
}

impl Groups {
    pub fn of(t: &Ticket) -> Self {
        Groups {
            priority: t.priority,
            category: t.category,
            assignee: t.assigned_to.clone(),
        }
    }

    pub fn group(&self, d: Dimension) -> String {
        match d {
            Dimension::All => ALL_GROUP.to_owned(),
            Dimension::Priority => self.priority.as_str().to_owned(),
            Dimension::Category => self.category.as_str().to_owned(),
            Dimension::Assignee => self
                .assignee
                .as_ref()
                .map_or(UNASSIGNED.to_owned(), |a| a.as_str().to_owned()),
        }
    }
}

/// One thing that happened to a ticket, at a time, in its groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    pub at: DateTime<Utc>,
    pub groups: Groups,
    pub measure: Measure,
    pub n: i64,
}

fn time(t: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(Timestamp::time)
}

fn stopped(t: &Ticket) -> Option<&Timestamp> {
    t.resolved_at.as_ref().or(t.closed_at.as_ref())
}

/// What one committed change (the ticket before and after it; none for a new or a deleted
/// ticket) adds to the metrics. `committed` dates a deletion, which the ticket cannot.
pub fn facts(
    before: Option<&Ticket>,
    after: Option<&Ticket>,
    committed: DateTime<Utc>,
    policy: &SlaPolicy,
) -> Vec<Fact> {
    let mut out = Vec::new();
    // A deleted ticket is in no backlog; its history (created, answered, resolved, rated)
    // stays counted, and a restore brings it back without creating it again.
    let was = before
        .filter(|b| !b.is_deleted())
        .map(|b| (b.status, Groups::of(b)));
    let is = after
        .filter(|a| !a.is_deleted())
        .map(|a| (a.status, Groups::of(a)));
    if was != is {
        let moved = match (before, after) {
            (None, Some(a)) => time(Some(&a.created_at)),
            (Some(_), Some(a)) => time(Some(&a.updated_at)),
            _ => None,
        }
        .unwrap_or(committed);
        for ((status, groups), n) in was.into_iter().map(|w| (w, -1)).chain(is.map(|i| (i, 1))) {
            out.push(Fact {
                at: moved,
                groups,
                measure: Measure::Backlog(status),
                n,
            });
        }
    }
    let Some(a) = after.filter(|a| !a.is_deleted()) else {
        return out;
    };
    let groups = Groups::of(a);
    let mut count = |at: Option<DateTime<Utc>>, measure: Measure| {
        if let Some(at) = at {
            out.push(Fact {
                at,
                groups: groups.clone(),
                measure,
                n: 1,
            });
        }
    };
    if before.is_none() {
        count(time(Some(&a.created_at)), Measure::Count(Counter::Created));
    }
    // The first-response clock: at the first reply, or at closing without one.
    let first_clock_at = if before.is_none_or(|b| b.first_response_at.is_none()) {
        time(a.first_response_at.as_ref())
    } else {
        None
    };
    if let Some(at) = first_clock_at {
        count(Some(at), Measure::Count(Counter::FirstResponded));
        if let Some(c) = sla::clocks(a, policy, at) {
            let seconds = c.first_response_seconds.unwrap_or(0);
            count(Some(at), Measure::FirstResponseTime(bucket_of(seconds)));
        }
    }
    let from = before.map(|b| b.status);
    let closed_unanswered =
        from != Some(Status::Closed) && a.status == Status::Closed && a.first_response_at.is_none();
    let first_judged = first_clock_at.or_else(|| {
        closed_unanswered
            .then(|| time(a.closed_at.as_ref()))
            .flatten()
    });
    if let Some(at) = first_judged {
        if let Some(c) = sla::clocks(a, policy, at) {
            let met = if c.first_response_breached {
                Counter::FirstResponseBreached
            } else {
                Counter::FirstResponseMet
            };
            count(Some(at), Measure::Count(met));
        }
    }
    if from != Some(a.status) {
        match a.status {
            Status::Resolved => count(
                time(a.resolved_at.as_ref()),
                Measure::Count(Counter::Resolved),
            ),
            Status::Closed => count(time(a.closed_at.as_ref()), Measure::Count(Counter::Closed)),
            Status::Open | Status::InProgress if from == Some(Status::Resolved) => {
                count(time(Some(&a.updated_at)), Measure::Count(Counter::Reopened))
            }
            _ => {}
        }
    }
    // The resolution clock stops.
    if before.is_none_or(|b| stopped(b).is_none()) {
        if let Some(at) = time(stopped(a)) {
            if let Some(c) = sla::clocks(a, policy, at) {
                let seconds = c.resolution_seconds.unwrap_or(0);
                count(Some(at), Measure::ResolutionTime(bucket_of(seconds)));
                let met = if c.resolution_breached {
                    Counter::ResolutionBreached
                } else {
                    Counter::ResolutionMet
                };
                count(Some(at), Measure::Count(met));
            }
        }
    }
    if before.is_none_or(|b| b.escalated_at.is_none()) {
        count(
            time(a.escalated_at.as_ref()),
            Measure::Count(Counter::Escalated),
        );
    }
    let old = before.and_then(|b| b.satisfaction.as_ref());
    let new = a.satisfaction.as_ref();
    if old != new {
        for (s, n) in old.map(|o| (o, -1)).into_iter().chain(new.map(|s| (s, 1))) {
            if let Some(at) = s.rated_at.time() {
                out.push(Fact {
                    at,
                    groups: Groups {
                        priority: s.rated_priority,
                        category: s.rated_category,
                        assignee: s.rated_assignee.clone(),
                    },
                    measure: Measure::Count(Counter::rated(s.rating)),
                    n,
                });
            }
        }
    }
    out
}

/// How long a rollup item's bucket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// One UTC hour, its counts per quarter (every measure).
    Hour,
    /// One UTC day (backlog moves only).
    Day,
    /// One UTC month (backlog moves only).
    Month,
}

impl Level {
    /// The bucket an instant falls in, as text that sorts as time does.
    pub fn bucket(self, at: DateTime<Utc>) -> String {
        match self {
            Level::Hour => at.format("%Y-%m-%dT%H").to_string(),
            Level::Day => at.format("%Y-%m-%d").to_string(),
            Level::Month => at.format("%Y-%m").to_string(),
        }
    }

    /// Where a bucket starts.
    pub fn start(self, bucket: &str) -> Option<DateTime<Utc>> {
        let text = match self {
            Level::Hour => format!("{bucket}:00:00Z"),
            Level::Day => format!("{bucket}T00:00:00Z"),
            Level::Month => format!("{bucket}-01T00:00:00Z"),
        };
        DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// One rollup item: a bucket of one level, for one group of one dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub level: Level,
    pub dimension: Dimension,
    pub bucket: String,
    pub group: String,
}

/// The most attributes one rollup item's write adds to: its UpdateItem expression stays well
/// within DynamoDB's 4 KB (moto takes any length; `store::metrics` tests the bound). A batch
/// of changes is cut short before any item would pass it.
pub const ATTRIBUTES_PER_WRITE_MAX: usize = 150;

/// What a batch of changes adds to each rollup item, by attribute (zeros left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollups(pub BTreeMap<RollupKey, BTreeMap<String, i64>>);

impl Rollups {
    pub fn add(&mut self, fact: &Fact) {
        let code = fact.measure.code();
        let quarter = i64::from(fact.at.minute()) / QUARTER_MINUTES;
        let levels: &[Level] = match fact.measure {
            Measure::Backlog(_) => &[Level::Hour, Level::Day, Level::Month],
            _ => &[Level::Hour],
        };
        for &dimension in &Dimension::ALL {
            for &level in levels {
                let key = RollupKey {
                    level,
                    dimension,
                    bucket: level.bucket(fact.at),
                    group: fact.groups.group(dimension),
                };
                let attribute = match level {
                    Level::Hour => format!("{quarter}{code}"),
                    _ => code.clone(),
                };
                let item = self.0.entry(key.clone()).or_default();
                *item.entry(attribute.clone()).or_default() += fact.n;
                if item[&attribute] == 0 {
                    item.remove(&attribute);
                    if item.is_empty() {
                        self.0.remove(&key);
                    }
                }
            }
        }
    }

    /// The items a write of these rollups touches.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The most attributes one of its items adds to (what its UpdateItem's expression
    /// names: DynamoDB refuses expressions over 4 KB, see [`ATTRIBUTES_PER_WRITE_MAX`]).
    pub fn widest(&self) -> usize {
        self.0.values().map(BTreeMap::len).max().unwrap_or(0)
    }

    /// Adds another batch's rollups to these.
    pub fn merge(&mut self, other: Rollups) {
        for (key, attributes) in other.0 {
            let item = self.0.entry(key.clone()).or_default();
            for (attribute, n) in attributes {
                *item.entry(attribute).or_default() += n;
            }
            item.retain(|_, n| *n != 0);
            if item.is_empty() {
                self.0.remove(&key);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where a report over `[from, to)` reads the backlog up to `from` and the facts in it:
/// month items before `from`'s month, day items of that month before `from`'s day, hour
/// items from `from`'s UTC day until `to`. Bounded: one Query of the months, one of the
/// days, one per month partition of hours (and a page per MB).
pub fn wanted(key: &RollupKey, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let Some(start) = key.level.start(&key.bucket) else {
        return false;
    };
    let day = Level::Day.start(&Level::Day.bucket(from));
    let month = Level::Month.start(&Level::Month.bucket(from));
    match (key.level, day, month) {
        (Level::Month, _, Some(month)) => start < month,
        (Level::Day, Some(day), Some(month)) => month <= start && start < day,
        (Level::Hour, Some(day), _) => day <= start && start < to,
        _ => false,
    }
}

/// One rollup attribute read back: its measure at the start of its quarter (hour items) or
/// of its day or month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub group: String,
    pub measure: Measure,
    pub n: i64,
}

/// Reads one attribute of a rollup item back (none for the item's other attributes).
pub fn reading(key: &RollupKey, attribute: &str, n: i64) -> Option<Reading> {
    let start = key.level.start(&key.bucket)?;
    let (at, code) = match key.level {
        Level::Hour => {
            let quarter = attribute.get(..1)?.parse::<i64>().ok().filter(|q| *q < 4)?;
            (
                start + Duration::minutes(quarter * QUARTER_MINUTES),
                attribute.get(1..)?,
            )
        }
        _ => (start, attribute),
    };
    let measure = Measure::parse(code)?;
    if key.level != Level::Hour && !matches!(measure, Measure::Backlog(_)) {
        return None;
    }
    Some(Reading {
        at,
        group: key.group.clone(),
        measure,
        n,
    })
}

/// What a report is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    Priority,
    Category,
    Assignee,
}

impl GroupBy {
    pub const NAMES: &'static str = "day, priority, category, assignee";

    pub fn parse(raw: &str) -> Option<GroupBy> {
        match raw {
            "day" => Some(GroupBy::Day),
            "priority" => Some(GroupBy::Priority),
            "category" => Some(GroupBy::Category),
            "assignee" => Some(GroupBy::Assignee),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Priority => "priority",
            GroupBy::Category => "category",
            GroupBy::Assignee => "assignee",
        }
    }

    /// The rollups a report of this grouping reads.
    pub fn dimension(grouping: Option<GroupBy>) -> Dimension {
        match grouping {
            None | Some(GroupBy::Day) => Dimension::All,
            Some(GroupBy::Priority) => Dimension::Priority,
            Some(GroupBy::Category) => Dimension::Category,
            Some(GroupBy::Assignee) => Dimension::Assignee,
        }
    }
}

/// One local day of a report: its date and the UTC instants it spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    pub date: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Sums of the measures over a range, for one group or all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    counts: [i64; Counter::ALL.len()],
    pub first_response: Vec<i64>,
    pub resolution: Vec<i64>,
    /// Tickets per status: moves while summing, the backlog once the report is made.
    pub backlog: StatusCounts,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            counts: [0; Counter::ALL.len()],
            first_response: vec![0; BUCKETS],
            resolution: vec![0; BUCKETS],
            backlog: StatusCounts::default(),
        }
    }
}

impl Tally {
    fn add(&mut self, measure: Measure, n: i64) {
        match measure {
            Measure::Count(c) => self.counts[c.index()] += n,
            Measure::FirstResponseTime(b) => self.first_response[b] += n,
            Measure::ResolutionTime(b) => self.resolution[b] += n,
            Measure::Backlog(s) => self.backlog.add(s, n),
        }
    }

    fn merge(&mut self, other: &Tally) {
        for (i, n) in other.counts.iter().enumerate() {
            self.counts[i] += n;
        }
        for (a, b) in self.first_response.iter_mut().zip(&other.first_response) {
            *a += b;
        }
        for (a, b) in self.resolution.iter_mut().zip(&other.resolution) {
            *a += b;
        }
        self.backlog.add_all(&other.backlog);
    }

    pub fn count(&self, c: Counter) -> i64 {
        self.counts[c.index()]
    }

    /// `part` of `part + other`, none when both are zero.
    pub fn share(&self, part: Counter, other: Counter) -> Option<f64> {
        let (p, o) = (self.count(part), self.count(other));
        (p + o > 0).then(|| p as f64 / (p + o) as f64)
    }
}

/// A report's rows (one per day or group; none without a grouping) and totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<(String, Tally)>,
    pub totals: Tally,
}

/// Sums readings into a report over `days` (consecutive, the range is from the first's start
/// to the last's end). Readings before the range carry only the backlog up to its start;
/// readings after it are left out. The backlog of a day row is the one at the day's end; of
/// a group row and of the totals, the one at the range's end.
pub fn report(readings: &[Reading], days: &[Day], grouping: Option<GroupBy>) -> Report {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Report {
            rows: Vec::new(),
            totals: Tally::default(),
        };
    };
    let (from, to) = (first.start, last.end);
    let mut prefix: BTreeMap<String, StatusCounts> = BTreeMap::new();
    let mut rows: BTreeMap<String, Tally> = BTreeMap::new();
    let row_of = |r: &Reading| -> Option<String> {
        match grouping {
            Some(GroupBy::Day) => days
                .iter()
                .find(|d| d.start <= r.at && r.at < d.end)
                .map(|d| d.date.clone()),
            _ => Some(r.group.clone()),
        }
    };
    for r in readings {
        if r.at < from {
            if let Measure::Backlog(s) = r.measure {
                prefix.entry(r.group.clone()).or_default().add(s, r.n);
            }
        } else if r.at < to {
            if let Some(row) = row_of(r) {
                rows.entry(row).or_default().add(r.measure, r.n);
            }
        }
    }
    let names: Vec<String> = match grouping {
        None => Vec::new(),
        Some(GroupBy::Day) => days.iter().map(|d| d.date.clone()).collect(),
        Some(GroupBy::Priority) => Priority::ALL.iter().map(|p| p.to_string()).collect(),
        Some(GroupBy::Category) => Category::ALL.iter().map(|c| c.to_string()).collect(),
        Some(GroupBy::Assignee) => {
            let mut seen: BTreeSet<String> = rows.keys().cloned().collect();
            seen.extend(
                prefix
                    .iter()
                    .filter(|(_, c)| **c != StatusCounts::default())
                    .map(|(g, _)| g.clone()),
            );
            seen.into_iter().collect()
        }
    };
    let mut totals = Tally::default();
    for t in rows.values() {
        totals.merge(t);
    }
    let mut running = StatusCounts::default();
    for c in prefix.values() {
        running.add_all(c);
    }
    totals.backlog.add_all(&running);
    let out = names
        .into_iter()
        .map(|name| {
            let mut t = rows.remove(&name).unwrap_or_default();
            // Moves during the row on top of the backlog before it: the day's end (days run
            // on), or the range's end for the group.
            let before = if grouping == Some(GroupBy::Day) {
                &mut running
            } else {
                prefix.entry(name.clone()).or_default()
            };
            before.add_all(&t.backlog);
            t.backlog = *before;
            (name, t)
        })
        .collect();
    Report { rows: out, totals }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{agent, alice, at};
    use crate::domain::rules::{plan_rating, plan_status, plan_thread, plan_update};
    use crate::domain::{AddThread, ChangeStatus, Rate, UpdateTicket};

    fn t(s: &str) -> DateTime<Utc> {
        at(s).time().unwrap()
    }

    fn day(date: &str, start: &str, end: &str) -> Day {
        Day {
            date: date.into(),
            start: t(start),
            end: t(end),
        }
    }

    /// Folds each change's facts into rollups and reads back those a grouping reads.
    fn readings(
        changes: &[(Option<Ticket>, Option<Ticket>)],
        grouping: Option<GroupBy>,
        days: &[Day],
    ) -> Vec<Reading> {
        let (from, to) = (days[0].start, days[days.len() - 1].end);
        let mut rollups = Rollups::default();
        for (b, a) in changes {
            let committed = t("2030-01-01T00:00:00.000Z");
            for f in facts(b.as_ref(), a.as_ref(), committed, &SlaPolicy::default()) {
                rollups.add(&f);
            }
        }
        rollups
            .0
            .iter()
            .filter(|(k, _)| k.dimension == GroupBy::dimension(grouping) && wanted(k, from, to))
            .flat_map(|(k, attrs)| attrs.iter().filter_map(|(a, n)| reading(k, a, *n)))
            .collect()
    }

    fn run(grouping: Option<GroupBy>, days: &[Day]) -> Report {
        report(&readings(&lifecycle(), grouping, days), days, grouping)
    }

    fn status(t: &Ticket, by: &crate::domain::Caller, to: Status, when: &str) -> Ticket {
        let input = ChangeStatus {
            status: to,
            resolution: (to == Status::Resolved).then(|| "fixed".to_owned()),
        };
        plan_status(t, by, &input, &at(when))
            .unwrap()
            .unwrap()
            .after
    }

    /// One ticket's life in changes: created 23:50 on the 25th (UTC), answered, waiting on
    /// the customer, resolved, reopened, resolved again, closed, rated and re-rated.
    fn lifecycle() -> Vec<(Option<Ticket>, Option<Ticket>)> {
        let mut input = crate::domain::fixtures::new_ticket(Priority::High);
        input.category = Category::Billing;
        let created = Ticket::open(input, alice().sub, &at("2026-11-25T23:50:00.000Z"));
        let reply = AddThread {
            message: "on it".into(),
            internal: false,
            attachments: vec![],
        };
        let mut answered = plan_thread(&created, &agent(), &reply, &at("2026-11-26T00:20:00.000Z"))
            .unwrap()
            .after;
        answered.first_response_at = Some(at("2026-11-26T00:20:00.000Z"));
        let assign = UpdateTicket {
            assigned_to: Some(Some(agent().sub)),
            ..Default::default()
        };
        let assigned = plan_update(
            &answered,
            &agent(),
            &assign,
            &at("2026-11-26T00:30:00.000Z"),
        )
        .unwrap()
        .unwrap()
        .after;
        let pending = status(
            &assigned,
            &agent(),
            Status::Pending,
            "2026-11-26T01:00:00.000Z",
        );
        let open = status(&pending, &agent(), Status::Open, "2026-11-26T03:00:00.000Z");
        let resolved = status(
            &open,
            &agent(),
            Status::Resolved,
            "2026-11-26T04:00:00.000Z",
        );
        let reopened = status(
            &resolved,
            &alice(),
            Status::Open,
            "2026-11-26T05:00:00.000Z",
        );
        let again = status(
            &reopened,
            &agent(),
            Status::Resolved,
            "2026-11-27T02:00:00.000Z",
        );
        let rate = |t: &Ticket, r: Rating, when: &str| {
            let input = Rate {
                rating: r,
                comment: None,
            };
            plan_rating(t, &alice(), &input, &at(when), Duration::days(7))
                .unwrap()
                .unwrap()
                .after
        };
        let rated = rate(&again, Rating::Bad, "2026-11-27T03:00:00.000Z");
        let rerated = rate(&rated, Rating::Good, "2026-11-27T04:00:00.000Z");
        let closed = status(
            &rerated,
            &alice(),
            Status::Closed,
            "2026-11-28T00:00:00.000Z",
        );
        let states = [
            created, answered, assigned, pending, open, resolved, reopened, again, rated, rerated,
            closed,
        ];
        let mut changes = vec![(None, Some(states[0].clone()))];
        for w in states.windows(2) {
            changes.push((Some(w[0].clone()), Some(w[1].clone())));
        }
        changes
    }

    #[test]
    fn a_lifecycle_counts_once_per_fact_in_the_groups_it_had() {
        let days = [
            day(
                "2026-11-25",
                "2026-11-25T00:00:00.000Z",
                "2026-11-26T00:00:00.000Z",
            ),
            day(
                "2026-11-26",
                "2026-11-26T00:00:00.000Z",
                "2026-11-27T00:00:00.000Z",
            ),
            day(
                "2026-11-27",
                "2026-11-27T00:00:00.000Z",
                "2026-11-28T00:00:00.000Z",
            ),
            day(
                "2026-11-28",
                "2026-11-28T00:00:00.000Z",
                "2026-11-29T00:00:00.000Z",
            ),
        ];
        let all = run(Some(GroupBy::Day), &days);
        let totals = &all.totals;
        for (c, n) in [
            (Counter::Created, 1),
            (Counter::FirstResponded, 1),
            (Counter::Resolved, 2),
            (Counter::Reopened, 1),
            (Counter::Closed, 1),
            (Counter::Escalated, 0),
            (Counter::FirstResponseMet, 1),
            (Counter::FirstResponseBreached, 0),
            (Counter::ResolutionMet, 2),
            (Counter::ResolutionBreached, 0),
            (Counter::Good, 1),
            (Counter::Bad, 0),
        ] {
            assert_eq!(totals.count(c), n, "{c:?}");
        }
        // First response after 30 min; resolutions after 4 h 10 min less 2 h pending, and
        // after 26 h 10 min less 2 h pending and 1 h resolved (high: 24 h, met).
        assert_eq!(
            percentile(&totals.first_response, 50),
            Some(bucket_estimate(bucket_of(1800)))
        );
        assert_eq!(
            percentile(&totals.resolution, 50),
            Some(bucket_estimate(bucket_of(7800)))
        );
        assert_eq!(
            percentile(&totals.resolution, 90),
            Some(bucket_estimate(bucket_of(83400)))
        );
        assert_eq!(totals.backlog.closed, 1);
        assert_eq!(totals.backlog.nonzero(), vec![(Status::Closed, 1)]);
        let rows: Vec<_> = all
            .rows
            .iter()
            .map(|(d, t)| (d.as_str(), t.backlog))
            .collect();
        assert_eq!(rows[0].1.open, 1, "open at the end of the 25th");
        assert_eq!(rows[1].1.open, 1, "reopened on the 26th");
        assert_eq!(rows[2].1.resolved, 1);
        assert_eq!(rows[3].1.nonzero(), vec![(Status::Closed, 1)]);
        assert_eq!(all.rows[0].1.count(Counter::Created), 1);
        assert_eq!(
            all.rows[2].1.count(Counter::Good),
            1,
            "the latest rating only"
        );

        // Grouped by assignee: created unassigned, everything after it for agent-7, and the
        // backlog moved with the assignment.
        let by = run(Some(GroupBy::Assignee), &days);
        let names: Vec<_> = by.rows.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, vec!["agent-7", "none"]);
        assert_eq!(by.rows[1].1.count(Counter::Created), 1);
        assert_eq!(by.rows[1].1.count(Counter::FirstResponded), 1);
        assert_eq!(by.rows[1].1.backlog, StatusCounts::default());
        assert_eq!(by.rows[0].1.count(Counter::Resolved), 2);
        assert_eq!(by.rows[0].1.backlog.closed, 1);
        assert_eq!(by.totals, all.totals);
        let by = run(Some(GroupBy::Category), &days);
        assert_eq!(by.rows.len(), Category::ALL.len());
        assert_eq!(by.rows[1].0, "billing");
        assert_eq!(by.rows[1].1.count(Counter::Created), 1);
    }

    #[test]
    fn a_later_range_starts_from_the_backlog_before_it() {
        let days = [day(
            "2026-11-27",
            "2026-11-27T00:00:00.000Z",
            "2026-11-28T00:00:00.000Z",
        )];
        let rep = run(None, &days);
        assert!(rep.rows.is_empty());
        assert_eq!(rep.totals.count(Counter::Created), 0);
        assert_eq!(rep.totals.count(Counter::Resolved), 1);
        assert_eq!(rep.totals.backlog.nonzero(), vec![(Status::Resolved, 1)]);
        // A zone's day (UTC+5:30): 26th 18:30 to 27th 18:30 UTC.
        let days = [day(
            "2026-11-27",
            "2026-11-26T18:30:00.000Z",
            "2026-11-27T18:30:00.000Z",
        )];
        let rep = run(None, &days);
        assert_eq!(rep.totals.count(Counter::Resolved), 1);
        assert_eq!(rep.totals.count(Counter::Good), 1);
        assert_eq!(rep.totals.backlog.nonzero(), vec![(Status::Resolved, 1)]);
        // A day from 04:00 UTC (midnight at UTC-4) holds the resolution of 04:00; one from
        // 04:15 UTC does not: quarter hours are told apart.
        let days = [day(
            "2026-11-26",
            "2026-11-26T04:00:00.000Z",
            "2026-11-27T04:00:00.000Z",
        )];
        assert_eq!(run(None, &days).totals.count(Counter::Resolved), 2);
        let days = [day(
            "2026-11-26",
            "2026-11-26T04:15:00.000Z",
            "2026-11-27T04:15:00.000Z",
        )];
        let rep = run(None, &days);
        assert_eq!(rep.totals.count(Counter::Resolved), 1);
        assert_eq!(rep.totals.backlog.nonzero(), vec![(Status::Resolved, 1)]);
    }

    #[test]
    fn histogram_buckets_bound_the_error_of_percentiles() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(59), 0);
        assert_eq!(bucket_of(60), 1);
        assert_eq!(bucket_upper(4), Some(120));
        assert_eq!(bucket_of(119), 4);
        assert_eq!(bucket_of(120), 5);
        assert_eq!(bucket_upper(68), Some(60 << 17));
        assert_eq!(bucket_of(i64::MAX), BUCKETS - 1);
        for seconds in [60, 61, 100, 1000, 3599, 3600, 86_400, 1_000_000, 7_000_000] {
            let estimate = bucket_estimate(bucket_of(seconds)) as f64;
            let error = (estimate - seconds as f64).abs() / seconds as f64;
            assert!(
                error <= 2f64.powf(0.125) - 1.0 + 1e-3,
                "{seconds}: {estimate}"
            );
        }
        let mut h = vec![0; BUCKETS];
        h[bucket_of(100)] = 9;
        h[bucket_of(10_000)] = 1;
        assert_eq!(percentile(&h, 50), Some(bucket_estimate(bucket_of(100))));
        assert_eq!(percentile(&h, 90), Some(bucket_estimate(bucket_of(100))));
        assert_eq!(percentile(&h, 91), Some(bucket_estimate(bucket_of(10_000))));
        assert_eq!(percentile(&vec![0; BUCKETS], 50), None);
    }

    #[test]
    fn measures_and_rollup_attributes_round_trip() {
        for m in [
            Measure::Count(Counter::Escalated),
            Measure::FirstResponseTime(12),
            Measure::ResolutionTime(69),
            Measure::Backlog(Status::InProgress),
        ] {
            assert_eq!(Measure::parse(&m.code()), Some(m));
        }
        assert_eq!(Measure::parse("R70"), None);
        assert_eq!(Measure::parse("g"), None);
        let key = RollupKey {
            level: Level::Hour,
            dimension: Dimension::All,
            bucket: "2026-11-26T10".into(),
            group: ALL_GROUP.into(),
        };
        let r = reading(&key, "3cr", 2).unwrap();
        assert_eq!(r.at, t("2026-11-26T10:45:00.000Z"));
        assert_eq!(reading(&key, "4cr", 2), None);
        assert_eq!(reading(&key, "PK", 2), None);
    }

    #[test]
    fn a_deleted_ticket_leaves_the_backlog_and_an_escalation_counts() {
        let mut t0 = crate::domain::fixtures::ticket(Status::Open);
        let mut t1 = t0.clone();
        t1.escalated_at = Some(at("2026-11-25T09:00:00.000Z"));
        t1.priority = Priority::High;
        t1.updated_at = at("2026-11-25T09:00:00.000Z");
        let f = facts(
            Some(&t0),
            Some(&t1),
            t("2030-01-01T00:00:00.000Z"),
            &SlaPolicy::default(),
        );
        assert!(f
            .iter()
            .any(|f| f.measure == Measure::Count(Counter::Escalated)));
        t0.status = Status::Pending;
        let gone = facts(
            Some(&t0),
            None,
            t("2026-12-01T00:00:00.000Z"),
            &SlaPolicy::default(),
        );
        assert_eq!(
            gone,
            vec![Fact {
                at: t("2026-12-01T00:00:00.000Z"),
                groups: Groups::of(&t0),
                measure: Measure::Backlog(Status::Pending),
                n: -1
            }]
        );
    }

    /// A deleted ticket leaves the backlog when it is deleted (its history stays counted);
    /// restored, it comes back without being counted as created again.
    #[test]
    fn a_soft_deleted_ticket_leaves_the_backlog_and_a_restore_creates_nothing() {
        let live = crate::domain::fixtures::ticket(Status::Open);
        let mut deleted = live.clone();
        deleted.deletion = Some(crate::domain::Deletion {
            deleted_at: at("2026-11-26T00:00:00.000Z"),
            deleted_by: crate::domain::UserId::parse("root").unwrap(),
            purge_after: at("2026-12-03T00:00:00.000Z"),
        });
        deleted.updated_at = at("2026-11-26T00:00:00.000Z");
        let policy = SlaPolicy::default();
        let committed = t("2030-01-01T00:00:00.000Z");
        let out = facts(Some(&live), Some(&deleted), committed, &policy);
        assert_eq!(
            out.iter()
                .map(|f| (f.measure, f.n, f.at))
                .collect::<Vec<_>>(),
            [(
                Measure::Backlog(Status::Open),
                -1,
                t("2026-11-26T00:00:00.000Z")
            )]
        );
        let mut restored = live.clone();
        restored.updated_at = at("2026-11-27T00:00:00.000Z");
        let back = facts(Some(&deleted), Some(&restored), committed, &policy);
        assert_eq!(
            back.iter().map(|f| (f.measure, f.n)).collect::<Vec<_>>(),
            [(Measure::Backlog(Status::Open), 1)],
            "back in the backlog, not created again"
        );
        assert!(
            facts(Some(&deleted), None, committed, &policy).is_empty(),
            "purged: nothing"
        );
    }
}
