//! Everything the agent asks libvirt, behind a trait: the only module that calls libvirt.
//! libvirt's C API blocks, so callers run these methods off the async runtime
//! (`spawn_blocking`).
//!
//! VMs: [`Hypervisor::apply_vm`] makes a [`VmSpec`] real idempotently ("make it so": define
//! or redefine, start unless running); stop, reboot, destroy and the CD-ROM act on the
//! domain whose UUID is the VM's id. The domain XML comes from [`crate::domain_xml`].

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stratus_api::agent::{
    DataDisk, DomainReport, DomainState, DomainStats, NfsFile, PowerOptions, VmDestroyed, VmSpec,
    VmStatus, VmStopped, DEFAULT_STOP_TIMEOUT_SECS,
};
use uuid::Uuid;
use virt::connect::Connect;
use virt::domain::{Domain, DomainState as VirState};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;

use crate::domain_xml::{
    cdrom_xml, config_drive_xml, data_disk_xml, disk_at, domain_xml, read_devices,
    with_config_drive, with_config_drive_source, with_disk_at,
};
use crate::error::{Error, Result};

/// What the hypervisor says about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub hostname: String,
    pub cpu_sockets: u32,
    pub cpu_cores: u32,
    pub cpu_mhz: u32,
    pub memory_bytes: u64,
    pub libvirt_version: String,
    pub hypervisor_version: String,
}

pub trait Hypervisor: Send + Sync {
    fn node_facts(&self) -> Result<NodeFacts>;
    fn domains(&self) -> Result<Vec<DomainReport>>;
    /// The running domains' counters (CPU time, memory, disk and network totals), sorted
    /// by UUID; `cpu_used_percent` is left to the caller, who has the previous sample.
    fn domain_stats(&self) -> Result<Vec<DomainStats>>;
    /// Defines the VM (or updates an existing definition with the same UUID) and starts
    /// it unless it runs; a running VM's CD-ROM is brought in line at once, the rest at
    /// its next start. A VM that was new and fails to start is undefined again.
    /// `config_drive`: the VM's config drive (a file on this host), in its second CD-ROM
    /// drive; a running VM gets a changed one as a media change.
    fn apply_vm(&self, spec: &VmSpec, config_drive: Option<&Path>) -> Result<VmStatus>;
    /// `None` when this host has no such VM.
    fn vm_status(&self, id: Uuid) -> Result<Option<VmStatus>>;
    /// Asks the guest to shut down (ACPI) and powers it off after the timeout, or at once
    /// when forced. Stopping a stopped VM is fine.
    fn stop_vm(&self, id: Uuid, opts: PowerOptions) -> Result<VmStopped>;
    /// Stops as [`Hypervisor::stop_vm`], then starts a fresh QEMU (a stopped VM is just
    /// started).
    fn reboot_vm(&self, id: Uuid, opts: PowerOptions) -> Result<VmStatus>;
    /// Powers off and undefines; `existed: false` when there was no such VM.
    fn destroy_vm(&self, id: Uuid) -> Result<VmDestroyed>;
    /// Inserts `iso` into (or with `None` ejects) the CD-ROM drive, live if the VM runs
    /// and in its definition.
    fn set_iso(&self, id: Uuid, iso: Option<&NfsFile>) -> Result<VmStatus>;
    /// Puts `drive` into the config drive's CD-ROM drive, live if the VM runs and has
    /// that drive (an IDE drive cannot be added to a running VM: then at its next start)
    /// and in its definition.
    fn set_config_drive(&self, id: Uuid, drive: &Path) -> Result<VmStatus>;
    // --- Data volumes (issue 16) ---
    /// Attaches a data volume at its device: hot-plugged (virtio) if the VM runs, and in
    /// its definition. Again with the same file is fine; another file at that device is
    /// a conflict.
    fn attach_disk(&self, id: Uuid, disk: &DataDisk) -> Result<VmStatus>;
    /// Detaches the data volume at `device`: from the running guest first (it must
    /// release the disk within `wait`, else a conflict and it stays attached), then from
    /// the definition. Not attached: fine.
    fn detach_disk(&self, id: Uuid, device: u32, wait: Duration) -> Result<VmStatus>;
    /// Grows the data volume at `device` of the running VM to `bytes`, live: QEMU grows
    /// the file and tells the guest. The same size: nothing to do. Smaller: invalid (a
    /// live shrink would cut the guest's file system under it). Not running: a
    /// conflict; no disk there: not found.
    fn resize_disk(&self, id: Uuid, device: u32, bytes: u64) -> Result<VmStatus>;
    /// Live migration (issue 16): moves the running VM to the libvirtd at `dest_uri`
    /// (peer to peer, memory tunnelled through that TLS connection), defined there and
    /// undefined here once it runs there. `config_drive`: the VM's config drive on the
    /// destination (its path there differs). When it fails the VM keeps running here.
    /// Answers whether the guest ran during the move: an emulated (TCG) one moves paused
    /// ([`is_emulated`] says why).
    fn migrate_vm(&self, id: Uuid, dest_uri: &str, config_drive: Option<&Path>) -> Result<bool>;

    // --- Volume snapshots (issue 16) ---
    /// Pauses the VM's CPUs (QEMU drains and flushes its disks as it stops them), so its
    /// disk files hold one instant. True if it ran and is now paused by this call; false
    /// if it was not running (nothing to pause). No such VM: not found.
    fn pause_vm(&self, id: Uuid) -> Result<bool>;
    /// Resumes a VM [`Hypervisor::pause_vm`] paused.
    fn resume_vm(&self, id: Uuid) -> Result<()>;
    // --- VM snapshots (issue 16; `stratus_api::agent::vm_snapshots`) ---
    /// Takes an internal snapshot of the running VM named `name`: every writable qcow2
    /// disk and the guest's memory (QEMU's savevm). Answers libvirt's XML of it. A
    /// snapshot of that name there already: its XML (a repeated call).
    fn create_vm_snapshot(&self, id: Uuid, name: &str, description: Option<&str>)
        -> Result<String>;
    /// Brings the running VM back to the snapshot `name` (defined again from `xml` when
    /// this host has no record of it), running.
    fn revert_vm_snapshot(&self, id: Uuid, name: &str, xml: &str) -> Result<VmStatus>;
    /// Deletes the snapshot `name` from the running VM's disks (defined again from `xml`,
    /// or described from the domain for a disk-only one, when this host has no record of
    /// it); with `metadata_only` only libvirt's record, if any. Answers whether there was
    /// something to delete.
    fn delete_vm_snapshot(
        &self,
        id: Uuid,
        name: &str,
        xml: Option<&str>,
        metadata_only: bool,
    ) -> Result<bool>;
}

