//! SSH key pairs, as CloudStack's `ManagementServerImpl` keeps them: per account, by
//! name; createSSHKeyPair generates an RSA 2048 key and answers its private key once
//! (only the public key is stored), registerSSHKeyPair stores a public key it was given.
//! The fingerprint is CloudStack's: the MD5 of the key blob in colon-separated hex.

use super::requests;
use crate::ids::{AccountId, DomainId, SshKeyPairId};
use base64::Engine;
use md5::{Digest, Md5};
use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::rand_core::UnwrapErr;
use ssh_key::{LineEnding, PrivateKey, PublicKey};
use stratus_api::envelope::Reply;
use stratus_api::types::SshKeyPairResponse;
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{event, list_filter};
use crate::ctx::Ctx;
use crate::db::accounts::{self as a};
use crate::db::events::{EventResource, ResourceType};
use crate::db::sshkeys::{self as k, KeyPairFilter, KeyPairRow, NewKeyPair};
use crate::error::{Error, Result};
use crate::services::auth::Caller;

/// CloudStack's `ssh.key.length` default.
const RSA_BITS: usize = 2048;

/// The algorithms CloudStack's `SSHKeysHelper.getPublicKeyFromKeyMaterial` accepts.
const ALGORITHMS: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-ed25519",
];

/// A public key as stored: `<algorithm> <base64 blob>` (no comment), and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyText {
    pub openssh: String,
    pub fingerprint: String,
}

