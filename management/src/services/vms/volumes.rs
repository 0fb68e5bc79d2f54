//! Volume files on primary storage: qcow2 images created and removed by the management
//! server over NFS (`qemu-img` with its NFS driver, no kernel mount), which guests then
//! use as libvirt network disks.

use std::time::Duration;

use crate::clients::nfs::{NfsClient, NfsUrl};

/// How long `qemu-img create` may take (it writes only the qcow2 header).
const QEMU_IMG_TIMEOUT: Duration = Duration::from_secs(60);

/// The file of a volume, relative to its pool's export.
pub fn volume_path(volume_id: uuid::Uuid) -> String {
    format!("{volume_id}.qcow2")
}

/// `nfs://server[:port]/export/rel`, as qemu-img and libvirt take it.
pub fn nfs_file_url(pool: &NfsUrl, rel: &str) -> String {
    let port = pool.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "nfs://{}{port}{}/{}",
        pool.host(),
        pool.path().trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}

/// Creates a thin qcow2 of `size_bytes` at `rel` on the pool. The error is qemu-img's
/// own text (e.g. the export refused the mount).
pub async fn create_qcow2(pool: &NfsUrl, rel: &str, size_bytes: u64) -> Result<(), String> {
    let url = nfs_file_url(pool, rel);
    let run = tokio::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", &url, &size_bytes.to_string()])
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(QEMU_IMG_TIMEOUT, run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => {
            return Err(format!(
                "qemu-img create {url} did not finish within {} s",
                QEMU_IMG_TIMEOUT.as_secs()
            ))
        }
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img create {url} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `qemu-img convert` of `src` (`raw` or `qcow2`) into a standalone qcow2 at `dst`
/// (paths or `nfs://` URLs; a source's backing chain is read through, so the result has
/// no backing file). qemu-img's own text on failure.
pub async fn convert_to_qcow2(
    src: &str,
    src_format: &str,
    dst: &str,
    timeout: Duration,
) -> Result<(), String> {
    let run = tokio::process::Command::new("qemu-img")
        .args(["convert", "-q", "-f", src_format, "-O", "qcow2", src, dst])
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => return Err(format!("not finished within {} s", timeout.as_secs())),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img convert: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `qemu-img convert -U` of the standalone qcow2 at `src` into a qcow2 at `dst` (issue 16:
/// volume snapshots); `dst_base` makes the result an overlay on that base (what a root
/// volume must stay: its domain names the base), with only what differs from it written.
/// An overlay source is read with its base named by full URL first ([`set_backing`]):
/// QEMU 7.2's NFS driver opens neither a relative backing name nor an `nfs://` file name
/// inside a `json:` one (ENOENT), so a base cannot be named on the command line.
pub async fn convert_chain(
    src: &str,
    dst: &str,
    dst_base: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let mut args: Vec<&str> = vec!["convert", "-U", "-q", "-f", "qcow2", "-O", "qcow2"];
    if let Some(b) = dst_base {
        args.extend(["-B", b, "-F", "qcow2"]);
    }
    args.extend([src, dst]);
    let run = tokio::process::Command::new("qemu-img")
        .args(&args)
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => return Err(format!("not finished within {} s", timeout.as_secs())),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img convert: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Rewrites which file the qcow2 at `url` names as its backing (`qemu-img rebase -u`:
/// the header only, no data moves). Why: an overlay names its base relative to itself,
/// and QEMU 7.2's NFS driver resolves a relative backing name wrongly (under the
/// overlay's own name, as if it were a directory). Guests are unaffected (libvirt names
/// the backing file explicitly); `qemu-img convert` reading an overlay is, so the base
/// is named by its full URL while it reads, and relative again after.
pub async fn set_backing(url: &str, backing: &str) -> Result<(), String> {
    let run = tokio::process::Command::new("qemu-img")
        .args([
            "rebase", "-u", "-f", "qcow2", "-b", backing, "-F", "qcow2", url,
        ])
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(QEMU_IMG_TIMEOUT, run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => return Err(format!("qemu-img rebase {url} did not finish in time")),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img rebase {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `qemu-img resize` of the qcow2 at `url` to `size_bytes` (data volumes, issue 16);
/// `shrink` lets it get smaller (what is past the end is lost). qemu-img's text on failure.
pub async fn resize_qcow2(url: &str, size_bytes: u64, shrink: bool) -> Result<(), String> {
    let mut args = vec!["resize", "-q", "-f", "qcow2"];
    if shrink {
        args.push("--shrink");
    }
    let size = size_bytes.to_string();
    args.extend([url, size.as_str()]);
    let run = tokio::process::Command::new("qemu-img")
        .args(&args)
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(QEMU_IMG_TIMEOUT, run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => return Err(format!("qemu-img resize {url} did not finish in time")),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img resize {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes a volume's file; a file that is already gone is fine (idempotent).
pub async fn remove(pool: &NfsUrl, rel: &str) -> Result<(), String> {
    let mut c = NfsClient::connect(pool, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    match c.remove(rel).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// What `qemu-img snapshot` does to a qcow2's internal snapshots (VM snapshots of a
/// stopped VM, issue 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOp {
    Create,
    Apply,
    Delete,
}

/// The image options of the qcow2 at `url` opened alone: without its backing file (an
/// internal snapshot is the overlay's own; and QEMU 7.2's NFS driver resolves a relative
/// backing name wrongly, see [`set_backing`]).
fn image_opts(url: &str) -> String {
    // Image options name the protocol driver's fields (a bare filename there would be a
    // local path): `nfs://host/path` is server.host and path.
    if let Some((host, path)) = url
        .strip_prefix("nfs://")
        .and_then(|rest| rest.split_once('/'))
    {
        return format!(
            "driver=qcow2,file.driver=nfs,file.server.type=inet,file.server.host={host},file.path=/{path},backing="
        );
    }
    format!("driver=qcow2,file.filename={url},backing=")
}

async fn qemu_img_snapshot(args: &[&str], url: &str) -> Result<String, String> {
    let opts = image_opts(url);
    let mut all = vec!["snapshot", "--image-opts"];
    all.extend_from_slice(args);
    all.push(&opts);
    let run = tokio::process::Command::new("qemu-img")
        .args(&all)
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(QEMU_IMG_TIMEOUT, run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => return Err(format!("qemu-img snapshot {url} did not finish in time")),
    };
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        // Its warning about `backing=` is not the failure.
        let err: Vec<&str> = err.lines().filter(|l| !l.contains("warning:")).collect();
        Err(format!("qemu-img snapshot {url}: {}", err.join(" ").trim()))
    }
}

/// The names of the internal snapshots of the qcow2 at `url`.
pub async fn snapshot_names(url: &str) -> Result<Vec<String>, String> {
    let out = qemu_img_snapshot(&["-l"], url).await?;
    Ok(parse_snapshot_list(&out))
}

/// `qemu-img snapshot -l`'s table: the TAG column of each row.
fn parse_snapshot_list(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.starts_with("ID"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// Creates, applies or deletes the internal snapshot `name` of the qcow2 at `url` (a
/// stopped VM's volume: nothing else may have it open). Idempotent: creating one that
/// exists, or deleting one that does not, is fine; applying a missing one is not.
pub async fn snapshot_qcow2(url: &str, op: SnapshotOp, name: &str) -> Result<(), String> {
    let has = snapshot_names(url).await?.iter().any(|n| n == name);
    match (op, has) {
        (SnapshotOp::Create, true) | (SnapshotOp::Delete, false) => Ok(()),
        (SnapshotOp::Apply, false) => Err(format!("{url} has no snapshot {name}")),
        (SnapshotOp::Create, false) => qemu_img_snapshot(&["-c", name], url).await.map(drop),
        (SnapshotOp::Apply, true) => qemu_img_snapshot(&["-a", name], url).await.map(drop),
        (SnapshotOp::Delete, true) => qemu_img_snapshot(&["-d", name], url).await.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        let p = NfsUrl::parse("nfs://10.0.0.5/export/primary/").unwrap();
        assert_eq!(
            nfs_file_url(&p, "a.qcow2"),
            "nfs://10.0.0.5/export/primary/a.qcow2"
        );
        let p = NfsUrl::parse("nfs://10.0.0.5:2050/x").unwrap();
        assert_eq!(
            nfs_file_url(&p, "/b.qcow2"),
            "nfs://10.0.0.5:2050/x/b.qcow2"
        );
    }

    #[tokio::test]
    async fn internal_snapshots_of_an_overlay_without_its_base() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.qcow2");
        let ov = dir.path().join("ov.qcow2");
        create_qcow2_local(&base, None).await;
        create_qcow2_local(&ov, Some("base.qcow2")).await;
        // The base gone: the overlay's own snapshots are still its own business.
        std::fs::remove_file(&base).unwrap();
        let url = ov.display().to_string();
        assert!(snapshot_names(&url).await.unwrap().is_empty());
        snapshot_qcow2(&url, SnapshotOp::Create, "s1")
            .await
            .unwrap();
        snapshot_qcow2(&url, SnapshotOp::Create, "s1")
            .await
            .unwrap();
        assert_eq!(snapshot_names(&url).await.unwrap(), ["s1"]);
        snapshot_qcow2(&url, SnapshotOp::Apply, "s1").await.unwrap();
        let e = snapshot_qcow2(&url, SnapshotOp::Apply, "s2")
            .await
            .unwrap_err();
        assert!(e.contains("no snapshot s2"), "{e}");
        snapshot_qcow2(&url, SnapshotOp::Delete, "s1")
            .await
            .unwrap();
        snapshot_qcow2(&url, SnapshotOp::Delete, "s1")
            .await
            .unwrap();
        assert!(snapshot_names(&url).await.unwrap().is_empty());
    }

    async fn create_qcow2_local(path: &std::path::Path, backing: Option<&str>) {
        let mut c = tokio::process::Command::new("qemu-img");
        c.args(["create", "-q", "-f", "qcow2"]);
        if let Some(b) = backing {
            c.args(["-b", b, "-F", "qcow2"]);
        }
        let st = c.arg(path).arg("1M").status().await.unwrap();
        assert!(st.success());
    }
}

/// Why a copy on secondary storage could not be put in its place.
#[derive(Debug)]
pub enum PublishError {
    /// The store did not answer or refused (its text).
    Store(String),
    /// The copy is not a standalone qcow2 (what the header check said).
    NotStandalone(String),
}

/// Puts a copy written to `part` on secondary storage at `place`, only if it is what every
/// template and snapshot there is: a standalone qcow2 (no backing file, a virtual size).
/// The rename is the commit: until it, nothing reads the copy. Returns the file's size
/// and its virtual size.
pub async fn publish_standalone(
    nfs: &mut NfsClient,
    part: &str,
    place: &str,
) -> Result<(u64, u64), PublishError> {
    use crate::services::downloads::header;
    let store = |e: crate::clients::nfs::NfsError| PublishError::Store(e.to_string());
    let head = nfs.read(part, 0, header::HEAD_MAX).await.map_err(store)?;
    let virtual_size = match header::qcow2(&head) {
        header::Verdict::Good(Some(v)) => v,
        other => return Err(PublishError::NotStandalone(format!("{other:?}"))),
    };
    nfs.rename(part, place).await.map_err(store)?;
    let size = nfs.size(place).await.map_err(store)?;
    Ok((size, virtual_size))
}

/// Connects to secondary storage and makes the directory a copy for `place` is written
/// in (the copy itself goes to `place` + `.part` first; see [`publish_standalone`]).
pub async fn open_place(store: &NfsUrl, place: &str) -> Result<NfsClient, PublishError> {
    let store_err = |e: crate::clients::nfs::NfsError| PublishError::Store(e.to_string());
    let mut nfs = NfsClient::connect(store, Duration::from_secs(10))
        .await
        .map_err(store_err)?;
    let dir = place.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    nfs.mkdir_all(dir).await.map_err(store_err)?;
    Ok(nfs)
}
