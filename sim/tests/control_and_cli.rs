//! The control API, the demo seed, persistence across restarts, and the command-line contract of the binary.

mod common;

use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

#[tokio::test]
async fn out_of_band_edits_bypass_rules_and_show_up_as_drift() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let (vm, nic) = sim.node("rg", "vm", &subnet, None, &[]).await;
    sim.advance(120.0).await;
    // Someone deletes the VM in the portal; as on Azure, its NIC and disk marked deleteOption Delete go with it.
    let r = sim
        .control("DELETE", &format!("/_sim/resource?id={vm}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(sim.get(&vm, COMPUTE).await.status, 404);
    assert_eq!(sim.get(&nic, NET).await.status, 404);
    // Someone edits tags on another NIC.
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "spare");
    sim.create(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    let mut body = sim.get(&nic, NET).await.body;
    body["tags"] = json!({ "edited": "by-hand" });
    let r = sim
        .control("PUT", &format!("/_sim/resource?id={nic}"), Some(body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(sim.get(&nic, NET).await.body["tags"]["edited"], "by-hand");
    let state = sim.control("GET", "/_sim/state", None).await.body;
    assert!(state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .any(|r| r["id"] == nic.as_str()));
}

#[tokio::test]
async fn reset_returns_to_the_seeded_world() {
    let sim = Sim::with(largek8s_sim::Config {
        seed: Some(largek8s_sim::config::Seed::Demo),
        ..frozen()
    })
    .await;
    let cluster = sim.id(
        "largek8s-demo",
        "Microsoft.ContainerService/managedClusters",
        "largek8s-aks",
    );
    let g = sim.get(&cluster, AKS).await;
    assert_eq!(g.status, 200);
    assert_eq!(
        g.body["properties"]["networkProfile"]["networkPlugin"],
        "azure"
    );
    sim.group("scratch").await;
    assert_eq!(sim.control("POST", "/_sim/reset", None).await.status, 200);
    assert_eq!(sim.get(&sim.rg("scratch"), RG).await.status, 404);
    assert_eq!(sim.get(&cluster, AKS).await.status, 200);
    let stats = sim.control("GET", "/_sim/stats", None).await.body;
    assert_eq!(stats["byMethod"]["PUT"], json!(null), "counters reset");
}

#[tokio::test]
async fn demo_node_subnet_holds_two_thousand_nics() {
    let sim = Sim::with(largek8s_sim::Config {
        seed: Some(largek8s_sim::config::Seed::Demo),
        throttle: largek8s_sim::config::ThrottleModel::Off,
        ..frozen()
    })
    .await;
    let subnet = format!(
        "{}/subnets/nodes",
        sim.id(
            "largek8s-demo",
            "Microsoft.Network/virtualNetworks",
            "largek8s-vnet"
        )
    );
    for i in 0..2000 {
        let r = sim
            .put(
                &sim.id(
                    "largek8s-demo",
                    "Microsoft.Network/networkInterfaces",
                    &format!("n{i}"),
                ),
                NET,
                Sim::nic_body(&subnet, &[]),
            )
            .await;
        assert_eq!(r.status, 201, "{i}: {:?}", r.body);
    }
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_largek8s-sim"))
}

/// Starts the binary and reads the base URL from the first stdout line.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = binary()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    (child, line.trim().to_string())
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
    exit
}

async fn client_get(base: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut b = hyper::Request::get(format!("{base}{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(
            b.body(http_body_util::Full::new(bytes::Bytes::new()))
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn token(base: &str) -> String {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
        largek8s_sim::config::DEFAULT_CLIENT_ID,
        largek8s_sim::config::DEFAULT_CLIENT_SECRET
    );
    let req = hyper::Request::post(format!(
        "{base}/{}/oauth2/v2.0/token",
        largek8s_sim::config::DEFAULT_TENANT
    ))
    .header("content-type", "application/x-www-form-urlencoded")
    .body(http_body_util::Full::new(bytes::Bytes::from(form)))
    .expect("request");
    let resp = client.request(req).await.expect("response");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["access_token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn binary_prints_its_url_and_stops_cleanly_on_sigterm() {
    let (child, base) = spawn(&["--listen", "127.0.0.1:0", "--seed", "demo"]);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let (status, body) =
        client_get(&base, "/metadata/endpoints?api-version=2022-09-01", None).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["resourceManager"], format!("{base}/"));
    assert!(terminate(child).success());
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("largek8s-sim-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
    let state_arg = state.to_str().expect("utf-8 path");
    let (child, base) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--state",
        state_arg,
        "--seed",
        "demo",
    ]);
    let t = token(&base).await;
    let rg = format!(
        "/subscriptions/{}/resourceGroups/largek8s-demo?api-version=2021-04-01",
        largek8s_sim::config::DEFAULT_SUBSCRIPTION
    );
    assert_eq!(client_get(&base, &rg, Some(&t)).await.0, 200);
    assert!(terminate(child).success());
    assert!(state.exists(), "flushed on shutdown");

    // The restarted simulator resumes from the file (and ignores the seed): the old token still works.
    let (child, base) = spawn(&["--listen", "127.0.0.1:0", "--state", state_arg]);
    let (status, body) = client_get(&base, &rg, Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["location"], "westeurope");
    assert!(terminate(child).success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_documents_the_identity_defaults() {
    let out = binary().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        largek8s_sim::config::DEFAULT_SUBSCRIPTION,
        largek8s_sim::config::DEFAULT_TENANT,
        largek8s_sim::config::DEFAULT_CLIENT_ID,
        largek8s_sim::config::DEFAULT_CLIENT_SECRET,
        "--time-scale",
        "azure-public",
        "--basic-lb",
        "--seed",
        "--state",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}
