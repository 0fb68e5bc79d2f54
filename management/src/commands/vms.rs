//! Instances: deployVirtualMachine and the lifecycle commands, listVirtualMachines(Metrics),
//! listVolumes and listCapacity. The work itself (steps, agents) is in `crate::services::vms`;
//! these handlers check the request, the caller's access and the VM's state.

use super::requests;
use crate::ids::{ClusterId, IsoId, PodId, TemplateId, VmId, VolumeId, ZoneId};
use stratus_api::envelope::Reply;
use stratus_api::types::{
    CapacityResponse, NicResponse, VirtualMachineResponse, VmStatsItem, VmStatsResponse,
    VolumeResponse,
};
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::{self, tags::TagType, vms::VmListRow};
use crate::error::Result;
use crate::rules::limits::ResourceKind;
use crate::rules::states::{AllocationState, VolumeState};
use crate::rules::vmstate::{VmEvent, VmState};
use crate::services::auth::Caller;
use crate::services::limits;
use crate::services::vms::{self, guest, Options};
use crate::settings::{self, Scope};

/// One NIC as CloudStack's NicResponse answers it, in listVirtualMachines' `nic` and in
/// listNics: `device` is its place among the VM's NICs (the default first), CloudStack's
/// `deviceid`.
pub(super) fn nic_response(vm: VmId, device: usize, n: &db::vms::NicView) -> NicResponse {
    NicResponse {
        id: Some(n.id.into_uuid()),
        networkid: Some(n.network_id.into_uuid()),
        networkname: Some(n.network_name.clone()),
        netmask: n.netmask.clone(),
        gateway: n.gateway.clone(),
        ipaddress: Some(n.ip_address.clone()),
        isolationuri: n.broadcast_uri.clone(),
        broadcasturi: n.broadcast_uri.clone(),
        traffictype: Some("Guest".into()),
        r#type: Some(if n.guest_type.is_empty() {
            "Shared".into()
        } else {
            n.guest_type.clone()
        }),
        isdefault: Some(n.is_default),
        macaddress: Some(n.mac_address.clone()),
        deviceid: Some(device.to_string()),
        virtualmachineid: Some(vm.into_uuid()),
        secondaryip: vec![],
        extradhcpoption: vec![],
    }
}

pub fn response(r: &VmListRow, metrics: bool) -> VirtualMachineResponse {
    let v = &r.vm;
    let nics: Vec<NicResponse> = r
        .nics
        .iter()
        .enumerate()
        .map(|(i, n)| nic_response(v.id, i, n))
        .collect();
    let ip = nics
        .iter()
        .find(|n| n.isdefault == Some(true))
        .and_then(|n| n.ipaddress.clone());
    let placed = v.state.holds_capacity();
    VirtualMachineResponse {
        id: Some(v.id.into_uuid()),
        vmtype: Some("User".into()),
        hasannotations: Some(false),
        name: Some(v.name.clone()),
        displayname: Some(v.display_name.clone()),
        account: Some(r.account_name.clone()),
        userid: v.user_id.map(Into::into),
        username: r.user_name.clone(),
        domainid: Some(v.domain_id.into_uuid()),
        domain: Some(r.domain_name.clone()),
        domainpath: Some(r.domain_path.clone()),
        projectid: r.project_id.map(Into::into),
        project: r.project_name.clone(),
        created: Some(v.created.into()),
        lastupdated: Some(v.state_changed.into()),
        state: Some(v.state.to_string()),
        haenable: Some(false),
        zoneid: Some(v.zone_id.into_uuid()),
        zonename: Some(r.zone_name.clone()),
        hostid: if placed {
            v.host_id.map(Into::into)
        } else {
            None
        },
        hostname: if placed { r.host_name.clone() } else { None },
        // Deployed from an ISO: CloudStack shows the ISO as the template too.
        templateid: v
            .template_id
            .map(TemplateId::into_uuid)
            .or(v.iso_id.map(IsoId::into_uuid)),
        templatename: r.template_name.clone().or(r.iso_name.clone()),
        templatedisplaytext: r
            .template_display_text
            .clone()
            .or(r.iso_display_text.clone()),
        templatetype: r.template_type.clone(),
        templateformat: r.template_format.clone(),
        passwordenabled: Some(r.password_enabled == Some(true)),
        isoid: v.iso_id.map(Into::into),
        isoname: r.iso_name.clone(),
        isodisplaytext: r.iso_display_text.clone(),
        serviceofferingid: Some(v.service_offering_id.into_uuid()),
        serviceofferingname: Some(r.service_offering_name.clone()),
        diskofferingid: v.disk_offering_id.map(Into::into),
        diskofferingname: r.disk_offering_name.clone(),
        cpunumber: Some(v.cpu_number),
        cpuspeed: Some(v.cpu_mhz),
        memory: Some(v.memory_mb),
        guestosid: r.os_type_id.map(Into::into),
        ostypeid: r.os_type_id.map(Into::into),
        osdisplayname: r.os_display_name.clone(),
        rootdeviceid: Some(0),
        rootdevicetype: Some("ROOT".into()),
        // Every Stratus primary pool is NFS: CloudStack's NetworkFilesystem.
        pooltype: r.root_volume_id.map(|_| "NetworkFilesystem".into()),
        securitygroup: vec![],
        affinitygroup: vec![],
        nic: nics,
        hypervisor: Some("KVM".into()),
        instancename: Some(r.instance_name.clone()),
        keypairs: v.keypair.clone(),
        keypair: guest::keypair_names(v.keypair.as_deref())
            .into_iter()
            .next(),
        userdataid: v.user_data_id.map(Into::into),
        userdataname: r.user_data_name.clone(),
        userdatapolicy: v.user_data_id.map(|_| "ALLOWOVERRIDE".into()),
        isdynamicallyscalable: Some(false),
        displayvm: Some(true),
        arch: Some("x86_64".into()),
        details: Some(serde_json::json!({})),
        tags: vec![],
        ipaddress: ip.clone(),
        errortext: v.error_text.clone(),
        memorytotal: metrics.then(|| format!("{:.2} GB", f64::from(v.memory_mb) / 1024.0)),
        cputotal: metrics.then(|| {
            format!(
                "{:.2} Ghz",
                f64::from(v.cpu_number) * f64::from(v.cpu_mhz) / 1000.0
            )
        }),
        ipaddresses: if metrics { ip } else { None },
        ..Default::default()
    }
}

/// The VM named by `name` (an id parameter), if the caller may act on it.
pub(super) async fn owned(ctx: &Ctx, caller: &Caller, p: &Params, name: &str) -> Result<VmListRow> {
    let id = p.required_uuid(name)?;
    match vms::view(ctx, id).await {
        // The caller's own, or a project's it is a member of.
        Ok(v) if super::projects::may_use(ctx, caller, v.vm.account_id.into_uuid()).await? => Ok(v),
        _ => Err(not_found(p, name)),
    }
}

/// One VM's answer, with its tags (what every command answering a VM shows).
async fn answer(ctx: &Ctx, r: &VmListRow) -> Result<VirtualMachineResponse> {
    Ok(VirtualMachineResponse {
        tags: super::tags::tags_of_one(ctx, TagType::UserVm, r.vm.id.into_uuid()).await?,
        securitygroup: super::security_groups::of_vms(ctx, &[r.vm.id])
            .await?
            .remove(&r.vm.id)
            .unwrap_or_default(),
        ..response(r, false)
    })
}

pub(super) async fn vm_reply(ctx: &Ctx, r: &VmListRow) -> Result<Reply> {
    Ok(Reply::object("virtualmachine", &answer(ctx, r).await?))
}

