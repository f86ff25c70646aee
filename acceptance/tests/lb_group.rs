//! `largek8s_lb_group` through real Terraform against the simulator. Availability sets, VMs and NICs are
//! created out of band through the simulator's control API, standing in for a `largek8s_pool`.

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, sim_resources, Simulator, Workspace,
};
use serde_json::{json, Value};

const RG: &str = "largek8s-demo";

fn rg_id() -> String {
    format!("/subscriptions/{}/resourceGroups/{RG}", sim::SUBSCRIPTION)
}

fn put(base: &str, id: &str, body: Value) {
    let (status, reply) = sim_control(base, "PUT", &format!("/_sim/resource?id={id}"), Some(&body));
    assert_eq!(status, 200, "PUT {id}: {reply}");
}

fn of_type(base: &str, ty: &str) -> Vec<Value> {
    sim_resources(base)
        .into_iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(ty))
        })
        .collect()
}

/// The DNS zone `example.com` in the demo resource group, for groups with a round-robin record.
fn make_dns_zone(base: &str) {
    put(
        base,
        &format!(
            "{}/providers/Microsoft.Network/dnsZones/example.com",
            rg_id()
        ),
        json!({ "location": "global" }),
    );
}

/// An availability set of `nodes` VMs with one NIC each, as a pool would make it.
struct Set {
    index: usize,
    id: String,
    nodes: Vec<(String, String)>,
}

fn make_set(base: &str, prefix: &str, index: usize, nodes: usize) -> Set {
    let id = format!(
        "{}/providers/Microsoft.Compute/availabilitySets/{prefix}-as-{index}",
        rg_id()
    );
    put(
        base,
        &id,
        json!({ "location": "westeurope", "properties": { "platformFaultDomainCount": 2, "platformUpdateDomainCount": 5 } }),
    );
    let subnet = format!(
        "{}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes",
        rg_id()
    );
    let nodes = (0..nodes)
        .map(|j| {
            let nic = format!("{}/providers/Microsoft.Network/networkInterfaces/{prefix}-{index}-{j:03}-nic", rg_id());
            let vm = format!("{}/providers/Microsoft.Compute/virtualMachines/{prefix}-{index}-{j:03}", rg_id());
            put(base, &nic, json!({
                "location": "westeurope",
                "properties": { "ipConfigurations": [{ "name": "ipconfig1", "id": format!("{nic}/ipConfigurations/ipconfig1"), "properties": {
                    "primary": true, "privateIPAllocationMethod": "Static",
                    "privateIPAddress": format!("10.0.{index}.{}", j + 4), "subnet": { "id": subnet } } }] }
            }));
            put(base, &vm, json!({
                "location": "westeurope",
                "properties": {
                    "availabilitySet": { "id": id },
                    "hardwareProfile": { "vmSize": "Standard_D2s_v5" },
                    "networkProfile": { "networkInterfaces": [{ "id": nic, "properties": { "primary": true } }] }
                }
            }));
            (vm, nic)
        })
        .collect();
    Set { index, id, nodes }
}

/// The `{availability_set_id, nic_ids}` form.
fn explicit_hcl(set: &Set) -> String {
    explicit_hcl_first(set, set.nodes.len())
}

/// The shape of a `largek8s_pool`'s `availability_sets` element.
fn pool_hcl(set: &Set, prefix: &str) -> String {
    let nodes: Vec<String> = set
        .nodes
        .iter()
        .enumerate()
        .map(|(j, (vm, nic))| {
            format!(
                "{{ name = \"{prefix}-{}-{j:03}\", vm_id = \"{vm}\", nic_id = \"{nic}\", private_ip = \"10.0.{}.{}\" }}",
                set.index,
                set.index,
                j % 250 + 4
            )
        })
        .collect();
    format!(
        "{{ index = {}, name = \"{prefix}-as-{}\", id = \"{}\", node_count = {}, nodes = [{}] }}",
        set.index,
        set.index,
        set.id,
        set.nodes.len(),
        nodes.join(", ")
    )
}

fn config(simulator: &Simulator, group: &str) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{\n  arm_endpoint = \"{}\"\n}}\n\n{group}\n\
         output \"frontend_ips\" {{\n  value = largek8s_lb_group.web.frontend_ips\n}}\n\
         output \"load_balancers\" {{\n  value = largek8s_lb_group.web.load_balancers\n}}\n\
         output \"service_annotations\" {{\n  value = largek8s_lb_group.web.service_annotations\n}}\n\
         output \"cloud_provider_config\" {{\n  value = largek8s_lb_group.web.cloud_provider_config\n}}\n\
         output \"id\" {{\n  value = largek8s_lb_group.web.id\n}}\n",
        required_providers(),
        simulator.url
    )
}

/// A group block; Standard groups here hold their nodes by NIC (`NodeIPConfiguration`), the form these tests
/// check on the NICs; the IP-based form has its own test below.
fn group_block(sku: &str, backend_sets: &str, extra: &str) -> String {
    let form = if sku == "Standard" {
        "  backend_pool_type = \"NodeIPConfiguration\"\n"
    } else {
        ""
    };
    group_hcl(sku, backend_sets, &format!("{form}{extra}"))
}

fn group_hcl(sku: &str, backend_sets: &str, extra: &str) -> String {
    format!(
        "resource \"largek8s_lb_group\" \"web\" {{\n  name = \"web\"\n  resource_group_name = \"{RG}\"\n  location = \"westeurope\"\n  \
         sku = \"{sku}\"\n  backend_sets = {backend_sets}\n  \
         rules = [{{ name = \"http\", protocol = \"Tcp\", frontend_port = 80, backend_port = 30080, probe_name = \"http\" }}]\n  \
         probes = [{{ name = \"http\", protocol = \"Tcp\", port = 30080 }}]\n{extra}}}\n"
    )
}

/// A workspace with a Standard group over `count` sets of `nodes` nodes made out of band, in the explicit form.
fn explicit_group(
    simulator: &Simulator,
    prefix: &str,
    count: usize,
    nodes: usize,
    extra: &str,
) -> Workspace {
    let list: Vec<String> = (0..count)
        .map(|i| explicit_hcl(&make_set(&simulator.url, prefix, i, nodes)))
        .collect();
    let ws = Workspace::for_simulator(simulator);
    let block = group_block("Standard", &format!("[{}]", list.join(",\n")), extra);
    ws.write("main.tf", &config(simulator, &block));
    ws
}