/// MD5 of the key blob as colon-separated lower-case hex (`SSHKeysHelper`).
pub fn fingerprint(blob: &[u8]) -> String {
    Md5::digest(blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn invalid_key() -> ApiError {
    ApiError::param(format!(
        "Public key is invalid: give an OpenSSH public key such as 'ssh-ed25519 AAAA… comment' ({})",
        ALGORITHMS.join(", ")
    ))
}

/// Parses key material as CloudStack does (an OpenSSH public key line, or that line in
/// base64), and checks that the blob really is a key of the algorithm it names.
pub fn parse_public_key(material: &str) -> Result<PublicKeyText, ApiError> {
    let material = material.trim();
    let decoded;
    let line = if material.contains(char::is_whitespace) {
        material
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(material)
            .map_err(|_| invalid_key())?;
        decoded = String::from_utf8(bytes).map_err(|_| invalid_key())?;
        decoded.trim()
    };
    let mut words = line.split_whitespace();
    let (Some(algorithm), Some(b64)) = (words.next(), words.next()) else {
        return Err(invalid_key());
    };
    if !ALGORITHMS.contains(&algorithm) {
        return Err(invalid_key());
    }
    let openssh = format!("{algorithm} {b64}");
    let key = PublicKey::from_openssh(&openssh).map_err(|_| invalid_key())?;
    if key.algorithm().as_str() != algorithm {
        return Err(invalid_key());
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| invalid_key())?;
    Ok(PublicKeyText {
        fingerprint: fingerprint(&blob),
        openssh,
    })
}

/// A new RSA key pair: the private key in OpenSSH format, and the public key as stored.
pub fn generate() -> Result<(String, PublicKeyText)> {
    let failed = |e: ssh_key::Error| Error::internal(format!("generating an SSH key: {e}"));
    let mut rng = UnwrapErr(getrandom::SysRng);
    let rsa = RsaKeypair::random(&mut rng, RSA_BITS).map_err(failed)?;
    let private = PrivateKey::new(KeypairData::from(rsa), "").map_err(failed)?;
    let pem = private.to_openssh(LineEnding::LF).map_err(failed)?;
    let public = private.public_key().to_openssh().map_err(failed)?;
    let public = parse_public_key(&public).map_err(Error::from)?;
    Ok((pem.to_string(), public))
}

pub fn response(x: &KeyPairRow, private_key: Option<String>) -> SshKeyPairResponse {
    SshKeyPairResponse {
        id: Some(x.id.into()),
        name: Some(x.name.clone()),
        account: Some(x.account_name.clone()),
        domainid: Some(x.domain_id.into()),
        domain: Some(x.domain_name.clone()),
        fingerprint: Some(x.fingerprint.clone()),
        hasannotations: Some(false),
        privatekey: private_key,
    }
}

/// The account a key pair command acts for (CloudStack's `finalizeOwner`): the caller's,
/// or the one named by `account` (+ `domainid`, default the caller's domain), which only
/// a root admin may name when it is not their own.
pub(super) async fn owner(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
) -> Result<(AccountId, DomainId, String)> {
    if let Some(project) = super::projects::member_of(ctx, caller, p).await? {
        // A project's key pairs (and user data) are its account's; any member may
        // manage them. They count against no limit, so a suspended project's may be
        // added and removed too.
        return Ok((project.account_id, project.domain_id, project.account_name));
    }
    let mine = (
        caller.account_id(),
        caller.domain_id(),
        caller.user.account_name.clone(),
    );
    let Some(name) = p.str("account") else {
        return Ok(mine);
    };
    let domain = p
        .uuid("domainid")?
        .unwrap_or(caller.domain_id().into_uuid());
    if name == caller.user.account_name && domain == caller.domain_id() {
        return Ok(mine);
    }
    if !caller.is_root_admin() {
        return Err(ApiError {
            cs_error: Some(4365),
            ..ApiError::new(
                ErrorCode::Account,
                format!("Can't create/list resources for account {name} in domain {domain}, permission denied"),
            )
        }
        .into());
    }
    let acc = a::account_fetch_by_name(&ctx.pool, domain.into(), name)
        .await?
        .filter(|acc| acc.id != a::SYSTEM_ACCOUNT)
        .ok_or_else(|| {
            ApiError::param(format!("Unable to find account {name} in domain {domain}"))
        })?;
    Ok((acc.id, acc.domain_id, acc.name))
}

fn name_taken(name: &str) -> Error {
    ApiError::param(format!(
        "A key pair with name '{name}' already exists for this account."
    ))
    .into()
}

fn key_taken(material: &str) -> Error {
    ApiError::param(format!(
        "A key pair with key '{material}' already exists for this account."
    ))
    .into()
}

/// Checks, then stores, a key pair for its owner; a concurrent duplicate hits the unique
/// constraints and gets the same answer as one found first.
async fn store(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    public: &PublicKeyText,
    event_type: &str,
) -> Result<KeyPairRow> {
    let name = p.required("name")?.trim();
    if name.is_empty() {
        return Err(ApiError::param(
            "Please specify a valid name for the key pair. The key name can't be empty",
        )
        .into());
    }
    let (account_id, domain_id, account_name) = owner(ctx, caller, p).await?;
    let material = p.str("publickey").unwrap_or(&public.openssh);
    if let Some(found) =
        k::keypair_find(&ctx.pool, account_id, Some(name), Some(&public.fingerprint)).await?
    {
        return Err(if found.name == name {
            name_taken(name)
        } else {
            key_taken(material)
        });
    }
    let id = SshKeyPairId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    let new = NewKeyPair {
        id,
        name,
        account_id,
        domain_id,
        public_key: &public.openssh,
        fingerprint: &public.fingerprint,
    };
    k::keypair_insert(&mut *tx, &new)
        .await
        .map_err(|e| match &e {
            Error::Db(sqlx::Error::Database(d)) => match d.constraint() {
                Some("ssh_keypairs_name_account_key") => name_taken(name),
                Some("ssh_keypairs_fingerprint_account_key") => key_taken(material),
                _ => e,
            },
            _ => e,
        })?;
    super::event_for_owner(
        &mut tx,
        &caller.user,
        (account_id, domain_id),
        event_type,
        format!("SSH key pair {name} of account {account_name}"),
        Some(EventResource::new(
            ResourceType::SshKeyPair,
            id,
            name.to_string(),
        )),
    )
    .await?;
    tx.commit().await?;
    k::keypair_find(&ctx.pool, account_id, Some(name), None)
        .await?
        .ok_or_else(|| Error::internal("key pair vanished"))
}

pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateSSHKeyPair<'_>,
) -> Result<Reply> {
    // RSA generation takes a moment of CPU: keep it off the async workers.
    let (private_key, public) = tokio::task::spawn_blocking(generate)
        .await
        .map_err(|e| Error::internal(format!("key generation stopped: {e}")))??;
    let row = store(ctx, caller, r.wire(), &public, "CREATE.SSH.KEYPAIR").await?;
    Ok(Reply::object("keypair", &response(&row, Some(private_key))))
}

pub async fn register(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RegisterSSHKeyPair<'_>,
) -> Result<Reply> {
    let public = parse_public_key(r.publickey())?;
    let row = store(ctx, caller, r.wire(), &public, "REGISTER.SSH.KEYPAIR").await?;
    Ok(Reply::object("keypair", &response(&row, None)))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListSSHKeyPairs<'_>) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let f = KeyPairFilter {
        common: list_filter(ctx, r.wire())?,
        account_id: account_id.map(Into::into),
        account_ids: account_ids.map(|v| v.into_iter().map(Into::into).collect()),
        skip_projects,
        // `domainid` is part of whose these are (the scope above).
        domain_id: None,
        fingerprint: r.fingerprint().map(str::to_string),
    };
    let (rows, total) = k::keypair_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows.iter().map(|r| response(r, None)).collect();
    Ok(Reply::list("sshkeypair", total, items))
}

