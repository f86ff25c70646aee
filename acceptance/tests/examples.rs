//! The examples users copy: every directory under examples/ is applied against the simulator by real
//! Terraform, planned again (no changes) and destroyed, leaving the simulator as it was. The resource
//! examples are also imported into fresh state, with their import blocks and with their import.sh, and
//! then plan clean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, sim_resources, Simulator, Workspace,
};
use serde_json::{json, Value};

/// Every example directory (relative to examples/) and the test that applies it.
const COVERED: &[&str] = &[
    "modules/large_cluster",
    "provider",
    "quickstart",
    "resources/largek8s_lb_group",
    "resources/largek8s_pool",
    "resources/largek8s_virtual_node",
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
}

/// Directories under examples/ that hold Terraform files, relative to it.
fn example_dirs(dir: &Path, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            example_dirs(&path, found);
        } else if path.extension().is_some_and(|e| e == "tf") {
            if let Ok(relative) = dir.strip_prefix(examples_dir()) {
                found.insert(relative.display().to_string());
            }
        }
    }
}

#[test]
fn every_example_directory_is_applied_by_a_test() {
    let mut found = BTreeSet::new();
    example_dirs(&examples_dir(), &mut found);
    let covered: BTreeSet<String> = COVERED.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        found, covered,
        "each directory under examples/ needs a test here that applies it"
    );
}

/// Copies an example's files (all but `skip`) into the workspace.
fn copy_example(ws: &Workspace, dir: &str, skip: &[&str]) {
    let src = examples_dir().join(dir);
    for entry in std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && !skip.contains(&name.as_str()) && !name.ends_with(".sh") {
            ws.write(
                &name,
                &std::fs::read_to_string(entry.path()).unwrap_or_default(),
            );
        }
    }
}

/// A workspace for a resource example: the provider requirement the example leaves out, and a home
/// directory with the SSH public key the examples read from `~/.ssh/id_ed25519.pub`.
fn resource_workspace(simulator: &Simulator, dir: &str, skip: &[&str]) -> Workspace {
    let mut ws = Workspace::for_simulator(simulator);
    let home = ws.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap_or_else(|e| panic!("home: {e}"));
    std::fs::write(
        home.join(".ssh/id_ed25519.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKey00000000000000000000000000000000 examples\n",
    )
    .unwrap_or_else(|e| panic!("ssh key: {e}"));
    let home = home.display().to_string();
    ws.env("HOME", &home);
    ws.write("versions.tf", &required_providers());
    copy_example(&ws, dir, skip);
    ws
}

/// A resource in a plan with its attributes before and after, without `timeouts`.
/// Inputs that only steer the provider and that Azure does not keep, so no import can read them back (the
/// resource docs say so): `timeouts`, and a pool's `upgrade` and `custom_data_version`.
fn without_timeouts(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        for name in ["timeouts", "upgrade", "custom_data_version"] {
            object.remove(name);
        }
    }
    value
}

