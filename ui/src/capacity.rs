//! The dashboard's capacity gauges, from `listCapacity` (CloudStack's capacity types) or,
//! where that command is not served, from the hosts, pools, image stores and guest IP
//! ranges the list commands return.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::format::{bytes, ghz, num, percent, str_of};

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

/// Gauges from `listCapacity` items, summed over zones, pods and clusters.
pub fn from_list_capacity(items: &[Value]) -> Vec<Gauge> {
    TYPES
        .iter()
        .filter_map(|&(code, key, label, unit)| {
            let of_type: Vec<&Value> = items
                .iter()
                .filter(|c| c.get("type").and_then(Value::as_i64) == Some(code))
                .collect();
            if of_type.is_empty() {
                return None;
            }
            let used: f64 = of_type.iter().filter_map(|c| num(c, "capacityused")).sum();
            let total: f64 = of_type.iter().filter_map(|c| num(c, "capacitytotal")).sum();
            Some(gauge(key, label, unit, Some(used), total))
        })
        .collect()
}

/// The number of addresses from `startip` to `endip` (IPv4), 0 if unreadable.
fn range_size(r: &Value) -> f64 {
    let (Ok(a), Ok(b)) = (
        str_of(r, "startip").parse::<Ipv4Addr>(),
        str_of(r, "endip").parse::<Ipv4Addr>(),
    ) else {
        return 0.0;
    };
    let (a, b) = (u32::from(a) as f64, u32::from(b) as f64);
    if b >= a {
        b - a + 1.0
    } else {
        0.0
    }
}

/// Gauges derived from the list commands' answers.
pub fn from_lists(
    hosts: &[Value],
    pools: &[Value],
    stores: &[Value],
    guest_ranges: &[Value],
) -> Vec<Gauge> {
    let cpu_total: f64 = hosts
        .iter()
        .map(|h| num(h, "cpunumber").unwrap_or(0.0) * num(h, "cpuspeed").unwrap_or(0.0))
        .sum();
    let cpu_used: f64 = hosts
        .iter()
        .map(|h| {
            num(h, "cpunumber").unwrap_or(0.0)
                * num(h, "cpuspeed").unwrap_or(0.0)
                * num(h, "cpuused").unwrap_or(0.0)
                / 100.0
        })
        .sum();
    let sum = |xs: &[Value], f: &str| -> f64 { xs.iter().filter_map(|x| num(x, f)).sum() };
    vec![
        gauge("cpu", "CPU used", Unit::Mhz, Some(cpu_used), cpu_total),
        gauge(
            "memory",
            "Memory used",
            Unit::Bytes,
            Some(sum(hosts, "memoryused")),
            sum(hosts, "memorytotal"),
        ),
        gauge(
            "primary",
            "Primary storage used",
            Unit::Bytes,
            Some(sum(pools, "disksizeused")),
            sum(pools, "disksizetotal"),
        ),
        gauge(
            "primary-allocated",
            "Primary storage allocated",
            Unit::Bytes,
            Some(sum(pools, "disksizeallocated")),
            sum(pools, "disksizetotal"),
        ),
        gauge(
            "secondary",
            "Secondary storage",
            Unit::Bytes,
            Some(sum(stores, "disksizeused")),
            sum(stores, "disksizetotal"),
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
    use serde_json::json;

    #[test]
    fn list_capacity_items_are_summed_per_type() {
        let items = vec![
            json!({"type": 1, "zoneid": "a", "capacityused": 1000, "capacitytotal": 4000, "percentused": "25"}),
            json!({"type": 1, "zoneid": "b", "capacityused": 1000, "capacitytotal": 4000, "percentused": "25"}),
            json!({"type": 8, "zoneid": "a", "capacityused": 9, "capacitytotal": 10, "percentused": "90"}),
            json!({"type": 99, "capacityused": 1, "capacitytotal": 1}),
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
        let hosts = vec![
            json!({"cpunumber": 2, "cpuspeed": 2000, "cpuused": "50.00%",
            "memorytotal": 4096, "memoryused": 1024}),
        ];
        let pools =
            vec![json!({"disksizetotal": 100, "disksizeused": 10, "disksizeallocated": 30})];
        let stores = vec![json!({"disksizetotal": 200, "disksizeused": 50})];
        let ranges = vec![
            json!({"startip": "10.0.0.10", "endip": "10.0.0.19"}),
            json!({"startip": "x"}),
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
