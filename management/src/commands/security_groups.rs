//! Security groups (issue 14): createSecurityGroup, updateSecurityGroup,
//! deleteSecurityGroup, listSecurityGroups, authorize/revoke ingress and egress, and the
//! groups deployVirtualMachine and updateVirtualMachine put a VM in.
//!
//! The checks and texts are CloudStack's (SecurityGroupManagerImpl), because Ansible,
//! Terraform, libcloud and jclouds compare what they sent with what is listed, and match
//! some errors by text. Commands only change rows: the migration's triggers mark every
//! host whose guests' filters the change touches, and the `sg-sync` reconciler
//! (`services::security_groups`) pushes those hosts' whole rule sets, woken here.

use std::collections::HashMap;

use stratus_api::envelope::Reply;
use stratus_api::types::{SecurityGroupResponse, SecurityGroupRuleResponse};
use stratus_api::{ApiError, Params};

use super::{event_for_owner, list_filter, not_found, requests};
use crate::ctx::Ctx;
use crate::db::accounts as a;
use crate::db::events::{EventResource, ResourceType};
use crate::db::security_groups::{
    self as sg, NewRule, NewSecurityGroup, RuleRow, SecurityGroupFilter, SecurityGroupRow,
};
use crate::error::{Error, Result};
use crate::ids::{AccountId, DomainId, SecurityGroupId, SecurityGroupRuleId, VmId};
use crate::rules::security_groups::{
    check_cidrs, check_match, is_default_name, Direction, MatchRequest,
};
use crate::services::auth::Caller;

fn rule_response(r: &RuleRow) -> SecurityGroupRuleResponse {
    let icmp = r.protocol == "icmp";
    let ports = matches!(r.protocol.as_str(), "tcp" | "udp");
    SecurityGroupRuleResponse {
        ruleid: Some(r.id.into_uuid()),
        protocol: Some(r.protocol.clone()),
        icmptype: icmp.then_some(r.start_port.into()),
        icmpcode: icmp.then_some(r.end_port.into()),
        startport: ports.then_some(r.start_port.into()),
        endport: ports.then_some(r.end_port.into()),
        securitygroupname: r.allowed_group_name.clone(),
        account: r.allowed_account_name.clone(),
        cidr: r.cidr_text.clone(),
        tags: vec![],
    }
}

/// A group's answer with these of its rules and members.
fn response(g: &SecurityGroupRow, rules: &[&RuleRow], vms: &[VmId]) -> SecurityGroupResponse {
    let of = |d: Direction| {
        rules
            .iter()
            .filter(|r| r.direction == d)
            .map(|r| rule_response(r))
            .collect()
    };
    SecurityGroupResponse {
        id: Some(g.id.into_uuid()),
        name: Some(g.name.clone()),
        description: g.description.clone(),
        account: Some(g.account_name.clone()),
        domainid: Some(g.domain_id.into_uuid()),
        domain: Some(g.domain_name.clone()),
        domainpath: g.domain_path.clone(),
        projectid: g.project_id.map(Into::into),
        project: g.project_name.clone(),
        ingressrule: of(Direction::Ingress),
        egressrule: of(Direction::Egress),
        tags: vec![],
        virtualmachinecount: Some(vms.len() as i64),
        virtualmachineids: vms.iter().map(|v| v.into_uuid()).collect(),
    }
}

/// The answers of these groups, with all their rules and members (two queries).
async fn responses(ctx: &Ctx, groups: &[SecurityGroupRow]) -> Result<Vec<SecurityGroupResponse>> {
    let ids: Vec<SecurityGroupId> = groups.iter().map(|g| g.id).collect();
    let rules = sg::rules_of(&ctx.pool, &ids).await?;
    let mut members: HashMap<SecurityGroupId, Vec<VmId>> = HashMap::new();
    for m in sg::members_of_groups(&ctx.pool, &ids).await? {
        members.entry(m.group_id).or_default().push(m.vm_id);
    }
    Ok(groups
        .iter()
        .map(|g| {
            let mine: Vec<&RuleRow> = rules.iter().filter(|r| r.group_id == g.id).collect();
            response(g, &mine, members.get(&g.id).map_or(&[], Vec::as_slice))
        })
        .collect())
}

async fn reply(ctx: &Ctx, g: &SecurityGroupRow) -> Result<Reply> {
    let r = responses(ctx, std::slice::from_ref(g)).await?;
    let one = r
        .first()
        .ok_or_else(|| Error::internal("a group without its answer"))?;
    Ok(Reply::object("securitygroup", one))
}

