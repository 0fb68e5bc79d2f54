//! Named states and kinds that arrive as free text on the wire. Parsing them in one place
//! gives every command the same accepted spellings and the same error text.

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

/// Zone, pod and cluster `allocationstate`.
pub fn allocation_state(v: &str) -> Result<&'static str, ApiError> {
    one_of("allocation state", v, &["Enabled", "Disabled"])
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

pub fn managed_state(v: &str) -> Result<&'static str, ApiError> {
    one_of("managed state", v, &["Managed", "Unmanaged"])
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
        assert_eq!(allocation_state("disabled").unwrap(), "Disabled");
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
    fn account_types() {
        assert_eq!(
            AccountType::from_code(2).unwrap().role_type(),
            "DomainAdmin"
        );
        assert!(AccountType::from_code(7).is_err());
        assert_eq!(AccountType::for_role_type("Admin"), AccountType::RootAdmin);
    }
}