/// The synchronous half of deployVirtualMachine (CloudStack's create phase): checks the
/// request and records the VM, Stopped; the job then starts it. Answers the VM's id.
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeployVirtualMachine<'_>,
) -> Result<Uuid> {
    // With `projectid`, the project's own account owns the VM (the caller must be a
    // member and the project Active); its limits are the project's.
    let project = super::projects::owner_for_create(ctx, caller, r.wire()).await?;
    let (owner, owner_domain) = project
        .as_ref()
        .map_or((caller.account_id(), caller.domain_id()), |p| {
            (p.account_id, p.domain_id)
        });
    let zone_id = r.zoneid();
    let zone = db::topology::zone_fetch(&ctx.pool, zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
    if zone.allocation_state != AllocationState::Enabled && !caller.is_root_admin() {
        return Err(ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!("Cannot deploy in zone {}: it is disabled", zone.name),
        )
        .into());
    }
    // Security groups: those named, or the owner's `default`, where the zone enforces
    // them; naming any elsewhere is an error, as in CloudStack.
    let groups =
        super::security_groups::for_vm(ctx, owner, r.securitygroupids(), r.securitygroupnames())
            .await?;
    let groups = match (zone.security_groups_enabled, groups) {
        (true, Some(g)) => g,
        (true, None) => vec![super::security_groups::default_group(ctx, owner).await?],
        (false, Some(_)) => return Err(super::security_groups::refuse_in_zone()),
        (false, None) => vec![],
    };
    let so = db::offerings::service_offering_fetch(&ctx.pool, r.serviceofferingid())
        .await?
        .filter(|o| o.removed.is_none())
        .ok_or_else(|| not_found(r.wire(), "serviceofferingid"))?;
    if let Some(h) = r.hypervisor() {
        crate::rules::states::hypervisor(h)?;
    }
    let image_id = r.templateid();
    let template = match db::templates::template_fetch(&ctx.pool, image_id)
        .await?
        .filter(|t| t.removed.is_none())
    {
        Some(_) => Some(
            crate::services::templates::ready_file(ctx, caller, owner, image_id, zone.id).await?,
        ),
        None => None,
    };
    let (iso, disk, root_bytes) = match &template {
        Some(t) => {
            // With a template, CloudStack's diskofferingid and size describe a data disk.
            for name in ["diskofferingid", "size"] {
                if r.wire().str(name).is_some() {
                    return Err(ApiError::param(format!(
                        "Parameter {name} (a data disk with a template) is not supported by Stratus yet: data volumes are not available; give rootdisksize to grow the root disk"
                    ))
                    .into());
                }
            }
            let root = match r.rootdisksize() {
                Some(gb) => root_size_on_template(gb, t)?,
                None => t.virtual_size,
            };
            (None, None, root)
        }
        None => {
            let iso =
                iso_to_install(ctx, caller, owner.into_uuid(), image_id.into_uuid(), &zone).await?;
            let disk = iso_root_disk(ctx, r.wire()).await?;
            let gb = r.size().or(r.rootdisksize());
            let root = gb
                .or(disk.as_ref().and_then(|d| d.disk_size_gb))
                .unwrap_or(0)
                << 30;
            (Some(iso), disk, root)
        }
    };
    if let Some(ip) = r.ipaddress() {
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| ApiError::param(format!("Invalid IP address '{ip}'")))?;
    }
    if r.hostid().is_some() && !caller.is_root_admin() {
        return Err(ApiError::param("Only root admins may choose the host (hostid)").into());
    }
    let id = VmId::new_v4();
    let name = match r.name() {
        Some(n) => checked_name(n)?,
        None => format!("VM-{id}"),
    };
    let display = r
        .displayname()
        .map(str::to_string)
        .unwrap_or_else(|| name.clone());
    // The job half reads startvm (and, through `options`, ipaddress, hostid and the
    // sizes, all checked above).
    r.wire().mark_read("startvm");
    let keypair = r
        .keypair()
        .map(str::to_string)
        .or(r.keypairs().map(|k| k.join(",")));
    // The owner's key pairs: a project's VM takes the project's (CloudStack).
    let owner_name = project
        .as_ref()
        .map_or(caller.user.account_name.as_str(), |p| {
            p.account_name.as_str()
        });
    if let Some(names) = &keypair {
        super::sshkeys::require(ctx, owner.into_uuid(), owner_name, names).await?;
    }
    let user_data = super::userdata::for_vm(ctx, caller, r.wire()).await?;
    // An Advanced zone's VM gets its NICs on the owner's isolated networks now (their
    // addresses are held from here on); a Basic zone's gets its one at the start.
    let networks = super::networks::for_deploy(
        ctx,
        &zone,
        (owner, owner_domain),
        owner_name,
        r.networkids(),
    )
    .await?;
    // The registry checks the value (vms.instance_suffix's constraint); a bad one is not used.
    let suffix = ctx.get(&settings::INSTANCE_NAME);
    let mut tx = ctx.pool.begin().await?;
    // The account's row stays locked until the VM is recorded: allocations of one
    // account are admitted one at a time.
    limits::admit(
        ctx,
        &mut tx,
        owner,
        &[
            (ResourceKind::UserVm, 1),
            (ResourceKind::Cpu, so.cpu_number.into()),
            (ResourceKind::Memory, so.memory_mb.into()),
            (ResourceKind::Volume, 1),
            (ResourceKind::PrimaryStorage, root_bytes),
        ],
    )
    .await?;
    db::vms::vm_insert(
        &mut tx,
        &db::vms::NewVm {
            id,
            name: &name,
            display_name: &display,
            account_id: owner,
            domain_id: owner_domain,
            user_id: caller.user_id(),
            zone_id: zone.id,
            service_offering_id: so.id,
            disk_offering_id: disk.as_ref().map(|d| d.id),
            iso_id: iso.as_ref().map(|i| i.id),
            template_id: template.as_ref().map(|t| t.template_id),
            cpu_number: so.cpu_number,
            cpu_mhz: so.cpu_speed,
            memory_mb: so.memory_mb,
            keypair: keypair.as_deref(),
            user_data: user_data.as_ref().map(|u| u.0.as_str()),
            user_data_id: user_data.as_ref().and_then(|u| u.1),
            password_pending: None,
            encrypted_password: None,
            instance_suffix: &suffix,
            root_reserved_bytes: root_bytes,
        },
    )
    .await?;
    db::security_groups::vm_groups_set(&mut tx, id, &groups).await?;
    let wanted_ip = r.ipaddress().and_then(|s| s.parse().ok());
    for (i, net) in networks.iter().enumerate() {
        let got = match wanted_ip.filter(|_| i == 0) {
            Some(ip) => db::nics::nic_allocate_ip_in_txn(&mut tx, id, net.id, ip).await?,
            None => db::nics::nic_allocate_in_txn(&mut tx, id, net.id).await?,
        };
        if got.is_none() {
            return Err(ApiError::new(
                ErrorCode::InsufficientCapacity,
                match wanted_ip.filter(|_| i == 0) {
                    Some(ip) => format!(
                        "The IP address {ip} is not available in network {}: it is outside its CIDR, its gateway, or already in use",
                        net.name
                    ),
                    None => format!("Every address of network {} is allocated", net.name),
                },
            )
            .into());
        }
    }
    if let Some(first) = networks.first() {
        db::nics::nic_set_default(&mut tx, id, first.id).await?;
    }
    super::event_for_owner(
        &mut tx,
        &caller.user,
        (owner, owner_domain),
        "VM.CREATE",
        format!(
            "Created VM {display} ({so_name}) from {image}",
            so_name = so.name,
            image = match (&template, &iso) {
                (Some(t), _) => format!("template {}", t.name),
                (None, Some(i)) => format!("ISO {}", i.name),
                (None, None) => "nothing".into(),
            }
        ),
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            id,
            display.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    if template.as_ref().is_some_and(|t| t.password_enabled) {
        // Shown once, in the deploy's result; the guest fetches it from its host.
        guest::set_new_password(ctx, id, owner, keypair.as_deref()).await?;
    }
    Ok(id.into())
}

