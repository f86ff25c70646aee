//! `largek8s_virtual_node` through real Terraform against the simulator's demo world: the delegated subnet,
//! the AKS add-on and the role for the identity the add-on runs as, plan-time checks, drift, import and a clean
//! destroy.

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, sim_resources, Simulator, Workspace,
};
use serde_json::{json, Value};

const RG: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo";
const CLUSTER_PRINCIPAL: &str = "99999999-8888-7777-6666-555555555555";
const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";

fn vnet() -> String {
    format!("{RG}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet")
}

fn cluster() -> String {
    format!("{RG}/providers/Microsoft.ContainerService/managedClusters/largek8s-aks")
}

/// The user-assigned identity AKS makes for the ACI connector add-on of the demo cluster, in its node resource
/// group.
fn connector_identity_id() -> String {
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/MC_largek8s-demo_largek8s-aks_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aciconnectorlinux-largek8s-aks".to_string()
}

/// The object (principal) ID of the add-on's identity, read from the identity itself.
fn connector_object_id(base: &str) -> String {
    let identity = body(base, &connector_identity_id()).expect("AKS made the add-on's identity");
    identity["properties"]["principalId"]
        .as_str()
        .expect("the identity has a principal ID")
        .to_string()
}

/// The rendered body of one resource, if it exists.
fn body(base: &str, id: &str) -> Option<Value> {
    sim_resources(base)
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .map(|r| r["body"].clone())
}

fn role_assignments(base: &str) -> Vec<Value> {
    sim_resources(base)
        .into_iter()
        .filter(|r| {
            r["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments"))
        })
        .collect()
}

/// The cluster minus what enabling the add-on may change: the ACI connector's profile, ETag and provisioning
/// state. Every other add-on profile stays in the comparison.
fn cluster_without_aci(base: &str) -> Value {
    let mut c = body(base, &cluster()).expect("the demo cluster exists");
    if let Some(o) = c.as_object_mut() {
        o.remove("etag");
    }
    if let Some(p) = c["properties"].as_object_mut() {
        p.remove("provisioningState");
    }
    if let Some(a) = c["properties"]["addonProfiles"].as_object_mut() {
        a.remove("aciConnectorLinux");
    }
    c
}

/// Creates or replaces a resource out of band, as someone in the portal would.
fn edit(base: &str, id: &str, body: &Value) {
    out_of_band(base, "PUT", id, Some(body));
}

/// Deletes a resource out of band.
fn remove(base: &str, id: &str) {
    out_of_band(base, "DELETE", id, None);
}

fn out_of_band(base: &str, method: &str, id: &str, body: Option<&Value>) {
    let path = format!("/_sim/resource?id={}", id.replace('/', "%2F"));
    let (status, answer) = sim_control(base, method, &path, body);
    assert_eq!(status, 200, "out-of-band {method} of {id}: {answer}");
}

fn subnet() -> String {
    format!("{}/subnets/virtual-node-aci", vnet())
}

