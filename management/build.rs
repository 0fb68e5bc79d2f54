//! Generates the typed request of every command from the catalog
//! (`stratus_api::command::COMMANDS`), so the catalog stays the one source of what a
//! command takes (validation, roles, `listApis`) and handlers read fields the compiler
//! checks instead of parameter names in strings.
//!
//! For each command: a struct named after it (`createZone` → `CreateZone<'a>`) holding
//! each parameter parsed into its type (typed ids where the parameter names a kind of
//! resource, `&str`, `i64`, `bool`, lists, maps; `Option` unless required; refused
//! parameters are absent: `Params::validate` refuses them first), with one getter per
//! parameter that records the read (the dispatcher's unread-parameter check keeps
//! working); and one `Request<'a>` enum with a variant per command, which
//! `commands::handle` matches exhaustively, so a command in the catalog without a handler
//! does not compile. The output is `$OUT_DIR/requests.rs`, included by
//! `src/commands/requests.rs`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use stratus_api::command::{CommandSpec, ParamSpec, ParamType, COMMANDS};

/// Parameters that name a resource of one kind, wherever they appear: their typed id
/// (`crate::ids`). A parameter not listed stays a `Uuid`.
const ID_PARAMS: &[(&str, &str)] = &[
    ("zoneid", "ZoneId"),
    ("sourcezoneid", "ZoneId"),
    ("destzoneid", "ZoneId"),
    ("destzoneids", "ZoneId"),
    ("podid", "PodId"),
    ("clusterid", "ClusterId"),
    ("hostid", "HostId"),
    ("storageid", "StoragePoolId"),
    ("networkid", "NetworkId"),
    ("networkids", "NetworkId"),
    ("physicalnetworkid", "PhysicalNetworkId"),
    ("networkofferingid", "NetworkOfferingId"),
    ("virtualmachineid", "VmId"),
    ("nicid", "NicId"),
    ("volumeid", "VolumeId"),
    ("volumeids", "VolumeId"),
    ("snapshotid", "SnapshotId"),
    ("vmsnapshotid", "VmSnapshotId"),
    ("vmsnapshotids", "VmSnapshotId"),
    ("isoid", "IsoId"),
    ("templateid", "TemplateId"),
    ("userdataid", "UserDataId"),
    ("ostypeid", "OsTypeId"),
    ("oscategoryid", "OsCategoryId"),
    ("serviceofferingid", "ServiceOfferingId"),
    ("diskofferingid", "DiskOfferingId"),
    ("newdiskofferingid", "DiskOfferingId"),
    ("domainid", "DomainId"),
    ("parentdomainid", "DomainId"),
    ("accountid", "AccountId"),
    ("userid", "UserId"),
    ("roleid", "RoleId"),
    ("jobid", "JobId"),
    ("securitygroupid", "SecurityGroupId"),
    ("securitygroupids", "SecurityGroupId"),
    ("ipaddressid", "PublicIpId"),
    ("associatednetworkid", "NetworkId"),
    ("vlanid", "IpRangeId"),
];

