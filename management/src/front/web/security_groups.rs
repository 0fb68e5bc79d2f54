//! Security groups in the web console (issue 14): the list, the New group form, and a
//! group's page — its ingress and egress rules, each removable, a form per direction to
//! add one (TCP/UDP ports, ICMP type and code, or every protocol; from a CIDR or from the
//! members of another group), and the instances in it. The instance page shows an
//! instance's groups and, while it is stopped, changes them (`security_groups_section`).
//!
//! Everything is the API command a CloudStack client sends (createSecurityGroup,
//! deleteSecurityGroup, authorizeSecurityGroupIngress/Egress,
//! revokeSecurityGroupIngress/Egress, updateVirtualMachine `securitygroupids`), run as the
//! signed-in user: the checks and the refusals are the API's. Authorize and revoke are
//! jobs; the form waits for them like every other console action, and the job's page
//! follows one that takes longer.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{
    SecurityGroupResponse, SecurityGroupRuleResponse, VirtualMachineResponse,
};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::lists::all_rows;
use super::show::{plain, text};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

const LIST: &str = "/console/security-groups";
const NEW: &str = "/console/security-groups/new";

/// The group every account has; it cannot be deleted or renamed.
use crate::rules::security_groups::DEFAULT_NAME as DEFAULT;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route(LIST, get(list))
        .route(NEW, get(new_form).post(create))
        .route("/console/security-groups/{id}", get(detail))
        .route("/console/security-groups/{id}/action", post(action))
}

fn detail_path(id: &str) -> String {
    format!("{LIST}/{id}")
}

async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    params.extend(s.scope());
    let (total, items) = match s
        .list_of::<SecurityGroupResponse>("listSecurityGroups", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("security-groups", &e),
    };
    let rows = items
        .iter()
        .map(|g| {
            let id = plain(&g.id);
            let mut actions = vec![];
            if g.name.as_deref() != Some(DEFAULT) {
                actions.push(
                    Action::new("delete", "Delete", format!("{}/action", detail_path(&id)))
                        .field("action", "delete")
                        .danger("Yes"),
                );
            }
            Row {
                id: id.clone(),
                cells: vec![
                    Cell::link(text(&g.name), detail_path(&id)),
                    Cell::text(text(&g.description)),
                    Cell::num(g.ingressrule.len().to_string()),
                    Cell::num(g.egressrule.len().to_string()),
                    Cell::num(g.virtualmachineids.len().to_string()),
                    Cell::text(text(&g.account)),
                ],
                actions,
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Description",
            "Ingress rules",
            "Egress rules",
            "Instances",
            "Account",
        ],
        rows,
        "No security groups.",
    );
    table.numeric = vec![2, 3, 4];
    s.page(&ListPage {
        frame: s.frame("security-groups"),
        section: "Network",
        title: "Security groups".into(),
        table,
        total,
        toolbar: vec![Link::primary("+ Add security group", NEW)],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("security groups").or_else(|| Some(
            "In a Basic zone every instance is in at least one group: the account's default group unless others are chosen. A group lets in only what its ingress rules allow; it lets everything out while it has no egress rule, and only what they allow once it has one."
                .into(),
        )),
        pager: pager(LIST, &q, total),
        refresh: None,
    })
}

fn form_page(s: &Session, name: &str, description: &str, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("security-groups"),
        section: "Security groups",
        title: "Add security group".into(),
        intro: Some(
            "A new group lets nothing in until you add ingress rules on its page. Choose it when you add an instance, or on a stopped instance's page."
                .into(),
        ),
        action: NEW.into(),
        fields: vec![
            Field::text("name", "Name", name, true).placeholder("web"),
            Field::text("description", "Description", description, false),
        ],
        error,
        submit: "Add security group".into(),
        cancel: LIST.into(),
        refresh: None,
    }
}

async fn new_form(s: Session) -> Response {
    s.page(&form_page(&s, "", "", None))
}