fn apply(ws: &Workspace) {
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());
}

/// The NIC IDs in each backend pool, by lower-cased pool ID, lower-cased and sorted.
fn pool_members(base: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut members = std::collections::BTreeMap::<String, Vec<String>>::new();
    for nic in of_type(base, "Microsoft.Network/networkInterfaces") {
        let id = nic["id"].as_str().unwrap_or_default().to_ascii_lowercase();
        for config in nic["body"]["properties"]["ipConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for pool in config["properties"]["loadBalancerBackendAddressPools"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(pool) = pool["id"].as_str() {
                    members
                        .entry(pool.to_ascii_lowercase())
                        .or_default()
                        .push(id.clone());
                }
            }
        }
    }
    for nics in members.values_mut() {
        nics.sort();
    }
    members
}

/// How many NICs point at each backend pool, by lower-cased pool ID.
fn pool_sizes(base: &str) -> std::collections::BTreeMap<String, usize> {
    pool_members(base)
        .into_iter()
        .map(|(pool, nics)| (pool, nics.len()))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn basic_group_fronts_each_availability_set_alone_and_scales_without_moving_frontends() {
    let simulator = Simulator::start(&[
        "--seed",
        "demo",
        "--time-scale",
        "1000",
        "--basic-lb",
        "allow",
    ]);
    let base = simulator.url.clone();
    make_dns_zone(&base);
    let mut sets: Vec<Set> = [100, 100, 100, 100, 50]
        .iter()
        .enumerate()
        .map(|(i, &n)| make_set(&base, "web", i, n))
        .collect();
    let ws = Workspace::for_simulator(&simulator);
    let dns = "  dns = { zone_name = \"example.com\", zone_resource_group_name = \"largek8s-demo\", record_name = \"www\" }\n";
    let write = |sets: &[Set]| {
        // The first sets in the explicit form, the last one shaped like a pool's availability set.
        let (last, first) = sets.split_last().unwrap_or_else(|| panic!("no sets"));
        let locals = format!(
            "locals {{\n  explicit = [{}]\n  pool_sets = [{}]\n}}\n",
            first
                .iter()
                .map(explicit_hcl)
                .collect::<Vec<_>>()
                .join(",\n"),
            pool_hcl(last, "web")
        );
        let refs: Vec<String> = (0..first.len())
            .map(|i| format!("local.explicit[{i}]"))
            .chain(["local.pool_sets[0]".to_string()])
            .collect();
        let block = group_block("Basic", &format!("[{}]", refs.join(", ")), dns);
        ws.write(
            "main.tf",
            &format!("{locals}\n{}", config(&simulator, &block)),
        );
    };
    write(&sets);
    apply(&ws);

    let ips = strings(&ws.output("frontend_ips"));
    assert_eq!(ips.len(), 5, "{ips:?}");
    assert_eq!(
        ips.iter().collect::<std::collections::BTreeSet<_>>().len(),
        5,
        "frontend IPs must differ: {ips:?}"
    );
    let lbs = ws.output("load_balancers");
    for (i, lb) in lbs.as_array().into_iter().flatten().enumerate() {
        assert_eq!(lb["name"], format!("web-lb-{i}"));
        assert_eq!(
            strings(&lb["availability_set_ids"]),
            vec![sets[i].id.clone()]
        );
        assert!(
            lb["backend_node_count"].as_u64().is_some_and(|n| n <= 100),
            "{lb}"
        );
    }
    let annotations = ws.output("service_annotations");
    for (i, a) in annotations.as_array().into_iter().flatten().enumerate() {
        assert_eq!(
            a["service.beta.kubernetes.io/azure-load-balancer-mode"],
            format!("web-as-{i}")
        );
    }
    let sizes = pool_sizes(&base);
    assert_eq!(sizes.len(), 5, "{sizes:?}");
    assert!(sizes.values().all(|&n| n <= 100), "{sizes:?}");
    assert_eq!(sizes.values().sum::<usize>(), 450);
    let record = of_type(&base, "Microsoft.Network/dnsZones/A");
    assert_eq!(record.len(), 1, "{record:?}");
    assert_eq!(
        record[0]["body"]["properties"]["ARecords"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    // Basic has no cloud-provider configuration: the output is null, which Terraform leaves out.
    let outputs = ws.terraform(&["output", "-json"]);
    assert!(
        !outputs.stdout.contains("cloud_provider_config"),
        "{}",
        outputs.text()
    );
    ws.assert_plan_clean("the last apply");

    // A sixth set gets a sixth load balancer; nothing existing moves.
    sets.push(make_set(&base, "web", 5, 70));
    write(&sets);
    apply(&ws);
    let after = strings(&ws.output("frontend_ips"));
    assert_eq!(after.len(), 6, "{after:?}");
    assert_eq!(after[..5], ips[..], "existing frontend IPs changed");
    assert_eq!(pool_sizes(&base).values().sum::<usize>(), 520);
    let record = of_type(&base, "Microsoft.Network/dnsZones/A");
    assert_eq!(
        record[0]["body"]["properties"]["ARecords"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    ws.assert_plan_clean("the last apply");

    // Drift: a node leaves its pool out of band; the next plan puts it back.
    let (_, nic) = &sets[0].nodes[0];
    let mut body = of_type(&base, "Microsoft.Network/networkInterfaces")
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(nic))
        })
        .map(|r| r["body"].clone())
        .unwrap_or(Value::Null);
    body["properties"]["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] =
        json!([]);
    put(&base, nic, body);
    let drift = ws.plan_detailed();
    assert!(
        drift.stdout.contains("backend_node_count"),
        "drift should show:\n{}",
        drift.text()
    );
    apply(&ws);
    assert_eq!(pool_sizes(&base).values().sum::<usize>(), 520);
    ws.assert_plan_clean("the last apply");

    // Import by group ID into a fresh workspace.
    let id = ws.output("id");
    let imported = Workspace::for_simulator(&simulator);
    imported.write(
        "main.tf",
        &std::fs::read_to_string(ws.path().join("main.tf")).unwrap_or_default(),
    );
    let run = imported.terraform(&[
        "import",
        "-no-color",
        "largek8s_lb_group.web",
        id.as_str().unwrap_or_default(),
    ]);
    assert!(run.success, "import failed:\n{}", run.text());
    let shown = imported.terraform(&["state", "show", "-no-color", "largek8s_lb_group.web"]);
    assert!(shown.stdout.contains("web-lb-5"), "{}", shown.text());
    assert!(shown.stdout.contains(&ips[0]), "{}", shown.text());
    let (code, text) = plan_code(&imported);
    assert_eq!(code, 0, "no changes after import:\n{text}");

    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    for ty in [
        "Microsoft.Network/loadBalancers",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/dnsZones/A",
    ] {
        assert!(of_type(&base, ty).is_empty(), "{ty} left behind");
    }
    assert!(
        pool_sizes(&base).is_empty(),
        "NICs still point at backend pools"
    );
}

#[test]
fn basic_set_over_the_cap_is_a_plan_error_naming_max_nodes_per_set() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let set = Set {
        index: 0,
        id: format!(
            "{}/providers/Microsoft.Compute/availabilitySets/big-as-0",
            rg_id()
        ),
        nodes: (0..150)
            .map(|j| {
                (
                    format!(
                        "{}/providers/Microsoft.Compute/virtualMachines/big-0-{j:03}",
                        rg_id()
                    ),
                    format!(
                        "{}/providers/Microsoft.Network/networkInterfaces/big-0-{j:03}-nic",
                        rg_id()
                    ),
                )
            })
            .collect(),
    };
    let ws = Workspace::for_simulator(&simulator);
    let block = group_block("Basic", &format!("[{}]", pool_hcl(&set, "big")), "");
    ws.write("main.tf", &config(&simulator, &block));
    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(!run.success, "plan should fail:\n{}", run.text());
    assert!(run.stderr.contains("max_nodes_per_set"), "{}", run.text());
    assert!(run.stderr.contains("backend_sets"), "{}", run.text());
}

#[test]
fn basic_group_on_a_cloud_that_refuses_basic_fails_with_azures_code() {
    let simulator = Simulator::start(&[
        "--seed",
        "demo",
        "--time-scale",
        "1000",
        "--basic-lb",
        "deny",
    ]);
    let set = make_set(&simulator.url, "deny", 0, 3);
    let ws = Workspace::for_simulator(&simulator);
    ws.write(
        "main.tf",
        &config(
            &simulator,
            &group_block("Basic", &format!("[{}]", explicit_hcl(&set)), ""),
        ),
    );
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(!run.success, "apply should fail:\n{}", run.text());
    assert!(
        run.stderr.contains("BasicSku"),
        "the error should carry Azure's code:\n{}",
        run.text()
    );
}

#[test]
fn standard_group_packs_over_a_thousand_nodes_under_the_backend_limit() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let base = simulator.url.clone();
    let sets: Vec<Set> = (0..6).map(|i| make_set(&base, "std", i, 200)).collect();
    let ws = Workspace::for_simulator(&simulator);
    let list: Vec<String> = sets.iter().map(|s| pool_hcl(s, "std")).collect();
    let block = group_block(
        "Standard",
        &format!("[{}]", list.join(",\n")),
        "  max_backend_nodes = 1000\n",
    );
    ws.write("main.tf", &config(&simulator, &block));
    apply(&ws);
    let lbs = ws.output("load_balancers");
    let counts: Vec<u64> = lbs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|lb| lb["backend_node_count"].as_u64())
        .collect();
    assert_eq!(counts, vec![1000, 200], "{lbs}");
    // 1,200 membership writes are more than the Network RP's 1,000 writes per 5 minutes: the provider spends the
    // allowance and then paces at its refill rate, so the simulator never had to refuse one.
    let (_, stats) = sim_control(&base, "GET", "/_sim/stats", None);
    let network = stats["throttling"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["name"] == "Microsoft.Network/PutDelete5Min")
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        network["accepted"].as_u64().is_some_and(|n| n > 1000) && network["refused"] == 0,
        "{network}"
    );
    let sizes = pool_sizes(&base);
    assert_eq!(sizes.values().copied().collect::<Vec<_>>(), vec![1000, 200]);
    let config: Value = serde_json::from_str(
        ws.output("cloud_provider_config")
            .as_str()
            .unwrap_or("null"),
    )
    .unwrap_or(Value::Null);
    assert_eq!(
        config["multipleStandardLoadBalancerConfigurations"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{config}"
    );
    assert_eq!(
        ws.output("service_annotations")[0]["service.beta.kubernetes.io/azure-load-balancer-mode"],
        "std-as-0,std-as-1,std-as-2,std-as-3,std-as-4"
    );
    ws.assert_plan_clean("the last apply");
    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    assert!(of_type(&base, "Microsoft.Network/loadBalancers").is_empty());
}

