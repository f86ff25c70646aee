//! `largek8s_virtual_node`: a subnet delegated to Azure Container Instances, the role the ACI connector needs
//! on it, and the AKS virtual-node add-on (`aciConnectorLinux`) pointed at it, so pods can burst into ACI
//! (<https://learn.microsoft.com/azure/aks/virtual-nodes-cli>).

use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio_util::sync::CancellationToken;

use crate::arm::cidr::Ipv4Cidr;
use crate::arm::models::{
    ManagedCluster, RoleAssignment, RoleAssignmentProperties, NETWORK_API_VERSION,
};
use crate::arm::{roles, ArmClient, ArmError, Conditions, Ctx, ResourceId, ResourceKind};
use crate::plugin::logging::{debug, info};
use crate::resources::timeouts::parse_duration;
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::path::AttributePath;
use crate::tf::provider::{
    ApplyRequest, ApplyResponse, ClientCapabilities, ImportResponse, ImportedResource, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse,
};
use crate::tf::resource::{BoxFuture, Resource};
use crate::tf::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use crate::tf::types::Type;
use crate::tf::value::Value;

use super::context::Context;

pub const TYPE_NAME: &str = "largek8s_virtual_node";

/// The service ACI container groups are delegated to, and the action the delegation grants.
const ACI_SERVICE: &str = "Microsoft.ContainerInstance/containerGroups";
const ACI_DELEGATION_ACTION: &str = "Microsoft.Network/virtualNetworks/subnets/action";
const DELEGATION_NAME: &str = "aci-delegation";
/// The add-on's key in `addonProfiles`; ARM matches it without regard to case.
const ADDON: &str = "aciConnectorLinux";
/// What the add-on's virtual kubelet registers as, and the taint it carries
/// (<https://learn.microsoft.com/azure/aks/virtual-nodes-cli#deploy-a-sample-app>).
const NODE_NAME: &str = "virtual-node-aci-linux";
const TAINT_KEY: &str = "virtual-kubelet.io/provider";
const TAINT: &str = "virtual-kubelet.io/provider=azure:NoSchedule";
/// Attempts at the cluster's read-modify-write when someone else keeps changing it (412 on If-Match).
const CLUSTER_WRITE_ATTEMPTS: u32 = 5;
/// ACI's link on the subnet, and the api-version of its only operation, `SubnetServiceAssociationLink_Delete`
/// (azure-rest-api-specs, specification/containerinstance, stable/2023-05-01).
const ACI_LINK: &str = "providers/Microsoft.ContainerInstance/serviceAssociationLinks/default";
const CONTAINER_INSTANCE_API_VERSION: &str = "2023-05-01";

const INPUTS_REPLACING: [&str; 4] = [
    "virtual_network_id",
    "subnet_name",
    "address_prefix",
    "os_type",
];

pub struct VirtualNode;

/// The role granted to the connector's principal, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Least privilege: Network Contributor on the virtual node's subnet only.
    NetworkContributor,
    /// What the classic instructions grant: Contributor on the whole VNet.
    Contributor,
}

impl Role {
    const DEFAULT: Role = Role::NetworkContributor;

    fn parse(name: &str) -> Option<Role> {
        [Role::NetworkContributor, Role::Contributor]
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }

    fn name(self) -> &'static str {
        match self {
            Role::NetworkContributor => "Network Contributor",
            Role::Contributor => "Contributor",
        }
    }

    fn definition_id(self, subscription_id: &str) -> String {
        let guid = match self {
            Role::NetworkContributor => roles::NETWORK_CONTRIBUTOR,
            Role::Contributor => roles::CONTRIBUTOR,
        };
        roles::role_definition_id(subscription_id, guid)
    }

    fn scope(self, subnet: &ResourceId) -> ResourceId {
        match self {
            Role::NetworkContributor => subnet.clone(),
            Role::Contributor => subnet.parent().unwrap_or_else(|| subnet.clone()),
        }
    }

    /// The deterministic ID of the assignment of this role to `principal_id` for `subnet`.
    fn assignment_id(self, subnet: &ResourceId, principal_id: &str) -> ResourceId {
        let scope = self.scope(subnet);
        let definition = self.definition_id(subnet.subscription_id());
        ResourceId::role_assignment(
            &scope,
            &roles::assignment_name(&scope, principal_id, &definition),
        )
    }
}

/// A known, non-null string attribute.
fn known_str<'a>(v: &'a Value, attr: &str) -> Option<&'a str> {
    v.get(attr).and_then(Value::as_str)
}

fn opt_string(s: Option<&str>) -> Value {
    s.map_or(Value::Null, Value::string)
}

fn subnet_id(vnet: &ResourceId, subnet_name: &str) -> ResourceId {
    ResourceId::subnet(
        vnet.subscription_id(),
        vnet.resource_group_name().unwrap_or_default(),
        vnet.name(),
        subnet_name,
    )
}

/// The operation's timeout from the `timeouts` block, else the default. Cluster updates take minutes on
/// Azure, hence the generous defaults.
fn timeout(state: &Value, operation: &str) -> Duration {
    let default = if operation == "read" { 5 * 60 } else { 45 * 60 };
    state
        .get("timeouts")
        .and_then(|t| known_str(t, operation))
        .and_then(|text| parse_duration(text).ok())
        .unwrap_or(Duration::from_secs(default))
}

