//! The cloud's certificate authority, and the mutual TLS between management servers and
//! agents.
//!
//! Why: an agent's command API starts and stops VMs, so it must accept commands from the
//! management servers only, and the management server must know it talks to the host it
//! added. One CA per cloud (created by the first management server, its key sealed in
//! Postgres with the management key) issues:
//! - at `addHost`, the agent's **server** certificate (subject alternative name: the
//!   host's address; extended key usage: server auth only), copied over SSH with its key;
//! - at each start, every management server's **client** certificate (client auth only).
//!
//! An agent trusts client certificates of this CA only; webpki checks the extended key
//! usage, so another host's certificate cannot be used to command an agent.

use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::error::{Error, Result};
use crate::ids::{HostId, ManagementServerId};
use crate::secrets::SecretKey;

/// A certificate and its private key, PEM-encoded, for an agent.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Pki {
    inner: Arc<Inner>,
}

struct Inner {
    ca_pem: String,
    ca: Certificate,
    ca_key: KeyPair,
    /// HTTPS client for agents' command APIs: trusts this CA only, presents this
    /// management server's client certificate.
    agent_client: reqwest::Client,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pki(..)")
    }
}

fn pki_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let from = Utc::now() - Duration::days(1);
    let to = Utc::now() + Duration::days(days);
    params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
}

fn serial(params: &mut CertificateParams) {
    params.serial_number = Some(rcgen::SerialNumber::from_slice(Uuid::new_v4().as_bytes()));
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, "Stratus cloud CA");
    p.distinguished_name
        .push(DnType::OrganizationName, "Stratus");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut p, 365 * 20);
    serial(&mut p);
    p
}

impl Pki {
    /// Loads the cloud's CA, creating it if this is the first management server, and
    /// issues this server's client certificate.
    pub async fn load_or_create(
        pool: &PgPool,
        key: &SecretKey,
        ms_id: ManagementServerId,
    ) -> Result<Pki> {
        let (ca_pem, ca_key) = match db::pki::ca_fetch(pool).await? {
            Some(row) => row_to_ca(key, row)?,
            None => {
                let ca_key =
                    KeyPair::generate().map_err(|e| pki_err("generating the CA key", e))?;
                let ca = ca_params()
                    .self_signed(&ca_key)
                    .map_err(|e| pki_err("creating the CA", e))?;
                let sealed = key.seal(ca_key.serialize_pem().as_bytes());
                if db::pki::ca_insert_if_absent(pool, &ca.pem(), &sealed).await? {
                    tracing::info!("created the cloud's certificate authority");
                    (ca.pem(), ca_key)
                } else {
                    // Another management server won the race: use its CA.
                    let row = db::pki::ca_fetch(pool)
                        .await?
                        .ok_or_else(|| Error::internal("the CA vanished"))?;
                    row_to_ca(key, row)?
                }
            }
        };
        // The issuer object: the stored certificate's parameters re-signed with its key
        // (same subject and key identifier, so what it signs chains to the stored CA).
        let ca = CertificateParams::from_ca_cert_pem(&ca_pem)
            .map_err(|e| pki_err("reading the CA certificate", e))?
            .self_signed(&ca_key)
            .map_err(|e| pki_err("loading the CA", e))?;

        let client = issue(
            &ca,
            &ca_key,
            &format!("stratus-management {ms_id}"),
            vec![],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            365,
        )?;
        let identity = reqwest::Identity::from_pem(
            format!("{}\n{}", client.cert_pem, client.key_pem).as_bytes(),
        )
        .map_err(|e| pki_err("this server's client certificate", e))?;
        let root = reqwest::Certificate::from_pem(ca_pem.as_bytes())
            .map_err(|e| pki_err("the CA certificate", e))?;
        let agent_client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .identity(identity)
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| pki_err("the agent HTTPS client", e))?;
        Ok(Pki {
            inner: Arc::new(Inner {
                ca_pem,
                ca,
                ca_key,
                agent_client,
            }),
        })
    }

    /// The CA certificate agents are given to trust.
    pub fn ca_pem(&self) -> &str {
        &self.inner.ca_pem
    }

    /// The server certificate for a host's agent, valid for its address.
    pub fn issue_agent(&self, host_id: HostId, address: std::net::IpAddr) -> Result<Issued> {
        issue(
            &self.inner.ca,
            &self.inner.ca_key,
            &format!("stratus-agent {host_id}"),
            vec![SanType::IpAddress(address)],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            365 * 10,
        )
    }

    /// A host's libvirt certificate for live migration (issue 16): libvirtd serves TLS
    /// with it and presents it as a client to another host's libvirtd, so it has both
    /// uses. Its common name starts with
    /// [`stratus_api::agent::migration::CERT_CN_PREFIX`]: libvirtd admits only those, and
    /// agents refuse them as clients of their command API.
    pub fn issue_libvirt(&self, host_id: HostId, address: std::net::IpAddr) -> Result<Issued> {
        issue_with(
            &self.inner.ca,
            &self.inner.ca_key,
            &format!("{}{host_id}", stratus_api::agent::migration::CERT_CN_PREFIX),
            vec![SanType::IpAddress(address)],
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            // libvirt refuses a certificate whose key usage lacks key encipherment.
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ],
            365 * 10,
        )
    }

    /// A server certificate for this management server's own HTTPS
    /// (`--tls-self-signed`), valid for `dns_names` and `ips`; clients trust `ca_pem`.
    pub fn issue_server(&self, dns_names: &[String], ips: &[std::net::IpAddr]) -> Result<Issued> {
        let mut sans = Vec::new();
        for n in dns_names {
            let name = rcgen::Ia5String::try_from(n.as_str())
                .map_err(|e| pki_err(&format!("the host name {n:?}"), e))?;
            sans.push(SanType::DnsName(name));
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let cn = dns_names
            .first()
            .cloned()
            .or_else(|| ips.first().map(|ip| ip.to_string()))
            .unwrap_or_else(|| "stratus-management".into());
        issue(
            &self.inner.ca,
            &self.inner.ca_key,
            &cn,
            sans,
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            397,
        )
    }

    /// HTTPS client for agents (mutual TLS with this cloud's CA).
    pub fn agent_client(&self) -> &reqwest::Client {
        &self.inner.agent_client
    }
}

fn row_to_ca(key: &SecretKey, (pem, sealed): (String, Vec<u8>)) -> Result<(String, KeyPair)> {
    let key_pem = String::from_utf8(key.open(&sealed)?)
        .map_err(|_| Error::internal("the CA key is not PEM"))?;
    let ca_key = KeyPair::from_pem(&key_pem).map_err(|e| pki_err("reading the CA key", e))?;
    Ok((pem, ca_key))
}

fn issue(
    ca: &Certificate,
    ca_key: &KeyPair,
    common_name: &str,
    sans: Vec<SanType>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    days: i64,
) -> Result<Issued> {
    issue_with(
        ca,
        ca_key,
        common_name,
        sans,
        usages,
        vec![KeyUsagePurpose::DigitalSignature],
        days,
    )
}

fn issue_with(
    ca: &Certificate,
    ca_key: &KeyPair,
    common_name: &str,
    sans: Vec<SanType>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    key_usages: Vec<KeyUsagePurpose>,
    days: i64,
) -> Result<Issued> {
    let key = KeyPair::generate().map_err(|e| pki_err("generating a key", e))?;
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.subject_alt_names = sans;
    p.key_usages = key_usages;
    p.extended_key_usages = usages;
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, days);
    serial(&mut p);
    let cert = p
        .signed_by(&key, ca, ca_key)
        .map_err(|e| pki_err("signing a certificate", e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
