//! Placement: which host a new VM goes to, and which primary pool its root volume goes
//! to. Pure: the caller loads the candidates, ranks them, and then takes the first that
//! still fits once its row is locked (`services::vms::allocate`), recording the
//! reservation in that transaction, so two deploys cannot both take the last capacity.
//!
//! As CloudStack's FirstFitAllocator: only hosts that are Up and Enabled in Enabled
//! clusters, that carry **every** host tag of the offering (`rules::tags`), that reach an
//! Up pool carrying every storage tag the root volume asks for (when it asks for any and
//! has no volume yet), and whose capacity — total × the overprovisioning factor of the
//! host's cluster, minus what is already reserved — holds the VM's CPU (cores × MHz) and
//! memory. Among those, `vm.allocation.algorithm` ([`Algorithm`]) orders the hosts to
//! try; by default the one with the most free memory first (ties: most free CPU, then
//! the id), which spreads VMs and is deterministic for tests. A request nothing fits is
//! refused with the reason (which tags no host or pool has), never placed on an untagged
//! host.
//!
//! The root volume's pool ([`choose_pool`]): Up, reached by the host (zone-wide, or of
//! its cluster), carrying every storage tag asked for, with the most unallocated space
//! that still holds the volume within the storage overprovisioning factor.

use crate::ids::{ClusterId, HostId, PodId, StoragePoolId};
use crate::rules::tags;

/// A host as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: HostId,
    pub pod_id: PodId,
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

/// A primary storage pool as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub id: StoragePoolId,
    /// A cluster-scoped pool's cluster; `None` for a zone-wide pool.
    pub cluster_id: Option<ClusterId>,
    pub up: bool,
    pub tags: Vec<String>,
    pub capacity_bytes: i64,
    /// The virtual sizes of the live volumes on it.
    pub allocated_bytes: i64,
}

impl Pool {
    /// Whether a host of `cluster` reaches the pool.
    pub fn reached_from(&self, cluster: ClusterId) -> bool {
        self.cluster_id.is_none_or(|c| c == cluster)
    }
}

/// What a VM needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    pub cpu_mhz: i64,
    pub memory_bytes: i64,
    /// Its service offering's host tags: the host must carry every one.
    pub host_tags: Vec<String>,
    /// The storage tags its root volume asks for, when it has no volume yet: the host
    /// must reach an Up pool carrying every one. Empty: no condition.
    pub storage_tags: Vec<String>,
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
    /// Hosts are available but none carries the host tags (what is missing, from
    /// [`tags::unmatched`]).
    NoTaggedHost(String),
    /// Hosts carry the host tags but none reaches an Up pool with the storage tags.
    NoTaggedPool(String),
    /// Hosts qualify but none has room.
    NoCapacity { cpu_mhz: i64, memory_bytes: i64 },
}

impl std::fmt::Display for NoHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoHost::NoneAvailable => {
                f.write_str("no host is Up and Enabled in an Enabled cluster of this zone")
            }
            NoHost::NoTaggedHost(t) => write!(f, "no available host has {t}"),
            NoHost::NoTaggedPool(t) => write!(
                f,
                "no Up primary storage pool that an available host reaches has {t}"
            ),
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

