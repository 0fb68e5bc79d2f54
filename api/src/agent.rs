//! The management ⇄ agent protocol (version 1): what an agent pushes in its heartbeats.
//!
//! Each heartbeat carries the host's facts, its current metrics and a report of the
//! domains it runs, stamped with a `generation` that only grows (boot time in
//! milliseconds, then +1 per report), so the management server can ignore a report that
//! arrives after a newer one — e.g. one delayed on the way to another management server.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const PROTOCOL_VERSION: u32 = 1;

/// How guests are accelerated on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acceleration {
    /// Hardware virtualisation (`<domain type='kvm'>`).
    Kvm,
    /// Software emulation, TCG (`<domain type='qemu'>`).
    Qemu,
}

impl Acceleration {
    pub fn as_str(self) -> &'static str {
        match self {
            Acceleration::Kvm => "kvm",
            Acceleration::Qemu => "qemu",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    pub arch: String,
    pub cpu_sockets: u32,
    /// Logical CPUs (CloudStack's `cpunumber`).
    pub cpu_cores: u32,
    pub cpu_mhz: u32,
    pub memory_bytes: u64,
    pub os: String,
    pub kernel: String,
    pub libvirt_version: String,
    /// The hypervisor driver's version (QEMU's, for the qemu driver).
    pub hypervisor_version: String,
    pub acceleration: Acceleration,
    pub agent_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostMetrics {
    /// Share of all CPUs busy since the previous sample, 0–100.
    pub cpu_used_percent: f64,
    pub memory_used_bytes: u64,
    /// Bytes received/sent on all non-loopback interfaces since boot.
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    Running,
    Paused,
    Shutdown,
    Shutoff,
    Crashed,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainReport {
    pub name: String,
    pub uuid: Uuid,
    pub state: DomainState,
}

/// One running domain's resource use, sampled with the heartbeat. Counters are totals
/// since the domain's QEMU started; the CPU share is computed by the agent between two
/// of its samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainStats {
    pub uuid: Uuid,
    /// Share of the domain's vCPUs busy since the agent's previous sample, 0–100; `None`
    /// on the first sample of a domain (no interval to measure over).
    #[serde(default)]
    pub cpu_used_percent: Option<f64>,
    /// CPU time the domain used, in nanoseconds.
    pub cpu_time_ns: u64,
    pub vcpus: u32,
    /// Memory the domain has now (the balloon's current size), in bytes.
    pub memory_bytes: u64,
    /// Memory the guest reports unused (needs a balloon driver in the guest).
    #[serde(default)]
    pub memory_unused_bytes: Option<u64>,
    /// Memory the QEMU process holds on the host (resident set).
    #[serde(default)]
    pub memory_rss_bytes: Option<u64>,
    /// Totals over the domain's disks.
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    pub disk_read_ops: u64,
    pub disk_write_ops: u64,
    /// Totals over the domain's interfaces, as the guest sees them (rx: received by it).
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub protocol: u32,
    pub generation: u64,
    pub facts: HostFacts,
    pub metrics: HostMetrics,
    pub domains: Vec<DomainReport>,
    /// The running domains' resource use (older agents send none).
    #[serde(default)]
    pub domain_stats: Vec<DomainStats>,
    /// The security group rule set generation in force on this host ([`HostRuleSet`]):
    /// 0 when the agent has none (it restarted, or the host rebooted), so the management
    /// server sends the whole set again. None from agents without security groups.
    #[serde(default)]
    pub sg_generation: Option<u64>,
}

/// The management server's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// How often the server wants heartbeats, in seconds.
    pub interval_secs: u64,
    /// False when the report was older than one already seen (it was ignored).
    pub accepted: bool,
    /// The host was deleted: the agent removes its files and exits.
    #[serde(default)]
    pub decommission: bool,
}

/// The path an agent posts its heartbeats to, under a management URL.
pub fn heartbeat_path(host_id: Uuid) -> String {
    format!("/agent/v1/hosts/{host_id}/heartbeat")
}

// ---------------------------------------------------------------------------------------
// Security groups: the whole filter of a host's guests, from the management server.

/// A guest NIC's tap device: `vm` and the MAC's twelve hex digits (14 characters, under
/// Linux's 15). The agent names the tap in the domain XML, so the host's filter can name
/// the port a guest sends from without asking libvirt, and the name survives restarts and
/// migration (MACs are unique in a zone). Taps of domains defined before this (libvirt's
/// `vnetN`) are not filtered until the VM's next start.
pub fn tap_name(mac: &str) -> Option<String> {
    let mac = normalize_mac(mac).ok()?;
    Some(format!("vm{}", mac.replace(':', "")))
}

/// The most VMs, rules per direction of one VM, groups and members per group one rule
/// set may hold: a host runs at most a few hundred guests, and a rule set over these
/// bounds is refused (400) before anything is rendered.
pub const MAX_FILTERED_VMS: usize = 4096;
pub const MAX_RULES_PER_DIRECTION: usize = 1024;
pub const MAX_REFERENCED_GROUPS: usize = 1024;
pub const MAX_GROUP_MEMBERS: usize = 65_536;

/// PUT [`api::SECURITY_GROUPS`]: every guest of this host and what may reach it and
/// leave it. Always the whole state ("make it so"): applying the same set twice changes
/// nothing, and a VM missing from it has no filter any more. The agent replaces its
/// nftables tables in one transaction (never a moment without rules) and answers
/// [`RuleSetApplied`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRuleSet {
    /// Increases with every change the management server makes for this host; the
    /// agent keeps the newest it applied and ignores an older one (a late retry).
    pub generation: u64,
    #[serde(default)]
    pub vms: Vec<VmFilter>,
    /// The addresses of every group a rule in `vms` references (its Running members
    /// anywhere in the zone).
    #[serde(default)]
    pub groups: Vec<GroupMembers>,
}

/// One guest NIC's filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmFilter {
    pub vm: Uuid,
    /// Its MAC (`aa:bb:cc:dd:ee:ff`); its tap is [`tap_name`] of it.
    pub mac: String,
    /// The addresses it may send from (its NIC's).
    pub ips: Vec<std::net::Ipv4Addr>,
    /// In no security group (a VM from before security groups): anti-spoofing only,
    /// every packet passes.
    #[serde(default)]
    pub unfiltered: bool,
    /// Allowed in; everything else is dropped (replies to its own traffic excepted).
    #[serde(default)]
    pub ingress: Vec<FilterRule>,
    /// Allowed out; with none, everything may leave (CloudStack's default).
    #[serde(default)]
    pub egress: Vec<FilterRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterProtocol {
    Tcp,
    Udp,
    Icmp,
    /// Any protocol.
    All,
    /// An IP protocol number other than TCP, UDP and ICMP (e.g. 47, GRE).
    #[serde(untagged)]
    Number(u8),
}

