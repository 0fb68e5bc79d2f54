//! How typed API fields are shown, as the console showed their JSON before: absent is
//! "—" (or "" where a page wants nothing), lists are joined, dates as CloudStack writes
//! them (pages pass them through `format::date`).

use stratus_api::types::CsDate;
use stratus_ui::format;
use uuid::Uuid;

pub(crate) trait Show {
    fn show(&self) -> String;
}

impl Show for String {
    fn show(&self) -> String {
        self.clone()
    }
}
impl Show for str {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for bool {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for i32 {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for i64 {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for Uuid {
    fn show(&self) -> String {
        self.to_string()
    }
}
impl Show for CsDate {
    fn show(&self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%z").to_string()
    }
}
impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map(Show::show).unwrap_or_else(|| "—".into())
    }
}
impl<T: Show> Show for Vec<T> {
    fn show(&self) -> String {
        self.iter().map(Show::show).collect::<Vec<_>>().join(", ")
    }
}

/// A field as text; absent is "—".
pub(crate) fn text<T: Show + ?Sized>(x: &T) -> String {
    x.show()
}

/// An optional field as text; absent is "".
pub(crate) fn plain<T: Show>(x: &Option<T>) -> String {
    x.as_ref().map(Show::show).unwrap_or_default()
}

/// A date as the console shows it (`2026-11-23 14:05:09`); absent is "".
pub(crate) fn when(d: &Option<CsDate>) -> String {
    format::date(&plain(d))
}

/// A number CloudStack sends as text ("12.50%", "3.20 Ghz").
pub(crate) fn number(x: &Option<String>) -> Option<f64> {
    x.as_deref().and_then(format::number)
}

/// A number field as f64.
pub(crate) fn float<T: Copy + Into<f64>>(x: &Option<T>) -> Option<f64> {
    x.map(Into::into)
}

/// An i64 field as f64 (bytes, KiB).
pub(crate) fn big(x: &Option<i64>) -> Option<f64> {
    x.map(|n| n as f64)
}

/// A bytes field, formatted; "—" when absent.
pub(crate) fn bytes_of(x: &Option<i64>) -> String {
    big(x).map(format::bytes).unwrap_or_else(|| "—".into())
}

/// The value of `key` in a details map (`details` is a map of strings in CloudStack);
/// "—" when absent.
pub(crate) fn detail(details: &Option<serde_json::Value>, key: &str) -> String {
    match details.as_ref().and_then(|d| d.get(key)) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "—".into(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_api::types::{PodResponse, ZoneResponse};

    #[test]
    fn typed_fields_show_as_their_json_did() {
        let z: ZoneResponse = serde_json::from_value(serde_json::json!({
            "id": "6f1c1a3e-0000-4000-8000-000000000001",
            "name": "z1",
            "securitygroupsenabled": false,
            "created": "2026-11-23T14:05:09+0000"
        }))
        .unwrap();
        assert_eq!(text(&z.name), "z1");
        assert_eq!(text(&z.dns1), "—");
        assert_eq!(plain(&z.dns1), "");
        assert_eq!(text(&z.id), "6f1c1a3e-0000-4000-8000-000000000001");
        assert_eq!(text(&z.securitygroupsenabled), "false");
        assert_eq!(text(&z.created), "2026-11-23T14:05:09+0000");
        assert_eq!(when(&z.created), "2026-11-23 14:05:09");
        assert_eq!(when(&None), "");
        let p = PodResponse {
            startip: vec!["10.0.0.1".into(), "10.0.0.9".into()],
            ..Default::default()
        };
        assert_eq!(text(&p.startip), "10.0.0.1, 10.0.0.9");
        assert_eq!(text(&p.endip), "");
        assert_eq!(number(&Some("12.50%".into())), Some(12.5));
        assert_eq!(bytes_of(&Some(1536)), "1.50 KiB");
        assert_eq!(bytes_of(&None), "—");
        let details = Some(serde_json::json!({"os": "Ubuntu"}));
        assert_eq!(detail(&details, "os"), "Ubuntu");
        assert_eq!(detail(&details, "kernel"), "—");
    }

    #[test]
    fn an_answer_that_does_not_fit_its_type_is_an_internal_error_naming_the_command() {
        let e = super::super::typed::<ZoneResponse>(
            "listZones",
            serde_json::json!({"id": "not-a-uuid"}),
        )
        .unwrap_err();
        assert_eq!(e.code, stratus_api::ApiError::internal("").code);
        assert!(e.text.contains("listZones"), "{}", e.text);
    }
}
