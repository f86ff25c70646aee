//! Malformed and oversized input over the real plugin transport: every RPC that decodes a value answers
//! garbage with a diagnostic (or, over the message size limit, a gRPC status), never panics or hangs, and
//! the server still answers GetProviderSchema afterwards.

use std::time::Duration;

use largek8s::plugin::proto::tfplugin6::{self as pb, provider_client::ProviderClient};
use largek8s::plugin::MAX_MESSAGE_BYTES;
use largek8s::tf::{msgpack, types::Type, value::Value};
use tonic::transport::Channel;

#[path = "support/plugin.rs"]
mod plugin;

/// Longest any single call may take before it counts as a hang.
const CALL_LIMIT: Duration = Duration::from_secs(60);

struct Session {
    plugin: plugin::Plugin,
    client: ProviderClient<Channel>,
}

async fn session() -> Session {
    let identity = plugin::client_identity();
    let plugin = plugin::start(Some(&identity.pem));
    let channel = plugin::connect(&plugin, Some(&identity)).await.unwrap();
    let client = ProviderClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    Session { plugin, client }
}

impl Session {
    /// The server is alive and still serves: the process runs and GetProviderSchema answers.
    async fn still_serves(&mut self, after: &str) {
        assert!(
            matches!(self.plugin.child.try_wait(), Ok(None)),
            "the provider exited after {after}"
        );
        let schema = tokio::time::timeout(
            CALL_LIMIT,
            self.client
                .get_provider_schema(pb::get_provider_schema::Request {}),
        )
        .await
        .unwrap_or_else(|_| panic!("GetProviderSchema hangs after {after}"))
        .unwrap_or_else(|e| panic!("GetProviderSchema fails after {after}: {e}"))
        .into_inner();
        assert!(
            schema.resource_schemas.contains_key("largek8s_pool"),
            "schema after {after}"
        );
    }
}

fn msgpack_value(bytes: Vec<u8>) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: bytes,
        json: Vec::new(),
    })
}

/// Asserts `diagnostics` hold an error whose summary or detail contains one of `fragments`.
fn assert_error(diagnostics: &[pb::Diagnostic], case: &str, fragments: &[&str]) {
    let error = pb::diagnostic::Severity::Error as i32;
    assert!(
        diagnostics.iter().any(|d| d.severity == error
            && fragments
                .iter()
                .any(|f| d.summary.contains(f) || d.detail.contains(f))),
        "{case}: expected an error mentioning one of {fragments:?}, got {diagnostics:?}"
    );
}

/// Inputs that are not the msgpack of a pool configuration.
fn bad_values() -> Vec<(&'static str, Vec<u8>)> {
    // A map whose node_count is a string: well-formed msgpack of the wrong type.
    let wrong_type = msgpack::encode(
        &Value::object([("node_count", Value::string("many"))]),
        &Type::object([("node_count", Type::String)]),
    )
    .unwrap();
    // 0x91 is a one-element array: 200,000 of them nest deeper than any stack would recurse.
    let mut deep = vec![0x91; 200_000];
    deep.push(0xc0);
    vec![
        ("reserved byte 0xc1", vec![0xc1, 0xc1, 0xc1]),
        ("truncated map", vec![0x8f, 0xa4, b'n', b'a']),
        (
            "array length beyond the input",
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "string length beyond the input",
            vec![0xdb, 0x7f, 0xff, 0xff, 0xff, b'x'],
        ),
        ("wrong attribute type", wrong_type),
        ("200,000 nested arrays", deep),
    ]
}

async fn timed<T>(case: &str, call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(CALL_LIMIT, call)
        .await
        .unwrap_or_else(|_| panic!("{case}: no answer within {CALL_LIMIT:?}"))
}

