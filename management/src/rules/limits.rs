//! Resource limits as CloudStack defines them: twelve resource types with fixed ordinals
//! (the wire's `resourcetype`), a maximum per owner (-1 unlimited) and the one check an
//! allocation must pass. Pure: the caller supplies what is in use under its lock.

use stratus_api::{ApiError, ErrorCode};

/// CloudStack's `Resource.ResourceType`, in ordinal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    UserVm = 0,
    PublicIp = 1,
    Volume = 2,
    Snapshot = 3,
    Template = 4,
    Project = 5,
    Network = 6,
    Vpc = 7,
    Cpu = 8,
    Memory = 9,
    PrimaryStorage = 10,
    SecondaryStorage = 11,
}

pub const GIB: i64 = 1 << 30;

impl ResourceKind {
    pub const ALL: [ResourceKind; 12] = [
        ResourceKind::UserVm,
        ResourceKind::PublicIp,
        ResourceKind::Volume,
        ResourceKind::Snapshot,
        ResourceKind::Template,
        ResourceKind::Project,
        ResourceKind::Network,
        ResourceKind::Vpc,
        ResourceKind::Cpu,
        ResourceKind::Memory,
        ResourceKind::PrimaryStorage,
        ResourceKind::SecondaryStorage,
    ];

    pub fn ordinal(self) -> i16 {
        self as i16
    }

    /// The name CloudStack answers as `resourcetypename` and accepts as `resourcetypename`.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::UserVm => "user_vm",
            ResourceKind::PublicIp => "public_ip",
            ResourceKind::Volume => "volume",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Template => "template",
            ResourceKind::Project => "project",
            ResourceKind::Network => "network",
            ResourceKind::Vpc => "vpc",
            ResourceKind::Cpu => "cpu",
            ResourceKind::Memory => "memory",
            ResourceKind::PrimaryStorage => "primary_storage",
            ResourceKind::SecondaryStorage => "secondary_storage",
        }
    }

    pub fn from_ordinal(v: i64) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|k| i64::from(k.ordinal()) == v)
    }

    pub fn from_name(v: &str) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(v.trim()))
    }

    /// Limits of these are given in GiB; their usage is counted in bytes.
    pub fn is_storage(self) -> bool {
        matches!(
            self,
            ResourceKind::PrimaryStorage | ResourceKind::SecondaryStorage
        )
    }

    /// A maximum as given (GiB for storage) in the unit usage is counted in.
    pub fn max_in_units(self, max: i64) -> i64 {
        if self.is_storage() {
            max.saturating_mul(GIB)
        } else {
            max
        }
    }

    /// An amount in usage units as CloudStack shows it next to limits (GiB for storage,
    /// rounded up so that something in use never shows as 0).
    pub fn shown(self, amount: i64) -> i64 {
        if self.is_storage() {
            (amount + GIB - 1).div_euclid(GIB)
        } else {
            amount
        }
    }
}

/// A maximum: -1 on the wire is unlimited; a negative setting means the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Unlimited,
    /// In the unit the limit is given in (count, MiB, or GiB for storage).
    Max(i64),
}

impl Limit {
    pub fn from_raw(v: i64) -> Limit {
        if v < 0 {
            Limit::Unlimited
        } else {
            Limit::Max(v)
        }
    }

    pub fn raw(self) -> i64 {
        match self {
            Limit::Unlimited => -1,
            Limit::Max(v) => v,
        }
    }

    /// As accounts answer it: a number, or "Unlimited".
    pub fn text(self) -> String {
        match self {
            Limit::Unlimited => "Unlimited".into(),
            Limit::Max(v) => v.to_string(),
        }
    }

    /// What is left, as accounts answer `*available` (never negative).
    pub fn available(self, kind: ResourceKind, used: i64) -> String {
        match self {
            Limit::Unlimited => "Unlimited".into(),
            Limit::Max(v) => (v - kind.shown(used)).max(0).to_string(),
        }
    }
}

