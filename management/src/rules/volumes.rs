//! Data volumes' rules (issue 16), as CloudStack's VolumeApiServiceImpl decides them:
//! which device a volume gets on its VM, and which size a createVolume or resizeVolume
//! asks for. Pure: the callers bring what the database holds.

use stratus_api::agent::{CDROM_DEVICE_ID, MAX_DEVICE_ID};

/// The device a data volume gets on a VM whose volumes use `used`: `wanted` if it is a
/// data device (1, 2, 4…[`MAX_DEVICE_ID`]) and free, else the lowest free one. The text
/// is CloudStack's reason.
pub fn device_for(used: &[i32], wanted: Option<i64>) -> Result<i32, String> {
    let max = i64::from(MAX_DEVICE_ID);
    match wanted {
        Some(d) => {
            if d < 1 || d > max || d == i64::from(CDROM_DEVICE_ID) {
                return Err(format!(
                    "deviceId should be 1,2,4-{max} (0 is the root volume's, 3 the CD-ROM's)"
                ));
            }
            let d = d as i32;
            if used.contains(&d) {
                return Err(format!("deviceId {d} is used by another volume of the VM"));
            }
            Ok(d)
        }
        None => (1..=MAX_DEVICE_ID as i32)
            .filter(|d| *d != CDROM_DEVICE_ID as i32)
            .find(|d| !used.contains(d))
            .ok_or_else(|| {
                format!(
                    "All device ids are used: a VM has at most {} data volumes",
                    MAX_DEVICE_ID - 1
                )
            }),
    }
}

/// The largest data volume, in GB (CloudStack's `custom.diskoffering.size.max`, 1024).
pub const MAX_SIZE_GB: i64 = 1024;

/// A createVolume's size in bytes: the offering's fixed size (then no `size`), or `size`
/// GB for a custom offering (`offering_gb` none).
pub fn create_size(offering_gb: Option<i64>, size_gb: Option<i64>) -> Result<i64, String> {
    match (offering_gb, size_gb) {
        (Some(_), Some(_)) => Err(
            "size may be given only with a custom disk offering (one without a disk size)".into(),
        ),
        (Some(gb), None) => Ok(gb << 30),
        (None, None) => {
            Err("the disk offering is custom: give the volume's size (in GB) with size".into())
        }
        (None, Some(gb)) => gb_bytes(gb),
    }
}

/// `gb` as bytes, within 1…[`MAX_SIZE_GB`].
pub fn gb_bytes(gb: i64) -> Result<i64, String> {
    if !(1..=MAX_SIZE_GB).contains(&gb) {
        return Err(format!(
            "size {gb} GB: a volume's size must be 1-{MAX_SIZE_GB} GB"
        ));
    }
    Ok(gb << 30)
}

/// Whether a resize from `from` to `to` bytes may go ahead: a shrink only with
/// `shrinkok=true` (CloudStack's rule); the same size is nothing to do (`Ok(false)`).
pub fn resize_allowed(from: i64, to: i64, shrink_ok: bool) -> Result<bool, String> {
    if to == from {
        return Ok(false);
    }
    if to < from && !shrink_ok {
        return Err(format!(
            "Going from existing size of {from} to size of {to} would shrink the volume. Need to sign off by supplying the shrinkok parameter with value of true."
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_as_cloudstack_allocates_them() {
        assert_eq!(device_for(&[0], None), Ok(1));
        assert_eq!(device_for(&[0, 1, 2], None), Ok(4), "3 is the CD-ROM's");
        assert_eq!(device_for(&[0, 2], None), Ok(1));
        assert_eq!(device_for(&[0], Some(5)), Ok(5));
        for bad in [0, 3, 8, -1, i64::MAX] {
            let e = device_for(&[0], Some(bad)).unwrap_err();
            assert!(e.starts_with("deviceId should be 1,2,4-7"), "{bad}: {e}");
        }
        assert!(device_for(&[0, 2], Some(2))
            .unwrap_err()
            .contains("used by"));
        let full = [0, 1, 2, 4, 5, 6, 7];
        assert!(device_for(&full, None)
            .unwrap_err()
            .contains("at most 6 data volumes"));
    }

    #[test]
    fn sizes() {
        assert_eq!(create_size(Some(5), None), Ok(5 << 30));
        assert_eq!(create_size(None, Some(2)), Ok(2 << 30));
        assert!(create_size(Some(5), Some(2)).is_err());
        assert!(create_size(None, None).unwrap_err().contains("custom"));
        assert!(create_size(None, Some(0)).is_err());
        assert!(create_size(None, Some(MAX_SIZE_GB + 1)).is_err());
        assert!(create_size(None, Some(i64::MAX)).is_err());
        assert_eq!(resize_allowed(1, 2, false), Ok(true));
        assert_eq!(resize_allowed(2, 2, false), Ok(false));
        assert!(resize_allowed(2, 1, false)
            .unwrap_err()
            .contains("shrinkok"));
        assert_eq!(resize_allowed(2, 1, true), Ok(true));
    }
}
