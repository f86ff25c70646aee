//! Applies a 1,000-node `largek8s_pool` with real Terraform against the simulator's azure-public throttling
//! (time-scaled) and prints: wall time against the simulator's throttling floor, ARM writes issued against
//! the minimum (one PUT per set, NIC and VM), the ARM reads of one refresh, and the provider's peak RSS
//! (VmHWM from /proc of the provider process, sampled while it runs).
//! Run: `cargo build --workspace --bins --release && cargo bench --bench pool_create`
//! (POOL_BENCH_NODES and POOL_BENCH_TIME_SCALE override the defaults; TERRAFORM names the CLI).

// The bench uses only part of the tests' simulator helper.
#[allow(dead_code)]
#[path = "../tests/support/sim.rs"]
pub mod sim;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sim::{Sim, CLIENT_ID, CLIENT_SECRET, SUBSCRIPTION, TENANT};

pub const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-largek8s");

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn terraform(dir: &Path, sim: &Sim, args: &[&str]) {
    let out = Command::new(std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into()))
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", dir.join("terraform.rc"))
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
        .env("ARM_TENANT_ID", TENANT)
        .env("ARM_CLIENT_ID", CLIENT_ID)
        .env("ARM_CLIENT_SECRET", CLIENT_SECRET)
        .env("TF_VAR_endpoint", &sim.base)
        .output()
        .expect("run terraform");
    assert!(
        out.status.success(),
        "terraform {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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

pub fn count(stats: &Value, method: &str, include_throttled: bool) -> u64 {
    stats["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["method"] == method && (include_throttled || r["status"] != 429))
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

fn main() {
    let nodes: u64 = env_or("POOL_BENCH_NODES", 1000);
    let scale: f64 = env_or("POOL_BENCH_TIME_SCALE", 20.0);
    let sim = Sim::start(&["--seed", "demo", "--time-scale", &scale.to_string()]);
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
    std::fs::write(
        dir.path().join("main.tf"),
        format!(
            r#"terraform {{
  required_providers {{
    largek8s = {{ source = "largek8s/largek8s" }}
  }}
}}
variable "endpoint" {{}}
provider "largek8s" {{
  arm_endpoint = var.endpoint
}}
resource "largek8s_pool" "bench" {{
  name                = "bench"
  resource_group_name = "largek8s-demo"
  location            = "westeurope"
  node_count          = {nodes}
  vm_size             = "Standard_D2s_v5"
  subnet_id           = "/subscriptions/{SUBSCRIPTION}/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes"
  admin_username      = "azureuser"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE bench"]
}}
"#
        ),
    )
    .expect("main.tf");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let peak = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                peak.fetch_max(provider_peak_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let start = Instant::now();
    terraform(
        dir.path(),
        &sim,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    let wall = start.elapsed();
    let after_apply = rt.block_on(sim.stats());
    terraform(
        dir.path(),
        &sim,
        &["plan", "-refresh-only", "-input=false", "-no-color"],
    );
    let after_refresh = rt.block_on(sim.stats());
    running.store(false, Ordering::Relaxed);
    let _ = sampler.join();

    let floor = after_apply["throttling"]["floorRealSeconds"]
        .as_f64()
        .unwrap_or(0.0);
    // The throttling floor is when the last write can be accepted at the earliest. Every VM PUT waits for its
    // NIC, so the last accepted write is a VM PUT, and the pool exists only when that VM has provisioned: no
    // client can finish before the floor plus one VM creation.
    let vm_create = largek8s_sim::lro::latency(
        "Microsoft.Compute/virtualMachines",
        largek8s_sim::lro::OpKind::Create,
    ) / scale;
    let least = floor + vm_create;
    let sets = nodes.div_ceil(100);
    let minimum_writes = 2 * nodes + sets;
    let writes = count(&after_apply, "PUT", false);
    let write_attempts = count(&after_apply, "PUT", true);
    let refresh_gets = count(&after_refresh, "GET", true) - count(&after_apply, "GET", true);
    println!("pool_create: {nodes} nodes in {sets} sets, time scale {scale}");
    println!(
        "  wall time {:.2} s / throttling floor {floor:.2} s = {:.2}",
        wall.as_secs_f64(),
        if floor > 0.0 {
            wall.as_secs_f64() / floor
        } else {
            f64::NAN
        }
    );
    println!(
        "  wall time {:.2} s / least possible {least:.2} s (floor + one VM creation, {vm_create:.2} s) = {:.2}",
        wall.as_secs_f64(),
        wall.as_secs_f64() / least.max(f64::EPSILON)
    );
    println!(
        "  ARM writes accepted {writes} (attempts incl. 429s {write_attempts}) / minimum {minimum_writes} = {:.3}",
        writes as f64 / minimum_writes as f64
    );
    println!("  ARM GETs for one refresh: {refresh_gets} ({sets} sets)");
    println!(
        "  provider peak RSS (VmHWM, sampled every 20 ms): {:.1} MiB",
        peak.load(Ordering::Relaxed) as f64 / 1024.0
    );
}
