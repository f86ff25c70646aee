//! AKS managed clusters (Microsoft.ContainerService/managedClusters) and the ACI connector add-on's subnet link.

use super::{key, props, str_at, Prepared, PutCtx};
use crate::error::ArmError;
use crate::store::{Resource, World};
use serde_json::{json, Value};

/// The delegation a virtual-node (ACI) subnet needs.
pub const ACI_DELEGATION: &str = "Microsoft.ContainerInstance/containerGroups";
/// Name of the service association link ACI puts on the subnet.
const LINK_NAME: &str = "acisal";

fn invalid(message: String) -> ArmError {
    ArmError::bad_request("InvalidParameter", message)
}

/// The ACI add-on's subnet, when the body enables it: (subnet ID).
fn aci_subnet(body: &Value) -> Result<Option<String>, ArmError> {
    let addon = body
        .pointer("/properties/addonProfiles")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("aciConnectorLinux"))
                .map(|(_, v)| v)
        });
    let Some(addon) = addon else { return Ok(None) };
    if !addon["enabled"].as_bool().unwrap_or(false) {
        return Ok(None);
    }
    let plugin = str_at(body, "/properties/networkProfile/networkPlugin").unwrap_or("kubenet");
    if !plugin.eq_ignore_ascii_case("azure") {
        return Err(invalid(format!(
            "The aciConnectorLinux add-on (virtual nodes) requires Azure CNI: networkProfile.networkPlugin must be 'azure', not '{plugin}'."
        )));
    }
    let subnet_name = addon["config"]
        .as_object()
        .and_then(|c| {
            c.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("SubnetName"))
                .map(|(_, v)| v)
        })
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("The aciConnectorLinux add-on needs config.SubnetName.".into()))?;
    let node_subnet = body["properties"]["agentPoolProfiles"]
        .as_array()
        .and_then(|pools| pools.iter().find_map(|p| p["vnetSubnetID"].as_str()))
        .ok_or_else(|| invalid("The aciConnectorLinux add-on needs agent pools in a custom virtual network (agentPoolProfiles[].vnetSubnetID).".into()))?;
    let vnet = super::cut_before(node_subnet, "subnets");
    Ok(Some(format!("{vnet}/subnets/{subnet_name}")))
}

/// A PUT replaces the whole cluster (fields a client leaves out are gone, as on Azure). Enabling the ACI connector
/// checks the subnet and links it. Disabling it leaves the link behind, as on Azure, where it stays until deleted
/// through ACI ([`remove_link`]; <https://learn.microsoft.com/azure/aks/virtual-nodes-cli#remove-virtual-nodes>).
pub fn put_cluster(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let world = ctx.world;
    let cluster_id = ctx.id.id.clone();
    let new_subnet = aci_subnet(&body)?;
    let old_subnet = ctx.old.and_then(|o| aci_subnet(&o.body).ok().flatten());
    let mut upserts = Vec::new();
    if let Some(subnet_id) = &new_subnet {
        let Some(subnet) = world.get(&key(subnet_id)) else {
            return Err(invalid(format!("Subnet {subnet_id} for the aciConnectorLinux add-on was not found in the cluster's virtual network.")));
        };
        let delegated = subnet.body["properties"]["delegations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| {
                d["properties"]["serviceName"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(ACI_DELEGATION))
            });
        if !delegated {
            return Err(invalid(format!("Subnet {subnet_id} must be delegated to {ACI_DELEGATION} for the aciConnectorLinux add-on.")));
        }
        if old_subnet.as_deref().map(key) != Some(key(subnet_id)) {
            let mut s = subnet.clone();
            let link_id = format!("{}/serviceAssociationLinks/{LINK_NAME}", subnet.id);
            s.body["properties"]["serviceAssociationLinks"] = json!([{
                "id": link_id,
                "name": LINK_NAME,
                "type": "Microsoft.Network/virtualNetworks/subnets/serviceAssociationLinks",
                "properties": {
                    "linkedResourceType": ACI_DELEGATION,
                    "link": cluster_id,
                    "allowDelete": false,
                    "provisioningState": "Succeeded",
                },
            }]);
            upserts.push(s);
        }
    }
    let location = body["location"].as_str().unwrap_or("").to_string();
    let rg = ctx.id.resource_group.clone().unwrap_or_default();
    let name = ctx.id.name.clone();
    let p = props(&mut body);
    p.entry("nodeResourceGroup")
        .or_insert(json!(format!("MC_{rg}_{name}_{location}")));
    let prefix = p
        .get("dnsPrefix")
        .and_then(Value::as_str)
        .unwrap_or(&name)
        .to_string();
    p.insert(
        "fqdn".into(),
        json!(format!("{prefix}.hcp.{location}.azmk8s.io")),
    );
    p.insert("powerState".into(), json!({ "code": "Running" }));
    if let Some(sp) = p
        .get_mut("servicePrincipalProfile")
        .and_then(Value::as_object_mut)
    {
        sp.remove("secret");
    }
    if let Some(win) = p.get_mut("windowsProfile").and_then(Value::as_object_mut) {
        win.remove("adminPassword");
    }
    system_assigned_identity(ctx, &mut body);
    Ok(Prepared {
        body,
        upserts,
        removals: Vec::new(),
    })
}

/// A system-assigned identity reports the principal and tenant Azure gave it (`ManagedClusterIdentity`, read-only
/// `principalId` and `tenantId`); the principal stays the same across updates.
fn system_assigned_identity(ctx: &PutCtx<'_>, body: &mut Value) {
    let system = str_at(body, "/identity/type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("systemassigned"));
    if !system {
        return;
    }
    let principal = ctx
        .old
        .and_then(|o| str_at(&o.body, "/identity/principalId"))
        .or_else(|| str_at(body, "/identity/principalId"))
        .map(str::to_string)
        .unwrap_or_else(crate::entropy::guid);
    body["identity"]["principalId"] = json!(principal);
    body["identity"]["tenantId"] = json!(ctx.config.tenant);
}

/// The subnet without its ACI service association link.
fn without_link(subnet: &Resource) -> Resource {
    let mut s = subnet.clone();
    if let Some(p) = s.body.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("serviceAssociationLinks");
    }
    s
}

/// Removes the service association link a deleted cluster held.
pub fn unlink(world: &mut World, cluster: &Resource) {
    let Ok(Some(subnet_id)) = aci_subnet(&cluster.body) else {
        return;
    };
    if let Some(s) = world.get(&key(&subnet_id)) {
        let s = without_link(s);
        world.put(s);
    }
}

/// ACI's `SubnetServiceAssociationLink_Delete`
/// (`DELETE {subnetId}/providers/Microsoft.ContainerInstance/serviceAssociationLinks/default`): the subnet as it is
/// once the link is gone, or None when it has none. A subnet that does not exist is a 404, as on Azure.
pub fn remove_link(world: &World, link_id: &str) -> Result<Option<Resource>, ArmError> {
    // The subnet is the scope: everything before the last `/providers/`.
    let subnet_id = link_id
        .to_ascii_lowercase()
        .rfind("/providers/")
        .map_or(link_id, |i| &link_id[..i]);
    let Some(subnet) = world.get(&key(subnet_id)) else {
        let name = subnet_id.rsplit('/').next().unwrap_or(subnet_id);
        return Err(ArmError::new(
            404,
            "NotFound",
            format!("Subnet {name} was not found: {subnet_id}."),
        ));
    };
    let linked = subnet.body["properties"]["serviceAssociationLinks"]
        .as_array()
        .is_some_and(|links| !links.is_empty());
    Ok(linked.then(|| without_link(subnet)))
}
