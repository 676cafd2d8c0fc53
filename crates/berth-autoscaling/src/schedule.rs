//! Scheduled actions' schedules, pure: `at(yyyy-mm-ddThh:mm:ss)`,
//! `rate(N minute|minutes|hour|hours|day|days)` and
//! `cron(minutes hours day-of-month month day-of-week year)`, in a time
//! zone, and when one runs next.
//!
//! Time zones: any IANA name (`America/New_York`, `Europe/Paris`,
//! `Etc/GMT+5` …) from the tz database bundled with the binary (jiff's
//! copy, so the host's tzdata does not matter), `UTC` when none is given.
//! A wall-clock time a daylight-saving change skips runs at the same
//! distance after the change (02:30 on a spring-forward night of New York
//! is 03:30 EDT); one it repeats runs once, at its first occurrence. Under
//! `--time-scale N` a `rate(…)` interval is scaled as cooldowns are;
//! `at(…)` and `cron(…)` name wall-clock times and are not.

use jiff::Timestamp;
use jiff::civil::{self, DateTime};
use jiff::tz::TimeZone;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Once, at this epoch second.
    At(i64),
    /// Every so many AWS seconds.
    Rate(i64),
    Cron(Box<Cron>),
}

/// A cron expression's allowed values per field.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// `None`: `?` (the day of week decides).
    days_of_month: Option<Vec<bool>>,
    months: Vec<bool>,
    /// 1 = Sunday … 7 = Saturday; `None`: `?`.
    days_of_week: Option<Vec<bool>>,
    /// 1970..=2199, offset by 1970; `None`: every year.
    years: Option<Vec<bool>>,
    zone: TimeZone,
}

/// The time zone a scheduled action names (none: UTC).
pub fn zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(n) => TimeZone::get(n).map_err(|_| {
            format!("Time zone '{n}' is not a time zone name of the IANA database (such as UTC or America/New_York).")
        }),
    }
}

/// The instant a wall-clock time names in `zone` (skipped times move
/// forward by the gap, repeated ones take their first occurrence).
fn instant(zone: &TimeZone, dt: DateTime) -> Option<i64> {
    let z = zone.to_ambiguous_zoned_datetime(dt).compatible().ok()?;
    Some(z.timestamp().as_second())
}

fn inner<'a>(expr: &'a str, name: &str) -> Option<&'a str> {
    expr.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

/// Parses a schedule in the time zone `zone`.
pub fn parse(expr: &str, zone_name: Option<&str>) -> Result<Schedule, String> {
    let tz = zone(zone_name)?;
    if let Some(at) = inner(expr, "at") {
        return parse_at(at, &tz).map(Schedule::At);
    }
    if let Some(rate) = inner(expr, "rate") {
        return parse_rate(rate).map(Schedule::Rate);
    }
    if let Some(cron) = inner(expr, "cron") {
        return parse_cron(cron, tz).map(|c| Schedule::Cron(Box::new(c)));
    }
    Err(format!(
        "Unsupported schedule expression '{expr}': use at(yyyy-mm-ddThh:mm:ss), rate(value unit) or \
         cron(fields)."
    ))
}

fn parse_at(s: &str, tz: &TimeZone) -> Result<i64, String> {
    let bad = || format!("Invalid at expression 'at({s})': the format is at(yyyy-mm-ddThh:mm:ss).");
    let (date, clock) = s.split_once('T').ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || t.len() != 3 || d[0].len() != 4 {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<i8>().map_err(|_| bad());
    let year: i16 = d[0].parse().map_err(|_| bad())?;
    let date = civil::Date::new(year, num(d[1])?, num(d[2])?).map_err(|_| bad())?;
    let time = civil::Time::new(num(t[0])?, num(t[1])?, num(t[2])?, 0).map_err(|_| bad())?;
    instant(tz, date.to_datetime(time)).ok_or_else(bad)
}

fn parse_rate(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "Invalid rate expression 'rate({s})': the format is rate(value unit), unit minute(s), hour(s) or day(s)."
        )
    };
    let (value, unit) = s.trim().split_once(' ').ok_or_else(bad)?;
    let n: i64 = value.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?;
    let secs = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    Ok(n * secs)
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field: `*`, values, `a-b` ranges, `a,b` lists and `/step`s, over
/// `lo..=hi` (names allowed for months and days of week).
fn field(s: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let value = |v: &str| -> Result<u32, String> {
        let upper = v.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(lo + i as u32);
        }
        v.parse::<u32>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| format!("'{v}' is not a value between {lo} and {hi}"))
    };
    let mut allowed = vec![false; hi as usize + 1];
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("'{st}' is not a step"))?,
            ),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a > b {
            return Err(format!("the range '{range}' is backwards"));
        }
        let mut v = a;
        while v <= b {
            allowed[v as usize] = true;
            v += step;
        }
    }
    Ok(allowed)
}

