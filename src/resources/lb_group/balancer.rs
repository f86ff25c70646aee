//! A load balancer's body as the group reads and writes it. Everything stays JSON except the backend pools, the
//! part that grows with the nodes: their members decode into small typed records, and what the group never reads
//! of a pool (Azure's references back to rules and outbound rules, the resolved state of each address) is skipped
//! while parsing. A 5,000-node load balancer held as a JSON tree, several times over, was most of the provider's
//! peak memory while a large group was written (`cargo bench --bench fleet`).

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::arm::ids::ResourceId;
use crate::arm::models::network::SubResource;

use super::azure::{BACKEND_POOL, IP_POOL};
use super::spec::BackendPoolType;

/// A load balancer as ARM returns it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadBalancer {
    /// Every top-level member but `properties`: id, name, location, sku, tags, etag...
    pub top: Map<String, Json>,
    /// Every member of `properties` but `backendAddressPools`.
    pub properties: Map<String, Json>,
    pub pools: Vec<BackendPool>,
}

/// A backend pool: its name and members, in either form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BackendPool {
    pub name: String,
    pub properties: PoolProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PoolProperties {
    /// Members by IP address.
    #[serde(rename = "loadBalancerBackendAddresses")]
    pub addresses: Option<Vec<BackendAddress>>,
    /// Members by NIC: the IP configurations that point at the pool.
    #[serde(rename = "backendIPConfigurations")]
    pub ip_configurations: Option<Vec<SubResource>>,
}

/// A member of an IP-based pool. Serialised, it is what a write gives: name, IP and virtual network.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct BackendAddress {
    pub name: String,
    pub properties: AddressProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct AddressProperties {
    #[serde(rename = "ipAddress")]
    pub ip_address: Option<String>,
    #[serde(rename = "virtualNetwork")]
    pub virtual_network: Option<SubResource>,
    /// The NIC IP configuration Azure resolved the address to; Azure sets it, a write never does.
    #[serde(rename = "networkInterfaceIPConfiguration", skip_serializing)]
    pub nic_ip_configuration: Option<SubResource>,
}

impl BackendAddress {
    pub fn new(name: &str, ip: &str, virtual_network: &str) -> BackendAddress {
        BackendAddress {
            name: name.to_string(),
            properties: AddressProperties {
                ip_address: Some(ip.to_string()),
                virtual_network: Some(SubResource {
                    id: Some(virtual_network.to_string()),
                }),
                nic_ip_configuration: None,
            },
        }
    }

    /// What makes two addresses the same member (name, IP and virtual network, in any case).
    pub fn key(&self) -> (String, String, String) {
        let lower = |s: Option<&str>| s.unwrap_or_default().to_ascii_lowercase();
        let p = &self.properties;
        (
            self.name.to_ascii_lowercase(),
            lower(p.ip_address.as_deref()),
            lower(p.virtual_network.as_ref().and_then(|v| v.id.as_deref())),
        )
    }
}

impl BackendPool {
    pub fn addresses(&self) -> &[BackendAddress] {
        self.properties.addresses.as_deref().unwrap_or_default()
    }

    /// The NICs whose IP configurations point at this pool.
    fn nics_by_configuration(&self) -> impl Iterator<Item = ResourceId> + '_ {
        self.properties
            .ip_configurations
            .iter()
            .flatten()
            .filter_map(|c| nic_of_config(c.id.as_deref()?))
    }
}

/// The NIC of an IP configuration ID.
fn nic_of_config(id: &str) -> Option<ResourceId> {
    ResourceId::parse(id).ok()?.parent()
}

impl LoadBalancer {
    /// A top-level member (`tags`, `location`, `sku`...), null when absent.
    pub fn get(&self, key: &str) -> &Json {
        self.top.get(key).unwrap_or(&Json::Null)
    }

    /// A member of `properties` other than the backend pools, null when absent.
    pub fn property(&self, key: &str) -> &Json {
        self.properties.get(key).unwrap_or(&Json::Null)
    }

