//! `largek8s_lb_group`: load balancers over a pool's availability sets, never over the backend cap, Basic or
//! Standard, with Kubernetes Service annotations and an optional DNS round-robin record.
//!
//! This file is the resource's life in Terraform's order: schema, validate, plan, apply (create, update,
//! delete), read, import. Beside it, in `lb_group/`: `spec` (the configuration and state, typed), `validate`
//! (the checks), `plan` (the layout and outputs, no I/O; the grouping itself is [`crate::lb_layout`]),
//! `azure` (ARM bodies and the order of calls), `membership` (who is in a backend pool) and `observe`
//! (what exists, for read, import and the state after apply).
//!
//! # Design
//! - What it owns in Azure: per load balancer `<name>-lb-<i>`, the load balancer (frontend `frontend`, the
//!   group's rules and probes, and the backend pool of its `backend_pool_type`: `node-ips` listing the nodes'
//!   addresses for `NodeIP`, `nodes` referenced from the nodes' NICs for `NodeIPConfiguration`), for a public
//!   group its Static public IP `<name>-lb-<i>-pip`, and, NIC-based, the NICs' references to `nodes`; with
//!   `dns`, one A record set holding every frontend IP. It owns no NIC, VM or availability set: those are the
//!   pool's.
//! - Tags: `largek8s-lb-group = <name>` on every load balancer and public IP (import and delete find them by
//!   it); on load balancers also the cap and the DNS record (`largek8s-lb-group-*`), which Azure does not
//!   keep anywhere else, so import recovers the configuration. Users' `tags` sit beside them.
//! - Indices are stable: a set keeps its load balancer while it fits, so frontend IPs never change on scale.
//! - Order of calls on apply: for `NodeIP`, the NIC lists of the nodes' resource groups (their addresses);
//!   each planned load balancer (its public IP first) in one write with its rules and the pool of the group's
//!   form, keeping the other form's pool and the rules on it while members move; then NIC membership (leavers
//!   before joiners, so a set moving between load balancers is never in two pools); then each load balancer
//!   again, dropping the other form (a write only when it had one); then load balancers no longer planned
//!   (NIC members leave, the load balancer goes, then its public IP); then the DNS record. Delete: the DNS
//!   record, then every load balancer the state or the group tag names. Read: one GET per load balancer (and
//!   per public IP), plus list pages when membership drifted.

mod azure;
mod balancer;
mod membership;
mod observe;
mod plan;
mod spec;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::arm::ids::ResourceId;
use crate::arm::retry::Ctx;
use crate::lb_layout::Sku;
use crate::resources::context::Context;
use crate::resources::timeouts::parse_duration;
use crate::tf::decode::{Fields, IntoValue, Maybe};
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

use azure::{api_error, create_or_update, delete, fronted_nics};
use membership::{ip_addresses, AddressError};
use observe::{observe, rebuild, Observing};
use plan::{
    keep_equivalent_prior, layout, outputs, prior_assignment, prior_frontends, recorded_lbs,
    unknown_outputs, REPLACING,
};
use spec::{group_id, BackendPoolType, Config, Spec, Timeouts, GROUP_TAG, OPERATIONS};

pub const TYPE_NAME: &str = "largek8s_lb_group";

/// How long the reads that record what exists may take once an apply was stopped or ran out of time: the state
/// must still list every load balancer made so far.
const WRAP_UP: Duration = Duration::from_secs(60);
/// Terraform's usual default when a `timeouts` entry is left out.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub struct LbGroup;

// ---------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------

fn load_balancer_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("id", Type::String),
        ("availability_set_ids", Type::list(Type::String)),
        ("frontend_ip", Type::String),
        ("backend_node_count", Type::Number),
    ])
}

