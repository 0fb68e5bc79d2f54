//! Answer envelopes exactly as CloudStack's `ApiResponseSerializer` writes them: one
//! top-level key `<command>response`; lists as `{"count":N,"<object>":[...]}` (and `{}`
//! when empty); single objects wrapped in their object name; errors as
//! `ExceptionResponse`. JSON when `response=json`, otherwise XML, as CloudStack defaults.

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

/// Wraps `body` in `{"<name>": body}` and renders it.
pub fn render(response_name: &str, body: &Value, format: Format) -> String {
    match format {
        Format::Json => {
            let mut m = Map::new();
            m.insert(response_name.to_string(), body.clone());
            Value::Object(m).to_string()
        }
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            out.push_str(&format!(
                "<{response_name} cloud-stack-version=\"{CLOUDSTACK_COMPAT_VERSION}\">"
            ));
            xml_children(body, &mut out);
            out.push_str(&format!("</{response_name}>"));
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
    out.push('<');
    out.push_str(name);
    out.push('>');
    match v {
        Value::Object(_) => xml_children(v, out),
        Value::String(s) => out.push_str(&xml_escape(s)),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
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
    fn async_create_receipt() {
        let j = Uuid::nil();
        let r = Reply::Job {
            jobid: j,
            id: Some(j),
        };
        assert_eq!(r.body(), json!({"id": j, "jobid": j}));
    }
}
