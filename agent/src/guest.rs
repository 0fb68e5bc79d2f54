//! What a guest is told about itself, as CloudStack tells it: the config drive (its
//! ConfigDrive provider) and the data the metadata and password services answer (its
//! virtual router).
//!
//! **The drive** is an ISO 9660 image ([`crate::iso9660`]) labelled `config-2`, attached
//! as the VM's second CD-ROM drive, in the layout cloud-init's ConfigDrive data source
//! reads (`openstack/latest/…`; cloud-init picks `latest` when no dated version is on the
//! drive, so none is written, as CloudStack writes none) plus CloudStack's own
//! `cloudstack/` folder that CloudStack's guest scripts read:
//!
//! ```text
//! openstack/latest/meta_data.json     uuid, hostname, name, availability_zone, public_keys,
//!                                     keys, launch_index, meta, hypervisor-host-name
//! openstack/latest/user_data          the decoded user data (only when there is some)
//! openstack/latest/vendor_data.json   {}
//! openstack/latest/network_data.json  links by MAC, ipv4_dhcp networks, DNS services
//! cloudstack/metadata/KEY.txt         one per non-empty metadata key (see `metadata`)
//! cloudstack/userdata/user_data.txt   the decoded user data (only when there is some)
//! cloudstack/password/vm_password.txt the password (only while one is set and the guest
//!                                     has not acknowledged it)
//! ```
//!
//! Why `ipv4_dhcp` and not CloudStack's static `ipv4` networks: the host's dnsmasq serves
//! each NIC exactly the address, gateway and DNS the management server allocated, so
//! DHCP gives the same result on any guest, and it keeps working where static routes do
//! not: cloud-init 22.4 renders a static network's `routes` for Debian's ifupdown as
//! `post-up route add … || true`, and `route` (net-tools) is not on Debian 12 cloud
//! images, so such a guest silently has no default route. DHCP also leaves the DHCP
//! server's address in the guest's leases, which is how cloud-init's CloudStack data
//! source finds the metadata service.
//!
//! **Where it lives**: `<guests dir>/<vm id>/` (default `layout::GUESTS`) holds
//! `guest.json` (the data, the NICs' MACs and the acknowledged password's hash; root
//! only: it holds the password and user data) and `config-<hash>.iso`, named by its
//! content so a changed drive is a new file (a live media change to the same path would
//! be no change for libvirt) and the same data is the same file (PUT twice changes
//! nothing). The directories are `0711` (QEMU can reach a drive it is given, nobody can
//! list them); the drive is `0640` root:`<QEMU's group>` (`group` in
//! `/etc/libvirt/qemu.conf`, Debian's default `libvirt-qemu`), which QEMU reads as
//! `libvirt-qemu` whether libvirt relabels files (`dynamic_ownership = 1`, Debian's
//! default) or not (the test bed); `0644` where that group does not exist.
//!
//! The store is kept in memory too, keyed by VM and by MAC, for the metadata and password
//! services ([`crate::metadata`]); it is loaded from the files at start, so an agent
//! restart answers as before, acknowledged passwords included.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stratus_api::agent::{normalize_mac, GuestData, USER_DATA_MAX_BYTES};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The volume label cloud-init looks for.
pub const DRIVE_LABEL: &str = "config-2";

/// The decoded user data, if any (refused when it is not base64 or too long).
pub fn user_data(g: &GuestData) -> Result<Option<Vec<u8>>> {
    let Some(b64) = g.user_data_base64.as_deref() else {
        return Ok(None);
    };
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if clean.is_empty() {
        return Ok(None);
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(clean.as_bytes())
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(clean.trim_end_matches('='))
        })
        .map_err(|e| Error::Invalid(format!("user data is not base64: {e}")))?;
    if bytes.len() > USER_DATA_MAX_BYTES {
        return Err(Error::Invalid(format!(
            "user data is over {USER_DATA_MAX_BYTES} bytes (decoded)"
        )));
    }
    Ok(Some(bytes))
}