/// `max` as updateResourceLimit takes it: -1 (or absent) or at least 0.
pub fn parse_max(max: Option<i64>) -> Result<Limit, ApiError> {
    match max {
        None | Some(-1) => Ok(Limit::Unlimited),
        Some(v) if v >= 0 => Ok(Limit::Max(v)),
        Some(_) => Err(ApiError::param(
            "Please specify either '-1' for an infinite limit, or a limit that is at least '0'.",
        )),
    }
}

/// Whether `requested` more of `kind` fits next to `used` (both in usage units) under
/// `limit`. The error names the type, the owner, the limit and the amounts, as
/// CloudStack's ResourceAllocationException does.
pub fn check(
    kind: ResourceKind,
    limit: Limit,
    used: i64,
    requested: i64,
    owner: &str,
) -> Result<(), ApiError> {
    let Limit::Max(max) = limit else {
        return Ok(());
    };
    if requested <= 0 || used.saturating_add(requested) <= kind.max_in_units(max) {
        return Ok(());
    }
    let storage = kind.is_storage();
    let unit = if storage { " GiB" } else { "" };
    let shown = |v: i64| {
        if storage {
            format!("{:.2}", v as f64 / GIB as f64)
        } else {
            v.to_string()
        }
    };
    Err(ApiError::new(
        ErrorCode::ResourceAllocation,
        format!(
            "Maximum amount of resources of Type = '{name}' for {owner} is exceeded: Resource Limit = {max}{unit}, Current Resource Amount = {used}{unit}, Requested Resource Amount = {requested}{unit}.",
            name = kind.name(),
            used = shown(used),
            requested = shown(requested),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_and_names_round_trip() {
        for k in ResourceKind::ALL {
            assert_eq!(ResourceKind::from_ordinal(k.ordinal().into()), Some(k));
            assert_eq!(ResourceKind::from_name(k.name()), Some(k));
        }
        assert_eq!(ResourceKind::from_ordinal(12), None);
        assert_eq!(ResourceKind::from_ordinal(-1), None);
        assert_eq!(
            ResourceKind::from_name("USER_VM"),
            Some(ResourceKind::UserVm)
        );
        assert_eq!(ResourceKind::SecondaryStorage.ordinal(), 11);
    }

    #[test]
    fn check_admits_up_to_the_limit_and_names_it_beyond() {
        let k = ResourceKind::UserVm;
        assert!(check(k, Limit::Max(10), 9, 1, "account alice").is_ok());
        let e = check(k, Limit::Max(10), 10, 1, "account alice").unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceAllocation);
        assert!(e.text.contains("'user_vm'") && e.text.contains("account alice"));
        assert!(e.text.contains("Resource Limit = 10,"), "{}", e.text);
        assert!(check(k, Limit::Unlimited, i64::MAX, 1, "x").is_ok());
        assert!(check(k, Limit::Max(0), 0, 1, "x").is_err());
        // Giving back never fails, even over the limit (a lowered limit).
        assert!(check(k, Limit::Max(1), 5, -1, "x").is_ok());
    }

    #[test]
    fn storage_limits_are_gib() {
        let k = ResourceKind::PrimaryStorage;
        assert!(check(k, Limit::Max(10), 5 * GIB, 5 * GIB, "x").is_ok());
        let e = check(k, Limit::Max(10), 5 * GIB, 5 * GIB + 1, "x").unwrap_err();
        assert!(e.text.contains("Resource Limit = 10 GiB"), "{}", e.text);
        assert_eq!(k.shown(1), 1);
        assert_eq!(k.shown(2 * GIB), 2);
        assert_eq!(Limit::Max(10).available(k, 3 * GIB), "7");
        assert_eq!(Limit::Max(1).available(ResourceKind::Cpu, 3), "0");
        assert_eq!(Limit::Unlimited.text(), "Unlimited");
    }

    #[test]
    fn max_parses_as_update_resource_limit_takes_it() {
        assert_eq!(parse_max(None).unwrap(), Limit::Unlimited);
        assert_eq!(parse_max(Some(-1)).unwrap(), Limit::Unlimited);
        assert_eq!(parse_max(Some(0)).unwrap(), Limit::Max(0));
        assert!(parse_max(Some(-2)).is_err());
    }
}
