//! `largek8s_virtual_node`: a subnet delegated to Azure Container Instances, the role the ACI connector needs
//! on it, and the AKS virtual-node add-on (`aciConnectorLinux`) pointed at it, so pods can burst into ACI
//! (<https://learn.microsoft.com/azure/aks/virtual-nodes-cli>). In Terraform's order: schema, validate, plan,
//! apply (create, update, delete), read, import.
//!
//! DESIGN
//! - Owns in Azure: the subnet `<virtual_network_id>/subnets/<subnet_name>` with its delegation to
//!   `Microsoft.ContainerInstance/containerGroups` (named `aci-delegation`, or the adopted subnet's own name),
//!   one role assignment, and the `aciConnectorLinux` entry of the cluster's `addonProfiles`. The rest of the
//!   cluster is read and written back untouched; the VNet is only read. The add-on's identity
//!   (`aciconnectorlinux-<cluster>` in the node resource group) is AKS's: it is only read, as
//!   `connector_identity`.
//! - Names: the subnet is the one configured, and its ID is the import ID. The role assignment's name is a
//!   UUID derived from (scope, principal, role), so a retried create PUTs the same assignment; an assignment
//!   of the same role to the same principal under another name is adopted. Nothing carries tags: a subnet is
//!   adopted only when it is empty, of the same prefix and delegated to nothing else.
//! - The role goes to whom the ACI connector runs as, as `az aks enable-addons --addons virtual-node` grants it
//!   (azure-cli, acs module, `_add_virtual_node_role_assignment`): the identity AKS makes for the add-on
//!   (`addonProfiles.aciConnectorLinux.identity.objectId`), or for a cluster that still runs as a service
//!   principal, that principal, whose object ID the configuration must give.
//! - Order of calls: plan reads the cluster (CNI check, whom the connector runs as) and the VNet (prefix inside
//!   the address space, no overlap). Create and update: subnet -> add-on (a read-modify-write of the cluster
//!   with If-Match) -> role, since the add-on's identity exists only once the add-on is enabled; then the prior
//!   role assignment or the prior cluster's add-on are removed. Delete: role -> add-on -> ACI's service
//!   association link -> subnet. A step that fails leaves in state what exists.
//!
//! `spec` decodes the attributes, `validate` checks a configuration, `azure` makes the ARM calls.

mod azure;
mod spec;
mod validate;

use crate::tf::decode::{IntoValue, Maybe};
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
use azure::Connector;
use spec::{known, toleration_type, Attrs, ConnectorIdentity, Role, Spec, OS_TYPE};

pub const TYPE_NAME: &str = "largek8s_virtual_node";

pub struct VirtualNode;

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
            .describe("Object ID of the identity granted `role`. Default: the identity AKS makes for the add-on (`connector_identity.object_id`), known once the add-on is enabled. Required for a cluster that runs as a service principal: that principal's object ID (`az ad sp show --id <clientId> --query id -o tsv`)."),
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
        Attribute::computed("connector_identity", ConnectorIdentity::value_type())
            .describe("The ACI connector's managed identity (`resource_id`, `client_id`, `object_id`): the user-assigned identity `aciconnectorlinux-<cluster>` AKS makes in the node resource group when the add-on is enabled on a managed-identity cluster; null for a service-principal cluster."),
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

pub use validate::validate;

// ---- plan ------------------------------------------------------------------------------------------------