/// The address of the VM's default NIC (else its first), as `local-ipv4`.
fn local_ipv4(g: &GuestData) -> String {
    g.nics
        .iter()
        .find(|n| n.is_default)
        .or(g.nics.first())
        .map(|n| n.ip.to_string())
        .unwrap_or_default()
}

/// CloudStack's metadata for the VM (its `NetworkModel.generateVmData` of a Basic zone):
/// the virtual router's `/latest/meta-data/KEY` and the drive's
/// `cloudstack/metadata/KEY.txt`, in CloudStack's order.
pub fn metadata(id: Uuid, g: &GuestData, host_name: &str) -> Vec<(&'static str, String)> {
    let ip = local_ipv4(g);
    let keys: Vec<&str> = g.public_keys.iter().map(|k| k.public_key.trim()).collect();
    vec![
        ("service-offering", g.service_offering.clone()),
        ("availability-zone", g.zone_name.clone()),
        ("local-hostname", g.hostname.clone()),
        ("local-ipv4", ip.clone()),
        // A Basic zone's guests are reached on their own address.
        ("public-ipv4", ip),
        ("public-hostname", g.hostname.clone()),
        ("instance-id", id.to_string()),
        ("vm-id", id.to_string()),
        ("public-keys", keys.join("\n")),
        (
            "cloud-identifier",
            g.cloud_identifier
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(|c| format!("CloudStack-{{{c}}}"))
                .unwrap_or_default(),
        ),
        ("hypervisor-host-name", host_name.to_string()),
    ]
}

/// `openstack/latest/meta_data.json`.
pub fn meta_data_json(id: Uuid, g: &GuestData, host_name: &str) -> serde_json::Value {
    let public_keys: serde_json::Map<String, serde_json::Value> = g
        .public_keys
        .iter()
        .map(|k| (k.name.clone(), k.public_key.trim().into()))
        .collect();
    let keys: Vec<serde_json::Value> = g
        .public_keys
        .iter()
        .map(|k| serde_json::json!({"type": "ssh", "name": k.name, "data": k.public_key.trim()}))
        .collect();
    serde_json::json!({
        "uuid": id,
        "hostname": g.hostname,
        "name": g.hostname,
        "availability_zone": g.zone_name,
        "public_keys": public_keys,
        "keys": keys,
        "launch_index": 0,
        "meta": {},
        "hypervisor-host-name": host_name,
    })
}

/// `openstack/latest/network_data.json`: each NIC a link found by its MAC (no name: the
/// guest names its interfaces), configured by DHCP (see the module's documentation), and
/// the DNS servers.
pub fn network_data_json(g: &GuestData) -> serde_json::Value {
    let mut links = vec![];
    let mut networks = vec![];
    let mut services: Vec<serde_json::Value> = vec![];
    for (i, n) in g.nics.iter().enumerate() {
        let id = format!("eth{i}");
        links.push(serde_json::json!({
            "id": id,
            "ethernet_mac_address": n.mac.to_ascii_lowercase(),
            "mtu": 1500,
            "type": "phy",
        }));
        networks.push(serde_json::json!({
            "id": id,
            "link": id,
            "network_id": format!("network{i}"),
            "type": "ipv4_dhcp",
        }));
        for d in &n.dns {
            let s = serde_json::json!({"type": "dns", "address": d.to_string()});
            if !services.contains(&s) {
                services.push(s);
            }
        }
    }
    serde_json::json!({"links": links, "networks": networks, "services": services})
}

/// Every file of the drive: (path, contents). `password`: the one to put on it.
pub fn drive_files(
    id: Uuid,
    g: &GuestData,
    host_name: &str,
    password: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let ud = user_data(g)?;
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    let mut files = vec![
        (
            "openstack/latest/meta_data.json".to_string(),
            json(meta_data_json(id, g, host_name)),
        ),
        ("openstack/latest/vendor_data.json".into(), b"{}".to_vec()),
        (
            "openstack/latest/network_data.json".into(),
            json(network_data_json(g)),
        ),
    ];
    if let Some(ud) = &ud {
        files.push(("openstack/latest/user_data".into(), ud.clone()));
        files.push(("cloudstack/userdata/user_data.txt".into(), ud.clone()));
    }
    for (key, value) in metadata(id, g, host_name) {
        if !value.is_empty() {
            files.push((format!("cloudstack/metadata/{key}.txt"), value.into_bytes()));
        }
    }
    if let Some(p) = password {
        files.push((
            "cloudstack/password/vm_password.txt".into(),
            p.as_bytes().to_vec(),
        ));
    }
    Ok(files)
}

