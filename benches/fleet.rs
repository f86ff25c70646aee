//! A 5,000-node fleet behind Standard load balancers, with real Terraform against the simulator's azure-public
//! throttling (time-scaled). Prints, per phase (pool create, group create, refresh): ARM writes against the least
//! number needed, simulated wall against the least simulated time (`run` in `/_sim/stats`), real wall, reads,
//! and the provider's peak RSS; then two 1,000-node pools applied at once from two working directories against
//! one subscription. Figures only: nothing here asserts on time.
//! Run: `cargo build --workspace --bins --release && cargo bench --bench fleet`
//! (FLEET_NODES, FLEET_SET_SIZE, FLEET_TIME_SCALE, FLEET_MODES, FLEET_PAIR_NODES override the defaults;
//! TERRAFORM names the CLI).

#[allow(dead_code)]
mod support;

use largek8s::arm::{Conditions, Ctx};
use serde_json::json;
use support::sim::Sim;
use support::{env_or, subnet_id, Phase, RssSampler, Workspace, RESOURCE_GROUP};
use tokio_util::sync::CancellationToken;

/// The group's `backend_pool_type` per run, each on a fresh simulator: members by IP address in the load
/// balancer's body (Standard's default), and by NIC. Leave one out to run only the other.
const BACKEND_POOL_TYPES: &[&str] = &["NodeIP", "NodeIPConfiguration"];

/// A subnet the demo world's VNet has room for, large enough for 5,000 nodes (the seeded `nodes` is a /20).
const FLEET_SUBNET: &str = "fleet";
const FLEET_PREFIX: &str = "10.0.64.0/18";

struct Settings {
    nodes: u64,
    set_size: u64,
    scale: f64,
}

fn start_sim(scale: f64) -> (Sim, tokio::runtime::Runtime) {
    let sim = Sim::start(&[
        "--seed",
        "demo",
        "--throttle",
        "azure-public",
        "--time-scale",
        &scale.to_string(),
    ]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = sim.client().await;
        client
            .put_and_wait::<_, serde_json::Value>(
                &Ctx::unbounded(CancellationToken::new()),
                &subnet_id(FLEET_SUBNET),
                largek8s::arm::models::NETWORK_API_VERSION,
                &json!({ "properties": { "addressPrefix": FLEET_PREFIX } }),
                &Conditions::default(),
            )
            .await
            .expect("fleet subnet");
    });
    (sim, rt)
}

fn pool_tf(name: &str, nodes: u64, set_size: u64) -> String {
    format!(
        r#"resource "largek8s_pool" "{name}" {{
  name                = "{name}"
  resource_group_name = "{RESOURCE_GROUP}"
  location            = "westeurope"
  node_count          = {nodes}
  max_nodes_per_set   = {set_size}
  vm_size             = "Standard_D2s_v5"
  subnet_id           = "{subnet}"
  admin_username      = "azureuser"
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE fleet"]
}}
"#,
        subnet = subnet_id(FLEET_SUBNET)
    )
}

fn group_tf(backend_pool_type: &str) -> String {
    format!(
        r#"resource "largek8s_lb_group" "fleet" {{
  name                = "fleet"
  resource_group_name = "{RESOURCE_GROUP}"
  location            = "westeurope"
  sku                 = "Standard"
  backend_sets        = largek8s_pool.fleet.availability_sets
  backend_pool_type   = "{backend_pool_type}"

  rules = [
    {{ name = "https", protocol = "Tcp", frontend_port = 443, backend_port = 30443, probe_name = "https" }},
  ]
  probes = [
    {{ name = "https", protocol = "Tcp", port = 30443 }},
  ]
}}
"#
    )
}

/// One mode's phases and the least writes each needs.
struct Run {
    mode: &'static str,
    phases: Vec<(Phase, u64)>,
    membership_writes: u64,
    load_balancers: u64,
    sets: u64,
}

fn run_mode(settings: &Settings, backend_pool_type: &'static str) -> Run {
    let mode = backend_pool_type;
    let by_ip = backend_pool_type == "NodeIP";
    let (sim, rt) = start_sim(settings.scale);
    let rss = RssSampler::start();
    let ws = Workspace::new(&sim);
    ws.write(
        "pool.tf",
        &pool_tf("fleet", settings.nodes, settings.set_size),
    );
    ws.plan();
    let pool = Phase::measure("pool create", &sim, &rt, &rss, || ws.apply_plan());

    ws.write("group.tf", &group_tf(backend_pool_type));
    ws.plan();
    let group = Phase::measure("group create", &sim, &rt, &rss, || ws.apply_plan());
    let refresh = Phase::measure("refresh", &sim, &rt, &rss, || {
        ws.terraform(&["plan", "-refresh-only", "-input=false", "-no-color"]);
    });

    let sets = ws.resource("largek8s_pool.fleet")["availability_sets"]
        .as_array()
        .map_or(0, |a| a.len() as u64);
    let lbs = ws.resource("largek8s_lb_group.fleet")["load_balancers"]
        .as_array()
        .map_or(0, |a| a.len() as u64);
    let nodes = settings.nodes;
    // Least writes: a NIC and a VM per node and a PUT per set; per load balancer its public IP and itself,
    // whose body can hold IP-based members, and a NIC update per node when membership is NIC-based.
    let pool_least = 2 * nodes + sets;
    let per_node = if by_ip { 0 } else { nodes };
    let group_least = 2 * lbs + per_node;
    let membership_writes = if by_ip {
        group.writes_to("Microsoft.Network/loadBalancers")
    } else {
        group.writes_to("Microsoft.Network/networkInterfaces")
    };
    Run {
        mode,
        phases: vec![(pool, pool_least), (group, group_least), (refresh, 0)],
        membership_writes,
        load_balancers: lbs,
        sets,
    }
}

