//! What a downloaded disk image is, judged by its first bytes as they stream by: a
//! template registered as QCOW2 must be a QCOW2 image QEMU can open on its own, one
//! registered as RAW must not be a known container posing as raw. Pure functions over the
//! head of the file (at most [`HEAD_MAX`] bytes are kept), so a bad image fails after its
//! header, not after gigabytes, and the rules are unit-tested here.
//!
//! Why QCOW2 images with a backing file (or an external data file) are refused: QEMU
//! opens the file a QCOW2 header names, relative to the image or absolute, with the
//! hypervisor's rights. A tenant's image naming `/etc/shadow` or another tenant's disk
//! would read host files into the guest. CloudStack's own templates are standalone
//! images; so are ours. Images with incompatible features QEMU 7.2 may not know, encrypted
//! images (no key to open them) and images marked corrupt are refused as well.

/// At most this much of a file's head is kept for the checks: QCOW2 header extensions
/// live in the first cluster, and 64 KiB (the default cluster) is plenty in practice.
pub const HEAD_MAX: usize = 64 * 1024;

/// The QCOW2 magic, `QFI\xfb`.
pub const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

/// Incompatible feature bits QEMU 7.2 knows: dirty (0), corrupt (1), external data file
/// (2), compression type (3), extended L2 entries (4).
const KNOWN_INCOMPATIBLE: u64 = 0b1_1111;
const INCOMPATIBLE_CORRUPT: u64 = 1 << 1;
const INCOMPATIBLE_DATA_FILE: u64 = 1 << 2;
/// Header extension types that point at other files.
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_DATA_FILE: u32 = 0x4441_5441;

/// The verdict on a head seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// More bytes are needed to tell.
    NeedMore,
    /// Good; for QCOW2 the virtual size from the header.
    Good(Option<u64>),
    /// Not what it was registered as; the reason, in words.
    Bad(String),
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_be_bytes(a))
}

/// Judges the head of a file registered as QCOW2.
pub fn qcow2(head: &[u8]) -> Verdict {
    use Verdict::*;
    let Some(magic) = head.get(..4) else {
        return NeedMore;
    };
    if magic != QCOW2_MAGIC {
        return Bad(format!(
            "it does not start with the QCOW2 magic QFI\\xfb{}",
            looks_like(head)
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        ));
    }
    if head.len() < 72 {
        return NeedMore;
    }
    let (Some(version), Some(backing_offset), Some(backing_size), Some(cluster_bits)) =
        (be32(head, 4), be64(head, 8), be32(head, 16), be32(head, 20))
    else {
        return NeedMore;
    };
    let (Some(size), Some(crypt)) = (be64(head, 24), be32(head, 32)) else {
        return NeedMore;
    };
    if version != 2 && version != 3 {
        return Bad(format!("QCOW2 version {version} is not supported (2 or 3)"));
    }
    if backing_offset != 0 || backing_size != 0 {
        return Bad("it names a backing file; images with a backing file are refused, since QEMU would open that file on the host".into());
    }
    if !(9..=21).contains(&cluster_bits) {
        return Bad(format!("its cluster size 2^{cluster_bits} is invalid"));
    }
    if size == 0 {
        return Bad("its virtual size is 0".into());
    }
    if crypt != 0 {
        return Bad("it is encrypted; encrypted images are not supported".into());
    }
    let cluster = 1usize << cluster_bits;
    let mut at = 72usize;
    if version == 3 {
        if head.len() < 104 {
            return NeedMore;
        }
        let (Some(incompatible), Some(header_length)) = (be64(head, 72), be32(head, 100)) else {
            return NeedMore;
        };
        if incompatible & INCOMPATIBLE_DATA_FILE != 0 {
            return Bad("it uses an external data file; such images are refused, since QEMU would open that file on the host".into());
        }
        if incompatible & INCOMPATIBLE_CORRUPT != 0 {
            return Bad("it is marked corrupt".into());
        }
        if incompatible & !KNOWN_INCOMPATIBLE != 0 {
            return Bad(format!(
                "it has unknown incompatible features (0x{:x})",
                incompatible & !KNOWN_INCOMPATIBLE
            ));
        }
        let header_length = header_length as usize;
        if header_length < 104 || header_length > cluster {
            return Bad(format!("its header length {header_length} is invalid"));
        }
        at = header_length;
    }
    // Header extensions, up to the end marker (type 0).
    loop {
        if at + 8 > cluster {
            return Bad("its header extensions run past the first cluster".into());
        }
        if at + 8 > HEAD_MAX {
            return Bad("its header extensions are too long".into());
        }
        let (Some(kind), Some(len)) = (be32(head, at), be32(head, at + 4)) else {
            return NeedMore;
        };
        match kind {
            0 => return Good(Some(size)),
            EXT_DATA_FILE => return Bad("it names an external data file; such images are refused, since QEMU would open that file on the host".into()),
            EXT_BACKING_FORMAT => return Bad("it names a backing file format; images with a backing file are refused".into()),
            _ => {}
        }
        let padded = (len as usize).div_ceil(8).saturating_mul(8);
        at = at.saturating_add(8).saturating_add(padded);
    }
}

/// Judges the head of a file registered as RAW: anything but a known container (or a
/// web page); `complete` says the whole file is in `head`.
pub fn raw(head: &[u8], complete: bool) -> Verdict {
    if head.len() < 512 && !complete {
        return Verdict::NeedMore;
    }
    if head.is_empty() {
        return Verdict::Bad("it is empty".into());
    }
    match looks_like(head) {
        Some(what) => Verdict::Bad(format!("it is {what}")),
        None => Verdict::Good(None),
    }
}

