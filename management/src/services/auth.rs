//! Who is calling: signed API requests (apiKey + HMAC-SHA1 signature, versions 1 and 3)
//! and `login` sessions (JSESSIONID cookie plus a `sessionkey` that must accompany every
//! call, so a cookie alone — a cross-site request — authenticates nothing).
//!
//! Every authentication failure answers the same 401 text, whatever the cause, so the
//! API does not tell an attacker which part was wrong; the log says which.
//!
//! Logins are guarded (see `guard`): password hashes run on a small bounded pool, so a
//! flood of logins cannot exhaust memory; failed logins are throttled per client address
//! and counted per user, who is disabled after `incorrect.login.attempts.allowed`
//! consecutive failures (CloudStack's rule; enableUser lets them in again).
//!
//! Sessions: the database keeps only the SHA-256 of the session id, and the session key
//! (the CSRF token every call must carry) is an HMAC of the id under the management key,
//! so it needs no storage and a database dump yields neither.

use crate::ids::{AccountId, DomainId, UserId};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use stratus_api::{signing, ApiError, ErrorCode};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::{self, accounts::UserRow};
use crate::error::{Error, Result};
use crate::guard::HashPool;
use crate::settings;

/// The authenticated user a command runs as.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    /// Set when the caller came in through a session.
    pub session_id: Option<String>,
}

impl Caller {
    pub fn is_root_admin(&self) -> bool {
        self.user.role_type == "Admin"
    }
    /// A domain administrator (account type 2): manages the accounts, users, subdomains
    /// and limits of its own domain's subtree, and nothing else.
    pub fn is_domain_admin(&self) -> bool {
        self.user.role_type == "DomainAdmin"
    }
    /// Whether the caller administers the domain at `path` (CloudStack's path, `ROOT/a/b`):
    /// root admins every domain, domain admins their own and those below it.
    pub fn manages_domain(&self, path: &str) -> bool {
        self.is_root_admin()
            || (self.is_domain_admin()
                && crate::rules::domains::is_within(path, &self.user.domain_path))
    }
    pub fn user_id(&self) -> UserId {
        self.user.id
    }
    pub fn account_id(&self) -> AccountId {
        self.user.account_id
    }
    pub fn domain_id(&self) -> DomainId {
        self.user.domain_id
    }
}

/// Random bytes as unpadded base64url: session ids, session keys, API keys.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The error answered when the password pool is saturated.
fn busy() -> ApiError {
    ApiError::new(
        ErrorCode::ApiLimitExceeded,
        "The server is busy checking other logins; please try again in a few seconds",
    )
}

/// Argon2id with a random salt, on the password pool (it is deliberately slow and big).
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_string();
    HashPool::global()
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
        })
        .await
        .map_err(|_| Error::from(busy()))?
}

/// Checks a password on the password pool; `Err` (429) when the pool is saturated.
pub async fn verify_password(hash: &str, password: &str) -> Result<bool> {
    let (hash, password) = (hash.to_string(), password.to_string());
    HashPool::global()
        .run(move || match PasswordHash::new(&hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        })
        .await
        .map_err(|_| busy().into())
}

/// What the password pool has done (tests, diagnostics).
pub fn password_pool_stats() -> crate::guard::PoolStats {
    HashPool::global().stats()
}

