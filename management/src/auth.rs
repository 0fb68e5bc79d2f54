//! Who is calling: signed API requests (apiKey + HMAC-SHA1 signature, versions 1 and 3)
//! and `login` sessions (JSESSIONID cookie plus a `sessionkey` that must accompany every
//! call, so a cookie alone — a cross-site request — authenticates nothing).
//!
//! Every authentication failure answers the same 401 text, whatever the cause, so the
//! API does not tell an attacker which part was wrong; the log says which.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use stratus_api::{signing, ApiError, ErrorCode};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::{self, accounts::UserRow};
use crate::error::{Error, Result};

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
    pub fn user_id(&self) -> Uuid {
        self.user.id
    }
    pub fn account_id(&self) -> Uuid {
        self.user.account_id
    }
    pub fn domain_id(&self) -> Uuid {
        self.user.domain_id
    }
}

/// Random bytes as unpadded base64url: session ids, session keys, API keys.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Argon2id with a random salt, off the async runtime (it is deliberately slow).
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("password hashing task failed: {e}")))?
}

pub async fn verify_password(hash: &str, password: &str) -> bool {
    let (hash, password) = (hash.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}

fn usable(user: &UserRow) -> bool {
    user.state == "enabled" && user.account_state == "enabled"
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
                tracing::info!(api_key_prefix = %&api_key[..api_key.len().min(6)], "expired request refused");
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "unable to verify user credentials and/or request signature: the request has expired",
                ));
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    format!("unable to verify user credentials and/or request signature: cannot parse expires value '{expires}'"),
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
    ctx.setting_i64("session.timeout", 1800).max(60)
}

/// Resolves a session from its cookie id and the `sessionkey` sent with the request.
pub async fn authenticate_session(
    ctx: &Ctx,
    session_id: &str,
    session_key: &str,
) -> Result<Caller, ApiError> {
    let s = db::sessions::session_touch(&ctx.pool, session_id, session_timeout(ctx))
        .await
        .map_err(|e| e.to_api())?
        .ok_or_else(ApiError::unauthorized)?;
    if !constant_time_eq(s.session_key.as_bytes(), session_key.as_bytes()) {
        return Err(ApiError::unauthorized());
    }
    let user = db::accounts::user_fetch(&ctx.pool, s.user_id)
        .await
        .map_err(|e| e.to_api())?
        .filter(usable)
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Caller {
        user,
        session_id: Some(s.id),
    })
}

/// A session from its cookie alone, for read-only console pages (a cross-site request can
/// send the cookie but cannot read the page). Returns the session key so the page can put
/// it in its forms; every state-changing request must send it back.
pub async fn authenticate_session_cookie(
    ctx: &Ctx,
    session_id: &str,
) -> Result<(Caller, String), ApiError> {
    let s = db::sessions::session_touch(&ctx.pool, session_id, session_timeout(ctx))
        .await
        .map_err(|e| e.to_api())?
        .ok_or_else(ApiError::unauthorized)?;
    let user = db::accounts::user_fetch(&ctx.pool, s.user_id)
        .await
        .map_err(|e| e.to_api())?
        .filter(usable)
        .ok_or_else(ApiError::unauthorized)?;
    Ok((
        Caller {
            user,
            session_id: Some(s.id),
        },
        s.session_key,
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

/// Checks credentials and opens a session. `domain` is a CloudStack domain path
/// (`/`, `/ROOT/sub/`, `ROOT`); absent means ROOT. `via` names where the login came from,
/// for the event log ("the API", "the web console").
pub async fn login(
    ctx: &Ctx,
    username: &str,
    password: &str,
    domain: Option<&str>,
    via: &str,
) -> Result<NewSession, ApiError> {
    let path = domain_path(domain);
    let fail = || {
        ApiError::new(
            ErrorCode::Account,
            format!(
                "Failed to authenticate user {username} in domain {}; please provide valid credentials",
                domain.unwrap_or("/")
            ),
        )
    };
    let dom = db::accounts::domain_fetch_by_path(&ctx.pool, &path)
        .await
        .map_err(|e| e.to_api())?
        .ok_or_else(fail)?;
    let user = db::accounts::user_fetch_by_name(&ctx.pool, dom.id, username)
        .await
        .map_err(|e| e.to_api())?;
    let Some(user) = user else {
        // Spend the same time as a real check, so response times do not reveal usernames.
        static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        if let Ok(h) = DUMMY.get_or_try_init(|| hash_password("not-a-user")).await {
            let _ = verify_password(h, password).await;
        }
        tracing::info!(%username, "login with an unknown username refused");
        return Err(fail());
    };
    if !usable(&user) || !verify_password(&user.password_hash, password).await {
        tracing::info!(%username, "login refused");
        return Err(fail());
    }
    let session = NewSession {
        id: random_token(20),
        session_key: random_token(20),
        timeout: session_timeout(ctx),
        user,
    };
    let mut tx = ctx
        .pool
        .begin()
        .await
        .map_err(|e| Error::from(e).to_api())?;
    db::sessions::session_insert(
        &mut *tx,
        &session.id,
        &session.session_key,
        session.user.id,
        session.timeout,
    )
    .await
    .map_err(|e| e.to_api())?;
    crate::commands::event(
        &mut tx,
        &session.user,
        "USER.LOGIN",
        format!("user has logged in from {via}"),
        Some((session.user.id, "User", session.user.username.clone())),
    )
    .await
    .map_err(|e| e.to_api())?;
    tx.commit().await.map_err(|e| Error::from(e).to_api())?;
    Ok(session)
}

pub async fn logout(ctx: &Ctx, caller: &Caller) -> Result<()> {
    if let Some(id) = &caller.session_id {
        let mut tx = ctx.pool.begin().await?;
        db::sessions::session_delete(&mut *tx, id).await?;
        crate::commands::event(
            &mut tx,
            &caller.user,
            "USER.LOGOUT",
            "user has logged out".into(),
            Some((caller.user.id, "User", caller.user.username.clone())),
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
    if d.len() > 5 && d[..5].eq_ignore_ascii_case("ROOT/") {
        return format!("ROOT/{}", &d[5..]);
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
        assert!(verify_password(&h, "s3cret").await);
        assert!(!verify_password(&h, "wrong").await);
        assert!(!verify_password("!", "anything").await);
    }
}
