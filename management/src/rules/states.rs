//! Named states and kinds that arrive as free text on the wire. Parsing them in one place
//! gives every command the same accepted spellings and the same error text.
//!
//! The states stored in a column are enums with one text mapping (`text_column!`): the
//! column's CHECK constraint admits exactly their spellings (migrations 0001, 0009, 0020,
//! 0023 and 0025; `tests/queries.rs` holds each column's CHECK against its enum), rows decode into the enum, and a list filter parses the
//! caller's text in any case, an unknown one finding nothing (as CloudStack's filters do).

use stratus_api::ApiError;

fn one_of(what: &str, v: &str, allowed: &[&'static str]) -> Result<&'static str, ApiError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(v.trim()))
        .copied()
        .ok_or_else(|| {
            ApiError::param(format!(
                "Invalid {what} '{v}'; valid values are: {}",
                allowed.join(", ")
            ))
        })
}

/// One enum's text mapping: `ALL`, `as_str`, `parse` (exact, as stored) and
/// `parse_any_case` (a list filter's spelling), and the column type.
macro_rules! stored_state {
    ($(#[$m:meta])* $ty:ident, $what:literal { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vm])* $v),+
        }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$v),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$v => $s),+
                }
            }

            /// The stored spelling, exactly.
            pub fn parse(s: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|x| x.as_str() == s)
            }

            /// A list filter's spelling, in any case.
            pub fn parse_any_case(s: &str) -> Option<$ty> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|x| x.as_str().eq_ignore_ascii_case(s))
            }
        }

        super::text_column!($ty, $what);
    };
}

stored_state!(
    /// Zone, pod and cluster `allocationstate` (CloudStack's `Grouping.AllocationState`).
    AllocationState, "allocation state" {
        Enabled => "Enabled",
        Disabled => "Disabled",
    }
);

stored_state!(
    /// A cluster's `managedstate` (CloudStack's `Managed.ManagedState`).
    ManagedState, "managed state" {
        Managed => "Managed",
        PrepareUnmanaged => "PrepareUnmanaged",
        Unmanaged => "Unmanaged",
        PrepareUnmanagedError => "PrepareUnmanagedError",
    }
);

stored_state!(
    /// An account's or a user's state, spelt as CloudStack answers it. A locked or
    /// disabled user (or one of a locked or disabled account) can neither log in nor
    /// call the API.
    AccountState, "account state" {
        Enabled => "enabled",
        Disabled => "disabled",
        Locked => "locked",
    }
);

stored_state!(
    /// A template's or an ISO's copy in one zone (`template_zones`, `iso_zones`). The
    /// downloader claims Queued copies; createTemplate writes a Creating one (ISOs never
    /// are).
    CopyState, "image copy state" {
        Queued => "Queued",
        Downloading => "Downloading",
        Creating => "Creating",
        Ready => "Ready",
        Error => "Error",
        Deleting => "Deleting",
    }
);

stored_state!(
    /// A template's base copy on one primary pool (`template_pool_copies`).
    BaseState, "template base state" {
        Copying => "Copying",
        Ready => "Ready",
        Error => "Error",
    }
);

stored_state!(
    /// A volume's state (CloudStack's `Volume.State`, the subset Stratus reaches): a
    /// data volume is Allocated until its first attach writes its file, Ready while it
    /// has one, Destroy once its VM is destroyed (recoverable) and Expunged at the end.
    VolumeState, "volume state" {
        Allocated => "Allocated",
        Ready => "Ready",
        Destroy => "Destroy",
        Expunged => "Expunged",
    }
);

impl CopyState {
    /// listTemplates' and listIsos' `downloaddetails[].downloadState` (CloudStack's
    /// `VMTemplateStorageResourceAssoc.Status`).
    pub fn download_state(self) -> &'static str {
        match self {
            CopyState::Ready => "DOWNLOADED",
            CopyState::Downloading => "DOWNLOAD_IN_PROGRESS",
            CopyState::Error => "DOWNLOAD_ERROR",
            CopyState::Queued | CopyState::Creating | CopyState::Deleting => "NOT_DOWNLOADED",
        }
    }
}

impl AccountState {
    pub fn is_enabled(self) -> bool {
        self == AccountState::Enabled
    }
}

/// Zone, pod and cluster `allocationstate` as create and update take it: an unknown
/// spelling is refused.
pub fn allocation_state(v: &str) -> Result<AllocationState, ApiError> {
    let allowed: Vec<&'static str> = AllocationState::ALL.iter().map(|s| s.as_str()).collect();
    one_of("allocation state", v, &allowed)
        .map(|s| AllocationState::parse(s).unwrap_or(AllocationState::Enabled))
}

pub fn network_type(v: &str) -> Result<&'static str, ApiError> {
    one_of("network type", v, &["Basic", "Advanced"])
}