/// At most `max` characters of client input, for logs and error texts (never a byte
/// slice: input may be any UTF-8).
pub fn clip(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

fn usable(user: &UserRow) -> bool {
    user.state.is_enabled() && user.account_state.is_enabled()
}

/// Verifies a signed request. `pairs` are all request parameters as received.
pub async fn authenticate_signed(
    ctx: &Ctx,
    pairs: &[(String, String)],
) -> Result<Caller, ApiError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let (Some(api_key), Some(signature)) = (get("apiKey"), get("signature")) else {
        return Err(ApiError::unauthorized());
    };
    if get("signatureVersion") == Some("3") {
        let Some(expires) = get("expires") else {
            tracing::info!("signature v3 request without expires refused");
            return Err(ApiError::unauthorized());
        };
        match signing::parse_expires(expires) {
            Some(t) if t > chrono::Utc::now() => {}
            Some(_) => {
                tracing::info!(api_key_prefix = %clip(api_key, 6), "expired request refused");
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "unable to verify user credentials and/or request signature: the request has expired",
                ));
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    format!("unable to verify user credentials and/or request signature: cannot parse expires value '{}'", clip(expires, 64)),
                ))
            }
        }
    }
    let user = db::accounts::user_fetch_by_api_key(&ctx.pool, api_key)
        .await
        .map_err(|e| e.to_api())?;
    let Some(user) = user else {
        tracing::info!("request with an unknown API key refused");
        return Err(ApiError::unauthorized());
    };
    let secret = ctx.user_secret(&user).unwrap_or_default();
    if secret.is_empty() || !usable(&user) || !signing::verify(pairs, &secret, signature) {
        tracing::info!(user = %user.username, "request with a bad signature or a disabled user refused");
        return Err(ApiError::unauthorized());
    }
    Ok(Caller {
        user,
        session_id: None,
    })
}

/// The idle timeout of sessions, in seconds.
pub fn session_timeout(ctx: &Ctx) -> i64 {
    ctx.get(&settings::SESSION_TIMEOUT)
}

/// What the sessions table stores for a session id: its SHA-256, in hex.
pub fn session_id_hash(session_id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(session_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The session key that belongs to a session id: 20 bytes of HMAC under the management
/// key, base64url (the same shape as a random key). Every management server sharing the
/// database derives the same one.
pub fn session_key_for(ctx: &Ctx, session_id: &str) -> String {
    let mac = ctx.secrets.mac("session key", session_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..20])
}

/// Resolves a session from its cookie id and the `sessionkey` sent with the request.
pub async fn authenticate_session(
    ctx: &Ctx,
    session_id: &str,
    session_key: &str,
) -> Result<Caller, ApiError> {
    let (caller, key) = authenticate_session_cookie(ctx, session_id).await?;
    if !constant_time_eq(key.as_bytes(), session_key.as_bytes()) {
        return Err(ApiError::unauthorized());
    }
    Ok(caller)
}

/// A session from its cookie alone, for read-only console pages (a cross-site request can
/// send the cookie but cannot read the page). Returns the session key so the page can put
/// it in its forms; every state-changing request must send it back.
pub async fn authenticate_session_cookie(
    ctx: &Ctx,
    session_id: &str,
) -> Result<(Caller, String), ApiError> {
    let s = db::sessions::session_touch(
        &ctx.pool,
        &session_id_hash(session_id),
        session_timeout(ctx),
    )
    .await
    .map_err(|e| e.to_api())?
    .ok_or_else(ApiError::unauthorized)?;
    let user = db::accounts::user_fetch(&ctx.pool, s.user_id.into())
        .await
        .map_err(|e| e.to_api())?
        .filter(usable)
        .ok_or_else(ApiError::unauthorized)?;
    Ok((
        Caller {
            user,
            session_id: Some(s.id_hash),
        },
        session_key_for(ctx, session_id),
    ))
}

/// Compares secrets in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A session created by `login`.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub session_key: String,
    pub timeout: i64,
    pub user: UserRow,
}

/// A refused login: the error, and how long the client should wait before trying again
/// when it was refused for going too fast (HTTP `Retry-After`).
#[derive(Debug, Clone)]
pub struct LoginRefused {
    pub error: ApiError,
    pub retry_after: Option<std::time::Duration>,
}

impl From<ApiError> for LoginRefused {
    fn from(error: ApiError) -> Self {
        LoginRefused {
            error,
            retry_after: None,
        }
    }
}

fn too_fast(wait: std::time::Duration) -> LoginRefused {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    LoginRefused {
        error: ApiError::new(
            ErrorCode::ApiLimitExceeded,
            format!("Too many failed logins from your address; try again in {secs} seconds"),
        ),
        retry_after: Some(std::time::Duration::from_secs(secs)),
    }
}

