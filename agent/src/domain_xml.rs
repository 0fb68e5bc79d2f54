//! The libvirt domain XML of a [`VmSpec`], and what the agent reads back from libvirt's
//! XML (console port, CD-ROM). Pure functions: no libvirt calls here.
//!
//! Disks and ISOs are libvirt network disks served by QEMU's libnfs (no kernel mounts):
//! `<disk type='network'><source protocol='nfs' name='/EXPORT/PATH'><host name='SERVER'/>
//! <identity user='root' group='root'/></source>`. The identity makes libnfs use uid 0
//! (the exports squash no root) whichever user QEMU runs as. The CD-ROM drive is always
//! there, empty without an ISO, so attaching one later is a media change (IDE drives
//! cannot be hot-plugged).

use stratus_api::agent::{tap_name, DataDisk, NfsFile, VmSpec};

/// The root disk's and the CD-ROM drive's targets in the guest.
pub const ROOT_TARGET: &str = "vda";
pub const CDROM_TARGET: &str = "hdc";
/// The config drive's CD-ROM drive (IDE secondary slave, next to the ISO's).
pub const CONFIG_DRIVE_TARGET: &str = "hdd";

/// Escapes text for an XML attribute value or element text: the API's XML writer's rule
/// (markup escaped, characters XML cannot hold replaced), so a domain XML always parses.
use stratus_api::envelope::xml_text as esc;

fn nfs_source(f: &NfsFile) -> String {
    format!(
        "<source protocol='nfs' name='{}'><host name='{}'/><identity user='root' group='root'/></source>",
        esc(&f.server_path()),
        esc(&f.server)
    )
}

/// The CD-ROM drive, with `iso` inserted or empty: the domain's device and the device
/// XML for `virDomainUpdateDeviceFlags` (a media change).
pub fn cdrom_xml(iso: Option<&NfsFile>) -> String {
    match iso {
        Some(f) => format!(
            "<disk type='network' device='cdrom'><driver name='qemu' type='raw'/>{}<target dev='{CDROM_TARGET}' bus='ide'/><readonly/></disk>",
            nfs_source(f)
        ),
        None => format!(
            "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='{CDROM_TARGET}' bus='ide'/><readonly/></disk>"
        ),
    }
}

/// The config drive's CD-ROM drive with `drive` (a file on the host) inserted: the
/// domain's device and the device XML for a media change.
pub fn config_drive_xml(drive: &std::path::Path) -> String {
    format!(
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{}'/><target dev='{CONFIG_DRIVE_TARGET}' bus='ide'/><readonly/></disk>",
        esc(&drive.display().to_string())
    )
}

/// A data volume's disk (issue 16): the domain's device and the device XML for
/// `virDomainAttachDeviceFlags`/`DetachDeviceFlags` (libvirt finds it by its target). Its
/// serial is the volume's id without dashes, cut to virtio's 20 characters, as
/// CloudStack's KVM agent sets it (`/dev/disk/by-id/virtio-<serial>` in the guest).
pub fn data_disk_xml(d: &DataDisk) -> String {
    let serial: String = d.volume_id.simple().to_string().chars().take(20).collect();
    format!(
        "<disk type='network' device='disk'><driver name='qemu' type='{}' cache='none'/>{}<target dev='{}' bus='virtio'/><serial>{serial}</serial></disk>",
        d.format.as_str(),
        nfs_source(&d.file),
        d.target()
    )
}