/// What an `id` (or `ids`) parameter names, by the noun of the command's name
/// (`deleteZone` → `zone`, `listVirtualMachines` → `virtualmachine`).
const ID_BY_NOUN: &[(&str, &str)] = &[
    ("zone", "ZoneId"),
    ("pod", "PodId"),
    ("cluster", "ClusterId"),
    ("host", "HostId"),
    ("hostsmetric", "HostId"),
    ("vlaniprange", "IpRangeId"),
    ("storagepool", "StoragePoolId"),
    ("imagestore", "ImageStoreId"),
    ("network", "NetworkId"),
    ("virtualmachine", "VmId"),
    ("virtualmachinesmetric", "VmId"),
    ("serviceforvirtualmachine", "VmId"),
    ("volume", "VolumeId"),
    ("snapshot", "SnapshotId"),
    ("snapshotpolicy", "SnapshotPolicyId"),
    ("snapshotpolicie", "SnapshotPolicyId"),
    ("vmsnapshot", "VmSnapshotId"),
    ("iso", "IsoId"),
    ("template", "TemplateId"),
    ("project", "ProjectId"),
    ("serviceoffering", "ServiceOfferingId"),
    ("diskoffering", "DiskOfferingId"),
    ("networkoffering", "NetworkOfferingId"),
    ("physicalnetwork", "PhysicalNetworkId"),
    ("router", "RouterId"),
    ("domain", "DomainId"),
    ("account", "AccountId"),
    ("user", "UserId"),
    ("role", "RoleId"),
    ("sshkeypair", "SshKeyPairId"),
    ("userdata", "UserDataId"),
    ("alert", "AlertId"),
    ("event", "EventId"),
    ("backgroundtask", "BackgroundTaskId"),
    ("securitygroup", "SecurityGroupId"),
    // revokeSecurityGroupIngress/Egress: the rule's id.
    ("securitygroupingres", "SecurityGroupRuleId"),
    ("securitygroupegres", "SecurityGroupRuleId"),
    // Public addresses and their rules (issue 15): associateIpAddress answers the new
    // address's id, disassociateIpAddress takes it; listPublicIpAddresses' plural noun.
    ("ipaddres", "PublicIpId"),
    ("publicipaddresse", "PublicIpId"),
    ("portforwardingrule", "FirewallRuleId"),
    ("firewallrule", "FirewallRuleId"),
    ("egressfirewallrule", "FirewallRuleId"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `sqlx::migrate!` embeds ../migrations at compile time but a proc macro cannot tell
    // cargo so: without this line a new migration alone did not rebuild the server.
    println!("cargo:rerun-if-changed=../migrations");
    let mut out = String::new();
    let mut variants = Vec::new();
    for spec in COMMANDS {
        let ty = type_name(spec.name);
        request(&mut out, spec, &ty);
        variants.push((spec.name, ty));
    }
    dispatch_enum(&mut out, &variants);
    let dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(format!("{dir}/requests.rs"), out).expect("OUT_DIR is writable");
}

/// `createZone` → `CreateZone`.
fn type_name(command: &str) -> String {
    let mut c = command.chars();
    let first = c.next().expect("command names are not empty");
    first.to_ascii_uppercase().to_string() + c.as_str()
}

/// The resource noun of a command's name: the part after the leading lower-case verb,
/// lower-cased, without a plural `s`.
fn noun(command: &str) -> String {
    let rest: String = command
        .chars()
        .skip_while(|c| c.is_ascii_lowercase())
        .collect::<String>()
        .to_ascii_lowercase();
    rest.strip_suffix('s').map(str::to_string).unwrap_or(rest)
}

/// The Rust identifier of a parameter: its name lower-cased (the wire's spellings are
/// lower case but for a few, `domainId`), raw where it is a keyword.
fn field(p: &ParamSpec) -> String {
    let f = p.name.to_ascii_lowercase();
    if matches!(
        f.as_str(),
        "type" | "for" | "async" | "match" | "ref" | "move"
    ) {
        format!("r#{f}")
    } else {
        f
    }
}

fn id_type(spec: &CommandSpec, p: &ParamSpec) -> Option<String> {
    let by_name = ID_PARAMS
        .iter()
        .find(|(n, _)| *n == p.name)
        .map(|(_, t)| *t);
    let by_noun = || {
        let n = noun(spec.name);
        ID_BY_NOUN.iter().find(|(k, _)| *k == n).map(|(_, t)| *t)
    };
    let t = match p.name {
        "id" | "ids" => by_noun(),
        _ => by_name,
    };
    t.map(|t| format!("crate::ids::{t}"))
}

/// The stored type, the parse expression and the getter's return type and body.
struct Shape {
    stored: String,
    parse: String,
    returns: String,
    get: String,
}

fn shape(spec: &CommandSpec, p: &ParamSpec) -> Shape {
    let n = p.name;
    let missing = format!("stratus_api::params::missing_param(p.command(), {n:?})");
    let id = id_type(spec, p);
    let copy = |t: &str, parse: String| Shape {
        stored: t.to_string(),
        parse,
        returns: t.to_string(),
        get: format!("self.{}", field(p)),
    };
    let opt_or_req = |t: &str, opt_parse: String| {
        if p.required {
            copy(t, format!("{opt_parse}.ok_or_else(|| {missing})?"))
        } else {
            copy(&format!("Option<{t}>"), opt_parse)
        }
    };
    match p.kind {
        // CloudStack's lists take `projectid=-1` (every project of the caller): the
        // scope rules read it, so it stays text here.
        ParamType::Uuid if n == "projectid" => opt_or_req("&'a str", format!("p.str({n:?})")),
        ParamType::Uuid => match id {
            Some(t) => opt_or_req(&t, format!("p.uuid({n:?})?.map(<{t}>::from)")),
            None => opt_or_req("uuid::Uuid", format!("p.uuid({n:?})?")),
        },
        ParamType::List if p.list_of_uuids => {
            let (t, parse) = match id {
                Some(t) => {
                    let parse = format!(
                        "p.uuid_list({n:?})?.map(|v| v.into_iter().map(<{t}>::from).collect())"
                    );
                    (t, parse)
                }
                None => ("uuid::Uuid".to_string(), format!("p.uuid_list({n:?})?")),
            };
            Shape {
                stored: format!("Option<Vec<{t}>>"),
                parse,
                returns: format!("Option<&[{t}]>"),
                get: format!("self.{}.as_deref()", field(p)),
            }
        }
        ParamType::List => Shape {
            stored: "Option<Vec<&'a str>>".into(),
            parse: format!(
                "p.str({n:?}).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())"
            ),
            returns: "Option<&[&'a str]>".into(),
            get: format!("self.{}.as_deref()", field(p)),
        },
        ParamType::Map => Shape {
            stored: "Vec<std::collections::BTreeMap<String, String>>".into(),
            parse: format!("p.map_entries({n:?})"),
            returns: "&[std::collections::BTreeMap<String, String>]".into(),
            get: format!("&self.{}", field(p)),
        },
        ParamType::Boolean => opt_or_req("bool", format!("p.bool({n:?})")),
        ParamType::Long | ParamType::Integer | ParamType::Short => {
            opt_or_req("i64", format!("p.i64({n:?})?"))
        }
        ParamType::Float => opt_or_req("f64", format!("p.f64({n:?})?")),
        ParamType::String | ParamType::Date => opt_or_req("&'a str", format!("p.str({n:?})")),
    }
}

fn request(out: &mut String, spec: &CommandSpec, ty: &str) {
    let params: Vec<&ParamSpec> = spec.params.iter().filter(|p| p.refused.is_none()).collect();
    let mut seen = BTreeSet::new();
    for p in &params {
        assert!(
            seen.insert(field(p)),
            "{}: two parameters named {} (in any case)",
            spec.name,
            p.name
        );
    }
    let shapes: Vec<Shape> = params.iter().map(|p| shape(spec, p)).collect();
    let desc = spec.description.replace('\n', " ");
    writeln!(out, "/// `{}`: {desc}", spec.name).unwrap();
    writeln!(
        out,
        "#[derive(Debug)]\npub struct {ty}<'a> {{\n    wire: &'a Params,"
    )
    .unwrap();
    for (p, s) in params.iter().zip(&shapes) {
        writeln!(out, "    {}: {},", field(p), s.stored).unwrap();
    }
    writeln!(out, "}}\n\nimpl<'a> {ty}<'a> {{").unwrap();
    writeln!(
        out,
        "    /// The command's name in the catalog.\n    pub const NAME: &'static str = {:?};",
        spec.name
    )
    .unwrap();
    writeln!(
        out,
        "    /// Reads the request, recording nothing as read (the getters do).\n    pub fn parse(p: &'a Params) -> ApiResult<Self> {{\n        p.unrecorded(|_| {{ Ok(Self {{\n            wire: p,"
    )
    .unwrap();
    for (p, s) in params.iter().zip(&shapes) {
        writeln!(out, "            {}: {},", field(p), s.parse).unwrap();
    }
    writeln!(out, "        }}) }})\n    }}").unwrap();
    writeln!(
        out,
        "    /// The raw request, for the rules every command shares (paging, whose\n    /// resources, tags filters).\n    pub fn wire(&self) -> &'a Params {{\n        self.wire\n    }}"
    )
    .unwrap();
    for (p, s) in params.iter().zip(&shapes) {
        let d = p.description.replace('\n', " ");
        if !d.is_empty() {
            writeln!(out, "    /// {d}").unwrap();
        }
        writeln!(
            out,
            "    pub fn {}(&self) -> {} {{\n        self.wire.mark_read({:?});\n        {}\n    }}",
            field(p),
            s.returns,
            p.name,
            s.get
        )
        .unwrap();
    }
    writeln!(out, "}}\n").unwrap();
}

fn dispatch_enum(out: &mut String, variants: &[(&str, String)]) {
    writeln!(
        out,
        "/// Every command of the catalog, parsed.\n#[derive(Debug)]\npub enum Request<'a> {{"
    )
    .unwrap();
    for (_, ty) in variants {
        writeln!(out, "    {ty}({ty}<'a>),").unwrap();
    }
    writeln!(
        out,
        "}}\n\nimpl<'a> Request<'a> {{\n    /// Parses `p` as the command `name`; `None` for a name the catalog lacks.\n    pub fn parse(name: &str, p: &'a Params) -> Option<ApiResult<Self>> {{\n        Some(match name {{"
    )
    .unwrap();
    for (name, ty) in variants {
        writeln!(
            out,
            "            {name:?} => {ty}::parse(p).map(Request::{ty}),"
        )
        .unwrap();
    }
    writeln!(
        out,
        "            _ => return None,\n        }})\n    }}\n}}"
    )
    .unwrap();
}
