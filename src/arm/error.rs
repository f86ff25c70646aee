//! Errors of the ARM client, with ARM's own error bodies parsed tolerantly into a typed form.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// One entry of ARM's error body (`code`, `message`, `target`, nested `details`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ErrorDetail>,
}

/// An error answered by ARM (or a resource provider behind it), with what is needed to report it and to ask
/// Azure support about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response that carried the error (for a failed long-running operation, the status
    /// of the final poll).
    pub status: u16,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ErrorDetail>,
    /// `x-ms-request-id` of the response, the key Azure support asks for.
    pub request_id: Option<String>,
}

impl ApiError {
    /// Parses an ARM error body. ARM's resource providers do not agree on one shape: the documented one is
    /// `{"error":{"code","message","target","details"}}`, some answer a bare `{code,message}`, some spell it
    /// `Error`/`Code`/`Message`, and proxies answer HTML. Nothing here fails: unknown shapes keep the body
    /// text as the message.
    /// <https://learn.microsoft.com/azure/azure-resource-manager/templates/common-deployment-errors>
    pub fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let detail = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| error_object(&v).map(parse_detail))
            .filter(|d| !d.code.is_empty() || !d.message.is_empty());
        let detail = detail.unwrap_or_else(|| ErrorDetail {
            code: String::new(),
            message: String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(2000)
                .collect(),
            target: None,
            details: Vec::new(),
        });
        let code = if detail.code.is_empty() {
            format!("HttpStatus{status}")
        } else {
            detail.code
        };
        ApiError {
            status,
            code,
            message: detail.message,
            target: detail.target,
            details: detail.details,
            request_id,
        }
    }

    /// Builds an error from an already-parsed error object, as found in a long-running operation's status
    /// body (`{"status":"Failed","error":{...}}`).
    pub fn from_value(status: u16, request_id: Option<String>, value: &Value) -> Option<Self> {
        let detail = parse_detail(error_object(value)?);
        Some(ApiError {
            status,
            code: detail.code,
            message: detail.message,
            target: detail.target,
            details: detail.details,
            request_id,
        })
    }

    /// Whether this error or one of its details has the given code (case-insensitive, as ARM is).
    pub fn has_code(&self, code: &str) -> bool {
        fn any(details: &[ErrorDetail], code: &str) -> bool {
            details
                .iter()
                .any(|d| d.code.eq_ignore_ascii_case(code) || any(&d.details, code))
        }
        self.code.eq_ignore_ascii_case(code) || any(&self.details, code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)?;
        if let Some(target) = &self.target {
            write!(f, " [target {target}]")?;
        }
        for d in &self.details {
            write!(f, "; {}: {}", d.code, d.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Finds the error object: under `error` or `Error`, else the value itself when it has a code or message.
fn error_object(v: &Value) -> Option<&Value> {
    let obj = v.as_object()?;
    for key in ["error", "Error"] {
        if let Some(inner) = obj.get(key).filter(|e| e.is_object()) {
            // Some providers wrap twice: {"error":{"error":{...}}}.
            return error_object(inner).or(Some(inner));
        }
    }
    let looks_like_error = obj
        .keys()
        .any(|k| k.eq_ignore_ascii_case("code") || k.eq_ignore_ascii_case("message"));
    looks_like_error.then_some(v)
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn text(v: &Value, name: &str) -> Option<String> {
    match field(v, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn parse_detail(v: &Value) -> ErrorDetail {
    let details = match field(v, "details") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| parse_detail(error_object(d).unwrap_or(d)))
            .collect(),
        _ => Vec::new(),
    };
    ErrorDetail {
        code: text(v, "code").unwrap_or_default(),
        message: text(v, "message").unwrap_or_default(),
        target: text(v, "target"),
        details,
    }
}

/// An authentication failure, with Microsoft Entra ID's own error code and description (never the secret
/// that was sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    /// Which credential failed (e.g. "client secret", "Azure CLI").
    pub credential: &'static str,
    /// HTTP status of the token endpoint, when there was one.
    pub status: Option<u16>,
    /// Entra's `error` field (e.g. `invalid_client`).
    pub code: Option<String>,
    /// Entra's `error_description` (e.g. `AADSTS7000215: Invalid client secret provided.`), or our own text.
    pub description: String,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} authentication failed", self.credential)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        write!(f, ": {}", self.description)
    }
}

/// Everything the ARM client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    #[error("{0}")]
    Auth(Box<AuthError>),
    /// ARM kept throttling until the caller's deadline: the last `Retry-After` pointed past it.
    #[error("ARM throttled the {bucket} requests until past the deadline (last Retry-After {retry_after:?}); raise the resource's timeouts or lower max_concurrency")]
    Throttled {
        bucket: &'static str,
        retry_after: Duration,
    },
    /// The caller's deadline passed while waiting on `during`.
    #[error("deadline exceeded while {during}")]
    Deadline { during: String },
    /// The caller's cancellation token fired (Terraform's StopProvider).
    #[error("cancelled while {during}")]
    Cancelled { during: String },
    #[error("{0}")]
    Api(Box<ApiError>),
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("long-running operation {state}: {error}")]
    Operation {
        state: String,
        error: Box<ApiError>,
        /// The operation's status URL.
        url: String,
    },
    #[error("transport error talking to {host}: {message}")]
    Transport { host: String, message: String },
    #[error("could not decode {what}: {message}")]
    Decode { what: String, message: String },
    #[error("invalid ARM client configuration: {0}")]
    Config(String),
}

