//! Rolling node replacement in `largek8s_pool` through real Terraform against the simulator: a 300-node pool
//! behind a Standard `largek8s_lb_group` takes a new image, a new `custom_data_version`, an interrupted rollout,
//! and VM size changes, all in place, never with more than `upgrade.max_unavailable` nodes away at once.

use std::collections::BTreeMap;
use std::time::Duration;

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, sim_resources, wait_until, Simulator,
    Workspace,
};
use serde_json::{json, Value};

const RG: &str = "largek8s-demo";
const NODES: usize = 300;
/// `max_unavailable = "10%"` of 300 nodes.
const BATCH: u64 = 30;

fn subnet() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{RG}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes",
        sim::SUBSCRIPTION
    )
}

/// The pool (with `node_shape` lines inside its block) behind a Standard group whose members are the nodes' NIC IP
/// configurations: the form a VM replacement could break, since the membership lives on the NIC the new VM takes
/// over (by-IP members live on the load balancer and see only the IP, which the NIC keeps too).
fn config(simulator: &Simulator, node_count: usize, node_shape: &str) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{\n  arm_endpoint = \"{url}\"\n}}\n\n\
         resource \"largek8s_pool\" \"p\" {{\n  name = \"agents\"\n  resource_group_name = \"{RG}\"\n  location = \"westeurope\"\n  \
         node_count = {node_count}\n  subnet_id = \"{subnet}\"\n  admin_username = \"azureuser\"\n  \
         ssh_public_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE largek8s\"]\n  \
         upgrade = {{ max_unavailable = \"10%\" }}\n{node_shape}}}\n\n\
         resource \"largek8s_lb_group\" \"web\" {{\n  name = \"web\"\n  resource_group_name = \"{RG}\"\n  location = \"westeurope\"\n  \
         sku = \"Standard\"\n  backend_pool_type = \"NodeIPConfiguration\"\n  backend_sets = largek8s_pool.p.availability_sets\n  \
         rules = [{{ name = \"http\", protocol = \"Tcp\", frontend_port = 80, backend_port = 30080, probe_name = \"http\" }}]\n  \
         probes = [{{ name = \"http\", protocol = \"Http\", port = 30080, request_path = \"/healthz\" }}]\n}}\n",
        required_providers(),
        url = simulator.url,
        subnet = subnet(),
    )
}

fn shape(vm_size: &str, image_version: &str, extra: &str) -> String {
    format!(
        "  vm_size = \"{vm_size}\"\n  image = {{ version = \"{image_version}\" }}\n  custom_data = \"#cloud-config\\n\"\n{extra}"
    )
}

fn apply(ws: &Workspace) -> String {
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());
    run.text()
}

/// What a node keeps across a rollout and what it changes, as the simulator holds it.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    vm_uuid: String,
    vm_size: String,
    nic_id: String,
    private_ip: String,
    backend_pools: Vec<String>,
}

