//! Applies a 1,000-node `largek8s_pool` with real Terraform against the simulator's azure-public throttling
//! (time-scaled) and prints: simulated wall time against the least time the simulator computes for the run
//! (`run` in `/_sim/stats`: throttling floor plus the provisioning on the critical path), ARM writes issued
//! against the minimum (one PUT per set, NIC and VM), the ARM reads of one refresh, and the provider's peak RSS
//! (VmHWM from /proc of the provider process, sampled while it runs).
//! Run: `cargo build --workspace --bins --release && cargo bench --bench pool_create`
//! (POOL_BENCH_NODES and POOL_BENCH_TIME_SCALE override the defaults; TERRAFORM names the CLI).

#[allow(dead_code)]
mod support;

use support::sim::{Sim, SUBSCRIPTION};
use support::{env_or, Phase, RssSampler, Workspace};

fn main() {
    let nodes: u64 = env_or("POOL_BENCH_NODES", 1000);
    let scale: f64 = env_or("POOL_BENCH_TIME_SCALE", 20.0);
    let sim = Sim::start(&["--seed", "demo", "--time-scale", &scale.to_string()]);
    let ws = Workspace::new(&sim);
    ws.write(
        "main.tf",
        &format!(
            r#"resource "largek8s_pool" "bench" {{
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
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rss = RssSampler::start();
    ws.plan();
    let create = Phase::measure("create", &sim, &rt, &rss, || ws.apply_plan());
    let refresh = Phase::measure("refresh", &sim, &rt, &rss, || {
        ws.terraform(&["plan", "-refresh-only", "-input=false", "-no-color"]);
    });

    let sets = nodes.div_ceil(100);
    let minimum_writes = 2 * nodes + sets;
    println!("pool_create: {nodes} nodes in {sets} sets, time scale {scale}");
    println!(
        "  simulated wall {:.0} s / least time {:.0} s = {} (real wall {:.2} s)",
        create.simulated,
        create.least,
        create.time_ratio_text(),
        create.real.as_secs_f64()
    );
    println!(
        "  ARM writes accepted {} (attempts incl. 429s {}) / minimum {minimum_writes} = {:.3}",
        create.writes,
        create.write_attempts,
        create.writes as f64 / minimum_writes as f64
    );
    println!(
        "  ARM GETs for one refresh: {} ({sets} sets)",
        refresh.reads
    );
    println!(
        "  provider peak RSS (VmHWM, sampled every 20 ms): {:.1} MiB",
        create.rss_mib.max(refresh.rss_mib)
    );
}
