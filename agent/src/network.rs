//! Guest networks on this host: a Linux bridge per guest network holding an address of
//! the guest subnet, and a dnsmasq per bridge that answers DHCP for exactly the static
//! leases the management server allocated (no dynamic range, no DNS: `--port=0`).
//!
//! Everything is idempotent ("make it so"): applying the same network twice changes
//! nothing; a changed lease list is written to dnsmasq's hosts file and dnsmasq re-reads it
//! on SIGHUP; other changes restart it. Each bridge has its own directory under
//! `layout::NETWORKS` (`hosts`, `leases`, `dnsmasq.pid`, `dnsmasq.log`, what it runs with,
//! and what the agent added to the bridge), so an agent restart finds its dnsmasqs again
//! (they keep serving meanwhile: guests renew without the agent). dnsmasq is stopped by
//! the PID in its pid file, and only if that process is the one started with that file.
//!
//! The commands are blocking: callers run them off the async runtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stratus_api::agent::{validate_bridge, GuestNetwork, NetworkStatus, StaticLease};

use crate::error::{Error, Result};

/// What the agent did to a bridge, so teardown undoes exactly that.
#[derive(Debug, Default, Serialize, Deserialize)]
struct BridgeState {
    /// The agent created the bridge (else an admin did: it is never deleted).
    created: bool,
    /// The address the agent put on it (`A.B.C.D/P`).
    address: Option<String>,
}

/// The guest networks of this host.
pub struct Networks {
    dir: PathBuf,
    dnsmasq: PathBuf,
    lock: Mutex<()>,
}

fn net_err(what: impl std::fmt::Display) -> Error {
    Error::Network(what.to_string())
}

