//! The dashboard's capacity gauges, from `listCapacity` (CloudStack's capacity types) or,
//! where that command is not served, from the hosts, pools, image stores and guest IP
//! ranges the list commands return.

use std::net::Ipv4Addr;

use crate::format::{bytes, ghz, percent};

/// One gauge of the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// Stable key for pages and tests: `cpu`, `cpu-cores`, `memory`, `primary`,
    /// `primary-allocated`, `secondary`, `guest-ips`, `public-ips`, `management-ips`.
    pub key: &'static str,
    pub label: &'static str,
    /// None when only the total is known.
    pub used: Option<f64>,
    pub total: f64,
    pub used_text: String,
    pub total_text: String,
}

impl Gauge {
    pub fn percent(&self) -> f64 {
        self.used.map(|u| percent(u, self.total)).unwrap_or(0.0)
    }
    /// `0`–`100` rounded, for the bar's width.
    pub fn width(&self) -> u32 {
        self.percent().round() as u32
    }
    /// Bar colour: past 90% red, past 75% amber.
    pub fn level(&self) -> &'static str {
        match self.percent() {
            p if p >= 90.0 => "bad",
            p if p >= 75.0 => "warn",
            _ => "ok",
        }
    }
}

/// Capacity types of `listCapacity` (apache/cloudstack `Capacity.java`) the dashboard shows.
/// CPU and memory "used" there is what instances were given (CloudStack's allocation).
const TYPES: &[(i64, &str, &str, Unit)] = &[
    (1, "cpu", "CPU allocated", Unit::Mhz),
    (90, "cpu-cores", "CPU cores allocated", Unit::Count),
    (0, "memory", "Memory allocated", Unit::Bytes),
    (2, "primary", "Primary storage used", Unit::Bytes),
    (
        3,
        "primary-allocated",
        "Primary storage allocated",
        Unit::Bytes,
    ),
    (6, "secondary", "Secondary storage", Unit::Bytes),
    (8, "guest-ips", "Guest IP addresses", Unit::Count),
    (4, "public-ips", "Public IP addresses", Unit::Count),
    (5, "management-ips", "Management IP addresses", Unit::Count),
];

#[derive(Debug, Clone, Copy)]
enum Unit {
    Mhz,
    Bytes,
    Count,
}

fn show(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Mhz => ghz(v),
        Unit::Bytes => bytes(v),
        Unit::Count => format!("{v:.0}"),
    }
}

fn gauge(
    key: &'static str,
    label: &'static str,
    unit: Unit,
    used: Option<f64>,
    total: f64,
) -> Gauge {
    Gauge {
        key,
        label,
        used,
        total,
        used_text: used.map(|u| show(unit, u)).unwrap_or_else(|| "—".into()),
        total_text: show(unit, total),
    }
}

/// One `listCapacity` item: its capacity type and figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CapacityItem {
    pub kind: i64,
    pub used: Option<f64>,
    pub total: Option<f64>,
}

/// Gauges from `listCapacity` items, summed over zones, pods and clusters.
pub fn from_list_capacity(items: &[CapacityItem]) -> Vec<Gauge> {
    TYPES
        .iter()
        .filter_map(|&(code, key, label, unit)| {
            let of_type: Vec<&CapacityItem> = items.iter().filter(|c| c.kind == code).collect();
            if of_type.is_empty() {
                return None;
            }
            let used: f64 = of_type.iter().filter_map(|c| c.used).sum();
            let total: f64 = of_type.iter().filter_map(|c| c.total).sum();
            Some(gauge(key, label, unit, Some(used), total))
        })
        .collect()
}

/// What a host has and uses, from `listHosts`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostLoad {
    pub cpus: Option<f64>,
    pub mhz: Option<f64>,
    /// Percent of the CPU in use.
    pub cpu_used: Option<f64>,
    pub memory_used: Option<f64>,
    pub memory_total: Option<f64>,
}

/// A storage pool's or image store's disk, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiskUse {
    pub used: Option<f64>,
    pub allocated: Option<f64>,
    pub total: Option<f64>,
}

/// The number of addresses from `start` to `end` (IPv4), 0 if unreadable.
fn range_size((start, end): &(String, String)) -> f64 {
    let (Ok(a), Ok(b)) = (start.parse::<Ipv4Addr>(), end.parse::<Ipv4Addr>()) else {
        return 0.0;
    };
    let (a, b) = (u32::from(a) as f64, u32::from(b) as f64);
    if b >= a {
        b - a + 1.0
    } else {
        0.0
    }
}

