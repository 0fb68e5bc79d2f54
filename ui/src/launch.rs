//! The Add Instance wizard (CloudStack's "Add instance": zone, template or ISO, compute
//! offering, disk offering, network, security groups, SSH key pair, review with user data), as data: the step order, the values chosen
//! so far, where each button leads and what a step still lacks. The console's handler
//! lists the choices through the command layer and carries the values from page to page in
//! hidden fields, so the wizard works without JavaScript and keeps nothing on the server.

use std::collections::BTreeMap;

/// A page of the wizard: its key (the form's `at`), tab label and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub key: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    /// The form field the step's choice is carried in ("" for the review).
    pub field: &'static str,
    /// Whether a choice must be made before going on.
    pub required: bool,
}

pub const STEPS: &[Step] = &[
    Step {
        key: "zone",
        title: "Zone",
        intro: "The zone the instance runs in. Its ISOs, networks and hosts are the ones offered next.",
        field: "zoneid",
        required: true,
    },
    Step {
        key: "iso",
        title: "Template or ISO",
        intro: "What the instance starts from: a template (a ready disk image; keys and user data reach the guest through cloud-init) or a bootable ISO to install from. Only those ready in the chosen zone are listed.",
        field: "isoid",
        required: true,
    },
    Step {
        key: "offering",
        title: "Compute offering",
        intro: "CPU and memory. The instance is placed on a host with this much room.",
        field: "serviceofferingid",
        required: true,
    },
    Step {
        key: "disk",
        title: "Disk offering",
        intro: "An instance booted from an ISO needs a root disk to install onto (for an offering with a custom size, give the size in GB). From a template the root disk is the template's: leave the offering out, or give a larger size in GB.",
        field: "diskofferingid",
        required: true,
    },
    Step {
        key: "network",
        title: "Network",
        intro: "The guest network the instance's NIC joins; it gets the network's next free address. In an Advanced zone, one of the account's isolated networks; an account with none gets its default network at launch, with its router, as CloudStack makes it.",
        field: "networkid",
        required: true,
    },
    Step {
        key: "securitygroups",
        title: "Security groups",
        intro: "In a zone with security groups the instance is in the groups ticked here: their ingress rules say what may reach it. The account's default group is ticked at first; it lets nothing in until you add rules to it.",
        field: "securitygroupids",
        required: false,
    },
    Step {
        key: "sshkey",
        title: "SSH key pair",
        intro: "A key pair recorded with the instance for its owner to log in with (optional).",
        field: "keypair",
        required: false,
    },
    Step {
        key: "review",
        title: "Review",
        intro: "Check the choices, name the instance if you like, and launch it. It is started at once.",
        field: "",
        required: false,
    },
];

/// Every value the wizard carries between pages.
pub const CARRIED: &[&str] = &[
    "zoneid",
    "isoid",
    "serviceofferingid",
    "diskofferingid",
    "size",
    "networkid",
    "securitygroupids",
    "keypair",
    "name",
    "displayname",
    "userdata",
];

/// Values chosen with checkboxes: several, carried comma-separated.
pub const MULTI: &[&str] = &["securitygroupids"];

/// The value a template's row carries in `isoid` (an ISO's is its bare id).
pub const TEMPLATE_PREFIX: &str = "template:";

/// The network step's choice of a new default network (an Advanced zone's account that
/// has no network there yet): deployVirtualMachine without `networkids` makes it, as
/// CloudStack does on an account's first deploy.
pub const NEW_NETWORK: &str = "new";

pub fn step(key: &str) -> &'static Step {
    STEPS.iter().find(|s| s.key == key).unwrap_or(&STEPS[0])
}

fn index(key: &str) -> usize {
    STEPS.iter().position(|s| s.key == key).unwrap_or(0)
}

/// What the admin asked for with the button they pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Go {
    Next,
    Back,
    Edit(&'static str),
    Launch,
}

impl Go {
    pub fn parse(s: &str) -> Go {
        match s {
            "back" => Go::Back,
            "launch" => Go::Launch,
            s => match s.strip_prefix("edit:") {
                Some(k) if STEPS.iter().any(|st| st.key == k) => Go::Edit(step(k).key),
                _ => Go::Next,
            },
        }
    }
}

/// The values chosen so far (form name → value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchState {
    values: BTreeMap<String, String>,
}

