//! Security groups as Ansible manages them (issue 14): the unmodified ngine_io.cloudstack
//! collection (PyPI `ansible`) against the real management server.
//! `tests/clients/ansible_security_groups.yml` runs in two stages, each twice: the second
//! run of a stage reports `changed=0` and every rule keeps its id. No host is needed:
//! the modules only read and change groups and rules; what the hosts make of them is
//! `e2e_security_groups.rs`.
//!
//! - up: groups `web` and `db`; four CIDR rules on `web` (tcp/80, tcp/22 from 10.0.0.0/8,
//!   ICMP echo, egress udp/53) and one group rule on `db` (tcp/5432 from `web`).
//! - down: tcp/80 revoked, `db` deleted with its rule.

use serde_json::{json, Value};
use stratus_tests::{CsApi, Server};

const PLAYBOOK: &str = "tests/clients/ansible_security_groups.yml";

fn group(api: &CsApi, name: &str) -> Option<Value> {
    let l = api.ok(
        "listSecurityGroups",
        &[&format!("securitygroupname={name}")],
    );
    l["securitygroup"]
        .as_array()
        .and_then(|a| a.first().cloned())
}

/// (protocol, ports or ICMP type/code, peer) of each rule of a direction, with its id.
fn rules(g: &Value, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = g[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is always a list: {g}"))
        .iter()
        .map(|r| {
            let what = format!(
                "{} {}-{} {}-{} {}{}",
                r["protocol"].as_str().unwrap(),
                r["startport"],
                r["endport"],
                r["icmptype"],
                r["icmpcode"],
                r["cidr"].as_str().unwrap_or(""),
                r["securitygroupname"].as_str().unwrap_or("")
            );
            (what, r["ruleid"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn ansible_manages_security_groups_and_a_second_run_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), "admin-pw-asg");
    let api = CsApi::login(&server, "admin", "admin-pw-asg");

    // --- up ---
    let (changed, text) = api.ansible_playbook(PLAYBOOK, json!({"stage": "up"}), home.path());
    assert_eq!(changed, 7, "two groups, five rules:\n{text}");
    let web = group(&api, "web").expect("web");
    assert_eq!(web["description"], "Web servers");
    let web_in = rules(&web, "ingressrule");
    let shapes: Vec<&str> = web_in.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        shapes,
        [
            "icmp null-null 8-0 0.0.0.0/0",
            "tcp 22-22 null-null 10.0.0.0/8",
            "tcp 80-80 null-null 0.0.0.0/0",
        ],
        "{web}"
    );
    let web_out = rules(&web, "egressrule");
    assert_eq!(web_out.len(), 1, "{web}");
    assert_eq!(web_out[0].0, "udp 53-53 null-null 0.0.0.0/0");
    let db = group(&api, "db").expect("db");
    let db_in = rules(&db, "ingressrule");
    assert_eq!(db_in.len(), 1, "{db}");
    assert_eq!(db_in[0].0, "tcp 5432-5432 null-null web");

    let (changed, text) = api.ansible_playbook(PLAYBOOK, json!({"stage": "up"}), home.path());
    assert_eq!(changed, 0, "a second run changes nothing:\n{text}");
    let again = group(&api, "web").unwrap();
    assert_eq!(
        rules(&again, "ingressrule"),
        web_in,
        "the same rules, ids kept"
    );
    assert_eq!(rules(&again, "egressrule"), web_out);
    assert_eq!(rules(&group(&api, "db").unwrap(), "ingressrule"), db_in);

    // --- down ---
    let (changed, text) = api.ansible_playbook(PLAYBOOK, json!({"stage": "down"}), home.path());
    assert_eq!(changed, 2, "tcp/80 revoked, db deleted:\n{text}");
    let web = group(&api, "web").unwrap();
    let left: Vec<String> = rules(&web, "ingressrule")
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        left,
        [
            "icmp null-null 8-0 0.0.0.0/0",
            "tcp 22-22 null-null 10.0.0.0/8"
        ],
        "{web}"
    );
    assert!(group(&api, "db").is_none());
    let (changed, text) = api.ansible_playbook(PLAYBOOK, json!({"stage": "down"}), home.path());
    assert_eq!(changed, 0, "a second run changes nothing:\n{text}");
    drop(server);
}