/// One allowed flow: a protocol, its ports or ICMP type/code, and the peer (a CIDR or
/// the members of a group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRule {
    pub protocol: FilterProtocol,
    /// TCP/UDP: the destination port range (first, last); none: all ports.
    #[serde(default)]
    pub ports: Option<(u16, u16)>,
    /// ICMP: type, and code (-1: any); none or type -1: any ICMP.
    #[serde(default)]
    pub icmp: Option<(i16, i16)>,
    pub peer: FilterPeer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterPeer {
    /// An IPv4 network, host bits clear (`10.1.0.0/16`, `0.0.0.0/0`).
    Cidr(std::net::Ipv4Addr, u8),
    /// The members of this group (listed in [`HostRuleSet::groups`]).
    Group(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMembers {
    pub group: Uuid,
    #[serde(default)]
    pub ips: Vec<std::net::Ipv4Addr>,
}

/// The agent's answer to a [`HostRuleSet`]: the generation now in force (the one sent,
/// or a newer one it already had) and how many guests it filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSetApplied {
    pub generation: u64,
    pub vms: usize,
}

impl HostRuleSet {
    /// Bounds and well-formedness, before the agent renders anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.vms.len() > MAX_FILTERED_VMS {
            return Err(format!(
                "{} VMs: at most {MAX_FILTERED_VMS}",
                self.vms.len()
            ));
        }
        if self.groups.len() > MAX_REFERENCED_GROUPS {
            return Err(format!(
                "{} groups: at most {MAX_REFERENCED_GROUPS}",
                self.groups.len()
            ));
        }
        let mut macs = std::collections::HashSet::new();
        // An address belongs to one NIC: the agent's filter finds a guest's chains by it.
        let mut owners = std::collections::HashMap::new();
        for v in &self.vms {
            let mac = normalize_mac(&v.mac)?;
            if !macs.insert(mac) {
                return Err(format!("MAC {} appears twice", v.mac));
            }
            if v.ips.is_empty() || v.ips.len() > 64 {
                return Err(format!("VM {}: 1-64 addresses", v.vm));
            }
            for ip in &v.ips {
                if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback()
                {
                    return Err(format!("VM {}: {ip} is not a host address", v.vm));
                }
                if let Some(other) = owners.insert(*ip, &v.mac).filter(|m| *m != &v.mac) {
                    return Err(format!("{ip} belongs to both {other} and {}", v.mac));
                }
            }
            for (dir, rules) in [("ingress", &v.ingress), ("egress", &v.egress)] {
                if rules.len() > MAX_RULES_PER_DIRECTION {
                    return Err(format!(
                        "VM {}: {} {dir} rules, at most {MAX_RULES_PER_DIRECTION}",
                        v.vm,
                        rules.len()
                    ));
                }
                for r in rules {
                    r.validate()?;
                    if let FilterPeer::Group(g) = r.peer {
                        if !self.groups.iter().any(|m| m.group == g) {
                            return Err(format!("group {g} is referenced but not listed"));
                        }
                    }
                }
            }
        }
        for g in &self.groups {
            if g.ips.len() > MAX_GROUP_MEMBERS {
                return Err(format!(
                    "group {}: more than {MAX_GROUP_MEMBERS} members",
                    g.group
                ));
            }
        }
        Ok(())
    }
}