/// The account a command acts for: `projectid`'s, `account`+`domainid` (a root admin
/// naming another), or the caller's.
async fn owner(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<(AccountId, DomainId, String)> {
    super::sshkeys::owner(ctx, caller, p).await
}

/// The group `id` names, if the caller may act for its owner.
async fn usable(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    id: SecurityGroupId,
    name: &str,
) -> Result<SecurityGroupRow> {
    let g = sg::sg_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| not_found(p, name))?;
    if !super::projects::may_use(ctx, caller, g.account_id.into_uuid()).await? {
        return Err(not_found(p, name));
    }
    Ok(g)
}

/// The group named by an id parameter or by a name parameter in the owner's account
/// (`account`/`domainid`/`projectid`), exactly one of the two.
async fn by_id_or_name(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    (id_param, id): (&str, Option<SecurityGroupId>),
    (name_param, name): (&str, Option<&str>),
    neither: &str,
) -> Result<SecurityGroupRow> {
    match (id, name) {
        (Some(_), Some(_)) => Err(ApiError::param(format!(
            "{id_param} and {name_param} parameters are mutually exclusive"
        ))
        .into()),
        (Some(id), None) => {
            for n in ["account", "domainid", "projectid"] {
                p.mark_read(n);
            }
            usable(ctx, caller, p, id, id_param).await
        }
        (None, Some(name)) => {
            let (account, _, _) = owner(ctx, caller, p).await?;
            sg::sg_fetch_by_name(&ctx.pool, account, name.trim())
                .await?
                .ok_or_else(|| {
                    ApiError::param(format!(
                        "Unable to find security group {name} for account id={account}"
                    ))
                    .into()
                })
        }
        (None, None) => Err(ApiError::param(neither.to_string()).into()),
    }
}

fn taken(name: &str) -> Error {
    ApiError::param(format!(
        "Unable to create security group, a group with name {name} already exists."
    ))
    .into()
}

fn unique_violation(e: &Error) -> bool {
    matches!(e, Error::Db(sqlx::Error::Database(d))
        if d.constraint() == Some("security_groups_account_name_key"))
}

pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateSecurityGroup<'_>,
) -> Result<Reply> {
    let name = r.name().trim();
    if name.is_empty() {
        return Err(ApiError::param("Security group name cannot be empty").into());
    }
    if name.len() > 255 {
        return Err(ApiError::param("Security group name is longer than 255 characters").into());
    }
    let (account_id, domain_id, account_name) =
        match super::projects::owner_for_create(ctx, caller, r.wire()).await? {
            Some(pr) => (pr.account_id, pr.domain_id, pr.account_name.clone()),
            None => owner(ctx, caller, r.wire()).await?,
        };
    if is_default_name(name) {
        return Err(taken(name));
    }
    let id = SecurityGroupId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    sg::sg_insert(
        &mut *tx,
        &NewSecurityGroup {
            id,
            name,
            description: r.description(),
            account_id,
            domain_id,
        },
    )
    .await
    .map_err(|e| if unique_violation(&e) { taken(name) } else { e })?;
    event_for_owner(
        &mut tx,
        &caller.user,
        (account_id, domain_id),
        "SG.CREATE",
        format!("Security group {name} of account {account_name}"),
        Some(EventResource::new(
            ResourceType::SecurityGroup,
            id,
            name.to_string(),
        )),
    )
    .await?;
    tx.commit().await?;
    let g = sg::sg_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("security group vanished"))?;
    reply(ctx, &g).await
}

pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateSecurityGroup<'_>,
) -> Result<Reply> {
    let g = usable(ctx, caller, r.wire(), r.id(), "id").await?;
    if let Some(name) = r.name() {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::param("Security group name cannot be empty").into());
        }
        if g.is_default && !is_default_name(name) {
            return Err(ApiError::param("The default security group cannot be renamed").into());
        }
        if !g.is_default && is_default_name(name) {
            return Err(ApiError::param("The security group name default is reserved").into());
        }
        if name != g.name {
            let mut tx = ctx.pool.begin().await?;
            sg::sg_rename(&mut *tx, g.id, name).await.map_err(|e| {
                if unique_violation(&e) {
                    taken(name)
                } else {
                    e
                }
            })?;
            event_for_owner(
                &mut tx,
                &caller.user,
                (g.account_id, g.domain_id),
                "SG.UPDATE",
                format!("Security group {} renamed {name}", g.name),
                Some(EventResource::new(
                    ResourceType::SecurityGroup,
                    g.id,
                    name.to_string(),
                )),
            )
            .await?;
            tx.commit().await?;
        }
    }
    let g = sg::sg_fetch(&ctx.pool, g.id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    reply(ctx, &g).await
}