impl VirtualNode {
    async fn plan(&self, ctx: &Context, request: PlanRequest) -> PlanResponse {
        let mut response = PlanResponse {
            planned_state: Value::Null,
            requires_replace: Vec::new(),
            planned_private: request.prior_private.clone(),
            diagnostics: Diagnostics::new(),
        };
        // Destroy: nothing to plan but the absence.
        if request.proposed_new_state.is_null() {
            return response;
        }
        let decoded = (
            Attrs::decode(&request.proposed_new_state),
            Attrs::decode(&request.config),
            (!request.prior_state.is_null())
                .then(|| Attrs::decode(&request.prior_state))
                .transpose(),
        );
        let (mut planned, config, prior) = match decoded {
            (Ok(planned), Ok(config), Ok(prior)) => (planned, config, prior),
            (Err(d), _, _) | (_, Err(d), _) | (_, _, Err(d)) => {
                response.diagnostics.push(d);
                return response;
            }
        };
        if planned.role == Maybe::Known(None) {
            planned.role = known(Role::DEFAULT.name().to_string());
        }
        if planned.os_type == Maybe::Known(None) {
            planned.os_type = known(OS_TYPE.to_string());
        }
        let vnet = planned.vnet();
        planned.subnet_id = planned
            .subnet()
            .map_or(Maybe::Unknown, |s| known(s.to_string()));

        let cluster = planned.cluster_id.clone();
        // Whom the connector runs as, when the cluster could be read.
        let mut connector = None;
        if let Ok(arm) = ctx.arm() {
            let op = ctx.operation(planned.timeout("read"));
            if let Some(cluster_id) = cluster.present() {
                let subnet_name = planned.subnet_name.present().map_or("", String::as_str);
                match azure::plan_cluster(arm, &op, cluster_id, subnet_name).await {
                    Ok(found) => connector = found,
                    Err(d) => response.diagnostics.push(d),
                }
            }
            let prefix = planned
                .address_prefix
                .present()
                .and_then(|p| p.parse().ok());
            if let (Some(vnet), Some(name), Some(prefix)) =
                (&vnet, planned.subnet_name.present(), prefix)
            {
                if let Err(d) = azure::plan_prefix(arm, &op, vnet, name, prefix).await {
                    response.diagnostics.push(d);
                }
            }
        }

        // principal_id left out follows the connector: the add-on's identity as the cluster reports it (known
        // after apply while the add-on is not enabled on the subnet), or, when the cluster could not be read,
        // the prior one while the cluster stays. A service-principal cluster has no add-on identity: its
        // principal must be given.
        let principal_configured = config.principal_id != Maybe::Known(None);
        let same_cluster = prior.as_ref().map(|p| p.cluster_id == cluster);
        if !principal_configured {
            planned.principal_id = match (&cluster, &connector) {
                (Maybe::Unknown, _) => Maybe::Unknown,
                (Maybe::Known(None), _) => {
                    response.diagnostics.push(
                        Diagnostic::error(
                            "No principal to grant the role to",
                            "Without cluster_id there is no add-on identity to default to: set principal_id to \
                             the object ID of the identity that runs the virtual kubelet, or set cluster_id.",
                        )
                        .at(AttributePath::of("principal_id")),
                    );
                    Maybe::Known(None)
                }
                (Maybe::Known(Some(id)), Some(Connector::ServicePrincipal(client))) => {
                    response
                        .diagnostics
                        .push(azure::service_principal_needs_principal_id(id, client));
                    Maybe::Known(None)
                }
                (_, Some(Connector::Identity(identity))) => known(identity.object_id.clone()),
                (_, Some(Connector::NotYet)) => Maybe::Unknown,
                (_, None)
                    if same_cluster == Some(true) && planned.principal_id.present().is_some() =>
                {
                    planned.principal_id.clone()
                }
                (_, None) => Maybe::Unknown,
            };
        }

        // The assignment ID is known only after apply, because an existing assignment of the same role may be
        // adopted under its own name; it stays as it is while scope, principal and role stay.
        let same_assignment = prior.as_ref().is_some_and(|p| {
            p.virtual_network_id == planned.virtual_network_id
                && p.subnet_name == planned.subnet_name
                && p.principal_id == planned.principal_id
                && p.role == planned.role
                && p.role_assignment_id.present().is_some()
        });
        if !same_assignment {
            planned.role_assignment_id = Maybe::Unknown;
        }
        // An adopted subnet keeps its own delegation's name, so that too is known only after create.
        if prior
            .as_ref()
            .is_none_or(|p| p.delegation_name == Maybe::Known(None))
        {
            planned.delegation_name = Maybe::Unknown;
        }
        planned.connector_identity = match (&cluster, &connector, &prior) {
            (Maybe::Known(None), _, _) => Maybe::Known(None),
            (_, Some(Connector::Identity(identity)), _) => known(identity.clone()),
            (_, Some(Connector::ServicePrincipal(_)), _) => Maybe::Known(None),
            (_, None, Some(p)) if same_cluster == Some(true) => p.connector_identity.clone(),
            _ => Maybe::Unknown,
        };

        if let Some(p) = &prior {
            // What names the subnet or is fixed by the add-on: a change needs a new virtual node.
            let replacing = [
                (
                    "virtual_network_id",
                    p.virtual_network_id != planned.virtual_network_id,
                ),
                ("subnet_name", p.subnet_name != planned.subnet_name),
                ("address_prefix", p.address_prefix != planned.address_prefix),
                ("os_type", p.os_type != planned.os_type),
            ];
            response.requires_replace = replacing
                .into_iter()
                .filter(|(_, changed)| *changed)
                .map(|(name, _)| AttributePath::of(name))
                .collect();
        }
        response.planned_state = planned.into_value();
        response
    }
}

