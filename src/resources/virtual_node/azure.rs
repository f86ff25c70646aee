//! The virtual node's effects on Azure: the delegated subnet, the role assignment, the cluster's
//! `aciConnectorLinux` add-on and ACI's service association link, each made, adopted, read and removed through
//! the shared ARM client. Request bodies are JSON built here; responses are read for the few members we need.

use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio_util::sync::CancellationToken;

use super::spec::{
    known, subnet_id, Attrs, ConnectorIdentity, Role, Spec, ACI_DELEGATION_ACTION, ACI_SERVICE,
    DELEGATION_NAME, OS_TYPE,
};
use crate::arm::cidr::Ipv4Cidr;
use crate::arm::models::{
    ManagedCluster, RoleAssignment, RoleAssignmentProperties, NETWORK_API_VERSION,
};
use crate::arm::{roles, ArmClient, ArmError, Conditions, Ctx, ResourceId, ResourceKind};
use crate::plugin::logging::{debug, info};
use crate::tf::decode::Maybe;
use crate::tf::diagnostics::Diagnostic;
use crate::tf::path::AttributePath;

/// The add-on's key in `addonProfiles`; ARM matches it without regard to case.
const ADDON: &str = "aciConnectorLinux";
/// Attempts at the cluster's read-modify-write when someone else keeps changing it (412 on If-Match).
const CLUSTER_WRITE_ATTEMPTS: u32 = 5;
/// ACI's link on the subnet, and the api-version of its only operation, `SubnetServiceAssociationLink_Delete`
/// (azure-rest-api-specs, specification/containerinstance, stable/2023-05-01).
const ACI_LINK: &str = "providers/Microsoft.ContainerInstance/serviceAssociationLinks/default";
const CONTAINER_INSTANCE_API_VERSION: &str = "2023-05-01";

/// An ARM failure as a diagnostic; running out of time or being interrupted says what to do next.
pub fn arm_error(what: &str, err: &ArmError) -> Diagnostic {
    let next = match err {
        ArmError::Deadline { .. } => {
            "\n\nThe operation's time ran out (see the timeouts block). What was done so far is saved in the state: \
             run Terraform again to finish, or allow more time."
        }
        ArmError::Cancelled { .. } => {
            "\n\nTerraform was interrupted. What was done so far is saved in the state: run Terraform again to \
             finish."
        }
        _ => "",
    };
    Diagnostic::error(format!("Failed to {what}"), format!("{err}{next}"))
}

// ---- plan ------------------------------------------------------------------------------------------------

/// Whom the ACI connector runs as, as the cluster tells it. What `az aks enable-addons --addons virtual-node`
/// grants the role to (azure-cli, acs module, `_add_virtual_node_role_assignment`): the service principal of a
/// cluster that still has one, else the identity AKS made for the add-on, known once the add-on is enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connector {
    /// The add-on is enabled on the virtual node's subnet and reports its identity.
    Identity(ConnectorIdentity),
    /// The cluster runs as this service principal (its client ID), and so does the add-on.
    ServicePrincipal(String),
    /// The add-on is not (yet) enabled on the subnet: its identity is known after the add-on write.
    NotYet,
}

impl Connector {
    pub fn of(cluster: &ManagedCluster, subnet_name: &str) -> Connector {
        let client = cluster
            .properties
            .extra
            .get("servicePrincipalProfile")
            .and_then(|p| p.get("clientId"))
            .and_then(Json::as_str);
        if let Some(client) = client.filter(|c| !c.eq_ignore_ascii_case("msi")) {
            return Connector::ServicePrincipal(client.to_string());
        }
        match addon_identity(cluster) {
            Some(identity)
                if addon_subnet(cluster).is_some_and(|s| s.eq_ignore_ascii_case(subnet_name)) =>
            {
                Connector::Identity(identity)
            }
            _ => Connector::NotYet,
        }
    }
}

/// The error for a service-principal cluster without `principal_id`: the add-on runs as the service principal,
/// whose object ID only Microsoft Entra ID knows.
pub fn service_principal_needs_principal_id(cluster_id: &str, client_id: &str) -> Diagnostic {
    Diagnostic::error(
        "principal_id is needed for a service-principal cluster",
        format!(
            "{cluster_id} runs as the service principal with client ID {client_id}, and so does its virtual-node \
             add-on: AKS makes no add-on identity for such a cluster. Set principal_id to that service principal's \
             object ID, which `az ad sp show --id {client_id} --query id -o tsv` prints (or the azuread provider's \
             azuread_service_principal data source, object_id)."
        ),
    )
    .at(AttributePath::of("principal_id"))
}

fn network_plugin(cluster: &ManagedCluster) -> Option<&str> {
    cluster
        .properties
        .network_profile
        .as_ref()
        .and_then(|p| p.get("networkPlugin"))
        .and_then(Json::as_str)
}

