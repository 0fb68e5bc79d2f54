//! Answer envelopes exactly as CloudStack's `ApiResponseSerializer` writes them: one
//! top-level key `<command>response`; lists as `{"count":N,"<object>":[...]}` (and `{}`
//! when empty); single objects wrapped in their object name; errors as
//! `ExceptionResponse`. JSON when `response=json`, otherwise XML, as CloudStack defaults.
//!
//! Nothing a request carries reaches the markup unescaped: element names pass through
//! [`xml_name`] (letters, digits, `_`, `-`, `.` only; no `:`, so no namespace can be
//! declared or used), and text through [`xml_text`] (escaped, and characters XML 1.0 cannot
//! hold replaced). The API shares an origin with the web console, so an element a caller
//! could name (`<h:script xmlns:h="http://www.w3.org/1999/xhtml">`) would run in it.

use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::ApiError;

/// The version string clients see in `listCapabilities` and XML envelopes.
pub const CLOUDSTACK_COMPAT_VERSION: &str = "4.22.0.0";

/// What a command answers, before it is wrapped in its envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A page of items; `count` is the total before paging.
    List {
        object: &'static str,
        count: i64,
        items: Vec<Value>,
    },
    /// A single object, wrapped in its name.
    Object { object: &'static str, value: Value },
    /// A create that answers a one-element list (`addCluster`, `registerIso`).
    ObjectList {
        object: &'static str,
        items: Vec<Value>,
    },
    /// `{"success":true}`.
    Success { displaytext: Option<String> },
    /// An async command's receipt; `id` is set for async-create commands.
    Job { jobid: Uuid, id: Option<Uuid> },
    /// Fields placed directly in the envelope (`login`, `logout`).
    Flat(Value),
}

impl Reply {
    pub fn list<T: Serialize>(object: &'static str, count: i64, items: &[T]) -> Reply {
        Reply::List {
            object,
            count,
            items: items.iter().map(to_value).collect(),
        }
    }
    pub fn object<T: Serialize>(object: &'static str, value: &T) -> Reply {
        Reply::Object {
            object,
            value: to_value(value),
        }
    }
    pub fn object_list<T: Serialize>(object: &'static str, items: &[T]) -> Reply {
        Reply::ObjectList {
            object,
            items: items.iter().map(to_value).collect(),
        }
    }
    pub fn success() -> Reply {
        Reply::Success { displaytext: None }
    }

