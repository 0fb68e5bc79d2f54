//! `listApis`, `listCapabilities`, `listHypervisors`, `listHypervisorCapabilities`: what
//! clients ask before anything else.

use super::requests;
use stratus_api::command::{Access, COMMANDS};
use stratus_api::envelope::{Reply, CLOUDSTACK_COMPAT_VERSION};
use stratus_api::types::{
    ApiDiscoveryResponse, ApiParamResponse, ApiResponseFieldResponse, CapabilitiesResponse,
    HypervisorCapabilitiesResponse, HypervisorResponse,
};
use stratus_api::ApiError;

use crate::ctx::Ctx;
use crate::error::Result;
use crate::services::auth::Caller;
use crate::settings::{self, Scope};
use uuid::Uuid;

/// Describes the commands this caller may use (all of them for admins), straight from the
/// catalog the dispatcher enforces.
pub fn list_apis(caller: &Caller, r: &requests::ListApis<'_>) -> Result<Reply> {
    let visible = |a: Access| match a {
        Access::Public | Access::User => true,
        Access::Admin => caller.is_root_admin(),
        Access::DomainAdmin => caller.is_root_admin() || caller.is_domain_admin(),
    };
    let items: Vec<ApiDiscoveryResponse> = COMMANDS
        .iter()
        .filter(|c| visible(c.access))
        .filter(|c| r.name().is_none_or(|n| n == c.name))
        .map(|c| ApiDiscoveryResponse {
            name: c.name.into(),
            description: c.description.into(),
            since: c.since.map(str::to_string),
            isasync: c.is_async(),
            related: String::new(),
            params: c
                .params
                .iter()
                .map(|p| ApiParamResponse {
                    name: p.name.into(),
                    description: match p.refused {
                        Some(why) => {
                            format!("{} (not supported by Stratus: {why})", p.description)
                        }
                        None => p.description.into(),
                    },
                    r#type: p.kind.wire_name().into(),
                    length: p.max_len() as i32,
                    required: p.required,
                    since: None,
                    related: String::new(),
                })
                .collect(),
            response: c
                .response
                .iter()
                .map(|f| ApiResponseFieldResponse {
                    name: f.wire_name().into(),
                    description: f.description.into(),
                    r#type: f.kind.into(),
                    response: vec![],
                })
                .collect(),
            r#type: None,
        })
        .collect();
    if items.is_empty() && r.name().is_some() {
        return Err(ApiError::internal(
            "Api Discovery plugin was unable to find an api by that name or process any apis",
        )
        .into());
    }
    Ok(Reply::list("api", items.len() as i64, &items))
}

pub async fn list_capabilities(ctx: &Ctx, caller: &Caller) -> Result<Reply> {
    let account = Scope::Account(caller.user.account_id);
    // As CloudStack: true when any zone enforces security groups.
    let security_groups = crate::db::topology::any_zone_security_groups(&ctx.pool).await?;
    let caps = CapabilitiesResponse {
        cloudstackversion: Some(CLOUDSTACK_COMPAT_VERSION.into()),
        securitygroupsenabled: Some(security_groups),
        userpublictemplateenabled: Some(
            ctx.get_in(&settings::ALLOW_PUBLIC_USER_TEMPLATES, account),
        ),
        supportELB: Some("false".into()),
        projectinviterequired: Some(ctx.get(&settings::PROJECT_INVITE_REQUIRED)),
        allowusercreateprojects: Some(ctx.get(&settings::ALLOW_USER_CREATE_PROJECTS)),
        customdiskofferingminsize: Some(ctx.get(&settings::CUSTOM_DISKOFFERING_SIZE_MIN)),
        customdiskofferingmaxsize: Some(ctx.get(&settings::CUSTOM_DISKOFFERING_SIZE_MAX)),
        kvmsnapshotenabled: Some(false),
        apilimitinterval: None,
        apilimitmax: None,
        allowuserviewdestroyedvm: Some(false),
        allowuserexpungerecovervm: Some(
            ctx.get_in(&settings::ALLOW_USER_EXPUNGE_RECOVER_VM, account),
        ),
        dynamicrolesenabled: Some(false),
        defaultuipagesize: Some(ctx.get(&settings::DEFAULT_UI_PAGE_SIZE)),
        regionsecondaryenabled: Some(false),
        // Users may not expunge or recover volumes (they have only root volumes, which go
        // with their VM), see only their own account, and may force-stop their VMs.
        allowuserexpungerecovervolume: Some(false),
        allowuserviewalldomainaccounts: Some(false),
        allowuserforcestopvm: Some(true),
        // VM stats are kept this many minutes, for user VMs (Stratus runs no system VMs);
        // no disk stats are kept.
        instancesstatsretentiontime: Some(
            i32::try_from(ctx.get(&settings::VM_STATS_MAX_RETENTION_TIME)).unwrap_or(i32::MAX),
        ),
        instancesstatsuseronly: Some(true),
        instancesdisksstatsretentionenabled: Some(false),
    };
    Ok(Reply::object("capability", &caps))
}

pub async fn list_hypervisors(_ctx: &Ctx, r: &requests::ListHypervisors<'_>) -> Result<Reply> {
    // KVM is the one hypervisor, in every zone.
    r.zoneid();
    let items = [HypervisorResponse {
        name: Some("KVM".into()),
    }];
    Ok(Reply::list("hypervisor", 1, items))
}

/// The id of Stratus's one hypervisor capabilities row (KVM, every version).
pub const KVM_CAPABILITIES_ID: Uuid = Uuid::from_u128(0x00000000_0000_4000_800a_000000000001);

/// listHypervisorCapabilities: one row, KVM's, saying what Stratus does with it. No
/// security groups, storage motion or VM snapshots; no data volumes yet (0); guests per host
/// and hosts per cluster are not capped (placement goes by capacity), so those two are
/// absent, as CloudStack leaves a NULL limit out.
pub async fn list_hypervisor_capabilities(
    ctx: &Ctx,
    r: &requests::ListHypervisorCapabilities<'_>,
) -> Result<Reply> {
    let id = r.id();
    let hypervisor = r.hypervisor();
    let keyword = r.keyword();
    let row = HypervisorCapabilitiesResponse {
        id: Some(KVM_CAPABILITIES_ID),
        hypervisor: Some("KVM".into()),
        hypervisorversion: Some("default".into()),
        maxguestslimit: None,
        securitygroupenabled: Some(false),
        maxdatavolumeslimit: Some(0),
        maxhostspercluster: None,
        storagemotionenabled: Some(false),
        vmsnapshotenabled: Some(false),
    };
    let fits = id.is_none_or(|i| i == KVM_CAPABILITIES_ID)
        && hypervisor.is_none_or(|h| h.eq_ignore_ascii_case("KVM"))
        && keyword.is_none_or(|k| "kvm".contains(&k.to_ascii_lowercase()));
    let rows = if fits { vec![row] } else { vec![] };
    let (total, items) = super::page_of(ctx, r.wire(), rows)?;
    Ok(Reply::list("hypervisorCapabilities", total, &items))
}
