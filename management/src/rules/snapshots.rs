//! Volume snapshots (issue 16): a snapshot's state and interval type (the column types of
//! `snapshots`, CHECKs of migration 0047), and the arithmetic of snapshot policies —
//! CloudStack's schedule strings ("MM" hourly, "MM:HH" daily, "MM:HH:DD" weekly with DD
//! the day of the week 1-7, Sunday first, and monthly with DD the day of the month) read
//! in the policy's time zone, and the slot a policy is due for at a given instant.
//!
//! Time zones: `chrono-tz` is not in the build, so a policy's zone is UTC or a fixed
//! offset (`UTC`, `GMT`, `Etc/UTC`, `UTC+05:30`, `GMT-8`, `+02:00`); any other name is
//! refused (431), never silently read as UTC.

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

/// A policy's time zone: UTC or a fixed offset (see the module's documentation).
pub fn parse_timezone(s: &str) -> Result<FixedOffset, String> {
    let bad = || {
        format!(
            "Unknown time zone '{}': give UTC or an offset such as UTC+05:30 or GMT-8",
            stratus_api::params::shown(s)
        )
    };
    let t = s.trim();
    let rest = ["Etc/UTC", "Etc/GMT", "UTC", "GMT", "Z"]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
    if rest.is_empty() {
        return FixedOffset::east_opt(0).ok_or_else(bad);
    }
    let (sign, body) = match rest.as_bytes().first() {
        Some(b'+') => (1, &rest[1..]),
        Some(b'-') => (-1, &rest[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 => body.split_at(2),
        None => (body, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return Err(bad());
    }
    let (h, m) = match (h.parse::<i32>(), m.parse::<i32>()) {
        (Ok(h), Ok(m)) if (0..=14).contains(&h) && (0..60).contains(&m) => (h, m),
        _ => return Err(bad()),
    };
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// The last slot of `s` at or before `now` in zone `tz` (the instant a snapshot was due);
/// `None` only if the calendar has no such instant in range.
pub fn last_slot(s: &Schedule, tz: FixedOffset, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    let at = |d: NaiveDate, h: u32, m: u32| {
        d.and_hms_opt(h, m, 0)
            .and_then(|n| tz.from_local_datetime(&n).single())
            .map(|t| t.with_timezone(&Utc))
    };
    let today = local.date_naive();
    let cand = match s.interval {
        IntervalType::Manual => return None,
        IntervalType::Hourly => {
            let c = at(today, local.hour(), s.minute)?;
            if c <= now {
                c
            } else {
                c - Duration::hours(1)
            }
        }
        IntervalType::Daily => {
            let c = at(today, s.hour, s.minute)?;
            if c <= now {
                c
            } else {
                c - Duration::days(1)
            }
        }
        IntervalType::Weekly => {
            // chrono: Monday 0 … Sunday 6; CloudStack: Sunday 1 … Saturday 7.
            let dow = (today.weekday().num_days_from_sunday() + 1) as i64;
            let back = (dow - s.day as i64).rem_euclid(7);
            let c = at(today - Duration::days(back), s.hour, s.minute)?;
            if c <= now {
                c
            } else {
                c - Duration::days(7)
            }
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
            let c = in_month(today.year(), today.month())?;
            if c <= now {
                c
            } else {
                let (y, mo) = if today.month() == 1 {
                    (today.year() - 1, 12)
                } else {
                    (today.year(), today.month() - 1)
                };
                in_month(y, mo)?
            }
        }
    };
    Some(cand)
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
    fn time_zones_utc_and_offsets_only() {
        assert_eq!(parse_timezone("UTC").unwrap().local_minus_utc(), 0);
        assert_eq!(parse_timezone("Etc/GMT").unwrap().local_minus_utc(), 0);
        assert_eq!(
            parse_timezone("UTC+05:30").unwrap().local_minus_utc(),
            19800
        );
        assert_eq!(parse_timezone("GMT-8").unwrap().local_minus_utc(), -28800);
        assert_eq!(parse_timezone("+0200").unwrap().local_minus_utc(), 7200);
        for bad in ["Europe/Paris", "UTC+15", "UTC+1:60", "UTC+", "x", "UTC+005"] {
            assert!(parse_timezone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn last_slots() {
        let z = parse_timezone("UTC").unwrap();
        let h = parse_schedule(IntervalType::Hourly, "30").unwrap();
        assert_eq!(
            last_slot(&h, z, utc("2026-12-05T04:31:00Z")),
            Some(utc("2026-12-05T04:30:00Z"))
        );
        assert_eq!(
            last_slot(&h, z, utc("2026-12-05T04:29:59Z")),
            Some(utc("2026-12-05T03:30:00Z"))
        );
        // Daily at 23:05 in UTC+02:00 is 21:05 UTC.
        let d = parse_schedule(IntervalType::Daily, "05:23").unwrap();
        let plus2 = parse_timezone("UTC+02:00").unwrap();
        assert_eq!(
            last_slot(&d, plus2, utc("2026-12-05T21:06:00Z")),
            Some(utc("2026-12-05T21:05:00Z"))
        );
        assert_eq!(
            last_slot(&d, plus2, utc("2026-12-05T21:04:00Z")),
            Some(utc("2026-12-04T21:05:00Z"))
        );
        // Weekly on day 1 (Sunday) at 03:00: 2026-12-05 is a Saturday.
        let w = parse_schedule(IntervalType::Weekly, "0:3:1").unwrap();
        assert_eq!(
            last_slot(&w, z, utc("2026-12-05T12:00:00Z")),
            Some(utc("2026-11-29T03:00:00Z"))
        );
        assert_eq!(
            last_slot(&w, z, utc("2026-12-06T03:00:00Z")),
            Some(utc("2026-12-06T03:00:00Z"))
        );
        // Monthly on the 31st: November has 30 days, so its last day.
        let m = parse_schedule(IntervalType::Monthly, "0:0:31").unwrap();
        assert_eq!(
            last_slot(&m, z, utc("2026-12-05T00:00:00Z")),
            Some(utc("2026-11-30T00:00:00Z"))
        );
        assert_eq!(
            last_slot(&m, z, utc("2027-01-05T00:00:00Z")),
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