/// An ARM failure as a diagnostic; running out of time or being interrupted says what to do next.
fn arm_error(what: &str, err: &ArmError) -> Diagnostic {
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

/// The computed values that are the same for every virtual node: what a Deployment needs to land on it.
fn node_name() -> Value {
    Value::string(NODE_NAME)
}

fn node_selector() -> Value {
    Value::map([
        ("type", Value::string("virtual-kubelet")),
        ("kubernetes.io/os", Value::string("linux")),
    ])
}

fn tolerations() -> Value {
    let toleration = |key: &str, effect: Option<&str>| {
        Value::object([
            ("key", Value::string(key)),
            ("operator", Value::string("Exists")),
            ("value", Value::Null),
            ("effect", opt_string(effect)),
        ])
    };
    Value::list([
        toleration(TAINT_KEY, None),
        toleration("azure.com/aci", Some("NoSchedule")),
    ])
}

fn toleration_type() -> Type {
    Type::object([
        ("key", Type::String),
        ("operator", Type::String),
        ("value", Type::String),
        ("effect", Type::String),
    ])
}

fn identity_type() -> Type {
    Type::object([("client_id", Type::String), ("object_id", Type::String)])
}

// ---- schema ----------------------------------------------------------------------------------------------

pub fn schema() -> Schema {
    let timeouts = ["create", "read", "update", "delete"].iter().fold(
        Block::new("How long each operation may take, as Terraform durations (`30m`, `1h`)."),
        |block, op| {
            block.attribute(
                Attribute::optional(op, Type::String)
                    .describe(format!("Time allowed for {op}; default 45m (read: 5m).")),
            )
        },
    );
    let block = Block::new(
        "An AKS virtual node: a subnet delegated to Azure Container Instances, the role the ACI connector \
         needs on it, and the cluster's `aciConnectorLinux` add-on pointed at it, so pods can burst into ACI \
         when the cluster's nodes are full.",
    )
    .attribute(
        Attribute::required("virtual_network_id", Type::String)
            .describe("ID of the virtual network the subnet is created in; the cluster's agent pools must use this VNet. Changing it creates a new virtual node."),
    )
    .attribute(
        Attribute::required("subnet_name", Type::String)
            .describe("Name of the subnet for the virtual node. Changing it creates a new virtual node."),
    )
    .attribute(
        Attribute::required("address_prefix", Type::String)
            .describe("IPv4 CIDR of the subnet, a /29 or larger, inside the VNet's address space and overlapping no other subnet (checked at plan time). Changing it creates a new virtual node."),
    )
    .attribute(
        Attribute::optional("cluster_id", Type::String)
            .describe("ID of the AKS managed cluster whose virtual-node add-on uses the subnet. The cluster must use Azure CNI. Without it only the subnet and the role assignment are made (e.g. for a self-managed virtual kubelet)."),
    )
    .attribute(
        Attribute::optional_computed("principal_id", Type::String)
            .describe("Object ID of the identity granted `role`. Default: the cluster's managed identity, read from `cluster_id`."),
    )
    .attribute(
        Attribute::optional_computed("role", Type::String)
            .describe("`Network Contributor` (default, on the subnet only) or `Contributor` (on the whole VNet, as the classic instructions do)."),
    )
    .attribute(
        Attribute::optional_computed("os_type", Type::String)
            .describe("Operating system of the virtual node; only `Linux` is supported by the AKS add-on."),
    )
    .attribute(Attribute::computed("subnet_id", Type::String).describe("ID of the delegated subnet; the import ID."))
    .attribute(
        Attribute::computed("delegation_name", Type::String)
            .describe("Name of the subnet's delegation to `Microsoft.ContainerInstance/containerGroups`."),
    )
    .attribute(Attribute::computed("role_assignment_id", Type::String).describe("ID of the role assignment."))
    .attribute(
        Attribute::computed("connector_identity", identity_type())
            .describe("The ACI connector's managed identity (`client_id`, `object_id`) when the cluster reports one, to grant it further roles."),
    )
    .attribute(
        Attribute::computed("node_name", Type::String)
            .describe("Kubernetes node name of the virtual node (`virtual-node-aci-linux`)."),
    )
    .attribute(
        Attribute::computed("node_selector", Type::map(Type::String))
            .describe("Node selector that schedules a pod on the virtual node."),
    )
    .attribute(
        Attribute::computed("tolerations", Type::list(toleration_type()))
            .describe("Tolerations (`key`, `operator`, `value`, `effect`) a pod needs to run on the virtual node."),
    )
    .attribute(
        Attribute::computed("taint", Type::String)
            .describe("The taint the virtual node carries (`virtual-kubelet.io/provider=azure:NoSchedule`)."),
    )
    .block(NestedBlock::new("timeouts", Nesting::Single, timeouts));
    Schema::new(0, block)
}

// ---- validate --------------------------------------------------------------------------------------------

/// Longest prefix Azure accepts for a subnet: a /29 leaves 3 usable addresses after Azure's 5.
const MAX_SUBNET_PREFIX_LEN: u8 = 29;

pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if let Some(id) = known_str(config, "virtual_network_id") {
        if let Err(e) = ResourceId::parse_as(id, ResourceKind::VirtualNetwork) {
            diags.push(
                Diagnostic::error(
                    "Invalid virtual_network_id",
                    format!("{e}. Use the VNet's ID, e.g. azurerm_virtual_network.x.id."),
                )
                .at(AttributePath::of("virtual_network_id")),
            );
        }
    }
    if let Some(id) = known_str(config, "cluster_id") {
        if let Err(e) = ResourceId::parse_as(id, ResourceKind::ManagedCluster) {
            diags.push(
                Diagnostic::error(
                    "Invalid cluster_id",
                    format!("{e}. Use the AKS cluster's ID, e.g. azurerm_kubernetes_cluster.x.id."),
                )
                .at(AttributePath::of("cluster_id")),
            );
        }
    }
    if let Some(name) = known_str(config, "subnet_name") {
        if name.is_empty() || name.len() > 80 || name.contains(['/', '\\', '?', '#', '%']) {
            diags.push(
                Diagnostic::error(
                    "Invalid subnet_name",
                    format!(
                        "{name:?} is not a subnet name: use 1 to 80 characters without / \\ ? # %."
                    ),
                )
                .at(AttributePath::of("subnet_name")),
            );
        }
    }
    if let Some(prefix) = known_str(config, "address_prefix") {
        match prefix.parse::<Ipv4Cidr>() {
            Err(e) => diags.push(
                Diagnostic::error(
                    "Invalid address_prefix",
                    format!("{e}; set address_prefix to an IPv4 network such as \"10.0.16.0/24\"."),
                )
                .at(AttributePath::of("address_prefix")),
            ),
            Ok(cidr) if cidr.prefix_len() > MAX_SUBNET_PREFIX_LEN => diags.push(
                Diagnostic::error(
                    "address_prefix is too small",
                    format!(
                        "{cidr} is smaller than Azure's smallest subnet, a /{MAX_SUBNET_PREFIX_LEN} (Azure reserves 5 \
                         addresses in each subnet, https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq); \
                         use a /{MAX_SUBNET_PREFIX_LEN} or larger, and size it for the container groups you expect."
                    ),
                )
                .at(AttributePath::of("address_prefix")),
            ),
            Ok(_) => {}
        }
    }
    if let Some(principal) = known_str(config, "principal_id") {
        if uuid::Uuid::try_parse(principal).is_err() {
            diags.push(
                Diagnostic::error(
                    "Invalid principal_id",
                    format!("{principal:?} is not an object ID: set principal_id to the identity's object (principal) ID, a UUID."),
                )
                .at(AttributePath::of("principal_id")),
            );
        }
    }
    if let Some(role) = known_str(config, "role") {
        if Role::parse(role).is_none() {
            diags.push(
                Diagnostic::error(
                    "Invalid role",
                    format!("role {role:?} is not supported: use \"Network Contributor\" (on the subnet) or \"Contributor\" (on the VNet)."),
                )
                .at(AttributePath::of("role")),
            );
        }
    }
    if let Some(os) = known_str(config, "os_type") {
        if !os.eq_ignore_ascii_case("Linux") {
            diags.push(
                Diagnostic::error(
                    "Unsupported os_type",
                    format!("os_type {os:?}: the AKS virtual-node add-on runs Linux pods only; set os_type = \"Linux\" or leave it out."),
                )
                .at(AttributePath::of("os_type")),
            );
        }
    }
    if let Some(timeouts) = config.get("timeouts") {
        for op in ["create", "read", "update", "delete"] {
            if let Some(text) = known_str(timeouts, op) {
                if let Err(problem) = parse_duration(text) {
                    diags.push(
                        Diagnostic::error("Invalid timeout", problem)
                            .at(AttributePath::of("timeouts").attr(op)),
                    );
                }
            }
        }
    }
    diags
}

