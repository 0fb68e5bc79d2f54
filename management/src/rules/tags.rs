//! Host and storage tags, as CloudStack has them: a host carries host tags, a primary
//! pool storage tags; a service offering asks for host tags (its VMs' hosts) and storage
//! tags (their root volumes' pools), a disk offering for storage tags (its volumes'
//! pools). A resource fits when it carries **every** tag asked for.
//!
//! Tags are given comma-separated (`hosttags=ssd,gpu`); blanks around them are dropped,
//! empty items ignored, and a tag given twice (in any case) counts once. They compare
//! without regard to ASCII case, as CloudStack's (MySQL, case-insensitive collation)
//! lookups do, and are kept as first spelled. Every value is bounded so a request cannot
//! make a huge row or answer: at most [`MAX_TAGS`] tags of at most [`MAX_TAG_LEN`]
//! characters, printable, without commas (the list separator).

/// The most tags one host, pool or offering carries.
pub const MAX_TAGS: usize = 64;
/// The longest tag, in characters (CloudStack's `varchar(255)` tag columns).
pub const MAX_TAG_LEN: usize = 255;

use stratus_api::ApiError;

/// Parses the comma-separated list given as parameter `param` into its tags (first
/// spelling kept, duplicates dropped), refusing (431, naming `param`) a list past the
/// bounds. `""` is the empty list.
pub fn parse(param: &str, list: &str) -> Result<Vec<String>, ApiError> {
    let refuse = |why: String| ApiError::param(format!("Invalid {param}: {why}"));
    let mut tags: Vec<String> = Vec::new();
    for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if t.chars().any(char::is_control) {
            return Err(refuse("a tag contains a control character".into()));
        }
        if t.chars().count() > MAX_TAG_LEN {
            return Err(refuse(format!(
                "a tag is longer than {MAX_TAG_LEN} characters"
            )));
        }
        if !has(&tags, t) {
            tags.push(t.to_string());
        }
        if tags.len() > MAX_TAGS {
            return Err(refuse(format!(
                "more than {MAX_TAGS} tags; at most {MAX_TAGS} are allowed"
            )));
        }
    }
    Ok(tags)
}

/// A stored list (an offering's comma-separated column, written before the bounds
/// existed): parsed without refusing anything, so placement always knows what is asked.
pub fn parse_stored(list: Option<&str>) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for t in list
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if !tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            tags.push(t.to_string());
        }
    }
    tags
}

/// The wire form: comma-joined, `None` for no tags (CloudStack omits the field).
pub fn join(tags: &[String]) -> Option<String> {
    (!tags.is_empty()).then(|| tags.join(","))
}

/// Whether `have` holds `tag` (ASCII case ignored).
pub fn has(have: &[String], tag: &str) -> bool {
    have.iter().any(|x| x.eq_ignore_ascii_case(tag))
}

/// Whether a resource carrying `have` fits a request for `want`: every wanted tag is
/// there (no tags wanted: anything fits; extra tags do not matter).
pub fn carries(have: &[String], want: &[String]) -> bool {
    want.iter().all(|t| has(have, t))
}

/// `want` together with `more`, each tag once (the root volume asks for its service
/// offering's storage tags and, when a disk offering sized it, that offering's tags).
pub fn union(want: &[String], more: &[String]) -> Vec<String> {
    let mut all = want.to_vec();
    for t in more {
        if !has(&all, t) {
            all.push(t.clone());
        }
    }
    all
}

/// Why no resource among `candidates` (each one's tags) fits `want`, for an error text
/// about `kind` tags ("host", "storage"): the wanted tags none of them carries at all;
/// when each is somewhere but never all together, that. `None` when one fits.
pub fn unmatched<'a>(
    kind: &str,
    candidates: impl IntoIterator<Item = &'a [String]>,
    want: &[String],
) -> Option<String> {
    if want.is_empty() {
        return None;
    }
    let candidates: Vec<&[String]> = candidates.into_iter().collect();
    if candidates.iter().any(|have| carries(have, want)) {
        return None;
    }
    let nowhere: Vec<&str> = want
        .iter()
        .filter(|t| !candidates.iter().any(|have| has(have, t)))
        .map(String::as_str)
        .collect();
    Some(match nowhere.len() {
        0 => format!(
            "all of the {kind} tags {} together",
            quoted(want.iter().map(String::as_str))
        ),
        1 => format!("the {kind} tag {}", quoted(nowhere)),
        _ => format!("the {kind} tags {}", quoted(nowhere)),
    })
}

