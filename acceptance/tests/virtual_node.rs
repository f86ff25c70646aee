//! `largek8s_virtual_node` through real Terraform against the simulator's demo world: the delegated subnet,
//! the connector's role and the AKS add-on, plan-time checks, drift, import and a clean destroy.

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, sim_resources, Simulator, Transport,
    Workspace,
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

fn encode(id: &str) -> String {
    id.replace('/', "%2F")
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

/// The cluster minus what enabling the add-on may change: its add-on profiles, ETag and provisioning state.
fn cluster_without_addons(base: &str) -> Value {
    let mut c = body(base, &cluster()).expect("the demo cluster exists");
    if let Some(o) = c.as_object_mut() {
        o.remove("etag");
    }
    if let Some(p) = c["properties"].as_object_mut() {
        p.remove("addonProfiles");
        p.remove("provisioningState");
    }
    c
}

fn aci_addon(base: &str) -> Value {
    body(base, &cluster()).expect("the demo cluster exists")["properties"]["addonProfiles"]
        ["aciConnectorLinux"]
        .clone()
}

fn workspace() -> Workspace {
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("ARM_SUBSCRIPTION_ID", sim::SUBSCRIPTION)
        .env("ARM_TENANT_ID", sim::TENANT)
        .env("ARM_CLIENT_ID", sim::CLIENT_ID)
        .env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET);
    ws
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

fn assert_no_changes(ws: &Workspace, when: &str) {
    let plan = ws.terraform(&["plan", "-no-color"]);
    assert!(plan.success, "plan {when} failed:\n{}", plan.text());
    assert!(
        plan.stdout.contains("No changes."),
        "plan {when} is not empty:\n{}",
        plan.text()
    );
}

#[test]
fn a_virtual_node_delegates_a_subnet_grants_the_role_enables_the_addon_and_destroys_cleanly() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    let ws = workspace();
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &cluster()));
    let before = cluster_without_addons(&url);

    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(apply.success, "apply failed:\n{}", apply.text());

    let subnet_id = format!("{}/subnets/virtual-node-aci", vnet());
    let subnet = body(&url, &subnet_id).expect("the subnet exists");
    assert_eq!(subnet["properties"]["addressPrefix"], "10.0.16.0/24");
    assert_eq!(
        subnet["properties"]["delegations"][0]["properties"]["serviceName"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    let roles = role_assignments(&url);
    assert_eq!(roles.len(), 1, "one role assignment: {roles:?}");
    let role = &roles[0];
    assert_eq!(role["body"]["properties"]["principalId"], CLUSTER_PRINCIPAL);
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
    assert_eq!(
        cluster_without_addons(&url),
        before,
        "enabling the add-on changed another setting"
    );

    assert_no_changes(&ws, "after create");

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
    let (status, answer) = sim_control(
        &url,
        "PUT",
        &format!("/_sim/resource?id={}", encode(&cluster())),
        Some(&edited),
    );
    assert_eq!(status, 200, "out-of-band edit: {answer}");
    let drift = ws.terraform(&["plan", "-no-color"]);
    assert!(drift.success, "plan after drift failed:\n{}", drift.text());
    assert!(
        drift.stdout.contains("updated in-place") && drift.stdout.contains("cluster_id"),
        "{}",
        drift.text()
    );
    let fix = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(fix.success, "apply after drift failed:\n{}", fix.text());
    assert_eq!(aci_addon(&url)["enabled"], true);
    assert_no_changes(&ws, "after the drift was fixed");

    // The role assignment deleted out of band is granted again.
    let role_id = role["id"].as_str().expect("role assignment ID").to_string();
    let (status, answer) = sim_control(
        &url,
        "DELETE",
        &format!("/_sim/resource?id={}", encode(&role_id)),
        None,
    );
    assert_eq!(status, 200, "out-of-band delete: {answer}");
    let drift = ws.terraform(&["plan", "-no-color"]);
    assert!(
        drift.success && drift.stdout.contains("role_assignment_id"),
        "{}",
        drift.text()
    );
    let fix = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        fix.success,
        "apply after the role was deleted failed:\n{}",
        fix.text()
    );
    assert_eq!(
        role_assignments(&url).len(),
        1,
        "the role assignment is back"
    );
    assert_no_changes(&ws, "after the role was granted again");

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
    assert_no_changes(&ws, "after import");

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
        cluster_without_addons(&url),
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
    let ws = workspace();

    ws.write("main.tf", &config(&simulator, "10.0.8.0/24", &cluster()));
    let overlap = ws.terraform(&["plan", "-no-color"]);
    assert!(
        !overlap.success,
        "an overlapping prefix must fail the plan:\n{}",
        overlap.text()
    );
    assert!(
        overlap.stderr.contains("10.0.8.0/24") && overlap.stderr.contains("10.0.0.0/20"),
        "the error names both CIDRs:\n{}",
        overlap.text()
    );

    ws.write("main.tf", &config(&simulator, "10.1.0.0/24", &cluster()));
    let outside = ws.terraform(&["plan", "-no-color"]);
    assert!(
        !outside.success,
        "a prefix outside the VNet must fail the plan:\n{}",
        outside.text()
    );
    assert!(
        outside.stderr.contains("10.1.0.0/24") && outside.stderr.contains("10.0.0.0/16"),
        "the error names the prefix and the address space:\n{}",
        outside.text()
    );
}

#[test]
fn a_kubenet_cluster_is_a_clear_error_and_nothing_is_created() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "1000"]);
    let url = simulator.url.clone();
    let kubenet = format!("{RG}/providers/Microsoft.ContainerService/managedClusters/kubenet-aks");
    let mut cluster_body = body(&url, &cluster()).expect("the demo cluster");
    cluster_body["properties"]["networkProfile"]["networkPlugin"] = json!("kubenet");
    let (status, answer) = sim_control(
        &url,
        "PUT",
        &format!("/_sim/resource?id={}", encode(&kubenet)),
        Some(&cluster_body),
    );
    assert_eq!(status, 200, "creating the kubenet cluster: {answer}");

    let ws = workspace();
    ws.write("main.tf", &config(&simulator, "10.0.16.0/24", &kubenet));
    let apply = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        !apply.success,
        "a kubenet cluster must be refused:\n{}",
        apply.text()
    );
    assert!(
        apply.stderr.contains("Azure CNI")
            && apply.stderr.contains("kubenet")
            && apply.stderr.contains("cluster_id"),
        "the error says why and where:\n{}",
        apply.text()
    );
    assert!(
        body(&url, &format!("{}/subnets/virtual-node-aci", vnet())).is_none(),
        "a subnet was created"
    );
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
    let (status, answer) = sim_control(
        &url,
        "PUT",
        &format!("/_sim/resource?id={}", encode(&existing)),
        Some(&grant),
    );
    assert_eq!(status, 200, "granting Contributor out of band: {answer}");

    let ws = workspace();
    ws.write(
        "main.tf",
        &config_with(
            &simulator,
            "10.0.16.0/24",
            &cluster(),
            "  role = \"Contributor\"",
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
    assert_no_changes(&ws, "after adopting the assignment");

    let destroy = ws.terraform(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    assert!(
        role_assignments(&url).is_empty(),
        "the adopted assignment is removed with the virtual node"
    );
}
