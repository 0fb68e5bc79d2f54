//! The management server's one error type, and the one place it becomes an API error.
//! Postgres constraint violations become clear client errors (duplicate names, overlapping
//! ranges, resources in use); anything unexpected becomes a 530 with a generic text while
//! the detail goes to the log, never to the client.

use stratus_api::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Messages for constraints the schema enforces, by constraint name.
fn constraint_message(name: &str) -> Option<(ErrorCode, &'static str)> {
    use ErrorCode::*;
    Some(match name {
        "resource_tags_key_once" => (ParamError, "The resource already has a tag with that key (deleteTags it first)"),
        "zones_no_security_groups" => (ParamError, "Security groups are not available yet"),
        "volumes_vm_device_key" => (ParamError, "That deviceId is used by another volume of the VM"),
        "zones_name_key" => (ParamError, "A zone with that name already exists. Please specify a unique zone name."),
        "pods_name_zone_key" => (
            ParamError,
            "A pod with that name already exists in this zone. Please specify a different pod name.",
        ),
        "clusters_name_pod_key" => (
            ParamError,
            "A cluster with that name already exists in this pod. Please specify a different cluster name.",
        ),
        "accounts_name_domain_key" => (
            ParamError,
            "The specified account already exists in this domain",
        ),
        "users_username_domain_key" => (
            ParamError,
            "The specified username already exists in this domain",
        ),
        "domains_path_key" => (
            ResourceInUse,
            "A domain with that name already exists under the same parent domain",
        ),
        "users_api_key_key" => (ParamError, "The API key is already in use"),
        "ip_ranges_no_overlap" => (
            ParamError,
            "The IP range overlaps with an existing IP range in this zone. Please specify a different start IP/end IP.",
        ),
        "ip_ranges_order" => (
            ParamError,
            "The start IP of the range must not be greater than its end IP",
        ),
        "ip_ranges_family" => (
            ParamError,
            "The start IP, end IP and gateway must all be IPv4 or all IPv6",
        ),
        "pods_zone_id_fkey" => (ResourceInUse, "The zone is in use: it still has pods"),
        "clusters_zone_id_fkey" | "ip_ranges_zone_id_fkey" => (
            ResourceInUse,
            "The zone is in use: it still has clusters or IP ranges",
        ),
        "clusters_pod_id_fkey" | "ip_ranges_pod_id_fkey" => (
            ResourceInUse,
            "The pod is in use: it still has clusters or IP ranges",
        ),
        "hosts_cluster_id_fkey" => (ResourceInUse, "The cluster is in use: it still has hosts"),
        "storage_pools_name_zone_key" => (
            ParamError,
            "A storage pool with that name already exists in this zone",
        ),
        "storage_pools_url_key" => (
            ParamError,
            "That NFS export is already a primary storage pool",
        ),
        "image_stores_name_key" => (ParamError, "An image store with that name already exists"),
        "image_stores_url_key" => (ParamError, "That NFS export is already an image store"),
        "storage_pools_zone_id_fkey"
        | "image_stores_zone_id_fkey"
        | "iso_zones_zone_id_fkey"
        | "template_zones_zone_id_fkey" => (
            ResourceInUse,
            "The zone is in use: it still has primary or secondary storage, ISOs or templates",
        ),
        "storage_pools_pod_id_fkey" => (ResourceInUse, "The pod is in use: it still has primary storage"),
        "storage_pools_cluster_id_fkey" => (
            ResourceInUse,
            "The cluster is in use: it still has primary storage",
        ),
        "iso_zones_image_store_id_fkey" | "template_zones_image_store_id_fkey" => (
            ResourceInUse,
            "The image store is in use: it holds ISOs or templates",
        ),
        "async_jobs_account_id_fkey" | "async_jobs_user_id_fkey" => (
            ResourceInUse,
            "The account still has asynchronous jobs on record",
        ),
        "vms_account_id_fkey" | "vms_user_id_fkey" => (
            ResourceInUse,
            "The account still has virtual machines (destroyed ones until they are expunged); expunge them first",
        ),
        "isos_account_id_fkey" => (
            ResourceInUse,
            "The account owns ISOs (deleted ones are kept for the VMs they were attached to)",
        ),
        "vms_name_account_key" => (
            ParamError,
            "A VM with that name already exists in this account. Please specify a unique name.",
        ),
        "nics_ip_key" => (InsufficientCapacity, "That IP address is already in use"),
        "nics_network_id_fkey" => (ResourceInUse, "The network is in use: VMs still have addresses in it"),
        "vms_zone_id_fkey" => (ResourceInUse, "The zone is in use: it still has VMs"),
        "vms_service_offering_id_fkey" => (ResourceInUse, "The service offering is in use by VMs"),
        "vms_disk_offering_id_fkey" => (ResourceInUse, "The disk offering is in use by VMs"),
        "vms_iso_id_fkey" => (ResourceInUse, "The ISO is attached to VMs"),
        "templates_account_id_fkey" => (
            ResourceInUse,
            "The account owns templates (deleted ones are kept for the VMs based on them)",
        ),
        "workflows_one_active_per_resource" => (
            ResourceInUse,
            "Another operation on this resource is still running (listWorkflows shows it); try again when it is over",
        ),
        "hosts_tags_bounded" => (ParamError, "A host carries at most 64 tags"),
        "workflows_host_add_one_per_address" => (
            ResourceInUse,
            "That address is being added as a host already (listWorkflows shows it); try again when that is over",
        ),
        _ => return None,
    })
}