async fn create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let name = field(&f, "name").trim().to_string();
    let description = field(&f, "description").trim().to_string();
    let mut params = vec![("name", name.clone())];
    if !description.is_empty() {
        params.push(("description", description.clone()));
    }
    params.extend(s.scope());
    match s.call("createSecurityGroup", &params).await {
        Ok(stratus_api::envelope::Reply::Object { value, .. }) => {
            let id = value.get("id").and_then(|v| v.as_str()).unwrap_or_default();
            let to = if id.is_empty() {
                LIST.to_string()
            } else {
                detail_path(id)
            };
            redirect_with(
                &to,
                true,
                &format!("Security group {name} was created. Add its ingress rules here."),
            )
        }
        Ok(_) => redirect_with(LIST, true, &format!("Security group {name} was created.")),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(&s, &name, &description, Some(e.text)),
        ),
    }
}

/// "any" for CloudStack's -1 (every ICMP type or code).
fn icmp_value(v: Option<i64>) -> String {
    match v {
        None | Some(-1) => "any".into(),
        Some(n) => n.to_string(),
    }
}

/// A rule's protocol as people write it (security group and firewall rules alike; the
/// firewall answers it in any case).
pub(crate) fn protocol_text(protocol: Option<&str>) -> String {
    match protocol.map(str::to_ascii_lowercase).as_deref() {
        Some("all") | None => "All".into(),
        Some(p @ ("tcp" | "udp" | "icmp")) => p.to_uppercase(),
        Some(p) => format!("Protocol {p}"),
    }
}

fn protocol_of(r: &SecurityGroupRuleResponse) -> String {
    protocol_text(r.protocol.as_deref())
}

/// What a rule matches beyond its protocol: its ports (start, end), or its ICMP type and
/// code (security group and firewall rules alike).
pub(crate) fn ports_text(
    protocol: Option<&str>,
    ports: (Option<i64>, Option<i64>),
    icmp: (Option<i64>, Option<i64>),
) -> String {
    match protocol.map(str::to_ascii_lowercase).as_deref() {
        Some("icmp") => format!("type {}, code {}", icmp_value(icmp.0), icmp_value(icmp.1)),
        Some("tcp" | "udp") => match ports {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a}–{b}"),
            (Some(a), None) => a.to_string(),
            _ => "all".into(),
        },
        _ => "all".into(),
    }
}

fn ports_of(r: &SecurityGroupRuleResponse) -> String {
    ports_text(
        r.protocol.as_deref(),
        (r.startport, r.endport),
        (r.icmptype, r.icmpcode),
    )
}

/// Whom a rule admits (ingress) or lets reach (egress): a CIDR, or a group's members.
fn peer_of(r: &SecurityGroupRuleResponse) -> String {
    match (&r.cidr, &r.securitygroupname) {
        (Some(c), _) => c.clone(),
        (None, Some(g)) => format!("group {}/{}", text(&r.account), g),
        _ => "—".into(),
    }
}

/// An add-rule form's protocol choice (among `protocols`, the first chosen at first) and
/// its port and ICMP inputs: what [`match_params`] reads back.
pub(crate) fn match_inputs(a: Action, protocols: &[&str]) -> Action {
    let options = protocols
        .iter()
        .map(|p| (p.to_string(), protocol_text(Some(p))))
        .collect();
    a.choice("protocol", "Protocol", options)
        .optional_input("startport", "Start port", "number", "Start port")
        .optional_input("endport", "End port", "number", "End port")
        .optional_input("icmptype", "ICMP type", "number", "ICMP type (any)")
        .optional_input("icmpcode", "ICMP code", "number", "ICMP code")
}

