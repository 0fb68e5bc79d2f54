//! Heartbeats: collect facts, metrics and domains, and push them to the management
//! servers. URLs are tried in order starting with the last one that answered, so the
//! agent fails over when a management server goes away and stays on the new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stratus_api::agent::{
    heartbeat_path, Acceleration, DomainStats, Heartbeat, HeartbeatAck, HostFacts, PROTOCOL_VERSION,
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::hypervisor::Hypervisor;
use crate::sysinfo::Sampler;

/// KVM when /dev/kvm can be opened for reading and writing, else TCG. libvirt's capability
/// list is not trusted: it can list kvm on machines where KVM guests crash.
pub fn detect_acceleration() -> Acceleration {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => Acceleration::Kvm,
        Err(_) => Acceleration::Qemu,
    }
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Turns each domain's CPU time into the share of its vCPUs it kept busy since the
/// previous sample (CloudStack's `cpuused` for KVM).
#[derive(Default)]
pub struct CpuShares {
    last: HashMap<Uuid, (u64, Instant)>,
}

impl CpuShares {
    /// Fills in `cpu_used_percent` of each sample taken at `now`, and forgets domains that
    /// no longer run. A domain seen for the first time, or whose CPU time went back (a new
    /// QEMU process), has no share yet.
    pub fn apply(&mut self, stats: &mut [DomainStats], now: Instant) {
        let mut next = HashMap::with_capacity(stats.len());
        for s in stats.iter_mut() {
            if let Some(&(cpu, at)) = self.last.get(&s.uuid) {
                let wall = now.saturating_duration_since(at).as_nanos() as f64;
                if s.cpu_time_ns >= cpu && wall > 0.0 && s.vcpus > 0 {
                    let busy = (s.cpu_time_ns - cpu) as f64 / (wall * s.vcpus as f64) * 100.0;
                    s.cpu_used_percent = Some(busy.clamp(0.0, 100.0));
                }
            }
            next.insert(s.uuid, (s.cpu_time_ns, now));
        }
        self.last = next;
    }
}

pub struct Reporter {
    cfg: AgentConfig,
    hv: Arc<dyn Hypervisor>,
    sampler: Mutex<Sampler>,
    cpu_shares: Mutex<CpuShares>,
    generation: AtomicU64,
    preferred: AtomicUsize,
    http: reqwest::Client,
    acceleration: Acceleration,
    /// The guest filter, whose generation in force each report carries (so the
    /// management server re-sends the whole rule set after a failed restore).
    firewall: Option<Arc<crate::firewall::Firewall>>,
}

impl Reporter {
    pub fn new(cfg: AgentConfig, hv: Arc<dyn Hypervisor>) -> Result<Reporter> {
        // Generations only grow: start from the boot time in milliseconds.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(1);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Management(format!("HTTP client: {e}")))?;
        Ok(Reporter {
            acceleration: cfg.acceleration.unwrap_or_else(detect_acceleration),
            cfg,
            hv,
            sampler: Mutex::new(Sampler::default()),
            cpu_shares: Mutex::new(CpuShares::default()),
            firewall: None,
            generation: AtomicU64::new(start),
            preferred: AtomicUsize::new(0),
            http,
        })
    }

    /// Reports this firewall's generation in force with each heartbeat.
    pub fn with_firewall(mut self, f: Arc<crate::firewall::Firewall>) -> Reporter {
        self.firewall = Some(f);
        self
    }

