//! The download policy (`domain::download_policy`) applied where it matters: when a URL
//! is registered, and on every connection a download makes.
//!
//! A check at registration alone is not enough: the name may resolve elsewhere later (DNS
//! rebinding), and a redirect may point anywhere. So a download runs on a client of its
//! own whose **resolver** vets every address a name resolves to and hands reqwest only the
//! allowed ones — the connection is made to exactly the addresses that were checked, with
//! no second lookup — and whose **redirect policy** checks every hop (IP literals, which
//! never reach a resolver, are checked there and before the first request). Proxies from
//! the environment are not used: through a proxy the resolver would vet the proxy, not the
//! site.
//!
//! What a refused or failed download tells its owner: a refusal names the address and its
//! class (what the name resolves to, never what answered there). A failure on an
//! *allowed internal* address is described only to root admins; a tenant reads that the
//! internal site failed, and the detail goes to the log — otherwise the status texts
//! ("connection refused", "404", "not an ISO") would map the internal network.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::rules::download_policy::{Policy, Refusal};

/// At most this many redirects are followed.
pub const MAX_REDIRECTS: usize = 10;

/// One download's view of the policy: what it allowed and refused along the way.
#[derive(Debug)]
pub struct Guard {
    policy: Policy,
    internal: AtomicBool,
    refusal: Mutex<Option<Refusal>>,
}

/// The host of `url` as an address, if it is an IP literal.
fn literal(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

impl Guard {
    pub fn new(policy: Policy) -> Arc<Guard> {
        Arc::new(Guard {
            policy,
            internal: AtomicBool::new(false),
            refusal: Mutex::new(None),
        })
    }

    /// Checks one address, remembering an internal one or the refusal.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        match self.policy.check(ip) {
            Ok(internal) => {
                if internal {
                    self.internal.store(true, Ordering::SeqCst);
                }
                Ok(())
            }
            Err(r) => {
                if let Ok(mut slot) = self.refusal.lock() {
                    slot.get_or_insert_with(|| r.clone());
                }
                Err(r)
            }
        }
    }

    /// Checks a URL whose host is an IP literal (names are checked when resolved).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        match literal(url) {
            Some(ip) => self.check(ip),
            None => Ok(()),
        }
    }

    /// Whether the download reached (or was allowed to reach) an internal address.
    pub fn touched_internal(&self) -> bool {
        self.internal.load(Ordering::SeqCst)
    }

    /// The first address refused, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal.lock().ok().and_then(|r| r.clone())
    }

    /// A client that connects only where the policy allows.
    pub fn client(self: &Arc<Self>, connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
        let hops = self.clone();
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .no_proxy()
            .dns_resolver(Arc::new(Resolver(self.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                if !matches!(attempt.url().scheme(), "http" | "https") {
                    let scheme = attempt.url().scheme().to_string();
                    return attempt.error(format!("a redirect to a {scheme}: URL"));
                }
                match hops.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(r) => attempt.error(r),
                }
            }))
            .build()
    }
}

/// Resolves with the system's resolver, then keeps only the addresses the policy allows.
struct Resolver(Arc<Guard>);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move { vetted(&guard, name.as_str()).await })
    }
}

/// The allowed addresses of `host`; an error when none is.
async fn vetted(guard: &Guard, host: &str) -> Result<reqwest::dns::Addrs, BoxError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    let mut refused = None;
    let mut allowed = Vec::new();
    for a in found {
        match guard.check(a.ip()) {
            Ok(()) => allowed.push(a),
            Err(r) => {
                refused.get_or_insert(r);
            }
        }
    }
    match (allowed.is_empty(), refused) {
        (true, Some(r)) => Err(Box::new(r)),
        (true, None) => Err(format!("{host} has no address").into()),
        (false, _) => Ok(Box::new(allowed.into_iter())),
    }
}

/// The check `registerIso` makes before it records a URL: every address its host resolves
/// to now must be allowed (the downloader checks again on every connection). The error is
/// the text for the caller's 431.
pub async fn check_registration(policy: Policy, url: &url::Url) -> Result<(), String> {
    let guard = Guard::new(policy);
    let shown = crate::services::downloads::shown(url);
    if let Some(ip) = literal(url) {
        return guard
            .check(ip)
            .map_err(|r| format!("Cannot register {shown}: {r}"));
    }
    let host = url.host_str().unwrap_or_default();
    let lookup = tokio::net::lookup_host((host, 0));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(Duration::from_secs(10), lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(_)) | Err(_) => {
            return Err(format!(
                "Cannot register {shown}: unable to resolve the host name '{}'",
                stratus_api::params::shown(host)
            ))
        }
    };
    for a in &addrs {
        guard.check(a.ip()).map_err(|r| {
            format!(
                "Cannot register {shown}: {} resolves to {}, {}",
                stratus_api::params::shown(host),
                r.ip,
                r.what()
            )
        })?;
    }
    if addrs.is_empty() {
        return Err(format!("Cannot register {shown}: '{host}' has no address"));
    }
    Ok(())
}
