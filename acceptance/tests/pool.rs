//! `largek8s_pool` through real Terraform against the simulator: create, plan stability, scale up and down,
//! balance placement, import, drift, plan-time validation and destroy.

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, sim_resources, Simulator, Workspace,
};

const SUBNET: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes";

/// The IDs of the simulator's resources, lower-cased.
fn sim_ids(simulator: &Simulator) -> Vec<String> {
    sim_resources(&simulator.url)
        .iter()
        .filter_map(|r| r.get("id").and_then(|i| i.as_str()))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// VM counts of the availability sets of pool `name` in the simulator, in set index order.
fn set_sizes(simulator: &Simulator, name: &str) -> Vec<usize> {
    let ids = sim_ids(simulator);
    let set_prefix = format!("/availabilitysets/{name}-as-");
    let mut sets: Vec<u32> = ids
        .iter()
        .filter_map(|id| id.split_once(&set_prefix).and_then(|(_, n)| n.parse().ok()))
        .collect();
    sets.sort_unstable();
    sets.iter()
        .map(|set| {
            let prefix = format!("/virtualmachines/{name}-{set}-");
            ids.iter().filter(|id| id.contains(&prefix)).count()
        })
        .collect()
}

fn pool_resources(simulator: &Simulator, name: &str) -> Vec<String> {
    sim_ids(simulator)
        .into_iter()
        .filter(|id| {
            id.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(&format!("{name}-")))
        })
        .collect()
}

fn config(url: &str, body: &str) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{\n  arm_endpoint = \"{url}\"\n}}\n\nresource \"largek8s_pool\" \"p\" {{\n\
         name                = \"agents\"\n  resource_group_name = \"largek8s-demo\"\n  location            = \"westeurope\"\n\
         vm_size             = \"Standard_D2s_v5\"\n  subnet_id           = \"{SUBNET}\"\n  admin_username      = \"azureuser\"\n\
         ssh_public_keys     = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE largek8s\"]\n{body}}}\n\n\
         output \"sets\" {{\n  value = largek8s_pool.p.availability_sets\n}}\noutput \"id\" {{\n  value = largek8s_pool.p.id\n}}\n",
        required_providers()
    )
}

fn apply(ws: &Workspace) {
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());
}

