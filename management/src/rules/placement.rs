//! Placement: which host a new VM goes to. Pure: the caller loads the candidates (with
//! their rows locked, so two deploys cannot both take the last capacity) and records the
//! reservation in the same transaction.
//!
//! As CloudStack's FirstFitAllocator: only hosts that are Up and Enabled in Enabled
//! clusters, that carry the offering's host tag, and whose capacity — total × the
//! overprovisioning factor of the host's cluster, minus what is already reserved — holds
//! the VM's CPU (cores × MHz) and memory. Among those, the one with the most free memory wins (ties: most free
//! CPU, then the id), which spreads VMs and is deterministic for tests.

use crate::ids::{ClusterId, HostId};

/// A host as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: HostId,
    pub cluster_id: ClusterId,
    pub up: bool,
    pub enabled: bool,
    pub cluster_enabled: bool,
    pub tags: Vec<String>,
    /// Cores × MHz.
    pub cpu_total_mhz: i64,
    pub memory_total_bytes: i64,
    pub cpu_reserved_mhz: i64,
    pub memory_reserved_bytes: i64,
}

/// What a VM needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub cpu_mhz: i64,
    pub memory_bytes: i64,
    pub host_tag: Option<String>,
}

/// A cluster's overprovisioning factors (`cpu.overprovisioning.factor`,
/// `mem.overprovisioning.factor`, which may be set per cluster).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    pub cpu: f64,
    pub memory: f64,
}

impl Default for Factors {
    fn default() -> Self {
        Factors {
            cpu: 1.0,
            memory: 1.0,
        }
    }
}

/// Why no host was chosen, for the 533 error text.
#[derive(Debug, Clone, PartialEq)]
pub enum NoHost {
    /// No host is Up and Enabled (in an Enabled cluster).
    NoneAvailable,
    /// Hosts are available but none carries the tag.
    NoTaggedHost(String),
    /// Hosts qualify but none has room.
    NoCapacity { cpu_mhz: i64, memory_bytes: i64 },
}

impl std::fmt::Display for NoHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoHost::NoneAvailable => {
                f.write_str("no host is Up and Enabled in an Enabled cluster of this zone")
            }
            NoHost::NoTaggedHost(t) => write!(f, "no available host has the host tag '{t}'"),
            NoHost::NoCapacity {
                cpu_mhz,
                memory_bytes,
            } => write!(
                f,
                "no host has {cpu_mhz} MHz of CPU and {} MiB of memory free",
                memory_bytes / (1 << 20)
            ),
        }
    }
}

fn free(total: i64, factor: f64, reserved: i64) -> i64 {
    (total as f64 * factor) as i64 - reserved
}

