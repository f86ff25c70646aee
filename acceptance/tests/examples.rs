//! The examples users copy: each is applied against the simulator by real Terraform, planned again (no
//! changes) and destroyed, leaving the simulator as it was.

use std::path::Path;

use largek8s_acceptance::{sim_defaults as sim, Simulator, Transport, Workspace};

fn copy_example(ws: &Workspace, dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
        .join(dir);
    for entry in std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tf") {
            ws.write(
                &name,
                &std::fs::read_to_string(entry.path()).unwrap_or_default(),
            );
        }
    }
}

fn simulator_workspace(simulator: &Simulator) -> Workspace {
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("ARM_ENDPOINT", &simulator.url)
        .env("ARM_SUBSCRIPTION_ID", sim::SUBSCRIPTION)
        .env("ARM_TENANT_ID", sim::TENANT)
        .env("ARM_CLIENT_ID", sim::CLIENT_ID)
        .env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET);
    ws
}

#[test]
fn quickstart_applies_plans_clean_and_destroys() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let ws = simulator_workspace(&simulator);
    copy_example(&ws, "quickstart");

    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());

    let sets = ws.output("availability_sets");
    let sizes: Vec<u64> = (0..5)
        .map(|i| sets[format!("agents-as-{i}")].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(sizes, [100, 100, 100, 100, 50], "{sets}");
    assert_eq!(
        ws.output("planned_set_sizes"),
        serde_json::json!([100, 100, 100, 100, 50])
    );
    let lbs = ws.output("load_balancers");
    let backends: u64 = lbs
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or_default();
    assert_eq!(
        backends, 450,
        "every node sits behind a Standard load balancer: {lbs}"
    );
    assert_eq!(
        ws.output("virtual_node")["node_name"],
        "virtual-node-aci-linux"
    );

    let plan = ws.terraform(&["plan", "-detailed-exitcode", "-no-color"]);
    assert!(
        plan.success,
        "a second plan must show no changes:\n{}",
        plan.text()
    );

    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
}

#[test]
fn large_cluster_module_composes_the_three_resources_from_arm_ids() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let ws = simulator_workspace(&simulator);
    let module = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples/modules/large_cluster");
    let group = format!(
        "/subscriptions/{}/resourceGroups/largek8s-demo",
        sim::SUBSCRIPTION
    );
    ws.write(
        "main.tf",
        &format!(
            r#"
module "cluster" {{
  source              = "{module}"
  name                = "big"
  resource_group_name = "largek8s-demo"
  location            = "westeurope"
  node_subnet_id      = "{group}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes"
  cluster_id          = "{group}/providers/Microsoft.ContainerService/managedClusters/largek8s-aks"
  virtual_node_prefix = "10.0.16.0/24"
  node_count          = 230
  ssh_public_keys     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIModuleTestKey000000000000000000000000000000 test"]
  load_balancer_rules = [{{ name = "http", protocol = "Tcp", frontend_port = 80, backend_port = 30080 }}]
}}

output "set_sizes" {{
  value = [for s in module.cluster.availability_sets : s.node_count]
}}

output "virtual_node" {{
  value = module.cluster.virtual_node
}}
"#,
            module = module.display()
        ),
    );
    let get = ws.terraform(&["get", "-no-color"]);
    assert!(get.success, "terraform get failed:\n{}", get.text());
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());
    assert_eq!(ws.output("set_sizes"), serde_json::json!([100, 100, 30]));
    assert_eq!(
        ws.output("virtual_node")["node_selector"]["type"],
        "virtual-kubelet"
    );
    let plan = ws.terraform(&["plan", "-detailed-exitcode", "-no-color"]);
    assert!(
        plan.success,
        "a second plan must show no changes:\n{}",
        plan.text()
    );
    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
}
