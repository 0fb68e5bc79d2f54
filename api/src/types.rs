//! Response objects, named and shaped as apache/cloudstack's `*Response` classes
//! (`api/src/main/java/org/apache/cloudstack/api/response`). Absent values are omitted,
//! empty collections are `[]`, ids are UUID strings, dates are `yyyy-MM-dd'T'HH:mm:ssZ`.
//! Each struct also describes its fields for `listApis`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A response field as `listApis` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseField {
    pub name: &'static str,
    pub kind: &'static str,
    pub description: &'static str,
}

impl ResponseField {
    /// The wire name (`r#type` is declared as a raw identifier).
    pub fn wire_name(&self) -> &'static str {
        self.name.trim_start_matches("r#")
    }
}

/// CloudStack's date format: `2024-05-01T10:00:00+0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsDate(pub DateTime<Utc>);

const CS_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%z";

impl Serialize for CsDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format(CS_DATE_FORMAT).to_string())
    }
}

/// Reads the format `CsDate` is written in (and RFC 3339, which differs only in the
/// offset's colon).
impl<'de> Deserialize<'de> for CsDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_str(&s, CS_DATE_FORMAT)
            .or_else(|_| DateTime::parse_from_rfc3339(&s))
            .map(|t| CsDate(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("not a CloudStack date: {s:?}: {e}")))
    }
}

/// An async job's status; on the wire (`jobstatus`) 0, 1 or 2, as CloudStack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn code(self) -> i32 {
        match self {
            JobStatus::Pending => 0,
            JobStatus::Succeeded => 1,
            JobStatus::Failed => 2,
        }
    }
    /// The status a stored code stands for; `None` for a code CloudStack does not define.
    pub fn from_code(code: i32) -> Option<JobStatus> {
        match code {
            0 => Some(JobStatus::Pending),
            1 => Some(JobStatus::Succeeded),
            2 => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.code())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = i32::deserialize(d)?;
        JobStatus::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("not a job status: {code}")))
    }
}

impl From<DateTime<Utc>> for CsDate {
    fn from(d: DateTime<Utc>) -> Self {
        CsDate(d)
    }
}

/// Whether a field is left out of the JSON: only absent optionals are.
pub trait Skip {
    fn skip(&self) -> bool {
        false
    }
}
impl<T> Skip for Option<T> {
    fn skip(&self) -> bool {
        self.is_none()
    }
}
impl<T> Skip for Vec<T> {}
impl Skip for String {}
impl Skip for bool {}
impl Skip for i64 {}
impl Skip for i32 {}
impl Skip for f64 {}
impl Skip for Uuid {}
impl Skip for CsDate {}
impl Skip for serde_json::Value {}

