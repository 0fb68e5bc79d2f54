//! What a VM's guest is given besides its disk — user data, SSH keys, a generated
//! password — and the [`GuestData`] the host agent turns into a config drive and the
//! metadata and password services (CloudStack's ConfigDrive provider and virtual router).
//!
//! Why the management server keeps so little: user data is stored as the API took it
//! (base64) and checked once here; a generated password is stored only sealed and only
//! until the host agent has it (the agent serves it to the guest once), plus CloudStack's
//! "Encrypted.Password" — the password encrypted with the VM's RSA key pair, which only the
//! key's owner can read — for getVMPassword.

use crate::ids::{AccountId, VmId};
use base64::Engine;
use rand::Rng;
use stratus_api::agent::{GuestData, GuestKey, GuestNic};
use stratus_api::ApiError;

use crate::ctx::Ctx;
use crate::db::{self, vms::VmListRow};
use crate::error::{Error, Result};
use crate::settings;

/// CloudStack's `MAX_HTTP_GET_LENGTH`: user data in a query string is at most this long.
pub const USER_DATA_GET_MAX: usize = 4096;

/// Checks user data as deployVirtualMachine and resetUserDataForVirtualMachine take it:
/// base64 (standard or URL-safe, padding optional, line breaks ignored) of at most
/// `vm.userdata.max.length` characters. Answers it as stored: standard base64, padded.
pub fn check_user_data(ctx: &Ctx, value: &str) -> Result<String> {
    let max = ctx.get(&settings::VM_USERDATA_MAX_LENGTH).max(1) as usize;
    check_user_data_len(value, max)
}

/// [`check_user_data`] with the limit given (pure, for tests).
pub fn check_user_data_len(value: &str, max: usize) -> Result<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(ApiError::param(
            "User data is empty: give base64-encoded data, or leave the parameter out",
        )
        .into());
    }
    if compact.len() > max {
        return Err(ApiError::param(format!(
            "User data is too long: {} base64 characters, at most {max} (vm.userdata.max.length)",
            compact.len()
        ))
        .into());
    }
    let unpadded = compact.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
        .map_err(|_| ApiError::param("User data is not valid base64"))?;
    if bytes.len() > stratus_api::agent::USER_DATA_MAX_BYTES {
        return Err(ApiError::param("User data is over 1 MiB decoded").into());
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Characters of a generated password: letters and digits without the look-alikes
/// (0/O, 1/l/I), as CloudStack's `PasswordGenerator`.
const PASSWORD_CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new random password of `vm.password.length` characters.
pub fn generate_password(ctx: &Ctx) -> String {
    let len = ctx.get(&settings::VM_PASSWORD_LENGTH).clamp(8, 64) as usize;
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| char::from(PASSWORD_CHARS[rng.gen_range(0..PASSWORD_CHARS.len())]))
        .collect()
}

