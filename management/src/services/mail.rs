//! Mail: CloudStack sends project invitations by email (addAccountToProject with `email`),
//! the token inside being the invitee's only way in. It reads the relay from the
//! `project.smtp.*` settings; so do we, with the same meaning, so an admin's CloudStack
//! configuration carries over.
//!
//! Where CloudStack is weak we do better: with no relay configured CloudStack logs an
//! error and keeps an invitation nobody will ever receive, and a relay that refuses is
//! only logged. Here either is the caller's error, with the reason, and no invitation is
//! left behind (the command sends before it commits).
//!
//! Bounded: one connection per mail, every step under [`TIMEOUT`]; addresses are parsed
//! (no header injection through `email`) and the body is plain text.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use stratus_api::{ApiError, ErrorCode};

use crate::ctx::Ctx;
use crate::settings;

/// Each SMTP step's limit (connect, every command and reply).
const TIMEOUT: Duration = Duration::from_secs(20);

/// One plain-text mail to one recipient.
pub struct Mail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub body: String,
}

/// An address as the API received it: a mailbox (`user@example.com`, no display name or
/// line breaks), at most 254 characters as RFC 5321 allows.
pub fn address(email: &str) -> Result<Mailbox, ApiError> {
    let bad = || ApiError::param(format!("Invalid email address {email:?}"));
    if email.len() > 254 || email.contains(['<', '>', '\r', '\n', ',']) {
        return Err(bad());
    }
    email.parse::<Mailbox>().map_err(|_| bad())
}

/// Whether a relay is configured (project.smtp.host).
pub fn configured(ctx: &Ctx) -> bool {
    !ctx.get(&settings::PROJECT_SMTP_HOST).trim().is_empty()
}

/// Sends `mail` through the project relay; the error says why it did not go.
pub async fn send(ctx: &Ctx, mail: Mail<'_>) -> Result<(), ApiError> {
    let host = ctx.get(&settings::PROJECT_SMTP_HOST);
    let host = host.trim();
    if host.is_empty() {
        return Err(ApiError::param(
            "No mail server is configured: set project.smtp.host (and project.email.sender) to invite by email",
        ));
    }
    let sender = ctx.get(&settings::PROJECT_EMAIL_SENDER);
    let from: Mailbox = sender.trim().parse().map_err(|_| {
        ApiError::param(format!(
            "project.email.sender ({sender:?}) is not an email address: set it to invite by email"
        ))
    })?;
    let message = Message::builder()
        .from(from)
        .to(address(mail.to)?)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body)
        .map_err(|e| ApiError::internal(format!("Unable to compose the mail: {e}")))?;

    let port = u16::try_from(ctx.get(&settings::PROJECT_SMTP_PORT)).unwrap_or(465);
    let unreachable = |e: lettre::transport::smtp::Error| {
        ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!(
                "Unable to send the mail to {} through {host}:{port}: {e}",
                mail.to
            ),
        )
    };
    let builder = if ctx.get(&settings::PROJECT_SMTP_USE_AUTH) {
        let tls = if ctx.get(&settings::PROJECT_SMTP_USE_STARTTLS) {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host)
        };
        tls.map_err(unreachable)?.credentials(Credentials::new(
            ctx.get(&settings::PROJECT_SMTP_USERNAME),
            ctx.get(&settings::PROJECT_SMTP_PASSWORD),
        ))
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
    };
    let transport = builder.port(port).timeout(Some(TIMEOUT)).build();
    // The whole exchange is bounded too (a relay that trickles bytes under each step's
    // limit must not hold the job).
    match tokio::time::timeout(TIMEOUT * 3, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e)),
        Err(_) => Err(ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!(
                "Unable to send the mail to {} through {host}:{port}: timed out",
                mail.to
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_single_mailboxes() {
        assert!(address("dev@example.com").is_ok());
        for bad in [
            "",
            "not-an-address",
            "a@example.com, b@example.com",
            "Eve <eve@example.com>",
            "a@example.com\r\nBcc: b@example.com",
            &format!("{}@example.com", "a".repeat(250)),
        ] {
            assert!(address(bad).is_err(), "{bad:?} is refused");
        }
    }
}