fn options(r: &requests::DeployVirtualMachine<'_>) -> Result<Options> {
    Ok(Options {
        ip: r.ipaddress().and_then(|s| s.parse().ok()),
        host_id: r.hostid(),
        size_bytes: r.size().or(r.rootdisksize()).map(|gb| gb << 30),
    })
}

/// The job half of deployVirtualMachine: start the VM recorded by [`create`]. A job
/// re-run after a takeover finds its workflow and resumes it, or answers what it came to.
pub async fn deploy(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeployVirtualMachine<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    // Read before the start hands it to the agent (and forgets it).
    let password = guest::pending_password(ctx, &vm.vm)?;
    if r.startvm() != Some(false) {
        vms::deploy(ctx, job.map(Into::into), vm.vm.id, options(r)?).await?;
    }
    let mut r = answer(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await?;
    r.password = password;
    Ok(Reply::object("virtualmachine", &r))
}

pub async fn start(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::StartVirtualMachine<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    let host = r.hostid();
    if host.is_some() && !caller.is_root_admin() {
        return Err(ApiError::param("Only root admins may choose the host (hostid)").into());
    }
    vms::start(ctx, job.map(Into::into), vm.vm.id, host).await?;
    lifecycle_event(ctx, caller, &vm, "VM.START", "started").await?;
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

pub(super) async fn lifecycle_event(
    ctx: &Ctx,
    caller: &Caller,
    vm: &VmListRow,
    kind: &str,
    what: &str,
) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    event(
        &mut tx,
        &caller.user,
        kind,
        format!("VM {} {what}", vm.vm.display_name),
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            vm.vm.id,
            vm.vm.display_name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn stop(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::StopVirtualMachine<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    let forced = r.forced() == Some(true);
    if vm.vm.state != VmState::Stopped {
        vms::stop(ctx, vm.vm.id, forced).await?;
        let what = if forced {
            "stopped (forced)"
        } else {
            "stopped"
        };
        lifecycle_event(ctx, caller, &vm, "VM.STOP", what).await?;
    }
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

pub async fn reboot(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RebootVirtualMachine<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    vms::reboot(ctx, job.map(Into::into), vm.vm.id, r.forced() == Some(true)).await?;
    lifecycle_event(ctx, caller, &vm, "VM.REBOOT", "rebooted").await?;
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

pub async fn destroy(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DestroyVirtualMachine<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    let expunge = r.expunge() == Some(true);
    if expunge
        && !caller.is_root_admin()
        && !ctx.get_in(
            &settings::ALLOW_USER_EXPUNGE_RECOVER_VM,
            Scope::Account(caller.user.account_id),
        )
    {
        return Err(ApiError::param(
            "Parameter expunge can be passed by Admin only. Or when the allow.user.expunge.recover.vm key is set.",
        )
        .into());
    }
    if vm.vm.state != VmState::Destroyed {
        vms::destroy(ctx, vm.vm.id).await?;
        lifecycle_event(ctx, caller, &vm, "VM.DESTROY", "destroyed").await?;
    }
    let after = vms::view(ctx, vm.vm.id.into_uuid()).await?;
    if expunge {
        vms::expunge(ctx, job.map(Into::into), vm.vm.id).await?;
        // The answer shows the VM as it was last seen, now Expunged.
        let mut r = answer(ctx, &after).await?;
        r.state = Some(VmState::Expunged.as_str().into());
        return Ok(Reply::object("virtualmachine", &r));
    }
    vm_reply(ctx, &after).await
}

pub async fn recover(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RecoverVirtualMachine<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    if !caller.is_root_admin()
        && !ctx.get_in(
            &settings::ALLOW_USER_EXPUNGE_RECOVER_VM,
            Scope::Account(caller.user.account_id),
        )
    {
        return Err(ApiError::param(
            "Only root admins may recover a destroyed VM (or set allow.user.expunge.recover.vm)",
        )
        .into());
    }
    vm.vm.state.require(VmEvent::Recover, &vm.vm.display_name)?;
    // A recovered VM counts again: it must fit the account's limits as a new one does.
    let root = db::volumes::volume_root_of_vm(&ctx.pool, vm.vm.id)
        .await?
        .map_or(0, |v| v.size_bytes);
    let mut tx = ctx.pool.begin().await?;
    limits::admit(
        ctx,
        &mut tx,
        vm.vm.account_id,
        &[
            (ResourceKind::UserVm, 1),
            (ResourceKind::Cpu, vm.vm.cpu_number.into()),
            (ResourceKind::Memory, vm.vm.memory_mb.into()),
            (ResourceKind::Volume, 1),
            (ResourceKind::PrimaryStorage, root),
        ],
    )
    .await?;
    db::vms::vm_mark_recovered(&mut *tx, vm.vm.id).await?;
    tx.commit().await?;
    lifecycle_event(ctx, caller, &vm, "VM.RECOVER", "recovered").await?;
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

pub async fn expunge(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ExpungeVirtualMachine<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    vms::expunge(ctx, job.map(Into::into), vm.vm.id).await?;
    Ok(Reply::Success { displaytext: None })
}

pub async fn attach_iso(ctx: &Ctx, caller: &Caller, r: &requests::AttachIso<'_>) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "virtualmachineid").await?;
    let iso = db::isos::iso_fetch(&ctx.pool, r.id())
        .await?
        .filter(|i| i.removed.is_none())
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    // Public ISOs, the VM owner's (a project VM takes its project's) or shared with it,
    // and those of an account the caller acts for (its own, its projects').
    let usable = db::images::visible_to(
        &ctx.pool,
        db::images::Kind::Iso,
        iso.id.into_uuid(),
        vm.vm.account_id,
    )
    .await?
        || super::projects::may_use(ctx, caller, iso.account_id.into_uuid()).await?;
    if !usable {
        return Err(not_found(r.wire(), "id"));
    }
    if vm.vm.iso_id.is_some() && vm.vm.iso_id != Some(iso.id) {
        return Err(ApiError::param(format!(
            "VM {} already has ISO {} attached; detach it first",
            vm.vm.display_name,
            vm.iso_name.clone().unwrap_or_default()
        ))
        .into());
    }
    vms::change_iso(ctx, vm.vm.id, Some(iso.id)).await?;
    lifecycle_event(
        ctx,
        caller,
        &vm,
        "ISO.ATTACH",
        &format!("got ISO {} attached", iso.name),
    )
    .await?;
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

pub async fn detach_iso(ctx: &Ctx, caller: &Caller, r: &requests::DetachIso<'_>) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "virtualmachineid").await?;
    if vm.vm.iso_id.is_none() {
        return Err(
            ApiError::param(format!("VM {} has no ISO attached", vm.vm.display_name)).into(),
        );
    }
    vms::change_iso(ctx, vm.vm.id, None).await?;
    lifecycle_event(ctx, caller, &vm, "ISO.DETACH", "had its ISO detached").await?;
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

/// Whose resources a list shows ([`super::scope`]), as the filters' pair.
async fn owners(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
) -> Result<(Option<Uuid>, Option<Vec<Uuid>>, bool)> {
    Ok(
        super::scope::owners(ctx, caller, p, super::scope::Fallback::Own)
            .await?
            .split(),
    )
}

pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListVirtualMachines<'_>,
    metrics: bool,
) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) = owners(ctx, caller, r.wire()).await?;
    let mut f = db::vms::VmFilter {
        common: list_filter(ctx, r.wire())?,
        account_id: account_id.map(Into::into),
        account_ids: account_ids.map(|v| v.into_iter().map(Into::into).collect()),
        skip_projects,
        // `domainid` is part of whose VMs these are (the scope above).
        domain_id: None,
        zone_id: r.zoneid(),
        host_id: r.hostid(),
        state: r.state().map(db::vms::StateFilter::parse),
        // A VM's template and ISO ids share the filter: CloudStack's `templateid` matches either.
        iso_id: r
            .isoid()
            .or(r.templateid().map(|t| IsoId::from(t.into_uuid()))),
        network_id: r.networkid(),
        service_offering_id: r.serviceofferingid(),
        tags: super::tags::wanted(r.wire())?,
    };
    if let Some(g) = r.securitygroupid() {
        // The group's members (their number is what one account runs); with `ids`, the
        // members among those.
        let members: Vec<Uuid> = db::security_groups::members_of_groups(&ctx.pool, &[g])
            .await?
            .into_iter()
            .map(|m| m.vm_id.into_uuid())
            .filter(|m| f.common.ids.as_ref().is_none_or(|ids| ids.contains(m)))
            .collect();
        f.common.ids = Some(members);
    }
    let (rows, total) = db::vms::vm_list(&ctx.pool, &f).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.vm.id.into_uuid()).collect();
    let mut tags = super::tags::tags_of(ctx, TagType::UserVm, &ids).await?;
    let vm_ids: Vec<VmId> = rows.iter().map(|r| r.vm.id).collect();
    let mut groups = super::security_groups::of_vms(ctx, &vm_ids).await?;
    // CloudStack answers `details` (min, all, …) by how much it fills in; Stratus always
    // answers everything it has.
    r.wire().mark_read("details");
    // The user data itself only when asked (CloudStack's `userdata=true`, since 4.18).
    let show_user_data = r.userdata() == Some(true);
    // Usage: the newest sample of each running VM (a stopped VM's numbers are history,
    // kept for listVirtualMachinesUsageHistory).
    let running: Vec<VmId> = rows
        .iter()
        .filter(|r| r.vm.state == VmState::Running)
        .map(|r| r.vm.id)
        .collect();
    let mut latest: std::collections::HashMap<VmId, db::vms::VmMetricRow> =
        db::vms::vm_metrics_latest(&ctx.pool, &running)
            .await?
            .into_iter()
            .map(|m| (m.vm_id, m))
            .collect();
    let items: Vec<VirtualMachineResponse> = rows
        .iter()
        .map(|r| {
            let mut v = VirtualMachineResponse {
                tags: tags.remove(&r.vm.id.into_uuid()).unwrap_or_default(),
                securitygroup: groups.remove(&r.vm.id).unwrap_or_default(),
                ..response(r, metrics)
            };
            if show_user_data {
                v.userdata = r.vm.user_data.clone();
            }
            if let Some(m) = latest.remove(&r.vm.id) {
                let s = stats_item(&m);
                v.cpuused = s.cpuused;
                v.memorykbs = s.memorykbs;
                v.memoryintfreekbs = s.memoryintfreekbs;
                v.diskkbsread = s.diskkbsread;
                v.diskkbswrite = s.diskkbswrite;
                v.diskioread = s.diskioread;
                v.diskiowrite = s.diskiowrite;
                v.networkkbsread = s.networkkbsread;
                v.networkkbswrite = s.networkkbswrite;
            }
            v
        })
        .collect();
    Ok(Reply::list("virtualmachine", total, items))
}

/// One retained sample as the API answers it (CloudStack's units: KiB, percent text).
fn stats_item(m: &db::vms::VmMetricRow) -> VmStatsItem {
    VmStatsItem {
        timestamp: Some(m.at.into()),
        cpuused: m.cpu_used_percent.map(|c| format!("{c:.2}%")),
        memorykbs: Some(m.memory_bytes / 1024),
        memoryintfreekbs: m.memory_unused_bytes.map(|b| b / 1024),
        diskkbsread: Some(m.disk_read_bytes / 1024),
        diskkbswrite: Some(m.disk_write_bytes / 1024),
        diskioread: Some(m.disk_read_ops),
        diskiowrite: Some(m.disk_write_ops),
        networkkbsread: Some(m.network_rx_bytes / 1024),
        networkkbswrite: Some(m.network_tx_bytes / 1024),
    }
}

/// listVirtualMachinesUsageHistory: the samples kept for each listed VM (the caller's
/// own unless an admin), oldest first, between `startdate` and `enddate` when given.
pub async fn usage_history(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListVirtualMachinesUsageHistory<'_>,
) -> Result<Reply> {
    let f = db::vms::VmFilter {
        common: list_filter(ctx, r.wire())?,
        account_id: (!caller.is_root_admin()).then(|| caller.account_id()),
        ..Default::default()
    };
    let start =
        super::accounts::parse_date(r.wire(), "startdate")?.unwrap_or(chrono::DateTime::UNIX_EPOCH);
    let end = super::accounts::parse_date(r.wire(), "enddate")?;
    let (rows, total) = db::vms::vm_list(&ctx.pool, &f).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let samples = db::vms::vm_metrics_list(&ctx.pool, r.vm.id, start, end).await?;
        items.push(VmStatsResponse {
            id: Some(r.vm.id.into_uuid()),
            name: Some(r.vm.name.clone()),
            displayname: Some(r.vm.display_name.clone()),
            stats: samples.iter().map(stats_item).collect(),
        });
    }
    Ok(Reply::list("virtualmachine", total, items))
}

pub async fn list_volumes(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListVolumes<'_>,
) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) = owners(ctx, caller, r.wire()).await?;
    let f = db::volumes::VolumeFilter {
        common: list_filter(ctx, r.wire())?,
        account_id: account_id.map(Into::into),
        account_ids,
        skip_projects,
        vm_id: r.virtualmachineid(),
        zone_id: r.zoneid(),
        pool_id: if caller.is_root_admin() {
            r.storageid()
        } else {
            None
        },
        volume_type: r.r#type().map(str::to_string),
        tags: super::tags::wanted(r.wire())?,
    };
    let (rows, total) = db::volumes::volume_list(&ctx.pool, &f).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.volume.id.into_uuid()).collect();
    let mut tags = super::tags::tags_of(ctx, TagType::Volume, &ids).await?;
    let admin = caller.is_root_admin();
    let items: Vec<VolumeResponse> = rows
        .iter()
        .map(|r| {
            volume_response(
                r,
                admin,
                tags.remove(&r.volume.id.into_uuid()).unwrap_or_default(),
            )
        })
        .collect();
    Ok(Reply::list("volume", total, items))
}