/// The ACI service association links on the virtual node's subnet.
fn links(base: &str) -> Vec<Value> {
    body(base, &subnet()).expect("the subnet exists")["properties"]["serviceAssociationLinks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Resource addresses in the workspace's state.
fn state_list(ws: &Workspace) -> Vec<String> {
    let run = ws.terraform(&["state", "list"]);
    assert!(run.success, "state list failed:\n{}", run.text());
    run.stdout.lines().map(str::to_string).collect()
}

/// The virtual node's attributes in the workspace's state.
fn state_values(ws: &Workspace) -> Value {
    let run = ws.terraform(&["show", "-json"]);
    assert!(run.success, "show failed:\n{}", run.text());
    let shown: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("show -json is not JSON ({e}):\n{}", run.stdout));
    shown["values"]["root_module"]["resources"][0]["values"].clone()
}

fn aci_addon(base: &str) -> Value {
    body(base, &cluster()).expect("the demo cluster exists")["properties"]["addonProfiles"]
        ["aciConnectorLinux"]
        .clone()
}

/// A configuration with one virtual node and the outputs a Kubernetes deployment would use.
fn config(simulator: &Simulator, prefix: &str, cluster_id: &str) -> String {
    config_with(simulator, prefix, cluster_id, "")
}

fn config_with(simulator: &Simulator, prefix: &str, cluster_id: &str, extra: &str) -> String {
    format!(
        r#"{providers}
provider "largek8s" {{
  arm_endpoint = "{url}"
}}

resource "largek8s_virtual_node" "aci" {{
  virtual_network_id = "{vnet}"
  subnet_name        = "virtual-node-aci"
  address_prefix     = "{prefix}"
  cluster_id         = "{cluster_id}"
{extra}
}}

# What a kubernetes_deployment's spec.template.spec takes to burst into ACI.
output "deployment" {{
  value = {{
    metadata = {{ name = "burst" }}
    spec = {{
      template = {{
        spec = {{
          node_selector = largek8s_virtual_node.aci.node_selector
          toleration    = [for t in largek8s_virtual_node.aci.tolerations : {{ for k, v in t : k => v if v != null }}]
          container     = [{{ name = "app", image = "mcr.microsoft.com/azuredocs/aci-helloworld" }}]
        }}
      }}
    }}
  }}
}}

output "node_name" {{
  value = largek8s_virtual_node.aci.node_name
}}

output "taint" {{
  value = largek8s_virtual_node.aci.taint
}}

output "subnet_id" {{
  value = largek8s_virtual_node.aci.subnet_id
}}

output "role_assignment_id" {{
  value = largek8s_virtual_node.aci.role_assignment_id
}}
"#,
        providers = required_providers(),
        url = simulator.url,
        vnet = vnet(),
    )
}

/// After an out-of-band change (`what`): the plan shows `attribute` changing in place, and apply succeeds.
fn plan_shows_and_apply_fixes(ws: &Workspace, attribute: &str, what: &str) {
    let drift = ws.terraform(&["plan", "-no-color"]);
    assert!(
        drift.success
            && drift.stdout.contains("updated in-place")
            && drift.stdout.contains(attribute),
        "the plan after {what} shows no change of {attribute}:\n{}",
        drift.text()
    );
    let fix = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(fix.success, "apply after {what} failed:\n{}", fix.text());
}

/// `terraform <args>` must fail (`case`) with an error that contains every one of `needles`.
fn assert_fails_saying(ws: &Workspace, args: &[&str], case: &str, needles: &[&str]) {
    let run = ws.terraform(args);
    assert!(!run.success, "{case} must fail:\n{}", run.text());
    assert!(
        needles.iter().all(|n| run.stderr.contains(n)),
        "{case}: the error does not say all of {needles:?}:\n{}",
        run.text()
    );
}

#[test]
fn a_virtual_node_delegates_a_subnet_grants_the_role_enables_the_addon_and_destroys_cleanly() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &cluster()));
    // Another add-on the read-modify-write must keep.
    let mut demo = body(&url, &cluster()).expect("the demo cluster");
    demo["properties"]["addonProfiles"] = json!({"azurepolicy": {"enabled": true}});
    edit(&url, &cluster(), &demo);
    let before = cluster_without_aci(&url);

    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());

    let subnet_id = subnet();
    let subnet = body(&url, &subnet_id).expect("the subnet exists");
    assert_eq!(subnet["properties"]["addressPrefix"], "10.0.16.0/24");
    assert_eq!(
        subnet["properties"]["delegations"][0]["properties"]["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    let roles = role_assignments(&url);
    assert_eq!(roles.len(), 1, "one role assignment: {roles:?}");
    let role = &roles[0];
    // The role goes to the identity the ACI connector runs as, not to the cluster's own.
    let object_id = connector_object_id(&url);
    assert_ne!(object_id, CLUSTER_PRINCIPAL);
    assert_eq!(
        role["body"]["properties"]["principalId"],
        object_id.as_str()
    );
    assert_eq!(
        role["body"]["properties"]["roleDefinitionId"],
        format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{NETWORK_CONTRIBUTOR}", sim::SUBSCRIPTION)
    );
    assert!(role["id"].as_str().is_some_and(|id| id
        .to_ascii_lowercase()
        .starts_with(&subnet_id.to_ascii_lowercase())));
    assert_eq!(
        ws.output("role_assignment_id")
            .as_str()
            .map(str::to_ascii_lowercase),
        role["id"].as_str().map(str::to_ascii_lowercase)
    );
    let addon = aci_addon(&url);
    assert_eq!(addon["enabled"], true);
    assert_eq!(addon["config"]["SubnetName"], "virtual-node-aci");
    assert_eq!(addon["identity"]["objectId"], object_id.as_str());
    assert_eq!(
        cluster_without_aci(&url),
        before,
        "enabling the add-on changed another setting"
    );
    let state = state_values(&ws);
    assert_eq!(state["principal_id"], object_id.as_str());
    assert_eq!(state["connector_identity"]["object_id"], object_id.as_str());
    assert_eq!(
        state["connector_identity"]["client_id"],
        addon["identity"]["clientId"]
    );
    assert_eq!(
        state["connector_identity"]["resource_id"]
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(connector_identity_id().to_ascii_lowercase())
    );

    ws.assert_plan_clean("after create");

    let deployment = ws.output("deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["node_selector"]["type"], "virtual-kubelet");
    assert_eq!(
        pod["toleration"][0],
        json!({"key": "virtual-kubelet.io/provider", "operator": "Exists"})
    );
    assert_eq!(ws.output("node_name"), "virtual-node-aci-linux");
    assert_eq!(
        ws.output("taint"),
        "virtual-kubelet.io/provider=azure:NoSchedule"
    );
    assert_eq!(
        ws.output("subnet_id").as_str().map(str::to_ascii_lowercase),
        Some(subnet_id.to_ascii_lowercase())
    );

    // Someone disables the add-on in the portal: the plan shows it, apply puts it back.
    let mut edited = body(&url, &cluster()).expect("cluster");
    edited["properties"]["addonProfiles"]["aciConnectorLinux"] = json!({"enabled": false});
    edit(&url, &cluster(), &edited);
    plan_shows_and_apply_fixes(&ws, "cluster_id", "the add-on was disabled");
    assert_eq!(aci_addon(&url)["enabled"], true);
    ws.assert_plan_clean("after the drift was fixed");

    // The role assignment deleted out of band is granted again.
    let role_id = role["id"].as_str().expect("role assignment ID").to_string();
    remove(&url, &role_id);
    plan_shows_and_apply_fixes(&ws, "role_assignment_id", "the role assignment was deleted");
    let back = role_assignments(&url);
    assert_eq!(back.len(), 1, "the role assignment is back");
    assert_eq!(
        back[0]["body"]["properties"]["principalId"],
        object_id.as_str()
    );
    ws.assert_plan_clean("after the role was granted again");

    // The delegation removed out of band is put back.
    let mut undelegated = body(&url, &subnet_id).expect("the subnet");
    undelegated["properties"]["delegations"] = json!([]);
    edit(&url, &subnet_id, &undelegated);
    plan_shows_and_apply_fixes(&ws, "delegation_name", "the delegation was removed");
    assert_eq!(
        body(&url, &subnet_id).expect("the subnet")["properties"]["delegations"][0]["properties"]
            ["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    ws.assert_plan_clean("after the delegation was put back");

    // Import by the subnet ID recovers the same state.
    let rm = ws.terraform(&["state", "rm", "-no-color", "largek8s_virtual_node.aci"]);
    assert!(rm.success, "{}", rm.text());
    let import = ws.terraform(&[
        "import",
        "-no-color",
        "largek8s_virtual_node.aci",
        &subnet_id,
    ]);
    assert!(import.success, "import failed:\n{}", import.text());
    assert_eq!(state_values(&ws)["principal_id"], object_id.as_str());
    ws.assert_plan_clean("after import");

    // Disabling the add-on leaves ACI's link on the subnet; destroy must delete it before the subnet.
    assert_eq!(links(&url).len(), 1, "the add-on links the subnet");
    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    assert!(
        body(&url, &subnet_id).is_none(),
        "the subnet is left behind"
    );
    assert!(
        role_assignments(&url).is_empty(),
        "a role assignment is left behind"
    );
    assert_ne!(
        aci_addon(&url)["enabled"],
        true,
        "the add-on is still enabled"
    );
    assert_eq!(
        cluster_without_aci(&url),
        before,
        "destroy changed another setting of the cluster"
    );
    assert!(
        body(&url, &format!("{}/subnets/nodes", vnet())).is_some(),
        "the node subnet must stay"
    );
}

#[test]
fn a_prefix_overlapping_a_subnet_or_outside_the_vnet_fails_the_plan() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let ws = Workspace::for_simulator(&simulator);

    ws.write("main.tf", &config(&simulator, "10.0.8.0/24", &cluster()));
    // The error names both CIDRs.
    assert_fails_saying(
        &ws,
        &["plan", "-no-color"],
        "a plan with an overlapping prefix",
        &["10.0.8.0/24", "10.0.0.0/20"],
    );

    ws.write("main.tf", &config(&simulator, "10.1.0.0/24", &cluster()));
    // The error names the prefix and the address space.
    assert_fails_saying(
        &ws,
        &["plan", "-no-color"],
        "a plan with a prefix outside the VNet",
        &["10.1.0.0/24", "10.0.0.0/16"],
    );
}

#[test]
fn a_kubenet_cluster_is_a_clear_error_and_nothing_is_created() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    let kubenet = format!("{RG}/providers/Microsoft.ContainerService/managedClusters/kubenet-aks");
    let mut cluster_body = body(&url, &cluster()).expect("the demo cluster");
    cluster_body["properties"]["networkProfile"]["networkPlugin"] = json!("kubenet");
    edit(&url, &kubenet, &cluster_body);

    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &kubenet));
    assert_fails_saying(
        &ws,
        &["apply", "-auto-approve", "-no-color"],
        "an apply on a kubenet cluster",
        &["Azure CNI", "kubenet", "cluster_id"],
    );
    assert!(body(&url, &subnet()).is_none(), "a subnet was created");
    assert!(
        role_assignments(&url).is_empty(),
        "a role assignment was created"
    );
}

