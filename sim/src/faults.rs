//! Fault injection rules for tests: match method and path, then answer with an error, add latency, drop the
//! connection, or make the async operation end Failed, Canceled or never.

use crate::error::ArmError;
use crate::lro::Outcome;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// A rule as posted to `POST /_sim/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP method to match (any when absent).
    pub method: Option<String>,
    /// Regular expression matched (case-insensitively) against the request path.
    pub path: Option<String>,
    /// Glob matched against the whole path: `*` is one segment's worth, `**` anything.
    pub glob: Option<String>,
    /// Fire this many times, then retire.
    pub times: Option<u32>,
    /// Fire with this probability (0..1) on each match.
    pub probability: Option<f64>,
    /// Answer with this status and `error` body instead of handling the request.
    pub status: Option<u16>,
    pub error: Option<ErrorSpec>,
    /// With `status`: send `Retry-After` (and `retry-after-ms`) asking the client to wait this many real
    /// milliseconds, as ARM does with 429 and some 503s.
    pub retry_after_ms: Option<u64>,
    /// Delay the answer by this many real milliseconds.
    pub latency_ms: Option<u64>,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop: bool,
    /// Let the request through but make its async operation end `Failed`, `Canceled` or `Never`.
    pub async_outcome: Option<String>,
}

/// The ARM error body of an injected failure.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorSpec {
    pub code: String,
    pub message: Option<String>,
}

#[derive(Debug)]
struct Rule {
    id: u64,
    spec: FaultSpec,
    pattern: Option<Regex>,
    fired: u32,
}

/// What a matching rule does to a request.
#[derive(Debug, Default)]
pub struct Effect {
    pub latency: Option<Duration>,
    pub respond: Option<ArmError>,
    pub drop: bool,
    pub outcome: Option<Outcome>,
}

/// The active rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Rule>,
    next_id: u64,
}

fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(".*");
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

impl Faults {
    /// Adds a rule; returns its id.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, String> {
        let source = match (&spec.path, &spec.glob) {
            (Some(_), Some(_)) => return Err("give either path (a regex) or glob, not both".into()),
            (Some(p), None) => Some(p.clone()),
            (None, Some(g)) => Some(glob_to_regex(g)),
            (None, None) => None,
        };
        let pattern = source
            .map(|s| {
                RegexBuilder::new(&s)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .transpose()?;
        if let Some(p) = spec.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err("probability must lie in 0..1".into());
            }
        }
        if let Some(o) = &spec.async_outcome {
            if !["Failed", "Canceled", "Never"].contains(&o.as_str()) {
                return Err("asyncOutcome must be Failed, Canceled or Never".into());
            }
        }
        if spec.status.is_none()
            && !spec.drop
            && spec.latency_ms.is_none()
            && spec.async_outcome.is_none()
        {
            return Err(
                "a rule needs at least one of status, drop, latencyMs, asyncOutcome".into(),
            );
        }
        self.next_id += 1;
        self.rules.push(Rule {
            id: self.next_id,
            spec,
            pattern,
            fired: 0,
        });
        Ok(self.next_id)
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn list(&self) -> Value {
        Value::Array(
            self.rules
                .iter()
                .map(|r| json!({ "id": r.id, "method": r.spec.method, "path": r.pattern.as_ref().map(Regex::as_str), "fired": r.fired, "times": r.spec.times }))
                .collect(),
        )
    }

    /// The effect of the first rule that matches and fires.
    pub fn apply(&mut self, method: &str, path: &str) -> Option<Effect> {
        let rule = self.rules.iter_mut().find(|r| {
            r.spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.pattern.as_ref().is_none_or(|p| p.is_match(path))
                && r.spec.times.is_none_or(|t| r.fired < t)
                && r.spec
                    .probability
                    .is_none_or(|p| crate::entropy::random_unit() < p)
        })?;
        rule.fired += 1;
        let s = &rule.spec;
        let error = s.error.clone();
        let respond = s.status.map(|status| {
            let code = error
                .as_ref()
                .map(|e| e.code.clone())
                .unwrap_or_else(|| "InjectedFault".into());
            let message = error
                .as_ref()
                .and_then(|e| e.message.clone())
                .unwrap_or_else(|| "Fault injected by the simulator.".into());
            let e = ArmError::new(status, &code, message);
            match s.retry_after_ms {
                Some(ms) => e.with_retry_after(ms as f64 / 1000.0),
                None => e,
            }
        });
        let outcome = s.async_outcome.as_deref().map(|o| match o {
            "Canceled" => Outcome::Canceled,
            "Never" => Outcome::Never,
            _ => Outcome::Failed {
                code: error
                    .as_ref()
                    .map(|e| e.code.clone())
                    .unwrap_or_else(|| "InternalServerError".into()),
                message: error
                    .as_ref()
                    .and_then(|e| e.message.clone())
                    .unwrap_or_else(|| {
                        "The operation failed (fault injected by the simulator).".into()
                    }),
            },
        });
        Some(Effect {
            latency: s.latency_ms.map(Duration::from_millis),
            respond,
            drop: s.drop,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> FaultSpec {
        serde_json::from_value(v).expect("valid spec")
    }

    #[test]
    fn times_limits_how_often_a_rule_fires() {
        let mut f = Faults::default();
        f.add(spec(json!({"method": "PUT", "glob": "/subscriptions/*/resourceGroups/*", "times": 2, "status": 500}))).expect("added");
        assert!(f
            .apply("GET", "/subscriptions/s/resourceGroups/rg")
            .is_none());
        assert_eq!(
            f.apply("PUT", "/subscriptions/s/resourceGroups/rg")
                .and_then(|e| e.respond)
                .map(|e| e.status),
            Some(500)
        );
        assert!(f
            .apply("PUT", "/subscriptions/s/resourceGroups/rg")
            .is_some());
        assert!(f
            .apply("PUT", "/subscriptions/s/resourceGroups/rg")
            .is_none());
    }

    #[test]
    fn an_injected_error_may_ask_for_retry_after() {
        let mut f = Faults::default();
        f.add(spec(
            json!({"method": "PUT", "status": 429, "retryAfterMs": 1500}),
        ))
        .expect("added");
        let e = f.apply("PUT", "/x").and_then(|e| e.respond);
        assert_eq!(e.and_then(|e| e.retry_after), Some(1.5));
    }

    #[test]
    fn rules_without_an_effect_are_refused() {
        let mut f = Faults::default();
        assert!(f.add(spec(json!({"path": "x"}))).is_err());
        assert!(f.add(spec(json!({"path": "(", "status": 500}))).is_err());
    }
}
