//! The properties fuzzing checks, one function per target, written against the provider library's public
//! API. AFL++ drives them through src/main.rs and tests/regressions.rs replays the checked-in corpora through
//! them, so both run the same code.
//!
//! Each function takes arbitrary bytes and panics only when a property is broken; malformed input that is
//! rejected with an error is the expected, correct outcome.

use largek8s::arm::config::{resolve, Secret, Settings};
use largek8s::arm::ids::ResourceId;
use largek8s::plugin::handshake::HandshakeConfig;
use largek8s::tf::types::Type;
use largek8s::tf::{json, msgpack};

/// Types the value decoders are fuzzed with: the first input byte picks one, the rest is the payload.
fn fuzz_types() -> Vec<Type> {
    let node = Type::object([
        ("name", Type::String),
        ("vm_id", Type::String),
        ("private_ip", Type::String),
    ]);
    vec![
        Type::String,
        Type::Number,
        Type::Bool,
        Type::Dynamic,
        Type::list(Type::Number),
        Type::set(Type::String),
        Type::map(Type::Bool),
        Type::Tuple(vec![Type::String, Type::Number, Type::Dynamic]),
        Type::object([
            ("index", Type::Number),
            ("name", Type::String),
            ("nodes", Type::list(node)),
            ("tags", Type::map(Type::String)),
        ]),
        largek8s::provider::provider_schema().provider.value_type(),
    ]
}

fn split_type(data: &[u8]) -> Option<(Type, &[u8])> {
    let (first, rest) = data.split_first()?;
    let types = fuzz_types();
    let ty = types.get(usize::from(*first) % types.len())?.clone();
    Some((ty, rest))
}

/// msgpack: decoding never panics; what decodes re-encodes and decodes to the same value.
pub fn msgpack_round_trip(data: &[u8]) {
    let Some((ty, payload)) = split_type(data) else {
        return;
    };
    let Ok(value) = msgpack::decode(payload, &ty) else {
        return;
    };
    let encoded = msgpack::encode(&value, &ty)
        .unwrap_or_else(|e| panic!("a decoded value must re-encode: {e}; value {value:?}"));
    let again = msgpack::decode(&encoded, &ty)
        .unwrap_or_else(|e| panic!("a re-encoded value must decode: {e}; bytes {encoded:?}"));
    assert_eq!(again, value, "msgpack round trip changed the value");
}

/// JSON (stored state): decoding never panics; what decodes survives msgpack and JSON round trips.
pub fn json_decode(data: &[u8]) {
    let Some((ty, payload)) = split_type(data) else {
        return;
    };
    let Ok(value) = json::decode_json(payload, &ty) else {
        return;
    };
    if let Ok(bytes) = msgpack::encode(&value, &ty) {
        let back = msgpack::decode(&bytes, &ty).unwrap_or_else(|e| {
            panic!("state from JSON must survive msgpack: {e}; value {value:?}")
        });
        assert_eq!(back, value, "JSON state changed through msgpack");
    }
    if let Ok(text) = json::encode_json(&value, &ty) {
        let back = json::decode_json(&text, &ty)
            .unwrap_or_else(|e| panic!("encoded JSON must decode: {e}; value {value:?}"));
        assert_eq!(back, value, "JSON round trip changed the value");
    }
}

/// The plugin handshake: `KEY=VALUE` lines as the environment; reading it never panics.
pub fn handshake_env(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("\\n", "\n")))
        .collect();
    let _ = HandshakeConfig::from_env(|k| {
        env.iter()
            .rev()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    });
}

/// ARM IDs: parsing never panics; a parsed ID formats to text that parses to the same ID.
pub fn arm_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(id) = ResourceId::parse(text) else {
        return;
    };
    let formatted = id.to_string();
    let again = ResourceId::parse(&formatted)
        .unwrap_or_else(|e| panic!("{formatted:?} (from {text:?}) must parse again: {e}"));
    assert_eq!(again, id, "formatting {text:?} changed the ID");
    assert_eq!(again.to_string(), formatted, "formatting is not canonical");
}

/// Provider configuration: arbitrary settings and environment never panic the resolver, and no secret
/// ever shows in its error messages.
pub fn provider_config(data: &[u8]) {
    const SECRET: &str = "fuzz-secret-value-0000";
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1f}');
    let mut next = || fields.next().filter(|f| !f.is_empty()).map(str::to_string);
    let flag = |v: Option<String>| v.map(|s| s.len() % 2 == 0);
    let settings = Settings {
        subscription_id: next(),
        tenant_id: next(),
        client_id: next(),
        client_id_file_path: None,
        client_secret: next().map(|_| Secret::new(SECRET)),
        client_secret_file_path: None,
        use_oidc: flag(next()),
        oidc_token: next().map(|_| Secret::new(SECRET)),
        oidc_token_file_path: None,
        oidc_request_url: next(),
        oidc_request_token: next().map(|_| Secret::new(SECRET)),
        use_msi: flag(next()),
        msi_endpoint: next(),
        use_cli: flag(next()),
        environment: next(),
        metadata_host: next(),
        arm_endpoint: next(),
        max_concurrency: next().and_then(|s| s.parse().ok()),
    };
    let env_text = next().unwrap_or_default();
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Err(errors) = resolve(settings, |k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }) {
        for e in errors {
            assert!(
                !e.to_string().contains(SECRET),
                "a configuration error shows the secret: {e}"
            );
        }
    }
}

/// A fuzz target: arbitrary bytes in, a panic only when a property breaks.
pub type Target = fn(&[u8]);

/// Every target by name, for the fuzz binaries and the regression test.
pub const TARGETS: [(&str, Target); 5] = [
    ("msgpack_round_trip", msgpack_round_trip),
    ("json_decode", json_decode),
    ("handshake_env", handshake_env),
    ("arm_id", arm_id),
    ("provider_config", provider_config),
];