    /// The value inside `<command>response`.
    pub fn body(&self) -> Value {
        match self {
            Reply::List { items, .. } if items.is_empty() => json!({}),
            Reply::List {
                object,
                count,
                items,
            } => {
                let mut m = Map::new();
                m.insert("count".into(), (*count).into());
                m.insert((*object).into(), Value::Array(items.clone()));
                Value::Object(m)
            }
            Reply::Object { object, value } => {
                let mut m = Map::new();
                m.insert((*object).into(), value.clone());
                Value::Object(m)
            }
            // CloudStack answers these creates with a ListResponse: count and the items.
            Reply::ObjectList { object, items } => {
                let mut m = Map::new();
                m.insert("count".into(), items.len().into());
                m.insert((*object).into(), Value::Array(items.clone()));
                Value::Object(m)
            }
            Reply::Success { displaytext } => match displaytext {
                Some(t) => json!({"success": true, "displaytext": t}),
                None => json!({"success": true}),
            },
            Reply::Job { jobid, id } => match id {
                Some(id) => json!({"id": id, "jobid": jobid}),
                None => json!({"jobid": jobid}),
            },
            Reply::Flat(v) => v.clone(),
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| json!({ "serializationerror": e.to_string() }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `response=json` selects JSON; anything else (or nothing) is XML, as in CloudStack.
    pub fn from_param(v: Option<&str>) -> Format {
        match v {
            Some(v) if v.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Xml,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=UTF-8",
            Format::Xml => "text/xml; charset=UTF-8",
        }
    }
}

/// The response element name for an error when the command is missing or unknown.
pub const ERROR_RESPONSE: &str = "errorresponse";

/// Wraps `body` in `{"<name>": body}` and renders it. `response_name` should come from the
/// catalog (`CommandSpec::response_name`) or be [`ERROR_RESPONSE`]; anything else is made
/// a safe XML name all the same.
pub fn render(response_name: &str, body: &Value, format: Format) -> String {
    match format {
        Format::Json => {
            let mut m = Map::new();
            m.insert(response_name.to_string(), body.clone());
            Value::Object(m).to_string()
        }
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            let name = xml_name(response_name);
            out.push_str(&format!(
                "<{name} cloud-stack-version=\"{CLOUDSTACK_COMPAT_VERSION}\">"
            ));
            xml_children(body, &mut out);
            out.push_str(&format!("</{name}>"));
            out
        }
    }
}

/// The body of an error answer for `response_name` (`errorresponse` for unknown commands).
pub fn render_error(response_name: &str, err: &ApiError, format: Format) -> String {
    render(response_name, &err.body(), format)
}

fn xml_children(v: &Value, out: &mut String) {
    if let Value::Object(m) = v {
        for (k, v) in m {
            match v {
                Value::Array(items) => {
                    for item in items {
                        xml_element(k, item, out);
                    }
                }
                _ => xml_element(k, v, out),
            }
        }
    }
}

fn xml_element(name: &str, v: &Value, out: &mut String) {
    let name = xml_name(name);
    out.push('<');
    out.push_str(&name);
    out.push('>');
    match v {
        Value::Object(_) => xml_children(v, out),
        Value::String(s) => out.push_str(&xml_text(s)),
        Value::Null => {}
        other => out.push_str(&xml_text(&other.to_string())),
    }
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

/// `name` as a safe XML element name: characters other than ASCII letters, digits, `_`,
/// `-` and `.` become `_` (so no `:`, no namespace, no markup), and a name that does not
/// start with a letter or `_` gets a `_` in front. Names from the catalog and the response
/// types are unchanged.
pub fn xml_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// `s` as XML character data: markup characters escaped, and characters XML 1.0 cannot
/// hold even escaped (controls other than tab and newlines, U+FFFE, U+FFFF) replaced by
/// U+FFFD, so the document always parses.
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_is_an_empty_object() {
        let r = Reply::List {
            object: "zone",
            count: 0,
            items: vec![],
        };
        assert_eq!(
            render("listzonesresponse", &r.body(), Format::Json),
            r#"{"listzonesresponse":{}}"#
        );
    }

    #[test]
    fn list_has_count_and_items() {
        let r = Reply::List {
            object: "zone",
            count: 7,
            items: vec![json!({"id": "a"})],
        };
        let v: Value =
            serde_json::from_str(&render("listzonesresponse", &r.body(), Format::Json)).unwrap();
        assert_eq!(v["listzonesresponse"]["count"], 7);
        assert_eq!(v["listzonesresponse"]["zone"][0]["id"], "a");
    }

    #[test]
    fn xml_repeats_list_items_and_escapes() {
        let r = Reply::List {
            object: "zone",
            count: 2,
            items: vec![json!({"name": "a<b"}), json!({"name": "c"})],
        };
        let x = render("listzonesresponse", &r.body(), Format::Xml);
        assert!(
            x.contains(
                "<count>2</count><zone><name>a&lt;b</name></zone><zone><name>c</name></zone>"
            ),
            "{x}"
        );
    }

    #[test]
    fn xml_names_from_requests_cannot_make_markup() {
        let hostile = "a xmlns:h=\"http://www.w3.org/1999/xhtml\"><h:script>alert(1)</h:script><x";
        let x = render(hostile, &json!({"errortext": "<b>"}), Format::Xml);
        assert!(!x.contains("<h:script"), "{x}");
        assert!(!x.contains("xmlns:"), "{x}");
        assert!(x.contains("&lt;b&gt;"), "{x}");
        // Keys (maps a caller filled) are names too.
        let x = render(
            "listzonesresponse",
            &json!({"zone": [{"bad key<i>": "v", "9": 1}]}),
            Format::Xml,
        );
        assert!(x.contains("<bad_key_i_>v</bad_key_i_>"), "{x}");
        assert!(x.contains("<_9>1</_9>"), "{x}");
        assert_eq!(xml_name("listzonesresponse"), "listzonesresponse");
        assert_eq!(xml_name("cloud-stack.x_1"), "cloud-stack.x_1");
    }

    #[test]
    fn xml_text_holds_only_characters_xml_allows() {
        assert_eq!(xml_text("a\u{1}b\u{FFFF}\tc"), "a\u{FFFD}b\u{FFFD}\tc");
        assert_eq!(xml_text("'\"&"), "&apos;&quot;&amp;");
    }

    #[test]
    fn async_create_receipt() {
        let j = Uuid::nil();
        let r = Reply::Job {
            jobid: j,
            id: Some(j),
        };
        assert_eq!(r.body(), json!({"id": j, "jobid": j}));
    }
}
