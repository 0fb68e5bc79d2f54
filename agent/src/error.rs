//! The agent's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("libvirt: {0}")]
    Libvirt(String),
    #[error("reading host information: {0}")]
    Host(String),
    #[error("management server: {0}")]
    Management(String),
    /// No such VM (or network) on this host.
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong (an invalid spec).
    #[error("{0}")]
    Invalid(String),
    /// The request contradicts what exists (e.g. another domain holds the name).
    #[error("{0}")]
    Conflict(String),
    /// A disk or ISO the request names cannot be reached on its NFS server.
    #[error("{0}")]
    Storage(String),
    /// Setting up a guest network (bridge, dnsmasq) failed.
    #[error("guest network: {0}")]
    Network(String),
    /// Setting up a virtual router (namespace, veths, VLAN bridges, its nftables table
    /// or dnsmasq) failed.
    #[error("virtual router: {0}")]
    Router(String),
    /// Loading the security-group filter (nftables) failed.
    #[error("security groups: {0}")]
    Firewall(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
