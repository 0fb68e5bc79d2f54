//! Typed ids: one newtype over `Uuid` per kind of resource (issue 17).
//!
//! Why: with bare `Uuid`s a zone id passed where a pod id belongs compiles, and a
//! function taking `(Uuid, Uuid, Uuid)` says nothing about which is which. A `ZoneId`
//! cannot be handed to `pod_fetch`, and signatures document themselves. The types cost
//! nothing at run time: each is `Copy`, has the UUID's size, serializes as the bare UUID
//! (serde transparent) and is stored as a Postgres `uuid` (sqlx transparent), so rows
//! (`FromRow`), `.bind(id)`, `Option<ZoneId>` and `Vec<ZoneId>` for `= ANY($1)` work as
//! the `Uuid`s did, and the wire and the schema do not change.
//!
//! Every id is declared here, in one place, so that each family adopts its ids without
//! inventing them. At the edges the types convert both ways: `ZoneId::from(uuid)` (or
//! `uuid.into()`), `zone_id.into_uuid()` (or `.into()`), e.g. for the API's response
//! types, which stay `Uuid`. Handlers read them with [`ParamIds`]:
//! `p.required_id::<ZoneId>("zoneid")?`.

use uuid::Uuid;

use stratus_api::{ApiResult, Params};

/// Declares a typed id: a `Copy` newtype over `Uuid`, transparent to serde and sqlx.
#[macro_export]
macro_rules! id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            Default,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new_v4() -> Self {
                Self(::uuid::Uuid::new_v4())
            }
            pub const fn from_uuid(u: ::uuid::Uuid) -> Self {
                Self(u)
            }
            /// A fixed id (seeded rows, tests).
            pub const fn from_u128(v: u128) -> Self {
                Self(::uuid::Uuid::from_u128(v))
            }
            pub const fn into_uuid(self) -> ::uuid::Uuid {
                self.0
            }
            pub const fn as_uuid(&self) -> &::uuid::Uuid {
                &self.0
            }
        }

        impl ::std::convert::From<::uuid::Uuid> for $name {
            fn from(u: ::uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl ::std::convert::From<$name> for ::uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }

        // For the edges while a family still holds bare `Uuid`s (a VM's `host_id`):
        // comparing needs no conversion; mixing two kinds of typed id still does not compile.
        impl ::std::cmp::PartialEq<::uuid::Uuid> for $name {
            fn eq(&self, other: &::uuid::Uuid) -> bool {
                self.0 == *other
            }
        }

        impl ::std::cmp::PartialEq<$name> for ::uuid::Uuid {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

// Infrastructure.
id!(ZoneId);
id!(PodId);
id!(ClusterId);
id!(HostId);
id!(
    /// A pod's management range or a VLAN (guest) IP range (`ip_ranges`).
    IpRangeId
);
id!(StoragePoolId);
id!(ImageStoreId);
id!(ManagementServerId);
id!(AlertId);

// Networks.
id!(NetworkId);
id!(PhysicalNetworkId);
id!(NicId);
id!(
    /// The router of an isolated network (`routers`, a namespace on a host).
    RouterId
);
id!(
    /// A public address an account holds (`public_ips`, issue 15).
    PublicIpId
);
id!(
    /// A port forwarding or firewall rule (`network_rules`, issue 15): CloudStack's
    /// firewall rule ids, one kind for both.
    FirewallRuleId
);

// Instances and their storage.
id!(VmId);
id!(VolumeId);
// Volume snapshots and their policies (issue 16, migration 0047).
id!(SnapshotId);
id!(SnapshotPolicyId);
id!(IsoId);
id!(
    /// A template (`templates`); its files and copies share `images` code with ISOs.
    TemplateId
);
id!(OsTypeId);
id!(OsCategoryId);

// Offerings.
id!(ServiceOfferingId);
id!(DiskOfferingId);
id!(NetworkOfferingId);

// Security groups (issue 14, migration 0052).
id!(SecurityGroupId);
id!(SecurityGroupRuleId);

// Accounts.
id!(DomainId);
id!(AccountId);
id!(UserId);
id!(RoleId);
id!(SshKeyPairId);
id!(
    /// Registered user data (registerUserData), linked to templates and VMs by id.
    UserDataId
);
id!(ProjectId);
id!(
    /// An invitation to join a project (`project_invitations`).
    ProjectInvitationId
);

// VM snapshots (issue 16).
id!(VmSnapshotId);

// Work and records.
id!(JobId);
id!(
    /// A persisted multi-step operation (`workflows`, services::workflow).
    WorkflowId
);
id!(EventId);
id!(BackgroundTaskId);

/// Typed reads of id parameters, over the API crate's [`Params`] (which stays I/O free
/// and knows nothing of the management server's types). Errors are the same CloudStack
/// texts as `Params::uuid`.
pub trait ParamIds {
    /// The id in `name`, if given.
    fn id<T: From<Uuid>>(&self, name: &str) -> ApiResult<Option<T>>;
    /// The id in `name`; a missing one is CloudStack's missing-parameter error.
    fn required_id<T: From<Uuid>>(&self, name: &str) -> ApiResult<T>;
    /// Comma-separated ids (`ids`).
    fn id_list<T: From<Uuid>>(&self, name: &str) -> ApiResult<Option<Vec<T>>>;
}

impl ParamIds for Params {
    fn id<T: From<Uuid>>(&self, name: &str) -> ApiResult<Option<T>> {
        Ok(self.uuid(name)?.map(T::from))
    }
    fn required_id<T: From<Uuid>>(&self, name: &str) -> ApiResult<T> {
        self.required_uuid(name).map(T::from)
    }
    fn id_list<T: From<Uuid>>(&self, name: &str) -> ApiResult<Option<Vec<T>>> {
        Ok(self
            .uuid_list(name)?
            .map(|v| v.into_iter().map(T::from).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_is_the_bare_uuid() {
        let u = Uuid::new_v4();
        let z = ZoneId::from(u);
        let json = serde_json::to_string(&z).unwrap();
        assert_eq!(json, serde_json::to_string(&u).unwrap());
        let back: ZoneId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, z);
        let some: Option<ZoneId> = serde_json::from_str(&json).unwrap();
        assert_eq!(some, Some(z));
        assert!(serde_json::from_str::<ZoneId>("\"not-a-uuid\"").is_err());
    }

    #[test]
    fn converts_parses_and_prints() {
        let u = Uuid::new_v4();
        let h = HostId::from(u);
        assert_eq!(h.into_uuid(), u);
        assert_eq!(Uuid::from(h), u);
        assert_eq!(h.to_string(), u.to_string());
        assert_eq!(format!("{h:?}"), format!("HostId({u})"));
        assert_eq!(u.to_string().parse::<HostId>().unwrap(), h);
        assert!("x".parse::<HostId>().is_err());
        assert!(h == u, "an id compares with its UUID");
        assert!(u == h, "both ways");
        assert_ne!(HostId::new_v4(), HostId::new_v4());
        assert_eq!(
            HostId::from(Uuid::from_u128(1)).cmp(&HostId::from(Uuid::from_u128(2))),
            std::cmp::Ordering::Less
        );
    }

    #[test]
    fn params_read_typed_ids() {
        let u = Uuid::new_v4();
        let v = Uuid::new_v4();
        let p = Params::new("listHosts")
            .with("zoneid", u)
            .with("ids", format!("{u}, {v}"))
            .with("podid", "nope");
        assert_eq!(p.id::<ZoneId>("zoneid").unwrap(), Some(ZoneId::from(u)));
        assert_eq!(p.required_id::<ZoneId>("zoneid").unwrap(), ZoneId::from(u));
        assert_eq!(p.id::<ClusterId>("clusterid").unwrap(), None);
        assert!(p.required_id::<ClusterId>("clusterid").is_err());
        assert!(p.id::<PodId>("podid").is_err());
        assert_eq!(
            p.id_list::<HostId>("ids").unwrap(),
            Some(vec![HostId::from(u), HostId::from(v)])
        );
    }
}