/// The drive image of these files.
pub fn drive_image(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    crate::iso9660::build(DRIVE_LABEL, &refs).map_err(Error::Invalid)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the agent keeps per VM (`guest.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    guest: GuestData,
    /// The VM's NICs' MACs (lower case): how the services find the VM of a lease.
    macs: Vec<String>,
    /// SHA-256 (hex) of the password the guest acknowledged (`saved_password`).
    #[serde(default)]
    password_acked: Option<String>,
    /// The current drive's file name.
    #[serde(default)]
    drive: Option<String>,
}

impl Record {
    /// The password still to be handed out.
    fn pending_password(&self) -> Option<&str> {
        let p = self.guest.password.as_deref()?;
        (self.password_acked.as_deref() != Some(&sha256_hex(p.as_bytes()))).then_some(p)
    }
}

/// What the metadata service answers for one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestView {
    pub id: Uuid,
    pub metadata: Vec<(&'static str, String)>,
    pub user_data: Option<Vec<u8>>,
}

/// The QEMU process's group: `group` in libvirt's qemu.conf (default `libvirt-qemu`),
/// resolved through `/etc/group`.
pub fn qemu_gid(qemu_conf: &str, etc_group: &str) -> Option<u32> {
    let name = qemu_conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "group")
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "libvirt-qemu".into());
    if let Some(n) = name.strip_prefix('+') {
        return n.parse().ok();
    }
    etc_group.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name.as_str()))
            .then(|| f.nth(1).and_then(|g| g.parse().ok()))
            .flatten()
    })
}

/// The guest data of this host's VMs, on disk and in memory.
pub struct GuestStore {
    dir: PathBuf,
    host_name: String,
    qemu_gid: Option<u32>,
    records: Mutex<HashMap<Uuid, Record>>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Host(format!("{}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, gid: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|_| f.write_all(bytes))
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err(&tmp, e))?;
    let mode = match gid {
        Some(g) if std::os::unix::fs::chown(&tmp, None, Some(g)).is_ok() => mode,
        // Without the group, QEMU reads it as anybody.
        Some(_) | None if mode & 0o040 != 0 => mode | 0o004,
        _ => mode,
    };
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| io_err(path, e))
}

fn mkdir(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).map_err(|e| io_err(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o711))
        .map_err(|e| io_err(path, e))
}

impl GuestStore {
    /// The store under `dir`, with what earlier runs left there. `host_name` is the
    /// metadata's `hypervisor-host-name`.
    pub fn open(dir: impl Into<PathBuf>, host_name: &str) -> GuestStore {
        let dir = dir.into();
        let gid = qemu_gid(
            &std::fs::read_to_string("/etc/libvirt/qemu.conf").unwrap_or_default(),
            &std::fs::read_to_string("/etc/group").unwrap_or_default(),
        );
        let mut records = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let Ok(id) = Uuid::parse_str(&e.file_name().to_string_lossy()) else {
                    continue;
                };
                let path = e.path().join("guest.json");
                match std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<Record>(&b).map_err(|e| e.to_string()))
                {
                    Ok(r) => {
                        records.insert(id, r);
                    }
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "unreadable guest data: ignored")
                    }
                }
            }
        }
        GuestStore {
            dir,
            host_name: host_name.to_string(),
            qemu_gid: gid,
            records: Mutex::new(records),
        }
    }

    fn vm_dir(&self, id: Uuid) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, id: Uuid, r: &Record) -> Result<()> {
        let text = serde_json::to_vec(r).map_err(|e| Error::Host(format!("guest data: {e}")))?;
        write_file(&self.vm_dir(id).join("guest.json"), &text, 0o600, None)
    }

    /// Records the VM's guest data and writes its drive (unless that very drive is there);
    /// answers the drive's path. `macs`: the VM's NICs (with the guest data's own).
    /// Older drives stay until [`GuestStore::prune`] (a running VM may still read one).
    pub fn prepare(&self, id: Uuid, g: &GuestData, macs: &[String]) -> Result<PathBuf> {
        g.validate().map_err(Error::Invalid)?;
        let mut all = vec![];
        for m in macs.iter().chain(g.nics.iter().map(|n| &n.mac)) {
            let m = normalize_mac(m).map_err(Error::Invalid)?;
            if !all.contains(&m) {
                all.push(m);
            }
        }
        // Not under the lock: the services read the records meanwhile (commands on one VM
        // run one at a time, so nothing else prepares this VM now).
        let acked = self.lock().get(&id).and_then(|r| r.password_acked.clone());
        let mut r = Record {
            guest: g.clone(),
            macs: all,
            password_acked: acked,
            drive: None,
        };
        let files = drive_files(id, g, &self.host_name, r.pending_password())?;
        let image = drive_image(&files)?;
        let name = format!("config-{}.iso", &sha256_hex(&image)[..16]);
        let dir = self.vm_dir(id);
        mkdir(&self.dir)?;
        mkdir(&dir)?;
        let path = dir.join(&name);
        if !path.exists() {
            write_file(&path, &image, 0o640, self.qemu_gid)?;
            tracing::info!(vm = %id, drive = %path.display(), bytes = image.len(), "config drive written");
        }
        r.drive = Some(name);
        let mut records = self.lock();
        // A password saved while the drive was written stays saved.
        if let Some(now) = records.get(&id).and_then(|r| r.password_acked.clone()) {
            r.password_acked = Some(now);
        }
        self.save(id, &r)?;
        records.insert(id, r);
        Ok(path)
    }

    /// Records the VM's guest data for the services only, without a drive: a virtual
    /// router's store of the VMs of its network ([`crate::metadata::RouterServices`]).
    /// Data without a password keeps a password not yet saved: it is served until the
    /// guest says `saved_password`, as CloudStack's router keeps it (the management
    /// server sends a password once).
    pub fn record(&self, id: Uuid, g: &GuestData) -> Result<()> {
        g.validate().map_err(Error::Invalid)?;
        let mut macs = vec![];
        for n in &g.nics {
            let m = normalize_mac(&n.mac).map_err(Error::Invalid)?;
            if !macs.contains(&m) {
                macs.push(m);
            }
        }
        let mut records = self.lock();
        let old = records.get(&id);
        let mut guest = g.clone();
        if guest.password.is_none() {
            guest.password = old.and_then(|r| r.pending_password()).map(String::from);
        }
        let r = Record {
            guest,
            macs,
            password_acked: old.and_then(|r| r.password_acked.clone()),
            drive: None,
        };
        mkdir(&self.dir)?;
        mkdir(&self.vm_dir(id))?;
        self.save(id, &r)?;
        records.insert(id, r);
        Ok(())
    }

    /// The VMs the store holds.
    pub fn ids(&self) -> Vec<Uuid> {
        let mut v: Vec<Uuid> = self.lock().keys().copied().collect();
        v.sort();
        v
    }

    /// Forgets every VM none of whose MACs is in `macs` (lower case); answers how many.
    pub fn retain_macs(&self, macs: &[String]) -> usize {
        let gone: Vec<Uuid> = self
            .lock()
            .iter()
            .filter(|(_, r)| !r.macs.iter().any(|m| macs.contains(m)))
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            if let Err(e) = self.remove(*id) {
                tracing::warn!(vm = %id, error = %e, "forgetting a VM's guest data");
            }
        }
        gone.len()
    }

    /// Removes the VM's drives other than its current one.
    pub fn prune(&self, id: Uuid) {
        let current = self.lock().get(&id).and_then(|r| r.drive.clone());
        let Ok(entries) = std::fs::read_dir(self.vm_dir(id)) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("config-") && Some(&name) != current.as_ref() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Forgets the VM: its data and drives go.
    pub fn remove(&self, id: Uuid) -> Result<bool> {
        let existed = self.lock().remove(&id).is_some();
        let dir = self.vm_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            return Ok(true);
        }
        Ok(existed)
    }

    /// The MACs the VM was last known with.
    pub fn macs(&self, id: Uuid) -> Vec<String> {
        self.lock()
            .get(&id)
            .map(|r| r.macs.clone())
            .unwrap_or_default()
    }

    /// The VM's current drive, if it has guest data.
    pub fn drive(&self, id: Uuid) -> Option<PathBuf> {
        let name = self.lock().get(&id)?.drive.clone()?;
        Some(self.vm_dir(id).join(name))
    }

    fn find_mac<'a>(records: &'a HashMap<Uuid, Record>, mac: &str) -> Option<(Uuid, &'a Record)> {
        let mac = mac.to_ascii_lowercase();
        records
            .iter()
            .find(|(_, r)| r.macs.contains(&mac))
            .map(|(id, r)| (*id, r))
    }

    /// What the metadata service answers the VM with this MAC.
    pub fn view_by_mac(&self, mac: &str) -> Option<GuestView> {
        let records = self.lock();
        let (id, r) = Self::find_mac(&records, mac)?;
        Some(GuestView {
            id,
            metadata: metadata(id, &r.guest, &self.host_name),
            // Checked when stored.
            user_data: user_data(&r.guest).ok().flatten(),
        })
    }

    /// The password the VM with this MAC has not yet acknowledged.
    pub fn pending_password(&self, mac: &str) -> Option<String> {
        let records = self.lock();
        let (_, r) = Self::find_mac(&records, mac)?;
        r.pending_password().map(String::from)
    }

    /// The VM with this MAC saved its password: it is not handed out again (kept across
    /// restarts). False when no such VM.
    pub fn acknowledge_password(&self, mac: &str) -> Result<bool> {
        let mut records = self.lock();
        let Some((id, _)) = Self::find_mac(&records, mac) else {
            return Ok(false);
        };
        let Some(r) = records.get_mut(&id) else {
            return Ok(false);
        };
        if let Some(p) = r.pending_password().map(|p| sha256_hex(p.as_bytes())) {
            r.password_acked = Some(p);
            let r = r.clone();
            self.save(id, &r)?;
            tracing::info!(vm = %id, "the guest saved its password");
        }
        Ok(true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stratus_api::agent::{GuestKey, GuestNic};

    pub(crate) fn guest() -> GuestData {
        GuestData {
            hostname: "vm-1".into(),
            display_name: "My VM".into(),
            zone_name: "zone1".into(),
            service_offering: "Small Instance".into(),
            public_keys: vec![
                GuestKey {
                    name: "mykey".into(),
                    public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host".into(),
                },
                GuestKey {
                    name: "other".into(),
                    public_key: "ssh-rsa AAAAB3NzaC1yc2E other@host\n".replace('\n', ""),
                },
            ],
            user_data_base64: Some(
                "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFtbdG91Y2gsIC90bXAveF1dCg==".into(),
            ),
            password: Some("s3cret-Pw".into()),
            nics: vec![GuestNic {
                mac: "52:54:00:0A:F0:01".into(),
                ip: "192.168.240.50".parse().unwrap(),
                prefix_len: 24,
                gateway: "192.168.240.1".parse().unwrap(),
                dns: vec!["192.0.2.53".parse().unwrap()],
                is_default: true,
            }],
            cloud_identifier: Some("abc-123".into()),
        }
    }

    const ID: &str = "6f1b3a4e-0000-4000-8000-000000000007";

    #[test]
    fn user_data_is_decoded_and_bounded() {
        let g = guest();
        assert_eq!(
            user_data(&g).unwrap().unwrap(),
            b"#cloud-config\nruncmd: [[touch, /tmp/x]]\n"
        );
        let mut bad = g.clone();
        bad.user_data_base64 = Some("not base64!".into());
        assert!(matches!(user_data(&bad).unwrap_err(), Error::Invalid(_)));
        bad.user_data_base64 = Some("  ".into());
        assert_eq!(user_data(&bad).unwrap(), None);
        // Unpadded and wrapped base64 (as some clients send) is fine.
        bad.user_data_base64 = Some("aGVs\nbG8".into());
        assert_eq!(user_data(&bad).unwrap().unwrap(), b"hello");
        let big =
            base64::engine::general_purpose::STANDARD.encode(vec![0u8; USER_DATA_MAX_BYTES + 3]);
        bad.user_data_base64 = Some(big);
        assert!(user_data(&bad).is_err());
    }

    #[test]
    fn metadata_has_cloudstacks_keys() {
        let id: Uuid = ID.parse().unwrap();
        let m: HashMap<_, _> = metadata(id, &guest(), "kvm1").into_iter().collect();
        assert_eq!(m["service-offering"], "Small Instance");
        assert_eq!(m["availability-zone"], "zone1");
        assert_eq!(m["local-hostname"], "vm-1");
        assert_eq!(m["local-ipv4"], "192.168.240.50");
        assert_eq!(m["public-ipv4"], "192.168.240.50");
        assert_eq!(m["public-hostname"], "vm-1");
        assert_eq!(m["instance-id"], ID);
        assert_eq!(m["vm-id"], ID);
        assert_eq!(
            m["public-keys"],
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host\nssh-rsa AAAAB3NzaC1yc2E other@host"
        );
        assert_eq!(m["cloud-identifier"], "CloudStack-{abc-123}");
        assert_eq!(m["hypervisor-host-name"], "kvm1");
    }

    #[test]
    fn drive_layout() {
        let id: Uuid = ID.parse().unwrap();
        let g = guest();
        let files = drive_files(id, &g, "kvm1", Some("s3cret-Pw")).unwrap();
        let img = drive_image(&files).unwrap();
        let (label, back) = crate::iso9660::read(&img).unwrap();
        assert_eq!(label, "config-2");
        let get = |p: &str| {
            back.iter()
                .find(|(q, _)| q == p)
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| panic!("{p} missing"))
        };
        let md: serde_json::Value =
            serde_json::from_slice(&get("openstack/latest/meta_data.json")).unwrap();
        assert_eq!(md["uuid"], ID);
        assert_eq!(md["hostname"], "vm-1");
        assert_eq!(md["name"], "vm-1");
        assert_eq!(md["availability_zone"], "zone1");
        assert_eq!(md["launch_index"], 0);
        assert_eq!(md["meta"], serde_json::json!({}));
        assert_eq!(
            md["public_keys"]["mykey"],
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host"
        );
        assert_eq!(md["keys"][1]["name"], "other");
        let ud = b"#cloud-config\nruncmd: [[touch, /tmp/x]]\n".to_vec();
        assert_eq!(get("openstack/latest/user_data"), ud);
        assert_eq!(get("cloudstack/userdata/user_data.txt"), ud);
        assert_eq!(get("openstack/latest/vendor_data.json"), b"{}");
        let nd: serde_json::Value =
            serde_json::from_slice(&get("openstack/latest/network_data.json")).unwrap();
        assert_eq!(
            nd,
            serde_json::json!({
                "links": [{"id": "eth0", "ethernet_mac_address": "52:54:00:0a:f0:01", "mtu": 1500, "type": "phy"}],
                "networks": [{"id": "eth0", "link": "eth0", "network_id": "network0", "type": "ipv4_dhcp"}],
                "services": [{"type": "dns", "address": "192.0.2.53"}]
            })
        );
        assert_eq!(get("cloudstack/metadata/instance-id.txt"), ID.as_bytes());
        assert_eq!(get("cloudstack/metadata/availability-zone.txt"), b"zone1");
        assert_eq!(get("cloudstack/metadata/local-ipv4.txt"), b"192.168.240.50");
        assert_eq!(get("cloudstack/password/vm_password.txt"), b"s3cret-Pw");

        // Without user data, password, keys or identifier: those files are absent.
        let mut bare = g.clone();
        bare.user_data_base64 = None;
        bare.public_keys.clear();
        bare.cloud_identifier = None;
        let files = drive_files(id, &bare, "kvm1", None).unwrap();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        for absent in [
            "openstack/latest/user_data",
            "cloudstack/userdata/user_data.txt",
            "cloudstack/password/vm_password.txt",
            "cloudstack/metadata/public-keys.txt",
            "cloudstack/metadata/cloud-identifier.txt",
        ] {
            assert!(!paths.contains(&absent), "{absent}");
        }
        assert!(paths.contains(&"openstack/latest/meta_data.json"));
    }

    #[test]
    fn qemu_group_from_its_config() {
        let group = "root:x:0:\nkvm:x:107:\nlibvirt-qemu:x:64055:libvirt-qemu\n";
        assert_eq!(qemu_gid("", group), Some(64055));
        assert_eq!(qemu_gid("#group = \"root\"\n", group), Some(64055));
        assert_eq!(qemu_gid("group = \"kvm\"\n", group), Some(107));
        assert_eq!(qemu_gid("group = \"+0\"\n", group), Some(0));
        assert_eq!(qemu_gid("group = \"nobody-here\"\n", group), None);
    }

    #[test]
    fn store_builds_prunes_remembers_and_forgets() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("guests");
        let id: Uuid = ID.parse().unwrap();
        let s = GuestStore::open(&dir, "kvm1");
        let g = guest();
        let a = s.prepare(id, &g, &["52:54:00:0a:f0:01".into()]).unwrap();
        let again = s.prepare(id, &g, &[]).unwrap();
        assert_eq!(a, again, "the same data is the same drive");
        assert!(a
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("config-"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o711);
        assert_eq!(mode(a.parent().unwrap()), 0o711);
        assert_eq!(mode(&a.parent().unwrap().join("guest.json")), 0o600);
        assert!(matches!(mode(&a), 0o640 | 0o644), "{:o}", mode(&a));

        let v = s.view_by_mac("52:54:00:0A:F0:01").unwrap();
        assert_eq!(v.id, id);
        assert!(s.view_by_mac("52:54:00:0a:f0:99").is_none());
        assert_eq!(
            s.pending_password("52:54:00:0a:f0:01").as_deref(),
            Some("s3cret-Pw")
        );

        // Changed data: a new drive; the old one goes when pruned.
        let mut g2 = g.clone();
        g2.zone_name = "zone2".into();
        let b = s.prepare(id, &g2, &[]).unwrap();
        assert_ne!(a, b);
        assert!(a.exists());
        s.prune(id);
        assert!(!a.exists() && b.exists());
        assert_eq!(s.drive(id), Some(b.clone()));

        // The guest saves its password: not handed out again, also after a restart,
        // and the next drive leaves it out.
        assert!(s.acknowledge_password("52:54:00:0a:f0:01").unwrap());
        assert_eq!(s.pending_password("52:54:00:0a:f0:01"), None);
        let s = GuestStore::open(&dir, "kvm1");
        assert_eq!(s.pending_password("52:54:00:0a:f0:01"), None);
        assert_eq!(s.view_by_mac("52:54:00:0a:f0:01").unwrap().id, id);
        let c = s.prepare(id, &g2, &[]).unwrap();
        let (_, files) = crate::iso9660::read(&std::fs::read(&c).unwrap()).unwrap();
        assert!(!files.iter().any(|(p, _)| p.contains("vm_password")));
        // A new password is handed out again.
        let mut g3 = g2.clone();
        g3.password = Some("n3w".into());
        s.prepare(id, &g3, &[]).unwrap();
        assert_eq!(
            s.pending_password("52:54:00:0a:f0:01").as_deref(),
            Some("n3w")
        );

        assert!(s.remove(id).unwrap());
        assert!(!dir.join(ID).exists());
        assert!(s.view_by_mac("52:54:00:0a:f0:01").is_none());
        assert!(!s.remove(id).unwrap());
    }

    #[test]
    fn invalid_guest_data_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = GuestStore::open(tmp.path().join("guests"), "kvm1");
        let mut g = guest();
        g.user_data_base64 = Some("%%%".into());
        let e = s.prepare(ID.parse().unwrap(), &g, &[]).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(!tmp.path().join("guests").exists());
        let mut g = guest();
        g.hostname = "bad name".into();
        assert!(s.prepare(ID.parse().unwrap(), &g, &[]).is_err());
    }
}