/// The error for a cluster the add-on cannot work with, raised before anything is changed.
fn check_cluster(cluster_id: &str, cluster: &ManagedCluster) -> Result<(), Diagnostic> {
    let plugin = network_plugin(cluster).unwrap_or("kubenet");
    if plugin.eq_ignore_ascii_case("azure") {
        return Ok(());
    }
    Err(Diagnostic::error(
        "The cluster does not use Azure CNI",
        format!(
            "{cluster_id} uses networkPlugin {plugin:?}; AKS virtual nodes need Azure CNI (networkPlugin \"azure\"). \
             Nothing was created. Use a cluster with network_plugin = \"azure\", or leave cluster_id out to make only \
             the subnet and the role."
        ),
    )
    .at(AttributePath::of("cluster_id")))
}

/// Reads the cluster for planning: whom the connector runs as, after checking the add-on can run on it. None
/// when the cluster does not exist yet.
pub async fn plan_cluster(
    arm: &ArmClient,
    op: &Ctx,
    cluster_id: &str,
    subnet_name: &str,
) -> Result<Option<Connector>, Diagnostic> {
    let id = ResourceId::parse_as(cluster_id, ResourceKind::ManagedCluster).map_err(|e| {
        Diagnostic::error("Invalid cluster_id", e.to_string()).at(AttributePath::of("cluster_id"))
    })?;
    let Some(resp) = arm
        .read::<ManagedCluster>(op, &id)
        .await
        .map_err(|e| arm_error("read the AKS cluster", &e).at(AttributePath::of("cluster_id")))?
    else {
        // Not there yet: it may be created in the same apply; apply checks again.
        return Ok(None);
    };
    check_cluster(cluster_id, &resp.body)?;
    Ok(Some(Connector::of(&resp.body, subnet_name)))
}

/// The IPv4 prefixes of a VNet or subnet body (`addressPrefix` and `addressPrefixes`); IPv6 ones are skipped
/// since the virtual node's prefix is IPv4.
fn prefixes(properties: &Json, single: &str, many: &str) -> Vec<Ipv4Cidr> {
    let one = properties.get(single).and_then(Json::as_str);
    let all = properties
        .get(many)
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str);
    one.into_iter()
        .chain(all)
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Checks at plan time that `prefix` lies in the VNet and overlaps no other subnet, so a bad prefix fails
/// before anything is made instead of as ARM's `NetcfgSubnetRangesOverlap` halfway through an apply.
pub async fn plan_prefix(
    arm: &ArmClient,
    op: &Ctx,
    vnet: &ResourceId,
    subnet_name: &str,
    prefix: Ipv4Cidr,
) -> Result<(), Diagnostic> {
    let Some(resp) = arm
        .get_optional::<Json>(op, &vnet.to_string(), NETWORK_API_VERSION)
        .await
        .map_err(|e| {
            arm_error("read the virtual network", &e).at(AttributePath::of("virtual_network_id"))
        })?
    else {
        return Ok(());
    };
    let props = resp.body.get("properties").cloned().unwrap_or(Json::Null);
    let space = props
        .get("addressSpace")
        .map(|s| prefixes(s, "addressPrefix", "addressPrefixes"))
        .unwrap_or_default();
    if !space.is_empty() && !space.iter().any(|s| s.contains(prefix)) {
        let listed: Vec<String> = space.iter().map(ToString::to_string).collect();
        return Err(Diagnostic::error(
            "address_prefix is outside the virtual network",
            format!(
                "{prefix} does not lie in the address space of {} ({}). Choose a prefix inside it, or add a range \
                 to the VNet first.",
                vnet.name(),
                listed.join(", ")
            ),
        )
        .at(AttributePath::of("address_prefix")));
    }
    let subnets = props
        .get("subnets")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    for subnet in &subnets {
        let name = subnet
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default();
        if name.eq_ignore_ascii_case(subnet_name) {
            continue;
        }
        let theirs = subnet
            .get("properties")
            .map(|p| prefixes(p, "addressPrefix", "addressPrefixes"))
            .unwrap_or_default();
        if let Some(other) = theirs.into_iter().find(|o| o.overlaps(prefix)) {
            return Err(Diagnostic::error(
                "address_prefix overlaps another subnet",
                format!(
                    "{prefix} overlaps subnet {name:?} ({other}) of {}. Choose a free range in the VNet.",
                    vnet.name()
                ),
            )
            .at(AttributePath::of("address_prefix")));
        }
    }
    Ok(())
}

// ---- create / update -------------------------------------------------------------------------------------

/// The subnet body we create: the prefix and the ACI delegation.
fn delegation() -> Json {
    json!({
        "name": DELEGATION_NAME,
        "properties": { "serviceName": ACI_SERVICE, "actions": [ACI_DELEGATION_ACTION] },
    })
}

