//! `createConsoleEndpoint` (CloudStack 4.18+): a short-lived, single-use token to open a
//! VM's console over this server's WebSocket (`crate::front::vnc`; tokens in `services::consoles`).

use super::requests;
use stratus_api::envelope::Reply;
use stratus_api::types::{ConsoleEndpointResponse, ConsoleEndpointWebsocketResponse};
use stratus_api::{ApiError, ErrorCode};

use super::not_found;
use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;
use crate::services::auth::Caller;
use crate::services::consoles;

/// Where browsers reach this server, as far as it knows: the `host` setting, else the
/// address it listens on (when that is a specific address).
fn websocket_address(ctx: &Ctx) -> (Option<String>, Option<String>) {
    let port = ctx.listen.map(|l| l.port().to_string());
    let host = Some(ctx.get(&crate::settings::HOST).trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| {
            ctx.listen
                .filter(|l| !l.ip().is_unspecified())
                .map(|l| l.ip().to_string())
        });
    (host, port)
}

pub async fn create_endpoint(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateConsoleEndpoint<'_>,
) -> Result<Reply> {
    let vm_id = r.virtualmachineid();
    let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "virtualmachineid"))?;
    if !caller.is_root_admin() && vm.account_id != caller.account_id() {
        return Err(ApiError::new(
            ErrorCode::Account,
            format!(
                "Permission denied: account {} does not own VM {}",
                caller.user.account_name, vm.display_name
            ),
        )
        .into());
    }
    if vm.state != crate::rules::vmstate::VmState::Running || vm.host_id.is_none() {
        return Err(ApiError::param(format!(
            "VM {} is {}: its console can be opened only while it is Running",
            vm.display_name, vm.state
        ))
        .into());
    }
    let extra = r.token().filter(|t| !t.is_empty());
    let token = consoles::issue_token(ctx, vm.id, caller.user_id(), extra).await?;
    let (host, port) = websocket_address(ctx);
    let endpoint = ConsoleEndpointResponse {
        success: Some(true),
        details: None,
        url: Some(consoles::page_url(vm.id, &token, extra)),
        websocket: Some(ConsoleEndpointWebsocketResponse {
            token: Some(token),
            host,
            port,
            path: Some(consoles::WEBSOCKET_PATH.trim_start_matches('/').to_string()),
            extra: extra.map(String::from),
        }),
    };
    Ok(Reply::object("consoleendpoint", &endpoint))
}