#[test]
fn a_failed_apply_records_what_exists_and_destroy_sweeps_the_rest() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let base = simulator.url.clone();
    let ws = explicit_group(&simulator, "part", 3, 5, "  max_backend_nodes = 5\n");
    let fault = json!({ "method": "PUT", "path": "loadBalancers/web-lb-2$", "status": 400,
                        "error": { "code": "InjectedFailure", "message": "injected by the test" } });
    let (status, reply) = sim_control(&base, "POST", "/_sim/faults", Some(&fault));
    assert_eq!(status, 201, "{reply}");

    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(!run.success, "apply should fail:\n{}", run.text());
    assert!(run.stderr.contains("InjectedFailure"), "{}", run.text());
    let shown = ws.terraform(&["state", "show", "-no-color", "largek8s_lb_group.web"]);
    assert!(
        shown.stdout.contains("web-lb-0") && shown.stdout.contains("web-lb-1"),
        "{}",
        shown.text()
    );
    assert!(!shown.stdout.contains("web-lb-2"), "{}", shown.text());

    // With the fault still there, destroy removes everything, including lb-2's public IP the state never saw.
    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    for ty in [
        "Microsoft.Network/loadBalancers",
        "Microsoft.Network/publicIPAddresses",
    ] {
        assert!(of_type(&base, ty).is_empty(), "{ty} left behind");
    }

    let (status, _) = sim_control(&base, "DELETE", "/_sim/faults", None);
    assert!(status < 300);
    apply(&ws);
    assert_eq!(
        ws.output("load_balancers").as_array().map(Vec::len),
        Some(3)
    );
    ws.assert_plan_clean("the last apply");
    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    assert!(pool_sizes(&base).is_empty());
}

