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

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::ApiError;

mod xml;

/// The version string clients see in `listCapabilities` and XML envelopes.
pub const CLOUDSTACK_COMPAT_VERSION: &str = "4.22.0.0";

/// What a command answers, before it is wrapped in its envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A page of items; `count` is the total before paging. The items stay the command's
    /// typed rows until the answer is written (see [`Rows`]).
    List {
        object: &'static str,
        count: i64,
        items: Rows,
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
    /// A page of `items` (a `Vec` of rows, moved in; a slice or `&Vec` is copied).
    pub fn list(object: &'static str, count: i64, items: impl IntoRows) -> Reply {
        Reply::List {
            object,
            count,
            items: items.into_rows(),
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
                m.insert((*object).into(), Value::Array(items.values()));
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

    /// The whole answer, `{"<response_name>": body}`, in `format`. A list is written
    /// straight from its typed rows; everything else goes through [`Reply::body`].
    pub fn render(&self, response_name: &str, format: Format) -> String {
        match self {
            Reply::List {
                object,
                count,
                items,
            } if !items.is_empty() => items
                .0
                .render(response_name, object, *count, format)
                .unwrap_or_else(|_| render(response_name, &self.body(), format)),
            _ => render(response_name, &self.body(), format),
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| json!({ "serializationerror": e.to_string() }))
}

/// A list answer's items as the command's own typed rows, behind one object-safe trait, so
/// the front door writes them as JSON or XML in one pass (a page of 500 VMs is about 1 MB
/// of text; building it as a `serde_json::Value` tree first cost an allocation per field,
/// and the answer was cloned twice on its way out). The web console and async jobs, which
/// read answers as values, ask for [`Rows::values`].
#[derive(Clone)]
pub struct Rows(Arc<dyn RowsOf>);

impl Rows {
    pub fn new<T: Serialize + Send + Sync + 'static>(items: Vec<T>) -> Rows {
        Rows(Arc::new(items))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
    /// Each item as a JSON value (what the answer's `<object>` array holds).
    pub fn values(&self) -> Vec<Value> {
        self.0.values()
    }
}

/// What [`Reply::list`] takes as its items.
pub trait IntoRows {
    fn into_rows(self) -> Rows;
}
impl<T: Serialize + Send + Sync + 'static> IntoRows for Vec<T> {
    fn into_rows(self) -> Rows {
        Rows::new(self)
    }
}
impl<T: Serialize + Clone + Send + Sync + 'static> IntoRows for &Vec<T> {
    fn into_rows(self) -> Rows {
        self.as_slice().into_rows()
    }
}
impl<T: Serialize + Clone + Send + Sync + 'static> IntoRows for &[T] {
    fn into_rows(self) -> Rows {
        Rows::new(self.to_vec())
    }
}

impl<T: Serialize + Send + Sync + 'static, const N: usize> IntoRows for [T; N] {
    fn into_rows(self) -> Rows {
        Rows::new(Vec::from(self))
    }
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.values() == other.values()
    }
}

trait RowsOf: Send + Sync {
    fn len(&self) -> usize;
    fn values(&self) -> Vec<Value>;
    /// `{"<response>":{"count":N,"<object>":[...]}}` or its XML; an error only if an item
    /// cannot be serialised at all (a map keyed by something that is not text).
    fn render(
        &self,
        response: &str,
        object: &str,
        count: i64,
        format: Format,
    ) -> Result<String, Box<dyn std::error::Error>>;
}

impl<T: Serialize + Send + Sync> RowsOf for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn values(&self) -> Vec<Value> {
        self.iter().map(to_value).collect()
    }
    fn render(
        &self,
        response: &str,
        object: &str,
        count: i64,
        format: Format,
    ) -> Result<String, Box<dyn std::error::Error>> {
        match format {
            Format::Json => {
                struct Body<'a, T> {
                    object: &'a str,
                    count: i64,
                    items: &'a [T],
                }
                impl<T: Serialize> Serialize for Body<'_, T> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        use serde::ser::SerializeMap;
                        let mut m = s.serialize_map(Some(2))?;
                        m.serialize_entry("count", &self.count)?;
                        m.serialize_entry(self.object, self.items)?;
                        m.end()
                    }
                }
                let mut out = Vec::with_capacity(256 * self.len() + 64);
                let mut w = serde_json::Serializer::new(&mut out);
                use serde::ser::{SerializeMap, Serializer as _};
                let mut m = (&mut w).serialize_map(Some(1))?;
                m.serialize_entry(
                    response,
                    &Body {
                        object,
                        count,
                        items: self,
                    },
                )?;
                m.end()?;
                Ok(String::from_utf8(out)?)
            }
            Format::Xml => {
                let mut out = String::with_capacity(512 * self.len() + 128);
                let name = xml_open(response, &mut out);
                out.push_str("<count>");
                out.push_str(&count.to_string());
                out.push_str("</count>");
                for item in self {
                    xml::element(object, item, &mut out)?;
                }
                xml_close(&name, &mut out);
                Ok(out)
            }
        }
    }
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
            let mut out = String::new();
            let name = xml_open(response_name, &mut out);
            xml_children(body, &mut out);
            xml_close(&name, &mut out);
            out
        }
    }
}

