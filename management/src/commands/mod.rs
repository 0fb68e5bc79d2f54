//! The command layer: the one entry point through which the HTTP API, the web console
//! and the job runner act. It checks access and parameters against the catalog
//! (`stratus_api::command`), runs synchronous commands directly, and turns asynchronous
//! ones into job rows that a worker executes with the same handlers.
//!
//! Request data flows through here: byte-index slicing, unchecked indexing, `unwrap`,
//! `expect` and `panic!` are denied (issue 19), so a hostile value cannot panic a handler;
//! a justified exception carries its own `#[allow]` with the reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod accounts;
mod config;
mod console_proxy;
mod discovery;
mod domains;
mod hosts;
mod isos;
mod jobs;
mod limits;
mod migration;
mod network_offerings;
mod networks;
mod nics;
mod offerings;
mod physical_networks;
pub(crate) mod projects;
mod public_ips;
pub mod requests;
mod routers;
mod scope;
mod security_groups;
mod sharing;
mod snapshots;
mod sshkeys;
mod storage;
mod tags;
mod tasks;
mod templates;
mod topology;
mod userdata;
mod vm_snapshots;
mod vms;
mod volumes;
mod workflows;

use stratus_api::command::{self, Access, CommandSpec};
use stratus_api::envelope::Reply;
use stratus_api::{ApiError, Params};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db;
pub use crate::db::events::{event, event_for_owner, event_on, system_event};
use crate::error::{Error, Result};
use crate::services::auth::Caller;

use crate::rules::security_groups::Direction;
use accounts::UserState;
pub use jobs::job_response;
use requests::Request;

/// The catalog entry for `name`, if the caller may use it. Unknown and forbidden commands
/// get the same answer (CloudStack's role checker text), so the API does not reveal which
/// admin commands exist.
pub fn resolve(name: &str, caller: Option<&Caller>) -> Result<&'static CommandSpec, ApiError> {
    let unknown = || {
        let who = caller.map(|c| c.user_id().to_string()).unwrap_or_default();
        ApiError::unsupported(format!(
            "The API [{}] does not exist or is not available for the account for user id [{who}].",
            stratus_api::params::shown(name)
        ))
    };
    let spec = command::find(name).ok_or_else(unknown)?;
    match (spec.access, caller) {
        (Access::Public, _) => Ok(spec),
        (Access::User, Some(_)) => Ok(spec),
        (Access::Admin, Some(c)) if c.is_root_admin() => Ok(spec),
        (Access::DomainAdmin, Some(c)) if c.is_root_admin() || c.is_domain_admin() => Ok(spec),
        _ => Err(unknown()),
    }
}

/// Runs a command for `caller`: validates its parameters, then executes it (sync) or
/// queues it as a job (async) and answers the job id.
pub async fn dispatch(
    ctx: &Ctx,
    caller: &Caller,
    spec: &'static CommandSpec,
    p: &Params,
) -> Result<Reply, ApiError> {
    p.validate(spec)?;
    let created = created_now(ctx, caller, spec, p).await;
    let result = if let Some(created) = created {
        match created.and_then(|id| check_read(spec, p).map(|()| id)) {
            Ok(id) => jobs::submit(ctx, caller, spec, &p.clone().with("id", id), Some(id)).await,
            Err(e) => Err(e),
        }
    } else if spec.is_async() {
        jobs::submit(ctx, caller, spec, p, None).await
    } else {
        execute(ctx, caller, spec, p, None).await
    };
    result.map_err(|e| log_and_convert(spec.name, e))
}