/// One listVolumes item (also what the volume commands answer). An Allocated volume has
/// no file yet: no storage is shown for it, as in CloudStack.
pub(super) fn volume_response(
    r: &db::volumes::VolumeListRow,
    admin: bool,
    tags: Vec<serde_json::Value>,
) -> VolumeResponse {
    let placed = r.volume.state != VolumeState::Allocated;
    let v = &r.volume;
    let root = v.volume_type == "ROOT";
    VolumeResponse {
        domainpath: r.domain_path.clone(),
        projectid: r.project_id,
        project: r.project_name.clone(),
        diskofferingdisplaytext: r.disk_offering_display_text.clone(),
        podid: r.pod_id.map(Into::into),
        podname: r.pod_name.clone(),
        clusterid: r.cluster_id.map(Into::into),
        clustername: r.cluster_name.clone(),
        virtualsize: Some(v.size_bytes),
        // As last measured (reconcile, every storage.stats.interval); CloudStack
        // too answers none before its first volume stats.
        physicalsize: r.physical_bytes,
        templateid: v.template_id,
        templatename: r.template_name.clone(),
        templatedisplaytext: r.template_display_text.clone(),
        isoid: r.iso_id.filter(|_| root).map(Into::into),
        isoname: r.iso_name.clone().filter(|_| root),
        isodisplaytext: r.iso_display_text.clone().filter(|_| root),
        serviceofferingid: r.service_offering_id.filter(|_| root).map(Into::into),
        serviceofferingname: r.service_offering_name.clone().filter(|_| root),
        serviceofferingdisplaytext: r.service_offering_display_text.clone().filter(|_| root),
        displayvolume: Some(true),
        hasannotations: Some(false),
        vmtype: v.vm_id.map(|_| "User".into()),
        id: Some(v.id.into_uuid()),
        name: Some(v.name.clone()),
        zoneid: Some(r.zone_id.into_uuid()),
        zonename: Some(r.zone_name.clone()),
        r#type: Some(v.volume_type.clone()),
        deviceid: v.vm_id.and(r.device_id).map(i64::from),
        virtualmachineid: v.vm_id.map(Into::into),
        vmname: r.vm_name.clone(),
        vmdisplayname: r.vm_display_name.clone(),
        vmstate: r.vm_state.map(|s| s.to_string()),
        provisioningtype: Some("thin".into()),
        size: Some(v.size_bytes),
        created: Some(v.created.into()),
        attached: v.vm_id.and(r.attached).map(Into::into),
        state: Some(v.state.to_string()),
        account: r.account_name.clone(),
        domainid: r.domain_id.map(Into::into),
        domain: r.domain_name.clone(),
        storagetype: Some("shared".into()),
        hypervisor: Some("KVM".into()),
        diskofferingid: r.disk_offering_id.map(Into::into),
        diskofferingname: r.disk_offering_name.clone(),
        storage: placed.then(|| r.pool_name.clone()),
        storageid: (admin && placed).then_some(v.pool_id.into_uuid()),
        path: admin.then(|| v.path.clone()),
        format: Some("QCOW2".into()),
        destroyed: Some(r.vm_state == Some(VmState::Destroyed)),
        isextractable: Some(false),
        tags,
    }
}