impl From<virt::error::Error> for Error {
    fn from(e: virt::error::Error) -> Error {
        match e.code() {
            Enum::Known(ErrorNumber::NoDomain) => Error::NotFound(e.message().to_string()),
            _ => Error::Libvirt(e.message().to_string()),
        }
    }
}

fn is_code(e: &virt::error::Error, code: ErrorNumber) -> bool {
    e.code() == Enum::Known(code)
}

/// Turns QEMU's libnfs failures (as libvirt relays them) into what the admin must fix,
/// naming the disk or ISO concerned; anything else stays libvirt's message.
pub fn explain_start_error(e: virt::error::Error, files: &[(&str, &NfsFile)]) -> Error {
    explain_nfs_failure(e.message(), files).unwrap_or_else(|| Error::from(e))
}

/// The NFS part of [`explain_start_error`]: `None` if `msg` is not about NFS.
pub fn explain_nfs_failure(msg: &str, files: &[(&str, &NfsFile)]) -> Option<Error> {
    let (what, f) = files
        .iter()
        .find(|(_, f)| msg.contains(&f.server_path()))
        .or_else(|| {
            // "Lookup of /NAME failed": libnfs mounts the file's directory.
            files.iter().find(|(_, f)| {
                let path = f.server_path();
                let base = path.rsplit('/').next().unwrap_or_default();
                msg.contains(&format!("Lookup of /{base} "))
            })
        })
        .or(if files.len() == 1 {
            files.first()
        } else {
            None
        })?;
    let text = if msg.contains("NFS3ERR_NOENT") || msg.contains("No such file") {
        format!(
            "{what} not found on NFS server {}: {}",
            f.server,
            f.server_path()
        )
    } else if msg.contains("MNT3ERR_") || msg.contains("Mount failed") {
        format!(
            "the {what}'s NFS server {} refused to mount {} for this host",
            f.server, f.export
        )
    } else if msg.contains("RPC error") || msg.contains("Failed to connect") {
        format!(
            "the {what}'s NFS server {} cannot be reached from this host",
            f.server
        )
    } else {
        return None;
    };
    Some(Error::Storage(format!("{text} (libvirt: {msg})")))
}

fn map_state(s: virt::domain::DomainStateEnum) -> DomainState {
    match s {
        Enum::Known(VirState::Running) | Enum::Known(VirState::Blocked) => DomainState::Running,
        Enum::Known(VirState::Paused) | Enum::Known(VirState::PMSuspended) => DomainState::Paused,
        Enum::Known(VirState::Shutdown) => DomainState::Shutdown,
        Enum::Known(VirState::Shutoff) => DomainState::Shutoff,
        Enum::Known(VirState::Crashed) => DomainState::Crashed,
        _ => DomainState::Other,
    }
}