/// `vm.allocation.algorithm`: the order in which the hosts that fit are tried. CloudStack
/// orders hosts within each cluster it tries; Stratus orders the zone's fitting hosts
/// at once (clusters are not tried one by one), with the same meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// The most free memory first (then CPU, then id): what is least consumed. The
    /// default here: it spreads VMs and is deterministic (CloudStack's default, `random`,
    /// makes a small cloud's placements unpredictable).
    #[default]
    FirstFitLeastConsumed,
    /// In id order: fills one host before the next.
    FirstFit,
    /// Shuffled.
    Random,
    /// The hosts with the fewest of the deploying account's VMs first (then least
    /// consumed): an account's VMs spread over as many hosts as possible.
    UserDispersing,
    /// The pods holding most of the account's VMs first, hosts shuffled within a pod.
    UserConcentratedPodRandom,
    /// The pods holding most of the account's VMs first, hosts in id order within a pod.
    UserConcentratedPodFirstFit,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::FirstFitLeastConsumed,
        Algorithm::FirstFit,
        Algorithm::Random,
        Algorithm::UserDispersing,
        Algorithm::UserConcentratedPodRandom,
        Algorithm::UserConcentratedPodFirstFit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::FirstFitLeastConsumed => "firstfitleastconsumed",
            Algorithm::FirstFit => "firstfit",
            Algorithm::Random => "random",
            Algorithm::UserDispersing => "userdispersing",
            Algorithm::UserConcentratedPodRandom => "userconcentratedpod_random",
            Algorithm::UserConcentratedPodFirstFit => "userconcentratedpod_firstfit",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether it needs where the deploying account's VMs are.
    pub fn needs_account_placement(self) -> bool {
        matches!(
            self,
            Algorithm::UserDispersing
                | Algorithm::UserConcentratedPodRandom
                | Algorithm::UserConcentratedPodFirstFit
        )
    }
}

/// How the fitting hosts are ordered: the algorithm, and what it may need — the
/// deploying account's VMs per host and per pod, and a seed for the shuffles (random per
/// deploy; fixed in tests).
#[derive(Debug, Clone, Default)]
pub struct Order {
    pub algorithm: Algorithm,
    pub account_vms_on_host: std::collections::HashMap<HostId, i64>,
    pub account_vms_in_pod: std::collections::HashMap<PodId, i64>,
    pub seed: u64,
}

