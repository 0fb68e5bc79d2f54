//! The event log (`listEvents`): every action, who did it, to what.

use crate::ids::{AccountId, DomainId, UserId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::accounts::UserRow;
use super::{paged_sql, Binds, Counted, RowShape, Scalar};
use crate::error::Result;

/// The kinds of resource an event can be about, as CloudStack names them in
/// `listEvents` (`resourcetype`); the one place these spellings live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Account,
    Cluster,
    DiskOffering,
    Domain,
    DomainRouter,
    FirewallRule,
    Host,
    ImageStore,
    IpAddress,
    Iso,
    Network,
    Pod,
    Project,
    SecurityGroup,
    ServiceOffering,
    SshKeyPair,
    StoragePool,
    Template,
    User,
    UserData,
    VirtualMachine,
    Vlan,
    Volume,
    Zone,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Account => "Account",
            ResourceType::Cluster => "Cluster",
            ResourceType::DiskOffering => "DiskOffering",
            ResourceType::Domain => "Domain",
            ResourceType::DomainRouter => "DomainRouter",
            ResourceType::FirewallRule => "FirewallRule",
            ResourceType::Host => "Host",
            ResourceType::ImageStore => "ImageStore",
            ResourceType::IpAddress => "IpAddress",
            ResourceType::Iso => "Iso",
            ResourceType::Network => "Network",
            ResourceType::Pod => "Pod",
            ResourceType::Project => "Project",
            ResourceType::SecurityGroup => "SecurityGroup",
            ResourceType::ServiceOffering => "ServiceOffering",
            ResourceType::SshKeyPair => "SSHKeyPair",
            ResourceType::StoragePool => "StoragePool",
            ResourceType::Template => "Template",
            ResourceType::User => "User",
            ResourceType::UserData => "UserData",
            ResourceType::VirtualMachine => "VirtualMachine",
            ResourceType::Vlan => "Vlan",
            ResourceType::Volume => "Volume",
            ResourceType::Zone => "Zone",
        }
    }
}

/// What an event is about: its type, id and name (as shown when the event was recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventResource {
    pub kind: ResourceType,
    pub id: Uuid,
    pub name: String,
}

impl EventResource {
    pub fn new(kind: ResourceType, id: impl Into<Uuid>, name: impl Into<String>) -> Self {
        EventResource {
            kind,
            id: id.into(),
            name: name.into(),
        }
    }
}

/// An event to record; written in the same transaction as the change it describes.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub event_type: &'a str,
    pub level: &'a str,
    pub description: String,
    pub user_id: Option<UserId>,
    pub account_id: Option<AccountId>,
    pub domain_id: Option<DomainId>,
    pub resource_id: Option<Uuid>,
    pub resource_type: Option<&'a str>,
    pub resource_name: Option<String>,
}

stmt!(
    EVENT_INSERT =
        "INSERT INTO events (id, event_type, level, description, user_id, account_id, domain_id,
            resource_id, resource_type, resource_name)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
);

pub async fn event_insert(db: impl PgExecutor<'_>, e: &NewEvent<'_>) -> Result<Uuid> {
    let id = Uuid::new_v4();
    EVENT_INSERT
        .query()
        .bind(id)
        .bind(e.event_type)
        .bind(e.level)
        .bind(&e.description)
        .bind(e.user_id)
        .bind(e.account_id)
        .bind(e.domain_id)
        .bind(e.resource_id)
        .bind(e.resource_type)
        .bind(&e.resource_name)
        .execute(db)
        .await?;
    Ok(id)
}

stmt!(EVENT_EXISTS: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM events WHERE event_type = $1 AND resource_id = $2)");