const SUBNET: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes";

/// `terraform plan -detailed-exitcode`: 0 = no changes, 2 = changes, 1 = error; with the output.
fn plan_code(ws: &Workspace) -> (i32, String) {
    let run = ws.plan_detailed();
    (run.code, run.text())
}

fn resource(base: &str, id: &str) -> Value {
    sim_resources(base)
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .map(|r| r["body"].clone())
        .unwrap_or(Value::Null)
}

/// How many PUTs of resources of type `ty` the simulator has answered.
fn puts(base: &str, ty: &str) -> u64 {
    let (_, stats) = sim_control(base, "GET", "/_sim/stats", None);
    stats["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["method"] == "PUT"
                && r["resourceType"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ty))
        })
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

/// How many PUTs of resources of type `ty` the simulator has accepted (answered with a 2xx).
fn accepted_puts(base: &str, ty: &str) -> u64 {
    let (_, stats) = sim_control(base, "GET", "/_sim/stats", None);
    stats["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["method"] == "PUT"
                && r["status"].as_u64().is_some_and(|s| s < 300)
                && r["resourceType"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(ty))
        })
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

/// Sets a NIC's backend pools (on its first IP configuration) out of band.
fn set_nic_pools(base: &str, nic: &str, pools: Value) {
    let mut body = resource(base, nic);
    body["properties"]["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] =
        pools;
    put(base, nic, body);
}

fn backend_pool(lb: u64) -> String {
    format!(
        "{}/providers/microsoft.network/loadbalancers/web-lb-{lb}/backendaddresspools/nodes",
        rg_id()
    )
    .to_ascii_lowercase()
}

/// A real `largek8s_pool` of eleven one-node sets, and a Standard group of two load balancers over it (sets 0-5
/// and 6-10, so Azure's order of set IDs, `as-10` before `as-6`, is not the pool's) with rules, probes (one default
/// spelled out), DNS and tags: the configuration users write.
fn pool_and_group(simulator: &Simulator, extra: &str) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{\n  arm_endpoint = \"{url}\"\n}}\n\n\
         resource \"largek8s_pool\" \"p\" {{\n  name = \"agents\"\n  resource_group_name = \"{RG}\"\n  location = \"westeurope\"\n  \
         node_count = 11\n  max_nodes_per_set = 1\n  vm_size = \"Standard_D2s_v5\"\n  subnet_id = \"{SUBNET}\"\n  \
         admin_username = \"azureuser\"\n  ssh_public_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE largek8s\"]\n}}\n\n\
         resource \"largek8s_lb_group\" \"web\" {{\n  name = \"web\"\n  resource_group_name = \"{RG}\"\n  location = \"westeurope\"\n  \
         backend_sets = largek8s_pool.p.availability_sets\n  max_backend_nodes = 6\n  backend_pool_type = \"NodeIPConfiguration\"\n  \
         rules = [{{ name = \"http\", protocol = \"Tcp\", frontend_port = 80, backend_port = 30080, probe_name = \"http\", idle_timeout_in_minutes = 4 }}]\n  \
         probes = [{{ name = \"http\", protocol = \"Http\", port = 30080, request_path = \"/healthz\", interval_in_seconds = 15 }}]\n  \
         dns = {{ zone_name = \"example.com\", zone_resource_group_name = \"{RG}\", record_name = \"www\" }}\n  \
         tags = {{ team = \"web\" }}\n{extra}}}\n\n\
         output \"pool_id\" {{\n  value = largek8s_pool.p.id\n}}\n\
         output \"sets\" {{\n  value = largek8s_pool.p.availability_sets\n}}\n\
         output \"frontend_ips\" {{\n  value = largek8s_lb_group.web.frontend_ips\n}}\n\
         output \"id\" {{\n  value = largek8s_lb_group.web.id\n}}\n",
        required_providers(),
        url = simulator.url
    )
}

