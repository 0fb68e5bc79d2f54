//! The domain tree (issue 22): CloudStack's paths (`ROOT`, `ROOT/customers/acme`), what a
//! domain may be called, and who sits under whom. A path is the one key of the tree:
//! subtree queries, domain admins' reach and limits up the chain all read it, so the
//! rules that build and compare paths live here, once.

use stratus_api::ApiError;

/// The deepest a domain may sit (ROOT is level 0). CloudStack sets no bound; one is needed
/// so that a path, and the chain of ancestors every allocation checks, stay small.
pub const MAX_LEVEL: i32 = 16;

/// The longest domain name CloudStack's `domain.name` column holds.
pub const MAX_NAME: usize = 255;

/// A new or changed domain name, trimmed. It becomes one segment of every path below it,
/// so `/` cannot be part of it, and neither can control characters.
pub fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::param("The domain name cannot be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::param(format!(
            "The domain name is longer than {MAX_NAME} characters"
        )));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(ApiError::param(
            "Domain name cannot contain '/' or control characters",
        ));
    }
    Ok(name.to_string())
}

/// The path of a child called `name` under `parent`.
pub fn child_path(parent: &str, name: &str) -> String {
    format!("{parent}/{name}")
}

/// Whether `path` is `ancestor` or lies below it. Compares whole segments: `ROOT/ab` is not
/// under `ROOT/a`.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    path == ancestor
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_cannot_hold_a_separator() {
        assert_eq!(valid_name("  acme ").unwrap(), "acme");
        assert!(valid_name("a/b").is_err());
        assert!(valid_name("   ").is_err());
        assert!(valid_name("a\nb").is_err());
        assert!(valid_name(&"x".repeat(256)).is_err());
        assert_eq!(valid_name(&"é".repeat(255)).unwrap().chars().count(), 255);
    }

    #[test]
    fn within_compares_whole_segments() {
        assert!(is_within("ROOT/a", "ROOT"));
        assert!(is_within("ROOT/a/b", "ROOT/a"));
        assert!(is_within("ROOT/a", "ROOT/a"));
        assert!(!is_within("ROOT/ab", "ROOT/a"));
        assert!(!is_within("ROOT", "ROOT/a"));
        assert!(!is_within("ROOTS", "ROOT"));
    }

    #[test]
    fn a_child_path_appends_a_segment() {
        assert_eq!(child_path("ROOT/a", "b c"), "ROOT/a/b c");
    }
}