pub fn schema() -> Schema {
    let rules = Attribute::nested(
        "rules",
        Nesting::List,
        vec![
            Attribute::required("name", Type::String).describe("Rule name, unique in the group."),
            Attribute::required("protocol", Type::String).describe("`Tcp`, `Udp` or `All`."),
            Attribute::required("frontend_port", Type::Number).describe("Port on the frontend IP, 1 to 65534; 0 with protocol `All` (HA ports)."),
            Attribute::required("backend_port", Type::Number).describe("Port on the nodes, 1 to 65535; 0 with protocol `All` (HA ports)."),
            Attribute::optional("idle_timeout_in_minutes", Type::Number)
                .describe("TCP idle timeout, 4 to 30 minutes (Azure's default 4)."),
            Attribute::optional("enable_floating_ip", Type::Bool)
                .describe("Direct server return; default false."),
            Attribute::optional("probe_name", Type::String).describe("Name of one of `probes` that gates this rule."),
        ],
    )
    .set_optional()
    .describe(
        "Load-balancing rules, created on every load balancer of the group. Every node's NIC belongs to one load \
         balancer, so it carries exactly these rules: at most 300, Azure's limit of rules per NIC.",
    );
    let probes = Attribute::nested(
        "probes",
        Nesting::List,
        vec![
            Attribute::required("name", Type::String).describe("Probe name, unique in the group."),
            Attribute::required("protocol", Type::String).describe("`Tcp`, `Http` or `Https`."),
            Attribute::required("port", Type::Number).describe("Port probed on every node, 1 to 65535."),
            Attribute::optional("request_path", Type::String)
                .describe("Path for `Http` and `Https` probes, which need one, starting with `/`; not set for `Tcp`."),
            Attribute::optional("interval_in_seconds", Type::Number)
                .describe("Seconds between probes, at least 5 (default 15)."),
            Attribute::optional("number_of_probes", Type::Number)
                .describe("Failed probes before a node is taken out, at least 1 (default 2)."),
        ],
    )
    .set_optional()
    .describe("Health probes, created on every load balancer of the group.");
    let dns = Attribute::nested(
        "dns",
        Nesting::Single,
        vec![
            Attribute::required("zone_name", Type::String)
                .describe("An existing Azure DNS zone, e.g. `example.com`."),
            Attribute::required("zone_resource_group_name", Type::String)
                .describe("The zone's resource group."),
            Attribute::required("record_name", Type::String)
                .describe("The A record set's name, e.g. `www` or `@`."),
            Attribute::optional("ttl", Type::Number)
                .describe("Time to live in seconds (default 300)."),
        ],
    )
    .set_optional()
    .describe("An A record set holding every frontend IP of the group, for DNS round robin.");
    let timeouts = NestedBlock::new(
        "timeouts",
        Nesting::Single,
        ["create", "read", "update", "delete"]
            .iter()
            .fold(Block::new(""), |b, op| {
                b.attribute(
                    Attribute::optional(op, Type::String)
                        .describe(format!("How long {op} may take, e.g. `45m` (default 30m).")),
                )
            }),
    );
    let block = Block::new(
        "Load balancers over the availability sets of a `largek8s_pool`: one per set for Basic, as few as the \
         backend limit allows for Standard. Backend membership follows the pool; frontend IPs never change on scale.",
    )
    .attribute(Attribute::computed("id", Type::String).describe("The group ID, usable for import."))
    .attribute(
        Attribute::required("name", Type::String)
            .describe("Prefix of the load balancers' names (`<name>-lb-<i>`). Changing it replaces the group."),
    )
    .attribute(Attribute::required("resource_group_name", Type::String).describe("Resource group of the load balancers."))
    .attribute(Attribute::required("location", Type::String).describe("Azure region of the load balancers."))
    .attribute(
        Attribute::optional_computed("sku", Type::String)
            .describe("`Standard` (default) or `Basic`. Basic was retired on public Azure on 2025-09-30."),
    )
    .attribute(
        Attribute::optional_computed("backend_pool_type", Type::String).describe(
            "How the load balancers hold their nodes: `NodeIP` (by IP address, one write per load balancer for any \
             change; Standard only, its default) or `NodeIPConfiguration` (by NIC, one write per node; Basic's only \
             form). Changing it moves the members in place.",
        ),
    )
    .attribute(
        Attribute::optional_computed("internal", Type::Bool)
            .describe("Private frontends in `frontend_subnet_id` instead of public IPs (default false)."),
    )
    .attribute(
        Attribute::optional("frontend_subnet_id", Type::String)
            .describe("Subnet of the private frontends; required when `internal` is true."),
    )
    .attribute(
        Attribute::required("backend_sets", Type::Dynamic).describe(
            "The availability sets to front: a `largek8s_pool`'s `availability_sets` as is, or a list of \
             `{ availability_set_id, nic_ids }` objects.",
        ),
    )
    .attribute(Attribute::optional_computed("max_backend_nodes", Type::Number).describe(
        "Most nodes one load balancer fronts: Basic default 100, at most 300; Standard default and at most 5,000.",
    ))
    .attribute(rules)
    .attribute(probes)
    .attribute(dns)
    .attribute(Attribute::optional("tags", Type::map(Type::String)).describe("Tags for the load balancers and public IPs."))
    .attribute(
        Attribute::computed("load_balancers", Type::list(load_balancer_type()))
            .describe("The load balancers, in index order: name, id, availability_set_ids, frontend_ip, backend_node_count."),
    )
    .attribute(Attribute::computed("frontend_ips", Type::list(Type::String)).describe("Every frontend IP, in index order."))
    .attribute(
        Attribute::computed("service_annotations", Type::list(Type::map(Type::String)))
            .describe("Per load balancer, the Kubernetes Service annotations that pin a Service to it."),
    )
    .attribute(
        Attribute::computed("cloud_provider_config", Type::String).describe(
            "Standard only: cloud-provider-azure's `multipleStandardLoadBalancerConfigurations`, as JSON to merge \
             into its cloud config.",
        ),
    )
    .block(timeouts);
    Schema::new(0, block)
}