/// Stratus manages KVM hosts only.
pub fn hypervisor(v: &str) -> Result<&'static str, ApiError> {
    one_of("hypervisor type", v, &["KVM"]).map_err(|_| {
        ApiError::param(format!(
            "Unsupported hypervisor type '{v}': Stratus manages KVM clusters only"
        ))
    })
}

pub fn cluster_type(v: &str) -> Result<&'static str, ApiError> {
    one_of("cluster type", v, &["CloudManaged", "ExternalManaged"])
}

/// updateCluster `managedstate`: an admin asks for Managed or Unmanaged (the Prepare
/// states are CloudStack's own transitions).
pub fn managed_state(v: &str) -> Result<ManagedState, ApiError> {
    one_of("managed state", v, &["Managed", "Unmanaged"])
        .map(|s| ManagedState::parse(s).unwrap_or(ManagedState::Managed))
}

pub fn arch(v: &str) -> Result<&'static str, ApiError> {
    one_of("arch", v, &["x86_64", "aarch64"])
}

/// CloudStack account types: 0 user, 1 root admin, 2 domain admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    User = 0,
    RootAdmin = 1,
    DomainAdmin = 2,
}

impl AccountType {
    pub fn from_code(v: i64) -> Result<AccountType, ApiError> {
        match v {
            0 => Ok(AccountType::User),
            1 => Ok(AccountType::RootAdmin),
            2 => Ok(AccountType::DomainAdmin),
            _ => Err(ApiError::param(format!(
                "Invalid account type {v}; valid types are 0 (user), 1 (root admin) and 2 (domain admin)"
            ))),
        }
    }
    pub fn role_type(self) -> &'static str {
        match self {
            AccountType::User => "User",
            AccountType::RootAdmin => "Admin",
            AccountType::DomainAdmin => "DomainAdmin",
        }
    }
    /// The account type a role implies.
    pub fn for_role_type(role_type: &str) -> AccountType {
        match role_type {
            "Admin" => AccountType::RootAdmin,
            "DomainAdmin" => AccountType::DomainAdmin,
            _ => AccountType::User,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_to_canonical_spelling() {
        assert_eq!(
            allocation_state("disabled").unwrap(),
            AllocationState::Disabled
        );
        assert_eq!(managed_state("unmanaged").unwrap(), ManagedState::Unmanaged);
        assert!(managed_state("PrepareUnmanaged").is_err());
        assert_eq!(network_type("ADVANCED").unwrap(), "Advanced");
        assert_eq!(hypervisor("kvm").unwrap(), "KVM");
        assert!(hypervisor("XenServer")
            .unwrap_err()
            .text
            .contains("KVM clusters only"));
        assert!(allocation_state("maybe")
            .unwrap_err()
            .text
            .contains("Enabled, Disabled"));
    }

    #[test]
    fn stored_states_parse_as_spelt_filters_in_any_case_and_nothing_else() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
            any: fn(&str) -> Option<T>,
        ) {
            for &s in all {
                assert_eq!(parse(as_str(s)), Some(s));
                assert_eq!(any(&as_str(s).to_uppercase()), Some(s));
                assert_eq!(any(&as_str(s).to_lowercase()), Some(s));
                if as_str(s) != as_str(s).to_uppercase() {
                    assert_eq!(parse(&as_str(s).to_uppercase()), None);
                }
            }
            assert_eq!(parse("bogus"), None);
            assert_eq!(any("bogus"), None);
            assert_eq!(any(""), None);
        }
        check(
            AllocationState::ALL,
            AllocationState::as_str,
            AllocationState::parse,
            AllocationState::parse_any_case,
        );
        check(
            ManagedState::ALL,
            ManagedState::as_str,
            ManagedState::parse,
            ManagedState::parse_any_case,
        );
        check(
            AccountState::ALL,
            AccountState::as_str,
            AccountState::parse,
            AccountState::parse_any_case,
        );
        check(
            CopyState::ALL,
            CopyState::as_str,
            CopyState::parse,
            CopyState::parse_any_case,
        );
        check(
            VolumeState::ALL,
            VolumeState::as_str,
            VolumeState::parse,
            VolumeState::parse_any_case,
        );
        check(
            BaseState::ALL,
            BaseState::as_str,
            BaseState::parse,
            BaseState::parse_any_case,
        );
        assert_eq!(AccountState::parse("enabled"), Some(AccountState::Enabled));
        assert_eq!(CopyState::parse("Ready"), Some(CopyState::Ready));
    }

    #[test]
    fn account_types() {
        assert_eq!(
            AccountType::from_code(2).unwrap().role_type(),
            "DomainAdmin"
        );
        assert!(AccountType::from_code(7).is_err());
        assert_eq!(AccountType::for_role_type("Admin"), AccountType::RootAdmin);
    }
}