/// The `<disk>` element (as text) of `xml`'s disk at `target`, and the file it holds
/// (`nfs://SERVER/PATH`, or a local path): what a detach names, and what an attach checks
/// an existing device against.
pub fn disk_at(xml: &str, target: &str) -> Result<Option<(String, Option<String>)>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("domain XML: {e}"))?;
    let Some(devices) = doc.descendants().find(|n| n.has_tag_name("devices")) else {
        return Ok(None);
    };
    let disk = devices.children().find(|n| {
        n.has_tag_name("disk")
            && n.attribute("device") == Some("disk")
            && n.children()
                .any(|t| t.has_tag_name("target") && t.attribute("dev") == Some(target))
    });
    Ok(disk.map(|d| {
        let text = xml.get(d.range()).unwrap_or_default().to_string();
        let source = d
            .children()
            .find(|n| n.has_tag_name("source"))
            .and_then(|src| {
                if let Some(f) = src.attribute("file") {
                    return Some(f.to_string());
                }
                let name = src.attribute("name")?;
                let host = src
                    .children()
                    .find(|n| n.has_tag_name("host"))
                    .and_then(|h| h.attribute("name"))
                    .unwrap_or_default();
                Some(format!("nfs://{host}/{}", name.trim_start_matches('/')))
            });
        (text, source)
    }))
}

/// `xml` (a domain's definition) with `disk` (a `<disk>` element) added at the end of its
/// devices, or (`None`) with the disk at `target` removed: the definition a redefine
/// gives, which every driver can do (the test driver cannot attach devices).
pub fn with_disk_at(xml: &str, target: &str, disk: Option<&str>) -> Result<String, String> {
    let mut out = match disk_at(xml, target)? {
        Some((old, _)) => {
            let at = xml.find(&old).ok_or("domain XML: the disk moved")?;
            let mut s = String::with_capacity(xml.len());
            s.push_str(xml.get(..at).unwrap_or_default());
            s.push_str(xml.get(at + old.len()..).unwrap_or_default());
            s
        }
        None => xml.to_string(),
    };
    if let Some(d) = disk {
        let close = out
            .rfind("</devices>")
            .ok_or("domain XML without </devices>")?;
        out.insert_str(close, d);
    }
    Ok(out)
}

/// `xml` (a domain's definition) with `drive` in its config drive's CD-ROM drive: the
/// drive replaced, or added at the end of the devices.
pub fn with_config_drive(xml: &str, drive: &std::path::Path) -> Result<String, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("domain XML: {e}"))?;
    let devices = doc
        .descendants()
        .find(|n| n.has_tag_name("devices"))
        .ok_or("domain XML without <devices>")?;
    let disk = devices.children().find(|n| {
        n.has_tag_name("disk")
            && n.children().any(|t| {
                t.has_tag_name("target") && t.attribute("dev") == Some(CONFIG_DRIVE_TARGET)
            })
    });
    let new = config_drive_xml(drive);
    let range = match disk {
        Some(d) => d.range(),
        None => {
            // Before `</devices>`.
            let end = devices.range().end;
            let close = xml
                .get(..end)
                .and_then(|s| s.rfind("</devices>"))
                .ok_or("domain XML without </devices>")?;
            close..close
        }
    };
    let mut out = String::with_capacity(xml.len() + new.len());
    out.push_str(xml.get(..range.start).unwrap_or_default());
    out.push_str(&new);
    out.push_str(xml.get(range.end..).unwrap_or_default());
    Ok(out)
}

/// `xml` with the config drive's source file replaced by `drive`, and nothing else
/// changed (a migration's destination definition must keep the disk's address and alias).
pub fn with_config_drive_source(xml: &str, drive: &std::path::Path) -> Result<String, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("domain XML: {e}"))?;
    let source = doc
        .descendants()
        .filter(|n| n.has_tag_name("disk"))
        .find(|n| {
            n.children().any(|t| {
                t.has_tag_name("target") && t.attribute("dev") == Some(CONFIG_DRIVE_TARGET)
            })
        })
        .and_then(|d| d.children().find(|n| n.has_tag_name("source")))
        .ok_or("the domain has no config drive with a source file")?;
    let attr = source
        .attributes()
        .find(|a| a.name() == "file")
        .ok_or("the config drive's source has no file")?;
    let value = attr.range_value();
    let new = drive
        .to_str()
        .ok_or("the config drive's path is not UTF-8")?;
    if new.chars().any(|c| "<>&'\"".contains(c)) {
        return Err(format!("{new:?} cannot be a config drive path"));
    }
    let mut out = String::with_capacity(xml.len() + new.len());
    out.push_str(xml.get(..value.start).unwrap_or_default());
    out.push_str(new);
    out.push_str(xml.get(value.end..).unwrap_or_default());
    Ok(out)
}

