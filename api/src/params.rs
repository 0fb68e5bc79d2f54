//! Request parameters as CloudStack's dispatcher sees them: names bound case-sensitively,
//! the first value of a repeated name wins, booleans follow Java's `Boolean.valueOf`, and
//! every declared parameter is type-checked before a handler runs. Parameter errors use
//! CloudStack's own texts, which some clients match on (Terraform's idempotent delete).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::command::{CommandSpec, ParamType, UNDECLARED_MAX_LENGTH};
use crate::error::{ApiError, ApiResult};

/// Parameters that belong to the transport, not to any command.
pub const TRANSPORT_PARAMS: &[&str] = &[
    "command",
    "apiKey",
    "apikey",
    "signature",
    "signatureVersion",
    "signatureversion",
    "expires",
    "response",
    "sessionkey",
    "_",
    "ctxAccountId",
    "ctxUserId",
    "ctxStartEventId",
    "ctxDetails",
    "uuid",
    "httpmethod",
];

#[derive(Debug, Default)]
pub struct Params {
    command: String,
    map: BTreeMap<String, String>,
    /// The names a handler asked for (through any accessor), so the dispatcher can tell a
    /// parameter the handler never consulted from one it used: see [`Params::unread`].
    read: Mutex<BTreeSet<String>>,
}

impl Clone for Params {
    fn clone(&self) -> Self {
        Params {
            command: self.command.clone(),
            map: self.map.clone(),
            read: Mutex::new(self.read_set().clone()),
        }
    }
}

/// `page`/`pagesize` resolved: `limit == None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: Option<i64>,
}

impl Params {
    /// Builds from raw pairs in arrival order; the first value of a repeated name wins.
    pub fn from_pairs(command: &str, pairs: &[(String, String)]) -> Self {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Params {
            command: command.to_string(),
            map,
            read: Mutex::default(),
        }
    }

    /// For callers (the UI, tests) that build a command in code.
    pub fn new(command: &str) -> Self {
        Params {
            command: command.to_string(),
            map: BTreeMap::new(),
            read: Mutex::default(),
        }
    }

