//! Typed identifiers. Every resource is addressed by a UUID on the wire; a distinct type
//! per resource keeps a pod id from ever being passed where a zone id is meant.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self { $name(Uuid::new_v4()) }
        }
        impl Default for $name {
            fn default() -> Self { Self::new() }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }
        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self { $name(u) }
        }
    )*};
}

ids!(
    DomainId,
    AccountId,
    UserId,
    RoleId,
    ZoneId,
    PodId,
    ClusterId,
    IpRangeId,
    JobId,
    EventId,
    ManagementServerId,
    SessionId,
);