fn is_aci_delegation(d: &Json) -> bool {
    d.pointer("/properties/serviceName")
        .and_then(Json::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case(ACI_SERVICE))
}

/// Why an existing subnet of that name cannot be adopted, if it cannot.
fn incompatible(existing: &Json, prefix: Ipv4Cidr) -> Option<String> {
    let props = existing.get("properties").cloned().unwrap_or(Json::Null);
    let theirs = prefixes(&props, "addressPrefix", "addressPrefixes");
    if theirs != [prefix] {
        let listed: Vec<String> = theirs.iter().map(ToString::to_string).collect();
        return Some(format!(
            "it has prefix {} instead of {prefix}",
            listed.join(", ")
        ));
    }
    let in_use = props
        .get("ipConfigurations")
        .and_then(Json::as_array)
        .is_some_and(|a| !a.is_empty());
    if in_use {
        return Some("network interfaces use it".into());
    }
    let other = props
        .get("delegations")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|d| !is_aci_delegation(d));
    other.map(|d| {
        let service = d
            .pointer("/properties/serviceName")
            .and_then(Json::as_str)
            .unwrap_or("another service");
        format!("it is delegated to {service}")
    })
}

/// Creates the delegated subnet, adopts a compatible empty one, or puts the delegation back on ours. Sets
/// `claimed` once the subnet is ours to record in state: made or adopted by us, never a refused one.
async fn ensure_subnet(
    arm: &ArmClient,
    op: &Ctx,
    subnet: &ResourceId,
    prefix: Ipv4Cidr,
    creating: bool,
    claimed: &mut bool,
) -> Result<(), Diagnostic> {
    let path_str = subnet.to_string();
    let existing = arm
        .get_optional::<Json>(op, &path_str, NETWORK_API_VERSION)
        .await
        .map_err(|e| arm_error("read the subnet", &e))?;
    let (body, etag) = match existing {
        None => (
            json!({ "properties": { "addressPrefix": prefix.to_string(), "delegations": [delegation()] } }),
            None,
        ),
        Some(resp) => {
            if creating {
                if let Some(why) = incompatible(&resp.body, prefix) {
                    return Err(Diagnostic::error(
                        "A subnet of that name already exists",
                        format!(
                            "{subnet} exists and cannot be adopted: {why}. Choose another subnet_name, or import the \
                             subnet if it is a virtual node's."
                        ),
                    )
                    .at(AttributePath::of("subnet_name")));
                }
            }
            let mut body = resp.body;
            let delegations = body
                .pointer("/properties/delegations")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            *claimed = true;
            if delegations.iter().any(is_aci_delegation) {
                return Ok(());
            }
            if let Some(props) = body.get_mut("properties").and_then(Json::as_object_mut) {
                props.insert("delegations".into(), json!([delegation()]));
            }
            let etag = resp
                .etag
                .or_else(|| body.get("etag").and_then(Json::as_str).map(str::to_string));
            (body, etag)
        }
    };
    *claimed = true;
    info("virtual node: writing subnet", &[("id", &path_str)]);
    let conditions = Conditions::matching(etag);
    arm.put_and_wait::<Json, Json>(op, &path_str, NETWORK_API_VERSION, &body, &conditions)
        .await
        .map_err(|e| {
            arm_error("create the delegated subnet", &e).at(AttributePath::of("address_prefix"))
        })?;
    Ok(())
}

/// Grants the role, adopting an existing assignment of the same role to the same principal (ARM answers
/// `RoleAssignmentExists` and names it). Returns the assignment's ID.
async fn ensure_role(
    arm: &ArmClient,
    op: &Ctx,
    subnet: &ResourceId,
    role: Role,
    principal_id: &str,
) -> Result<ResourceId, Diagnostic> {
    let id = role.assignment_id(subnet, principal_id);
    let definition = role.definition_id(subnet.subscription_id());
    let body = RoleAssignment {
        properties: RoleAssignmentProperties {
            role_definition_id: definition.clone(),
            principal_id: principal_id.to_string(),
            ..RoleAssignmentProperties::default()
        },
        ..RoleAssignment::default()
    };
    let err = match arm
        .create_or_update(op, &id, &body, &Conditions::default())
        .await
    {
        Ok(_) => return Ok(id),
        Err(e) => e,
    };
    let existing = err
        .api()
        .filter(|a| a.has_code("RoleAssignmentExists"))
        .and_then(|a| roles::existing_assignment_name(&a.message))
        .map(|name| ResourceId::role_assignment(&role.scope(subnet), &name));
    let Some(existing) = existing else {
        return Err(
            arm_error(&format!("assign {} to {principal_id}", role.name()), &err)
                .at(AttributePath::of("principal_id")),
        );
    };
    let found = arm
        .read::<RoleAssignment>(op, &existing)
        .await
        .map_err(|e| arm_error("read the existing role assignment", &e))?;
    let same = found.is_some_and(|f| {
        f.body
            .properties
            .principal_id
            .eq_ignore_ascii_case(principal_id)
            && f.body
                .properties
                .role_definition_id
                .to_ascii_lowercase()
                .ends_with(
                    &definition
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                )
    });
    if same {
        debug(
            "virtual node: adopting role assignment",
            &[("id", &existing.to_string())],
        );
        Ok(existing)
    } else {
        Err(
            arm_error(&format!("assign {} to {principal_id}", role.name()), &err)
                .at(AttributePath::of("principal_id")),
        )
    }
}