/// The timeout of `op` from the `timeouts` block, in Go's duration syntax (`45m`, `1h30m`, `90s`).
fn timeout(timeouts: &Timeouts, op: &str) -> Result<Duration, Diagnostic> {
    let Some(text) = timeouts.by_op.get(op) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    parse_duration(text).map_err(|problem| {
        Diagnostic::error("Invalid timeout", problem).at(AttributePath::of("timeouts").attr(op))
    })
}

// ---------------------------------------------------------------------------------------------------------
// Validate
// ---------------------------------------------------------------------------------------------------------

pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let decoded = Config::decode(config, &mut diags);
    validate::check(config, &decoded, &mut diags);
    for op in OPERATIONS {
        if let Err(d) = timeout(&decoded.timeouts, op) {
            diags.push(d);
        }
    }
    diags
}

// ---------------------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------------------

fn plan_change(ctx: &Context, request: &PlanRequest) -> (Value, Vec<AttributePath>, Diagnostics) {
    let proposed = &request.proposed_new_state;
    let mut diags = Diagnostics::new();
    if proposed.is_null() {
        return (Value::Null, Vec::new(), diags);
    }
    let Value::Object(mut state) = proposed.clone() else {
        diags.push(Diagnostic::error(
            "Unexpected plan",
            "The proposed state is not an object.",
        ));
        return (proposed.clone(), Vec::new(), diags);
    };
    let config = Config::decode(&request.config, &mut diags);
    let sets = validate::check(&request.config, &config, &mut diags);
    // The proposed state's own problems are the configuration's, reported above.
    let planned = Config::decode(proposed, &mut Diagnostics::new());
    let sku = planned.sku();
    if sku == Some(Sku::Basic) && ctx.public_cloud {
        diags.push(plan::basic_retirement_warning());
    }
    if planned.sku == Maybe::Known(None) {
        state.insert("sku".into(), Value::string(Sku::Standard.as_str()));
    }
    if planned.internal == Maybe::Known(None) {
        state.insert("internal".into(), Value::Bool(false));
    }
    if planned.max_backend_nodes == Maybe::Known(None) {
        let default = sku.map_or(Value::unknown(), |s| Value::number(s.default_backend()));
        state.insert("max_backend_nodes".into(), default);
    }
    let mut replace = Vec::new();
    let prior = &request.prior_state;
    if let (false, Ok(old)) = (prior.is_null(), Fields::root(prior)) {
        keep_equivalent_prior(&mut state, prior);
        for attr in REPLACING {
            let new = state.get(attr).unwrap_or(&Value::Null);
            if new.is_known() && old.raw(attr) != new {
                replace.push(AttributePath::of(attr));
            }
        }
    }
    if planned.backend_pool_type == Maybe::Known(None) {
        state.insert(
            "backend_pool_type".into(),
            default_pool_type(&request.prior_state, replace.is_empty(), sku),
        );
    }
    let resolved_value = Value::Object(state.clone());
    let resolved = Config::decode(&resolved_value, &mut Diagnostics::new());
    let subscription = ctx.arm().ok().map(|arm| arm.subscription_id().to_string());
    let id = match (
        &subscription,
        resolved.resource_group_name.present(),
        resolved.name.present(),
    ) {
        (Some(sub), Some(rg), Some(name)) => Value::string(group_id(sub, rg, name).to_string()),
        _ => Value::unknown(),
    };
    state.insert("id".into(), id);
    let complete = sets
        .as_ref()
        .is_some_and(|sets| sets.iter().all(|s| s.id.is_some() && s.nodes.is_some()))
        && resolved.name.is_known()
        && resolved.resource_group_name.is_known()
        && resolved.sku.is_known()
        && resolved.internal.is_known()
        && resolved.max_backend_nodes.is_known();
    let (Some(sub), true, false) = (subscription, complete, diags.has_errors()) else {
        unknown_outputs(&mut state);
        return (Value::Object(state), replace, diags);
    };
    let spec = match Spec::decode(&resolved_value, &sub) {
        Ok(s) => s,
        Err(d) => {
            diags.extend(d);
            return (Value::Object(state), replace, diags);
        }
    };
    let demand: Vec<(ResourceId, u64)> = sets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| Some((s.id?, s.nodes?)))
        .collect();
    let replacing = !replace.is_empty();
    let prior_sets = if replacing {
        BTreeMap::new()
    } else {
        prior_assignment(prior, &spec.name)
    };
    match layout(&spec, &demand, &prior_sets) {
        Ok(lbs) => {
            let frontends = if replacing {
                BTreeMap::new()
            } else {
                prior_frontends(prior)
            };
            outputs(&mut state, &spec, &lbs, &|name| {
                frontends
                    .get(name)
                    .map_or(Maybe::Unknown, |ip| Maybe::Known(Some(ip.clone())))
            });
        }
        Err(e) => diags.push(
            Diagnostic::error("Cannot group the backend sets", e.to_string())
                .at(AttributePath::of("backend_sets")),
        ),
    }
    (Value::Object(state), replace, diags)
}