    pub fn pool(&self, name: &str) -> Option<&BackendPool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The NICs in the NIC pool (`nodes`), which NIC writes put them in and take them out of.
    pub fn nic_members(&self) -> Vec<ResourceId> {
        self.pool(BACKEND_POOL)
            .into_iter()
            .flat_map(BackendPool::nics_by_configuration)
            .collect()
    }

    /// Every NIC the load balancer fronts, in either form: members of its pools by IP configuration, and the NICs
    /// holding its backend addresses (`networkInterfaceIPConfiguration`, which Azure resolves from each address).
    pub fn members(&self) -> Vec<ResourceId> {
        let mut seen = BTreeSet::new();
        self.pools
            .iter()
            .flat_map(|p| {
                let by_address = p.addresses().iter().filter_map(|a| {
                    let config = a.properties.nic_ip_configuration.as_ref()?;
                    nic_of_config(config.id.as_deref()?)
                });
                p.nics_by_configuration().chain(by_address)
            })
            .filter(|nic| seen.insert(nic.to_string().to_ascii_lowercase()))
            .collect()
    }

    /// The form the load balancer holds its members in: by IP once it has the pool of addresses (during a move
    /// both pools exist, and the addresses are the form being moved to or still serving).
    pub fn pool_type(&self) -> BackendPoolType {
        if self.pool(IP_POOL).is_some() {
            BackendPoolType::NodeIp
        } else {
            BackendPoolType::NodeIpConfiguration
        }
    }
}

impl<'de> Deserialize<'de> for LoadBalancer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LoadBalancer, D::Error> {
        let Split { member, rest: top } = split::<D, Properties>(d, "properties")?;
        let properties = member.unwrap_or_default();
        Ok(LoadBalancer {
            top,
            properties: properties.rest,
            pools: properties.pools,
        })
    }
}

/// `properties`, split into the backend pools and the rest.
#[derive(Default)]
struct Properties {
    pools: Vec<BackendPool>,
    rest: Map<String, Json>,
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Properties, D::Error> {
        let Split { member, rest } =
            split::<D, Option<Vec<BackendPool>>>(d, "backendAddressPools")?;
        Ok(Properties {
            pools: member.flatten().unwrap_or_default(),
            rest,
        })
    }
}

/// A JSON object as `split` reads it: one member decoded, the others as they came.
struct Split<T> {
    member: Option<T>,
    rest: Map<String, Json>,
}

/// Reads a JSON object member by member: the one named `name` as `T`, the others as JSON. Unlike
/// `#[serde(flatten)]`, which buffers the whole object before decoding any of it, this decodes `T` straight from
/// the input, so what `T` skips is never held.
fn split<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    name: &'static str,
) -> Result<Split<T>, D::Error> {
    struct SplitVisitor<T> {
        name: &'static str,
        member: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for SplitVisitor<T> {
        type Value = Split<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "an object with {}", self.name)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut member, mut rest) = (None, Map::new());
            while let Some(key) = map.next_key::<String>()? {
                if key == self.name {
                    if member.is_some() {
                        return Err(de::Error::duplicate_field(self.name));
                    }
                    member = Some(map.next_value()?);
                } else {
                    rest.insert(key, map.next_value()?);
                }
            }
            Ok(Split { member, rest })
        }
    }
    d.deserialize_map(SplitVisitor {
        name,
        member: PhantomData,
    })
}

/// A load balancer write: the members of `top` and of `properties` as given, and `pools` as its backend pools.
#[derive(Serialize)]
pub struct Write<'a, P: Serialize> {
    #[serde(flatten)]
    pub top: &'a Map<String, Json>,
    pub properties: WriteProperties<'a, P>,
}

