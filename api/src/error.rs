//! CloudStack's error model: an HTTP status that doubles as `errorcode`, plus the
//! Java exception family as `cserrorcode`. Every failure a client sees is one of these,
//! so clients (cs, libcloud, Ansible, cmk) can branch on the same codes they know.

use serde::Serialize;

/// `ApiErrorCode` in apache/cloudstack: the HTTP status of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    Unauthorized,
    MethodNotAllowed,
    ApiLimitExceeded,
    MalformedParameter,
    ParamError,
    UnsupportedAction,
    Internal,
    Account,
    ResourceLimit,
    InsufficientCapacity,
    ResourceUnavailable,
    ResourceAllocation,
    ResourceInUse,
    NetworkRuleConflict,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::ApiLimitExceeded => 429,
            ErrorCode::MalformedParameter => 430,
            ErrorCode::ParamError => 431,
            ErrorCode::UnsupportedAction => 432,
            ErrorCode::Internal => 530,
            ErrorCode::Account => 531,
            ErrorCode::ResourceLimit => 532,
            ErrorCode::InsufficientCapacity => 533,
            ErrorCode::ResourceUnavailable => 534,
            ErrorCode::ResourceAllocation => 535,
            ErrorCode::ResourceInUse => 536,
            ErrorCode::NetworkRuleConflict => 537,
        }
    }

    /// The `cserrorcode` CloudStack attaches for the exception class that usually
    /// produces this code (`CSExceptionErrorCode`). Plain 401s carry none.
    pub fn cs_error_code(self) -> Option<u16> {
        match self {
            ErrorCode::Unauthorized => None,
            ErrorCode::ParamError | ErrorCode::MalformedParameter => Some(4350),
            ErrorCode::InsufficientCapacity => Some(4325),
            ErrorCode::ResourceUnavailable => Some(4380),
            ErrorCode::Account => Some(4290),
            ErrorCode::UnsupportedAction => Some(9999),
            _ => Some(4250),
        }
    }
}

/// An error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {text}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub text: String,
    /// Overrides the code's usual `cserrorcode` (parameter processing reports 9999).
    pub cs_error: Option<u16>,
}

impl ApiError {
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        ApiError {
            code,
            text: text.into(),
            cs_error: None,
        }
    }
    /// A 431 raised while binding parameters (CloudStack's `ServerApiException`, 9999).
    pub fn param_processing(text: impl Into<String>) -> Self {
        ApiError {
            cs_error: Some(9999),
            ..Self::param(text)
        }
    }
    pub fn param(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::ParamError, text)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "unable to verify user credentials and/or request signature",
        )
    }
    pub fn in_use(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceInUse, text)
    }
    pub fn internal(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, text)
    }
    pub fn unsupported(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedAction, text)
    }
    pub fn capacity(text: impl Into<String>) -> Self {
        Self::new(ErrorCode::InsufficientCapacity, text)
    }

    /// The body CloudStack's `ExceptionResponse` serialises to, without the envelope.
    pub fn body(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        o.insert("uuidList".into(), serde_json::Value::Array(vec![]));
        o.insert("errorcode".into(), self.code.http_status().into());
        if let Some(cs) = self.cs_error.or(self.code.cs_error_code()) {
            o.insert("cserrorcode".into(), cs.into());
        }
        o.insert("errortext".into(), self.text.clone().into());
        serde_json::Value::Object(o)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_cloudstack_fields() {
        let b = ApiError::param("bad").body();
        assert_eq!(b["errorcode"], 431);
        assert_eq!(b["cserrorcode"], 4350);
        assert_eq!(b["errortext"], "bad");
        assert_eq!(b["uuidList"], serde_json::json!([]));
    }

    #[test]
    fn plain_401_has_no_cserrorcode() {
        let b = ApiError::unauthorized().body();
        assert_eq!(b["errorcode"], 401);
        assert!(b.get("cserrorcode").is_none());
    }
}
