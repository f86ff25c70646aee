//! The fault matrix: a 300-node `largek8s_pool` (three sets of 100), a Standard `largek8s_lb_group` in front of
//! it and a `largek8s_virtual_node`, applied by real Terraform against the simulator while it injects one fault
//! per scenario. Every scenario then checks the same outcome: applies converge, `terraform plan
//! -detailed-exitcode` shows no changes, and the simulator holds exactly what the state records (no orphan, no
//! duplicate, every pool resource tagged with its owner, every VM provisioned).
//!
//! Each test prints one row of the matrix; `cargo test -p largek8s-acceptance --test fault_matrix --
//! --nocapture --test-threads=1` prints the whole table. "Extra applies" counts the applies after the one the
//! fault hit (or, for drift, after the out-of-band edit) until the configuration converged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use largek8s_acceptance::{
    required_providers, sim_control, sim_resources, wait_until, Run, Simulator, Workspace,
};
use serde_json::{json, Value};

const RG: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo";
const POOL: &str = "agents";
const NODES: usize = 300;
/// The pool's ownership tag (src/resources/pool/spec.rs, OWNER_TAG) and the value it carries.
const OWNER_TAG: &str = "largek8s-pool";
/// Applies a scenario may need after the faulted one before it counts as not converging.
const MAX_EXTRA_APPLIES: usize = 3;

fn pool_id() -> String {
    format!("{RG}/providers/largek8s/pools/{POOL}")
}

fn vm_id(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Compute/virtualMachines/{name}")
}

/// What the configuration holds besides the pool.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    /// Pool, load balancer group and virtual node, as the quickstart.
    Full,
    /// The pool alone.
    PoolOnly,
}

fn config(url: &str, node_count: usize, pool_extra: &str, parts: Parts) -> String {
    let mut text = format!(
        "{providers}\nprovider \"largek8s\" {{\n  arm_endpoint = \"{url}\"\n}}\n\n\
         resource \"largek8s_pool\" \"agents\" {{\n  name                = \"{POOL}\"\n  \
         resource_group_name = \"largek8s-demo\"\n  location            = \"westeurope\"\n  \
         node_count          = {node_count}\n  subnet_id           = \"{RG}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes\"\n  \
         admin_username      = \"azureuser\"\n  ssh_public_keys     = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE largek8s\"]\n\
         {pool_extra}}}\n",
        providers = required_providers(),
    );
    if !pool_extra.contains("vm_size") {
        text = text.replace(
            "  admin_username",
            "  vm_size             = \"Standard_D2s_v5\"\n  admin_username",
        );
    }
    if parts == Parts::Full {
        text.push_str(&format!(
            "\nresource \"largek8s_lb_group\" \"web\" {{\n  name                = \"web\"\n  \
             resource_group_name = \"largek8s-demo\"\n  location            = \"westeurope\"\n  sku                 = \"Standard\"\n  \
             backend_pool_type   = \"NodeIPConfiguration\"\n  \
             backend_sets        = largek8s_pool.agents.availability_sets\n  \
             rules  = [{{ name = \"https\", protocol = \"Tcp\", frontend_port = 443, backend_port = 30443, probe_name = \"https\" }}]\n  \
             probes = [{{ name = \"https\", protocol = \"Tcp\", port = 30443 }}]\n}}\n\n\
             resource \"largek8s_virtual_node\" \"aci\" {{\n  \
             virtual_network_id = \"{RG}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet\"\n  \
             subnet_name        = \"virtual-node-aci\"\n  address_prefix     = \"10.0.16.0/24\"\n  \
             cluster_id         = \"{RG}/providers/Microsoft.ContainerService/managedClusters/largek8s-aks\"\n}}\n"
        ));
    }
    text
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn is_type(resource: &Value, ty: &str) -> bool {
    resource["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case(ty))
}

fn lower_id(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Every string under `value` that looks like an ARM ID, lower-cased.
fn collect_ids(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) if s.starts_with("/subscriptions/") => {
            out.insert(s.to_ascii_lowercase());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, out)),
        Value::Object(members) => members.values().for_each(|v| collect_ids(v, out)),
        _ => {}
    }
}

