//! The cloud's certificate authority (one row).

use sqlx::PgExecutor;

use crate::error::Result;

stmt!(CA_FETCH: (String, Vec<u8>) = "SELECT cert_pem, key_sealed FROM pki_ca WHERE id = 1");

/// The CA certificate (PEM) and its sealed private key, if one was created.
pub async fn ca_fetch(db: impl PgExecutor<'_>) -> Result<Option<(String, Vec<u8>)>> {
    Ok(CA_FETCH.query_as().fetch_optional(db).await?)
}

stmt!(CA_INSERT_IF_ABSENT = "INSERT INTO pki_ca (id, cert_pem, key_sealed) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING");

/// Stores a new CA unless another management server stored one first (then the caller
/// reads and uses that one). Returns whether this one was stored.
pub async fn ca_insert_if_absent(
    db: impl PgExecutor<'_>,
    cert_pem: &str,
    key_sealed: &[u8],
) -> Result<bool> {
    let r = CA_INSERT_IF_ABSENT
        .query()
        .bind(cert_pem)
        .bind(key_sealed)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

statements![CA_FETCH, CA_INSERT_IF_ABSENT];
