//! Backend membership, in the two forms Azure has: by NIC (each node's primary IP configuration points at its
//! load balancer's pool, which lists the IP configurations that point at it) and by IP address (the load
//! balancer's pool lists the nodes' addresses with their virtual network, in its own body).

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use serde::de::IgnoredAny;
use serde_json::{json, Value as Json};

use crate::arm::client::{ArmClient, Conditions};
use crate::arm::error::ArmError;
use crate::arm::ids::ResourceId;
use crate::arm::models::network::SubResource;
use crate::arm::models::NETWORK_API_VERSION;
use crate::arm::retry::Ctx;

use super::balancer::BackendAddress;
use super::spec::Spec;

/// NIC writes in flight at once. The Network RP allows 1,000 writes per 5 minutes per subscription
/// (<https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling#network-throttling>);
/// the ARM client's pacer waits out throttling, and a small window keeps a 1,000-node change from bursting
/// through the whole allowance at once.
const MEMBERSHIP_CONCURRENCY: usize = 8;

/// Whether a backend pool ID belongs to one of this group's load balancers.
fn is_group_pool(settings: &Spec, pool: &str) -> bool {
    let prefix = format!(
        "{}/providers/Microsoft.Network/loadBalancers/{}-lb-",
        settings.group, settings.name
    );
    pool.to_ascii_lowercase()
        .starts_with(&prefix.to_ascii_lowercase())
}

