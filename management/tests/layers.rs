//! The management server's layers, checked from its source (issue 17): a module imports
//! only from its own layer or the layers below, and no modules import each other in a
//! loop. docs/architecture.md ("Code map") says what each layer holds; this test is what
//! keeps the code map true.
//!
//! How it reads the code: every `crate::…` path outside comments, strings and
//! `#[cfg(test)]` modules (grouped `use crate::{a, b::{c}}` included) is resolved to the
//! longest module it names. A path from a module to one of its own ancestors (what
//! `super::` reaches) is the folder's shared vocabulary and is not counted as an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, outermost first. A module belongs to the first rule whose prefix its path
/// starts with.
const LAYERS: &[(&str, &[&str])] = &[
    ("front doors", &["front"]),
    ("commands", &["commands"]),
    ("services", &["services"]),
    ("shared state", &["ctx", "pki", "dbstatus", "guard"]),
    ("db and clients", &["db", "clients"]),
    (
        "rules and foundations",
        &[
            "rules",
            "error",
            "secrets",
            "process",
            "embedded_pg",
            "faults",
            "settings",
            "ids",
        ],
    ),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of the library: `services::vms::allocate` → its file.
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = src_dir();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|l| l == "main") {
            continue; // the binary speaks `stratus_management::`, it is the top
        }
        if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
            parts.pop();
        }
        out.insert(parts.join("::"), f);
    }
    out
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    let head = module.split("::").next().unwrap_or("");
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, prefixes))| prefixes.contains(&head))
        .map(|(i, (name, _))| (i, *name))
}

/// The source with comments, string and char literals blanked, and `#[cfg(test)]`
/// modules removed.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r' && (next == Some(b'#') || next == Some(b'"')) && !ident_before(b, i) {
            let mut hashes = 0;
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some(b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else {
                out.push('\'');
                i += 1;
                continue;
            }
            out.push_str("' '");
        } else {
            // Multi-byte UTF-8 passes through whole.
            let len = utf8_len(c);
            out.push_str(&String::from_utf8_lossy(&b[i..(i + len).min(b.len())]));
            i += len;
        }
    }
    strip_test_modules(&out)
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn strip_test_modules(code: &str) -> String {
    let mut s = code.to_string();
    while let Some(at) = s.find("#[cfg(test)]") {
        let rest = &s[at..];
        let Some(open) = rest.find('{') else { break };
        let mut depth = 0;
        let mut end = rest.len();
        for (k, ch) in rest.char_indices().skip_while(|(k, _)| *k < open) {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        s.replace_range(at..at + end, "");
    }
    s
}

/// Every `crate::` path in `code`, grouped imports expanded.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `stratus_management::`… no; `mycrate::` is not ours
        }
        expand(rest, String::new(), &mut out);
    }
    out
}

/// Reads a path (or `{…}` group) at the start of `s`, prefixed by `prefix`.
fn expand(s: &str, prefix: String, out: &mut Vec<String>) {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        let mut depth = 1;
        let mut start = 0;
        for (k, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        expand(&inner[start..k], prefix.clone(), out);
                        return;
                    }
                }
                ',' if depth == 1 => {
                    expand(&inner[start..k], prefix.clone(), out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let ident: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    let path = if prefix.is_empty() || ident == "self" {
        if ident == "self" {
            prefix.clone()
        } else {
            ident.clone()
        }
    } else {
        format!("{prefix}::{ident}")
    };
    let after = &s[ident.len()..];
    match after.strip_prefix("::") {
        Some(more) => expand(more, path, out),
        None => out.push(path),
    }
}

fn resolve<'a>(path: &str, modules: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|candidate| modules.get_key_value(&candidate).map(|(k, _)| k.as_str()))
}

fn is_ancestor(ancestor: &str, of: &str) -> bool {
    ancestor.is_empty() || of.starts_with(&format!("{ancestor}::"))
}

/// module → the modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut g = BTreeMap::new();
    for (name, file) in &modules {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let mut deps = BTreeSet::new();
        for p in crate_paths(&code) {
            if let Some(target) = resolve(&p, &modules) {
                if target != name && !is_ancestor(target, name) {
                    deps.insert(target.to_string());
                }
            }
        }
        g.insert(name.clone(), deps);
    }
    g
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = modules()
        .into_keys()
        .filter(|m| !m.is_empty() && layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules in no layer (add them to LAYERS here and to the code map in docs/architecture.md): {missing:?}"
    );
}