/// What the simulator holds against what the state records.
#[derive(Debug, Default)]
struct Audit {
    /// Resources this configuration made that the state does not account for.
    orphans: Vec<String>,
    /// Resources doing a job the state gives to one: pool VMs beyond node_count, NICs in two backend pools,
    /// load balancers beyond the group's.
    duplicates: Vec<String>,
    /// IDs in the state that point at nothing.
    stale: Vec<String>,
    /// Pool resources without the pool's ownership tag.
    untagged: Vec<String>,
    /// Pool VMs whose provisioning did not succeed.
    unprovisioned: Vec<String>,
}

/// One scenario's simulator and Terraform working directory.
struct Bench {
    simulator: Simulator,
    ws: Workspace,
    /// IDs present before Terraform ran (the demo world), lower-cased.
    baseline: BTreeSet<String>,
    /// IDs a scenario made out of band that the audit leaves out, lower-cased.
    foreign: Vec<String>,
    node_count: usize,
}

impl Bench {
    fn new(extra_sim_args: &[&str]) -> Self {
        let mut args = vec!["--seed", "demo", "--time-scale", "2000"];
        args.extend_from_slice(extra_sim_args);
        let simulator = Simulator::start(&args);
        let baseline = sim_resources(&simulator.url).iter().map(lower_id).collect();
        Bench {
            ws: Workspace::for_simulator(&simulator),
            simulator,
            baseline,
            foreign: Vec::new(),
            node_count: NODES,
        }
    }

    fn url(&self) -> &str {
        &self.simulator.url
    }

    /// Writes the full configuration with `node_count` nodes and `pool_extra` inside the pool block.
    fn configure(&mut self, node_count: usize, pool_extra: &str) {
        self.node_count = node_count;
        self.ws.write(
            "main.tf",
            &config(self.url(), node_count, pool_extra, Parts::Full),
        );
    }

    fn apply(&self) -> Run {
        self.ws.terraform(&["apply", "-auto-approve", "-no-color"])
    }

    fn apply_ok(&self) {
        let run = self.apply();
        assert!(run.success, "apply failed:\n{}", run.text());
    }

    fn fault(&self, rules: Value) {
        let (status, reply) = sim_control(self.url(), "POST", "/_sim/faults", Some(&rules));
        assert_eq!(status, 201, "adding fault rules failed: {reply}");
    }

    fn clear_faults(&self) {
        let (status, reply) = sim_control(self.url(), "DELETE", "/_sim/faults", None);
        assert!(status < 300, "clearing faults failed: {status} {reply}");
    }