fn lookup(c: &Connect, id: Uuid) -> Result<Option<Domain>> {
    match c.lookup_domain_by_uuid(id) {
        Ok(d) => Ok(Some(d)),
        Err(e) if is_code(&e, ErrorNumber::NoDomain) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a domain's definition runs it emulated (TCG, `<domain type='qemu'>`) rather
/// than under KVM. Such a domain migrates paused, in one pass: QEMU 7.2's TCG loses
/// guest writes from its dirty-page tracking when the host's cores are contended, and
/// the guest arrives with memory from two instants (seen as a kernel panic on
/// `list_add corruption` in the scheduler right after a live move under CI's load).
/// Under KVM the kernel tracks dirty pages and the move is live.
pub fn is_emulated(xml: &str) -> bool {
    let head = xml.trim_start();
    head.starts_with("<domain type='qemu'") || head.starts_with("<domain type=\"qemu\"")
}

fn need(c: &Connect, id: Uuid) -> Result<Domain> {
    lookup(c, id)?.ok_or_else(|| Error::NotFound(format!("no VM {id} on this host")))
}

fn status_of(d: &Domain) -> Result<VmStatus> {
    let info = d.info()?;
    let devices = read_devices(&d.xml_desc(0)?).map_err(Error::Libvirt)?;
    let state = map_state(info.state);
    Ok(VmStatus {
        id: d.uuid()?,
        name: d.name()?,
        state,
        vnc_port: devices.vnc_port.filter(|_| state == DomainState::Running),
        iso: devices.cdrom,
        vcpus: info.nr_virt_cpu,
        memory_kib: info.memory,
        cpu_time_ns: info.cpu_time,
        config_drive: devices.config_drive,
        disks: devices.disks,
    })
}

/// A running domain's counters (`None` when it is not running).
fn stats_of(d: &Domain) -> Result<Option<DomainStats>> {
    let info = d.info()?;
    if map_state(info.state) != DomainState::Running {
        return Ok(None);
    }
    let devices = read_devices(&d.xml_desc(0)?).map_err(Error::Libvirt)?;
    let mut s = DomainStats {
        uuid: d.uuid()?,
        cpu_used_percent: None,
        cpu_time_ns: info.cpu_time,
        vcpus: info.nr_virt_cpu,
        memory_bytes: info.memory * 1024,
        ..Default::default()
    };
    // Not every driver has memory statistics, and a guest without a balloon driver
    // reports no unused memory: those stay unknown.
    if let Ok(stats) = d.memory_stats(0) {
        for m in stats {
            match m.tag {
                virt::sys::VIR_DOMAIN_MEMORY_STAT_UNUSED => {
                    s.memory_unused_bytes = Some(m.val * 1024)
                }
                virt::sys::VIR_DOMAIN_MEMORY_STAT_RSS => s.memory_rss_bytes = Some(m.val * 1024),
                virt::sys::VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON => s.memory_bytes = m.val * 1024,
                _ => {}
            }
        }
    }
    // libvirt answers -1 for a counter a driver does not keep.
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    for disk in &devices.disks {
        let b = d.block_stats(disk)?;
        s.disk_read_bytes += n(b.rd_bytes);
        s.disk_write_bytes += n(b.wr_bytes);
        s.disk_read_ops += n(b.rd_req);
        s.disk_write_ops += n(b.wr_req);
    }
    for mac in &devices.macs {
        let i = d.interface_stats(mac)?;
        s.network_rx_bytes += n(i.rx_bytes);
        s.network_tx_bytes += n(i.tx_bytes);
    }
    Ok(Some(s))
}

/// Inserts `drive` into a running domain's config drive, if it has that drive and holds
/// another file. Returns whether the running domain has the drive.
fn change_live_drive(d: &Domain, drive: &Path) -> Result<bool> {
    let live = read_devices(&d.xml_desc(0)?).map_err(Error::Libvirt)?;
    if !live.has_config_drive {
        tracing::info!(
            domain = %d.name().unwrap_or_default(),
            "the running VM has no config drive slot: its drive comes at its next start"
        );
        return Ok(false);
    }
    if live.config_drive.as_deref() != Some(&drive.display().to_string()) {
        d.update_device_flags(
            &config_drive_xml(drive),
            virt::sys::VIR_DOMAIN_AFFECT_LIVE | virt::sys::VIR_DOMAIN_DEVICE_MODIFY_FORCE,
        )?;
        tracing::info!(domain = %d.name().unwrap_or_default(), drive = %drive.display(), "config drive changed");
    }
    Ok(true)
}

/// Powers the domain off: gracefully first unless `opts.forced`. Returns whether it was
/// forced (false also when it was not running).
fn power_off(d: &Domain, opts: PowerOptions) -> Result<bool> {
    if !d.is_active()? {
        return Ok(false);
    }
    if !opts.forced {
        let timeout = Duration::from_secs(opts.timeout_secs.unwrap_or(DEFAULT_STOP_TIMEOUT_SECS));
        let deadline = Instant::now() + timeout;
        match d.shutdown() {
            Ok(()) => {}
            // It stopped in the meantime.
            Err(_) if !d.is_active()? => return Ok(false),
            Err(e) => {
                tracing::warn!(error = %e.message(), "shutdown request refused; powering off")
            }
        }
        while Instant::now() < deadline {
            if !d.is_active()? {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if !d.is_active()? {
            return Ok(false);
        }
        tracing::info!(
            domain = %d.name().unwrap_or_default(),
            "the guest did not shut down within {}s: powering it off",
            timeout.as_secs()
        );
    }
    match d.destroy() {
        Ok(()) => Ok(true),
        Err(e) if is_code(&e, ErrorNumber::OperationInvalid) && !d.is_active()? => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Bounds for `<cputune><shares>`: cgroup v2 weights go to 10000, v1 shares to 262144.
fn max_cpu_shares() -> u64 {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        10_000
    } else {
        262_144
    }
}

/// libvirt's packed version numbers: major * 1,000,000 + minor * 1,000 + release.
pub fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// The host's memory in KiB as the kernel counts it (MemTotal), from libvirt's memory
/// statistics over all NUMA cells. `node_info` sums the cells' own memory instead, which
/// can be a fraction of MemTotal (VMs whose extra memory belongs to no NUMA node: about half
/// on our test machines), while the used memory reported is MemTotal − MemAvailable.
/// `None` where the driver keeps no such statistics (the test driver).
#[allow(unsafe_code)]
fn total_memory_kib(c: &Connect) -> Option<u64> {
    use virt::sys;
    let all = sys::VIR_NODE_MEMORY_STATS_ALL_CELLS;
    let mut n: std::os::raw::c_int = 0;
    // SAFETY: the connection pointer is valid while `c` lives; the first call only counts
    // the parameters, the second fills a buffer of exactly that many, as libvirt documents.
    unsafe {
        let conn = c.as_ptr();
        if sys::virNodeGetMemoryStats(conn, all, std::ptr::null_mut(), &mut n, 0) != 0 || n <= 0 {
            sys::virResetLastError();
            return None;
        }
        let empty = sys::virNodeMemoryStats {
            field: [0; sys::VIR_NODE_MEMORY_STATS_FIELD_LENGTH as usize],
            value: 0,
        };
        let mut params = vec![empty; n as usize];
        if sys::virNodeGetMemoryStats(conn, all, params.as_mut_ptr(), &mut n, 0) != 0 {
            sys::virResetLastError();
            return None;
        }
        params.truncate(n.max(0) as usize);
        params
            .iter()
            .find(|p| {
                std::ffi::CStr::from_ptr(p.field.as_ptr()) == sys::VIR_NODE_MEMORY_STATS_TOTAL
            })
            .map(|p| p.value)
    }
}

// --- VM snapshots (issue 16) ---

/// The domain's snapshot `name`, if this host has a record of it.
fn snapshot_named(d: &Domain, name: &str) -> Result<Option<virt::domain_snapshot::DomainSnapshot>> {
    match Domain::lookup_snapshot_by_name(d, name, 0) {
        Ok(s) => Ok(Some(s)),
        Err(e) if is_code(&e, ErrorNumber::NoDomainSnapshot) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Defines a snapshot's record again from its XML (it was taken on another host, or
/// before the domain was last undefined: the data is in the disks).
fn redefine_snapshot(
    d: &Domain,
    name: &str,
    xml: &str,
) -> Result<virt::domain_snapshot::DomainSnapshot> {
    if !xml.contains(&format!("<name>{name}</name>")) {
        return Err(Error::Invalid(format!(
            "the XML given is not that of snapshot {name}"
        )));
    }
    d.create_snapshot_xml(xml, virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        .map_err(|e| Error::Libvirt(format!("defining snapshot {name} again: {}", e.message())))
}

/// Text for an XML element.
fn xml_text(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A libvirt connection, opened on first use and reopened after an error.
pub struct Libvirt {
    uri: String,
    conn: Mutex<Option<Connect>>,
}

impl Libvirt {
    pub fn new(uri: &str) -> Libvirt {
        // libvirt's default handler prints every error to the terminal, including the
        // ones we expect and handle (e.g. a driver without memory statistics); our
        // callers report errors themselves.
        virt::error::clear_error_callback();
        Libvirt {
            uri: uri.to_string(),
            conn: Mutex::new(None),
        }
    }

    /// The connection (opened on first use). libvirt connections are thread-safe, so
    /// the lock is held only to fetch it: a long call (a shutdown that waits) blocks
    /// nobody else.
    fn conn(&self) -> Result<Connect> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| Error::Libvirt("connection lock poisoned".into()))?;
        if guard.is_none() {
            let c = Connect::open(Some(&self.uri))
                .map_err(|e| Error::Libvirt(format!("connecting to {}: {e}", self.uri)))?;
            *guard = Some(c);
        }
        Ok(guard.as_ref().expect("just set").clone())
    }

    fn with<T>(&self, f: impl FnOnce(&Connect) -> Result<T>) -> Result<T> {
        let c = self.conn()?;
        let result = f(&c);
        if result.is_err() && !c.is_alive().unwrap_or(false) {
            // A dead connection (libvirtd restarted): the next call reconnects.
            // (Dropping the last `Connect` closes it.)
            if let Ok(mut guard) = self.conn.lock() {
                guard.take();
            }
        }
        result
    }
}

impl Hypervisor for Libvirt {
    fn node_facts(&self) -> Result<NodeFacts> {
        self.with(|c| {
            let info = c.node_info()?;
            Ok(NodeFacts {
                hostname: c.hostname()?,
                cpu_sockets: (info.sockets * info.nodes).max(1),
                cpu_cores: info.cpus,
                cpu_mhz: info.mhz,
                memory_bytes: total_memory_kib(c).unwrap_or(info.memory) * 1024,
                libvirt_version: version_string(c.lib_version()?),
                hypervisor_version: version_string(c.hyp_version()?),
            })
        })
    }

    fn domains(&self) -> Result<Vec<DomainReport>> {
        self.with(|c| {
            let mut out = vec![];
            for d in c.list_all_domains(0)? {
                out.push(DomainReport {
                    name: d.name()?,
                    uuid: d.uuid()?,
                    state: map_state(d.state()?.0),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    fn domain_stats(&self) -> Result<Vec<DomainStats>> {
        self.with(|c| {
            let mut out = vec![];
            for d in c.list_all_domains(0)? {
                match stats_of(&d) {
                    Ok(Some(s)) => out.push(s),
                    Ok(None) => {}
                    // A domain that stopped between the listing and the question.
                    Err(e) => tracing::debug!(error = %e, "domain statistics skipped"),
                }
            }
            out.sort_by_key(|s| s.uuid);
            Ok(out)
        })
    }

    fn apply_vm(&self, spec: &VmSpec, config_drive: Option<&Path>) -> Result<VmStatus> {
        spec.validate().map_err(Error::Invalid)?;
        let xml = domain_xml(spec, config_drive, max_cpu_shares());
        let mut files = vec![("root disk", &spec.root_disk.file)];
        if let Some(iso) = &spec.iso {
            files.push(("ISO", iso));
        }
        self.with(|c| {
            let dom = match lookup(c, spec.id)? {
                Some(d) => {
                    let name = d.name()?;
                    if name != spec.name {
                        return Err(Error::Conflict(format!(
                            "VM {} is defined on this host as '{name}', not '{}'",
                            spec.id, spec.name
                        )));
                    }
                    let running = d.is_active()?;
                    c.define_domain_xml(&xml)?;
                    if running {
                        let live = read_devices(&d.xml_desc(0)?).map_err(Error::Libvirt)?;
                        if live.cdrom != spec.iso.as_ref().map(NfsFile::url) {
                            d.update_device_flags(
                                &cdrom_xml(spec.iso.as_ref()),
                                virt::sys::VIR_DOMAIN_AFFECT_LIVE
                                    | virt::sys::VIR_DOMAIN_DEVICE_MODIFY_FORCE,
                            )
                            .map_err(|e| explain_start_error(e, &files[1..]))?;
                        }
                        if let Some(drive) = config_drive {
                            change_live_drive(&d, drive)?;
                        }
                    } else {
                        d.create().map_err(|e| explain_start_error(e, &files))?;
                        tracing::info!(vm = %spec.id, name = %spec.name, "VM started");
                    }
                    d
                }
                None => {
                    if let Ok(other) = c.lookup_domain_by_name(&spec.name) {
                        return Err(Error::Conflict(format!(
                            "a domain named '{}' already exists on this host (UUID {})",
                            spec.name,
                            other.uuid().map(|u| u.to_string()).unwrap_or_default()
                        )));
                    }
                    let d = c.define_domain_xml(&xml)?;
                    if let Err(e) = d.create() {
                        // A VM that cannot start is not left behind half made.
                        if let Err(u) = d.undefine() {
                            tracing::warn!(error = %u.message(), "undefining a VM that failed to start");
                        }
                        return Err(explain_start_error(e, &files));
                    }
                    tracing::info!(vm = %spec.id, name = %spec.name, "VM defined and started");
                    d
                }
            };
            status_of(&dom)
        })
    }

    fn vm_status(&self, id: Uuid) -> Result<Option<VmStatus>> {
        self.with(|c| lookup(c, id)?.as_ref().map(status_of).transpose())
    }

    fn stop_vm(&self, id: Uuid, opts: PowerOptions) -> Result<VmStopped> {
        self.with(|c| {
            let d = need(c, id)?;
            let forced = power_off(&d, opts)?;
            Ok(VmStopped {
                status: status_of(&d)?,
                forced,
            })
        })
    }

    fn reboot_vm(&self, id: Uuid, opts: PowerOptions) -> Result<VmStatus> {
        self.with(|c| {
            let d = need(c, id)?;
            power_off(&d, opts)?;
            d.create()?;
            status_of(&d)
        })
    }

    fn destroy_vm(&self, id: Uuid) -> Result<VmDestroyed> {
        self.with(|c| {
            let Some(d) = lookup(c, id)? else {
                return Ok(VmDestroyed { existed: false });
            };
            power_off(&d, PowerOptions::forced())?;
            // (No NVRAM flag: guests boot SeaBIOS, and drivers without NVRAM refuse it.)
            let flags = virt::sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | virt::sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
            match d.undefine_flags(flags) {
                Ok(()) => {}
                // A transient domain is gone once powered off.
                Err(e) if is_code(&e, ErrorNumber::NoDomain) => {}
                Err(e) if is_code(&e, ErrorNumber::OperationInvalid) && !d.is_persistent()? => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(vm = %id, "VM destroyed and undefined");
            Ok(VmDestroyed { existed: true })
        })
    }

    fn set_iso(&self, id: Uuid, iso: Option<&NfsFile>) -> Result<VmStatus> {
        if let Some(f) = iso {
            f.validate("ISO").map_err(Error::Invalid)?;
        }
        self.with(|c| {
            let d = need(c, id)?;
            let mut flags = virt::sys::VIR_DOMAIN_AFFECT_CONFIG;
            if d.is_active()? {
                flags |=
                    virt::sys::VIR_DOMAIN_AFFECT_LIVE | virt::sys::VIR_DOMAIN_DEVICE_MODIFY_FORCE;
            }
            let files: Vec<(&str, &NfsFile)> = iso.map(|f| ("ISO", f)).into_iter().collect();
            d.update_device_flags(&cdrom_xml(iso), flags)
                .map_err(|e| explain_start_error(e, &files))?;
            status_of(&d)
        })
    }

    fn set_config_drive(&self, id: Uuid, drive: &Path) -> Result<VmStatus> {
        self.with(|c| {
            let d = need(c, id)?;
            // The definition: redefined with the drive (replaced, or added to a VM
            // defined without guest data), which every driver can do.
            let inactive = d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)?;
            let xml = with_config_drive(&inactive, drive).map_err(Error::Libvirt)?;
            c.define_domain_xml(&xml)?;
            if d.is_active()? {
                change_live_drive(&d, drive)?;
            }
            status_of(&d)
        })
    }

    // --- Data volumes (issue 16) ---

    fn attach_disk(&self, id: Uuid, disk: &DataDisk) -> Result<VmStatus> {
        disk.validate().map_err(Error::Invalid)?;
        let xml = data_disk_xml(disk);
        let target = disk.target();
        let url = disk.file.url();
        self.with(|c| {
            let d = need(c, id)?;
            // Whether `xml_desc` already has the disk; another file there is a conflict.
            let holds = |desc: &str| -> Result<bool> {
                match disk_at(desc, &target).map_err(Error::Libvirt)? {
                    None => Ok(false),
                    Some((_, src)) if src.as_deref() == Some(url.as_str()) => Ok(true),
                    Some((_, src)) => Err(Error::Conflict(format!(
                        "device {target} of VM {id} holds {} already",
                        src.unwrap_or_default()
                    ))),
                }
            };
            let inactive = d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)?;
            let in_config = holds(&inactive)?;
            if d.is_active()? && !holds(&d.xml_desc(0)?)? {
                d.attach_device_flags(&xml, virt::sys::VIR_DOMAIN_AFFECT_LIVE)
                    .map_err(|e| explain_start_error(e, &[("data disk", &disk.file)]))?;
                tracing::info!(vm = %id, target = %target, "data disk hot-plugged");
            }
            if !in_config {
                let new = with_disk_at(&inactive, &target, Some(&xml)).map_err(Error::Libvirt)?;
                c.define_domain_xml(&new)?;
            }
            status_of(&d)
        })
    }

    fn detach_disk(&self, id: Uuid, device: u32, wait: Duration) -> Result<VmStatus> {
        stratus_api::agent::valid_data_device(device).map_err(Error::Invalid)?;
        let target = stratus_api::agent::data_target(device);
        self.with(|c| {
            let d = need(c, id)?;
            if d.is_active()? {
                if let Some((xml, _)) = disk_at(&d.xml_desc(0)?, &target).map_err(Error::Libvirt)? {
                    // The request only asks the guest (ACPI hot-unplug); the disk is gone
                    // once it released it.
                    d.detach_device_flags(&xml, virt::sys::VIR_DOMAIN_AFFECT_LIVE)?;
                    let deadline = Instant::now() + wait;
                    loop {
                        let live = d.xml_desc(0)?;
                        if disk_at(&live, &target).map_err(Error::Libvirt)?.is_none() {
                            break;
                        }
                        if Instant::now() >= deadline {
                            return Err(Error::Conflict(format!(
                                "the guest of VM {id} did not release disk {target} within {} s (is it in use, or does the guest not support hot-unplug?); it stays attached",
                                wait.as_secs()
                            )));
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    tracing::info!(vm = %id, target = %target, "data disk hot-unplugged");
                }
            }
            let inactive = d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)?;
            if disk_at(&inactive, &target).map_err(Error::Libvirt)?.is_some() {
                let new = with_disk_at(&inactive, &target, None).map_err(Error::Libvirt)?;
                c.define_domain_xml(&new)?;
            }
            status_of(&d)
        })
    }

    fn resize_disk(&self, id: Uuid, device: u32, bytes: u64) -> Result<VmStatus> {
        stratus_api::agent::valid_data_device(device).map_err(Error::Invalid)?;
        let target = stratus_api::agent::data_target(device);
        self.with(|c| {
            let d = need(c, id)?;
            if !d.is_active()? {
                return Err(Error::Conflict(format!(
                    "VM {id} is not running on this host: a stopped VM's volume is resized in its file"
                )));
            }
            if disk_at(&d.xml_desc(0)?, &target)
                .map_err(Error::Libvirt)?
                .is_none()
            {
                return Err(Error::NotFound(format!(
                    "VM {id} has no data disk at {target}"
                )));
            }
            let now = d.block_info(&target, 0)?.capacity;
            if bytes < now {
                return Err(Error::Invalid(format!(
                    "disk {target} of VM {id} has {now} bytes: a running VM's disk only grows (asked for {bytes})"
                )));
            }
            if bytes > now {
                d.block_resize(&target, bytes, virt::sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                    .map_err(|e| {
                        Error::Libvirt(format!(
                            "growing disk {target} of VM {id} to {bytes} bytes: {}",
                            e.message()
                        ))
                    })?;
                tracing::info!(vm = %id, target = %target, from = now, to = bytes, "data disk grown live");
            }
            status_of(&d)
        })
    }

    fn migrate_vm(&self, id: Uuid, dest_uri: &str, config_drive: Option<&Path>) -> Result<bool> {
        self.with(|c| {
            let d = need(c, id)?;
            if !d.is_active()? {
                return Err(Error::Conflict(format!(
                    "VM {id} is not running on this host: only a running VM migrates live"
                )));
            }
            let mut params = virt::domain::MigrateParameters::default();
            if let Some(drive) = config_drive {
                // The running and the persistent definition, each with the destination's drive.
                let live = d.xml_desc(
                    virt::sys::VIR_DOMAIN_XML_SECURE | virt::sys::VIR_DOMAIN_XML_MIGRATABLE,
                )?;
                let inactive = d.xml_desc(
                    virt::sys::VIR_DOMAIN_XML_SECURE
                        | virt::sys::VIR_DOMAIN_XML_INACTIVE
                        | virt::sys::VIR_DOMAIN_XML_MIGRATABLE,
                )?;
                params.dest_xml =
                    Some(with_config_drive_source(&live, drive).map_err(Error::Libvirt)?);
                params.persist_xml =
                    Some(with_config_drive_source(&inactive, drive).map_err(Error::Libvirt)?);
            }
            let emulated = is_emulated(&d.xml_desc(0)?);
            let mut flags = virt::sys::VIR_MIGRATE_PEER2PEER
                | virt::sys::VIR_MIGRATE_TUNNELLED
                | virt::sys::VIR_MIGRATE_PERSIST_DEST
                | virt::sys::VIR_MIGRATE_UNDEFINE_SOURCE;
            if !emulated {
                flags |= virt::sys::VIR_MIGRATE_LIVE;
            }
            let started = Instant::now();
            d.migrate_to_uri3(Some(dest_uri), params, flags)
                .map_err(|e| Error::Libvirt(format!("migrating VM {id}: {}", e.message())))?;
            tracing::info!(vm = %id, dest = dest_uri, live = !emulated, elapsed_ms = started.elapsed().as_millis() as u64, "VM migrated");
            Ok(!emulated)
        })
    }

    // --- Volume snapshots (issue 16) ---
    fn pause_vm(&self, id: Uuid) -> Result<bool> {
        self.with(|c| {
            let d = need(c, id)?;
            match map_state(d.info()?.state) {
                DomainState::Running => {
                    d.suspend()?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn resume_vm(&self, id: Uuid) -> Result<()> {
        self.with(|c| {
            let d = need(c, id)?;
            if map_state(d.info()?.state) == DomainState::Paused {
                d.resume()?;
            }
            Ok(())
        })
    }

    // --- VM snapshots (issue 16) ---

    fn create_vm_snapshot(
        &self,
        id: Uuid,
        name: &str,
        description: Option<&str>,
    ) -> Result<String> {
        stratus_api::agent::vm_snapshots::validate_name(name).map_err(Error::Invalid)?;
        self.with(|c| {
            let d = need(c, id)?;
            if let Some(s) = snapshot_named(&d, name)? {
                return Ok(s.xml_desc(0)?);
            }
            if !d.is_active()? {
                return Err(Error::Conflict(format!(
                    "VM {id} is not running: a snapshot with memory needs a running VM"
                )));
            }
            let xml = format!(
                "<domainsnapshot><name>{name}</name>{}</domainsnapshot>",
                description
                    .map(|t| format!("<description>{}</description>", xml_text(t)))
                    .unwrap_or_default()
            );
            let started = Instant::now();
            let snap = d
                .create_snapshot_xml(&xml, virt::sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
                .map_err(|e| Error::Libvirt(format!("snapshot of VM {id}: {}", e.message())))?;
            tracing::info!(vm = %id, snapshot = name, elapsed_ms = started.elapsed().as_millis() as u64, "VM snapshot taken");
            Ok(snap.xml_desc(0)?)
        })
    }

    fn revert_vm_snapshot(&self, id: Uuid, name: &str, xml: &str) -> Result<VmStatus> {
        stratus_api::agent::vm_snapshots::validate_name(name).map_err(Error::Invalid)?;
        self.with(|c| {
            let d = need(c, id)?;
            let snap = match snapshot_named(&d, name)? {
                Some(s) => s,
                None => redefine_snapshot(&d, name, xml)?,
            };
            snap.revert(virt::sys::VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING)
                .map_err(|e| Error::Libvirt(format!("reverting VM {id}: {}", e.message())))?;
            tracing::info!(vm = %id, snapshot = name, "VM reverted to its snapshot");
            status_of(&d)
        })
    }

    fn delete_vm_snapshot(
        &self,
        id: Uuid,
        name: &str,
        xml: Option<&str>,
        metadata_only: bool,
    ) -> Result<bool> {
        stratus_api::agent::vm_snapshots::validate_name(name).map_err(Error::Invalid)?;
        self.with(|c| {
            let Some(d) = lookup(c, id)? else {
                if metadata_only {
                    return Ok(false);
                }
                return Err(Error::NotFound(format!("no VM {id} on this host")));
            };
            let snap = match snapshot_named(&d, name)? {
                Some(s) => s,
                None if metadata_only => return Ok(false),
                None => {
                    let xml = match xml {
                        Some(x) => x.to_string(),
                        // A disk-only snapshot (taken with qemu-img while the VM was
                        // stopped): described with the domain it belongs to.
                        None => format!(
                            "<domainsnapshot><name>{name}</name><state>shutoff</state>\
                             <creationTime>0</creationTime><memory snapshot='no'/>{}\
                             </domainsnapshot>",
                            d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)?
                        ),
                    };
                    redefine_snapshot(&d, name, &xml)?
                }
            };
            let flags = if metadata_only {
                virt::sys::VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY
            } else {
                0
            };
            snap.delete(flags).map_err(|e| {
                Error::Libvirt(format!(
                    "deleting snapshot {name} of VM {id}: {}",
                    e.message()
                ))
            })?;
            tracing::info!(vm = %id, snapshot = name, metadata_only, "VM snapshot deleted");
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_string(9_000_000), "9.0.0");
        assert_eq!(version_string(7_002_011), "7.2.11");
    }

    #[test]
    fn test_driver_facts_and_domains() {
        // libvirt's built-in test driver: no daemon, a fixed fake host with one domain.
        let lv = Libvirt::new("test:///default");
        let f = lv.node_facts().unwrap();
        assert!(f.cpu_cores > 0 && f.memory_bytes > 0, "{f:?}");
        assert!(f.libvirt_version.starts_with(|c: char| c.is_ascii_digit()));
        let d = lv.domains().unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "test");
        assert_eq!(d[0].state, DomainState::Running);
    }

    #[test]
    fn emulated_domains_are_told_from_kvm_ones() {
        // As libvirt writes them back (single quotes) and as another tool might.
        assert!(is_emulated(
            "<domain type='qemu' id='3'>\n  <name>i-2-1-VM</name>"
        ));
        assert!(is_emulated("  <domain type=\"qemu\">"));
        assert!(!is_emulated("<domain type='kvm' id='3'>"));
        assert!(!is_emulated("<domain type='kvm'><name>qemu</name>"));
    }

    #[test]
    fn unreachable_libvirt_is_a_clear_error() {
        let lv = Libvirt::new("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
        let e = lv.node_facts().unwrap_err().to_string();
        assert!(e.contains("connecting to qemu+unix"), "{e}");
    }
}

/// A private libvirt test-driver host for unit tests: its URI (valid while the directory
/// lives). A `test:///FILE` connection has its own state, unlike `test:///default`, which
/// all connections of the process share.
#[cfg(test)]
pub(crate) fn private_test_driver() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("node.xml");
    std::fs::write(&node, "<node></node>").unwrap();
    (format!("test://{}", node.display()), dir)
}

#[cfg(test)]
mod vm_tests {
    use super::*;
    use stratus_api::agent::{Acceleration, DiskFormat, Nic, NicModel, RootDisk};

    struct TestHost {
        lv: Libvirt,
        _dir: tempfile::TempDir,
    }

    fn host() -> TestHost {
        let (uri, dir) = private_test_driver();
        TestHost {
            lv: Libvirt::new(&uri),
            _dir: dir,
        }
    }

    fn nfs(path: &str) -> NfsFile {
        NfsFile {
            server: "10.231.250.2".into(),
            export: "/export".into(),
            path: path.into(),
        }
    }

    fn spec(n: u32) -> VmSpec {
        VmSpec {
            id: Uuid::new_v4(),
            name: format!("i-2-{n}-VM"),
            vcpus: 1,
            cpu_mhz: 500,
            memory_mib: 128,
            acceleration: Acceleration::Qemu,
            root_disk: RootDisk {
                file: nfs(&format!("ROOT-{n}.qcow2")),
                format: DiskFormat::Qcow2,
                virtual_size_bytes: 1 << 30,
                backing: None,
            },
            iso: Some(nfs("ipxe.iso")),
            nics: vec![Nic {
                mac: "52:54:00:00:00:01".into(),
                bridge: "cloudbr0".into(),
                model: NicModel::Virtio,
            }],
            console_password: None,
            guest: None,
            data_disks: vec![],
        }
    }

    fn ours(h: &TestHost, id: Uuid) -> Vec<DomainReport> {
        h.lv.domains()
            .unwrap()
            .into_iter()
            .filter(|d| d.uuid == id)
            .collect()
    }

    #[test]
    fn apply_twice_is_one_running_domain() {
        let h = host();
        let s = spec(1);
        let a = h.lv.apply_vm(&s, None).unwrap();
        assert_eq!(a.state, DomainState::Running);
        assert_eq!(a.id, s.id);
        assert_eq!(a.name, "i-2-1-VM");
        assert_eq!(a.iso.as_deref(), Some("nfs://10.231.250.2/export/ipxe.iso"));
        assert_eq!(a.memory_kib, 128 * 1024);
        let b = h.lv.apply_vm(&s, None).unwrap();
        assert_eq!(b.state, DomainState::Running);
        assert_eq!(ours(&h, s.id).len(), 1);
        // A changed definition of a running VM: redefined, left running. (An ISO change
        // is a live media change, which the test driver cannot do: see
        // tests/tests/agent_vms.rs.)
        let mut more = s.clone();
        more.memory_mib = 256;
        assert_eq!(
            h.lv.apply_vm(&more, None).unwrap().state,
            DomainState::Running
        );
        assert_eq!(ours(&h, s.id).len(), 1);
        // Stopped, then applied: started with the new definition.
        h.lv.stop_vm(s.id, PowerOptions::default()).unwrap();
        let d = h.lv.apply_vm(&more, None).unwrap();
        assert_eq!((d.state, d.memory_kib), (DomainState::Running, 256 * 1024));
    }

    #[test]
    fn running_domains_report_their_counters() {
        let h = host();
        let (a, b) = (spec(3), spec(4));
        h.lv.apply_vm(&a, None).unwrap();
        h.lv.apply_vm(&b, None).unwrap();
        h.lv.stop_vm(b.id, PowerOptions::default()).unwrap();
        let stats = h.lv.domain_stats().unwrap();
        // Only the running VM; the stopped one has nothing to report.
        assert_eq!(stats.len(), 1, "{stats:?}");
        let s = &stats[0];
        assert_eq!((s.uuid, s.vcpus), (a.id, 1));
        assert_eq!(s.memory_bytes, 128 << 20);
        assert_eq!(s.cpu_used_percent, None, "the caller measures the share");
        // The test driver's block statistics count up with time; its read requests and
        // bytes are never zero for a defined disk.
        assert!(s.disk_read_bytes > 0 && s.disk_read_ops > 0, "{s:?}");
    }

    #[test]
    fn stop_start_reboot_destroy() {
        let h = host();
        let s = spec(2);
        h.lv.apply_vm(&s, None).unwrap();
        let stopped = h.lv.stop_vm(s.id, PowerOptions::default()).unwrap();
        assert_eq!(stopped.status.state, DomainState::Shutoff);
        assert!(!stopped.forced, "the test driver's guests obey ACPI");
        // Stopping again is fine; forced on a stopped VM forces nothing.
        let again = h.lv.stop_vm(s.id, PowerOptions::forced()).unwrap();
        assert_eq!(again.status.state, DomainState::Shutoff);
        assert!(!again.forced);
        // Start = apply again; the domain is still the one definition.
        assert_eq!(h.lv.apply_vm(&s, None).unwrap().state, DomainState::Running);
        let forced = h.lv.stop_vm(s.id, PowerOptions::forced()).unwrap();
        assert!(forced.forced);
        assert_eq!(
            h.lv.reboot_vm(s.id, PowerOptions::default()).unwrap().state,
            DomainState::Running,
            "rebooting a stopped VM starts it"
        );
        assert_eq!(
            h.lv.reboot_vm(s.id, PowerOptions::default()).unwrap().state,
            DomainState::Running
        );
        assert!(h.lv.destroy_vm(s.id).unwrap().existed);
        assert!(ours(&h, s.id).is_empty());
        assert!(h.lv.vm_status(s.id).unwrap().is_none());
        assert!(!h.lv.destroy_vm(s.id).unwrap().existed, "twice is fine");
        let e = h.lv.stop_vm(s.id, PowerOptions::default()).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert!(e.to_string().contains("no VM"), "{e}");
    }

    #[test]
    fn config_drive_in_the_definition() {
        let h = host();
        let s = spec(7);
        let tmp = tempfile::tempdir().unwrap();
        let drive = tmp.path().join("config-1.iso");
        std::fs::write(&drive, b"x").unwrap();
        let st = h.lv.apply_vm(&s, Some(&drive)).unwrap();
        assert_eq!(st.config_drive.as_deref(), Some(drive.to_str().unwrap()));
        assert_eq!(
            st.iso.as_deref(),
            Some("nfs://10.231.250.2/export/ipxe.iso")
        );
        // A VM defined without one gets it in its definition (next start).
        let s2 = spec(8);
        h.lv.apply_vm(&s2, None).unwrap();
        h.lv.stop_vm(s2.id, PowerOptions::forced()).unwrap();
        let st = h.lv.set_config_drive(s2.id, &drive).unwrap();
        assert_eq!(st.config_drive.as_deref(), Some(drive.to_str().unwrap()));
        let e = h.lv.set_config_drive(Uuid::new_v4(), &drive).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }

    #[test]
    fn nfs_failures_are_explained() {
        let root = nfs("ROOT-1.qcow2");
        let iso = nfs("iso/nope.iso");
        let files = [("root disk", &root), ("ISO", &iso)];
        // What QEMU 7.2 / libvirt 9.0 said on the test bed.
        let start = r#"internal error: qemu unexpectedly closed the monitor: qemu-system-x86_64: -blockdev {"driver":"nfs","server":{"host":"10.231.250.2","type":"inet"},"path":"/export/iso/nope.iso","user":0}: Failed to open file : open call failed with "NFS: Lookup of /nope.iso failed with NFS3ERR_NOENT(-2)""#;
        let e = explain_nfs_failure(start, &files).unwrap().to_string();
        assert!(
            e.starts_with(
                "ISO not found on NFS server 10.231.250.2: /export/iso/nope.iso (libvirt: "
            ),
            "{e}"
        );
        let live = r#"internal error: unable to execute QEMU command 'blockdev-add': Failed to open file : open call failed with "NFS: Lookup of /nope.iso failed with NFS3ERR_NOENT(-2)""#;
        let e = explain_nfs_failure(live, &files[1..]).unwrap().to_string();
        assert!(e.starts_with("ISO not found on NFS server"), "{e}");
        let mount = r#"-blockdev {"path":"/export/ROOT-1.qcow2"}: Failed to mount nfs share: mount_cb: RPC error: Mount failed with error MNT3ERR_ACCES(13) Permission denied(13)"#;
        let e = explain_nfs_failure(mount, &files).unwrap().to_string();
        assert!(
            e.contains("the root disk's NFS server 10.231.250.2 refused to mount /export"),
            "{e}"
        );
        assert!(explain_nfs_failure("domain is already running", &files).is_none());
    }

    #[test]
    fn iso_of_an_unknown_vm() {
        // (Media changes themselves need a real driver: tests/tests/agent_vms.rs.)
        let h = host();
        let e = h.lv.set_iso(Uuid::new_v4(), None).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        let mut bad = nfs("x.iso");
        bad.export = "relative".into();
        let e = h.lv.set_iso(Uuid::new_v4(), Some(&bad)).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    }

    fn data_disk(device: u32, path: &str) -> stratus_api::agent::DataDisk {
        stratus_api::agent::DataDisk {
            file: nfs(path),
            format: DiskFormat::Qcow2,
            device_id: device,
            volume_id: Uuid::new_v4(),
        }
    }

    /// Data volumes (issue 16) on the test driver, which cannot hot-plug (real hot-plug
    /// into a QEMU guest: tests/tests/e2e_volumes.rs): a stopped VM's definition takes
    /// one, again is fine, another file at that device is a conflict, it starts with it,
    /// and loses it again; bad devices are refused; a running VM's attach is libvirt's
    /// clear refusal here.
    #[test]
    fn data_disks_attach_and_detach() {
        let h = host();
        let s = spec(9);
        h.lv.apply_vm(&s, None).unwrap();
        let disk = data_disk(1, "DATA-1.qcow2");
        let e = h.lv.attach_disk(s.id, &disk).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        h.lv.stop_vm(s.id, PowerOptions::forced()).unwrap();
        let st = h.lv.attach_disk(s.id, &disk).unwrap();
        assert_eq!(
            (st.state, st.disks.clone()),
            (
                DomainState::Shutoff,
                vec!["vda".to_string(), "vdb".to_string()]
            )
        );
        let c = h.lv.conn().unwrap();
        let d = c.lookup_domain_by_uuid(s.id).unwrap();
        let config = d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE).unwrap();
        let (xml, src) = disk_at(&config, "vdb").unwrap().unwrap();
        assert_eq!(
            src.as_deref(),
            Some("nfs://10.231.250.2/export/DATA-1.qcow2")
        );
        assert!(xml.contains("virtio"), "{xml}");
        // Again: the same one disk.
        assert_eq!(h.lv.attach_disk(s.id, &disk).unwrap().disks, ["vda", "vdb"]);
        let e =
            h.lv.attach_disk(s.id, &data_disk(1, "OTHER.qcow2"))
                .unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert!(
            e.to_string()
                .contains("holds nfs://10.231.250.2/export/DATA-1.qcow2"),
            "{e}"
        );
        for bad in [0, 3, 8] {
            let e =
                h.lv.attach_disk(s.id, &data_disk(bad, "x.qcow2"))
                    .unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad}: {e}");
            let e =
                h.lv.detach_disk(s.id, bad, Duration::from_secs(1))
                    .unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad}: {e}");
        }
        // A second one at device 4; started, the VM has both.
        h.lv.attach_disk(s.id, &data_disk(4, "DATA-4.qcow2"))
            .unwrap();
        let mut with = s.clone();
        with.data_disks = vec![disk.clone(), data_disk(4, "DATA-4.qcow2")];
        assert_eq!(
            h.lv.apply_vm(&with, None).unwrap().disks,
            ["vda", "vdb", "vde"]
        );
        h.lv.stop_vm(s.id, PowerOptions::forced()).unwrap();
        let st = h.lv.detach_disk(s.id, 1, Duration::from_secs(5)).unwrap();
        assert_eq!(st.disks, ["vda", "vde"]);
        // Not attached: fine.
        assert_eq!(
            h.lv.detach_disk(s.id, 1, Duration::from_secs(1))
                .unwrap()
                .disks,
            ["vda", "vde"]
        );
        let e = h.lv.attach_disk(Uuid::new_v4(), &disk).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }

    #[test]
    fn conflicts_and_invalid_specs_are_refused() {
        let h = host();
        let s = spec(4);
        h.lv.apply_vm(&s, None).unwrap();
        let mut same_name = spec(4);
        same_name.id = Uuid::new_v4();
        let e = h.lv.apply_vm(&same_name, None).unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert!(e.to_string().contains("already exists"), "{e}");
        let mut renamed = s.clone();
        renamed.name = "i-2-5-VM".into();
        let e = h.lv.apply_vm(&renamed, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("is defined on this host as 'i-2-4-VM'"),
            "{e}"
        );
        let mut bad = spec(6);
        bad.vcpus = 0;
        assert!(matches!(
            h.lv.apply_vm(&bad, None).unwrap_err(),
            Error::Invalid(_)
        ));
    }

    // --- Volume snapshots (issue 16) ---
    #[test]
    fn pause_for_a_copy_and_resume() {
        let h = host();
        let s = spec(7);
        h.lv.apply_vm(&s, None).unwrap();
        assert!(h.lv.pause_vm(s.id).unwrap(), "a running VM is paused");
        assert_eq!(
            h.lv.vm_status(s.id).unwrap().unwrap().state,
            DomainState::Paused
        );
        assert!(
            !h.lv.pause_vm(s.id).unwrap(),
            "paused already: not ours to resume"
        );
        h.lv.resume_vm(s.id).unwrap();
        assert_eq!(
            h.lv.vm_status(s.id).unwrap().unwrap().state,
            DomainState::Running
        );
        h.lv.resume_vm(s.id).unwrap();
        h.lv.stop_vm(s.id, PowerOptions::forced()).unwrap();
        assert!(
            !h.lv.pause_vm(s.id).unwrap(),
            "a stopped VM has nothing to pause"
        );
        let e = h.lv.pause_vm(Uuid::new_v4()).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
    }
}
