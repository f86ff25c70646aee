//! Every Network and Compute body the simulator renders is one Azure's published models can hold.
//!
//! Each body (a PUT's answer, a GET, a PATCH, a list item, an embedded sub-resource) is decoded into the
//! `azure_mgmt_network` (package 2024-03) or `azure_mgmt_compute` (package 2024-07-01) model of its kind and
//! encoded again. The models drop what the spec does not define, so a property lost or renamed on the way is one
//! the simulator made up: the failure names its JSON path. Nulls, empty arrays and empty objects are left out of
//! the comparison on both sides (the models skip them), as are the digits of a timestamp's fraction that only
//! differ in trailing zeros.

mod common;

use azure_mgmt_compute::package_2024_07_01::models as compute;
use azure_mgmt_network::package_2024_03::models as network;
use common::*;
use largek8s_sim::config::ThrottleModel;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Decodes a body into a model and encodes it again.
type RoundTrip = fn(&Value) -> Result<Value, String>;

fn through<T: DeserializeOwned + Serialize>(body: &Value) -> Result<Value, String> {
    let typed: T =
        serde_json::from_value(body.clone()).map_err(|e| format!("does not decode: {e}"))?;
    serde_json::to_value(&typed).map_err(|e| format!("does not encode: {e}"))
}

/// The published model of each kind the simulator serves under Microsoft.Network and Microsoft.Compute
/// (DNS has no 2024-03 model: tests/fixtures cover it), by resource type or, for a sub-resource kept inside its
/// parent, by the collection it is read from.
const MODELS: &[(&str, RoundTrip)] = &[
    (
        "Microsoft.Compute/availabilitySets",
        through::<compute::AvailabilitySet>,
    ),
    (
        "Microsoft.Compute/virtualMachines",
        through::<compute::VirtualMachine>,
    ),
    ("Microsoft.Compute/disks", through::<compute::Disk>),
    (
        "Microsoft.Network/virtualNetworks",
        through::<network::VirtualNetwork>,
    ),
    (
        "Microsoft.Network/virtualNetworks/subnets",
        through::<network::Subnet>,
    ),
    (
        "Microsoft.Network/networkInterfaces",
        through::<network::NetworkInterface>,
    ),
    (
        "Microsoft.Network/networkInterfaces/ipConfigurations",
        through::<network::NetworkInterfaceIpConfiguration>,
    ),
    (
        "Microsoft.Network/publicIPAddresses",
        through::<network::PublicIpAddress>,
    ),
    (
        "Microsoft.Network/loadBalancers",
        through::<network::LoadBalancer>,
    ),
    (
        "Microsoft.Network/loadBalancers/frontendIPConfigurations",
        through::<network::FrontendIpConfiguration>,
    ),
    (
        "Microsoft.Network/loadBalancers/backendAddressPools",
        through::<network::BackendAddressPool>,
    ),
    (
        "Microsoft.Network/loadBalancers/probes",
        through::<network::Probe>,
    ),
    (
        "Microsoft.Network/loadBalancers/loadBalancingRules",
        through::<network::LoadBalancingRule>,
    ),
];

fn model(kind: &str) -> RoundTrip {
    MODELS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(kind))
        .map(|(_, m)| *m)
        .unwrap_or_else(|| panic!("no published model listed for {kind}"))
}

/// `2024-01-01T00:00:00.500000Z` and `2024-01-01T00:00:00.5Z` are one instant.
fn canonical_time(s: &str) -> Option<String> {
    let (whole, fraction) = s.strip_suffix('Z')?.split_once('.')?;
    let looks_like_time = whole.len() == 19 && whole.as_bytes()[10] == b'T';
    if !looks_like_time || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    Some(if fraction.is_empty() {
        format!("{whole}Z")
    } else {
        format!("{whole}.{fraction}Z")
    })
}

