//! Security groups on this host: the management server's [`HostRuleSet`] enforced with
//! nftables.
//!
//! **Why two tables.** Guests sit on a Linux bridge, so their traffic to each other is
//! bridged, not routed. The bridge family sees every frame with the port it came in on,
//! but this kernel (Debian 12's, and others) has no `NF_CONNTRACK_BRIDGE`, so a bridge
//! table cannot tell a reply from a new connection. With `br_netfilter`
//! (`net.bridge.bridge-nf-call-iptables=1`) bridged IPv4 also passes the IP hooks,
//! connection tracking included, but there the input port is the bridge itself. So:
//!
//! - `table bridge stratus_sg`, layer 2, keyed by the guest's tap (named by its MAC:
//!   [`tap_name`], which the domain XML sets): anti-spoofing. A guest sends from its own
//!   MAC only; ARP only as itself (its MAC and one of its addresses); IPv4 only from its
//!   addresses, except a DHCP client's `0.0.0.0`; never as a DHCP server (UDP source port
//!   67); nothing else (IPv6, VLAN tags, other ethertypes). In the `forward` hook (to
//!   other ports) and `input` (to the host's bridge address). Unfiltered guests (in no
//!   security group) get it too.
//! - `table inet stratus_sg`, stateful: in `forward` (bridged and routed guest traffic)
//!   and `output` (what the host itself sends a guest, e.g. SSH from the host, which must
//!   obey the guest's ingress rules too; the host's DHCP answers always pass). Replies
//!   (`ct state established,related`) pass; then the sender's egress chain and the
//!   receiver's ingress chain, found by address in verdict maps. Because anti-spoofing
//!   holds a guest to its own addresses on its tap, an address names the guest. Egress
//!   rules *return* rather than accept, so traffic between two guests of this host still
//!   meets the receiver's ingress chain; a guest without egress rules has no egress
//!   chain (all may leave, CloudStack's default). Ingress: the rules accept, the rest is
//!   dropped. A rule naming a group matches a named set of the group's members'
//!   addresses. `input` is not filtered: DHCP, DNS, the metadata and password services
//!   on the bridge's address always work.
//!
//! **One transaction.** The file written for each rule set does `add table` + `delete
//! table` + the new table for both (nft 1.0.6 has no `destroy table`; the `add` makes the
//! `delete` valid on a host without the table), and `nft -f` loads it as one transaction:
//! there is never a moment without rules, and a file nft refuses changes nothing.
//!
//! **State.** The file in force (`rules.nft`) and its generation (`applied.json`, with the
//! host id it was applied for) live in the agent's firewall directory
//! (`layout::FIREWALL`). A generation older than the one in force is not applied (a late
//! retry); the same one is applied again (nothing changes, and lost tables come back). At
//! start the agent loads the file again, so a rebooted host has its filter before the
//! management server re-sends it. Commands block: callers run them off the async runtime.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use stratus_api::agent::{
    normalize_mac, tap_name, FilterPeer, FilterProtocol, FilterRule, HostRuleSet, RuleSetApplied,
    VmFilter,
};

use crate::error::{Error, Result};

/// Both tables' name (one `bridge`, one `inet`).
pub const TABLE: &str = "stratus_sg";

/// What `nft -f` reads to remove both tables (and nothing else), present or not.
fn delete_tables() -> String {
    format!(
        "add table bridge {TABLE}\ndelete table bridge {TABLE}\n\
         add table inet {TABLE}\ndelete table inet {TABLE}\n"
    )
}

/// One guest NIC as the tables name it.
struct Guest<'a> {
    /// The MAC, normalised (`52:54:00:0a:e7:32`).
    mac: String,
    /// Its twelve hex digits: the chains' names.
    hex: String,
    tap: String,
    ips: BTreeSet<Ipv4Addr>,
    filter: &'a VmFilter,
}

fn guests(set: &HostRuleSet) -> Vec<Guest<'_>> {
    let mut out: Vec<Guest<'_>> = set
        .vms
        .iter()
        .filter_map(|v| {
            // `HostRuleSet::validate` refuses a bad MAC; a pure renderer skips it.
            let mac = normalize_mac(&v.mac).ok()?;
            Some(Guest {
                hex: mac.replace(':', ""),
                tap: tap_name(&mac)?,
                mac,
                ips: v.ips.iter().copied().collect(),
                filter: v,
            })
        })
        .collect();
    out.sort_by(|a, b| a.hex.cmp(&b.hex));
    out
}

fn group_set(g: &uuid::Uuid) -> String {
    format!("g_{}", g.simple())
}

fn braced<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("{{ {} }}", items.join(", "))
}

/// `elements = { … }`, one per line; nothing for none (an empty set or map is written
/// without it).
fn elements(out: &mut String, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str("\t\telements = {\n");
    out.push_str(
        &items
            .iter()
            .map(|i| format!("\t\t\t{i}"))
            .collect::<Vec<_>>()
            .join(",\n"),
    );
    out.push_str("\n\t\t}\n");
}