    /// How often the fault rules fired so far.
    fn faults_fired(&self) -> u64 {
        let (_, rules) = sim_control(self.url(), "GET", "/_sim/faults", None);
        rules
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["fired"].as_u64())
            .sum()
    }

    fn resources(&self) -> Vec<Value> {
        sim_resources(self.url())
    }

    /// The pool's VMs in the simulator, by lower-cased ID, with their bodies.
    fn pool_vms(&self) -> BTreeMap<String, Value> {
        let prefix = format!("{POOL}-");
        self.resources()
            .into_iter()
            .filter(|r| is_type(r, "Microsoft.Compute/virtualMachines"))
            .filter(|r| last_segment(&lower_id(r)).starts_with(&prefix))
            .filter(|r| !self.foreign.contains(&lower_id(r)))
            .map(|r| (lower_id(&r), r["body"].clone()))
            .collect()
    }

    /// `terraform show -json`'s resources.
    fn state_resources(&self) -> Vec<Value> {
        let run = self.ws.terraform(&["show", "-json"]);
        assert!(run.success, "terraform show failed:\n{}", run.text());
        let shown: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("terraform show -json is not JSON ({e}):\n{}", run.stdout));
        shown["values"]["root_module"]["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The VM IDs the pool's state records, lower-cased.
    fn state_vms(&self) -> BTreeSet<String> {
        self.state_resources()
            .iter()
            .filter(|r| r["type"] == "largek8s_pool")
            .flat_map(|r| {
                r["values"]["availability_sets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|s| s["nodes"].as_array().cloned().unwrap_or_default())
            .filter_map(|n| n["vm_id"].as_str().map(str::to_ascii_lowercase))
            .collect()
    }

    /// `terraform plan -detailed-exitcode`: 0 = no changes, 1 = error, 2 = changes.
    fn plan_exit(&self) -> (i32, String) {
        let run = self.ws.plan_detailed();
        (run.code, run.text())
    }

    /// Whether Terraform marked the pool tainted (its create failed).
    fn pool_tainted(&self) -> bool {
        self.state_resources()
            .iter()
            .any(|r| r["type"] == "largek8s_pool" && r["tainted"] == true)
    }

    /// Applies until one succeeds; returns how many ran and whether the pool had to be untainted. A failed
    /// create taints the pool, which would replace every node made; as docs/resources/pool.md advises, the
    /// user untaints it first, so the apply completes the nodes in place.
    fn converge(&self) -> (usize, bool) {
        let mut last = String::new();
        let mut untainted = false;
        for applies in 1..=MAX_EXTRA_APPLIES {
            if self.pool_tainted() {
                let run = self
                    .ws
                    .terraform(&["untaint", "-no-color", "largek8s_pool.agents"]);
                assert!(run.success, "untaint failed:\n{}", run.text());
                untainted = true;
            }
            let run = self.apply();
            if run.success {
                return (applies, untainted);
            }
            last = run.text();
        }
        panic!("{MAX_EXTRA_APPLIES} applies did not converge; the last said:\n{last}");
    }

    /// Starts `terraform apply` and returns it once the simulator holds `vms` of the pool's VMs.
    fn apply_until_vms(&self, vms: usize) -> largek8s_acceptance::Running {
        let running = self
            .ws
            .spawn_terraform(&["apply", "-auto-approve", "-no-color"]);
        assert!(
            wait_until(Duration::from_secs(300), || self.pool_vms().len() >= vms),
            "the apply never reached {vms} VMs"
        );
        running
    }

    fn audit(&self) -> Audit {
        let state = self.state_resources();
        let mut state_ids = BTreeSet::new();
        for r in &state {
            collect_ids(&r["values"], &mut state_ids);
        }
        let state_names: BTreeSet<&str> = state_ids.iter().map(|id| last_segment(id)).collect();
        let resources = self.resources();
        let sim_ids: BTreeSet<String> = resources.iter().map(lower_id).collect();
        let mut audit = Audit::default();

        for r in &resources {
            let id = lower_id(r);
            if self.baseline.contains(&id) || self.foreign.contains(&id) {
                continue;
            }
            let name = last_segment(&id);
            // An OS disk goes with its VM, a public IP with its load balancer.
            let parent_known = ["-osdisk", "-pip"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|p| state_names.contains(p))
            });
            if !state_ids.contains(&id) && !parent_known {
                audit.orphans.push(id.clone());
            }
            let ours = name.starts_with(&format!("{POOL}-"));
            let tagged = ["availabilitySets", "virtualMachines", "networkInterfaces"]
                .iter()
                .any(|t| id.contains(&format!("/{}/", t.to_ascii_lowercase())));
            if ours && tagged {
                let owner = r["body"]["tags"][OWNER_TAG].as_str().unwrap_or_default();
                if !owner.eq_ignore_ascii_case(&pool_id()) {
                    audit.untagged.push(id.clone());
                }
            }
        }
        for id in &state_ids {
            let exists = sim_ids.iter().any(|s| {
                id == s
                    || id
                        .strip_prefix(s.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            });
            let arm_resource = !id.contains("/providers/largek8s")
                && !id.contains("/providers/microsoft.authorization/roledefinitions/");
            if arm_resource && !exists {
                audit.stale.push(id.clone());
            }
        }

        let vms = self.pool_vms();
        if vms.len() > self.node_count {
            audit.duplicates.push(format!(
                "{} pool VMs for node_count {}",
                vms.len(),
                self.node_count
            ));
        }
        for (id, body) in &vms {
            let provisioned = body["properties"]["provisioningState"].as_str();
            if provisioned != Some("Succeeded") {
                audit
                    .unprovisioned
                    .push(format!("{id} is {}", provisioned.unwrap_or("?")));
            }
        }
        let mut memberships: BTreeMap<String, usize> = BTreeMap::new();
        for nic in resources
            .iter()
            .filter(|r| is_type(r, "Microsoft.Network/networkInterfaces"))
        {
            let pools = nic["body"]["properties"]["ipConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| {
                    c["properties"]["loadBalancerBackendAddressPools"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .count();
            memberships.insert(lower_id(nic), pools);
        }
        audit.duplicates.extend(
            memberships
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(id, n)| format!("{id} is in {n} backend pools")),
        );
        let lbs_in_state: usize = state
            .iter()
            .filter(|r| r["type"] == "largek8s_lb_group")
            .map(|r| r["values"]["load_balancers"].as_array().map_or(0, Vec::len))
            .sum();
        let lbs = resources
            .iter()
            .filter(|r| is_type(r, "Microsoft.Network/loadBalancers"))
            .count();
        if lbs > lbs_in_state {
            audit
                .duplicates
                .push(format!("{lbs} load balancers for {lbs_in_state} in state"));
        }
        audit
    }

    /// Prints the scenario's row, then checks the outcome every scenario must reach.
    fn report(&self, scenario: &str, (extra_applies, untainted): (usize, bool), result: &str) {
        let (code, plan) = self.plan_exit();
        let audit = self.audit();
        let result = match (code, untainted) {
            (0, false) => result.to_string(),
            (0, true) => format!("{result} (after untaint)"),
            _ => format!("plan not clean (exit {code})"),
        };
        println!(
            "| {scenario} | {extra_applies} | {} | {} | {result} |",
            audit.orphans.len(),
            audit.duplicates.len()
        );
        assert_eq!(
            code, 0,
            "{scenario}: a plan after convergence shows changes:\n{plan}"
        );
        assert!(
            audit.orphans.is_empty(),
            "{scenario}: orphans {:?}",
            audit.orphans
        );
        assert!(
            audit.duplicates.is_empty(),
            "{scenario}: duplicates {:?}",
            audit.duplicates
        );
        assert!(
            audit.stale.is_empty(),
            "{scenario}: state points at nothing: {:?}",
            audit.stale
        );
        assert!(
            audit.untagged.is_empty(),
            "{scenario}: without owner tag: {:?}",
            audit.untagged
        );
        assert!(
            audit.unprovisioned.is_empty(),
            "{scenario}: VMs not provisioned: {:?}",
            audit.unprovisioned
        );
        assert_eq!(
            self.state_vms().len(),
            self.node_count,
            "{scenario}: the state holds a node per node_count"
        );
    }
}

impl Bench {
    /// Prints the row of a scenario that ends in `terraform destroy`, then checks that nothing is left.
    fn report_destroyed(&mut self, scenario: &str) {
        self.node_count = 0;
        let audit = self.audit();
        let left = self.pool_vms().len();
        println!(
            "| {scenario} | 0 | {} | {} | {} |",
            audit.orphans.len(),
            audit.duplicates.len(),
            if audit.orphans.is_empty() {
                "destroyed, nothing left"
            } else {
                "left resources behind"
            }
        );
        assert!(
            audit.orphans.is_empty(),
            "{scenario}: left behind {:?}",
            audit.orphans
        );
        assert_eq!(left, 0, "{scenario}: pool VMs left");
    }
}

/// A fault rule for PUTs of the pool's VMs in set `set` (`*` for every set).
fn vm_puts(set: &str, rule: Value) -> Value {
    let mut rule = rule;
    rule["method"] = json!("PUT");
    rule["glob"] = json!(format!("**/virtualMachines/{POOL}-{set}-*"));
    rule
}

/// Holds back every VM PUT of the last set by `ms`, so that a test acting "mid-create" always acts before
/// the create ends.
fn hold_back_last_set(bench: &Bench, ms: u64) {
    bench.fault(vm_puts("2", json!({ "latencyMs": ms })));
}

#[test]
fn a_429_storm_on_writes_is_waited_out_within_one_apply() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    bench.fault(json!({
        "method": "PUT", "probability": 0.3, "times": 60, "status": 429, "retryAfterMs": 500,
        "error": { "code": "TooManyRequests", "message": "injected throttling storm" }
    }));
    let run = bench.apply();
    assert!(
        run.success,
        "the storm must be waited out in one apply:\n{}",
        run.text()
    );
    assert!(bench.faults_fired() > 0, "the storm never hit");
    bench.report(
        "429 storm on writes (Retry-After)",
        (0, false),
        "converged in one apply",
    );
}

#[test]
fn server_errors_and_dropped_connections_on_puts_and_polls_are_retried_within_one_apply() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    bench.fault(json!([
        vm_puts("*", json!({ "probability": 0.1, "times": 30, "status": 500,
                              "error": { "code": "InternalServerError", "message": "injected" } })),
        { "method": "PUT", "glob": "**/networkInterfaces/*", "probability": 0.1, "times": 30, "status": 503,
          "error": { "code": "ServiceUnavailable", "message": "injected" } },
        { "method": "PUT", "probability": 0.05, "times": 20, "drop": true },
        { "method": "GET", "path": "/operations/", "probability": 0.1, "times": 40, "status": 500,
          "error": { "code": "InternalServerError", "message": "injected" } },
        { "method": "GET", "path": "/operations/", "probability": 0.05, "times": 20, "drop": true },
    ]));
    let run = bench.apply();
    assert!(
        run.success,
        "transient failures must be retried:\n{}",
        run.text()
    );
    assert!(bench.faults_fired() > 0, "no fault fired");
    bench.report(
        "500/503 and dropped connections on PUT and polls",
        (0, false),
        "converged in one apply",
    );
}

#[test]
fn operations_ending_failed_or_canceled_are_redone_by_the_next_apply() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    bench.fault(json!([
        vm_puts("1", json!({ "times": 3, "asyncOutcome": "Failed",
                              "error": { "code": "AllocationFailed", "message": "injected allocation failure" } })),
        vm_puts("2", json!({ "times": 2, "asyncOutcome": "Canceled" })),
    ]));
    let run = bench.apply();
    assert!(
        !run.success,
        "the apply must report the failed VMs:\n{}",
        run.text()
    );
    assert!(
        run.stderr.contains("AllocationFailed") && run.stderr.contains("Canceled"),
        "the errors name Azure's codes:\n{}",
        run.text()
    );
    assert_eq!(
        bench.state_vms().len(),
        NODES - 5,
        "state keeps the nodes that exist"
    );
    bench.clear_faults();
    let extra = bench.converge();
    bench.report("LRO ends Failed / Canceled for 5 VMs", extra, "converged");
}

