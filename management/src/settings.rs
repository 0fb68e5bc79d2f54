//! The settings registry: every setting the server reads, declared once with its name,
//! value type, default and the scopes it may be set at; and the cache readers read it from.
//!
//! Why: settings used to be read by name with the default repeated at each reader
//! (`setting_i64("vm.start.timeout", 120)`), and only global values were cached, so a
//! value stored for a cluster — allowed by the schema and accepted by
//! `updateConfiguration` — was silently ignored by placement. Here a setting is a typed
//! constant ([`Setting`]); `Ctx::get(&VM_START_TIMEOUT)` reads the global value and
//! `Ctx::get_in(&CPU_OVERPROVISIONING_FACTOR, Scope::cluster(zone, cluster))` reads the
//! value that applies to a cluster, falling back cluster → zone → global as CloudStack
//! does. The default lives here and nowhere else (`tests/settings.rs` checks that the
//! migrations' `configuration` rows say the same: name, type, default, scopes).
//!
//! Stored values are parsed and checked once, when the cache is loaded (at start, after a
//! local change and every 10 s): a value that is not valid for its setting falls back to
//! the default, one out of range is brought into it, and either is logged once (not on
//! every read, and again only if it changes). Reads are a lock and a map lookup.
//!
//! A foundation: no SQL and no server state. `ctx` loads [`Values`] from `db::config`.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use uuid::Uuid;

use crate::ids::{AccountId, ClusterId, DomainId, StoragePoolId, ZoneId};

/// A level a value may be stored at besides the global one (`configuration.scopes`,
/// `configuration_scoped.scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Zone,
    Cluster,
    /// A primary storage pool (CloudStack's `StoragePool` scope, `storageid`).
    StoragePool,
    Account,
    Domain,
}

impl ScopeKind {
    pub const ALL: [ScopeKind; 5] = [
        ScopeKind::Zone,
        ScopeKind::Cluster,
        ScopeKind::StoragePool,
        ScopeKind::Account,
        ScopeKind::Domain,
    ];

    /// As the schema spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Zone => "zone",
            ScopeKind::Cluster => "cluster",
            ScopeKind::StoragePool => "storagepool",
            ScopeKind::Account => "account",
            ScopeKind::Domain => "domain",
        }
    }

    pub fn parse(s: &str) -> Option<ScopeKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a value is read for. A scoped read takes the most specific value stored for it
/// (among the scopes the setting allows), else the global value, else the default:
/// a cluster's or a storage pool's value, else its zone's; an account's value (CloudStack reads an account's
/// setting so unless `enable.account.settings.for.domain`, which Stratus does not offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Zone(ZoneId),
    Cluster { zone: ZoneId, cluster: ClusterId },
    StoragePool { zone: ZoneId, pool: StoragePoolId },
    Account(AccountId),
    Domain(DomainId),
}

impl Scope {
    /// A cluster's scope (its zone is where the value falls back to).
    pub fn cluster(zone: impl Into<ZoneId>, cluster: impl Into<ClusterId>) -> Scope {
        Scope::Cluster {
            zone: zone.into(),
            cluster: cluster.into(),
        }
    }

    /// A primary storage pool's scope (its zone is where the value falls back to).
    pub fn storage_pool(zone: impl Into<ZoneId>, pool: impl Into<StoragePoolId>) -> Scope {
        Scope::StoragePool {
            zone: zone.into(),
            pool: pool.into(),
        }
    }

    pub fn zone(zone: impl Into<ZoneId>) -> Scope {
        Scope::Zone(zone.into())
    }

    /// The stored levels to look at, most specific first (global comes after these).
    fn chain(self) -> impl Iterator<Item = (ScopeKind, Uuid)> {
        let (a, b) = match self {
            Scope::Global => (None, None),
            Scope::Zone(z) => (Some((ScopeKind::Zone, z.into_uuid())), None),
            Scope::Cluster { zone, cluster } => (
                Some((ScopeKind::Cluster, cluster.into_uuid())),
                Some((ScopeKind::Zone, zone.into_uuid())),
            ),
            Scope::StoragePool { zone, pool } => (
                Some((ScopeKind::StoragePool, pool.into_uuid())),
                Some((ScopeKind::Zone, zone.into_uuid())),
            ),
            Scope::Account(a) => (Some((ScopeKind::Account, a.into_uuid())), None),
            Scope::Domain(d) => (Some((ScopeKind::Domain, d.into_uuid())), None),
        };
        a.into_iter().chain(b)
    }
}

/// The value types of the `configuration.value_type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Long,
    Float,
    Boolean,
    String,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Integer => "Integer",
            Kind::Long => "Long",
            Kind::Float => "Float",
            Kind::Boolean => "Boolean",
            Kind::String => "String",
        }
    }
}

/// A parsed value as the cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(Arc<str>),
}

/// The Rust type of a setting's values (`i64`, `f64`, `bool`, `&str` → `String`).
pub trait Type: Copy + Send + Sync + 'static {
    type Owned: Clone + PartialEq + Display + Send + Sync + 'static;
    fn parse(raw: &str) -> Option<Self::Owned>;
    fn owned(self) -> Self::Owned;
    fn wrap(v: Self::Owned) -> Value;
    fn unwrap(v: &Value) -> Option<Self::Owned>;
}

