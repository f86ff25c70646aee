//! Starts the `largek8s-sim` binary on loopback for the ARM client's tests and bench, and talks to its control API.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use largek8s::arm::config::{resolve, Secret, Settings};
use largek8s::arm::{ArmClient, ClientOptions, Ctx};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const SUBSCRIPTION: &str = "11111111-2222-3333-4444-555555555555";
pub const TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
pub const CLIENT_ID: &str = "00000000-1111-2222-3333-444444444444";
pub const CLIENT_SECRET: &str = "largek8s-sim-secret";

/// A running simulator, killed when dropped.
pub struct Sim {
    child: Child,
    pub base: String,
}

/// The simulator binary next to this test's target directory, built first when absent.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory")
        .to_path_buf();
    let bin = dir.join("largek8s-sim");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "largek8s-sim", "--bin", "largek8s-sim"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for the simulator");
        assert!(status.success(), "building largek8s-sim failed");
    }
    bin
}

impl Sim {
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start largek8s-sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the simulator's base URL");
        let base = line.trim().trim_end_matches('/').to_string();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "unexpected first line {line:?}"
        );
        Sim { child, base }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            subscription_id: Some(SUBSCRIPTION.into()),
            tenant_id: Some(TENANT.into()),
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            arm_endpoint: Some(self.base.clone()),
            ..Settings::default()
        }
    }

    pub fn fast_options() -> ClientOptions {
        let mut o = ClientOptions::default();
        o.backoff.initial = std::time::Duration::from_millis(20);
        o.backoff.max = std::time::Duration::from_millis(500);
        o.default_poll_interval = std::time::Duration::from_millis(100);
        o
    }

    pub async fn client_with(&self, settings: Settings) -> ArmClient {
        let resolved = resolve(settings, |_| None).expect("valid settings");
        ArmClient::connect(
            &resolved,
            Self::fast_options(),
            &Ctx::unbounded(CancellationToken::new()),
        )
        .await
        .expect("connect to the simulator")
    }

    pub async fn client(&self) -> ArmClient {
        self.client_with(self.settings()).await
    }

    /// One control API call (`/_sim/...`); its JSON answer, Null when there is none.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(
                rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
            .build()
            .expect("control client");
        let mut req = http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("control API answers");
        assert!(
            resp.status().is_success(),
            "control API {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Adds fault rules (`POST /_sim/faults`).
    pub async fn faults(&self, rules: Value) {
        self.control(reqwest::Method::POST, "/_sim/faults", Some(rules))
            .await;
    }

    /// Starts a new measured run: counters from zero (`POST /_sim/stats/reset`).
    pub async fn reset_stats(&self) {
        self.control(reqwest::Method::POST, "/_sim/stats/reset", None)
            .await;
    }

    /// The simulator's counters (`GET /_sim/stats`).
    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "/_sim/stats", None)
            .await
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