/// The add-on profile's key as the cluster spells it, and its value.
fn addon_profile(cluster: &ManagedCluster) -> Option<(&String, &Json)> {
    cluster
        .properties
        .addon_profiles
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(ADDON))
}

/// The subnet the add-on is enabled with, when it is enabled.
fn addon_subnet(cluster: &ManagedCluster) -> Option<&str> {
    let (_, profile) = addon_profile(cluster)?;
    if !profile
        .get("enabled")
        .and_then(Json::as_bool)
        .unwrap_or(false)
    {
        return None;
    }
    profile
        .get("config")
        .and_then(Json::as_object)?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("SubnetName"))
        .and_then(|(_, v)| v.as_str())
}

/// The add-on's own managed identity, when the cluster reports one.
fn addon_identity(cluster: &ManagedCluster) -> Option<ConnectorIdentity> {
    let (_, profile) = addon_profile(cluster)?;
    let identity = profile.get("identity")?;
    Some(ConnectorIdentity {
        resource_id: identity
            .get("resourceId")
            .and_then(Json::as_str)
            .map(str::to_string),
        client_id: identity.get("clientId")?.as_str()?.to_string(),
        object_id: identity.get("objectId")?.as_str()?.to_string(),
    })
}

/// Enables the add-on on `subnet_name` (or disables it when it uses `subnet_name`) by a read-modify-write of
/// the whole cluster: a PUT replaces every setting, so the body is the one just read, and If-Match makes a
/// concurrent change fail with 412 instead of being overwritten; then it is read and tried again.
async fn set_addon(
    arm: &ArmClient,
    op: &Ctx,
    cluster_id: &ResourceId,
    subnet_name: &str,
    enable: bool,
) -> Result<(), Diagnostic> {
    let what = if enable { "enable" } else { "disable" };
    for _ in 0..CLUSTER_WRITE_ATTEMPTS {
        let read = arm
            .read::<ManagedCluster>(op, cluster_id)
            .await
            .map_err(|e| {
                arm_error("read the AKS cluster", &e).at(AttributePath::of("cluster_id"))
            })?;
        let Some(resp) = read else {
            if enable {
                return Err(Diagnostic::error(
                    "AKS cluster not found",
                    format!("{cluster_id} does not exist: create it first, or fix cluster_id."),
                )
                .at(AttributePath::of("cluster_id")));
            }
            return Ok(());
        };
        let mut cluster = resp.body;
        let current = addon_subnet(&cluster);
        let ours = current.is_some_and(|s| s.eq_ignore_ascii_case(subnet_name));
        // Disabling leaves alone an add-on that serves another subnet.
        if enable == ours {
            return Ok(());
        }
        if enable {
            check_cluster(&cluster_id.to_string(), &cluster)?;
        }
        let (key, mut profile) = addon_profile(&cluster)
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap_or_else(|| (ADDON.to_string(), json!({})));
        if let Some(p) = profile.as_object_mut() {
            p.insert("enabled".into(), json!(enable));
            if enable {
                p.insert("config".into(), json!({ "SubnetName": subnet_name }));
            } else {
                p.remove("config");
            }
        }
        cluster.properties.addon_profiles.insert(key, profile);
        let etag = resp.etag.or_else(|| {
            cluster
                .extra
                .get("etag")
                .and_then(Json::as_str)
                .map(str::to_string)
        });
        info(
            &format!("virtual node: {what} the ACI connector add-on"),
            &[("cluster", &cluster_id.to_string())],
        );
        let conditions = Conditions::matching(etag);
        match arm
            .create_or_update(op, cluster_id, &cluster, &conditions)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.api().is_some_and(|a| a.status == 412) => {
                debug(
                    "virtual node: cluster changed under us, reading it again",
                    &[],
                );
            }
            Err(e) => {
                return Err(arm_error(&format!("{what} the virtual-node add-on"), &e)
                    .at(AttributePath::of("cluster_id")));
            }
        }
    }
    Err(Diagnostic::error(
        format!("Failed to {what} the virtual-node add-on"),
        format!(
            "{cluster_id} changed {CLUSTER_WRITE_ATTEMPTS} times while the add-on was being written (412 on If-Match). \
             Wait for the other change to finish and apply again."
        ),
    )
    .at(AttributePath::of("cluster_id")))
}