/// Picks the host for `req`, or says why there is none. `factors` gives a cluster's
/// overprovisioning factors.
pub fn choose(
    candidates: &[Candidate],
    req: &Request,
    factors: impl Fn(ClusterId) -> Factors,
) -> Result<HostId, NoHost> {
    let available: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.up && c.enabled && c.cluster_enabled)
        .collect();
    if available.is_empty() {
        return Err(NoHost::NoneAvailable);
    }
    let tagged: Vec<&Candidate> = match &req.host_tag {
        Some(t) => available
            .into_iter()
            .filter(|c| c.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            .collect(),
        None => available,
    };
    if tagged.is_empty() {
        return Err(NoHost::NoTaggedHost(
            req.host_tag.clone().unwrap_or_default(),
        ));
    }
    tagged
        .into_iter()
        .map(|c| {
            let f = factors(c.cluster_id);
            (
                free(c.memory_total_bytes, f.memory, c.memory_reserved_bytes),
                free(c.cpu_total_mhz, f.cpu, c.cpu_reserved_mhz),
                c.id,
            )
        })
        .filter(|(mem, cpu, _)| *mem >= req.memory_bytes && *cpu >= req.cpu_mhz)
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(b.2.cmp(&a.2)))
        .map(|(_, _, id)| id)
        .ok_or(NoHost::NoCapacity {
            cpu_mhz: req.cpu_mhz,
            memory_bytes: req.memory_bytes,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: i64 = 1 << 30;

    fn host(n: u128, mem_gib: i64, cpu: i64) -> Candidate {
        Candidate {
            id: HostId::from(uuid::Uuid::from_u128(n)),
            cluster_id: ClusterId::from(uuid::Uuid::from_u128(n + 1000)),
            up: true,
            enabled: true,
            cluster_enabled: true,
            tags: vec![],
            cpu_total_mhz: cpu,
            memory_total_bytes: mem_gib * GIB,
            cpu_reserved_mhz: 0,
            memory_reserved_bytes: 0,
        }
    }

    fn one(_cluster: ClusterId) -> Factors {
        Factors::default()
    }

    fn req(mem_gib: i64, cpu: i64) -> Request {
        Request {
            cpu_mhz: cpu,
            memory_bytes: mem_gib * GIB,
            host_tag: None,
        }
    }

    #[test]
    fn most_free_memory_wins_and_ties_are_deterministic() {
        let mut a = host(1, 8, 4000);
        a.memory_reserved_bytes = 6 * GIB;
        let b = host(2, 8, 4000);
        assert_eq!(choose(&[a, b.clone()], &req(1, 500), one), Ok(b.id));
        let c = host(3, 8, 4000);
        assert_eq!(
            choose(&[c.clone(), b.clone()], &req(1, 500), one),
            Ok(b.id),
            "equal hosts: the smaller id"
        );
    }

    #[test]
    fn only_up_enabled_hosts_in_enabled_clusters() {
        let mut down = host(1, 64, 64000);
        down.up = false;
        let mut disabled = host(2, 64, 64000);
        disabled.enabled = false;
        let mut cluster_off = host(3, 64, 64000);
        cluster_off.cluster_enabled = false;
        assert_eq!(
            choose(&[down, disabled, cluster_off], &req(1, 1), one),
            Err(NoHost::NoneAvailable)
        );
    }

    #[test]
    fn capacity_counts_reservations_and_overprovisioning() {
        let mut h = host(1, 4, 2000);
        h.memory_reserved_bytes = 3 * GIB;
        h.cpu_reserved_mhz = 1500;
        let r = req(1, 500);
        assert_eq!(choose(&[h.clone()], &r, one), Ok(h.id), "exactly fits");
        let r2 = req(2, 500);
        let e = choose(&[h.clone()], &r2, one).unwrap_err();
        assert!(matches!(e, NoHost::NoCapacity { .. }));
        assert!(e.to_string().contains("2048 MiB"), "{e}");
        // With memory overprovisioned 2x the host has 5 GiB free.
        assert_eq!(
            choose(&[h.clone()], &r2, |_| Factors {
                cpu: 1.0,
                memory: 2.0
            }),
            Ok(h.id)
        );
        let r3 = req(1, 600);
        assert!(choose(&[h.clone()], &r3, one).is_err());
        assert_eq!(
            choose(&[h.clone()], &r3, |_| Factors {
                cpu: 2.0,
                memory: 1.0
            }),
            Ok(h.id)
        );
    }

    #[test]
    fn each_host_counts_with_its_clusters_factors() {
        let a = host(1, 4, 1000);
        let b = host(2, 4, 1000);
        let r = req(1, 2000);
        assert!(choose(&[a.clone(), b.clone()], &r, one).is_err());
        let generous = |c: ClusterId| {
            if c == b.cluster_id {
                Factors {
                    cpu: 4.0,
                    memory: 1.0,
                }
            } else {
                Factors::default()
            }
        };
        assert_eq!(choose(&[a, b.clone()], &r, generous), Ok(b.id));
    }

    #[test]
    fn host_tags() {
        let mut fast = host(1, 4, 2000);
        fast.tags = vec!["SSD".into()];
        let plain = host(2, 64, 64000);
        let mut r = req(1, 100);
        r.host_tag = Some("ssd".into());
        assert_eq!(choose(&[fast.clone(), plain.clone()], &r, one), Ok(fast.id));
        r.host_tag = Some("gpu".into());
        assert_eq!(
            choose(&[fast, plain], &r, one),
            Err(NoHost::NoTaggedHost("gpu".into()))
        );
    }
}