/// A stable pseudo-random key of a host under `seed` (SplitMix64 of the two): a shuffle
/// that needs no state and is the same for the same seed.
fn shuffled(seed: u64, id: HostId) -> u64 {
    let (hi, lo) = id.into_uuid().as_u64_pair();
    let mut z = seed ^ hi ^ lo.rotate_left(32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Picks the host for `req` (the first of [`rank`] by free capacity), or says why there
/// is none.
pub fn choose(
    candidates: &[Candidate],
    pools: &[Pool],
    req: &Request,
    factors: impl Fn(ClusterId) -> Factors,
) -> Result<HostId, NoHost> {
    rank(candidates, pools, req, factors, &Order::default()).map(|r| r[0])
}

/// Every host that fits `req`, in the order `order` tries them (never empty), or why
/// none fits. `pools` are the zone's primary pools (for the storage tags); `factors`
/// gives a cluster's overprovisioning factors.
pub fn rank(
    candidates: &[Candidate],
    pools: &[Pool],
    req: &Request,
    factors: impl Fn(ClusterId) -> Factors,
    order: &Order,
) -> Result<Vec<HostId>, NoHost> {
    let available: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.up && c.enabled && c.cluster_enabled)
        .collect();
    if available.is_empty() {
        return Err(NoHost::NoneAvailable);
    }
    if let Some(why) = tags::unmatched(
        "host",
        available.iter().map(|c| c.tags.as_slice()),
        &req.host_tags,
    ) {
        return Err(NoHost::NoTaggedHost(why));
    }
    let tagged: Vec<&Candidate> = available
        .into_iter()
        .filter(|c| tags::carries(&c.tags, &req.host_tags))
        .collect();
    let tagged: Vec<&Candidate> = if req.storage_tags.is_empty() {
        tagged
    } else {
        let reached: Vec<&Pool> = pools
            .iter()
            .filter(|p| p.up && tagged.iter().any(|c| p.reached_from(c.cluster_id)))
            .collect();
        if let Some(why) = tags::unmatched(
            "storage",
            reached.iter().map(|p| p.tags.as_slice()),
            &req.storage_tags,
        ) {
            return Err(NoHost::NoTaggedPool(why));
        }
        tagged
            .into_iter()
            .filter(|c| {
                reached.iter().any(|p| {
                    p.reached_from(c.cluster_id) && tags::carries(&p.tags, &req.storage_tags)
                })
            })
            .collect()
    };
    let mut fits: Vec<(i64, i64, &Candidate)> = tagged
        .into_iter()
        .map(|c| {
            let f = factors(c.cluster_id);
            (
                free(c.memory_total_bytes, f.memory, c.memory_reserved_bytes),
                free(c.cpu_total_mhz, f.cpu, c.cpu_reserved_mhz),
                c,
            )
        })
        .filter(|(mem, cpu, _)| *mem >= req.memory_bytes && *cpu >= req.cpu_mhz)
        .collect();
    if fits.is_empty() {
        return Err(NoHost::NoCapacity {
            cpu_mhz: req.cpu_mhz,
            memory_bytes: req.memory_bytes,
        });
    }
    // Least consumed: most free memory, then CPU, then the lower id.
    let least_consumed = |a: &(i64, i64, &Candidate), b: &(i64, i64, &Candidate)| {
        b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.id.cmp(&b.2.id))
    };
    let on_host = |c: &Candidate| order.account_vms_on_host.get(&c.id).copied().unwrap_or(0);
    let in_pod = |c: &Candidate| {
        order
            .account_vms_in_pod
            .get(&c.pod_id)
            .copied()
            .unwrap_or(0)
    };
    let seed = order.seed;
    match order.algorithm {
        Algorithm::FirstFitLeastConsumed => fits.sort_by(least_consumed),
        Algorithm::FirstFit => fits.sort_by_key(|f| f.2.id),
        Algorithm::Random => fits.sort_by_key(|f| shuffled(seed, f.2.id)),
        Algorithm::UserDispersing => {
            fits.sort_by(|a, b| on_host(a.2).cmp(&on_host(b.2)).then(least_consumed(a, b)))
        }
        Algorithm::UserConcentratedPodRandom => fits.sort_by(|a, b| {
            in_pod(b.2)
                .cmp(&in_pod(a.2))
                .then(a.2.pod_id.cmp(&b.2.pod_id))
                .then(shuffled(seed, a.2.id).cmp(&shuffled(seed, b.2.id)))
        }),
        Algorithm::UserConcentratedPodFirstFit => fits.sort_by(|a, b| {
            in_pod(b.2)
                .cmp(&in_pod(a.2))
                .then(a.2.pod_id.cmp(&b.2.pod_id))
                .then(a.2.id.cmp(&b.2.id))
        }),
    }
    Ok(fits.into_iter().map(|f| f.2.id).collect())
}

/// Why no pool was chosen for a volume, for the 533 error text.
#[derive(Debug, Clone, PartialEq)]
pub enum NoPool {
    /// Pools that are Up and reached carry none of the storage tags (what is missing).
    NoTaggedPool(String),
    /// No pool that qualifies has room.
    NoRoom { size_bytes: i64 },
}

impl std::fmt::Display for NoPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoPool::NoTaggedPool(t) => write!(
                f,
                "no Up primary storage pool that the chosen host reaches has {t}"
            ),
            NoPool::NoRoom { size_bytes } => write!(
                f,
                "no primary storage pool that the chosen host reaches (Up, in its cluster or zone, with the storage tags asked for) has room for a {} GiB root disk",
                size_bytes >> 30
            ),
        }
    }
}