/// listCapacity: per zone, CloudStack's capacity types 0 (memory), 1 (CPU), 2 (primary
/// storage used), 3 (primary storage allocated), 6 (secondary storage), 8 (guest
/// addresses of a Basic zone, "direct attached public IPs") and 90 (CPU cores).
pub async fn list_capacity(ctx: &Ctx, r: &requests::ListCapacity<'_>) -> Result<Reply> {
    let zone = r.zoneid();
    let want = r.r#type();
    // Capacities are computed at each call: they are always the latest.
    r.wire().mark_read("fetchlatest");
    let mut items = zone_capacities(ctx, zone).await?;
    items.retain(|c| want.is_none_or(|w| c.r#type.map(i64::from) == Some(w)));
    if r.sortby().is_some_and(|s| s.eq_ignore_ascii_case("usage")) {
        items.sort_by(|a, b| {
            let pa: f64 = a
                .percentused
                .as_deref()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0);
            let pb: f64 = b
                .percentused
                .as_deref()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0.0);
            pb.total_cmp(&pa)
        });
    }
    let (total, items) = super::page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("capacity", total, items))
}

/// One scope's (a zone's, a pod's or a cluster's) numbers behind its capacity entries.
#[derive(Debug, Default)]
struct Totals {
    memory: (i64, i64),
    cpu: (i64, i64),
    primary: (i64, i64),
    primary_allocated: (i64, i64),
    /// A zone's only (CloudStack keeps secondary storage per zone).
    secondary: Option<(i64, i64)>,
    /// A zone's or a pod's (guest ranges are a pod's in a Basic zone).
    guest_ips: Option<(i64, i64)>,
    cores: (i64, i64),
}

/// CloudStack's capacity entries for one scope: types 0 (memory), 1 (CPU), 2 (primary
/// storage used), 3 (primary storage allocated), 6 (secondary storage), 8 (guest
/// addresses of a Basic zone, "direct attached public IPs") and 90 (CPU cores), each
/// `(total, used)`, named by `base`'s zone, pod and cluster fields.
fn capacity_entries(t: &Totals, base: &CapacityResponse) -> Vec<CapacityResponse> {
    let entries = [
        (0, "MEMORY", Some(t.memory)),
        (1, "CPU", Some(t.cpu)),
        (2, "STORAGE", Some(t.primary)),
        (3, "STORAGE_ALLOCATED", Some(t.primary_allocated)),
        (6, "SECONDARY_STORAGE", t.secondary),
        (8, "DIRECT_ATTACHED_PUBLIC_IP", t.guest_ips),
        (90, "CPU_CORE", Some(t.cores)),
    ];
    entries
        .into_iter()
        .filter_map(|(kind, name, v)| v.map(|(total, used)| (kind, name, total, used)))
        .map(|(kind, name, total, used)| {
            let pct = if total > 0 {
                used as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            CapacityResponse {
                r#type: Some(kind),
                name: Some(name.into()),
                capacityused: Some(used),
                capacityallocated: Some(used),
                capacitytotal: Some(total),
                percentused: Some(format!("{pct:.2}")),
                ..base.clone()
            }
        })
        .collect()
}

/// Each cluster's CPU and memory with its own overprovisioning factors, summed by `key`
/// (the zone, pod or cluster a cluster row counts for).
async fn overprovisioned_by<K: Eq + std::hash::Hash>(
    ctx: &Ctx,
    zone: Option<ZoneId>,
    key: impl Fn(&db::capacity::ClusterCapacityRow) -> K,
) -> Result<std::collections::HashMap<K, (f64, f64)>> {
    let mut out: std::collections::HashMap<K, (f64, f64)> = Default::default();
    for c in db::capacity::capacity_by_cluster(&ctx.pool, zone).await? {
        let at = Scope::cluster(c.zone_id, c.cluster_id);
        let e = out.entry(key(&c)).or_default();
        e.0 += c.cpu_total_mhz as f64 * ctx.get_in(&settings::CPU_OVERPROVISIONING_FACTOR, at);
        e.1 += c.memory_total as f64 * ctx.get_in(&settings::MEM_OVERPROVISIONING_FACTOR, at);
    }
    Ok(out)
}

/// Each zone's capacities (every zone's when `zone` is None), as listCapacity answers
/// them; listZones' `showcapacities` shows the same.
pub async fn zone_capacities(ctx: &Ctx, zone: Option<ZoneId>) -> Result<Vec<CapacityResponse>> {
    let rows = db::capacity::capacity_by_zone(&ctx.pool, zone).await?;
    let overprovisioned = overprovisioned_by(ctx, zone, |c| c.zone_id).await?;
    let mut items = vec![];
    for r in &rows {
        let (cpu_total, memory_total) =
            overprovisioned.get(&r.zone_id).copied().unwrap_or_default();
        let sto_f = ctx.get_in(
            &settings::STORAGE_OVERPROVISIONING_FACTOR,
            Scope::zone(r.zone_id),
        );
        let totals = Totals {
            memory: (memory_total as i64, r.memory_used),
            cpu: (cpu_total as i64, r.cpu_used_mhz),
            primary: (r.primary_total, r.primary_used),
            primary_allocated: ((r.primary_total as f64 * sto_f) as i64, r.primary_allocated),
            secondary: Some((r.secondary_total, r.secondary_used)),
            guest_ips: Some((r.guest_ips_total, r.guest_ips_used)),
            cores: (r.cpu_cores_total, r.cpu_cores_used),
        };
        let base = CapacityResponse {
            zoneid: Some(r.zone_id.into()),
            zonename: Some(r.zone_name.clone()),
            ..Default::default()
        };
        items.extend(capacity_entries(&totals, &base));
    }
    Ok(items)
}

/// Whose capacities [`scoped_capacities`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityScope {
    Pod,
    Cluster,
}

