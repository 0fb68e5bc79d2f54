//! The web console's views. Pages are rendered from what the command layer answered (the
//! same CloudStack objects the API returns), so the console can show nothing the API
//! cannot; handlers live with the HTTP layer in the management server, which calls
//! `commands::dispatch` and hands the answer to these views. No I/O and no SQL here.

use askama::Template;
use serde_json::Value;

/// One row of a list page: the fields a template shows, taken from an API object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub cells: Vec<String>,
}

/// Reads `fields` of each API object, in order; absent fields show as "—".
pub fn rows(items: &[Value], fields: &[&str]) -> Vec<Row> {
    items
        .iter()
        .map(|v| Row {
            id: text(v, "id"),
            cells: fields.iter().map(|f| text(v, f)).collect(),
        })
        .collect()
}

fn text(v: &Value, field: &str) -> String {
    match v.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "—".into(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub username: String,
    pub domain: String,
    pub error: Option<String>,
}

/// The signed-in frame every console page shares.
#[derive(Debug, Clone)]
pub struct Frame {
    pub username: String,
    pub account: String,
    /// Sent back with every form as the CSRF token (it is the API's `sessionkey`).
    pub sessionkey: String,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub frame: Frame,
    pub title: String,
    pub active: &'static str,
    pub headings: Vec<&'static str>,
    pub rows: Vec<Row>,
    /// The API's total (`count`), which may exceed the rows shown.
    pub total: i64,
    pub empty_text: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_take_fields_in_order_and_mark_absent_ones() {
        let r = rows(
            &[json!({"id": "a", "name": "z1", "startip": ["10.0.0.1", "10.0.0.9"], "n": 3})],
            &["name", "startip", "n", "missing"],
        );
        assert_eq!(r[0].id, "a");
        assert_eq!(r[0].cells, vec!["z1", "10.0.0.1, 10.0.0.9", "3", "—"]);
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = ListPage {
            frame: Frame {
                username: "admin".into(),
                account: "admin".into(),
                sessionkey: "k".into(),
            },
            title: "Zones".into(),
            active: "zones",
            headings: vec!["Name"],
            rows: vec![Row {
                id: "1".into(),
                cells: vec!["<script>x</script>".into()],
            }],
            total: 1,
            empty_text: "none",
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>x"));
        assert!(
            html.contains("&lt;script&gt;x") || html.contains("&#60;script&#62;x"),
            "{html}"
        );
    }
}
