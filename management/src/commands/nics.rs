//! listNics: one VM's NICs, each as listVirtualMachines' `nic` shows it
//! ([`super::vms::nic_response`]). Ansible's cs_portforward and cs_staticnat find a VM's
//! guest address here (its default NIC), libcloud's `ex_list_nics` lists them.

use stratus_api::envelope::Reply;
use stratus_api::types::NicResponse;

use super::{not_found, page_of, requests};
use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;
use crate::services::auth::Caller;

/// listNics: the NICs of `virtualmachineid`, a VM the caller may see (its own, a project's
/// it is a member of, any in a domain it administers; otherwise, like an unknown or
/// expunged VM, CloudStack's 431 naming the parameter). `nicid` and `networkid` pick NICs;
/// `keyword` matches part of a NIC's address, as CloudStack's `LIKE %keyword%`, except
/// with `nicid`, where CloudStack searches that NIC's secondary addresses instead: Stratus
/// NICs have none, so nothing matches. NICs are always displayed: `fordisplay=false` lists
/// none. CloudStack pages nothing here; Stratus honours `page`/`pagesize` like every list.
pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListNics<'_>) -> Result<Reply> {
    let vm_id = r.virtualmachineid();
    let nic_id = r.nicid();
    let network_id = r.networkid();
    let keyword = r.keyword().filter(|k| !k.is_empty());
    let displayed = r.fordisplay() != Some(false);
    // Paging is checked with the other parameters, before any lookup (page_of applies it).
    r.wire().page(ctx.page_size())?;
    let f = db::vms::VmFilter {
        common: db::ListFilter {
            id: Some(vm_id.into_uuid()),
            ..Default::default()
        },
        ..Default::default()
    };
    let vm = db::vms::vm_list(&ctx.pool, &f).await?.0.pop();
    let vm = match vm {
        Some(v) if may_see(ctx, caller, &v).await? => v,
        _ => return Err(not_found(r.wire(), "virtualmachineid")),
    };
    let items: Vec<NicResponse> = vm
        .nics
        .iter()
        .enumerate()
        .filter(|_| displayed)
        .filter(|(_, n)| nic_id.is_none_or(|id| n.id == id))
        .filter(|(_, n)| network_id.is_none_or(|id| n.network_id == id))
        .filter(|(_, n)| match keyword {
            None => true,
            Some(_) if nic_id.is_some() => false,
            Some(k) => n.ip_address.contains(k),
        })
        .map(|(i, n)| super::vms::nic_response(vm.vm.id, i, n))
        .collect();
    let (total, items) = page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("nic", total, items))
}

/// Whether the caller may see the VM: CloudStack's `checkAccess` on it.
async fn may_see(ctx: &Ctx, caller: &Caller, vm: &db::vms::VmListRow) -> Result<bool> {
    Ok(caller.manages_domain(&vm.domain_path)
        || super::projects::may_use(ctx, caller, vm.vm.account_id.into_uuid()).await?)
}