pub async fn delete(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteSecurityGroup<'_>,
) -> Result<Reply> {
    let g = by_id_or_name(
        ctx,
        caller,
        r.wire(),
        ("id", r.id()),
        ("name", r.name()),
        "Either id or name parameter is required by deleteSecurityGroup command",
    )
    .await?;
    if g.is_default {
        return Err(ApiError::param("The network group default is reserved").into());
    }
    let mut tx = ctx.pool.begin().await?;
    // Serialised with deploys and authorizes naming it: they lock it too.
    sg::sg_lock(&mut tx, g.id).await?;
    if sg::sg_in_use(&mut *tx, g.id).await? {
        return Err(
            ApiError::in_use("Cannot delete group when it's in use by virtual machines").into(),
        );
    }
    if sg::sg_referenced(&mut *tx, g.id).await? {
        return Err(ApiError::in_use(
            "Cannot delete group when there are security rules that allow this group",
        )
        .into());
    }
    sg::sg_delete(&mut tx, g.id).await?;
    event_for_owner(
        &mut tx,
        &caller.user,
        (g.account_id, g.domain_id),
        "SG.DELETE",
        format!("Security group {} of account {}", g.name, g.account_name),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListSecurityGroups<'_>,
) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let mut common = list_filter(ctx, r.wire())?;
    common.name = r.securitygroupname().map(str::to_string);
    let f = SecurityGroupFilter {
        common,
        account_id: account_id.map(Into::into),
        account_ids: account_ids.map(|v| v.into_iter().map(Into::into).collect()),
        skip_projects,
        vm_id: r.virtualmachineid(),
    };
    let (rows, total) = sg::sg_list(&ctx.pool, &f).await?;
    let items = responses(ctx, &rows).await?;
    Ok(Reply::list("securitygroup", total, items))
}

/// `usersecuritygrouplist[i].account` + `.group`: groups of accounts in the owner's
/// domain, as CloudStack resolves them.
async fn named_groups(
    ctx: &Ctx,
    entries: &[std::collections::BTreeMap<String, String>],
    owner: &SecurityGroupRow,
) -> Result<Vec<SecurityGroupRow>> {
    if entries.len() > 256 {
        return Err(ApiError::param("usersecuritygrouplist: at most 256 groups").into());
    }
    let mut out: Vec<SecurityGroupRow> = Vec::new();
    for e in entries {
        let (Some(account), Some(group)) = (e.get("account"), e.get("group")) else {
            return Err(ApiError::param(
                "Invalid user group specified, fields 'group' and 'account' cannot be null, please specify groups in the form:  userGroupList[0].group=XXX&userGroupList[0].account=YYY",
            )
            .into());
        };
        let acc = a::account_fetch_by_name(&ctx.pool, owner.domain_id, account)
            .await?
            .ok_or_else(|| {
                ApiError::param(format!(
                    "Nonexistent account: {account} when trying to authorize security group rule  for {}",
                    owner.name
                ))
            })?;
        let g = sg::sg_fetch_by_name(&ctx.pool, acc.id, group)
            .await?
            .ok_or_else(|| {
                ApiError::param(format!(
                    "Nonexistent group {group} for account {account}/{} is given, unable to authorize security group rule.",
                    owner.domain_id
                ))
            })?;
        if !out.iter().any(|o| o.id == g.id) {
            out.push(g);
        }
    }
    Ok(out)
}

/// What authorizeSecurityGroupIngress and authorizeSecurityGroupEgress ask, read through
/// their typed requests (the two have the same parameters).
pub struct Authorize<'a> {
    wire: &'a Params,
    direction: Direction,
    group_id: Option<SecurityGroupId>,
    group_name: Option<&'a str>,
    cidrs: String,
    groups: Vec<std::collections::BTreeMap<String, String>>,
    matching: MatchRequest<'a>,
}