/// One direction's rules, each removable, and the form that adds one.
fn rules_section(g: &SecurityGroupResponse, egress: bool, url: &str) -> Section {
    let (direction, rules) = if egress {
        ("egress", &g.egressrule)
    } else {
        ("ingress", &g.ingressrule)
    };
    let rows = rules
        .iter()
        .map(|r| Row {
            id: plain(&r.ruleid),
            cells: vec![
                Cell::text(protocol_of(r)),
                Cell::mono(ports_of(r)),
                Cell::mono(peer_of(r)),
            ],
            actions: vec![Action::new("revoke", "Remove", url.to_string())
                .field("action", "revoke")
                .field("direction", direction)
                .field("ruleid", plain(&r.ruleid))
                .danger("Yes")],
        })
        .collect();
    let add = match_inputs(
        Action::new(&format!("add-{direction}"), "Add rule", url.to_string())
            .field("action", "authorize")
            .field("direction", direction)
            // A bare group name in the form is one of this group's account.
            .field("owner", plain(&g.account)),
        &["tcp", "udp", "icmp", "all"],
    )
    .optional_input("cidrlist", "CIDR", "text", "CIDR (0.0.0.0/0)")
    .optional_input("group", "Group", "text", "or group (account/name)");
    let (title, peer, note, empty) = if egress {
        (
            "Egress rules",
            "Destination",
            "With no egress rule the group's instances may send anywhere; with one, only where the egress rules allow (replies to allowed traffic always pass).",
            "No egress rules: everything may go out.",
        )
    } else {
        (
            "Ingress rules",
            "Source",
            "Only traffic an ingress rule allows reaches the group's instances (replies to their own traffic always pass). A rule from a group admits its members, wherever they run.",
            "No ingress rules: nothing gets in.",
        )
    };
    Section {
        title: title.into(),
        table: Table::new(direction, &["Protocol", "Ports / ICMP", peer], rows, empty),
        links: vec![],
        note: Some(note.into()),
        forms: vec![add],
    }
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    let scope = [vec![("listall", "true".to_string())], s.scope()].concat();
    let g = match s
        .one_of::<SecurityGroupResponse>("listSecurityGroups", &id, &scope)
        .await
    {
        Ok(Some(g)) => g,
        Ok(None) => return s.not_found("security-groups", "security group"),
        Err(e) => return s.error_page("security-groups", &e),
    };
    let id = plain(&g.id);
    let url = format!("{}/action", detail_path(&id));
    let members = if g.virtualmachineids.is_empty() {
        vec![]
    } else {
        s.list_of::<VirtualMachineResponse>(
            "listVirtualMachines",
            &all_rows(&[vec![("securitygroupid", id.clone())], scope.clone()].concat()),
        )
        .await
        .map(|(_, v)| v)
        .unwrap_or_default()
    };
    let member_rows = members
        .iter()
        .map(|v| Row {
            id: plain(&v.id),
            cells: vec![
                Cell::link(
                    text(&v.name),
                    format!("/console/instances/{}", plain(&v.id)),
                ),
                Cell::state(plain(&v.state)),
                Cell::mono(
                    v.nic
                        .first()
                        .map(|n| text(&n.ipaddress))
                        .unwrap_or_else(|| "—".into()),
                ),
            ],
            actions: vec![],
        })
        .collect();
    let mut actions = vec![];
    if g.name.as_deref() != Some(DEFAULT) {
        actions.push(
            Action::new("delete", "Delete group", url.clone())
                .field("action", "delete")
                .danger("Yes, delete this group (no instance may be in it)"),
        );
    }
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("security-groups"),
        title: text(&g.name),
        status: vec![],
        back: Link::new("Security groups", LIST),
        toolbar: vec![],
        actions,
        fields: vec![
            ("ID".into(), Cell::mono(id.clone())),
            ("Description".into(), Cell::text(text(&g.description))),
            ("Account".into(), Cell::text(text(&g.account))),
            ("Domain".into(), Cell::text(text(&g.domain))),
            (
                "Instances".into(),
                Cell::num(g.virtualmachineids.len().to_string()),
            ),
        ],
        charts: vec![],
        sections: vec![
            rules_section(&g, false, &url),
            rules_section(&g, true, &url),
            Section {
                title: "Instances".into(),
                table: Table::new(
                    "members",
                    &["Name", "State", "IP address"],
                    member_rows,
                    "No instance is in this group.",
                ),
                links: vec![],
                note: None,
                forms: vec![],
            },
        ],
        refresh: None,
    })
}