/// Runs a command; its stderr becomes the error.
fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| net_err(format!("running {cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(net_err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// dnsmasq's lease database (`EXPIRY MAC IP HOSTNAME CLIENT-ID` per line) without the
/// leases of guests that are gone: `None` when nothing is stale. Why: dnsmasq will not
/// hand a configured address to a new MAC while its database holds that address for the
/// old one ("not using configured address … because it is leased to …"), so a VM given
/// the address of an expunged one would get no DHCP answer for the lease's hour.
pub fn prune_lease_db(db: &str, leases: &[StaticLease]) -> Option<String> {
    let current = |mac: &str, ip: &str| {
        leases
            .iter()
            .any(|l| l.mac.eq_ignore_ascii_case(mac) && l.ip.to_string() == ip)
    };
    let mut out = String::new();
    let mut stale = false;
    for line in db.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 3 && !w[2].contains(':') && !current(w[1], w[2]) {
            stale = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    stale.then_some(out)
}

/// dnsmasq's `--dhcp-hostsfile`: `MAC,IP[,HOSTNAME]` per line.
pub fn hosts_file(leases: &[StaticLease]) -> String {
    let mut out = String::new();
    for l in leases {
        out.push_str(&l.mac.to_ascii_lowercase());
        out.push(',');
        out.push_str(&l.ip.to_string());
        if let Some(h) = &l.hostname {
            out.push(',');
            out.push_str(h);
        }
        out.push('\n');
    }
    out
}

/// dnsmasq's command line for `net`, with its files in `dir`.
pub fn dnsmasq_args(net: &GuestNetwork, dir: &Path) -> Vec<String> {
    let f = |name: &str| dir.join(name).display().to_string();
    let mut a = vec![
        // Nothing from /etc/dnsmasq.conf, /etc/resolv.conf or /etc/hosts.
        "--conf-file=/dev/null".to_string(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        // DHCP only, on this bridge only (several dnsmasqs, one per bridge).
        "--port=0".into(),
        "--bind-interfaces".into(),
        format!("--interface={}", net.bridge),
        "--except-interface=lo".into(),
        format!(
            "--dhcp-range={},static,{},1h",
            net.network_address(),
            net.netmask()
        ),
        format!("--dhcp-option=option:router,{}", net.gateway),
    ];
    if !net.dns.is_empty() {
        let dns: Vec<String> = net.dns.iter().map(|d| d.to_string()).collect();
        a.push(format!("--dhcp-option=option:dns-server,{}", dns.join(",")));
    }
    a.extend([
        format!("--dhcp-hostsfile={}", f("hosts")),
        format!("--dhcp-leasefile={}", f("leases")),
        format!("--pid-file={}", f("dnsmasq.pid")),
        format!("--log-facility={}", f("dnsmasq.log")),
        "--log-dhcp".into(),
    ]);
    a
}

/// Writes `path` whole or not at all (readable by dnsmasq after it dropped root).
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("new");
    let mut f =
        std::fs::File::create(&tmp).map_err(|e| net_err(format!("{}: {e}", tmp.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.set_permissions(std::fs::Permissions::from_mode(0o644)))
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| net_err(format!("{}: {e}", path.display())))
}

#[allow(unsafe_code)]
pub(crate) fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) with a plain pid and signal number touches no memory of ours.
    unsafe { libc::kill(pid, sig) == 0 }
}

pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

impl Networks {
    /// Guest networks keeping their files under `dir` (`layout::NETWORKS` on a host).
    pub fn new(dir: impl Into<PathBuf>) -> Networks {
        Networks {
            dir: dir.into(),
            dnsmasq: PathBuf::from("dnsmasq"),
            lock: Mutex::new(()),
        }
    }

    fn bridge_dir(&self, bridge: &str) -> PathBuf {
        self.dir.join(bridge)
    }

    /// The dnsmasq serving `bridge`, if it runs: the pid file's process, started with
    /// that very pid file (a stale file may name someone else's process).
    pub fn dnsmasq_pid(&self, bridge: &str) -> Option<i32> {
        let pid_file = self.bridge_dir(bridge).join("dnsmasq.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let want = format!("--pid-file={}", pid_file.display());
        let ours = cmdline.split(|b| *b == 0).any(|arg| arg == want.as_bytes());
        (ours && alive(pid)).then_some(pid)
    }

    fn stop_dnsmasq(&self, bridge: &str) -> Result<()> {
        let Some(pid) = self.dnsmasq_pid(bridge) else {
            return Ok(());
        };
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            signal(pid, libc::SIGKILL);
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(self.bridge_dir(bridge).join("dnsmasq.pid"));
        tracing::info!(bridge, pid, "dnsmasq stopped");
        Ok(())
    }

    fn start_dnsmasq(&self, bridge: &str, args: &[String]) -> Result<i32> {
        let dir = self.bridge_dir(bridge);
        // dnsmasq daemonises once its sockets are open; the first process reports startup
        // errors on stderr and in its exit status.
        let err_path = dir.join("dnsmasq.start.err");
        let err = std::fs::File::create(&err_path)
            .map_err(|e| net_err(format!("{}: {e}", err_path.display())))?;
        let status = Command::new(&self.dnsmasq)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .status()
            .map_err(|e| net_err(format!("starting dnsmasq (is dnsmasq installed?): {e}")))?;
        if !status.success() {
            let text = std::fs::read_to_string(&err_path).unwrap_or_default();
            return Err(net_err(format!(
                "dnsmasq for {bridge} did not start ({status}): {}",
                text.trim()
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(pid) = self.dnsmasq_pid(bridge) {
                tracing::info!(bridge, pid, "dnsmasq started");
                return Ok(pid);
            }
            if Instant::now() > deadline {
                return Err(net_err(format!(
                    "dnsmasq for {bridge} started but wrote no pid file"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn read_state(&self, bridge: &str) -> BridgeState {
        std::fs::read_to_string(self.bridge_dir(bridge).join("bridge.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Makes the network so: the bridge (created if missing) up with its address, and a
    /// dnsmasq serving exactly `net.leases` (stopped when there are none).
    pub fn apply(&self, net: &GuestNetwork) -> Result<NetworkStatus> {
        net.validate().map_err(Error::Invalid)?;
        let _guard = self.lock.lock().map_err(|_| net_err("lock poisoned"))?;
        let br = net.bridge.as_str();
        let dir = self.bridge_dir(br);
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(&dir)
                .map_err(|e| net_err(format!("{}: {e}", dir.display())))?;
            // dnsmasq re-reads its hosts file after dropping root.
            for d in [&self.dir, &dir] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| net_err(format!("{}: {e}", d.display())))?;
            }
        }

        let mut state = self.read_state(br);
        let sys = Path::new("/sys/class/net").join(br);
        if !sys.exists() {
            run(Command::new("ip").args(["link", "add", "name", br, "type", "bridge"]))?;
            state.created = true;
            tracing::info!(bridge = br, "bridge created");
        } else if !sys.join("bridge").exists() {
            return Err(net_err(format!(
                "{br} exists on this host and is not a bridge"
            )));
        }
        let address = format!("{}/{}", net.bridge_address(), net.prefix_len);
        if let Some(old) = state.address.as_deref().filter(|a| *a != address) {
            // Ours, from an earlier definition of this network.
            let _ = run(Command::new("ip").args(["addr", "del", old, "dev", br]));
        }
        run(Command::new("ip").args(["addr", "replace", &address, "dev", br]))?;
        // The gateway's MAC, the same on every host (a migrated guest's ARP cache stays
        // right); only on a bridge the agent made, never an admin's uplink bridge.
        if let Some(mac) = net.gateway_mac().filter(|_| state.created) {
            let now = std::fs::read_to_string(sys.join("address")).unwrap_or_default();
            if now.trim() != mac {
                run(Command::new("ip").args(["link", "set", br, "address", &mac]))?;
            }
        }
        run(Command::new("ip").args(["link", "set", br, "up"]))?;
        state.address = Some(address);
        write_atomic(
            &dir.join("bridge.json"),
            &serde_json::to_string(&state).unwrap_or_default(),
        )?;

        let hosts_path = dir.join("hosts");
        let hosts = hosts_file(&net.leases);
        let hosts_changed = std::fs::read_to_string(&hosts_path).ok().as_deref() != Some(&hosts);
        if hosts_changed {
            write_atomic(&hosts_path, &hosts)?;
        }
        if net.leases.is_empty() {
            self.stop_dnsmasq(br)?;
            return Ok(NetworkStatus {
                bridge: br.into(),
                dnsmasq_pid: None,
                leases: 0,
            });
        }
        let args = dnsmasq_args(net, &dir);
        let args_text = args.join("\n");
        let args_path = dir.join("dnsmasq.args");
        let same_args = std::fs::read_to_string(&args_path).ok().as_deref() == Some(&args_text);
        // Leases of guests that are gone leave dnsmasq's database; it reads the file only
        // when it starts, so a running one is restarted.
        let db_path = dir.join("leases");
        let pruned = std::fs::read_to_string(&db_path)
            .ok()
            .and_then(|db| prune_lease_db(&db, &net.leases));
        if pruned.is_some() {
            self.stop_dnsmasq(br)?;
        }
        if let Some(db) = &pruned {
            write_atomic(&db_path, db)?;
        }
        let pid = match self.dnsmasq_pid(br) {
            Some(pid) if same_args => {
                if hosts_changed {
                    // Re-reads the hosts file.
                    signal(pid, libc::SIGHUP);
                    tracing::info!(
                        bridge = br,
                        pid,
                        leases = net.leases.len(),
                        "dnsmasq reloads its leases"
                    );
                }
                pid
            }
            _ => {
                self.stop_dnsmasq(br)?;
                write_atomic(&args_path, &args_text)?;
                self.start_dnsmasq(br, &args)?
            }
        };
        Ok(NetworkStatus {
            bridge: br.into(),
            dnsmasq_pid: Some(pid as u32),
            leases: net.leases.len(),
        })
    }

    /// Tears the network down: stops its dnsmasq, removes the address the agent added
    /// and the bridge if the agent created it and nothing is attached to it any more,
    /// and forgets its files. False when the agent knew no such network.
    pub fn remove(&self, bridge: &str) -> Result<bool> {
        validate_bridge(bridge).map_err(Error::Invalid)?;
        let _guard = self.lock.lock().map_err(|_| net_err("lock poisoned"))?;
        let dir = self.bridge_dir(bridge);
        if !dir.exists() {
            return Ok(false);
        }
        self.stop_dnsmasq(bridge)?;
        let state = self.read_state(bridge);
        let sys = Path::new("/sys/class/net").join(bridge);
        if sys.exists() {
            let ports = std::fs::read_dir(sys.join("brif"))
                .map(|d| d.count())
                .unwrap_or(0);
            if state.created && ports == 0 {
                run(Command::new("ip").args(["link", "del", bridge]))?;
                tracing::info!(bridge, "bridge removed");
            } else if let Some(a) = &state.address {
                let _ = run(Command::new("ip").args(["addr", "del", a, "dev", bridge]));
            }
        }
        std::fs::remove_dir_all(&dir).map_err(|e| net_err(format!("{}: {e}", dir.display())))?;
        Ok(true)
    }

    /// The static leases `bridge` serves (its hosts file): (MAC lower case, address).
    pub fn leases(&self, bridge: &str) -> Vec<(String, std::net::Ipv4Addr)> {
        if validate_bridge(bridge).is_err() {
            return vec![];
        }
        std::fs::read_to_string(self.bridge_dir(bridge).join("hosts"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split(',');
                let mac = f.next()?.trim().to_ascii_lowercase();
                let ip = f.next()?.trim().parse().ok()?;
                Some((mac, ip))
            })
            .collect()
    }

    /// The networks the agent set up, with the bridge address it gave each.
    pub fn known(&self) -> Vec<(String, std::net::Ipv4Addr)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut out = vec![];
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if validate_bridge(&name).is_err() {
                continue;
            }
            let address = self
                .read_state(&name)
                .address
                .and_then(|a| a.split('/').next().and_then(|ip| ip.parse().ok()));
            if let Some(a) = address {
                out.push((name, a));
            }
        }
        out.sort();
        out
    }

    #[cfg(test)]
    pub(crate) fn write_leases_for_test(&self, bridge: &str, hosts: &str) {
        let dir = self.bridge_dir(bridge);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hosts"), hosts).unwrap();
    }

    /// Tears down every network the agent knows (when its host leaves the cloud).
    pub fn remove_all(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Err(err) = self.remove(&name) {
                tracing::warn!(bridge = %name, error = %err, "removing a guest network");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> GuestNetwork {
        serde_json::from_value(serde_json::json!({
            "bridge": "cloudbr0", "gateway": "192.168.100.1", "prefix_len": 24,
            "dns": ["192.0.2.53", "192.0.2.54"],
            "leases": [
                {"mac": "52:54:00:0A:E7:32", "ip": "192.168.100.50", "hostname": "vm1"},
                {"mac": "52:54:00:0a:e7:33", "ip": "192.168.100.51"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn stale_leases_leave_the_lease_database() {
        let db = "1764800000 02:3a:da:8b:ed:44 192.168.100.10 vm-1 01:02:3a:da:8b:ed:44\n\
                  duid 00:01:00:01:aa\n\
                  1764800000 52:54:00:12:34:56 192.168.100.11 vm-2 *\n";
        let n = net();
        let pruned = prune_lease_db(db, &n.leases).expect("the first lease is stale");
        assert!(!pruned.contains("02:3a:da:8b:ed:44"), "{pruned}");
        assert!(pruned.contains("duid 00:01:00:01:aa"), "{pruned}");
        let current = hosts_file(&n.leases);
        let (mac, ip) = current.lines().next().unwrap().split_once(',').unwrap();
        let ip = ip.split(',').next().unwrap();
        let live = format!("1764800000 {mac} {ip} vm *\n");
        assert_eq!(prune_lease_db(&live, &n.leases), None, "nothing stale");
    }

    #[test]
    fn hosts_file_has_one_line_per_lease() {
        assert_eq!(
            hosts_file(&net().leases),
            "52:54:00:0a:e7:32,192.168.100.50,vm1\n52:54:00:0a:e7:33,192.168.100.51\n"
        );
        assert_eq!(hosts_file(&[]), "");
    }

    #[test]
    fn dnsmasq_serves_static_leases_only_on_its_bridge() {
        let args = dnsmasq_args(&net(), Path::new("/n/cloudbr0"));
        for want in [
            "--port=0",
            "--bind-interfaces",
            "--interface=cloudbr0",
            "--dhcp-range=192.168.100.0,static,255.255.255.0,1h",
            "--dhcp-option=option:router,192.168.100.1",
            "--dhcp-option=option:dns-server,192.0.2.53,192.0.2.54",
            "--dhcp-hostsfile=/n/cloudbr0/hosts",
            "--dhcp-leasefile=/n/cloudbr0/leases",
            "--pid-file=/n/cloudbr0/dnsmasq.pid",
            "--conf-file=/dev/null",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} missing: {args:?}");
        }
        assert!(!args.iter().any(|a| a.starts_with("--dhcp-host=")));
    }

    #[test]
    fn invalid_networks_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let n = Networks::new(dir.path().join("networks"));
        let mut bad = net();
        bad.prefix_len = 40;
        assert!(matches!(n.apply(&bad).unwrap_err(), Error::Invalid(_)));
        assert!(!dir.path().join("networks").exists());
        assert!(matches!(
            n.remove("no such/br").unwrap_err(),
            Error::Invalid(_)
        ));
        assert!(!n.remove("cloudbr9").unwrap(), "an unknown network");
        assert_eq!(n.dnsmasq_pid("cloudbr0"), None);
    }
}
