//! Field parity with CloudStack (issue 22, item 7): for each object Stratus answers,
//! `cloudstack_fields/<object>.txt` lists the fields of the matching apache/cloudstack
//! `*Response` class. Every one of them must be a field of the Stratus struct (its `FIELDS`,
//! the names on the wire), or be listed there as `na` (a feature Stratus does not have) or
//! `later` (Stratus could answer it but does not yet), each with its reason. Dropping a
//! field from a struct, or adding one to CloudStack's list, fails this test until the list
//! says why. (management/tests/parity.rs checks real answers carry them.)

use std::collections::{BTreeMap, BTreeSet};

use stratus_api::types::{self, ResponseField};

/// One object's file, parsed.
#[derive(Debug, Default)]
pub struct FieldList {
    pub class: String,
    pub stratus: String,
    pub fields: Vec<String>,
    pub na: BTreeMap<String, String>,
    pub later: BTreeMap<String, String>,
}

fn parse(name: &str, text: &str) -> FieldList {
    let mut l = FieldList::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, rest) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("{name}:{}: no value: {line}", n + 1));
        let reasoned = |rest: &str| {
            let (f, why) = rest
                .split_once(": ")
                .unwrap_or_else(|| panic!("{name}:{}: no reason: {line}", n + 1));
            assert!(why.len() > 10, "{name}:{}: a reason, please", n + 1);
            (f.to_string(), why.to_string())
        };
        match kind {
            "class" => l.class = rest.into(),
            "stratus" => l.stratus = rest.into(),
            "field" => l.fields.push(rest.into()),
            "na" => {
                let (f, why) = reasoned(rest);
                assert!(l.na.insert(f, why).is_none(), "{name}: {rest} twice");
            }
            "later" => {
                let (f, why) = reasoned(rest);
                assert!(l.later.insert(f, why).is_none(), "{name}: {rest} twice");
            }
            _ => panic!("{name}:{}: unknown line {line}", n + 1),
        }
    }
    l
}

/// The struct each file names, by name.
fn fields_of(stratus: &str) -> Option<&'static [ResponseField]> {
    Some(match stratus {
        "ZoneResponse" => types::ZoneResponse::FIELDS,
        "PodResponse" => types::PodResponse::FIELDS,
        "ClusterResponse" => types::ClusterResponse::FIELDS,
        "HostResponse" => types::HostResponse::FIELDS,
        "VlanIpRangeResponse" => types::VlanIpRangeResponse::FIELDS,
        "StoragePoolResponse" => types::StoragePoolResponse::FIELDS,
        "ImageStoreResponse" => types::ImageStoreResponse::FIELDS,
        "AccountResponse" => types::AccountResponse::FIELDS,
        "UserResponse" => types::UserResponse::FIELDS,
        "DomainResponse" => types::DomainResponse::FIELDS,
        "RoleResponse" => types::RoleResponse::FIELDS,
        "ServiceOfferingResponse" => types::ServiceOfferingResponse::FIELDS,
        "DiskOfferingResponse" => types::DiskOfferingResponse::FIELDS,
        "NetworkOfferingResponse" => types::NetworkOfferingResponse::FIELDS,
        "TemplateResponse" => types::TemplateResponse::FIELDS,
        "IsoResponse" => types::IsoResponse::FIELDS,
        "OsTypeResponse" => types::OsTypeResponse::FIELDS,
        "OsCategoryResponse" => types::OsCategoryResponse::FIELDS,
        "VirtualMachineResponse" => types::VirtualMachineResponse::FIELDS,
        "NicResponse" => types::NicResponse::FIELDS,
        "VolumeResponse" => types::VolumeResponse::FIELDS,
        "SnapshotResponse" => types::SnapshotResponse::FIELDS,
        "VmSnapshotResponse" => types::VmSnapshotResponse::FIELDS,
        "NetworkResponse" => types::NetworkResponse::FIELDS,
        "ProjectResponse" => types::ProjectResponse::FIELDS,
        "ProjectAccountResponse" => types::ProjectAccountResponse::FIELDS,
        "ProjectInvitationResponse" => types::ProjectInvitationResponse::FIELDS,
        "ResourceLimitResponse" => types::ResourceLimitResponse::FIELDS,
        "ResourceCountResponse" => types::ResourceCountResponse::FIELDS,
        "EventResponse" => types::EventResponse::FIELDS,
        "AsyncJobResponse" => types::AsyncJobResponse::FIELDS,
        "SshKeyPairResponse" => types::SshKeyPairResponse::FIELDS,
        "UserDataResponse" => types::UserDataResponse::FIELDS,
        "CapacityResponse" => types::CapacityResponse::FIELDS,
        "ConfigurationResponse" => types::ConfigurationResponse::FIELDS,
        "AlertResponse" => types::AlertResponse::FIELDS,
        "CapabilitiesResponse" => types::CapabilitiesResponse::FIELDS,
        "HypervisorCapabilitiesResponse" => types::HypervisorCapabilitiesResponse::FIELDS,
        "StorageProviderResponse" => types::StorageProviderResponse::FIELDS,
        "HostTagResponse" => types::HostTagResponse::FIELDS,
        "StorageTagResponse" => types::StorageTagResponse::FIELDS,
        "ResourceTagResponse" => types::ResourceTagResponse::FIELDS,
        "AffinityGroupResponse" => types::AffinityGroupResponse::FIELDS,
        "TemplatePermissionsResponse" => types::TemplatePermissionsResponse::FIELDS,
        "IpAddressResponse" => types::IpAddressResponse::FIELDS,
        "FirewallRuleResponse" => types::FirewallRuleResponse::FIELDS,
        "FirewallResponse" => types::FirewallResponse::FIELDS,
        "DomainRouterResponse" => types::DomainRouterResponse::FIELDS,
        _ => return None,
    })
}