/// The body without nulls, empty arrays and empty objects, timestamps in one spelling.
fn canonical(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.iter().filter_map(canonical).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(m) => {
            let m: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| canonical(v).map(|v| (k.clone(), v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::String(s) => Some(Value::String(
            canonical_time(s).unwrap_or_else(|| s.clone()),
        )),
        other => Some(other.clone()),
    }
}

/// Every difference between what the simulator sent and what the model kept, by JSON path.
fn differences(path: &str, sent: &Value, kept: &Value, out: &mut Vec<String>) {
    match (sent, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => differences(&p, v, w, out),
                    None => out.push(format!("lost {p}")),
                }
            }
            out.extend(
                b.keys()
                    .filter(|k| !a.contains_key(*k))
                    .map(|k| format!("added {path}.{k}")),
            );
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), v, w, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("changed {path}: {a} became {b}")),
    }
}

/// What the models made of one body: the paths lost, added or changed (empty when it round-trips).
fn round_trip(kind: &str, body: &Value) -> Vec<String> {
    let sent = canonical(body).unwrap_or(Value::Null);
    match model(kind)(&sent) {
        Err(e) => vec![e],
        Ok(kept) => {
            let kept = canonical(&kept).unwrap_or(Value::Null);
            let mut out = Vec::new();
            differences("$", &sent, &kept, &mut out);
            out
        }
    }
}

/// The bodies seen so far, and for each kind the provisioning states they showed.
#[derive(Default)]
struct Renders {
    states: BTreeMap<String, BTreeSet<String>>,
    failures: Vec<String>,
    count: usize,
}

impl Renders {
    /// Checks one body of `kind`; `how` says where it came from, for the failure message.
    fn check_as(&mut self, kind: &str, how: &str, body: &Value) {
        assert!(body.is_object(), "{how}: not a body: {body}");
        self.count += 1;
        let state = body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("(none)")
            .to_string();
        self.states
            .entry(kind.to_string())
            .or_default()
            .insert(state.clone());
        for d in round_trip(kind, body) {
            self.failures.push(format!("{kind} ({how}, {state}): {d}"));
        }
    }

    /// Checks a top-level resource body (its kind is its `type`).
    fn check(&mut self, how: &str, body: &Value) {
        let kind = body["type"]
            .as_str()
            .unwrap_or_else(|| panic!("{how}: no type in {body}"));
        self.check_as(kind, how, body);
    }

