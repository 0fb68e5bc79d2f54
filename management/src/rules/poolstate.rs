//! A primary storage pool's state (CloudStack's `StoragePoolStatus`, the subset Stratus
//! reaches) and the moves admins make between them. The column type of
//! `storage_pools.state` (migration 0038's CHECK admits exactly these spellings), so a
//! misspelt state is a compile error here and a refused write there, not a pool that
//! silently never matches `state == "Up"`.

use stratus_api::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolState {
    /// Takes new volumes.
    Up,
    /// updateStoragePool enabled=false: keeps its volumes, takes no new ones.
    Disabled,
    Maintenance,
    /// CloudStack's transitional and failed maintenance states: read (an old row, a
    /// CloudStack-shaped filter) and left by cancelStorageMaintenance.
    PrepareForMaintenance,
    ErrorInMaintenance,
}

super::text_column!(PoolState, "storage pool state");

impl PoolState {
    pub const ALL: [PoolState; 5] = [
        PoolState::Up,
        PoolState::Disabled,
        PoolState::Maintenance,
        PoolState::PrepareForMaintenance,
        PoolState::ErrorInMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PoolState::Up => "Up",
            PoolState::Disabled => "Disabled",
            PoolState::Maintenance => "Maintenance",
            PoolState::PrepareForMaintenance => "PrepareForMaintenance",
            PoolState::ErrorInMaintenance => "ErrorInMaintenance",
        }
    }

    /// Case-insensitive, as CloudStack's list filters are.
    pub fn parse(s: &str) -> Option<PoolState> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether placement may put a new volume here.
    pub fn takes_volumes(self) -> bool {
        self == PoolState::Up
    }

    fn in_maintenance(self) -> bool {
        matches!(
            self,
            PoolState::Maintenance
                | PoolState::PrepareForMaintenance
                | PoolState::ErrorInMaintenance
        )
    }

    /// updateStoragePool `enabled`: only between Up and Disabled.
    pub fn enable(self, enabled: bool) -> Result<PoolState, ApiError> {
        if self.in_maintenance() {
            return Err(ApiError::param(format!(
                "The storage pool is in {self}; cancel maintenance first"
            )));
        }
        Ok(if enabled {
            PoolState::Up
        } else {
            PoolState::Disabled
        })
    }

    /// enableStorageMaintenance: reached at once (the pool's volumes are the admin's to
    /// move; nothing is migrated for them).
    pub fn maintain(self) -> Result<PoolState, ApiError> {
        if self == PoolState::Maintenance {
            return Err(ApiError::param(
                "The storage pool is already in maintenance",
            ));
        }
        Ok(PoolState::Maintenance)
    }

    /// cancelStorageMaintenance.
    pub fn cancel_maintenance(self) -> Result<PoolState, ApiError> {
        if !self.in_maintenance() {
            return Err(ApiError::param(format!(
                "The storage pool is {self}, not in maintenance"
            )));
        }
        Ok(PoolState::Up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_as_spelt_in_any_case_and_nothing_else() {
        for s in PoolState::ALL {
            assert_eq!(PoolState::parse(s.as_str()), Some(s));
            assert_eq!(PoolState::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(PoolState::parse("Down"), None);
        assert_eq!(PoolState::parse(""), None);
    }

    #[test]
    fn admins_move_pools_between_states_as_cloudstack_allows() {
        use PoolState::*;
        assert_eq!(Up.enable(false).unwrap(), Disabled);
        assert_eq!(Disabled.enable(true).unwrap(), Up);
        assert!(Maintenance.enable(true).is_err());
        assert_eq!(Up.maintain().unwrap(), Maintenance);
        assert_eq!(Disabled.maintain().unwrap(), Maintenance);
        assert!(Maintenance.maintain().is_err());
        for s in [Maintenance, PrepareForMaintenance, ErrorInMaintenance] {
            assert_eq!(s.cancel_maintenance().unwrap(), Up);
        }
        assert!(Up.cancel_maintenance().is_err());
        assert!(Up.takes_volumes() && !Disabled.takes_volumes() && !Maintenance.takes_volumes());
    }
}