fn lists() -> Vec<(String, FieldList)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cloudstack_fields");
    let mut out = vec![];
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "txt") {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((name.clone(), parse(&name, &text)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_cloudstack_field_is_answered_or_says_why_not() {
    let lists = lists();
    assert!(lists.len() >= 40, "{} lists", lists.len());
    let mut failures = vec![];
    for (name, l) in &lists {
        assert!(
            l.class.ends_with("Response") && !l.fields.is_empty(),
            "{name}: class and fields"
        );
        let Some(ours) = fields_of(&l.stratus) else {
            failures.push(format!("{name}: no struct {}", l.stratus));
            continue;
        };
        let ours: BTreeSet<&str> = ours.iter().map(ResponseField::wire_name).collect();
        let cs: BTreeSet<&str> = l.fields.iter().map(String::as_str).collect();
        assert_eq!(cs.len(), l.fields.len(), "{name}: a field twice");
        for f in &l.fields {
            let excused = l.na.contains_key(f) || l.later.contains_key(f);
            if ours.contains(f.as_str()) && excused {
                failures.push(format!("{name}: {f} is answered: drop its na/later line"));
            }
            if !ours.contains(f.as_str()) && !excused {
                failures.push(format!(
                    "{name}: CloudStack's {f} is neither in {} nor said to be na or later",
                    l.stratus
                ));
            }
        }
        for f in l.na.keys().chain(l.later.keys()) {
            if !cs.contains(f.as_str()) {
                failures.push(format!("{name}: {f} is not one of CloudStack's fields"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The test above can fail: a struct missing a CloudStack field that no line excuses.
#[test]
fn a_dropped_field_is_caught() {
    let l = parse(
        "probe",
        "class ZoneResponse\nstratus ZoneResponse\nfield id\nfield name\nfield nosuchfield\n",
    );
    let ours: BTreeSet<&str> = fields_of(&l.stratus)
        .unwrap()
        .iter()
        .map(ResponseField::wire_name)
        .collect();
    let unexcused: Vec<&String> = l
        .fields
        .iter()
        .filter(|f| {
            !ours.contains(f.as_str()) && !l.na.contains_key(*f) && !l.later.contains_key(*f)
        })
        .collect();
    assert_eq!(unexcused, ["nosuchfield"]);
}

/// Every object the issue names has its list.
#[test]
fn the_objects_stratus_answers_have_lists() {
    let names: BTreeSet<String> = lists().into_iter().map(|(n, _)| n).collect();
    for want in [
        "zone",
        "pod",
        "cluster",
        "host",
        "vlaniprange",
        "storagepool",
        "imagestore",
        "account",
        "user",
        "domain",
        "serviceoffering",
        "diskoffering",
        "template",
        "iso",
        "ostype",
        "virtualmachine",
        "volume",
        "network",
        "project",
        "resourcelimit",
        "event",
        "asyncjob",
        "sshkeypair",
        "hypervisorcapabilities",
        "nic",
        "oscategory",
        "ipaddress",
        "portforwardingrule",
        "firewallrule",
        "router",
    ] {
        assert!(names.contains(want), "{want}");
    }
}