/// What an add-rule form matches, as the API's parameters: `protocol` (TCP when none is
/// chosen) with its ports (the end port is the start when empty) or its ICMP type and
/// code (empty: every type; an empty code is every code with every type, and 0 with one
/// type, since CloudStack takes no "any code" for a single type). Security group and
/// firewall forms alike; the API checks the values and its refusals come back as text.
pub(crate) fn match_params(f: &Fields) -> Vec<(&'static str, String)> {
    let get = |k: &str| field(f, k).trim().to_string();
    let protocol = get("protocol");
    let mut p = vec![];
    match protocol.as_str() {
        "tcp" | "udp" => {
            let start = get("startport");
            let end = get("endport");
            p.push(("startport", start.clone()));
            p.push(("endport", if end.is_empty() { start } else { end }));
        }
        "icmp" => {
            let t = get("icmptype");
            let t = if t.is_empty() { "-1".to_string() } else { t };
            let c = match get("icmpcode") {
                c if !c.is_empty() => c,
                _ if t == "-1" => "-1".into(),
                _ => "0".into(),
            };
            p.push(("icmptype", t));
            p.push(("icmpcode", c));
        }
        _ => {}
    }
    p.push((
        "protocol",
        if protocol.is_empty() {
            "tcp".into()
        } else {
            protocol
        },
    ));
    p
}

/// The authorize command's parameters from the add-rule form: the protocol's ports or
/// ICMP type and code, and its peer (a group, else a CIDR list, 0.0.0.0/0 when empty).
/// The API checks them; what it refuses comes back as its text.
fn authorize_params(id: &str, f: &Fields) -> Vec<(&'static str, String)> {
    let get = |k: &str| field(f, k).trim().to_string();
    let mut p = vec![("securitygroupid", id.to_string())];
    p.extend(match_params(f));
    let group = get("group");
    if group.is_empty() {
        let cidr = get("cidrlist");
        p.push((
            "cidrlist",
            if cidr.is_empty() {
                "0.0.0.0/0".into()
            } else {
                cidr
            },
        ));
    } else {
        // "account/name", or a bare name: the group's own account's.
        let (account, name) = match group.split_once('/') {
            Some((a, n)) => (a.trim().to_string(), n.trim().to_string()),
            None => (get("owner"), group),
        };
        p.push(("usersecuritygrouplist[0].account", account));
        p.push(("usersecuritygrouplist[0].group", name));
    }
    p
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let page = detail_path(&id);
    let egress = field(&f, "direction") == "egress";
    match field(&f, "action") {
        "delete" => {
            s.act(
                "deleteSecurityGroup",
                &[("id", id.clone())],
                LIST,
                "The security group was deleted.",
            )
            .await
        }
        "authorize" => {
            let params = authorize_params(&id, &f);
            let command = if egress {
                "authorizeSecurityGroupEgress"
            } else {
                "authorizeSecurityGroupIngress"
            };
            s.act(
                command,
                &params,
                &page,
                "The rule was added; the hosts of the group's instances apply it within seconds.",
            )
            .await
        }
        "revoke" => {
            let command = if egress {
                "revokeSecurityGroupEgress"
            } else {
                "revokeSecurityGroupIngress"
            };
            s.act(
                command,
                &[("id", field(&f, "ruleid").to_string())],
                &page,
                "The rule was removed; the hosts of the group's instances drop it within seconds.",
            )
            .await
        }
        _ => redirect_with(&page, false, "Unknown action."),
    }
}

/// An instance's groups, for its page: each linked to its own page, and, while the
/// instance is stopped, a form to choose them again among its owner's groups
/// (updateVirtualMachine `securitygroupids`; CloudStack changes them only on a stopped
/// instance). None when the instance is in no group (a zone without security groups).
pub(crate) async fn instance_section(
    s: &Session,
    v: &VirtualMachineResponse,
    url: &str,
) -> Option<Section> {
    if v.securitygroup.is_empty() {
        return None;
    }
    let rows = v
        .securitygroup
        .iter()
        .map(|g| Row {
            id: plain(&g.id),
            cells: vec![
                Cell::link(text(&g.name), detail_path(&plain(&g.id))),
                Cell::text(text(&g.description)),
            ],
            actions: vec![],
        })
        .collect();
    let stopped = v.state.as_deref() == Some("Stopped");
    let mut forms = vec![];
    if stopped {
        // The owner's groups: the project's, or the account's in its domain.
        let mut p = vec![("listall", "true".to_string())];
        match &v.projectid {
            Some(pid) => p.push(("projectid", pid.to_string())),
            None => {
                p.push(("account", plain(&v.account)));
                p.push(("domainid", plain(&v.domainid)));
            }
        }
        let groups = s
            .list_of::<SecurityGroupResponse>("listSecurityGroups", &all_rows(&p))
            .await
            .map(|(_, g)| g)
            .unwrap_or_default();
        if !groups.is_empty() {
            let mut change = Action::new("securitygroups", "Change groups", url.to_string())
                .field("action", "securitygroups");
            for g in &groups {
                let gid = plain(&g.id);
                let member = v.securitygroup.iter().any(|m| plain(&m.id) == gid);
                change = change.checkbox(&format!("sg:{gid}"), &text(&g.name), member);
            }
            forms.push(change);
        }
    }
    Some(Section {
        title: "Security groups".into(),
        table: Table::new(
            "securitygroups",
            &["Name", "Description"],
            rows,
            "In no security group.",
        ),
        links: vec![],
        note: Some(if stopped {
            "Tick the groups the instance should be in: it takes their rules at its next start."
                .into()
        } else {
            "Stop the instance to change its groups; rules added to a group apply at once.".into()
        }),
        forms,
    })
}

