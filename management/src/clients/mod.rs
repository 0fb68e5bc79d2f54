//! Clients of the systems the management server talks to itself, with no knowledge of
//! the cloud's records: NFS (its own NFSv3 client) and SSH (host bootstrap). They sit
//! below the services that use them and import nothing from the layers above.

pub mod nfs;
pub mod ssh;
