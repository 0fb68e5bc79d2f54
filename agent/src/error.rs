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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