macro_rules! authorize_from {
    ($fn:ident, $req:ident, $dir:expr) => {
        pub fn $fn(r: &requests::$req<'a>) -> Result<Authorize<'a>> {
            for n in ["account", "domainid", "projectid"] {
                r.wire().mark_read(n);
            }
            Ok(Authorize {
                wire: r.wire(),
                direction: $dir,
                group_id: r.securitygroupid(),
                group_name: r.securitygroupname(),
                cidrs: r.cidrlist().unwrap_or(&[]).join(","),
                groups: r.usersecuritygrouplist().to_vec(),
                matching: MatchRequest {
                    protocol: r.protocol(),
                    startport: r.startport(),
                    endport: r.endport(),
                    icmptype: r.icmptype(),
                    icmpcode: r.icmpcode(),
                },
            })
        }
    };
}

impl<'a> Authorize<'a> {
    authorize_from!(ingress, AuthorizeSecurityGroupIngress, Direction::Ingress);
    authorize_from!(egress, AuthorizeSecurityGroupEgress, Direction::Egress);
}

/// authorizeSecurityGroupIngress / authorizeSecurityGroupEgress (the job half): one rule
/// per CIDR and per named group; those the group has already are skipped, and a call
/// that adds none fails, as in CloudStack. The answer is the group with only the rules
/// this call added (Terraform reads the new `ruleid` from it).
pub async fn authorize(ctx: &Ctx, caller: &Caller, q: &Authorize<'_>) -> Result<Reply> {
    let (p, direction) = (q.wire, q.direction);
    let command = p.command().to_string();
    let g = by_id_or_name(
        ctx,
        caller,
        p,
        ("securityGroupId", q.group_id),
        ("securityGroupName", q.group_name),
        "Either securityGroupId or securityGroupName is required by authorizeSecurityGroupIngress command",
    )
    .await?;
    let cidrs = check_cidrs(&q.cidrs).map_err(ApiError::param)?;
    if cidrs.len() > 256 {
        return Err(ApiError::param("cidrlist: at most 256 CIDRs").into());
    }
    let groups = named_groups(ctx, &q.groups, &g).await?;
    if cidrs.is_empty() && groups.is_empty() {
        return Err(ApiError::param(
            "At least one cidr or at least one security group needs to be specified",
        )
        .into());
    }
    let m = check_match(&q.matching).map_err(ApiError::param)?;
    let protocol = m.protocol.as_wire();
    let mut tx = ctx.pool.begin().await?;
    sg::sg_lock(&mut tx, g.id).await?;
    let mut added = Vec::new();
    let peers = cidrs
        .iter()
        .map(|c| (Some(c.as_str()), None))
        .chain(groups.iter().map(|o| (None, Some(o.id))));
    for (cidr, allowed) in peers {
        let id = SecurityGroupRuleId::new_v4();
        let new = sg::rule_insert(
            &mut *tx,
            &NewRule {
                id,
                group_id: g.id,
                direction,
                protocol: &protocol,
                start_port: m.start,
                end_port: m.end,
                cidr,
                allowed_group_id: allowed,
            },
        )
        .await?;
        if new {
            added.push(id);
        }
    }
    if added.is_empty() {
        return Err(ApiError::internal(format!(
            "Failed to authorize security group {} rule(s)",
            direction.as_str().to_ascii_lowercase()
        ))
        .into());
    }
    event_for_owner(
        &mut tx,
        &caller.user,
        (g.account_id, g.domain_id),
        if direction == Direction::Ingress {
            "SG.AUTH.INGRESS"
        } else {
            "SG.AUTH.EGRESS"
        },
        format!(
            "{} {} rule(s) added to security group {} ({command})",
            added.len(),
            direction.as_str().to_ascii_lowercase(),
            g.name
        ),
        Some(EventResource::new(
            ResourceType::SecurityGroup,
            g.id,
            g.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    ctx.sg_sync.notify_one();
    let rules: Vec<RuleRow> = sg::rules_of(&ctx.pool, &[g.id])
        .await?
        .into_iter()
        .filter(|r| added.contains(&r.id))
        .collect();
    let refs: Vec<&RuleRow> = rules.iter().collect();
    let members: Vec<VmId> = sg::members_of_groups(&ctx.pool, &[g.id])
        .await?
        .into_iter()
        .map(|m| m.vm_id)
        .collect();
    Ok(Reply::object(
        "securitygroup",
        &response(&g, &refs, &members),
    ))
}

/// revokeSecurityGroupIngress / revokeSecurityGroupEgress (the job half).
pub async fn revoke(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    id: SecurityGroupRuleId,
    direction: Direction,
) -> Result<Reply> {
    let missing = || -> Error {
        ApiError::param(format!("Unable to find security rule with id {id}")).into()
    };
    let rule = sg::rule_fetch(&ctx.pool, id).await?.ok_or_else(missing)?;
    let g = usable(ctx, caller, p, rule.group_id, "id")
        .await
        .map_err(|_| missing())?;
    if rule.direction != direction {
        return Err(ApiError::param(format!(
            "Mismatch in rule type for security rule with id {id}"
        ))
        .into());
    }
    let mut tx = ctx.pool.begin().await?;
    sg::sg_lock(&mut tx, g.id).await?;
    if sg::rule_delete(&mut *tx, id).await? {
        event_for_owner(
            &mut tx,
            &caller.user,
            (g.account_id, g.domain_id),
            if direction == Direction::Ingress {
                "SG.REVOKE.INGRESS"
            } else {
                "SG.REVOKE.EGRESS"
            },
            format!(
                "{} rule {id} revoked from security group {}",
                direction.as_str(),
                g.name
            ),
            Some(EventResource::new(
                ResourceType::SecurityGroup,
                g.id,
                g.name.clone(),
            )),
        )
        .await?;
    }
    tx.commit().await?;
    ctx.sg_sync.notify_one();
    Ok(Reply::success())
}

/// The groups a VM of `owner` is put in by deployVirtualMachine or updateVirtualMachine:
/// `securitygroupids` or `securitygroupnames` (not both); None when neither is given.
/// Groups must be the owner's (CloudStack lets a VM join only its own account's).
pub async fn for_vm(
    ctx: &Ctx,
    owner: AccountId,
    ids: Option<&[SecurityGroupId]>,
    names: Option<&[&str]>,
) -> Result<Option<Vec<SecurityGroupId>>> {
    let mut out: Vec<SecurityGroupId> = Vec::new();
    match (ids, names) {
        (Some(_), Some(_)) => return Err(ApiError::param(
            "securitygroupids parameter is mutually exclusive with securitygroupnames parameter",
        )
        .into()),
        (Some(ids), None) => {
            for &id in ids {
                let g = sg::sg_fetch(&ctx.pool, id)
                    .await?
                    .filter(|g| g.account_id == owner)
                    .ok_or_else(|| {
                        ApiError::param(format!("Unable to find security group by id {id}"))
                    })?;
                if !out.contains(&g.id) {
                    out.push(g.id);
                }
            }
        }
        (None, Some(names)) => {
            for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let g = sg::sg_fetch_by_name(&ctx.pool, owner, n)
                    .await?
                    .ok_or_else(|| ApiError::param(format!("Unable to find group by name {n}")))?;
                if !out.contains(&g.id) {
                    out.push(g.id);
                }
            }
        }
        (None, None) => return Ok(None),
    }
    if out.len() > 64 {
        return Err(ApiError::param("A VM can be in at most 64 security groups").into());
    }
    Ok(Some(out))
}

/// The owner's `default` group (every account has one, from the migration's trigger).
pub async fn default_group(ctx: &Ctx, owner: AccountId) -> Result<SecurityGroupId> {
    Ok(sg::sg_fetch_by_name(
        &ctx.pool,
        owner,
        crate::rules::security_groups::DEFAULT_NAME,
    )
    .await?
    .ok_or_else(|| Error::internal("the account has no default security group"))?
    .id)
}

/// Security groups are refused where the zone does not enforce them.
pub fn refuse_in_zone() -> Error {
    ApiError::param(
        "Can't create vm with security groups; security group feature is not enabled per zone",
    )
    .into()
}

/// A VM's groups as its answer lists them (id, name, description, account; no rules).
pub async fn of_vms(ctx: &Ctx, vms: &[VmId]) -> Result<HashMap<VmId, Vec<SecurityGroupResponse>>> {
    let mut out: HashMap<VmId, Vec<SecurityGroupResponse>> = HashMap::new();
    if vms.is_empty() {
        return Ok(out);
    }
    for m in sg::groups_of_vms(&ctx.pool, vms).await? {
        out.entry(m.vm_id).or_default().push(SecurityGroupResponse {
            id: Some(m.group_id.into_uuid()),
            name: Some(m.group_name),
            description: m.description,
            account: Some(m.account_name),
            ..Default::default()
        });
    }
    Ok(out)
}