/// The capacities of each of `ids` (pods or clusters), as listPods' and listClusters'
/// `showcapacities` answer them: the zone's entries (less secondary storage, and for a
/// cluster less guest addresses) counted over the pod's or cluster's hosts and pools.
pub async fn scoped_capacities(
    ctx: &Ctx,
    scope: CapacityScope,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<CapacityResponse>>> {
    let rows = match scope {
        CapacityScope::Pod => {
            let pods: Vec<PodId> = ids.iter().map(|&i| i.into()).collect();
            db::capacity::capacity_by_pod(&ctx.pool, &pods).await?
        }
        CapacityScope::Cluster => {
            let clusters: Vec<ClusterId> = ids.iter().map(|&i| i.into()).collect();
            db::capacity::capacity_of_clusters(&ctx.pool, &clusters).await?
        }
    };
    // One zone's clusters when the page is of one zone (the usual case), else all.
    let zone = match rows.first() {
        Some(first) if rows.iter().all(|r| r.zone_id == first.zone_id) => Some(first.zone_id),
        _ => None,
    };
    let overprovisioned = overprovisioned_by(ctx, zone, |c| match scope {
        CapacityScope::Pod => c.pod_id.into_uuid(),
        CapacityScope::Cluster => c.cluster_id.into_uuid(),
    })
    .await?;
    let mut out = std::collections::HashMap::new();
    for r in &rows {
        let (cpu_total, memory_total) = overprovisioned
            .get(&r.scope_id)
            .copied()
            .unwrap_or_default();
        let sto_f = ctx.get_in(
            &settings::STORAGE_OVERPROVISIONING_FACTOR,
            Scope::zone(r.zone_id),
        );
        let totals = Totals {
            memory: (memory_total as i64, r.memory_used),
            cpu: (cpu_total as i64, r.cpu_used_mhz),
            primary: (r.primary_total, r.primary_used),
            primary_allocated: ((r.primary_total as f64 * sto_f) as i64, r.primary_allocated),
            secondary: None,
            guest_ips: (scope == CapacityScope::Pod)
                .then_some((r.guest_ips_total, r.guest_ips_used)),
            cores: (r.cpu_cores_total, r.cpu_cores_used),
        };
        let base = CapacityResponse {
            zoneid: Some(r.zone_id.into()),
            zonename: Some(r.zone_name.clone()),
            podid: Some(r.pod_id.into()),
            podname: Some(r.pod_name.clone()),
            clusterid: r.cluster_id.map(Into::into),
            clustername: r.cluster_name.clone(),
            ..Default::default()
        };
        out.insert(r.scope_id, capacity_entries(&totals, &base));
    }
    Ok(out)
}

/// Commands Basic zones answer with nothing (no public addresses, no NAT, no templates).
/// An empty list answers every filter truthfully, so each declared one counts as read;
/// paging is still checked.
pub fn empty_list(
    ctx: &Ctx,
    spec: &stratus_api::command::CommandSpec,
    p: &Params,
    object: &'static str,
) -> Result<Reply> {
    p.page(ctx.page_size())?;
    for q in spec.params {
        p.mark_read(q.name);
    }
    Ok(Reply::list(object, 0, Vec::<serde_json::Value>::new()))
}

/// Whether the VM's image sets a password (a password-enabled template).
fn password_enabled(r: &VmListRow) -> bool {
    r.password_enabled == Some(true)
}

fn require_stopped(r: &VmListRow, what: &str) -> Result<()> {
    if r.vm.state != VmState::Stopped {
        return Err(ApiError::param(format!(
            "VM {} should be stopped to {what} (it is {})",
            r.vm.display_name, r.vm.state
        ))
        .into());
    }
    Ok(())
}

pub async fn get_user_data(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::GetVirtualMachineUserData<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "virtualmachineid").await?;
    Ok(Reply::object(
        "virtualmachineuserdata",
        &stratus_api::types::VmUserDataResponse {
            virtualmachineid: Some(vm.vm.id.into_uuid()),
            userdata: vm.vm.user_data.clone(),
        },
    ))
}