/// The XML declaration and the envelope's opening element; answers the element's name.
fn xml_open(response_name: &str, out: &mut String) -> String {
    let name = xml_name(response_name);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    out.push_str(&format!(
        "<{name} cloud-stack-version=\"{CLOUDSTACK_COMPAT_VERSION}\">"
    ));
    name
}

fn xml_close(name: &str, out: &mut String) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
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
            items: Rows::new(Vec::<Value>::new()),
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
            items: Rows::new(vec![json!({"id": "a"})]),
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
            items: Rows::new(vec![json!({"name": "a<b"}), json!({"name": "c"})]),
        };
        let x = render("listzonesresponse", &r.body(), Format::Xml);
        assert!(
            x.contains(
                "<count>2</count><zone><name>a&lt;b</name></zone><zone><name>c</name></zone>"
            ),
            "{x}"
        );
    }

    /// Fields declared in alphabetical order, so the typed rows' XML (declaration order)
    /// and the `Value` path's (a sorted map) must be the same bytes.
    #[derive(Clone, Serialize)]
    struct Row {
        a_float: f64,
        b_none: Option<String>,
        c_some: Option<i64>,
        d_list: Vec<Inner>,
        e_map: std::collections::BTreeMap<u32, String>,
        f_state: State,
        g_flag: bool,
        h_text: String,
        i_empty: Vec<Inner>,
        j_nan: f64,
        k_value: Value,
        l_inner: Inner,
    }
    #[derive(Clone, Serialize)]
    struct Inner {
        key: String,
        value: u64,
    }
    #[derive(Clone, Serialize)]
    enum State {
        Running,
    }

    fn rows() -> Vec<Row> {
        let row = |n: u64| Row {
            a_float: 1.0,
            b_none: None,
            c_some: Some(-3),
            d_list: vec![
                Inner {
                    key: "k<&>".into(),
                    value: n,
                },
                Inner {
                    key: "\u{1}'\"".into(),
                    value: 0,
                },
            ],
            e_map: [(7, "seven".to_string())].into(),
            f_state: State::Running,
            g_flag: n.is_multiple_of(2),
            h_text: format!("row {n} <b>"),
            i_empty: vec![],
            j_nan: f64::NAN,
            k_value: json!({"x": [1, {"y": null}], "bad key": 2.5}),
            l_inner: Inner {
                key: String::new(),
                value: u64::MAX,
            },
        };
        vec![row(1), row(2)]
    }

    #[test]
    fn typed_rows_render_what_their_values_render() {
        let r = Reply::list("thing", 9, rows());
        let Reply::List { items, .. } = &r else {
            panic!("{r:?}")
        };
        for format in [Format::Json, Format::Xml] {
            // Straight from the rows, not the fallback through values `render` has.
            let streamed = items
                .0
                .render("listthingsresponse", "thing", 9, format)
                .unwrap();
            let through_values = render("listthingsresponse", &r.body(), format);
            match format {
                Format::Json => assert_eq!(
                    serde_json::from_str::<Value>(&streamed).unwrap(),
                    serde_json::from_str::<Value>(&through_values).unwrap()
                ),
                Format::Xml => assert_eq!(streamed, through_values),
            }
        }
        let x = r.render("listthingsresponse", Format::Xml);
        assert!(
            x.contains("<count>9</count><thing><a_float>1.0</a_float><b_none></b_none>"),
            "{x}"
        );
        assert!(
            x.contains("<d_list><key>k&lt;&amp;&gt;</key><value>1</value></d_list><d_list>"),
            "{x}"
        );
        assert!(
            x.contains("<e_map><_7>seven</_7></e_map><f_state>Running</f_state>"),
            "{x}"
        );
        assert!(x.contains("<key>\u{FFFD}&apos;&quot;</key>"), "{x}");
        assert!(x.contains("<j_nan></j_nan>"), "{x}");
        assert!(
            x.contains("<k_value><bad_key>2.5</bad_key><x>1</x><x><y></y></x></k_value>"),
            "{x}"
        );
        // An empty page is `{}` whichever way it is written.
        let empty = Reply::list("thing", 0, Vec::<Row>::new());
        assert_eq!(empty.render("r", Format::Json), r#"{"r":{}}"#);
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
