//! The front door's limits, all in memory and all bounded: what an unauthenticated or
//! over-eager client can make the server spend.
//!
//! - [`HashPool`]: password hashing (Argon2id, ~19 MiB and tens of milliseconds each) runs
//!   on a few dedicated threads — one per core, at most 8 — fed by a bounded FIFO queue.
//!   Memory for hashing is therefore at most `threads × 19 MiB` whatever arrives (and the
//!   same few threads' allocator arenas are reused, instead of every blocking-pool thread
//!   keeping its own); a request that would overflow the queue, or waits longer than
//!   `max_wait`, is answered at once with "busy" instead of piling up.
//! - [`LoginThrottle`]: failed logins per client address (IPv6 by /64), with exponential
//!   backoff after a few free failures, so one address cannot guess passwords for many
//!   usernames. A fixed-size table; stale entries go first, then the oldest.
//! - [`ApiLimiter`]: CloudStack's `api.throttling.*` — requests per account per fixed
//!   window, in a table of at most `api.throttling.cachesize` accounts.
//!
//! Each management server counts for itself (like CloudStack's per-server cache): the
//! limits bound what one server spends, and a cluster of N servers admits at most N times
//! as much.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

type Job = Box<dyn FnOnce() + Send>;

/// The pool is full or the wait was too long; the request should be retried later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    peak: AtomicUsize,
    done: AtomicUsize,
}

/// A few threads running CPU- and memory-heavy work (password hashes) in arrival order.
pub struct HashPool {
    tx: mpsc::SyncSender<Job>,
    threads: usize,
    max_wait: Duration,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("threads", &self.threads)
            .field("running", &self.running())
            .finish()
    }
}

/// What the pool has done, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub threads: usize,
    pub running: usize,
    /// The most jobs that ever ran at once.
    pub peak: usize,
    pub done: usize,
}

impl HashPool {
    /// `threads` workers, at most `queue` jobs waiting, each waiting at most `max_wait`.
    pub fn new(threads: usize, queue: usize, max_wait: Duration) -> HashPool {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a password hashing thread failed");
            }
        }
        HashPool {
            tx,
            threads,
            max_wait,
            counters: Arc::default(),
        }
    }

    /// The process-wide pool: one thread per core (1–8), 32 waiting per thread, 10 s.
    pub fn global() -> &'static HashPool {
        static POOL: std::sync::OnceLock<HashPool> = std::sync::OnceLock::new();
        POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 8);
            HashPool::new(cores, 32 * cores, Duration::from_secs(10))
        })
    }

    fn running(&self) -> usize {
        self.counters.running.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            threads: self.threads,
            running: self.running(),
            peak: self.counters.peak.load(Ordering::Relaxed),
            done: self.counters.done.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on the pool. `Busy` at once when the queue is full, or after `max_wait`
    /// (the job is then skipped when its turn comes).
    pub async fn run<T, F>(&self, f: F) -> Result<T, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let counters = self.counters.clone();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // its caller gave up waiting
            }
            let now = counters.running.fetch_add(1, Ordering::SeqCst) + 1;
            counters.peak.fetch_max(now, Ordering::SeqCst);
            let out = f();
            counters.running.fetch_sub(1, Ordering::SeqCst);
            counters.done.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(out);
        });
        self.tx.try_send(job).map_err(|_| Busy)?;
        match tokio::time::timeout(self.max_wait, rx).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(Busy),
        }
    }
}

/// Failed logins a client address may make before backoff starts.
pub const FREE_LOGIN_FAILURES: u32 = 10;
/// The longest an address is made to wait.
pub const MAX_LOGIN_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// An address with no failure for this long is forgotten.
const LOGIN_MEMORY: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed logins by client address.
#[derive(Debug)]
pub struct LoginThrottle {
    table: Mutex<HashMap<IpAddr, Failures>>,
    capacity: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(10_000)
    }
}

