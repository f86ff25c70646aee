//! AKS managed clusters (Microsoft.ContainerService/managedClusters), the ACI connector add-on's subnet link, and
//! the managed identity AKS makes for the add-on.

use super::managed_identity::{as_addon_identity, new_identity};
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

/// The ACI add-on's profile in the body, under whatever casing of its key the client used.
fn aci_profile_mut(body: &mut Value) -> Option<&mut Value> {
    body.pointer_mut("/properties/addonProfiles")
        .and_then(Value::as_object_mut)?
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("aciConnectorLinux"))
        .map(|(_, v)| v)
}

/// A cluster that still runs as a service principal (`servicePrincipalProfile.clientId` other than `msi`), whose
/// add-ons run as that principal: AKS makes no identity for them (azure-cli, acs module,
/// `_add_virtual_node_role_assignment`, grants the role to the service principal then).
fn uses_service_principal(body: &Value) -> bool {
    str_at(body, "/properties/servicePrincipalProfile/clientId")
        .is_some_and(|c| !c.eq_ignore_ascii_case("msi"))
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
    let node_rg = str_at(&body, "/properties/nodeResourceGroup")
        .map(str::to_string)
        .unwrap_or_else(|| format!("MC_{rg}_{name}_{location}"));
    // The add-on's identity: AKS makes a user-assigned identity `aciconnectorlinux-<cluster>` in the node resource
    // group for a cluster with a managed identity, and reports it in the profile while the add-on is enabled
    // (ManagedClusterAddonProfile.identity). Azure does not document when it deletes it; disabling the add-on
    // deletes it here, so that a client cannot come to rely on an object ID outliving the add-on.
    let group_id = format!(
        "/subscriptions/{}/resourceGroups/{node_rg}",
        ctx.id.subscription
    );
    let identity_id = format!(
        "{group_id}/providers/{}/aciconnectorlinux-{name}",
        super::managed_identity::IDENTITY_TYPE
    );
    let mut removals = Vec::new();
    let identity = if new_subnet.is_some() && !uses_service_principal(&body) {
        let identity = match world.get(&key(&identity_id)) {
            Some(existing) => existing.clone(),
            None => {
                let made = new_identity(
                    &group_id,
                    &format!("aciconnectorlinux-{name}"),
                    &location,
                    &ctx.config.tenant,
                );
                if world.get(&key(&group_id)).is_none() {
                    upserts.push(node_resource_group(
                        &group_id,
                        &node_rg,
                        &location,
                        &cluster_id,
                    ));
                }
                upserts.push(made.clone());
                made
            }
        };
        Some(as_addon_identity(&identity))
    } else {
        if world.get(&key(&identity_id)).is_some() {
            removals.push(key(&identity_id));
        }
        None
    };
    if let Some(profile) = aci_profile_mut(&mut body).and_then(Value::as_object_mut) {
        match identity {
            Some(identity) => profile.insert("identity".into(), identity),
            None => profile.remove("identity"),
        };
    }
    let p = props(&mut body);
    p.insert("nodeResourceGroup".into(), json!(node_rg));
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
        removals,
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

/// The node resource group AKS makes for a cluster, owned by it (`managedBy`).
fn node_resource_group(group_id: &str, name: &str, location: &str, cluster_id: &str) -> Resource {
    Resource {
        id: group_id.to_string(),
        resource_type: "Microsoft.Resources/resourceGroups".into(),
        body: json!({
            "id": group_id,
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "managedBy": cluster_id,
            "properties": { "provisioningState": "Succeeded" },
        }),
        etag: crate::store::new_etag("Microsoft.Resources/resourceGroups"),
        pending: None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ids::ResourceId;
    use crate::store::new_etag;

    const GROUP: &str = "/subscriptions/s/resourceGroups/g";

    fn subnet_id() -> String {
        format!("{GROUP}/providers/Microsoft.Network/virtualNetworks/v/subnets/aci")
    }

    /// A world with the add-on's delegated subnet.
    fn world() -> World {
        let mut world = World::default();
        let id = subnet_id();
        world.put(Resource {
            body: json!({"id": id, "name": "aci", "properties": {"addressPrefix": "10.0.16.0/24",
                "delegations": [{"name": "d", "properties": {"serviceName": ACI_DELEGATION}}]}}),
            id,
            resource_type: "Microsoft.Network/virtualNetworks/subnets".into(),
            etag: new_etag("Microsoft.Network/virtualNetworks/subnets"),
            pending: None,
        });
        world
    }

    fn cluster(addon: Value, service_principal: &str) -> Value {
        json!({"location": "westeurope", "properties": {
            "servicePrincipalProfile": {"clientId": service_principal},
            "networkProfile": {"networkPlugin": "azure"},
            "agentPoolProfiles": [{"name": "system",
                "vnetSubnetID": format!("{GROUP}/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes")}],
            "addonProfiles": {"aciConnectorLinux": addon},
        }})
    }

    fn enabled() -> Value {
        json!({"enabled": true, "config": {"SubnetName": "aci"}})
    }

    /// Runs the cluster PUT rules against `world`, storing what they make, and returns the stored body.
    fn put(world: &mut World, body: Value) -> Value {
        let config = Config::default();
        let id = ResourceId::parse(&format!(
            "{GROUP}/providers/Microsoft.ContainerService/managedClusters/k"
        ))
        .expect("a cluster ID");
        let old = world.get(&id.key()).cloned();
        let prepared = put_cluster(
            &PutCtx {
                world,
                config: &config,
                id: &id,
                old: old.as_ref(),
                now: 0.0,
            },
            body,
        )
        .expect("the PUT is valid");
        for r in prepared.upserts {
            world.put(r);
        }
        for k in prepared.removals {
            world.remove(&k);
        }
        world.put(Resource {
            id: id.id.clone(),
            resource_type: "Microsoft.ContainerService/managedClusters".into(),
            body: prepared.body.clone(),
            etag: new_etag("Microsoft.ContainerService/managedClusters"),
            pending: None,
        });
        prepared.body
    }

    const IDENTITY: &str = "/subscriptions/s/resourceGroups/MC_g_k_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aciconnectorlinux-k";

    #[test]
    fn enabling_the_aci_connector_on_a_managed_identity_cluster_makes_and_reports_its_identity() {
        let mut world = world();
        let body = put(&mut world, cluster(enabled(), "msi"));
        let reported = &body["properties"]["addonProfiles"]["aciConnectorLinux"]["identity"];
        assert_eq!(reported["resourceId"], IDENTITY);
        let identity = world.get(&key(IDENTITY)).expect("the identity exists");
        assert_eq!(
            reported["objectId"],
            identity.body["properties"]["principalId"]
        );
        assert_eq!(
            reported["clientId"],
            identity.body["properties"]["clientId"]
        );
        assert!(
            world
                .get(&key("/subscriptions/s/resourceGroups/MC_g_k_westeurope"))
                .is_some(),
            "the node resource group is made with it"
        );

        // Kept while the add-on stays enabled.
        let object_id = reported["objectId"].clone();
        let kept = put(&mut world, cluster(enabled(), "msi"));
        assert_eq!(
            kept["properties"]["addonProfiles"]["aciConnectorLinux"]["identity"]["objectId"],
            object_id
        );
        // Disabled: the profile no longer reports it, and it is gone; enabled again: a new one.
        let disabled = put(&mut world, cluster(json!({"enabled": false}), "msi"));
        assert!(disabled["properties"]["addonProfiles"]["aciConnectorLinux"]
            .get("identity")
            .is_none());
        assert!(world.get(&key(IDENTITY)).is_none());
        let again = put(&mut world, cluster(enabled(), "msi"));
        let identity = world.get(&key(IDENTITY)).expect("made again");
        assert_eq!(
            again["properties"]["addonProfiles"]["aciConnectorLinux"]["identity"]["objectId"],
            identity.body["properties"]["principalId"]
        );
    }

    #[test]
    fn a_service_principal_cluster_gets_no_addon_identity() {
        let mut world = world();
        let body = put(
            &mut world,
            cluster(enabled(), "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"),
        );
        assert!(body["properties"]["addonProfiles"]["aciConnectorLinux"]
            .get("identity")
            .is_none());
        assert!(world.get(&key(IDENTITY)).is_none());
    }
}