pub async fn delete(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteSSHKeyPair<'_>,
) -> Result<Reply> {
    let name = r.name();
    let (account_id, _, account_name) = owner(ctx, caller, r.wire()).await?;
    let mut tx = ctx.pool.begin().await?;
    if !k::keypair_delete(&mut *tx, account_id, name).await? {
        return Err(ApiError::param(format!(
            "A key pair with name '{name}' does not exist for account {account_name} in specified domain id"
        ))
        .into());
    }
    event(
        &mut tx,
        &caller.user,
        "DELETE.SSH.KEYPAIR",
        format!("SSH key pair {name} of account {account_name}"),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

/// For deployVirtualMachine and resetSSHKeyForVirtualMachine: every key pair named in
/// `names` (comma-separated) must be the VM owner's.
pub async fn require(ctx: &Ctx, account_id: Uuid, account_name: &str, names: &str) -> Result<()> {
    let names = crate::services::vms::guest::keypair_names(Some(names));
    let missing = k::keypair_missing(&ctx.pool, account_id.into(), &names).await?;
    match missing.first() {
        None => Ok(()),
        Some(n) => Err(ApiError::param(format!(
            "A key pair with name '{n}' was not found for account {account_name}"
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -t ed25519` and `-t ecdsa -b 384` outputs; their fingerprints are what
    // `ssh-keygen -l -E md5` prints.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AFocGpNK+HezYSBsL/GiOEJC0uZaxe6aV3onyB me@host";
    const ECDSA: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBMi6eiK7oBIMc3qZKKDvWAEswL14gRDkXPok38OPGqQsNoFB0R9D3NJLAA0hOhqmBzz/4x2y9722NQULgsmGTJECIXX4KTc1Ma0eUaO7OBVGAFP9KNiwkm+lE7KxOq7jwg== e";

    #[test]
    fn fingerprint_is_colon_separated_md5_of_the_blob() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(
            fingerprint(b""),
            "d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e"
        );
        assert_eq!(
            parse_public_key(ED25519).unwrap().fingerprint,
            "a6:e6:6f:98:d8:80:5d:a5:a1:2f:4e:8d:c4:93:ac:1b"
        );
        assert_eq!(
            parse_public_key(ECDSA).unwrap().fingerprint,
            "cb:53:d0:66:43:86:69:da:45:e9:a7:0d:f6:c6:64:df"
        );
    }

    #[test]
    fn parsing_drops_the_comment_and_accepts_base64_material() {
        let k = parse_public_key(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(
            k.openssh,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AFocGpNK+HezYSBsL/GiOEJC0uZaxe6aV3onyB"
        );
        let wrapped = base64::engine::general_purpose::STANDARD.encode(ED25519);
        assert_eq!(parse_public_key(&wrapped).unwrap(), k);
    }

    #[test]
    fn garbage_is_refused_with_a_clear_error() {
        for bad in [
            "",
            "hello",
            "ssh-rsa",
            "ssh-rsa not-base64!",
            "ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AFocGpNK+HezYSBsL/GiOEJC0uZaxe6aV3onyB",
            // An ed25519 blob labelled as RSA.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AFocGpNK+HezYSBsL/GiOEJC0uZaxe6aV3onyB",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AF",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        ] {
            let e = parse_public_key(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ParamError, "{bad}");
            assert!(
                e.text.starts_with("Public key is invalid"),
                "{bad}: {}",
                e.text
            );
        }
    }

    #[test]
    fn generated_keys_are_rsa_2048_and_match_their_public_half() {
        let (pem, public) = generate().unwrap();
        assert!(
            pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"),
            "{pem}"
        );
        let private = PrivateKey::from_openssh(&pem).unwrap();
        let rsa = private.key_data().rsa().unwrap();
        assert_eq!(rsa.key_size(), 2048);
        assert!(public.openssh.starts_with("ssh-rsa AAAA"));
        let again = parse_public_key(&private.public_key().to_openssh().unwrap()).unwrap();
        assert_eq!(again, public);
    }
}