/// resetUserDataForVirtualMachine: new user data (or none) for a stopped VM; its guest
/// sees it from its next start (the config drive is rebuilt then).
pub async fn reset_user_data(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ResetUserDataForVirtualMachine<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    require_stopped(&vm, "reset its userdata")?;
    let data = super::userdata::for_vm(ctx, caller, r.wire()).await?;
    let mut tx = ctx.pool.begin().await?;
    db::vms::vm_set_user_data(
        &mut *tx,
        vm.vm.id,
        data.as_ref().map(|d| d.0.as_str()),
        data.as_ref().and_then(|d| d.1),
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "VM.RESETUSERDATA",
        format!("User data of VM {} reset", vm.vm.display_name),
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            vm.vm.id,
            vm.vm.display_name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

/// resetSSHKeyForVirtualMachine: the stopped VM's key pairs replaced (and, for a
/// password-enabled template, a new password, answered once).
pub async fn reset_ssh_key(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ResetSSHKeyForVirtualMachine<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    require_stopped(&vm, "reset its SSH key")?;
    let names = r
        .keypair()
        .map(str::to_string)
        .or(r.keypairs().map(|k| k.join(",")))
        .filter(|n| !guest::keypair_names(Some(n)).is_empty())
        .ok_or_else(|| {
            ApiError::param("Specify the key pair(s) to put into the VM (keypair or keypairs)")
        })?;
    super::sshkeys::require(ctx, vm.vm.account_id.into_uuid(), &vm.account_name, &names).await?;
    let mut tx = ctx.pool.begin().await?;
    db::vms::vm_set_keypair(&mut *tx, vm.vm.id, Some(&names)).await?;
    event(
        &mut tx,
        &caller.user,
        "VM.RESETSSHKEY",
        format!("SSH key of VM {} reset to {names}", vm.vm.display_name),
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            vm.vm.id,
            vm.vm.display_name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let password = if password_enabled(&vm) {
        Some(guest::set_new_password(ctx, vm.vm.id, vm.vm.account_id, Some(&names)).await?)
    } else {
        None
    };
    let mut r = answer(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await?;
    r.password = password;
    Ok(Reply::object("virtualmachine", &r))
}

/// getVMPassword: the VM's password encrypted with its RSA key pair (base64), as
/// CloudStack answers it; `openssl pkeyutl -decrypt -inkey KEY` reads it.
pub async fn get_password(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::GetVMPassword<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    let encrypted = vm
        .vm
        .encrypted_password
        .clone()
        .ok_or_else(|| ApiError::param("No password for VM with specified id found."))?;
    Ok(Reply::object(
        "password",
        &stratus_api::types::VmPasswordResponse {
            encryptedpassword: Some(encrypted),
        },
    ))
}

/// resetPasswordForVirtualMachine: a new password, answered once. A running VM's agent
/// gets it at once (its guest fetches it at its next boot, or when its password script
/// asks); a stopped VM's with its next start.
pub async fn reset_password(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ResetPasswordForVirtualMachine<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    if !password_enabled(&vm) {
        return Err(ApiError::param(
            "Fail to reset password for the virtual machine, the template is not password enabled",
        )
        .into());
    }
    let state = vm.vm.state.as_str();
    if state != VmState::Stopped.as_str() && state != VmState::Running.as_str() {
        return Err(ApiError::param(format!(
            "VM {} must be Running or Stopped to reset its password (it is {state})",
            vm.vm.display_name
        ))
        .into());
    }
    let password =
        guest::set_new_password(ctx, vm.vm.id, vm.vm.account_id, vm.vm.keypair.as_deref()).await?;
    guest::push(ctx, vm.vm.id).await?;
    lifecycle_event(
        ctx,
        caller,
        &vm,
        "VM.RESETPASSWORD",
        "had its password reset",
    )
    .await?;
    let mut r = answer(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await?;
    r.password = Some(password);
    Ok(Reply::object("virtualmachine", &r))
}

/// The largest root disk a request may ask for, in GB.
const MAX_ROOT_DISK_GB: i64 = 16 * 1024;

/// `rootdisksize` (GB) for a root disk on template `t`: in range and never smaller than
/// the template. Answers bytes.
fn root_size_on_template(gb: i64, t: &db::templates::TemplateFile) -> Result<i64> {
    if !(1..=MAX_ROOT_DISK_GB).contains(&gb) {
        return Err(ApiError::param(format!(
            "Invalid root disk size {gb} GB: must be 1-{MAX_ROOT_DISK_GB}"
        ))
        .into());
    }
    if (gb << 30) < t.virtual_size {
        let template_gb = (t.virtual_size + (1 << 30) - 1) >> 30;
        return Err(ApiError::param(format!(
            "Root disk size {gb} GB is smaller than template {}'s size ({template_gb} GB)",
            t.name
        ))
        .into());
    }
    Ok(gb << 30)
}

/// restoreVirtualMachine (async): a new root volume from the VM's template (or another
/// template, or for an ISO-installed VM a blank disk with its ISO), see
/// `services::vms::restore`. A Running VM is stopped for it and started again; a
/// password-enabled template gives the VM a new password, answered once here.
pub async fn restore(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RestoreVirtualMachine<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "virtualmachineid").await?;
    // A job re-run after a crash resumes the workflow it recorded, with that plan.
    let recorded = match job {
        Some(j) => db::workflows::workflow_fetch_by_job(&ctx.pool, j.into())
            .await?
            .and_then(|w| serde_json::from_value::<vms::restore::Restore>(w.input).ok()),
        None => None,
    };
    let (plan, password_enabled) = match recorded {
        Some(plan) => {
            // The recorded plan already holds what these asked for.
            r.wire().mark_read("templateid");
            r.wire().mark_read("rootdisksize");
            let enabled = match plan.template {
                Some(t) => db::templates::template_fetch_any(&ctx.pool, t)
                    .await?
                    .is_some_and(|t| t.password_enabled),
                None => false,
            };
            (plan, enabled)
        }
        None => {
            // As CloudStack (issue 16): the VM snapshots are inside the root volume
            // the restore would replace.
            if vms::vm_snapshots::vm_has_snapshots(ctx, vm.vm.id).await? {
                return Err(ApiError::param(
                    "Unable to restore VM, please remove VM snapshots before restoring VM",
                )
                .into());
            }
            restore_plan(ctx, caller, r.wire(), &vm).await?
        }
    };
    if let Err(e) = vms::restore(ctx, job.map(Into::into), plan.clone()).await {
        if plan.was_running {
            let now = vms::view(ctx, vm.vm.id.into_uuid()).await?;
            if now.vm.state == VmState::Stopped {
                if let Err(se) = vms::start(ctx, None, vm.vm.id, None).await {
                    tracing::warn!(vm = %vm.vm.name, error = %se, "starting a VM again after its restore failed did not work either");
                }
            }
        }
        return Err(e);
    }
    let password = if password_enabled {
        Some(
            guest::set_new_password(ctx, vm.vm.id, vm.vm.account_id, vm.vm.keypair.as_deref())
                .await?,
        )
    } else {
        None
    };
    if plan.was_running {
        vms::start(ctx, None, vm.vm.id, None).await?;
    }
    let mut resp = answer(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await?;
    resp.password = password;
    Ok(Reply::object("virtualmachine", &resp))
}

/// What a restore will do (see [`restore`]), and whether the new root's template is
/// password-enabled.
async fn restore_plan(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    vm: &VmListRow,
) -> Result<(vms::restore::Restore, bool)> {
    let v = &vm.vm;
    let old = db::volumes::volume_root_of_vm(&ctx.pool, v.id)
        .await?
        .ok_or_else(|| {
            ApiError::param(format!(
                "VM {} has no root volume to restore",
                v.display_name
            ))
        })?;
    let size_gb = p.i64("rootdisksize")?;
    let given = p.uuid("templateid")?;
    // A template named (or the VM's own), else an ISO (for ISO-installed VMs).
    let template_id = match given {
        Some(id)
            if db::templates::template_fetch(&ctx.pool, id.into())
                .await?
                .is_some() =>
        {
            Some(id)
        }
        Some(_) => None,
        None => v.template_id.map(Into::into),
    };
    let (template, iso, size, password) = match template_id {
        Some(t) => {
            let file = crate::services::templates::ready_file(
                ctx,
                caller,
                v.account_id,
                t.into(),
                v.zone_id,
            )
            .await?;
            let size = match size_gb {
                Some(gb) => root_size_on_template(gb, &file)?,
                None => old.size_bytes.max(file.virtual_size),
            };
            // An ISO-installed VM that now boots from a template leaves its installer.
            let iso = if v.template_id.is_some() {
                v.iso_id
            } else {
                None
            };
            (Some(t), iso, size, file.password_enabled)
        }
        None => {
            let iso = match given {
                Some(id) => {
                    if v.template_id.is_some() {
                        return Err(ApiError::param(format!(
                            "Unable to find a template with id {id} (an ISO can restore only a VM installed from an ISO)"
                        ))
                        .into());
                    }
                    let zone = db::topology::zone_fetch(&ctx.pool, v.zone_id)
                        .await?
                        .ok_or_else(|| crate::error::Error::internal("the VM's zone vanished"))?;
                    iso_to_install(ctx, caller, v.account_id.into_uuid(), id, &zone).await?.id
                }
                None => v.iso_id.ok_or_else(|| {
                    ApiError::param(format!(
                        "VM {} was installed from an ISO that is no longer attached: attach one (attachIso) or give templateid",
                        v.display_name
                    ))
                })?,
            };
            let size = match size_gb {
                Some(gb) if !(1..=MAX_ROOT_DISK_GB).contains(&gb) => {
                    return Err(ApiError::param(format!(
                        "Invalid root disk size {gb} GB: must be 1-{MAX_ROOT_DISK_GB}"
                    ))
                    .into())
                }
                Some(gb) => gb << 30,
                None => old.size_bytes,
            };
            (None, Some(iso), size, false)
        }
    };
    Ok((
        vms::restore::Restore {
            vm: v.id,
            old_volume: old.id,
            new_volume: VolumeId::new_v4(),
            template: template.map(Into::into),
            iso,
            old_template: v.template_id,
            old_iso: v.iso_id,
            size_bytes: size,
            was_running: v.state == VmState::Running,
        },
        password,
    ))
}

/// deployVirtualMachine from an ISO: it must be bootable and Ready in the zone.
/// The ISO a VM owned by `owner` (the caller's account, or a project's) installs from:
/// public, or the caller's or the owner's own.
async fn iso_to_install(
    ctx: &Ctx,
    caller: &Caller,
    owner: Uuid,
    iso_id: Uuid,
    zone: &db::topology::ZoneRow,
) -> Result<db::isos::IsoRow> {
    let unknown = || ApiError::param(format!("Unable to find the template or ISO {iso_id}"));
    let iso = db::isos::iso_fetch(&ctx.pool, iso_id.into())
        .await?
        .filter(|i| i.removed.is_none())
        .ok_or_else(unknown)?;
    // Public, the caller's or the owner's, or shared with either (launch permission).
    let usable = caller.is_root_admin()
        || db::images::visible_to(
            &ctx.pool,
            db::images::Kind::Iso,
            iso.id.into_uuid(),
            owner.into(),
        )
        .await?
        || db::images::visible_to(
            &ctx.pool,
            db::images::Kind::Iso,
            iso.id.into_uuid(),
            caller.account_id(),
        )
        .await?;
    if !usable {
        return Err(unknown().into());
    }
    if !iso.bootable {
        return Err(ApiError::param(format!(
            "ISO {} is not bootable: a VM can only be deployed from a bootable ISO",
            iso.name
        ))
        .into());
    }
    vms::iso_file(ctx, iso.id, zone.id).await.map_err(|_| {
        ApiError::param(format!(
            "ISO {} is not ready in zone {}: wait until listIsos shows it \"Successfully Installed\" there",
            iso.name, zone.name
        ))
    })?;
    Ok(iso)
}

/// Installing from an ISO needs an empty root disk: a disk offering, or a size.
async fn iso_root_disk(ctx: &Ctx, p: &Params) -> Result<Option<db::offerings::DiskOfferingRow>> {
    let size_gb = p.i64("size")?.or(p.i64("rootdisksize")?);
    let disk = match p.uuid("diskofferingid")? {
        Some(id) => Some(
            db::offerings::disk_offering_fetch(&ctx.pool, id.into())
                .await?
                .filter(|o| o.removed.is_none())
                .ok_or_else(|| not_found(p, "diskofferingid"))?,
        ),
        None => None,
    };
    match (&disk, size_gb) {
        (None, None) => {
            return Err(ApiError::param(
                "Installing from ISO requires a disk offering to be specified for the root disk (diskofferingid), or its size in GB (size)",
            )
            .into())
        }
        (Some(d), None) if d.disk_size_gb.is_none() => {
            return Err(ApiError::param(format!(
                "Disk offering {} is customized: give the root disk's size in GB (size)",
                d.name
            ))
            .into())
        }
        (_, Some(gb)) if !(1..=16 * 1024).contains(&gb) => {
            return Err(
                ApiError::param(format!("Invalid disk size {gb} GB: must be 1-16384")).into(),
            )
        }
        _ => {}
    }
    Ok(disk)
}

/// A VM (host) name as CloudStack takes it.
fn checked_name(n: &str) -> Result<String> {
    let valid = n.len() <= 63
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && !n.ends_with('-')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(ApiError::param(format!(
            "Invalid name '{n}'. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'), must be between 1 and 63 characters long, and can't start or end with \"-\" and can't start with digit"
        ))
        .into());
    }
    Ok(n.to_string())
}

/// updateVirtualMachine: display name at any time; the host name only while stopped (the
/// guest learns it at its next start); user data (a running VM's guest gets it at once
/// through its host's metadata service and config drive).
pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateVirtualMachine<'_>,
) -> Result<Reply> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    let name = match r.name() {
        Some(n) if n != vm.vm.name => {
            require_stopped(&vm, "change its name")?;
            checked_name(n)?
        }
        _ => vm.vm.name.clone(),
    };
    let display = match r.displayname() {
        Some(d) if !d.trim().is_empty() => d.trim().to_string(),
        _ => vm.vm.display_name.clone(),
    };
    let user_data = super::userdata::for_vm(ctx, caller, r.wire()).await?;
    // New security groups replace the VM's, as in CloudStack, on a stopped VM only (its
    // host's filter is written when it starts).
    let groups = super::security_groups::for_vm(
        ctx,
        vm.vm.account_id,
        r.securitygroupids(),
        r.securitygroupnames(),
    )
    .await?;
    if groups.is_some() {
        let zone = db::topology::zone_fetch(&ctx.pool, vm.vm.zone_id).await?;
        if !zone.is_some_and(|z| z.security_groups_enabled) {
            return Err(super::security_groups::refuse_in_zone());
        }
        if vm.vm.state != VmState::Stopped {
            return Err(ApiError::param(format!(
                "VM {} must be stopped prior to update security groups",
                vm.vm.id
            ))
            .into());
        }
    }
    let mut tx = ctx.pool.begin().await?;
    db::vms::vm_set_names(&mut *tx, vm.vm.id, &name, &display).await?;
    if let Some(g) = &groups {
        db::security_groups::vm_groups_set(&mut tx, vm.vm.id, g).await?;
    }
    if let Some((data, id)) = &user_data {
        db::vms::vm_set_user_data(&mut *tx, vm.vm.id, Some(data), *id).await?;
    }
    event(
        &mut tx,
        &caller.user,
        "VM.UPDATE",
        format!("VM {display} updated"),
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            vm.vm.id,
            display.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    if user_data.is_some() {
        guest::push(ctx, vm.vm.id).await?;
    }
    vm_reply(ctx, &vms::view(ctx, vm.vm.id.into_uuid()).await?).await
}

/// changeServiceForVirtualMachine (and scaleVirtualMachine, its async twin): a stopped
/// VM's new compute offering; capacity is checked when it next starts.
pub async fn change_service(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ChangeServiceForVirtualMachine<'_>,
) -> Result<VmListRow> {
    let vm = owned(ctx, caller, r.wire(), "id").await?;
    let so = db::offerings::service_offering_fetch(&ctx.pool, r.serviceofferingid())
        .await?
        .filter(|o| o.removed.is_none())
        .ok_or_else(|| not_found(r.wire(), "serviceofferingid"))?;
    // As CloudStack (issue 16): a snapshot with memory holds the VM's old size, and a
    // revert would bring a VM back that no longer matches its offering.
    if vms::vm_snapshots::vm_has_snapshots(ctx, vm.vm.id).await? {
        return Err(ApiError::param(
            "Unable to scale VM, please remove VM snapshots before scaling VM",
        )
        .into());
    }
    if vm.vm.state != VmState::Stopped {
        return Err(ApiError::param(format!(
            "Unable to upgrade virtual machine {}: it must be Stopped to change its service offering (it is {}); dynamic scaling is not available",
            vm.vm.display_name, vm.vm.state
        ))
        .into());
    }
    // The root volume stays where it is: its pool must carry the new storage tags.
    let want = crate::rules::tags::parse_stored(so.storage_tags.as_deref());
    if let Some(root) = db::volumes::volume_root_of_vm(&ctx.pool, vm.vm.id).await? {
        if let Some(pool) = db::storage::pool_fetch(&ctx.pool, root.pool_id).await? {
            if let Some(why) = crate::rules::tags::unmatched("storage", [&pool.tags[..]], &want) {
                return Err(ApiError::param(format!(
                    "Unable to upgrade virtual machine {}: its root volume is on primary storage {}, which does not have {why} of service offering {}",
                    vm.vm.display_name, pool.name, so.name
                ))
                .into());
            }
        }
    }
    let mut tx = ctx.pool.begin().await?;
    limits::admit(
        ctx,
        &mut tx,
        vm.vm.account_id,
        &[
            (
                ResourceKind::Cpu,
                i64::from(so.cpu_number) - i64::from(vm.vm.cpu_number),
            ),
            (
                ResourceKind::Memory,
                i64::from(so.memory_mb) - i64::from(vm.vm.memory_mb),
            ),
        ],
    )
    .await?;
    if !db::vms::vm_set_offering(
        &mut *tx,
        vm.vm.id,
        so.id,
        so.cpu_number,
        so.cpu_speed,
        so.memory_mb,
    )
    .await?
    {
        return Err(ApiError::param(format!(
            "Unable to upgrade virtual machine {}: it is no longer Stopped",
            vm.vm.display_name
        ))
        .into());
    }
    event(
        &mut tx,
        &caller.user,
        "VM.UPGRADE",
        format!(
            "VM {} now has service offering {}",
            vm.vm.display_name, so.name
        ),
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            vm.vm.id,
            vm.vm.display_name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    vms::view(ctx, vm.vm.id.into_uuid()).await
}
