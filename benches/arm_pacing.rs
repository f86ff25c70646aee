//! PUTs 2,000 NIC-like resources through the ARM client against the simulator's azure-public throttling model
//! (time-scaled) and prints wall time against the simulator's throttling floor, the 429 count and the total
//! requests. Run: `cargo bench --bench arm_pacing` (ARM_BENCH_NICS, ARM_BENCH_TIME_SCALE and
//! ARM_BENCH_CONCURRENCY override the defaults).

// The bench uses only part of the tests' simulator helper.
#[allow(dead_code)]
#[path = "../tests/support/sim.rs"]
mod sim;

use std::time::{Duration, Instant};

use largek8s::arm::models::{network, ResourceGroup};
use largek8s::arm::{ArmClient, Conditions, Ctx, ResourceId};
use serde_json::json;
use sim::{Sim, SUBSCRIPTION};
use tokio_util::sync::CancellationToken;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn setup(client: &ArmClient, ctx: &Ctx) -> ResourceId {
    let rg = ResourceId::resource_group(SUBSCRIPTION, "bench");
    client
        .put_resource_group(
            ctx,
            &rg,
            &ResourceGroup {
                location: "westeurope".into(),
                extra: Default::default(),
            },
        )
        .await
        .expect("resource group");
    let vnet: network::VirtualNetwork = serde_json::from_value(json!({
        "location": "westeurope",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "nodes", "properties": {"addressPrefix": "10.0.0.0/20"}}]
        }
    }))
    .expect("vnet body");
    let vnet_id = ResourceId::virtual_network(SUBSCRIPTION, "bench", "vnet");
    client
        .create_or_update(ctx, &vnet_id, &vnet, &Conditions::default())
        .await
        .expect("vnet");
    ResourceId::subnet(SUBSCRIPTION, "bench", "vnet", "nodes")
}

fn main() {
    let nics: usize = env_or("ARM_BENCH_NICS", 2000);
    let scale: f64 = env_or("ARM_BENCH_TIME_SCALE", 20.0);
    let sim = Sim::start(&["--time-scale", &scale.to_string()]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ctx = Ctx::new(CancellationToken::new(), Duration::from_secs(3600));
        let concurrency: i64 = env_or("ARM_BENCH_CONCURRENCY", 16);
        let settings = largek8s::arm::Settings { max_concurrency: Some(concurrency), ..sim.settings() };
        let client = sim.client_with(settings).await;
        let start = Instant::now();
        let subnet = setup(&client, &ctx).await;
        let setup_time = start.elapsed().as_secs_f64();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..nics {
            let (client, ctx, subnet) = (client.clone(), ctx.clone(), subnet.clone());
            tasks.spawn(async move {
                let nic: network::NetworkInterface = serde_json::from_value(json!({
                    "location": "westeurope",
                    "properties": {"ipConfigurations": [{
                        "name": "ipconfig1",
                        "properties": {"subnet": {"id": subnet.to_string()}, "privateIPAllocationMethod": "Dynamic"}
                    }]}
                }))
                .expect("nic body");
                let id = ResourceId::network_interface(SUBSCRIPTION, "bench", &format!("nic-{i}"));
                client.create_or_update(&ctx, &id, &nic, &Conditions::default()).await.map(|_| ())
            });
        }
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r.expect("task") {
                failed += 1;
                eprintln!("PUT failed: {e}");
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let stats = sim.stats().await;
        let floor = stats["throttling"]["floorRealSeconds"].as_f64().unwrap_or(0.0);
        let throttled = stats["byStatus"]["429"].as_u64().unwrap_or(0);
        let total = stats["total"].as_u64().unwrap_or(0);
        println!("nics: {nics}, time scale: {scale}, max_concurrency: {concurrency}, failed: {failed}, setup (resource group, vnet): {setup_time:.2} s");
        let floor = floor.max(f64::EPSILON);
        let puts = wall - setup_time;
        println!(
            "wall time: {wall:.2} s (NIC phase {puts:.2} s), throttling floor: {floor:.2} s, ratio: {:.3} (NIC phase {:.3})",
            wall / floor,
            puts / floor
        );
        println!("429 responses: {throttled}, total requests: {total}, by method: {}", stats["byMethod"]);
        for r in stats["requests"].as_array().into_iter().flatten().filter(|r| r["status"] == 429) {
            println!("  429: {} {} x{}", r["method"], r["resourceType"], r["count"]);
        }
    });
}
