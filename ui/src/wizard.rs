//! The Add Zone wizard (the seed's figures 2-3 to 2-10 and 2-26 to 2-30), as data: its
//! steps and fields for Basic and Advanced zones, the values the admin entered so far, and
//! the API call each build step makes. Nothing runs here: the console's handler carries
//! the values from page to page in hidden fields (the wizard works without JavaScript)
//! and runs the calls through the command layer.

use std::collections::BTreeMap;

/// A field of a wizard step. Its form name is `STEP.NAME`.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `password`, `select` (with `options`) or `radio`.
    pub kind: &'static str,
    pub required: bool,
    pub placeholder: &'static str,
    pub help: &'static str,
    pub default: &'static str,
    pub options: &'static [(&'static str, &'static str)],
}

const fn f(
    name: &'static str,
    label: &'static str,
    required: bool,
    placeholder: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        label,
        kind: "text",
        required,
        placeholder,
        help: "",
        default: "",
        options: &[],
    }
}
const fn help(mut d: FieldDef, help: &'static str) -> FieldDef {
    d.help = help;
    d
}
const fn default(mut d: FieldDef, v: &'static str) -> FieldDef {
    d.default = v;
    d
}
const fn kind(mut d: FieldDef, k: &'static str) -> FieldDef {
    d.kind = k;
    d
}
const fn options(mut d: FieldDef, o: &'static [(&'static str, &'static str)]) -> FieldDef {
    d.kind = "select";
    d.options = o;
    d
}

/// A page of the wizard.
#[derive(Debug, Clone, Copy)]
pub struct StepDef {
    pub key: &'static str,
    /// The tab's label.
    pub title: &'static str,
    pub intro: &'static str,
    pub fields: &'static [FieldDef],
    /// What the build page says while this step's call runs ("" for steps that create
    /// nothing: the zone type and the review).
    pub progress: &'static str,
}

const TYPE: StepDef = StepDef {
    key: "type",
    title: "Zone type",
    intro: "A Basic zone gives every guest an address on one shared network of its pod; an Advanced zone has a physical network, a public network and guest networks isolated by VXLAN or VLAN.",
    fields: &[FieldDef {
        name: "networktype",
        label: "Network type",
        kind: "radio",
        required: true,
        placeholder: "",
        help: "",
        default: "Basic",
        options: &[
            ("Basic", "Basic: one shared guest network per pod, addresses from a guest IP range"),
            ("Advanced", "Advanced: a public IP range and isolated guest networks on VLANs"),
        ],
    }],
    progress: "",
};

const ZONE_BASIC: StepDef = StepDef {
    key: "zone",
    title: "Zone",
    intro: "A zone is a data centre: it holds pods, clusters, hosts and the secondary storage they share. The hypervisor is KVM.",
    fields: &[
        f("name", "Name", true, "Zone1"),
        help(f("dns1", "Public DNS 1", true, "8.8.8.8"), "Name servers the guests use."),
        f("dns2", "Public DNS 2", false, "8.8.4.4"),
        help(f("internaldns1", "Internal DNS 1", true, "192.168.1.1"), "Name servers the cloud's own machines use."),
        f("internaldns2", "Internal DNS 2", false, ""),
    ],
    progress: "Creating zone",
};

const ZONE_ADVANCED: StepDef = StepDef {
    key: "zone",
    title: "Zone",
    intro: "A zone is a data centre: it holds pods, clusters, hosts and the secondary storage they share. The hypervisor is KVM.",
    fields: &[
        f("name", "Name", true, "Zone2"),
        help(f("dns1", "Public DNS 1", true, "8.8.8.8"), "Name servers the guests use."),
        f("dns2", "Public DNS 2", false, "8.8.4.4"),
        help(f("internaldns1", "Internal DNS 1", true, "192.168.1.1"), "Name servers the cloud's own machines use."),
        f("internaldns2", "Internal DNS 2", false, ""),
        default(
            help(f("guestcidr", "Guest CIDR", true, "10.1.1.0/24"), "The address space of the isolated guest networks."),
            "10.1.1.0/24",
        ),
    ],
    progress: "Creating zone",
};

