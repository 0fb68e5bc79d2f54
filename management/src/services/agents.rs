//! Typed calls to a host agent's command API (HTTPS with mutual TLS, `stratus_api::agent::api`).
//!
//! Why one module: every VM operation talks to agents the same way — the endpoint from
//! the host row, a per-call timeout that fits the operation (a graceful stop may take a
//! minute; a definition a few seconds), and agent failures turned into one error that
//! names the host, the call and the agent's own text, so a failed deploy says *why*.

use crate::ids::VmId;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use stratus_api::agent::{
    api, migration, vm_snapshots, AgentError, GuestData, GuestNetwork, HostRuleSet, NetworkStatus,
    NfsFile, PowerOptions, RuleSetApplied, VmDestroyed, VmSpec, VmStatus, VmStopped,
};
use stratus_api::{ApiError, ErrorCode};

use crate::ctx::Ctx;
use crate::db::hosts::HostRow;

/// Time for calls that only define or query (the agent answers within seconds).
const QUICK: Duration = Duration::from_secs(60);

/// How much longer than its budget a call waits for the agent's answer: the agent
/// answers `504` itself when the budget runs out (and undoes what finishes later), so the
/// caller hears *why* instead of timing out blindly; this covers the network.
const GRACE: Duration = Duration::from_secs(10);

/// The agent's address for a host.
pub struct Agent<'a> {
    ctx: &'a Ctx,
    name: String,
    base: String,
}