/// The domain for `spec`; `config_drive`: the VM's config drive (when it has guest data),
/// in a second CD-ROM drive. The ISO's drive and the boot order stay as they are. `max_shares` bounds the CPU weight: cgroup v1 takes shares up
/// to 262144, cgroup v2 weights only up to 10000 (libvirt refuses more).
pub fn domain_xml(
    spec: &VmSpec,
    config_drive: Option<&std::path::Path>,
    max_shares: u64,
) -> String {
    let mut x = String::new();
    let mut line = |s: &str| {
        x.push_str(s);
        x.push('\n');
    };
    line(&format!("<domain type='{}'>", spec.acceleration.as_str()));
    line(&format!("  <name>{}</name>", esc(&spec.name)));
    line(&format!("  <uuid>{}</uuid>", spec.id));
    line("  <description>Stratus VM (managed by stratus-agent)</description>");
    line(&format!(
        "  <memory unit='MiB'>{}</memory>",
        spec.memory_mib
    ));
    line(&format!(
        "  <currentMemory unit='MiB'>{}</currentMemory>",
        spec.memory_mib
    ));
    line(&format!("  <vcpu placement='static'>{}</vcpu>", spec.vcpus));
    line(&format!(
        "  <cputune><shares>{}</shares></cputune>",
        spec.cpu_shares().clamp(2, max_shares.max(2))
    ));
    line("  <os>");
    line("    <type arch='x86_64' machine='pc'>hvm</type>");
    if spec.iso.is_some() {
        line("    <boot dev='cdrom'/>");
    }
    line("    <boot dev='hd'/>");
    line("  </os>");
    line("  <features><acpi/><apic/></features>");
    line("  <clock offset='utc'/>");
    line("  <on_poweroff>destroy</on_poweroff>");
    line("  <on_reboot>restart</on_reboot>");
    line("  <on_crash>destroy</on_crash>");
    line("  <devices>");
    let d = &spec.root_disk;
    // The base's own chain ends there (`<backingStore/>`): a template copy is flattened.
    let backing = d
        .backing
        .as_ref()
        .map(|b| {
            format!(
                "<backingStore type='network'><format type='qcow2'/>{}<backingStore/></backingStore>",
                nfs_source(b)
            )
        })
        .unwrap_or_default();
    line(&format!(
        "    <disk type='network' device='disk'><driver name='qemu' type='{}'/>{}{backing}<target dev='{ROOT_TARGET}' bus='virtio'/></disk>",
        d.format.as_str(),
        nfs_source(&d.file)
    ));
    for d in &spec.data_disks {
        line(&format!("    {}", data_disk_xml(d)));
    }
    line(&format!("    {}", cdrom_xml(spec.iso.as_ref())));
    if let Some(d) = config_drive {
        line(&format!("    {}", config_drive_xml(d)));
    }
    for n in &spec.nics {
        // The tap is named by the MAC, so the host's security-group filter
        // (`crate::firewall`) knows which bridge port is which guest's.
        let target = tap_name(&n.mac)
            .map(|t| format!("<target dev='{}'/>", esc(&t)))
            .unwrap_or_default();
        line(&format!(
            "    <interface type='bridge'><mac address='{}'/><source bridge='{}'/>{target}<model type='{}'/></interface>",
            esc(&n.mac.to_ascii_lowercase()),
            esc(&n.bridge),
            n.model.as_str()
        ));
    }
    line("    <serial type='pty'><target port='0'/></serial>");
    line("    <console type='pty'><target type='serial' port='0'/></console>");
    line("    <input type='tablet' bus='usb'/>");
    let passwd = spec
        .console_password
        .as_deref()
        .map(|p| format!(" passwd='{}'", esc(p)))
        .unwrap_or_default();
    line(&format!(
        "    <graphics type='vnc' port='-1' autoport='yes'{passwd}><listen type='address' address='127.0.0.1'/></graphics>"
    ));
    line("    <video><model type='vga'/></video>");
    line("    <memballoon model='virtio'/>");
    line("  </devices>");
    line("</domain>");
    x
}