/// Whether an event of this type was ever recorded about `resource_id`.
pub async fn event_exists(
    db: impl PgExecutor<'_>,
    event_type: &str,
    resource_id: Uuid,
) -> Result<bool> {
    Ok(EVENT_EXISTS
        .query_scalar()
        .bind(event_type)
        .bind(resource_id)
        .fetch_one(db)
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct EventRow {
    pub id: Uuid,
    pub event_type: String,
    pub level: String,
    pub state: String,
    pub description: String,
    pub created: DateTime<Utc>,
    pub parent_id: Option<Uuid>,
    pub resource_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub username: Option<String>,
    pub account_name: Option<String>,
    pub domain_id: Option<DomainId>,
    pub domain_name: Option<String>,
    #[sqlx(default)]
    pub domain_path: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub id: Option<Uuid>,
    pub event_type: Option<String>,
    pub level: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub resource_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub account_id: Option<AccountId>,
    /// Any of these accounts\' (a domain\'s, a project\'s).
    pub account_ids: Option<Vec<AccountId>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub domain_id: Option<DomainId>,
    pub keyword: Option<String>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(EVENT_LIST: Counted<EventRow> = named paged_sql(
    "e.id, e.event_type, e.level, e.state, e.description, e.created, e.parent_id,
             e.resource_id, e.resource_type, e.resource_name, u.username, a.name AS account_name,
             e.domain_id, d.name AS domain_name, d.path AS domain_path",
    "events",
    "e",
    "LEFT JOIN users u ON u.id = e.user_id
             LEFT JOIN accounts a ON a.id = e.account_id
             LEFT JOIN domains d ON d.id = e.domain_id",
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($event_type::text IS NULL OR {a}.event_type = $event_type)
             AND ($level::text IS NULL OR {a}.level = upper($level))
             AND ($start::timestamptz IS NULL OR {a}.created >= $start)
             AND ($end::timestamptz IS NULL OR {a}.created <= $end)
             AND ($resource_id::uuid IS NULL OR {a}.resource_id = $resource_id)
             AND ($resource_type::text IS NULL OR lower({a}.resource_type) = lower($resource_type))
             AND ($account_id::uuid IS NULL OR {a}.account_id = $account_id)
             AND ($account_ids::uuid[] IS NULL OR {a}.account_id = ANY($account_ids))
             AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
                 WHERE xpa.id = {a}.account_id AND xpa.account_type = 5))
             AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)
             AND ($keyword::text IS NULL OR {a}.description ILIKE $keyword OR {a}.event_type ILIKE $keyword)",
    "e.created DESC, e.id",
));

pub async fn event_list(db: impl PgExecutor<'_>, f: &EventFilter) -> Result<(Vec<EventRow>, i64)> {
    let rows: Vec<Counted<_>> = EVENT_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("event_type", &f.event_type)
                .set("level", &f.level)
                .set("start", f.start)
                .set("end", f.end)
                .set("resource_id", f.resource_id)
                .set("resource_type", &f.resource_type)
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("domain_id", f.domain_id)
                .set("keyword", f.keyword.as_ref().map(|k| format!("%{k}%")))
                .set("offset", f.offset)
                .set("limit", f.limit.unwrap_or(i64::MAX)),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

/// Records an event in the caller's transaction.
pub async fn event(
    tx: &mut Transaction<'_, Postgres>,
    actor: &UserRow,
    event_type: &str,
    description: String,
    resource: Option<EventResource>,
) -> Result<()> {
    event_on(tx, actor, event_type, "INFO", description, resource).await
}

pub async fn event_on(
    conn: &mut PgConnection,
    actor: &UserRow,
    event_type: &str,
    level: &str,
    description: String,
    resource: Option<EventResource>,
) -> Result<()> {
    let who = (actor.id, actor.account_id, actor.domain_id);
    record_event(conn, who, event_type, level, description, resource).await
}

/// An event `actor` caused on a resource another account owns — a project's, when a
/// member acts in it: the event is the owner's (listEvents `projectid` shows it), with the
/// actor as its user, as CloudStack records them.
pub async fn event_for_owner(
    conn: &mut PgConnection,
    actor: &UserRow,
    owner: (AccountId, DomainId),
    event_type: &str,
    description: String,
    resource: Option<EventResource>,
) -> Result<()> {
    let who = (actor.id, owner.0, owner.1);
    record_event(conn, who, event_type, "INFO", description, resource).await
}

/// Records an event done by the system itself (monitors, reconcilers).
pub async fn system_event(
    conn: &mut PgConnection,
    event_type: &str,
    level: &str,
    description: String,
    resource: Option<EventResource>,
) -> Result<()> {
    let who = (
        super::accounts::SYSTEM_USER,
        super::accounts::SYSTEM_ACCOUNT,
        super::accounts::ROOT_DOMAIN,
    );
    record_event(conn, who, event_type, level, description, resource).await
}

/// `who` is (user, account, domain).
async fn record_event(
    conn: &mut PgConnection,
    who: (UserId, AccountId, DomainId),
    event_type: &str,
    level: &str,
    description: String,
    resource: Option<EventResource>,
) -> Result<()> {
    let (resource_id, resource_type, resource_name) = match resource {
        Some(r) => (Some(r.id), Some(r.kind.as_str()), Some(r.name)),
        None => (None, None, None),
    };
    event_insert(
        conn,
        &NewEvent {
            event_type,
            level,
            description,
            user_id: Some(who.0),
            account_id: Some(who.1),
            domain_id: Some(who.2),
            resource_id,
            resource_type,
            resource_name,
        },
    )
    .await?;
    Ok(())
}

statements![EVENT_INSERT, EVENT_EXISTS, EVENT_LIST];