const PHYSICAL: StepDef = StepDef {
    key: "physical",
    title: "Physical network",
    intro: "The physical network carries the zone's guest, public and management traffic. Guest networks are isolated from one another on it by VXLAN or VLAN, each taking an id from the guest range; each kind of traffic leaves a host through the bridge its label names.",
    fields: &[
        default(f("name", "Physical network name", true, "Physical Network 1"), "Physical Network 1"),
        help(
            options(
                default(f("isolation", "Isolation method", true, ""), "VXLAN"),
                &[("VXLAN", "VXLAN"), ("VLAN", "VLAN")],
            ),
            "VLAN needs 802.1Q in the hosts' kernel and a trunked switch; VXLAN needs neither (it runs over the hosts' IP network).",
        ),
        default(
            help(
                f("vlan", "Guest VNI/VLAN range", true, "5000-5999"),
                "The ids guest networks take, as START-END (several ranges separated by commas). VLAN ids go up to 4094, VXLAN VNIs up to 16777214.",
            ),
            "5000-5999",
        ),
        default(
            help(f("guestlabel", "Guest traffic label (KVM)", true, "cloudbr0"), "The host bridge guest traffic uses."),
            "cloudbr0",
        ),
        default(
            help(f("publiclabel", "Public traffic label (KVM)", true, "cloudbr0"), "The host bridge public traffic uses."),
            "cloudbr0",
        ),
        default(
            help(f("managementlabel", "Management traffic label (KVM)", true, "cloudbr0"), "The host bridge the cloud's own traffic uses."),
            "cloudbr0",
        ),
    ],
    progress: "Creating the physical network",
};

const PUBLIC: StepDef = StepDef {
    key: "public",
    title: "Public traffic",
    intro: "Public traffic is what guests send to and receive from the Internet. Give a range of public addresses for it (figure 2-28).",
    fields: &[
        f("gateway", "Gateway", true, "192.168.1.1"),
        f("netmask", "Netmask", true, "255.255.255.0"),
        help(f("vlan", "VLAN/VNI", false, "99"), "Leave empty for an untagged network."),
        f("startip", "Start IP", true, "192.168.1.141"),
        f("endip", "End IP", true, "192.168.1.150"),
    ],
    progress: "Adding the public IP range",
};

const POD: StepDef = StepDef {
    key: "pod",
    title: "Pod",
    intro: "A pod is a rack: its hosts share a subnet. The reserved range is for the cloud's own use in the pod and must not overlap the guest range.",
    fields: &[
        f("name", "Pod name", true, "Pod1"),
        f("gateway", "Reserved system gateway", true, "192.168.1.1"),
        f("netmask", "Reserved system netmask", true, "255.255.255.0"),
        f("startip", "Start reserved system IP", true, "192.168.1.20"),
        f("endip", "End reserved system IP", true, "192.168.1.30"),
    ],
    progress: "Creating pod",
};

const GUEST: StepDef = StepDef {
    key: "guest",
    title: "Guest network",
    intro: "Guests get their addresses from this range of the pod's network (figure 2-5). It must not overlap the pod's reserved range.",
    fields: &[
        f("gateway", "Guest gateway", true, "192.168.1.1"),
        f("netmask", "Guest netmask", true, "255.255.255.0"),
        f("startip", "Guest start IP", true, "192.168.1.131"),
        f("endip", "Guest end IP", true, "192.168.1.140"),
    ],
    progress: "Adding the guest IP range",
};

const CLUSTER: StepDef = StepDef {
    key: "cluster",
    title: "Cluster",
    intro: "A cluster groups hosts of one hypervisor that share primary storage. Stratus clusters are KVM.",
    fields: &[f("name", "Cluster name", true, "Cluster1")],
    progress: "Creating cluster",
};