/// CloudStack has no alert type for this; Stratus' own (listAlerts `type`).
pub const ALERT_TYPE_USER_LOCKED: i16 = 100;

/// Checks credentials and opens a session. `domain` is a CloudStack domain path
/// (`/`, `/ROOT/sub/`, `ROOT`); absent means ROOT. `via` names where the login came from,
/// for the event log ("the API", "the web console"); `client` is the client's address,
/// when known, for the per-address throttle.
pub async fn login(
    ctx: &Ctx,
    username: &str,
    password: &str,
    domain: Option<&str>,
    via: &str,
    client: Option<std::net::IpAddr>,
) -> Result<NewSession, LoginRefused> {
    let fail = || {
        ApiError::new(
            ErrorCode::Account,
            format!(
                "Failed to authenticate user {} in domain {}; please provide valid credentials",
                clip(username, 255),
                clip(domain.unwrap_or("/"), 255)
            ),
        )
    };
    // An address that failed too often waits, before anything costly is done for it.
    if let Some(ip) = client {
        if let Err(wait) = ctx.guards.logins.check(ip) {
            tracing::info!(%ip, "login refused: too many failed logins from this address");
            return Err(too_fast(wait));
        }
    }
    let path = domain_path(domain);
    let dom = db::accounts::domain_fetch_by_path(&ctx.pool, &path)
        .await
        .map_err(|e| e.to_api())?;
    let user = match &dom {
        Some(dom) => db::accounts::user_fetch_by_name(&ctx.pool, dom.id, username)
            .await
            .map_err(|e| e.to_api())?,
        None => None,
    };
    // Unknown users cost what known ones do (a hash check and the failure's update), so
    // response times do not reveal usernames.
    let password_ok = match &user {
        Some(u) => verify_password(&u.password_hash, password).await,
        None => {
            static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
            match DUMMY.get_or_try_init(|| hash_password("not-a-user")).await {
                Ok(h) => verify_password(h, password).await.map(|_| false),
                Err(e) => Err(e),
            }
        }
    }
    .map_err(|e| {
        let mut r = LoginRefused::from(e.to_api());
        if r.error.code == ErrorCode::ApiLimitExceeded {
            r.retry_after = Some(std::time::Duration::from_secs(2));
        }
        r
    })?;
    let user = match user {
        Some(u) if password_ok && usable(&u) => u,
        Some(u) if password_ok => {
            tracing::info!(username = %u.username, "login of a disabled user refused");
            return Err(fail().into());
        }
        other => {
            let id = other.as_ref().map_or(Uuid::nil(), |u| u.id.into_uuid());
            record_failed_login(ctx, other.as_ref(), id).await?;
            tracing::info!(username = %clip(username, 64), known = other.is_some(), "login with a wrong password or unknown user refused");
            if let Some(ip) = client {
                if let Some(wait) = ctx.guards.logins.failed(ip) {
                    tracing::warn!(%ip, wait_secs = wait.as_secs(), "failed logins from one address: backing off");
                }
            }
            return Err(fail().into());
        }
    };
    let session = NewSession {
        id: random_token(20),
        session_key: String::new(),
        timeout: session_timeout(ctx),
        user,
    };
    let session = NewSession {
        session_key: session_key_for(ctx, &session.id),
        ..session
    };
    let mut tx = ctx
        .pool
        .begin()
        .await
        .map_err(|e| Error::from(e).to_api())?;
    db::sessions::session_insert(
        &mut *tx,
        &session_id_hash(&session.id),
        session.user.id.into_uuid(),
        session.timeout,
    )
    .await
    .map_err(|e| e.to_api())?;
    db::accounts::user_login_succeeded(&mut *tx, session.user.id)
        .await
        .map_err(|e| e.to_api())?;
    crate::db::events::event(
        &mut tx,
        &session.user,
        "USER.LOGIN",
        format!("user has logged in from {via}"),
        Some(EventResource::new(
            ResourceType::User,
            session.user.id,
            session.user.username.clone(),
        )),
    )
    .await
    .map_err(|e| e.to_api())?;
    tx.commit().await.map_err(|e| Error::from(e).to_api())?;
    Ok(session)
}

