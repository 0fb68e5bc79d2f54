//! Host metrics from /proc: CPU busy share between two samples, memory in use, network
//! byte counters. The parsers take text so they are tested without a host.

use stratus_api::agent::HostMetrics;

use crate::error::{Error, Result};

/// Aggregate CPU jiffies from the `cpu` line of /proc/stat: (busy, total).
pub fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait are not busy.
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Memory in use (MemTotal − MemAvailable) from /proc/meminfo, in bytes.
pub fn parse_memory_used(meminfo: &str) -> Option<u64> {
    let kb = |key: &str| -> Option<u64> {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some(kb("MemTotal:")?.saturating_sub(kb("MemAvailable:")?) * 1024)
}

/// Received and sent bytes summed over non-loopback interfaces of /proc/net/dev.
pub fn parse_network(netdev: &str) -> (u64, u64) {
    netdev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .filter_map(|(_, rest)| {
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some((*f.first()?, *f.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

/// Samples host metrics; remembers the previous CPU counters for the busy share.
#[derive(Debug, Default)]
pub struct Sampler {
    last_cpu: Option<(u64, u64)>,
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Host(format!("{path}: {e}")))
}

impl Sampler {
    pub fn sample(&mut self) -> Result<HostMetrics> {
        let cpu = parse_cpu(&read("/proc/stat")?)
            .ok_or_else(|| Error::Host("no cpu line in /proc/stat".into()))?;
        let cpu_used_percent = match self.last_cpu {
            Some((busy0, total0)) if cpu.1 > total0 => {
                100.0 * (cpu.0.saturating_sub(busy0)) as f64 / (cpu.1 - total0) as f64
            }
            _ => 0.0,
        };
        self.last_cpu = Some(cpu);
        let memory_used_bytes = parse_memory_used(&read("/proc/meminfo")?)
            .ok_or_else(|| Error::Host("unreadable /proc/meminfo".into()))?;
        let (network_rx_bytes, network_tx_bytes) = parse_network(&read("/proc/net/dev")?);
        Ok(HostMetrics {
            cpu_used_percent: (cpu_used_percent * 100.0).round() / 100.0,
            memory_used_bytes,
            network_rx_bytes,
            network_tx_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_busy_and_total() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_cpu(stat), Some((150, 1000)));
        assert_eq!(parse_cpu("intr 1 2"), None);
    }

    #[test]
    fn memory_used() {
        let m = "MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:    6000 kB\n";
        assert_eq!(parse_memory_used(m), Some(10_000 * 1024));
    }

    #[test]
    fn network_without_loopback() {
        let d = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n  veth1: 5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n";
        assert_eq!(parse_network(d), (1005, 2007));
    }

    #[test]
    fn sampling_this_host_works() {
        let mut s = Sampler::default();
        let first = s.sample().unwrap();
        assert_eq!(first.cpu_used_percent, 0.0, "no previous sample yet");
        assert!(first.memory_used_bytes > 0);
        let second = s.sample().unwrap();
        assert!((0.0..=100.0).contains(&second.cpu_used_percent));
    }
}