impl Error {
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }

    /// The answer a client sees for this error.
    pub fn to_api(&self) -> ApiError {
        match self {
            Error::Api(e) => e.clone(),
            Error::Db(sqlx::Error::Database(db)) => {
                if let Some((code, text)) = db.constraint().and_then(constraint_message) {
                    return ApiError::new(code, text);
                }
                match db.code().as_deref() {
                    // Shutting down, starting up, crashed, connection lost: Postgres is away.
                    Some(c) if c.starts_with("08") || c.starts_with("57P") => unavailable(),
                    // unique, foreign key, check, exclusion: the request conflicts with data.
                    Some("23505") => ApiError::param("A resource with these values already exists"),
                    Some("23503") => ApiError::in_use("The resource is in use by another resource"),
                    // check, exclusion; and data exceptions (a value too long, out of range,
                    // malformed, or with bytes Postgres cannot store): the input is wrong.
                    Some("23514") | Some("23P01") | Some("22P02") | Some("22001")
                    | Some("22003") | Some("22007") | Some("22008") | Some("22021")
                    | Some("22P05") => ApiError::param(format!("Invalid value: {}", db.message())),
                    Some("40001" | "40P01" | "55P03") => ApiError::internal(CONFLICTED),
                    _ => internal_error(),
                }
            }
            // No connection to be had: the database is away (or the pool is shut).
            Error::Db(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_),
            ) => unavailable(),
            _ => internal_error(),
        }
    }

    /// A conflict with a concurrent transaction that Postgres resolved by rolling this one
    /// back (deadlock, serialization failure, lock not available): nothing was written,
    /// and the same work done again normally succeeds.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Db(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("40001" | "40P01" | "55P03")))
    }

    /// Whether this error is the server's fault (and so worth an error-level log line).
    pub fn is_internal(&self) -> bool {
        self.to_api().code == ErrorCode::Internal
    }
}

fn internal_error() -> ApiError {
    ApiError::internal("Internal error executing command, please contact your system administrator")
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        e.to_api()
    }
}

/// The text of a transient conflict that outlasted the retries ([`Error::is_transient`]).
pub const CONFLICTED: &str =
    "The operation collided with a concurrent one and was rolled back; nothing changed, please retry";

/// The text of the error API calls get while the database is away.
pub const UNAVAILABLE: &str =
    "The database is unavailable; please retry in a few seconds (the management server reconnects by itself)";

/// The answer while the database is away (see `dbstatus`).
pub fn unavailable() -> ApiError {
    ApiError::internal(UNAVAILABLE)
}

/// The full text of an error and its causes ("a: b: c"), for admins.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        src = s.source();
    }
    text
}
