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
mod networks;
mod offerings;
pub(crate) mod projects;
mod scope;
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

use accounts::UserState;
pub use jobs::job_response;

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
    let result = if spec.name == "deployVirtualMachine" {
        // Async-create (CloudStack's BaseAsyncCreateCmd): the VM is recorded now and its
        // id answered with the job's; the job starts it.
        match vms::create(ctx, caller, p).await {
            Ok(id) => match check_read(spec, p) {
                Ok(()) => {
                    jobs::submit(ctx, caller, spec, &p.clone().with("id", id), Some(id)).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else if spec.name == "createVolume" {
        // Async-create too (issue 16): the volume is recorded (Allocated) now, the job
        // attaches it when a VM is named.
        match volumes::create(ctx, caller, p).await {
            Ok(id) => match check_read(spec, p) {
                Ok(()) => {
                    jobs::submit(ctx, caller, spec, &p.clone().with("id", id), Some(id)).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else if spec.name == "createSnapshot" {
        // Async-create too (issue 16): the snapshot is recorded (Allocated) now, the job
        // backs it up.
        match snapshots::create(ctx, caller, p).await {
            Ok(id) => match check_read(spec, p) {
                Ok(()) => {
                    jobs::submit(ctx, caller, spec, &p.clone().with("id", id), Some(id)).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else if spec.name == "createVMSnapshot" {
        // Async-create (issue 16), as CloudStack's: checked and recorded now.
        match vm_snapshots::create(ctx, caller, p).await {
            Ok(id) => match check_read(spec, p) {
                Ok(()) => {
                    jobs::submit(ctx, caller, spec, &p.clone().with("id", id), Some(id)).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else if spec.is_async() {
        jobs::submit(ctx, caller, spec, p, None).await
    } else {
        execute(ctx, caller, spec, p, None).await
    };
    result.map_err(|e| log_and_convert(spec.name, e))
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
    match spec.name {
        "listApis" => discovery::list_apis(caller, p),
        "listCapabilities" => discovery::list_capabilities(ctx, caller),
        "listHypervisors" => discovery::list_hypervisors(ctx, p).await,
        "listHypervisorCapabilities" => discovery::list_hypervisor_capabilities(ctx, p).await,
        "logout" => {
            crate::services::auth::logout(ctx, caller).await?;
            Ok(Reply::Flat(serde_json::json!({"description": "success"})))
        }
        "listDomains" => domains::list(ctx, caller, p).await,
        "listDomainChildren" => domains::list_children(ctx, caller, p).await,
        "createDomain" => domains::create(ctx, caller, p).await,
        "updateDomain" => domains::update(ctx, caller, p).await,
        "deleteDomain" => domains::delete(ctx, caller, p).await,
        "moveUser" => accounts::move_user(ctx, caller, p).await,
        "listRoles" => accounts::list_roles(ctx, p).await,
        "createAccount" => accounts::create_account(ctx, caller, p).await,
        "listAccounts" => accounts::list_accounts(ctx, caller, p).await,
        "updateAccount" => accounts::update_account(ctx, caller, p).await,
        "disableAccount" => accounts::set_account_state(ctx, caller, p, false).await,
        "enableAccount" => accounts::set_account_state(ctx, caller, p, true).await,
        "deleteAccount" => accounts::delete_account(ctx, caller, p).await,
        "createUser" => accounts::create_user(ctx, caller, p).await,
        "listUsers" => accounts::list_users(ctx, caller, p).await,
        "updateUser" => accounts::update_user(ctx, caller, p).await,
        "disableUser" => accounts::set_user_state(ctx, caller, p, UserState::Disabled).await,
        "enableUser" => accounts::set_user_state(ctx, caller, p, UserState::Enabled).await,
        "lockUser" => accounts::set_user_state(ctx, caller, p, UserState::Locked).await,
        "getUser" => accounts::get_user(ctx, p).await,
        "deleteUser" => accounts::delete_user(ctx, caller, p).await,
        "registerUserKeys" => accounts::register_user_keys(ctx, caller, p).await,
        "getUserKeys" => accounts::get_user_keys(ctx, caller, p).await,
        "createSSHKeyPair" => sshkeys::create(ctx, caller, p).await,
        "registerSSHKeyPair" => sshkeys::register(ctx, caller, p).await,
        "listSSHKeyPairs" => sshkeys::list(ctx, caller, p).await,
        "deleteSSHKeyPair" => sshkeys::delete(ctx, caller, p).await,
        "registerUserData" => userdata::register(ctx, caller, p).await,
        "listUserData" => userdata::list(ctx, caller, p).await,
        "deleteUserData" => userdata::delete(ctx, caller, p).await,
        "getVirtualMachineUserData" => vms::get_user_data(ctx, caller, p).await,
        "resetUserDataForVirtualMachine" => vms::reset_user_data(ctx, caller, p).await,
        "resetSSHKeyForVirtualMachine" => vms::reset_ssh_key(ctx, caller, p).await,
        "getVMPassword" => vms::get_password(ctx, caller, p).await,
        "updateVirtualMachine" => vms::update(ctx, caller, p).await,
        "changeServiceForVirtualMachine" => vms::change_service(ctx, caller, p)
            .await
            .map(|v| Reply::object("virtualmachine", &vms::response(&v, false))),
        "scaleVirtualMachine" => vms::change_service(ctx, caller, p)
            .await
            .map(|_| Reply::success()),
        "resetPasswordForVirtualMachine" => vms::reset_password(ctx, caller, p).await,
        "createZone" => topology::create_zone(ctx, caller, p).await,
        "listZones" => topology::list_zones(ctx, p).await,
        "updateZone" => topology::update_zone(ctx, caller, p).await,
        "deleteZone" => topology::delete_zone(ctx, caller, p).await,
        "createPod" => topology::create_pod(ctx, caller, p).await,
        "listPods" => topology::list_pods(ctx, p).await,
        "updatePod" => topology::update_pod(ctx, caller, p).await,
        "deletePod" => topology::delete_pod(ctx, caller, p).await,
        "createVlanIpRange" => topology::create_vlan_ip_range(ctx, caller, p).await,
        "listVlanIpRanges" => topology::list_vlan_ip_ranges(ctx, p).await,
        "deleteVlanIpRange" => topology::delete_vlan_ip_range(ctx, caller, p).await,
        "addCluster" => topology::add_cluster(ctx, caller, p).await,
        "listClusters" => topology::list_clusters(ctx, p).await,
        "updateCluster" => topology::update_cluster(ctx, caller, p).await,
        "deleteCluster" => topology::delete_cluster(ctx, caller, p).await,
        "addHost" => hosts::add(ctx, caller, p).await,
        "listHosts" => hosts::list(ctx, p, false).await,
        "listHostsMetrics" => hosts::list(ctx, p, true).await,
        "listHostsUsageHistory" => hosts::usage_history(ctx, p).await,
        "listBackgroundTasks" => tasks::list(ctx, p).await,
        "listWorkflows" => workflows::list(ctx, p).await,
        "updateHost" => hosts::update(ctx, caller, p).await,
        "listHostTags" => hosts::list_tags(ctx, p).await,
        "deleteHost" => hosts::delete(ctx, caller, p).await,
        "prepareHostForMaintenance" => hosts::prepare_maintenance(ctx, caller, p).await,
        "cancelHostMaintenance" => hosts::cancel_maintenance(ctx, caller, p).await,
        "reconnectHost" => hosts::reconnect(ctx, caller, p).await,
        "listNetworks" => networks::list(ctx, caller, p).await,
        "listNetworkOfferings" => networks::list_offerings(ctx, p).await,
        "listProjects" => projects::list(ctx, caller, p).await,
        "createProject" => projects::create(ctx, caller, p).await,
        "updateProject" => projects::update(ctx, caller, p).await,
        "deleteProject" => projects::delete(ctx, caller, p).await,
        "activateProject" => projects::set_state(ctx, caller, p, false).await,
        "suspendProject" => projects::set_state(ctx, caller, p, true).await,
        "addAccountToProject" => projects::add_account(ctx, caller, p).await,
        "deleteAccountFromProject" => projects::delete_account(ctx, caller, p).await,
        "listProjectAccounts" => projects::list_accounts(ctx, caller, p).await,
        "listProjectInvitations" => projects::list_invitations(ctx, caller, p).await,
        "updateProjectInvitation" => projects::update_invitation(ctx, caller, p).await,
        "deleteProjectInvitation" => projects::delete_invitation(ctx, caller, p).await,
        "listAffinityGroups" => vms::empty_list(ctx, spec, p, "affinitygroup"),
        "listAffinityGroupTypes" => vms::empty_list(ctx, spec, p, "affinityGroupType"),
        "createTags" => tags::create(ctx, caller, p).await,
        "deleteTags" => tags::delete(ctx, caller, p).await,
        "listTags" => tags::list(ctx, caller, p).await,
        "listResourceLimits" => limits::list(ctx, caller, p).await,
        "updateResourceLimit" => limits::update(ctx, caller, p).await,
        "updateResourceCount" => limits::update_count(ctx, caller, p).await,
        "listStorageProviders" => storage::list_providers(ctx, p),
        "listStorageTags" => storage::list_tags(ctx, p).await,
        "deployVirtualMachine" => vms::deploy(ctx, caller, p, job).await,
        "listVirtualMachines" => vms::list(ctx, caller, p, false).await,
        "listVirtualMachinesMetrics" => vms::list(ctx, caller, p, true).await,
        "listVirtualMachinesUsageHistory" => vms::usage_history(ctx, caller, p).await,
        "startVirtualMachine" => vms::start(ctx, caller, p, job).await,
        "stopVirtualMachine" => vms::stop(ctx, caller, p).await,
        "rebootVirtualMachine" => vms::reboot(ctx, caller, p, job).await,
        // Live migration (issue 16).
        "migrateVirtualMachine" => migration::migrate(ctx, caller, p).await,
        "findHostsForMigration" => migration::find_hosts(ctx, caller, p).await,
        "destroyVirtualMachine" => vms::destroy(ctx, caller, p, job).await,
        "recoverVirtualMachine" => vms::recover(ctx, caller, p).await,
        "restoreVirtualMachine" => vms::restore(ctx, caller, p, job).await,
        "expungeVirtualMachine" => vms::expunge(ctx, caller, p, job).await,
        "attachIso" => vms::attach_iso(ctx, caller, p).await,
        "detachIso" => vms::detach_iso(ctx, caller, p).await,
        "listVolumes" => vms::list_volumes(ctx, caller, p).await,
        // Data volumes (issue 16).
        "createVolume" => volumes::create_job(ctx, caller, p).await,
        "attachVolume" => volumes::attach(ctx, caller, p).await,
        "detachVolume" => volumes::detach(ctx, caller, p).await,
        "resizeVolume" => volumes::resize(ctx, caller, p).await,
        "deleteVolume" => volumes::delete(ctx, caller, p).await,
        "migrateVolume" => volumes::migrate(ctx, caller, p).await,
        // Volume snapshots (issue 16).
        "createSnapshot" => snapshots::create_job(ctx, caller, p, job).await,
        "listSnapshots" => snapshots::list(ctx, caller, p).await,
        "deleteSnapshot" => snapshots::delete(ctx, caller, p).await,
        "revertSnapshot" => snapshots::revert(ctx, caller, p, job).await,
        "createSnapshotPolicy" => snapshots::create_policy(ctx, caller, p).await,
        "listSnapshotPolicies" => snapshots::list_policies(ctx, caller, p).await,
        "updateSnapshotPolicy" => snapshots::update_policy(ctx, caller, p).await,
        "deleteSnapshotPolicies" => snapshots::delete_policies(ctx, caller, p).await,
        // VM snapshots (issue 16).
        "createVMSnapshot" => vm_snapshots::create_job(ctx, caller, p, job).await,
        "listVMSnapshot" => vm_snapshots::list(ctx, caller, p).await,
        "revertToVMSnapshot" => vm_snapshots::revert(ctx, caller, p, job).await,
        "deleteVMSnapshot" => vm_snapshots::delete(ctx, caller, p, job).await,
        "listCapacity" => vms::list_capacity(ctx, p).await,
        "listPublicIpAddresses" => vms::empty_list(ctx, spec, p, "publicipaddress"),
        "listPortForwardingRules" => vms::empty_list(ctx, spec, p, "portforwardingrule"),
        "listIpForwardingRules" => vms::empty_list(ctx, spec, p, "ipforwardingrule"),
        "createServiceOffering" => offerings::create_service(ctx, caller, p).await,
        "listServiceOfferings" => offerings::list_service(ctx, p).await,
        "updateServiceOffering" => offerings::update_service(ctx, caller, p).await,
        "deleteServiceOffering" => offerings::delete_service(ctx, caller, p).await,
        "createDiskOffering" => offerings::create_disk(ctx, caller, p).await,
        "listDiskOfferings" => offerings::list_disk(ctx, p).await,
        "updateDiskOffering" => offerings::update_disk(ctx, caller, p).await,
        "deleteDiskOffering" => offerings::delete_disk(ctx, caller, p).await,
        "createStoragePool" => storage::create_pool(ctx, caller, p).await,
        "listStoragePools" => storage::list_pools(ctx, p).await,
        "updateStoragePool" => storage::update_pool(ctx, caller, p).await,
        "enableStorageMaintenance" => storage::enable_maintenance(ctx, caller, p).await,
        "cancelStorageMaintenance" => storage::cancel_maintenance(ctx, caller, p).await,
        "deleteStoragePool" => storage::delete_pool(ctx, caller, p).await,
        "addImageStore" => storage::add_image_store(ctx, caller, p).await,
        "addSecondaryStorage" => storage::add_secondary_storage(ctx, caller, p).await,
        "listImageStores" => storage::list_image_stores(ctx, p).await,
        "deleteImageStore" => storage::delete_image_store(ctx, caller, p).await,
        "registerIso" => isos::register(ctx, caller, p).await,
        "listIsos" => isos::list(ctx, caller, p).await,
        "updateIso" => isos::update(ctx, caller, p).await,
        "deleteIso" => isos::delete(ctx, caller, p).await,
        "registerTemplate" => templates::register(ctx, caller, p).await,
        "listTemplates" => templates::list(ctx, caller, p).await,
        "updateTemplate" => templates::update(ctx, caller, p).await,
        "deleteTemplate" => templates::delete(ctx, caller, p).await,
        "copyTemplate" => templates::copy(ctx, caller, p).await,
        "createTemplate" => templates::create(ctx, caller, p, job).await,
        "listTemplatePermissions" => templates::list_permissions(ctx, caller, p).await,
        "updateTemplatePermissions" => templates::update_permissions(ctx, caller, p).await,
        "listIsoPermissions" => isos::list_permissions(ctx, caller, p).await,
        "updateIsoPermissions" => isos::update_permissions(ctx, caller, p).await,
        "listOsTypes" => isos::list_os_types(ctx, p).await,
        "listOsCategories" => isos::list_os_categories(ctx, p).await,
        "listAlerts" => hosts::list_alerts(ctx, p).await,
        "createConsoleEndpoint" => console_proxy::create_endpoint(ctx, caller, p).await,
        "listConfigurations" => config::list(ctx, p).await,
        "updateConfiguration" => config::update(ctx, caller, p, false).await,
        "resetConfiguration" => config::update(ctx, caller, p, true).await,
        "queryAsyncJobResult" => jobs::query(ctx, caller, p).await,
        "listAsyncJobs" => jobs::list(ctx, caller, p).await,
        "listEvents" => accounts::list_events(ctx, caller, p).await,
        // `login` never reaches here: it needs no caller and answers a cookie.
        other => Err(
            ApiError::unsupported(format!("The command {other} cannot be executed here")).into(),
        ),
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
        return Ok(Some(caller.account_id()));
    }
    let Some(name) = name else { return Ok(None) };
    let a = db::accounts::account_fetch_by_name(
        &ctx.pool,
        domain.unwrap_or(db::accounts::ROOT_DOMAIN),
        name,
    )
    .await?
    .ok_or_else(|| not_found(p, "account"))?;
    Ok(Some(a.id))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_command_has_a_handler_arm() {
        // The match in `execute` is the handler table; keep it and the catalog in step.
        let src = include_str!("mod.rs");
        for c in command::COMMANDS {
            if c.name == "login" {
                continue;
            }
            assert!(
                src.contains(&format!("\"{}\" =>", c.name)),
                "no handler for {}",
                c.name
            );
        }
    }
}
