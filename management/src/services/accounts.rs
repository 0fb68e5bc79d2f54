//! First-start setup that cannot live in a migration: the `admin` user, whose password
//! comes from `STRATUS_ADMIN_PASSWORD` or is generated and shown once.

use crate::ids::UserId;

use crate::db::accounts as a;
use crate::error::{Error, Result};
use crate::services::auth;

/// Creates `admin` in ROOT if missing. Returns the password when it was generated here,
/// so the caller can show it once; it is stored only as an argon2 hash.
pub async fn ensure_admin(pool: &sqlx::PgPool, password: Option<&str>) -> Result<Option<String>> {
    if a::user_fetch_by_name(pool, a::ROOT_DOMAIN, "admin")
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) if !p.is_empty() => (p.to_string(), false),
        _ => (auth::random_token(12), true),
    };
    let hash = auth::hash_password(&password).await?;
    match a::user_insert(
        pool,
        UserId::new_v4(),
        a::ADMIN_ACCOUNT,
        a::ROOT_DOMAIN,
        "admin",
        &hash,
        "Admin",
        "User",
        "",
        None,
    )
    .await
    {
        Ok(()) => Ok(generated.then_some(password)),
        // Another management server starting at the same moment created it first.
        Err(Error::Db(sqlx::Error::Database(e)))
            if e.constraint() == Some("users_username_domain_key") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
