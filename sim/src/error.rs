//! ARM error responses: an HTTP status plus the `{"error":{"code","message"}}` body every resource provider returns.

use serde_json::{json, Value};

/// An ARM error as a client sees it.
///
/// Codes follow Azure's where they are documented or publicly observed; the few this simulator had to choose are
/// listed in the README section "Error codes".
#[derive(Debug, Clone, PartialEq)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Vec<Value>,
    /// Seconds (real time) after which a retry may succeed; sent as `Retry-After`.
    pub retry_after: Option<f64>,
}

impl ArmError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// `InvalidRequestContent`: the body is not JSON or lacks a required member.
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidRequestContent", message)
    }

    /// ARM's 404 for a missing resource, with the type and name the way ARM spells them.
    pub fn not_found(resource_type: &str, name: &str, resource_group: Option<&str>) -> Self {
        let rg = resource_group.unwrap_or("");
        Self::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource '{resource_type}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// A reference in a request body points at a resource that does not exist (Network RP wording).
    pub fn invalid_reference(target: &str, referrer: &str) -> Self {
        Self::bad_request(
            "InvalidResourceReference",
            format!(
                "Resource {target} referenced by resource {referrer} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
            ),
        )
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            412,
            "PreconditionFailed",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.details.push(detail);
        self
    }

    pub fn with_retry_after(mut self, seconds: f64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The JSON body ARM sends.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }

    /// The `error` member of an async-operation status document.
    pub fn operation_error(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }
}
