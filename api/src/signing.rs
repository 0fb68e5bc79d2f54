//! Request signing exactly as CloudStack's `ApiServer.verifyRequest` computes it, plus the
//! few deviations real clients are known to make (see shared/cloudstack-api-notes.md §1.2).
//!
//! The canonical string: every parameter except `signature`, names sorted as sent
//! (case-sensitive), `name=value` with values encoded like Java's `URLEncoder` (`+` → `%20`),
//! joined with `&`, the whole string lower-cased, then HMAC-SHA1 with the user's secret and
//! standard Base64. Clients differ in sort order (libcloud and Marvin lower-case names first)
//! and in which of `* ~ [ ]` they escape, so on a mismatch the verifier also tries those
//! variants. Each is still a full HMAC over every parameter: tolerance never skips a check.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Java `URLEncoder.encode(v, "UTF-8")` followed by `replaceAll("\\+", "%20")`.
pub fn java_url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push_str("%20"),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The string CloudStack signs, before lower-casing. `lowercase_sort` sorts on the
/// lower-cased names instead (libcloud, Marvin).
pub fn canonical_string(params: &[(String, String)], lowercase_sort: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("signature"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if lowercase_sort {
        pairs.sort_by(|a, b| {
            a.0.to_ascii_lowercase()
                .cmp(&b.0.to_ascii_lowercase())
                .then(a.0.cmp(b.0))
        });
    } else {
        pairs.sort_by(|a, b| a.0.cmp(b.0));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", java_url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// HMAC-SHA1 of the lower-cased string, Base64 with padding.
pub fn sign_string(canonical: &str, secret: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha1::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(canonical.to_lowercase().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The signature CloudStack itself would compute for these parameters.
pub fn sign(params: &[(String, String)], secret: &str) -> String {
    sign_string(&canonical_string(params, false), secret)
}

/// The escaping variants clients are known to produce, applied to the lower-cased Java
/// string. Names never contain `*`, `~`, `%`, so the replacements touch values only.
fn variants(java: &str) -> Vec<String> {
    let mut out = vec![java.to_string()];
    let swaps: [&dyn Fn(&str) -> String; 3] = [
        &|s: &str| s.replace('*', "%2a"),
        &|s: &str| s.replace("%7e", "~"),
        &|s: &str| s.replace("%5b", "[").replace("%5d", "]"),
    ];
    for swap in swaps {
        let more: Vec<String> = out.iter().map(|s| swap(s)).collect();
        out.extend(more);
    }
    out.sort();
    out.dedup();
    out
}

/// True when `provided` (already URL-decoded) matches the signature of `params` under
/// CloudStack's algorithm or one of the known client variants.
pub fn verify(params: &[(String, String)], secret: &str, provided: &str) -> bool {
    // A `+` sent unescaped in a query string arrives as a space.
    let provided = provided.trim().replace(' ', "+");
    let provided = provided.as_bytes();
    for lowercase_sort in [false, true] {
        let java = canonical_string(params, lowercase_sort).to_lowercase();
        for candidate in variants(&java) {
            let sig = sign_string(&candidate, secret);
            if bool::from(sig.as_bytes().ct_eq(provided)) {
                return true;
            }
        }
    }
    false
}

/// Parses an `expires` value in the formats CloudStack's `DateUtil.parseTZDateString`
/// accepts (`2026-06-17T12:10:00+0000`, RFC 3339 with offset or `Z`, fractional seconds).
pub fn parse_expires(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%.fZ%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(value, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    // Test vectors from libcloud's test_cloudstack.py and cs's tests.py.
    #[test]
    fn libcloud_vectors() {
        let base = p(&[
            ("command", "listVirtualMachines"),
            ("apiKey", "fnord"),
            ("response", "json"),
        ]);
        assert_eq!(sign(&base, "abracadabra"), "z/a9Y7J52u48VpqIgiwaGUMCso0=");
        let deploy = |display: &str| {
            p(&[
                ("command", "deployVirtualMachine"),
                ("name", "fred"),
                ("displayname", display),
                ("serviceofferingid", "5"),
                ("templateid", "17"),
                ("zoneid", "23"),
                ("networkids", "42"),
                ("apiKey", "fnord"),
                ("response", "json"),
            ])
        };
        assert_eq!(
            sign(&deploy("George"), "abracadabra"),
            "gHTo7mYmadZ+zluKHzlEKb1i/QU="
        );
        assert_eq!(
            sign(&deploy("George+Ringo"), "abracadabra"),
            "tAgfrreI1ZvWlWLClD3gu4+aKv4="
        );
    }

    #[test]
    fn cs_vector_and_string_to_sign() {
        let params = p(&[
            ("command", "listVirtualMachines"),
            ("listall", "true"),
            ("apiKey", "foo"),
            ("response", "json"),
        ]);
        assert_eq!(
            canonical_string(&params, false).to_lowercase(),
            "apikey=foo&command=listvirtualmachines&listall=true&response=json"
        );
        assert_eq!(sign(&params, "bar"), "B0d6hBsZTcFVCiioSxzwKA9Pke8=");
        assert!(verify(&params, "bar", "B0d6hBsZTcFVCiioSxzwKA9Pke8="));
    }

    #[test]
    fn java_encoding() {
        assert_eq!(java_url_encode("a b*~/:+[é"), "a%20b*%7E%2F%3A%2B%5B%C3%A9");
    }

    #[test]
    fn rejects_wrong_secret_and_tampered_params() {
        let params = p(&[("command", "listZones"), ("apiKey", "k"), ("name", "z1")]);
        let sig = sign(&params, "s");
        assert!(verify(&params, "s", &sig));
        assert!(!verify(&params, "other", &sig));
        let tampered = p(&[("command", "listZones"), ("apiKey", "k"), ("name", "z2")]);
        assert!(!verify(&tampered, "s", &sig));
    }

    #[test]
    fn accepts_known_client_variants() {
        // cs leaves `~` unescaped; libcloud sorts on lower-cased names and leaves `[]`.
        let params = p(&[
            ("command", "listZones"),
            ("apiKey", "k"),
            ("keyword", "a~b"),
            ("Zname", "x[1]"),
        ]);
        let cs_style = "apikey=k&command=listzones&keyword=a~b&zname=x%5b1%5d";
        // `Zname` sorts first case-sensitively; the lower-case sort puts it last.
        assert!(verify(&params, "s", &sign_string(cs_style, "s")));
        let java = canonical_string(&params, false);
        assert!(java.starts_with("Zname="));
        assert!(verify(&params, "s", &sign(&params, "s")));
    }

    #[test]
    fn plus_that_became_space_still_verifies() {
        let params = p(&[
            ("command", "deployVirtualMachine"),
            ("name", "fred"),
            ("displayname", "George"),
            ("serviceofferingid", "5"),
            ("templateid", "17"),
            ("zoneid", "23"),
            ("networkids", "42"),
            ("apiKey", "fnord"),
            ("response", "json"),
        ]);
        assert!(verify(
            &params,
            "abracadabra",
            "gHTo7mYmadZ zluKHzlEKb1i/QU="
        ));
    }

    #[test]
    fn expires_formats() {
        use chrono::TimeZone;
        let want = chrono::Utc
            .with_ymd_and_hms(2026, 6, 17, 12, 10, 0)
            .unwrap();
        for v in [
            "2026-06-17T12:10:00+0000",
            "2026-06-17T12:10:00+00:00",
            "2026-06-17T12:10:00Z",
            "2026-06-17T12:10:00.123+0000",
            "2026-06-17T14:10:00+0200",
        ] {
            let t = parse_expires(v).unwrap_or_else(|| panic!("{v} did not parse"));
            let ms = (t - want).num_milliseconds();
            assert!((0..=123).contains(&ms), "{v} parsed as {t}");
        }
        assert!(parse_expires("yesterday").is_none());
    }
}