    fn states(&self, kind: &str) -> Vec<&str> {
        self.states
            .get(kind)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn unthrottled() -> largek8s_sim::Config {
    largek8s_sim::Config {
        throttle: ThrottleModel::Off,
        ..frozen()
    }
}

/// PUTs a body and checks the answer and a GET made while the operation runs.
async fn put_and_look(sim: &Sim, seen: &mut Renders, id: &str, version: &str, body: Value) {
    let r = sim.put(id, version, body).await;
    assert!(
        r.status == 200 || r.status == 201,
        "PUT {id}: {} {}",
        r.status,
        r.body
    );
    seen.check(&format!("PUT {id}"), &r.body);
    let g = sim.get(id, version).await;
    seen.check(&format!("GET {id} after PUT"), &g.body);
}

async fn look(sim: &Sim, seen: &mut Renders, id: &str, version: &str, how: &str) {
    let g = sim.get(id, version).await;
    assert_eq!(g.status, 200, "GET {id}: {}", g.body);
    seen.check(&format!("GET {id} {how}"), &g.body);
}

/// Deletes and checks what a GET shows while the delete runs.
async fn delete_and_look(sim: &Sim, seen: &mut Renders, id: &str, version: &str) {
    let d = sim.delete(id, version).await;
    assert!(
        d.status == 202 || d.status == 200,
        "DELETE {id}: {} {}",
        d.status,
        d.body
    );
    let g = sim.get(id, version).await;
    if g.status == 200 {
        seen.check(&format!("GET {id} while deleting"), &g.body);
    }
}

/// A PUT whose operation ends `outcome` (`Failed` or `Canceled`, by fault injection), then the resource as a GET
/// shows it.
async fn end_and_look(
    sim: &Sim,
    seen: &mut Renders,
    outcome: &str,
    id: &str,
    version: &str,
    body: Value,
) {
    let name = id.rsplit('/').next().unwrap_or(id);
    let fault = json!({ "method": "PUT", "path": format!("/{name}$"), "times": 1, "asyncOutcome": outcome, "error": { "code": "InternalServerError", "message": "injected" } });
    assert_eq!(
        sim.control("POST", "/_sim/faults", Some(fault))
            .await
            .status,
        201
    );
    put_and_look(sim, seen, id, version, body).await;
    sim.advance(600.0).await;
    look(
        sim,
        seen,
        id,
        version,
        &format!("after an operation ended {outcome}"),
    )
    .await;
}

/// Every item of a list in a resource group.
async fn list(sim: &Sim, seen: &mut Renders, rg: &str, resource_type: &str, version: &str) {
    let path = format!(
        "{}/providers/{resource_type}?api-version={version}",
        sim.rg(rg)
    );
    let r = sim.call("GET", &path, None, &[]).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    for item in r.body["value"].as_array().into_iter().flatten() {
        seen.check(&format!("list {resource_type}"), item);
    }
}

async fn sub_resources(
    sim: &Sim,
    seen: &mut Renders,
    parent: &str,
    parent_type: &str,
    children: &[&str],
) {
    let body = sim.get(parent, NET).await.body;
    for child in children {
        for item in body["properties"][*child].as_array().into_iter().flatten() {
            let name = item["name"].as_str().expect("named sub-resource");
            let id = format!("{parent}/{child}/{name}");
            let g = sim.get(&id, NET).await;
            assert_eq!(g.status, 200, "GET {id}: {}", g.body);
            seen.check_as(
                &format!("{parent_type}/{child}"),
                &format!("GET {id}"),
                &g.body,
            );
        }
    }
}

fn lb_body(sim: &Sim, rg: &str, lb: &str, frontend: Value) -> Value {
    let lb_id = sim.id(rg, "Microsoft.Network/loadBalancers", lb);
    json!({
        "location": "westeurope",
        "sku": { "name": "Standard", "tier": "Regional" },
        "properties": {
            "frontendIPConfigurations": [{ "name": "fe", "properties": frontend }],
            "backendAddressPools": [{ "name": "pool" }],
            "probes": [{ "name": "http", "properties": { "protocol": "Tcp", "port": 80, "intervalInSeconds": 5, "numberOfProbes": 2 } }],
            "loadBalancingRules": [{ "name": "http", "properties": {
                "protocol": "Tcp", "frontendPort": 80, "backendPort": 80, "idleTimeoutInMinutes": 4, "enableFloatingIP": false,
                "loadDistribution": "Default", "disableOutboundSnat": true,
                "frontendIPConfiguration": { "id": format!("{lb_id}/frontendIPConfigurations/fe") },
                "backendAddressPool": { "id": format!("{lb_id}/backendAddressPools/pool") },
                "probe": { "id": format!("{lb_id}/probes/http") },
            } }],
        },
    })
}

#[tokio::test]
async fn network_and_compute_bodies_round_trip_through_the_published_models_in_every_state() {
    let sim = Sim::with(unthrottled()).await;
    let mut seen = Renders::default();
    sim.group("rg").await;

    // Virtual network and subnets: created, updated, one delegated and linked by the ACI connector.
    let vnet = sim.id("rg", "Microsoft.Network/virtualNetworks", "vnet");
    let vnet_body = |tags: Value| json!({ "location": "westeurope", "tags": tags, "properties": { "addressSpace": { "addressPrefixes": ["10.0.0.0/16"] }, "subnets": [{ "name": "nodes", "properties": { "addressPrefix": "10.0.0.0/20" } }] } });
    put_and_look(&sim, &mut seen, &vnet, NET, vnet_body(json!({}))).await;
    sim.advance(600.0).await;
    look(&sim, &mut seen, &vnet, NET, "when created").await;
    put_and_look(
        &sim,
        &mut seen,
        &vnet,
        NET,
        vnet_body(json!({ "env": "test" })),
    )
    .await;
    sim.advance(600.0).await;
    let nodes = format!("{vnet}/subnets/nodes");
    let aci = format!("{vnet}/subnets/aci");
    let aci_body = json!({ "properties": { "addressPrefix": "10.0.16.0/24", "delegations": [{ "name": "aci", "properties": { "serviceName": "Microsoft.ContainerInstance/containerGroups" } }] } });
    put_and_look(&sim, &mut seen, &aci, NET, aci_body.clone()).await;
    sim.advance(600.0).await;
    let cluster = sim.id("rg", "Microsoft.ContainerService/managedClusters", "aks");
    sim.create(&cluster, AKS, json!({
        "location": "westeurope",
        "identity": { "type": "SystemAssigned" },
        "properties": {
            "dnsPrefix": "aks",
            "agentPoolProfiles": [{ "name": "system", "count": 1, "vmSize": "Standard_D2s_v5", "mode": "System", "vnetSubnetID": nodes }],
            "networkProfile": { "networkPlugin": "azure" },
            "addonProfiles": { "aciConnectorLinux": { "enabled": true, "config": { "SubnetName": "aci" } } },
        },
    }))
    .await;
    look(
        &sim,
        &mut seen,
        &aci,
        NET,
        "with a service association link",
    )
    .await;
    put_and_look(&sim, &mut seen, &aci, NET, aci_body).await;
    sim.advance(600.0).await;

    // Public IP and two Standard load balancers (public and internal) with all their sub-resources.
    let pip = sim.id("rg", "Microsoft.Network/publicIPAddresses", "pip");
    let pip_body = json!({ "location": "westeurope", "sku": { "name": "Standard", "tier": "Regional" }, "properties": { "publicIPAllocationMethod": "Static" } });
    put_and_look(&sim, &mut seen, &pip, NET, pip_body.clone()).await;
    sim.advance(600.0).await;
    put_and_look(&sim, &mut seen, &pip, NET, pip_body).await;
    sim.advance(600.0).await;
    let public_lb = sim.id("rg", "Microsoft.Network/loadBalancers", "public");
    put_and_look(
        &sim,
        &mut seen,
        &public_lb,
        NET,
        lb_body(
            &sim,
            "rg",
            "public",
            json!({ "publicIPAddress": { "id": pip } }),
        ),
    )
    .await;
    let internal_lb = sim.id("rg", "Microsoft.Network/loadBalancers", "internal");
    let internal = lb_body(
        &sim,
        "rg",
        "internal",
        json!({ "subnet": { "id": nodes }, "privateIPAllocationMethod": "Static", "privateIPAddress": "10.0.15.250" }),
    );
    put_and_look(&sim, &mut seen, &internal_lb, NET, internal.clone()).await;
    sim.advance(600.0).await;
    put_and_look(&sim, &mut seen, &internal_lb, NET, internal).await;
    sim.advance(600.0).await;
    look(&sim, &mut seen, &pip, NET, "used by a load balancer").await;

    // Availability set, NICs in backend pools, and VMs: created, updated, listed, in their set.
    let set = sim.id("rg", "Microsoft.Compute/availabilitySets", "as");
    let set_body = |tags: Value| json!({ "location": "westeurope", "tags": tags, "sku": { "name": "Aligned" }, "properties": { "platformFaultDomainCount": 2, "platformUpdateDomainCount": 5 } });
    put_and_look(&sim, &mut seen, &set, COMPUTE, set_body(json!({}))).await;
    put_and_look(
        &sim,
        &mut seen,
        &set,
        COMPUTE,
        set_body(json!({ "env": "test" })),
    )
    .await;
    let pools = [
        format!("{public_lb}/backendAddressPools/pool"),
        format!("{internal_lb}/backendAddressPools/pool"),
    ];
    let pools: Vec<&str> = pools.iter().map(String::as_str).collect();
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "vm0-nic");
    put_and_look(&sim, &mut seen, &nic, NET, Sim::nic_body(&nodes, &pools)).await;
    sim.advance(600.0).await;
    let vm = sim.id("rg", "Microsoft.Compute/virtualMachines", "vm0");
    put_and_look(
        &sim,
        &mut seen,
        &vm,
        COMPUTE,
        Sim::vm_body(&nic, Some(&set)),
    )
    .await;
    sim.advance(600.0).await;
    look(&sim, &mut seen, &vm, COMPUTE, "when created").await;
    put_and_look(
        &sim,
        &mut seen,
        &vm,
        COMPUTE,
        Sim::vm_body(&nic, Some(&set)),
    )
    .await;
    sim.advance(600.0).await;
    put_and_look(&sim, &mut seen, &nic, NET, Sim::nic_body(&nodes, &pools)).await;
    sim.advance(600.0).await;
    look(&sim, &mut seen, &nic, NET, "attached to a VM").await;
    look(&sim, &mut seen, &set, COMPUTE, "holding a VM").await;
    let disk = sim.get(&vm, COMPUTE).await.body["properties"]["storageProfile"]["osDisk"]
        ["managedDisk"]["id"]
        .as_str()
        .expect("OS disk")
        .to_string();
    look(&sim, &mut seen, &disk, COMPUTE, "attached").await;
    for lb in [&public_lb, &internal_lb] {
        look(&sim, &mut seen, lb, NET, "with backends").await;
        sub_resources(
            &sim,
            &mut seen,
            lb,
            "Microsoft.Network/loadBalancers",
            &[
                "frontendIPConfigurations",
                "backendAddressPools",
                "probes",
                "loadBalancingRules",
            ],
        )
        .await;
    }
    sub_resources(
        &sim,
        &mut seen,
        &nic,
        "Microsoft.Network/networkInterfaces",
        &["ipConfigurations"],
    )
    .await;

    // PATCH (tags) answers with the whole resource.
    for (id, version) in [
        (&vnet, NET),
        (&nic, NET),
        (&pip, NET),
        (&public_lb, NET),
        (&set, COMPUTE),
        (&vm, COMPUTE),
        (&disk, COMPUTE),
    ] {
        let r = sim
            .call(
                "PATCH",
                &format!("{id}?api-version={version}"),
                Some(&json!({ "tags": { "patched": "yes" } })),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "PATCH {id}: {}", r.body);
        seen.check(&format!("PATCH {id}"), &r.body);
    }

    // Lists.
    for (t, version) in [
        ("Microsoft.Network/virtualNetworks", NET),
        ("Microsoft.Network/networkInterfaces", NET),
        ("Microsoft.Network/publicIPAddresses", NET),
        ("Microsoft.Network/loadBalancers", NET),
        ("Microsoft.Compute/availabilitySets", COMPUTE),
        ("Microsoft.Compute/virtualMachines", COMPUTE),
        ("Microsoft.Compute/disks", COMPUTE),
    ] {
        list(&sim, &mut seen, "rg", t, version).await;
    }
    let subnets = sim
        .call(
            "GET",
            &format!("{vnet}/subnets?api-version={NET}"),
            None,
            &[],
        )
        .await;
    for s in subnets.body["value"].as_array().into_iter().flatten() {
        seen.check("list subnets", s);
    }

    // Failed operations.
    sim.group("failing").await;
    let bad_vnet = sim.id("failing", "Microsoft.Network/virtualNetworks", "bad-vnet");
    end_and_look(
        &sim,
        &mut seen,
        "Failed",
        &bad_vnet,
        NET,
        vnet_body(json!({})),
    )
    .await;
    end_and_look(
        &sim,
        &mut seen,
        "Failed",
        &format!("{vnet}/subnets/bad-subnet"),
        NET,
        json!({ "properties": { "addressPrefix": "10.0.32.0/24" } }),
    )
    .await;
    let bad_pip = sim.id("rg", "Microsoft.Network/publicIPAddresses", "bad-pip");
    end_and_look(&sim, &mut seen, "Failed", &bad_pip, NET, json!({ "location": "westeurope", "sku": { "name": "Standard" }, "properties": { "publicIPAllocationMethod": "Static" } })).await;
    let bad_lb = sim.id("rg", "Microsoft.Network/loadBalancers", "bad-lb");
    end_and_look(
        &sim,
        &mut seen,
        "Failed",
        &bad_lb,
        NET,
        lb_body(&sim, "rg", "bad-lb", json!({ "subnet": { "id": nodes } })),
    )
    .await;
    let bad_nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "bad-nic");
    end_and_look(
        &sim,
        &mut seen,
        "Failed",
        &bad_nic,
        NET,
        Sim::nic_body(&nodes, &[]),
    )
    .await;
    let spare_nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "spare-nic");
    sim.create(&spare_nic, NET, Sim::nic_body(&nodes, &[]))
        .await;
    let bad_vm = sim.id("rg", "Microsoft.Compute/virtualMachines", "bad-vm");
    let mut detached = Sim::vm_body(&spare_nic, None);
    detached["properties"]["storageProfile"]["osDisk"]["deleteOption"] = json!("Detach");
    detached["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]
        ["deleteOption"] = json!("Detach");
    end_and_look(&sim, &mut seen, "Failed", &bad_vm, COMPUTE, detached).await;

    // Canceled operations: the Network RP has no Canceled state (its resources end Failed), Compute does.
    let canceled_nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "canceled-nic");
    end_and_look(
        &sim,
        &mut seen,
        "Canceled",
        &canceled_nic,
        NET,
        Sim::nic_body(&nodes, &[]),
    )
    .await;
    let canceled_vm = sim.id("rg", "Microsoft.Compute/virtualMachines", "canceled-vm");
    let mut body = Sim::vm_body(&canceled_nic, None);
    body["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"] =
        json!("Detach");
    end_and_look(&sim, &mut seen, "Canceled", &canceled_vm, COMPUTE, body).await;
    delete_and_look(&sim, &mut seen, &canceled_vm, COMPUTE).await;
    sim.advance(600.0).await;
    delete_and_look(&sim, &mut seen, &canceled_nic, NET).await;

    // Deletes, and what a GET shows meanwhile.
    let spare_disk = sim.get(&bad_vm, COMPUTE).await.body["properties"]["storageProfile"]["osDisk"]
        ["managedDisk"]["id"]
        .as_str()
        .expect("OS disk")
        .to_string();
    delete_and_look(&sim, &mut seen, &bad_vm, COMPUTE).await;
    delete_and_look(&sim, &mut seen, &vm, COMPUTE).await;
    sim.advance(600.0).await;
    delete_and_look(&sim, &mut seen, &spare_disk, COMPUTE).await;
    for id in [&spare_nic, &bad_nic, &public_lb, &internal_lb, &bad_lb] {
        delete_and_look(&sim, &mut seen, id, NET).await;
    }
    sim.advance(600.0).await;
    assert_eq!(sim.delete(&cluster, AKS).await.status, 202);
    sim.advance(600.0).await;
    for id in [
        &pip,
        &bad_pip,
        &aci,
        &format!("{vnet}/subnets/bad-subnet"),
        &bad_vnet,
    ] {
        delete_and_look(&sim, &mut seen, id, NET).await;
    }
    delete_and_look(&sim, &mut seen, &set, COMPUTE).await;
    sim.advance(600.0).await;
    delete_and_look(&sim, &mut seen, &vnet, NET).await;

    assert!(
        seen.failures.is_empty(),
        "{} of {} bodies do not round-trip:\n{}",
        seen.failures.len(),
        seen.count,
        seen.failures.join("\n")
    );

    // Every kind was seen, in every state the simulator can show for it.
    // The Network RP's ProvisioningState enum (network.json).
    let network_states = ["Deleting", "Failed", "Succeeded", "Updating"];
    for kind in [
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/virtualNetworks/subnets",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/loadBalancers",
    ] {
        assert_eq!(seen.states(kind), network_states, "{kind}");
    }
    assert_eq!(
        seen.states("Microsoft.Compute/virtualMachines"),
        [
            "Canceled",
            "Creating",
            "Deleting",
            "Failed",
            "Succeeded",
            "Updating"
        ]
    );
    assert_eq!(
        seen.states("Microsoft.Compute/disks"),
        ["Deleting", "Succeeded"]
    );
    assert_eq!(
        seen.states("Microsoft.Compute/availabilitySets"),
        ["(none)"],
        "the Compute spec gives availability sets no provisioningState"
    );
    for (kind, _) in MODELS {
        assert!(
            seen.states.contains_key(*kind),
            "no {kind} body was checked"
        );
    }
}

#[test]
fn a_property_the_model_does_not_know_is_reported_by_its_path() {
    let body = json!({ "name": "as", "location": "westeurope", "properties": { "platformFaultDomainCount": 2, "provisioningState": "Succeeded", "virtualMachines": [] } });
    assert_eq!(
        round_trip("Microsoft.Compute/availabilitySets", &body),
        ["lost $.properties.provisioningState"]
    );
}

#[test]
fn timestamps_compare_as_instants() {
    assert_eq!(
        canonical_time("2026-12-04T10:00:00.000000Z").as_deref(),
        Some("2026-12-04T10:00:00Z")
    );
    assert_eq!(
        canonical_time("2026-12-04T10:00:00.250000Z").as_deref(),
        Some("2026-12-04T10:00:00.25Z")
    );
    assert_eq!(canonical_time("10.0.0.4"), None);
}
