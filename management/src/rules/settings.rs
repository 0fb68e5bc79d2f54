//! Setting values are typed; `updateConfiguration` refuses a value its type cannot hold,
//! so a typo never reaches the code that reads the setting. What each setting accepts
//! beyond its type (ranges, formats) is in the registry, `crate::settings`.

use stratus_api::ApiError;

pub fn validate_value(name: &str, value_type: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let bad = |what: &str| {
        ApiError::param(format!(
            "Value '{value}' is not valid for configuration {name}: it must be {what}"
        ))
    };
    match value_type {
        "Integer" => v
            .parse::<i32>()
            .map(|n| n.to_string())
            .map_err(|_| bad("an integer")),
        "Long" => v
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| bad("an integer")),
        "Float" => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|_| v.to_string())
            .ok_or_else(|| bad("a number")),
        "Boolean" => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(v.to_ascii_lowercase()),
            _ => Err(bad("true or false")),
        },
        _ => Ok(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values() {
        assert_eq!(validate_value("a", "Integer", " 42 ").unwrap(), "42");
        assert!(validate_value("a", "Integer", "4.2").is_err());
        assert_eq!(validate_value("a", "Boolean", "TRUE").unwrap(), "true");
        assert!(validate_value("a", "Boolean", "yes")
            .unwrap_err()
            .text
            .contains("true or false"));
        assert!(validate_value("a", "Float", "NaN").is_err());
        assert_eq!(validate_value("a", "Float", "2.5").unwrap(), "2.5");
        assert_eq!(validate_value("a", "String", " x ").unwrap(), " x ");
    }
}
