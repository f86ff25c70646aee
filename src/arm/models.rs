//! Typed ARM operations: each resource kind with its body model and api-version.
//!
//! Network and Compute bodies are the generated models of `azure_mgmt_network` (package 2024-03) and
//! `azure_mgmt_compute` (package 2024-07-01). Managed clusters, role assignments, DNS record sets and resource
//! groups have small models of our own (no 0.21 crate fits), which keep every field they do not name in
//! `extra`, so a read-modify-write loses nothing.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::{ArmClient, Conditions, Response, Started};
use super::error::ArmError;
use super::ids::{ResourceId, ResourceKind};
use super::retry::Ctx;

pub use azure_mgmt_compute::package_2024_07_01::models as compute;
pub use azure_mgmt_network::package_2024_03::models as network;

pub const NETWORK_API_VERSION: &str = "2024-03-01";
pub const COMPUTE_API_VERSION: &str = "2024-07-01";
pub const AUTHORIZATION_API_VERSION: &str = "2022-04-01";
pub const RESOURCES_API_VERSION: &str = "2021-04-01";
pub const CONTAINER_SERVICE_API_VERSION: &str = "2024-05-01";
pub const DNS_API_VERSION: &str = "2018-05-01";

/// A resource body with its kind and api-version.
pub trait ArmResource: Serialize + DeserializeOwned + Send + Sync {
    const KIND: ResourceKind;
    const API_VERSION: &'static str;
}

macro_rules! arm_resource {
    ($($ty:ty => $kind:ident, $api:ident;)*) => {
        $(impl ArmResource for $ty {
            const KIND: ResourceKind = ResourceKind::$kind;
            const API_VERSION: &'static str = $api;
        })*
    };
}

arm_resource! {
    network::NetworkInterface => NetworkInterface, NETWORK_API_VERSION;
    network::LoadBalancer => LoadBalancer, NETWORK_API_VERSION;
    network::PublicIpAddress => PublicIpAddress, NETWORK_API_VERSION;
    network::VirtualNetwork => VirtualNetwork, NETWORK_API_VERSION;
    network::Subnet => Subnet, NETWORK_API_VERSION;
    compute::AvailabilitySet => AvailabilitySet, COMPUTE_API_VERSION;
    compute::VirtualMachine => VirtualMachine, COMPUTE_API_VERSION;
    ManagedCluster => ManagedCluster, CONTAINER_SERVICE_API_VERSION;
    RoleAssignment => RoleAssignment, AUTHORIZATION_API_VERSION;
    ARecordSet => DnsARecordSet, DNS_API_VERSION;
}

/// A managed cluster (Microsoft.ContainerService 2024-05-01), reduced to what we change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedCluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default)]
    pub properties: ManagedClusterProperties,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedClusterProperties {
    #[serde(
        rename = "addonProfiles",
        default,
        skip_serializing_if = "Map::is_empty"
    )]
    pub addon_profiles: Map<String, Value>,
    #[serde(
        rename = "networkProfile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_profile: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A role assignment (Microsoft.Authorization 2022-04-01).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub properties: RoleAssignmentProperties,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignmentProperties {
    #[serde(rename = "roleDefinitionId")]
    pub role_definition_id: String,
    #[serde(rename = "principalId")]
    pub principal_id: String,
    #[serde(
        rename = "principalType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub principal_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A DNS A record set (Microsoft.Network/dnsZones 2018-05-01).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ARecordSet {
    #[serde(default)]
    pub properties: ARecordSetProperties,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ARecordSetProperties {
    #[serde(rename = "TTL", default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Value>,
    #[serde(rename = "ARecords", default)]
    pub a_records: Vec<ARecord>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ARecord {
    #[serde(rename = "ipv4Address")]
    pub ipv4_address: String,
}

/// A resource group (Microsoft.Resources 2021-04-01).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub location: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn check_kind<T: ArmResource>(id: &ResourceId) -> Result<String, ArmError> {
    if id.is_kind(T::KIND) {
        Ok(id.to_string())
    } else {
        Err(ArmError::Config(format!(
            "{id} is not a {} ID",
            T::KIND.type_name()
        )))
    }
}

impl ArmClient {
    /// Reads a resource; None when it does not exist.
    pub async fn read<T: ArmResource>(
        &self,
        ctx: &Ctx,
        id: &ResourceId,
    ) -> Result<Option<Response<T>>, ArmError> {
        self.get_optional(ctx, &check_kind::<T>(id)?, T::API_VERSION)
            .await
    }

    /// Creates or replaces a resource without waiting for ARM to finish.
    pub async fn start_put<T: ArmResource>(
        &self,
        ctx: &Ctx,
        id: &ResourceId,
        body: &T,
        conditions: &Conditions,
    ) -> Result<Started<T>, ArmError> {
        self.put(ctx, &check_kind::<T>(id)?, T::API_VERSION, body, conditions)
            .await
    }

    /// Creates or replaces a resource and waits until ARM has finished.
    pub async fn create_or_update<T: ArmResource>(
        &self,
        ctx: &Ctx,
        id: &ResourceId,
        body: &T,
        conditions: &Conditions,
    ) -> Result<Response<T>, ArmError> {
        self.put_and_wait(ctx, &check_kind::<T>(id)?, T::API_VERSION, body, conditions)
            .await
    }

    /// Deletes a resource and waits until it is gone; an absent resource is not an error.
    pub async fn remove<T: ArmResource>(&self, ctx: &Ctx, id: &ResourceId) -> Result<(), ArmError> {
        self.delete_and_wait(ctx, &check_kind::<T>(id)?, T::API_VERSION)
            .await
    }

