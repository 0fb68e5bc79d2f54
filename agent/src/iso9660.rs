//! A small ISO 9660 image writer with Joliet names, for config drives. Pure: files in,
//! image bytes out.
//!
//! Why our own: hosts are added over SSH and we install no packages on them, so the
//! agent cannot count on `genisoimage`/`xorriso` (CloudStack's KVM agent shells out to
//! `genisoimage -J -r -l -V config-2`), and no maintained crate writes ISO 9660. A config
//! drive is a handful of small files, which keeps the format simple:
//!
//! - sectors 0–15 empty; 16 the primary volume descriptor; 17 a Joliet supplementary
//!   descriptor (UCS-2, escape `%/E`); 18 the terminator;
//! - for each tree (primary, then Joliet) its little- and big-endian path tables and its
//!   directories; then the files' data, shared by both trees;
//! - the primary tree has upper-case names of at most 30 characters (what strict readers
//!   accept); the Joliet tree has the real names (up to 64 UCS-2 characters), which is
//!   what Linux's isofs (and so cloud-init, which mounts the drive) and blkid's label
//!   read. Both carry the volume label (`config-2`).
//!
//! Everything is deterministic (fixed dates): the same files give the same image, so an
//! image's hash names its content.

use std::collections::BTreeMap;

const SECTOR: usize = 2048;
/// The Joliet limit for one name.
const JOLIET_NAME_MAX: usize = 64;
/// At most this many bytes of image (config drives are far smaller; CloudStack caps them
/// at 64 MiB).
pub const IMAGE_MAX_BYTES: usize = 16 << 20;

/// A directory record's date: 2000-01-01 00:00:00 UTC (fixed, for reproducible images).
const RECORD_DATE: [u8; 7] = [100, 1, 1, 0, 0, 0, 0];

fn both16(v: u16) -> [u8; 4] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], b[0], b[1]]
}

fn both32(v: u32) -> [u8; 8] {
    let l = v.to_le_bytes();
    let b = v.to_be_bytes();
    [l[0], l[1], l[2], l[3], b[0], b[1], b[2], b[3]]
}

fn sectors(bytes: usize) -> usize {
    bytes.div_ceil(SECTOR).max(1)
}

/// One directory of the image, with its children sorted by name.
#[derive(Debug, Default)]
struct Dir {
    dirs: BTreeMap<String, Dir>,
    files: BTreeMap<String, usize>,
}

/// A node's identifiers in one tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Primary,
    Joliet,
}

/// The identifier bytes of a name in a tree (primary files get `;1`).
fn ident(tree: Tree, name: &str, is_file: bool) -> Vec<u8> {
    match tree {
        Tree::Primary => {
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) if is_file && !s.is_empty() => (s, Some(e)),
                _ => (name, None),
            };
            let clean = |s: &str, max: usize| -> String {
                s.chars()
                    .map(|c| {
                        let c = c.to_ascii_uppercase();
                        if c.is_ascii_uppercase() || c.is_ascii_digit() {
                            c
                        } else {
                            '_'
                        }
                    })
                    .take(max)
                    .collect()
            };
            let mut out = if is_file {
                let ext = ext.map(|e| clean(e, 3)).unwrap_or_default();
                format!("{}.{ext}", clean(stem, 26))
            } else {
                clean(name, 30)
            };
            if is_file {
                out.push_str(";1");
            }
            out.into_bytes()
        }
        // No `;1` here (as genisoimage writes Joliet names; readers take both).
        Tree::Joliet => name.encode_utf16().flat_map(|u| u.to_be_bytes()).collect(),
    }
}

/// A primary identifier made unique with a number (`NAME_2.EXT;1`).
fn renumber(id: &[u8], is_dir: bool, n: usize) -> Vec<u8> {
    let s = String::from_utf8_lossy(id).to_string();
    let s = s.trim_end_matches(";1");
    let (stem, ext) = match s.rsplit_once('.') {
        Some((a, b)) if !is_dir => (a, Some(b)),
        _ => (s, None),
    };
    let suffix = format!("_{n}");
    let keep = (if is_dir { 30usize } else { 26 }).saturating_sub(suffix.len());
    let mut out: String = stem.chars().take(keep).collect();
    out.push_str(&suffix);
    if let Some(e) = ext {
        out.push('.');
        out.push_str(e);
    }
    if !is_dir {
        out.push_str(";1");
    }
    out.into_bytes()
}