#[test]
fn contributor_on_the_vnet_adopts_an_existing_assignment_of_that_role() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    // Granted by hand, as the classic instructions do, under a name of its own.
    let existing = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9",
        vnet()
    );
    let grant = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", sim::SUBSCRIPTION),
        "principalId": CLUSTER_PRINCIPAL,
    }});
    edit(&url, &existing, &grant);

    let ws = Workspace::for_simulator(&simulator);
    ws.write(
        "main.tf",
        &config_with(
            &simulator,
            "10.0.16.0/24",
            &cluster(),
            &format!("  role         = \"contributor\"\n  principal_id = \"{CLUSTER_PRINCIPAL}\""),
        ),
    );
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());
    assert_eq!(
        role_assignments(&url).len(),
        1,
        "the existing assignment is adopted, not doubled"
    );
    assert_eq!(
        ws.output("role_assignment_id")
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(existing.to_ascii_lowercase())
    );
    ws.assert_plan_clean("after adopting the assignment");

    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    assert!(
        role_assignments(&url).is_empty(),
        "the adopted assignment is removed with the virtual node"
    );
}

#[test]
fn destroy_deletes_the_service_association_link_the_disabled_addon_left_behind_even_after_a_failure(
) {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let url = simulator.url.clone();
    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &cluster()));
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());

    // Someone disables the virtual-node add-on with the AKS CLI: ACI's link stays on the subnet.
    let mut disabled = body(&url, &cluster()).expect("cluster");
    disabled["properties"]["addonProfiles"]["aciConnectorLinux"] = json!({"enabled": false});
    edit(&url, &cluster(), &disabled);
    let left = links(&url);
    assert_eq!(left.len(), 1, "the link outlives the add-on");
    assert_eq!(
        left[0]["properties"]["link"]
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(cluster().to_ascii_lowercase())
    );

    // ACI fails the first delete of the link: destroy stops there, keeps the virtual node in state, and the
    // next destroy finishes.
    add_fault(
        &url,
        json!({"method": "DELETE", "path": "serviceAssociationLinks", "asyncOutcome": "Failed", "times": 1}),
    );
    assert_fails_saying(
        &ws,
        &["destroy", "-auto-approve", "-no-color"],
        "a destroy whose link delete fails",
        &["Failed to remove ACI's service association link"],
    );
    assert_eq!(state_list(&ws), ["largek8s_virtual_node.aci"]);
    assert_eq!(links(&url).len(), 1, "the failed delete keeps the link");

    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    assert!(body(&url, &subnet()).is_none(), "the subnet is left behind");
    assert!(role_assignments(&url).is_empty());
    assert!(state_list(&ws).is_empty());
}