impl Type for i64 {
    type Owned = i64;
    fn parse(raw: &str) -> Option<i64> {
        raw.trim().parse().ok()
    }
    fn owned(self) -> i64 {
        self
    }
    fn wrap(v: i64) -> Value {
        Value::Int(v)
    }
    fn unwrap(v: &Value) -> Option<i64> {
        match v {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl Type for f64 {
    type Owned = f64;
    fn parse(raw: &str) -> Option<f64> {
        raw.trim().parse().ok().filter(|f: &f64| f.is_finite())
    }
    fn owned(self) -> f64 {
        self
    }
    fn wrap(v: f64) -> Value {
        Value::Float(v)
    }
    fn unwrap(v: &Value) -> Option<f64> {
        match v {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl Type for bool {
    type Owned = bool;
    fn parse(raw: &str) -> Option<bool> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn owned(self) -> bool {
        self
    }
    fn wrap(v: bool) -> Value {
        Value::Bool(v)
    }
    fn unwrap(v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl Type for &'static str {
    type Owned = String;
    fn parse(raw: &str) -> Option<String> {
        Some(raw.to_string())
    }
    fn owned(self) -> String {
        self.to_string()
    }
    fn wrap(v: String) -> Value {
        Value::Text(v.into())
    }
    fn unwrap(v: &Value) -> Option<String> {
        match v {
            Value::Text(t) => Some(t.to_string()),
            _ => None,
        }
    }
}

/// What a setting accepts beyond its type: `Ok` with the value to use (perhaps brought
/// into range), or `Err` saying why the value cannot be used (the default is used).
pub type Check<T> = fn(<T as Type>::Owned) -> Result<<T as Type>::Owned, String>;

/// One setting.
pub struct Setting<T: Type> {
    pub name: &'static str,
    pub kind: Kind,
    pub default: T,
    /// Where besides globally it may be set.
    pub scopes: &'static [ScopeKind],
    pub check: Check<T>,
}

fn any<T>(v: T) -> Result<T, String> {
    Ok(v)
}

impl<T: Type> Setting<T> {
    const fn new(name: &'static str, kind: Kind, default: T) -> Setting<T> {
        Setting {
            name,
            kind,
            default,
            scopes: &[],
            check: any::<T::Owned>,
        }
    }

    /// The scopes it may be set at besides globally.
    pub const fn scopes(mut self, scopes: &'static [ScopeKind]) -> Self {
        self.scopes = scopes;
        self
    }

    pub const fn check(mut self, check: Check<T>) -> Self {
        self.check = check;
        self
    }

    /// `raw` as this setting uses it: `Ok((value, note))`, the note saying how the value
    /// was changed to fit; `Err(why)` when it cannot be used.
    pub fn load(&self, raw: &str) -> Result<(T::Owned, Option<String>), String> {
        let parsed = T::parse(raw).ok_or_else(|| format!("not {}", kind_text(self.kind)))?;
        if let (Kind::Integer, Value::Int(n)) = (self.kind, T::wrap(parsed.clone())) {
            i32::try_from(n).map_err(|_| "not an integer of 32 bits".to_string())?;
        }
        let used = (self.check)(parsed.clone())?;
        let note = (used != parsed).then(|| format!("out of range; {used} is used"));
        Ok((used, note))
    }
}

fn kind_text(k: Kind) -> &'static str {
    match k {
        Kind::Integer | Kind::Long => "an integer",
        Kind::Float => "a number",
        Kind::Boolean => "true or false",
        Kind::String => "text",
    }
}

impl Setting<i64> {
    pub const fn integer(name: &'static str, default: i64) -> Self {
        Setting::new(name, Kind::Integer, default)
    }
    pub const fn long(name: &'static str, default: i64) -> Self {
        Setting::new(name, Kind::Long, default)
    }
}

impl Setting<f64> {
    pub const fn float(name: &'static str, default: f64) -> Self {
        Setting::new(name, Kind::Float, default)
    }
}

impl Setting<bool> {
    pub const fn boolean(name: &'static str, default: bool) -> Self {
        Setting::new(name, Kind::Boolean, default)
    }
}

impl Setting<&'static str> {
    pub const fn string(name: &'static str, default: &'static str) -> Self {
        Setting::new(name, Kind::String, default)
    }
}

/// Values below `MIN` are used as `MIN`.
pub fn at_least<const MIN: i64>(v: i64) -> Result<i64, String> {
    Ok(v.max(MIN))
}

/// Values outside `MIN..=MAX` are used as the nearest bound.
pub fn within<const MIN: i64, const MAX: i64>(v: i64) -> Result<i64, String> {
    Ok(v.clamp(MIN, MAX))
}

/// Factors and multipliers: a value ≤ 0 would leave nothing (or everything) to use.
pub fn positive(v: f64) -> Result<f64, String> {
    if v > 0.0 {
        Ok(v)
    } else {
        Err("not positive".into())
    }
}

fn not_blank(v: String) -> Result<String, String> {
    if v.trim().is_empty() {
        Err("blank".into())
    } else {
        Ok(v)
    }
}

/// `password.policy.regex`: an expression that compiles, within bounds.
fn password_regex(v: String) -> Result<String, String> {
    crate::rules::password::compile(&v).map(|_| v)
}

/// The last part of instance names, which are also libvirt domain names.
fn instance_suffix(v: String) -> Result<String, String> {
    if (1..=32).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(v)
    } else {
        Err("not 1 to 32 letters, digits or '-'".into())
    }
}

fn allocation_algorithm(v: String) -> Result<String, String> {
    use crate::rules::placement::Algorithm;
    match Algorithm::parse(&v) {
        Some(_) => Ok(v),
        None => Err(format!(
            "not one of {}",
            Algorithm::ALL.map(|a| a.as_str()).join(", ")
        )),
    }
}

fn internal_sites(v: String) -> Result<String, String> {
    crate::rules::download_policy::parse_sites(&v).map(|_| v)
}

/// A setting of any type, for loading and for the consistency test.
pub trait AnySetting: Sync {
    fn name(&self) -> &'static str;
    fn kind(&self) -> Kind;
    fn scopes(&self) -> &'static [ScopeKind];
    /// The default, as text.
    fn default_text(&self) -> String;
    /// Whether `raw` (e.g. a row's `default_value`) means this setting's default.
    fn is_default(&self, raw: &str) -> bool;
    /// `raw` parsed and checked: the value and how it was changed to fit, or why not.
    fn load_value(&self, raw: &str) -> Result<(Value, Option<String>), String>;
}

impl<T: Type> AnySetting for Setting<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn kind(&self) -> Kind {
        self.kind
    }
    fn scopes(&self) -> &'static [ScopeKind] {
        self.scopes
    }
    fn default_text(&self) -> String {
        self.default.owned().to_string()
    }
    fn is_default(&self, raw: &str) -> bool {
        T::parse(raw).is_some_and(|v| v == self.default.owned())
    }
    fn load_value(&self, raw: &str) -> Result<(Value, Option<String>), String> {
        self.load(raw).map(|(v, note)| (T::wrap(v), note))
    }
}

macro_rules! registry {
    ($($(#[$doc:meta])* $id:ident: $t:ty = $e:expr;)*) => {
        $($(#[$doc])* pub const $id: Setting<$t> = $e;)*

        /// Every setting, in declaration order.
        pub static ALL: &[&dyn AnySetting] = &[$(&$id),*];
    };
}

use ScopeKind as S;

registry! {
    // Lists and the UI.
    /// The default and maximum page size of list commands.
    DEFAULT_PAGE_SIZE: i64 = Setting::long("default.page.size", 500).check(at_least::<1>);
    DEFAULT_UI_PAGE_SIZE: i64 = Setting::long("default.ui.page.size", 20);
    /// Seconds of idleness after which a session expires.
    SESSION_TIMEOUT: i64 = Setting::integer("session.timeout", 1800).check(at_least::<60>);

    // Expunging destroyed VMs.
    EXPUNGE_DELAY: i64 = Setting::integer("expunge.delay", 86400).check(at_least::<0>);
    EXPUNGE_INTERVAL: i64 = Setting::integer("expunge.interval", 86400).check(at_least::<5>);
    EXPUNGE_WORKERS: i64 = Setting::integer("expunge.workers", 1);

    // Capacity.
    /// Hosts' CPU (cores × MHz) is multiplied by it for placement; per cluster.
    CPU_OVERPROVISIONING_FACTOR: f64 = Setting::float("cpu.overprovisioning.factor", 1.0)
        .scopes(&[S::Cluster])
        .check(positive);
    /// Hosts' memory is multiplied by it for placement; per cluster.
    MEM_OVERPROVISIONING_FACTOR: f64 = Setting::float("mem.overprovisioning.factor", 1.0)
        .scopes(&[S::Cluster])
        .check(positive);
    /// Primary storage pools' capacity is multiplied by it for volume placement; per pool
    /// (CloudStack's scope), else per zone.
    STORAGE_OVERPROVISIONING_FACTOR: f64 = Setting::float("storage.overprovisioning.factor", 2.0)
        .scopes(&[S::Zone, S::StoragePool])
        .check(positive);
    CLUSTER_CPU_ALLOCATED_CAPACITY_DISABLETHRESHOLD: f64 =
        Setting::float("cluster.cpu.allocated.capacity.disablethreshold", 0.85)
            .scopes(&[S::Cluster]);
    CLUSTER_MEMORY_ALLOCATED_CAPACITY_DISABLETHRESHOLD: f64 =
        Setting::float("cluster.memory.allocated.capacity.disablethreshold", 0.85)
            .scopes(&[S::Cluster]);
    /// The order hosts that fit are tried in (`rules::placement::Algorithm`). Default
    /// `firstfitleastconsumed`, not CloudStack's `random`: see `Algorithm`.
    VM_ALLOCATION_ALGORITHM: &'static str =
        Setting::string("vm.allocation.algorithm", "firstfitleastconsumed")
            .check(allocation_algorithm);

    // Hosts.
    /// Seconds between an agent's heartbeats.
    PING_INTERVAL: i64 = Setting::integer("ping.interval", 60).check(at_least::<1>);
    /// Heartbeat intervals of silence after which a host is Disconnected.
    PING_TIMEOUT: f64 = Setting::float("ping.timeout", 2.5).check(positive);
    ALERT_WAIT: i64 = Setting::integer("alert.wait", 1800);
    HOST_STATS_INTERVAL: i64 = Setting::integer("host.stats.interval", 60000);
    VM_STATS_INTERVAL: i64 = Setting::integer("vm.stats.interval", 60000);
    HOST_METRICS_RETENTION_HOURS: i64 =
        Setting::integer("host.metrics.retention.hours", 24).check(at_least::<1>);
    /// Minutes of per-VM samples kept (CloudStack's name; there 0 disables the cleanup,
    /// here samples are always bounded).
    VM_STATS_MAX_RETENTION_TIME: i64 =
        Setting::integer("vm.stats.max.retention.time", 720).check(at_least::<1>);
    /// Probed on a silent host: answering means the machine lives but its agent does not.
    HOST_PROBE_PORT: i64 = Setting::integer("host.probe.port", 22).check(within::<1, 65535>);
    /// The address agents report to (blank: the address the API listens on).
    HOST: &'static str = Setting::string("host", "");
    KVM_LIBVIRT_URI: &'static str = Setting::string("kvm.libvirt.uri", "qemu:///system");
    KVM_ACCELERATION: &'static str = Setting::string("kvm.acceleration", "auto");
    KVM_AGENT_START_TIMEOUT: i64 =
        Setting::integer("kvm.agent.start.timeout", 60).check(at_least::<5>);

    // Jobs and events.
    JOB_EXPIRE_MINUTES: i64 = Setting::long("job.expire.minutes", 1440);
    JOB_CANCEL_THRESHOLD_MINUTES: i64 = Setting::long("job.cancel.threshold.minutes", 60);
    EVENT_PURGE_DELAY: i64 = Setting::integer("event.purge.delay", 15);

    // Images and storage.
    /// GiB.
    MAX_TEMPLATE_ISO_SIZE: i64 = Setting::long("max.template.iso.size", 50).check(at_least::<1>);
    SECSTORAGE_MAX_MIGRATE_SESSIONS: i64 = Setting::integer("secstorage.max.migrate.sessions", 2);
    /// CIDRs internal to the datacenter that downloads may reach (rules::download_policy).
    SECSTORAGE_ALLOWED_INTERNAL_SITES: &'static str =
        Setting::string("secstorage.allowed.internal.sites", "").check(internal_sites);
    ISO_DOWNLOAD_CONCURRENCY: i64 =
        Setting::integer("iso.download.concurrency", 2).check(within::<1, 64>);
    /// Seconds without data after which a download fails.
    ISO_DOWNLOAD_IDLE_TIMEOUT: i64 =
        Setting::integer("iso.download.idle.timeout", 60).check(at_least::<1>);
    /// Seconds between capacity refreshes of primary and secondary storage.
    STORAGE_STATS_INTERVAL: i64 =
        Setting::integer("storage.stats.interval", 60).check(at_least::<10>);
    SYSTEM_VM_USE_LOCAL_STORAGE: bool =
        Setting::boolean("system.vm.use.local.storage", false).scopes(&[S::Zone]);
    CUSTOM_DISKOFFERING_SIZE_MIN: i64 = Setting::long("custom.diskoffering.size.min", 1);
    CUSTOM_DISKOFFERING_SIZE_MAX: i64 = Setting::long("custom.diskoffering.size.max", 1024);

    // Networks.
    GUEST_DOMAIN_SUFFIX: &'static str =
        Setting::string("guest.domain.suffix", "cloud.internal").scopes(&[S::Zone]);
    NETWORK_GC_INTERVAL: i64 = Setting::integer("network.gc.interval", 600);
    /// The shortest prefix a non-root caller may give an isolated network (CloudStack's
    /// `network.guest.cidr.limit`).
    GUEST_CIDR_LIMIT: i64 = Setting::integer("network.guest.cidr.limit", 22);
    /// The bridge hosts attach guests of new Basic zones to.
    GUEST_NETWORK_BRIDGE: &'static str =
        Setting::string("guest.network.bridge", "cloudbr0").check(not_blank);

    // Instances.
    /// The last part of new instance names (i-<account>-<number>-<instance.name>).
    INSTANCE_NAME: &'static str = Setting::string("instance.name", "VM").check(instance_suffix);
    /// Seconds a host gets to define and start a VM.
    VM_START_TIMEOUT: i64 = Setting::integer("vm.start.timeout", 120).check(within::<1, 3600>);
    /// Whether users (not only admins) may expunge and recover their VMs; per account.
    ALLOW_USER_EXPUNGE_RECOVER_VM: bool =
        Setting::boolean("allow.user.expunge.recover.vm", false).scopes(&[S::Account]);
    /// The longest user data a VM may be given, in base64 characters (POST; a GET request
    /// carries at most 4096). CloudStack's ceiling is 1 MiB.
    VM_USERDATA_MAX_LENGTH: i64 =
        Setting::integer("vm.userdata.max.length", 32768).check(within::<1, 1048576>);
    /// Characters in a generated VM password (password-enabled templates).
    VM_PASSWORD_LENGTH: i64 = Setting::integer("vm.password.length", 12).check(within::<8, 64>);
    /// CloudStack's `vmsnapshot.max`: the most VM snapshots one VM may have (issue 16).
    VMSNAPSHOT_MAX: i64 = Setting::integer("vmsnapshot.max", 10).check(at_least::<1>);
    /// Seconds within which a console token must be used.
    CONSOLE_TOKEN_VALIDITY: i64 =
        Setting::integer("console.token.validity", 60).check(within::<1, 3600>);

    // Password policy (CloudStack's, per domain): what a new password must have.
    PASSWORD_POLICY_MIN_SPECIAL: i64 =
        Setting::integer("password.policy.minimum.special.characters", 0)
            .scopes(&[S::Domain])
            .check(within::<0, 1024>);
    PASSWORD_POLICY_MIN_LENGTH: i64 = Setting::integer("password.policy.minimum.length", 0)
        .scopes(&[S::Domain])
        .check(within::<0, 1024>);
    PASSWORD_POLICY_MIN_UPPER: i64 =
        Setting::integer("password.policy.minimum.uppercase.letters", 0)
            .scopes(&[S::Domain])
            .check(within::<0, 1024>);
    PASSWORD_POLICY_MIN_LOWER: i64 =
        Setting::integer("password.policy.minimum.lowercase.letters", 0)
            .scopes(&[S::Domain])
            .check(within::<0, 1024>);
    PASSWORD_POLICY_MIN_DIGITS: i64 = Setting::integer("password.policy.minimum.digits", 0)
        .scopes(&[S::Domain])
        .check(within::<0, 1024>);
    PASSWORD_POLICY_ALLOW_USERNAME: bool =
        Setting::boolean("password.policy.allowPasswordToContainUsername", true)
            .scopes(&[S::Domain]);
    PASSWORD_POLICY_REGEX: &'static str = Setting::string("password.policy.regex", ".+")
        .scopes(&[S::Domain])
        .check(password_regex);

    // Resource limits: the default maximums of an account without its own (-1 unlimited;
    // storage in GiB, memory in MiB). Root admin accounts are never limited.
    MAX_ACCOUNT_USER_VMS: i64 = Setting::long("max.account.user.vms", 20);
    MAX_ACCOUNT_PUBLIC_IPS: i64 = Setting::long("max.account.public.ips", 20);
    MAX_ACCOUNT_VOLUMES: i64 = Setting::long("max.account.volumes", 20);
    MAX_ACCOUNT_SNAPSHOTS: i64 = Setting::long("max.account.snapshots", 20);
    MAX_ACCOUNT_TEMPLATES: i64 = Setting::long("max.account.templates", 20);
    MAX_ACCOUNT_PROJECTS: i64 = Setting::long("max.account.projects", 10);
    MAX_ACCOUNT_NETWORKS: i64 = Setting::long("max.account.networks", 20);
    MAX_ACCOUNT_VPCS: i64 = Setting::long("max.account.vpcs", 20);
    MAX_ACCOUNT_CPUS: i64 = Setting::long("max.account.cpus", 40);
    MAX_ACCOUNT_MEMORY: i64 = Setting::long("max.account.memory", 40960);
    MAX_ACCOUNT_PRIMARY_STORAGE: i64 = Setting::long("max.account.primary.storage", 200);
    MAX_ACCOUNT_SECONDARY_STORAGE: i64 = Setting::long("max.account.secondary.storage", 400);
    // A domain's defaults where neither it nor an ancestor below ROOT has its own
    // (CloudStack's max.domain.*); ROOT is never limited.
    MAX_DOMAIN_USER_VMS: i64 = Setting::long("max.domain.user.vms", 40);
    MAX_DOMAIN_PUBLIC_IPS: i64 = Setting::long("max.domain.public.ips", 40);
    MAX_DOMAIN_VOLUMES: i64 = Setting::long("max.domain.volumes", 40);
    MAX_DOMAIN_SNAPSHOTS: i64 = Setting::long("max.domain.snapshots", 40);
    MAX_DOMAIN_TEMPLATES: i64 = Setting::long("max.domain.templates", 40);
    MAX_DOMAIN_PROJECTS: i64 = Setting::long("max.domain.projects", 50);
    MAX_DOMAIN_NETWORKS: i64 = Setting::long("max.domain.networks", 40);
    MAX_DOMAIN_VPCS: i64 = Setting::long("max.domain.vpcs", 40);
    MAX_DOMAIN_CPUS: i64 = Setting::long("max.domain.cpus", 80);
    MAX_DOMAIN_MEMORY: i64 = Setting::long("max.domain.memory", 81920);
    MAX_DOMAIN_PRIMARY_STORAGE: i64 = Setting::long("max.domain.primary.storage", 400);
    MAX_DOMAIN_SECONDARY_STORAGE: i64 = Setting::long("max.domain.secondary.storage", 800);
    // A project account's defaults (CloudStack's max.project.*).
    MAX_PROJECT_USER_VMS: i64 = Setting::long("max.project.user.vms", 20);
    MAX_PROJECT_PUBLIC_IPS: i64 = Setting::long("max.project.public.ips", 20);
    MAX_PROJECT_VOLUMES: i64 = Setting::long("max.project.volumes", 20);
    MAX_PROJECT_SNAPSHOTS: i64 = Setting::long("max.project.snapshots", 20);
    MAX_PROJECT_TEMPLATES: i64 = Setting::long("max.project.templates", 20);
    MAX_PROJECT_NETWORKS: i64 = Setting::long("max.project.networks", 20);
    MAX_PROJECT_VPCS: i64 = Setting::long("max.project.vpcs", 20);
    MAX_PROJECT_CPUS: i64 = Setting::long("max.project.cpus", 40);
    MAX_PROJECT_MEMORY: i64 = Setting::long("max.project.memory", 40960);
    MAX_PROJECT_PRIMARY_STORAGE: i64 = Setting::long("max.project.primary.storage", 200);
    MAX_PROJECT_SECONDARY_STORAGE: i64 = Setting::long("max.project.secondary.storage", 400);

    // Projects.
    /// Whether addAccountToProject invites (the account accepts with
    /// updateProjectInvitation) rather than adds at once.
    PROJECT_INVITE_REQUIRED: bool = Setting::boolean("project.invite.required", false);
    /// Seconds a project invitation stays acceptable.
    PROJECT_INVITE_TIMEOUT: i64 = Setting::long("project.invite.timeout", 86400);
    /// Whether users (not only admins) may create projects.
    ALLOW_USER_CREATE_PROJECTS: bool = Setting::boolean("allow.user.create.projects", true);
    /// The mail relay for invitations by email (services::mail); empty: none, and
    /// addAccountToProject with `email` is refused rather than creating an invitation
    /// nobody receives.
    PROJECT_SMTP_HOST: &'static str = Setting::string("project.smtp.host", "");
    PROJECT_SMTP_PORT: i64 = Setting::integer("project.smtp.port", 465).check(within::<1, 65535>);
    /// CloudStack's pairing: authentication means TLS — implicit TLS (SMTPS), or STARTTLS
    /// with `project.smtp.useStartTLS`; without it the relay is spoken to in plain SMTP.
    PROJECT_SMTP_USE_AUTH: bool = Setting::boolean("project.smtp.useAuth", false);
    PROJECT_SMTP_USE_STARTTLS: bool = Setting::boolean("project.smtp.useStartTLS", false);
    PROJECT_SMTP_USERNAME: &'static str = Setting::string("project.smtp.username", "");
    /// Category `Secure`: listConfigurations and events never show it.
    PROJECT_SMTP_PASSWORD: &'static str = Setting::string("project.smtp.password", "");
    /// The From of invitation mails.
    PROJECT_EMAIL_SENDER: &'static str = Setting::string("project.email.sender", "");

    // Accounts and the front door.
    ALLOW_PUBLIC_USER_TEMPLATES: bool =
        Setting::boolean("allow.public.user.templates", true).scopes(&[S::Account]);
    /// Failed logins before a user is disabled (≤ 0: never).
    INCORRECT_LOGIN_ATTEMPTS_ALLOWED: i64 = Setting::integer("incorrect.login.attempts.allowed", 5);
    API_THROTTLING_ENABLED: bool = Setting::boolean("api.throttling.enabled", false);
    /// Seconds.
    API_THROTTLING_INTERVAL: i64 =
        Setting::integer("api.throttling.interval", 1).check(at_least::<1>);
    API_THROTTLING_MAX: i64 = Setting::integer("api.throttling.max", 25).check(at_least::<1>);
    API_THROTTLING_CACHESIZE: i64 =
        Setting::integer("api.throttling.cachesize", 50000).check(at_least::<1>);
}

/// The registry's entry for `name`.
pub fn find(name: &str) -> Option<&'static dyn AnySetting> {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static dyn AnySetting>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| ALL.iter().map(|s| (s.name(), *s)).collect())
        .get(name)
        .copied()
}

/// Where a stored value applies: globally, or at a scope's id.
pub type At = Option<(ScopeKind, Uuid)>;

#[derive(Default)]
struct Entry {
    global: Option<Value>,
    scoped: HashMap<(ScopeKind, Uuid), Value>,
}

/// The stored values, parsed and checked (the cache `Ctx` keeps).
#[derive(Default)]
pub struct Values {
    entries: RwLock<HashMap<&'static str, Entry>>,
    /// What was logged as unusable at the last load, so each is logged once.
    warned: Mutex<HashSet<(String, At, String)>>,
}

impl Values {
    /// Replaces the cache with `rows` (name, where, stored text). Rows of settings the
    /// registry does not know, or at scopes a setting does not allow, are left out.
    pub fn load(&self, rows: impl IntoIterator<Item = (String, At, String)>) {
        let mut entries: HashMap<&'static str, Entry> = HashMap::new();
        let mut problems = Vec::new();
        for (name, at, raw) in rows {
            let Some(s) = find(&name) else {
                problems.push((
                    name,
                    at,
                    raw,
                    "is not a setting this server knows".to_string(),
                ));
                continue;
            };
            if let Some((k, _)) = at {
                if !s.scopes().contains(&k) {
                    let why = format!("cannot be set at {} scope", k.as_str());
                    problems.push((name, at, raw, why));
                    continue;
                }
            }
            let value = match s.load_value(&raw) {
                Ok((v, note)) => {
                    if let Some(note) = note {
                        problems.push((name.clone(), at, raw.clone(), note));
                    }
                    v
                }
                Err(why) => {
                    let why = format!("{why}; the default {:?} is used", s.default_text());
                    problems.push((name, at, raw, why));
                    continue;
                }
            };
            let e = entries.entry(s.name()).or_default();
            match at {
                None => e.global = Some(value),
                Some(key) => {
                    e.scoped.insert(key, value);
                }
            }
        }
        *self.entries.write().expect("settings lock") = entries;
        let mut warned = self.warned.lock().expect("settings lock");
        let now: HashSet<(String, At, String)> = problems
            .into_iter()
            .map(|(name, at, raw, why)| {
                let key = (name, at, raw);
                if !warned.contains(&key) {
                    let (name, at, raw) = &key;
                    let at = match at {
                        Some((k, id)) => format!("{} {id}", k.as_str()),
                        None => "global".into(),
                    };
                    tracing::warn!(
                        setting = %name, at = %at, value = %raw,
                        "a stored setting value is not used as it is: {why}"
                    );
                }
                key
            })
            .collect();
        *warned = now;
    }

    /// The value of `s` that applies at `scope` (see [`Scope`]).
    pub fn get<T: Type>(&self, s: &Setting<T>, scope: Scope) -> T::Owned {
        let entries = self.entries.read().expect("settings lock");
        if let Some(e) = entries.get(s.name) {
            let scoped = scope
                .chain()
                .filter(|(k, _)| s.scopes.contains(k))
                .find_map(|key| e.scoped.get(&key));
            if let Some(v) = scoped.or(e.global.as_ref()).and_then(T::unwrap) {
                return v;
            }
        }
        s.default.owned()
    }

    /// The values of `s` stored at scopes of `kind`, by scope id (for a query that applies
    /// each pool's own value, say).
    pub fn stored_at<T: Type>(&self, s: &Setting<T>, kind: ScopeKind) -> Vec<(Uuid, T::Owned)> {
        if !s.scopes.contains(&kind) {
            return vec![];
        }
        let entries = self.entries.read().expect("settings lock");
        let Some(e) = entries.get(s.name) else {
            return vec![];
        };
        let mut out: Vec<(Uuid, T::Owned)> = e
            .scoped
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .filter_map(|((_, id), v)| T::unwrap(v).map(|v| (*id, v)))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn names_are_unique_and_found() {
        let names: HashSet<&str> = ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(
            find("vm.start.timeout").unwrap().default_text(),
            VM_START_TIMEOUT.default.to_string()
        );
        assert!(find("no.such.setting").is_none());
    }

    #[test]
    fn defaults_without_values() {
        let v = Values::default();
        assert_eq!(v.get(&VM_START_TIMEOUT, Scope::Global), 120);
        assert_eq!(v.get(&INSTANCE_NAME, Scope::Global), "VM");
        assert!(!v.get(&API_THROTTLING_ENABLED, Scope::Global));
        assert_eq!(
            v.get(&CPU_OVERPROVISIONING_FACTOR, Scope::cluster(id(1), id(2))),
            1.0
        );
    }

    #[test]
    fn scoped_values_fall_back_cluster_then_global() {
        let v = Values::default();
        let (zone, c1, c2) = (id(1), id(2), id(3));
        v.load([
            ("cpu.overprovisioning.factor".into(), None, "2".into()),
            (
                "cpu.overprovisioning.factor".into(),
                Some((ScopeKind::Cluster, c1)),
                "4".into(),
            ),
            (
                "storage.overprovisioning.factor".into(),
                Some((ScopeKind::Zone, zone)),
                "3".into(),
            ),
        ]);
        let f = &CPU_OVERPROVISIONING_FACTOR;
        assert_eq!(v.get(f, Scope::cluster(zone, c1)), 4.0);
        assert_eq!(
            v.get(f, Scope::cluster(zone, c2)),
            2.0,
            "another cluster: global"
        );
        assert_eq!(v.get(f, Scope::Global), 2.0);
        let s = &STORAGE_OVERPROVISIONING_FACTOR;
        assert_eq!(v.get(s, Scope::Zone(zone.into())), 3.0);
        assert_eq!(
            v.get(s, Scope::cluster(zone, c1)),
            3.0,
            "a cluster: its zone's"
        );
        assert_eq!(
            v.get(s, Scope::Zone(id(9).into())),
            2.0,
            "another zone: the default"
        );
        // A scope the setting does not allow is never consulted.
        assert_eq!(v.get(f, Scope::Zone(zone.into())), 2.0);
    }

    #[test]
    fn a_storage_pool_value_falls_back_to_its_zone_then_global() {
        let v = Values::default();
        let (zone, p1, p2) = (id(1), id(2), id(3));
        let s = &STORAGE_OVERPROVISIONING_FACTOR;
        v.load([
            (s.name.into(), None, "1.5".into()),
            (s.name.into(), Some((ScopeKind::Zone, zone)), "3".into()),
            (
                s.name.into(),
                Some((ScopeKind::StoragePool, p1)),
                "4".into(),
            ),
            // Not a scope of this setting: never consulted.
            (
                CPU_OVERPROVISIONING_FACTOR.name.into(),
                Some((ScopeKind::StoragePool, p1)),
                "9".into(),
            ),
        ]);
        assert_eq!(v.get(s, Scope::storage_pool(zone, p1)), 4.0);
        assert_eq!(v.get(s, Scope::storage_pool(zone, p2)), 3.0, "its zone's");
        assert_eq!(v.get(s, Scope::storage_pool(id(9), p2)), 1.5, "global");
        assert_eq!(v.stored_at(s, ScopeKind::StoragePool), vec![(p1, 4.0)]);
        assert_eq!(v.stored_at(s, ScopeKind::Zone), vec![(zone, 3.0)]);
        assert!(v
            .stored_at(&CPU_OVERPROVISIONING_FACTOR, ScopeKind::StoragePool)
            .is_empty());
    }

    #[test]
    fn invalid_values_fall_back_and_ranges_hold() {
        let v = Values::default();
        let acct = id(7);
        v.load([
            ("vm.start.timeout".into(), None, "soon".into()),
            ("host.probe.port".into(), None, "70000".into()),
            ("mem.overprovisioning.factor".into(), None, "0".into()),
            ("instance.name".into(), None, "bad name".into()),
            ("api.throttling.enabled".into(), None, "TRUE".into()),
            (
                "allow.user.expunge.recover.vm".into(),
                Some((ScopeKind::Account, acct)),
                "true".into(),
            ),
            (
                "default.page.size".into(),
                Some((ScopeKind::Zone, id(1))),
                "3".into(),
            ),
            ("session.timeout".into(), None, "99999999999".into()),
            ("no.such.setting".into(), None, "1".into()),
        ]);
        assert_eq!(v.get(&VM_START_TIMEOUT, Scope::Global), 120);
        assert_eq!(v.get(&HOST_PROBE_PORT, Scope::Global), 65535);
        assert_eq!(v.get(&MEM_OVERPROVISIONING_FACTOR, Scope::Global), 1.0);
        assert_eq!(v.get(&INSTANCE_NAME, Scope::Global), "VM");
        assert!(v.get(&API_THROTTLING_ENABLED, Scope::Global));
        assert!(v.get(&ALLOW_USER_EXPUNGE_RECOVER_VM, Scope::Account(acct.into())));
        assert!(!v.get(&ALLOW_USER_EXPUNGE_RECOVER_VM, Scope::Account(id(8).into())));
        assert_eq!(v.get(&DEFAULT_PAGE_SIZE, Scope::Global), 500);
        assert_eq!(
            v.get(&SESSION_TIMEOUT, Scope::Global),
            1800,
            "Integer is 32 bits"
        );
        assert_eq!(v.warned.lock().unwrap().len(), 7);
        // Loading the same again warns about nothing new; fixed values are forgotten.
        v.load([("vm.start.timeout".into(), None, "soon".into())]);
        assert_eq!(v.warned.lock().unwrap().len(), 1);
    }

    #[test]
    fn checks() {
        assert_eq!(
            VM_START_TIMEOUT.load("5000").unwrap(),
            (3600, Some("out of range; 3600 is used".into()))
        );
        assert_eq!(VM_START_TIMEOUT.load(" 5 ").unwrap(), (5, None));
        assert!(CPU_OVERPROVISIONING_FACTOR.load("-1").is_err());
        assert!(CPU_OVERPROVISIONING_FACTOR.load("NaN").is_err());
        assert!(GUEST_NETWORK_BRIDGE.load(" ").is_err());
        assert!(SECSTORAGE_ALLOWED_INTERNAL_SITES.load("nonsense").is_err());
        assert!(SECSTORAGE_ALLOWED_INTERNAL_SITES.load("10.0.0.0/8").is_ok());
        assert!(INCORRECT_LOGIN_ATTEMPTS_ALLOWED.load("0").is_ok());
        assert!(VM_ALLOCATION_ALGORITHM.load("userdispersing").is_ok());
        assert!(VM_ALLOCATION_ALGORITHM.load("bestfit").is_err());
    }
}