fn quoted<'a>(tags: impl IntoIterator<Item = &'a str>) -> String {
    tags.into_iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn parse_trims_drops_empties_and_duplicates_keeping_the_first_spelling() {
        assert_eq!(
            parse("hosttags", " ssd, GPU,,ssd ,gpu,").unwrap(),
            v(&["ssd", "GPU"])
        );
        assert_eq!(parse("tags", "").unwrap(), Vec::<String>::new());
        assert_eq!(parse("tags", " , ,").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn parse_bounds_count_length_and_bytes() {
        let refused = |list: &str| {
            let e = parse("hosttags", list).unwrap_err();
            assert_eq!(e.code, stratus_api::ErrorCode::ParamError);
            assert!(e.text.starts_with("Invalid hosttags: "), "{}", e.text);
            e.text
        };
        let max: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(parse("t", &max.join(",")).unwrap().len(), MAX_TAGS);
        let over: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(refused(&over.join(",")).contains("at most 64"));
        // Duplicates do not count against the bound.
        let dup = vec!["same"; 500].join(",");
        assert_eq!(parse("t", &dup).unwrap(), v(&["same"]));
        assert_eq!(parse("t", &"é".repeat(MAX_TAG_LEN)).unwrap().len(), 1);
        assert!(refused(&"x".repeat(MAX_TAG_LEN + 1)).contains("longer than 255"));
        assert!(refused("ok,bad\u{7}").contains("control character"));
    }

    #[test]
    fn stored_lists_parse_leniently() {
        assert_eq!(parse_stored(Some("a, b,A")), v(&["a", "b"]));
        assert_eq!(parse_stored(None), Vec::<String>::new());
    }

    #[test]
    fn carries_every_wanted_tag_ignoring_case() {
        let have = v(&["SSD", "gpu", "extra"]);
        assert!(carries(&have, &v(&["ssd"])));
        assert!(carries(&have, &v(&["ssd", "GPU"])));
        assert!(carries(&have, &[]), "no tags wanted: anything fits");
        assert!(carries(&[], &[]));
        assert!(!carries(&have, &v(&["ssd", "nvme"])), "one missing: no fit");
        assert!(
            !carries(&[], &v(&["ssd"])),
            "an untagged resource never fits a tag"
        );
    }

    #[test]
    fn union_keeps_each_tag_once() {
        assert_eq!(union(&v(&["a", "b"]), &v(&["B", "c"])), v(&["a", "b", "c"]));
    }

    #[test]
    fn unmatched_says_which_tags_nobody_has() {
        let a = v(&["ssd"]);
        let b = v(&["gpu"]);
        let sets = [a.as_slice(), b.as_slice()];
        assert_eq!(unmatched("host", sets, &v(&["ssd"])), None);
        assert_eq!(
            unmatched("host", sets, &v(&["ssd", "nvme"])).unwrap(),
            "the host tag 'nvme'"
        );
        assert_eq!(
            unmatched("storage", sets, &v(&["x", "y"])).unwrap(),
            "the storage tags 'x', 'y'"
        );
        assert_eq!(
            unmatched("host", sets, &v(&["ssd", "gpu"])).unwrap(),
            "all of the host tags 'ssd', 'gpu' together"
        );
        assert_eq!(
            unmatched("host", [], &v(&["z"])).unwrap(),
            "the host tag 'z'"
        );
        assert_eq!(
            unmatched("host", [], &[]),
            None,
            "nothing wanted: nothing missing"
        );
        assert_eq!(join(&[]), None);
        assert_eq!(join(&v(&["a", "b"])).as_deref(), Some("a,b"));
    }
}