    pub fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.map.insert(name.to_string(), value.to_string());
        self
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }

    /// Non-transport parameters, for persisting an async job's request.
    pub fn to_json(&self) -> serde_json::Value {
        self.map
            .iter()
            .filter(|(k, _)| !TRANSPORT_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    pub fn from_json(command: &str, v: &serde_json::Value) -> Self {
        let mut p = Params::new(command);
        if let Some(o) = v.as_object() {
            for (k, v) in o {
                if let Some(s) = v.as_str() {
                    p.map.insert(k.clone(), s.to_string());
                }
            }
        }
        p
    }

    /// The raw value; an empty value counts as absent, as in CloudStack. Every typed
    /// accessor goes through here, which records that the handler consulted `name`.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.mark_read(name);
        self.raw(name)
    }

    /// Whether `name` was sent at all, even empty (an empty value clears a field in some
    /// update commands). Counts as consulting it.
    pub fn given(&self, name: &str) -> bool {
        self.mark_read(name);
        self.map.contains_key(name)
    }

    /// Records that the handler consulted `name` though it needs no value from it: a
    /// parameter that is correctly without effect for this caller or this request (a
    /// user's `listall`, which can only show their own resources anyway). Use sparingly:
    /// it is the one way to tell the unread-parameter check "this was considered".
    pub fn mark_read(&self, name: &str) {
        let mut read = self.read_set();
        if !read.contains(name) {
            read.insert(name.to_string());
        }
    }

    fn read_set(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // A poisoned set is still a set of names.
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value without recording a read (validation, logging).
    fn raw(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    /// The value of a declared parameter; for a map (`details[0].key=v`), its first
    /// non-empty entry.
    fn present(&self, p: &crate::command::ParamSpec) -> Option<&str> {
        if p.kind == ParamType::Map {
            let prefix = format!("{}[", p.name);
            if let Some(v) = self
                .map
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v.as_str())
                .find(|v| !v.is_empty())
            {
                return Some(v);
            }
        }
        self.raw(p.name)
    }

    /// The parameters `spec` declares that came with a value yet the handler never
    /// consulted: what it would have silently ignored. The dispatcher calls this after a
    /// handler succeeded (see `commands::execute`). Refused parameters never get this
    /// far with a value that asks for something (a refused boolean given `false` asks for
    /// nothing, so it needs no reading); undeclared extras are CloudStack's "unknown
    /// parameter" (logged, ignored).
    pub fn unread(&self, spec: &CommandSpec) -> Vec<&'static str> {
        let read = self.read_set();
        spec.params
            .iter()
            .filter(|p| p.refused.is_none())
            .filter(|p| self.present(p).is_some() && !read.contains(p.name))
            .map(|p| p.name)
            .collect()
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_string)
    }

    pub fn required(&self, name: &str) -> ApiResult<&str> {
        self.str(name)
            .ok_or_else(|| missing_param(&self.command, name))
    }

    pub fn uuid(&self, name: &str) -> ApiResult<Option<Uuid>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => Uuid::parse_str(v)
                .map(Some)
                .map_err(|_| invalid_param(&self.command, name, v)),
        }
    }

    pub fn required_uuid(&self, name: &str) -> ApiResult<Uuid> {
        self.uuid(name)?
            .ok_or_else(|| missing_param(&self.command, name))
    }

    /// Comma-separated UUIDs (`ids`).
    pub fn uuid_list(&self, name: &str) -> ApiResult<Option<Vec<Uuid>>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => v
                .split(',')
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(|s| Uuid::parse_str(s).map_err(|_| invalid_param(&self.command, name, s)))
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
        }
    }

    /// A map parameter (`tags[0].key=k&tags[0].value=v`, CloudStack's `CommandType.MAP`):
    /// its entries in index order, each a field → value map (field names lower-cased, as
    /// CloudStack reads them). Records the read of `name`.
    pub fn map_entries(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.mark_read(name);
        let prefix = format!("{name}[");
        let mut by_index: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            if let Some((index, field)) = rest.split_once("].") {
                by_index
                    .entry(index)
                    .or_default()
                    .insert(field.to_ascii_lowercase(), v.clone());
            }
        }
        by_index.into_values().collect()
    }

    /// Java `Boolean.valueOf`: any case of "true" is true, anything else false.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.str(name).map(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn i64(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| invalid_number(&self.command, name, v)),
        }
    }

    pub fn f64(&self, name: &str) -> ApiResult<Option<f64>> {
        match self.str(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| invalid_number(&self.command, name, v)),
        }
    }

    /// CloudStack's `BaseListCmd` paging: 1-based `page`, `pagesize` at most
    /// `default.page.size`; `pagesize=-1` means unlimited and forbids `page`; one without
    /// the other is an error. Without either, a list is capped at `default.page.size`
    /// (its `count` still tells the total, so clients know to page).
    pub fn page(&self, default_page_size: i64) -> ApiResult<Page> {
        let page = self.i64("page")?;
        let size = self.i64("pagesize")?;
        match (page, size) {
            (None, None) => Ok(Page {
                offset: 0,
                limit: Some(default_page_size),
            }),
            (Some(_), None) => Err(ApiError::param(
                "\"pagesize\" parameter is required when \"page\" is specified",
            )),
            (None, Some(-1)) => Ok(Page {
                offset: 0,
                limit: None,
            }),
            (Some(_), Some(-1)) => Err(ApiError::param(
                "Can't specify page parameter when pagesize is -1 (Unlimited)",
            )),
            (None, Some(_)) => Err(ApiError::param(
                "\"page\" parameter is required when \"pagesize\" is specified",
            )),
            (Some(p), Some(s)) => {
                if s < 1 {
                    return Err(ApiError::param(
                        "Page size can't be 0 or a negative value other than -1",
                    ));
                }
                if s > default_page_size {
                    return Err(ApiError::param(format!(
                        "Page size can't exceed max allowed page size value: {default_page_size}"
                    )));
                }
                if p < 1 {
                    return Err(ApiError::param(
                        "Page number can't be 0 or a negative value",
                    ));
                }
                // `page` is a 32-bit integer in CloudStack; and the offset must fit too.
                let offset = i32::try_from(p)
                    .ok()
                    .and_then(|p| i64::from(p - 1).checked_mul(s))
                    .ok_or_else(|| invalid_number(&self.command, "page", &p.to_string()))?;
                Ok(Page {
                    offset,
                    limit: Some(s),
                })
            }
        }
    }

    /// Checks every parameter against `spec` before a handler runs, with CloudStack's 431:
    /// presence of required ones; the format of UUIDs, numbers (in their type's range:
    /// `integer` is 32 bits, `short` 16) and dates; the length limit of each
    /// ([`crate::command::ParamSpec::max_len`], 255 unless the catalog's table says more;
    /// [`UNDECLARED_MAX_LENGTH`](crate::command::UNDECLARED_MAX_LENGTH) for parameters it
    /// does not declare); and control characters: refused everywhere except line breaks
    /// and tabs in long free-text values, so names are always one line.
    pub fn validate(&self, spec: &CommandSpec) -> ApiResult<()> {
        // Checking a value's format is not the handler consulting it.
        self.unrecorded(|p| p.check(spec))
    }

    /// Runs `f` without recording what it reads: parsing a request into its typed form
    /// (`commands::requests`) or checking it is not the handler consulting a parameter;
    /// the typed request's getters record the read when the handler asks.
    pub fn unrecorded<R>(&self, f: impl FnOnce(&Self) -> R) -> R {
        let before = self.read_set().clone();
        let r = f(self);
        *self.read_set() = before;
        r
    }

    fn check(&self, spec: &CommandSpec) -> ApiResult<()> {
        for (k, v) in &self.map {
            let declared = spec.param(k);
            let multiline = declared.is_some_and(|p| p.multiline());
            if v.chars()
                .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
            {
                return Err(ApiError::param(format!(
                    "Received value {} for parameter {} is invalid, contains illegal ASCII non-printable characters",
                    shown(v),
                    shown(k)
                )));
            }
            let max = declared.map_or(UNDECLARED_MAX_LENGTH, |p| p.max_len());
            if v.chars().count() > max as usize {
                return Err(ApiError::param_processing(format!(
                    "Unable to execute API command {} due to invalid value. Value greater than max allowed length {max} for param: {}",
                    self.command.to_lowercase(),
                    shown(k)
                )));
            }
        }
        for p in spec.params {
            if p.required && self.present(p).is_none() {
                return Err(missing_param(&self.command, p.name));
            }
            let Some(v) = self.present(p) else { continue };
            if let Some(why) = p.refused {
                // A boolean asks for the feature only when true; `false` asks for nothing.
                if p.kind != ParamType::Boolean || v.eq_ignore_ascii_case("true") {
                    return Err(refused(&self.command, p.name, why));
                }
            }
            let range = |lo: i64, hi: i64| -> ApiResult<()> {
                match self.i64(p.name)? {
                    Some(n) if n < lo || n > hi => Err(invalid_number(&self.command, p.name, v)),
                    _ => Ok(()),
                }
            };
            match p.kind {
                // CloudStack's lists take `projectid=-1`: every project the caller is a
                // member of (the handler reads it with `project_filter`).
                ParamType::Uuid if p.name == "projectid" && v == "-1" => {}
                ParamType::Uuid => {
                    self.uuid(p.name)?;
                }
                ParamType::Long => range(i64::MIN, i64::MAX)?,
                ParamType::Integer => range(i32::MIN.into(), i32::MAX.into())?,
                ParamType::Short => range(i16::MIN.into(), i16::MAX.into())?,
                ParamType::Float => {
                    self.f64(p.name)?;
                }
                ParamType::List if p.list_of_uuids => {
                    self.uuid_list(p.name)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A value as an error text may echo it: control characters escaped, and cut to
/// [`ECHO_MAX`] characters, so a huge or hostile value neither bloats the answer (and its
/// `X-Description` header) nor breaks it. Ids and names of normal size come back whole,
/// which clients match on.
pub fn shown(v: &str) -> String {
    let mut out: String = v.chars().take(ECHO_MAX).collect::<String>();
    if out.len() < v.len() {
        out.push('…');
    }
    if out.chars().any(char::is_control) {
        out = out.escape_debug().to_string();
    }
    out
}

/// The most characters of a value an error text echoes.
pub const ECHO_MAX: usize = 100;

pub fn missing_param(command: &str, name: &str) -> ApiError {
    ApiError::param_processing(format!(
        "Unable to execute API command {} due to missing parameter {}",
        command.to_lowercase(),
        shown(name)
    ))
}

/// The text CloudStack uses for a malformed id and for an id that names nothing.
pub fn invalid_param(command: &str, name: &str, value: &str) -> ApiError {
    ApiError::param_processing(format!(
        "Unable to execute API command {} due to invalid value. Invalid parameter {} value={} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.",
        command.to_lowercase(),
        shown(name),
        shown(value)
    ))
}

/// A parameter the catalog marks unsupported ([`crate::command::ParamSpec::refused`]).
pub fn refused(command: &str, name: &str, why: &str) -> ApiError {
    ApiError::param(format!(
        "Unable to execute API command {}: parameter {} is not supported by Stratus: {why}",
        command.to_lowercase(),
        shown(name)
    ))
}

fn invalid_number(command: &str, name: &str, value: &str) -> ApiError {
    ApiError::param_processing(format!(
        "Unable to execute API command {} due to invalid value {} for parameter {}",
        command.to_lowercase(),
        shown(value),
        shown(name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Params::from_pairs("listZones", &v)
    }

    #[test]
    fn first_value_wins_and_empty_is_absent() {
        let p = params(&[("name", "a"), ("name", "b"), ("keyword", "")]);
        assert_eq!(p.str("name"), Some("a"));
        assert_eq!(p.str("keyword"), None);
    }

    #[test]
    fn booleans_follow_java() {
        let p = params(&[("a", "True"), ("b", "yes"), ("c", "TRUE")]);
        assert_eq!(p.bool("a"), Some(true));
        assert_eq!(p.bool("b"), Some(false));
        assert_eq!(p.bool("c"), Some(true));
        assert_eq!(p.bool("d"), None);
    }

    #[test]
    fn paging_rules() {
        assert_eq!(
            params(&[]).page(500).unwrap(),
            Page {
                offset: 0,
                limit: Some(500)
            }
        );
        assert_eq!(
            params(&[("page", "3"), ("pagesize", "10")])
                .page(500)
                .unwrap(),
            Page {
                offset: 20,
                limit: Some(10)
            }
        );
        assert_eq!(
            params(&[("pagesize", "-1")]).page(500).unwrap(),
            Page {
                offset: 0,
                limit: None
            }
        );
        for bad in [
            vec![("page", "1")],
            vec![("pagesize", "10")],
            vec![("page", "1"), ("pagesize", "-1")],
            vec![("page", "0"), ("pagesize", "10")],
            vec![("page", "1"), ("pagesize", "501")],
            vec![("page", "x"), ("pagesize", "10")],
            vec![("page", "9223372036854775807"), ("pagesize", "500")],
            vec![("page", "99999999999999999999"), ("pagesize", "500")],
            vec![("page", "-9223372036854775808"), ("pagesize", "500")],
        ] {
            let e = params(&bad).page(500).unwrap_err();
            assert_eq!(e.code.http_status(), 431, "{bad:?}");
        }
    }

    #[test]
    fn the_largest_32_bit_page_has_an_offset() {
        let p = params(&[("page", "2147483647"), ("pagesize", "500")])
            .page(500)
            .unwrap();
        assert_eq!(p.offset, 2147483646 * 500);
    }

    fn spec(params: &'static [crate::command::ParamSpec]) -> CommandSpec {
        CommandSpec {
            params,
            ..*crate::command::find("listZones").unwrap()
        }
    }

    #[test]
    fn lengths_and_ranges_are_enforced_centrally() {
        let create_zone = crate::command::find("createZone").unwrap();
        let long = "x".repeat(10_000);
        let e = Params::from_pairs(
            "createZone",
            &[
                ("name".into(), long.clone()),
                ("dns1".into(), "8.8.8.8".into()),
            ],
        )
        .validate(create_zone)
        .unwrap_err();
        assert_eq!(e.code.http_status(), 431);
        assert!(
            e.text.contains("max allowed length 255 for param: name"),
            "{}",
            e.text
        );
        // An undeclared parameter has a limit too.
        let e = Params::from_pairs("createZone", &[("details[0].x".into(), long)])
            .validate(create_zone)
            .unwrap_err();
        assert!(e.text.contains("max allowed length 4096"), "{}", e.text);
        // A name is one line; a long free text may hold line breaks.
        let reg = crate::command::find("registerIso").unwrap();
        let e = Params::from_pairs("registerIso", &[("name".into(), "a\nb".into())])
            .validate(reg)
            .unwrap_err();
        assert!(e.text.contains("non-printable"), "{}", e.text);
        let ok = Params::from_pairs(
            "registerIso",
            &[
                ("name".into(), "a".into()),
                ("url".into(), "http://x/".into()),
                ("zoneid".into(), "-1".into()),
                ("displaytext".into(), "line 1\nline 2".into()),
            ],
        );
        ok.validate(reg).unwrap();
        // 32-bit integers.
        static INT: [crate::command::ParamSpec; 1] = [crate::command::ParamSpec {
            name: "n",
            kind: ParamType::Integer,
            required: false,
            description: "",
            length: None,
            list_of_uuids: false,
            refused: None,
        }];
        let s = spec(&INT);
        let p = |v: &str| Params::from_pairs("listZones", &[("n".into(), v.into())]);
        p("2147483647").validate(&s).unwrap();
        assert_eq!(
            p("2147483648").validate(&s).unwrap_err().code.http_status(),
            431
        );
    }

    #[test]
    fn refused_parameters_and_read_tracking() {
        let deploy = crate::command::find("deployVirtualMachine").unwrap();
        let base = [
            ("zoneid", "5b1c3c7e-0000-4000-8000-000000000001"),
            ("serviceofferingid", "5b1c3c7e-0000-4000-8000-000000000002"),
            ("templateid", "5b1c3c7e-0000-4000-8000-000000000003"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let v: Vec<(String, String)> = base
                .iter()
                .chain(extra)
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            Params::from_pairs("deployVirtualMachine", &v)
        };
        // A refused parameter with a value, a refused map by any entry.
        for extra in [
            ("affinitygroupids", "5b1c3c7e-0000-4000-8000-000000000004"),
            ("details[0].cpuNumber", "2"),
            ("dynamicscalingenabled", "TRUE"),
        ] {
            let e = with(&[extra]).validate(deploy).unwrap_err();
            assert_eq!(e.code.http_status(), 431);
            let name = extra.0.split('[').next().unwrap();
            assert!(
                e.text
                    .contains(&format!("parameter {name} is not supported by Stratus")),
                "{}",
                e.text
            );
        }
        // Empty values are absent; a boolean refuses only `true`.
        with(&[("affinitygroupids", ""), ("dynamicscalingenabled", "false")])
            .validate(deploy)
            .unwrap();
        // ... and a refused boolean given `false` asks for nothing: no handler reads it.
        assert!(!with(&[("dynamicscalingenabled", "false")])
            .unread(deploy)
            .contains(&"dynamicscalingenabled"));
        // Validation reads nothing; handlers' reads are recorded, also by typed accessors.
        let p = with(&[("startvm", "false"), ("name", "web")]);
        p.validate(deploy).unwrap();
        assert_eq!(
            p.unread(deploy),
            [
                "serviceofferingid",
                "zoneid",
                "templateid",
                "name",
                "startvm"
            ]
        );
        p.uuid("zoneid").unwrap();
        p.bool("startvm");
        p.mark_read("name");
        assert_eq!(p.unread(deploy), ["serviceofferingid", "templateid"]);
        // Maps come back by index, field names lower-cased.
        let v: Vec<(String, String)> = [
            ("tags[1].key", "b"),
            ("tags[0].Key", "a"),
            ("tags[0].value", "1"),
            ("tagsx", "no"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let m = Params::from_pairs("createTags", &v).map_entries("tags");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["key"], "a");
        assert_eq!(m[0]["value"], "1");
        assert_eq!(m[1]["key"], "b");
    }

    #[test]
    fn echoed_values_are_bounded_and_escaped() {
        let e = invalid_param("listZones", "id", &"z".repeat(5000));
        assert!(e.text.len() < 600, "{}", e.text.len());
        assert!(shown("a\u{7}").contains("\\u{7}"));
        assert_eq!(shown("ok"), "ok");
    }

    #[test]
    fn invalid_uuid_uses_cloudstack_text() {
        let e = params(&[("id", "nope")]).uuid("id").unwrap_err();
        assert!(e.text.contains("Invalid parameter id value=nope due to incorrect long value format, or entity does not exist"));
    }
}