fn print_run(run: &Run, settings: &Settings) {
    println!(
        "\n{} nodes in {} sets of up to {}, Standard group in {} mode over {} load balancers, time scale {}",
        settings.nodes, run.sets, settings.set_size, run.mode, run.load_balancers, settings.scale
    );
    println!(
        "  {:<13} {:>15} {:>9} {:>26} {:>9} {:>11} {:>7} {:>5} {:>10}",
        "phase",
        "writes / least",
        "",
        "simulated wall / least",
        "",
        "real wall",
        "reads",
        "429s",
        "peak RSS"
    );
    for (p, least_writes) in &run.phases {
        let writes = if *least_writes > 0 {
            format!("{:>6} / {:<6}", p.writes, least_writes)
        } else {
            format!("{:>6} / {:<6}", p.writes, "-")
        };
        let write_ratio = if *least_writes > 0 {
            format!("{:.3}", p.writes as f64 / *least_writes as f64)
        } else {
            String::new()
        };
        // A phase that writes nothing (refresh) has no least time to compare with.
        let time_ratio = p.time_ratio_text();
        println!(
            "  {:<13} {:>15} {:>9} {:>11.0} s / {:>7.0} s = {:>9} {:>9.1} s {:>7} {:>5} {:>6.1} MiB",
            p.name,
            writes,
            write_ratio,
            p.simulated,
            p.least,
            time_ratio,
            p.real.as_secs_f64(),
            p.reads,
            p.write_attempts - p.writes,
            p.rss_mib
        );
    }
    let (pool, group) = (&run.phases[0].0, &run.phases[1].0);
    let refresh = &run.phases[2].0;
    let both_sim = pool.simulated + group.simulated;
    let both_least = pool.least + group.least;
    println!(
        "  group membership writes {} (target <= 2 x {} load balancers = {})",
        run.membership_writes,
        run.load_balancers,
        2 * run.load_balancers
    );
    println!(
        "  pool + group simulated wall {both_sim:.0} s / least {both_least:.0} s = {:.3} (target <= 1.15)",
        both_sim / both_least.max(f64::EPSILON)
    );
    println!(
        "  refresh reads {} (target <= 2 x ({} sets + {} load balancers) = {} plus list pages)",
        refresh.reads,
        run.sets,
        run.load_balancers,
        2 * (run.sets + run.load_balancers)
    );
    let peak = run
        .phases
        .iter()
        .map(|(p, _)| p.rss_mib)
        .fold(0.0, f64::max);
    println!("  provider peak RSS {peak:.1} MiB (target <= 128 MiB)");
    let failed: u64 = run.phases.iter().map(|(p, _)| p.failed).sum();
    println!("  failed requests (not 2xx, 404 or 429): {failed}");
}

/// Two pools from two working directories applied at once against one subscription.
fn two_workspaces(nodes: u64, scale: f64) {
    let (sim, rt) = start_sim(scale);
    let rss = RssSampler::start();
    let spaces: Vec<Workspace> = ["alpha", "beta"]
        .iter()
        .map(|name| {
            let ws = Workspace::new(&sim);
            ws.write("pool.tf", &pool_tf(name, nodes, 200));
            ws.plan();
            ws
        })
        .collect();
    let both = Phase::measure("two pools", &sim, &rt, &rss, || {
        std::thread::scope(|s| {
            for ws in &spaces {
                s.spawn(|| ws.apply_plan());
            }
        });
    });
    let converged = spaces.iter().filter(|ws| ws.converged()).count();
    let sets = 2 * nodes.div_ceil(200);
    println!(
        "\ntwo workspaces: 2 x {nodes} nodes applied at once against one subscription, time scale {scale}"
    );
    println!(
        "  writes {} / least {} ; 429s {} ; failed requests (not 2xx, 404 or 429) {} ; converged {converged} of 2",
        both.writes,
        4 * nodes + sets,
        both.write_attempts - both.writes,
        both.failed
    );
    println!(
        "  combined simulated wall {:.0} s / shared least {:.0} s = {} (target <= 1.2) ; real wall {:.1} s ; peak RSS {:.1} MiB",
        both.simulated,
        both.least,
        both.time_ratio_text(),
        both.real.as_secs_f64(),
        both.rss_mib
    );
}

fn main() {
    let settings = Settings {
        nodes: env_or("FLEET_NODES", 5000),
        set_size: env_or("FLEET_SET_SIZE", 200),
        scale: env_or("FLEET_TIME_SCALE", 10.0),
    };
    // FLEET_MODES=NodeIP (a comma-separated subset) runs fewer modes; FLEET_PAIR_NODES=0 skips the pair.
    let modes: String = env_or("FLEET_MODES", BACKEND_POOL_TYPES.join(","));
    for &t in BACKEND_POOL_TYPES {
        if modes.split(',').any(|m| m.trim() == t) {
            let run = run_mode(&settings, t);
            print_run(&run, &settings);
        }
    }
    let pair_nodes = env_or("FLEET_PAIR_NODES", 1000);
    if pair_nodes > 0 {
        two_workspaces(pair_nodes, settings.scale);
    }
}