macro_rules! response {
    ($(#[$m:meta])* $name:ident { $( $field:ident : $ty:ty => $kind:literal, $desc:literal ;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
        #[serde(default)]
        #[allow(non_snake_case)]
        pub struct $name {
            $( #[serde(skip_serializing_if = "Skip::skip")] pub $field: $ty, )*
        }
        impl $name {
            pub const FIELDS: &'static [ResponseField] = &[
                $( ResponseField { name: stringify!($field), kind: $kind, description: $desc }, )*
            ];
        }
        #[cfg(test)]
        impl tests::Sample for $name {
            fn sample() -> Self {
                $name { $( $field: tests::Sample::sample(), )* }
            }
        }
    };
}

impl Default for CsDate {
    fn default() -> Self {
        CsDate(DateTime::<Utc>::UNIX_EPOCH)
    }
}

response!(ZoneResponse {
    id: Option<Uuid> => "string", "Zone id";
    name: Option<String> => "string", "Zone name";
    description: Option<String> => "string", "Zone description";
    displaytext: Option<String> => "string", "Zone display text (its description)";
    dns1: Option<String> => "string", "the first DNS for the Zone";
    dns2: Option<String> => "string", "the second DNS for the Zone";
    ip6dns1: Option<String> => "string", "the first IPv6 DNS for the Zone";
    ip6dns2: Option<String> => "string", "the second IPv6 DNS for the Zone";
    internaldns1: Option<String> => "string", "the first internal DNS for the Zone";
    internaldns2: Option<String> => "string", "the second internal DNS for the Zone";
    guestcidraddress: Option<String> => "string", "the guest CIDR address for the Zone";
    domain: Option<String> => "string", "Network domain name for the networks in the zone";
    networktype: Option<String> => "string", "the network type of the zone; can be Basic or Advanced";
    securitygroupsenabled: Option<bool> => "boolean", "true if security groups support is enabled, false otherwise";
    allocationstate: Option<String> => "string", "the allocation state of the cluster";
    zonetoken: Option<String> => "string", "Zone Token";
    dhcpprovider: Option<String> => "string", "the dhcp Provider for the Zone";
    localstorageenabled: Option<bool> => "boolean", "true if local storage offering enabled, false otherwise";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated with zone.";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    r#type: Option<String> => "string", "The type of the zone - core or edge";
    created: Option<CsDate> => "date", "the date this zone was created";
    capacity: Option<Vec<CapacityResponse>> => "list", "the capacity of the Zone (with showcapacities=true)";
});

response!(IpRangeItem {
    startip: Option<String> => "string", "the starting IP for the range";
    endip: Option<String> => "string", "the ending IP for the range";
    gateway: Option<String> => "string", "the gateway for the range";
    cidr: Option<String> => "string", "the CIDR for the range";
    forsystemvms: Option<String> => "string", "indicates if range is dedicated for CPVM and SSVM";
    vlanid: Option<String> => "string", "indicates Vlan ID for the range";
});

response!(PodResponse {
    id: Option<Uuid> => "string", "the ID of the Pod";
    name: Option<String> => "string", "the name of the Pod";
    zoneid: Option<Uuid> => "string", "the Zone ID of the Pod";
    zonename: Option<String> => "string", "the Zone name of the Pod";
    gateway: Option<String> => "string", "the gateway of the Pod";
    netmask: Option<String> => "string", "the netmask of the Pod";
    ipranges: Vec<IpRangeItem> => "list", "the IP ranges for the Pod";
    startip: Vec<String> => "list", "the starting IP for the Pod. This parameter is deprecated, please use 'startip' from ipranges parameter.";
    endip: Vec<String> => "list", "the ending IP for the Pod. This parameter is deprecated, please use 'endip' from ipranges parameter.";
    forsystemvms: Vec<String> => "list", "indicates if range is dedicated for CPVM and SSVM. This parameter is deprecated, please use 'forsystemvms' from ipranges parameter.";
    vlanid: Vec<String> => "list", "indicates Vlan ID for the range. This parameter is deprecated, please use 'vlanid' from ipranges parameter.";
    allocationstate: Option<String> => "string", "the allocation state of the Pod";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    created: Option<CsDate> => "date", "the date this pod was created";
    capacity: Option<Vec<CapacityResponse>> => "list", "the capacity of the Pod (with showcapacities=true)";
});

response!(VlanIpRangeResponse {
    id: Option<Uuid> => "string", "the ID of the VLAN IP range";
    forvirtualnetwork: Option<bool> => "boolean", "the virtual network for the VLAN IP range";
    zoneid: Option<Uuid> => "string", "the Zone ID of the VLAN IP range";
    vlan: Option<String> => "string", "the ID or VID of the VLAN.";
    account: Option<String> => "string", "the account of the VLAN IP range";
    domainid: Option<Uuid> => "string", "the domain ID of the VLAN IP range";
    domain: Option<String> => "string", "the domain name of the VLAN IP range";
    podid: Option<Uuid> => "string", "the Pod ID for the VLAN IP range";
    podname: Option<String> => "string", "the Pod name for the VLAN IP range";
    gateway: Option<String> => "string", "the gateway of the VLAN IP range";
    netmask: Option<String> => "string", "the netmask of the VLAN IP range";
    cidr: Option<String> => "string", "the cidr of the VLAN IP range";
    description: Option<String> => "string", "the description of the VLAN IP range";
    startip: Option<String> => "string", "the start ip of the VLAN IP range";
    endip: Option<String> => "string", "the end ip of the VLAN IP range";
    networkid: Option<Uuid> => "string", "the network id of vlan range";
    physicalnetworkid: Option<Uuid> => "string", "the physical network this belongs to";
    forsystemvms: Option<bool> => "boolean", "indicates whether VLAN IP range is dedicated to system vms or not";
});

response!(ClusterResponse {
    id: Option<Uuid> => "string", "the cluster ID";
    name: Option<String> => "string", "the cluster name";
    podid: Option<Uuid> => "string", "the Pod ID of the cluster";
    podname: Option<String> => "string", "the Pod name of the cluster";
    zoneid: Option<Uuid> => "string", "the Zone ID of the cluster";
    zonename: Option<String> => "string", "the Zone name of the cluster";
    hypervisortype: Option<String> => "string", "the hypervisor type of the cluster";
    clustertype: Option<String> => "string", "the type of the cluster";
    allocationstate: Option<String> => "string", "the allocation state of the cluster";
    managedstate: Option<String> => "string", "whether this cluster is managed by cloudstack";
    cpuovercommitratio: Option<String> => "string", "The cpu overcommit ratio of the cluster";
    memoryovercommitratio: Option<String> => "string", "The memory overcommit ratio of the cluster";
    arch: Option<String> => "string", "CPU Arch of the hosts in the cluster";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    created: Option<CsDate> => "date", "the date this cluster was created";
    capacity: Option<Vec<CapacityResponse>> => "list", "the capacity of the Cluster (with showcapacities=true)";
});

response!(ConfigurationResponse {
    category: Option<String> => "string", "the category of the configuration";
    name: Option<String> => "string", "the name of the configuration";
    value: Option<String> => "string", "the value of the configuration";
    defaultvalue: Option<String> => "string", "the default value of the configuration";
    description: Option<String> => "string", "the description of the configuration";
    scope: Option<String> => "string", "scope(zone/cluster/pool/account) of the parameter that needs to be updated";
    id: Option<Uuid> => "string", "the value of the configuration";
    isdynamic: Option<bool> => "boolean", "true if the configuration is dynamic";
    r#type: Option<String> => "string", "the type of the configuration value";
    component: Option<String> => "string", "the component of the configuration";
    displaytext: Option<String> => "string", "the display text of the configuration";
});

response!(UserResponse {
    id: Option<Uuid> => "string", "the user ID";
    username: Option<String> => "string", "the user name";
    firstname: Option<String> => "string", "the user firstname";
    lastname: Option<String> => "string", "the user lastname";
    email: Option<String> => "string", "the user email address";
    created: Option<CsDate> => "date", "the date and time the user account was created";
    state: Option<String> => "string", "the user state";
    account: Option<String> => "string", "the account name of the user";
    accountid: Option<Uuid> => "string", "the account ID of the user";
    accounttype: Option<i32> => "integer", "the account type of the user";
    roleid: Option<Uuid> => "string", "the ID of the role";
    roletype: Option<String> => "string", "the type of the role";
    rolename: Option<String> => "string", "the name of the role";
    domainid: Option<Uuid> => "string", "the domain ID of the user";
    domain: Option<String> => "string", "the domain name of the user";
    timezone: Option<String> => "string", "the timezone user was created in";
    apikey: Option<String> => "string", "the api key of the user";
    isdefault: Option<bool> => "boolean", "true if user is default, false otherwise";
    iscallerchilddomain: Option<bool> => "boolean", "the boolean value representing if the updating target is in caller's child domain";
    usersource: Option<String> => "string", "the source type of the user in lowercase, such as native, ldap, saml2";
    is2faenabled: Option<bool> => "boolean", "true if user has two factor authentication enabled";
    is2famandated: Option<bool> => "boolean", "true if user has two factor authentication is mandated";
});

response!(AccountResponse {
    id: Option<Uuid> => "string", "the id of the account";
    name: Option<String> => "string", "the name of the account";
    accounttype: Option<i32> => "integer", "account type (admin, domain-admin, user)";
    roleid: Option<Uuid> => "string", "the ID of the role";
    roletype: Option<String> => "string", "the type of the role (Admin, ResourceAdmin, DomainAdmin, User)";
    rolename: Option<String> => "string", "the name of the role";
    domainid: Option<Uuid> => "string", "id of the Domain the account belongs to";
    domain: Option<String> => "string", "name of the Domain the account belongs to";
    domainpath: Option<String> => "string", "path of the Domain the account belongs to";
    state: Option<String> => "string", "the state of the account";
    created: Option<CsDate> => "date", "the date when this account was created";
    isdefault: Option<bool> => "boolean", "true if account is default, false otherwise";
    networkdomain: Option<String> => "string", "the network domain";
    vmlimit: Option<String> => "string", "the total number of user VMs the account can own (Unlimited or a number)";
    vmtotal: Option<i64> => "long", "the total number of user VMs the account owns";
    vmavailable: Option<String> => "string", "the total number of user VMs available for the account to acquire";
    iplimit: Option<String> => "string", "the total number of public IPs the account can own (Unlimited or a number)";
    iptotal: Option<i64> => "long", "the total number of public IPs the account owns";
    ipavailable: Option<String> => "string", "the total number of public IPs available for the account to acquire";
    volumelimit: Option<String> => "string", "the total number of volumes the account can own (Unlimited or a number)";
    volumetotal: Option<i64> => "long", "the total number of volumes the account owns";
    volumeavailable: Option<String> => "string", "the total number of volumes available for the account to acquire";
    snapshotlimit: Option<String> => "string", "the total number of snapshots the account can own (Unlimited or a number)";
    snapshottotal: Option<i64> => "long", "the total number of snapshots the account owns";
    snapshotavailable: Option<String> => "string", "the total number of snapshots available for the account to acquire";
    templatelimit: Option<String> => "string", "the total number of templates the account can own (Unlimited or a number)";
    templatetotal: Option<i64> => "long", "the total number of templates the account owns";
    templateavailable: Option<String> => "string", "the total number of templates available for the account to acquire";
    projectlimit: Option<String> => "string", "the total number of projects the account can own (Unlimited or a number)";
    projecttotal: Option<i64> => "long", "the total number of projects the account owns";
    projectavailable: Option<String> => "string", "the total number of projects available for the account to acquire";
    networklimit: Option<String> => "string", "the total number of networks the account can own (Unlimited or a number)";
    networktotal: Option<i64> => "long", "the total number of networks the account owns";
    networkavailable: Option<String> => "string", "the total number of networks available for the account to acquire";
    vpclimit: Option<String> => "string", "the total number of VPCs the account can own (Unlimited or a number)";
    vpctotal: Option<i64> => "long", "the total number of VPCs the account owns";
    vpcavailable: Option<String> => "string", "the total number of VPCs available for the account to acquire";
    cpulimit: Option<String> => "string", "the total number of CPU cores the account can own (Unlimited or a number)";
    cputotal: Option<i64> => "long", "the total number of CPU cores the account owns";
    cpuavailable: Option<String> => "string", "the total number of CPU cores available for the account to acquire";
    memorylimit: Option<String> => "string", "the total number of memory (MiB) the account can own (Unlimited or a number)";
    memorytotal: Option<i64> => "long", "the total number of memory (MiB) the account owns";
    memoryavailable: Option<String> => "string", "the total number of memory (MiB) available for the account to acquire";
    primarystoragelimit: Option<String> => "string", "the total number of primary storage (GiB) the account can own (Unlimited or a number)";
    primarystoragetotal: Option<i64> => "long", "the total number of primary storage (GiB) the account owns";
    primarystorageavailable: Option<String> => "string", "the total number of primary storage (GiB) available for the account to acquire";
    secondarystoragelimit: Option<String> => "string", "the total number of secondary storage (GiB) the account can own (Unlimited or a number)";
    secondarystoragetotal: Option<i64> => "long", "the total number of secondary storage (GiB) the account owns";
    secondarystorageavailable: Option<String> => "string", "the total number of secondary storage (GiB) available for the account to acquire";
    vmrunning: Option<i64> => "integer", "the total number of virtual machines running for this account";
    vmstopped: Option<i64> => "integer", "the total number of virtual machines stopped for this account";
    user: Vec<UserResponse> => "list", "the list of users associated with account";
});

response!(DomainResponse {
    id: Option<Uuid> => "string", "the ID of the domain";
    name: Option<String> => "string", "the name of the domain";
    level: Option<i32> => "integer", "the level of the domain";
    parentdomainid: Option<Uuid> => "string", "the domain ID of the parent domain";
    parentdomainname: Option<String> => "string", "the domain name of the parent domain";
    haschild: Option<bool> => "boolean", "whether the domain has one or more sub-domains";
    path: Option<String> => "string", "the path of the domain";
    state: Option<String> => "string", "the state of the domain";
    created: Option<CsDate> => "date", "the date when this domain was created";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    networkdomain: Option<String> => "string", "the network domain";
    vmlimit: Option<String> => "string", "the total number of user VMs the domain can own (Unlimited or a number)";
    vmtotal: Option<i64> => "long", "the total number of user VMs owned by the domain";
    vmavailable: Option<String> => "string", "the total number of user VMs available for the domain to acquire";
    iplimit: Option<String> => "string", "the total number of public IPs the domain can own (Unlimited or a number)";
    iptotal: Option<i64> => "long", "the total number of public IPs owned by the domain";
    ipavailable: Option<String> => "string", "the total number of public IPs available for the domain to acquire";
    volumelimit: Option<String> => "string", "the total number of volumes the domain can own (Unlimited or a number)";
    volumetotal: Option<i64> => "long", "the total number of volumes owned by the domain";
    volumeavailable: Option<String> => "string", "the total number of volumes available for the domain to acquire";
    snapshotlimit: Option<String> => "string", "the total number of snapshots the domain can own (Unlimited or a number)";
    snapshottotal: Option<i64> => "long", "the total number of snapshots owned by the domain";
    snapshotavailable: Option<String> => "string", "the total number of snapshots available for the domain to acquire";
    templatelimit: Option<String> => "string", "the total number of templates the domain can own (Unlimited or a number)";
    templatetotal: Option<i64> => "long", "the total number of templates owned by the domain";
    templateavailable: Option<String> => "string", "the total number of templates available for the domain to acquire";
    projectlimit: Option<String> => "string", "the total number of projects the domain can own (Unlimited or a number)";
    projecttotal: Option<i64> => "long", "the total number of projects owned by the domain";
    projectavailable: Option<String> => "string", "the total number of projects available for the domain to acquire";
    networklimit: Option<String> => "string", "the total number of networks the domain can own (Unlimited or a number)";
    networktotal: Option<i64> => "long", "the total number of networks owned by the domain";
    networkavailable: Option<String> => "string", "the total number of networks available for the domain to acquire";
    vpclimit: Option<String> => "string", "the total number of VPCs the domain can own (Unlimited or a number)";
    vpctotal: Option<i64> => "long", "the total number of VPCs owned by the domain";
    vpcavailable: Option<String> => "string", "the total number of VPCs available for the domain to acquire";
    cpulimit: Option<String> => "string", "the total number of CPU cores the domain can own (Unlimited or a number)";
    cputotal: Option<i64> => "long", "the total number of CPU cores owned by the domain";
    cpuavailable: Option<String> => "string", "the total number of CPU cores available for the domain to acquire";
    memorylimit: Option<String> => "string", "the total number of memory (MiB) the domain can own (Unlimited or a number)";
    memorytotal: Option<i64> => "long", "the total number of memory (MiB) owned by the domain";
    memoryavailable: Option<String> => "string", "the total number of memory (MiB) available for the domain to acquire";
    primarystoragelimit: Option<String> => "string", "the total number of primary storage (GiB) the domain can own (Unlimited or a number)";
    primarystoragetotal: Option<i64> => "long", "the total number of primary storage (GiB) owned by the domain";
    primarystorageavailable: Option<String> => "string", "the total number of primary storage (GiB) available for the domain to acquire";
    secondarystoragelimit: Option<String> => "string", "the total number of secondary storage (GiB) the domain can own (Unlimited or a number)";
    secondarystoragetotal: Option<i64> => "long", "the total number of secondary storage (GiB) owned by the domain";
    secondarystorageavailable: Option<String> => "string", "the total number of secondary storage (GiB) available for the domain to acquire";
});

response!(RoleResponse {
    id: Option<Uuid> => "string", "the ID of the role";
    name: Option<String> => "string", "the name of the role";
    r#type: Option<String> => "string", "the type of the role";
    description: Option<String> => "string", "the description of the role";
    isdefault: Option<bool> => "boolean", "true if role is default, false otherwise";
    ispublic: Option<bool> => "boolean", "Indicates whether the role will be visible to all users (public) or only to root admins (private)";
    state: Option<String> => "string", "the state of the role";
});

response!(EventResponse {
    id: Option<Uuid> => "string", "the ID of the event";
    username: Option<String> => "string", "the name of the user who performed the action";
    r#type: Option<String> => "string", "the type of the event (see event types)";
    level: Option<String> => "string", "the event level (INFO, WARN, ERROR)";
    description: Option<String> => "string", "a brief description of the event";
    account: Option<String> => "string", "the account name for the account that owns the object being acted on in the event";
    domainid: Option<Uuid> => "string", "the id of the account's domain";
    domain: Option<String> => "string", "the name of the account's domain";
    domainpath: Option<String> => "string", "path of the Domain the account's domain belongs to";
    created: Option<CsDate> => "date", "the date the event was created";
    state: Option<String> => "string", "the state of the event";
    parentid: Option<Uuid> => "string", "whether the event is parented";
    resourceid: Option<Uuid> => "string", "the id of the resource";
    resourcetype: Option<String> => "string", "the type of the resource";
    resourcename: Option<String> => "string", "the name of the resource";
    archived: Option<bool> => "boolean", "whether the event has been archived or not";
});

response!(AsyncJobResponse {
    jobid: Option<Uuid> => "string", "the ID of the async job";
    accountid: Option<Uuid> => "string", "the account id that executed the async command";
    account: Option<String> => "string", "the account that executed the async command";
    domainid: Option<Uuid> => "string", "the domain id that executed the async command";
    domainpath: Option<String> => "string", "the domain that executed the async command";
    userid: Option<Uuid> => "string", "the user that executed the async command";
    cmd: Option<String> => "string", "the async command executed";
    jobstatus: Option<JobStatus> => "integer", "the current job status-should be 0 for PENDING";
    jobprocstatus: Option<i32> => "integer", "the progress information of the PENDING job";
    jobresultcode: Option<i32> => "integer", "the result code for the job";
    jobresulttype: Option<String> => "string", "the result type";
    jobresult: Option<serde_json::Value> => "responseobject", "the result reason";
    jobinstancetype: Option<String> => "string", "the instance/entity object related to the job";
    jobinstanceid: Option<Uuid> => "string", "the unique ID of the instance/entity object related to the job";
    created: Option<CsDate> => "date", "the created date of the job";
    completed: Option<CsDate> => "date", "the completed date of the job";
    managementserverid: Option<Uuid> => "string", "the msid of the management server on which the job is running";
    managementservername: Option<String> => "string", "the management server name of the host";
});

// What a failed job's `jobresult` holds (`ApiError::body` writes it).
response!(ExceptionResponse {
    uuidList: Vec<serde_json::Value> => "list", "List of uuids associated with this error";
    errorcode: Option<i32> => "integer", "numeric code associated with this error";
    cserrorcode: Option<i32> => "integer", "cloudstack exception error code associated with this error";
    errortext: Option<String> => "string", "the text associated with this error";
});

response!(UserKeysResponse {
    apikey: Option<String> => "string", "the api key of the registered user";
    secretkey: Option<String> => "string", "the secret key of the registered user";
});

// `SSHKeyPairResponse`; `privatekey` is `CreateSSHKeyPairResponse`'s, set only by
// createSSHKeyPair (the one time the private key exists).
response!(SshKeyPairResponse {
    id: Option<Uuid> => "string", "ID of the ssh keypair";
    name: Option<String> => "string", "Name of the keypair";
    account: Option<String> => "string", "the owner of the keypair";
    domainid: Option<Uuid> => "string", "the domain id of the keypair owner";
    domain: Option<String> => "string", "the domain name of the keypair owner";
    fingerprint: Option<String> => "string", "Fingerprint of the public key";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    privatekey: Option<String> => "string", "Private key";
});

// `UserDataResponse` (registerUserData, listUserData).
response!(UserDataResponse {
    id: Option<Uuid> => "string", "ID of the ssh keypair";
    name: Option<String> => "string", "Name of the userdata";
    account: Option<String> => "string", "the owner of the userdata";
    accountid: Option<Uuid> => "string", "the owner id of the userdata";
    domain: Option<String> => "string", "the domain name of the userdata owner";
    domainid: Option<Uuid> => "string", "the domain id of the userdata owner";
    domainpath: Option<String> => "string", "the domain path of the userdata owner";
    projectid: Option<Uuid> => "string", "the project id of the userdata";
    project: Option<String> => "string", "the project name of the userdata";
    userdata: Option<String> => "string", "base64 encoded userdata content";
    params: Option<String> => "string", "list of parameters which contains the list of keys or string parameters that are needed to be passed for any variables declared in userdata";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
});

// `SecurityGroupResponse` (createSecurityGroup, listSecurityGroups, the authorize jobs'
// results). `ingressrule`, `egressrule`, `tags` and `virtualmachineids` are always present,
// empty or not: Ansible and Terraform read them without checking.
response!(SecurityGroupResponse {
    id: Option<Uuid> => "string", "the ID of the security group";
    name: Option<String> => "string", "the name of the security group";
    description: Option<String> => "string", "the description of the security group";
    account: Option<String> => "string", "the account owning the security group";
    domainid: Option<Uuid> => "string", "the domain ID of the security group";
    domain: Option<String> => "string", "the domain name of the security group";
    domainpath: Option<String> => "string", "the domain path of the security group";
    projectid: Option<Uuid> => "string", "the project id of the group";
    project: Option<String> => "string", "the project name of the group";
    ingressrule: Vec<SecurityGroupRuleResponse> => "set", "the list of ingress rules associated with the security group";
    egressrule: Vec<SecurityGroupRuleResponse> => "set", "the list of egress rules associated with the security group";
    tags: Vec<serde_json::Value> => "set", "the list of resource tags associated with the rule";
    virtualmachinecount: Option<i64> => "integer", "the number of virtualmachines associated with this securitygroup";
    virtualmachineids: Vec<Uuid> => "set", "the list of virtualmachine ids associated with this securitygroup";
});

// `SecurityGroupRuleResponse`: `startport`/`endport` unless ICMP, `icmptype`/`icmpcode`
// only for ICMP; `cidr` as the client sent it, or `securitygroupname` and `account` for a
// rule naming a group.
response!(SecurityGroupRuleResponse {
    ruleid: Option<Uuid> => "string", "the id of the security group rule";
    protocol: Option<String> => "string", "the protocol of the security group rule";
    icmptype: Option<i64> => "integer", "the type of the ICMP message response";
    icmpcode: Option<i64> => "integer", "the code for the ICMP message response";
    startport: Option<i64> => "integer", "the starting IP of the security group rule";
    endport: Option<i64> => "integer", "the ending IP of the security group rule";
    securitygroupname: Option<String> => "string", "security group name";
    account: Option<String> => "string", "account owning the security group rule";
    cidr: Option<String> => "string", "the CIDR notation for the base IP address of the security group rule";
    tags: Vec<serde_json::Value> => "set", "the list of resource tags associated with the rule";
});

// `IPAddressResponse` (issue 15): `ipaddress` in associateIpAddress, `publicipaddress`
// in listPublicIpAddresses. `isstaticnat` and `tags` are always present: Ansible's
// cs_ip_address reads `isstaticnat` without a default.
response!(IpAddressResponse {
    id: Option<Uuid> => "string", "public IP address id";
    ipaddress: Option<String> => "string", "public IP address";
    allocated: Option<CsDate> => "date", "date the public IP address was acquired";
    zoneid: Option<Uuid> => "string", "the ID of the zone the public IP address belongs to";
    zonename: Option<String> => "string", "the name of the zone the public IP address belongs to";
    issourcenat: Option<bool> => "boolean", "true if the IP address is a source nat address, false otherwise";
    account: Option<String> => "string", "the account the public IP address is associated with";
    projectid: Option<Uuid> => "string", "the project id of the ipaddress";
    project: Option<String> => "string", "the project name of the address";
    domainid: Option<Uuid> => "string", "the domain ID the public IP address is associated with";
    domain: Option<String> => "string", "the domain the public IP address is associated with";
    domainpath: Option<String> => "string", "path of the domain to which the public IP address belongs";
    forvirtualnetwork: Option<bool> => "boolean", "the virtual network for the IP address";
    vlanid: Option<Uuid> => "string", "the ID of the VLAN associated with the IP address. This parameter is visible to ROOT admins only";
    vlanname: Option<String> => "string", "the VLAN associated with the IP address";
    isstaticnat: Option<bool> => "boolean", "true if this ip is for static nat, false otherwise";
    issystem: Option<bool> => "boolean", "true if this ip is system ip (was allocated as a part of deployVm or createLbRule)";
    virtualmachineid: Option<Uuid> => "string", "virtual machine id the ip address is assigned to";
    virtualmachinename: Option<String> => "string", "virtual machine name the ip address is assigned to";
    virtualmachinedisplayname: Option<String> => "string", "virtual machine display name the ip address is assigned to (not null only for static nat Ip)";
    virtualmachinetype: Option<String> => "string", "virtual machine type the ip address is assigned to";
    vmipaddress: Option<String> => "string", "virtual machine (dnat) ip address (not null only for static nat Ip)";
    associatednetworkid: Option<Uuid> => "string", "the ID of the Network associated with the IP address";
    associatednetworkname: Option<String> => "string", "the name of the Network associated with the IP address";
    physicalnetworkid: Option<Uuid> => "string", "the physical network this belongs to";
    state: Option<String> => "string", "State of the ip address. Can be: Allocating, Allocated, Releasing, Reserved and Free";
    fordisplay: Option<bool> => "boolean", "is public ip for display to the regular user";
    isportable: Option<bool> => "boolean", "is public IP portable across the zones";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated with ip address";
    hasannotations: Option<bool> => "boolean", "whether the entity has an annotation";
    hasrules: Option<bool> => "boolean", "whether the ip address has Firewall/PortForwarding/LoadBalancing rules defined";
    forsystemvms: Option<bool> => "boolean", "true if range is dedicated for System VMs";
});

// `FirewallRuleResponse` (issue 15): a port forwarding rule (`portforwardingrule`). The
// four ports are strings, as CloudStack answers them; `cidrlist` is "" when none.
response!(FirewallRuleResponse {
    id: Option<Uuid> => "string", "the ID of the port forwarding rule";
    privateport: Option<String> => "string", "the starting port of port forwarding rule's private port range";
    privateendport: Option<String> => "string", "the ending port of port forwarding rule's private port range";
    protocol: Option<String> => "string", "the protocol of the port forwarding rule";
    publicport: Option<String> => "string", "the starting port of port forwarding rule's public port range";
    publicendport: Option<String> => "string", "the ending port of port forwarding rule's private port range";
    virtualmachineid: Option<Uuid> => "string", "the VM ID for the port forwarding rule";
    virtualmachinename: Option<String> => "string", "the VM name for the port forwarding rule";
    virtualmachinedisplayname: Option<String> => "string", "the VM display name for the port forwarding rule";
    ipaddressid: Option<Uuid> => "string", "the public ip address id for the port forwarding rule";
    ipaddress: Option<String> => "string", "the public ip address for the port forwarding rule";
    state: Option<String> => "string", "the state of the rule";
    cidrlist: Option<String> => "string", "the cidr list to forward traffic from. Multiple entries are separated by a single comma character (,).";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated with the rule";
    vmguestip: Option<String> => "string", "the vm ip address for the port forwarding rule";
    networkid: Option<Uuid> => "string", "the id of the guest network the port forwarding rule belongs to";
    fordisplay: Option<bool> => "boolean", "is firewall for display to the regular user";
});

// `FirewallResponse` (issue 15): an ingress or egress firewall rule (`firewallrule`).
// Ports and ICMP type/code are integers, absent when not set; `ipaddressid`/`ipaddress`
// for ingress rules only, `destcidrlist` for egress ones.
response!(FirewallResponse {
    id: Option<Uuid> => "string", "the ID of the firewall rule";
    protocol: Option<String> => "string", "the protocol of the firewall rule";
    startport: Option<i64> => "integer", "the starting port of firewall rule's port range";
    endport: Option<i64> => "integer", "the ending port of firewall rule's port range";
    ipaddressid: Option<Uuid> => "string", "the public ip address id for the firewall rule";
    ipaddress: Option<String> => "string", "the public ip address for the firewall rule";
    networkid: Option<Uuid> => "string", "the network id of the firewall rule";
    state: Option<String> => "string", "the state of the rule";
    cidrlist: Option<String> => "string", "the cidr list to forward traffic from. Multiple entries are separated by a single comma character (,).";
    icmptype: Option<i64> => "integer", "type of the icmp message being sent";
    icmpcode: Option<i64> => "integer", "error code for this icmp message";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated with the rule";
    fordisplay: Option<bool> => "boolean", "is rule for display to the regular user";
    destcidrlist: Option<String> => "string", "the cidr list to forward traffic to. Multiple entries are separated by a single comma character (,).";
    traffictype: Option<String> => "string", "the traffic type for the firewall rule";
});

// `VMUserDataResponse` (getVirtualMachineUserData).
response!(VmUserDataResponse {
    virtualmachineid: Option<Uuid> => "string", "the ID of the virtual machine";
    userdata: Option<String> => "string", "Base 64 encoded VM user data";
});

// `GetVMPasswordResponse`.
response!(VmPasswordResponse {
    encryptedpassword: Option<String> => "string", "The base64 encoded encrypted password of the VM";
});

response!(LogoutResponse {
    description: Option<String> => "string", "Response description";
});

response!(HypervisorResponse {
    name: Option<String> => "string", "Hypervisor name";
});

// `HypervisorCapabilitiesResponse` (listHypervisorCapabilities): what Stratus's one
// hypervisor can do, truthfully; `maxhostspercluster` is absent (no limit), as CloudStack's
// KVM row.
response!(HypervisorCapabilitiesResponse {
    id: Option<Uuid> => "string", "the ID of the hypervisor capabilities row";
    hypervisor: Option<String> => "string", "the hypervisor type";
    hypervisorversion: Option<String> => "string", "the hypervisor version";
    maxguestslimit: Option<i64> => "long", "the maximum number of guest vms recommended for this hypervisor";
    securitygroupenabled: Option<bool> => "boolean", "true if security group is supported";
    maxdatavolumeslimit: Option<i32> => "integer", "the maximum number of Data Volumes that can be attached for this hypervisor";
    maxhostspercluster: Option<i32> => "integer", "the maximum number of Hosts per cluster for this hypervisor";
    storagemotionenabled: Option<bool> => "boolean", "true if storage motion is supported";
    vmsnapshotenabled: Option<bool> => "boolean", "true if VM snapshots are enabled for this hypervisor";
});

response!(SuccessResponse {
    success: bool => "boolean", "true if operation is executed successfully";
    displaytext: Option<String> => "string", "any text associated with the success or failure";
});

response!(CapabilitiesResponse {
    cloudstackversion: Option<String> => "string", "version of the cloud stack";
    securitygroupsenabled: Option<bool> => "boolean", "true if security groups support is enabled, false otherwise";
    userpublictemplateenabled: Option<bool> => "boolean", "true if user and domain admins can set templates to be shared, false otherwise";
    supportELB: Option<String> => "string", "true if region supports elastic load balancer on basic zones";
    projectinviterequired: Option<bool> => "boolean", "If invitation confirmation is required when add account to project";
    allowusercreateprojects: Option<bool> => "boolean", "true if regular user is allowed to create projects";
    customdiskofferingminsize: Option<i64> => "long", "minimum size that can be specified when create disk from disk offering with custom size";
    customdiskofferingmaxsize: Option<i64> => "long", "maximum size that can be specified when create disk from disk offering with custom size";
    kvmsnapshotenabled: Option<bool> => "boolean", "true if snapshot is supported for KVM host, false otherwise";
    apilimitinterval: Option<i32> => "integer", "time interval (in seconds) to reset api count";
    apilimitmax: Option<i32> => "integer", "Max allowed number of api requests within the specified interval";
    allowuserviewdestroyedvm: Option<bool> => "boolean", "true if the user is allowed to view destroyed virtualmachines, false otherwise";
    allowuserexpungerecovervm: Option<bool> => "boolean", "true if the user can recover and expunge virtualmachines, false otherwise";
    allowuserexpungerecovervolume: Option<bool> => "boolean", "true if the user can recover and expunge volumes, false otherwise";
    allowuserviewalldomainaccounts: Option<bool> => "boolean", "true if users can see all accounts within the same domain, false otherwise";
    allowuserforcestopvm: Option<bool> => "boolean", "true if users are allowed to force stop a vm, false otherwise";
    dynamicrolesenabled: Option<bool> => "boolean", "true if dynamic role-based api checker is enabled, false otherwise";
    defaultuipagesize: Option<i64> => "long", "default page size in the UI for various views, value set in the configurations";
    regionsecondaryenabled: Option<bool> => "boolean", "true if region wide secondary is enabled, false otherwise";
    instancesstatsretentiontime: Option<i32> => "integer", "the retention time for Instances stats";
    instancesstatsuseronly: Option<bool> => "boolean", "true if stats are collected only for user instances, false if system instance stats are also collected";
    instancesdisksstatsretentionenabled: Option<bool> => "boolean", "true if stats are retained for instance disks otherwise false";
});

response!(LoginResponse {
    username: Option<String> => "string", "Username";
    userid: Option<String> => "string", "User ID";
    domainid: Option<String> => "string", "Domain ID that the user belongs to";
    timeout: Option<i32> => "integer", "the time period before the session has expired";
    account: Option<String> => "string", "the account name the user belongs to";
    firstname: Option<String> => "string", "first name of the user";
    lastname: Option<String> => "string", "last name of the user";
    r#type: Option<String> => "string", "the account type (admin, domain-admin, read-only-admin, user)";
    timezone: Option<String> => "string", "user time zone";
    timezoneoffset: Option<String> => "string", "user time zoneoffset";
    registered: Option<String> => "string", "Is user registered";
    sessionkey: Option<String> => "string", "Session key that can be passed in subsequent Query command calls";
    is2faenabled: Option<String> => "string", "Two factor authentication enabled";
    is2faverified: Option<String> => "string", "Two factor authentication verified";
    managementserverid: Option<String> => "string", "Management Server ID that the user logged to";
});

response!(ApiParamResponse {
    name: String => "string", "the name of the api parameter";
    description: String => "string", "description of the api parameter";
    r#type: String => "string", "parameter type";
    length: i32 => "integer", "length of the parameter";
    required: bool => "boolean", "true if this parameter is required for the api request";
    since: Option<String> => "string", "version of CloudStack the api was introduced in";
    related: String => "string", "comma separated related apis to get the parameter";
});

response!(ApiResponseFieldResponse {
    name: String => "string", "the name of the api response field";
    description: String => "string", "description of the api response field";
    r#type: String => "string", "response field type";
    response: Vec<serde_json::Value> => "set", "api response fields";
});

response!(ApiDiscoveryResponse {
    name: String => "string", "the name of the api command";
    description: String => "string", "description of the api";
    since: Option<String> => "string", "version of CloudStack the api was introduced in";
    isasync: bool => "boolean", "true if api is asynchronous";
    related: String => "string", "comma separated related apis";
    params: Vec<ApiParamResponse> => "set", "the list params the api accepts";
    response: Vec<ApiResponseFieldResponse> => "set", "api response fields";
    r#type: Option<String> => "string", "response field type";
});

// Live migration (issue 16).
response!(HostForMigrationResponse {
    id: Option<Uuid> => "string", "the ID of the host";
    name: Option<String> => "string", "the name of the host";
    state: Option<String> => "status", "the state of the host";
    resourcestate: Option<String> => "string", "the resource state of the host";
    r#type: Option<String> => "type", "the host type";
    ipaddress: Option<String> => "string", "the IP address of the host";
    hypervisor: Option<String> => "string", "the host hypervisor";
    hypervisorversion: Option<String> => "string", "the hypervisor version";
    version: Option<String> => "string", "the host version";
    zoneid: Option<Uuid> => "string", "the Zone ID of the host";
    zonename: Option<String> => "string", "the Zone name of the host";
    podid: Option<Uuid> => "string", "the Pod ID of the host";
    podname: Option<String> => "string", "the Pod name of the host";
    clusterid: Option<Uuid> => "string", "the cluster ID of the host";
    clustername: Option<String> => "string", "the cluster name of the host";
    cpunumber: Option<i32> => "integer", "the CPU number of the host";
    cpuspeed: Option<i64> => "long", "the CPU speed of the host";
    cpuallocated: Option<String> => "string", "the amount of the host's CPU currently allocated";
    cpuused: Option<String> => "string", "the amount of the host's CPU currently used";
    memorytotal: Option<i64> => "long", "the memory total of the host";
    memoryallocated: Option<i64> => "long", "the amount of the host's memory currently allocated";
    memoryused: Option<i64> => "long", "the amount of the host's memory currently used";
    hosttags: Option<String> => "string", "comma-separated list of tags for the host";
    requiresStorageMotion: Option<bool> => "boolean", "true if migrating a vm to this host requires storage motion, false otherwise";
    suitableformigration: Option<bool> => "boolean", "true if this host is suitable(has enough capacity and satisfies all conditions like hosttags, max guests vm limit etc) to migrate a VM to it , false otherwise";
});

response!(HostResponse {
    id: Option<Uuid> => "string", "the ID of the host";
    name: Option<String> => "string", "the name of the host";
    state: Option<String> => "status", "the state of the host";
    resourcestate: Option<String> => "string", "the resource state of the host";
    r#type: Option<String> => "type", "the host type";
    ipaddress: Option<String> => "string", "the IP address of the host";
    hypervisor: Option<String> => "string", "the host hypervisor";
    hypervisorversion: Option<String> => "string", "the hypervisor version";
    version: Option<String> => "string", "the host version";
    zoneid: Option<Uuid> => "string", "the Zone ID of the host";
    zonename: Option<String> => "string", "the Zone name of the host";
    podid: Option<Uuid> => "string", "the Pod ID of the host";
    podname: Option<String> => "string", "the Pod name of the host";
    clusterid: Option<Uuid> => "string", "the cluster ID of the host";
    clustername: Option<String> => "string", "the cluster name of the host";
    clustertype: Option<String> => "string", "the cluster type of the cluster that host belongs to";
    cpusockets: Option<i32> => "integer", "the number of CPU sockets on the host";
    cpunumber: Option<i32> => "integer", "the CPU number of the host";
    cpuspeed: Option<i64> => "long", "the CPU speed of the host";
    cpuallocated: Option<String> => "string", "the amount of the host's CPU currently allocated";
    cpuallocatedvalue: Option<i64> => "long", "the amount of the host's CPU currently allocated in MHz";
    cpuallocatedpercentage: Option<String> => "string", "the amount of the host's CPU currently allocated in percentage";
    cpuallocatedwithoverprovisioning: Option<String> => "string", "the amount of the host's CPU currently allocated after applying the cpu.overprovisioning.factor";
    cpuused: Option<String> => "string", "the amount of the host's CPU currently used";
    cpuwithoverprovisioning: Option<String> => "string", "the amount of the host's CPU after applying the cpu.overprovisioning.factor";
    memorytotal: Option<i64> => "long", "the memory total of the host, this parameter is deprecated use memorywithoverprovisioning";
    memorywithoverprovisioning: Option<String> => "string", "the amount of the host's memory after applying the mem.overprovisioning.factor";
    memoryallocated: Option<i64> => "long", "the amount of the host's memory currently allocated in bytes";
    memoryallocatedpercentage: Option<String> => "string", "the amount of the host's memory currently allocated in percentage";
    memoryallocatedbytes: Option<i64> => "long", "the amount of the host's memory currently allocated in bytes";
    memoryused: Option<i64> => "long", "the amount of the host's memory currently used";
    networkkbsread: Option<i64> => "long", "the incoming network traffic on the host";
    networkkbswrite: Option<i64> => "long", "the outgoing network traffic on the host";
    lastpinged: Option<CsDate> => "date", "the date and time the host was last pinged";
    created: Option<CsDate> => "date", "the date and time the host was created";
    disconnected: Option<CsDate> => "date", "true if the host is disconnected. False otherwise.";
    managementserverid: Option<Uuid> => "string", "the management server ID of the host";
    managementservername: Option<String> => "string", "the management server name of the host";
    capabilities: Option<String> => "string", "capabilities of the host";
    hosttags: Option<String> => "string", "comma-separated list of tags for the host";
    explicithosttags: Option<String> => "string", "comma-separated list of explicit host tags for the host";
    istagarule: Option<bool> => "boolean", "true if the host's tags are a rule (never in Stratus: tags are plain lists)";
    islocalstorageactive: Option<bool> => "boolean", "true if local storage is active, false otherwise";
    hahost: Option<bool> => "boolean", "true if the host is Ha host (dedicated to vms started by HA process; false otherwise";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    events: Option<String> => "string", "events available for the host";
    arch: Option<String> => "string", "CPU Arch of the host";
    details: Option<serde_json::Value> => "map", "Host details in key/value pairs.";
    cputotalghz: Option<String> => "string", "the total cpu capacity in Ghz";
    cpuusedghz: Option<String> => "string", "the total cpu used in Ghz";
    memorytotalgb: Option<String> => "string", "the total memory capacity in GiB";
    memoryusedgb: Option<String> => "string", "the total memory used in GiB";
    networkread: Option<String> => "string", "network read in GiB";
    networkwrite: Option<String> => "string", "network write in GiB";
    instances: Option<String> => "string", "instances on the host";
});

response!(HostStatsItem {
    timestamp: Option<CsDate> => "date", "the time the sample was taken";
    cpuused: Option<String> => "string", "the percentage of the host's CPU in use";
    memoryusedkbs: Option<i64> => "long", "the host's memory in use, in KiB";
    networkkbsread: Option<i64> => "long", "KiB received by the host's interfaces since it booted";
    networkkbswrite: Option<i64> => "long", "KiB sent by the host's interfaces since it booted";
});

response!(HostStatsResponse {
    id: Option<Uuid> => "string", "the ID of the host";
    name: Option<String> => "string", "the name of the host";
    stats: Vec<HostStatsItem> => "list", "the host's retained samples, oldest first";
});

response!(VmStatsItem {
    timestamp: Option<CsDate> => "date", "the time the sample was taken";
    cpuused: Option<String> => "string", "the share of the VM's vCPUs in use since the agent's previous sample";
    memorykbs: Option<i64> => "long", "the memory the VM has (its balloon's current size) in KiB";
    memoryintfreekbs: Option<i64> => "long", "the memory the guest reports unused, in KiB";
    diskkbsread: Option<i64> => "long", "KiB read from the VM's disks since its QEMU started";
    diskkbswrite: Option<i64> => "long", "KiB written to the VM's disks since its QEMU started";
    diskioread: Option<i64> => "long", "read requests of the VM's disks since its QEMU started";
    diskiowrite: Option<i64> => "long", "write requests of the VM's disks since its QEMU started";
    networkkbsread: Option<i64> => "long", "KiB the VM received since its QEMU started";
    networkkbswrite: Option<i64> => "long", "KiB the VM sent since its QEMU started";
});

response!(VmStatsResponse {
    id: Option<Uuid> => "string", "the ID of the virtual machine";
    name: Option<String> => "string", "the name of the virtual machine";
    displayname: Option<String> => "string", "the display name of the virtual machine";
    stats: Vec<VmStatsItem> => "list", "the VM's retained samples, oldest first";
});

response!(BackgroundTaskResponse {
    name: Option<String> => "string", "the task's name";
    managementserverid: Option<Uuid> => "string", "the management server that runs it";
    managementservername: Option<String> => "string", "that server's name";
    state: Option<String> => "string", "OK, Failing (the last pass failed), Late (no pass for three intervals) or ServerStopped (its server stopped heartbeating)";
    interval: Option<i32> => "integer", "seconds between passes";
    runs: Option<i64> => "long", "passes since the server started recording";
    failures: Option<i64> => "long", "failed passes";
    lastrun: Option<CsDate> => "date", "when the last pass ran";
    lastduration: Option<i32> => "integer", "how long the last pass took, in milliseconds";
    lastsuccess: Option<CsDate> => "date", "when a pass last succeeded";
    lastresult: Option<String> => "string", "what the last successful pass did";
    lasterror: Option<String> => "string", "the last failure's error";
    lasterrortime: Option<CsDate> => "date", "when the last failure happened";
});

response!(WorkflowResponse {
    id: Option<Uuid> => "string", "the workflow's ID";
    kind: Option<String> => "string", "what it does: VmDeploy, VmStart, VmReboot or VmExpunge";
    resourcetype: Option<String> => "string", "the type of the resource it works on (VirtualMachine)";
    resourceid: Option<Uuid> => "string", "the ID of the resource it works on";
    jobid: Option<Uuid> => "string", "the async job that runs it, if any";
    state: Option<String> => "string", "Running, Unwinding (a step failed; the steps done are being undone), Succeeded or Failed";
    step: Option<String> => "string", "the step being done (Running) or undone (Unwinding)";
    stepindex: Option<i32> => "integer", "Running: the steps done so far; Unwinding: the steps still to undo";
    stepcount: Option<i32> => "integer", "how many steps it has";
    stepstarted: Option<CsDate> => "date", "when the current step began";
    created: Option<CsDate> => "date", "when it started";
    error: Option<String> => "string", "why it failed (Unwinding, Failed)";
    managementserverid: Option<Uuid> => "string", "the management server that runs (or last ran) it";
});

response!(AlertResponse {
    id: Option<Uuid> => "string", "the id of the alert";
    r#type: Option<i32> => "short", "One of the following alert types: MEMORY = 0, CPU = 1, STORAGE = 2, STORAGE_ALLOCATED = 3, PUBLIC_IP = 4, PRIVATE_IP = 5, SECONDARY_STORAGE = 6, HOST = 7, USERVM = 8, DOMAIN_ROUTER = 9, CONSOLE_PROXY = 10, ROUTING = 11, STORAGE_MISC = 12, USAGE_SERVER = 13, MANAGMENT_NODE = 14, DOMAIN_ROUTER_MIGRATE = 15, CONSOLE_PROXY_MIGRATE = 16, USERVM_MIGRATE = 17, VLAN = 18, SSVM = 19, USAGE_SERVER_RESULT = 20";
    name: Option<String> => "string", "the name of the alert";
    description: Option<String> => "string", "description of the alert";
    sent: Option<CsDate> => "date", "the date and time the alert was sent";
});

// --- storage ---

response!(StoragePoolResponse {
    id: Option<Uuid> => "string", "the ID of the storage pool";
    name: Option<String> => "string", "the name of the storage pool";
    zoneid: Option<Uuid> => "string", "the Zone ID of the storage pool";
    zonename: Option<String> => "string", "the Zone name of the storage pool";
    podid: Option<Uuid> => "string", "the Pod ID of the storage pool";
    podname: Option<String> => "string", "the Pod name of the storage pool";
    clusterid: Option<Uuid> => "string", "the ID of the cluster for the storage pool";
    clustername: Option<String> => "string", "the name of the cluster for the storage pool";
    ipaddress: Option<String> => "string", "the IP address of the storage pool";
    path: Option<String> => "string", "the storage pool path";
    r#type: Option<String> => "string", "the storage pool type";
    scope: Option<String> => "string", "the scope of the storage pool";
    state: Option<String> => "string", "the state of the storage pool";
    hypervisor: Option<String> => "string", "the hypervisor type of the storage pool";
    provider: Option<String> => "string", "Storage provider for this pool";
    tags: Option<String> => "string", "the tags for the storage pool";
    istagarule: Option<bool> => "boolean", "whether the storage pool's tags are a rule";
    disksizetotal: Option<i64> => "long", "the total disk size of the storage pool";
    disksizeallocated: Option<i64> => "long", "the host's currently allocated disk size";
    disksizeused: Option<i64> => "long", "the host's currently used disk size";
    overprovisionfactor: Option<String> => "string", "the overprovisionfactor for the storage pool";
    suitableformigration: Option<bool> => "boolean", "true if this pool is suitable to migrate a volume, false otherwise";
    managed: Option<bool> => "boolean", "whether this pool is managed or not";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    created: Option<CsDate> => "date", "the date and time the storage pool was created";
});

response!(ImageStoreResponse {
    id: Option<Uuid> => "string", "the ID of the image store";
    name: Option<String> => "string", "the name of the image store";
    zoneid: Option<Uuid> => "string", "the Zone ID of the image store";
    zonename: Option<String> => "string", "the Zone name of the image store";
    url: Option<String> => "string", "the url of the image store";
    protocol: Option<String> => "string", "the protocol of the image store";
    providername: Option<String> => "string", "the provider name of the image store";
    scope: Option<String> => "string", "the scope of the image store";
    readonly: Option<bool> => "boolean", "defines if store is read-only";
    disksizetotal: Option<i64> => "long", "the total disk size of the host";
    disksizeused: Option<i64> => "long", "the host's currently used disk size";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
});

response!(IsoDownloadDetail {
    datastore: Option<String> => "string", "the image store";
    downloadPercent: Option<String> => "string", "download progress in percent";
    downloadState: Option<String> => "string", "download state";
});

response!(IsoResponse {
    id: Option<Uuid> => "string", "the template ID";
    name: Option<String> => "string", "the template name";
    displaytext: Option<String> => "string", "the template display text";
    ispublic: Option<bool> => "boolean", "true if this template is a public template, false otherwise";
    created: Option<CsDate> => "date", "the date this template was created";
    isready: Option<bool> => "boolean", "true if the template is ready to be deployed from, false otherwise.";
    bootable: Option<bool> => "boolean", "true if the ISO is bootable, false otherwise";
    isfeatured: Option<bool> => "boolean", "true if this template is a featured template, false otherwise";
    crossZones: Option<bool> => "boolean", "true if the template is managed across all Zones, false otherwise";
    ostypeid: Option<Uuid> => "string", "the ID of the OS type for this template.";
    ostypename: Option<String> => "string", "the name of the OS type for this template.";
    account: Option<String> => "string", "the account name to which the template belongs";
    accountid: Option<Uuid> => "string", "the account id to which the template belongs";
    domain: Option<String> => "string", "the name of the domain to which the template belongs";
    domainid: Option<Uuid> => "string", "the ID of the domain to which the template belongs";
    domainpath: Option<String> => "string", "the path of the domain to which the template belongs";
    projectid: Option<Uuid> => "string", "the project id of the template";
    project: Option<String> => "string", "the project name of the template";
    zoneid: Option<Uuid> => "string", "the ID of the zone for this template";
    zonename: Option<String> => "string", "the name of the zone for this template";
    status: Option<String> => "string", "the status of the template";
    size: Option<i64> => "long", "the size of the template";
    physicalsize: Option<i64> => "long", "the physical size of the template";
    checksum: Option<String> => "string", "checksum of the template";
    isextractable: Option<bool> => "boolean", "true if the template is extractable, false otherwise";
    passwordenabled: Option<bool> => "boolean", "true if the reset password feature is enabled, false otherwise";
    templatetype: Option<String> => "string", "the type of the template";
    sshkeyenabled: Option<bool> => "boolean", "true if template is sshkey enabled, false otherwise";
    isdynamicallyscalable: Option<bool> => "boolean", "true if template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory";
    format: Option<String> => "string", "the format of the template.";
    url: Option<String> => "string", "the URL which the template/iso is registered from";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    directdownload: Option<bool> => "boolean", "KVM Only: true if template is directly downloaded to Primary Storage bypassing Secondary Storage";
    deployasis: Option<bool> => "boolean", "VMware only: true if template is deployed without orchestrating disks and networks but \"as-is\" defined in the template.";
    downloaddetails: Vec<IsoDownloadDetail> => "set", "Lists the download progress of a template across all secondary storages";
    tags: Vec<serde_json::Value> => "set", "the list of resource tags associated";
});

response!(TemplateResponse {
    id: Option<Uuid> => "string", "the template ID";
    name: Option<String> => "string", "the template name";
    displaytext: Option<String> => "string", "the template display text";
    ispublic: Option<bool> => "boolean", "true if this template is a public template, false otherwise";
    created: Option<CsDate> => "date", "the date this template was created";
    removed: Option<CsDate> => "date", "the date this template was removed";
    isready: Option<bool> => "boolean", "true if the template is ready to be deployed from, false otherwise.";
    passwordenabled: Option<bool> => "boolean", "true if the reset password feature is enabled, false otherwise";
    format: Option<String> => "string", "the format of the template.";
    isfeatured: Option<bool> => "boolean", "true if this template is a featured template, false otherwise";
    crossZones: Option<bool> => "boolean", "true if the template is managed across all Zones, false otherwise";
    ostypeid: Option<Uuid> => "string", "the ID of the OS type for this template.";
    ostypename: Option<String> => "string", "the name of the OS type for this template.";
    accountid: Option<Uuid> => "string", "the account id to which the template belongs";
    account: Option<String> => "string", "the account name to which the template belongs";
    zoneid: Option<Uuid> => "string", "the ID of the zone for this template";
    zonename: Option<String> => "string", "the name of the zone for this template";
    status: Option<String> => "string", "the status of the template";
    size: Option<i64> => "long", "the size of the template";
    physicalsize: Option<i64> => "long", "the physical size of the template";
    templatetype: Option<String> => "string", "the type of the template";
    hypervisor: Option<String> => "string", "the hypervisor on which the template runs";
    domain: Option<String> => "string", "the name of the domain to which the template belongs";
    domainid: Option<Uuid> => "string", "the ID of the domain to which the template belongs";
    domainpath: Option<String> => "string", "the path of the domain to which the template belongs";
    projectid: Option<Uuid> => "string", "the project id of the template";
    project: Option<String> => "string", "the project name of the template";
    isextractable: Option<bool> => "boolean", "true if the template is extractable, false otherwise";
    checksum: Option<String> => "string", "checksum of the template";
    details: Option<serde_json::Value> => "map", "additional key/value details tied with template";
    bits: Option<i32> => "integer", "the processor bit size";
    sshkeyenabled: Option<bool> => "boolean", "true if template is sshkey enabled, false otherwise";
    isdynamicallyscalable: Option<bool> => "boolean", "true if template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory";
    directdownload: Option<bool> => "boolean", "KVM Only: true if template is directly downloaded to Primary Storage bypassing Secondary Storage";
    deployasis: Option<bool> => "boolean", "VMware only: true if template is deployed without orchestrating disks and networks but \"as-is\" defined in the template.";
    requireshvm: Option<bool> => "boolean", "true if template requires HVM enabled, false otherwise";
    url: Option<String> => "string", "the URL which the template/iso is registered from";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    downloaddetails: Vec<IsoDownloadDetail> => "set", "Lists the download progress of a template across all secondary storages";
    tags: Vec<serde_json::Value> => "set", "the list of resource tags associated";
});

response!(TemplatePermissionsResponse {
    id: Option<Uuid> => "string", "the template ID";
    ispublic: Option<bool> => "boolean", "true if this template is a public template, false otherwise";
    domainid: Option<Uuid> => "string", "the ID of the domain to which the template belongs";
    account: Vec<String> => "list", "the list of accounts the template is available for";
    projectids: Vec<String> => "list", "the list of projects the template is available for";
});

response!(OsTypeResponse {
    id: Option<Uuid> => "string", "the ID of the OS type";
    name: Option<String> => "string", "the name of the OS type";
    description: Option<String> => "string", "the name/description of the OS type";
    oscategoryid: Option<Uuid> => "string", "the ID of the OS category";
    oscategoryname: Option<String> => "string", "the name of the OS category";
    isuserdefined: Option<bool> => "boolean", "is the guest OS user defined";
    fordisplay: Option<bool> => "boolean", "is the guest OS visible for the users";
});

response!(OsCategoryResponse {
    id: Option<Uuid> => "string", "the ID of the OS category";
    name: Option<String> => "string", "the name of the OS category";
    isfeatured: Option<bool> => "boolean", "Whether the OS category is featured";
});

// --- offerings ---

response!(ServiceOfferingResponse {
    id: Option<Uuid> => "string", "the id of the service offering";
    name: Option<String> => "string", "the name of the service offering";
    displaytext: Option<String> => "string", "an alternate display text of the service offering.";
    cpunumber: Option<i32> => "integer", "the number of CPU";
    cpuspeed: Option<i32> => "integer", "the clock rate CPU speed in Mhz";
    memory: Option<i32> => "integer", "the memory in MB";
    created: Option<CsDate> => "date", "the date this service offering was created";
    storagetype: Option<String> => "string", "the storage type for this service offering";
    provisioningtype: Option<String> => "string", "provisioning type used to create volumes.";
    offerha: Option<bool> => "boolean", "the ha support in the service offering";
    limitcpuuse: Option<bool> => "boolean", "restrict the CPU usage to committed service offering";
    isvolatile: Option<bool> => "boolean", "true if the vm needs to be volatile, i.e., on every reboot of vm from API root disk is discarded and creates a new root disk";
    hosttags: Option<String> => "string", "the host tag for the service offering";
    storagetags: Option<String> => "string", "the tags for the service offering";
    issystem: Option<bool> => "boolean", "is this a system vm offering";
    defaultuse: Option<bool> => "boolean", "is this a  default system vm offering";
    iscustomized: Option<bool> => "boolean", "is true if the offering is customized";
    domainid: Option<String> => "string", "the domain ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.";
    domain: Option<String> => "string", "the domain name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.";
    state: Option<String> => "string", "state of the service offering";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
});

response!(DiskOfferingResponse {
    id: Option<Uuid> => "string", "unique ID of the disk offering";
    name: Option<String> => "string", "the name of the disk offering";
    displaytext: Option<String> => "string", "an alternate display text of the disk offering.";
    disksize: Option<i64> => "long", "the size of the disk offering in GB";
    created: Option<CsDate> => "date", "the date this disk offering was created";
    iscustomized: Option<bool> => "boolean", "true if disk offering uses custom size, false otherwise";
    storagetype: Option<String> => "string", "the storage type for this disk offering";
    provisioningtype: Option<String> => "string", "provisioning type used to create volumes.";
    tags: Option<String> => "string", "the tags for the disk offering";
    domainid: Option<String> => "string", "the domain ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.";
    domain: Option<String> => "string", "the domain name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.";
    displayoffering: Option<bool> => "boolean", "whether to display the offering to the end user or not.";
    state: Option<String> => "string", "state of the disk offering";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
});

// --- networks ---

response!(NetworkResponse {
    id: Option<Uuid> => "string", "the id of the network";
    name: Option<String> => "string", "the name of the network";
    displaytext: Option<String> => "string", "the displaytext of the network";
    zoneid: Option<Uuid> => "string", "zone id of the network";
    zonename: Option<String> => "string", "the name of the zone the network belongs to";
    r#type: Option<String> => "string", "the type of the network";
    traffictype: Option<String> => "string", "the traffic type of the network";
    state: Option<String> => "string", "state of the network";
    broadcastdomaintype: Option<String> => "string", "Broadcast domain type of the network";
    broadcasturi: Option<String> => "string", "broadcast uri of the network. This parameter is visible to ROOT admins only";
    vlan: Option<String> => "string", "The vlan of the network. This parameter is visible to ROOT admins only";
    gateway: Option<String> => "string", "the network's gateway";
    netmask: Option<String> => "string", "the network's netmask";
    cidr: Option<String> => "string", "Cloudstack managed address space, all CloudStack managed VMs get IP address from CIDR";
    dns1: Option<String> => "string", "the first IPv4 DNS for the network";
    dns2: Option<String> => "string", "the second IPv4 DNS for the network";
    ip6dns1: Option<String> => "string", "the first IPv6 DNS for the network";
    ip6dns2: Option<String> => "string", "the second IPv6 DNS for the network";
    networkdomain: Option<String> => "string", "the network domain";
    isdefault: Option<bool> => "boolean", "true if network is default, false otherwise";
    issystem: Option<bool> => "boolean", "true if network is system, false otherwise";
    canusefordeploy: Option<bool> => "boolean", "list networks available for vm deployment";
    networkofferingid: Option<Uuid> => "string", "network offering id the network is created from";
    networkofferingname: Option<String> => "string", "name of the network offering the network is created from";
    networkofferingdisplaytext: Option<String> => "string", "display text of the network offering the network is created from";
    networkofferingavailability: Option<String> => "string", "availability of the network offering the network is created from";
    acltype: Option<String> => "string", "acl type - access type to the network";
    specifyipranges: Option<bool> => "boolean", "true if network supports specifying ip ranges, false otherwise";
    specifyvlan: Option<bool> => "boolean", "true if network supports specifying vlan, false otherwise";
    ispersistent: Option<bool> => "boolean", "list networks that are persistent";
    restartrequired: Option<bool> => "boolean", "true network requires restart";
    related: Option<Uuid> => "string", "related to what other network configuration";
    domain: Option<String> => "string", "the domain name of the network owner";
    domainid: Option<Uuid> => "string", "the domain id of the network owner";
    domainpath: Option<String> => "string", "path of the Domain the network belongs to";
    subdomainaccess: Option<bool> => "boolean", "true if users from subdomains can access the domain level network";
    created: Option<CsDate> => "date", "the date this network was created";
    internetprotocol: Option<String> => "string", "The internet protocol of network offering";
    displaynetwork: Option<bool> => "boolean", "an optional field, whether to the display the network to the end user or not.";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated with network";
    service: Vec<NetworkServiceItem> => "list", "the list of services";
    account: Option<String> => "string", "the owner of the network";
    project: Option<String> => "string", "the project name of the address";
    projectid: Option<Uuid> => "string", "the project id of the ipaddress";
    physicalnetworkid: Option<Uuid> => "string", "the physical network id";
    egressdefaultpolicy: Option<bool> => "boolean", "true if guest network default egress policy is allow; false if default egress policy is deny";
    redundantrouter: Option<bool> => "boolean", "If the network has redundant routers enabled";
});

response!(HostTagResponse {
    id: Option<Uuid> => "string", "the ID of the host tag";
    hostid: Option<Uuid> => "string", "the host ID of the host tag";
    hostname: Option<String> => "string", "the name of the host of the host tag (Stratus)";
    name: Option<String> => "string", "the name of the host tag";
    isimplicit: Option<bool> => "boolean", "true if the host tag is implicit";
});

response!(StorageTagResponse {
    id: Option<Uuid> => "string", "The ID of the storage tag";
    poolid: Option<Uuid> => "string", "The pool ID of the storage tag";
    poolname: Option<String> => "string", "The name of the pool of the storage tag (Stratus)";
    name: Option<String> => "string", "The name of the storage tag";
});

response!(StorageProviderResponse {
    name: Option<String> => "string", "the name of the storage provider";
    r#type: Option<String> => "string", "the type of the storage provider: primary or image provider";
});

response!(ProjectResponse {
    id: Option<Uuid> => "string", "the id of the project";
    name: Option<String> => "string", "the name of the project";
    displaytext: Option<String> => "string", "the displaytext of the project";
    domainid: Option<Uuid> => "string", "the domain id the project belongs to";
    domain: Option<String> => "string", "the domain name where the project belongs to";
    owner: Vec<serde_json::Value> => "list", "the account name of the project's owners";
    projectaccountname: Option<String> => "string", "the project account name of the project";
    state: Option<String> => "string", "the state of the project";
    created: Option<CsDate> => "date", "the date this project was created";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated with project";
    vmlimit: Option<String> => "string", "the total number of virtual machines the project can own";
    vmtotal: Option<i64> => "long", "the total number of virtual machines owned by project";
    vmavailable: Option<String> => "string", "the total number of virtual machines available for this project";
    iplimit: Option<String> => "string", "the total number of public ip addresses the project can own";
    iptotal: Option<i64> => "long", "the total number of public ip addresses owned by project";
    ipavailable: Option<String> => "string", "the total number of public ip addresses available for this project";
    volumelimit: Option<String> => "string", "the total number of volumes the project can own";
    volumetotal: Option<i64> => "long", "the total number of volumes owned by project";
    volumeavailable: Option<String> => "string", "the total number of volumes available for this project";
    snapshotlimit: Option<String> => "string", "the total number of snapshots the project can own";
    snapshottotal: Option<i64> => "long", "the total number of snapshots owned by project";
    snapshotavailable: Option<String> => "string", "the total number of snapshots available for this project";
    templatelimit: Option<String> => "string", "the total number of templates the project can own";
    templatetotal: Option<i64> => "long", "the total number of templates owned by project";
    templateavailable: Option<String> => "string", "the total number of templates available for this project";
    networklimit: Option<String> => "string", "the total number of networks the project can own";
    networktotal: Option<i64> => "long", "the total number of networks owned by project";
    networkavailable: Option<String> => "string", "the total number of networks available for this project";
    vpclimit: Option<String> => "string", "the total number of vpcs the project can own";
    vpctotal: Option<i64> => "long", "the total number of vpcs owned by project";
    vpcavailable: Option<String> => "string", "the total number of vpcs available for this project";
    cpulimit: Option<String> => "string", "the total number of cpu cores the project can own";
    cputotal: Option<i64> => "long", "the total number of cpu cores owned by project";
    cpuavailable: Option<String> => "string", "the total number of cpu cores available for this project";
    memorylimit: Option<String> => "string", "the total number of memory (in MB) the project can own";
    memorytotal: Option<i64> => "long", "the total number of memory (in MB) owned by project";
    memoryavailable: Option<String> => "string", "the total number of memory (in MB) available for this project";
    primarystoragelimit: Option<String> => "string", "the total number of primary storage space (in GiB) the project can own";
    primarystoragetotal: Option<i64> => "long", "the total number of primary storage space (in GiB) owned by project";
    primarystorageavailable: Option<String> => "string", "the total number of primary storage space (in GiB) available for this project";
    secondarystoragelimit: Option<String> => "string", "the total number of secondary storage space (in GiB) the project can own";
    secondarystoragetotal: Option<i64> => "long", "the total number of secondary storage space (in GiB) owned by project";
    secondarystorageavailable: Option<String> => "string", "the total number of secondary storage space (in GiB) available for this project";
    vmrunning: Option<i64> => "integer", "the total number of virtual machines running for this project";
    vmstopped: Option<i64> => "integer", "the total number of virtual machines stopped for this project";
});

response!(ProjectAccountResponse {
    projectid: Option<Uuid> => "string", "Project ID";
    project: Option<String> => "string", "Project name";
    accountid: Option<Uuid> => "string", "The ID of the Account";
    account: Option<String> => "string", "The name of the Account";
    accounttype: Option<i32> => "integer", "Account type (admin, domain-admin, user)";
    role: Option<String> => "string", "Account role in the project (Admin, Regular)";
    domainid: Option<Uuid> => "string", "ID of the Domain the Account belongs too";
    domain: Option<String> => "string", "Name of the Domain the Account belongs too";
    domainpath: Option<String> => "string", "Path of the Domain the Account belongs to";
    user: Vec<serde_json::Value> => "list", "The list of users associated with Account";
});

response!(ProjectInvitationResponse {
    id: Option<Uuid> => "string", "the id of the invitation";
    projectid: Option<Uuid> => "string", "the id of the project";
    project: Option<String> => "string", "the name of the project";
    domainid: Option<Uuid> => "string", "the domain id the project belongs to";
    domain: Option<String> => "string", "the domain name where the project belongs to";
    domainpath: Option<String> => "string", "path of the Domain the project belongs to";
    account: Option<String> => "string", "the account name of the project's owner";
    email: Option<String> => "string", "the email the invitation was sent to";
    state: Option<String> => "string", "the invitation state";
});

response!(AffinityGroupResponse {
    id: Option<Uuid> => "string", "the ID of the affinity group";
    name: Option<String> => "string", "the name of the affinity group";
    description: Option<String> => "string", "the description of the affinity group";
    r#type: Option<String> => "string", "the type of the affinity group";
    account: Option<String> => "string", "the account owning the affinity group";
    domainid: Option<Uuid> => "string", "the domain ID of the affinity group";
    domain: Option<String> => "string", "the domain name of the affinity group";
    virtualmachineIds: Vec<Uuid> => "list", "virtual machine IDs associated with this affinity group";
});

response!(AffinityGroupTypeResponse {
    r#type: Option<String> => "string", "the type of the affinity group";
});

response!(ServiceCapabilityItem {
    name: Option<String> => "string", "the capability name";
    value: Option<String> => "string", "the capability value";
    canchooseservicecapability: Option<bool> => "boolean", "can this service capability value can be choosable while creatine network offerings";
});

response!(ServiceProviderItem {
    name: Option<String> => "string", "the service provider name";
});

response!(NetworkServiceItem {
    name: Option<String> => "string", "the service name";
    provider: Vec<ServiceProviderItem> => "list", "the service provider name";
    capability: Vec<ServiceCapabilityItem> => "list", "the list of capabilities";
});

response!(NetworkOfferingResponse {
    id: Option<Uuid> => "string", "the id of the network offering";
    name: Option<String> => "string", "the name of the network offering";
    displaytext: Option<String> => "string", "an alternate display text of the network offering.";
    traffictype: Option<String> => "string", "the traffic type for the network offering, supported types are Public, Management, Control, Guest, Vlan or Storage.";
    isdefault: Option<bool> => "boolean", "true if network offering is default, false otherwise";
    specifyvlan: Option<bool> => "boolean", "true if network offering supports vlans, false otherwise";
    conservemode: Option<bool> => "boolean", "true if network offering is ip conserve mode enabled";
    specifyipranges: Option<bool> => "boolean", "true if network offering supports specifying ip ranges, false otherwise";
    availability: Option<String> => "string", "availability of the network offering";
    state: Option<String> => "string", "state of the network offering. Can be Disabled/Enabled/Inactive";
    guestiptype: Option<String> => "string", "guest type of the network offering, can be Shared or Isolated";
    forvpc: Option<bool> => "boolean", "true if network offering can be used by VPC networks only";
    ispersistent: Option<bool> => "boolean", "true if network offering supports persistent networks";
    egressdefaultpolicy: Option<bool> => "boolean", "true if guest network default egress policy is allow; false if default egress policy is deny";
    supportsstrechedl2subnet: Option<bool> => "boolean", "true if network offering supports network that span multiple zones";
    supportspublicaccess: Option<bool> => "boolean", "true if network offering supports public access for guest networks";
    internetprotocol: Option<String> => "string", "the internet protocol of the network offering";
    service: Vec<NetworkServiceItem> => "list", "the list of supported services";
    zoneid: Option<String> => "string", "the zone ID(s) this disk offering belongs to. Ignore this information as it is not currently applicable.";
    zone: Option<String> => "string", "the zone name(s) this disk offering belongs to. Ignore this information as it is not currently applicable.";
    created: Option<CsDate> => "date", "the date this network offering was created";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    serviceofferingid: Option<Uuid> => "string", "the ID of the service offering used by virtual router provider (Stratus: the router is a namespace on a host; this id names no offering)";
    tags: Option<String> => "string", "the tags for the network offering";
    networkrate: Option<i32> => "integer", "data transfer rate in megabits per second allowed.";
    maxconnections: Option<i32> => "integer", "maximum number of concurrents connections to be handled by lb";
    supportsinternallb: Option<bool> => "boolean", "true if network offering supports public access for guest networks";
});

response!(
    /// An isolated network's router (issue 15): a network namespace on a host rather than
    /// CloudStack's router VM, answered in the shape of CloudStack's DomainRouterResponse.
    DomainRouterResponse {
    id: Option<Uuid> => "string", "the id of the router";
    name: Option<String> => "string", "the name of the router";
    zoneid: Option<Uuid> => "string", "the Zone ID for the router";
    zonename: Option<String> => "string", "the Zone name for the router";
    podid: Option<Uuid> => "string", "the Pod ID for the router";
    podname: Option<String> => "string", "the Pod name for the router";
    hostid: Option<Uuid> => "string", "the host ID for the router";
    hostname: Option<String> => "string", "the hostname for the router";
    hypervisor: Option<String> => "string", "the hypervisor on which the template runs";
    state: Option<String> => "string", "the state of the router";
    created: Option<CsDate> => "date", "the date and time the router was created";
    dns1: Option<String> => "string", "the first DNS for the router";
    dns2: Option<String> => "string", "the second DNS for the router";
    networkdomain: Option<String> => "string", "the network domain for the router";
    gateway: Option<String> => "string", "the gateway for the router";
    publicip: Option<String> => "string", "the public IP address for the router";
    publicmacaddress: Option<String> => "string", "the public MAC address for the router";
    publicnetmask: Option<String> => "string", "the public netmask for the router";
    guestipaddress: Option<String> => "string", "the guest IP address for the router";
    guestmacaddress: Option<String> => "string", "the guest MAC address for the router";
    guestnetmask: Option<String> => "string", "the guest netmask for the router";
    guestnetworkid: Option<Uuid> => "string", "the ID of the corresponding guest network";
    guestnetworkname: Option<String> => "string", "the name of the corresponding guest network";
    account: Option<String> => "string", "the account associated with the router";
    projectid: Option<Uuid> => "string", "the project id of the ipaddress";
    project: Option<String> => "string", "the project name of the address";
    domainid: Option<Uuid> => "string", "the domain ID associated with the router";
    domain: Option<String> => "string", "the domain associated with the router";
    domainpath: Option<String> => "string", "path of the Domain the router belongs to";
    isredundantrouter: Option<bool> => "boolean", "if this router is an redundant virtual router";
    redundantstate: Option<String> => "string", "the state of redundant virtual router";
    role: Option<String> => "string", "role of the domain router";
    version: Option<String> => "string", "the version of template";
    requiresupgrade: Option<bool> => "boolean", "true if the router template requires upgrader";
    healthchecksfailed: Option<bool> => "boolean", "true if any health checks had failed";
    hasannotations: Option<bool> => "boolean", "whether the router has annotations";
});

response!(PhysicalNetworkResponse {
    id: Option<Uuid> => "string", "the uuid of the physical network";
    name: Option<String> => "string", "name of the physical network";
    broadcastdomainrange: Option<String> => "string", "Broadcast domain range of the physical network";
    zoneid: Option<Uuid> => "string", "zone id of the physical network";
    zonename: Option<String> => "string", "zone name of the physical network";
    state: Option<String> => "string", "state of the physical network";
    vlan: Option<String> => "string", "the vlan of the physical network";
    domainid: Option<Uuid> => "string", "the domain id of the physical network owner";
    tags: Option<String> => "string", "comma separated tag";
    isolationmethods: Option<String> => "string", "isolation methods";
    networkspeed: Option<String> => "string", "the speed of the physical network";
});

response!(TrafficTypeResponse {
    id: Option<Uuid> => "string", "id of the network provider";
    traffictype: Option<String> => "string", "the trafficType to be added to the physical network";
    physicalnetworkid: Option<Uuid> => "string", "the physical network this belongs to";
    kvmnetworklabel: Option<String> => "string", "The network name label of the physical device dedicated to this traffic on a KVM host";
    xennetworklabel: Option<String> => "string", "The network name label of the physical device dedicated to this traffic on a XenServer host";
    vmwarenetworklabel: Option<String> => "string", "The network name label of the physical device dedicated to this traffic on a VMware host";
    vlan: Option<String> => "string", "The VLAN id to be used for Management traffic by VMware host";
    isolationmethods: Option<String> => "string", "isolation methods for the traffic";
});

response!(ProviderResponse {
    name: Option<String> => "string", "the provider name";
    physicalnetworkid: Option<Uuid> => "string", "the physical network this belongs to";
    destinationphysicalnetworkid: Option<Uuid> => "string", "the destination physical network";
    state: Option<String> => "string", "state of the network provider";
    id: Option<Uuid> => "string", "uuid of the network provider";
    servicelist: Vec<String> => "list", "services for this provider";
    canenableindividualservice: Option<bool> => "boolean", "true if individual services can be enabled/disabled";
});

response!(ResourceLimitResponse {
    account: Option<String> => "string", "the account of the resource limit";
    domainid: Option<Uuid> => "string", "the domain ID of the resource limit";
    domain: Option<String> => "string", "the domain name of the resource limit";
    domainpath: Option<String> => "string", "path of the domain to which the resource limit belongs";
    projectid: Option<Uuid> => "string", "the project id of the resource limit";
    project: Option<String> => "string", "the project name of the resource limit";
    resourcetype: Option<String> => "string", "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the resourceType parameter for more information on these values.";
    resourcetypename: Option<String> => "string", "resource type name. Values include user_vm, public_ip, volume, snapshot, template, network, vpc, cpu, memory, primary_storage, secondary_storage.";
    max: Option<i64> => "long", "the maximum number of the resource. A -1 means the resource currently has no limit.";
});

response!(ResourceCountResponse {
    account: Option<String> => "string", "the account for which resource count's are updated";
    domainid: Option<Uuid> => "string", "the domain ID for which resource count's are updated";
    domain: Option<String> => "string", "the domain name for which resource count's are updated";
    domainpath: Option<String> => "string", "path of the domain to which the resource counts are updated";
    projectid: Option<Uuid> => "string", "the project id for which resource count's are updated";
    project: Option<String> => "string", "the project name for which resource count's are updated";
    resourcetype: Option<String> => "string", "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the resourceType parameter for more information on these values.";
    resourcetypename: Option<String> => "string", "resource type name. Values include user_vm, public_ip, volume, snapshot, template, network, vpc, cpu, memory, primary_storage, secondary_storage.";
    resourcecount: Option<i64> => "long", "resource count";
});

response!(ResourceTagResponse {
    key: Option<String> => "string", "tag key name";
    value: Option<String> => "string", "tag value";
    resourcetype: Option<String> => "string", "resource type";
    resourceid: Option<Uuid> => "string", "id of the resource";
    account: Option<String> => "string", "the account associated with the tag";
    domainid: Option<Uuid> => "string", "the ID of the domain associated with the tag";
    domain: Option<String> => "string", "the domain associated with the tag";
    domainpath: Option<String> => "string", "path of the Domain associated with the tag";
    customer: Option<String> => "string", "customer associated with the tag";
});

response!(NicResponse {
    id: Option<Uuid> => "string", "the ID of the nic";
    networkid: Option<Uuid> => "string", "the ID of the corresponding network";
    networkname: Option<String> => "string", "the name of the corresponding network";
    netmask: Option<String> => "string", "the netmask of the nic";
    gateway: Option<String> => "string", "the gateway of the nic";
    ipaddress: Option<String> => "string", "the ip address of the nic";
    isolationuri: Option<String> => "string", "the isolation uri of the nic";
    broadcasturi: Option<String> => "string", "the broadcast uri of the nic";
    traffictype: Option<String> => "string", "the traffic type of the nic";
    r#type: Option<String> => "string", "the type of the nic";
    isdefault: Option<bool> => "boolean", "true if nic is default, false otherwise";
    macaddress: Option<String> => "string", "true if nic is default, false otherwise";
    deviceid: Option<String> => "string", "device id for the network when plugged into the virtual machine";
    virtualmachineid: Option<Uuid> => "string", "Id of the vm to which the nic belongs";
    secondaryip: Vec<serde_json::Value> => "list", "the Secondary ipv4 addr of nic";
    extradhcpoption: Vec<serde_json::Value> => "list", "the extra dhcp options on the nic";
});

response!(VirtualMachineResponse {
    id: Option<Uuid> => "string", "the ID of the virtual machine";
    name: Option<String> => "string", "the name of the virtual machine";
    displayname: Option<String> => "string", "user generated name. The name of the virtual machine is returned if no displayname exists.";
    account: Option<String> => "string", "the account associated with the virtual machine";
    userid: Option<Uuid> => "string", "the user's ID who deployed the virtual machine";
    username: Option<String> => "string", "the user's name who deployed the virtual machine";
    domainid: Option<Uuid> => "string", "the ID of the domain in which the virtual machine exists";
    domain: Option<String> => "string", "the name of the domain in which the virtual machine exists";
    domainpath: Option<String> => "string", "path of the domain in which the virtual machine exists";
    projectid: Option<Uuid> => "string", "the project id of the vm";
    project: Option<String> => "string", "the project name of the vm";
    created: Option<CsDate> => "date", "the date when this virtual machine was created";
    lastupdated: Option<CsDate> => "date", "the date when this virtual machine was updated last time";
    state: Option<String> => "string", "the state of the virtual machine";
    haenable: Option<bool> => "boolean", "true if high-availability is enabled, false otherwise";
    zoneid: Option<Uuid> => "string", "the ID of the availability zone for the virtual machine";
    zonename: Option<String> => "string", "the name of the availability zone for the virtual machine";
    hostid: Option<Uuid> => "string", "the ID of the host for the virtual machine";
    hostname: Option<String> => "string", "the name of the host for the virtual machine";
    templateid: Option<Uuid> => "string", "the ID of the template for the virtual machine. A -1 is returned if the virtual machine was created from an ISO file.";
    templatename: Option<String> => "string", "the name of the template for the virtual machine";
    templatedisplaytext: Option<String> => "string", " an alternate display text of the template for the virtual machine";
    templatetype: Option<String> => "string", "the type of the template for the virtual machine";
    templateformat: Option<String> => "string", "the format of the template for the virtual machine";
    passwordenabled: Option<bool> => "boolean", "true if the password rest feature is enabled, false otherwise";
    isoid: Option<Uuid> => "string", "the ID of the ISO attached to the virtual machine";
    isoname: Option<String> => "string", "the name of the ISO attached to the virtual machine";
    isodisplaytext: Option<String> => "string", "an alternate display text of the ISO attached to the virtual machine";
    serviceofferingid: Option<Uuid> => "string", "the ID of the service offering of the virtual machine";
    serviceofferingname: Option<String> => "string", "the name of the service offering of the virtual machine";
    diskofferingid: Option<Uuid> => "string", "the ID of the disk offering of the virtual machine. This parameter should not be used for retrieving disk offering details of DATA volumes. Use listVolumes API instead";
    diskofferingname: Option<String> => "string", "the name of the disk offering of the virtual machine. This parameter should not be used for retrieving disk offering details of DATA volumes. Use listVolumes API instead";
    cpunumber: Option<i32> => "integer", "the number of vCPUs this virtual machine is using";
    cpuspeed: Option<i32> => "integer", "the speed of each vCPU";
    memory: Option<i32> => "integer", "the memory allocated for the virtual machine";
    cpuused: Option<String> => "string", "the share of the VM's vCPUs in use at its newest sample (Running VMs)";
    networkkbsread: Option<i64> => "long", "KiB the VM received since its QEMU started, at its newest sample";
    networkkbswrite: Option<i64> => "long", "KiB the VM sent since its QEMU started, at its newest sample";
    diskkbsread: Option<i64> => "long", "KiB the VM read from its disks since its QEMU started, at its newest sample";
    diskkbswrite: Option<i64> => "long", "KiB the VM wrote to its disks since its QEMU started, at its newest sample";
    diskioread: Option<i64> => "long", "read requests of the VM's disks since its QEMU started, at its newest sample";
    diskiowrite: Option<i64> => "long", "write requests of the VM's disks since its QEMU started, at its newest sample";
    memorykbs: Option<i64> => "long", "the memory the VM has (its balloon's current size) in KiB, at its newest sample";
    memoryintfreekbs: Option<i64> => "long", "the memory the guest reports unused, in KiB (only with a balloon driver in the guest)";
    guestosid: Option<Uuid> => "string", "Os type ID of the virtual machine";
    ostypeid: Option<Uuid> => "string", "OS type id of the vm";
    osdisplayname: Option<String> => "string", "OS name of the vm";
    rootdeviceid: Option<i64> => "long", "device ID of the root volume";
    rootdevicetype: Option<String> => "string", "device type of the root volume";
    pooltype: Option<String> => "string", "the pool type of the virtual machine";
    securitygroup: Vec<SecurityGroupResponse> => "list", "list of security groups associated with the virtual machine";
    affinitygroup: Vec<serde_json::Value> => "list", "list of affinity groups associated with the virtual machine";
    nic: Vec<NicResponse> => "list", "the list of nics associated with vm";
    hypervisor: Option<String> => "string", "the hypervisor on which the template runs";
    instancename: Option<String> => "string", "instance name of the user vm; this parameter is returned to the ROOT admin only";
    keypairs: Option<String> => "string", "ssh key-pairs";
    keypair: Option<String> => "string", "the name of the ssh key-pair (the first of keypairs)";
    password: Option<String> => "string", "the password (if exists) of the virtual machine: answered once, by the command that set it";
    userdata: Option<String> => "string", "Base64 string containing the user data (listVirtualMachines with userdata=true)";
    userdataid: Option<Uuid> => "string", "the id of userdata used for the VM";
    userdataname: Option<String> => "string", "the name of userdata used for the VM";
    userdatapolicy: Option<String> => "string", "the userdata override policy with the userdata provided while deploying VM";
    isdynamicallyscalable: Option<bool> => "boolean", "true if vm contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory.";
    displayvm: Option<bool> => "boolean", "an optional field whether to the display the vm to the end user or not.";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    arch: Option<String> => "string", "CPU arch of the VM";
    vmtype: Option<String> => "string", "User VM type";
    details: Option<serde_json::Value> => "map", "Vm details in key/value pairs.";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated";
    ipaddress: Option<String> => "string", "the IP address of the VM (the default NIC's)";
    errortext: Option<String> => "string", "why the VM is in Error, or why its last operation failed";
    memorytotal: Option<String> => "string", "the total memory capacity in GiB (metrics)";
    cputotal: Option<String> => "string", "the total cpu capacity in Ghz (metrics)";
    networkread: Option<String> => "string", "network read in MiB (metrics)";
    networkwrite: Option<String> => "string", "network write in MiB (metrics)";
    ipaddresses: Option<String> => "string", "the VM's IP addresses (metrics)";
});

response!(VolumeResponse {
    id: Option<Uuid> => "string", "ID of the disk volume";
    name: Option<String> => "string", "name of the disk volume";
    zoneid: Option<Uuid> => "string", "ID of the availability zone";
    zonename: Option<String> => "string", "name of the availability zone";
    r#type: Option<String> => "string", "type of the disk volume (ROOT or DATADISK)";
    deviceid: Option<i64> => "long", "the ID of the device on user vm the volume is attahed to. This tag is not returned when the volume is detached.";
    virtualmachineid: Option<Uuid> => "string", "id of the virtual machine";
    vmname: Option<String> => "string", "name of the virtual machine";
    vmdisplayname: Option<String> => "string", "display name of the virtual machine";
    vmstate: Option<String> => "string", "state of the virtual machine";
    vmtype: Option<String> => "string", "type of the virtual machine";
    templateid: Option<Uuid> => "string", "ID of the disk volume";
    templatename: Option<String> => "string", "name of the disk volume";
    templatedisplaytext: Option<String> => "string", " an alternate display text of the template for the virtual machine";
    isoid: Option<Uuid> => "string", "the ID of the ISO attached to the virtual machine";
    isoname: Option<String> => "string", "the name of the ISO attached to the virtual machine";
    isodisplaytext: Option<String> => "string", "an alternate display text of the ISO attached to the virtual machine";
    serviceofferingid: Option<Uuid> => "string", "ID of the service offering for root disk";
    serviceofferingname: Option<String> => "string", "name of the service offering for root disk";
    serviceofferingdisplaytext: Option<String> => "string", "the display text of the service offering for root disk";
    provisioningtype: Option<String> => "string", "provisioning type used to create volumes.";
    size: Option<i64> => "long", "size of the disk volume";
    virtualsize: Option<i64> => "long", "the bytes allocated";
    physicalsize: Option<i64> => "long", "the bytes actually consumed on disk";
    created: Option<CsDate> => "date", "the date the disk volume was created";
    attached: Option<CsDate> => "date", "the date the volume was attached to a VM instance";
    state: Option<String> => "string", "the state of the disk volume";
    account: Option<String> => "string", "the account associated with the disk volume";
    domainid: Option<Uuid> => "string", "the ID of the domain associated with the disk volume";
    domain: Option<String> => "string", "the domain associated with the disk volume";
    domainpath: Option<String> => "string", "path of the Domain the disk volume belongs to";
    projectid: Option<Uuid> => "string", "the project id of the vpn";
    project: Option<String> => "string", "the project name of the vpn";
    storagetype: Option<String> => "string", "shared or local storage";
    hypervisor: Option<String> => "string", "Hypervisor the volume belongs to";
    diskofferingid: Option<Uuid> => "string", "ID of the disk offering";
    diskofferingname: Option<String> => "string", "name of the disk offering";
    diskofferingdisplaytext: Option<String> => "string", "the display text of the disk offering";
    storage: Option<String> => "string", "name of the primary storage hosting the disk volume";
    storageid: Option<Uuid> => "string", "id of the primary storage hosting the disk volume; returned to admin user only";
    podid: Option<Uuid> => "string", "pod id of the volume";
    podname: Option<String> => "string", "pod name of the volume";
    clusterid: Option<Uuid> => "string", "cluster id of the volume";
    clustername: Option<String> => "string", "cluster name where the volume is allocated";
    path: Option<String> => "string", "the path of the volume";
    format: Option<String> => "string", "the format of the disk volume";
    destroyed: Option<bool> => "boolean", "the boolean state of whether the volume is destroyed or not";
    isextractable: Option<bool> => "boolean", "true if the volume is extractable, false otherwise";
    displayvolume: Option<bool> => "boolean", "an optional field whether to the display the volume to the end user or not.";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated";
});

// Volume snapshots and their policies (issue 16).
response!(SnapshotResponse {
    id: Option<Uuid> => "string", "ID of the snapshot";
    account: Option<String> => "string", "the account associated with the snapshot";
    domainid: Option<Uuid> => "string", "the domain ID of the snapshot's account";
    domain: Option<String> => "string", "the domain name of the snapshot's account";
    domainpath: Option<String> => "string", "path of the Domain the snapshot's account belongs to";
    projectid: Option<Uuid> => "string", "the project id of the snapshot";
    project: Option<String> => "string", "the project name of the snapshot";
    snapshottype: Option<String> => "string", "the type of the snapshot";
    volumeid: Option<Uuid> => "string", "ID of the disk volume";
    volumename: Option<String> => "string", "name of the disk volume";
    volumetype: Option<String> => "string", "type of the disk volume";
    volumestate: Option<String> => "string", "state of the disk volume";
    created: Option<CsDate> => "date", "  the date the snapshot was created";
    name: Option<String> => "string", "name of the snapshot";
    intervaltype: Option<String> => "string", "valid types are hourly, daily, weekly, monthy, template, and none.";
    state: Option<String> => "state", "the state of the snapshot. BackedUp means that snapshot is ready to be used; Creating - the snapshot is being allocated on the primary storage; BackingUp - the snapshot is being backed up on secondary storage";
    physicalsize: Option<i64> => "long", "physical size of backedup snapshot on image store";
    virtualsize: Option<i64> => "long", "virtual size of backedup snapshot on image store";
    zoneid: Option<Uuid> => "string", "id of the availability zone";
    zonename: Option<String> => "string", "name of the availability zone";
    revertable: Option<bool> => "boolean", "indicates whether the underlying storage supports reverting the volume to this snapshot";
    ostypeid: Option<Uuid> => "string", "id of the os on volume";
    osdisplayname: Option<String> => "string", "display name of the os on volume";
    locationtype: Option<String> => "string", "valid location types are primary and secondary.";
    datastoreid: Option<Uuid> => "string", "id of the datastore for the snapshot entry";
    datastorename: Option<String> => "string", "name of the datastore for the snapshot entry";
    datastoretype: Option<String> => "string", "type of the datastore for the snapshot entry";
    hasannotations: Option<bool> => "boolean", "true if the entity/resource has annotations";
    tags: Vec<serde_json::Value> => "set", "the list of resource tags associated with snapshot";
});

response!(SnapshotPolicyResponse {
    id: Option<Uuid> => "string", "the ID of the snapshot policy";
    volumeid: Option<Uuid> => "string", "the ID of the disk volume";
    schedule: Option<String> => "string", "time the snapshot is scheduled to be taken.";
    intervaltype: Option<i32> => "short", "the interval type of the snapshot policy";
    maxsnaps: Option<i32> => "int", "maximum number of snapshots retained";
    timezone: Option<String> => "string", "the time zone of the snapshot policy";
    fordisplay: Option<bool> => "boolean", "is this policy for display to the regular user";
    tags: Vec<serde_json::Value> => "set", "the list of resource tags associated";
});

// VM snapshots (issue 16): CloudStack's VMSnapshotResponse.
response!(VmSnapshotResponse {
    id: Option<Uuid> => "string", "the ID of the vm snapshot";
    name: Option<String> => "string", "the name of the vm snapshot";
    state: Option<String> => "string", "the state of the vm snapshot";
    description: Option<String> => "string", "the description of the vm snapshot";
    displayname: Option<String> => "string", "the display name of the vm snapshot";
    zoneid: Option<Uuid> => "string", "the Zone ID of the vm snapshot";
    zonename: Option<String> => "string", "the Zone name of the vm snapshot";
    virtualmachineid: Option<Uuid> => "string", "the vm ID of the vm snapshot";
    virtualmachinename: Option<String> => "string", "the vm name of the vm snapshot";
    parent: Option<Uuid> => "string", "the parent ID of the vm snapshot";
    parentName: Option<String> => "string", "the parent displayName of the vm snapshot";
    current: Option<bool> => "boolean", "indiates if this is current snapshot";
    r#type: Option<String> => "string", "VM Snapshot type";
    created: Option<CsDate> => "date", "the create date of the vm snapshot";
    account: Option<String> => "string", "the account associated with the disk volume";
    projectid: Option<Uuid> => "string", "the project id of the vpn";
    project: Option<String> => "string", "the project name of the vpn";
    domainid: Option<Uuid> => "string", "the ID of the domain associated with the disk volume";
    domain: Option<String> => "string", "the domain associated with the disk volume";
    domainpath: Option<String> => "string", "path of the domain to which the disk volume belongs";
    hypervisor: Option<String> => "string", "the type of hypervisor on which snapshot is stored";
    tags: Vec<serde_json::Value> => "list", "the list of resource tags associated";
});

response!(CapacityResponse {
    r#type: Option<i32> => "short", "the capacity type";
    name: Option<String> => "string", "the capacity name";
    zoneid: Option<Uuid> => "string", "the Zone ID";
    zonename: Option<String> => "string", "the Zone name";
    podid: Option<Uuid> => "string", "the Pod ID";
    podname: Option<String> => "string", "the Pod name";
    clusterid: Option<Uuid> => "string", "the Cluster ID";
    clustername: Option<String> => "string", "the Cluster name";
    capacityallocated: Option<i64> => "long", "the capacity currently in allocated";
    capacityused: Option<i64> => "long", "the capacity currently in use";
    capacitytotal: Option<i64> => "long", "the total capacity available";
    percentused: Option<String> => "string", "the percentage of capacity currently in use";
});

response!(ConsoleEndpointWebsocketResponse {
    token: Option<String> => "string", "The console websocket token";
    host: Option<String> => "string", "The console websocket host";
    port: Option<String> => "string", "The console websocket port";
    path: Option<String> => "string", "The console websocket path";
    extra: Option<String> => "string", "The console websocket extra field for validation (if enabled)";
});

response!(ConsoleEndpointResponse {
    success: Option<bool> => "boolean", "True if the console endpoint is generated properly";
    details: Option<String> => "string", "Details in case of an error";
    url: Option<String> => "string", "The console url";
    websocket: Option<ConsoleEndpointWebsocketResponse> => "consoleendpointwebsocketresponse", "The console websocket options";
});

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// A value with every field filled (no `None`, no empty list), so a round trip
    /// exercises each field's wire form.
    pub trait Sample {
        fn sample() -> Self;
    }
    impl<T: Sample> Sample for Option<T> {
        fn sample() -> Self {
            Some(T::sample())
        }
    }
    impl<T: Sample> Sample for Vec<T> {
        fn sample() -> Self {
            vec![T::sample()]
        }
    }
    impl Sample for String {
        fn sample() -> Self {
            "text".into()
        }
    }
    impl Sample for bool {
        fn sample() -> Self {
            true
        }
    }
    impl Sample for i64 {
        fn sample() -> Self {
            1 << 40
        }
    }
    impl Sample for i32 {
        fn sample() -> Self {
            7
        }
    }
    impl Sample for Uuid {
        fn sample() -> Self {
            Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0)
        }
    }
    impl Sample for CsDate {
        fn sample() -> Self {
            CsDate(DateTime::from_timestamp(1_780_000_000, 0).unwrap())
        }
    }
    impl Sample for JobStatus {
        fn sample() -> Self {
            JobStatus::Failed
        }
    }
    impl Sample for serde_json::Value {
        fn sample() -> Self {
            serde_json::json!({"key": "value"})
        }
    }

    /// Serializes a filled `T`, checks every described field is on the wire under its
    /// wire name, and reads it back equal.
    fn round_trip<T>(fields: &[ResponseField])
    where
        T: Sample + Default + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let filled = T::sample();
        let wire = serde_json::to_value(&filled).unwrap();
        let obj = wire.as_object().expect("an object");
        for f in fields {
            assert!(
                obj.contains_key(f.wire_name()),
                "{}: {} missing from {wire}",
                std::any::type_name::<T>(),
                f.wire_name()
            );
        }
        assert_eq!(obj.len(), fields.len(), "{wire}");
        let back: T = serde_json::from_value(wire.clone())
            .unwrap_or_else(|e| panic!("{}: {e}: {wire}", std::any::type_name::<T>()));
        assert_eq!(back, filled);
        // An absent field is its default.
        let empty: T = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, T::default());
    }

    macro_rules! round_trips {
        ($($t:ident),* $(,)?) => {
            #[test]
            fn response_types_round_trip() {
                $( round_trip::<$t>($t::FIELDS); )*
            }
        };
    }

    round_trips!(
        ZoneResponse,
        IpRangeItem,
        PodResponse,
        VlanIpRangeResponse,
        ClusterResponse,
        ConfigurationResponse,
        UserResponse,
        AccountResponse,
        DomainResponse,
        RoleResponse,
        EventResponse,
        AsyncJobResponse,
        ExceptionResponse,
        UserKeysResponse,
        SshKeyPairResponse,
        LogoutResponse,
        HypervisorResponse,
        HypervisorCapabilitiesResponse,
        SuccessResponse,
        CapabilitiesResponse,
        LoginResponse,
        ApiParamResponse,
        ApiResponseFieldResponse,
        ApiDiscoveryResponse,
        HostResponse,
        HostTagResponse,
        StorageTagResponse,
        HostStatsItem,
        HostStatsResponse,
        VmStatsItem,
        VmStatsResponse,
        BackgroundTaskResponse,
        AlertResponse,
        StoragePoolResponse,
        ImageStoreResponse,
        IsoDownloadDetail,
        IsoResponse,
        TemplateResponse,
        TemplatePermissionsResponse,
        OsTypeResponse,
        OsCategoryResponse,
        ServiceOfferingResponse,
        DiskOfferingResponse,
        NetworkResponse,
        DomainRouterResponse,
        NicResponse,
        VirtualMachineResponse,
        VolumeResponse,
        VmSnapshotResponse,
        ResourceLimitResponse,
        ResourceCountResponse,
        CapacityResponse,
        ConsoleEndpointWebsocketResponse,
        ConsoleEndpointResponse,
        IpAddressResponse,
        FirewallRuleResponse,
        FirewallResponse,
    );

    #[test]
    fn dates_and_job_statuses_in_their_wire_forms() {
        let d: CsDate = serde_json::from_str("\"2026-11-23T14:05:09+0000\"").unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            "\"2026-11-23T14:05:09+0000\""
        );
        let d2: CsDate = serde_json::from_str("\"2026-11-23T15:05:09+01:00\"").unwrap();
        assert_eq!(d, d2);
        assert!(serde_json::from_str::<CsDate>("\"yesterday\"").is_err());
        let j: AsyncJobResponse = serde_json::from_str(r#"{"jobstatus":1,"cmd":"x"}"#).unwrap();
        assert_eq!(j.jobstatus, Some(JobStatus::Succeeded));
        assert_eq!(serde_json::to_value(&j).unwrap()["jobstatus"], 1);
        assert!(serde_json::from_str::<AsyncJobResponse>(r#"{"jobstatus":5}"#).is_err());
        let z: ZoneResponse = serde_json::from_str(r#"{"type":"Core"}"#).unwrap();
        assert_eq!(z.r#type.as_deref(), Some("Core"));
        assert_eq!(z.name, None);
    }
}