impl FilterRule {
    pub fn validate(&self) -> Result<(), String> {
        if let Some((a, b)) = self.ports {
            if !matches!(self.protocol, FilterProtocol::Tcp | FilterProtocol::Udp) || a > b {
                return Err(format!("ports {a}-{b} with {:?}", self.protocol));
            }
        }
        if let Some((t, c)) = self.icmp {
            if self.protocol != FilterProtocol::Icmp
                || !(-1..=255).contains(&t)
                || !(-1..=255).contains(&c)
            {
                return Err(format!("ICMP {t}/{c} with {:?}", self.protocol));
            }
        }
        if let FilterPeer::Cidr(net, len) = self.peer {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            if len > 32 || u32::from(net) & !mask != 0 {
                return Err(format!("{net}/{len} is not a network address"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_stable() {
        assert_eq!(
            serde_json::to_string(&Acceleration::Qemu).unwrap(),
            "\"qemu\""
        );
        assert_eq!(
            serde_json::to_string(&DomainState::Shutoff).unwrap(),
            "\"shutoff\""
        );
        // A heartbeat from an agent without per-domain statistics is still understood.
        let old = serde_json::json!({
            "protocol": 1, "generation": 5,
            "facts": {"hostname": "h", "arch": "x86_64", "cpu_sockets": 1, "cpu_cores": 2,
                "cpu_mhz": 2000, "memory_bytes": 1024, "os": "Debian", "kernel": "6.1",
                "libvirt_version": "9.0.0", "hypervisor_version": "7.2.0",
                "acceleration": "qemu", "agent_version": "0.1.0"},
            "metrics": {"cpu_used_percent": 1.0, "memory_used_bytes": 1,
                "network_rx_bytes": 2, "network_tx_bytes": 3},
            "domains": []
        });
        let hb: Heartbeat = serde_json::from_value(old).unwrap();
        assert!(hb.domain_stats.is_empty());
        assert_eq!(
            heartbeat_path(Uuid::nil()),
            "/agent/v1/hosts/00000000-0000-0000-0000-000000000000/heartbeat"
        );
    }
}

/// Where an installed agent lives on its host. `addHost` installs there and the agent
/// removes exactly this when its host is deleted.
pub mod layout {
    pub const DIR: &str = "/var/lib/stratus-agent";
    pub const BIN: &str = "/var/lib/stratus-agent/bin/stratus-agent";
    pub const CONFIG: &str = "/etc/stratus/agent.properties";
    pub const LOG: &str = "/var/lib/stratus-agent/agent.log";
    pub const PID: &str = "/var/lib/stratus-agent/agent.pid";
    /// Guest networks: one directory per bridge with its dnsmasq's hosts, lease, pid and
    /// log files.
    pub const NETWORKS: &str = "/var/lib/stratus-agent/networks";
    /// Guest data: one directory per VM with what it was given (`guest.json`, root
    /// only) and its config drive (`config-HASH.iso`, readable by QEMU).
    pub const GUESTS: &str = "/var/lib/stratus-agent/guests";
    /// Security groups: the nftables file in force (`rules.nft`) and its generation
    /// (`applied.json`).
    pub const FIREWALL: &str = "/var/lib/stratus-agent/firewall";
    /// Virtual routers (issue 15): one directory per router with the spec last applied
    /// (`spec.json`), what the agent made for it (`state.json`), its nftables file and
    /// its dnsmasq's files; `.vlan-bridges/` records the VLAN bridges the agent made.
    pub const ROUTERS: &str = "/var/lib/stratus-agent/routers";
    pub const SYSTEMD_UNIT: &str = "/etc/systemd/system/stratus-agent.service";
    /// The agent's TLS server certificate and key, and the CA its clients must chain to.
    pub const TLS_CERT: &str = "/etc/stratus/agent.crt";
    pub const TLS_KEY: &str = "/etc/stratus/agent.key";
    pub const CA_CERT: &str = "/etc/stratus/ca.crt";
}

/// The agent's command API (HTTPS with mutual TLS; management servers only).
///
/// Route templates (`{id}`: a VM's UUID, `{bridge}`: a bridge name) are what the agent
/// serves; the functions below fill them in for clients. Bodies and answers are JSON;
/// every error answers `4xx`/`5xx` with an [`AgentError`](super::AgentError).
pub mod api {
    use uuid::Uuid;

    /// CloudStack agents listen on 8250 too.
    pub const DEFAULT_PORT: u16 = 8250;
    /// Request header: the caller's time budget for a VM command, in milliseconds. The
    /// agent answers `504` with an [`AgentError`](super::AgentError) once it has passed
    /// (waiting for the VM's earlier commands counts) and, for a `PUT` of a VM whose
    /// libvirt call was still running, destroys what that call made when it returns, so
    /// a caller that gave up never finds a domain it did not get. Without the header the
    /// agent waits as long as libvirt takes.
    pub const DEADLINE_HEADER: &str = "x-stratus-deadline-ms";
    /// GET: the host's current report (facts, metrics, domains), as in a heartbeat.
    pub const FACTS: &str = "/v1/facts";
    /// POST: send a heartbeat now and answer with the management server's
    /// acknowledgement (`reconnectHost`).
    pub const RECONNECT: &str = "/v1/reconnect";
    /// PUT a [`VmSpec`](super::VmSpec): define and start it, or bring an existing one in
    /// line ("make it so"); answers [`VmStatus`](super::VmStatus).
    /// GET: its [`VmStatus`](super::VmStatus) (404 if this host has no such VM).
    /// DELETE: destroy and undefine; answers [`VmDestroyed`](super::VmDestroyed), also
    /// when there was nothing to delete.
    pub const VM: &str = "/v1/vms/{id}";
    /// POST a [`PowerOptions`](super::PowerOptions) (or an empty body): shut down, forced
    /// after the timeout; answers [`VmStopped`](super::VmStopped).
    pub const VM_STOP: &str = "/v1/vms/{id}/stop";
    /// POST a [`PowerOptions`](super::PowerOptions) (or an empty body): stop as above,
    /// then start again (a new QEMU process); answers [`VmStatus`](super::VmStatus).
    pub const VM_REBOOT: &str = "/v1/vms/{id}/reboot";
    /// POST an [`NfsFile`](super::NfsFile): insert that ISO into the VM's CD-ROM drive;
    /// DELETE: eject it. Live (if running) and in the definition; answers
    /// [`VmStatus`](super::VmStatus).
    pub const VM_ISO: &str = "/v1/vms/{id}/iso";
    /// PUT a [`GuestData`](super::GuestData): rebuild the VM's config drive with it (a
    /// media change in its second CD-ROM drive when running) and answer the metadata
    /// and password services from it; answers [`VmStatus`](super::VmStatus).
    pub const VM_GUEST: &str = "/v1/vms/{id}/guest";
    /// PUT a [`GuestNetwork`](super::GuestNetwork): the bridge with its address and a
    /// dnsmasq serving exactly its static leases (none: dnsmasq stopped); answers
    /// [`NetworkStatus`](super::NetworkStatus). DELETE: stop its dnsmasq, forget it, and
    /// remove the bridge if the agent created it and no interface is attached to it any
    /// more; answers [`NetworkRemoved`](super::NetworkRemoved).
    pub const NETWORK: &str = "/v1/networks/{bridge}";
    /// GET with `Connection: upgrade` and `Upgrade: ` [`CONSOLE_UPGRADE`]: the VM's VNC
    /// console as a byte stream. The agent answers `101 Switching Protocols` and from then
    /// on splices the connection to the VM's VNC server (on the host's 127.0.0.1) both
    /// ways until either side closes. Before the upgrade: 404 if this host has no such VM,
    /// 409 if it is not running, 426 without the upgrade headers, 502 if its VNC server
    /// does not answer.
    pub const VM_CONSOLE: &str = "/v1/vms/{id}/console";
    /// POST a [`DataDisk`](super::DataDisk): attach that data volume (hot-plugged if the
    /// VM runs, and in its definition); answers [`VmStatus`](super::VmStatus). Attaching
    /// the same file at the same device again is fine.
    pub const VM_DISKS: &str = "/v1/vms/{id}/disks";
    /// DELETE: detach the data volume at device `{device}` (live: the guest must release
    /// it within the request's deadline, else `409` and it stays attached; and from the
    /// definition); answers [`VmStatus`](super::VmStatus), also when it was not attached.
    pub const VM_DISK: &str = "/v1/vms/{id}/disks/{device}";
    /// PUT a [`DiskSize`](super::DiskSize): grow the data volume at device `{device}` of
    /// the running VM to that size, live (QEMU grows the file and the guest sees the new
    /// capacity at once); answers [`VmStatus`](super::VmStatus). The same size again is
    /// fine; a smaller one is refused (`400`), as is a VM that does not run (`409`) or has
    /// no disk there (`404`).
    pub const VM_DISK_SIZE: &str = "/v1/vms/{id}/disks/{device}/size";
    /// The protocol name a console tunnel asks for in its `Upgrade` header: raw RFB bytes
    /// (no framing) after the `101`.
    pub const CONSOLE_UPGRADE: &str = "stratus-vnc";

    pub fn vm(id: Uuid) -> String {
        VM.replace("{id}", &id.to_string())
    }
    pub fn vm_stop(id: Uuid) -> String {
        VM_STOP.replace("{id}", &id.to_string())
    }
    pub fn vm_reboot(id: Uuid) -> String {
        VM_REBOOT.replace("{id}", &id.to_string())
    }
    pub fn vm_iso(id: Uuid) -> String {
        VM_ISO.replace("{id}", &id.to_string())
    }
    pub fn vm_guest(id: Uuid) -> String {
        VM_GUEST.replace("{id}", &id.to_string())
    }
    pub fn vm_console(id: Uuid) -> String {
        VM_CONSOLE.replace("{id}", &id.to_string())
    }
    pub fn vm_disks(id: Uuid) -> String {
        VM_DISKS.replace("{id}", &id.to_string())
    }
    pub fn vm_disk(id: Uuid, device: u32) -> String {
        VM_DISK
            .replace("{id}", &id.to_string())
            .replace("{device}", &device.to_string())
    }
    pub fn vm_disk_size(id: Uuid, device: u32) -> String {
        VM_DISK_SIZE
            .replace("{id}", &id.to_string())
            .replace("{device}", &device.to_string())
    }
    pub fn network(bridge: &str) -> String {
        NETWORK.replace("{bridge}", bridge)
    }
    /// PUT a [`HostRuleSet`](super::HostRuleSet): this host's whole guest filter;
    /// answers [`RuleSetApplied`](super::RuleSetApplied) (400: the set is invalid; a
    /// generation older than the one in force is not applied, and the answer says which
    /// is). GET: the [`RuleSetApplied`](super::RuleSetApplied) in force (generation 0:
    /// none). The agent keeps the last one applied on disk ([`super::layout::FIREWALL`])
    /// and loads it again when it starts, so a restarted agent (or a rebooted host)
    /// reports what is really in force.
    pub const SECURITY_GROUPS: &str = "/v1/security-groups";
}

// ---------------------------------------------------------------------------------------
// Commands: VMs and guest networks (the agent half of deploying a VM).
// ---------------------------------------------------------------------------------------

/// A file on an NFS server, as guests reach it (qemu's libnfs, no kernel mount):
/// `nfs://SERVER/EXPORT/PATH`. For NFSv3 the export is the server's directory path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NfsFile {
    /// Address or name of the NFS server.
    pub server: String,
    /// The exported directory, absolute (`/export/primary`).
    pub export: String,
    /// The file, relative to the export (`volumes/ROOT-7.qcow2`).
    pub path: String,
}

impl NfsFile {
    /// The file's absolute path on the server (what libvirt's `<source name=…>` takes;
    /// without the leading slash the mount is refused).
    pub fn server_path(&self) -> String {
        format!(
            "/{}/{}",
            self.export.trim_matches('/'),
            self.path.trim_start_matches('/')
        )
        .replace("//", "/")
    }

    pub fn url(&self) -> String {
        format!("nfs://{}{}", self.server, self.server_path())
    }

    pub fn validate(&self, what: &str) -> Result<(), String> {
        if self.server.is_empty()
            || !self
                .server
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        {
            return Err(format!(
                "{what}: '{}' is not an NFS server address",
                self.server
            ));
        }
        if !self.export.starts_with('/') {
            return Err(format!(
                "{what}: the export '{}' must be an absolute path",
                self.export
            ));
        }
        let p = self.path.trim_start_matches('/');
        if p.is_empty() || p.ends_with('/') {
            return Err(format!("{what}: '{}' is not a file path", self.path));
        }
        for part in self.export.split('/').chain(p.split('/')) {
            if part == ".." || part.chars().any(|c| c.is_control()) {
                return Err(format!("{what}: '{}' is not a safe path", self.url()));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    Qcow2,
    Raw,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Raw => "raw",
        }
    }
}

/// The VM's root volume: a file on primary storage the management server created
/// (`qemu-img create -f qcow2 nfs://…`); the agent never creates or resizes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootDisk {
    pub file: NfsFile,
    pub format: DiskFormat,
    /// The size it was created with (informational; the image itself is the truth).
    pub virtual_size_bytes: u64,
    /// The qcow2 base it is an overlay on (a template's copy on the same pool), named in
    /// the domain as its `<backingStore>` so libvirt and QEMU need not probe the chain
    /// over NFS. None: a standalone image.
    #[serde(default)]
    pub backing: Option<NfsFile>,
}

// --- Data volumes (issue 16) -----------------------------------------------------------

/// Highest device id a data volume may have: CloudStack's KVM `max_data_volumes_limit`
/// (6, its hypervisor capabilities' default) + 2 (the root disk and the CD-ROM) − 1.
pub const MAX_DEVICE_ID: u32 = 7;
/// The CD-ROM's device id on KVM: never a data volume's.
pub const CDROM_DEVICE_ID: u32 = 3;

/// A data volume as a guest sees it: a qcow2 on primary storage (created by the
/// management server), a virtio disk at CloudStack's device id `n` → target `vd` + the
/// `n`th letter (`1` → `vdb`), as CloudStack's KVM agent names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataDisk {
    pub file: NfsFile,
    pub format: DiskFormat,
    /// 1, 2, 4…[`MAX_DEVICE_ID`] (0 is the root disk's, [`CDROM_DEVICE_ID`] the CD-ROM's).
    pub device_id: u32,
    /// The volume's id: the disk's `<serial>` in the guest (`/dev/disk/by-id/virtio-…`).
    pub volume_id: Uuid,
}

impl DataDisk {
    /// The guest's target device (`vdb`…).
    pub fn target(&self) -> String {
        data_target(self.device_id)
    }

    pub fn validate(&self) -> Result<(), String> {
        valid_data_device(self.device_id)?;
        self.file.validate("data disk")
    }
}

/// The new size of a running VM's data volume (`paths::VM_DISK_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSize {
    /// In bytes; never smaller than the disk is.
    pub bytes: u64,
}

/// Whether `device` may hold a data volume (CloudStack's rule: 1, 2, 4…max).
pub fn valid_data_device(device: u32) -> Result<(), String> {
    if device == 0 || device == CDROM_DEVICE_ID || device > MAX_DEVICE_ID {
        return Err(format!(
            "device id {device}: a data volume's must be 1, 2 or 4-{MAX_DEVICE_ID}"
        ));
    }
    Ok(())
}

/// The target of device id `device` (`vd` + its letter; `0` → `vda`).
pub fn data_target(device: u32) -> String {
    let letter = char::from(b'a' + (device.min(25) as u8));
    format!("vd{letter}")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NicModel {
    #[default]
    Virtio,
    E1000,
    Rtl8139,
}

impl NicModel {
    pub fn as_str(self) -> &'static str {
        match self {
            NicModel::Virtio => "virtio",
            NicModel::E1000 => "e1000",
            NicModel::Rtl8139 => "rtl8139",
        }
    }
}

/// A guest NIC on a host bridge (one per guest network: `cloudbr0` by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// `52:54:00:xx:xx:xx`, allocated by the management server.
    pub mac: String,
    pub bridge: String,
    #[serde(default)]
    pub model: NicModel,
}

/// Everything the agent needs to make a VM real on its host. PUT twice, same result:
/// an existing domain with this `id` gets this definition and is left running (CPU,
/// memory and NIC changes take effect at its next start; the ISO changes at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    /// The VM's id; also the libvirt domain's UUID.
    pub id: Uuid,
    /// The libvirt domain name, e.g. CloudStack's `i-2-7-VM` (letters, digits, `.-_`).
    pub name: String,
    pub vcpus: u32,
    /// Speed per vCPU in MHz (the compute offering's); the domain's CPU weight
    /// (`<cputune><shares>`) is `vcpus × cpu_mhz`, as in CloudStack.
    pub cpu_mhz: u32,
    pub memory_mib: u64,
    /// `kvm` → `<domain type='kvm'>`, `qemu` → TCG (`<domain type='qemu'>`).
    pub acceleration: Acceleration,
    pub root_disk: RootDisk,
    /// An ISO in the CD-ROM drive; the VM boots from it first when present.
    #[serde(default)]
    pub iso: Option<NfsFile>,
    #[serde(default)]
    pub nics: Vec<Nic>,
    /// The VNC console's password (at most 8 characters: VNC's limit); none: no password.
    /// The console listens on 127.0.0.1 only, on a port libvirt picks.
    #[serde(default)]
    pub console_password: Option<String>,
    /// What the guest is told about itself (config drive and metadata service); none:
    /// no config drive (an ISO install with nothing to pass in).
    #[serde(default)]
    pub guest: Option<GuestData>,
    /// Data volumes attached to the VM (issue 16), each at its CloudStack device id.
    #[serde(default)]
    pub data_disks: Vec<DataDisk>,
}