/// What a file's head says it is, if it is a format we know that is not raw data.
fn looks_like(head: &[u8]) -> Option<String> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(&QCOW2_MAGIC) {
        return Some("a QCOW2 image (register it with format QCOW2)".into());
    }
    let known: [(&[u8], &str); 6] = [
        (b"QED\0", "a QED image"),
        (b"KDMV", "a VMDK image"),
        (b"# Disk DescriptorFile", "a VMDK descriptor"),
        (b"conectix", "a VHD image"),
        (b"vhdxfile", "a VHDX image"),
        (b"LUKS\xba\xbe", "a LUKS encrypted volume"),
    ];
    for (magic, what) in known {
        if starts(magic) {
            return Some(what.into());
        }
    }
    if head.get(64..68) == Some(&[0x7f, 0x10, 0xda, 0xbe][..]) {
        return Some("a VDI image".into());
    }
    let text: Vec<u8> = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(512)
        .map(u8::to_ascii_lowercase)
        .collect();
    if text.starts_with(b"<!doctype html") || text.starts_with(b"<html") {
        return Some("an HTML page, not a disk image".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QCOW2 v3 header with `size`, and `ext` header extensions (type, data).
    fn qcow2_v3(size: u64, ext: &[(u32, &[u8])]) -> Vec<u8> {
        let mut h = vec![0u8; 104];
        h[..4].copy_from_slice(&QCOW2_MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h[100..104].copy_from_slice(&104u32.to_be_bytes());
        for (kind, data) in ext {
            h.extend_from_slice(&kind.to_be_bytes());
            h.extend_from_slice(&(data.len() as u32).to_be_bytes());
            h.extend_from_slice(data);
            while !h.len().is_multiple_of(8) {
                h.push(0);
            }
        }
        h.extend_from_slice(&[0u8; 8]);
        h
    }

    #[test]
    fn qcow2_headers() {
        let good = qcow2_v3(1 << 30, &[(0x6803_f857, b"feature table")]);
        assert_eq!(qcow2(&good), Verdict::Good(Some(1 << 30)));
        // Any prefix of a good header needs more.
        for n in [0, 3, 4, 71, 103, good.len() - 1] {
            assert_eq!(qcow2(&good[..n]), Verdict::NeedMore, "{n}");
        }
        // Version 2: extensions right after the 72-byte header.
        let mut v2 = good[..72].to_vec();
        v2[4..8].copy_from_slice(&2u32.to_be_bytes());
        v2.extend_from_slice(&[0u8; 8]);
        assert_eq!(qcow2(&v2), Verdict::Good(Some(1 << 30)));

        let bad = |h: &[u8]| match qcow2(h) {
            Verdict::Bad(t) => t,
            v => panic!("{v:?}"),
        };
        assert!(bad(b"<html>........").contains("QCOW2 magic"));
        let mut backing = good.clone();
        backing[8..16].copy_from_slice(&512u64.to_be_bytes());
        backing[16..20].copy_from_slice(&11u32.to_be_bytes());
        assert!(bad(&backing).contains("backing file"));
        let mut data_file = good.clone();
        data_file[72..80].copy_from_slice(&4u64.to_be_bytes());
        assert!(bad(&data_file).contains("external data file"));
        assert!(bad(&qcow2_v3(1 << 20, &[(EXT_DATA_FILE, b"/etc/shadow")]))
            .contains("external data file"));
        assert!(bad(&qcow2_v3(1 << 20, &[(EXT_BACKING_FORMAT, b"raw")])).contains("backing file"));
        let mut unknown = good.clone();
        unknown[72..80].copy_from_slice(&(1u64 << 40).to_be_bytes());
        assert!(bad(&unknown).contains("unknown incompatible features"));
        let mut v4 = good.clone();
        v4[4..8].copy_from_slice(&4u32.to_be_bytes());
        assert!(bad(&v4).contains("version 4"));
        assert!(bad(&qcow2_v3(0, &[])).contains("virtual size is 0"));
        let mut crypt = good.clone();
        crypt[32..36].copy_from_slice(&1u32.to_be_bytes());
        assert!(bad(&crypt).contains("encrypted"));
        // Extensions that never end are refused, not waited for forever.
        let mut endless = good[..104].to_vec();
        for _ in 0..9000 {
            endless.extend_from_slice(&0x1234u32.to_be_bytes());
            endless.extend_from_slice(&0u32.to_be_bytes());
        }
        assert!(bad(&endless).contains("header extensions"));
    }

    #[test]
    fn raw_images() {
        let zeros = vec![0u8; 4096];
        assert_eq!(raw(&zeros, false), Verdict::Good(None));
        assert_eq!(raw(&zeros[..100], false), Verdict::NeedMore);
        assert_eq!(raw(&zeros[..100], true), Verdict::Good(None));
        let bad = |h: &[u8]| match raw(h, true) {
            Verdict::Bad(t) => t,
            v => panic!("{v:?}"),
        };
        assert_eq!(bad(b""), "it is empty");
        assert!(bad(&qcow2_v3(1 << 20, &[])).contains("QCOW2"));
        assert!(bad(b"  <!DOCTYPE html><html>").contains("HTML"));
        assert!(bad(b"vhdxfile and more").contains("VHDX"));
        let mut vdi = vec![0u8; 512];
        vdi[64..68].copy_from_slice(&[0x7f, 0x10, 0xda, 0xbe]);
        assert!(bad(&vdi).contains("VDI"));
    }
}
