//! Projects, their members and invitations (migration 0031).

use crate::ids::{AccountId, DomainId, ProjectId, ProjectInvitationId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::projects::{InvitationState, ProjectRole, ProjectState};

/// A project with its domain, its own account and its owners (its Admin members).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ProjectRow {
    pub id: ProjectId,
    pub name: String,
    pub display_text: String,
    pub domain_id: DomainId,
    pub account_id: AccountId,
    pub state: ProjectState,
    pub created: DateTime<Utc>,
    pub domain_name: String,
    pub domain_path: String,
    pub account_name: String,
    /// `[{"account": name, "accountid": id}]` of the Admin members.
    pub owners: sqlx::types::Json<Vec<serde_json::Value>>,
}

const PROJECT_SELECT: &str = "SELECT p.*, d.name AS domain_name, d.path AS domain_path,
        a.name AS account_name,
        COALESCE((SELECT jsonb_agg(jsonb_build_object('account', oa.name, 'accountid', oa.id)
                                   ORDER BY pa.created, oa.name)
                  FROM project_accounts pa JOIN accounts oa ON oa.id = pa.account_id
                  WHERE pa.project_id = p.id AND pa.role = 'Admin'), '[]'::jsonb) AS owners
    FROM projects p JOIN domains d ON d.id = p.domain_id JOIN accounts a ON a.id = p.account_id";

stmt!(
    PROJECT_INSERT = "INSERT INTO projects (id, name, display_text, domain_id, account_id)
         VALUES ($1, $2, $3, $4, $5)"
);

