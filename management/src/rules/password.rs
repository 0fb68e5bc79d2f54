//! CloudStack's password policy (`password.policy.*`, per domain): minimum length and
//! counts of special characters, upper- and lowercase letters and digits, whether the
//! password may contain the username, and a regular expression it must match. Checked
//! wherever a password is set (createAccount, createUser, updateUser); every rule a
//! password breaks is named in one answer, so a user fixes it in one go.

use stratus_api::ApiError;

/// The shortest password Stratus takes whatever the policy says (its floor before the
/// policy existed; CloudStack's default policy has none).
pub const FLOOR: usize = 6;

/// The longest password hashed: more is no safer, and hashing is the costly part.
pub const MAX: usize = 1024;

/// The longest `password.policy.regex` (compiled per check).
pub const MAX_REGEX: usize = 1024;

/// One domain's policy, as its settings have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub min_length: usize,
    pub min_special: usize,
    pub min_upper: usize,
    pub min_lower: usize,
    pub min_digits: usize,
    pub allow_username: bool,
    pub regex: String,
}

impl Default for Policy {
    /// CloudStack's defaults: nothing required, any password matches `.+`.
    fn default() -> Self {
        Policy {
            min_length: 0,
            min_special: 0,
            min_upper: 0,
            min_lower: 0,
            min_digits: 0,
            allow_username: true,
            regex: ".+".into(),
        }
    }
}

/// Compiles a policy expression, bounded in size; the error says why it cannot be used.
pub fn compile(expr: &str) -> Result<regex::Regex, String> {
    if expr.len() > MAX_REGEX {
        return Err(format!("longer than {MAX_REGEX} characters"));
    }
    regex::RegexBuilder::new(expr)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("not a valid regular expression: {e}"))
}

/// Whether `password` (for the user `username`) complies with `policy`.
pub fn check(policy: &Policy, password: &str, username: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n > MAX {
        return Err(ApiError::param(format!(
            "The password is longer than {MAX} characters"
        )));
    }
    let mut broken = Vec::new();
    let min_length = policy.min_length.max(FLOOR);
    if n < min_length {
        broken.push(format!("be at least {min_length} characters long"));
    }
    let count = |f: fn(&char) -> bool| password.chars().filter(f).count();
    let rules: [(usize, usize, &str); 4] = [
        (
            policy.min_special,
            count(|c| !c.is_alphanumeric()),
            "special characters",
        ),
        (
            policy.min_upper,
            count(char::is_ascii_uppercase),
            "uppercase letters [A-Z]",
        ),
        (
            policy.min_lower,
            count(char::is_ascii_lowercase),
            "lowercase letters [a-z]",
        ),
        (
            policy.min_digits,
            count(char::is_ascii_digit),
            "digits [0-9]",
        ),
    ];
    for (min, have, what) in rules {
        if have < min {
            broken.push(format!("contain at least {min} {what}"));
        }
    }
    if !policy.allow_username
        && !username.is_empty()
        && password.to_lowercase().contains(&username.to_lowercase())
    {
        broken.push("not contain the username".into());
    }
    // An expression the setting's check refused never gets here; one that cannot be
    // compiled is no reason to refuse every password.
    if let Ok(re) = compile(&policy.regex) {
        if !re.is_match(password) {
            broken.push("match the password policy's regular expression".into());
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(ApiError::param(format!(
        "The password does not comply with the password policy: it must {}",
        broken.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_takes_any_password_past_the_floor() {
        let p = Policy::default();
        assert!(check(&p, "secret", "alice").is_ok());
        assert!(check(&p, "alice-1", "alice").is_ok());
        let e = check(&p, "short", "alice").unwrap_err();
        assert!(e.text.contains("at least 6 characters"), "{}", e.text);
        assert!(check(&p, &"x".repeat(MAX + 1), "alice").is_err());
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let p = Policy {
            min_length: 10,
            min_special: 1,
            min_upper: 2,
            min_lower: 1,
            min_digits: 3,
            allow_username: false,
            regex: "^[^ ]+$".into(),
        };
        let e = check(&p, "my alice", "Alice").unwrap_err().text;
        for part in [
            "at least 10 characters",
            "at least 2 uppercase",
            "at least 3 digits",
            "not contain the username",
            "regular expression",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        // The space counts as special; the lowercase letters are there.
        assert!(!e.contains("special"), "{e}");
        assert!(!e.contains("lowercase"), "{e}");
        assert!(check(&p, "XY!z123abcd", "alice").is_ok());
    }

    #[test]
    fn expressions_are_bounded_and_checked() {
        assert!(compile("(a+)+$").is_ok(), "linear time, so no ReDoS");
        assert!(compile("(").is_err());
        assert!(compile(&"a".repeat(MAX_REGEX + 1)).is_err());
    }
}