impl<'a> Agent<'a> {
    pub fn of(ctx: &'a Ctx, host: &HostRow) -> Agent<'a> {
        let endpoint = std::net::SocketAddr::new(host.address.ip(), host.agent_port as u16);
        Agent {
            ctx,
            name: host.name.clone(),
            base: format!("https://{endpoint}"),
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<Option<T>, ApiError> {
        let url = format!("{}{path}", self.base);
        // The agent honours `timeout` (DEADLINE_HEADER); we wait a little longer for its word.
        let mut req = self
            .ctx
            .pki
            .agent_client()
            .request(method.clone(), &url)
            .header(api::DEADLINE_HEADER, timeout.as_millis().to_string())
            .timeout(timeout + GRACE);
        if let Some(b) = body {
            req = req.json(b);
        }
        let fail = |why: String| {
            ApiError::new(
                ErrorCode::ResourceUnavailable,
                format!("Host {} ({method} {path}): {why}", self.name),
            )
        };
        let resp = req.send().await.map_err(|e| {
            fail(if e.is_timeout() {
                format!(
                    "the agent did not answer within {} s",
                    (timeout + GRACE).as_secs()
                )
            } else {
                format!(
                    "the agent could not be reached: {}",
                    crate::error::chain(&e)
                )
            })
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = resp
            .text()
            .await
            .map_err(|e| fail(format!("reading the answer: {e}")))?;
        if !status.is_success() {
            let why = serde_json::from_str::<AgentError>(&text)
                .map(|e| e.error)
                .unwrap_or_else(|_| text.trim().to_string());
            return Err(fail(format!("the agent answered {status}: {why}")));
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| fail(format!("the agent's answer is not understood: {e}")))
    }

    fn missing(&self, what: &str) -> ApiError {
        ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!("Host {}: {what}", self.name),
        )
    }

    /// Bridge + dnsmasq with exactly these leases.
    pub async fn put_network(&self, n: &GuestNetwork) -> Result<NetworkStatus, ApiError> {
        self.call(
            reqwest::Method::PUT,
            &api::network(&n.bridge),
            Some(n),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing("the agent has no network API"))
    }

    /// One isolated network's guest segment on this host (its bridge and VLAN or VXLAN
    /// device; for VXLAN the flood list set to exactly the peers).
    pub async fn put_segment(
        &self,
        seg: &stratus_api::router::GuestSegment,
    ) -> Result<stratus_api::router::SegmentStatus, ApiError> {
        self.call(
            reqwest::Method::PUT,
            stratus_api::router::api::SEGMENTS,
            Some(seg),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing("the agent has no guest segment API"))
    }

    /// A router made so (namespace, legs, dnsmasq, nftables); the same spec again
    /// changes nothing.
    pub async fn put_router(
        &self,
        spec: &stratus_api::router::RouterSpec,
    ) -> Result<stratus_api::router::RouterStatus, ApiError> {
        self.call(
            reqwest::Method::PUT,
            &stratus_api::router::api::router(&spec.name),
            Some(spec),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing("the agent has no router API"))
    }

    /// A VM's guest data for router `name`'s metadata and password services.
    pub async fn put_router_guest(
        &self,
        name: &str,
        id: VmId,
        guest: &GuestData,
    ) -> Result<stratus_api::router::RouterStatus, ApiError> {
        self.call(
            reqwest::Method::PUT,
            &stratus_api::router::api::router_guest(name, id.into_uuid()),
            Some(guest),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("router {name} is not on the host")))
    }

    /// The router's status (None: the host has no such router).
    pub async fn get_router(
        &self,
        name: &str,
    ) -> Result<Option<stratus_api::router::RouterStatus>, ApiError> {
        self.call::<(), _>(
            reqwest::Method::GET,
            &stratus_api::router::api::router(name),
            None,
            QUICK,
        )
        .await
    }

    /// Removes the router from the host (answers whether it was there).
    pub async fn delete_router(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .call::<(), stratus_api::router::RouterRemoved>(
                reqwest::Method::DELETE,
                &stratus_api::router::api::router(name),
                None,
                QUICK,
            )
            .await?
            .is_some_and(|r| r.existed))
    }

    /// This host's whole guest filter (security groups); answers the generation in force.
    pub async fn put_rule_set(&self, set: &HostRuleSet) -> Result<RuleSetApplied, ApiError> {
        self.call(reqwest::Method::PUT, api::SECURITY_GROUPS, Some(set), QUICK)
            .await?
            .ok_or_else(|| self.missing("the agent has no security group API"))
    }

    /// Define and start (or bring in line) a VM within `budget` (`vm.start.timeout`): past
    /// it the agent answers 504 and destroys the domain if its start finishes later.
    pub async fn put_vm(&self, spec: &VmSpec, budget: Duration) -> Result<VmStatus, ApiError> {
        self.call(reqwest::Method::PUT, &api::vm(spec.id), Some(spec), budget)
            .await?
            .ok_or_else(|| self.missing("the agent has no VM API"))
    }

    pub async fn get_vm(&self, id: VmId) -> Result<Option<VmStatus>, ApiError> {
        self.call::<(), _>(reqwest::Method::GET, &api::vm(id.into()), None, QUICK)
            .await
    }

    /// Destroy and undefine; fine when it does not exist.
    pub async fn delete_vm(&self, id: VmId) -> Result<VmDestroyed, ApiError> {
        Ok(self
            .call::<(), VmDestroyed>(reqwest::Method::DELETE, &api::vm(id.into()), None, QUICK)
            .await?
            .unwrap_or(VmDestroyed { existed: false }))
    }

    /// Shut down (graceful, forced after `timeout_secs`) — `None` if the host has no such VM.
    pub async fn stop_vm(&self, id: VmId, o: PowerOptions) -> Result<Option<VmStopped>, ApiError> {
        self.call(
            reqwest::Method::POST,
            &api::vm_stop(id.into()),
            Some(&o),
            power_timeout(o),
        )
        .await
    }

    pub async fn reboot_vm(&self, id: VmId, o: PowerOptions) -> Result<VmStatus, ApiError> {
        self.call(
            reqwest::Method::POST,
            &api::vm_reboot(id.into()),
            Some(&o),
            power_timeout(o),
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    pub async fn insert_iso(&self, id: VmId, iso: &NfsFile) -> Result<VmStatus, ApiError> {
        self.call(
            reqwest::Method::POST,
            &api::vm_iso(id.into()),
            Some(iso),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    /// Rebuild the VM's config drive and the metadata it is served (a media change when
    /// running).
    pub async fn put_guest(&self, id: VmId, guest: &GuestData) -> Result<VmStatus, ApiError> {
        self.call(
            reqwest::Method::PUT,
            &api::vm_guest(id.into()),
            Some(guest),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    pub async fn eject_iso(&self, id: VmId) -> Result<Option<VmStatus>, ApiError> {
        self.call::<(), _>(
            reqwest::Method::DELETE,
            &api::vm_iso(id.into()),
            None,
            QUICK,
        )
        .await
    }
    // --- Data volumes (issue 16) ---

    /// Attach a data volume (hot-plugged if the VM runs, and in its definition).
    pub async fn attach_disk(
        &self,
        id: VmId,
        disk: &stratus_api::agent::DataDisk,
    ) -> Result<VmStatus, ApiError> {
        self.call(
            reqwest::Method::POST,
            &api::vm_disks(id.into()),
            Some(disk),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    /// Grow the data volume at `device` of the running VM to `bytes`, live.
    pub async fn resize_disk(
        &self,
        id: VmId,
        device: u32,
        bytes: u64,
    ) -> Result<VmStatus, ApiError> {
        let size = stratus_api::agent::DiskSize { bytes };
        self.call(
            reqwest::Method::PUT,
            &api::vm_disk_size(id.into(), device),
            Some(&size),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    /// Detach the data volume at `device`; the guest has [`DETACH_BUDGET`] to release it.
    /// `None` if the host has no such VM.
    pub async fn detach_disk(&self, id: VmId, device: u32) -> Result<Option<VmStatus>, ApiError> {
        self.call::<(), _>(
            reqwest::Method::DELETE,
            &api::vm_disk(id.into(), device),
            None,
            DETACH_BUDGET,
        )
        .await
    }
}

/// A hot-unplug waits for the guest to release the disk (the agent answers a conflict
/// when it does not, a little before this).
pub const DETACH_BUDGET: Duration = Duration::from_secs(30);

/// A graceful stop may take the whole shutdown timeout, plus the definition work.
fn power_timeout(o: PowerOptions) -> Duration {
    let grace = if o.forced {
        0
    } else {
        o.timeout_secs
            .unwrap_or(stratus_api::agent::DEFAULT_STOP_TIMEOUT_SECS)
    };
    QUICK + Duration::from_secs(grace)
}

// Live migration (issue 16; `stratus_api::agent::migration`).
impl Agent<'_> {
    /// On the destination: the VM's config drive made there before it arrives.
    pub async fn prepare_incoming(
        &self,
        id: VmId,
        incoming: &migration::Incoming,
    ) -> Result<migration::IncomingReady, ApiError> {
        self.call(
            reqwest::Method::PUT,
            &migration::vm_incoming(id.into()),
            Some(incoming),
            QUICK,
        )
        .await?
        .ok_or_else(|| self.missing("the agent cannot receive migrating VMs (too old)"))
    }

    /// On the source: move the running VM live, within `budget`.
    pub async fn migrate_vm(
        &self,
        id: VmId,
        order: &migration::MigrateVm,
        budget: Duration,
    ) -> Result<migration::VmMigrated, ApiError> {
        self.call(
            reqwest::Method::POST,
            &migration::vm_migrate(id.into()),
            Some(order),
            budget,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }
}

// Volume snapshots (issue 16; `stratus_api::agent::volume_snapshots`).
impl Agent<'_> {
    /// The running VM paused, its volume copied to `b.target`, the VM resumed; within
    /// `budget` (the agent kills a copy past `b.max_pause_secs` and resumes the VM).
    pub async fn backup_disk(
        &self,
        id: VmId,
        b: &stratus_api::agent::volume_snapshots::DiskBackup,
        budget: Duration,
    ) -> Result<stratus_api::agent::volume_snapshots::DiskBackedUp, ApiError> {
        self.call(
            reqwest::Method::POST,
            &stratus_api::agent::volume_snapshots::vm_disk_backup(id.into()),
            Some(b),
            budget,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }
}

// VM snapshots (issue 16; `stratus_api::agent::vm_snapshots`).
impl Agent<'_> {
    /// The running VM's snapshot with memory, within `budget` (the guest's memory is
    /// written into its root disk over NFS). Answers libvirt's XML of it.
    pub async fn create_vm_snapshot(
        &self,
        id: VmId,
        order: &vm_snapshots::CreateVmSnapshot,
        budget: Duration,
    ) -> Result<vm_snapshots::VmSnapshotTaken, ApiError> {
        self.call(
            reqwest::Method::POST,
            &vm_snapshots::vm_snapshots(id.into()),
            Some(order),
            budget,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    /// The running VM back at the snapshot `name`, running.
    pub async fn revert_vm_snapshot(
        &self,
        id: VmId,
        name: &str,
        order: &vm_snapshots::RevertVmSnapshot,
        budget: Duration,
    ) -> Result<VmStatus, ApiError> {
        self.call(
            reqwest::Method::POST,
            &vm_snapshots::vm_snapshot_revert(id.into(), name),
            Some(order),
            budget,
        )
        .await?
        .ok_or_else(|| self.missing(&format!("VM {id} is not defined there")))
    }

    /// The snapshot `name` deleted from the running VM (or only libvirt's record of it).
    /// `None` when the host has no such VM.
    pub async fn delete_vm_snapshot(
        &self,
        id: VmId,
        name: &str,
        order: &vm_snapshots::DeleteVmSnapshot,
        budget: Duration,
    ) -> Result<Option<vm_snapshots::VmSnapshotDeleted>, ApiError> {
        self.call(
            reqwest::Method::POST,
            &vm_snapshots::vm_snapshot_delete(id.into(), name),
            Some(order),
            budget,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graceful_stops_get_their_grace_period() {
        assert_eq!(power_timeout(PowerOptions::forced()), QUICK);
        assert_eq!(
            power_timeout(PowerOptions::default()),
            QUICK + Duration::from_secs(stratus_api::agent::DEFAULT_STOP_TIMEOUT_SECS)
        );
        let o = PowerOptions {
            forced: false,
            timeout_secs: Some(5),
        };
        assert_eq!(power_timeout(o), QUICK + Duration::from_secs(5));
    }
}
