//! Live migration (issue 16): `migrateVirtualMachine` and `findHostsForMigration`, root
//! admins only (the catalog says so). The work is `services::vms::migrate`'s.

use super::requests;
use stratus_api::envelope::Reply;
use stratus_api::types::HostForMigrationResponse;

use super::hosts::host_response;
use crate::ctx::Ctx;
use crate::error::Result;
use crate::services::auth::Caller;
use crate::services::vms::{self, migrate};

/// `migrateVirtualMachine`: the running VM moves live to `hostid`, or to the best host
/// (`autoselect` is what happens without `hostid` anyway); answers the VM, on its new host.
pub async fn migrate(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::MigrateVirtualMachine<'_>,
    job: Option<uuid::Uuid>,
) -> Result<Reply> {
    let vm = super::vms::owned(ctx, caller, r.wire(), "virtualmachineid").await?;
    r.wire().mark_read("autoselect");
    let want = r.hostid();
    let started = std::time::Instant::now();
    let moved = migrate::migrate(ctx, job.map(Into::into), vm.vm.id, want.map(Into::into)).await?;
    // How long it took, and how much of that was libvirt's own move (the floor).
    let libvirt = moved
        .libvirt
        .map(|m| {
            format!(
                ", libvirt's move {:.1} s{}",
                m.took.as_secs_f64(),
                if m.live {
                    " (live)"
                } else {
                    " (paused: an emulated guest moves in one pass)"
                }
            )
        })
        .unwrap_or_default();
    super::vms::lifecycle_event(
        ctx,
        caller,
        &vm,
        "VM.MIGRATE",
        &format!(
            "migrated to host {} in {:.1} s{libvirt}",
            moved.host.name,
            started.elapsed().as_secs_f64()
        ),
    )
    .await?;
    super::vms::vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

/// `findHostsForMigration`: the other hosts of the VM's zone, the suitable ones first.
pub async fn find_hosts(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::FindHostsForMigration<'_>,
) -> Result<Reply> {
    let vm = super::vms::owned(ctx, caller, r.wire(), "id").await?;
    let page = r.wire().page(ctx.page_size())?;
    let (total, targets) = migrate::targets(ctx, vm.vm.id, page).await?;
    let items: Vec<HostForMigrationResponse> = targets
        .iter()
        .map(|t| {
            let h = host_response(ctx, &t.host, false);
            HostForMigrationResponse {
                id: h.id,
                name: h.name,
                state: h.state,
                resourcestate: h.resourcestate,
                r#type: h.r#type,
                ipaddress: h.ipaddress,
                hypervisor: h.hypervisor,
                hypervisorversion: h.hypervisorversion,
                version: h.version,
                zoneid: h.zoneid,
                zonename: h.zonename,
                podid: h.podid,
                podname: h.podname,
                clusterid: h.clusterid,
                clustername: h.clustername,
                cpunumber: h.cpunumber,
                cpuspeed: h.cpuspeed,
                cpuallocated: h.cpuallocated,
                cpuused: h.cpuused,
                memorytotal: h.memorytotal,
                memoryallocated: h.memoryallocated,
                memoryused: h.memoryused,
                hosttags: h.hosttags,
                // Every root disk is on shared NFS that all hosts of the zone reach.
                requiresStorageMotion: Some(false),
                suitableformigration: Some(t.suitable),
            }
        })
        .collect();
    Ok(Reply::list("host", total, items))
}