/// Picks the pool for a new volume of `size_bytes` on a host of `cluster`: Up, reached,
/// carrying every tag of `want`, with the most unallocated space (capacity × the pool's
/// overprovisioning factor, `factor(pool)`, minus the volumes on it) that still holds it
/// (ties: the smaller id).
pub fn choose_pool(
    pools: &[Pool],
    cluster: ClusterId,
    size_bytes: i64,
    factor: impl Fn(StoragePoolId) -> f64,
    want: &[String],
) -> Result<StoragePoolId, NoPool> {
    let reached: Vec<&Pool> = pools
        .iter()
        .filter(|p| p.up && p.reached_from(cluster))
        .collect();
    if let Some(why) = tags::unmatched("storage", reached.iter().map(|p| p.tags.as_slice()), want) {
        return Err(NoPool::NoTaggedPool(why));
    }
    reached
        .into_iter()
        .filter(|p| tags::carries(&p.tags, want))
        .map(|p| {
            (
                free(p.capacity_bytes, factor(p.id), p.allocated_bytes),
                p.id,
            )
        })
        .filter(|(free, _)| *free >= size_bytes)
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, id)| id)
        .ok_or(NoPool::NoRoom { size_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: i64 = 1 << 30;

    fn host(n: u128, mem_gib: i64, cpu: i64) -> Candidate {
        Candidate {
            id: HostId::from(uuid::Uuid::from_u128(n)),
            pod_id: PodId::from(uuid::Uuid::from_u128(n + 2000)),
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
            ..Default::default()
        }
    }

    /// Hosts 1-4: 2 and 3 share a pod (p2), 1 and 4 have their own; host 3 is full.
    /// Free memory: 1 → 2 GiB, 2 → 6, 4 → 4. The account has 2 VMs on host 2 (pod p2),
    /// 1 on host 1.
    fn four() -> (Vec<Candidate>, Order) {
        let mut h: Vec<Candidate> = (1..=4).map(|n| host(n, 8, 8000)).collect();
        h[0].memory_reserved_bytes = 6 * GIB;
        h[1].memory_reserved_bytes = 2 * GIB;
        h[2].memory_reserved_bytes = 8 * GIB;
        h[3].memory_reserved_bytes = 4 * GIB;
        let p2 = h[1].pod_id;
        h[2].pod_id = p2;
        let order = Order {
            algorithm: Algorithm::default(),
            account_vms_on_host: [(h[1].id, 2), (h[0].id, 1)].into(),
            account_vms_in_pod: [(p2, 2), (h[0].pod_id, 1)].into(),
            seed: 7,
        };
        (h, order)
    }

    fn ranked(h: &[Candidate], order: &Order, a: Algorithm) -> Vec<u128> {
        let order = Order {
            algorithm: a,
            ..order.clone()
        };
        rank(h, &[], &req(1, 500), one, &order)
            .unwrap()
            .into_iter()
            .map(|id| id.into_uuid().as_u128())
            .collect()
    }

    #[test]
    fn each_allocation_algorithm_orders_only_the_hosts_that_fit() {
        let (h, order) = four();
        use Algorithm::*;
        assert_eq!(ranked(&h, &order, FirstFitLeastConsumed), [2, 4, 1]);
        assert_eq!(ranked(&h, &order, FirstFit), [1, 2, 4]);
        // Fewest of the account's VMs first: 4 (none), 1 (one), 2 (two).
        assert_eq!(ranked(&h, &order, UserDispersing), [4, 1, 2]);
        // The account's busiest pod first (p2: host 2; 3 is full), then pod of 1, then 4.
        assert_eq!(ranked(&h, &order, UserConcentratedPodFirstFit), [2, 1, 4]);
        assert_eq!(ranked(&h, &order, UserConcentratedPodRandom), [2, 1, 4]);
        // Random: the fitting hosts, each once, the same for the same seed, and seeds
        // give different orders.
        let r = ranked(&h, &order, Random);
        let mut sorted = r.clone();
        sorted.sort();
        assert_eq!(sorted, [1, 2, 4]);
        assert_eq!(r, ranked(&h, &order, Random));
        let orders: std::collections::HashSet<Vec<u128>> = (0..32)
            .map(|seed| {
                ranked(
                    &h,
                    &Order {
                        seed,
                        ..order.clone()
                    },
                    Random,
                )
            })
            .collect();
        assert!(orders.len() > 2, "{orders:?}");
        // Nothing fits: the reason, whatever the algorithm.
        for a in Algorithm::ALL {
            let o = Order {
                algorithm: a,
                ..order.clone()
            };
            assert!(matches!(
                rank(&h, &[], &req(7, 500), one, &o),
                Err(NoHost::NoCapacity { .. })
            ));
        }
    }

    #[test]
    fn algorithm_names_are_cloudstacks() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        }
        assert_eq!(Algorithm::parse(" FirstFit "), Some(Algorithm::FirstFit));
        assert_eq!(Algorithm::parse("bestfit"), None);
    }

    #[test]
    fn most_free_memory_wins_and_ties_are_deterministic() {
        let mut a = host(1, 8, 4000);
        a.memory_reserved_bytes = 6 * GIB;
        let b = host(2, 8, 4000);
        assert_eq!(choose(&[a, b.clone()], &[], &req(1, 500), one), Ok(b.id));
        let c = host(3, 8, 4000);
        assert_eq!(
            choose(&[c.clone(), b.clone()], &[], &req(1, 500), one),
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
            choose(&[down, disabled, cluster_off], &[], &req(1, 1), one),
            Err(NoHost::NoneAvailable)
        );
    }

    #[test]
    fn capacity_counts_reservations_and_overprovisioning() {
        let mut h = host(1, 4, 2000);
        h.memory_reserved_bytes = 3 * GIB;
        h.cpu_reserved_mhz = 1500;
        let r = req(1, 500);
        assert_eq!(choose(&[h.clone()], &[], &r, one), Ok(h.id), "exactly fits");
        let r2 = req(2, 500);
        let e = choose(&[h.clone()], &[], &r2, one).unwrap_err();
        assert!(matches!(e, NoHost::NoCapacity { .. }));
        assert!(e.to_string().contains("2048 MiB"), "{e}");
        // With memory overprovisioned 2x the host has 5 GiB free.
        assert_eq!(
            choose(&[h.clone()], &[], &r2, |_| Factors {
                cpu: 1.0,
                memory: 2.0
            }),
            Ok(h.id)
        );
        let r3 = req(1, 600);
        assert!(choose(&[h.clone()], &[], &r3, one).is_err());
        assert_eq!(
            choose(&[h.clone()], &[], &r3, |_| Factors {
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
        assert!(choose(&[a.clone(), b.clone()], &[], &r, one).is_err());
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
        assert_eq!(choose(&[a, b.clone()], &[], &r, generous), Ok(b.id));
    }

    #[test]
    fn host_tags_every_one_and_never_an_untagged_host() {
        let mut fast = host(1, 4, 2000);
        fast.tags = vec!["SSD".into(), "gpu".into()];
        let plain = host(2, 64, 64000);
        let mut r = req(1, 100);
        r.host_tags = vec!["ssd".into()];
        assert_eq!(
            choose(&[fast.clone(), plain.clone()], &[], &r, one),
            Ok(fast.id),
            "the tagged host though the untagged one has more room"
        );
        r.host_tags = vec!["ssd".into(), "GPU".into()];
        assert_eq!(
            choose(&[fast.clone(), plain.clone()], &[], &r, one),
            Ok(fast.id)
        );
        r.host_tags = vec!["ssd".into(), "nvme".into()];
        let e = choose(&[fast.clone(), plain.clone()], &[], &r, one).unwrap_err();
        assert_eq!(e, NoHost::NoTaggedHost("the host tag 'nvme'".into()));
        assert_eq!(e.to_string(), "no available host has the host tag 'nvme'");
        // A tagged host that is down does not count.
        let mut down = fast.clone();
        down.up = false;
        r.host_tags = vec!["ssd".into()];
        assert!(matches!(
            choose(&[down, plain.clone()], &[], &r, one),
            Err(NoHost::NoTaggedHost(_))
        ));
        // The tagged host full: no capacity, not a silent pick of the untagged one.
        let mut full = fast.clone();
        full.memory_reserved_bytes = 4 * GIB;
        assert!(matches!(
            choose(&[full, plain], &[], &r, one),
            Err(NoHost::NoCapacity { .. })
        ));
    }

    fn pool(n: u128, cluster: Option<&Candidate>, tags: &[&str], free_gib: i64) -> Pool {
        Pool {
            id: StoragePoolId::from(uuid::Uuid::from_u128(n)),
            cluster_id: cluster.map(|c| c.cluster_id),
            up: true,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            capacity_bytes: free_gib * GIB,
            allocated_bytes: 0,
        }
    }

    #[test]
    fn storage_tags_need_a_host_that_reaches_a_tagged_pool() {
        let a = host(1, 64, 64000);
        let b = host(2, 4, 2000);
        // a reaches an untagged zone-wide pool; only b's cluster has the fast pool.
        let pools = [
            pool(10, None, &[], 1000),
            pool(11, Some(&b), &["fast", "ssd"], 10),
        ];
        let mut r = req(1, 100);
        assert_eq!(choose(&[a.clone(), b.clone()], &pools, &r, one), Ok(a.id));
        r.storage_tags = vec!["FAST".into()];
        assert_eq!(choose(&[a.clone(), b.clone()], &pools, &r, one), Ok(b.id));
        r.storage_tags = vec!["fast".into(), "nvme".into()];
        let e = choose(&[a.clone(), b.clone()], &pools, &r, one).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no Up primary storage pool that an available host reaches has the storage tag 'nvme'"
        );
        // The tagged pool down: nothing reaches an Up one.
        let mut down = pools.clone();
        down[1].up = false;
        r.storage_tags = vec!["fast".into()];
        assert!(matches!(
            choose(&[a.clone(), b.clone()], &down, &r, one),
            Err(NoHost::NoTaggedPool(_))
        ));
        // Host tags first: the tagged pool's host must also carry the host tags.
        r.host_tags = vec!["gpu".into()];
        let mut a_gpu = a.clone();
        a_gpu.tags = vec!["gpu".into()];
        assert!(matches!(
            choose(&[a_gpu, b.clone()], &pools, &r, one),
            Err(NoHost::NoTaggedPool(_))
        ));
    }

    #[test]
    fn the_pool_carries_every_tag_is_reached_up_and_has_room() {
        let h = host(1, 4, 2000);
        let other = host(2, 4, 2000);
        let pools = [
            pool(10, None, &[], 1000),
            pool(11, Some(&h), &["fast"], 50),
            pool(12, Some(&h), &["fast", "ssd"], 20),
            pool(13, Some(&other), &["fast", "ssd"], 900),
        ];
        let c = h.cluster_id;
        assert_eq!(
            choose_pool(&pools, c, 5 * GIB, |_| 1.0, &[]),
            Ok(pools[0].id),
            "no tags: the most room"
        );
        let fast = vec!["fast".to_string()];
        assert_eq!(
            choose_pool(&pools, c, 5 * GIB, |_| 1.0, &fast),
            Ok(pools[1].id)
        );
        let both = vec!["SSD".to_string(), "fast".to_string()];
        assert_eq!(
            choose_pool(&pools, c, 5 * GIB, |_| 1.0, &both),
            Ok(pools[2].id),
            "never the other cluster's pool"
        );
        assert_eq!(
            choose_pool(&pools, c, 30 * GIB, |_| 1.0, &both),
            Err(NoPool::NoRoom {
                size_bytes: 30 * GIB
            })
        );
        assert_eq!(
            choose_pool(&pools, c, 30 * GIB, |_| 2.0, &both),
            Ok(pools[2].id),
            "overprovisioned 2x"
        );
        let e = choose_pool(&pools, c, GIB, |_| 1.0, &["gold".to_string()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no Up primary storage pool that the chosen host reaches has the storage tag 'gold'"
        );
        let mut down = pools.clone();
        down[2].up = false;
        assert!(matches!(
            choose_pool(&down, c, GIB, |_| 1.0, &both),
            Err(NoPool::NoTaggedPool(_))
        ));
        let mut used = pools.clone();
        used[1].allocated_bytes = 48 * GIB;
        assert_eq!(
            choose_pool(&used, c, 5 * GIB, |_| 1.0, &fast),
            Ok(pools[2].id),
            "the one with room"
        );
    }
}