impl LaunchState {
    /// The carried values among a form's fields (others, like the CSRF token, are left out).
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> LaunchState {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in fields {
            if !CARRIED.contains(&k) {
                continue;
            }
            let v = v.trim();
            match values.get_mut(k) {
                // A second ticked box of a multiple choice joins the first.
                Some(have) if MULTI.contains(&k) => {
                    if !v.is_empty() {
                        if !have.is_empty() {
                            have.push(',');
                        }
                        have.push_str(v);
                    }
                }
                _ => {
                    values.insert(k.to_string(), v.to_string());
                }
            }
        }
        LaunchState { values }
    }

    pub fn get(&self, k: &str) -> &str {
        self.values.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        self.values.insert(k.to_string(), v.into());
    }

    /// Hidden fields for a page showing `step`: every carried value but the step's own
    /// inputs.
    pub fn hidden(&self, step: &str, shown: &[&str]) -> Vec<(String, String)> {
        let own = self::step(step).field;
        self.values
            .iter()
            .filter(|(k, v)| !v.is_empty() && k.as_str() != own && !shown.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether the chosen image is a template (not an ISO).
    pub fn from_template(&self) -> bool {
        self.get("isoid").starts_with(TEMPLATE_PREFIX)
    }

    /// Why `step` cannot be left forward yet, if it cannot.
    pub fn missing(&self, key: &str) -> Option<String> {
        let s = step(key);
        let optional = key == "disk" && self.from_template();
        if s.required && !optional && self.get(s.field).is_empty() {
            return Some(format!("{}: choose one to go on.", s.title));
        }
        if key == "disk" && !self.get("size").is_empty() {
            match self.get("size").parse::<u64>() {
                Ok(1..=16384) => {}
                _ => return Some("The disk size is a whole number of GB from 1 to 16384.".into()),
            }
        }
        None
    }

    /// The first step before `upto` that still lacks a choice.
    pub fn first_missing(&self, upto: &str) -> Option<&'static str> {
        STEPS[..index(upto)]
            .iter()
            .find(|s| self.missing(s.key).is_some())
            .map(|s| s.key)
    }

    /// The step the wizard shows after `go` was pressed on `at`, and the reason it stays
    /// (or goes back) when a choice is missing.
    pub fn target(&self, at: &str, go: &Go) -> (&'static str, Option<String>) {
        let at = step(at).key;
        match go {
            Go::Back => (STEPS[index(at).saturating_sub(1)].key, None),
            Go::Edit(k) => (k, None),
            Go::Next => match self.missing(at) {
                Some(why) => (at, Some(why)),
                None => (STEPS[(index(at) + 1).min(STEPS.len() - 1)].key, None),
            },
            Go::Launch => match self.first_missing("review") {
                Some(k) => (k, self.missing(k)),
                None => ("review", None),
            },
        }
    }

    /// The deployVirtualMachine parameters for these choices.
    pub fn deploy_params(&self) -> Vec<(&'static str, String)> {
        let image = self.get("isoid");
        let mut p = vec![
            ("zoneid", self.get("zoneid").to_string()),
            (
                "templateid",
                image
                    .strip_prefix(TEMPLATE_PREFIX)
                    .unwrap_or(image)
                    .to_string(),
            ),
            (
                "serviceofferingid",
                self.get("serviceofferingid").to_string(),
            ),
            ("startvm", "true".to_string()),
        ];
        match self.get("networkid") {
            NEW_NETWORK | "" => {}
            n => p.push(("networkids", n.to_string())),
        }
        if self.from_template() {
            // A template's root disk is its own; a size grows it.
            if !self.get("size").is_empty() {
                p.push(("rootdisksize", self.get("size").to_string()));
            }
        } else {
            p.push(("diskofferingid", self.get("diskofferingid").to_string()));
            if !self.get("size").is_empty() {
                p.push(("size", self.get("size").to_string()));
            }
        }
        if !self.get("userdata").is_empty() {
            p.push(("userdata", base64(self.get("userdata").as_bytes())));
        }
        for (param, k) in [
            ("securitygroupids", "securitygroupids"),
            ("keypair", "keypair"),
            ("name", "name"),
            ("displayname", "displayname"),
        ] {
            if !self.get(k).is_empty() {
                p.push((param, self.get(k).to_string()));
            }
        }
        p
    }
}

/// Standard base64 with padding (user data as the API takes it).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One choice of a step: its value and what the row shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Choice {
    pub value: String,
    pub cells: Vec<String>,
    pub checked: bool,
}