// ---- the Resource implementation: apply, read, import ----------------------------------------------------

/// The prior or current state, when there is one.
fn decode_state(value: &Value) -> Result<Option<Attrs>, Diagnostic> {
    (!value.is_null()).then(|| Attrs::decode(value)).transpose()
}

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
            let mut response = ApplyResponse {
                new_state: request.prior_state.clone(),
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
            let (prior, planned) = match (
                decode_state(&request.prior_state),
                decode_state(&request.planned_state),
            ) {
                (Ok(prior), Ok(planned)) => (prior, planned),
                (Err(d), _) | (_, Err(d)) => {
                    response.diagnostics.push(d);
                    return response;
                }
            };
            let Some(mut planned) = planned else {
                let Some(prior) = prior else {
                    return response;
                };
                let op = ctx.operation(prior.timeout("delete"));
                match azure::destroy(arm, &op, &prior).await {
                    Ok(()) => response.new_state = Value::Null,
                    Err((left, d)) => {
                        response.new_state = left.into_value();
                        response.diagnostics.push(d);
                    }
                }
                return response;
            };
            let operation = if prior.is_none() { "create" } else { "update" };
            let op = ctx.operation(planned.timeout(operation));
            let spec = match Spec::decode(&request.planned_state) {
                Ok(spec) => spec,
                Err(d) => {
                    response.diagnostics.push(d);
                    return response;
                }
            };
            // A create that stopped before the subnet was ours leaves nothing in state: a subnet of that name
            // that we refused to adopt belongs to someone else, and a later destroy must not touch it.
            let mut claimed = prior.is_some();
            let result =
                azure::converge(arm, &op, prior.as_ref(), &spec, &mut planned, &mut claimed).await;
            match result {
                Ok(()) => match azure::observe(arm, &op, &planned).await {
                    Ok(Some(state)) => response.new_state = state.into_value(),
                    Ok(None) => response.diagnostics.push(Diagnostic::error(
                        "The subnet disappeared",
                        "The virtual node's subnet was deleted while it was being set up; apply again.",
                    )),
                    Err(d) => {
                        response.new_state = azure::salvage(arm, &planned, prior).await.into_value();
                        response.diagnostics.push(d);
                    }
                },
                Err(d) if claimed => {
                    response.new_state = azure::salvage(arm, &planned, prior).await.into_value();
                    response.diagnostics.push(d);
                }
                Err(d) => {
                    response.new_state = prior.into_value();
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
            let current = match (ctx.arm(), decode_state(&request.current_state)) {
                (Ok(arm), Ok(Some(current))) => (arm, current),
                (Ok(_), Ok(None)) => return response,
                (Err(d), _) | (_, Err(d)) => {
                    response.diagnostics.push(d);
                    return response;
                }
            };
            let (arm, current) = current;
            let op = ctx.operation(current.timeout("read"));
            match azure::observe(arm, &op, &current).await {
                Ok(state) => response.new_state = state.into_value(),
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
            let op = ctx.operation(std::time::Duration::from_secs(5 * 60));
            let state = match azure::recover(arm, &op, id).await {
                Ok(base) => azure::observe(arm, &op, &base).await,
                Err(d) => Err(d),
            };
            match state {
                Ok(Some(state)) => response.imported.push(ImportedResource {
                    type_name: TYPE_NAME.to_string(),
                    state: state.into_value(),
                    private: Vec::new(),
                }),
                Ok(None) => response.diagnostics.push(Diagnostic::error(
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
    use tokio_util::sync::CancellationToken;

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
        let attrs = Attrs::decode(planned).expect("a planned state");
        assert_eq!(attrs.subnet_id, known(format!("{VNET}/subnets/aci")));
        assert_eq!(attrs.role, known("Network Contributor".to_string()));
        assert_eq!(attrs.os_type, known("Linux".to_string()));
        assert_eq!(planned.get("node_name"), Some(&spec::node_name()));
        assert_eq!(planned.get("node_selector"), Some(&spec::node_selector()));
        assert_eq!(attrs.principal_id, Maybe::Unknown);
        assert_eq!(attrs.role_assignment_id, Maybe::Unknown);
        assert_eq!(attrs.delegation_name, Maybe::Unknown);
        assert_eq!(attrs.connector_identity, Maybe::Unknown);
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
            ("node_name", spec::node_name()),
            ("node_selector", spec::node_selector()),
            ("tolerations", spec::tolerations()),
            ("taint", Value::string(spec::TAINT)),
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
}
