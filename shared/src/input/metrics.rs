//! `GET /v2/support-tickets/metrics`: the range (`from`, `to`: local dates, inclusive), the
//! zone its days are counted in (`tz`, an IANA name) and the grouping (`groupBy`), turned
//! into the UTC instants each local day spans.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::metrics::{Day, GroupBy};
use crate::error::{ApiError, FieldError};

/// The longest range a report covers.
pub const METRICS_DAYS_MAX: i64 = 366;
/// Without `from`, the range is this many days up to `to`.
pub const METRICS_DAYS_DEFAULT: i64 = 7;
/// Dates are taken from 2000 to 2099: zones had odd offsets (not whole quarter hours) long
/// before, and a year of four digits keeps the buckets sorting as text.
const FIRST_DATE: (i32, u32, u32) = (2000, 1, 1);
const LAST_DATE: (i32, u32, u32) = (2099, 12, 31);

const METRICS_PARAMS: &[&str] = &["from", "to", "tz", "groupBy"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub zone: String,
    pub group_by: Option<GroupBy>,
    /// Each local day of the range, in order.
    pub days: Vec<Day>,
}

/// Where local `date` starts in `tz`, in UTC: its midnight, or the first local time after it
/// when a clock change skips midnight.
fn day_start(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
    (0..=8).find_map(|quarters| {
        tz.from_local_datetime(&(midnight + Duration::minutes(15 * quarters)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn date(raw: &str) -> Result<NaiveDate, String> {
    let bounds = |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d);
    let parsed = (raw.len() == 10)
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .ok_or("must be a date as YYYY-MM-DD")?;
    if bounds(FIRST_DATE).is_some_and(|f| parsed < f)
        || bounds(LAST_DATE).is_some_and(|l| parsed > l)
    {
        return Err("must be from 2000-01-01 to 2099-12-31".into());
    }
    Ok(parsed)
}

impl MetricsQuery {
    /// Parses the query string pairs, `now` deciding the default range (the last
    /// [`METRICS_DAYS_DEFAULT`] days in the zone, today included).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let (params, mut errors) = super::queries::known_params(pairs, METRICS_PARAMS);
        let zone = params.get("tz").copied().unwrap_or("UTC");
        let tz = match zone.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(FieldError::new(
                    "tz",
                    "must be an IANA time zone name such as Europe/Berlin or UTC",
                ));
                None
            }
        };
        let group_by = match params.get("groupBy") {
            None => None,
            Some(raw) => match GroupBy::parse(raw) {
                Some(g) => Some(g),
                None => {
                    errors.push(FieldError::new(
                        "groupBy",
                        format!("must be one of: {}", GroupBy::NAMES),
                    ));
                    None
                }
            },
        };
        let mut parsed = |name: &str| match params.get(name).map(|raw| date(raw)) {
            Some(Ok(d)) => Some(Some(d)),
            Some(Err(m)) => {
                errors.push(FieldError::new(name, m));
                None
            }
            None => Some(None),
        };
        let (from, to) = (parsed("from"), parsed("to"));
        let today = now.with_timezone(&tz.unwrap_or(Tz::UTC)).date_naive();
        let to = to.map(|t| t.unwrap_or(today));
        let from = match (from, to) {
            (Some(Some(f)), _) => Some(f),
            (Some(None), Some(t)) => Some(t - Duration::days(METRICS_DAYS_DEFAULT - 1)),
            _ => None,
        };
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errors.push(FieldError::new("from", "must not be after to"));
            } else if (t - f).num_days() + 1 > METRICS_DAYS_MAX {
                errors.push(FieldError::new(
                    "from",
                    format!("a range covers at most {METRICS_DAYS_MAX} days"),
                ));
            }
        }
        let (Some(tz), Some(from), Some(to), true) = (tz, from, to, errors.is_empty()) else {
            return Err(ApiError::InvalidParameters(errors));
        };
        let mut days = Vec::new();
        let mut d = from;
        while d <= to {
            let next = d + Duration::days(1);
            let (Some(start), Some(end)) = (day_start(tz, d), day_start(tz, next)) else {
                return Err(ApiError::parameter(
                    "tz",
                    "has no midnight on a day of the range",
                ));
            };
            days.push(Day {
                date: d.format("%Y-%m-%d").to_string(),
                start,
                end,
            });
            d = next;
        }
        Ok(MetricsQuery {
            from,
            to,
            zone: zone.to_owned(),
            group_by,
            days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<MetricsQuery, ApiError> {
        let now = DateTime::parse_from_rfc3339("2026-11-26T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        MetricsQuery::parse(q.iter().copied(), now)
    }

    fn utc(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_are_local_midnight_to_midnight_in_utc() {
        let q = parse(&[
            ("from", "2026-03-28"),
            ("to", "2026-03-29"),
            ("tz", "Europe/Berlin"),
        ])
        .unwrap();
        assert_eq!(q.days.len(), 2);
        assert_eq!(q.days[0].start, utc("2026-03-27T23:00:00Z"));
        // Clocks go forward on the 29th: a day of 23 hours.
        assert_eq!(q.days[1].start, utc("2026-03-28T23:00:00Z"));
        assert_eq!(q.days[1].end, utc("2026-03-29T22:00:00Z"));
        let q = parse(&[
            ("from", "2026-11-26"),
            ("to", "2026-11-26"),
            ("tz", "Asia/Kolkata"),
        ])
        .unwrap();
        assert_eq!(q.days[0].start, utc("2026-11-25T18:30:00Z"));
        assert_eq!(q.days[0].end, utc("2026-11-26T18:30:00Z"));
    }

    #[test]
    fn the_default_range_is_the_last_seven_days_in_the_zone() {
        let q = parse(&[]).unwrap();
        assert_eq!(
            (q.from.to_string(), q.to.to_string()),
            ("2026-11-20".into(), "2026-11-26".into())
        );
        // 23:30 UTC is already the 27th in Tokyo.
        let q = parse(&[("tz", "Asia/Tokyo"), ("groupBy", "day")]).unwrap();
        assert_eq!(q.to.to_string(), "2026-11-27");
        assert_eq!(q.group_by, Some(GroupBy::Day));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (q, field) in [
            (vec![("tz", "Mars/Olympus")], "tz"),
            (vec![("from", "2026-13-01")], "from"),
            (vec![("to", "26-11-2026")], "to"),
            (vec![("from", "2026-11-27"), ("to", "2026-11-26")], "from"),
            (vec![("from", "2020-01-01"), ("to", "2026-11-26")], "from"),
            (vec![("from", "1999-12-31"), ("to", "2000-01-01")], "from"),
            (vec![("groupBy", "week")], "groupBy"),
            (vec![("limit", "3")], "limit"),
            (vec![("tz", "UTC"), ("tz", "UTC")], "tz"),
        ] {
            match parse(&q) {
                Err(ApiError::InvalidParameters(e)) => assert_eq!(e[0].field, field, "{q:?}"),
                other => panic!("{q:?}: {other:?}"),
            }
        }
    }
}