/// The choices of a step, shown as a table with a radio button per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Choices {
    pub name: String,
    /// Checkboxes (several may be chosen, carried comma-separated) instead of radios.
    pub multi: bool,
    pub headings: Vec<String>,
    pub rows: Vec<Choice>,
    pub empty: String,
}

impl Choices {
    pub fn new(name: &str, headings: &[&str], empty: &str) -> Choices {
        Choices {
            name: name.into(),
            multi: false,
            headings: headings.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
            empty: empty.into(),
        }
    }

    pub fn push(&mut self, value: impl Into<String>, cells: Vec<String>) {
        self.rows.push(Choice {
            value: value.into(),
            cells,
            checked: false,
        });
    }

    /// Checks the rows of a multiple choice's comma-separated `chosen` still offered; with
    /// none of them, the first row (the default). Answers the checked values, joined.
    pub fn select_many(&mut self, chosen: &str) -> String {
        let wanted: Vec<&str> = chosen.split(',').map(str::trim).collect();
        for r in self.rows.iter_mut() {
            r.checked = wanted.contains(&r.value.as_str());
        }
        if !self.rows.iter().any(|r| r.checked) {
            if let Some(r) = self.rows.first_mut() {
                r.checked = true;
            }
        }
        self.rows
            .iter()
            .filter(|r| r.checked)
            .map(|r| r.value.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Checks the row of `chosen`; with no (or a vanished) choice, the only row, or the
    /// first when `first` (a default that is always valid, like "no key pair").
    pub fn select(&mut self, chosen: &str, first: bool) -> Option<&Choice> {
        let at = self
            .rows
            .iter()
            .position(|r| r.value == chosen)
            .or_else(|| (self.rows.len() == 1 || (first && !self.rows.is_empty())).then_some(0));
        for (i, r) in self.rows.iter_mut().enumerate() {
            r.checked = Some(i) == at;
        }
        at.map(|i| &self.rows[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> LaunchState {
        LaunchState::from_fields(pairs.iter().copied())
    }

    #[test]
    fn carried_values_leave_out_other_fields() {
        let s = state(&[("zoneid", " z1 "), ("sessionkey", "k"), ("go", "next")]);
        assert_eq!(s.get("zoneid"), "z1");
        assert_eq!(s.get("sessionkey"), "");
        assert_eq!(s.hidden("iso", &[]), vec![("zoneid".into(), "z1".into())]);
        // The step's own input is not carried twice.
        assert!(s.hidden("zone", &[]).is_empty());
    }

    #[test]
    fn next_stays_on_a_step_without_its_choice() {
        let s = state(&[("zoneid", "z1")]);
        assert_eq!(s.target("zone", &Go::Next), ("iso", None));
        let (at, why) = s.target("iso", &Go::Next);
        assert_eq!(at, "iso");
        assert_eq!(why.unwrap(), "Template or ISO: choose one to go on.");
        // The key pair is optional.
        let s = state(&[("zoneid", "z"), ("isoid", "i")]);
        assert_eq!(s.target("sshkey", &Go::Next), ("review", None));
    }

    #[test]
    fn back_edit_and_bounds() {
        let s = LaunchState::default();
        assert_eq!(s.target("zone", &Go::Back), ("zone", None));
        assert_eq!(s.target("disk", &Go::Back), ("offering", None));
        assert_eq!(s.target("review", &Go::Edit("iso")), ("iso", None));
        assert_eq!(Go::parse("edit:nope"), Go::Next);
        assert_eq!(Go::parse("edit:network"), Go::Edit("network"));
        assert_eq!(step("nope").key, "zone");
    }

    #[test]
    fn launch_goes_to_the_first_step_missing_a_choice() {
        let s = state(&[
            ("zoneid", "z"),
            ("isoid", "i"),
            ("diskofferingid", "d"),
            ("networkid", "n"),
        ]);
        let (at, why) = s.target("review", &Go::Launch);
        assert_eq!(at, "offering");
        assert!(why.unwrap().starts_with("Compute offering"));
        let mut s = s;
        s.set("serviceofferingid", "o");
        assert_eq!(s.target("review", &Go::Launch), ("review", None));
    }

    #[test]
    fn disk_size_must_be_whole_gigabytes_in_range() {
        let mut s = state(&[("diskofferingid", "d"), ("size", "0")]);
        assert!(s.missing("disk").unwrap().contains("1 to 16384"));
        s.set("size", "abc");
        assert!(s.missing("disk").is_some());
        s.set("size", "20");
        assert_eq!(s.missing("disk"), None);
    }

    #[test]
    fn deploy_params_map_the_choices_and_skip_empty_ones() {
        let s = state(&[
            ("zoneid", "z"),
            ("isoid", "i"),
            ("serviceofferingid", "o"),
            ("diskofferingid", "d"),
            ("networkid", "n"),
            ("keypair", ""),
            ("name", "web-1"),
        ]);
        let p = s.deploy_params();
        let get = |k: &str| p.iter().find(|(x, _)| *x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("templateid"), Some("i"));
        assert_eq!(get("networkids"), Some("n"));
        assert_eq!(get("startvm"), Some("true"));
        assert_eq!(get("name"), Some("web-1"));
        assert_eq!(get("keypair"), None);
        assert_eq!(get("size"), None);
    }

    #[test]
    fn a_new_default_network_is_left_to_the_deploy() {
        let mut s = state(&[("zoneid", "z"), ("networkid", NEW_NETWORK)]);
        // A choice, so the step can be left.
        assert_eq!(s.missing("network"), None);
        assert!(!s.deploy_params().iter().any(|(k, _)| *k == "networkids"));
        s.set("networkid", "n1");
        assert!(s.deploy_params().contains(&("networkids", "n1".into())));
    }

    #[test]
    fn a_template_needs_no_disk_offering_and_carries_user_data() {
        let s = state(&[
            ("zoneid", "z"),
            ("isoid", "template:t1"),
            ("serviceofferingid", "o"),
            ("networkid", "n"),
            ("size", "20"),
            ("userdata", "#cloud-config\nhostname: a"),
        ]);
        assert_eq!(s.missing("disk"), None);
        let p = s.deploy_params();
        let get = |k: &str| p.iter().find(|(x, _)| *x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("templateid"), Some("t1"));
        assert_eq!(get("diskofferingid"), None);
        assert_eq!(get("rootdisksize"), Some("20"));
        assert_eq!(get("size"), None);
        assert_eq!(
            get("userdata"),
            Some("I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogYQ==")
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn several_security_groups_are_carried_and_sent_together() {
        let s = state(&[
            ("securitygroupids", "a"),
            ("securitygroupids", ""),
            ("securitygroupids", "b"),
            ("zoneid", "z"),
        ]);
        assert_eq!(s.get("securitygroupids"), "a,b");
        assert_eq!(
            s.hidden("review", &[]),
            vec![
                ("securitygroupids".into(), "a,b".into()),
                ("zoneid".into(), "z".into())
            ]
        );
        let p = s.deploy_params();
        assert!(p.contains(&("securitygroupids", "a,b".into())));
        // None chosen (a zone without groups): the parameter is left out.
        assert!(!state(&[("zoneid", "z")])
            .deploy_params()
            .iter()
            .any(|(k, _)| *k == "securitygroupids"));
        // Not a multiple choice: the last value wins, as before.
        assert_eq!(
            state(&[("zoneid", "a"), ("zoneid", "b")]).get("zoneid"),
            "b"
        );
        let mut c = Choices::new("securitygroupids", &["Name"], "none");
        c.multi = true;
        c.push("d", vec!["default".into()]);
        c.push("w", vec!["web".into()]);
        c.push("x", vec!["db".into()]);
        assert_eq!(c.select_many("x, w,gone"), "w,x");
        // Nothing (still) offered chosen: the default, first.
        assert_eq!(c.select_many("gone"), "d");
        assert_eq!(c.select_many(""), "d");
        assert!(Choices::default().select_many("a").is_empty());
    }

    #[test]
    fn select_keeps_a_valid_choice_and_defaults_sensibly() {
        let mut c = Choices::new("isoid", &["Name"], "none");
        c.push("a", vec!["A".into()]);
        c.push("b", vec!["B".into()]);
        assert_eq!(c.select("b", false).unwrap().value, "b");
        assert!(c.rows[1].checked && !c.rows[0].checked);
        // A choice that is no longer offered (another zone) is dropped.
        assert!(c.select("gone", false).is_none());
        assert!(c.rows.iter().all(|r| !r.checked));
        assert_eq!(c.select("gone", true).unwrap().value, "a");
        let mut one = Choices::new("zoneid", &["Name"], "none");
        one.push("z", vec!["Z".into()]);
        assert_eq!(one.select("", false).unwrap().value, "z");
    }
}