#[test]
fn an_operation_that_never_ends_hits_the_create_timeout_and_keeps_what_exists() {
    let mut bench = Bench::new(&[]);
    // Long enough for the other 297 nodes on a loaded machine, short enough to keep the test quick.
    bench.configure(NODES, "  timeouts {\n    create = \"120s\"\n  }\n");
    bench.fault(vm_puts("0", json!({ "times": 3, "asyncOutcome": "Never" })));
    let run = bench.apply();
    assert!(!run.success, "the create must time out:\n{}", run.text());
    assert!(
        run.stderr.contains("Pool create ran out of time") && run.stderr.contains("timeouts"),
        "the error says the create timeout passed:\n{}",
        run.text()
    );
    assert_eq!(
        bench.state_vms().len(),
        NODES,
        "state keeps every node that exists, the 3 still provisioning too"
    );
    // Azure eventually gives up on a stuck provisioning.
    let (status, reply) = sim_control(
        bench.url(),
        "POST",
        "/_sim/operations/end-stuck",
        Some(&json!({})),
    );
    assert_eq!((status, reply["ended"].as_u64()), (200, Some(3)), "{reply}");
    bench.clear_faults();
    let (code, plan) = bench.plan_exit();
    assert_eq!(
        code, 2,
        "a refresh finds the 3 failed VMs and the plan redoes them:\n{plan}"
    );
    let extra = bench.converge();
    bench.report("LRO never ends -> create timeout", extra, "converged");
}

