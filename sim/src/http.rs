//! Transport-neutral request and reply types the handlers work with.

use crate::error::ArmError;
use bytes::Bytes;
use hyper::HeaderMap;
use serde_json::Value;

/// A request as the handlers see it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a JSON value (an empty body reads as `null`).
    pub fn json(&self) -> Result<Value, ArmError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ArmError::invalid_body(format!(
                "The request content was invalid and could not be deserialized: '{e}'."
            ))
        })
    }
}

/// A reply before it becomes an HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn error(e: &ArmError) -> Self {
        let mut r = Self::json(e.status, &e.body());
        if let Some(wait) = e.retry_after {
            r = r.retry_after(wait);
        }
        r
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `Retry-After` in whole seconds (rounded up) plus the millisecond form Azure SDKs prefer.
    pub fn retry_after(self, real_seconds: f64) -> Self {
        let secs = real_seconds.ceil().max(1.0) as u64;
        self.header("Retry-After", secs.to_string())
            .retry_after_ms(real_seconds)
    }

    /// Only the millisecond forms (rounded up, at least 1), for answers on which ARM sends no `Retry-After`.
    pub fn retry_after_ms(self, real_seconds: f64) -> Self {
        let ms = (real_seconds * 1000.0).ceil().max(1.0) as u64;
        self.header("retry-after-ms", ms.to_string())
            .header("x-ms-retry-after-ms", ms.to_string())
    }
}