/// Brings Azure to the planned state: subnet, add-on, role (the add-on's identity exists only once the add-on is
/// enabled); then removes what the prior state had that the plan no longer has (another role assignment, the
/// add-on on another cluster). `claimed` as for [`ensure_subnet`].
pub async fn converge(
    arm: &ArmClient,
    op: &Ctx,
    prior: Option<&Attrs>,
    spec: &Spec,
    planned: &mut Attrs,
    claimed: &mut bool,
) -> Result<(), Diagnostic> {
    let subnet_name = spec.subnet.name().to_string();
    ensure_subnet(arm, op, &spec.subnet, spec.prefix, prior.is_none(), claimed).await?;
    if let Some(cluster) = &spec.cluster {
        set_addon(arm, op, cluster, &subnet_name, true).await?;
    }

    let principal = match (&spec.principal_id, &spec.cluster) {
        (Some(p), _) => p.0.clone(),
        (None, Some(cluster)) => {
            let found = arm.read::<ManagedCluster>(op, cluster).await.map_err(|e| {
                arm_error("read the AKS cluster", &e).at(AttributePath::of("cluster_id"))
            })?;
            match found.map(|c| Connector::of(&c.body, &subnet_name)) {
                Some(Connector::Identity(identity)) => identity.object_id,
                Some(Connector::ServicePrincipal(client)) => {
                    return Err(service_principal_needs_principal_id(&cluster.to_string(), &client))
                }
                Some(Connector::NotYet) | None => {
                    return Err(Diagnostic::error(
                        "The virtual-node add-on reports no identity",
                        format!(
                            "{cluster} does not report addonProfiles.aciConnectorLinux.identity after the add-on \
                             was enabled, so there is no identity to grant the role to. Apply again once the \
                             cluster shows it, or set principal_id to the object ID of the identity that runs the \
                             ACI connector."
                        ),
                    )
                    .at(AttributePath::of("principal_id")))
                }
            }
        }
        (None, None) => {
            return Err(Diagnostic::error(
                "No principal to grant the role to",
                "Set principal_id or cluster_id.",
            )
            .at(AttributePath::of("principal_id")))
        }
    };
    planned.principal_id = known(principal.clone());
    let assignment = match planned.role_assignment() {
        // Kept from the prior state: an adopted assignment keeps its own name.
        Some(id)
            if arm
                .read::<RoleAssignment>(op, &id)
                .await
                .ok()
                .flatten()
                .is_some() =>
        {
            id
        }
        _ => ensure_role(arm, op, &spec.subnet, spec.role, &principal).await?,
    };
    planned.role_assignment_id = known(assignment.to_string());
    if let Some(old) = prior.and_then(Attrs::role_assignment) {
        if old != assignment {
            arm.remove::<RoleAssignment>(op, &old)
                .await
                .map_err(|e| arm_error("remove the previous role assignment", &e))?;
        }
    }

    let old_cluster = prior.and_then(|p| p.cluster_id.present()?.parse::<ResourceId>().ok());
    if let Some(old) = old_cluster.filter(|old| spec.cluster.as_ref() != Some(old)) {
        set_addon(arm, op, &old, &subnet_name, false).await?;
    }
    Ok(())
}

// ---- read ------------------------------------------------------------------------------------------------