/// Puts `nic` into `pool` (or into none of the group's pools when None), leaving pools of other load balancers
/// alone. Reads the NIC first and writes only when something changes, with If-Match against a concurrent edit.
async fn set_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    nic: &ResourceId,
    pool: Option<&str>,
) -> Result<(), ArmError> {
    let path = nic.to_string();
    let Some(current) = arm
        .get_optional::<Json>(ctx, &path, NETWORK_API_VERSION)
        .await?
    else {
        return match pool {
            // A removed node's NIC may already be gone: nothing to leave.
            None => Ok(()),
            Some(_) => Err(ArmError::Config(format!(
                "network interface {nic} does not exist"
            ))),
        };
    };
    let mut body = current.body;
    let Some(configs) = body["properties"]["ipConfigurations"].as_array_mut() else {
        return Err(ArmError::Config(format!(
            "network interface {nic} has no IP configurations"
        )));
    };
    let primary = configs
        .iter()
        .position(|c| c["properties"]["primary"].as_bool() == Some(true))
        .unwrap_or(0);
    let mut changed = false;
    for (i, config) in configs.iter_mut().enumerate() {
        let pools = config["properties"]["loadBalancerBackendAddressPools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut kept: Vec<Json> = pools
            .iter()
            .filter(|p| {
                p["id"]
                    .as_str()
                    .is_none_or(|id| !is_group_pool(settings, id))
            })
            .cloned()
            .collect();
        if let (Some(pool), true) = (pool, i == primary) {
            kept.push(json!({ "id": pool }));
        }
        let same = kept.len() == pools.len()
            && kept.iter().all(|k| {
                pools.iter().any(|p| {
                    p["id"].as_str().map(str::to_ascii_lowercase)
                        == k["id"].as_str().map(str::to_ascii_lowercase)
                })
            });
        if !same {
            let Some(props) = config.get_mut("properties").and_then(Json::as_object_mut) else {
                return Err(ArmError::Config(format!(
                    "network interface {nic} has an IP configuration without properties"
                )));
            };
            props.insert("loadBalancerBackendAddressPools".into(), Json::Array(kept));
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let conditions = Conditions::matching(current.etag);
    arm.put_and_wait::<_, IgnoredAny>(ctx, &path, NETWORK_API_VERSION, &body, &conditions)
        .await?;
    Ok(())
}

/// Applies membership changes with a bounded window of writes in flight; the first error wins.
pub async fn apply_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    changes: Vec<(ResourceId, Option<String>)>,
) -> Result<(), ArmError> {
    let results: Vec<Result<(), ArmError>> = stream::iter(changes)
        .map(|(nic, pool)| async move {
            set_membership(arm, ctx, settings, &nic, pool.as_deref()).await
        })
        .buffer_unordered(MEMBERSHIP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The resource groups `nics` live in, each once.
pub fn resource_groups<'a>(nics: impl Iterator<Item = &'a ResourceId>) -> Vec<ResourceId> {
    let groups: BTreeMap<String, ResourceId> = nics
        .filter_map(|nic| {
            let g = ResourceId::resource_group(nic.subscription_id(), nic.resource_group_name()?);
            Some((g.to_string().to_ascii_lowercase(), g))
        })
        .collect();
    groups.into_values().collect()
}

/// What the group reads of a NIC in a list: its ID and name, its VM, and its IP configurations' addresses and
/// subnets. Decoding only these keeps a list of 5,000 NICs small: their whole bodies were most of the provider's
/// peak memory while a large group was written (`cargo bench --bench fleet`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListedNic {
    pub id: Option<String>,
    pub name: Option<String>,
    pub properties: ListedNicProperties,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListedNicProperties {
    pub virtual_machine: Option<SubResource>,
    pub ip_configurations: Option<Vec<ListedIpConfiguration>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListedIpConfiguration {
    pub properties: ListedIpConfigurationProperties,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListedIpConfigurationProperties {
    pub primary: Option<bool>,
    #[serde(rename = "privateIPAddress")]
    pub private_ip_address: Option<String>,
    pub subnet: Option<SubResource>,
}

impl ListedNic {
    /// The primary IP configuration (the first when none says so), as Azure picks it.
    pub fn primary_configuration(&self) -> Option<&ListedIpConfigurationProperties> {
        let configs = self
            .properties
            .ip_configurations
            .as_deref()
            .unwrap_or_default();
        configs
            .iter()
            .find(|c| c.properties.primary == Some(true))
            .or_else(|| configs.first())
            .map(|c| &c.properties)
    }
}

/// Every NIC of resource group `group`, from its list (a few pages, not one read per NIC).
pub async fn list_nics(
    arm: &ArmClient,
    ctx: &Ctx,
    group: &ResourceId,
) -> Result<Vec<ListedNic>, ArmError> {
    arm.list(
        ctx,
        &format!("{group}/providers/Microsoft.Network/networkInterfaces"),
        NETWORK_API_VERSION,
    )
    .await
}

/// Why nodes cannot be given to an IP-based backend pool.
#[derive(Debug)]
pub enum AddressError {
    Arm(ArmError),
    /// A node Azure's IP-based pools cannot hold, with what to do about it.
    Unusable(String),
}

impl From<ArmError> for AddressError {
    fn from(e: ArmError) -> AddressError {
        AddressError::Arm(e)
    }
}

/// For an IP-based group, each planned load balancer's backend addresses: the private IP of every NIC it fronts
/// with that NIC's virtual network, from the NIC lists of their resource groups (O(pages), not O(nodes)). Azure's
/// IP-based pools hold only addresses in the load balancer's virtual network
/// (<https://learn.microsoft.com/azure/load-balancer/backend-pool-management#limitations>): nodes of one load
/// balancer in two virtual networks, or of an internal group outside its frontend's, fail here before any write.
pub async fn ip_addresses(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    fronted: &[(u64, BTreeMap<String, ResourceId>)],
) -> Result<BTreeMap<u64, Vec<BackendAddress>>, AddressError> {
    let groups = resource_groups(fronted.iter().flat_map(|(_, nics)| nics.values()));
    // Lower-cased NIC ID -> (NIC name, private IP, virtual network ID) of its primary IP configuration.
    let mut found: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for g in &groups {
        let listed = list_nics(arm, ctx, g).await?;
        for nic in listed {
            let (Some(id), Some(name), Some(config)) = (
                nic.id.as_deref(),
                nic.name.as_deref(),
                nic.primary_configuration(),
            ) else {
                continue;
            };
            let ip = config.private_ip_address.as_deref();
            let vnet = config
                .subnet
                .as_ref()
                .and_then(|s| s.id.as_deref())
                .and_then(|s| ResourceId::parse(s).ok()?.parent());
            if let (Some(ip), Some(vnet)) = (ip, vnet) {
                found.insert(
                    id.to_ascii_lowercase(),
                    (name.to_string(), ip.to_string(), vnet.to_string()),
                );
            }
        }
    }
    let frontend_vnet = settings
        .subnet
        .as_ref()
        .filter(|_| settings.internal)
        .and_then(ResourceId::parent);
    let mut out = BTreeMap::new();
    for (index, nics) in fronted {
        let mut vnet: Option<String> = frontend_vnet.as_ref().map(ResourceId::to_string);
        let mut addresses = Vec::with_capacity(nics.len());
        for (key, nic) in nics {
            let Some((name, ip, nic_vnet)) = found.get(key) else {
                return Err(AddressError::Unusable(format!(
                    "Network interface {nic} has no private IP address in a subnet to put in an IP-based backend \
                     pool: check the NIC, or set backend_pool_type = \"NodeIPConfiguration\"."
                )));
            };
            match &vnet {
                Some(expected) if !expected.eq_ignore_ascii_case(nic_vnet) => {
                    return Err(AddressError::Unusable(format!(
                        "Network interface {nic} is in virtual network {nic_vnet}, but load balancer {} holds nodes of \
                         virtual network {expected}: an IP-based backend pool holds only addresses in the load \
                         balancer's virtual network (https://learn.microsoft.com/azure/load-balancer/backend-pool-management#limitations). \
                         Put the backend sets' nodes in one virtual network, or set backend_pool_type = \"NodeIPConfiguration\".",
                        settings.lb_name(*index)
                    )))
                }
                Some(_) => {}
                None => vnet = Some(nic_vnet.clone()),
            }
            addresses.push(BackendAddress::new(name, ip, nic_vnet));
        }
        out.insert(*index, addresses);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_nic_keeps_only_what_the_group_reads_and_finds_its_primary_configuration() {
        let page = serde_json::json!({"value": [
            {"id": "/x/nic-a", "name": "nic-a", "tags": {"largek8s-pool": "p"}, "etag": "W/1", "properties": {
                "virtualMachine": {"id": "/x/vm-a"},
                "ipConfigurations": [
                    {"name": "second", "properties": {"primary": false, "privateIPAddress": "10.0.0.9"}},
                    {"name": "first", "properties": {"primary": true, "privateIPAddress": "10.0.0.4",
                        "subnet": {"id": "/v/subnets/nodes"}, "loadBalancerBackendAddressPools": [{"id": "/lb/p"}]}}
                ]}},
            {"id": "/x/nic-b", "name": "nic-b", "properties": {"virtualMachine": null, "ipConfigurations": null}}
        ]});
        let nics: Vec<ListedNic> =
            serde_json::from_value(page["value"].clone()).expect("a NIC list page decodes");
        let primary = nics[0]
            .primary_configuration()
            .expect("a primary configuration");
        assert_eq!(primary.private_ip_address.as_deref(), Some("10.0.0.4"));
        assert_eq!(
            primary.subnet.as_ref().and_then(|s| s.id.as_deref()),
            Some("/v/subnets/nodes")
        );
        assert_eq!(
            nics[0]
                .properties
                .virtual_machine
                .as_ref()
                .and_then(|v| v.id.as_deref()),
            Some("/x/vm-a")
        );
        assert!(nics[1].primary_configuration().is_none());
        assert!(nics[1].properties.virtual_machine.is_none());
    }
}