/// At most this many bytes of user data, decoded (CloudStack's `vm.userdata.max.length`
/// ceiling is 1 MiB of base64; the guest's copy is bounded the same).
pub const USER_DATA_MAX_BYTES: usize = 1 << 20;

/// One public key put into the guest (`public-keys` in the metadata; `authorized_keys`
/// through cloud-init).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestKey {
    /// The key pair's name in Stratus.
    pub name: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub public_key: String,
}

/// A guest NIC's addressing, for `network_data.json` and the metadata's `local-ipv4`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNic {
    pub mac: String,
    pub ip: std::net::Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: std::net::Ipv4Addr,
    #[serde(default)]
    pub dns: Vec<std::net::Ipv4Addr>,
    pub is_default: bool,
}

/// What a VM's guest learns about itself, as CloudStack's ConfigDrive provider and its
/// virtual router's metadata and password services tell it. The agent writes it as an
/// ISO 9660 config drive (label `config-2`: `openstack/latest/…` and `cloudstack/…`)
/// and answers `http://<dhcp server>/latest/…` and the password service (port 8080)
/// from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestData {
    /// The guest's host name (the VM's name): `local-hostname`, `hostname`.
    pub hostname: String,
    /// The VM's display name.
    pub display_name: String,
    /// The zone's name (`availability-zone`).
    pub zone_name: String,
    /// The compute offering's name (`service-offering`).
    pub service_offering: String,
    #[serde(default)]
    pub public_keys: Vec<GuestKey>,
    /// User data as the API took it: base64 (decoded at most [`USER_DATA_MAX_BYTES`]).
    #[serde(default)]
    pub user_data_base64: Option<String>,
    /// A password the guest has not yet fetched (password-enabled templates), served
    /// until the guest acknowledges it (`saved_password`); none: nothing to serve.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub nics: Vec<GuestNic>,
    /// The cloud's identifier (CloudStack's `cloud.identifier` setting); the metadata's
    /// `cloud-identifier` is `CloudStack-{ID}`, empty without one.
    #[serde(default)]
    pub cloud_identifier: Option<String>,
}

impl GuestData {
    /// Checks sizes and text the config drive and services would otherwise carry
    /// unchecked.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_hostname(&self.hostname) {
            return Err(format!("'{}' is not a host name", self.hostname));
        }
        if let Some(u) = &self.user_data_base64 {
            if u.len() > USER_DATA_MAX_BYTES / 3 * 4 + 4 {
                return Err(format!(
                    "user data is over {USER_DATA_MAX_BYTES} bytes (decoded)"
                ));
            }
        }
        for k in &self.public_keys {
            if k.public_key.contains(['\n', '\r'])
                || k.public_key.len() > 16 * 1024
                || k.name.len() > 255
                || k.name.chars().any(|c| c.is_control())
            {
                return Err(format!("key '{}' is not one public key line", k.name));
            }
        }
        if let Some(p) = &self.password {
            if p.is_empty() || p.len() > 255 || p.chars().any(|c| c.is_control()) {
                return Err("the password must be 1-255 printable characters".into());
            }
        }
        for (what, text) in [
            ("display name", Some(&self.display_name)),
            ("zone name", Some(&self.zone_name)),
            ("service offering", Some(&self.service_offering)),
            ("cloud identifier", self.cloud_identifier.as_ref()),
        ] {
            if text.is_some_and(|t| t.len() > 1024 || t.chars().any(|c| c.is_control())) {
                return Err(format!(
                    "the {what} must be at most 1024 printable characters"
                ));
            }
        }
        if self.public_keys.len() > 64 {
            return Err("at most 64 public keys".into());
        }
        if self.nics.len() > 32 {
            return Err("at most 32 NICs".into());
        }
        for n in &self.nics {
            normalize_mac(&n.mac)?;
            if n.prefix_len > 32 {
                return Err(format!("prefix length {} is over 32", n.prefix_len));
            }
        }
        Ok(())
    }
}