fn parse_cron(s: &str, zone: TimeZone) -> Result<Cron, String> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    let bad = |why: String| format!("Invalid cron expression 'cron({s})': {why}.");
    if fields.len() != 6 {
        return Err(bad(
            "it needs six fields: minutes hours day-of-month month day-of-week year".into(),
        ));
    }
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err(bad("exactly one of day-of-month and day-of-week must be '?'".into()));
    }
    Ok(Cron {
        minutes: field(fields[0], 0, 59, &[]).map_err(bad)?,
        hours: field(fields[1], 0, 23, &[]).map_err(bad)?,
        days_of_month: (dom != "?").then(|| field(dom, 1, 31, &[])).transpose().map_err(bad)?,
        months: field(fields[3], 1, 12, &MONTHS).map_err(bad)?,
        days_of_week: (dow != "?").then(|| field(dow, 1, 7, &DAYS)).transpose().map_err(bad)?,
        years: (fields[5] != "*")
            .then(|| field(fields[5], 1970, 2199, &[]))
            .transpose()
            .map_err(bad)?,
        zone,
    })
}

impl Cron {
    /// The first minute strictly after `after` (epoch seconds) it names,
    /// within about five years.
    fn next_after(&self, after: i64) -> Option<i64> {
        let start = Timestamp::from_second(after).ok()?;
        // The day before too: a skipped time of that day may land after
        // `after`.
        let mut day = self.zone.to_datetime(start).date().yesterday().ok()?;
        for _ in 0..(5 * 366) {
            let year_ok = self.years.as_ref().is_none_or(|y| {
                usize::try_from(day.year())
                    .ok()
                    .and_then(|i| y.get(i))
                    .copied()
                    .unwrap_or(false)
            });
            let month_ok = self.months[day.month() as usize];
            let dom_ok = self.days_of_month.as_ref().is_none_or(|d| d[day.day() as usize]);
            let dow = day.weekday().to_sunday_one_offset() as usize;
            let dow_ok = self.days_of_week.as_ref().is_none_or(|d| d[dow]);
            if year_ok && month_ok && dom_ok && dow_ok {
                // The earliest instant of the day's times after `after`
                // (a skipped time moves forward, so order is by instant).
                let first = (0..24)
                    .filter(|h| self.hours[*h as usize])
                    .flat_map(|h| (0..60).filter(|m| self.minutes[*m as usize]).map(move |m| (h, m)))
                    .filter_map(|(h, m)| instant(&self.zone, day.at(h, m, 0, 0)))
                    .filter(|t| *t > after)
                    .min();
                if first.is_some() {
                    return first;
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

impl Schedule {
    /// When it runs next after `after` (epoch seconds), a `rate` counted
    /// from `anchor` (its start time or creation) with an interval lasting
    /// `scale(secs)` seconds here.
    pub fn next_after(&self, after: f64, anchor: f64, scale: impl Fn(i64) -> f64) -> Option<f64> {
        match self {
            Schedule::At(t) => ((*t as f64) > after).then_some(*t as f64),
            Schedule::Rate(secs) => {
                let every = scale(*secs).max(1.0);
                let k = ((after - anchor) / every).floor().max(0.0) + 1.0;
                Some(anchor + k * every)
            }
            Schedule::Cron(c) => c.next_after(after.floor() as i64).map(|t| t as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(s: &str) -> i64 {
        parse_at(s, &TimeZone::UTC).unwrap()
    }

    #[test]
    fn at_is_one_wall_clock_time_in_its_zone() {
        assert_eq!(
            parse("at(2026-01-02T03:04:05)", None).unwrap(),
            Schedule::At(1_767_323_045)
        );
        // Etc/GMT+5 is five hours behind UTC.
        assert_eq!(
            parse("at(2026-01-02T03:04:05)", Some("Etc/GMT+5")).unwrap(),
            Schedule::At(1_767_323_045 + 5 * 3600)
        );
        let s = parse("at(2026-01-02T03:04:05)", None).unwrap();
        assert_eq!(s.next_after(0.0, 0.0, |x| x as f64), Some(1_767_323_045.0));
        assert_eq!(s.next_after(1_767_323_045.0, 0.0, |x| x as f64), None);
        assert!(parse("at(2026-13-02T03:04:05)", None).is_err());
        assert!(parse("at(2026-01-02 03:04:05)", None).is_err());
        // Paris is UTC+1 in winter, UTC+2 in summer.
        assert_eq!(
            parse("at(2026-01-02T03:04:05)", Some("Europe/Paris")).unwrap(),
            Schedule::At(1_767_323_045 - 3600)
        );
        assert_eq!(
            parse("at(2026-07-02T03:04:05)", Some("Europe/Paris")).unwrap(),
            Schedule::At(epoch("2026-07-02T01:04:05"))
        );
        let e = parse("at(2026-01-02T03:04:05)", Some("Mars/Olympus_Mons")).unwrap_err();
        assert!(e.contains("IANA"), "{e}");
        assert!(parse("at(2026-01-02T03:04:05)", Some("")).is_err());
    }

    #[test]
    fn cron_follows_daylight_saving_time() {
        // 09:00 every day in New York: 14:00 UTC in winter, 13:00 in summer
        // (daylight saving time began 2026-03-08).
        let s = parse("cron(0 9 * * ? *)", Some("America/New_York")).unwrap();
        let next = |from: &str| s.next_after(epoch(from) as f64, 0.0, |x| x as f64);
        assert_eq!(next("2026-03-06T15:00:00"), Some(epoch("2026-03-07T14:00:00") as f64));
        assert_eq!(next("2026-03-07T15:00:00"), Some(epoch("2026-03-08T13:00:00") as f64));
        // 02:30 does not exist on 2026-03-08 in New York: it runs at 03:30
        // EDT (07:30 UTC), and the next day at 02:30 EDT again.
        let s = parse("cron(30 2 * * ? *)", Some("America/New_York")).unwrap();
        let next = |from: &str| s.next_after(epoch(from) as f64, 0.0, |x| x as f64);
        assert_eq!(next("2026-03-08T00:00:00"), Some(epoch("2026-03-08T07:30:00") as f64));
        assert_eq!(next("2026-03-08T07:30:00"), Some(epoch("2026-03-09T06:30:00") as f64));
        // 01:30 happens twice on 2026-11-01: it runs once, at the first
        // (EDT, 05:30 UTC); the next run is the day after (EST, 06:30 UTC).
        let s = parse("cron(30 1 * * ? *)", Some("America/New_York")).unwrap();
        let next = |from: &str| s.next_after(epoch(from) as f64, 0.0, |x| x as f64);
        assert_eq!(next("2026-11-01T00:00:00"), Some(epoch("2026-11-01T05:30:00") as f64));
        assert_eq!(next("2026-11-01T05:30:00"), Some(epoch("2026-11-02T06:30:00") as f64));
        // Days are the zone's: Monday 00:30 in Tokyo is Sunday 15:30 UTC.
        let s = parse("cron(30 0 ? * MON *)", Some("Asia/Tokyo")).unwrap();
        assert_eq!(
            s.next_after(epoch("2026-01-03T00:00:00") as f64, 0.0, |x| x as f64),
            Some(epoch("2026-01-04T15:30:00") as f64)
        );
    }

    #[test]
    fn rate_counts_from_its_anchor_and_scales() {
        let s = parse("rate(5 minutes)", None).unwrap();
        assert_eq!(s, Schedule::Rate(300));
        assert_eq!(s.next_after(100.0, 100.0, |x| x as f64), Some(400.0));
        assert_eq!(s.next_after(450.0, 100.0, |x| x as f64), Some(700.0));
        // A thirty-fold time scale: every 10 s.
        assert_eq!(s.next_after(100.0, 100.0, |x| x as f64 / 30.0), Some(110.0));
        assert_eq!(parse("rate(1 day)", None).unwrap(), Schedule::Rate(86_400));
        for bad in ["rate(0 minutes)", "rate(5 weeks)", "rate(five minutes)", "rate(5)"] {
            assert!(parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn cron_finds_the_next_minute_it_names() {
        let s = parse("cron(30 6 * * ? *)", None).unwrap();
        let from = epoch("2026-01-02T07:00:00") as f64;
        assert_eq!(
            s.next_after(from, 0.0, |x| x as f64),
            Some(epoch("2026-01-03T06:30:00") as f64)
        );
        // Every 15 minutes on weekdays (2026-01-03 is a Saturday).
        let s = parse("cron(0/15 * ? * MON-FRI *)", None).unwrap();
        assert_eq!(
            s.next_after(epoch("2026-01-03T00:00:00") as f64, 0.0, |x| x as f64),
            Some(epoch("2026-01-05T00:00:00") as f64)
        );
        assert_eq!(
            s.next_after(epoch("2026-01-05T00:00:00") as f64, 0.0, |x| x as f64),
            Some(epoch("2026-01-05T00:15:00") as f64)
        );
        // First of each month in 2027 only.
        let s = parse("cron(0 0 1 * ? 2027)", None).unwrap();
        assert_eq!(
            s.next_after(epoch("2026-06-01T00:00:00") as f64, 0.0, |x| x as f64),
            Some(epoch("2027-01-01T00:00:00") as f64)
        );
        for bad in [
            "cron(0 0 * * * *)",
            "cron(0 0 ? * ? *)",
            "cron(0 0 * *)",
            "cron(61 0 * * ? *)",
            "cron(0 0 L * ? *)",
        ] {
            assert!(parse(bad, None).is_err(), "{bad}");
        }
    }
}