/// The subnet size check above, kept beside it.
#[cfg(test)]
mod prefix_size_tests {
    use super::*;

    fn flagged(prefix: &str) -> Vec<String> {
        validate(&Value::object([("address_prefix", Value::string(prefix))]))
            .iter()
            .filter(|d| d.attribute == Some(AttributePath::of("address_prefix")))
            .map(|d| d.detail.clone())
            .collect()
    }

    #[test]
    fn a_prefix_smaller_than_azures_smallest_subnet_is_refused() {
        let details = flagged("10.0.16.0/30");
        assert!(
            details.len() == 1 && details[0].contains("/29 or larger"),
            "{details:?}"
        );
        assert!(flagged("10.0.16.0/29").is_empty());
        assert!(flagged("10.0.16.0/24").is_empty());
    }
}

// ---- plan ------------------------------------------------------------------------------------------------

/// The principal of the cluster's own managed identity (system- or user-assigned), which the classic
/// virtual-node instructions grant the role to.
fn cluster_principal(cluster: &ManagedCluster) -> Option<String> {
    let identity = cluster.extra.get("identity")?;
    identity
        .get("principalId")
        .and_then(Json::as_str)
        .or_else(|| {
            identity
                .get("userAssignedIdentities")
                .and_then(Json::as_object)
                .and_then(|ids| {
                    ids.values()
                        .find_map(|v| v.get("principalId").and_then(Json::as_str))
                })
        })
        .map(str::to_string)
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

/// Reads the cluster for planning: its default principal, after checking the add-on can run on it.
async fn plan_cluster(
    arm: &ArmClient,
    op: &Ctx,
    cluster_id: &str,
) -> Result<Option<String>, Diagnostic> {
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
    Ok(cluster_principal(&resp.body))
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
async fn plan_prefix(
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

impl VirtualNode {
    async fn plan(&self, ctx: &Context, request: PlanRequest) -> PlanResponse {
        let mut response = PlanResponse {
            planned_state: Value::Null,
            requires_replace: Vec::new(),
            planned_private: request.prior_private.clone(),
            diagnostics: Diagnostics::new(),
        };
        // Destroy: nothing to plan but the absence.
        let Value::Object(mut planned) = request.proposed_new_state else {
            return response;
        };
        let prior = &request.prior_state;
        let config = &request.config;
        if planned.get("role").is_some_and(Value::is_null) {
            planned.insert("role".into(), Value::string(Role::DEFAULT.name()));
        }
        if planned.get("os_type").is_some_and(Value::is_null) {
            planned.insert("os_type".into(), Value::string("Linux"));
        }
        planned.insert("node_name".into(), node_name());
        planned.insert("node_selector".into(), node_selector());
        planned.insert("tolerations".into(), tolerations());
        planned.insert("taint".into(), Value::string(TAINT));

        let state = Value::Object(planned.clone());
        let vnet = known_str(&state, "virtual_network_id")
            .and_then(|id| ResourceId::parse_as(id, ResourceKind::VirtualNetwork).ok());
        let subnet = vnet
            .as_ref()
            .zip(known_str(&state, "subnet_name"))
            .map(|(vnet, name)| subnet_id(vnet, name));
        planned.insert(
            "subnet_id".into(),
            subnet
                .as_ref()
                .map_or_else(Value::unknown, |s| Value::string(s.to_string())),
        );

        let cluster = state.get("cluster_id").cloned().unwrap_or(Value::Null);
        let prior_cluster = prior.get("cluster_id").cloned().unwrap_or(Value::Null);
        let mut derived_principal = None;
        if let Ok(arm) = ctx.arm() {
            let op = ctx.operation(timeout(&state, "read"));
            if let Some(cluster_id) = cluster.as_str() {
                match plan_cluster(arm, &op, cluster_id).await {
                    Ok(p) => derived_principal = p,
                    Err(d) => response.diagnostics.push(d),
                }
            }
            let prefix = known_str(&state, "address_prefix").and_then(|p| p.parse().ok());
            if let (Some(vnet), Some(name), Some(prefix)) =
                (&vnet, known_str(&state, "subnet_name"), prefix)
            {
                if let Err(d) = plan_prefix(arm, &op, vnet, name, prefix).await {
                    response.diagnostics.push(d);
                }
            }
        }

        // principal_id left out follows the cluster: kept while the cluster stays, derived again when it
        // changes, unknown while the cluster's ID is.
        let principal_configured = config.get("principal_id").is_some_and(|p| !p.is_null());
        let cluster_changed = !prior.is_null() && prior_cluster != cluster;
        if !principal_configured
            && (state.get("principal_id").is_none_or(Value::is_null) || cluster_changed)
        {
            let principal = if !cluster.is_known() {
                Value::unknown()
            } else if cluster.is_null() {
                response.diagnostics.push(
                    Diagnostic::error(
                        "No principal to grant the role to",
                        "Without cluster_id there is no cluster identity to default to: set principal_id to the \
                         object ID of the identity that runs the virtual kubelet, or set cluster_id.",
                    )
                    .at(AttributePath::of("principal_id")),
                );
                Value::Null
            } else {
                derived_principal.map_or_else(Value::unknown, Value::string)
            };
            planned.insert("principal_id".into(), principal);
        }

        // The assignment ID is known only after apply, because an existing assignment of the same role may be
        // adopted under its own name; it stays as it is while scope, principal and role stay.
        let assignment_inputs = ["virtual_network_id", "subnet_name", "principal_id", "role"];
        let same_assignment = !prior.is_null()
            && assignment_inputs
                .iter()
                .all(|a| prior.get(a) == planned.get(*a))
            && prior
                .get("role_assignment_id")
                .is_some_and(|v| !v.is_null());
        if !same_assignment {
            planned.insert("role_assignment_id".into(), Value::unknown());
        }
        // An adopted subnet keeps its own delegation's name, so that too is known only after create.
        if prior.get("delegation_name").is_none_or(Value::is_null) {
            planned.insert("delegation_name".into(), Value::unknown());
        }
        let identity = if cluster.is_null() {
            Value::Null
        } else if !prior.is_null() && prior_cluster == cluster {
            prior
                .get("connector_identity")
                .cloned()
                .unwrap_or(Value::Null)
        } else {
            Value::unknown()
        };
        planned.insert("connector_identity".into(), identity);

        if !prior.is_null() {
            response.requires_replace = INPUTS_REPLACING
                .iter()
                .filter(|a| prior.get(a) != planned.get(**a))
                .map(|a| AttributePath::of(*a))
                .collect();
        }
        response.planned_state = Value::Object(planned);
        response
    }
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

/// The inputs of a planned state that apply needs, all known by then.
struct Spec {
    subnet: ResourceId,
    prefix: Ipv4Cidr,
    cluster: Option<ResourceId>,
    principal_id: Option<String>,
    role: Role,
}

impl Spec {
    fn from_state(state: &Value) -> Result<Spec, Diagnostic> {
        let bad = |attr: &str, why: String| {
            Diagnostic::error(format!("Invalid {attr}"), why).at(AttributePath::of(attr))
        };
        let vnet = ResourceId::parse_as(
            known_str(state, "virtual_network_id").unwrap_or_default(),
            ResourceKind::VirtualNetwork,
        )
        .map_err(|e| bad("virtual_network_id", e.to_string()))?;
        let name = known_str(state, "subnet_name")
            .ok_or_else(|| bad("subnet_name", "it is not known".into()))?;
        let prefix = known_str(state, "address_prefix")
            .unwrap_or_default()
            .parse()
            .map_err(|e: crate::arm::cidr::CidrError| bad("address_prefix", e.to_string()))?;
        let cluster = known_str(state, "cluster_id")
            .map(|c| ResourceId::parse_as(c, ResourceKind::ManagedCluster))
            .transpose()
            .map_err(|e| bad("cluster_id", e.to_string()))?;
        let role = known_str(state, "role")
            .and_then(Role::parse)
            .unwrap_or(Role::DEFAULT);
        Ok(Spec {
            subnet: subnet_id(&vnet, name),
            prefix,
            cluster,
            principal_id: known_str(state, "principal_id").map(str::to_string),
            role,
        })
    }
}

/// Brings Azure to the planned state: subnet, role, add-on; then removes what the prior state had that the
/// plan no longer has (another role assignment, the add-on on another cluster). `claimed` as for
/// [`ensure_subnet`].
async fn converge(
    arm: &ArmClient,
    op: &Ctx,
    prior: &Value,
    planned: &mut Value,
    claimed: &mut bool,
) -> Result<(), Diagnostic> {
    let spec = Spec::from_state(planned)?;
    let subnet_name = spec.subnet.name().to_string();
    ensure_subnet(arm, op, &spec.subnet, spec.prefix, prior.is_null(), claimed).await?;

    let principal = match (&spec.principal_id, &spec.cluster) {
        (Some(p), _) => p.clone(),
        (None, Some(cluster)) => {
            let found = arm.read::<ManagedCluster>(op, cluster).await.map_err(|e| {
                arm_error("read the AKS cluster", &e).at(AttributePath::of("cluster_id"))
            })?;
            found.and_then(|c| cluster_principal(&c.body)).ok_or_else(|| {
                Diagnostic::error(
                    "The cluster has no managed identity",
                    format!("{cluster} reports no identity principal: set principal_id to the object ID of its service principal."),
                )
                .at(AttributePath::of("principal_id"))
            })?
        }
        (None, None) => {
            return Err(Diagnostic::error(
                "No principal to grant the role to",
                "Set principal_id or cluster_id.",
            )
            .at(AttributePath::of("principal_id")))
        }
    };
    if let Value::Object(attrs) = planned {
        attrs.insert("principal_id".into(), Value::string(principal.clone()));
    }
    let assignment = match known_str(planned, "role_assignment_id") {
        // Kept from the prior state: an adopted assignment keeps its own name.
        Some(id) => match ResourceId::parse(id) {
            Ok(id)
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
        },
        None => ensure_role(arm, op, &spec.subnet, spec.role, &principal).await?,
    };
    if let Value::Object(attrs) = planned {
        attrs.insert(
            "role_assignment_id".into(),
            Value::string(assignment.to_string()),
        );
    }
    if let Some(old) =
        known_str(prior, "role_assignment_id").and_then(|id| ResourceId::parse(id).ok())
    {
        if old != assignment {
            arm.remove::<RoleAssignment>(op, &old)
                .await
                .map_err(|e| arm_error("remove the previous role assignment", &e))?;
        }
    }

    let old_cluster = known_str(prior, "cluster_id").and_then(|c| ResourceId::parse(c).ok());
    if let Some(old) = old_cluster.filter(|old| spec.cluster.as_ref() != Some(old)) {
        set_addon(arm, op, &old, &subnet_name, false).await?;
    }
    if let Some(cluster) = &spec.cluster {
        set_addon(arm, op, cluster, &subnet_name, true).await?;
    }
    Ok(())
}

// ---- read ------------------------------------------------------------------------------------------------

/// What exists in Azure for the virtual node described by `base` (its inputs), as a state; Null when the
/// subnet is gone. A missing delegation, role assignment or add-on shows as a null attribute, which the next
/// plan turns into an in-place update that puts it back.
async fn observe(arm: &ArmClient, op: &Ctx, base: &Value) -> Result<Value, Diagnostic> {
    let vnet = ResourceId::parse_as(
        known_str(base, "virtual_network_id").unwrap_or_default(),
        ResourceKind::VirtualNetwork,
    )
    .map_err(|e| Diagnostic::error("Invalid virtual_network_id in state", e.to_string()))?;
    let subnet_name = known_str(base, "subnet_name").unwrap_or_default();
    let subnet = subnet_id(&vnet, subnet_name);
    let Some(found) = arm
        .get_optional::<Json>(op, &subnet.to_string(), NETWORK_API_VERSION)
        .await
        .map_err(|e| arm_error("read the subnet", &e))?
    else {
        return Ok(Value::Null);
    };
    let props = found.body.get("properties").cloned().unwrap_or(Json::Null);
    // The configuration's spelling is kept while it means the same network, as Terraform requires.
    let prefix = prefixes(&props, "addressPrefix", "addressPrefixes")
        .first()
        .map(|found| {
            known_str(base, "address_prefix")
                .filter(|p| p.parse::<Ipv4Cidr>().is_ok_and(|p| p == *found))
                .map_or_else(|| found.to_string(), str::to_string)
        });
    let delegation = props
        .get("delegations")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|d| is_aci_delegation(d))
        .and_then(|d| d.get("name").and_then(Json::as_str));

    let role = known_str(base, "role")
        .and_then(Role::parse)
        .unwrap_or(Role::DEFAULT);
    let principal = known_str(base, "principal_id");
    let candidate = known_str(base, "role_assignment_id")
        .and_then(|id| ResourceId::parse(id).ok())
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
    let mut identity = Value::Null;
    if let Some(id) = known_str(base, "cluster_id")
        .and_then(|c| ResourceId::parse_as(c, ResourceKind::ManagedCluster).ok())
    {
        let cluster = arm
            .read::<ManagedCluster>(op, &id)
            .await
            .map_err(|e| arm_error("read the AKS cluster", &e))?;
        if let Some(cluster) = cluster {
            if addon_subnet(&cluster.body).is_some_and(|s| s.eq_ignore_ascii_case(subnet_name)) {
                cluster_id = known_str(base, "cluster_id").map(str::to_string);
                identity = addon_profile(&cluster.body)
                    .and_then(|(_, p)| p.get("identity"))
                    .and_then(|i| {
                        Some((i.get("clientId")?.as_str()?, i.get("objectId")?.as_str()?))
                    })
                    .map_or(Value::Null, |(client, object)| {
                        Value::object([
                            ("client_id", Value::string(client)),
                            ("object_id", Value::string(object)),
                        ])
                    });
            }
        }
    }

    Ok(Value::object([
        (
            "virtual_network_id",
            opt_string(known_str(base, "virtual_network_id")),
        ),
        ("subnet_name", Value::string(subnet_name)),
        ("address_prefix", opt_string(prefix.as_deref())),
        ("cluster_id", opt_string(cluster_id.as_deref())),
        ("principal_id", opt_string(principal)),
        ("role", Value::string(role.name())),
        (
            "os_type",
            Value::string(known_str(base, "os_type").unwrap_or("Linux")),
        ),
        ("subnet_id", Value::string(subnet.to_string())),
        ("delegation_name", opt_string(delegation)),
        ("role_assignment_id", opt_string(assignment.as_deref())),
        ("connector_identity", identity),
        ("node_name", node_name()),
        ("node_selector", node_selector()),
        ("tolerations", tolerations()),
        ("taint", Value::string(TAINT)),
        (
            "timeouts",
            base.get("timeouts").cloned().unwrap_or(Value::Null),
        ),
    ]))
}

/// The state after a failed apply: what Azure holds, read with a short bound of its own, because the
/// operation's may have run out or been cancelled by StopProvider. If even that fails, `fallback`.
async fn salvage(arm: &ArmClient, base: &Value, fallback: Value) -> Value {
    let op = Ctx::new(CancellationToken::new(), Duration::from_secs(60));
    observe(arm, &op, base).await.unwrap_or(fallback)
}

// ---- delete ----------------------------------------------------------------------------------------------

/// Disables the add-on, removes the role assignment, ACI's service association link and the subnet (with its
/// delegation). Returns the state of what is left when a step fails.
async fn destroy(arm: &ArmClient, op: &Ctx, prior: &Value) -> Result<(), (Value, Diagnostic)> {
    let mut left = prior.clone();
    let forget = |state: &mut Value, attr: &str| {
        if let Value::Object(attrs) = state {
            attrs.insert(attr.to_string(), Value::Null);
        }
    };
    let subnet_name = known_str(prior, "subnet_name")
        .unwrap_or_default()
        .to_string();
    if let Some(cluster) = known_str(prior, "cluster_id").and_then(|c| ResourceId::parse(c).ok()) {
        set_addon(arm, op, &cluster, &subnet_name, false)
            .await
            .map_err(|d| (left.clone(), d))?;
        forget(&mut left, "cluster_id");
        forget(&mut left, "connector_identity");
    }
    if let Some(role) =
        known_str(prior, "role_assignment_id").and_then(|r| ResourceId::parse(r).ok())
    {
        arm.remove::<RoleAssignment>(op, &role)
            .await
            .map_err(|e| (left.clone(), arm_error("remove the role assignment", &e)))?;
        forget(&mut left, "role_assignment_id");
    }
    if let Some(subnet) = known_str(prior, "subnet_id") {
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
/// association link, the principal from the cluster, the role from whichever deterministic assignment exists.
async fn recover(arm: &ArmClient, op: &Ctx, id: &str) -> Result<Value, Diagnostic> {
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
        principal = body.and_then(|c| cluster_principal(&c.body));
    }
    let mut role = Role::DEFAULT;
    if let Some(p) = &principal {
        for candidate in [Role::NetworkContributor, Role::Contributor] {
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
    Ok(Value::object([
        ("virtual_network_id", Value::string(vnet.to_string())),
        ("subnet_name", Value::string(subnet.name())),
        (
            "cluster_id",
            cluster.map_or(Value::Null, |c| Value::string(c.to_string())),
        ),
        ("principal_id", opt_string(principal.as_deref())),
        ("role", Value::string(role.name())),
        ("os_type", Value::string("Linux")),
    ]))
}

// ---- the Resource implementation -------------------------------------------------------------------------

impl Resource<Context> for VirtualNode {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, _client: ClientCapabilities) -> Diagnostics {
        validate(config)
    }

    fn plan<'a>(&'a self, ctx: &'a Context, request: PlanRequest) -> BoxFuture<'a, PlanResponse> {
        Box::pin(VirtualNode::plan(self, ctx, request))
    }

    fn apply<'a>(
        &'a self,
        ctx: &'a Context,
        request: ApplyRequest,
    ) -> BoxFuture<'a, ApplyResponse> {
        Box::pin(async move {
            let prior = request.prior_state;
            let mut planned = request.planned_state;
            let mut response = ApplyResponse {
                new_state: prior.clone(),
                private: request.planned_private,
                diagnostics: Diagnostics::new(),
            };
            let arm = match ctx.arm() {
                Ok(arm) => arm,
                Err(d) => {
                    response.diagnostics.push(d);
                    return response;
                }
            };
            if planned.is_null() {
                let op = ctx.operation(timeout(&prior, "delete"));
                match destroy(arm, &op, &prior).await {
                    Ok(()) => response.new_state = Value::Null,
                    Err((left, d)) => {
                        response.new_state = left;
                        response.diagnostics.push(d);
                    }
                }
                return response;
            }
            let operation = if prior.is_null() { "create" } else { "update" };
            let op = ctx.operation(timeout(&planned, operation));
            // A create that stopped before the subnet was ours leaves nothing in state: a subnet of that name
            // that we refused to adopt belongs to someone else, and a later destroy must not touch it.
            let mut claimed = !prior.is_null();
            let result = converge(arm, &op, &prior, &mut planned, &mut claimed).await;
            let fallback = if prior.is_null() {
                Value::Null
            } else {
                prior.clone()
            };
            match result {
                Ok(()) => match observe(arm, &op, &planned).await {
                    Ok(state) if !state.is_null() => response.new_state = state,
                    Ok(_) => response.diagnostics.push(Diagnostic::error(
                        "The subnet disappeared",
                        "The virtual node's subnet was deleted while it was being set up; apply again.",
                    )),
                    Err(d) => {
                        response.new_state = salvage(arm, &planned, fallback).await;
                        response.diagnostics.push(d);
                    }
                },
                Err(d) if claimed => {
                    response.new_state = salvage(arm, &planned, fallback).await;
                    response.diagnostics.push(d);
                }
                Err(d) => {
                    response.new_state = fallback;
                    response.diagnostics.push(d);
                }
            }
            response
        })
    }

    fn read<'a>(&'a self, ctx: &'a Context, request: ReadRequest) -> BoxFuture<'a, ReadResponse> {
        Box::pin(async move {
            let mut response = ReadResponse {
                new_state: request.current_state.clone(),
                private: request.private,
                diagnostics: Diagnostics::new(),
            };
            let arm = match ctx.arm() {
                Ok(arm) => arm,
                Err(d) => {
                    response.diagnostics.push(d);
                    return response;
                }
            };
            let op = ctx.operation(timeout(&request.current_state, "read"));
            match observe(arm, &op, &request.current_state).await {
                Ok(state) => response.new_state = state,
                Err(d) => response.diagnostics.push(d),
            }
            response
        })
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: &'a str) -> BoxFuture<'a, ImportResponse> {
        Box::pin(async move {
            let mut response = ImportResponse {
                imported: Vec::new(),
                diagnostics: Diagnostics::new(),
            };
            let arm = match ctx.arm() {
                Ok(arm) => arm,
                Err(d) => {
                    response.diagnostics.push(d);
                    return response;
                }
            };
            let op = ctx.operation(Duration::from_secs(5 * 60));
            let state = match recover(arm, &op, id).await {
                Ok(base) => observe(arm, &op, &base).await,
                Err(d) => Err(d),
            };
            match state {
                Ok(state) if !state.is_null() => response.imported.push(ImportedResource {
                    type_name: TYPE_NAME.to_string(),
                    state,
                    private: Vec::new(),
                }),
                Ok(_) => response.diagnostics.push(Diagnostic::error(
                    "Cannot import",
                    format!("subnet {id} does not exist"),
                )),
                Err(d) => response.diagnostics.push(d),
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::resources::context::Unconfigured;

    const VNET: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v";

    /// A configuration as Terraform sends it: every attribute present, computed ones null.
    fn config(cluster: Value, principal: Value) -> Value {
        let block = schema().block;
        let names = block.attributes.iter().map(|a| a.name.clone());
        let blocks = block.blocks.iter().map(|b| b.type_name.clone());
        let mut attrs: std::collections::BTreeMap<String, Value> =
            names.chain(blocks).map(|k| (k, Value::Null)).collect();
        attrs.insert("virtual_network_id".into(), Value::string(VNET));
        attrs.insert("subnet_name".into(), Value::string("aci"));
        attrs.insert("address_prefix".into(), Value::string("10.0.16.0/24"));
        attrs.insert("cluster_id".into(), cluster);
        attrs.insert("principal_id".into(), principal);
        Value::Object(attrs)
    }

    fn plan_request(prior: Value, config: Value, proposed: Value) -> PlanRequest {
        PlanRequest {
            type_name: TYPE_NAME.into(),
            prior_state: prior,
            proposed_new_state: proposed,
            config,
            prior_private: Vec::new(),
            client: ClientCapabilities::default(),
        }
    }

    fn run_plan(request: PlanRequest) -> PlanResponse {
        let ctx = Context::new(Err(Unconfigured::NotYet), CancellationToken::new(), false);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(VirtualNode.plan(&ctx, request))
    }

    #[test]
    fn create_plans_the_outputs_and_leaves_what_apply_decides_unknown() {
        let cluster = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/k";
        let config = config(Value::string(cluster), Value::Null);
        let plan = run_plan(plan_request(Value::Null, config.clone(), config));
        assert!(!plan.diagnostics.has_errors(), "{:?}", plan.diagnostics);
        let planned = &plan.planned_state;
        assert_eq!(
            known_str(planned, "subnet_id"),
            Some(format!("{VNET}/subnets/aci").as_str())
        );
        assert_eq!(known_str(planned, "role"), Some("Network Contributor"));
        assert_eq!(known_str(planned, "os_type"), Some("Linux"));
        assert_eq!(known_str(planned, "node_name"), Some(NODE_NAME));
        assert_eq!(planned.get("node_selector"), Some(&node_selector()));
        for attr in [
            "principal_id",
            "role_assignment_id",
            "delegation_name",
            "connector_identity",
        ] {
            assert_eq!(planned.get(attr), Some(&Value::unknown()), "{attr}");
        }
        assert!(plan.requires_replace.is_empty());
    }

    #[test]
    fn a_second_plan_over_the_applied_state_changes_nothing() {
        let config = config(
            Value::Null,
            Value::string("0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"),
        );
        let Value::Object(mut state) = config.clone() else {
            unreachable!("an object")
        };
        for (attr, value) in [
            ("role", Value::string("Network Contributor")),
            ("os_type", Value::string("Linux")),
            ("subnet_id", Value::string(format!("{VNET}/subnets/aci"))),
            ("delegation_name", Value::string("legacy-aci")),
            (
                "role_assignment_id",
                Value::string(format!(
                    "{VNET}/subnets/aci/providers/Microsoft.Authorization/roleAssignments/x"
                )),
            ),
            ("node_name", node_name()),
            ("node_selector", node_selector()),
            ("tolerations", tolerations()),
            ("taint", Value::string(TAINT)),
        ] {
            state.insert(attr.into(), value);
        }
        let state = Value::Object(state);
        let plan = run_plan(plan_request(state.clone(), config, state.clone()));
        assert!(!plan.diagnostics.has_errors(), "{:?}", plan.diagnostics);
        assert_eq!(plan.planned_state, state);
        assert!(plan.requires_replace.is_empty());
    }

    #[test]
    fn a_new_prefix_replaces_and_destroy_plans_nothing() {
        let config = config(
            Value::Null,
            Value::string("0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"),
        );
        let prior =
            run_plan(plan_request(Value::Null, config.clone(), config.clone())).planned_state;
        let Value::Object(mut moved) = config.clone() else {
            unreachable!("an object")
        };
        moved.insert("address_prefix".into(), Value::string("10.0.17.0/24"));
        let plan = run_plan(plan_request(prior.clone(), config, Value::Object(moved)));
        assert_eq!(
            plan.requires_replace,
            vec![AttributePath::of("address_prefix")]
        );
        let destroy = run_plan(plan_request(prior, Value::Null, Value::Null));
        assert!(destroy.planned_state.is_null());
    }

    #[test]
    fn without_a_cluster_the_principal_must_be_given() {
        let config = config(Value::Null, Value::Null);
        let plan = run_plan(plan_request(Value::Null, config.clone(), config));
        let errors: Vec<_> = plan
            .diagnostics
            .iter()
            .filter_map(|d| d.attribute.clone())
            .collect();
        assert_eq!(errors, vec![AttributePath::of("principal_id")]);
    }

    #[test]
    fn the_default_role_is_network_contributor_on_the_subnet_and_contributor_is_on_the_vnet() {
        let subnet = ResourceId::subnet("s", "g", "v", "aci");
        let nc = Role::parse("network contributor").unwrap();
        assert_eq!(nc, Role::DEFAULT);
        assert_eq!(nc.scope(&subnet), subnet);
        assert_eq!(
            nc.definition_id("s"),
            "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"
        );
        let c = Role::parse("Contributor").unwrap();
        assert_eq!(c.scope(&subnet), ResourceId::virtual_network("s", "g", "v"));
        assert!(c
            .definition_id("s")
            .ends_with("b24988ac-6180-42a0-ab88-20f7382dd24c"));
        assert_eq!(
            nc.assignment_id(&subnet, "p"),
            nc.assignment_id(&subnet, "P")
        );
        assert_ne!(
            nc.assignment_id(&subnet, "p"),
            c.assignment_id(&subnet, "p")
        );
        assert_eq!(Role::parse("Owner"), None);
    }

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

    #[test]
    fn validation_names_the_attribute_to_fix() {
        let config = Value::object([
            (
                "virtual_network_id",
                Value::string("/subscriptions/s/resourceGroups/g"),
            ),
            ("address_prefix", Value::string("10.0.16.1/24")),
            ("role", Value::string("Owner")),
            ("os_type", Value::string("Windows")),
            ("principal_id", Value::unknown()),
        ]);
        let diags = validate(&config);
        let paths: Vec<_> = diags.iter().filter_map(|d| d.attribute.clone()).collect();
        assert_eq!(
            paths,
            vec![
                AttributePath::of("virtual_network_id"),
                AttributePath::of("address_prefix"),
                AttributePath::of("role"),
                AttributePath::of("os_type")
            ]
        );
        assert!(diags.iter().any(|d| d.detail.contains("10.0.16.0/24")));
    }
}