/// What exists in Azure for the virtual node described by `base` (its inputs), as a state; None when the
/// subnet is gone. A missing delegation, role assignment or add-on shows as a null attribute, which the next
/// plan turns into an in-place update that puts it back.
pub async fn observe(arm: &ArmClient, op: &Ctx, base: &Attrs) -> Result<Option<Attrs>, Diagnostic> {
    let vnet = base
        .virtual_network_id
        .present()
        .map_or("", String::as_str)
        .parse::<super::spec::VnetId>()
        .map_err(|e| Diagnostic::error("Invalid virtual_network_id in state", e))?;
    let subnet_name = base.subnet_name.present().cloned().unwrap_or_default();
    let subnet = subnet_id(&vnet.0, &subnet_name);
    let Some(found) = arm
        .get_optional::<Json>(op, &subnet.to_string(), NETWORK_API_VERSION)
        .await
        .map_err(|e| arm_error("read the subnet", &e))?
    else {
        return Ok(None);
    };
    let props = found.body.get("properties").cloned().unwrap_or(Json::Null);
    // The configuration's spelling is kept while it means the same network, as Terraform requires.
    let prefix = prefixes(&props, "addressPrefix", "addressPrefixes")
        .first()
        .map(|found| {
            base.address_prefix
                .present()
                .filter(|p| p.parse::<Ipv4Cidr>().is_ok_and(|p| p == *found))
                .map_or_else(|| found.to_string(), Clone::clone)
        });
    let delegation = props
        .get("delegations")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|d| is_aci_delegation(d))
        .and_then(|d| d.get("name").and_then(Json::as_str));

    let role = base.role();
    let principal = base.principal_id.present();
    let candidate = base
        .role_assignment()
        .or_else(|| principal.map(|p| role.assignment_id(&subnet, p)));
    let mut assignment = None;
    if let Some(id) = candidate {
        let exists = arm
            .read::<RoleAssignment>(op, &id)
            .await
            .map_err(|e| arm_error("read the role assignment", &e))?;
        assignment = exists.map(|_| id.to_string());
    }

    let mut cluster_id = None;
    let mut identity = None;
    if let Some(id) = base.cluster() {
        let cluster = arm
            .read::<ManagedCluster>(op, &id)
            .await
            .map_err(|e| arm_error("read the AKS cluster", &e))?;
        if let Some(cluster) = cluster {
            if addon_subnet(&cluster.body).is_some_and(|s| s.eq_ignore_ascii_case(&subnet_name)) {
                cluster_id = base.cluster_id.present().cloned();
                identity = addon_identity(&cluster.body);
            }
        }
    }

    Ok(Some(Attrs {
        virtual_network_id: Maybe::Known(base.virtual_network_id.present().cloned()),
        subnet_name: known(subnet_name),
        address_prefix: Maybe::Known(prefix),
        cluster_id: Maybe::Known(cluster_id),
        principal_id: Maybe::Known(principal.cloned()),
        // The configuration's spelling of the role is kept while it names the same role.
        role: known(
            base.role
                .present()
                .filter(|r| r.parse::<Role>() == Ok(role))
                .map_or_else(|| role.name().to_string(), Clone::clone),
        ),
        os_type: known(
            base.os_type
                .present()
                .map_or_else(|| OS_TYPE.to_string(), Clone::clone),
        ),
        subnet_id: known(subnet.to_string()),
        delegation_name: Maybe::Known(delegation.map(str::to_string)),
        role_assignment_id: Maybe::Known(assignment),
        connector_identity: Maybe::Known(identity),
        timeouts: base.timeouts.clone(),
    }))
}

/// The state after a failed apply: what Azure holds, read with a short bound of its own, because the
/// operation's may have run out or been cancelled by StopProvider. If even that fails, `fallback`.
pub async fn salvage(arm: &ArmClient, base: &Attrs, fallback: Option<Attrs>) -> Option<Attrs> {
    let op = Ctx::new(CancellationToken::new(), Duration::from_secs(60));
    observe(arm, &op, base).await.unwrap_or(fallback)
}

// ---- delete ----------------------------------------------------------------------------------------------

/// Removes the role assignment, disables the add-on, removes ACI's service association link and the subnet (with
/// its delegation). Returns the state of what is left when a step fails.
pub async fn destroy(arm: &ArmClient, op: &Ctx, prior: &Attrs) -> Result<(), (Attrs, Diagnostic)> {
    let mut left = prior.clone();
    let subnet_name = prior.subnet_name.present().cloned().unwrap_or_default();
    // The role first: once the add-on is disabled, nothing uses it.
    if let Some(role) = prior.role_assignment() {
        arm.remove::<RoleAssignment>(op, &role)
            .await
            .map_err(|e| (left.clone(), arm_error("remove the role assignment", &e)))?;
        left.role_assignment_id = Maybe::Known(None);
    }
    if let Some(cluster) = prior
        .cluster_id
        .present()
        .and_then(|c| c.parse::<ResourceId>().ok())
    {
        set_addon(arm, op, &cluster, &subnet_name, false)
            .await
            .map_err(|d| (left.clone(), d))?;
        left.cluster_id = Maybe::Known(None);
        left.connector_identity = Maybe::Known(None);
    }
    if let Some(subnet) = prior.subnet_id.present() {
        remove_aci_link(arm, op, subnet).await.map_err(|e| {
            (
                left.clone(),
                arm_error("remove ACI's service association link from the subnet", &e),
            )
        })?;
        // Deleting the subnet takes its delegation with it.
        arm.delete_and_wait(op, subnet, NETWORK_API_VERSION).await.map_err(|e| {
            let mut d = arm_error("delete the subnet", &e);
            if e.api().is_some_and(|a| a.has_code("InUseSubnetCannotBeDeleted")) {
                d.detail.push_str(
                    "\n\nSomething else still uses the subnet (container groups, network interfaces, or another \
                     service's link). Remove it and run terraform destroy again.",
                );
            }
            (left.clone(), d)
        })?;
    }
    Ok(())
}