#[test]
fn an_existing_subnet_of_that_name_is_refused_unless_empty_and_compatible_then_adopted() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let url = simulator.url.clone();
    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &cluster()));
    let cluster_before = cluster_without_aci(&url);
    let subnet_body = |props: Value| json!({"name": "virtual-node-aci", "properties": props});
    let nic = format!("{RG}/providers/Microsoft.Network/networkInterfaces/someone-elses-nic");

    let refusals = [
        (
            "a different prefix",
            subnet_body(json!({"addressPrefix": "10.0.17.0/24"})),
            "10.0.17.0/24",
        ),
        (
            "another service's delegation",
            subnet_body(json!({"addressPrefix": "10.0.16.0/24", "delegations": [
                {"name": "web", "properties": {"serviceName": "Microsoft.Web/serverFarms"}}]})),
            "Microsoft.Web/serverFarms",
        ),
        (
            "a network interface in it",
            subnet_body(json!({"addressPrefix": "10.0.16.0/24"})),
            "network interfaces use it",
        ),
    ];
    for (case, existing, why) in refusals {
        edit(&url, &subnet(), &existing);
        if why == "network interfaces use it" {
            let nic_body = json!({"location": "westeurope", "properties": {"ipConfigurations": [{
                "name": "ipconfig1",
                "properties": {"subnet": {"id": subnet()}, "privateIPAddress": "10.0.16.4"}}]}});
            edit(&url, &nic, &nic_body);
        }
        let subnet_before = body(&url, &subnet()).expect("the existing subnet");
        assert_fails_saying(
            &ws,
            &["apply", "-auto-approve", "-no-color"],
            &format!("adopting a subnet with {case}"),
            &["A subnet of that name already exists", why, "subnet_name"],
        );
        let mut subnet_after = body(&url, &subnet()).expect("the existing subnet");
        subnet_after["etag"] = subnet_before["etag"].clone();
        assert_eq!(
            subnet_after, subnet_before,
            "{case}: the subnet was changed"
        );
        assert!(
            role_assignments(&url).is_empty(),
            "{case}: a role was granted"
        );
        assert_eq!(
            cluster_without_aci(&url),
            cluster_before,
            "{case}: the cluster changed"
        );
        assert_ne!(
            aci_addon(&url)["enabled"],
            true,
            "{case}: the add-on was enabled"
        );
        assert!(
            state_list(&ws).is_empty(),
            "{case}: someone else's subnet was recorded in state"
        );
    }

    // Empty and compatible: adopted, delegated, and the virtual node converges.
    remove(&url, &nic);
    edit(
        &url,
        &subnet(),
        &subnet_body(json!({"addressPrefix": "10.0.16.0/24"})),
    );
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        apply.success,
        "adopting the empty subnet failed:\n{}",
        apply.text()
    );
    let adopted = body(&url, &subnet()).expect("the adopted subnet");
    assert_eq!(
        adopted["properties"]["delegations"][0]["properties"]["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    assert_eq!(role_assignments(&url).len(), 1);
    assert_eq!(aci_addon(&url)["enabled"], true);
    ws.assert_plan_clean("after adopting the subnet");
}

/// A fault that holds the managed-cluster PUT (the add-on write) unanswered far longer than any test runs.
fn hold_the_addon_write(base: &str) {
    add_fault(
        base,
        json!({"method": "PUT", "path": "/managedClusters/largek8s-aks$", "latencyMs": 600_000, "times": 1}),
    );
}

fn add_fault(base: &str, rule: Value) {
    let (status, answer) = sim_control(base, "POST", "/_sim/faults", Some(&rule));
    assert_eq!(status, 201, "fault rule {rule}: {answer}");
}

/// After an apply that stopped at the add-on write: the subnet is made and in state; the add-on is not, nor the
/// role, which goes to the add-on's identity; the next apply finishes the job without doubling anything.
fn assert_partial_then_converges(ws: &Workspace, base: &str) {
    let partial = state_values(ws);
    assert_eq!(
        partial["subnet_id"].as_str().map(str::to_ascii_lowercase),
        Some(subnet().to_ascii_lowercase()),
        "the subnet is in state: {partial}"
    );
    assert!(
        partial["role_assignment_id"].is_null(),
        "no role is granted before the add-on's identity exists: {partial}"
    );
    assert!(
        partial["cluster_id"].is_null(),
        "the add-on is not in state: {partial}"
    );
    assert!(body(base, &subnet()).is_some());
    assert!(role_assignments(base).is_empty());
    assert_ne!(aci_addon(base)["enabled"], true);

    let again = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(again.success, "the next apply failed:\n{}", again.text());
    let roles = role_assignments(base);
    assert_eq!(roles.len(), 1, "one role assignment: {roles:?}");
    assert_eq!(
        roles[0]["body"]["properties"]["principalId"],
        connector_object_id(base).as_str()
    );
    let subnets: Vec<Value> = sim_resources(base)
        .into_iter()
        .filter(|r| {
            r["type"].as_str().is_some_and(|t| {
                t.eq_ignore_ascii_case("Microsoft.Network/virtualNetworks/subnets")
            })
        })
        .collect();
    assert_eq!(
        subnets.len(),
        2,
        "the node subnet and one virtual-node subnet: {subnets:?}"
    );
    assert_eq!(aci_addon(base)["enabled"], true);
    assert_eq!(aci_addon(base)["config"]["SubnetName"], "virtual-node-aci");
    ws.assert_plan_clean("after the next apply");
}

#[test]
fn ctrl_c_during_a_hanging_addon_write_saves_the_subnet_and_the_next_apply_converges() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let url = simulator.url.clone();
    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &cluster()));
    hold_the_addon_write(&url);

    let running = ws.spawn_terraform(&["apply", "-auto-approve", "-no-color"]);
    let held = largek8s_acceptance::wait_until(std::time::Duration::from_secs(120), || {
        let (_, rules) = sim_control(&url, "GET", "/_sim/faults", None);
        rules[0]["fired"] == 1
    });
    assert!(held, "the add-on write never reached the simulator");
    running.interrupt();
    let run = running.wait();
    assert!(
        !run.success,
        "an interrupted apply must fail:\n{}",
        run.text()
    );
    assert!(
        run.stderr
            .contains("Failed to enable the virtual-node add-on")
            && run.stderr.contains("Terraform was interrupted"),
        "the error says what stopped and what to do:\n{}",
        run.text()
    );
    assert_partial_then_converges(&ws, &url);
}

