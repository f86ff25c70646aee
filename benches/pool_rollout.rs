//! Rolls a new image out to a 2,000-node `largek8s_pool` with real Terraform against the simulator's azure-public
//! throttling (time-scaled), `upgrade.max_unavailable = "10%"`, and prints: the rollout's wall time against the
//! least time any client needs (the longer of two lower bounds: one VM deletion and one VM creation per batch, since
//! a batch starts only when the previous one has provisioned; and the throttling floor of its writes plus the last
//! VM's creation; tokens refill while a batch provisions, so the two overlap and do not add), the ARM writes it
//! issued against the minimum (a DELETE and a PUT per node), and the most nodes the simulator saw away at once
//! against the bound.
//! Run: `cargo build --workspace --bins --release && cargo bench --bench pool_rollout`
//! (POOL_ROLLOUT_NODES and POOL_ROLLOUT_TIME_SCALE override the defaults; TERRAFORM names the CLI).

// The bench uses only part of what the benches share.
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use largek8s_sim::lro::{latency, OpKind};
use serde_json::Value;
use support::sim::Sim;
use support::{count, env_or, subnet_id, Workspace, RESOURCE_GROUP, WRITES};

const VM: &str = "Microsoft.Compute/virtualMachines";

/// Requests ARM accepted (2xx) of `methods` on `resource_type` (any type for "").
fn accepted(stats: &Value, methods: &[&str], resource_type: &str) -> u64 {
    count(stats, methods, resource_type, |s| (200..300).contains(&s))
}

fn config(nodes: u64, image_version: &str) -> String {
    let subnet = subnet_id("nodes");
    format!(
        r#"resource "largek8s_pool" "bench" {{
  name                = "bench"
  resource_group_name = "{RESOURCE_GROUP}"
  location            = "westeurope"
  node_count          = {nodes}
  vm_size             = "Standard_D2s_v5"
  subnet_id           = "{subnet}"
  admin_username      = "azureuser"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE bench"]
  image               = {{ version = "{image_version}" }}
  upgrade             = {{ max_unavailable = "10%" }}
}}
"#
    )
}

fn main() {
    let nodes: u64 = env_or("POOL_ROLLOUT_NODES", 2000);
    let scale: f64 = env_or("POOL_ROLLOUT_TIME_SCALE", 20.0);
    // The pool's VMs need room in the demo subnet (/20) beside nothing else; tokens outlive the run.
    let sim = Sim::start(&[
        "--seed",
        "demo",
        "--time-scale",
        &scale.to_string(),
        "--token-lifetime",
        "100000000",
    ]);
    let ws = Workspace::new(&sim);
    let apply = ["apply", "-auto-approve", "-input=false", "-no-color"];
    ws.write("main.tf", &config(nodes, "24.04.1"));
    ws.terraform(&apply);

    // Let every throttling bucket refill (PutVM3Min is the slowest: 3 simulated minutes), so that the rollout
    // starts from full buckets and its floor is its own.
    std::thread::sleep(Duration::from_secs_f64(200.0 / scale));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let before = rt.block_on(sim.stats());
    // Each pool's most-unavailable figure restarts from the nodes down now.
    rt.block_on(sim.control(reqwest::Method::DELETE, "/_sim/stats/unavailable", None));
    ws.write("main.tf", &config(nodes, "24.04.2"));
    let start = Instant::now();
    ws.terraform(&apply);
    let wall = start.elapsed().as_secs_f64();
    let after = rt.block_on(sim.stats());

    let deletes = accepted(&after, &["DELETE"], VM) - accepted(&before, &["DELETE"], VM);
    let puts = accepted(&after, &["PUT"], VM) - accepted(&before, &["PUT"], VM);
    let writes = accepted(&after, WRITES, "") - accepted(&before, WRITES, "");
    let gets = count(&after, &["GET"], "", |_| true) - count(&before, &["GET"], "", |_| true);
    // azure-public buckets (sim/README.md): subscription writes and deletes 200 + 10/s each, PutVM3Min 1,500 +
    // 500/min. The least simulated time in which the rollout's writes can be accepted from full buckets:
    let floor_simulated = [
        (deletes as f64 - 200.0) / 10.0,
        (puts as f64 - 200.0) / 10.0,
        (puts as f64 - 1500.0) / (500.0 / 60.0),
    ]
    .into_iter()
    .fold(0.0, f64::max);
    let batch = (nodes * 10 / 100).max(1);
    let batches = nodes.div_ceil(batch);
    let per_batch = latency(VM, OpKind::Delete) + latency(VM, OpKind::Create);
    let batched = batches as f64 * per_batch;
    let throttled = floor_simulated + latency(VM, OpKind::Create);
    let least = batched.max(throttled) / scale;
    let most = after["unavailable"]
        .as_object()
        .and_then(|pools| pools.values().next())
        .and_then(|p| p["mostUnavailable"].as_u64())
        .unwrap_or_default();
    println!("pool_rollout: {nodes} nodes, new image, max_unavailable 10% ({batch} per batch, {batches} batches), time scale {scale}");
    println!(
        "  wall time {wall:.2} s / least possible {least:.2} s (the longer of {batches} x (VM delete + VM create) {:.2} s and write floor + VM create {:.2} s) = {:.2}",
        batched / scale,
        throttled / scale,
        wall / least.max(f64::EPSILON)
    );
    println!(
        "  ARM writes accepted {writes} (VM DELETE {deletes}, VM PUT {puts}) / minimum {} (2 per node) = {:.3}",
        2 * nodes,
        writes as f64 / (2 * nodes) as f64
    );
    println!("  ARM GETs during the rollout (reads, operation polls): {gets}");
    println!("  most nodes absent or not Succeeded at once: {most} (bound {batch})");
}