/// The pool's NIC IDs per set index, lower-cased and sorted.
fn pool_nics(ws: &Workspace) -> Vec<Vec<String>> {
    ws.output("sets")
        .as_array()
        .into_iter()
        .flatten()
        .map(|set| {
            let mut nics: Vec<String> = set["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["nic_id"].as_str().map(str::to_ascii_lowercase))
                .collect();
            nics.sort();
            nics
        })
        .collect()
}

#[test]
fn pool_and_group_repair_drift_by_identity_and_import_with_no_changes() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let base = simulator.url.clone();
    make_dns_zone(&base);
    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &pool_and_group(&simulator, ""));
    apply(&ws);
    // The pool's Read ignores backend-pool membership on its NICs, so the group never makes the pool drift.
    let (code, text) = plan_code(&ws);
    assert_eq!(code, 0, "a second plan must show no changes:\n{text}");
    let nics = pool_nics(&ws);
    assert_eq!(nics.len(), 11, "{nics:?}");
    let mut expected = std::collections::BTreeMap::new();
    expected.insert(backend_pool(0), nics[..6].concat());
    expected.insert(backend_pool(1), nics[6..].concat());
    for members in expected.values_mut() {
        members.sort();
    }
    assert_eq!(pool_members(&base), expected);
    let ips = strings(&ws.output("frontend_ips"));

    // Membership drift by identity: one node taken out, a foreign NIC put in; the count stays the same.
    let foreign = format!(
        "{}/providers/Microsoft.Network/networkInterfaces/foreign-nic",
        rg_id()
    );
    put(
        &base,
        &foreign,
        json!({ "location": "westeurope", "properties": { "ipConfigurations": [{
            "name": "ipconfig1", "id": format!("{foreign}/ipConfigurations/ipconfig1"), "properties": {
            "primary": true, "privateIPAllocationMethod": "Dynamic", "subnet": { "id": SUBNET } } }] } }),
    );
    set_nic_pools(&base, &foreign, json!([{ "id": backend_pool(0) }]));
    set_nic_pools(&base, &nics[0][0], json!([]));
    let before = puts(&base, "Microsoft.Network/networkInterfaces");
    let (code, text) = plan_code(&ws);
    assert_eq!(code, 2, "membership drift must show in the plan:\n{text}");
    assert!(
        text.contains("backend_sets") && !text.contains("largek8s_pool.p will be"),
        "the group, not the pool, should change:\n{text}"
    );
    apply(&ws);
    assert_eq!(
        pool_members(&base),
        expected,
        "apply restores exactly the pool's NICs"
    );
    assert_eq!(
        puts(&base, "Microsoft.Network/networkInterfaces") - before,
        2,
        "only the two NICs whose membership changed are written"
    );
    let (code, text) = plan_code(&ws);
    assert_eq!(code, 0, "no changes once repaired:\n{text}");

    // A load balancer deleted out of band is recreated in place, behind the same public IP.
    let (status, reply) = sim_control(
        &base,
        "DELETE",
        &format!(
            "/_sim/resource?id={}/providers/Microsoft.Network/loadBalancers/web-lb-1",
            rg_id()
        ),
        None,
    );
    assert_eq!(status, 200, "{reply}");
    let (code, text) = plan_code(&ws);
    assert_eq!(
        code, 2,
        "a deleted load balancer must show in the plan:\n{text}"
    );
    apply(&ws);
    assert_eq!(strings(&ws.output("frontend_ips")), ips);
    assert_eq!(pool_members(&base), expected);
    let (code, text) = plan_code(&ws);
    assert_eq!(code, 0, "no changes once recreated:\n{text}");

    // A frontend edited out of band is drift, and apply puts the group's public IP back.
    let lb0 = format!(
        "{}/providers/Microsoft.Network/loadBalancers/web-lb-0",
        rg_id()
    );
    let mut body = resource(&base, &lb0);
    body["properties"]["frontendIPConfigurations"][0]["properties"] =
        json!({ "subnet": { "id": SUBNET }, "privateIPAllocationMethod": "Dynamic" });
    put(&base, &lb0, body);
    let (code, text) = plan_code(&ws);
    assert_eq!(code, 2, "an edited frontend must show in the plan:\n{text}");
    apply(&ws);
    assert_eq!(strings(&ws.output("frontend_ips")), ips);
    let (code, text) = plan_code(&ws);
    assert_eq!(code, 0, "no changes once the frontend is back:\n{text}");

    // Import both resources into a fresh workspace with the same configuration: nothing to change.
    let (pool_id, group_id) = (ws.output("pool_id"), ws.output("id"));
    let (pool_id, group_id) = (
        pool_id.as_str().unwrap_or_default(),
        group_id.as_str().unwrap_or_default(),
    );
    let imported = Workspace::for_simulator(&simulator);
    imported.write("main.tf", &pool_and_group(&simulator, ""));
    for (address, id) in [
        ("largek8s_pool.p", pool_id),
        ("largek8s_lb_group.web", group_id),
    ] {
        let run = imported.terraform(&["import", "-no-color", address, id]);
        assert!(run.success, "import {address} failed:\n{}", run.text());
    }
    let (code, text) = plan_code(&imported);
    assert_eq!(code, 0, "no changes after terraform import:\n{text}");
    // Timeouts cannot be imported: a timeouts block is one in-place update that writes nothing to Azure.
    imported.write(
        "main.tf",
        &pool_and_group(&simulator, "  timeouts {\n    update = \"45m\"\n  }\n"),
    );
    let (code, text) = plan_code(&imported);
    assert!(
        code == 2
            && text.contains("0 to add, 1 to change, 0 to destroy")
            && text.contains("timeouts"),
        "a timeouts block after import should be the only change:\n{text}"
    );
    let writes = || {
        let (_, stats) = sim_control(&base, "GET", "/_sim/stats", None);
        stats["byMethod"]["PUT"].as_u64().unwrap_or(0)
    };
    let before = writes();
    apply(&imported);
    assert_eq!(writes(), before, "adding timeouts must not write to Azure");
    let (code, text) = plan_code(&imported);
    assert_eq!(
        code, 0,
        "no changes once timeouts are in the state:\n{text}"
    );

    // The same with import {} blocks: the plan imports and changes nothing.
    let blocks = Workspace::for_simulator(&simulator);
    blocks.write(
        "main.tf",
        &format!(
            "{}\nimport {{\n  to = largek8s_pool.p\n  id = \"{pool_id}\"\n}}\n\
             import {{\n  to = largek8s_lb_group.web\n  id = \"{group_id}\"\n}}\n",
            pool_and_group(&simulator, "")
        ),
    );
    let run = blocks.terraform(&["plan", "-no-color"]);
    assert!(
        run.success
            && run
                .stdout
                .contains("2 to import, 0 to add, 0 to change, 0 to destroy"),
        "the import plan should only import:\n{}",
        run.text()
    );
    apply(&blocks);
    let (code, text) = plan_code(&blocks);
    assert_eq!(code, 0, "no changes after import blocks:\n{text}");

    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    for ty in [
        "Microsoft.Network/loadBalancers",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/dnsZones/A",
        "Microsoft.Compute/virtualMachines",
    ] {
        assert!(of_type(&base, ty).is_empty(), "{ty} left behind");
    }
}