fn vm_ids(ws: &Workspace) -> Vec<String> {
    ws.output("sets")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|s| {
            s.get("nodes")
                .and_then(|n| n.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|n| n.get("vm_id").and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

fn start() -> Simulator {
    Simulator::start(&["--seed", "demo", "--time-scale", "2000"])
}

#[test]
fn pool_scales_with_least_churn_and_leaves_nothing_behind() {
    let simulator = start();
    let ws = Workspace::for_simulator(&simulator);

    ws.write("main.tf", &config(&simulator.url, "  node_count = 450\n"));
    let plan = ws.terraform(&["plan", "-no-color"]);
    assert!(plan.success, "plan failed:\n{}", plan.text());
    assert!(
        plan.stdout.contains("\"agents-as-4\"") && plan.stdout.contains("node_count = 50"),
        "the plan should show the layout:\n{}",
        plan.stdout
    );
    apply(&ws);
    assert_eq!(
        set_sizes(&simulator, "agents"),
        vec![100, 100, 100, 100, 50]
    );
    ws.assert_plan_clean("the first apply");

    let before = vm_ids(&ws);
    ws.write("main.tf", &config(&simulator.url, "  node_count = 520\n"));
    apply(&ws);
    assert_eq!(
        set_sizes(&simulator, "agents"),
        vec![100, 100, 100, 100, 100, 20]
    );
    let after = vm_ids(&ws);
    for id in &before {
        assert!(after.contains(id), "{id} must survive a scale-up");
    }
    ws.assert_plan_clean("scale-up");

    ws.write("main.tf", &config(&simulator.url, "  node_count = 90\n"));
    apply(&ws);
    assert_eq!(set_sizes(&simulator, "agents"), vec![90]);
    assert!(
        !sim_ids(&simulator)
            .iter()
            .any(|id| id.contains("/availabilitysets/agents-as-1")),
        "empty sets must be deleted"
    );

    // Drift: a VM deleted out of band shows in the plan and apply recreates it.
    let victim = format!(
        "/subscriptions/{}/resourceGroups/largek8s-demo/providers/Microsoft.Compute/virtualMachines/agents-0-7",
        sim::SUBSCRIPTION
    );
    let (status, body) = sim_control(
        &simulator.url,
        "DELETE",
        &format!("/_sim/resource?id={victim}"),
        None,
    );
    assert!(status < 300, "out-of-band delete failed: {status} {body}");
    let plan = ws.plan_detailed();
    assert_eq!(
        plan.code,
        2,
        "the plan must show the missing VM:\n{}",
        plan.text()
    );
    assert!(
        plan.text().contains("agents-0-7"),
        "the plan names the node:\n{}",
        plan.text()
    );
    apply(&ws);
    assert_eq!(set_sizes(&simulator, "agents"), vec![90]);
    ws.assert_plan_clean("the drift is fixed");

    // Import: forget the pool, import it by ID, and plan with no changes.
    let id = ws.output("id");
    let id = id.as_str().unwrap_or_default().to_string();
    let run = ws.terraform(&["state", "rm", "largek8s_pool.p"]);
    assert!(run.success, "state rm failed:\n{}", run.text());
    let run = ws.terraform(&["import", "-no-color", "largek8s_pool.p", &id]);
    assert!(run.success, "import failed:\n{}", run.text());
    ws.assert_plan_clean("import");

    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    assert_eq!(pool_resources(&simulator, "agents"), Vec::<String>::new());
}

#[test]
fn balance_placement_evens_out_the_sets() {
    let simulator = start();
    let ws = Workspace::for_simulator(&simulator);
    ws.write(
        "main.tf",
        &config(
            &simulator.url,
            "  node_count = 250\n  placement = \"balance\"\n  custom_data = \"#cloud-config write-only\"\n",
        ),
    );
    apply(&ws);
    assert_eq!(set_sizes(&simulator, "agents"), vec![84, 83, 83]);
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
    assert!(
        state.contains("agents-as-2") && !state.contains("write-only"),
        "custom_data is write-only and never reaches state"
    );
    ws.assert_plan_clean("a balanced apply");
    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    assert_eq!(pool_resources(&simulator, "agents"), Vec::<String>::new());
}

#[test]
fn plan_rejects_bad_input_on_the_attribute() {
    let simulator = start();
    let ws = Workspace::for_simulator(&simulator);
    for (body, attribute) in [
        (
            "  node_count = 10\n  max_nodes_per_set = 201\n",
            "max_nodes_per_set",
        ),
        ("  node_count = -1\n", "node_count"),
        (
            "  node_count = 1\n  update_domain_count = 21\n",
            "update_domain_count",
        ),
        (
            "  node_count = 1\n  fault_domain_count = 4\n",
            "fault_domain_count",
        ),
    ] {
        ws.write("main.tf", &config(&simulator.url, body));
        let run = ws.terraform(&["plan", "-no-color"]);
        assert!(
            !run.success,
            "plan should fail for {attribute}:\n{}",
            run.text()
        );
        assert!(
            run.stderr.contains(&format!("Invalid {attribute}")) && run.stderr.contains(attribute),
            "the error names {attribute}:\n{}",
            run.text()
        );
    }
    let bad_name =
        config(&simulator.url, "  node_count = 1\n").replace("\"agents\"", "\"Agents_1\"");
    ws.write("main.tf", &bad_name);
    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(run.stderr.contains("Invalid pool name"), "{}", run.text());
    let bad_subnet =
        config(&simulator.url, "  node_count = 1\n").replace(SUBNET, "/subscriptions/x/nodes");
    ws.write("main.tf", &bad_subnet);
    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(run.stderr.contains("Invalid subnet_id"), "{}", run.text());
}

#[test]
fn a_failed_apply_keeps_every_node_that_exists_and_the_next_apply_converges() {
    let simulator = start();
    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator.url, "  node_count = 6\n"));
    apply(&ws);
    // A failed create taints the resource, as in every provider; an update that fails halfway does not.
    let rule = serde_json::json!({"method": "PUT", "glob": "**/virtualMachines/agents-0-9", "times": 1, "status": 400, "error": {"code": "InvalidParameter", "message": "injected failure"}});
    let (status, body) = sim_control(&simulator.url, "POST", "/_sim/faults", Some(&rule));
    assert!(status < 300, "adding the fault failed: {status} {body}");
    ws.write("main.tf", &config(&simulator.url, "  node_count = 12\n"));
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(!run.success, "apply should fail:\n{}", run.text());
    assert!(run.stderr.contains("injected failure"), "{}", run.text());
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
    let recorded = (0..12)
        .filter(|n| state.contains(&format!("\"agents-0-{n}\"")))
        .count();
    assert_eq!(recorded, 11, "state holds the 11 nodes that exist");
    assert!(
        !state.contains("\"agents-0-9\""),
        "the failed node is not in state"
    );
    let plan = ws.plan_detailed();
    assert_eq!(
        plan.code,
        2,
        "the missing node is planned:\n{}",
        plan.text()
    );
    apply(&ws);
    assert_eq!(set_sizes(&simulator, "agents"), vec![12]);
    ws.assert_plan_clean("the failed apply converged");
    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    assert_eq!(pool_resources(&simulator, "agents"), Vec::<String>::new());
}