/// Async-create (CloudStack's BaseAsyncCreateCmd): deployVirtualMachine records the VM,
/// createVolume and createSnapshot record theirs (Allocated), createVMSnapshot checks
/// and records it, and so on, now; the id is answered with the job's, and the job does the
/// rest. `None` for the other commands.
async fn created_now(
    ctx: &Ctx,
    caller: &Caller,
    spec: &CommandSpec,
    p: &Params,
) -> Option<Result<Uuid>> {
    match Request::parse(spec.name, p) {
        Some(Ok(Request::DeployVirtualMachine(r))) => Some(vms::create(ctx, caller, &r).await),
        Some(Ok(Request::CreateVolume(r))) => Some(volumes::create(ctx, caller, &r).await),
        Some(Ok(Request::CreateSnapshot(r))) => Some(snapshots::create(ctx, caller, &r).await),
        Some(Ok(Request::CreateVMSnapshot(r))) => Some(vm_snapshots::create(ctx, caller, &r).await),
        Some(Ok(Request::CreatePhysicalNetwork(r))) => {
            Some(physical_networks::create(ctx, &r).await)
        }
        Some(Ok(Request::AddTrafficType(r))) => {
            Some(physical_networks::add_traffic_type(ctx, &r).await)
        }
        Some(Ok(Request::AssociateIpAddress(r))) => {
            Some(public_ips::associate(ctx, caller, &r).await)
        }
        Some(Ok(Request::CreatePortForwardingRule(r))) => {
            Some(public_ips::create_port_forward(ctx, caller, &r).await)
        }
        Some(Ok(Request::CreateFirewallRule(r))) => {
            Some(public_ips::create_firewall(ctx, caller, &r).await)
        }
        Some(Ok(Request::CreateEgressFirewallRule(r))) => {
            Some(public_ips::create_egress(ctx, caller, &r).await)
        }
        Some(Err(e)) => Some(Err(e.into())),
        _ => None,
    }
}

/// Runs a command to its end in this task, as the system does for itself (the embedded
/// default's set-up): validated, its create phase if it has one, then its handler
/// (an async command's job, without queuing it).
pub async fn run_now(ctx: &Ctx, caller: &Caller, spec: &CommandSpec, p: &Params) -> Result<Reply> {
    p.validate(spec)?;
    match created_now(ctx, caller, spec, p).await {
        Some(created) => {
            let id = created?;
            execute(ctx, caller, spec, &p.clone().with("id", id), None).await
        }
        None => execute(ctx, caller, spec, p, None).await,
    }
}

pub fn log_and_convert(command: &str, e: Error) -> ApiError {
    let api = e.to_api();
    if e.is_internal() {
        tracing::error!(command, error = %e, "command failed");
    } else {
        tracing::debug!(command, error = %api.text, "command refused");
    }
    api
}

/// Executes a command's handler. Async commands reach here from the job runner, with
/// their job's id: a handler whose work is a workflow runs it under that job, so the
/// job's re-run after a takeover resumes it.
///
/// No silent drops: a declared parameter that came with a value and that the handler
/// succeeded without consulting is a parameter Stratus ignored. The catalog either marks
/// such a parameter unsupported (refused before any handler runs) or its handler reads it;
/// [`check_read`] enforces that on every successful call.
pub async fn execute(
    ctx: &Ctx,
    caller: &Caller,
    spec: &CommandSpec,
    p: &Params,
    job: Option<Uuid>,
) -> Result<Reply> {
    let reply = handle(ctx, caller, spec, p, job).await?;
    // deployVirtualMachine's request was checked whole by its create phase (`dispatch`);
    // the job half reads only what starting needs.
    if spec.name != "deployVirtualMachine" {
        check_read(spec, p)?;
    }
    Ok(reply)
}

/// Fails (debug builds: every test run) or logs (release) a successful call that left a
/// declared parameter unread. In a debug build this turns any test that passes a
/// parameter its handler ignores into a failure naming it, so the rule cannot rot as
/// handlers change; a release build keeps answering and says so in the log.
fn check_read(spec: &CommandSpec, p: &Params) -> Result<()> {
    let unread = p.unread(spec);
    if unread.is_empty() {
        return Ok(());
    }
    tracing::error!(
        command = spec.name,
        ?unread,
        "a handler ignored declared parameters: mark them unsupported in the catalog or read them"
    );
    if cfg!(debug_assertions) {
        return Err(ApiError::internal(format!(
            "{} ignored parameter(s) {}: the catalog must mark them unsupported or the handler read them",
            spec.name,
            unread.join(", ")
        ))
        .into());
    }
    Ok(())
}

