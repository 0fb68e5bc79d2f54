//! Agent configuration: a `key = value` file like CloudStack's `agent.properties`
//! (written by the management server at bootstrap), overridable by flags and environment.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use stratus_api::agent::Acceleration;
use uuid::Uuid;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub host_id: Uuid,
    /// The host's secret; sent as a bearer token, stored hashed by the management server.
    pub token: String,
    /// Tried in order; the agent stays with the first that answers (failover).
    pub management_urls: Vec<String>,
    pub libvirt_uri: String,
    pub heartbeat_interval: Duration,
    /// `None`: detect (KVM when /dev/kvm is usable, else TCG).
    pub acceleration: Option<Acceleration>,
    /// The command API (HTTPS, mutual TLS): where it listens and its credentials.
    /// `None` when the configuration names no `api_listen` (a reporting-only agent).
    pub api: Option<ApiConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub listen: std::net::SocketAddr,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub ca: std::path::PathBuf,
    /// Where guest networks keep their files (`networks_dir`; default
    /// `layout::NETWORKS`).
    pub networks_dir: std::path::PathBuf,
    /// Where VMs' guest data and config drives live (`guests_dir`; default
    /// `layout::GUESTS`).
    pub guests_dir: std::path::PathBuf,
    /// Where the security-group filter keeps its file and generation (`firewall_dir`;
    /// default `layout::FIREWALL`).
    pub firewall_dir: std::path::PathBuf,
    /// Where virtual routers keep their specs and files (`routers_dir`; default
    /// `layout::ROUTERS`).
    pub routers_dir: std::path::PathBuf,
}

/// Parses `key = value` lines; `#` starts a comment.
pub fn parse_properties(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

impl AgentConfig {
    /// Builds the configuration from file properties, with `overrides` (flags, environment)
    /// taking precedence.
    pub fn from_properties(
        file: &HashMap<String, String>,
        overrides: &HashMap<String, String>,
    ) -> Result<AgentConfig> {
        let get = |k: &str| {
            overrides
                .get(k)
                .or_else(|| file.get(k))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let need = |k: &str| get(k).ok_or_else(|| Error::Config(format!("missing setting '{k}'")));
        let host_id = need("host_id")?;
        let host_id = Uuid::parse_str(&host_id)
            .map_err(|_| Error::Config(format!("host_id '{host_id}' is not a UUID")))?;
        let management_urls: Vec<String> = need("management_urls")?
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        for u in &management_urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "management URL '{u}' must start with http:// or https://"
                )));
            }
        }
        let interval = match get("heartbeat_interval") {
            Some(v) => v.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
                Error::Config(format!(
                    "heartbeat_interval '{v}' must be a whole number of seconds"
                ))
            })?,
            None => 10,
        };
        let acceleration = match get("acceleration").as_deref() {
            None | Some("auto") => None,
            Some("kvm") => Some(Acceleration::Kvm),
            Some("qemu") | Some("tcg") => Some(Acceleration::Qemu),
            Some(other) => {
                return Err(Error::Config(format!(
                    "acceleration '{other}' must be auto, kvm or qemu"
                )))
            }
        };
        let api = match get("api_listen") {
            None => None,
            Some(l) => Some(ApiConfig {
                listen: l
                    .parse()
                    .map_err(|_| Error::Config(format!("api_listen '{l}' must be ADDRESS:PORT")))?,
                cert: need("tls_cert")?.into(),
                key: need("tls_key")?.into(),
                ca: need("ca_cert")?.into(),
                networks_dir: get("networks_dir")
                    .unwrap_or_else(|| stratus_api::agent::layout::NETWORKS.into())
                    .into(),
                guests_dir: get("guests_dir")
                    .unwrap_or_else(|| stratus_api::agent::layout::GUESTS.into())
                    .into(),
                firewall_dir: get("firewall_dir")
                    .unwrap_or_else(|| stratus_api::agent::layout::FIREWALL.into())
                    .into(),
                routers_dir: get("routers_dir")
                    .unwrap_or_else(|| stratus_api::agent::layout::ROUTERS.into())
                    .into(),
            }),
        };
        Ok(AgentConfig {
            api,
            host_id,
            token: need("token")?,
            management_urls,
            libvirt_uri: get("libvirt_uri").unwrap_or_else(|| "qemu:///system".into()),
            heartbeat_interval: Duration::from_secs(interval),
            acceleration,
        })
    }

    pub fn load(path: Option<&Path>, overrides: &HashMap<String, String>) -> Result<AgentConfig> {
        let file = match path {
            Some(p) => parse_properties(
                &std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("reading {}: {e}", p.display())))?,
            ),
            None => HashMap::new(),
        };
        Self::from_properties(&file, overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(s: &str) -> HashMap<String, String> {
        parse_properties(s)
    }

    #[test]
    fn file_with_overrides() {
        let file = props(
            "# written by stratus-management\nhost_id = 6f1b3a4e-0000-4000-8000-000000000001\ntoken=abc\nmanagement_urls = http://a:8080/, http://b:8080\nacceleration = qemu\n",
        );
        let over = props("libvirt_uri=test:///default\nheartbeat_interval=3");
        let c = AgentConfig::from_properties(&file, &over).unwrap();
        assert_eq!(c.management_urls, vec!["http://a:8080", "http://b:8080"]);
        assert_eq!(c.libvirt_uri, "test:///default");
        assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(c.acceleration, Some(Acceleration::Qemu));
    }

    #[test]
    fn clear_errors() {
        let base =
            "host_id=6f1b3a4e-0000-4000-8000-000000000001\ntoken=t\nmanagement_urls=http://a\n";
        for (extra, want) in [
            ("acceleration=xen", "acceleration 'xen'"),
            ("heartbeat_interval=0", "heartbeat_interval"),
            ("management_urls=ftp://x", "must start with http"),
        ] {
            let e =
                AgentConfig::from_properties(&props(&format!("{base}{extra}")), &HashMap::new())
                    .unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = AgentConfig::from_properties(
            &props(&format!(
                "{base}api_listen=10.0.0.1:8250\ntls_cert=/c\ntls_key=/k"
            )),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("missing setting 'ca_cert'"), "{e}");
        let e = AgentConfig::from_properties(
            &props(&format!("{base}api_listen=10.0.0.1")),
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ADDRESS:PORT"), "{e}");
        let e = AgentConfig::from_properties(&props("token=t"), &HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("host_id"));
    }
}