#[test]
fn internal_group_takes_private_frontends_from_the_subnet_and_makes_no_public_ips() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let base = simulator.url.clone();
    let ws = explicit_group(
        &simulator,
        "int",
        2,
        3,
        &format!(
            "  internal = true\n  frontend_subnet_id = \"{SUBNET}\"\n  max_backend_nodes = 3\n"
        ),
    );
    apply(&ws);
    let ips = strings(&ws.output("frontend_ips"));
    assert_eq!(ips.len(), 2, "{ips:?}");
    for ip in &ips {
        // The node subnet is 10.0.0.0/20.
        let octets: Vec<u8> = ip.split('.').filter_map(|o| o.parse().ok()).collect();
        assert!(
            octets.len() == 4 && octets[..2] == [10, 0] && octets[2] < 16,
            "{ip} is not in the frontend subnet"
        );
    }
    for lb in of_type(&base, "Microsoft.Network/loadBalancers") {
        let frontend = &lb["body"]["properties"]["frontendIPConfigurations"][0]["properties"];
        assert!(
            frontend["subnet"]["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(SUBNET))
                && frontend["publicIPAddress"].is_null(),
            "{frontend}"
        );
    }
    for annotations in ws
        .output("service_annotations")
        .as_array()
        .into_iter()
        .flatten()
    {
        assert_eq!(
            annotations["service.beta.kubernetes.io/azure-load-balancer-internal"], "true",
            "{annotations}"
        );
    }
    assert!(of_type(&base, "Microsoft.Network/publicIPAddresses").is_empty());
    assert_eq!(pool_sizes(&base).values().sum::<usize>(), 6);
    ws.assert_plan_clean("the last apply");
    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    assert!(of_type(&base, "Microsoft.Network/loadBalancers").is_empty());
    assert!(of_type(&base, "Microsoft.Network/publicIPAddresses").is_empty());
    assert!(
        pool_sizes(&base).is_empty(),
        "NICs still point at backend pools"
    );
}

/// Names of the load balancers in `terraform show -json`'s state, sorted.
fn state_lb_names(ws: &Workspace) -> Vec<String> {
    let run = ws.terraform(&["show", "-json", "-no-color"]);
    assert!(run.success, "terraform show failed:\n{}", run.text());
    let state: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    let mut names: Vec<String> = state["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r["values"]["load_balancers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|lb| lb["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

fn sim_names(base: &str, ty: &str) -> Vec<String> {
    let mut names: Vec<String> = of_type(base, ty)
        .iter()
        .filter_map(|r| r["id"].as_str()?.rsplit('/').next().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn an_interrupted_apply_saves_every_load_balancer_made_and_the_next_apply_converges() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let base = simulator.url.clone();
    const SETS: usize = 8;
    let ws = explicit_group(&simulator, "big", SETS, 25, "  max_backend_nodes = 25\n");
    // Slow load balancer writes widen the window in which the interrupt lands.
    let fault = json!({ "method": "PUT", "glob": "/subscriptions/*/resourceGroups/*/providers/Microsoft.Network/loadBalancers/*",
                        "latencyMs": 1500 });
    let (status, reply) = sim_control(&base, "POST", "/_sim/faults", Some(&fault));
    assert_eq!(status, 201, "{reply}");

    let running = ws.spawn_terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        largek8s_acceptance::wait_until(std::time::Duration::from_secs(120), || puts(
            &base,
            "Microsoft.Network/loadBalancers"
        ) >= 1),
        "no load balancer write reached the simulator"
    );
    running.interrupt();
    let run = running.wait();
    let made = sim_names(&base, "Microsoft.Network/loadBalancers");
    assert!(
        !made.is_empty() && made.len() < SETS,
        "the interrupt should stop the apply partway, made {made:?}:\n{}",
        run.text()
    );
    // Every load balancer that existed when terraform exited is in the state, and the state claims none that does
    // not exist. (A write cancelled in flight could still land later; the next apply adopts it.)
    let recorded = state_lb_names(&ws);
    let now = sim_names(&base, "Microsoft.Network/loadBalancers");
    assert!(
        made.iter().all(|lb| recorded.contains(lb)) && recorded.iter().all(|lb| now.contains(lb)),
        "the state must record every load balancer that exists: state {recorded:?}, simulator {made:?}:\n{}",
        run.text()
    );

    let (status, _) = sim_control(&base, "DELETE", "/_sim/faults", None);
    assert!(status < 300);
    apply(&ws);
    let names: Vec<String> = (0..SETS).map(|i| format!("web-lb-{i}")).collect();
    assert_eq!(sim_names(&base, "Microsoft.Network/loadBalancers"), names);
    assert_eq!(
        sim_names(&base, "Microsoft.Network/publicIPAddresses").len(),
        SETS,
        "one public IP per load balancer, no duplicates"
    );
    let sizes = pool_sizes(&base);
    assert!(
        sizes.len() == SETS && sizes.values().all(|&n| n == 25),
        "{sizes:?}"
    );
    ws.assert_plan_clean("the last apply");
}

/// The `{availability_set_id, nic_ids}` form with the set's first `count` nodes.
fn explicit_hcl_first(set: &Set, count: usize) -> String {
    let nics: Vec<String> = set
        .nodes
        .iter()
        .take(count)
        .map(|(_, nic)| format!("\"{nic}\""))
        .collect();
    format!(
        "{{ availability_set_id = \"{}\", nic_ids = [{}] }}",
        set.id,
        nics.join(", ")
    )
}

/// A Standard group over the first `count` nodes of each set, two load balancers of at most 300 nodes, with
/// `backend_pool_type` as given (left out: the default).
fn ip_group(simulator: &Simulator, sets: &[(&Set, usize)], form: Option<&str>) -> String {
    let list: Vec<String> = sets
        .iter()
        .map(|(set, count)| explicit_hcl_first(set, *count))
        .collect();
    let mut extra = "  max_backend_nodes = 300\n".to_string();
    if let Some(form) = form {
        extra.push_str(&format!("  backend_pool_type = \"{form}\"\n"));
    }
    let block = group_hcl("Standard", &format!("[{}]", list.join(",\n")), &extra);
    config(simulator, &block)
}

/// Private IP of every NIC, by lower-cased NIC ID.
fn nic_ips(resources: &[Value]) -> std::collections::BTreeMap<String, String> {
    resources
        .iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Network/networkInterfaces"))
        })
        .filter_map(|r| {
            let ip = r["body"]["properties"]["ipConfigurations"][0]["properties"]
                ["privateIPAddress"]
                .as_str()?;
            Some((r["id"].as_str()?.to_ascii_lowercase(), ip.to_string()))
        })
        .collect()
}

/// The backend addresses of each of the group's load balancers, by lower-cased load balancer name, sorted.
fn ip_members(resources: &[Value]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for lb in resources.iter().filter(|r| {
        r["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Network/loadBalancers"))
    }) {
        let name = lb["body"]["name"]
            .as_str()
            .or_else(|| lb["id"].as_str()?.rsplit('/').next());
        let mut ips: Vec<String> = lb["body"]["properties"]["backendAddressPools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["properties"]["loadBalancerBackendAddresses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|a| a["properties"]["ipAddress"].as_str().map(str::to_string))
            .collect();
        ips.sort();
        out.insert(name.unwrap_or_default().to_ascii_lowercase(), ips);
    }
    out
}