/// The pool's nodes by VM name.
fn nodes(simulator: &Simulator) -> BTreeMap<String, Node> {
    let resources = sim_resources(&simulator.url);
    let of_type = |ty: &'static str| {
        resources.iter().filter(move |r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(ty))
        })
    };
    let nics: BTreeMap<String, &Value> = of_type("Microsoft.Network/networkInterfaces")
        .filter_map(|n| Some((n["id"].as_str()?.to_ascii_lowercase(), &n["body"])))
        .collect();
    of_type("Microsoft.Compute/virtualMachines")
        .filter_map(|vm| {
            let body = &vm["body"];
            let name = body["name"].as_str()?.to_string();
            if !name.starts_with("agents-") {
                return None;
            }
            let nic_id = body["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
                .as_str()?
                .to_ascii_lowercase();
            let ipconfig = &nics.get(&nic_id)?["properties"]["ipConfigurations"][0]["properties"];
            let mut backend_pools: Vec<String> = ipconfig["loadBalancerBackendAddressPools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["id"].as_str().map(str::to_ascii_lowercase))
                .collect();
            backend_pools.sort();
            Some((
                name,
                Node {
                    vm_uuid: body["properties"]["vmId"].as_str()?.to_string(),
                    vm_size: body["properties"]["hardwareProfile"]["vmSize"]
                        .as_str()?
                        .to_string(),
                    nic_id,
                    private_ip: ipconfig["privateIPAddress"].as_str()?.to_string(),
                    backend_pools,
                },
            ))
        })
        .collect()
}

fn pool_tag() -> String {
    format!(
        "/subscriptions/{}/resourcegroups/{RG}/providers/largek8s/pools/agents",
        sim::SUBSCRIPTION
    )
}

/// The simulator's count of the pool's VMs absent or not Succeeded at once since the last reset.
fn most_unavailable(simulator: &Simulator) -> u64 {
    let (_, stats) = sim_control(&simulator.url, "GET", "/_sim/stats", None);
    stats["unavailable"][pool_tag()]["mostUnavailable"]
        .as_u64()
        .unwrap_or_default()
}

fn reset_unavailable(simulator: &Simulator) {
    let (status, body) = sim_control(&simulator.url, "DELETE", "/_sim/stats/unavailable", None);
    assert!(status < 300, "resetting the peak failed: {status} {body}");
}

/// Every node was replaced: a new VM (vmId) on the same NIC, IP and backend pools.
fn assert_replaced_in_place(before: &BTreeMap<String, Node>, after: &BTreeMap<String, Node>) {
    assert_eq!(after.len(), before.len(), "no node lost or added");
    for (name, old) in before {
        let new = after
            .get(name)
            .unwrap_or_else(|| panic!("{name} is missing"));
        assert_ne!(new.vm_uuid, old.vm_uuid, "{name} runs a new VM");
        assert_eq!(
            (&new.nic_id, &new.private_ip, &new.backend_pools),
            (&old.nic_id, &old.private_ip, &old.backend_pools),
            "{name} keeps its NIC, IP and load balancer membership"
        );
        assert!(!old.backend_pools.is_empty(), "{name} is behind the group");
    }
}

#[test]
fn a_300_node_pool_rolls_image_bootstrap_and_size_in_place_behind_a_standard_group() {
    let simulator = Simulator::start(&[
        "--seed",
        "demo",
        "--time-scale",
        "2000",
        "--token-lifetime",
        "10000000",
    ]);
    let ws = Workspace::for_simulator(&simulator);
    ws.write(
        "main.tf",
        &config(&simulator, NODES, &shape("Standard_D2s_v5", "24.04.1", "")),
    );
    apply(&ws);
    let created = nodes(&simulator);
    assert_eq!(created.len(), NODES);

    // A new image: one in-place update of the pool, 300 nodes in the warning, nothing replaced.
    ws.write(
        "main.tf",
        &config(&simulator, NODES, &shape("Standard_D2s_v5", "24.04.2", "")),
    );
    let plan = ws.terraform(&["plan", "-no-color"]);
    assert!(plan.success, "plan failed:\n{}", plan.text());
    assert!(
        plan.stdout
            .contains("largek8s_pool.p will be updated in-place")
            && plan.text().contains("300 nodes will be rolled")
            && !plan.stdout.contains("must be replaced"),
        "the plan shows an in-place rollout:\n{}",
        plan.text()
    );
    reset_unavailable(&simulator);
    apply(&ws);
    let reimaged = nodes(&simulator);
    assert_replaced_in_place(&created, &reimaged);
    let most = most_unavailable(&simulator);
    assert!(
        (1..=BATCH).contains(&most),
        "at most {BATCH} nodes away at once, saw {most}"
    );
    ws.assert_plan_clean("the image rollout");

    // A new bootstrap: custom_data is write-only, its version rolls it out the same way.
    ws.write(
        "main.tf",
        &config(
            &simulator,
            NODES,
            &shape("Standard_D2s_v5", "24.04.2", "  custom_data_version = 2\n"),
        ),
    );
    reset_unavailable(&simulator);
    apply(&ws);
    let rebooted = nodes(&simulator);
    assert_replaced_in_place(&reimaged, &rebooted);
    assert!(most_unavailable(&simulator) <= BATCH);
    ws.assert_plan_clean("the custom_data_version rollout");

    // Ctrl-C in the middle of a rollout: the next apply finishes it, still within the bound.
    ws.write(
        "main.tf",
        &config(
            &simulator,
            NODES,
            &shape("Standard_D2s_v5", "24.04.3", "  custom_data_version = 2\n"),
        ),
    );
    reset_unavailable(&simulator);
    let vm_deletes = |simulator: &Simulator| {
        let (_, stats) = sim_control(&simulator.url, "GET", "/_sim/stats", None);
        stats["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["method"] == "DELETE"
                    && r["resourceType"].as_str().is_some_and(|t| {
                        t.eq_ignore_ascii_case("Microsoft.Compute/virtualMachines")
                    })
            })
            .filter_map(|r| r["count"].as_u64())
            .sum::<u64>()
    };
    let deletes_before = vm_deletes(&simulator);
    let running = ws.spawn_terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        wait_until(Duration::from_secs(300), || vm_deletes(&simulator)
            > deletes_before + 2 * BATCH),
        "the rollout never reached its third batch"
    );
    running.interrupt();
    let stopped = running.wait();
    assert!(
        !stopped.success,
        "an interrupted apply fails:\n{}",
        stopped.text()
    );
    let halfway = nodes(&simulator);
    let replaced = rebooted
        .iter()
        .filter(|(name, n)| halfway.get(*name).is_none_or(|h| h.vm_uuid != n.vm_uuid))
        .count();
    assert!(
        replaced < NODES,
        "the rollout was stopped before its end ({replaced} nodes touched)"
    );
    apply(&ws);
    assert_replaced_in_place(&rebooted, &nodes(&simulator));
    let most = most_unavailable(&simulator);
    assert!(
        most <= BATCH,
        "at most {BATCH} nodes away across the interruption, saw {most}"
    );
    ws.assert_plan_clean("the resumed rollout");
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
    assert!(
        !state.contains("#cloud-config"),
        "custom_data never reaches state"
    );

    // A size every set's cluster offers: resized in place, the same VMs.
    let before = nodes(&simulator);
    ws.write(
        "main.tf",
        &config(
            &simulator,
            NODES,
            &shape("Standard_D4s_v5", "24.04.3", "  custom_data_version = 2\n"),
        ),
    );
    reset_unavailable(&simulator);
    apply(&ws);
    let resized = nodes(&simulator);
    for (name, old) in &before {
        let new = &resized[name];
        assert_eq!(new.vm_uuid, old.vm_uuid, "{name} is resized in place");
        assert_eq!(new.vm_size, "Standard_D4s_v5");
        assert_eq!(new.nic_id, old.nic_id);
    }
    assert!(most_unavailable(&simulator) <= BATCH);
    ws.assert_plan_clean("the resize");

    // A size the clusters do not offer, with a scale-up in the same apply: new nodes come with the new
    // shape, the others roll by replacement.
    let (status, body) = sim_control(
        &simulator.url,
        "POST",
        "/_sim/vm-sizes",
        Some(&json!({"availabilitySetId": "*", "sizes": ["Standard_D2s_v5", "Standard_D4s_v5"]})),
    );
    assert!(status < 300, "{status} {body}");
    ws.write(
        "main.tf",
        &config(
            &simulator,
            NODES + 20,
            &shape("Standard_E4s_v5", "24.04.3", "  custom_data_version = 2\n"),
        ),
    );
    apply(&ws);
    let replaced = nodes(&simulator);
    assert_eq!(replaced.len(), NODES + 20);
    assert!(replaced.values().all(|n| n.vm_size == "Standard_E4s_v5"));
    let kept: BTreeMap<String, Node> = replaced
        .iter()
        .filter(|(name, _)| resized.contains_key(*name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_replaced_in_place(&resized, &kept);
    ws.assert_plan_clean("the replacement with a scale-up");

    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    let left: Vec<String> = sim_resources(&simulator.url)
        .iter()
        .filter_map(|r| r["id"].as_str())
        .filter(|id| {
            id.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("agents-"))
        })
        .map(str::to_string)
        .collect();
    assert_eq!(left, Vec::<String>::new(), "nothing is left behind");
}