pub async fn project_insert(
    db: impl PgExecutor<'_>,
    id: ProjectId,
    name: &str,
    display_text: &str,
    domain_id: DomainId,
    account_id: AccountId,
) -> Result<()> {
    PROJECT_INSERT
        .query()
        .bind(id)
        .bind(name)
        .bind(display_text)
        .bind(domain_id)
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(PROJECT_FETCH: ProjectRow = format!("{PROJECT_SELECT} WHERE p.id = $1 AND p.removed IS NULL"));

pub async fn project_fetch(db: impl PgExecutor<'_>, id: ProjectId) -> Result<Option<ProjectRow>> {
    Ok(PROJECT_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(PROJECT_OF_ACCOUNT: ProjectRow = format!(
    "{PROJECT_SELECT} WHERE p.account_id = $1 AND p.removed IS NULL"
));

/// The project whose own account is `account`, if it is a project's.
pub async fn project_of_account(
    db: impl PgExecutor<'_>,
    account: AccountId,
) -> Result<Option<ProjectRow>> {
    Ok(PROJECT_OF_ACCOUNT
        .query_as()
        .bind(account)
        .fetch_optional(db)
        .await?)
}

stmt!(PROJECT_LOCK: ProjectRow = format!(
    "{PROJECT_SELECT} WHERE p.id = $1 AND p.removed IS NULL FOR UPDATE OF p"
));

/// The project, its row locked until the transaction ends.
pub async fn project_lock(db: impl PgExecutor<'_>, id: ProjectId) -> Result<Option<ProjectRow>> {
    Ok(PROJECT_LOCK.query_as().bind(id).fetch_optional(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub common: ListFilter,
    pub display_text: Option<String>,
    pub state: Option<String>,
    pub domain_id: Option<DomainId>,
    /// Only projects this account is a member of.
    pub member: Option<AccountId>,
    /// Only projects in the domain at this path and below it.
    pub under: Option<String>,
    /// `tags[n].key`/`tags[n].value`: only projects carrying every pair.
    pub tags: super::tags::TagMatch,
}

stmt!(PROJECT_LIST: Counted<ProjectRow> = named format!(
    "SELECT q.*, count(*) OVER () AS total FROM ({PROJECT_SELECT}) q
         WHERE q.removed IS NULL
           AND ($id::uuid IS NULL OR q.id = $id)
           AND ($ids::uuid[] IS NULL OR q.id = ANY($ids))
           AND ($name::text IS NULL OR lower(q.name) = lower($name))
           AND ($keyword::text IS NULL OR q.name ILIKE $keyword OR q.display_text ILIKE $keyword)
           AND ($display_text::text IS NULL OR q.display_text = $display_text)
           AND ($state::text IS NULL OR lower(q.state) = lower($state))
           AND ($domain_id::uuid IS NULL OR q.domain_id = $domain_id)
           AND ($member::uuid IS NULL OR EXISTS (SELECT 1 FROM project_accounts m
                                               WHERE m.project_id = q.id AND m.account_id = $member))
           AND ($under::text IS NULL OR q.domain_path = $under OR starts_with(q.domain_path, $under || '/'))
           AND {}
         ORDER BY q.created, q.id OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::Project, "q.id")
));

pub async fn project_list(
    db: impl PgExecutor<'_>,
    f: &ProjectFilter,
) -> Result<(Vec<ProjectRow>, i64)> {
    let rows: Vec<Counted<_>> = PROJECT_LIST
        .query_as_with(
            f.tags
                .bind(Binds::new())
                .set("id", f.common.id)
                .set("ids", &f.common.ids)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("display_text", &f.display_text)
                .set("state", &f.state)
                .set("domain_id", f.domain_id)
                .set("member", f.member)
                .set("under", &f.under)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(PROJECT_NAMED: Scalar<Uuid> = "SELECT id FROM projects
         WHERE domain_id = $1 AND lower(name) = lower($2) AND id <> $3 AND removed IS NULL");

/// Another project of the domain with this name (case-insensitive), if any.
pub async fn project_named(
    db: impl PgExecutor<'_>,
    domain: DomainId,
    name: &str,
    except: ProjectId,
) -> Result<Option<Uuid>> {
    Ok(PROJECT_NAMED
        .query_scalar()
        .bind(domain)
        .bind(name)
        .bind(except)
        .fetch_optional(db)
        .await?)
}

stmt!(PROJECT_UPDATE = "UPDATE projects SET name = $2, display_text = $3 WHERE id = $1");

pub async fn project_update(
    db: impl PgExecutor<'_>,
    id: ProjectId,
    name: &str,
    display_text: &str,
) -> Result<()> {
    PROJECT_UPDATE
        .query()
        .bind(id)
        .bind(name)
        .bind(display_text)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(PROJECT_SET_STATE = "UPDATE projects SET state = $2 WHERE id = $1");

pub async fn project_set_state(
    db: impl PgExecutor<'_>,
    id: ProjectId,
    state: ProjectState,
) -> Result<()> {
    PROJECT_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    PROJECT_REMOVE = format!(
        "WITH gone AS (UPDATE projects SET removed = now()
                                        WHERE id = $1 AND removed IS NULL RETURNING id),
             m AS (DELETE FROM project_accounts WHERE project_id IN (SELECT id FROM gone)),
             t AS ({})
         DELETE FROM project_invitations WHERE project_id IN (SELECT id FROM gone)",
        super::tags::drop_tags_sql(super::tags::TagType::Project, "SELECT id FROM gone")
    )
);

/// Marks the project removed and drops its members, invitations and tags.
pub async fn project_remove(db: impl PgExecutor<'_>, id: ProjectId) -> Result<()> {
    PROJECT_REMOVE.query().bind(id).execute(db).await?;
    Ok(())
}

/// A member of a project, with its account and domain.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct MemberRow {
    pub project_id: ProjectId,
    pub account_id: AccountId,
    pub role: ProjectRole,
    pub account_name: String,
    pub account_type: i32,
    pub domain_id: DomainId,
    pub domain_name: String,
    pub domain_path: String,
}

stmt!(MEMBER_LIST: Counted<MemberRow> = named "SELECT pa.project_id, pa.account_id, pa.role,
        a.name AS account_name, a.account_type, a.domain_id, d.name AS domain_name,
        d.path AS domain_path, count(*) OVER () AS total
    FROM project_accounts pa JOIN accounts a ON a.id = pa.account_id
    JOIN domains d ON d.id = a.domain_id
    WHERE pa.project_id = $project_id
      AND ($account::text IS NULL OR a.name = $account)
      AND ($role::text IS NULL OR lower(pa.role) = lower($role))
      AND ($keyword::text IS NULL OR a.name ILIKE $keyword)
    ORDER BY pa.created, a.name OFFSET $offset LIMIT $limit");

pub async fn member_list(
    db: impl PgExecutor<'_>,
    project: ProjectId,
    account: Option<&str>,
    role: Option<&str>,
    common: &ListFilter,
) -> Result<(Vec<MemberRow>, i64)> {
    let rows: Vec<Counted<_>> = MEMBER_LIST
        .query_as_with(
            Binds::new()
                .set("project_id", project)
                .set("account", account)
                .set("role", role)
                .set("keyword", common.keyword_pattern())
                .set("offset", common.offset)
                .set("limit", common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(MEMBER_ROLE: Scalar<ProjectRole> =
    "SELECT role FROM project_accounts WHERE project_id = $1 AND account_id = $2");

/// `account`'s role in `project`, if it is a member.
pub async fn member_role(
    db: impl PgExecutor<'_>,
    project: ProjectId,
    account: AccountId,
) -> Result<Option<ProjectRole>> {
    Ok(MEMBER_ROLE
        .query_scalar()
        .bind(project)
        .bind(account)
        .fetch_optional(db)
        .await?)
}

stmt!(MEMBER_ROLE_BY_OWNER: Scalar<ProjectRole> = "SELECT pa.role FROM project_accounts pa
         JOIN projects p ON p.id = pa.project_id
         WHERE p.account_id = $1 AND pa.account_id = $2 AND p.removed IS NULL");

/// `member`'s role in the project whose own account is `owner`, if any.
pub async fn member_role_by_owner(
    db: impl PgExecutor<'_>,
    owner: AccountId,
    member: AccountId,
) -> Result<Option<ProjectRole>> {
    Ok(MEMBER_ROLE_BY_OWNER
        .query_scalar()
        .bind(owner)
        .bind(member)
        .fetch_optional(db)
        .await?)
}

stmt!(MEMBER_PROJECT_ACCOUNTS: Scalar<Uuid> = "SELECT p.account_id FROM project_accounts pa
         JOIN projects p ON p.id = pa.project_id
         WHERE pa.account_id = $1 AND p.removed IS NULL");

/// The own accounts of every project `account` is a member of.
pub async fn member_project_accounts(
    db: impl PgExecutor<'_>,
    account: AccountId,
) -> Result<Vec<Uuid>> {
    Ok(MEMBER_PROJECT_ACCOUNTS
        .query_scalar()
        .bind(account)
        .fetch_all(db)
        .await?)
}

stmt!(
    MEMBER_SET = "INSERT INTO project_accounts (project_id, account_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (project_id, account_id) DO UPDATE SET role = EXCLUDED.role"
);

/// Makes `account` a member with `role` (a member already: its role changes).
pub async fn member_set(
    db: impl PgExecutor<'_>,
    project: ProjectId,
    account: AccountId,
    role: ProjectRole,
) -> Result<()> {
    MEMBER_SET
        .query()
        .bind(project)
        .bind(account)
        .bind(role)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(MEMBER_REMOVE = "DELETE FROM project_accounts WHERE project_id = $1 AND account_id = $2");

pub async fn member_remove(
    db: impl PgExecutor<'_>,
    project: ProjectId,
    account: AccountId,
) -> Result<bool> {
    Ok(MEMBER_REMOVE
        .query()
        .bind(project)
        .bind(account)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

/// An invitation with its project and invitee.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct InvitationRow {
    pub id: ProjectInvitationId,
    pub project_id: ProjectId,
    pub account_id: Option<AccountId>,
    pub email: Option<String>,
    pub token: Option<String>,
    pub role: ProjectRole,
    pub state: InvitationState,
    pub created: DateTime<Utc>,
    pub project_name: String,
    pub domain_id: DomainId,
    pub domain_name: String,
    pub account_name: Option<String>,
    #[sqlx(default)]
    pub domain_path: Option<String>,
}

const INVITATION_SELECT: &str = "SELECT i.*, p.name AS project_name, p.domain_id,
        d.name AS domain_name, d.path AS domain_path, a.name AS account_name
    FROM project_invitations i JOIN projects p ON p.id = i.project_id
    JOIN domains d ON d.id = p.domain_id LEFT JOIN accounts a ON a.id = i.account_id";

stmt!(
    INVITATION_INSERT =
        "INSERT INTO project_invitations (id, project_id, account_id, email, token, role)
         VALUES ($1, $2, $3, $4, $5, $6)"
);

pub async fn invitation_insert(
    db: impl PgExecutor<'_>,
    id: ProjectInvitationId,
    project: ProjectId,
    account: Option<AccountId>,
    email: Option<&str>,
    token: Option<&str>,
    role: ProjectRole,
) -> Result<()> {
    INVITATION_INSERT
        .query()
        .bind(id)
        .bind(project)
        .bind(account)
        .bind(email)
        .bind(token)
        .bind(role)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    INVITATIONS_EXPIRE = "UPDATE project_invitations SET state = 'Expired'
         WHERE state = 'Pending' AND created < now() - make_interval(secs => $1)"
);

/// Marks pending invitations older than `timeout_secs` Expired.
pub async fn invitations_expire(db: impl PgExecutor<'_>, timeout_secs: i64) -> Result<()> {
    INVITATIONS_EXPIRE
        .query()
        .bind(timeout_secs as f64)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct InvitationFilter {
    pub common: ListFilter,
    pub project_id: Option<ProjectId>,
    pub state: Option<String>,
    /// Invitations of this account, or of the projects it administers.
    pub visible_to: Option<AccountId>,
}

stmt!(INVITATION_LIST: Counted<InvitationRow> = named format!(
    "SELECT q.*, count(*) OVER () AS total FROM ({INVITATION_SELECT}) q
         WHERE ($id::uuid IS NULL OR q.id = $id)
           AND ($project_id::uuid IS NULL OR q.project_id = $project_id)
           AND ($state::text IS NULL OR lower(q.state) = lower($state))
           AND ($visible_to::uuid IS NULL OR q.account_id = $visible_to
                OR EXISTS (SELECT 1 FROM project_accounts m WHERE m.project_id = q.project_id
                           AND m.account_id = $visible_to AND m.role = 'Admin'))
         ORDER BY q.created, q.id OFFSET $offset LIMIT $limit"
));

pub async fn invitation_list(
    db: impl PgExecutor<'_>,
    f: &InvitationFilter,
) -> Result<(Vec<InvitationRow>, i64)> {
    let rows: Vec<Counted<_>> = INVITATION_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("project_id", f.project_id)
                .set("state", &f.state)
                .set("visible_to", f.visible_to)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(INVITATION_FETCH: InvitationRow = format!("{INVITATION_SELECT} WHERE i.id = $1"));

pub async fn invitation_fetch(
    db: impl PgExecutor<'_>,
    id: ProjectInvitationId,
) -> Result<Option<InvitationRow>> {
    Ok(INVITATION_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(INVITATION_PENDING_LOCK: InvitationRow = format!(
    "{INVITATION_SELECT} WHERE i.project_id = $1 AND i.state = 'Pending'
       AND (i.account_id = $2 OR ($3::text IS NOT NULL AND i.token = $3))
     ORDER BY i.created FOR UPDATE OF i"
));

/// The pending invitation to `project` of `account`, or the one `token` names, locked.
pub async fn invitation_pending_lock(
    db: impl PgExecutor<'_>,
    project: ProjectId,
    account: AccountId,
    token: Option<&str>,
) -> Result<Option<InvitationRow>> {
    Ok(INVITATION_PENDING_LOCK
        .query_as()
        .bind(project)
        .bind(account)
        .bind(token)
        .fetch_optional(db)
        .await?)
}

stmt!(INVITATION_SET_STATE = "UPDATE project_invitations SET state = $2 WHERE id = $1");

pub async fn invitation_set_state(
    db: impl PgExecutor<'_>,
    id: ProjectInvitationId,
    state: InvitationState,
) -> Result<()> {
    INVITATION_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(INVITATION_DELETE = "DELETE FROM project_invitations WHERE id = $1");

pub async fn invitation_delete(db: impl PgExecutor<'_>, id: ProjectInvitationId) -> Result<()> {
    INVITATION_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

statements![
    PROJECT_INSERT,
    PROJECT_FETCH,
    PROJECT_OF_ACCOUNT,
    PROJECT_LOCK,
    PROJECT_LIST,
    PROJECT_NAMED,
    PROJECT_UPDATE,
    PROJECT_SET_STATE,
    PROJECT_REMOVE,
    MEMBER_LIST,
    MEMBER_ROLE,
    MEMBER_ROLE_BY_OWNER,
    MEMBER_PROJECT_ACCOUNTS,
    MEMBER_SET,
    MEMBER_REMOVE,
    INVITATION_INSERT,
    INVITATIONS_EXPIRE,
    INVITATION_LIST,
    INVITATION_FETCH,
    INVITATION_PENDING_LOCK,
    INVITATION_SET_STATE,
    INVITATION_DELETE
];
