//! Initial resources: a JSON seed file, or the built-in `demo` world for the quickstart.

use crate::config::{Config, Seed};
use serde::Deserialize;
use serde_json::{json, Value};

/// Resource group of the demo world.
pub const DEMO_RESOURCE_GROUP: &str = "largek8s-demo";
/// Region of the demo world.
pub const DEMO_LOCATION: &str = "westeurope";
/// Object ID of the demo cluster's system-assigned identity.
pub const DEMO_CLUSTER_PRINCIPAL: &str = "99999999-8888-7777-6666-555555555555";

#[derive(Debug, Deserialize)]
struct Entry {
    id: String,
    body: Value,
}

/// The (id, body) pairs to create at start, in order.
pub fn load(config: &Config) -> Result<Vec<(String, Value)>, String> {
    match &config.seed {
        None => Ok(Vec::new()),
        Some(Seed::Demo) => Ok(demo(config)),
        Some(Seed::File(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
            let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "seed file {} must be a JSON array of {{\"id\", \"body\"}}: {e}",
                    path.display()
                )
            })?;
            Ok(entries.into_iter().map(|e| (e.id, e.body)).collect())
        }
    }
}

/// A seed entry `{"id": "<availability set id>/vmSizes", "body": {"value": ["Standard_D2s_v5", ...]}}` sets the
/// sizes that set's hardware cluster offers (`*/vmSizes` for every set): the set's key and the sizes.
pub fn vm_sizes_entry(id: &str, body: &Value) -> Option<(String, Vec<String>)> {
    let lower = id.to_ascii_lowercase();
    let set = lower.strip_suffix("/vmsizes")?;
    let sizes = body["value"]
        .as_array()?
        .iter()
        .filter_map(|s| s.as_str().or_else(|| s["name"].as_str()))
        .map(str::to_string)
        .collect();
    Some((set.to_string(), sizes))
}

/// The demo world: resource group, a VNet 10.0.0.0/16 with a node subnet 10.0.0.0/20 (4,091 usable addresses), and
/// an AKS cluster on Azure CNI whose nodes use that subnet.
pub fn demo(config: &Config) -> Vec<(String, Value)> {
    let sub = &config.subscription;
    let rg = format!("/subscriptions/{sub}/resourceGroups/{DEMO_RESOURCE_GROUP}");
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet");
    let nodes = format!("{vnet}/subnets/nodes");
    let cluster = format!("{rg}/providers/Microsoft.ContainerService/managedClusters/largek8s-aks");
    let node_rg = format!(
        "/subscriptions/{sub}/resourceGroups/MC_{DEMO_RESOURCE_GROUP}_largek8s-aks_{DEMO_LOCATION}"
    );
    vec![
        (
            rg.clone(),
            json!({ "location": DEMO_LOCATION, "tags": { "purpose": "largek8s-demo" } }),
        ),
        (
            node_rg,
            json!({ "location": DEMO_LOCATION, "managedBy": cluster }),
        ),
        (
            vnet.clone(),
            json!({
                "location": DEMO_LOCATION,
                "properties": {
                    "addressSpace": { "addressPrefixes": ["10.0.0.0/16"] },
                    "subnets": [{ "name": "nodes", "properties": { "addressPrefix": "10.0.0.0/20" } }],
                },
            }),
        ),
        (
            cluster,
            json!({
                "location": DEMO_LOCATION,
                "identity": { "type": "SystemAssigned", "principalId": DEMO_CLUSTER_PRINCIPAL, "tenantId": config.tenant },
                "sku": { "name": "Base", "tier": "Free" },
                "properties": {
                    "kubernetesVersion": "1.30.6",
                    "dnsPrefix": "largek8s",
                    "agentPoolProfiles": [{
                        "name": "system",
                        "mode": "System",
                        "count": 1,
                        "vmSize": "Standard_D2s_v5",
                        "osType": "Linux",
                        "type": "VirtualMachineScaleSets",
                        "vnetSubnetID": nodes,
                    }],
                    "servicePrincipalProfile": { "clientId": "msi" },
                    "networkProfile": {
                        "networkPlugin": "azure",
                        "serviceCidr": "10.1.0.0/16",
                        "dnsServiceIP": "10.1.0.10",
                        "loadBalancerSku": "standard",
                    },
                    "addonProfiles": {},
                },
            }),
        ),
    ]
}