/// Counts a failed login against `user` (the nil id for an unknown user: the same round
/// trip, no effect). Reaching `incorrect.login.attempts.allowed` disables the user, with a
/// WARN event and an alert, in one transaction.
async fn record_failed_login(ctx: &Ctx, user: Option<&UserRow>, id: Uuid) -> Result<(), ApiError> {
    let allowed = ctx.get(&settings::INCORRECT_LOGIN_ATTEMPTS_ALLOWED);
    let run = async {
        let mut tx = ctx.pool.begin().await?;
        let counted = db::accounts::user_login_failed(&mut *tx, id.into(), allowed).await?;
        if let (Some(u), Some((attempts, true))) = (user, counted) {
            let text = format!(
                "User {} has been disabled after {attempts} consecutive failed login attempts; an administrator can enable it again (enableUser)",
                u.username
            );
            tracing::warn!(user = %u.username, attempts, "user disabled after failed logins");
            crate::db::events::system_event(
                &mut tx,
                "USER.DISABLE",
                "WARN",
                text.clone(),
                Some(EventResource::new(
                    ResourceType::User,
                    u.id,
                    u.username.clone(),
                )),
            )
            .await?;
            db::hosts::alert_insert_global(
                &mut *tx,
                ALERT_TYPE_USER_LOCKED,
                "ALERT.USER.LOCKED",
                &text,
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    };
    run.await.map_err(|e| e.to_api())
}

pub async fn logout(ctx: &Ctx, caller: &Caller) -> Result<()> {
    if let Some(id) = &caller.session_id {
        let mut tx = ctx.pool.begin().await?;
        db::sessions::session_delete(&mut *tx, id).await?;
        crate::db::events::event(
            &mut tx,
            &caller.user,
            "USER.LOGOUT",
            "user has logged out".into(),
            Some(EventResource::new(
                ResourceType::User,
                caller.user.id,
                caller.user.username.clone(),
            )),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// `/`, `/ROOT/`, `ROOT/sub`, `/sub/` → `ROOT`, `ROOT/sub` (CloudStack paths are relative
/// to ROOT; clients send both forms).
pub fn domain_path(domain: Option<&str>) -> String {
    let d = domain.unwrap_or("/").trim().trim_matches('/');
    if d.is_empty() || d.eq_ignore_ascii_case("ROOT") {
        return "ROOT".into();
    }
    // `get`, not indexing: byte 5 may fall inside a character of client input.
    if let (Some(head), Some(tail)) = (d.get(..5), d.get(5..)) {
        if head.eq_ignore_ascii_case("ROOT/") && !tail.is_empty() {
            return format!("ROOT/{tail}");
        }
    }
    format!("ROOT/{d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_paths() {
        assert_eq!(domain_path(None), "ROOT");
        assert_eq!(domain_path(Some("/")), "ROOT");
        assert_eq!(domain_path(Some("ROOT")), "ROOT");
        assert_eq!(domain_path(Some("/ROOT/")), "ROOT");
        assert_eq!(domain_path(Some("/eng/")), "ROOT/eng");
        assert_eq!(domain_path(Some("ROOT/eng/web")), "ROOT/eng/web");
        // Non-ASCII around byte 5 (used to panic slicing mid-character).
        assert_eq!(domain_path(Some("ROOTé")), "ROOT/ROOTé");
        assert_eq!(domain_path(Some("/Réseau/")), "ROOT/Réseau");
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("aéééé", 3), "aéé…");
        assert_eq!(clip("abc", 6), "abc");
    }

    #[test]
    fn tokens_are_random_and_url_safe() {
        let a = random_token(20);
        assert_ne!(a, random_token(20));
        assert_eq!(a.len(), 27);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[tokio::test]
    async fn password_hash_roundtrip() {
        let h = hash_password("s3cret").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "s3cret").await.unwrap());
        assert!(!verify_password(&h, "wrong").await.unwrap());
        assert!(!verify_password("!", "anything").await.unwrap());
    }
}