#[test]
fn a_provider_killed_mid_create_leaves_what_it_made_for_the_next_apply_to_adopt() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    hold_back_last_set(&bench, 10_000);
    let running = bench.apply_until_vms(100);
    assert!(bench.ws.kill_providers() > 0, "no provider to kill");
    let run = running.wait();
    assert!(
        !run.success,
        "terraform must report the crash:\n{}",
        run.text()
    );
    assert!(
        run.stderr.contains("Plugin did not respond"),
        "terraform reports the crashed provider:\n{}",
        run.text()
    );
    let made = bench.pool_vms().len();
    assert!(
        (100..NODES).contains(&made),
        "killed mid-create, {made} VMs exist"
    );
    bench.clear_faults();
    let extra = bench.converge();
    bench.report("provider SIGKILLed mid-create", extra, "converged, adopted");
}

#[test]
fn ctrl_c_mid_create_stops_promptly_and_saves_the_nodes_that_exist() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    hold_back_last_set(&bench, 10_000);
    let running = bench.apply_until_vms(100);
    running.interrupt();
    let run = running.wait();
    assert!(!run.success, "an interrupted apply fails:\n{}", run.text());
    let in_state = bench.state_vms();
    let existing: BTreeSet<String> = bench.pool_vms().into_keys().collect();
    assert!(
        (100..NODES).contains(&in_state.len()),
        "the state holds the {} nodes made before the interrupt:\n{}",
        in_state.len(),
        run.text()
    );
    assert!(
        in_state.is_subset(&existing),
        "the state holds only nodes that exist: {:?}",
        in_state.difference(&existing).collect::<Vec<_>>()
    );
    bench.clear_faults();
    let extra = bench.converge();
    bench.report("Ctrl-C mid-create", extra, "converged");
}