#[test]
fn a_short_create_timeout_ends_a_hanging_addon_write_and_the_next_apply_converges() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let url = simulator.url.clone();
    let ws = Workspace::for_simulator(&simulator);
    // Long enough to make the subnet on a busy machine (about a second here), far shorter than
    // the held add-on write.
    ws.write(
        "main.tf",
        &config_with(
            &simulator,
            "10.0.16.0/24",
            &cluster(),
            "  timeouts {\n    create = \"8s\"\n  }",
        ),
    );
    hold_the_addon_write(&url);

    // The error says what ran out and what to do.
    assert_fails_saying(
        &ws,
        &["apply", "-auto-approve", "-no-color"],
        "an apply that runs out of time",
        &["Failed to enable the virtual-node add-on", "time ran out"],
    );
    assert_partial_then_converges(&ws, &url);
}

#[test]
fn a_service_principal_cluster_needs_principal_id_at_plan_time_and_then_gets_the_role() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    // A cluster that still runs as a service principal: AKS makes no identity for its add-ons.
    let sp_cluster = format!("{RG}/providers/Microsoft.ContainerService/managedClusters/sp-aks");
    let sp_client = "0f0e0d0c-0b0a-4908-8706-050403020100";
    let sp_object = "1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d";
    let mut cluster_body = body(&url, &cluster()).expect("the demo cluster");
    cluster_body["properties"]["servicePrincipalProfile"] = json!({ "clientId": sp_client });
    if let Some(o) = cluster_body.as_object_mut() {
        o.remove("identity");
    }
    edit(&url, &sp_cluster, &cluster_body);

    let ws = Workspace::for_simulator(&simulator);
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &sp_cluster));
    // The error is at principal_id, names the service principal and says how to find its object ID.
    assert_fails_saying(
        &ws,
        &["plan", "-no-color"],
        "a plan for a service-principal cluster without principal_id",
        &["principal_id", sp_client, "az ad sp show --id"],
    );
    assert!(body(&url, &subnet()).is_none(), "a plan created something");

    ws.write(
        "main.tf",
        &config_with(
            &simulator,
            "10.0.16.0/24",
            &sp_cluster,
            &format!("  principal_id = \"{sp_object}\""),
        ),
    );
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());
    let roles = role_assignments(&url);
    assert_eq!(roles.len(), 1, "one role assignment: {roles:?}");
    assert_eq!(roles[0]["body"]["properties"]["principalId"], sp_object);
    let state = state_values(&ws);
    assert!(
        state["connector_identity"].is_null(),
        "a service-principal cluster reports no add-on identity: {state}"
    );
    ws.assert_plan_clean("after create on a service-principal cluster");
    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    assert!(role_assignments(&url).is_empty());
}

