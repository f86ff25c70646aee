//! Logs as JSON lines on stderr, in the hclog shape Terraform's plugin client parses, with secrets scrubbed.
//!
//! go-plugin reads each stderr line; a JSON object with `@level`, `@message` and `@timestamp`
//! (`2006-01-02T15:04:05.000000Z07:00`) is re-logged by Terraform under the provider's name, other keys
//! become fields. The level follows `TF_LOG_PROVIDER_LARGEK8S`, then `TF_LOG_PROVIDER`, then `TF_LOG`.

use std::io::Write;
use std::sync::{OnceLock, RwLock};

/// Severity, ordered from most to least verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Off,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Off => "off",
        }
    }

    /// Terraform's reading of a TF_LOG value: known names, JSON meaning trace, anything else also trace.
    fn parse(value: &str) -> Level {
        match value.trim().to_ascii_uppercase().as_str() {
            "" | "OFF" => Level::Off,
            "ERROR" => Level::Error,
            "WARN" => Level::Warn,
            "INFO" => Level::Info,
            "DEBUG" => Level::Debug,
            _ => Level::Trace,
        }
    }
}

/// The level chosen by the most specific of Terraform's log variables that is set.
pub fn level_from_env(env: impl Fn(&str) -> Option<String>) -> Level {
    ["TF_LOG_PROVIDER_LARGEK8S", "TF_LOG_PROVIDER", "TF_LOG"]
        .iter()
        .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
        .map(|v| Level::parse(&v))
        .unwrap_or(Level::Off)
}

static LEVEL: OnceLock<Level> = OnceLock::new();
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Sets the level once for the process, from the environment.
pub fn init_from_env() {
    let _ = LEVEL.set(level_from_env(|k| std::env::var(k).ok()));
}

fn current_level() -> Level {
    *LEVEL.get().unwrap_or(&Level::Off)
}

pub fn enabled(level: Level) -> bool {
    level != Level::Off && level >= current_level()
}

/// Remembers a secret so that no later log line, and nothing passed through [`scrub`], shows it.
/// Values shorter than four characters are ignored: scrubbing them would mangle ordinary text.
pub fn register_secret(secret: &str) {
    if secret.len() < 4 {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write() {
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let Ok(secrets) = SECRETS.read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// One log line, as hclog writes it.
pub fn format_line(
    level: Level,
    message: &str,
    fields: &[(&str, &str)],
    now: time::OffsetDateTime,
) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level.as_str().into());
    obj.insert("@message".into(), scrub(message).into());
    obj.insert(
        "@module".into(),
        "provider.terraform-provider-largek8s".into(),
    );
    obj.insert("@timestamp".into(), timestamp(now).into());
    for (key, value) in fields {
        if !key.starts_with('@') {
            obj.insert((*key).to_string(), scrub(value).into());
        }
    }
    serde_json::Value::Object(obj).to_string()
}

fn timestamp(now: time::OffsetDateTime) -> String {
    let utc = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.microsecond()
    )
}

pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    if !enabled(level) {
        return;
    }
    let line = format_line(level, message, fields, time::OffsetDateTime::now_utc());
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

pub fn trace(message: &str, fields: &[(&str, &str)]) {
    log(Level::Trace, message, fields)
}
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields)
}
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields)
}
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields)
}
pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_variable_wins() {
        let env = |k: &str| match k {
            "TF_LOG" => Some("TRACE".to_string()),
            "TF_LOG_PROVIDER" => Some("warn".to_string()),
            _ => None,
        };
        assert_eq!(level_from_env(env), Level::Warn);
        let env = |k: &str| (k == "TF_LOG_PROVIDER_LARGEK8S").then(|| "debug".to_string());
        assert_eq!(level_from_env(env), Level::Debug);
        assert_eq!(level_from_env(|_| None), Level::Off);
        assert_eq!(
            level_from_env(|k| (k == "TF_LOG").then(|| "json".into())),
            Level::Trace
        );
    }

    #[test]
    fn lines_are_hclog_json_with_six_digit_timestamps() {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let line = format_line(
            Level::Info,
            "created 350/1000 nodes",
            &[("pool", "web")],
            at,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "info");
        assert_eq!(v["@message"], "created 350/1000 nodes");
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["pool"], "web");
        assert!(v["@module"].as_str().unwrap().starts_with("provider"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn registered_secrets_never_reach_a_line() {
        register_secret("s3cr3t-value-xyz");
        let line = format_line(
            Level::Error,
            "token request with s3cr3t-value-xyz failed",
            &[("body", "client_secret=s3cr3t-value-xyz&x=1")],
            time::OffsetDateTime::now_utc(),
        );
        assert!(!line.contains("s3cr3t-value-xyz"));
        assert!(line.contains("***"));
        assert_eq!(scrub("abc"), "abc");
    }
}