async fn handle(
    ctx: &Ctx,
    caller: &Caller,
    spec: &CommandSpec,
    p: &Params,
    job: Option<Uuid>,
) -> Result<Reply> {
    let Some(request) = Request::parse(spec.name, p) else {
        return Err(ApiError::unsupported(format!(
            "The command {} cannot be executed here",
            spec.name
        ))
        .into());
    };
    match request? {
        Request::ListApis(r) => discovery::list_apis(caller, &r),
        Request::ListCapabilities(_) => discovery::list_capabilities(ctx, caller).await,
        Request::ListHypervisors(r) => discovery::list_hypervisors(ctx, &r).await,
        Request::ListHypervisorCapabilities(r) => {
            discovery::list_hypervisor_capabilities(ctx, &r).await
        }
        Request::Logout(_) => {
            crate::services::auth::logout(ctx, caller).await?;
            Ok(Reply::Flat(serde_json::json!({"description": "success"})))
        }
        Request::ListDomains(r) => domains::list(ctx, caller, &r).await,
        Request::ListDomainChildren(r) => domains::list_children(ctx, caller, &r).await,
        Request::CreateDomain(r) => domains::create(ctx, caller, &r).await,
        Request::UpdateDomain(r) => domains::update(ctx, caller, &r).await,
        Request::DeleteDomain(r) => domains::delete(ctx, caller, &r).await,
        Request::MoveUser(r) => accounts::move_user(ctx, caller, &r).await,
        Request::ListRoles(r) => accounts::list_roles(ctx, &r).await,
        Request::CreateAccount(r) => accounts::create_account(ctx, caller, &r).await,
        Request::ListAccounts(r) => accounts::list_accounts(ctx, caller, &r).await,
        Request::UpdateAccount(r) => accounts::update_account(ctx, caller, &r).await,
        Request::DisableAccount(r) => {
            accounts::set_account_state(ctx, caller, &requests::EnableAccount::parse(p)?, Some(&r))
                .await
        }
        Request::EnableAccount(r) => accounts::set_account_state(ctx, caller, &r, None).await,
        Request::DeleteAccount(r) => accounts::delete_account(ctx, caller, &r).await,
        Request::CreateUser(r) => accounts::create_user(ctx, caller, &r).await,
        Request::ListUsers(r) => accounts::list_users(ctx, caller, &r).await,
        Request::UpdateUser(r) => accounts::update_user(ctx, caller, &r).await,
        Request::DisableUser(_) => {
            accounts::set_user_state(
                ctx,
                caller,
                &requests::LockUser::parse(p)?,
                UserState::Disabled,
            )
            .await
        }
        Request::EnableUser(_) => {
            accounts::set_user_state(
                ctx,
                caller,
                &requests::LockUser::parse(p)?,
                UserState::Enabled,
            )
            .await
        }
        Request::LockUser(r) => accounts::set_user_state(ctx, caller, &r, UserState::Locked).await,
        Request::GetUser(r) => accounts::get_user(ctx, &r).await,
        Request::DeleteUser(r) => accounts::delete_user(ctx, caller, &r).await,
        Request::RegisterUserKeys(r) => accounts::register_user_keys(ctx, caller, &r).await,
        Request::GetUserKeys(r) => accounts::get_user_keys(ctx, caller, &r).await,
        Request::CreateSSHKeyPair(r) => sshkeys::create(ctx, caller, &r).await,
        Request::RegisterSSHKeyPair(r) => sshkeys::register(ctx, caller, &r).await,
        Request::ListSSHKeyPairs(r) => sshkeys::list(ctx, caller, &r).await,
        Request::DeleteSSHKeyPair(r) => sshkeys::delete(ctx, caller, &r).await,
        Request::CreateSecurityGroup(r) => security_groups::create(ctx, caller, &r).await,
        Request::UpdateSecurityGroup(r) => security_groups::update(ctx, caller, &r).await,
        Request::DeleteSecurityGroup(r) => security_groups::delete(ctx, caller, &r).await,
        Request::ListSecurityGroups(r) => security_groups::list(ctx, caller, &r).await,
        Request::AuthorizeSecurityGroupIngress(r) => {
            security_groups::authorize(ctx, caller, &security_groups::Authorize::ingress(&r)?).await
        }
        Request::AuthorizeSecurityGroupEgress(r) => {
            security_groups::authorize(ctx, caller, &security_groups::Authorize::egress(&r)?).await
        }
        Request::RevokeSecurityGroupIngress(r) => {
            security_groups::revoke(ctx, caller, r.wire(), r.id(), Direction::Ingress).await
        }
        Request::RevokeSecurityGroupEgress(r) => {
            security_groups::revoke(ctx, caller, r.wire(), r.id(), Direction::Egress).await
        }
        Request::RegisterUserData(r) => userdata::register(ctx, caller, &r).await,
        Request::ListUserData(r) => userdata::list(ctx, caller, &r).await,
        Request::DeleteUserData(r) => userdata::delete(ctx, caller, &r).await,
        Request::GetVirtualMachineUserData(r) => vms::get_user_data(ctx, caller, &r).await,
        Request::ResetUserDataForVirtualMachine(r) => vms::reset_user_data(ctx, caller, &r).await,
        Request::ResetSSHKeyForVirtualMachine(r) => vms::reset_ssh_key(ctx, caller, &r).await,
        Request::GetVMPassword(r) => vms::get_password(ctx, caller, &r).await,
        Request::UpdateVirtualMachine(r) => vms::update(ctx, caller, &r).await,
        Request::ChangeServiceForVirtualMachine(r) => vms::change_service(ctx, caller, &r)
            .await
            .map(|v| Reply::object("virtualmachine", &vms::response(&v, false))),
        Request::ScaleVirtualMachine(_) => vms::change_service(
            ctx,
            caller,
            &requests::ChangeServiceForVirtualMachine::parse(p)?,
        )
        .await
        .map(|_| Reply::success()),
        Request::ResetPasswordForVirtualMachine(r) => vms::reset_password(ctx, caller, &r).await,
        Request::CreateZone(r) => topology::create_zone(ctx, caller, &r).await,
        Request::ListZones(r) => topology::list_zones(ctx, &r).await,
        Request::UpdateZone(r) => topology::update_zone(ctx, caller, &r).await,
        Request::DeleteZone(r) => topology::delete_zone(ctx, caller, &r).await,
        Request::CreatePod(r) => topology::create_pod(ctx, caller, &r).await,
        Request::ListPods(r) => topology::list_pods(ctx, &r).await,
        Request::UpdatePod(r) => topology::update_pod(ctx, caller, &r).await,
        Request::DeletePod(r) => topology::delete_pod(ctx, caller, &r).await,
        Request::CreateVlanIpRange(r) => topology::create_vlan_ip_range(ctx, caller, &r).await,
        Request::ListVlanIpRanges(r) => topology::list_vlan_ip_ranges(ctx, &r).await,
        Request::DeleteVlanIpRange(r) => topology::delete_vlan_ip_range(ctx, caller, &r).await,
        Request::AddCluster(r) => topology::add_cluster(ctx, caller, &r).await,
        Request::ListClusters(r) => topology::list_clusters(ctx, &r).await,
        Request::UpdateCluster(r) => topology::update_cluster(ctx, caller, &r).await,
        Request::DeleteCluster(r) => topology::delete_cluster(ctx, caller, &r).await,
        Request::AddHost(r) => hosts::add(ctx, caller, &r).await,
        Request::ListHosts(r) => hosts::list(ctx, &r, false).await,
        Request::ListHostsMetrics(_) => {
            hosts::list(ctx, &requests::ListHosts::parse(p)?, true).await
        }
        Request::ListHostsUsageHistory(r) => hosts::usage_history(ctx, &r).await,
        Request::ListBackgroundTasks(r) => tasks::list(ctx, &r).await,
        Request::ListWorkflows(r) => workflows::list(ctx, &r).await,
        Request::UpdateHost(r) => hosts::update(ctx, caller, &r).await,
        Request::ListHostTags(r) => hosts::list_tags(ctx, &r).await,
        Request::DeleteHost(r) => hosts::delete(ctx, caller, &r).await,
        Request::PrepareHostForMaintenance(r) => hosts::prepare_maintenance(ctx, caller, &r).await,
        Request::CancelHostMaintenance(r) => hosts::cancel_maintenance(ctx, caller, &r).await,
        Request::ReconnectHost(r) => hosts::reconnect(ctx, caller, &r).await,
        Request::ListNetworks(r) => networks::list(ctx, caller, &r).await,
        Request::CreateNetwork(r) => networks::create(ctx, caller, &r).await,
        Request::UpdateNetwork(r) => networks::update(ctx, caller, &r).await,
        Request::DeleteNetwork(r) => networks::delete(ctx, caller, &r).await,
        Request::RestartNetwork(r) => networks::restart(ctx, caller, &r).await,
        Request::ListRouters(r) => routers::list(ctx, caller, &r).await,
        Request::StopRouter(r) => routers::stop(ctx, caller, &r).await,
        Request::StartRouter(r) => routers::start(ctx, caller, &r).await,
        Request::RebootRouter(r) => routers::reboot(ctx, caller, &r).await,
        Request::DestroyRouter(r) => routers::destroy(ctx, caller, &r).await,
        Request::ListNetworkOfferings(r) => network_offerings::list(ctx, &r).await,
        Request::CreateNetworkOffering(r) => network_offerings::create(ctx, &r).await,
        Request::UpdateNetworkOffering(r) => network_offerings::update(ctx, &r).await,
        Request::DeleteNetworkOffering(r) => network_offerings::delete(ctx, &r).await,
        Request::CreatePhysicalNetwork(r) => physical_networks::create_job(ctx, &r).await,
        Request::ListPhysicalNetworks(r) => physical_networks::list(ctx, &r).await,
        Request::UpdatePhysicalNetwork(r) => physical_networks::update(ctx, &r).await,
        Request::DeletePhysicalNetwork(r) => physical_networks::delete(ctx, &r).await,
        Request::AddTrafficType(r) => physical_networks::add_traffic_type_job(ctx, &r).await,
        Request::ListTrafficTypes(r) => physical_networks::list_traffic_types(ctx, &r).await,
        Request::UpdateTrafficType(r) => physical_networks::update_traffic_type(ctx, &r).await,
        Request::DeleteTrafficType(r) => physical_networks::delete_traffic_type(ctx, &r).await,
        Request::ListNetworkServiceProviders(r) => physical_networks::list_providers(ctx, &r).await,
        Request::UpdateNetworkServiceProvider(r) => {
            physical_networks::update_provider(ctx, &r).await
        }
        Request::ListSupportedNetworkServices(r) => {
            physical_networks::list_supported_services(ctx, &r).await
        }
        Request::ListProjects(r) => projects::list(ctx, caller, &r).await,
        Request::CreateProject(r) => projects::create(ctx, caller, &r).await,
        Request::UpdateProject(r) => projects::update(ctx, caller, &r).await,
        Request::DeleteProject(r) => projects::delete(ctx, caller, &r).await,
        Request::ActivateProject(r) => projects::set_state(ctx, caller, &r, false).await,
        Request::SuspendProject(_) => {
            projects::set_state(ctx, caller, &requests::ActivateProject::parse(p)?, true).await
        }
        Request::AddAccountToProject(r) => projects::add_account(ctx, caller, &r).await,
        Request::DeleteAccountFromProject(r) => projects::delete_account(ctx, caller, &r).await,
        Request::ListProjectAccounts(r) => projects::list_accounts(ctx, caller, &r).await,
        Request::ListProjectInvitations(r) => projects::list_invitations(ctx, caller, &r).await,
        Request::UpdateProjectInvitation(r) => projects::update_invitation(ctx, caller, &r).await,
        Request::DeleteProjectInvitation(r) => projects::delete_invitation(ctx, caller, &r).await,
        Request::ListAffinityGroups(_) => vms::empty_list(ctx, spec, p, "affinitygroup"),
        Request::ListAffinityGroupTypes(_) => vms::empty_list(ctx, spec, p, "affinityGroupType"),
        Request::CreateTags(r) => tags::create(ctx, caller, &r).await,
        Request::DeleteTags(r) => tags::delete(ctx, caller, &r).await,
        Request::ListTags(r) => tags::list(ctx, caller, &r).await,
        Request::ListResourceLimits(r) => limits::list(ctx, caller, &r).await,
        Request::UpdateResourceLimit(r) => limits::update(ctx, caller, &r).await,
        Request::UpdateResourceCount(r) => limits::update_count(ctx, caller, &r).await,
        Request::ListStorageProviders(r) => storage::list_providers(ctx, &r),
        Request::ListStorageTags(r) => storage::list_tags(ctx, &r).await,
        Request::DeployVirtualMachine(r) => vms::deploy(ctx, caller, &r, job).await,
        Request::ListVirtualMachines(r) => vms::list(ctx, caller, &r, false).await,
        Request::ListVirtualMachinesMetrics(_) => {
            vms::list(ctx, caller, &requests::ListVirtualMachines::parse(p)?, true).await
        }
        Request::ListVirtualMachinesUsageHistory(r) => vms::usage_history(ctx, caller, &r).await,
        Request::ListNics(r) => nics::list(ctx, caller, &r).await,
        Request::StartVirtualMachine(r) => vms::start(ctx, caller, &r, job).await,
        Request::StopVirtualMachine(r) => vms::stop(ctx, caller, &r).await,
        Request::RebootVirtualMachine(r) => vms::reboot(ctx, caller, &r, job).await,
        // Live migration (issue 16).
        Request::MigrateVirtualMachine(r) => migration::migrate(ctx, caller, &r, job).await,
        Request::FindHostsForMigration(r) => migration::find_hosts(ctx, caller, &r).await,
        Request::DestroyVirtualMachine(r) => vms::destroy(ctx, caller, &r, job).await,
        Request::RecoverVirtualMachine(r) => vms::recover(ctx, caller, &r).await,
        Request::RestoreVirtualMachine(r) => vms::restore(ctx, caller, &r, job).await,
        Request::ExpungeVirtualMachine(r) => vms::expunge(ctx, caller, &r, job).await,
        Request::AttachIso(r) => vms::attach_iso(ctx, caller, &r).await,
        Request::DetachIso(r) => vms::detach_iso(ctx, caller, &r).await,
        Request::ListVolumes(r) => vms::list_volumes(ctx, caller, &r).await,
        // Data volumes (issue 16).
        Request::CreateVolume(r) => volumes::create_job(ctx, caller, &r).await,
        Request::AttachVolume(r) => volumes::attach(ctx, caller, &r).await,
        Request::DetachVolume(r) => volumes::detach(ctx, caller, &r).await,
        Request::ResizeVolume(r) => volumes::resize(ctx, caller, &r).await,
        Request::DeleteVolume(r) => volumes::delete(ctx, caller, &r).await,
        Request::MigrateVolume(r) => volumes::migrate(ctx, caller, &r).await,
        // Volume snapshots (issue 16).
        Request::CreateSnapshot(r) => snapshots::create_job(ctx, caller, &r, job).await,
        Request::ListSnapshots(r) => snapshots::list(ctx, caller, &r).await,
        Request::DeleteSnapshot(r) => snapshots::delete(ctx, caller, &r).await,
        Request::RevertSnapshot(r) => snapshots::revert(ctx, caller, &r, job).await,
        Request::CreateSnapshotPolicy(r) => snapshots::create_policy(ctx, caller, &r).await,
        Request::ListSnapshotPolicies(r) => snapshots::list_policies(ctx, caller, &r).await,
        Request::UpdateSnapshotPolicy(r) => snapshots::update_policy(ctx, caller, &r).await,
        Request::DeleteSnapshotPolicies(r) => snapshots::delete_policies(ctx, caller, &r).await,
        // VM snapshots (issue 16).
        Request::CreateVMSnapshot(r) => vm_snapshots::create_job(ctx, caller, &r, job).await,
        Request::ListVMSnapshot(r) => vm_snapshots::list(ctx, caller, &r).await,
        Request::RevertToVMSnapshot(r) => vm_snapshots::revert(ctx, caller, &r, job).await,
        Request::DeleteVMSnapshot(r) => vm_snapshots::delete(ctx, caller, &r, job).await,
        Request::ListCapacity(r) => vms::list_capacity(ctx, &r).await,
        // Public IP addresses and their rules (issue 15).
        Request::AssociateIpAddress(r) => public_ips::associate_job(ctx, caller, &r).await,
        Request::DisassociateIpAddress(r) => public_ips::disassociate(ctx, caller, &r).await,
        Request::ListPublicIpAddresses(r) => public_ips::list(ctx, caller, &r).await,
        Request::EnableStaticNat(r) => public_ips::enable_static_nat(ctx, caller, &r).await,
        Request::DisableStaticNat(r) => public_ips::disable_static_nat(ctx, caller, &r).await,
        Request::CreatePortForwardingRule(r) => {
            public_ips::create_port_forward_job(ctx, caller, &r).await
        }
        Request::DeletePortForwardingRule(r) => {
            public_ips::delete_port_forward(ctx, caller, &r).await
        }
        Request::ListPortForwardingRules(r) => {
            public_ips::list_port_forwards(ctx, caller, &r).await
        }
        Request::CreateFirewallRule(r) => public_ips::create_firewall_job(ctx, caller, &r).await,
        Request::DeleteFirewallRule(r) => public_ips::delete_firewall(ctx, caller, &r).await,
        Request::ListFirewallRules(r) => public_ips::list_firewall(ctx, caller, &r).await,
        Request::CreateEgressFirewallRule(r) => {
            public_ips::create_egress_job(ctx, caller, &r).await
        }
        Request::DeleteEgressFirewallRule(r) => public_ips::delete_egress(ctx, caller, &r).await,
        Request::ListEgressFirewallRules(r) => public_ips::list_egress(ctx, caller, &r).await,
        Request::ListIpForwardingRules(_) => vms::empty_list(ctx, spec, p, "ipforwardingrule"),
        Request::CreateServiceOffering(r) => offerings::create_service(ctx, caller, &r).await,
        Request::ListServiceOfferings(r) => offerings::list_service(ctx, &r).await,
        Request::UpdateServiceOffering(r) => offerings::update_service(ctx, caller, &r).await,
        Request::DeleteServiceOffering(r) => offerings::delete_service(ctx, caller, &r).await,
        Request::CreateDiskOffering(r) => offerings::create_disk(ctx, caller, &r).await,
        Request::ListDiskOfferings(r) => offerings::list_disk(ctx, &r).await,
        Request::UpdateDiskOffering(r) => offerings::update_disk(ctx, caller, &r).await,
        Request::DeleteDiskOffering(r) => offerings::delete_disk(ctx, caller, &r).await,
        Request::CreateStoragePool(r) => storage::create_pool(ctx, caller, &r).await,
        Request::ListStoragePools(r) => storage::list_pools(ctx, &r).await,
        Request::UpdateStoragePool(r) => storage::update_pool(ctx, caller, &r).await,
        Request::EnableStorageMaintenance(r) => storage::enable_maintenance(ctx, caller, &r).await,
        Request::CancelStorageMaintenance(r) => storage::cancel_maintenance(ctx, caller, &r).await,
        Request::DeleteStoragePool(r) => storage::delete_pool(ctx, caller, &r).await,
        Request::AddImageStore(r) => storage::add_image_store(ctx, caller, &r).await,
        Request::AddSecondaryStorage(r) => storage::add_secondary_storage(ctx, caller, &r).await,
        Request::ListImageStores(r) => storage::list_image_stores(ctx, &r).await,
        Request::DeleteImageStore(r) => storage::delete_image_store(ctx, caller, &r).await,
        Request::RegisterIso(r) => isos::register(ctx, caller, &r).await,
        Request::ListIsos(r) => isos::list(ctx, caller, &r).await,
        Request::UpdateIso(r) => isos::update(ctx, caller, &r).await,
        Request::DeleteIso(r) => isos::delete(ctx, caller, &r).await,
        Request::RegisterTemplate(r) => templates::register(ctx, caller, &r).await,
        Request::ListTemplates(r) => templates::list(ctx, caller, &r).await,
        Request::UpdateTemplate(r) => templates::update(ctx, caller, &r).await,
        Request::DeleteTemplate(r) => templates::delete(ctx, caller, &r).await,
        Request::CopyTemplate(r) => templates::copy(ctx, caller, &r).await,
        Request::CreateTemplate(r) => templates::create(ctx, caller, &r, job).await,
        Request::ListTemplatePermissions(r) => templates::list_permissions(ctx, caller, &r).await,
        Request::UpdateTemplatePermissions(r) => {
            templates::update_permissions(ctx, caller, &r).await
        }
        Request::ListIsoPermissions(r) => isos::list_permissions(ctx, caller, &r).await,
        Request::UpdateIsoPermissions(r) => isos::update_permissions(ctx, caller, &r).await,
        Request::ListOsTypes(r) => isos::list_os_types(ctx, &r).await,
        Request::ListOsCategories(r) => isos::list_os_categories(ctx, &r).await,
        Request::ListAlerts(r) => hosts::list_alerts(ctx, &r).await,
        Request::CreateConsoleEndpoint(r) => console_proxy::create_endpoint(ctx, caller, &r).await,
        Request::ListConfigurations(r) => config::list(ctx, &r).await,
        Request::UpdateConfiguration(r) => config::update(ctx, caller, &r, false).await,
        Request::ResetConfiguration(_) => {
            config::update(ctx, caller, &requests::UpdateConfiguration::parse(p)?, true).await
        }
        Request::QueryAsyncJobResult(r) => jobs::query(ctx, caller, &r).await,
        Request::ListAsyncJobs(r) => jobs::list(ctx, caller, &r).await,
        Request::ListEvents(r) => accounts::list_events(ctx, caller, &r).await,
        // `login` never reaches here: it needs no caller and answers a cookie.
        Request::Login(_) => Err(ApiError::unsupported(
            "The command login cannot be executed here".to_string(),
        )
        .into()),
    }
}