/// Nodes (lower-cased NIC IDs of `nodes`) that are in no backend pool of the group, in neither form.
fn outside_both(
    resources: &[Value],
    nodes: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let by_nic: std::collections::BTreeSet<String> = resources
        .iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Network/networkInterfaces"))
        })
        .filter(|r| {
            r["body"]["properties"]["ipConfigurations"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| {
                    c["properties"]["loadBalancerBackendAddressPools"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .any(|p| {
                    p["id"].as_str().is_some_and(|id| {
                        id.to_ascii_lowercase().contains("/loadbalancers/web-lb-")
                    })
                })
        })
        .filter_map(|r| r["id"].as_str().map(str::to_ascii_lowercase))
        .collect();
    let by_ip: std::collections::BTreeSet<String> =
        ip_members(resources).into_values().flatten().collect();
    nodes
        .iter()
        .filter(|(nic, ip)| !by_nic.contains(*nic) && !by_ip.contains(*ip))
        .map(|(nic, _)| nic.clone())
        .collect()
}

/// Applies while a second thread reads the simulator's state over and over, and returns how many states it read
/// and every node it ever found in neither form of backend pool.
fn apply_watching(
    ws: &Workspace,
    base: &str,
    nodes: &std::collections::BTreeMap<String, String>,
) -> (usize, Vec<String>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (stop, base, nodes) = (stop.clone(), base.to_string(), nodes.clone());
        std::thread::spawn(move || {
            let (mut reads, mut outside) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                outside.extend(outside_both(&sim_resources(&base), &nodes));
                reads += 1;
            }
            (reads, outside)
        })
    };
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = watcher
        .join()
        .unwrap_or_else(|_| panic!("the watcher panicked"));
    assert!(run.success, "apply failed:\n{}", run.text());
    seen
}

#[test]
fn standard_group_by_node_ip_writes_membership_on_the_load_balancers_only() {
    // Past --time-scale 3600 the simulator's one-second floor on a token's expires_in outlives the token itself.
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let base = simulator.url.clone();
    let sets: Vec<Set> = [150, 150, 150, 70]
        .iter()
        .enumerate()
        .map(|(i, n)| make_set(&base, "ip", i, *n))
        .collect();
    let ips = nic_ips(&sim_resources(&base));
    let ips_of = |set: &Set, count: usize| -> Vec<String> {
        set.nodes
            .iter()
            .take(count)
            .map(|(_, nic)| ips[&nic.to_ascii_lowercase()].clone())
            .collect()
    };
    let expect = |lbs: &[&[(&Set, usize)]]| -> std::collections::BTreeMap<String, Vec<String>> {
        lbs.iter()
            .enumerate()
            .map(|(i, sets)| {
                let mut all: Vec<String> = sets.iter().flat_map(|(s, n)| ips_of(s, *n)).collect();
                all.sort();
                (format!("web-lb-{i}"), all)
            })
            .collect()
    };
    // Writes Azure accepted: a request refused for throttling or a busy resource and sent again is one write.
    let lb_puts = || accepted_puts(&base, "Microsoft.Network/loadBalancers");
    let nic_puts = || accepted_puts(&base, "Microsoft.Network/networkInterfaces");
    let ws = Workspace::for_simulator(&simulator);

    // 450 nodes in three sets: two load balancers (300 + 150), each written once, and not one NIC write.
    let (lbs0, nics0) = (lb_puts(), nic_puts());
    ws.write(
        "main.tf",
        &ip_group(
            &simulator,
            &[(&sets[0], 150), (&sets[1], 150), (&sets[2], 150)],
            None,
        ),
    );
    apply(&ws);
    let resources = sim_resources(&base);
    assert_eq!(
        ip_members(&resources),
        expect(&[&[(&sets[0], 150), (&sets[1], 150)], &[(&sets[2], 150)]]),
        "members by IP address"
    );
    assert_eq!(lb_puts() - lbs0, 2, "one write per load balancer");
    assert_eq!(nic_puts() - nics0, 0, "no NIC is written");
    assert!(
        ws.output("cloud_provider_config")
            .as_str()
            .is_some_and(|c| c.contains("\"loadBalancerBackendPoolConfigurationType\":\"nodeIP\"")),
        "{}",
        ws.output("cloud_provider_config")
    );
    let counts: Vec<u64> = ws
        .output("load_balancers")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|lb| lb["backend_node_count"].as_u64())
        .collect();
    assert_eq!(counts, [300, 150], "Read counts members by IP");
    ws.assert_plan_clean("the last apply");

    // Scale 450 -> 520 -> 300: only the load balancers whose members change are written, and no NIC.
    let (lbs0, nics0) = (lb_puts(), nic_puts());
    ws.write(
        "main.tf",
        &ip_group(
            &simulator,
            &[
                (&sets[0], 150),
                (&sets[1], 150),
                (&sets[2], 150),
                (&sets[3], 70),
            ],
            None,
        ),
    );
    apply(&ws);
    assert_eq!(
        ip_members(&sim_resources(&base)),
        expect(&[
            &[(&sets[0], 150), (&sets[1], 150)],
            &[(&sets[2], 150), (&sets[3], 70)]
        ])
    );
    assert_eq!(
        (lb_puts() - lbs0, nic_puts() - nics0),
        (1, 0),
        "520 nodes: one LB write"
    );
    ws.assert_plan_clean("the last apply");
    let smaller = [(&sets[0], 150), (&sets[1], 100), (&sets[2], 50)];
    let (lbs0, nics0) = (lb_puts(), nic_puts());
    ws.write("main.tf", &ip_group(&simulator, &smaller, None));
    apply(&ws);
    let settled = expect(&[&[(&sets[0], 150), (&sets[1], 100)], &[(&sets[2], 50)]]);
    assert_eq!(ip_members(&sim_resources(&base)), settled);
    assert_eq!(
        (lb_puts() - lbs0, nic_puts() - nics0),
        (2, 0),
        "300 nodes: two LB writes"
    );
    ws.assert_plan_clean("the last apply");

    // Drift: an address taken out of band and a foreign one put in show in the plan, and apply repairs both.
    let lb0 = format!(
        "{}/providers/Microsoft.Network/loadBalancers/web-lb-0",
        rg_id()
    );
    let mut body = resource(&base, &lb0);
    let addresses = &mut body["properties"]["backendAddressPools"][0]["properties"]
        ["loadBalancerBackendAddresses"];
    let vnet = addresses[0]["properties"]["virtualNetwork"]["id"].clone();
    if let Some(list) = addresses.as_array_mut() {
        list.remove(0);
        list.push(json!({ "name": "intruder", "properties": { "ipAddress": "10.0.250.250", "virtualNetwork": { "id": vnet } } }));
    }
    put(&base, &lb0, body);
    let (code, text) = plan_code(&ws);
    assert_eq!(
        code, 2,
        "drift of IP members must show in the plan:\n{text}"
    );
    let (lbs0, nics0) = (lb_puts(), nic_puts());
    apply(&ws);
    assert_eq!(
        ip_members(&sim_resources(&base)),
        settled,
        "apply restores exactly the sets' addresses"
    );
    assert_eq!((lb_puts() - lbs0, nic_puts() - nics0), (1, 0));
    ws.assert_plan_clean("the last apply");

    // Import into a fresh workspace: the form comes back from Azure, and nothing changes.
    let imported = Workspace::for_simulator(&simulator);
    imported.write("main.tf", &ip_group(&simulator, &smaller, None));
    let id = ws.output("id");
    let run = imported.terraform(&[
        "import",
        "-no-color",
        "largek8s_lb_group.web",
        id.as_str().unwrap_or_default(),
    ]);
    assert!(run.success, "import failed:\n{}", run.text());
    let (code, text) = plan_code(&imported);
    assert_eq!(code, 0, "no changes after import:\n{text}");

    // To NIC-based pools and back, in place: at no moment is a node in neither form.
    let nodes: std::collections::BTreeMap<String, String> = smaller
        .iter()
        .flat_map(|(set, count)| set.nodes.iter().take(*count))
        .map(|(_, nic)| {
            (
                nic.to_ascii_lowercase(),
                ips[&nic.to_ascii_lowercase()].clone(),
            )
        })
        .collect();
    ws.write(
        "main.tf",
        &ip_group(&simulator, &smaller, Some("NodeIPConfiguration")),
    );
    let (code, text) = plan_code(&ws);
    assert!(
        code == 2 && text.contains("1 to change, 0 to destroy"),
        "an in-place update:\n{text}"
    );
    let (reads, outside) = apply_watching(&ws, &base, &nodes);
    assert!(
        reads > 1 && outside.is_empty(),
        "{} reads; nodes in neither form: {outside:?}",
        reads
    );
    let resources = sim_resources(&base);
    assert!(
        ip_members(&resources).values().all(Vec::is_empty),
        "no address is left"
    );
    assert_eq!(
        pool_members(&base).values().map(Vec::len).sum::<usize>(),
        300,
        "every node by NIC"
    );
    ws.assert_plan_clean("the last apply");
    ws.write("main.tf", &ip_group(&simulator, &smaller, Some("NodeIP")));
    let (reads, outside) = apply_watching(&ws, &base, &nodes);
    assert!(
        reads > 1 && outside.is_empty(),
        "{} reads; nodes in neither form: {outside:?}",
        reads
    );
    assert_eq!(ip_members(&sim_resources(&base)), settled);
    assert!(pool_members(&base).is_empty(), "no NIC is left in a pool");
    ws.assert_plan_clean("the last apply");

    let run = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(run.success, "destroy failed:\n{}", run.text());
    for ty in [
        "Microsoft.Network/loadBalancers",
        "Microsoft.Network/publicIPAddresses",
    ] {
        assert!(of_type(&base, ty).is_empty(), "{ty} left behind");
    }
    assert!(pool_members(&base).is_empty());
}