const HOST: StepDef = StepDef {
    key: "host",
    title: "Host",
    intro: "The first host of the cluster. The management server logs in over SSH, checks libvirt and QEMU, and installs its agent.",
    fields: &[
        help(f("address", "Host name or IP address", true, "192.168.1.109"), "The host must run sshd, libvirtd and QEMU."),
        default(f("username", "User name", true, "root"), "root"),
        kind(f("password", "Password", true, ""), "password"),
    ],
    progress: "Adding host",
};

const PRIMARY: StepDef = StepDef {
    key: "primary",
    title: "Primary storage",
    intro: "Primary storage holds the guests' disks: an NFS export that every host of the cluster can reach.",
    fields: &[
        f("name", "Name", true, "Primary1"),
        options(
            default(f("scope", "Scope", true, ""), "cluster"),
            &[("cluster", "Cluster"), ("zone", "Zone-wide")],
        ),
        f("server", "NFS server", true, "192.168.1.109"),
        f("path", "Path", true, "/export/primary"),
    ],
    progress: "Creating primary storage",
};

const SECONDARY: StepDef = StepDef {
    key: "secondary",
    title: "Secondary storage",
    intro: "Secondary storage holds ISOs and templates for the whole zone: an NFS export.",
    fields: &[
        f("name", "Name", true, "Secondary1"),
        f("server", "NFS server", true, "192.168.1.109"),
        f("path", "Path", true, "/export/secondary"),
    ],
    progress: "Creating secondary storage",
};

const LAUNCH: StepDef = StepDef {
    key: "launch",
    title: "Launch",
    intro: "Check what will be built, then launch. A step that fails brings you back to its page with what you entered.",
    fields: &[],
    progress: "",
};

/// The steps of a zone type, in order.
pub fn steps(network_type: &str) -> &'static [StepDef] {
    if network_type == "Advanced" {
        &[
            TYPE,
            ZONE_ADVANCED,
            PHYSICAL,
            PUBLIC,
            POD,
            CLUSTER,
            HOST,
            PRIMARY,
            SECONDARY,
            LAUNCH,
        ]
    } else {
        &[
            TYPE, ZONE_BASIC, POD, GUEST, CLUSTER, HOST, PRIMARY, SECONDARY, LAUNCH,
        ]
    }
}

/// Everything entered so far (`STEP.FIELD` → value) and what was already built
/// (`done.STEP` → the new resource's id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WizardState {
    pub values: BTreeMap<String, String>,
}

impl WizardState {
    /// Reads the wizard's own keys from a submitted form; defaults fill fields never shown.
    pub fn from_form(form: &[(String, String)]) -> WizardState {
        let mut values = BTreeMap::new();
        for (k, v) in form {
            if k.contains('.') {
                values.insert(k.clone(), v.trim().to_string());
            }
        }
        let mut s = WizardState { values };
        for step in steps(s.network_type()) {
            for fd in step.fields {
                let k = format!("{}.{}", step.key, fd.name);
                if !fd.default.is_empty() && !s.values.contains_key(&k) {
                    s.values.insert(k, fd.default.to_string());
                }
            }
        }
        s
    }

    pub fn network_type(&self) -> &str {
        match self.values.get("type.networktype").map(String::as_str) {
            Some("Advanced") => "Advanced",
            _ => "Basic",
        }
    }