/// One rule's match and verdict: `accept` for ingress, `return` for egress.
fn rule_text(r: &FilterRule, ingress: bool) -> String {
    let mut m: Vec<String> = vec![];
    let dir = if ingress { "saddr" } else { "daddr" };
    match &r.peer {
        FilterPeer::Cidr(_, 0) => {}
        FilterPeer::Cidr(net, 32) => m.push(format!("ip {dir} {net}")),
        FilterPeer::Cidr(net, len) => m.push(format!("ip {dir} {net}/{len}")),
        FilterPeer::Group(g) => m.push(format!("ip {dir} @{}", group_set(g))),
    }
    match r.protocol {
        FilterProtocol::Tcp | FilterProtocol::Udp => {
            let p = if r.protocol == FilterProtocol::Tcp {
                "tcp"
            } else {
                "udp"
            };
            m.push(match r.ports {
                None | Some((0, 65535)) => format!("meta l4proto {p}"),
                Some((a, b)) if a == b => format!("{p} dport {a}"),
                Some((a, b)) => format!("{p} dport {a}-{b}"),
            });
        }
        FilterProtocol::Icmp => m.push(match r.icmp {
            None => "meta l4proto icmp".into(),
            Some((t, _)) if t < 0 => "meta l4proto icmp".into(),
            Some((t, c)) if c < 0 => format!("icmp type {t}"),
            Some((t, c)) => format!("icmp type {t} icmp code {c}"),
        }),
        FilterProtocol::All => {}
        FilterProtocol::Number(n) => m.push(format!("meta l4proto {n}")),
    }
    m.push(if ingress { "accept" } else { "return" }.into());
    m.join(" ")
}

/// A guest's rules of one direction: sorted, duplicates (from several groups) once.
fn rules_text(rules: &[FilterRule], ingress: bool) -> BTreeSet<String> {
    rules.iter().map(|r| rule_text(r, ingress)).collect()
}

/// The `nft -f` file that makes `set` this host's filter: both tables replaced in one
/// transaction. Pure and deterministic (guests by MAC, addresses and groups sorted, each
/// guest's rules sorted and without duplicates).
pub fn render(set: &HostRuleSet) -> String {
    let guests = guests(set);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# stratus-agent: security groups, generation {}. Written whole for every change and\n\
         # loaded with `nft -f` (one transaction); do not edit.",
        set.generation
    );

    // Layer 2: anti-spoofing, by tap.
    let _ = writeln!(
        o,
        "add table bridge {TABLE}\ndelete table bridge {TABLE}\ntable bridge {TABLE} {{"
    );
    o.push_str("\tmap taps {\n\t\ttype ifname : verdict\n");
    let taps: Vec<String> = guests
        .iter()
        .map(|g| format!("\"{}\" : jump {}", g.tap, g.tap))
        .collect();
    elements(&mut o, &taps);
    o.push_str("\t}\n");
    for hook in ["forward", "input"] {
        let _ = write!(
            o,
            "\n\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter; policy accept;\n\
             \t\tiifname vmap @taps\n\t}}\n"
        );
    }
    for g in &guests {
        let ips = braced(&g.ips);
        let _ = write!(
            o,
            "\n\t# VM {vm}\n\
             \tchain {tap} {{\n\
             \t\tether saddr != {mac} drop\n\
             \t\tarp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether {mac} arp saddr ip {ips} accept\n\
             \t\tip saddr 0.0.0.0 udp sport 68 udp dport 67 accept\n\
             \t\tudp sport 67 drop\n\
             \t\tip saddr {ips} accept\n\
             \t\tdrop\n\
             \t}}\n",
            vm = g.filter.vm,
            tap = g.tap,
            mac = g.mac,
        );
    }
    o.push_str("}\n");

    // Layer 3: stateful filtering of the guests in security groups.
    let filtered: Vec<&Guest<'_>> = guests.iter().filter(|g| !g.filter.unfiltered).collect();
    let _ = writeln!(
        o,
        "add table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{"
    );
    let mut groups: Vec<_> = set.groups.iter().collect();
    groups.sort_by_key(|g| g.group);
    groups.dedup_by_key(|g| g.group);
    for g in groups {
        let _ = writeln!(o, "\tset {} {{\n\t\ttype ipv4_addr", group_set(&g.group));
        let members: BTreeSet<Ipv4Addr> = g.ips.iter().copied().collect();
        let members: Vec<String> = members.iter().map(|i| i.to_string()).collect();
        elements(&mut o, &members);
        o.push_str("\t}\n\n");
    }
    let map = |o: &mut String, name: &str, chain: &str, which: &dyn Fn(&Guest<'_>) -> bool| {
        let _ = writeln!(o, "\tmap {name} {{\n\t\ttype ipv4_addr : verdict");
        let items: Vec<String> = filtered
            .iter()
            .filter(|g| which(g))
            .flat_map(|g| {
                g.ips
                    .iter()
                    .map(move |ip| format!("{ip} : jump {chain}_{}", g.hex))
            })
            .collect();
        elements(o, &items);
        o.push_str("\t}\n");
    };
    map(&mut o, "ingress", "in", &|_| true);
    o.push('\n');
    map(&mut o, "egress", "out", &|g| !g.filter.egress.is_empty());
    o.push_str(
        "\n\tchain forward {\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tct state established,related accept\n\
         \t\tip saddr vmap @egress\n\
         \t\tip daddr vmap @ingress\n\
         \t}\n\
         \n\tchain output {\n\
         \t\ttype filter hook output priority filter; policy accept;\n\
         \t\tct state established,related accept\n\
         \t\tudp sport 67 udp dport 68 accept\n\
         \t\tip daddr vmap @ingress\n\
         \t}\n",
    );
    for g in &filtered {
        let _ = write!(
            o,
            "\n\t# VM {}\n\tchain in_{} {{\n\t\tct state invalid drop\n",
            g.filter.vm, g.hex
        );
        for r in rules_text(&g.filter.ingress, true) {
            let _ = writeln!(o, "\t\t{r}");
        }
        o.push_str("\t\tdrop\n\t}\n");
        if !g.filter.egress.is_empty() {
            let _ = write!(o, "\n\tchain out_{} {{\n\t\tct state invalid drop\n", g.hex);
            for r in rules_text(&g.filter.egress, false) {
                let _ = writeln!(o, "\t\t{r}");
            }
            o.push_str("\t\tdrop\n\t}\n");
        }
    }
    o.push_str("}\n");
    o
}