#[test]
fn destroy_after_ctrl_c_mid_create_leaves_nothing_behind() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    let running = bench.apply_until_vms(30);
    running.interrupt();
    let run = running.wait();
    assert!(!run.success, "an interrupted apply fails:\n{}", run.text());
    let run = bench
        .ws
        .terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    bench.report_destroyed("Ctrl-C mid-create, then destroy");
}

#[test]
fn a_simulator_restart_mid_apply_is_ridden_out() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let state = dir.path().join("arm.json");
    let state = state.to_string_lossy().into_owned();
    let mut bench = Bench::new(&["--state", &state]);
    bench.configure(NODES, "");
    hold_back_last_set(&bench, 10_000);
    let running = bench.apply_until_vms(100);
    bench.simulator.restart();
    let run = running.wait();
    let extra = if run.success {
        (0, false)
    } else {
        bench.converge()
    };
    bench.report("ARM (simulator) restarted mid-apply", extra, "converged");
}

#[test]
fn vms_deleted_out_of_band_show_as_drift_and_are_recreated() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    bench.apply_ok();
    let victims = ["agents-0-3", "agents-1-50", "agents-2-99"];
    for name in victims {
        let (status, reply) = sim_control(
            bench.url(),
            "DELETE",
            &format!("/_sim/resource?id={}", vm_id(name)),
            None,
        );
        assert!(status < 300, "deleting {name}: {status} {reply}");
    }
    let (code, plan) = bench.plan_exit();
    assert_eq!(code, 2, "the plan shows the deleted VMs:\n{plan}");
    for name in victims {
        assert!(plan.contains(name), "the plan names {name}:\n{plan}");
    }
    let extra = bench.converge();
    bench.report("VMs deleted out of band", extra, "drift shown, fixed");
}

#[test]
fn load_balancer_edits_out_of_band_show_as_drift_and_are_reverted() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    bench.apply_ok();
    let resources = bench.resources();
    let lb = resources
        .iter()
        .find(|r| is_type(r, "Microsoft.Network/loadBalancers"))
        .unwrap_or_else(|| panic!("no load balancer was made"))
        .clone();
    let nic = resources
        .iter()
        .find(|r| lower_id(r).ends_with("/networkinterfaces/agents-1-7-nic"))
        .unwrap_or_else(|| panic!("no NIC agents-1-7-nic"))
        .clone();
    // Someone in the portal takes a node out of the backend pool and moves the rule's frontend port.
    let mut nic_body = nic["body"].clone();
    nic_body["properties"]["ipConfigurations"][0]["properties"]
        ["loadBalancerBackendAddressPools"] = json!([]);
    let mut lb_body = lb["body"].clone();
    lb_body["properties"]["loadBalancingRules"][0]["properties"]["frontendPort"] = json!(8443);
    for (resource, body) in [(&nic, nic_body), (&lb, lb_body)] {
        let id = resource["id"].as_str().unwrap_or_default();
        let (status, reply) = sim_control(
            bench.url(),
            "PUT",
            &format!("/_sim/resource?id={id}"),
            Some(&body),
        );
        assert_eq!(status, 200, "editing {id}: {reply}");
    }
    let (code, plan) = bench.plan_exit();
    assert_eq!(code, 2, "the plan shows the edits:\n{plan}");
    let extra = bench.converge();
    let rule_port = bench
        .resources()
        .iter()
        .find(|r| lower_id(r) == lower_id(&lb))
        .map(|r| {
            r["body"]["properties"]["loadBalancingRules"][0]["properties"]["frontendPort"].clone()
        });
    assert_eq!(rule_port, Some(json!(443)), "apply restores the rule");
    bench.report(
        "LB backend pool and rule edited out of band",
        extra,
        "drift shown, fixed",
    );
}