/// Refuses (CloudStack's 531) unless the caller administers the domain at `path`: root
/// admins everywhere, domain admins in their subtree.
pub fn ensure_manages(caller: &Caller, path: &str) -> Result<(), ApiError> {
    if caller.manages_domain(path) {
        return Ok(());
    }
    Err(ApiError::new(
        stratus_api::ErrorCode::Account,
        format!(
            "Account {} does not have permission to operate within domain {}",
            caller.user.account_name,
            stratus_api::params::shown(path)
        ),
    ))
}

/// The id an async create's synchronous half recorded (a physical network, a traffic
/// type): `dispatch` hands it to the job's parameters as `id`.
pub fn created_id(p: &Params) -> Result<Uuid> {
    p.uuid("id")?.ok_or_else(|| not_found(p, "id"))
}

/// The standard answer for an id parameter that names nothing.
pub fn not_found(p: &Params, name: &str) -> Error {
    stratus_api::params::invalid_param(p.command(), name, p.str(name).unwrap_or("")).into()
}

/// `isrecursive` on a list that answers one owner's rows (listResourceLimits): consulted,
/// without effect. Resource lists honour it through [`scope::owners`].
pub fn one_domain(p: &Params) {
    p.mark_read("isrecursive");
}

/// The account a root admin's `account` (+ `domainid`, default ROOT) names, as a list
/// filter; `None` without `account`. For users, their own account always.
pub async fn named_account(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Option<Uuid>> {
    let name = p.str("account");
    let domain = p.uuid("domainid")?;
    if !caller.is_root_admin() {
        return Ok(Some(caller.account_id().into_uuid()));
    }
    let Some(name) = name else { return Ok(None) };
    let a = db::accounts::account_fetch_by_name(
        &ctx.pool,
        domain
            .unwrap_or(db::accounts::ROOT_DOMAIN.into_uuid())
            .into(),
        name,
    )
    .await?
    .ok_or_else(|| not_found(p, "account"))?;
    Ok(Some(a.id.into_uuid()))
}

/// One page of a list built in memory, and the total before paging.
pub fn page_of<T>(ctx: &Ctx, p: &Params, items: Vec<T>) -> Result<(i64, Vec<T>)> {
    let page = p.page(ctx.page_size())?;
    let total = items.len() as i64;
    let items = items
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit.unwrap_or(i64::MAX) as usize)
        .collect();
    Ok((total, items))
}

/// The filters every list command shares.
pub fn list_filter(ctx: &Ctx, p: &Params) -> Result<db::ListFilter> {
    let page = p.page(ctx.page_size())?;
    Ok(db::ListFilter {
        id: p.uuid("id")?,
        ids: p.uuid_list("ids")?,
        name: p.string("name"),
        keyword: p.string("keyword"),
        offset: page.offset,
        limit: page.limit,
    })
}