    pub fn get(&self, step: &str, field: &str) -> &str {
        self.values
            .get(&format!("{step}.{field}"))
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn set(&mut self, step: &str, field: &str, value: impl Into<String>) {
        self.values.insert(format!("{step}.{field}"), value.into());
    }

    /// The id of what a build step created, if it ran.
    pub fn done(&self, step: &str) -> Option<&str> {
        self.values
            .get(&format!("done.{step}"))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether anything was built yet (then the zone type can no longer change).
    pub fn started(&self) -> bool {
        self.values.keys().any(|k| k.starts_with("done."))
    }

    /// The first required field of `step` left empty, as an error text.
    pub fn missing(&self, step: &StepDef) -> Option<String> {
        step.fields
            .iter()
            .find(|fd| fd.required && self.get(step.key, fd.name).is_empty())
            .map(|fd| format!("{}: {} is required.", step.title, fd.label))
    }

    /// The first step (in order) with a missing required field.
    pub fn first_incomplete(&self) -> Option<(&'static StepDef, String)> {
        steps(self.network_type())
            .iter()
            .filter(|s| self.done(s.key).is_none())
            .find_map(|s| self.missing(s).map(|m| (s, m)))
    }

    /// The hidden fields that carry the state through a page, except those of `shown`
    /// (which the page shows as inputs).
    pub fn hidden_except(&self, shown: &str) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| !k.starts_with(&format!("{shown}.")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A command the build runs for one step: its name and parameters, and where the new
/// resource's id is in the answer's object (`zone`, `pod`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildCall {
    pub step: &'static str,
    pub label: String,
    pub command: &'static str,
    pub params: Vec<(&'static str, String)>,
}

/// The build step keys, in the order they run: every step that creates something, then
/// enabling the zone.
pub fn build_order(network_type: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = steps(network_type)
        .iter()
        .filter(|s| !s.progress.is_empty())
        .map(|s| s.key)
        .collect();
    v.push("enable");
    v
}

/// The step's call, built from the state (ids of earlier steps included).
pub fn build_call(s: &WizardState, step: &'static str) -> BuildCall {
    let zone = s.done("zone").unwrap_or_default().to_string();
    let pod = s.done("pod").unwrap_or_default().to_string();
    let cluster = s.done("cluster").unwrap_or_default().to_string();
    let g = |field: &str| s.get(step, field).to_string();
    let mut params: Vec<(&'static str, String)> = Vec::new();
    let opt = |params: &mut Vec<(&'static str, String)>, name: &'static str, v: String| {
        if !v.is_empty() {
            params.push((name, v));
        }
    };
    let (command, label) = match step {
        "zone" => {
            params.push(("name", g("name")));
            params.push(("networktype", s.network_type().to_string()));
            params.push(("dns1", g("dns1")));
            opt(&mut params, "dns2", g("dns2"));
            params.push(("internaldns1", g("internaldns1")));
            opt(&mut params, "internaldns2", g("internaldns2"));
            if s.network_type() == "Advanced" {
                opt(&mut params, "guestcidraddress", g("guestcidr"));
            }
            ("createZone", format!("Creating zone {}", g("name")))
        }
        "physical" => {
            params.extend([
                ("zoneid", zone),
                ("name", g("name")),
                ("vlan", g("vlan")),
                (
                    "isolationmethods",
                    physical_isolation(&g("isolation")).into(),
                ),
            ]);
            (
                "createPhysicalNetwork",
                format!("Creating physical network {}", g("name")),
            )
        }
        "pod" => {
            params.extend([
                ("zoneid", zone),
                ("name", g("name")),
                ("gateway", g("gateway")),
                ("netmask", g("netmask")),
                ("startip", g("startip")),
                ("endip", g("endip")),
            ]);
            ("createPod", format!("Creating pod {}", g("name")))
        }
        "guest" => {
            params.extend([
                ("zoneid", zone),
                ("podid", pod),
                ("gateway", g("gateway")),
                ("netmask", g("netmask")),
                ("startip", g("startip")),
                ("endip", g("endip")),
                ("forvirtualnetwork", "false".into()),
            ]);
            (
                "createVlanIpRange",
                format!("Adding the guest IP range {}–{}", g("startip"), g("endip")),
            )
        }
        "public" => {
            params.extend([
                ("zoneid", zone),
                ("gateway", g("gateway")),
                ("netmask", g("netmask")),
                ("startip", g("startip")),
                ("endip", g("endip")),
                ("forvirtualnetwork", "true".into()),
            ]);
            opt(&mut params, "vlan", g("vlan"));
            (
                "createVlanIpRange",
                format!("Adding the public IP range {}–{}", g("startip"), g("endip")),
            )
        }
        "cluster" => {
            params.extend([
                ("zoneid", zone),
                ("podid", pod),
                ("clustername", g("name")),
                ("clustertype", "CloudManaged".into()),
                ("hypervisor", "KVM".into()),
            ]);
            ("addCluster", format!("Creating cluster {}", g("name")))
        }
        "host" => {
            params.extend([
                ("zoneid", zone),
                ("podid", pod),
                ("clusterid", cluster),
                ("url", format!("http://{}", g("address"))),
                ("username", g("username")),
                ("password", g("password")),
                ("hypervisor", "KVM".into()),
            ]);
            ("addHost", format!("Adding host {}", g("address")))
        }
        "primary" => {
            let scope = if g("scope") == "zone" {
                "zone"
            } else {
                "cluster"
            };
            params.extend([
                ("zoneid", zone),
                ("name", g("name")),
                ("scope", scope.into()),
            ]);
            if scope == "cluster" {
                params.extend([("podid", pod), ("clusterid", cluster)]);
            } else {
                params.push(("hypervisor", "KVM".into()));
            }
            params.push(("url", nfs_url(&g("server"), &g("path"))));
            (
                "createStoragePool",
                format!("Creating primary storage {}", g("name")),
            )
        }
        "secondary" => {
            params.extend([
                ("provider", "NFS".into()),
                ("zoneid", zone),
                ("name", g("name")),
                ("url", nfs_url(&g("server"), &g("path"))),
            ]);
            (
                "addImageStore",
                format!("Creating secondary storage {}", g("name")),
            )
        }
        _ => {
            params.extend([("id", zone), ("allocationstate", "Enabled".into())]);
            ("updateZone", "Enabling zone".to_string())
        }
    };
    BuildCall {
        step,
        label,
        command,
        params,
    }
}

/// The isolation method the physical network step asks for: VLAN or (the default) VXLAN.
pub fn physical_isolation(v: &str) -> &'static str {
    if v.eq_ignore_ascii_case("VLAN") {
        "VLAN"
    } else {
        "VXLAN"
    }
}

/// The traffic types the physical network step adds, with the field holding each's KVM
/// label, in the order they are added.
pub const TRAFFIC_TYPES: [(&str, &str); 3] = [
    ("Guest", "guestlabel"),
    ("Public", "publiclabel"),
    ("Management", "managementlabel"),
];

/// `nfs://SERVER/PATH`, with exactly one slash between them.
pub fn nfs_url(server: &str, path: &str) -> String {
    format!(
        "nfs://{}/{}",
        server.trim(),
        path.trim().trim_start_matches('/')
    )
}

/// The object of a build step's answer that holds the new id.
pub fn answer_object(command: &str) -> &'static str {
    match command {
        "createZone" | "updateZone" => "zone",
        "createPod" => "pod",
        "createPhysicalNetwork" => "physicalnetwork",
        "createVlanIpRange" => "vlan",
        "addCluster" => "cluster",
        "addHost" => "host",
        "createStoragePool" => "storagepool",
        "addImageStore" => "imagestore",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn basic_and_advanced_have_their_own_steps() {
        let keys = |t| steps(t).iter().map(|s| s.key).collect::<Vec<_>>();
        assert_eq!(
            keys("Basic"),
            [
                "type",
                "zone",
                "pod",
                "guest",
                "cluster",
                "host",
                "primary",
                "secondary",
                "launch"
            ]
        );
        assert_eq!(
            keys("Advanced"),
            [
                "type",
                "zone",
                "physical",
                "public",
                "pod",
                "cluster",
                "host",
                "primary",
                "secondary",
                "launch"
            ]
        );
        assert_eq!(
            build_order("Basic"),
            [
                "zone",
                "pod",
                "guest",
                "cluster",
                "host",
                "primary",
                "secondary",
                "enable"
            ]
        );
    }

    #[test]
    fn state_reads_only_wizard_keys_fills_defaults_and_finds_gaps() {
        let s = WizardState::from_form(&form(&[
            ("sessionkey", "k"),
            ("go", "next"),
            ("zone.name", " Zone1 "),
            ("zone.dns1", "8.8.8.8"),
        ]));
        assert_eq!(s.network_type(), "Basic");
        assert_eq!(s.get("zone", "name"), "Zone1", "trimmed");
        assert_eq!(s.get("host", "username"), "root", "default");
        assert!(!s.values.contains_key("sessionkey"));
        let (step, text) = s.first_incomplete().unwrap();
        assert_eq!(step.key, "zone");
        assert_eq!(text, "Zone: Internal DNS 1 is required.");
        let hidden = s.hidden_except("zone");
        assert!(hidden.iter().all(|(k, _)| !k.starts_with("zone.")));
        assert!(hidden.iter().any(|(k, _)| k == "type.networktype"));
    }

    #[test]
    fn build_calls_use_earlier_ids() {
        let mut s = WizardState::from_form(&form(&[
            ("primary.name", "p1"),
            ("primary.server", "10.0.0.5"),
            ("primary.path", "/export/primary"),
            ("host.address", "10.0.0.7"),
            ("host.password", "pw"),
        ]));
        s.set("done", "zone", "Z");
        s.set("done", "pod", "P");
        s.set("done", "cluster", "C");
        let c = build_call(&s, "primary");
        assert_eq!(c.command, "createStoragePool");
        assert!(c
            .params
            .contains(&("url", "nfs://10.0.0.5/export/primary".into())));
        assert!(c.params.contains(&("clusterid", "C".into())));
        assert!(c.params.contains(&("scope", "cluster".into())));
        let h = build_call(&s, "host");
        assert!(h.params.contains(&("url", "http://10.0.0.7".into())));
        assert!(h.params.contains(&("username", "root".into())));
        assert_eq!(h.label, "Adding host 10.0.0.7");
        let e = build_call(&s, "enable");
        assert_eq!(e.command, "updateZone");
        assert!(e.params.contains(&("id", "Z".into())));
        assert_eq!(nfs_url("srv", "x/y"), "nfs://srv/x/y");
    }

    #[test]
    fn advanced_zones_build_a_physical_network_with_vxlan_by_default() {
        let mut s = WizardState::from_form(&form(&[("type.networktype", "Advanced")]));
        assert_eq!(s.get("physical", "name"), "Physical Network 1");
        assert_eq!(s.get("physical", "isolation"), "VXLAN");
        assert_eq!(s.get("physical", "vlan"), "5000-5999");
        for (_, field) in TRAFFIC_TYPES {
            assert_eq!(s.get("physical", field), "cloudbr0");
        }
        assert_eq!(
            build_order("Advanced"),
            [
                "zone",
                "physical",
                "public",
                "pod",
                "cluster",
                "host",
                "primary",
                "secondary",
                "enable"
            ]
        );
        s.set("done", "zone", "Z");
        let c = build_call(&s, "physical");
        assert_eq!(c.command, "createPhysicalNetwork");
        assert!(c.params.contains(&("zoneid", "Z".into())));
        assert!(c.params.contains(&("isolationmethods", "VXLAN".into())));
        assert!(c.params.contains(&("vlan", "5000-5999".into())));
        s.set("physical", "isolation", "vlan");
        let c = build_call(&s, "physical");
        assert!(c.params.contains(&("isolationmethods", "VLAN".into())));
        assert_eq!(physical_isolation("<script>"), "VXLAN");
        // A Basic zone has no such step.
        let b = WizardState::from_form(&[]);
        assert!(!steps(b.network_type())
            .iter()
            .any(|st| st.key == "physical"));
    }
}