impl ArmError {
    /// The ARM error, when ARM answered one (directly or as a failed operation).
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ArmError::Api(e) => Some(e),
            ArmError::Operation { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether ARM answered 404 (`ResourceNotFound`, `NotFound`, ...).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ArmError::Api(e) if e.status == 404)
    }

    pub(crate) fn decode(what: impl Into<String>, err: impl fmt::Display) -> Self {
        ArmError::Decode {
            what: what.into(),
            message: err.to_string(),
        }
    }
}

impl From<AuthError> for ArmError {
    fn from(e: AuthError) -> Self {
        ArmError::Auth(Box::new(e))
    }
}

impl From<ApiError> for ArmError {
    fn from(e: ApiError) -> Self {
        ArmError::Api(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_error_wrapper_with_nested_details() {
        let body = br#"{"error":{"code":"InvalidParameter","message":"bad","target":"properties.x",
            "details":[{"code":"Inner","message":"deeper","details":[{"code":"Innermost","message":"m"}]}]}}"#;
        let e = ApiError::from_response(400, Some("rid".into()), body);
        assert_eq!(e.code, "InvalidParameter");
        assert_eq!(e.message, "bad");
        assert_eq!(e.target.as_deref(), Some("properties.x"));
        assert_eq!(e.details[0].code, "Inner");
        assert_eq!(e.details[0].details[0].code, "Innermost");
        assert!(e.has_code("innermost"));
        assert_eq!(e.request_id.as_deref(), Some("rid"));
        assert_eq!(e.status, 400);
    }

    #[test]
    fn parses_a_bare_code_and_message() {
        let e = ApiError::from_response(409, None, br#"{"code":"Conflict","message":"busy"}"#);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("Conflict", "busy"));
    }

    #[test]
    fn parses_capitalised_error_and_fields() {
        let e = ApiError::from_response(
            400,
            None,
            br#"{"Error":{"Code":"BadRequest","Message":"nope","Target":null}}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("BadRequest", "nope")
        );
        assert_eq!(e.target, None);
    }

    #[test]
    fn parses_a_doubly_wrapped_error() {
        let e = ApiError::from_response(
            500,
            None,
            br#"{"error":{"error":{"code":"Deep","message":"x"}}}"#,
        );
        assert_eq!(e.code, "Deep");
    }

    #[test]
    fn keeps_a_non_json_body_as_the_message() {
        let e = ApiError::from_response(502, None, b"<html>Bad Gateway</html>");
        assert_eq!(e.code, "HttpStatus502");
        assert_eq!(e.message, "<html>Bad Gateway</html>");
    }

    #[test]
    fn an_empty_body_still_names_the_status() {
        let e = ApiError::from_response(404, None, b"");
        assert_eq!(e.code, "HttpStatus404");
        assert!(e.to_string().contains("HTTP 404"));
    }

    #[test]
    fn display_carries_code_target_details_and_request_id() {
        let body = br#"{"error":{"code":"A","message":"b","target":"t","details":[{"code":"C","message":"d"}]}}"#;
        let s = ApiError::from_response(400, Some("r-1".into()), body).to_string();
        assert_eq!(s, "A (HTTP 400): b [target t]; C: d (request id r-1)");
    }

    #[test]
    fn operation_status_bodies_yield_their_error() {
        let v: Value = serde_json::from_str(
            r#"{"status":"Failed","error":{"code":"AllocationFailed","message":"no capacity"}}"#,
        )
        .expect("test JSON");
        let e = ApiError::from_value(200, None, &v).expect("error object present");
        assert_eq!(e.code, "AllocationFailed");
        assert!(
            ApiError::from_value(200, None, &serde_json::json!({"status": "Failed"})).is_none()
        );
    }
}