#[derive(Serialize)]
pub struct WriteProperties<'a, P: Serialize> {
    #[serde(flatten)]
    pub rest: &'a Map<String, Json>,
    #[serde(rename = "backendAddressPools")]
    pub pools: P,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NIC_A: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/a";
    const NIC_B: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/b";
    const VNET: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v";

    fn body() -> Json {
        json!({
            "id": "/lb", "name": "web-lb-0", "location": "westeurope", "etag": "W/\"1\"",
            "sku": { "name": "Standard" }, "tags": { "team": "web" },
            "properties": {
                "provisioningState": "Succeeded",
                "frontendIPConfigurations": [{ "name": "frontend", "properties": {} }],
                "probes": [], "outboundRules": [{ "name": "out" }],
                "backendAddressPools": [
                    { "name": "nodes", "properties": {
                        "backendIPConfigurations": [{ "id": format!("{NIC_A}/ipConfigurations/primary") }],
                        "loadBalancingRules": [{ "id": "/lb/loadBalancingRules/http" }],
                    }},
                    { "name": "node-ips", "properties": {
                        "loadBalancerBackendAddresses": [{ "name": "b", "properties": {
                            "ipAddress": "10.0.0.5",
                            "virtualNetwork": { "id": VNET },
                            "networkInterfaceIPConfiguration": { "id": format!("{NIC_B}/ipConfigurations/primary") },
                        }}],
                    }},
                ],
            },
        })
    }

    #[test]
    fn pools_decode_typed_and_everything_else_is_kept_as_it_came() {
        let lb: LoadBalancer = serde_json::from_value(body()).expect("decodes");
        assert_eq!(lb.get("etag"), "W/\"1\"");
        assert_eq!(lb.get("tags")["team"], "web");
        assert_eq!(lb.property("outboundRules")[0]["name"], "out");
        assert!(lb.properties.get("backendAddressPools").is_none());
        assert_eq!(lb.pools.len(), 2);
        assert_eq!(lb.nic_members(), vec![ResourceId::parse(NIC_A).unwrap()]);
        assert_eq!(
            lb.members(),
            vec![
                ResourceId::parse(NIC_A).unwrap(),
                ResourceId::parse(NIC_B).unwrap()
            ]
        );
        assert_eq!(lb.pool_type(), BackendPoolType::NodeIp);
        assert_eq!(
            lb.pool(IP_POOL).map(|p| p.addresses()[0].key()),
            Some(("b".into(), "10.0.0.5".into(), VNET.to_ascii_lowercase()))
        );
    }

    #[test]
    fn a_write_keeps_the_other_members_and_gives_addresses_as_a_write_does() {
        let lb: LoadBalancer = serde_json::from_value(body()).expect("decodes");
        let pools = json!([{ "name": "node-ips", "properties": {
            "loadBalancerBackendAddresses": lb.pools[1].addresses(),
        }}]);
        let written = serde_json::to_value(Write {
            top: &lb.top,
            properties: WriteProperties {
                rest: &lb.properties,
                pools: &pools,
            },
        })
        .expect("encodes");
        let mut want = body();
        want["properties"]["backendAddressPools"] = json!([{ "name": "node-ips", "properties": {
            "loadBalancerBackendAddresses": [{ "name": "b", "properties": {
                "ipAddress": "10.0.0.5", "virtualNetwork": { "id": VNET },
            }}],
        }}]);
        assert_eq!(written, want);
    }

    #[test]
    fn missing_or_null_pools_and_members_read_as_none() {
        let bare: LoadBalancer = serde_json::from_value(json!({})).expect("decodes");
        assert!(bare.pools.is_empty() && bare.properties.is_empty());
        let null_pools: LoadBalancer =
            serde_json::from_value(json!({ "properties": { "backendAddressPools": null } }))
                .expect("decodes");
        assert!(null_pools.pools.is_empty());
        let null_members: LoadBalancer = serde_json::from_value(json!({ "properties": {
            "backendAddressPools": [{ "name": "nodes", "properties": {
                "backendIPConfigurations": null, "loadBalancerBackendAddresses": null,
            }}],
        }}))
        .expect("decodes");
        assert!(null_members.members().is_empty());
        assert_eq!(
            null_members.pool_type(),
            BackendPoolType::NodeIpConfiguration
        );
    }

    #[test]
    fn a_repeated_properties_member_is_an_error_not_a_silent_overwrite() {
        let text = r#"{"properties": {}, "properties": {}}"#;
        assert!(serde_json::from_str::<LoadBalancer>(text).is_err());
    }
}