/// The service association links ACI put on a subnet (the add-on's, or container groups').
fn aci_links(subnet: &Json) -> impl Iterator<Item = &Json> {
    subnet
        .pointer("/properties/serviceAssociationLinks")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter(|l| {
            l.pointer("/properties/linkedResourceType")
                .and_then(Json::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(ACI_SERVICE))
        })
}

/// Deletes the service association link ACI leaves on the subnet: it outlives the add-on, and while it exists
/// ARM refuses to delete the subnet (`InUseSubnetCannotBeDeleted`;
/// <https://learn.microsoft.com/azure/aks/virtual-nodes-cli#remove-virtual-nodes>). Only asked of ACI when the
/// subnet has the link, so a subscription without the Container Instance provider registered is never bothered;
/// a link or subnet already gone is fine.
async fn remove_aci_link(arm: &ArmClient, op: &Ctx, subnet: &str) -> Result<(), ArmError> {
    let Some(found) = arm
        .get_optional::<Json>(op, subnet, NETWORK_API_VERSION)
        .await?
    else {
        return Ok(());
    };
    if aci_links(&found.body).next().is_none() {
        return Ok(());
    }
    info(
        "virtual node: deleting ACI's service association link",
        &[("subnet", subnet)],
    );
    arm.delete_and_wait(
        op,
        &format!("{subnet}/{ACI_LINK}"),
        CONTAINER_INSTANCE_API_VERSION,
    )
    .await
}

// ---- import ----------------------------------------------------------------------------------------------