/// `backend_pool_type` when the configuration leaves it out: what the group has, for a group that stays (a
/// state from before the attribute existed is of a NIC-based group, which keeps its form until the configuration
/// asks for another); the SKU's default for a new group.
fn default_pool_type(prior: &Value, keeps_prior: bool, sku: Option<Sku>) -> Value {
    if keeps_prior && !prior.is_null() {
        let recorded = Fields::root(prior)
            .and_then(|f| f.get::<Option<BackendPoolType>>("backend_pool_type"))
            .ok()
            .flatten();
        return recorded
            .unwrap_or(BackendPoolType::NodeIpConfiguration)
            .into_value();
    }
    sku.map_or(Value::unknown(), |sku| {
        BackendPoolType::default_for(sku).into_value()
    })
}

// ---------------------------------------------------------------------------------------------------------
// Apply: create, update and delete
// ---------------------------------------------------------------------------------------------------------

/// Whether an update changes nothing but `timeouts`, which live only in Terraform's state.
fn only_timeouts_change(prior: &Value, planned: &Value) -> bool {
    match (prior, planned) {
        (Value::Object(old), Value::Object(new)) => {
            let rest = |attrs: &BTreeMap<String, Value>| {
                attrs
                    .iter()
                    .filter(|(k, _)| k.as_str() != "timeouts")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<BTreeMap<_, _>>()
            };
            rest(old) == rest(new)
        }
        _ => false,
    }
}

/// The bounds for recording the state after an operation: the operation's own, or a short bound of their own
/// when it was stopped (StopProvider) or passed its deadline.
fn wrap_up(op: &Ctx) -> Ctx {
    if op.check("recording the state").is_ok() {
        op.clone()
    } else {
        Ctx::new(CancellationToken::new(), WRAP_UP)
    }
}

