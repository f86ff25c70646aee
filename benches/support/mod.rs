//! What the Terraform benches share: a simulator, Terraform working directories that use this build's provider,
//! phases measured on the simulator's own clock (`run` in `/_sim/stats`), and the provider's peak RSS.

#[allow(dead_code)]
#[path = "../../tests/support/sim.rs"]
pub mod sim;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use sim::{Sim, CLIENT_ID, CLIENT_SECRET, SUBSCRIPTION, TENANT};

pub const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-largek8s");

/// The demo world's resource group and VNet (`--seed demo`).
pub const RESOURCE_GROUP: &str = "largek8s-demo";
pub const VNET: &str = "largek8s-vnet";

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ID of a subnet of the demo VNet.
pub fn subnet_id(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Network/virtualNetworks/{VNET}/subnets/{name}")
}

/// A Terraform working directory whose provider is this build's binary (a dev override).
pub struct Workspace {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Workspace {
    pub fn new(sim: &Sim) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let provider_dir = Path::new(BINARY).parent().expect("binary directory");
        std::fs::write(
            dir.path().join("terraform.rc"),
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"largek8s/largek8s\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                provider_dir.display()
            ),
        )
        .expect("terraform.rc");
        let ws = Workspace {
            dir,
            endpoint: sim.base.clone(),
        };
        ws.write(
            "provider.tf",
            r#"terraform {
  required_providers {
    largek8s = { source = "largek8s/largek8s" }
  }
}
variable "endpoint" {}
provider "largek8s" {
  arm_endpoint = var.endpoint
}
"#,
        );
        ws
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Writes (or replaces) a configuration file.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write configuration");
    }

    fn command(&self, args: &[&str]) -> Output {
        Command::new(std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into()))
            .args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraform.rc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
            .env("ARM_TENANT_ID", TENANT)
            .env("ARM_CLIENT_ID", CLIENT_ID)
            .env("ARM_CLIENT_SECRET", CLIENT_SECRET)
            .env("TF_VAR_endpoint", &self.endpoint)
            .output()
            .expect("run terraform")
    }

    /// Runs terraform and fails the bench, with its output, when it fails.
    pub fn terraform(&self, args: &[&str]) -> String {
        let out = self.command(args);
        assert!(
            out.status.success(),
            "terraform {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Saves a plan for [`apply_plan`](Self::apply_plan), so the measured apply spends no time planning.
    pub fn plan(&self) {
        self.terraform(&["plan", "-input=false", "-no-color", "-out=bench.tfplan"]);
    }

    pub fn apply_plan(&self) {
        self.terraform(&["apply", "-input=false", "-no-color", "bench.tfplan"]);
    }

    /// Whether a fresh plan shows no changes (`-detailed-exitcode` 0).
    pub fn converged(&self) -> bool {
        self.command(&["plan", "-input=false", "-no-color", "-detailed-exitcode"])
            .status
            .code()
            == Some(0)
    }

    /// One resource's attributes from the state.
    pub fn resource(&self, address: &str) -> Value {
        let state: Value =
            serde_json::from_str(&self.terraform(&["show", "-json"])).expect("state JSON");
        state["values"]["root_module"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["address"] == address)
            .map(|r| r["values"].clone())
            .unwrap_or(Value::Null)
    }
}

/// The largest VmHWM (KiB) of the running processes of this build's provider binary (other builds of the
/// provider may run on the same machine).
fn provider_peak_kib() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let binary = std::fs::canonicalize(BINARY).unwrap_or_else(|_| BINARY.into());
    entries
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == binary))
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .max()
        .unwrap_or(0)
}

/// Samples the provider processes' peak RSS every 20 ms until dropped.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start() -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let running = Arc::new(AtomicBool::new(true));
        let thread = {
            let (peak, running) = (peak.clone(), running.clone());
            std::thread::spawn(move || {
                while running.load(Ordering::Relaxed) {
                    peak.fetch_max(provider_peak_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        RssSampler {
            peak,
            running,
            thread: Some(thread),
        }
    }

    /// The peak since the last call, in MiB.
    pub fn take_mib(&self) -> f64 {
        self.peak.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// ARM requests in `/_sim/stats` (token requests left out) matching a method (any of `methods`), a resource
/// type prefix and a status filter.
pub fn count(
    stats: &Value,
    methods: &[&str],
    type_prefix: &str,
    status: impl Fn(u64) -> bool,
) -> u64 {
    stats["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["resourceType"] != "auth")
        .filter(|r| methods.iter().any(|m| r["method"] == *m))
        .filter(|r| {
            r["resourceType"].as_str().is_some_and(|t| {
                t.to_ascii_lowercase()
                    .starts_with(&type_prefix.to_ascii_lowercase())
            })
        })
        .filter(|r| r["status"].as_u64().is_some_and(&status))
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

pub const WRITES: &[&str] = &["PUT", "PATCH", "POST", "DELETE"];

/// What one measured phase cost, from the simulator's run figures.
#[derive(Clone, Debug)]
pub struct Phase {
    pub name: String,
    /// Writes and deletes ARM accepted, and attempts including 429s.
    pub writes: u64,
    pub write_attempts: u64,
    pub reads: u64,
    /// Answers that were neither success, 429 nor 404 (a 404 is how a create finds a resource absent).
    pub failed: u64,
    pub simulated: f64,
    pub least: f64,
    pub real: Duration,
    pub rss_mib: f64,
    pub stats: Value,
}

impl Phase {
    /// Starts a new run in the simulator, runs `work`, and reads the run's figures.
    pub fn measure(
        name: &str,
        sim: &Sim,
        rt: &tokio::runtime::Runtime,
        rss: &RssSampler,
        work: impl FnOnce(),
    ) -> Phase {
        rt.block_on(sim.reset_stats());
        rss.take_mib();
        let start = Instant::now();
        work();
        let real = start.elapsed();
        let stats = rt.block_on(sim.stats());
        let run = &stats["run"];
        Phase {
            name: name.to_string(),
            writes: count(&stats, WRITES, "", |s| (200..300).contains(&s)),
            write_attempts: count(&stats, WRITES, "", |_| true),
            reads: count(&stats, &["GET"], "", |_| true),
            failed: count(
                &stats,
                &["GET", "PUT", "PATCH", "POST", "DELETE"],
                "",
                |s| s >= 400 && s != 429 && s != 404,
            ),
            simulated: run["simulatedSeconds"].as_f64().unwrap_or(0.0),
            least: run["leastSimulatedSeconds"].as_f64().unwrap_or(0.0),
            real,
            rss_mib: rss.take_mib(),
            stats,
        }
    }

    /// Accepted writes to one resource type.
    pub fn writes_to(&self, resource_type: &str) -> u64 {
        count(&self.stats, WRITES, resource_type, |s| {
            (200..300).contains(&s)
        })
    }

    /// Simulated wall over least time; none for a phase that needed no time (it wrote nothing).
    pub fn time_ratio(&self) -> Option<f64> {
        (self.least > 0.0).then(|| self.simulated / self.least)
    }

    /// [`Self::time_ratio`] to three places, or '-' when there is none.
    pub fn time_ratio_text(&self) -> String {
        self.time_ratio()
            .map_or_else(|| "-".to_string(), |r| format!("{r:.3}"))
    }
}