fn dir_record(ident: &[u8], extent: u32, size: u32, is_dir: bool) -> Vec<u8> {
    let len = 33 + ident.len() + (1 - ident.len() % 2);
    let mut r = Vec::with_capacity(len);
    r.push(len as u8);
    r.push(0);
    r.extend(both32(extent));
    r.extend(both32(size));
    r.extend(RECORD_DATE);
    r.push(if is_dir { 2 } else { 0 });
    r.push(0);
    r.push(0);
    r.extend(both16(1));
    r.push(ident.len() as u8);
    r.extend(ident);
    r.resize(len, 0);
    r
}

/// A directory as laid out in one tree: its records (for sizing and writing).
struct Laid {
    /// Parent's index in `laid` (the root is its own parent).
    parent: usize,
    ident: Vec<u8>,
    /// (identifier, child: directory index or file index, is_dir)
    entries: Vec<(Vec<u8>, usize, bool)>,
    extent: u32,
    size: u32,
}

/// Breadth-first order, as the path table wants: level by level, by parent, by name.
fn lay_out(root: &Dir, tree: Tree) -> Vec<Laid> {
    let mut out = vec![Laid {
        parent: 0,
        ident: vec![0],
        entries: vec![],
        extent: 0,
        size: 0,
    }];
    let mut queue: std::collections::VecDeque<(usize, &Dir)> = [(0, root)].into();
    while let Some((idx, dir)) = queue.pop_front() {
        let mut entries = vec![];
        // Primary names are cut down: two that become one get a number.
        let mut seen = std::collections::HashSet::new();
        let mut unique = |id: Vec<u8>, is_dir: bool| {
            let mut id = id;
            let mut n = 1;
            while !seen.insert(id.clone()) {
                id = renumber(&id, is_dir, n);
                n += 1;
            }
            id
        };
        for (name, child) in &dir.dirs {
            let id = unique(ident(tree, name, false), true);
            let child_idx = out.len();
            out.push(Laid {
                parent: idx,
                ident: id.clone(),
                entries: vec![],
                extent: 0,
                size: 0,
            });
            entries.push((id, child_idx, true));
            queue.push_back((child_idx, child));
        }
        for (name, file) in &dir.files {
            entries.push((unique(ident(tree, name, true), false), *file, false));
        }
        // Records sorted by identifier, as the standard asks (readers scan anyway).
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(l) = out.get_mut(idx) {
            l.entries = entries;
        }
    }
    out
}

/// The size in bytes of a directory's records, none crossing a sector boundary.
fn dir_bytes(l: &Laid) -> usize {
    let mut used = 0usize;
    let mut add = |len: usize| {
        if used % SECTOR + len > SECTOR {
            used = used.div_ceil(SECTOR) * SECTOR;
        }
        used += len;
    };
    add(34);
    add(34);
    for (id, _, _) in &l.entries {
        add(33 + id.len() + (1 - id.len() % 2));
    }
    used.div_ceil(SECTOR) * SECTOR
}

fn path_table(laid: &[Laid], big_endian: bool) -> Vec<u8> {
    let mut t = vec![];
    for l in laid {
        t.push(l.ident.len() as u8);
        t.push(0);
        if big_endian {
            t.extend(l.extent.to_be_bytes());
            t.extend(((l.parent + 1) as u16).to_be_bytes());
        } else {
            t.extend(l.extent.to_le_bytes());
            t.extend(((l.parent + 1) as u16).to_le_bytes());
        }
        t.extend(&l.ident);
        if l.ident.len() % 2 == 1 {
            t.push(0);
        }
    }
    t
}