/// Plans after an import and checks the plan changes nothing in Azure: every resource is a no-op, or an
/// in-place update of inputs Azure does not keep alone (see `without_timeouts`). Applies that plan, then plans again: no changes at all.
fn apply_import_plan(ws: &Workspace, what: &str) {
    let plan = ws.terraform(&["plan", "-out=import.tfplan", "-no-color"]);
    assert!(plan.success, "{what}: plan failed:\n{}", plan.text());
    let show = ws.terraform(&["show", "-json", "import.tfplan"]);
    assert!(show.success, "{what}: show failed:\n{}", show.text());
    let plan_json: Value =
        serde_json::from_str(&show.stdout).unwrap_or_else(|e| panic!("{what}: plan JSON: {e}"));
    let changes = plan_json["resource_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!changes.is_empty(), "{what}: the plan holds no resources");
    for change in &changes {
        let address = change["address"].as_str().unwrap_or("?");
        let actions = &change["change"]["actions"];
        let harmless = *actions == json!(["no-op"])
            || (*actions == json!(["update"])
                && without_timeouts(&change["change"]["before"])
                    == without_timeouts(&change["change"]["after"]));
        assert!(
            harmless,
            "{what}: {address} must change nothing but its timeouts after import, got {actions}:\n{}",
            plan.text()
        );
    }
    let run = ws.terraform(&["apply", "-no-color", "import.tfplan"]);
    assert!(run.success, "{what}: apply failed:\n{}", run.text());
    ws.assert_plan_clean(what);
}

/// The `terraform import ADDRESS ID` commands of an import.sh, with line continuations joined.
fn import_commands(script: &str) -> Vec<(String, String)> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("terraform"), Some("import"), Some(address), Some(id)) => {
                    Some((address.to_string(), id.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// IDs of everything the simulator holds.
fn simulator_ids(simulator: &Simulator) -> BTreeSet<String> {
    sim_resources(&simulator.url)
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_ascii_lowercase))
        .collect()
}

/// Applies `examples/<dir>` and plans clean; imports it into fresh state with import.tf and with
/// import.sh, planning clean after each; destroys it and checks the simulator is back to what it was.
fn resource_example(dir: &str, setup: impl Fn(&Simulator)) {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    setup(&simulator);
    let before = simulator_ids(&simulator);

    let ws = resource_workspace(&simulator, dir, &["import.tf"]);
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "{dir}: apply failed:\n{}", run.text());
    ws.assert_plan_clean(&format!("applying {dir}"));

    let with_blocks = resource_workspace(&simulator, dir, &[]);
    apply_import_plan(&with_blocks, &format!("{dir}/import.tf"));

    let script = std::fs::read_to_string(examples_dir().join(dir).join("import.sh"))
        .unwrap_or_else(|e| panic!("{dir}/import.sh: {e}"));
    let commands = import_commands(&script);
    assert!(!commands.is_empty(), "{dir}/import.sh imports nothing");
    let with_cli = resource_workspace(&simulator, dir, &["import.tf"]);
    for (address, id) in &commands {
        let run = with_cli.terraform(&["import", "-no-color", address, id]);
        assert!(
            run.success,
            "{dir}: import {address} failed:\n{}",
            run.text()
        );
    }
    apply_import_plan(&with_cli, &format!("{dir}/import.sh"));

    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        destroy.success,
        "{dir}: destroy failed:\n{}",
        destroy.text()
    );
    assert_eq!(
        simulator_ids(&simulator),
        before,
        "{dir}: destroy must leave the simulator as the example found it"
    );
}

#[test]
fn pool_example_applies_imports_and_destroys() {
    resource_example("resources/largek8s_pool", |_| {});
}

#[test]
fn lb_group_example_applies_imports_and_destroys() {
    // The example's DNS record goes into an existing zone, example.com in resource group "dns".
    resource_example("resources/largek8s_lb_group", |simulator| {
        let group = format!("/subscriptions/{}/resourceGroups/dns", sim::SUBSCRIPTION);
        for (id, body) in [
            (group.clone(), json!({ "location": "westeurope" })),
            (
                format!("{group}/providers/Microsoft.Network/dnsZones/example.com"),
                json!({ "location": "global" }),
            ),
        ] {
            let (status, reply) = sim_control(
                &simulator.url,
                "PUT",
                &format!("/_sim/resource?id={id}"),
                Some(&body),
            );
            assert_eq!(status, 200, "PUT {id}: {reply}");
        }
    });
}

#[test]
fn virtual_node_example_applies_imports_and_destroys() {
    resource_example("resources/largek8s_virtual_node", |_| {});
}

#[test]
fn provider_example_signs_in() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let ws = resource_workspace(&simulator, "provider", &[]);
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());
    assert_eq!(ws.output("subscription_id"), Value::from(sim::SUBSCRIPTION));
}

#[test]
fn quickstart_applies_plans_clean_and_destroys() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let ws = Workspace::for_simulator(&simulator);
    copy_example(&ws, "quickstart", &[]);

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

    ws.assert_plan_clean("the first apply");

    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
}

#[test]
fn large_cluster_module_composes_the_three_resources_from_arm_ids() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let ws = Workspace::for_simulator(&simulator);
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
    ws.assert_plan_clean("the first apply");
    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
}
