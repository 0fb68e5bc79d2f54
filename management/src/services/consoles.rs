//! VM console tokens: what `createConsoleEndpoint` hands out and the VNC proxy
//! (`front::vnc`) consumes. A token is 32 random bytes, stored only as its SHA-256,
//! bound to one VM and one user, valid `console.token.validity` seconds and for one
//! connection. Minting lives here, below the commands, so the command layer never
//! reaches up into a front door.

use crate::ids::{UserId, VmId};
use sha2::{Digest, Sha256};

use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;

/// Where browsers open the console's WebSocket (`?token=…[&extra=…]`).
pub const WEBSOCKET_PATH: &str = "/console/vnc";
/// The WebSocket subprotocol noVNC asks for: RFB bytes in binary messages.
pub const SUBPROTOCOL: &str = "binary";

/// The console page for a token (the web console renders noVNC there).
pub fn page_url(vm_id: VmId, token: &str, extra: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("token", token);
    if let Some(e) = extra {
        q.append_pair("extra", e);
    }
    format!("/console/vms/{vm_id}/vnc?{}", q.finish())
}

pub fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

/// Issues a token for `user_id` to open `vm_id`'s console once, within the validity.
/// The caller has checked access; only the hash is stored.
pub async fn issue_token(
    ctx: &Ctx,
    vm_id: VmId,
    user_id: UserId,
    extra: Option<&str>,
) -> Result<String> {
    let token = crate::services::auth::random_token(32);
    let validity = ctx.get(&crate::settings::CONSOLE_TOKEN_VALIDITY);
    let hash = sha256(&token);
    let extra_hash = extra.map(sha256);
    db::console_tokens::console_token_purge(&ctx.pool).await?;
    db::console_tokens::console_token_insert(
        &ctx.pool,
        &db::console_tokens::NewConsoleToken {
            token_hash: &hash,
            vm_id: vm_id.into_uuid(),
            user_id: user_id.into_uuid(),
            extra_hash: extra_hash.as_deref(),
            validity_secs: validity,
        },
    )
    .await?;
    Ok(token)
}