/// IPv6 clients usually own a whole /64: count them as one.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl LoginThrottle {
    pub fn new(capacity: usize) -> LoginThrottle {
        LoginThrottle {
            table: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// `Err(wait)` while `ip` must wait before trying again.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let table = self.table.lock().expect("login throttle lock");
        match table.get(&address_key(ip)).and_then(|f| f.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed login from `ip`; returns how long it must now wait, if at all.
    pub fn failed(&self, ip: IpAddr) -> Option<Duration> {
        self.failed_at(ip, Instant::now())
    }

    pub fn failed_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let key = address_key(ip);
        let mut table = self.table.lock().expect("login throttle lock");
        if !table.contains_key(&key) && table.len() >= self.capacity {
            table.retain(|_, f| now.saturating_duration_since(f.last) < LOGIN_MEMORY);
            if table.len() >= self.capacity {
                if let Some(oldest) = table.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) {
                    table.remove(&oldest);
                }
            }
        }
        let f = table.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(f.last) >= LOGIN_MEMORY {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if f.count <= FREE_LOGIN_FAILURES {
            return None;
        }
        let exp = (f.count - FREE_LOGIN_FAILURES - 1).min(20);
        let wait = Duration::from_secs(1u64 << exp).min(MAX_LOGIN_BACKOFF);
        f.blocked_until = Some(now + wait);
        Some(wait)
    }

    pub fn len(&self) -> usize {
        self.table.lock().expect("login throttle lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// CloudStack's API rate limit: at most `max` requests per account per `interval`.
#[derive(Debug, Default)]
pub struct ApiLimiter {
    table: Mutex<HashMap<Uuid, (Instant, u64)>>,
}

impl ApiLimiter {
    /// Counts a request of `account`; `Err(wait)` when it is over the limit.
    pub fn hit(
        &self,
        account: Uuid,
        interval: Duration,
        max: u64,
        capacity: usize,
    ) -> Result<(), Duration> {
        self.hit_at(account, interval, max, capacity, Instant::now())
    }

    pub fn hit_at(
        &self,
        account: Uuid,
        interval: Duration,
        max: u64,
        capacity: usize,
        now: Instant,
    ) -> Result<(), Duration> {
        let capacity = capacity.max(1);
        let mut table = self.table.lock().expect("api limiter lock");
        if !table.contains_key(&account) && table.len() >= capacity {
            table.retain(|_, (start, _)| now.saturating_duration_since(*start) < interval);
            if table.len() >= capacity {
                if let Some(oldest) = table.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| *k) {
                    table.remove(&oldest);
                }
            }
        }
        let entry = table.entry(account).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= interval {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 <= max {
            Ok(())
        } else {
            Err((entry.0 + interval).saturating_duration_since(now))
        }
    }

    pub fn len(&self) -> usize {
        self.table.lock().expect("api limiter lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The per-server limits a [`crate::ctx::Ctx`] carries.
#[derive(Debug, Default)]
pub struct Guards {
    pub logins: LoginThrottle,
    pub api: ApiLimiter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pool_runs_at_most_its_threads_at_once() {
        let pool = HashPool::new(2, 100, Duration::from_secs(10));
        let pool = Arc::new(pool);
        let mut tasks = vec![];
        for i in 0..20 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    i
                })
                .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Ok(i));
        }
        let s = pool.stats();
        assert_eq!((s.peak, s.done, s.running), (2, 20, 0));
    }

    type Blocked = (
        Arc<HashPool>,
        Arc<std::sync::Barrier>,
        tokio::task::JoinHandle<Result<(), Busy>>,
    );

    /// A one-thread pool whose thread is busy until the returned barrier is passed.
    async fn blocked_pool(queue: usize, max_wait: Duration) -> Blocked {
        let pool = Arc::new(HashPool::new(1, queue, max_wait));
        let gate = Arc::new(std::sync::Barrier::new(2));
        let (g, p) = (gate.clone(), pool.clone());
        let first = tokio::spawn(async move {
            p.run(move || {
                g.wait();
            })
            .await
        });
        while pool.stats().running == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (pool, gate, first)
    }

    #[tokio::test]
    async fn pool_refuses_at_once_when_its_queue_is_full() {
        let (pool, gate, first) = blocked_pool(2, Duration::from_secs(10)).await;
        // Two may wait; the third is refused without waiting.
        let (p1, p2) = (pool.clone(), pool.clone());
        let w1 = tokio::spawn(async move { p1.run(|| 1).await });
        let w2 = tokio::spawn(async move { p2.run(|| 2).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = Instant::now();
        assert_eq!(pool.run(|| 3).await, Err(Busy));
        assert!(t.elapsed() < Duration::from_millis(100));
        gate.wait();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(w1.await.unwrap(), Ok(1));
        assert_eq!(w2.await.unwrap(), Ok(2));
    }

    #[tokio::test]
    async fn pool_gives_up_after_max_wait_and_skips_the_job() {
        let (pool, gate, first) = blocked_pool(10, Duration::from_millis(50)).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        assert_eq!(
            pool.run(move || r.fetch_add(1, Ordering::SeqCst)).await,
            Err(Busy)
        );
        gate.wait();
        let _ = first.await;
        assert_eq!(pool.run(|| ()).await, Ok(()));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "the abandoned job was skipped"
        );
    }

    #[test]
    fn login_throttle_backs_off_and_forgets() {
        let t = LoginThrottle::new(100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_LOGIN_FAILURES {
            assert_eq!(t.failed_at(ip, now), None);
            assert!(t.check_at(ip, now).is_ok());
        }
        assert_eq!(t.failed_at(ip, now), Some(Duration::from_secs(1)));
        assert_eq!(t.failed_at(ip, now), Some(Duration::from_secs(2)));
        assert_eq!(t.failed_at(ip, now), Some(Duration::from_secs(4)));
        assert_eq!(t.check_at(ip, now), Err(Duration::from_secs(4)));
        assert!(t.check_at(ip, now + Duration::from_secs(4)).is_ok());
        for _ in 0..40 {
            t.failed_at(ip, now);
        }
        assert_eq!(t.check_at(ip, now), Err(MAX_LOGIN_BACKOFF));
        // Another address is not affected; a /64 counts as one.
        assert!(t.check_at("10.0.0.2".parse().unwrap(), now).is_ok());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        for _ in 0..=FREE_LOGIN_FAILURES {
            t.failed_at(a, now);
        }
        assert!(t.check_at(b, now).is_err());
        // Long quiet: forgotten.
        let later = now + LOGIN_MEMORY + MAX_LOGIN_BACKOFF;
        assert_eq!(t.failed_at(ip, later), None);
    }

    #[test]
    fn login_throttle_table_is_bounded() {
        let t = LoginThrottle::new(50);
        let now = Instant::now();
        for i in 0..1000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed_at(ip, now + Duration::from_millis(i as u64));
        }
        assert_eq!(t.len(), 50);
    }

    #[test]
    fn api_limiter_counts_per_account_per_window() {
        let l = ApiLimiter::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Instant::now();
        let w = Duration::from_secs(10);
        for _ in 0..3 {
            assert!(l.hit_at(a, w, 3, 100, now).is_ok());
        }
        assert_eq!(
            l.hit_at(a, w, 3, 100, now + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert!(l.hit_at(b, w, 3, 100, now).is_ok());
        assert!(l.hit_at(a, w, 3, 100, now + w).is_ok(), "a new window");
        for i in 0..500u128 {
            let _ = l.hit_at(Uuid::from_u128(i + 1000), w, 3, 100, now);
        }
        assert_eq!(l.len(), 100);
    }
}
