//! The built binary, started exactly as Terraform starts it: handshake line, AutoMTLS with a P-521 client
//! certificate, gRPC over the unix socket, and shutdown through the controller.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use largek8s::plugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use largek8s::plugin::proto::goplugin::{grpc_controller_client::GrpcControllerClient, Empty};
use largek8s::plugin::proto::tfplugin6::{self as pb, provider_client::ProviderClient};
use largek8s::tf::{msgpack, types::Type, value::Value};
use tonic::transport::Channel;

#[path = "support/plugin.rs"]
mod plugin;

use plugin::{client_identity, connect, start, BINARY};

async fn call_pool_layout(
    client: &mut ProviderClient<Channel>,
    count: u64,
    cap: u64,
) -> pb::call_function::Response {
    let arg = |n: u64| pb::DynamicValue {
        msgpack: msgpack::encode(&Value::number(n), &Type::Number).unwrap(),
        json: Vec::new(),
    };
    client
        .call_function(pb::call_function::Request {
            name: "pool_layout".into(),
            arguments: vec![arg(count), arg(cap)],
        })
        .await
        .unwrap()
        .into_inner()
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[tokio::test]
async fn terraform_style_session_over_mutual_tls() {
    let identity = client_identity();
    let mut plugin = start(Some(&identity.pem));
    assert!(
        !plugin.server_cert.is_empty(),
        "AutoMTLS must put our certificate in the handshake line"
    );

    let channel = connect(&plugin, Some(&identity)).await.unwrap();
    let mut client = ProviderClient::new(channel.clone());
    let schema = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    let caps = schema.server_capabilities.unwrap();
    assert!(caps.plan_destroy && caps.get_provider_schema_optional && caps.move_resource_state);
    assert!(schema.functions.contains_key("pool_layout"));
    let provider_attrs = schema.provider.unwrap().block.unwrap().attributes;
    let secret = provider_attrs
        .iter()
        .find(|a| a.name == "client_secret")
        .unwrap();
    assert!(secret.sensitive);

    let response = call_pool_layout(&mut client, 450, 100).await;
    assert!(response.error.is_none(), "{:?}", response.error);
    let result =
        msgpack::decode(&response.result.unwrap().msgpack, &Type::list(Type::Number)).unwrap();
    let sizes: Vec<u64> = result
        .as_list()
        .unwrap()
        .iter()
        .map(|v| v.as_number().unwrap().to_u64().unwrap())
        .collect();
    assert_eq!(sizes, [100, 100, 100, 100, 50]);

    let response = call_pool_layout(&mut client, 10, 201).await;
    let error = response.error.unwrap();
    assert_eq!(error.function_argument, Some(1));
    assert!(error.text.contains("max_nodes_per_set"));

    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    assert!(
        wait_for_exit(&mut plugin.child, Duration::from_secs(10)),
        "Shutdown must end the process"
    );
    assert!(
        !std::path::Path::new(&plugin.socket).exists(),
        "the socket is removed on exit"
    );
}

#[tokio::test]
async fn a_client_without_terraforms_certificate_is_refused() {
    let identity = client_identity();
    let mut plugin = start(Some(&identity.pem));
    let impostor = client_identity();
    for id in [None, Some(&impostor)] {
        let who = if id.is_some() {
            "another certificate"
        } else {
            "no certificate"
        };
        let Ok(channel) = connect(&plugin, id).await else {
            continue;
        };
        // Reading, configuring, stopping and shutting down: none may get through.
        let mut provider = ProviderClient::new(channel.clone());
        let answered = [
            provider
                .get_provider_schema(pb::get_provider_schema::Request {})
                .await
                .is_ok(),
            provider
                .configure_provider(pb::configure_provider::Request::default())
                .await
                .is_ok(),
            provider
                .stop_provider(pb::stop_provider::Request {})
                .await
                .is_ok(),
            GrpcControllerClient::new(channel)
                .shutdown(Empty {})
                .await
                .is_ok(),
        ];
        assert_eq!(
            answered, [false; 4],
            "a client with {who} must not reach any RPC"
        );
    }
    assert!(
        matches!(plugin.child.try_wait(), Ok(None)),
        "an impostor's Shutdown must not end the provider"
    );
    // Terraform's own certificate still gets through afterwards.
    let channel = connect(&plugin, Some(&identity)).await.unwrap();
    assert!(ProviderClient::new(channel)
        .get_metadata(pb::get_metadata::Request {})
        .await
        .is_ok());
}

#[tokio::test]
async fn plaintext_when_terraform_disables_plugin_tls() {
    let plugin = start(None);
    assert!(
        plugin.server_cert.is_empty(),
        "the certificate field stays empty without AutoMTLS"
    );
    let channel = connect(&plugin, None).await.unwrap();
    let mut client = ProviderClient::new(channel);
    let response = call_pool_layout(&mut client, 1, 1).await;
    assert!(response.error.is_none());
}

#[test]
fn socket_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let plugin = start(None);
    let mode = std::fs::metadata(&plugin.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "socket mode {mode:o} lets others in");
    let dir = std::path::Path::new(&plugin.socket).parent().unwrap();
    let mode = std::fs::metadata(dir).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "socket directory mode {mode:o} lets others in"
    );
}

#[test]
fn refuses_to_run_without_the_magic_cookie() {
    let output = Command::new(BINARY)
        .env_remove(MAGIC_COOKIE_KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout: Terraform would read it as a handshake"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("plugin for Terraform"), "{stderr}");
    assert!(stderr.contains("terraform init"), "{stderr}");
}

#[test]
fn refuses_when_protocol_6_is_not_offered() {
    let output = Command::new(BINARY)
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("only version 6"));
}

#[test]
fn sigint_is_ignored_and_sigterm_shuts_down() {
    let mut plugin = start(None);
    let pid = plugin.child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(
        !wait_for_exit(&mut plugin.child, Duration::from_millis(300)),
        "SIGINT must not stop the plugin"
    );
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(
        wait_for_exit(&mut plugin.child, Duration::from_secs(10)),
        "SIGTERM must stop the plugin"
    );
    assert!(!std::path::Path::new(&plugin.socket).exists());
}

#[test]
fn debug_mode_skips_the_cookie_and_prints_a_reattach_line() {
    let mut child = Command::new(BINARY)
        .arg("--debug")
        .env_remove(MAGIC_COOKIE_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let line = reader
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("TF_REATTACH_PROVIDERS="))
        .expect("a TF_REATTACH_PROVIDERS line");
    let json = line.split_once('=').unwrap().1.trim().trim_matches('\'');
    let config: serde_json::Value = serde_json::from_str(json).unwrap();
    let entry = &config["registry.terraform.io/largek8s/largek8s"];
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], child.id());
    assert_eq!(entry["Addr"]["Network"], "unix");
    let socket = entry["Addr"]["String"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&socket).exists());
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(10)),
        "Ctrl-C stops a debug session"
    );
}