fn fw_err(what: impl std::fmt::Display) -> Error {
    Error::Firewall(what.to_string())
}

/// What is in force, as kept in `applied.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Applied {
    /// The host id it was applied for: a host added to the cloud again (a new id, its
    /// generations counting from the start) does not inherit the old one's.
    host: String,
    generation: u64,
    vms: usize,
    /// Guests in security groups: the file needs `br_netfilter`.
    filtered: usize,
}

/// The host's security-group filter.
pub struct Firewall {
    dir: PathBuf,
    host: String,
    nft: PathBuf,
    /// False in tests that must not touch the kernel: `nft` is a stand-in and the
    /// bridge's netfilter setting is left alone.
    kernel: bool,
    applied: Mutex<Applied>,
    /// Applies run one at a time.
    lock: Mutex<()>,
}

/// Bridged IPv4 must pass the IP hooks (else the `inet` table never sees guest-to-guest
/// traffic and ingress rules do nothing): `br_netfilter` loaded and
/// `bridge-nf-call-iptables` on, in this network namespace.
fn bridge_calls_netfilter() -> Result<()> {
    let knob = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if !knob.exists() {
        let _ = Command::new("modprobe")
            .arg("br_netfilter")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let now = std::fs::read_to_string(knob).map_err(|e| {
        fw_err(format!(
            "{} ({e}): the kernel's br_netfilter is needed to filter bridged guests",
            knob.display()
        ))
    })?;
    if now.trim() != "1" {
        std::fs::write(knob, "1").map_err(|e| fw_err(format!("{}: {e}", knob.display())))?;
        tracing::info!("net.bridge.bridge-nf-call-iptables set to 1 (security groups)");
    }
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).map_err(|e| fw_err(format!("{}: {e}", tmp.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| fw_err(format!("{}: {e}", path.display())))
}

impl Firewall {
    /// The filter keeping its files under `dir` (`layout::FIREWALL` on a host), for the
    /// host `host` (its id): what was applied for that host before is known again.
    pub fn open(dir: impl Into<PathBuf>, host: &str) -> Firewall {
        let dir = dir.into();
        let applied = std::fs::read_to_string(dir.join("applied.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Applied>(&t).ok())
            .filter(|a| a.host == host)
            .unwrap_or_else(|| Applied {
                host: host.into(),
                ..Applied::default()
            });
        Firewall {
            dir,
            host: host.into(),
            nft: PathBuf::from("nft"),
            kernel: true,
            applied: Mutex::new(applied),
            lock: Mutex::new(()),
        }
    }

    /// A filter that renders and keeps its files but loads nothing (`true` for `nft`).
    #[cfg(test)]
    pub(crate) fn simulated(dir: impl Into<PathBuf>, host: &str) -> Firewall {
        Firewall {
            nft: PathBuf::from("true"),
            kernel: false,
            ..Firewall::open(dir, host)
        }
    }

    fn rules_path(&self) -> PathBuf {
        self.dir.join("rules.nft")
    }

    fn state(&self) -> Applied {
        self.applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What is in force (generation 0: nothing).
    pub fn applied(&self) -> RuleSetApplied {
        let a = self.state();
        RuleSetApplied {
            generation: a.generation,
            vms: a.vms,
        }
    }

    /// `nft -f FILE` (`-` reads `input`).
    fn nft(&self, file: &Path, input: Option<&str>) -> Result<()> {
        let mut cmd = Command::new(&self.nft);
        cmd.arg("-f")
            .arg(file)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            fw_err(format!(
                "running {} (is nftables installed?): {e}",
                self.nft.display()
            ))
        })?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            // An nft that stopped reading says why in its status and stderr.
            let _ = stdin.write_all(text.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fw_err(format!("waiting for nft: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(fw_err(format!(
                "nft -f {} failed ({}): {}",
                file.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Makes `set` this host's filter (see the module's doc), unless a newer generation
    /// is in force; answers what is in force then.
    pub fn apply(&self, set: &HostRuleSet) -> Result<RuleSetApplied> {
        set.validate().map_err(Error::Invalid)?;
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.applied();
        if set.generation < current.generation {
            tracing::info!(
                generation = set.generation,
                in_force = current.generation,
                "an older security-group rule set is not applied"
            );
            return Ok(current);
        }
        let filtered = set.vms.iter().filter(|v| !v.unfiltered).count();
        if filtered > 0 && self.kernel {
            bridge_calls_netfilter()?;
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(|e| fw_err(format!("{}: {e}", self.dir.display())))?;
        }
        // Loaded from a new file, which replaces the one in force only once nft took it:
        // a refused file is left beside it (`rules.nft.new`) to read.
        let new = self.dir.join("rules.nft.new");
        write_atomic(&new, &render(set))?;
        self.nft(&new, None)?;
        std::fs::rename(&new, self.rules_path())
            .map_err(|e| fw_err(format!("{}: {e}", self.rules_path().display())))?;
        let applied = Applied {
            host: self.host.clone(),
            generation: set.generation,
            vms: set.vms.len(),
            filtered,
        };
        *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = applied.clone();
        tracing::info!(
            generation = set.generation,
            vms = set.vms.len(),
            filtered,
            "security groups applied"
        );
        write_atomic(
            &self.dir.join("applied.json"),
            &serde_json::to_string(&applied).unwrap_or_default(),
        )?;
        Ok(self.applied())
    }

    /// At the agent's start: loads the file in force again (after a reboot the kernel has
    /// no tables; otherwise nothing changes). If that fails, nothing is in force
    /// (generation 0) and the management server's next rule set is applied whatever its
    /// generation.
    pub fn restore(&self) -> Result<()> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let a = self.state();
        if a.generation == 0 || !self.rules_path().exists() {
            return Ok(());
        }
        let loaded = (if a.filtered > 0 && self.kernel {
            bridge_calls_netfilter()
        } else {
            Ok(())
        })
        .and_then(|_| self.nft(&self.rules_path(), None));
        match loaded {
            Ok(()) => {
                tracing::info!(generation = a.generation, "security groups restored");
                Ok(())
            }
            Err(e) => {
                *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = Applied {
                    host: self.host.clone(),
                    ..Applied::default()
                };
                Err(e)
            }
        }
    }

    /// Removes both tables and the files (the host leaves the cloud).
    pub fn remove_all(&self) -> Result<()> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.nft(Path::new("-"), Some(&delete_tables()))?;
        *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = Applied {
            host: self.host.clone(),
            ..Applied::default()
        };
        for f in ["rules.nft", "rules.nft.new", "applied.json"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        let _ = std::fs::remove_dir(&self.dir);
        tracing::info!("security-group tables removed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_api::agent::GroupMembers;
    use uuid::Uuid;

    fn tcp(ports: (u16, u16), peer: FilterPeer) -> FilterRule {
        FilterRule {
            protocol: FilterProtocol::Tcp,
            ports: Some(ports),
            icmp: None,
            peer,
        }
    }

    fn cidr(net: &str, len: u8) -> FilterPeer {
        FilterPeer::Cidr(net.parse().unwrap(), len)
    }

    pub(crate) fn group() -> Uuid {
        "7e0c8a52-1111-4222-8333-444455556666".parse().unwrap()
    }

    /// The example of the golden test: a web server in group `group()`, a database
    /// reachable from that group only, and a guest from before security groups.
    pub(crate) fn example() -> HostRuleSet {
        HostRuleSet {
            generation: 7,
            vms: vec![
                VmFilter {
                    vm: "6f1b3a4e-0000-4000-8000-00000000000b".parse().unwrap(),
                    mac: "52:54:00:00:0B:01".into(),
                    ips: vec!["10.1.0.12".parse().unwrap()],
                    unfiltered: false,
                    ingress: vec![
                        tcp((5432, 5432), FilterPeer::Group(group())),
                        FilterRule {
                            protocol: FilterProtocol::Icmp,
                            ports: None,
                            icmp: Some((8, -1)),
                            peer: cidr("10.1.0.0", 24),
                        },
                    ],
                    egress: vec![
                        FilterRule {
                            protocol: FilterProtocol::Udp,
                            ports: Some((53, 53)),
                            icmp: None,
                            peer: cidr("0.0.0.0", 0),
                        },
                        tcp((1024, 65535), cidr("10.1.0.0", 24)),
                    ],
                },
                VmFilter {
                    vm: "6f1b3a4e-0000-4000-8000-00000000000a".parse().unwrap(),
                    mac: "52:54:00:00:0a:01".into(),
                    ips: vec!["10.1.0.11".parse().unwrap()],
                    unfiltered: false,
                    ingress: vec![
                        tcp((80, 80), cidr("0.0.0.0", 0)),
                        tcp((22, 22), cidr("192.0.2.7", 32)),
                        // The same rule from a second group: once.
                        tcp((80, 80), cidr("0.0.0.0", 0)),
                    ],
                    egress: vec![],
                },
                VmFilter {
                    vm: "6f1b3a4e-0000-4000-8000-00000000000c".parse().unwrap(),
                    mac: "52:54:00:00:0c:01".into(),
                    ips: vec!["10.1.0.14".parse().unwrap(), "10.1.0.13".parse().unwrap()],
                    unfiltered: true,
                    ingress: vec![],
                    egress: vec![],
                },
            ],
            groups: vec![GroupMembers {
                group: group(),
                ips: vec![
                    "10.1.0.11".parse().unwrap(),
                    "10.2.0.9".parse().unwrap(),
                    "10.1.0.11".parse().unwrap(),
                ],
            }],
        }
    }

    const EXAMPLE: &str = r#"# stratus-agent: security groups, generation 7. Written whole for every change and
# loaded with `nft -f` (one transaction); do not edit.
add table bridge stratus_sg
delete table bridge stratus_sg
table bridge stratus_sg {
	map taps {
		type ifname : verdict
		elements = {
			"vm525400000a01" : jump vm525400000a01,
			"vm525400000b01" : jump vm525400000b01,
			"vm525400000c01" : jump vm525400000c01
		}
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname vmap @taps
	}

	chain input {
		type filter hook input priority filter; policy accept;
		iifname vmap @taps
	}

	# VM 6f1b3a4e-0000-4000-8000-00000000000a
	chain vm525400000a01 {
		ether saddr != 52:54:00:00:0a:01 drop
		arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 52:54:00:00:0a:01 arp saddr ip { 10.1.0.11 } accept
		ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept
		udp sport 67 drop
		ip saddr { 10.1.0.11 } accept
		drop
	}

	# VM 6f1b3a4e-0000-4000-8000-00000000000b
	chain vm525400000b01 {
		ether saddr != 52:54:00:00:0b:01 drop
		arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 52:54:00:00:0b:01 arp saddr ip { 10.1.0.12 } accept
		ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept
		udp sport 67 drop
		ip saddr { 10.1.0.12 } accept
		drop
	}

	# VM 6f1b3a4e-0000-4000-8000-00000000000c
	chain vm525400000c01 {
		ether saddr != 52:54:00:00:0c:01 drop
		arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 52:54:00:00:0c:01 arp saddr ip { 10.1.0.13, 10.1.0.14 } accept
		ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept
		udp sport 67 drop
		ip saddr { 10.1.0.13, 10.1.0.14 } accept
		drop
	}
}
add table inet stratus_sg
delete table inet stratus_sg
table inet stratus_sg {
	set g_7e0c8a52111142228333444455556666 {
		type ipv4_addr
		elements = {
			10.1.0.11,
			10.2.0.9
		}
	}

	map ingress {
		type ipv4_addr : verdict
		elements = {
			10.1.0.11 : jump in_525400000a01,
			10.1.0.12 : jump in_525400000b01
		}
	}

	map egress {
		type ipv4_addr : verdict
		elements = {
			10.1.0.12 : jump out_525400000b01
		}
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		ip saddr vmap @egress
		ip daddr vmap @ingress
	}

	chain output {
		type filter hook output priority filter; policy accept;
		ct state established,related accept
		udp sport 67 udp dport 68 accept
		ip daddr vmap @ingress
	}

	# VM 6f1b3a4e-0000-4000-8000-00000000000a
	chain in_525400000a01 {
		ct state invalid drop
		ip saddr 192.0.2.7 tcp dport 22 accept
		tcp dport 80 accept
		drop
	}

	# VM 6f1b3a4e-0000-4000-8000-00000000000b
	chain in_525400000b01 {
		ct state invalid drop
		ip saddr 10.1.0.0/24 icmp type 8 accept
		ip saddr @g_7e0c8a52111142228333444455556666 tcp dport 5432 accept
		drop
	}

	chain out_525400000b01 {
		ct state invalid drop
		ip daddr 10.1.0.0/24 tcp dport 1024-65535 return
		udp dport 53 return
		drop
	}
}
"#;

    #[test]
    fn the_example_renders_as_golden_text() {
        assert_eq!(render(&example()), EXAMPLE);
        // The order the management server lists things in changes nothing.
        let mut shuffled = example();
        shuffled.vms.reverse();
        shuffled.vms[1].ingress.reverse();
        assert_eq!(render(&shuffled), EXAMPLE);
    }

    #[test]
    fn rules_say_what_the_protocol_says() {
        let all = |protocol, ports, icmp, peer| FilterRule {
            protocol,
            ports,
            icmp,
            peer,
        };
        let any = cidr("0.0.0.0", 0);
        let g = FilterPeer::Group(group());
        let cases = [
            (
                all(FilterProtocol::All, None, None, any.clone()),
                true,
                "accept",
            ),
            (
                all(FilterProtocol::All, None, None, any.clone()),
                false,
                "return",
            ),
            (
                all(FilterProtocol::Tcp, Some((0, 65535)), None, any.clone()),
                true,
                "meta l4proto tcp accept",
            ),
            (
                all(FilterProtocol::Udp, None, None, cidr("10.0.0.0", 8)),
                false,
                "ip daddr 10.0.0.0/8 meta l4proto udp return",
            ),
            (
                all(FilterProtocol::Udp, Some((5000, 5010)), None, g.clone()),
                false,
                "ip daddr @g_7e0c8a52111142228333444455556666 udp dport 5000-5010 return",
            ),
            (
                all(FilterProtocol::Icmp, None, Some((-1, -1)), any.clone()),
                true,
                "meta l4proto icmp accept",
            ),
            (
                all(FilterProtocol::Icmp, None, Some((3, 4)), any.clone()),
                true,
                "icmp type 3 icmp code 4 accept",
            ),
            (
                all(FilterProtocol::Number(47), None, None, g),
                true,
                "ip saddr @g_7e0c8a52111142228333444455556666 meta l4proto 47 accept",
            ),
        ];
        for (rule, ingress, want) in cases {
            assert_eq!(rule_text(&rule, ingress), want, "{rule:?}");
        }
    }

    #[test]
    fn an_empty_set_renders_empty_tables() {
        let text = render(&HostRuleSet {
            generation: 3,
            ..HostRuleSet::default()
        });
        assert!(!text.contains("elements"), "{text}");
        assert!(!text.contains("chain in_"), "{text}");
        assert!(
            text.contains("map taps {\n\t\ttype ifname : verdict\n\t}"),
            "{text}"
        );
        assert!(text.contains("delete table inet stratus_sg\n"), "{text}");
    }

    #[test]
    fn generations_only_grow_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let fw = Firewall::simulated(dir.path().join("fw"), "host-1");
        assert_eq!(fw.applied().generation, 0);
        let mut set = example();
        assert_eq!(
            fw.apply(&set).unwrap(),
            RuleSetApplied {
                generation: 7,
                vms: 3
            }
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("fw/rules.nft")).unwrap(),
            EXAMPLE
        );
        // A late retry of an older one changes nothing; the same one again is fine.
        set.generation = 6;
        set.vms.clear();
        assert_eq!(fw.apply(&set).unwrap().generation, 7);
        assert_eq!(fw.apply(&example()).unwrap().generation, 7);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("fw/rules.nft")).unwrap(),
            EXAMPLE
        );
        // An invalid set is refused before anything is written.
        let mut bad = example();
        bad.generation = 8;
        bad.vms[0].mac = "nonsense".into();
        assert!(matches!(fw.apply(&bad).unwrap_err(), Error::Invalid(_)));
        assert_eq!(fw.applied().generation, 7);

        // A restarted agent knows what is in force; another host id starts afresh.
        let again = Firewall::simulated(dir.path().join("fw"), "host-1");
        assert_eq!(again.applied(), fw.applied());
        again.restore().unwrap();
        assert_eq!(again.applied().generation, 7);
        let other = Firewall::simulated(dir.path().join("fw"), "host-2");
        assert_eq!(other.applied().generation, 0);

        again.remove_all().unwrap();
        assert_eq!(again.applied().generation, 0);
        assert!(!dir.path().join("fw").exists());
    }

    #[test]
    fn a_refused_file_leaves_the_one_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let mut fw = Firewall::simulated(dir.path().join("fw"), "h");
        fw.apply(&example()).unwrap();
        fw.nft = PathBuf::from("false");
        let mut next = example();
        next.generation = 8;
        assert!(matches!(fw.apply(&next).unwrap_err(), Error::Firewall(_)));
        assert_eq!(fw.applied().generation, 7);
        assert!(std::fs::read_to_string(dir.path().join("fw/rules.nft"))
            .unwrap()
            .contains("generation 7."));
        assert!(dir.path().join("fw/rules.nft.new").exists());
    }
}

/// The filter in a real kernel (root only; skipped otherwise): a throwaway network
/// namespace plays the host, with a bridge holding the gateway address and one veth per
/// guest whose bridge end is named as the guest's tap; the guests are three more
/// namespaces with the rule set's MACs and addresses. Real packets then say what passes.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use std::io::Read as _;
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use stratus_api::agent::GroupMembers;
    use uuid::Uuid;

    /// How long a connection or datagram that passes may take (all of it is local).
    const WAIT: Duration = Duration::from_millis(600);
    const A_MAC: &str = "52:54:00:00:0a:01";
    const B_MAC: &str = "52:54:00:00:0b:01";
    const C_MAC: &str = "52:54:00:00:0c:01";
    const GATEWAY: &str = "10.77.0.1";
    const BRIDGE_MAC: &str = "52:54:00:ff:00:01";
    const A: &str = "10.77.0.11";
    const B: &str = "10.77.0.12";
    const C: &str = "10.77.0.13";

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next().map(|u| u == "0"))
            .unwrap_or(false)
    }

    fn works(prog: &str, args: &[&str]) -> bool {
        Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn run(prog: &str, args: &[&str]) -> String {
        let out = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(
            out.status.success(),
            "{prog} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[allow(unsafe_code)]
    fn enter(ns: &str) {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        // SAFETY: setns(2) with a file descriptor we hold open; it changes only this
        // thread's network namespace (the threads running this are ours alone).
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
    }

    /// Runs `f` on a thread of its own inside namespace `ns`: its sockets and the
    /// processes it starts (nft) live there.
    fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = ns.to_string();
        std::thread::spawn(move || {
            enter(&ns);
            f()
        })
        .join()
        .unwrap()
    }

    /// The namespaces of one run and the listeners in them; all gone on drop (the
    /// bridge and the veths go with their namespaces).
    struct Lab {
        prefix: String,
        made: Vec<String>,
        stop: Arc<AtomicBool>,
        servers: Vec<std::thread::JoinHandle<()>>,
    }

    impl Lab {
        fn ns(&self, name: &str) -> String {
            format!("{}{name}", self.prefix)
        }

        fn add(&mut self, name: &str) -> String {
            let ns = self.ns(name);
            run("ip", &["netns", "add", &ns]);
            self.made.push(ns.clone());
            ns
        }

        /// A TCP server in `ns` on `port` that says "ok" to whoever connects.
        fn serve(&mut self, ns: &str, port: u16) {
            let l = in_ns(ns, move || TcpListener::bind(("0.0.0.0", port)).unwrap());
            l.set_nonblocking(true).unwrap();
            let stop = self.stop.clone();
            self.servers.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = std::io::Write::write_all(&mut s, b"ok");
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            for s in self.servers.drain(..) {
                let _ = s.join();
            }
            for ns in self.made.drain(..).rev() {
                let _ = works("ip", &["netns", "del", &ns]);
            }
        }
    }

    /// A connection from `ns` to `to:port` opens and the server's "ok" comes back.
    fn tcp(ns: &str, to: &str, port: u16) -> bool {
        let addr: SocketAddr = format!("{to}:{port}").parse().unwrap();
        in_ns(ns, move || {
            let Ok(mut s) = TcpStream::connect_timeout(&addr, WAIT) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(WAIT));
            let mut got = String::new();
            s.read_to_string(&mut got).is_ok() && got == "ok"
        })
    }

    /// A datagram from `from` (source port `sport`) reaches `to:dport` in `to_ns`.
    fn udp(from: &str, sport: u16, to_ns: &str, to: &str, dport: u16) -> bool {
        let rx = in_ns(to_ns, move || UdpSocket::bind(("0.0.0.0", dport)).unwrap());
        rx.set_read_timeout(Some(WAIT)).unwrap();
        let to: SocketAddr = format!("{to}:{dport}").parse().unwrap();
        in_ns(from, move || {
            let tx = UdpSocket::bind(("0.0.0.0", sport)).unwrap();
            tx.send_to(b"x", to).unwrap();
        });
        rx.recv_from(&mut [0u8; 8]).is_ok()
    }

    fn ping(ns: &str, to: &str) -> bool {
        works("ip", &["netns", "exec", ns, "ping", "-c1", "-W1", to])
    }

    fn vm(n: u8, mac: &str, ip: &str) -> VmFilter {
        VmFilter {
            vm: Uuid::from_u128(u128::from(n)),
            mac: mac.into(),
            ips: vec![ip.parse().unwrap()],
            unfiltered: false,
            ingress: vec![],
            egress: vec![],
        }
    }

    fn rule(protocol: FilterProtocol, port: u16, peer: FilterPeer) -> FilterRule {
        FilterRule {
            protocol,
            ports: (port > 0).then_some((port, port)),
            icmp: (protocol == FilterProtocol::Icmp).then_some((8, -1)),
            peer,
        }
    }

    fn lan() -> FilterPeer {
        FilterPeer::Cidr("10.77.0.0".parse().unwrap(), 24)
    }

    /// A (10.77.0.11): in the group, nothing may reach it, everything may leave.
    /// B (.12): SSH from the subnet, 8080 from the group, ping from the host; may only
    /// open TCP 9000 in the subnet. C (.13): in no group (anti-spoofing only).
    fn rule_set(generation: u64) -> HostRuleSet {
        let group = Uuid::from_u128(0x5e);
        let mut b = vm(2, B_MAC, B);
        b.ingress = vec![
            rule(FilterProtocol::Tcp, 22, lan()),
            rule(FilterProtocol::Tcp, 8080, FilterPeer::Group(group)),
            rule(
                FilterProtocol::Icmp,
                0,
                FilterPeer::Cidr(GATEWAY.parse().unwrap(), 32),
            ),
        ];
        b.egress = vec![rule(FilterProtocol::Tcp, 9000, lan())];
        let mut c = vm(3, C_MAC, C);
        c.unfiltered = true;
        HostRuleSet {
            generation,
            vms: vec![vm(1, A_MAC, A), b, c],
            groups: vec![GroupMembers {
                group,
                ips: vec![A.parse().unwrap()],
            }],
        }
    }

    #[test]
    fn the_rules_hold_in_a_kernel() {
        if !is_root() || !works("nft", &["--version"]) || !works("ip", &["netns", "list"]) {
            eprintln!("skipped: needs root, nft and ip netns (CI runs it as root)");
            return;
        }
        let mut lab = Lab {
            prefix: format!("sgt{}", std::process::id()),
            made: vec![],
            stop: Arc::new(AtomicBool::new(false)),
            servers: vec![],
        };
        let h = lab.add("h");
        let ip_h = |args: &[&str]| run("ip", &[&["-n", h.as_str()], args].concat());
        ip_h(&[
            "link", "add", "br0", "address", BRIDGE_MAC, "type", "bridge",
        ]);
        ip_h(&["addr", "add", &format!("{GATEWAY}/24"), "dev", "br0"]);
        ip_h(&["link", "set", "br0", "up"]);
        let mut ns = vec![];
        for (name, mac, ip) in [("a", A_MAC, A), ("b", B_MAC, B), ("c", C_MAC, C)] {
            let g = lab.add(name);
            let tap = tap_name(mac).unwrap();
            ip_h(&[
                "link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", &g,
            ]);
            ip_h(&["link", "set", &tap, "master", "br0", "up"]);
            let ip_g = |args: &[&str]| run("ip", &[&["-n", g.as_str()], args].concat());
            ip_g(&["link", "set", "eth0", "address", mac]);
            ip_g(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            ip_g(&["link", "set", "eth0", "up"]);
            ip_g(&["link", "set", "lo", "up"]);
            ns.push(g);
        }
        let (a, b, c) = (ns[0].clone(), ns[1].clone(), ns[2].clone());
        for port in [22, 23, 8080] {
            lab.serve(&b, port);
        }
        lab.serve(&a, 9000);
        lab.serve(&h, 2222);
        lab.serve(&c, 9000);
        lab.serve(&c, 9001);

        // The golden example is valid nft.
        let golden = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(golden.path(), render(&super::tests::example())).unwrap();
        let path = golden.path().display().to_string();
        run("ip", &["netns", "exec", &h, "nft", "-c", "-f", &path]);

        // Without a filter, everything passes (so what fails below is the filter's doing).
        assert!(tcp(&c, B, 8080) && tcp(&c, A, 9000) && tcp(&b, C, 9001));

        let dir = tempfile::tempdir().unwrap();
        let fw = Arc::new(Firewall::open(dir.path().join("firewall"), "lab"));
        let apply = |set: HostRuleSet| {
            let fw = fw.clone();
            in_ns(&h, move || fw.apply(&set)).unwrap()
        };
        let applied = |generation, vms| RuleSetApplied { generation, vms };
        assert_eq!(apply(rule_set(1)), applied(1, 3));

        let mut failed = vec![];
        let mut check = |what: &str, got: bool, want: bool| {
            if got != want {
                failed.push(format!(
                    "{what}: {}",
                    if got { "passed" } else { "blocked" }
                ));
            }
        };
        check("A -> B:22 (ingress from the subnet)", tcp(&a, B, 22), true);
        check("C -> B:22 (ingress from the subnet)", tcp(&c, B, 22), true);
        check("A -> B:23 (no rule for the port)", tcp(&a, B, 23), false);
        check("A -> B:8080 (A is in the group)", tcp(&a, B, 8080), true);
        check(
            "C -> B:8080 (C is not in the group)",
            tcp(&c, B, 8080),
            false,
        );
        check("host -> B ping (ICMP from the host)", ping(&h, B), true);
        check(
            "host -> B:22 (host output obeys ingress)",
            tcp(&h, B, 22),
            true,
        );
        check("host -> A:9000 (A admits nothing)", tcp(&h, A, 9000), false);
        check("C -> A:9000 (A admits nothing)", tcp(&c, A, 9000), false);
        check("A -> host:2222", tcp(&a, GATEWAY, 2222), true);
        check(
            "B -> host:2222 (egress rules do not cover traffic to the host)",
            tcp(&b, GATEWAY, 2222),
            true,
        );
        check(
            "A -> C:9000 (replies to A's own connection pass A's ingress)",
            tcp(&a, C, 9000),
            true,
        );
        check("B -> C:9000 (egress rule)", tcp(&b, C, 9000), true);
        check("B -> C:9001 (no egress rule)", tcp(&b, C, 9001), false);
        check(
            "B -> A:9000 (B's egress allows it, A's ingress does not)",
            tcp(&b, A, 9000),
            false,
        );
        check(
            "host:67 -> A:68 (the host's DHCP answers)",
            udp(&h, 67, &a, A, 68),
            true,
        );
        check("A:1067 -> C:6767", udp(&a, 1067, &c, C, 6767), true);
        check(
            "A:67 -> C:6767 (a guest is no DHCP server)",
            udp(&a, 67, &c, C, 6767),
            false,
        );

        // A guest sending from another address. Static neighbours on every side (no ARP),
        // so only the IPv4 source check can stop it.
        let ip_a = |args: &[&str]| run("ip", &[&["-n", a.as_str()], args].concat());
        let ip_c = |args: &[&str]| run("ip", &[&["-n", c.as_str()], args].concat());
        let spoofed = "10.77.0.50";
        ip_a(&["addr", "del", &format!("{A}/24"), "dev", "eth0"]);
        ip_a(&["addr", "add", &format!("{spoofed}/24"), "dev", "eth0"]);
        ip_a(&["neigh", "replace", C, "lladdr", C_MAC, "dev", "eth0"]);
        ip_a(&[
            "neigh", "replace", GATEWAY, "lladdr", BRIDGE_MAC, "dev", "eth0",
        ]);
        ip_c(&["neigh", "replace", spoofed, "lladdr", A_MAC, "dev", "eth0"]);
        ip_h(&["neigh", "replace", spoofed, "lladdr", A_MAC, "dev", "br0"]);
        check("A as 10.77.0.50 -> C:9000", tcp(&a, C, 9000), false);
        check(
            "A as 10.77.0.50 -> host:2222",
            tcp(&a, GATEWAY, 2222),
            false,
        );
        ip_a(&["addr", "del", &format!("{spoofed}/24"), "dev", "eth0"]);
        ip_a(&["addr", "add", &format!("{A}/24"), "dev", "eth0"]);
        // (A's own entries went with the address.)
        ip_c(&["neigh", "del", spoofed, "dev", "eth0"]);
        ip_h(&["neigh", "del", spoofed, "dev", "br0"]);
        check("A as itself again -> C:9000", tcp(&a, C, 9000), true);
        // A guest sending from another MAC.
        ip_a(&["link", "set", "eth0", "address", "52:54:00:99:99:99"]);
        check("A with another MAC -> C:9000", tcp(&a, C, 9000), false);
        check(
            "A with another MAC -> host:2222",
            tcp(&a, GATEWAY, 2222),
            false,
        );
        ip_a(&["link", "set", "eth0", "address", A_MAC]);
        check("A with its MAC again -> C:9000", tcp(&a, C, 9000), true);
        check(
            "A with its MAC again -> host:2222",
            tcp(&a, GATEWAY, 2222),
            true,
        );

        // The same set again changes nothing; an older one is not applied.
        assert_eq!(apply(rule_set(1)), applied(1, 3));
        check("A -> B:22 after the same set again", tcp(&a, B, 22), true);
        assert_eq!(
            apply(HostRuleSet {
                generation: 0,
                ..HostRuleSet::default()
            }),
            applied(1, 3)
        );
        check("C -> B:8080 after an older set", tcp(&c, B, 8080), false);

        // A new generation without B's SSH rule closes the port.
        let mut next = rule_set(2);
        next.vms[1].ingress.remove(0);
        assert_eq!(apply(next), applied(2, 3));
        check("A -> B:22 once its rule is gone", tcp(&a, B, 22), false);
        check("A -> B:8080 still", tcp(&a, B, 8080), true);

        // No guests: no filtering at all.
        assert_eq!(
            apply(HostRuleSet {
                generation: 3,
                ..HostRuleSet::default()
            }),
            applied(3, 0)
        );
        check("C -> B:8080 unfiltered", tcp(&c, B, 8080), true);
        check("C -> A:9000 unfiltered", tcp(&c, A, 9000), true);
        check("B -> C:9001 unfiltered", tcp(&b, C, 9001), true);
        assert_eq!(fw.applied(), applied(3, 0));

        let f = fw.clone();
        in_ns(&h, move || f.remove_all()).unwrap();
        let tables = run("ip", &["netns", "exec", &h, "nft", "list", "tables"]);
        assert_eq!(tables.trim(), "", "tables left: {tables}");
        assert!(failed.is_empty(), "{failed:#?}");
    }
}