/// At most this many characters of a VNC password count (VNC's DES challenge).
pub const VNC_PASSWORD_MAX: usize = 8;

fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name.starts_with('-')
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`, unicast. Returns it lower-cased.
pub fn normalize_mac(mac: &str) -> Result<String, String> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(format!("'{mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)"));
    }
    let first = parts
        .first()
        .and_then(|p| u8::from_str_radix(p, 16).ok())
        .unwrap_or(1);
    if first & 1 == 1 {
        return Err(format!("'{mac}' is a multicast MAC address"));
    }
    Ok(mac.to_ascii_lowercase())
}

/// A Linux interface name usable as a bridge: 1–15 characters, letters, digits, `-_.`.
pub fn validate_bridge(name: &str) -> Result<(), String> {
    if valid_name(name, 15) {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a bridge name (1-15 letters, digits, '-', '_' or '.')"
        ))
    }
}

impl VmSpec {
    /// The CPU weight for `<cputune><shares>` (CloudStack's `vcpus × speed`).
    pub fn cpu_shares(&self) -> u64 {
        u64::from(self.vcpus) * u64::from(self.cpu_mhz)
    }

    /// Checks what libvirt would otherwise refuse with a less helpful message.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_name(&self.name, 64) {
            return Err(format!(
                "'{}' is not a VM name (1-64 letters, digits, '-', '_' or '.')",
                self.name
            ));
        }
        if self.vcpus == 0 || self.vcpus > 256 {
            return Err(format!("{} vCPUs: must be 1-256", self.vcpus));
        }
        if self.cpu_mhz == 0 {
            return Err("cpu_mhz must be positive".into());
        }
        if self.memory_mib < 16 {
            return Err(format!(
                "{} MiB of memory: at least 16 MiB",
                self.memory_mib
            ));
        }
        self.root_disk.file.validate("root disk")?;
        if let Some(b) = &self.root_disk.backing {
            b.validate("root disk's base")?;
        }
        if let Some(iso) = &self.iso {
            iso.validate("ISO")?;
        }
        let mut macs = std::collections::HashSet::new();
        for n in &self.nics {
            let mac = normalize_mac(&n.mac)?;
            if !macs.insert(mac) {
                return Err(format!("MAC address {} is used twice", n.mac));
            }
            validate_bridge(&n.bridge)?;
        }
        if let Some(g) = &self.guest {
            g.validate()?;
        }
        let mut devices = std::collections::HashSet::new();
        for d in &self.data_disks {
            d.validate()?;
            if !devices.insert(d.device_id) {
                return Err(format!("device id {} is used twice", d.device_id));
            }
        }
        if let Some(p) = &self.console_password {
            if p.is_empty() || p.chars().count() > VNC_PASSWORD_MAX {
                return Err(format!(
                    "the console password must have 1-{VNC_PASSWORD_MAX} characters (VNC's limit)"
                ));
            }
            if p.chars().any(|c| c.is_control()) {
                return Err("the console password must not contain control characters".into());
            }
        }
        Ok(())
    }
}

/// Options for stop and reboot. An empty body means a graceful shutdown (ACPI) that is
/// forced after [`DEFAULT_STOP_TIMEOUT_SECS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerOptions {
    /// Power off at once (no shutdown request to the guest).
    #[serde(default)]
    pub forced: bool,
    /// How long to wait for the guest to shut down before powering it off.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 60;

impl PowerOptions {
    /// Power off at once.
    pub fn forced() -> PowerOptions {
        PowerOptions {
            forced: true,
            timeout_secs: None,
        }
    }
}

/// A VM as its host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmStatus {
    pub id: Uuid,
    pub name: String,
    pub state: DomainState,
    /// The VNC console's port on the host's 127.0.0.1 (while running).
    pub vnc_port: Option<u16>,
    /// The ISO in the CD-ROM drive (`nfs://…`), if any.
    pub iso: Option<String>,
    pub vcpus: u32,
    pub memory_kib: u64,
    /// CPU time used since the VM's QEMU started, in nanoseconds.
    pub cpu_time_ns: u64,
    /// The config drive in the second CD-ROM drive (a file on the host), if any.
    #[serde(default)]
    pub config_drive: Option<String>,
    /// The targets of its disks (`vda` the root disk, `vdb`… data volumes): the live
    /// domain's while it runs, else its definition's.
    #[serde(default)]
    pub disks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmStopped {
    pub status: VmStatus,
    /// Whether it had to be powered off (asked to, or the guest ignored the shutdown).
    pub forced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmDestroyed {
    /// False when this host had no such VM (deleting twice is fine).
    pub existed: bool,
}

/// One static DHCP lease: this MAC gets this address (and name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticLease {
    pub mac: String,
    pub ip: std::net::Ipv4Addr,
    #[serde(default)]
    pub hostname: Option<String>,
}

/// A guest network on a host: a Linux bridge holding an address of the guest subnet and
/// a dnsmasq that answers DHCP for exactly these leases (no dynamic range, no DNS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNetwork {
    pub bridge: String,
    /// The guests' default gateway (DHCP option 3).
    pub gateway: std::net::Ipv4Addr,
    pub prefix_len: u8,
    /// The bridge's own address, from which dnsmasq answers; default: the gateway
    /// (the host routes for its guests). Give each host its own address when several
    /// hosts share the guest segment and the gateway is a router elsewhere.
    #[serde(default)]
    pub dhcp_address: Option<std::net::Ipv4Addr>,
    /// DNS servers for the guests (DHCP option 6).
    #[serde(default)]
    pub dns: Vec<std::net::Ipv4Addr>,
    #[serde(default)]
    pub leases: Vec<StaticLease>,
}

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 63
        && !h.starts_with('-')
        && !h.ends_with('-')
        && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl GuestNetwork {
    /// The subnet's network address.
    pub fn network_address(&self) -> std::net::Ipv4Addr {
        let mask = self.netmask_bits();
        std::net::Ipv4Addr::from(u32::from(self.gateway) & mask)
    }

    fn netmask_bits(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        }
    }

    pub fn netmask(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(self.netmask_bits())
    }

    /// The bridge's address (the DHCP server's).
    pub fn bridge_address(&self) -> std::net::Ipv4Addr {
        self.dhcp_address.unwrap_or(self.gateway)
    }

    /// The MAC every host gives a bridge it creates to be its guests' gateway: the same
    /// on each host (locally administered, `02:5e:` and the gateway's four bytes), so a
    /// guest live-migrated to another host finds its gateway at the MAC its ARP cache
    /// holds and keeps talking without a pause. None when the bridge's address is not
    /// the gateway (hosts sharing a segment, each with its own DHCP address).
    pub fn gateway_mac(&self) -> Option<String> {
        if self.dhcp_address.is_some_and(|a| a != self.gateway) {
            return None;
        }
        let [a, b, c, d] = self.gateway.octets();
        Some(format!("02:5e:{a:02x}:{b:02x}:{c:02x}:{d:02x}"))
    }

    pub fn contains(&self, ip: std::net::Ipv4Addr) -> bool {
        u32::from(ip) & self.netmask_bits() == u32::from(self.network_address())
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_bridge(&self.bridge)?;
        if !(8..=30).contains(&self.prefix_len) {
            return Err(format!("prefix length /{}: must be 8-30", self.prefix_len));
        }
        let net = self.network_address();
        let broadcast = std::net::Ipv4Addr::from(u32::from(net) | !self.netmask_bits());
        let usable = |ip: std::net::Ipv4Addr| self.contains(ip) && ip != net && ip != broadcast;
        if !usable(self.gateway) {
            return Err(format!(
                "the gateway {} is not a host address of {net}/{}",
                self.gateway, self.prefix_len
            ));
        }
        if !usable(self.bridge_address()) {
            return Err(format!(
                "the DHCP address {} is not a host address of {net}/{}",
                self.bridge_address(),
                self.prefix_len
            ));
        }
        let mut macs = std::collections::HashSet::new();
        let mut ips = std::collections::HashSet::new();
        for l in &self.leases {
            let mac = normalize_mac(&l.mac)?;
            if !usable(l.ip) {
                return Err(format!(
                    "lease {} → {}: not a host address of {net}/{}",
                    l.mac, l.ip, self.prefix_len
                ));
            }
            if l.ip == self.gateway || l.ip == self.bridge_address() {
                return Err(format!(
                    "lease {} → {}: the address belongs to the gateway or the bridge",
                    l.mac, l.ip
                ));
            }
            if !macs.insert(mac) {
                return Err(format!("MAC address {} has two leases", l.mac));
            }
            if !ips.insert(l.ip) {
                return Err(format!("address {} is leased twice", l.ip));
            }
            if let Some(h) = &l.hostname {
                if !valid_hostname(h) {
                    return Err(format!(
                        "'{h}' is not a host name (1-63 letters, digits or '-')"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStatus {
    pub bridge: String,
    /// The dnsmasq serving the leases (none when there are no leases).
    pub dnsmasq_pid: Option<u32>,
    pub leases: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRemoved {
    /// False when the agent knew no such network (removing twice is fine).
    pub existed: bool,
}

/// The body of every error answer of the agent's command API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub error: String,
}

// ---------------------------------------------------------------------------------------
// Live migration (issue 16): the agent half of `migrateVirtualMachine`.
// ---------------------------------------------------------------------------------------

/// Live migration between hosts, as CloudStack's KVM agent does it: the source host's
/// libvirtd migrates the running domain peer-to-peer to the destination host's libvirtd
/// over TLS (`qemu+tls://DEST/system`, port 16514), and the guest's memory travels through
/// that same connection (tunnelled), so everything between the hosts is authenticated and
/// encrypted with the cloud's own certificates: `addHost` writes each host a libvirt
/// certificate (server and client use, issued by the cloud's CA) where libvirt looks for
/// them ([`CA_FILE`], [`SERVER_CERT`], ...). Disks are NFS network disks, the same on every
/// host of a zone; only the config drive (a file of the host's agent) is made anew on the
/// destination first ([`VM_INCOMING`]).
pub mod migration {
    use std::net::IpAddr;

    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use super::GuestData;

    /// The host's libvirt certificates, at libvirt's default paths (libvirtd reloads
    /// only these: `virt-admin server-update-tls` ignores `libvirtd.conf`'s own paths);
    /// the same pair serves as libvirtd's server and as the source's client certificate.
    pub const CA_FILE: &str = "/etc/pki/CA/cacert.pem";
    pub const SERVER_CERT: &str = "/etc/pki/libvirt/servercert.pem";
    pub const SERVER_KEY: &str = "/etc/pki/libvirt/private/serverkey.pem";
    pub const CLIENT_CERT: &str = "/etc/pki/libvirt/clientcert.pem";
    pub const CLIENT_KEY: &str = "/etc/pki/libvirt/private/clientkey.pem";
    /// The common name of every host's libvirt certificate starts with this (libvirtd's
    /// `tls_allowed_dn_list` admits exactly these; agents refuse them as API clients).
    pub const CERT_CN_PREFIX: &str = "stratus-libvirt ";
    /// libvirtd's TLS port.
    pub const LIBVIRT_TLS_PORT: u16 = 16514;

    /// PUT an [`Incoming`] on the destination before the migration: it writes the VM's
    /// config drive there; answers [`IncomingReady`].
    pub const VM_INCOMING: &str = "/v1/vms/{id}/incoming";
    /// POST a [`MigrateVm`] on the source: the running VM moves to the destination, live
    /// under KVM and paused under TCG (defined there, undefined here); answers
    /// [`VmMigrated`]. When it fails the VM
    /// keeps running here (libvirt resumes it).
    pub const VM_MIGRATE: &str = "/v1/vms/{id}/migrate";

    pub fn vm_incoming(id: Uuid) -> String {
        VM_INCOMING.replace("{id}", &id.to_string())
    }
    pub fn vm_migrate(id: Uuid) -> String {
        VM_MIGRATE.replace("{id}", &id.to_string())
    }

    /// The libvirt URI of a destination host, with this host's certificates.
    pub fn libvirt_uri(dest: IpAddr) -> String {
        let host = match dest {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        format!("qemu+tls://{host}:{LIBVIRT_TLS_PORT}/system")
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Incoming {
        /// The VM's guest data (its config drive is made from it), if it has any.
        #[serde(default)]
        pub guest: Option<GuestData>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct IncomingReady {
        /// The config drive's path on the destination, for [`MigrateVm::config_drive`].
        pub config_drive: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MigrateVm {
        /// The destination host's address (its libvirtd listens on [`LIBVIRT_TLS_PORT`]).
        pub destination: IpAddr,
        /// The VM's config drive on the destination ([`IncomingReady::config_drive`]).
        #[serde(default)]
        pub config_drive: Option<String>,
    }

    impl MigrateVm {
        pub fn validate(&self) -> Result<(), String> {
            let d = self.destination;
            if d.is_unspecified() || d.is_loopback() || d.is_multicast() {
                return Err(format!("{d} cannot be a destination host"));
            }
            if let Some(p) = &self.config_drive {
                let ok = p.starts_with(super::layout::GUESTS)
                    && p.len() < 512
                    && !p.contains("..")
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
                if !ok {
                    return Err(format!("{p:?} is not a config drive of this agent"));
                }
            }
            Ok(())
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VmMigrated {
        pub destination: IpAddr,
        /// How long the migration took, in milliseconds.
        pub elapsed_ms: u64,
        /// Whether the guest ran during the move (under KVM); an emulated (TCG) guest
        /// moves paused, in one pass (the agent's `hypervisor::is_emulated` says why).
        #[serde(default = "live_by_default")]
        pub live: bool,
    }

    fn live_by_default() -> bool {
        true
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn uris_and_validation() {
            assert_eq!(
                libvirt_uri("10.0.0.2".parse().unwrap()),
                "qemu+tls://10.0.0.2:16514/system"
            );
            assert!(libvirt_uri("fd00::2".parse().unwrap()).starts_with("qemu+tls://[fd00::2]:"));
            let mut m = MigrateVm {
                destination: "10.0.0.2".parse().unwrap(),
                config_drive: Some(format!("{}/x/config-ab.iso", super::super::layout::GUESTS)),
            };
            m.validate().unwrap();
            m.config_drive = Some("/etc/shadow".into());
            assert!(m.validate().is_err());
            m.config_drive = Some(format!("{}/../../etc/shadow", super::super::layout::GUESTS));
            assert!(m.validate().is_err());
            m.config_drive = None;
            m.destination = "127.0.0.1".parse().unwrap();
            assert!(m.validate().is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------
// VM snapshots (issue 16): the agent half of createVMSnapshot, revertToVMSnapshot and
// deleteVMSnapshot for a running VM.
// ---------------------------------------------------------------------------------------

/// A running VM's snapshots, as CloudStack's KVM agent takes them: libvirt internal
/// snapshots (QEMU's savevm: every writable qcow2 disk and the guest's memory, inside the
/// disks' own files on NFS). libvirt's metadata of a snapshot lives on one host and goes
/// when the domain is undefined (every stop), so the management server keeps the XML
/// [`VmSnapshotTaken::xml`] and hands it back: a host without the metadata defines it
/// again from that XML before a revert or a delete. A stopped VM's snapshots are the
/// management server's own work (`qemu-img snapshot` over NFS); none of these calls.
pub mod vm_snapshots {
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    /// POST a [`CreateVmSnapshot`]: the running VM's snapshot with memory; answers
    /// [`VmSnapshotTaken`]. Again with the same name answers the one taken.
    pub const VM_SNAPSHOTS: &str = "/v1/vms/{id}/vmsnapshots";
    /// POST a [`RevertVmSnapshot`]: the running VM is back at the snapshot, running;
    /// answers the VM's status.
    pub const VM_SNAPSHOT_REVERT: &str = "/v1/vms/{id}/vmsnapshots/{name}/revert";
    /// POST a [`DeleteVmSnapshot`]: the snapshot leaves the running VM's disks (or, with
    /// `metadata_only`, only libvirt's record of it); answers [`VmSnapshotDeleted`].
    pub const VM_SNAPSHOT_DELETE: &str = "/v1/vms/{id}/vmsnapshots/{name}/delete";

    pub fn vm_snapshots(id: Uuid) -> String {
        VM_SNAPSHOTS.replace("{id}", &id.to_string())
    }
    pub fn vm_snapshot_revert(id: Uuid, name: &str) -> String {
        VM_SNAPSHOT_REVERT
            .replace("{id}", &id.to_string())
            .replace("{name}", name)
    }
    pub fn vm_snapshot_delete(id: Uuid, name: &str) -> String {
        VM_SNAPSHOT_DELETE
            .replace("{id}", &id.to_string())
            .replace("{name}", name)
    }

    /// A snapshot's name inside the disks and libvirt: the management server's id of it
    /// (a UUID), never user text.
    pub fn validate_name(name: &str) -> Result<(), String> {
        if name.len() == 36 && name.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not a VM snapshot name (a UUID)",
                crate::params::shown(name)
            ))
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct CreateVmSnapshot {
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VmSnapshotTaken {
        /// libvirt's XML of the snapshot, to define it again elsewhere.
        pub xml: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RevertVmSnapshot {
        /// The snapshot's XML as [`VmSnapshotTaken`] answered it.
        pub xml: String,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DeleteVmSnapshot {
        /// The snapshot's XML, if it was taken with memory; a disk-only snapshot (taken
        /// while the VM was stopped) has none, and the agent describes it itself.
        #[serde(default)]
        pub xml: Option<String>,
        /// Only libvirt's record of it (the management server removed it from the disks).
        #[serde(default)]
        pub metadata_only: bool,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct VmSnapshotDeleted {
        /// False when there was nothing to delete.
        pub existed: bool,
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn names_are_uuids() {
            super::validate_name("0b7c1f0e-5a8e-4a57-9f0e-2d1b3c4d5e6f").unwrap();
            assert!(super::validate_name("../x").is_err());
            assert!(super::validate_name("0b7c1f0e-5a8e-4a57-9f0e-2d1b3c4d5e6/").is_err());
        }
    }
}

#[cfg(test)]
mod command_tests {
    use super::*;

    fn spec() -> VmSpec {
        serde_json::from_value(serde_json::json!({
            "id": "6f1b3a4e-0000-4000-8000-000000000007",
            "name": "i-2-7-VM",
            "vcpus": 2,
            "cpu_mhz": 500,
            "memory_mib": 128,
            "acceleration": "qemu",
            "root_disk": {
                "file": {"server": "10.0.0.5", "export": "/export/primary", "path": "ROOT-7.qcow2"},
                "format": "qcow2",
                "virtual_size_bytes": 1073741824u64
            },
            "iso": {"server": "10.0.0.5", "export": "/export/secondary/", "path": "/iso/1/1.iso"},
            "nics": [{"mac": "52:54:00:0A:E7:32", "bridge": "cloudbr0"}],
            "console_password": "s3cret"
        }))
        .unwrap()
    }

    #[test]
    fn vm_spec_wire_format_and_defaults() {
        let s = spec();
        assert_eq!(s.nics[0].model, NicModel::Virtio);
        assert_eq!(s.cpu_shares(), 1000);
        s.validate().unwrap();
        let iso = s.iso.as_ref().unwrap();
        assert_eq!(iso.server_path(), "/export/secondary/iso/1/1.iso");
        assert_eq!(iso.url(), "nfs://10.0.0.5/export/secondary/iso/1/1.iso");
        let back: VmSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let o: PowerOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, PowerOptions::default());
        assert_eq!(
            api::vm_stop(s.id),
            "/v1/vms/6f1b3a4e-0000-4000-8000-000000000007/stop"
        );
        assert_eq!(api::network("cloudbr0"), "/v1/networks/cloudbr0");
    }

    #[test]
    fn vm_spec_refusals_are_clear() {
        type Change = Box<dyn Fn(&mut VmSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.name = "bad name".into()), "is not a VM name"),
            (Box::new(|s| s.vcpus = 0), "vCPUs"),
            (Box::new(|s| s.memory_mib = 1), "MiB of memory"),
            (
                Box::new(|s| s.nics[0].mac = "52:54:00:0a:e7".into()),
                "not a MAC",
            ),
            (
                Box::new(|s| s.nics[0].mac = "01:00:5e:00:00:01".into()),
                "multicast",
            ),
            (Box::new(|s| s.nics.push(s.nics[0].clone())), "used twice"),
            (
                Box::new(|s| s.nics[0].bridge = "a-very-long-bridge".into()),
                "bridge name",
            ),
            (
                Box::new(|s| s.console_password = Some("123456789".into())),
                "1-8 characters",
            ),
            (
                Box::new(|s| s.root_disk.file.export = "export".into()),
                "absolute path",
            ),
            (
                Box::new(|s| s.root_disk.file.path = "../etc/shadow".into()),
                "not a safe path",
            ),
            (
                Box::new(|s| s.root_disk.file.server = "a b".into()),
                "not an NFS server",
            ),
            (
                Box::new(|s| s.iso.as_mut().unwrap().path = "dir/".into()),
                "not a file path",
            ),
        ];
        for (change, want) in cases {
            let mut s = spec();
            change(&mut s);
            let e = s.validate().unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn guest_data_wire_format_is_backward_compatible() {
        // What the lead's first contract sent: no cloud_identifier.
        let g: GuestData = serde_json::from_value(serde_json::json!({
            "hostname": "vm-1", "display_name": "VM 1", "zone_name": "z", "service_offering": "Small"
        }))
        .unwrap();
        assert_eq!(g.cloud_identifier, None);
        assert!(g.public_keys.is_empty() && g.nics.is_empty());
        g.validate().unwrap();
        let st: VmStatus = serde_json::from_value(serde_json::json!({
            "id": "6f1b3a4e-0000-4000-8000-000000000007", "name": "i-2-7-VM", "state": "running",
            "vnc_port": null, "iso": null, "vcpus": 1, "memory_kib": 1024, "cpu_time_ns": 0
        }))
        .unwrap();
        assert_eq!(st.config_drive, None);
        let bad = |f: &dyn Fn(&mut GuestData), want: &str| {
            let mut m = g.clone();
            f(&mut m);
            let e = m.validate().unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        };
        bad(&|m| m.zone_name = "a\nb".into(), "zone name");
        bad(
            &|m| m.cloud_identifier = Some("x".repeat(2000)),
            "cloud identifier",
        );
        bad(
            &|m| {
                m.public_keys.push(GuestKey {
                    name: "k\u{7}".into(),
                    public_key: "ssh-ed25519 AAAA".into(),
                })
            },
            "not one public key line",
        );
    }

    #[test]
    fn guest_network_rules() {
        let mut n: GuestNetwork = serde_json::from_value(serde_json::json!({
            "bridge": "cloudbr0", "gateway": "192.168.100.1", "prefix_len": 24,
            "leases": [{"mac": "52:54:00:0a:e7:32", "ip": "192.168.100.50", "hostname": "vm1"}]
        }))
        .unwrap();
        n.validate().unwrap();
        assert_eq!(n.network_address().to_string(), "192.168.100.0");
        assert_eq!(n.netmask().to_string(), "255.255.255.0");
        assert_eq!(n.bridge_address(), n.gateway);
        // Every host's gateway bridge has the same MAC, unicast and locally administered.
        assert_eq!(n.gateway_mac().as_deref(), Some("02:5e:c0:a8:64:01"));
        let mut own = n.clone();
        own.dhcp_address = Some("192.168.100.2".parse().unwrap());
        assert_eq!(own.gateway_mac(), None, "the bridge is not the gateway");
        let bad = |f: &dyn Fn(&mut GuestNetwork), want: &str| {
            let mut m = n.clone();
            f(&mut m);
            let e = m.validate().unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        };
        bad(
            &|m| m.leases[0].ip = "192.168.101.5".parse().unwrap(),
            "not a host address",
        );
        bad(
            &|m| m.leases[0].ip = "192.168.100.255".parse().unwrap(),
            "not a host address",
        );
        bad(&|m| m.leases[0].ip = m.gateway, "belongs to the gateway");
        bad(&|m| m.leases.push(m.leases[0].clone()), "two leases");
        bad(
            &|m| {
                let mut l = m.leases[0].clone();
                l.mac = "52:54:00:00:00:01".into();
                m.leases.push(l)
            },
            "leased twice",
        );
        bad(
            &|m| m.leases[0].hostname = Some("a_b".into()),
            "not a host name",
        );
        bad(&|m| m.gateway = "192.168.100.0".parse().unwrap(), "gateway");
        bad(&|m| m.prefix_len = 31, "8-30");
        n.leases.clear();
        n.validate().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Volume snapshots (issue 16): the agent half of createSnapshot for a running VM.
// ---------------------------------------------------------------------------------------

/// A running VM's volume copied to secondary storage, consistently: the agent pauses the
/// VM (QEMU drains and flushes its disks when it stops the CPUs, so the file on NFS is a
/// whole qcow2 at that instant), copies the volume with `qemu-img convert -U` into the
/// target (a standalone qcow2), and resumes the VM — always, whether the copy worked or
/// not. The pause lasts as long as the copy; the answer says how long it was. An overlay
/// (a root volume on its template's copy, `backing`) is copied byte for byte while paused
/// (its own clusters only, small) and made standalone after the VM resumes: the copy is
/// pointed at its base by full URL (QEMU 7.2's NFS driver cannot resolve the relative
/// name) and rebased onto nothing. Why not libvirt's backup API (`virDomainBackupBegin`, which
/// would copy without a pause): the `virt` crate (0.5) does not expose it, and its push
/// mode writes only to a host-local file or block device, not to an NFS URL.
pub mod volume_snapshots {
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use super::NfsFile;

    /// POST a [`DiskBackup`]: pause the VM (if it runs), copy, resume; answers
    /// [`DiskBackedUp`]. `404` if the host has no such VM.
    pub const VM_DISK_BACKUP: &str = "/v1/vms/{id}/disk-backup";

    pub fn vm_disk_backup(id: Uuid) -> String {
        VM_DISK_BACKUP.replace("{id}", &id.to_string())
    }

    /// The longest a VM stays paused for a copy by default: the copy is killed after it
    /// (and the VM resumed).
    pub const DEFAULT_MAX_PAUSE_SECS: u64 = 600;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DiskBackup {
        /// The volume's qcow2 on primary storage.
        pub source: NfsFile,
        /// Its base (a root volume's template copy), if it is an overlay.
        #[serde(default)]
        pub backing: Option<NfsFile>,
        /// Where the flattened copy goes (on secondary storage): a `.part` file under
        /// `snapshots/`, which the management server renames once checked.
        pub target: NfsFile,
        #[serde(default)]
        pub max_pause_secs: Option<u64>,
    }

    impl DiskBackup {
        pub fn validate(&self) -> Result<(), String> {
            self.source.validate("source")?;
            if let Some(b) = &self.backing {
                b.validate("backing")?;
            }
            self.target.validate("target")?;
            let p = &self.target.path;
            if !(p.starts_with("snapshots/") && p.ends_with(".part")) || p.contains("..") {
                return Err(format!(
                    "target: '{p}' is not a snapshot's partial file (snapshots/…/….part)"
                ));
            }
            if self.max_pause_secs.is_some_and(|s| s == 0 || s > 86_400) {
                return Err("max_pause_secs must be 1 to 86400".into());
            }
            Ok(())
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DiskBackedUp {
        /// Whether the VM was running (and so was paused for the copy).
        pub was_running: bool,
        /// How long the VM was paused, in milliseconds (0 if it was not running).
        pub paused_ms: u64,
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn f(path: &str) -> NfsFile {
            NfsFile {
                server: "10.0.0.5".into(),
                export: "/export/secondary".into(),
                path: path.into(),
            }
        }

        #[test]
        fn targets_are_snapshot_part_files_only() {
            let mut b = DiskBackup {
                source: f("a.qcow2"),
                backing: None,
                target: f("snapshots/x/y.qcow2.part"),
                max_pause_secs: None,
            };
            b.validate().unwrap();
            for bad in [
                "template/x.qcow2",
                "snapshots/x.qcow2",
                "snapshots/../a.part",
            ] {
                b.target = f(bad);
                assert!(b.validate().is_err(), "{bad}");
            }
            b.target = f("snapshots/x/y.qcow2.part");
            b.max_pause_secs = Some(0);
            assert!(b.validate().is_err());
        }
    }
}

#[cfg(test)]
mod security_group_tests {
    use super::*;

    #[test]
    fn protocols_are_words_or_numbers_on_the_wire() {
        for (p, text) in [
            (FilterProtocol::Tcp, "\"tcp\""),
            (FilterProtocol::All, "\"all\""),
            (FilterProtocol::Number(47), "47"),
        ] {
            assert_eq!(serde_json::to_string(&p).unwrap(), text);
            assert_eq!(serde_json::from_str::<FilterProtocol>(text).unwrap(), p);
        }
        assert!(serde_json::from_str::<FilterProtocol>("\"gre\"").is_err());
        assert!(serde_json::from_str::<FilterProtocol>("300").is_err());
    }

    #[test]
    fn taps_are_named_by_mac() {
        assert_eq!(
            tap_name("52:54:00:AB:cd:01").as_deref(),
            Some("vm525400abcd01")
        );
        assert_eq!(tap_name("nonsense"), None);
    }

    #[test]
    fn rule_sets_are_bounded_and_consistent() {
        let rule = |peer| FilterRule {
            protocol: FilterProtocol::Tcp,
            ports: Some((22, 22)),
            icmp: None,
            peer,
        };
        let vm = VmFilter {
            vm: Uuid::nil(),
            mac: "52:54:00:00:00:01".into(),
            ips: vec!["10.0.0.5".parse().unwrap()],
            unfiltered: false,
            ingress: vec![rule(FilterPeer::Cidr("10.0.0.0".parse().unwrap(), 8))],
            egress: vec![],
        };
        let mut set = HostRuleSet {
            generation: 1,
            vms: vec![vm.clone()],
            groups: vec![],
        };
        assert_eq!(set.validate(), Ok(()));
        set.vms[0]
            .ingress
            .push(rule(FilterPeer::Cidr("10.0.0.1".parse().unwrap(), 8)));
        assert!(set
            .validate()
            .unwrap_err()
            .contains("not a network address"));
        set.vms[0].ingress[1] = rule(FilterPeer::Group(Uuid::nil()));
        assert!(set.validate().unwrap_err().contains("not listed"));
        set.groups.push(GroupMembers {
            group: Uuid::nil(),
            ips: vec![],
        });
        assert_eq!(set.validate(), Ok(()));
        set.vms.push(vm);
        assert!(set.validate().unwrap_err().contains("twice"));
        // Another NIC with the first one's address.
        set.vms[1].mac = "52:54:00:00:00:02".into();
        assert!(set.validate().unwrap_err().contains("belongs to both"));
        set.vms[1].ips = vec!["10.0.0.6".parse().unwrap(), "10.0.0.6".parse().unwrap()];
        assert_eq!(set.validate(), Ok(()), "one NIC may list an address twice");
        set.vms[1].ips = vec!["0.0.0.0".parse().unwrap()];
        assert!(set.validate().unwrap_err().contains("not a host address"));
    }
}
