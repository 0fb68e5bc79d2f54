//! Volume snapshots (issue 16): a snapshot's state and interval type (the column types of
//! `snapshots`, CHECKs of migration 0047), and the arithmetic of snapshot policies —
//! CloudStack's schedule strings ("MM" hourly, "MM:HH" daily, "MM:HH:DD" weekly with DD
//! the day of the week 1-7, Sunday first, and monthly with DD the day of the month) read
//! in the policy's time zone, and the slot a policy is due for at a given instant.
//!
//! Time zones: a policy's zone is a tz database name, as CloudStack's (Java's) zone ids
//! are (`Europe/Berlin`, `America/New_York`, `Asia/Kolkata`, `EST5EDT`; daylight saving
//! time followed), or UTC or a fixed offset (`UTC`, `GMT`, `Etc/UTC`, `UTC+05:30`,
//! `GMT-8`, `+02:00`); anything else is refused (431), never silently read as UTC. A
//! local time that daylight saving time skips is taken an hour later; one it repeats,
//! the first time.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};

/// Where a snapshot is (CloudStack's `Snapshot.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    Allocated,
    Creating,
    BackingUp,
    BackedUp,
    Error,
    Destroyed,
}

impl SnapshotState {
    pub const ALL: [SnapshotState; 6] = [
        SnapshotState::Allocated,
        SnapshotState::Creating,
        SnapshotState::BackingUp,
        SnapshotState::BackedUp,
        SnapshotState::Error,
        SnapshotState::Destroyed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Allocated => "Allocated",
            SnapshotState::Creating => "Creating",
            SnapshotState::BackingUp => "BackingUp",
            SnapshotState::BackedUp => "BackedUp",
            SnapshotState::Error => "Error",
            SnapshotState::Destroyed => "Destroyed",
        }
    }
    pub fn parse(s: &str) -> Option<SnapshotState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

super::text_column!(SnapshotState, "snapshot state");

/// A snapshot's interval type: MANUAL (createSnapshot) or the policy's that took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IntervalType {
    Manual,
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl IntervalType {
    pub const ALL: [IntervalType; 5] = [
        IntervalType::Manual,
        IntervalType::Hourly,
        IntervalType::Daily,
        IntervalType::Weekly,
        IntervalType::Monthly,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalType::Manual => "MANUAL",
            IntervalType::Hourly => "HOURLY",
            IntervalType::Daily => "DAILY",
            IntervalType::Weekly => "WEEKLY",
            IntervalType::Monthly => "MONTHLY",
        }
    }
    pub fn parse(s: &str) -> Option<IntervalType> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// As a client spells it (`hourly`, `Daily`); MANUAL is no policy's.
    pub fn parse_policy(s: &str) -> Option<IntervalType> {
        Self::ALL
            .into_iter()
            .find(|k| *k != IntervalType::Manual && k.as_str().eq_ignore_ascii_case(s))
    }
    /// listSnapshots' `snapshottype`: MANUAL or RECURRING.
    pub fn snapshot_type(self) -> &'static str {
        match self {
            IntervalType::Manual => "MANUAL",
            _ => "RECURRING",
        }
    }
}

super::text_column!(IntervalType, "snapshot interval type");

/// A policy's schedule, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub interval: IntervalType,
    pub minute: u32,
    pub hour: u32,
    /// Weekly: 1-7 (Sunday 1, as CloudStack's Calendar); monthly: 1-28 ... 31.
    pub day: u32,
}

/// Reads CloudStack's schedule string for `interval` ("MM", "MM:HH", "MM:HH:DD").
pub fn parse_schedule(interval: IntervalType, s: &str) -> Result<Schedule, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let want = match interval {
        IntervalType::Hourly => 1,
        IntervalType::Daily => 2,
        IntervalType::Weekly | IntervalType::Monthly => 3,
        IntervalType::Manual => return Err("a MANUAL snapshot has no schedule".into()),
    };
    let form = ["MM", "MM:HH", "MM:HH:DD"][want - 1];
    if parts.len() != want || s.len() > 16 {
        return Err(format!(
            "Invalid schedule '{}' for a {} policy: the format is {form}",
            stratus_api::params::shown(s),
            interval.as_str()
        ));
    }
    let num = |i: usize, max: u32, min: u32, what: &str| -> Result<u32, String> {
        let p = parts.get(i).copied().unwrap_or("");
        match p.parse::<u32>() {
            Ok(n)
                if (min..=max).contains(&n)
                    && !p.is_empty()
                    && p.len() <= 2
                    && p.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(n)
            }
            _ => Err(format!(
                "Invalid schedule '{}': the {what} must be {min} to {max}",
                stratus_api::params::shown(s)
            )),
        }
    };
    let minute = num(0, 59, 0, "minute")?;
    let hour = if want >= 2 { num(1, 23, 0, "hour")? } else { 0 };
    let day = match interval {
        IntervalType::Weekly => num(2, 7, 1, "day of the week")?,
        IntervalType::Monthly => num(2, 31, 1, "day of the month")?,
        _ => 0,
    };
    Ok(Schedule {
        interval,
        minute,
        hour,
        day,
    })
}