/// The inputs of an existing virtual node, recovered from its subnet: the cluster from the add-on's service
/// association link, the principal from the add-on's identity, the role from whichever deterministic assignment exists.
pub async fn recover(arm: &ArmClient, op: &Ctx, id: &str) -> Result<Attrs, Diagnostic> {
    let subnet = ResourceId::parse_as(id, ResourceKind::Subnet).map_err(|e| {
        Diagnostic::error(
            "Invalid import ID",
            format!("{e}. Import a virtual node by its subnet ID."),
        )
    })?;
    let vnet = subnet.parent().ok_or_else(|| {
        Diagnostic::error("Invalid import ID", format!("{id} has no virtual network"))
    })?;
    let found = arm
        .get_optional::<Json>(op, &subnet.to_string(), NETWORK_API_VERSION)
        .await
        .map_err(|e| arm_error("read the subnet", &e))?
        .ok_or_else(|| {
            Diagnostic::error("Cannot import", format!("subnet {subnet} does not exist"))
        })?;
    let cluster = aci_links(&found.body)
        .filter_map(|l| l.pointer("/properties/link").and_then(Json::as_str))
        .find_map(|l| ResourceId::parse_as(l, ResourceKind::ManagedCluster).ok());
    let mut principal = None;
    if let Some(cluster) = &cluster {
        let body = arm
            .read::<ManagedCluster>(op, cluster)
            .await
            .map_err(|e| arm_error("read the AKS cluster", &e))?;
        principal = match body.map(|c| Connector::of(&c.body, subnet.name())) {
            Some(Connector::Identity(identity)) => Some(identity.object_id),
            // A service principal's object ID is not in the cluster: principal_id stays unset until the
            // configuration gives it.
            _ => None,
        };
    }
    let mut role = Role::DEFAULT;
    if let Some(p) = &principal {
        for candidate in Role::ALL {
            let exists = arm
                .read::<RoleAssignment>(op, &candidate.assignment_id(&subnet, p))
                .await
                .map_err(|e| arm_error("read the role assignment", &e))?;
            if exists.is_some() {
                role = candidate;
                break;
            }
        }
    }
    Ok(Attrs {
        virtual_network_id: known(vnet.to_string()),
        subnet_name: known(subnet.name().to_string()),
        cluster_id: Maybe::Known(cluster.map(|c| c.to_string())),
        principal_id: Maybe::Known(principal),
        role: known(role.name().to_string()),
        os_type: known(OS_TYPE.to_string()),
        ..Attrs::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_subnet_is_adopted_only_when_empty_and_compatible() {
        let prefix: Ipv4Cidr = "10.0.16.0/24".parse().unwrap();
        let empty = json!({"properties": {"addressPrefix": "10.0.16.0/24"}});
        assert_eq!(incompatible(&empty, prefix), None);
        let delegated =
            json!({"properties": {"addressPrefix": "10.0.16.0/24", "delegations": [delegation()]}});
        assert_eq!(incompatible(&delegated, prefix), None);
        let other = json!({"properties": {"addressPrefix": "10.0.17.0/24"}});
        assert!(incompatible(&other, prefix)
            .unwrap()
            .contains("10.0.17.0/24"));
        let used = json!({"properties": {"addressPrefix": "10.0.16.0/24", "ipConfigurations": [{"id": "x"}]}});
        assert!(incompatible(&used, prefix).is_some());
        let web = json!({"properties": {"addressPrefix": "10.0.16.0/24",
            "delegations": [{"name": "w", "properties": {"serviceName": "Microsoft.Web/serverFarms"}}]}});
        assert!(incompatible(&web, prefix)
            .unwrap()
            .contains("Microsoft.Web/serverFarms"));
    }

    #[test]
    fn only_aci_s_service_association_links_are_deleted_through_aci_or_name_the_cluster() {
        let link = |service: &str| {
            json!({"properties": {"serviceAssociationLinks": [
                {"name": "acisal", "properties": {"linkedResourceType": service}}]}})
        };
        assert_eq!(
            aci_links(&link("microsoft.containerinstance/containerGroups")).count(),
            1
        );
        assert_eq!(aci_links(&link("Microsoft.Web/serverFarms")).count(), 0);
        assert_eq!(aci_links(&json!({"properties": {}})).count(), 0);
    }

    #[test]
    fn running_out_of_time_or_being_interrupted_says_the_state_is_kept() {
        let deadline = arm_error(
            "enable the virtual-node add-on",
            &ArmError::Deadline {
                during: "PUT".into(),
            },
        );
        assert!(
            deadline.detail.contains("timeouts") && deadline.detail.contains("saved in the state")
        );
        let stopped = arm_error(
            "enable the virtual-node add-on",
            &ArmError::Cancelled {
                during: "PUT".into(),
            },
        );
        assert!(
            stopped.detail.contains("interrupted") && stopped.detail.contains("saved in the state")
        );
        let other = arm_error("read the subnet", &ArmError::Config("x".into()));
        assert!(!other.detail.contains("saved in the state"));
    }

    #[test]
    fn a_kubenet_cluster_is_refused_at_cluster_id() {
        let cluster: ManagedCluster = serde_json::from_value(
            json!({"properties": {"networkProfile": {"networkPlugin": "kubenet"}}}),
        )
        .unwrap();
        let err = check_cluster("/c", &cluster).unwrap_err();
        assert!(err.detail.contains("kubenet") && err.detail.contains("Nothing was created"));
        assert_eq!(err.attribute, Some(AttributePath::of("cluster_id")));
        let azure: ManagedCluster = serde_json::from_value(
            json!({"properties": {"networkProfile": {"networkPlugin": "azure"}}}),
        )
        .unwrap();
        assert!(check_cluster("/c", &azure).is_ok());
    }

    #[test]
    fn the_connector_runs_as_the_addon_identity_or_the_clusters_service_principal() {
        let cluster = |sp: &str, addon: Json| -> ManagedCluster {
            serde_json::from_value(json!({"properties": {
                "servicePrincipalProfile": {"clientId": sp},
                "addonProfiles": {"aciConnectorLinux": addon}}}))
            .unwrap()
        };
        let identity = json!({"resourceId": "/i", "clientId": "c", "objectId": "o"});
        let enabled =
            json!({"enabled": true, "config": {"SubnetName": "aci"}, "identity": identity});
        assert_eq!(
            Connector::of(&cluster("msi", enabled.clone()), "ACI"),
            Connector::Identity(ConnectorIdentity {
                resource_id: Some("/i".into()),
                client_id: "c".into(),
                object_id: "o".into(),
            })
        );
        // Enabled for another subnet, or not at all: the identity is known after the add-on write.
        assert_eq!(
            Connector::of(&cluster("msi", enabled.clone()), "other"),
            Connector::NotYet
        );
        assert_eq!(
            Connector::of(&cluster("msi", json!({"enabled": false})), "aci"),
            Connector::NotYet
        );
        assert_eq!(
            Connector::of(&cluster("0f0e", enabled), "aci"),
            Connector::ServicePrincipal("0f0e".into())
        );
        let error = service_principal_needs_principal_id("/c", "0f0e");
        assert_eq!(error.attribute, Some(AttributePath::of("principal_id")));
        assert!(error.detail.contains("az ad sp show --id 0f0e --query id"));
    }

    #[test]
    fn the_addon_subnet_is_read_only_from_an_enabled_profile() {
        let enabled: ManagedCluster =
            serde_json::from_value(json!({"properties": {"addonProfiles": {
            "ACIConnectorLinux": {"enabled": true, "config": {"subnetName": "aci"}}}}}))
            .unwrap();
        assert_eq!(addon_subnet(&enabled), Some("aci"));
        let disabled: ManagedCluster =
            serde_json::from_value(json!({"properties": {"addonProfiles": {
            "aciConnectorLinux": {"enabled": false, "config": {"SubnetName": "aci"}}}}}))
            .unwrap();
        assert_eq!(addon_subnet(&disabled), None);
    }
}