fn put(img: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = img.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Text of a descriptor field: `a`-characters space-padded (primary), or UCS-2BE
/// space-padded (Joliet).
fn field(tree: Tree, text: &str, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = match tree {
        Tree::Primary => text.bytes().take(len).collect(),
        Tree::Joliet => text
            .encode_utf16()
            .take(len / 2)
            .flat_map(|u| u.to_be_bytes())
            .collect(),
    };
    while out.len() < len {
        match tree {
            Tree::Primary => out.push(b' '),
            Tree::Joliet if len - out.len() >= 2 => out.extend([0, b' ']),
            Tree::Joliet => out.push(0),
        }
    }
    out
}

/// Builds the image: `files` are (path with `/` separators, contents). Names must be
/// 1–64 characters without control characters, `/`, `\`, `:`, `*`, `?`, `;`.
pub fn build(label: &str, files: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    let mut root = Dir::default();
    for (i, (path, _)) in files.iter().enumerate() {
        let parts: Vec<&str> = path.split('/').collect();
        let Some((file, dirs)) = parts.split_last() else {
            return Err(format!("'{path}' is not a file path"));
        };
        let mut d = &mut root;
        for name in dirs.iter().chain(std::iter::once(file)) {
            let ok = !name.is_empty()
                && *name != "."
                && *name != ".."
                && name.encode_utf16().count() <= JOLIET_NAME_MAX - 2
                && !name
                    .chars()
                    .any(|c| c.is_control() || "/\\:*?;".contains(c));
            if !ok {
                return Err(format!("'{path}': '{name}' is not a usable file name"));
            }
        }
        for name in dirs {
            if d.files.contains_key(*name) {
                return Err(format!("'{path}': '{name}' is a file"));
            }
            d = d.dirs.entry(name.to_string()).or_default();
        }
        if d.dirs.contains_key(*file) || d.files.insert(file.to_string(), i).is_some() {
            return Err(format!("'{path}' is given twice"));
        }
    }
    let total_data: usize = files.iter().map(|(_, b)| b.len()).sum();
    if total_data > IMAGE_MAX_BYTES {
        return Err(format!(
            "the files have {total_data} bytes: over the config drive's {IMAGE_MAX_BYTES}"
        ));
    }

    let mut trees = [lay_out(&root, Tree::Primary), lay_out(&root, Tree::Joliet)];

    // Allocation: descriptors (16..=18), then per tree its path tables and directories,
    // then file data.
    let mut next = 19usize;
    let mut tables = [(0u32, 0u32, 0usize); 2];
    for (ti, t) in trees.iter_mut().enumerate() {
        let size = path_table(t, false).len();
        let l_at = next;
        next += sectors(size);
        let m_at = next;
        next += sectors(size);
        tables[ti] = (l_at as u32, m_at as u32, size);
        for l in t.iter_mut() {
            let bytes = dir_bytes(l);
            l.extent = next as u32;
            l.size = bytes as u32;
            next += bytes / SECTOR;
        }
    }
    let mut file_at = vec![0u32; files.len()];
    for (i, (_, data)) in files.iter().enumerate() {
        file_at[i] = next as u32;
        next += sectors(data.len());
    }
    let total = next * SECTOR;
    if total > IMAGE_MAX_BYTES {
        return Err(format!(
            "the image would have {total} bytes: over {IMAGE_MAX_BYTES}"
        ));
    }
    let mut img = vec![0u8; total];

    for (ti, t) in trees.iter().enumerate() {
        let tree = if ti == 0 { Tree::Primary } else { Tree::Joliet };
        let (l_at, m_at, size) = tables[ti];
        put(&mut img, l_at as usize * SECTOR, &path_table(t, false));
        put(&mut img, m_at as usize * SECTOR, &path_table(t, true));
        for l in t {
            let base = l.extent as usize * SECTOR;
            let mut used = 0usize;
            let parent = &t[l.parent];
            let mut records = vec![
                dir_record(&[0], l.extent, l.size, true),
                dir_record(&[1], parent.extent, parent.size, true),
            ];
            for (id, child, is_dir) in &l.entries {
                records.push(if *is_dir {
                    let c = &t[*child];
                    dir_record(id, c.extent, c.size, true)
                } else {
                    let len = files.get(*child).map(|f| f.1.len()).unwrap_or(0);
                    dir_record(id, file_at[*child], len as u32, false)
                });
            }
            for r in records {
                if used % SECTOR + r.len() > SECTOR {
                    used = used.div_ceil(SECTOR) * SECTOR;
                }
                put(&mut img, base + used, &r);
                used += r.len();
            }
        }

        // The volume descriptor.
        let at = (16 + ti) * SECTOR;
        let mut vd = vec![0u8; SECTOR];
        vd[0] = if ti == 0 { 1 } else { 2 };
        vd[1..6].copy_from_slice(b"CD001");
        vd[6] = 1;
        vd[8..40].copy_from_slice(&field(tree, "LINUX", 32));
        vd[40..72].copy_from_slice(&field(tree, label, 32));
        vd[80..88].copy_from_slice(&both32(next as u32));
        if tree == Tree::Joliet {
            vd[88..91].copy_from_slice(b"%/E");
        }
        vd[120..124].copy_from_slice(&both16(1));
        vd[124..128].copy_from_slice(&both16(1));
        vd[128..132].copy_from_slice(&both16(SECTOR as u16));
        vd[132..140].copy_from_slice(&both32(size as u32));
        vd[140..144].copy_from_slice(&l_at.to_le_bytes());
        vd[148..152].copy_from_slice(&m_at.to_be_bytes());
        let root = &t[0];
        vd[156..190].copy_from_slice(&dir_record(&[0], root.extent, root.size, true));
        for (from, len) in [(190, 128), (318, 128), (446, 128), (574, 128)] {
            vd[from..from + len].copy_from_slice(&field(tree, "", len));
        }
        vd[574..702].copy_from_slice(&field(tree, "STRATUS", 128));
        for (from, len) in [(702, 37), (739, 37), (776, 37)] {
            vd[from..from + len].copy_from_slice(&field(tree, "", len));
        }
        // Dates "not specified": sixteen '0' digits and a zero offset.
        for from in [813, 830, 847, 864] {
            vd[from..from + 16].copy_from_slice(b"0000000000000000");
        }
        vd[881] = 1;
        put(&mut img, at, &vd);
    }
    let term = 18 * SECTOR;
    img[term] = 255;
    img[term + 1..term + 6].copy_from_slice(b"CD001");
    img[term + 6] = 1;

    for (i, (_, data)) in files.iter().enumerate() {
        put(&mut img, file_at[i] as usize * SECTOR, data);
    }
    Ok(img)
}

/// Files read from an image: (path, contents), sorted by path.
pub type Files = Vec<(String, Vec<u8>)>;

/// Reads an image back (its label and files) (the Joliet tree when present, else the primary one): every file
/// with its path and contents. For tests and for checking what is on a drive; bounded by
/// the image's size.
pub fn read(img: &[u8]) -> Result<(String, Files), String> {
    let sector = |n: usize| {
        img.get(n * SECTOR..(n + 1) * SECTOR)
            .ok_or_else(|| format!("sector {n} is past the image's end"))
    };
    let u32le = |b: &[u8], at: usize| -> Result<u32, String> {
        b.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| "truncated record".to_string())
    };
    let mut pvd = None;
    let mut joliet = None;
    for n in 16..32 {
        let s = sector(n)?;
        if &s[1..6] != b"CD001" {
            return Err(format!("sector {n} is not a volume descriptor"));
        }
        match s[0] {
            1 => pvd = Some(s),
            2 if &s[88..91] == b"%/E" || &s[88..91] == b"%/@" || &s[88..91] == b"%/C" => {
                joliet = Some(s)
            }
            255 => break,
            _ => {}
        }
    }
    let pvd = pvd.ok_or("no primary volume descriptor")?;
    let (vd, is_joliet) = match joliet {
        Some(j) => (j, true),
        None => (pvd, false),
    };
    let decode = |b: &[u8]| -> String {
        if is_joliet {
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(b).to_string()
        }
    };
    let label = decode(&vd[40..72]).trim_end().to_string();
    let mut out = vec![];
    let mut stack = vec![(String::new(), u32le(vd, 156 + 2)?, u32le(vd, 156 + 10)?)];
    let mut visited = 0usize;
    while let Some((prefix, extent, size)) = stack.pop() {
        visited += 1;
        if visited > 10_000 {
            return Err("too many directories".into());
        }
        let start = extent as usize * SECTOR;
        let dir = img
            .get(start..start + size as usize)
            .ok_or("a directory is past the image's end")?;
        let mut at = 0usize;
        while at < dir.len() {
            let len = dir[at] as usize;
            if len == 0 {
                at = (at / SECTOR + 1) * SECTOR;
                continue;
            }
            let rec = dir.get(at..at + len).ok_or("truncated directory record")?;
            at += len;
            let id_len = *rec.get(32).ok_or("short record")? as usize;
            let id = rec.get(33..33 + id_len).ok_or("short identifier")?;
            if id == [0] || id == [1] {
                continue;
            }
            let mut name = decode(id);
            if let Some(n) = name.strip_suffix(";1") {
                name = n.to_string();
            }
            let path = format!("{prefix}{name}");
            let (ext, sz) = (u32le(rec, 2)?, u32le(rec, 10)?);
            if rec[25] & 2 != 0 {
                stack.push((format!("{path}/"), ext, sz));
            } else {
                let s = ext as usize * SECTOR;
                let data = img
                    .get(s..s + sz as usize)
                    .ok_or("a file is past the image's end")?;
                out.push((path, data.to_vec()));
            }
        }
    }
    out.sort();
    Ok((label, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "openstack/latest/meta_data.json",
                b"{\"uuid\":\"x\"}".to_vec(),
            ),
            ("openstack/latest/user_data", vec![7u8; 5000]),
            ("openstack/latest/vendor_data.json", b"{}".to_vec()),
            (
                "cloudstack/metadata/availability-zone.txt",
                b"zone1".to_vec(),
            ),
            ("cloudstack/userdata/user_data.txt", vec![7u8; 5000]),
            ("empty.txt", vec![]),
        ]
    }

    fn build_sample() -> Vec<u8> {
        let s = sample();
        let files: Vec<(&str, &[u8])> = s.iter().map(|(p, d)| (*p, d.as_slice())).collect();
        build("config-2", &files).unwrap()
    }

    #[test]
    fn reads_back_long_names_label_and_contents() {
        let img = build_sample();
        assert_eq!(img.len() % SECTOR, 0);
        let (label, files) = read(&img).unwrap();
        assert_eq!(label, "config-2");
        let mut want: Vec<(String, Vec<u8>)> = sample()
            .into_iter()
            .map(|(p, d)| (p.to_string(), d))
            .collect();
        want.sort();
        assert_eq!(files, want);
        // The primary descriptor carries the label too (blkid merges both).
        assert_eq!(&img[16 * SECTOR + 40..16 * SECTOR + 48], b"config-2");
        assert_eq!(&img[16 * SECTOR + 1..16 * SECTOR + 6], b"CD001");
        assert_eq!(img[18 * SECTOR], 255);
    }

    #[test]
    fn deterministic() {
        assert_eq!(build_sample(), build_sample());
    }

    #[test]
    fn many_files_span_directory_sectors() {
        let names: Vec<String> = (0..200)
            .map(|i| format!("dir/a-rather-long-file-name-number-{i:03}.txt"))
            .collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
        let img = build("config-2", &files).unwrap();
        let (_, back) = read(&img).unwrap();
        assert_eq!(back.len(), 200);
        for (p, d) in back {
            assert_eq!(p.as_bytes(), d.as_slice());
        }
    }

    #[test]
    fn refuses_bad_names_and_sizes() {
        for bad in ["", "a//b", "../x", "a/./b", "x;1", "a\u{1}b"] {
            assert!(build("l", &[(bad, b"x")]).is_err(), "{bad:?}");
        }
        assert!(build("l", &[("a", b"x"), ("a", b"y")]).is_err());
        assert!(build("l", &[("a", b"x"), ("a/b", b"y")]).is_err());
        let long = "n".repeat(63);
        assert!(build("l", &[(long.as_str(), b"x")]).is_err());
        let big = vec![0u8; IMAGE_MAX_BYTES + 1];
        assert!(build("l", &[("big", &big)]).is_err());
    }

    #[test]
    fn primary_names_that_collide_stay_apart() {
        let img = build("l", &[("a-b.txt", b"1"), ("a_b.txt", b"2")]).unwrap();
        let (_, files) = read(&img).unwrap();
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn reader_survives_garbage() {
        assert!(read(&[]).is_err());
        let mut img = build_sample();
        for i in (16 * SECTOR..img.len()).step_by(97) {
            img[i] ^= 0x5a;
        }
        let _ = read(&img);
    }
}