#[test]
fn a_group_from_before_backend_pool_type_keeps_its_nics_and_records_the_form_without_writing() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let base = simulator.url.clone();
    let set = make_set(&base, "old", 0, 4);
    let sets = format!("[{}]", explicit_hcl(&set));
    let ws = Workspace::for_simulator(&simulator);
    ws.write(
        "main.tf",
        &config(
            &simulator,
            &group_hcl(
                "Standard",
                &sets,
                "  backend_pool_type = \"NodeIPConfiguration\"\n",
            ),
        ),
    );
    apply(&ws);
    // The state as a provider without backend_pool_type wrote it, and a configuration that leaves it out.
    let pulled = ws.terraform(&["state", "pull"]);
    assert!(pulled.success, "state pull failed:\n{}", pulled.text());
    let mut state: Value = serde_json::from_str(&pulled.stdout)
        .unwrap_or_else(|e| panic!("state pull is not JSON: {e}"));
    if let Some(attrs) = state["resources"][0]["instances"][0]["attributes"].as_object_mut() {
        attrs.remove("backend_pool_type");
    }
    state["serial"] = json!(state["serial"].as_u64().unwrap_or(0) + 1);
    ws.write("old.tfstate", &state.to_string());
    let run = ws.terraform(&["state", "push", "old.tfstate"]);
    assert!(run.success, "state push failed:\n{}", run.text());
    ws.write(
        "main.tf",
        &config(&simulator, &group_hcl("Standard", &sets, "")),
    );

    let (code, text) = plan_code(&ws);
    assert!(
        code == 2
            && text.contains("+ backend_pool_type")
            && text.contains("\"NodeIPConfiguration\"")
            && text.contains("0 to add, 1 to change, 0 to destroy"),
        "the group stays NIC-based and records its form in place:\n{text}"
    );
    let writes = || {
        let (_, stats) = sim_control(&base, "GET", "/_sim/stats", None);
        stats["byMethod"]["PUT"].as_u64().unwrap_or(0)
    };
    let before = writes();
    apply(&ws);
    assert_eq!(
        writes(),
        before,
        "recording the form writes nothing to Azure"
    );
    assert_eq!(
        pool_sizes(&base).values().sum::<usize>(),
        4,
        "every node is still a member by NIC"
    );
    ws.assert_plan_clean("the last apply");
}