#[test]
fn nothing_reaches_up_a_layer() {
    let mut wrong = Vec::new();
    for (m, deps) in graph() {
        let Some((mine, my_name)) = layer_of(&m) else {
            continue;
        };
        for d in deps {
            if let Some((theirs, their_name)) = layer_of(&d) {
                if theirs < mine {
                    wrong.push(format!("{m} ({my_name}) imports {d} ({their_name})"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that reach up a layer:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn no_modules_import_each_other_in_a_loop() {
    let g = graph();
    let cycles = strongly_connected(&g);
    let shown: Vec<String> = cycles
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.sort();
            c.join(" ↔ ")
        })
        .collect();
    assert!(
        shown.is_empty(),
        "modules that import each other in a loop:\n  {}",
        shown.join("\n  ")
    );
}

/// Tarjan's algorithm: the components of more than one module.
fn strongly_connected(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The checker itself must see what it is meant to catch.
#[test]
fn the_reader_finds_grouped_imports_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{db::{self, vms::VmRow}, services::vms};\n\
         // crate::front::api in a comment\n\
         let s = \"crate::commands in a string\";\n\
         let r = r#\"crate::commands\"#;\n\
         let c = '{'; fn f<'a>(x: &'a str) { crate::error::chain(x) }\n\
         #[cfg(test)]\nmod tests { use crate::front::web; }\n",
    );
    let mut paths = crate_paths(&code);
    paths.sort();
    assert_eq!(
        paths,
        vec!["db", "db::vms::VmRow", "error::chain", "services::vms"]
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(strongly_connected(&g).len(), 1);
    assert_eq!(layer_of("services::vms::allocate").unwrap().1, "services");
    assert!(layer_of("front::web").unwrap().0 < layer_of("db::vms").unwrap().0);
}

/// Parameter reads by name that handlers still make on the raw `Params` instead of
/// their command's typed request (`commands::requests`, generated from the catalog),
/// per file of `commands/`: shared rules every command applies (whose resources,
/// paging, not-found texts, tag filters) and helpers not yet converted. A ratchet: a new
/// read by name fails here (read it through the typed request, whose getters the
/// compiler checks against the catalog); converting one lets you lower its number.
const RAW_READS_ALLOWED: &[(&str, usize)] = &[
    ("accounts.rs", 7),
    ("domains.rs", 1),
    ("hosts.rs", 4),
    ("isos.rs", 1),
    ("jobs.rs", 2),
    ("limits.rs", 6),
    ("mod.rs", 7),
    ("offerings.rs", 3),
    ("projects.rs", 7),
    ("scope.rs", 5),
    ("sharing.rs", 6),
    ("sshkeys.rs", 4),
    ("storage.rs", 5),
    ("tags.rs", 2),
    ("templates.rs", 6),
    ("userdata.rs", 3),
    ("vms.rs", 5),
    ("volumes.rs", 2),
];

#[test]
fn handlers_read_parameters_through_their_typed_request() {
    const ACCESSORS: &[&str] = &[
        "str",
        "string",
        "required",
        "uuid",
        "required_uuid",
        "uuid_list",
        "bool",
        "i64",
        "f64",
        "id",
        "required_id",
        "id_list",
        "map_entries",
        "given",
    ];
    let dir = src_dir().join("commands");
    let mut over = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "requests.rs" || !name.ends_with(".rs") {
            continue;
        }
        let code = strip_test_modules(&std::fs::read_to_string(e.path()).unwrap());
        // `.uuid("zoneid")`, `.id::<ZoneId>("zoneid")`: an accessor called with a literal.
        let mut n = 0;
        for a in ACCESSORS {
            for (i, _) in code.match_indices(&format!(".{a}")) {
                let rest = &code[i + a.len() + 1..];
                let rest = match rest.strip_prefix("::<") {
                    Some(r) => r.find(">(").map_or("", |j| &r[j + 1..]),
                    None => rest,
                };
                if rest.starts_with("(\"") {
                    n += 1;
                }
            }
        }
        let allowed = RAW_READS_ALLOWED
            .iter()
            .find(|(f, _)| *f == name)
            .map_or(0, |(_, k)| *k);
        if n > allowed {
            over.push(format!("{name}: {n} reads by name (at most {allowed})"));
        }
    }
    assert!(
        over.is_empty(),
        "handlers reading parameters by name on the raw Params; read them through the command's typed request (r.zoneid(), commands::requests):\n  {}",
        over.join("\n  ")
    );
}
