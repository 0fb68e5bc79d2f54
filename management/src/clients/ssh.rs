//! A small SSH client (russh) for host bootstrap: connect with a password, run commands,
//! write files. Host keys are accepted on first contact and their fingerprint returned, so
//! it can be recorded (as CloudStack does, the admin vouches for the host by adding it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;

/// Why an SSH step failed, in words for the admin.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("SSH authentication as {user} failed: check the username and password")]
    Auth { user: String },
    #[error("SSH session error: {0}")]
    Session(String),
}

struct Handler {
    fingerprint: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Handler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fp = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(russh::keys::HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(c) => c
                .public_key()
                .fingerprint(russh::keys::HashAlg::Sha256)
                .to_string(),
        };
        if let Ok(mut f) = self.fingerprint.lock() {
            *f = Some(fp);
        }
        Ok(true)
    }
}

/// How long one connection attempt (TCP, then the SSH handshake) may take, and how many
/// attempts a host that does not answer gets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_ATTEMPTS: u32 = 3;

/// What a remote command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: u32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Ssh {
    handle: Handle<Handler>,
    pub fingerprint: String,
}

fn session_err(e: impl std::fmt::Display) -> SshError {
    SshError::Session(e.to_string())
}

impl Ssh {
    pub async fn connect(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
    ) -> Result<Ssh, SshError> {
        Self::connect_within(addr, user, password, CONNECT_TIMEOUT).await
    }

    /// [`Ssh::connect`] with `timeout` for each attempt.
    async fn connect_within(
        addr: std::net::SocketAddr,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Ssh, SshError> {
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(120)),
            ..Default::default()
        });
        let fingerprint = Arc::new(Mutex::new(None));
        // A host that does not answer at all is tried again: one lost SYN, or an sshd that
        // dropped the connection before its banner (MaxStartups on a loaded host), must not
        // fail an addHost that a second try completes. A refusal, an unreachable address or
        // a protocol error is an answer, and is reported at once.
        let mut attempt = 1;
        let mut handle = loop {
            let handler = Handler {
                fingerprint: fingerprint.clone(),
            };
            let connect = client::connect(config.clone(), addr, handler);
            let why = match tokio::time::timeout(timeout, connect).await {
                Ok(Ok(h)) => break h,
                Ok(Err(russh::Error::IO(e))) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    format!("the connection was reset ({e})")
                }
                Ok(Err(russh::Error::Disconnect)) => "the server closed the connection".into(),
                Ok(Err(e)) => {
                    return Err(SshError::Connect {
                        addr: addr.to_string(),
                        why: e.to_string(),
                    })
                }
                Err(_) => format!("no answer within {} s", timeout.as_secs_f32()),
            };
            if attempt == CONNECT_ATTEMPTS {
                return Err(SshError::Connect {
                    addr: addr.to_string(),
                    why: format!("{why} ({CONNECT_ATTEMPTS} attempts)"),
                });
            }
            tracing::warn!(%addr, attempt, "SSH connect: {why}; trying again");
            attempt += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let auth = handle
            .authenticate_password(user, password)
            .await
            .map_err(session_err)?;
        if !auth.success() {
            return Err(SshError::Auth {
                user: user.to_string(),
            });
        }
        let fingerprint = fingerprint
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        Ok(Ssh {
            handle,
            fingerprint,
        })
    }

    /// Runs a command through the remote shell, feeding it `stdin`, and collects its output.
    pub async fn run_with_input(&self, command: &str, stdin: &[u8]) -> Result<Output, SshError> {
        let mut ch = self
            .handle
            .channel_open_session()
            .await
            .map_err(session_err)?;
        ch.exec(true, command).await.map_err(session_err)?;
        if !stdin.is_empty() {
            ch.data(stdin).await.map_err(session_err)?;
        }
        ch.eof().await.map_err(session_err)?;
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        Ok(Output {
            status: status.unwrap_or(255),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    pub async fn run(&self, command: &str) -> Result<Output, SshError> {
        self.run_with_input(command, &[]).await
    }

    /// Writes `data` to `path` atomically (temp file, then rename) with `mode`.
    pub async fn write_file(&self, path: &str, data: &[u8], mode: u32) -> Result<(), SshError> {
        let q = shell_quote(path);
        let tmp = shell_quote(&format!("{path}.stratus-tmp"));
        let cmd = format!("umask 077 && mkdir -p \"$(dirname {q})\" && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {q}");
        let out = self.run_with_input(&cmd, data).await?;
        if out.status != 0 {
            return Err(SshError::Session(format!(
                "writing {path}: {}",
                out.stderr.trim()
            )));
        }
        Ok(())
    }

    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(super::shell_quote("a b"), "'a b'");
        assert_eq!(super::shell_quote("it's"), "'it'\\''s'");
    }

    /// A host whose port takes connections but never speaks is tried three times, then
    /// reported as not answering; a refusal is reported after one try.
    #[tokio::test]
    async fn a_silent_host_is_tried_again_and_a_refusing_one_is_not() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let accepted = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
                if held.len() == CONNECT_ATTEMPTS as usize {
                    break;
                }
            }
            held // still open: the last attempt ends by its timeout, not by a reset
        });
        let err = Ssh::connect_within(addr, "root", "x", Duration::from_millis(300))
            .await
            .err()
            .expect("nothing answered");
        assert!(
            err.to_string()
                .ends_with("no answer within 0.3 s (3 attempts)"),
            "{err}"
        );
        assert_eq!(accepted.await.unwrap().len(), 3);

        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let started = std::time::Instant::now();
        let err = Ssh::connect_within(closed, "root", "x", Duration::from_secs(5))
            .await
            .err()
            .expect("refused");
        assert!(!err.to_string().contains("attempts"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1), "{err}");
    }
}