    /// Lists the resources of `T`'s kind in a resource group, across pages.
    pub async fn list_in_group<T: ArmResource>(
        &self,
        ctx: &Ctx,
        resource_group: &ResourceId,
    ) -> Result<Vec<T>, ArmError> {
        let path = format!("{resource_group}/providers/{}", T::KIND.type_name());
        self.list(ctx, &path, T::API_VERSION).await
    }

    /// Creates or updates a resource group.
    pub async fn put_resource_group(
        &self,
        ctx: &Ctx,
        id: &ResourceId,
        body: &ResourceGroup,
    ) -> Result<Response<ResourceGroup>, ArmError> {
        self.put_and_wait(
            ctx,
            &id.to_string(),
            RESOURCES_API_VERSION,
            body,
            &Conditions::default(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managed_cluster_read_modify_write_keeps_unknown_fields() {
        let original = json!({
            "location": "westeurope",
            "sku": {"name": "Base", "tier": "Free"},
            "properties": {
                "kubernetesVersion": "1.30.3",
                "agentPoolProfiles": [{"name": "np", "count": 3, "vmSize": "Standard_D2s_v5"}],
                "networkProfile": {"networkPlugin": "azure"},
                "addonProfiles": {"omsagent": {"enabled": false}}
            }
        });
        let mut cluster: ManagedCluster =
            serde_json::from_value(original.clone()).expect("decodes");
        cluster.properties.addon_profiles.insert(
            "aciConnectorLinux".into(),
            json!({"enabled": true, "config": {"SubnetName": "virtual-node"}}),
        );
        let written = serde_json::to_value(&cluster).expect("encodes");
        let mut expected = original;
        expected["properties"]["addonProfiles"]["aciConnectorLinux"] =
            json!({"enabled": true, "config": {"SubnetName": "virtual-node"}});
        assert_eq!(written, expected);
    }

    #[test]
    fn generated_models_decode_numbers_under_flattened_fields() {
        let body = json!({
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/availabilitySets/a",
            "name": "a",
            "location": "westeurope",
            "properties": {"platformFaultDomainCount": 2, "platformUpdateDomainCount": 5}
        });
        let set: compute::AvailabilitySet = serde_json::from_value(body).expect("decodes");
        let props = set.properties.expect("properties");
        assert_eq!(props.platform_fault_domain_count, Some(2));
        assert_eq!(props.platform_update_domain_count, Some(5));
    }

    /// A response body of a fixture the simulator is held to (sim/tests/fixtures, sources in its README), with
    /// its placeholders filled.
    fn published(fixture: &str) -> Value {
        let text = match fixture {
            "managed_cluster" => include_str!("../../sim/tests/fixtures/managed_cluster.json"),
            "role_assignment" => include_str!("../../sim/tests/fixtures/role_assignment.json"),
            "dns_a_record_set" => include_str!("../../sim/tests/fixtures/dns_a_record_set.json"),
            other => panic!("no fixture {other}"),
        };
        let text = text
            .replace("{id}", "/subscriptions/s/resourceGroups/g/providers/T/n")
            .replace("{nodes}", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes")
            .replace("{scope}", "/subscriptions/s/resourceGroups/g");
        let fixture: Value = serde_json::from_str(&text).expect("fixture is JSON");
        fixture["response"].clone()
    }

    #[test]
    fn a_published_managed_cluster_reads_and_writes_back_whole() {
        let body = published("managed_cluster");
        let cluster: ManagedCluster = serde_json::from_value(body.clone()).expect("decodes");
        let aci = &cluster.properties.addon_profiles["aciConnectorLinux"];
        assert_eq!(aci["config"]["SubnetName"], "aci");
        assert_eq!(aci["identity"]["objectId"], "o");
        assert_eq!(
            cluster
                .properties
                .network_profile
                .as_ref()
                .map(|n| n["networkPlugin"].clone()),
            Some(json!("azure"))
        );
        assert_eq!(serde_json::to_value(&cluster).expect("encodes"), body);
    }

    #[test]
    fn a_published_role_assignment_reads_and_writes_back_whole() {
        let body = published("role_assignment");
        let ra: RoleAssignment = serde_json::from_value(body.clone()).expect("decodes");
        assert_eq!(
            ra.properties.principal_id,
            "ce2ce14e-85d7-4629-bdbc-454d0519d987"
        );
        assert!(ra
            .properties
            .role_definition_id
            .ends_with("/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"));
        assert_eq!(
            ra.properties.principal_type.as_deref(),
            Some("ServicePrincipal")
        );
        assert_eq!(serde_json::to_value(&ra).expect("encodes"), body);
    }

    #[test]
    fn a_published_a_record_set_reads_and_writes_back_whole() {
        let body = published("dns_a_record_set");
        let rs: ARecordSet = serde_json::from_value(body.clone()).expect("decodes");
        assert_eq!(rs.properties.a_records[0].ipv4_address, "127.0.0.1");
        assert_eq!(rs.properties.ttl, Some(json!(3600)));
        assert_eq!(serde_json::to_value(&rs).expect("encodes"), body);
    }

    #[test]
    fn dns_record_sets_use_arms_capitalised_fields() {
        let rs: ARecordSet = serde_json::from_value(json!({
            "etag": "e",
            "properties": {"TTL": 300, "ARecords": [{"ipv4Address": "10.0.0.4"}], "fqdn": "www.example.com."}
        }))
        .expect("decodes");
        assert_eq!(rs.properties.a_records[0].ipv4_address, "10.0.0.4");
        let back = serde_json::to_value(&rs).expect("encodes");
        assert_eq!(back["properties"]["fqdn"], "www.example.com.");
        assert_eq!(back["properties"]["TTL"], 300);
    }
}