#[test]
fn a_second_workspace_cannot_take_over_a_pool_of_the_same_name() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    bench.apply_ok();
    let before: BTreeSet<String> = bench.pool_vms().into_keys().collect();

    let other = Workspace::for_simulator(&bench.simulator);
    other.write(
        "main.tf",
        &config(
            bench.url(),
            NODES + 50,
            "  vm_size = \"Standard_D4s_v5\"\n",
            Parts::PoolOnly,
        ),
    );
    let run = other.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        !run.success,
        "the second workspace must be refused:\n{}",
        run.text()
    );
    assert!(
        run.stderr.contains("belongs to"),
        "the refusal explains the ownership:\n{}",
        run.text()
    );
    let shown = other.terraform(&["state", "list"]);
    assert!(
        !shown.stdout.contains("largek8s_pool"),
        "the refused workspace records nothing:\n{}",
        shown.text()
    );
    let after: BTreeSet<String> = bench.pool_vms().into_keys().collect();
    assert_eq!(before, after, "nothing of the first pool was touched");
    bench.report(
        "second workspace, same pool name",
        (0, false),
        "refused by owner tags",
    );
}

#[test]
fn quota_exhaustion_names_the_quota_keeps_what_exists_and_converges_once_raised() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "");
    let quota = |limit: Value| {
        let (status, reply) = sim_control(
            bench.url(),
            "POST",
            "/_sim/quota",
            Some(&json!({ "vm_limit": limit })),
        );
        assert_eq!(status, 200, "setting the quota: {reply}");
    };
    quota(json!(250));
    let run = bench.apply();
    assert!(
        !run.success,
        "the apply must hit the quota:\n{}",
        run.text()
    );
    assert!(
        run.stderr.contains("quota"),
        "the error names the quota:\n{}",
        run.text()
    );
    assert_eq!(
        bench.state_vms().len(),
        250,
        "state keeps the nodes that exist"
    );
    quota(Value::Null);
    let extra = bench.converge();
    bench.report("VM quota exceeded, then raised", extra, "converged");
}

#[test]
fn a_foreign_vm_in_a_full_availability_set_is_explained_and_never_pushes_it_past_200() {
    let mut bench = Bench::new(&[]);
    bench.configure(NODES, "  max_nodes_per_set = 200\n");
    bench.apply_ok();
    // Someone puts a VM of their own into the pool's second set (200 + 100).
    let intruder = vm_id("intruder");
    let set = format!("{RG}/providers/Microsoft.Compute/availabilitySets/{POOL}-as-1");
    let body = json!({ "location": "westeurope", "properties": {
        "availabilitySet": { "id": set }, "hardwareProfile": { "vmSize": "Standard_D2s_v5" } } });
    let (status, reply) = sim_control(
        bench.url(),
        "PUT",
        &format!("/_sim/resource?id={intruder}"),
        Some(&body),
    );
    assert_eq!(status, 200, "creating the foreign VM: {reply}");
    bench.foreign.push(intruder.to_ascii_lowercase());

    bench.configure(400, "  max_nodes_per_set = 200\n");
    let run = bench.apply();
    let members = |bench: &Bench| {
        bench
            .resources()
            .iter()
            .find(|r| lower_id(r) == set.to_ascii_lowercase())
            .and_then(|r| {
                r["body"]["properties"]["virtualMachines"]
                    .as_array()
                    .map(Vec::len)
            })
            .unwrap_or(0)
    };
    assert!(
        members(&bench) <= 200,
        "the set holds {} VMs",
        members(&bench)
    );
    assert!(
        !run.success,
        "a full set cannot take the pool's nodes:\n{}",
        run.text()
    );
    assert!(
        run.stderr.contains("intruder"),
        "the error names the VM in the way:\n{}",
        run.text()
    );
    // The operator follows the advice and removes the VM.
    let (status, reply) = sim_control(
        bench.url(),
        "DELETE",
        &format!("/_sim/resource?id={intruder}"),
        None,
    );
    assert!(status < 300, "removing the foreign VM: {status} {reply}");
    let extra = bench.converge();
    assert_eq!(members(&bench), 200);
    bench.report(
        "foreign VM fills an availability set",
        extra,
        "explained, then converged",
    );
}
