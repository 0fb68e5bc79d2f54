//! Everything the agent asks libvirt, behind a trait: the only module that calls libvirt.
//! libvirt's C API blocks, so callers run these methods off the async runtime
//! (`spawn_blocking`).

use std::sync::Mutex;

use stratus_api::agent::{DomainReport, DomainState};
use virt::connect::Connect;
use virt::domain::DomainState as VirState;

use crate::error::{Error, Result};

/// What the hypervisor says about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub hostname: String,
    pub cpu_sockets: u32,
    pub cpu_cores: u32,
    pub cpu_mhz: u32,
    pub memory_bytes: u64,
    pub libvirt_version: String,
    pub hypervisor_version: String,
}

pub trait Hypervisor: Send + Sync {
    fn node_facts(&self) -> Result<NodeFacts>;
    fn domains(&self) -> Result<Vec<DomainReport>>;
}

/// libvirt's packed version numbers: major * 1,000,000 + minor * 1,000 + release.
pub fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// The host's memory in KiB as the kernel counts it (MemTotal), from libvirt's memory
/// statistics over all NUMA cells. `node_info` sums the cells' own memory instead, which
/// can be a fraction of MemTotal (VMs whose extra memory belongs to no NUMA node: about half
/// on our test machines), while the used memory reported is MemTotal − MemAvailable.
/// `None` where the driver keeps no such statistics (the test driver).
#[allow(unsafe_code)]
fn total_memory_kib(c: &Connect) -> Option<u64> {
    use virt::sys;
    let all = sys::VIR_NODE_MEMORY_STATS_ALL_CELLS;
    let mut n: std::os::raw::c_int = 0;
    // SAFETY: the connection pointer is valid while `c` lives; the first call only counts
    // the parameters, the second fills a buffer of exactly that many, as libvirt documents.
    unsafe {
        let conn = c.as_ptr();
        if sys::virNodeGetMemoryStats(conn, all, std::ptr::null_mut(), &mut n, 0) != 0 || n <= 0 {
            sys::virResetLastError();
            return None;
        }
        let empty = sys::virNodeMemoryStats {
            field: [0; sys::VIR_NODE_MEMORY_STATS_FIELD_LENGTH as usize],
            value: 0,
        };
        let mut params = vec![empty; n as usize];
        if sys::virNodeGetMemoryStats(conn, all, params.as_mut_ptr(), &mut n, 0) != 0 {
            sys::virResetLastError();
            return None;
        }
        params.truncate(n.max(0) as usize);
        params
            .iter()
            .find(|p| {
                std::ffi::CStr::from_ptr(p.field.as_ptr()) == sys::VIR_NODE_MEMORY_STATS_TOTAL
            })
            .map(|p| p.value)
    }
}

/// A libvirt connection, opened on first use and reopened after an error.
pub struct Libvirt {
    uri: String,
    conn: Mutex<Option<Connect>>,
}

impl Libvirt {
    pub fn new(uri: &str) -> Libvirt {
        // libvirt's default handler prints every error to the terminal, including the
        // ones we expect and handle (e.g. a driver without memory statistics); our
        // callers report errors themselves.
        virt::error::clear_error_callback();
        Libvirt {
            uri: uri.to_string(),
            conn: Mutex::new(None),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connect) -> std::result::Result<T, virt::error::Error>,
    ) -> Result<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| Error::Libvirt("connection lock poisoned".into()))?;
        if guard.is_none() {
            let c = Connect::open(Some(&self.uri))
                .map_err(|e| Error::Libvirt(format!("connecting to {}: {e}", self.uri)))?;
            *guard = Some(c);
        }
        let result = f(guard.as_ref().expect("just set"));
        if result.is_err() {
            // Drop a connection that failed; the next call reconnects (libvirtd restarts).
            // (Dropping a `Connect` closes it.)
            guard.take();
        }
        result.map_err(|e| Error::Libvirt(e.to_string()))
    }
}

impl Hypervisor for Libvirt {
    fn node_facts(&self) -> Result<NodeFacts> {
        self.with(|c| {
            let info = c.node_info()?;
            Ok(NodeFacts {
                hostname: c.hostname()?,
                cpu_sockets: (info.sockets * info.nodes).max(1),
                cpu_cores: info.cpus,
                cpu_mhz: info.mhz,
                memory_bytes: total_memory_kib(c).unwrap_or(info.memory) * 1024,
                libvirt_version: version_string(c.lib_version()?),
                hypervisor_version: version_string(c.hyp_version()?),
            })
        })
    }

    fn domains(&self) -> Result<Vec<DomainReport>> {
        self.with(|c| {
            let mut out = vec![];
            for d in c.list_all_domains(0)? {
                let state = match d.state()?.0 {
                    virt::enumutil::Enum::Known(VirState::Running)
                    | virt::enumutil::Enum::Known(VirState::Blocked) => DomainState::Running,
                    virt::enumutil::Enum::Known(VirState::Paused)
                    | virt::enumutil::Enum::Known(VirState::PMSuspended) => DomainState::Paused,
                    virt::enumutil::Enum::Known(VirState::Shutdown) => DomainState::Shutdown,
                    virt::enumutil::Enum::Known(VirState::Shutoff) => DomainState::Shutoff,
                    virt::enumutil::Enum::Known(VirState::Crashed) => DomainState::Crashed,
                    _ => DomainState::Other,
                };
                out.push(DomainReport {
                    name: d.name()?,
                    uuid: d.uuid()?,
                    state,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_string(9_000_000), "9.0.0");
        assert_eq!(version_string(7_002_011), "7.2.11");
    }

    #[test]
    fn test_driver_facts_and_domains() {
        // libvirt's built-in test driver: no daemon, a fixed fake host with one domain.
        let lv = Libvirt::new("test:///default");
        let f = lv.node_facts().unwrap();
        assert!(f.cpu_cores > 0 && f.memory_bytes > 0, "{f:?}");
        assert!(f.libvirt_version.starts_with(|c: char| c.is_ascii_digit()));
        let d = lv.domains().unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "test");
        assert_eq!(d[0].state, DomainState::Running);
    }

    #[test]
    fn unreachable_libvirt_is_a_clear_error() {
        let lv = Libvirt::new("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
        let e = lv.node_facts().unwrap_err().to_string();
        assert!(e.contains("connecting to qemu+unix"), "{e}");
    }
}