#[test]
fn a_role_granted_to_the_cluster_identity_moves_to_the_addon_identity_on_the_next_apply() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    let ws = Workspace::for_simulator(&simulator);
    // The state an earlier version left: the role on the cluster's own identity, principal_id not configured.
    ws.write(
        "main.tf",
        &config_with(
            &simulator,
            "10.0.16.0/24",
            &cluster(),
            &format!("  principal_id = \"{CLUSTER_PRINCIPAL}\""),
        ),
    );
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());
    let old = role_assignments(&url);
    assert_eq!(old.len(), 1);
    assert_eq!(
        old[0]["body"]["properties"]["principalId"],
        CLUSTER_PRINCIPAL
    );

    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &cluster()));
    let object_id = connector_object_id(&url);
    let plan = ws.terraform(&["plan", "-no-color"]);
    assert!(
        plan.success
            && plan.stdout.contains("updated in-place")
            && plan.stdout.contains(CLUSTER_PRINCIPAL)
            && plan.stdout.contains(&object_id),
        "the plan shows the principal moving to the add-on's identity:\n{}",
        plan.text()
    );
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());
    let roles = role_assignments(&url);
    assert_eq!(roles.len(), 1, "the old assignment is removed: {roles:?}");
    assert_eq!(
        roles[0]["body"]["properties"]["principalId"],
        object_id.as_str()
    );
    ws.assert_plan_clean("after the role moved");
}