    /// One report of the host's state, with the next generation number.
    pub async fn collect(self: &Arc<Self>) -> Result<Heartbeat> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let node = me.hv.node_facts()?;
            let domains = me.hv.domains()?;
            let metrics = me
                .sampler
                .lock()
                .map_err(|_| Error::Host("sampler lock poisoned".into()))?
                .sample()?;
            // Per-domain statistics are a bonus: a failure leaves them out of this report
            // rather than the whole report out.
            let domain_stats = match me.hv.domain_stats() {
                Ok(mut stats) => {
                    me.cpu_shares
                        .lock()
                        .map_err(|_| Error::Host("CPU shares lock poisoned".into()))?
                        .apply(&mut stats, Instant::now());
                    stats
                }
                Err(e) => {
                    tracing::warn!(error = %e, "domain statistics not collected");
                    vec![]
                }
            };
            Ok(Heartbeat {
                protocol: PROTOCOL_VERSION,
                generation: me.generation.fetch_add(1, Ordering::SeqCst) + 1,
                facts: HostFacts {
                    hostname: node.hostname,
                    arch: std::env::consts::ARCH.into(),
                    cpu_sockets: node.cpu_sockets,
                    cpu_cores: node.cpu_cores,
                    cpu_mhz: node.cpu_mhz,
                    memory_bytes: node.memory_bytes,
                    os: os_name(),
                    kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                        .unwrap_or_default()
                        .trim()
                        .into(),
                    libvirt_version: node.libvirt_version,
                    hypervisor_version: node.hypervisor_version,
                    acceleration: me.acceleration,
                    agent_version: env!("CARGO_PKG_VERSION").into(),
                },
                metrics,
                domains,
                domain_stats,
                sg_generation: me.firewall.as_ref().map(|f| f.applied().generation),
            })
        })
        .await
        .map_err(|e| Error::Host(format!("collector task: {e}")))?
    }

    /// Sends a report, failing over across management URLs.
    pub async fn send(&self, hb: &Heartbeat) -> Result<HeartbeatAck> {
        let urls = &self.cfg.management_urls;
        let first = self.preferred.load(Ordering::Relaxed) % urls.len();
        let mut errors = vec![];
        for i in 0..urls.len() {
            let idx = (first + i) % urls.len();
            let url = format!("{}{}", urls[idx], heartbeat_path(self.cfg.host_id));
            match self
                .http
                .post(&url)
                .bearer_auth(&self.cfg.token)
                .json(hb)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    let ack: HeartbeatAck = r
                        .json()
                        .await
                        .map_err(|e| Error::Management(format!("{url}: bad answer: {e}")))?;
                    if idx != first {
                        tracing::info!(url = %urls[idx], "failed over to another management server");
                    }
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok(ack);
                }
                Ok(r) => errors.push(format!("{}: HTTP {}", urls[idx], r.status())),
                Err(e) => errors.push(format!("{}: {e}", urls[idx])),
            }
        }
        Err(Error::Management(errors.join("; ")))
    }

    /// Collects a report and delivers it (to the first management server that answers).
    pub async fn beat(self: &Arc<Self>) -> Result<(Heartbeat, HeartbeatAck)> {
        let hb = self.collect().await?;
        let ack = self.send(&hb).await?;
        Ok((hb, ack))
    }

    /// Reports every interval until `shutdown` turns true (→ `false`) or the management
    /// server says the host was deleted (→ `true`: decommission).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> bool {
        let mut interval = self.cfg.heartbeat_interval;
        tracing::info!(host = %self.cfg.host_id, acceleration = self.acceleration.as_str(), "agent reporting every {}s", interval.as_secs());
        loop {
            match self.beat().await {
                Ok((hb, ack)) => {
                    if ack.decommission {
                        tracing::warn!(
                            "this host was deleted from the cloud: the agent removes itself"
                        );
                        return true;
                    }
                    if !ack.accepted {
                        tracing::debug!(
                            generation = hb.generation,
                            "report was older than one already seen"
                        );
                    }
                    interval = Duration::from_secs(ack.interval_secs.max(1));
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat not delivered"),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(uuid: Uuid, cpu_time_ns: u64, vcpus: u32) -> DomainStats {
        DomainStats {
            uuid,
            cpu_time_ns,
            vcpus,
            ..Default::default()
        }
    }

    #[test]
    fn cpu_share_is_measured_between_samples() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let t0 = Instant::now();
        let mut shares = CpuShares::default();
        let mut first = vec![sample(a, 1_000_000_000, 2), sample(b, 5_000, 1)];
        shares.apply(&mut first, t0);
        assert_eq!(first[0].cpu_used_percent, None, "no interval yet");
        // 2 s later: `a` used 1 s of CPU on 2 vCPUs = 25 %; `b` restarted (time went back).
        let mut second = vec![sample(a, 2_000_000_000, 2), sample(b, 10, 1)];
        shares.apply(&mut second, t0 + Duration::from_secs(2));
        assert!((second[0].cpu_used_percent.unwrap() - 25.0).abs() < 1e-9);
        assert_eq!(second[1].cpu_used_percent, None);
        // `a` stopped: forgotten, so a later start begins afresh.
        let mut third = vec![sample(b, 1_000_000_010, 1)];
        shares.apply(&mut third, t0 + Duration::from_secs(3));
        assert!((third[0].cpu_used_percent.unwrap() - 100.0).abs() < 1e-9);
        assert!(!shares.last.contains_key(&a));
    }
}
