//! Scheduled actions' schedules, pure: `at(yyyy-mm-ddThh:mm:ss)`,
//! `rate(N minute|minutes|hour|hours|day|days)` and
//! `cron(minutes hours day-of-month month day-of-week year)`, in a time
//! zone, and when one runs next.
//!
//! Time zones: Berth carries no time-zone database, so it knows `UTC`
//! (also `Etc/UTC`, `GMT`, `Etc/GMT`) and the fixed offsets `Etc/GMT+N` /
//! `Etc/GMT-N` (POSIX signs: `Etc/GMT+5` is five hours behind UTC); any
//! other zone is refused rather than misread. Under `--time-scale N` a
//! `rate(…)` interval is scaled as cooldowns are; `at(…)` and `cron(…)`
//! name wall-clock times and are not.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

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
    /// Seconds east of UTC.
    offset: i64,
}

/// The offset (seconds east of UTC) of a time zone Berth knows.
pub fn zone_offset(zone: Option<&str>) -> Result<i64, String> {
    let Some(zone) = zone else { return Ok(0) };
    match zone {
        "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" => Ok(0),
        other => {
            let hours = other
                .strip_prefix("Etc/GMT")
                .and_then(|h| h.parse::<i64>().ok())
                .filter(|h| (-14..=12).contains(h));
            match hours {
                // POSIX: Etc/GMT+5 is UTC-5.
                Some(h) => Ok(-h * 3600),
                None => Err(format!(
                    "Time zone '{other}' is not supported: Berth has no time-zone database and knows UTC \
                     (Etc/UTC) and the fixed offsets Etc/GMT+N and Etc/GMT-N only."
                )),
            }
        }
    }
}

fn inner<'a>(expr: &'a str, name: &str) -> Option<&'a str> {
    expr.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

/// Parses a schedule in the time zone `zone`.
pub fn parse(expr: &str, zone: Option<&str>) -> Result<Schedule, String> {
    let offset = zone_offset(zone)?;
    if let Some(at) = inner(expr, "at") {
        return parse_at(at, offset).map(Schedule::At);
    }
    if let Some(rate) = inner(expr, "rate") {
        return parse_rate(rate).map(Schedule::Rate);
    }
    if let Some(cron) = inner(expr, "cron") {
        return parse_cron(cron, offset).map(|c| Schedule::Cron(Box::new(c)));
    }
    Err(format!(
        "Unsupported schedule expression '{expr}': use at(yyyy-mm-ddThh:mm:ss), rate(value unit) or \
         cron(fields)."
    ))
}

fn parse_at(s: &str, offset: i64) -> Result<i64, String> {
    let bad = || format!("Invalid at expression 'at({s})': the format is at(yyyy-mm-ddThh:mm:ss).");
    let (date, clock) = s.split_once('T').ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || t.len() != 3 || d[0].len() != 4 {
        return Err(bad());
    }
    let num = |x: &str| x.parse::<u32>().map_err(|_| bad());
    let month = Month::try_from(num(d[1])? as u8).map_err(|_| bad())?;
    let date = Date::from_calendar_date(num(d[0])? as i32, month, num(d[2])? as u8).map_err(|_| bad())?;
    let time = Time::from_hms(num(t[0])? as u8, num(t[1])? as u8, num(t[2])? as u8).map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp() - offset)
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

fn parse_cron(s: &str, offset: i64) -> Result<Cron, String> {
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
        offset,
    })
}

impl Cron {
    /// The first minute strictly after `after` (epoch seconds) it names,
    /// within about five years.
    fn next_after(&self, after: i64) -> Option<i64> {
        let local = OffsetDateTime::from_unix_timestamp(after + self.offset).ok()?;
        let mut day = local.date();
        for _ in 0..(5 * 366) {
            let year_ok = self
                .years
                .as_ref()
                .is_none_or(|y| y.get(day.year() as usize).copied().unwrap_or(false));
            let month_ok = self.months[u8::from(day.month()) as usize];
            let dom_ok = self.days_of_month.as_ref().is_none_or(|d| d[day.day() as usize]);
            let dow = day.weekday().number_from_sunday() as usize;
            let dow_ok = self.days_of_week.as_ref().is_none_or(|d| d[dow]);
            if year_ok && month_ok && dom_ok && dow_ok {
                let midnight = PrimitiveDateTime::new(day, Time::MIDNIGHT)
                    .assume_utc()
                    .unix_timestamp()
                    - self.offset;
                for h in (0..24).filter(|h| self.hours[*h]) {
                    for m in (0..60).filter(|m| self.minutes[*m]) {
                        let t = midnight + (h * 3600 + m * 60) as i64;
                        if t > after {
                            return Some(t);
                        }
                    }
                }
            }
            day = day.next_day()?;
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
        parse_at(s, 0).unwrap()
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
        let e = parse("at(2026-01-02T03:04:05)", Some("Europe/Paris")).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
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