/// Gauges derived from the list commands' answers; `guest_ranges` are (start, end) IPs.
pub fn from_lists(
    hosts: &[HostLoad],
    pools: &[DiskUse],
    stores: &[DiskUse],
    guest_ranges: &[(String, String)],
) -> Vec<Gauge> {
    let cpu_total: f64 = hosts
        .iter()
        .map(|h| h.cpus.unwrap_or(0.0) * h.mhz.unwrap_or(0.0))
        .sum();
    let cpu_used: f64 = hosts
        .iter()
        .map(|h| h.cpus.unwrap_or(0.0) * h.mhz.unwrap_or(0.0) * h.cpu_used.unwrap_or(0.0) / 100.0)
        .sum();
    let sum_hosts = |f: fn(&HostLoad) -> Option<f64>| -> f64 { hosts.iter().filter_map(f).sum() };
    let sum =
        |xs: &[DiskUse], f: fn(&DiskUse) -> Option<f64>| -> f64 { xs.iter().filter_map(f).sum() };
    vec![
        gauge("cpu", "CPU used", Unit::Mhz, Some(cpu_used), cpu_total),
        gauge(
            "memory",
            "Memory used",
            Unit::Bytes,
            Some(sum_hosts(|h| h.memory_used)),
            sum_hosts(|h| h.memory_total),
        ),
        gauge(
            "primary",
            "Primary storage used",
            Unit::Bytes,
            Some(sum(pools, |d| d.used)),
            sum(pools, |d| d.total),
        ),
        gauge(
            "primary-allocated",
            "Primary storage allocated",
            Unit::Bytes,
            Some(sum(pools, |d| d.allocated)),
            sum(pools, |d| d.total),
        ),
        gauge(
            "secondary",
            "Secondary storage",
            Unit::Bytes,
            Some(sum(stores, |d| d.used)),
            sum(stores, |d| d.total),
        ),
        gauge(
            "guest-ips",
            "Guest IP addresses",
            Unit::Count,
            None,
            guest_ranges.iter().map(range_size).sum(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_capacity_items_are_summed_per_type() {
        let item = |kind, used, total| CapacityItem {
            kind,
            used: Some(used),
            total: Some(total),
        };
        let items = vec![
            item(1, 1000.0, 4000.0),
            item(1, 1000.0, 4000.0),
            item(8, 9.0, 10.0),
            item(99, 1.0, 1.0),
        ];
        let g = from_list_capacity(&items);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].key, "cpu");
        assert_eq!((g[0].used, g[0].total), (Some(2000.0), 8000.0));
        assert_eq!(g[0].total_text, "8.00 GHz");
        assert_eq!(g[0].width(), 25);
        assert_eq!(g[1].key, "guest-ips");
        assert_eq!(g[1].level(), "bad");
    }

    #[test]
    fn lists_give_cpu_memory_storage_and_guest_range_sizes() {
        let hosts = vec![HostLoad {
            cpus: Some(2.0),
            mhz: Some(2000.0),
            cpu_used: Some(50.0),
            memory_total: Some(4096.0),
            memory_used: Some(1024.0),
        }];
        let pools = vec![DiskUse {
            total: Some(100.0),
            used: Some(10.0),
            allocated: Some(30.0),
        }];
        let stores = vec![DiskUse {
            total: Some(200.0),
            used: Some(50.0),
            allocated: None,
        }];
        let ranges = vec![
            ("10.0.0.10".to_string(), "10.0.0.19".to_string()),
            ("x".to_string(), String::new()),
        ];
        let g = from_lists(&hosts, &pools, &stores, &ranges);
        let by = |k: &str| g.iter().find(|x| x.key == k).unwrap().clone();
        assert_eq!((by("cpu").used, by("cpu").total), (Some(2000.0), 4000.0));
        assert_eq!(by("memory").width(), 25);
        assert_eq!(by("primary").used, Some(10.0));
        assert_eq!(by("primary-allocated").used, Some(30.0));
        assert_eq!(by("secondary").width(), 25);
        let ips = by("guest-ips");
        assert_eq!((ips.used, ips.total), (None, 10.0));
        assert_eq!(ips.used_text, "—");
    }
}
