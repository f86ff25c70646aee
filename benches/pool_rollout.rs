//! Rolls a new image out to a 2,000-node `largek8s_pool` with real Terraform against the simulator's azure-public
//! throttling (time-scaled), `upgrade.max_unavailable = "10%"`, and prints: the rollout's wall time against the
//! least time any client needs (the throttling floor of its writes plus one VM deletion and one VM creation per
//! batch, since a batch starts only when the previous one has provisioned), the ARM writes it issued against the
//! minimum (a DELETE and a PUT per node), and the most nodes the simulator saw away at once against the bound.
//! Run: `cargo build --workspace --bins --release && cargo bench --bench pool_rollout`
//! (POOL_ROLLOUT_NODES and POOL_ROLLOUT_TIME_SCALE override the defaults; TERRAFORM names the CLI).

// Terraform runs, counters and the simulator helper come from the pool_create bench.
#[allow(dead_code)]
#[path = "pool_create.rs"]
mod pool_create;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use largek8s_sim::lro::{latency, OpKind};
use pool_create::sim::{Sim, SUBSCRIPTION};
use pool_create::{count, env_or, terraform, BINARY};
use serde_json::Value;

const VM: &str = "Microsoft.Compute/virtualMachines";

/// One control-API request (`/_sim/...`) over HTTP/1.0; the JSON answer, Null when there is none.
fn control(sim: &Sim, method: &str, path: &str) -> Value {
    let addr = sim.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the simulator");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send a control request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("read the control answer");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Accepted (non-429) requests of `method` on VMs.
fn vm_requests(stats: &Value, method: &str) -> u64 {
    stats["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["method"] == method && r["resourceType"] == VM && r["status"] != 429)
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

fn config(nodes: u64, image_version: &str) -> String {
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
    let main_tf = dir.path().join("main.tf");
    let apply = ["apply", "-auto-approve", "-input=false", "-no-color"];
    std::fs::write(&main_tf, config(nodes, "24.04.1")).expect("main.tf");
    terraform(dir.path(), &sim, &apply);

    // Let every throttling bucket refill (PutVM3Min is the slowest: 3 simulated minutes), so that the rollout
    // starts from full buckets and its floor is its own.
    std::thread::sleep(Duration::from_secs_f64(200.0 / scale));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let before = rt.block_on(sim.stats());
    control(&sim, "DELETE", "/_sim/stats/unavailable");
    std::fs::write(&main_tf, config(nodes, "24.04.2")).expect("main.tf");
    let start = Instant::now();
    terraform(dir.path(), &sim, &apply);
    let wall = start.elapsed().as_secs_f64();
    let after = rt.block_on(sim.stats());

    let deletes = vm_requests(&after, "DELETE") - vm_requests(&before, "DELETE");
    let puts = vm_requests(&after, "PUT") - vm_requests(&before, "PUT");
    let writes = count(&after, "PUT", false) + count(&after, "DELETE", false)
        - count(&before, "PUT", false)
        - count(&before, "DELETE", false);
    let gets = count(&after, "GET", true) - count(&before, "GET", true);
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
    let least = (floor_simulated + batches as f64 * per_batch) / scale;
    let most = after["unavailable"]
        .as_object()
        .and_then(|pools| pools.values().next())
        .and_then(|p| p["mostUnavailable"].as_u64())
        .unwrap_or_default();
    println!("pool_rollout: {nodes} nodes, new image, max_unavailable 10% ({batch} per batch, {batches} batches), time scale {scale}");
    println!(
        "  wall time {wall:.2} s / least possible {least:.2} s (write floor {:.2} s + {batches} x (VM delete + VM create) {:.2} s) = {:.2}",
        floor_simulated / scale,
        batches as f64 * per_batch / scale,
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