/// A policy's time zone (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyZone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl PolicyZone {
    /// The last slot of `s` at or before `now` in this zone (the instant a snapshot was
    /// due); `None` only if the calendar has no such instant in range.
    pub fn last_slot(&self, s: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            PolicyZone::Fixed(z) => last_slot(s, z, now),
            PolicyZone::Named(z) => last_slot(s, z, now),
        }
    }
}

pub fn parse_timezone(s: &str) -> Result<PolicyZone, String> {
    let t = s.trim();
    if let Some(z) = fixed_offset(t) {
        return Ok(PolicyZone::Fixed(z));
    }
    t.parse::<chrono_tz::Tz>()
        .map(PolicyZone::Named)
        .map_err(|_| {
            format!(
                "Unknown time zone '{}': give a time zone name such as Europe/Berlin, UTC, or an offset such as UTC+05:30 or GMT-8",
                stratus_api::params::shown(s)
            )
        })
}

/// UTC or a fixed offset (`UTC+05:30`, `GMT-8`, `+0200`); None for anything else.
fn fixed_offset(t: &str) -> Option<FixedOffset> {
    if t.is_empty() {
        return None;
    }
    // (`Etc/GMT+5` is the tz database's, POSIX-signed: UTC-5; chrono-tz reads it.)
    let rest = ["UTC", "GMT", "Z"]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
    if rest.is_empty() {
        return FixedOffset::east_opt(0);
    }
    let (sign, body) = match rest.as_bytes().first() {
        Some(b'+') => (1, &rest[1..]),
        Some(b'-') => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 => body.split_at(2),
        None => (body, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    match (h.parse::<i32>(), m.parse::<i32>()) {
        (Ok(h), Ok(m)) if (0..=14).contains(&h) && (0..60).contains(&m) => {
            FixedOffset::east_opt(sign * (h * 3600 + m * 60))
        }
        _ => None,
    }
}

/// The last slot of `s` at or before `now` in zone `tz`. Earlier candidates are found on
/// the local calendar (the previous hour, day, week or month at the same local time), so
/// a daylight saving change between them does not shift the slot.
pub fn last_slot<Z: TimeZone>(s: &Schedule, tz: &Z, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(tz).naive_local();
    let at = |d: NaiveDate, h: u32, m: u32| {
        let n = d.and_hms_opt(h, m, 0)?;
        tz.from_local_datetime(&n)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(n + Duration::hours(1))).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    let today = local.date();
    // This period's slot if it has come, else the previous period's.
    let pick =
        |this: Option<DateTime<Utc>>, previous: &dyn Fn() -> Option<DateTime<Utc>>| match this {
            Some(c) if c <= now => Some(c),
            _ => previous(),
        };
    match s.interval {
        IntervalType::Manual => None,
        IntervalType::Hourly => pick(at(today, local.hour(), s.minute), &|| {
            let before = local - Duration::hours(1);
            at(before.date(), before.hour(), s.minute)
        }),
        IntervalType::Daily => pick(at(today, s.hour, s.minute), &|| {
            at(today - Duration::days(1), s.hour, s.minute)
        }),
        IntervalType::Weekly => {
            // chrono: Monday 0 … Sunday 6; CloudStack: Sunday 1 … Saturday 7.
            let dow = (today.weekday().num_days_from_sunday() + 1) as i64;
            let day = today - Duration::days((dow - s.day as i64).rem_euclid(7));
            pick(at(day, s.hour, s.minute), &|| {
                at(day - Duration::days(7), s.hour, s.minute)
            })
        }
        IntervalType::Monthly => {
            // A day past the month's end is its last day (CloudStack's Calendar does the same).
            let in_month = |y: i32, mo: u32| {
                let last = (28..=31)
                    .rev()
                    .find(|d| NaiveDate::from_ymd_opt(y, mo, *d).is_some())?;
                let d = NaiveDate::from_ymd_opt(y, mo, s.day.min(last))?;
                at(d, s.hour, s.minute)
            };
            pick(in_month(today.year(), today.month()), &|| {
                let (y, mo) = if today.month() == 1 {
                    (today.year() - 1, 12)
                } else {
                    (today.year(), today.month() - 1)
                };
                in_month(y, mo)
            })
        }
    }
}

/// Whether `slot` (from [`last_slot`]) is still worth taking at `now`: a slot missed for
/// longer than a quarter of its interval (a server down over it) is skipped, not taken
/// late, as CloudStack's scheduler skips missed runs.
pub fn slot_fresh(interval: IntervalType, slot: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let window = match interval {
        IntervalType::Hourly => Duration::minutes(15),
        IntervalType::Daily => Duration::hours(6),
        IntervalType::Weekly | IntervalType::Monthly => Duration::days(1),
        IntervalType::Manual => return false,
    };
    now >= slot && now - slot <= window
}

/// Of a policy's snapshots (oldest first), those beyond `max_snaps` to delete.
pub fn beyond_retention<T: Clone>(oldest_first: &[T], max_snaps: usize) -> Vec<T> {
    let extra = oldest_first.len().saturating_sub(max_snaps);
    oldest_first[..extra].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn states_and_intervals_map_both_ways() {
        for s in SnapshotState::ALL {
            assert_eq!(SnapshotState::parse(s.as_str()), Some(s));
        }
        for i in IntervalType::ALL {
            assert_eq!(IntervalType::parse(i.as_str()), Some(i));
        }
        assert_eq!(
            IntervalType::parse_policy("daily"),
            Some(IntervalType::Daily)
        );
        assert_eq!(IntervalType::parse_policy("manual"), None);
        assert_eq!(IntervalType::Hourly.snapshot_type(), "RECURRING");
    }

    #[test]
    fn schedules_as_cloudstack_writes_them() {
        let h = parse_schedule(IntervalType::Hourly, "30").unwrap();
        assert_eq!((h.minute, h.hour, h.day), (30, 0, 0));
        let d = parse_schedule(IntervalType::Daily, "05:23").unwrap();
        assert_eq!((d.minute, d.hour), (5, 23));
        let w = parse_schedule(IntervalType::Weekly, "0:3:7").unwrap();
        assert_eq!((w.minute, w.hour, w.day), (0, 3, 7));
        let m = parse_schedule(IntervalType::Monthly, "15:12:31").unwrap();
        assert_eq!(m.day, 31);
        for (i, bad) in [
            (IntervalType::Hourly, "60"),
            (IntervalType::Hourly, "10:02"),
            (IntervalType::Daily, "10"),
            (IntervalType::Daily, "10:24"),
            (IntervalType::Weekly, "0:0:0"),
            (IntervalType::Weekly, "0:0:8"),
            (IntervalType::Monthly, "0:0:32"),
            (IntervalType::Monthly, "-1:0:1"),
            (IntervalType::Daily, "+1:2"),
            (IntervalType::Daily, "001:2"),
            (IntervalType::Hourly, ""),
            (IntervalType::Manual, "1"),
        ] {
            assert!(parse_schedule(i, bad).is_err(), "{bad} accepted for {i:?}");
        }
    }

    #[test]
    fn time_zones_names_utc_and_offsets() {
        let offset = |s: &str| match parse_timezone(s).unwrap() {
            PolicyZone::Fixed(z) => z.local_minus_utc(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(offset("UTC"), 0);
        assert_eq!(offset("UTC+05:30"), 19800);
        assert_eq!(offset("GMT-8"), -28800);
        assert_eq!(offset("+0200"), 7200);
        for name in [
            "Europe/Paris",
            "America/New_York",
            "Etc/UTC",
            "Etc/GMT+5",
            "EST5EDT",
        ] {
            assert!(
                matches!(parse_timezone(name), Ok(PolicyZone::Named(_))),
                "{name}"
            );
        }
        for bad in [
            "Mars/Olympus",
            "UTC+15",
            "UTC+1:60",
            "UTC+",
            "x",
            "UTC+005",
            "",
        ] {
            let e = parse_timezone(bad).unwrap_err();
            assert!(e.contains("Europe/Berlin"), "{bad}: {e}");
        }
    }

    #[test]
    fn named_zones_follow_daylight_saving_time() {
        let d = parse_schedule(IntervalType::Daily, "00:09").unwrap();
        let ny = parse_timezone("America/New_York").unwrap();
        // 09:00 in New York: 14:00 UTC in winter, 13:00 UTC once DST began (2026-03-08).
        assert_eq!(
            ny.last_slot(&d, utc("2026-03-07T15:00:00Z")),
            Some(utc("2026-03-07T14:00:00Z"))
        );
        assert_eq!(
            ny.last_slot(&d, utc("2026-03-08T13:30:00Z")),
            Some(utc("2026-03-08T13:00:00Z"))
        );
        // Before that day's slot, the previous day's, at its own offset.
        assert_eq!(
            ny.last_slot(&d, utc("2026-03-08T12:59:00Z")),
            Some(utc("2026-03-07T14:00:00Z"))
        );
        // 02:30 does not exist in Berlin on 2026-03-29 (02:00 → 03:00): taken at 03:30
        // CEST, 01:30 UTC.
        let early = parse_schedule(IntervalType::Daily, "30:02").unwrap();
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.last_slot(&early, utc("2026-03-29T02:00:00Z")),
            Some(utc("2026-03-29T01:30:00Z"))
        );
        // Etc/GMT+5 is UTC-5: daily 09:00 there is 14:00 UTC.
        let gmt5 = parse_timezone("Etc/GMT+5").unwrap();
        assert_eq!(
            gmt5.last_slot(&d, utc("2026-07-01T15:00:00Z")),
            Some(utc("2026-07-01T14:00:00Z"))
        );
    }

    #[test]
    fn last_slots() {
        let z = parse_timezone("UTC").unwrap();
        let h = parse_schedule(IntervalType::Hourly, "30").unwrap();
        assert_eq!(
            z.last_slot(&h, utc("2026-12-05T04:31:00Z")),
            Some(utc("2026-12-05T04:30:00Z"))
        );
        assert_eq!(
            z.last_slot(&h, utc("2026-12-05T04:29:59Z")),
            Some(utc("2026-12-05T03:30:00Z"))
        );
        // Daily at 23:05 in UTC+02:00 is 21:05 UTC.
        let d = parse_schedule(IntervalType::Daily, "05:23").unwrap();
        let plus2 = parse_timezone("UTC+02:00").unwrap();
        assert_eq!(
            plus2.last_slot(&d, utc("2026-12-05T21:06:00Z")),
            Some(utc("2026-12-05T21:05:00Z"))
        );
        assert_eq!(
            plus2.last_slot(&d, utc("2026-12-05T21:04:00Z")),
            Some(utc("2026-12-04T21:05:00Z"))
        );
        // Weekly on day 1 (Sunday) at 03:00: 2026-12-05 is a Saturday.
        let w = parse_schedule(IntervalType::Weekly, "0:3:1").unwrap();
        assert_eq!(
            z.last_slot(&w, utc("2026-12-05T12:00:00Z")),
            Some(utc("2026-11-29T03:00:00Z"))
        );
        assert_eq!(
            z.last_slot(&w, utc("2026-12-06T03:00:00Z")),
            Some(utc("2026-12-06T03:00:00Z"))
        );
        // Monthly on the 31st: November has 30 days, so its last day.
        let m = parse_schedule(IntervalType::Monthly, "0:0:31").unwrap();
        assert_eq!(
            z.last_slot(&m, utc("2026-12-05T00:00:00Z")),
            Some(utc("2026-11-30T00:00:00Z"))
        );
        assert_eq!(
            z.last_slot(&m, utc("2027-01-05T00:00:00Z")),
            Some(utc("2026-12-31T00:00:00Z"))
        );
    }

    #[test]
    fn freshness_and_retention() {
        let slot = utc("2026-12-05T04:30:00Z");
        assert!(slot_fresh(
            IntervalType::Hourly,
            slot,
            utc("2026-12-05T04:40:00Z")
        ));
        assert!(!slot_fresh(
            IntervalType::Hourly,
            slot,
            utc("2026-12-05T05:00:00Z")
        ));
        assert!(!slot_fresh(
            IntervalType::Hourly,
            slot,
            utc("2026-12-05T04:29:00Z")
        ));
        assert_eq!(beyond_retention(&[1, 2, 3, 4], 2), vec![1, 2]);
        assert!(beyond_retention(&[1], 2).is_empty());
    }
}