/// updateVirtualMachine's `securitygroupids` from the change form's ticked boxes.
pub(crate) fn chosen_groups(f: &Fields) -> String {
    f.iter()
        .filter(|(k, v)| k.starts_with("sg:") && v == "true")
        .map(|(k, _)| k.trim_start_matches("sg:"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str) -> SecurityGroupRuleResponse {
        SecurityGroupRuleResponse {
            protocol: Some(protocol.into()),
            ..Default::default()
        }
    }

    #[test]
    fn rules_read_as_people_write_them() {
        let mut r = rule("tcp");
        r.startport = Some(22);
        r.endport = Some(22);
        r.cidr = Some("10.0.0.0/8".into());
        assert_eq!(
            (protocol_of(&r), ports_of(&r), peer_of(&r)),
            ("TCP".into(), "22".into(), "10.0.0.0/8".into())
        );
        r.endport = Some(25);
        assert_eq!(ports_of(&r), "22–25");
        let mut i = rule("icmp");
        i.icmptype = Some(8);
        i.icmpcode = Some(-1);
        i.securitygroupname = Some("web".into());
        i.account = Some("admin".into());
        assert_eq!(ports_of(&i), "type 8, code any");
        assert_eq!(peer_of(&i), "group admin/web");
        assert_eq!(protocol_of(&rule("47")), "Protocol 47");
        assert_eq!(ports_of(&rule("all")), "all");
    }

    use super::super::fields as form;

    #[test]
    fn the_add_form_becomes_the_authorize_parameters() {
        let get =
            |p: &[(&str, String)], k: &str| p.iter().find(|(x, _)| *x == k).map(|(_, v)| v.clone());
        // One port, no peer: the end port is the start, from anywhere.
        let p = authorize_params("g", &form(&[("protocol", "tcp"), ("startport", "22")]));
        assert_eq!(get(&p, "endport").as_deref(), Some("22"));
        assert_eq!(get(&p, "cidrlist").as_deref(), Some("0.0.0.0/0"));
        // ICMP without type or code: every one; no ports sent.
        let p = authorize_params("g", &form(&[("protocol", "icmp"), ("startport", "9")]));
        assert_eq!(get(&p, "icmptype").as_deref(), Some("-1"));
        assert_eq!(get(&p, "icmpcode").as_deref(), Some("-1"));
        assert_eq!(get(&p, "startport"), None);
        // One type without a code: code 0 (CloudStack has no "any code" for one type).
        let p = authorize_params("g", &form(&[("protocol", "icmp"), ("icmptype", "8")]));
        assert_eq!(get(&p, "icmpcode").as_deref(), Some("0"));
        // A group by account/name, instead of a CIDR.
        let p = authorize_params(
            "g",
            &form(&[
                ("protocol", "tcp"),
                ("startport", "5432"),
                ("cidrlist", "10.0.0.0/8"),
                ("group", "alice/web"),
            ]),
        );
        assert_eq!(
            get(&p, "usersecuritygrouplist[0].account").as_deref(),
            Some("alice")
        );
        assert_eq!(
            get(&p, "usersecuritygrouplist[0].group").as_deref(),
            Some("web")
        );
        assert_eq!(get(&p, "cidrlist"), None);
        assert_eq!(
            chosen_groups(&form(&[
                ("sg:a", "true"),
                ("sessionkey", "k"),
                ("sg:b", "true")
            ])),
            "a,b"
        );
    }
}