/// The password encrypted with an RSA public key (PKCS #1 v1.5), base64 — CloudStack's
/// `RSAHelper.encryptWithSSHPublicKey`; `openssl pkeyutl -decrypt -inkey KEY` reads it.
/// None for keys that are not RSA (CloudStack stores nothing then either).
pub fn encrypt_password(public_key: &str, password: &str) -> Option<String> {
    let key = ssh_key::PublicKey::from_openssh(public_key.trim()).ok()?;
    let rsa_key = key.key_data().rsa()?;
    let n = rsa::BigUint::from_bytes_be(rsa_key.n().as_positive_bytes()?);
    let e = rsa::BigUint::from_bytes_be(rsa_key.e().as_positive_bytes()?);
    let public = rsa::RsaPublicKey::new(n, e).ok()?;
    let sealed = public
        .encrypt(
            &mut rand::rngs::OsRng,
            rsa::Pkcs1v15Encrypt,
            password.as_bytes(),
        )
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// The key pairs a VM names (comma-separated, as `keypairs` takes them), in that order.
pub fn keypair_names(keypair: Option<&str>) -> Vec<String> {
    keypair
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The public keys of the VM owner's key pairs named by the VM (a key pair deleted since
/// is left out, as CloudStack does).
pub async fn public_keys(
    ctx: &Ctx,
    account_id: AccountId,
    keypair: Option<&str>,
) -> Result<Vec<GuestKey>> {
    let mut keys = Vec::new();
    for name in keypair_names(keypair) {
        if let Some(k) = db::sshkeys::keypair_find(&ctx.pool, account_id, Some(&name), None).await?
        {
            keys.push(GuestKey {
                name: k.name,
                public_key: k.public_key,
            });
        }
    }
    Ok(keys)
}

/// A new password for a VM: stored sealed until its agent has it, and encrypted with
/// its first RSA key pair for getVMPassword. Answers the plaintext (to be shown once).
pub async fn set_new_password(
    ctx: &Ctx,
    vm: VmId,
    account_id: AccountId,
    keypair: Option<&str>,
) -> Result<String> {
    let password = generate_password(ctx);
    let encrypted = public_keys(ctx, account_id, keypair)
        .await?
        .iter()
        .find_map(|k| encrypt_password(&k.public_key, &password));
    let sealed = ctx.secrets.seal(password.as_bytes());
    db::vms::vm_set_password(&ctx.pool, vm, Some(&sealed), encrypted.as_deref()).await?;
    Ok(password)
}

/// The password the VM's agent has not received yet, if any.
pub fn pending_password(ctx: &Ctx, vm: &db::vms::VmRow) -> Result<Option<String>> {
    match &vm.password_pending {
        None => Ok(None),
        Some(sealed) => {
            let plain = ctx.secrets.open(sealed).map_err(|e| {
                Error::internal(format!("the VM's password cannot be unsealed: {e}"))
            })?;
            Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
        }
    }
}

fn prefix_len(netmask: Option<&str>) -> u8 {
    netmask
        .and_then(|m| m.parse::<std::net::Ipv4Addr>().ok())
        .map(|m| u32::from(m).count_ones() as u8)
        .unwrap_or(24)
}

/// This cloud's identifier, stable for the cloud (derived from its secret key, which it
/// never reveals); the guest sees `cloud-identifier` as `CloudStack-{<id>}` (the agent
/// writes that form: [`GuestData::cloud_identifier`]).
fn cloud_identifier(ctx: &Ctx) -> String {
    let mac = ctx.secrets.mac("cloud-identifier", b"");
    let mut b = [0u8; 16];
    b.copy_from_slice(&mac[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

/// The guest's view of itself, for the VM's spec and `PUT /v1/vms/{id}/guest`.
pub async fn guest_data(ctx: &Ctx, view: &VmListRow) -> Result<GuestData> {
    let vm = &view.vm;
    let nics = view
        .nics
        .iter()
        .filter_map(|n| {
            Some(GuestNic {
                mac: n.mac_address.clone(),
                ip: n.ip_address.parse().ok()?,
                prefix_len: prefix_len(n.netmask.as_deref()),
                gateway: n.gateway.as_deref()?.parse().ok()?,
                dns: vec![],
                is_default: n.is_default,
            })
        })
        .collect();
    Ok(GuestData {
        hostname: vm.name.clone(),
        display_name: vm.display_name.clone(),
        zone_name: view.zone_name.clone(),
        service_offering: view.service_offering_name.clone(),
        public_keys: public_keys(ctx, vm.account_id, vm.keypair.as_deref()).await?,
        user_data_base64: vm.user_data.clone(),
        password: pending_password(ctx, vm)?,
        nics,
        cloud_identifier: Some(cloud_identifier(ctx)),
    })
}

/// Pushes the VM's guest data to its host when it runs there (a new password or keys
/// reach the guest without a restart); a stopped VM gets it with its next start.
pub async fn push(ctx: &Ctx, vm_id: VmId) -> Result<()> {
    let view = super::view(ctx, vm_id.into_uuid()).await?;
    let running = super::state_of(&view.vm)? == crate::rules::vmstate::VmState::Running;
    if !running {
        return Ok(());
    }
    let host = super::host_of(ctx, &view.vm).await?;
    let data = guest_data(ctx, &view).await?;
    crate::services::agents::Agent::of(ctx, &host)
        .put_guest(vm_id, &data)
        .await?;
    // The routers of its isolated networks answer it too (their metadata and password
    // services), before the password is marked delivered.
    crate::services::networks::push_guest(ctx, vm_id).await?;
    if data.password.is_some() {
        db::vms::vm_password_delivered(&ctx.pool, vm_id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_base64_within_the_limit() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("#cloud-config\nhostname: x\n");
        assert_eq!(check_user_data_len(&b64, 4096).unwrap(), b64);
        // Unpadded, URL-safe and wrapped input is taken and stored canonically.
        let wrapped = format!("{}\n{}", &b64[..12], b64[12..].trim_end_matches('='));
        assert_eq!(check_user_data_len(&wrapped, 4096).unwrap(), b64);
        let e = check_user_data_len(&b64, 8).unwrap_err().to_string();
        assert!(e.contains("too long"), "{e}");
        assert!(check_user_data_len("not base64!", 4096).is_err());
        assert!(check_user_data_len("  ", 4096).is_err());
    }

    #[test]
    fn passwords_encrypt_for_rsa_keys_only() {
        use ssh_key::private::{KeypairData, RsaKeypair};
        let mut rng = ssh_key::rand_core::UnwrapErr(getrandom::SysRng);
        let pair = RsaKeypair::random(&mut rng, 2048).unwrap();
        let big = |m: &ssh_key::Mpint| rsa::BigUint::from_bytes_be(m.as_positive_bytes().unwrap());
        let private = rsa::RsaPrivateKey::from_components(
            big(pair.public().n()),
            big(pair.public().e()),
            big(pair.private().d()),
            vec![big(pair.private().p()), big(pair.private().q())],
        )
        .unwrap();
        let public = ssh_key::PrivateKey::new(KeypairData::from(pair), "")
            .unwrap()
            .public_key()
            .to_openssh()
            .unwrap();
        let sealed = encrypt_password(&public, "s3cretPass").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .unwrap();
        assert_eq!(bytes.len(), 256, "one 2048-bit RSA block");
        let plain = private.decrypt(rsa::Pkcs1v15Encrypt, &bytes).unwrap();
        assert_eq!(plain, b"s3cretPass");
        let ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb1jPz0Q0T0p3YcI8xq0aUp1m6m0ZgHk1Yz0m7w2zZ2";
        assert_eq!(encrypt_password(ed, "x"), None);
        assert_eq!(encrypt_password("garbage", "x"), None);
    }

    #[test]
    fn keypair_names_split() {
        assert_eq!(keypair_names(Some("a, b,,c")), vec!["a", "b", "c"]);
        assert!(keypair_names(None).is_empty());
    }
}