/// What the agent reads back from a domain's XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainDevices {
    /// The VNC port (live XML of a running domain; `None` before a port is assigned).
    pub vnc_port: Option<u16>,
    /// The ISO in the CD-ROM drive as `nfs://SERVER/PATH` (or a local file's path).
    pub cdrom: Option<String>,
    /// Whether the domain has the config drive's CD-ROM drive, and the file in it.
    pub has_config_drive: bool,
    pub config_drive: Option<String>,
    /// The targets of its disks (not CD-ROMs), for block statistics.
    pub disks: Vec<String>,
    /// Its interfaces' MAC addresses, for interface statistics.
    pub macs: Vec<String>,
}

pub fn read_devices(xml: &str) -> Result<DomainDevices, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("domain XML: {e}"))?;
    let devices = doc
        .descendants()
        .find(|n| n.has_tag_name("devices"))
        .ok_or("domain XML without <devices>")?;
    let vnc_port = devices
        .children()
        .find(|n| n.has_tag_name("graphics") && n.attribute("type") == Some("vnc"))
        .and_then(|g| g.attribute("port"))
        .and_then(|p| p.parse::<i32>().ok())
        .filter(|p| *p > 0)
        .and_then(|p| u16::try_from(p).ok());
    let cdrom = devices
        .children()
        .find(|n| {
            n.has_tag_name("disk")
                && n.attribute("device") == Some("cdrom")
                && n.children()
                    .any(|t| t.has_tag_name("target") && t.attribute("dev") == Some(CDROM_TARGET))
        })
        .and_then(|disk| {
            let src = disk.children().find(|n| n.has_tag_name("source"))?;
            if let Some(f) = src.attribute("file") {
                return Some(f.to_string());
            }
            let name = src.attribute("name")?;
            let host = src
                .children()
                .find(|n| n.has_tag_name("host"))
                .and_then(|h| h.attribute("name"))
                .unwrap_or_default();
            let proto = src.attribute("protocol").unwrap_or("nfs");
            Some(format!("{proto}://{host}/{}", name.trim_start_matches('/')))
        });
    let drive = devices.children().find(|n| {
        n.has_tag_name("disk")
            && n.attribute("device") == Some("cdrom")
            && n.children().any(|t| {
                t.has_tag_name("target") && t.attribute("dev") == Some(CONFIG_DRIVE_TARGET)
            })
    });
    let config_drive = drive
        .and_then(|d| d.children().find(|n| n.has_tag_name("source")))
        .and_then(|s| s.attribute("file"))
        .map(String::from);
    let disks = devices
        .children()
        .filter(|n| n.has_tag_name("disk") && n.attribute("device") == Some("disk"))
        .filter_map(|d| d.children().find(|t| t.has_tag_name("target")))
        .filter_map(|t| t.attribute("dev").map(String::from))
        .collect();
    let macs = devices
        .children()
        .filter(|n| n.has_tag_name("interface"))
        .filter_map(|i| i.children().find(|m| m.has_tag_name("mac")))
        .filter_map(|m| m.attribute("address").map(String::from))
        .collect();
    Ok(DomainDevices {
        vnc_port,
        cdrom,
        has_config_drive: drive.is_some(),
        config_drive,
        disks,
        macs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_api::agent::{Acceleration, DiskFormat, Nic, NicModel, RootDisk};

    pub(crate) fn spec() -> VmSpec {
        VmSpec {
            id: "6f1b3a4e-0000-4000-8000-000000000007".parse().unwrap(),
            name: "i-2-7-VM".into(),
            vcpus: 2,
            cpu_mhz: 500,
            memory_mib: 128,
            acceleration: Acceleration::Qemu,
            root_disk: RootDisk {
                file: NfsFile {
                    server: "10.231.250.2".into(),
                    export: "/export/primary".into(),
                    path: "ROOT-7.qcow2".into(),
                },
                format: DiskFormat::Qcow2,
                virtual_size_bytes: 1 << 30,
                backing: None,
            },
            iso: Some(NfsFile {
                server: "10.231.250.2".into(),
                export: "/export/secondary".into(),
                path: "iso/1/ipxe.iso".into(),
            }),
            nics: vec![Nic {
                mac: "52:54:00:0A:E7:32".into(),
                bridge: "cloudbr0".into(),
                model: NicModel::Virtio,
            }],
            console_password: Some("a'b<c&".into()),
            guest: None,
            data_disks: vec![],
        }
    }

    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> roxmltree::Node<'a, 'i> {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .unwrap_or_else(|| panic!("no <{tag}> in <{}>", n.tag_name().name()))
    }

    fn text<'a>(n: roxmltree::Node<'a, '_>, tag: &str) -> &'a str {
        child(n, tag).text().unwrap_or_default()
    }

    #[test]
    fn domain_xml_parses_and_says_what_the_spec_says() {
        let s = spec();
        let xml = domain_xml(&s, None, 262_144);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let d = doc.root_element();
        assert_eq!(d.tag_name().name(), "domain");
        assert_eq!(d.attribute("type"), Some("qemu"));
        assert_eq!(text(d, "name"), "i-2-7-VM");
        assert_eq!(text(d, "uuid"), s.id.to_string());
        assert_eq!(text(d, "memory"), "128");
        assert_eq!(child(d, "memory").attribute("unit"), Some("MiB"));
        assert_eq!(text(d, "vcpu"), "2");
        assert_eq!(text(child(d, "cputune"), "shares"), "1000");
        let os = child(d, "os");
        assert_eq!(text(os, "type"), "hvm");
        let boots: Vec<_> = os
            .children()
            .filter(|n| n.has_tag_name("boot"))
            .map(|n| n.attribute("dev").unwrap())
            .collect();
        assert_eq!(boots, ["cdrom", "hd"], "the ISO boots first");

        let devices = child(d, "devices");
        let disks: Vec<_> = devices
            .children()
            .filter(|n| n.has_tag_name("disk"))
            .collect();
        assert_eq!(disks.len(), 2);
        let root = disks[0];
        assert_eq!(root.attribute("type"), Some("network"));
        assert_eq!(root.attribute("device"), Some("disk"));
        assert_eq!(child(root, "driver").attribute("type"), Some("qcow2"));
        assert_eq!(child(root, "target").attribute("dev"), Some("vda"));
        assert_eq!(child(root, "target").attribute("bus"), Some("virtio"));
        let src = child(root, "source");
        assert_eq!(src.attribute("protocol"), Some("nfs"));
        assert_eq!(src.attribute("name"), Some("/export/primary/ROOT-7.qcow2"));
        assert_eq!(child(src, "host").attribute("name"), Some("10.231.250.2"));
        let id = child(src, "identity");
        assert_eq!(
            (id.attribute("user"), id.attribute("group")),
            (Some("root"), Some("root"))
        );
        let cd = disks[1];
        assert_eq!(cd.attribute("device"), Some("cdrom"));
        assert_eq!(
            child(cd, "source").attribute("name"),
            Some("/export/secondary/iso/1/ipxe.iso")
        );
        assert!(cd.children().any(|n| n.has_tag_name("readonly")));

        let nic = child(devices, "interface");
        assert_eq!(nic.attribute("type"), Some("bridge"));
        assert_eq!(
            child(nic, "mac").attribute("address"),
            Some("52:54:00:0a:e7:32")
        );
        assert_eq!(child(nic, "source").attribute("bridge"), Some("cloudbr0"));
        assert_eq!(
            child(nic, "target").attribute("dev"),
            Some("vm5254000ae732"),
            "the tap is named by the MAC"
        );
        assert_eq!(child(nic, "model").attribute("type"), Some("virtio"));

        let g = child(devices, "graphics");
        assert_eq!(g.attribute("type"), Some("vnc"));
        assert_eq!(g.attribute("autoport"), Some("yes"));
        assert_eq!(
            g.attribute("passwd"),
            Some("a'b<c&"),
            "escaped, parsed back"
        );
        assert_eq!(child(g, "listen").attribute("address"), Some("127.0.0.1"));
    }

    #[test]
    fn without_iso_kvm_no_password_and_bounded_shares() {
        let mut s = spec();
        s.iso = None;
        s.console_password = None;
        s.acceleration = Acceleration::Kvm;
        s.vcpus = 16;
        s.cpu_mhz = 2000;
        let xml = domain_xml(&s, None, 10_000);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let d = doc.root_element();
        assert_eq!(d.attribute("type"), Some("kvm"));
        assert_eq!(text(child(d, "cputune"), "shares"), "10000");
        let boots: Vec<_> = child(d, "os")
            .children()
            .filter(|n| n.has_tag_name("boot"))
            .map(|n| n.attribute("dev").unwrap())
            .collect();
        assert_eq!(boots, ["hd"]);
        let devices = child(d, "devices");
        let cd = devices
            .children()
            .find(|n| n.attribute("device") == Some("cdrom"))
            .expect("an empty CD-ROM drive stays, for ISOs attached later");
        assert!(!cd.children().any(|n| n.has_tag_name("source")));
        assert_eq!(child(devices, "graphics").attribute("passwd"), None);
        // The root disk and the NIC are read back for statistics; no CD-ROM or console.
        assert_eq!(
            read_devices(&xml).unwrap(),
            DomainDevices {
                disks: vec!["vda".into()],
                macs: vec!["52:54:00:0a:e7:32".into()],
                ..Default::default()
            }
        );
    }

    #[test]
    fn an_overlay_names_its_base_and_the_chain_ends_there() {
        let mut s = spec();
        s.root_disk.backing = Some(NfsFile {
            server: "10.231.250.2".into(),
            export: "/export/primary".into(),
            path: "template-7.qcow2".into(),
        });
        let xml = domain_xml(&s, None, 262_144);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let disk = doc
            .descendants()
            .find(|n| n.tag_name().name() == "disk" && n.attribute("device") == Some("disk"))
            .unwrap();
        let back = disk
            .children()
            .find(|n| n.tag_name().name() == "backingStore")
            .unwrap();
        assert_eq!(back.attribute("type"), Some("network"));
        let src = back
            .children()
            .find(|n| n.tag_name().name() == "source")
            .unwrap();
        assert_eq!(src.attribute("protocol"), Some("nfs"));
        assert_eq!(
            src.attribute("name"),
            Some("/export/primary/template-7.qcow2")
        );
        let fmt = back
            .children()
            .find(|n| n.tag_name().name() == "format")
            .unwrap();
        assert_eq!(fmt.attribute("type"), Some("qcow2"));
        let end = back
            .children()
            .find(|n| n.tag_name().name() == "backingStore")
            .unwrap();
        assert!(end.children().all(|n| !n.is_element()), "the base is flat");
        // Without a base: no backingStore at all.
        let plain = domain_xml(&spec(), None, 262_144);
        assert!(!plain.contains("backingStore"));
    }

    #[test]
    fn config_drive_is_a_second_cdrom_and_boot_order_stays() {
        let s = spec();
        let drive = std::path::Path::new("/var/lib/stratus-agent/guests/x/config-ab'c.iso");
        let xml = domain_xml(&s, Some(drive), 262_144);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let d = doc.root_element();
        let boots: Vec<_> = child(d, "os")
            .children()
            .filter(|n| n.has_tag_name("boot"))
            .map(|n| n.attribute("dev").unwrap())
            .collect();
        assert_eq!(boots, ["cdrom", "hd"], "unchanged");
        let cds: Vec<_> = child(d, "devices")
            .children()
            .filter(|n| n.attribute("device") == Some("cdrom"))
            .collect();
        assert_eq!(cds.len(), 2);
        assert_eq!(child(cds[0], "target").attribute("dev"), Some("hdc"));
        assert_eq!(
            child(cds[0], "source").attribute("name"),
            Some("/export/secondary/iso/1/ipxe.iso"),
            "the ISO keeps its drive"
        );
        assert_eq!(cds[1].attribute("type"), Some("file"));
        assert_eq!(child(cds[1], "target").attribute("dev"), Some("hdd"));
        assert_eq!(child(cds[1], "target").attribute("bus"), Some("ide"));
        assert_eq!(
            child(cds[1], "source").attribute("file"),
            Some("/var/lib/stratus-agent/guests/x/config-ab'c.iso")
        );
        assert!(cds[1].children().any(|n| n.has_tag_name("readonly")));
        let dev = read_devices(&xml).unwrap();
        assert!(dev.has_config_drive);
        assert_eq!(
            dev.config_drive.as_deref(),
            Some("/var/lib/stratus-agent/guests/x/config-ab'c.iso")
        );
        assert_eq!(
            dev.cdrom.as_deref(),
            Some("nfs://10.231.250.2/export/secondary/iso/1/ipxe.iso")
        );
        let without = read_devices(&domain_xml(&s, None, 262_144)).unwrap();
        assert!(!without.has_config_drive);
        // A definition gets the drive replaced, or added when it had none.
        let other = std::path::Path::new("/g/config-2.iso");
        let replaced = with_config_drive(&xml, other).unwrap();
        let dev = read_devices(&replaced).unwrap();
        assert_eq!(dev.config_drive.as_deref(), Some("/g/config-2.iso"));
        assert_eq!(replaced.matches("device='cdrom'").count(), 2);
        let added = with_config_drive(&domain_xml(&s, None, 262_144), other).unwrap();
        assert_eq!(
            read_devices(&added).unwrap().config_drive.as_deref(),
            Some("/g/config-2.iso")
        );
        assert!(with_config_drive("<domain/>", other).is_err());
        // The media change's device XML parses and names the same drive.
        let upd = config_drive_xml(drive);
        let doc = roxmltree::Document::parse(&upd).unwrap();
        assert_eq!(
            child(doc.root_element(), "target").attribute("dev"),
            Some("hdd")
        );
    }

    #[test]
    fn reads_back_the_console_port_and_the_iso() {
        let live = "<domain type='qemu'><name>x</name><devices>
            <disk type='network' device='disk'><source protocol='nfs' name='/p/r.qcow2'><host name='h'/></source><target dev='vda' bus='virtio'/></disk>
            <disk type='network' device='cdrom'><source protocol='nfs' name='/s/iso/1.iso' index='1'><host name='10.0.0.5'/></source><target dev='hdc' bus='ide'/></disk>
            <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'/></devices></domain>";
        assert_eq!(
            read_devices(live).unwrap(),
            DomainDevices {
                vnc_port: Some(5901),
                cdrom: Some("nfs://10.0.0.5/s/iso/1.iso".into()),
                disks: vec!["vda".into()],
                ..Default::default()
            }
        );
        let inactive = live.replace("port='5901'", "port='-1'");
        assert_eq!(read_devices(&inactive).unwrap().vnc_port, None);
        let cd = cdrom_xml(None);
        let doc = roxmltree::Document::parse(&cd).unwrap();
        assert_eq!(doc.root_element().attribute("device"), Some("cdrom"));
        assert!(read_devices("<domain>").is_err());
    }

    #[test]
    fn a_migrating_vm_gets_the_destinations_drive_and_nothing_else() {
        let xml = "<domain><devices><disk type='file' device='cdrom'><source file='/var/lib/stratus-agent/guests/x/config-aa.iso'/><target dev='hdd' bus='ide'/><address type='drive' unit='1'/></disk></devices></domain>";
        let out = with_config_drive_source(
            xml,
            std::path::Path::new("/var/lib/stratus-agent/guests/x/config-bb.iso"),
        )
        .unwrap();
        assert_eq!(out, xml.replace("config-aa", "config-bb"));
        assert!(with_config_drive_source(xml, std::path::Path::new("/a'b")).is_err());
        assert!(with_config_drive_source(
            "<domain><devices/></domain>",
            std::path::Path::new("/x")
        )
        .is_err());
    }
}
