//! What the HTTP front doors need to know about a request beyond its parameters: whether
//! it came over TLS (for the cookies' `Secure`), the client's address (for the login
//! throttle), and whether a browser sent it from another site (login CSRF).
//!
//! **TLS** is the request extension [`crate::front::listen::Tls`], which the listener sets on
//! every request it serves (`Tls(true)` on the HTTPS listener).
//! `X-Forwarded-Proto` is deliberately not believed: any client can send it, and a
//! `Secure` flag set on its word would be harmless but one cleared on its word would not.
//! A server behind a TLS-terminating proxy does not mark its cookies `Secure` yet (open
//! work: a trusted-proxy setting).
//!
//! **The client address** is the TCP peer from axum's `ConnectInfo` (the listener must be
//! served with `into_make_service_with_connect_info::<SocketAddr>()`); without it there
//! is no per-address throttling. Forwarded-for headers are not believed either.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, HeaderMap};

/// Whether the request arrived over TLS (its listener says so).
pub fn is_tls(ext: &Extensions) -> bool {
    ext.get::<crate::front::listen::Tls>().is_some_and(|t| t.0)
}

/// The TCP peer's address, when the listener records it.
pub fn client_ip(ext: &Extensions) -> Option<IpAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip())
}

/// A `Set-Cookie` value: always `HttpOnly` and `SameSite=Lax` (Lax, not Strict, so a link
/// from elsewhere still opens the console signed in; every state change needs the
/// session key anyway), and `Secure` when the request came over TLS. `max_age: Some(0)`
/// clears the cookie.
pub fn cookie(name: &str, value: &str, path: &str, secure: bool, max_age: Option<u32>) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The authority (`host[:port]`) of an absolute URL such as an `Origin` or `Referer`.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

/// Whether a browser says this request was made by a page of another site: the Fetch
/// Metadata header `Sec-Fetch-Site` when sent (anything but `same-origin` or `none`, a
/// typed URL), else `Origin` (or, failing that, `Referer`) naming another host than the
/// `Host` the request was sent to. Requests with none of these (curl, scripts, very old
/// browsers) are not cross-site by this test.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return !matches!(site.trim(), "same-origin" | "none");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let from = match (get("origin"), get("referer")) {
        (Some(o), _) => o.trim(),
        (None, Some(r)) => r.trim(),
        (None, None) => return false,
    };
    match (authority(from), host) {
        (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
        // `Origin: null` (sandboxed frames, some redirects) or no Host to compare with.
        _ => true,
    }
}

/// The value of cookie `name`.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        assert!(!cross_site(&h(&[])));
        assert!(!cross_site(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&h(&[("sec-fetch-site", "none")])));
        assert!(cross_site(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&h(&[("sec-fetch-site", "same-site")])));
        let host = ("host", "cloud.example:8080");
        assert!(!cross_site(&h(&[
            host,
            ("origin", "https://cloud.example:8080")
        ])));
        assert!(cross_site(&h(&[host, ("origin", "https://evil.example")])));
        assert!(cross_site(&h(&[host, ("origin", "null")])));
        assert!(!cross_site(&h(&[
            host,
            ("referer", "http://cloud.example:8080/console/login?x=1")
        ])));
        assert!(cross_site(&h(&[
            host,
            ("referer", "http://cloud.example.evil.example/")
        ])));
    }

    #[test]
    fn cookies_carry_secure_only_over_tls() {
        assert_eq!(
            cookie("JSESSIONID", "abc", "/", false, None),
            "JSESSIONID=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookie("JSESSIONID", "", "/client", true, Some(0)),
            "JSESSIONID=; Path=/client; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
    }
}