async fn apply(ctx: &Context, request: ApplyRequest) -> ApplyResponse {
    // Everything apply needs is in the planned state; the configuration repeats `backend_sets` (a pool's every
    // node), so it is not held through the Azure calls.
    drop(request.config);
    let respond = |new_state: Value, diagnostics: Diagnostics| ApplyResponse {
        new_state,
        private: request.planned_private.clone(),
        diagnostics,
    };
    let arm = match ctx.arm() {
        Ok(arm) => arm,
        Err(d) => return respond(request.prior_state.clone(), d.into()),
    };
    let destroying = request.planned_state.is_null();
    let source = if destroying {
        &request.prior_state
    } else {
        &request.planned_state
    };
    let settings = match Spec::decode(source, arm.subscription_id()) {
        Ok(s) => s,
        Err(d) => return respond(request.prior_state.clone(), d),
    };
    let op = match (destroying, request.prior_state.is_null()) {
        (true, _) => "delete",
        (false, true) => "create",
        (false, false) => "update",
    };
    let op_ctx = match timeout(&settings.timeouts, op) {
        Ok(t) => ctx.operation(t),
        Err(d) => return respond(request.prior_state.clone(), d.into()),
    };
    if destroying {
        return match delete(arm, &op_ctx, &settings, &request.prior_state).await {
            Ok(()) => respond(Value::Null, Diagnostics::new()),
            Err(e) => {
                let lbs = recorded_lbs(&request.prior_state, &settings);
                let left = observe(
                    arm,
                    &wrap_up(&op_ctx),
                    &settings,
                    &request.prior_state,
                    &lbs,
                    Observing::Failed,
                )
                .await;
                respond(
                    left.unwrap_or(request.prior_state.clone()),
                    api_error("Deleting the load balancer group failed", &e).into(),
                )
            }
        };
    }
    if only_timeouts_change(&request.prior_state, &request.planned_state) {
        // The update a `timeouts` block makes after import: nothing to do in Azure.
        return respond(request.planned_state.clone(), Diagnostics::new());
    }
    let mut diags = Diagnostics::new();
    let sets = spec::backend_sets_of(&request.planned_state, &mut diags).unwrap_or_default();
    // The same layout the plan showed (it is a function of the sets and the prior state), computed again because
    // the plan may not have known the sets yet.
    let demand: Vec<(ResourceId, u64)> = sets
        .iter()
        .filter_map(|s| Some((s.id.clone()?, s.nics.as_ref()?.len() as u64)))
        .collect();
    let prior_sets = prior_assignment(&request.prior_state, &settings.name);
    let planned = match layout(&settings, &demand, &prior_sets) {
        Ok(lbs) => lbs,
        Err(e) => {
            diags.push(
                Diagnostic::error("Cannot group the backend sets", e.to_string())
                    .at(AttributePath::of("backend_sets")),
            );
            return respond(request.prior_state.clone(), diags);
        }
    };
    if diags.has_errors() {
        return respond(request.prior_state.clone(), diags);
    }
    let fronted = fronted_nics(&planned, &sets);
    let addresses = match settings.pool_type {
        BackendPoolType::NodeIp => match ip_addresses(arm, &op_ctx, &settings, &fronted).await {
            Ok(addresses) => addresses,
            Err(e) => {
                // Before any write: nothing was made.
                diags.push(match e {
                    AddressError::Arm(e) => api_error("Reading the nodes' addresses failed", &e),
                    AddressError::Unusable(detail) => {
                        Diagnostic::error("Nodes cannot join an IP-based backend pool", detail)
                            .at(AttributePath::of("backend_sets"))
                    }
                });
                return respond(request.prior_state.clone(), diags);
            }
        },
        BackendPoolType::NodeIpConfiguration => BTreeMap::new(),
    };
    let result = create_or_update(
        arm,
        &op_ctx,
        &settings,
        &request.prior_state,
        &planned,
        &fronted,
        &addresses,
    )
    .await;
    // The nodes' addresses and NICs are written; the state is read back without them.
    drop((addresses, fronted, sets));
    let mut recorded = planned.clone();
    if let Err(e) = &result {
        diags.push(api_error(
            if request.prior_state.is_null() {
                "Creating the load balancer group failed"
            } else {
                "Updating the load balancer group failed"
            },
            e,
        ));
        // Whatever happened, the state records what exists: on failure, prior and planned load balancers alike.
        recorded.extend(recorded_lbs(&request.prior_state, &settings));
    }
    let mode = if result.is_err() {
        Observing::Failed
    } else {
        Observing::Applied
    };
    match observe(
        arm,
        &wrap_up(&op_ctx),
        &settings,
        &request.planned_state,
        &recorded,
        mode,
    )
    .await
    {
        Ok(state) => respond(state, diags),
        Err(e) => {
            diags.push(api_error(
                "Reading the load balancer group after apply failed",
                &e,
            ));
            respond(
                if result.is_err() {
                    request.prior_state.clone()
                } else {
                    request.planned_state.clone()
                },
                diags,
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------------------------------------

async fn read(ctx: &Context, request: ReadRequest) -> ReadResponse {
    let respond = |new_state: Value, diagnostics: Diagnostics| ReadResponse {
        new_state,
        private: request.private.clone(),
        diagnostics,
    };
    let arm = match ctx.arm() {
        Ok(arm) => arm,
        Err(d) => return respond(request.current_state.clone(), d.into()),
    };
    let settings = match Spec::decode(&request.current_state, arm.subscription_id()) {
        Ok(s) => s,
        Err(d) => return respond(request.current_state.clone(), d),
    };
    let op_ctx = match timeout(&settings.timeouts, "read") {
        Ok(t) => ctx.operation(t),
        Err(d) => return respond(request.current_state.clone(), d.into()),
    };
    let lbs = recorded_lbs(&request.current_state, &settings);
    match observe(
        arm,
        &op_ctx,
        &settings,
        &request.current_state,
        &lbs,
        Observing::Refresh,
    )
    .await
    {
        Ok(state) => respond(state, Diagnostics::new()),
        Err(e) => respond(
            request.current_state.clone(),
            api_error("Reading the load balancer group failed", &e).into(),
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------------------

/// Rebuilds a group from its load balancers (found by the group tag), their members, and the availability
/// sets those members' VMs belong to. `backend_sets` comes back in the `{availability_set_id, nic_ids}`
/// form, which the plan takes as equal to a pool's `availability_sets` with the same NICs; `max_backend_nodes`
/// and `dns` come from the tags written at create. `timeouts` live only in Terraform and cannot be imported.
async fn import(ctx: &Context, id: &str) -> ImportResponse {
    let fail = |d: Diagnostic| ImportResponse {
        imported: Vec::new(),
        diagnostics: d.into(),
    };
    let arm = match ctx.arm() {
        Ok(arm) => arm,
        Err(d) => return fail(d),
    };
    let group = match ResourceId::parse(id) {
        Ok(g) if g.type_name().as_deref() == Some("Largek8s.Network/lbGroups") && g.resource_group_name().is_some() => g,
        _ => {
            return fail(Diagnostic::error(
                "Invalid group ID",
                format!(
                    "{id:?} is not a load balancer group ID; use \
                     /subscriptions/SUB/resourceGroups/RG/providers/Largek8s.Network/lbGroups/NAME (the group's id attribute)."
                ),
            ))
        }
    };
    let op_ctx = ctx.operation(DEFAULT_TIMEOUT);
    match rebuild(arm, &op_ctx, &group).await {
        Ok(Some(state)) => ImportResponse {
            imported: vec![ImportedResource {
                type_name: TYPE_NAME.to_string(),
                state,
                private: Vec::new(),
            }],
            diagnostics: Diagnostics::new(),
        },
        Ok(None) => fail(Diagnostic::error(
            "Load balancer group not found",
            format!(
                "No load balancer in the resource group carries the tag {GROUP_TAG} = {:?}.",
                group.name()
            ),
        )),
        Err(e) => fail(api_error("Importing the load balancer group failed", &e)),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The Resource implementation
// ---------------------------------------------------------------------------------------------------------

impl Resource<Context> for LbGroup {
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
        Box::pin(async move {
            let (planned_state, requires_replace, diagnostics) = plan_change(ctx, &request);
            PlanResponse {
                planned_state,
                requires_replace,
                planned_private: request.prior_private,
                diagnostics,
            }
        })
    }

    fn apply<'a>(
        &'a self,
        ctx: &'a Context,
        request: ApplyRequest,
    ) -> BoxFuture<'a, ApplyResponse> {
        Box::pin(apply(ctx, request))
    }

    fn read<'a>(&'a self, ctx: &'a Context, request: ReadRequest) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read(ctx, request))
    }

    fn import<'a>(&'a self, ctx: &'a Context, id: &'a str) -> BoxFuture<'a, ImportResponse> {
        Box::pin(import(ctx, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::context::Unconfigured;

    pub(super) const SET: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/availabilitySets/web-as-0";

    pub(super) fn nic(j: usize) -> String {
        format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/web-0-{j}-nic")
    }

    /// A pool's availability set of `nodes` nodes, as `largek8s_pool.availability_sets` has it.
    pub(super) fn pool_set(nodes: usize) -> Value {
        Value::object([
            ("index", Value::number(0u64)),
            ("name", Value::string("web-as-0")),
            ("id", Value::string(SET)),
            ("node_count", Value::number(nodes as u64)),
            (
                "nodes",
                Value::list((0..nodes).map(|j| {
                    Value::object([
                        ("name", Value::string(format!("web-0-{j}"))),
                        ("vm_id", Value::string("vm")),
                        ("nic_id", Value::string(nic(j))),
                        ("private_ip", Value::string("10.0.0.4")),
                    ])
                })),
            ),
        ])
    }

    fn config(sku: &str, backend_sets: Value) -> Value {
        let mut attrs: BTreeMap<String, Value> = schema()
            .block
            .attributes
            .iter()
            .map(|a| (a.name.clone(), Value::Null))
            .collect();
        attrs.insert("timeouts".into(), Value::Null);
        attrs.insert("name".into(), Value::string("web"));
        attrs.insert("resource_group_name".into(), Value::string("g"));
        attrs.insert("location".into(), Value::string("westeurope"));
        attrs.insert("sku".into(), Value::string(sku));
        attrs.insert("backend_sets".into(), backend_sets);
        Value::Object(attrs)
    }

    fn context(public_cloud: bool) -> Context {
        Context::new(
            Err(Unconfigured::NotYet),
            CancellationToken::new(),
            public_cloud,
        )
    }

    fn plan(ctx: &Context, config: Value) -> (Value, Diagnostics) {
        let request = PlanRequest {
            type_name: TYPE_NAME.into(),
            prior_state: Value::Null,
            proposed_new_state: config.clone(),
            config,
            prior_private: Vec::new(),
            client: ClientCapabilities::default(),
        };
        let (state, _, diags) = plan_change(ctx, &request);
        (state, diags)
    }

    #[test]
    fn basic_on_public_azure_warns_of_the_retirement() {
        let (_, diags) = plan(&context(true), config("Basic", Value::list([pool_set(3)])));
        let warning = diags
            .iter()
            .find(|d| d.severity == crate::tf::diagnostics::Severity::Warning);
        let warning = warning.map(|d| (d.detail.clone(), d.attribute.clone()));
        assert!(warning
            .as_ref()
            .is_some_and(|(detail, _)| detail.contains("2025-09-30")
                && detail.contains("sku = \"Standard\"")));
        assert_eq!(
            warning.and_then(|(_, at)| at),
            Some(AttributePath::of("sku"))
        );
        assert!(!diags.has_errors());
    }

    #[test]
    fn basic_elsewhere_and_standard_on_public_azure_plan_without_warnings() {
        let (_, custom) = plan(&context(false), config("Basic", Value::list([pool_set(3)])));
        assert!(custom.is_empty(), "{custom:?}");
        let (_, standard) = plan(
            &context(true),
            config("Standard", Value::list([pool_set(3)])),
        );
        assert!(standard.is_empty(), "{standard:?}");
    }

    #[test]
    fn a_pool_set_over_the_basic_cap_names_max_nodes_per_set_on_its_element() {
        let diags = validate(&config("Basic", Value::list([pool_set(150)])));
        let error = diags
            .iter()
            .find(|d| d.severity == crate::tf::diagnostics::Severity::Error);
        assert!(
            error.is_some_and(|d| d.detail.contains("max_nodes_per_set <= 100")
                && d.attribute == Some(AttributePath::of("backend_sets").index(0)))
        );
    }

    #[test]
    fn a_known_node_count_is_checked_while_the_nodes_are_unknown() {
        let mut set = pool_set(0);
        if let Value::Object(attrs) = &mut set {
            attrs.insert("node_count".into(), Value::number(120u64));
            attrs.insert("nodes".into(), Value::unknown());
        }
        let diags = validate(&config("Basic", Value::list([set])));
        assert!(diags.has_errors());
    }

    #[test]
    fn internal_without_a_subnet_points_at_internal_which_the_config_holds() {
        let mut cfg = config("Standard", Value::list([pool_set(1)]));
        if let Value::Object(attrs) = &mut cfg {
            attrs.insert("internal".into(), Value::Bool(true));
        }
        let diags = validate(&cfg);
        assert!(
            diags
                .iter()
                .any(|d| d.attribute == Some(AttributePath::of("internal"))
                    && d.detail.contains("set frontend_subnet_id")),
            "{diags:?}"
        );
    }

    fn planned_pool_type(prior: Value, config: Value) -> Option<String> {
        let request = PlanRequest {
            type_name: TYPE_NAME.into(),
            prior_state: prior,
            proposed_new_state: config.clone(),
            config,
            prior_private: Vec::new(),
            client: ClientCapabilities::default(),
        };
        let (state, _, diags) = plan_change(&context(false), &request);
        assert!(!diags.has_errors(), "{diags:?}");
        Fields::root(&state)
            .and_then(|f| f.get::<Option<String>>("backend_pool_type"))
            .ok()
            .flatten()
    }

    #[test]
    fn new_standard_groups_hold_nodes_by_ip_and_existing_groups_keep_their_form() {
        let standard = config("Standard", Value::list([pool_set(1)]));
        assert_eq!(
            planned_pool_type(Value::Null, standard.clone()).as_deref(),
            Some("NodeIP")
        );
        assert_eq!(
            planned_pool_type(Value::Null, config("Basic", Value::list([pool_set(1)]))).as_deref(),
            Some("NodeIPConfiguration")
        );
        // A state from before backend_pool_type existed is a NIC-based group: it stays one.
        let mut old = standard.clone();
        if let Value::Object(attrs) = &mut old {
            attrs.remove("backend_pool_type");
            attrs.insert("internal".into(), Value::Bool(false));
        }
        assert_eq!(
            planned_pool_type(old, standard.clone()).as_deref(),
            Some("NodeIPConfiguration")
        );
        let mut by_ip = standard.clone();
        if let Value::Object(attrs) = &mut by_ip {
            attrs.insert("backend_pool_type".into(), Value::string("NodeIP"));
            attrs.insert("internal".into(), Value::Bool(false));
        }
        assert_eq!(
            planned_pool_type(by_ip, standard).as_deref(),
            Some("NodeIP")
        );
    }

    #[test]
    fn a_basic_group_by_node_ip_is_an_error_at_backend_pool_type() {
        let mut cfg = config("Basic", Value::list([pool_set(1)]));
        if let Value::Object(attrs) = &mut cfg {
            attrs.insert("backend_pool_type".into(), Value::string("NodeIP"));
        }
        let diags = validate(&cfg);
        assert!(
            diags.iter().any(
                |d| d.attribute == Some(AttributePath::of("backend_pool_type"))
                    && d.detail.contains("Standard")
            ),
            "{diags:?}"
        );
        if let Value::Object(attrs) = &mut cfg {
            attrs.insert("backend_pool_type".into(), Value::string("nodeIP"));
        }
        let diags = validate(&cfg);
        assert!(
            diags
                .iter()
                .any(|d| d.summary == "Unknown backend_pool_type"
                    && d.attribute == Some(AttributePath::of("backend_pool_type"))),
            "{diags:?}"
        );
    }

    #[test]
    fn unknown_backend_sets_plan_unknown_outputs() {
        let (state, diags) = plan(&context(false), config("Standard", Value::unknown()));
        assert!(diags.is_empty(), "{diags:?}");
        assert!(!state.get("load_balancers").is_some_and(Value::is_known));
        let cap = Fields::root(&state).and_then(|f| f.get::<u64>("max_backend_nodes"));
        assert_eq!(cap, Ok(5000));
    }

    #[test]
    fn an_unrecognised_element_is_an_error_on_that_element() {
        let diags = validate(&config(
            "Standard",
            Value::list([Value::object([("vm", Value::string("x"))])]),
        ));
        let error = diags.iter().next();
        assert!(error.is_some_and(|d| d.attribute
            == Some(AttributePath::of("backend_sets").index(0))
            && d.detail.contains("vm")));
    }

    #[test]
    fn a_rule_naming_a_missing_probe_is_an_error_on_its_probe_name() {
        let mut cfg = config("Standard", Value::list([pool_set(1)]));
        if let Value::Object(attrs) = &mut cfg {
            attrs.insert(
                "rules".into(),
                Value::list([Value::object([
                    ("name", Value::string("http")),
                    ("probe_name", Value::string("gone")),
                ])]),
            );
            attrs.insert(
                "probes".into(),
                Value::list([Value::object([("name", Value::string("http"))])]),
            );
        }
        let diags = validate(&cfg);
        assert!(diags
            .iter()
            .any(|d| d.attribute == Some(AttributePath::of("rules").index(0).attr("probe_name"))));
    }

    /// A Standard group's spec with a cap of 700, a user's tag and a DNS record.
    pub(super) fn spec_with_dns(ttl: Option<u64>) -> Spec {
        let mut cfg = config("Standard", Value::list([pool_set(1)]));
        if let Value::Object(attrs) = &mut cfg {
            attrs.insert("max_backend_nodes".into(), Value::number(700u64));
            attrs.insert(
                "tags".into(),
                Value::Map(BTreeMap::from([("team".to_string(), Value::string("web"))])),
            );
            attrs.insert(
                "dns".into(),
                Value::object([
                    ("zone_name", Value::string("example.com")),
                    ("zone_resource_group_name", Value::string("dns")),
                    ("record_name", Value::string("www")),
                    ("ttl", ttl.map_or(Value::Null, Value::number)),
                ]),
            );
        }
        match Spec::decode(&cfg, "s") {
            Ok(s) => s,
            Err(d) => panic!("{d:?}"),
        }
    }
}
