//! Encryption at rest for the secrets the database must hold in recoverable form (the
//! CA's private key; later the API secret keys, which HMAC verification needs in clear).
//!
//! Why a key file: whoever reads a database dump must not get the keys that let them
//! impersonate the management server to every agent. The key lives outside the database,
//! in `<data-dir>/management.key` (0600, created at first start), like CloudStack's
//! `management.key` next to `db.properties`. Management servers that share a database
//! must be given the same file.
//!
//! Sealed values are `version(1) || nonce(24) || XChaCha20-Poly1305(ciphertext+tag)`.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const NONCE: usize = 24;

/// The management servers' secret key.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        SecretKey(k)
    }

    /// Reads the key file, creating it (0600, 32 random bytes, hex) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SecretKey> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(text.trim()).ok_or_else(|| {
                Error::Internal(format!(
                    "{} is not a Stratus key (64 hex digits expected)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                f.write_all(format!("{hex}\n").as_bytes())?;
                f.sync_all()?;
                Ok(key)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn parse(hex: &str) -> Option<SecretKey> {
        if hex.len() != 64 {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(SecretKey(k))
    }

    /// HMAC-SHA256 of `data` under a key derived from this one for `purpose`, so values
    /// derived for one purpose say nothing about another (session keys from session ids).
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        type HmacSha256 = Hmac<sha2::Sha256>;
        let mut sub =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        sub.update(purpose.as_bytes());
        let sub = sub.finalize().into_bytes();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&sub).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; NONCE];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        let wrong = || {
            Error::Internal(
                "a secret in the database cannot be decrypted with this server's management.key (is it the same key file the other management servers use?)".into(),
            )
        };
        if sealed.len() < 1 + NONCE + 16 || sealed[0] != VERSION {
            return Err(wrong());
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(
                XNonce::from_slice(&sealed[1..1 + NONCE]),
                &sealed[1 + NONCE..],
            )
            .map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let k = SecretKey::generate();
        let s = k.seal(b"private key");
        assert_ne!(&s[1 + NONCE..], b"private key");
        assert_eq!(k.open(&s).unwrap(), b"private key");
        let mut t = s.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(k.open(&t).is_err());
        assert!(
            SecretKey::generate().open(&s).is_err(),
            "another key cannot open it"
        );
    }

    #[test]
    fn key_file_created_once_with_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("management.key");
        let a = SecretKey::load_or_create(&p).unwrap();
        let b = SecretKey::load_or_create(&p).unwrap();
        assert_eq!(a.0, b.0);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&p, "nonsense").unwrap();
        assert!(SecretKey::load_or_create(&p).is_err());
    }
}