#[tokio::test]
async fn garbage_values_in_every_decoding_rpc_become_diagnostics() {
    let mut s = session().await;
    let pool = "largek8s_pool".to_string();
    let fragments = ["decode", "msgpack", "value", "configuration", "state"];
    for (what, bytes) in bad_values() {
        let case = format!("ValidateResourceConfig with {what}");
        let out = timed(
            &case,
            s.client
                .validate_resource_config(pb::validate_resource_config::Request {
                    type_name: pool.clone(),
                    config: msgpack_value(bytes.clone()),
                    ..Default::default()
                }),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .into_inner();
        assert_error(&out.diagnostics, &case, &fragments);
        s.still_serves(&case).await;

        let case = format!("ConfigureProvider with {what}");
        let out = timed(
            &case,
            s.client
                .configure_provider(pb::configure_provider::Request {
                    terraform_version: "1.11.4".into(),
                    config: msgpack_value(bytes.clone()),
                    ..Default::default()
                }),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .into_inner();
        assert_error(&out.diagnostics, &case, &fragments);
        s.still_serves(&case).await;

        let case = format!("PlanResourceChange with {what}");
        let out = timed(
            &case,
            s.client
                .plan_resource_change(pb::plan_resource_change::Request {
                    type_name: pool.clone(),
                    prior_state: msgpack_value(vec![0xc0]),
                    proposed_new_state: msgpack_value(bytes.clone()),
                    config: msgpack_value(bytes.clone()),
                    ..Default::default()
                }),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .into_inner();
        assert_error(&out.diagnostics, &case, &fragments);
        s.still_serves(&case).await;

        let case = format!("ApplyResourceChange with {what}");
        let prior = vec![0xc0];
        let out = timed(
            &case,
            s.client
                .apply_resource_change(pb::apply_resource_change::Request {
                    type_name: pool.clone(),
                    prior_state: msgpack_value(prior.clone()),
                    planned_state: msgpack_value(bytes.clone()),
                    config: msgpack_value(bytes.clone()),
                    ..Default::default()
                }),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .into_inner();
        assert_error(&out.diagnostics, &case, &fragments);
        assert_eq!(
            out.new_state.map(|v| v.msgpack),
            Some(prior),
            "{case}: a failed apply must hand back the prior state"
        );
        s.still_serves(&case).await;

        let case = format!("ReadResource with {what}");
        let out = timed(
            &case,
            s.client.read_resource(pb::read_resource::Request {
                type_name: pool.clone(),
                current_state: msgpack_value(bytes.clone()),
                ..Default::default()
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .into_inner();
        assert_error(&out.diagnostics, &case, &fragments);
        s.still_serves(&case).await;
    }
}

#[tokio::test]
async fn unknown_type_names_and_missing_values_are_diagnostics() {
    let mut s = session().await;
    let null = msgpack_value(vec![0xc0]);
    let out = s
        .client
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "largek8s_nope".into(),
            prior_state: null.clone(),
            proposed_new_state: null.clone(),
            config: null.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_error(
        &out.diagnostics,
        "PlanResourceChange of an unknown type",
        &["largek8s_nope"],
    );
    let out = s
        .client
        .read_resource(pb::read_resource::Request {
            type_name: "".into(),
            current_state: null.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_error(
        &out.diagnostics,
        "ReadResource without a type",
        &["Unknown"],
    );
    let out = s
        .client
        .validate_data_resource_config(pb::validate_data_resource_config::Request {
            type_name: "largek8s_pool".into(),
            config: null.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_error(
        &out.diagnostics,
        "a resource type asked for as a data source",
        &["largek8s_pool"],
    );
    // An absent value is null, as Terraform sends for "no object": judged, not refused.
    let out = s
        .client
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "largek8s_pool".into(),
            config: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        out.diagnostics.is_empty(),
        "an absent config is null: {:?}",
        out.diagnostics
    );
    let out = s
        .client
        .call_function(pb::call_function::Request {
            name: "pool_layout".into(),
            arguments: vec![msgpack_value(vec![0xc1]).unwrap_or_default()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        out.error.is_some(),
        "a garbage function argument is an error"
    );
    s.still_serves("unknown types and missing values").await;
}

#[tokio::test]
async fn truncated_or_mistyped_json_state_in_upgrade_resource_state_is_a_diagnostic() {
    let mut s = session().await;
    let cases: [(&str, &[u8]); 5] = [
        (
            "truncated JSON",
            b"{\"id\": \"/subscriptions/x\", \"node_count\": 3",
        ),
        ("not JSON", b"\xff\xfe\x00garbage"),
        ("a JSON array", b"[1, 2, 3]"),
        ("node_count as an object", b"{\"node_count\": {\"n\": 1}}"),
        ("200,000 nested arrays", &[b'['; 200_000]),
    ];
    for (what, json) in cases {
        let case = format!("UpgradeResourceState with {what}");
        let out = timed(
            &case,
            s.client
                .upgrade_resource_state(pb::upgrade_resource_state::Request {
                    type_name: "largek8s_pool".into(),
                    version: 0,
                    raw_state: Some(pb::RawState {
                        json: json.to_vec(),
                        flatmap: Default::default(),
                    }),
                }),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"))
        .into_inner();
        assert_error(&out.diagnostics, &case, &["state", "JSON", "json"]);
        s.still_serves(&case).await;
    }
}

#[tokio::test]
async fn values_near_the_message_limit_are_diagnostics_and_over_it_a_status() {
    let mut s = session().await;
    // Just under the limit: a msgpack string of 200 MiB where an object belongs.
    let near = 200 * 1024 * 1024;
    let mut bytes = Vec::with_capacity(near + 5);
    bytes.push(0xdb);
    bytes.extend_from_slice(&u32::try_from(near).unwrap().to_be_bytes());
    bytes.resize(near + 5, b'x');
    let out = timed(
        "a 200 MiB config",
        s.client
            .validate_resource_config(pb::validate_resource_config::Request {
                type_name: "largek8s_pool".into(),
                config: msgpack_value(bytes),
                ..Default::default()
            }),
    )
    .await
    .unwrap_or_else(|e| panic!("a 200 MiB config: {e}"))
    .into_inner();
    assert_error(
        &out.diagnostics,
        "a 200 MiB config",
        &["configuration", "object", "decode"],
    );
    s.still_serves("a 200 MiB config").await;

    // Over the limit: refused by the transport with a status, before any decoding.
    let over = vec![0xc1; MAX_MESSAGE_BYTES + 1024];
    let status = timed(
        "a config over the limit",
        s.client
            .validate_resource_config(pb::validate_resource_config::Request {
                type_name: "largek8s_pool".into(),
                config: msgpack_value(over),
                ..Default::default()
            }),
    )
    .await
    .expect_err("a message over the limit must be refused");
    assert_eq!(
        status.code(),
        tonic::Code::OutOfRange,
        "over-limit status: {status}"
    );
    s.still_serves("a config over the limit").await;
}
