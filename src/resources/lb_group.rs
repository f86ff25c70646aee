//! `largek8s_lb_group`: load balancers over a pool's availability sets, never over the backend cap, Basic or
//! Standard, with Kubernetes Service annotations and an optional DNS round-robin record.
//!
//! The grouping itself is [`crate::lb_layout`]; this file turns it into ARM calls, in Terraform's order:
//! schema, validate, plan, apply (create, update, delete), read, import.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value as Json};
use tokio_util::sync::CancellationToken;

use crate::arm::client::{ArmClient, Conditions};
use crate::arm::error::ArmError;
use crate::arm::ids::{ResourceId, ResourceKind};
use crate::arm::models::{COMPUTE_API_VERSION, DNS_API_VERSION, NETWORK_API_VERSION};
use crate::arm::retry::Ctx;
use crate::lb_layout::{self, LbLayoutError, SetDemand, Sku};
use crate::resources::context::Context;
use crate::resources::timeouts::parse_duration;
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::number::Number;
use crate::tf::path::AttributePath;
use crate::tf::provider::{
    ApplyRequest, ApplyResponse, ClientCapabilities, ImportResponse, ImportedResource, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse,
};
use crate::tf::resource::{BoxFuture, Resource};
use crate::tf::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use crate::tf::types::Type;
use crate::tf::value::Value;

pub const TYPE_NAME: &str = "largek8s_lb_group";

/// Tag on every load balancer and public IP of a group, naming the group: import finds them by it.
const GROUP_TAG: &str = "largek8s-lb-group";
/// Tags recording on every load balancer what Azure does not keep, so that import recovers the configuration:
/// the cap and the DNS record. They share GROUP_TAG's prefix, which marks them as the provider's, not the user's.
const CAP_TAG: &str = "largek8s-lb-group-max-backend-nodes";
const DNS_ZONE_TAG: &str = "largek8s-lb-group-dns-zone";
const DNS_ZONE_GROUP_TAG: &str = "largek8s-lb-group-dns-zone-resource-group";
const DNS_RECORD_TAG: &str = "largek8s-lb-group-dns-record";
const DNS_TTL_TAG: &str = "largek8s-lb-group-dns-ttl";
/// Pins a Kubernetes Service to the load balancer fronting the named availability sets
/// (<https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/#loadbalancer-annotations>).
const MODE_ANNOTATION: &str = "service.beta.kubernetes.io/azure-load-balancer-mode";
const INTERNAL_ANNOTATION: &str = "service.beta.kubernetes.io/azure-load-balancer-internal";
/// The frontend and backend pool every load balancer of a group has.
const FRONTEND: &str = "frontend";
const BACKEND_POOL: &str = "nodes";
/// NIC writes in flight at once. The Network RP allows 1,000 writes per 5 minutes per subscription
/// (<https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling#network-throttling>);
/// the ARM client's pacer waits out throttling, and a small window keeps a 1,000-node change from bursting
/// through the whole allowance at once.
const MEMBERSHIP_CONCURRENCY: usize = 8;
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

// ---------------------------------------------------------------------------------------------------------
// Reading the configuration
// ---------------------------------------------------------------------------------------------------------

fn get_str<'a>(v: &'a Value, attr: &str) -> Option<&'a str> {
    v.get(attr).and_then(Value::as_str)
}

fn get_u64(v: &Value, attr: &str) -> Option<u64> {
    v.get(attr)
        .and_then(Value::as_number)
        .and_then(Number::to_u64)
}

fn known(v: &Value, attr: &str) -> bool {
    v.get(attr).is_some_and(Value::is_fully_known)
}

/// One entry of `backend_sets`, as far as it is known.
#[derive(Debug, Clone, Default)]
struct BackendSet {
    id: Option<ResourceId>,
    nics: Option<Vec<ResourceId>>,
    nodes: Option<u64>,
    /// Given as a pool's availability set (so the fix for an oversized set is the pool's cap).
    from_pool: bool,
}

impl BackendSet {
    fn name(&self) -> Option<&str> {
        self.id.as_ref().map(ResourceId::name)
    }
}

fn parse_id(
    v: &Value,
    kind: ResourceKind,
    at: AttributePath,
    diags: &mut Diagnostics,
) -> Option<ResourceId> {
    let s = v.as_str()?;
    match ResourceId::parse_as(s, kind) {
        Ok(id) => Some(id),
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    "Invalid resource ID",
                    format!("{e}; expected a {} ID.", kind.type_name()),
                )
                .at(at),
            );
            None
        }
    }
}

fn nic_list(
    list: &Value,
    at: AttributePath,
    diags: &mut Diagnostics,
    field: Option<&str>,
) -> Option<Vec<ResourceId>> {
    let items = list.as_list()?;
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let (value, item_path) = match field {
            Some(f) => (item.get(f)?, at.clone().index(j as i64).attr(f)),
            None => (item, at.clone().index(j as i64)),
        };
        if !value.is_known() {
            return None;
        }
        out.push(parse_id(
            value,
            ResourceKind::NetworkInterface,
            item_path,
            diags,
        )?);
    }
    Some(out)
}

/// Interprets `backend_sets`: None when the list itself is not known yet.
fn backend_sets(value: &Value, diags: &mut Diagnostics) -> Option<Vec<BackendSet>> {
    if !value.is_known() {
        return None;
    }
    let Some(items) = value.as_list() else {
        diags.push(
            Diagnostic::error(
                "backend_sets must be a list",
                "Pass a largek8s_pool's availability_sets, or a list of { availability_set_id, nic_ids } objects.",
            )
            .at(AttributePath::of("backend_sets")),
        );
        return Some(Vec::new());
    };
    let mut sets = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = AttributePath::of("backend_sets").index(i as i64);
        if !item.is_known() {
            sets.push(BackendSet::default());
            continue;
        }
        let set = if let (Some(id), Some(nics)) =
            (item.get("availability_set_id"), item.get("nic_ids"))
        {
            let nics = nic_list(nics, at.clone().attr("nic_ids"), diags, None);
            BackendSet {
                id: parse_id(
                    id,
                    ResourceKind::AvailabilitySet,
                    at.clone().attr("availability_set_id"),
                    diags,
                ),
                nodes: nics.as_ref().map(|n| n.len() as u64),
                nics,
                from_pool: false,
            }
        } else if let (Some(id), Some(nodes)) = (item.get("id"), item.get("nodes")) {
            let nics = nic_list(nodes, at.clone().attr("nodes"), diags, Some("nic_id"));
            let counted = item
                .get("node_count")
                .and_then(Value::as_number)
                .and_then(Number::to_u64);
            BackendSet {
                id: parse_id(
                    id,
                    ResourceKind::AvailabilitySet,
                    at.clone().attr("id"),
                    diags,
                ),
                nodes: nics.as_ref().map(|n| n.len() as u64).or(counted),
                nics,
                from_pool: true,
            }
        } else {
            let found = match item {
                Value::Object(attrs) => attrs.keys().cloned().collect::<Vec<_>>().join(", "),
                Value::Dynamic(_, inner) => match inner.as_ref() {
                    Value::Object(attrs) => attrs.keys().cloned().collect::<Vec<_>>().join(", "),
                    other => other.kind().to_string(),
                },
                other => other.kind().to_string(),
            };
            diags.push(
                Diagnostic::error(
                    "Unrecognised backend set",
                    format!(
                        "Each element must be an availability set of a largek8s_pool (attributes id and nodes, as in \
                         largek8s_pool.NAME.availability_sets) or an object {{ availability_set_id = \"...\", nic_ids = \
                         [...] }}. This element has: {found}."
                    ),
                )
                .at(at),
            );
            continue;
        };
        sets.push(set);
    }
    Some(sets)
}

/// A load-balancing rule with Azure's defaults filled in, so a configuration that spells a default out and one
/// that leaves it out compare equal.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    name: String,
    protocol: String,
    frontend_port: u64,
    backend_port: u64,
    idle_timeout: u64,
    floating_ip: bool,
    probe: Option<String>,
}

/// A health probe with Azure's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
struct Probe {
    name: String,
    protocol: String,
    port: u64,
    request_path: Option<String>,
    interval: u64,
    count: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct Dns {
    zone: String,
    zone_group: String,
    record: String,
    ttl: u64,
}

fn entries(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_list).unwrap_or(&[])
}

fn rules_of(value: Option<&Value>) -> Vec<Rule> {
    entries(value)
        .iter()
        .map(|r| Rule {
            name: get_str(r, "name").unwrap_or_default().to_string(),
            protocol: get_str(r, "protocol").unwrap_or("Tcp").to_string(),
            frontend_port: get_u64(r, "frontend_port").unwrap_or(0),
            backend_port: get_u64(r, "backend_port").unwrap_or(0),
            idle_timeout: get_u64(r, "idle_timeout_in_minutes").unwrap_or(4),
            floating_ip: r
                .get("enable_floating_ip")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            probe: get_str(r, "probe_name").map(str::to_string),
        })
        .collect()
}

fn probes_of(value: Option<&Value>) -> Vec<Probe> {
    entries(value)
        .iter()
        .map(|p| Probe {
            name: get_str(p, "name").unwrap_or_default().to_string(),
            protocol: get_str(p, "protocol").unwrap_or("Tcp").to_string(),
            port: get_u64(p, "port").unwrap_or(0),
            request_path: get_str(p, "request_path").map(str::to_string),
            interval: get_u64(p, "interval_in_seconds").unwrap_or(15),
            count: get_u64(p, "number_of_probes").unwrap_or(2),
        })
        .collect()
}

fn dns_of(value: Option<&Value>) -> Option<Dns> {
    let d = value.filter(|d| !d.is_null())?;
    Some(Dns {
        zone: get_str(d, "zone_name")?.to_string(),
        zone_group: get_str(d, "zone_resource_group_name")?.to_string(),
        record: get_str(d, "record_name")?.to_string(),
        ttl: get_u64(d, "ttl").unwrap_or(300),
    })
}

/// The group's settings once the configuration is fully known.
#[derive(Debug, Clone)]
struct Settings {
    name: String,
    group: ResourceId,
    location: String,
    sku: Sku,
    internal: bool,
    subnet: Option<ResourceId>,
    cap: u64,
    rules: Vec<Rule>,
    probes: Vec<Probe>,
    dns: Option<Dns>,
    tags: BTreeMap<String, String>,
}

impl Settings {
    fn lb_name(&self, index: u64) -> String {
        format!("{}-lb-{index}", self.name)
    }

    fn lb_id(&self, index: u64) -> ResourceId {
        self.group
            .provider("Microsoft.Network", "loadBalancers", self.lb_name(index))
    }

    fn pip_id(&self, index: u64) -> ResourceId {
        self.group.provider(
            "Microsoft.Network",
            "publicIPAddresses",
            format!("{}-pip", self.lb_name(index)),
        )
    }

    /// The index a load balancer's name carries, when it is one of this group's.
    fn index_of(&self, lb_name: &str) -> Option<u64> {
        lb_name
            .strip_prefix(&format!("{}-lb-", self.name))?
            .parse()
            .ok()
    }

    fn dns_id(&self) -> Option<ResourceId> {
        self.dns
            .as_ref()
            .map(|d| dns_record_id(self.group.subscription_id(), d))
    }
}

fn dns_record_id(subscription: &str, dns: &Dns) -> ResourceId {
    ResourceId::dns_a_record_set(subscription, &dns.zone_group, &dns.zone, &dns.record)
}

fn group_id(subscription: &str, resource_group: &str, name: &str) -> ResourceId {
    ResourceId::resource_group(subscription, resource_group).provider(
        "Largek8s.Network",
        "lbGroups",
        name,
    )
}

fn sku_of(config: &Value) -> Option<Sku> {
    match config.get("sku") {
        Some(v) if v.is_null() => Some(Sku::Standard),
        Some(v) => v.as_str().and_then(Sku::parse),
        None => Some(Sku::Standard),
    }
}

/// Checks what is known of the configuration. Runs at validate and again at plan, where more is known.
fn check(config: &Value, diags: &mut Diagnostics) -> Option<Vec<BackendSet>> {
    if let Some(sku) = config.get("sku").filter(|v| v.is_known() && !v.is_null()) {
        if sku.as_str().and_then(Sku::parse).is_none() {
            diags.push(
                Diagnostic::error("Unknown SKU", "sku must be \"Standard\" or \"Basic\".")
                    .at(AttributePath::of("sku")),
            );
        }
    }
    let sku = if known(config, "sku") {
        sku_of(config)
    } else {
        None
    };
    let cap = match (sku, config.get("max_backend_nodes")) {
        (Some(sku), Some(v)) if v.is_null() => Some(sku.default_backend()),
        (Some(sku), Some(v)) if v.is_known() => match v.as_number().and_then(Number::to_u64) {
            Some(cap) if lb_layout::check_cap(sku, cap).is_ok() => Some(cap),
            _ => {
                diags.push(
                    Diagnostic::error(
                        "max_backend_nodes out of range",
                        format!(
                            "A {} load balancer's backend pool holds at most {} IP configurations \
                             (https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer): \
                             set max_backend_nodes between 1 and {}.",
                            sku.as_str(),
                            sku.max_backend(),
                            sku.max_backend()
                        ),
                    )
                    .at(AttributePath::of("max_backend_nodes")),
                );
                None
            }
        },
        _ => None,
    };
    if config.get("internal").and_then(Value::as_bool) == Some(true)
        && config.get("frontend_subnet_id").is_some_and(Value::is_null)
    {
        diags.push(
            Diagnostic::error(
                "frontend_subnet_id is required",
                "An internal group puts its frontends in a subnet: set frontend_subnet_id, or internal = false \
                 for public frontends.",
            )
            // On `internal`: frontend_subnet_id is absent, so Terraform could only point at the whole block.
            .at(AttributePath::of("internal")),
        );
    }
    if let Some(subnet) = config.get("frontend_subnet_id").filter(|v| v.is_known()) {
        parse_id(
            subnet,
            ResourceKind::Subnet,
            AttributePath::of("frontend_subnet_id"),
            diags,
        );
    }
    if let Some(rules) = config.get("rules").and_then(Value::as_list) {
        if !lb_layout::check_rule_count(rules.len() as u64) {
            diags.push(
                Diagnostic::error(
                    "Too many rules",
                    format!(
                        "A NIC takes part in at most {} load-balancing rules \
                         (https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer), \
                         and every node carries all of its load balancer's rules: remove {} of the {} rules.",
                        lb_layout::MAX_RULES_PER_NIC,
                        rules.len() as u64 - lb_layout::MAX_RULES_PER_NIC,
                        rules.len()
                    ),
                )
                .at(AttributePath::of("rules")),
            );
        }
    }
    check_probe_names(config, diags);
    check_rules(config, diags);
    check_probes(config, diags);
    check_dns(config, diags);
    check_group_name(config, diags);
    crate::resources::naming::check_resource_group_name(config, diags);
    crate::resources::naming::check_tags(config, 1, diags);
    let sets = backend_sets(config.get("backend_sets").unwrap_or(&Value::Null), diags)?;
    if let (Some(sku), Some(cap)) = (sku, cap) {
        let mut seen = BTreeSet::new();
        for (i, set) in sets.iter().enumerate() {
            let at = AttributePath::of("backend_sets").index(i as i64);
            if let Some(id) = &set.id {
                if !seen.insert(id.to_string().to_ascii_lowercase()) {
                    diags.push(
                        Diagnostic::error(
                            "Availability set listed twice",
                            format!(
                                "{id} appears more than once in backend_sets; list each set once."
                            ),
                        )
                        .at(at.clone()),
                    );
                }
            }
            let Some(nodes) = set.nodes.filter(|&n| n > cap) else {
                continue;
            };
            let name = set.name().unwrap_or("this set");
            let fix = match (sku, set.from_pool) {
                (Sku::Basic, true) => format!(
                    "set max_nodes_per_set <= {cap} on the largek8s_pool so that no set outgrows one Basic load \
                     balancer, or use sku = \"Standard\""
                ),
                (Sku::Basic, false) => format!(
                    "split the set (a pool's max_nodes_per_set <= {cap}), raise max_backend_nodes up to {}, or use sku = \"Standard\"",
                    Sku::Basic.max_backend()
                ),
                (Sku::Standard, _) => format!("raise max_backend_nodes up to {}", Sku::Standard.max_backend()),
            };
            diags.push(
                Diagnostic::error(
                    "Availability set too large for one load balancer",
                    format!(
                        "Availability set {name} holds {nodes} nodes, but one {} load balancer of this group fronts at \
                         most {cap} (max_backend_nodes), and a set is never split across load balancers: {fix}.",
                        sku.as_str()
                    ),
                )
                .at(at),
            );
        }
    }
    Some(sets)
}

/// Every rule's `probe_name` must name one of `probes`, or Azure refuses the load balancer at apply.
fn check_probe_names(config: &Value, diags: &mut Diagnostics) {
    let Some(probes) = config.get("probes").filter(|p| p.is_fully_known()) else {
        return;
    };
    let names: BTreeSet<&str> = probes
        .as_list()
        .unwrap_or(&[])
        .iter()
        .filter_map(|p| get_str(p, "name"))
        .collect();
    for (i, rule) in config
        .get("rules")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if let Some(probe) = get_str(rule, "probe_name").filter(|p| !names.contains(p)) {
            diags.push(
                Diagnostic::error(
                    "Unknown probe",
                    format!("Rule {i} uses probe {probe:?}, which is not one of probes: add it to probes or fix the name."),
                )
                .at(AttributePath::of("rules").index(i as i64).attr("probe_name")),
            );
        }
    }
}

/// Azure's rule protocols; `All` is the HA-ports rule of an internal Standard load balancer
/// (https://learn.microsoft.com/azure/load-balancer/load-balancer-ha-ports-overview).
const RULE_PROTOCOLS: [&str; 3] = ["Tcp", "Udp", "All"];
/// Probe protocols (https://learn.microsoft.com/azure/load-balancer/load-balancer-custom-probe-overview).
const PROBE_PROTOCOLS: [&str; 3] = ["Tcp", "Http", "Https"];
/// TCP idle timeout range in minutes, as the `idle_timeout_in_minutes` description states.
const IDLE_TIMEOUT_MINUTES: std::ops::RangeInclusive<u64> = 4..=30;
/// Shortest probe interval Azure accepts, in seconds.
const MIN_PROBE_INTERVAL: u64 = 5;

/// The whole-number value of `attr` in `item` when it is known but outside `range`.
fn out_of_range(item: &Value, attr: &str, range: std::ops::RangeInclusive<u64>) -> Option<String> {
    let n = item.get(attr).and_then(Value::as_number)?;
    let inside = n.is_integer() && n.to_u64().is_some_and(|v| range.contains(&v));
    (!inside).then(|| n.to_string())
}

/// Each rule's protocol, ports and idle timeout, and that rule names and frontends are unique, before Azure
/// refuses the load balancer at apply.
fn check_rules(config: &Value, diags: &mut Diagnostics) {
    let rules = config.get("rules").and_then(Value::as_list).unwrap_or(&[]);
    let mut names = BTreeSet::new();
    let mut frontends = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = |attr: &str| AttributePath::of("rules").index(i as i64).attr(attr);
        let protocol = get_str(rule, "protocol");
        if let Some(p) = protocol.filter(|p| !RULE_PROTOCOLS.contains(p)) {
            diags.push(
                Diagnostic::error(
                    "Unknown rule protocol",
                    format!(
                        "rules[{i}].protocol is {p:?}; use one of {} (names are case-sensitive).",
                        RULE_PROTOCOLS.join(", ")
                    ),
                )
                .at(at("protocol")),
            );
        }
        let ha_ports = protocol == Some("All");
        for (attr, max) in [("frontend_port", 65534), ("backend_port", 65535)] {
            let range = if ha_ports { 0..=0 } else { 1..=max };
            if let Some(value) = out_of_range(rule, attr, range) {
                let rule_text = if ha_ports {
                    "an HA-ports rule (protocol \"All\") uses port 0".to_string()
                } else {
                    format!("use a port from 1 to {max}")
                };
                diags.push(
                    Diagnostic::error(
                        format!("Invalid {attr}"),
                        format!("rules[{i}].{attr} is {value}: {rule_text}."),
                    )
                    .at(at(attr)),
                );
            }
        }
        if let Some(value) = out_of_range(rule, "idle_timeout_in_minutes", IDLE_TIMEOUT_MINUTES) {
            diags.push(
                Diagnostic::error(
                    "Invalid idle_timeout_in_minutes",
                    format!(
                        "rules[{i}].idle_timeout_in_minutes is {value}; use {} to {} minutes.",
                        IDLE_TIMEOUT_MINUTES.start(),
                        IDLE_TIMEOUT_MINUTES.end()
                    ),
                )
                .at(at("idle_timeout_in_minutes")),
            );
        }
        if let Some(name) = get_str(rule, "name") {
            if !names.insert(name) {
                diags.push(
                    Diagnostic::error(
                        "Duplicate rule name",
                        format!("rules[{i}] is named {name:?} like an earlier rule; give each rule its own name."),
                    )
                    .at(at("name")),
                );
            }
        }
        if let (Some(p), Some(port)) = (protocol, get_u64(rule, "frontend_port")) {
            if !frontends.insert((p, port)) {
                diags.push(
                    Diagnostic::error(
                        "Frontend port used twice",
                        format!(
                            "rules[{i}] uses {p} port {port} on the frontend like an earlier rule; Azure allows one \
                             rule per frontend port and protocol: change frontend_port."
                        ),
                    )
                    .at(at("frontend_port")),
                );
            }
        }
    }
}

/// Each probe's protocol, port, request path and timing, and that probe names are unique.
fn check_probes(config: &Value, diags: &mut Diagnostics) {
    let probes = config.get("probes").and_then(Value::as_list).unwrap_or(&[]);
    let mut names = BTreeSet::new();
    for (i, probe) in probes.iter().enumerate() {
        let at = |attr: &str| AttributePath::of("probes").index(i as i64).attr(attr);
        let protocol = get_str(probe, "protocol");
        if let Some(p) = protocol.filter(|p| !PROBE_PROTOCOLS.contains(p)) {
            diags.push(
                Diagnostic::error(
                    "Unknown probe protocol",
                    format!(
                        "probes[{i}].protocol is {p:?}; use one of {} (names are case-sensitive).",
                        PROBE_PROTOCOLS.join(", ")
                    ),
                )
                .at(at("protocol")),
            );
        }
        if let Some(value) = out_of_range(probe, "port", 1..=65535) {
            diags.push(
                Diagnostic::error(
                    "Invalid probe port",
                    format!("probes[{i}].port is {value}; use a port from 1 to 65535."),
                )
                .at(at("port")),
            );
        }
        let path = probe.get("request_path");
        let has_path = path.is_some_and(|p| !p.is_null());
        match protocol {
            Some("Http" | "Https") if path.is_some_and(Value::is_null) => diags.push(
                Diagnostic::error(
                    "request_path is required",
                    format!("probes[{i}] is an HTTP probe: set request_path, e.g. \"/healthz\"."),
                )
                .at(AttributePath::of("probes").index(i as i64)),
            ),
            Some("Http" | "Https") => {
                if let Some(p) = path
                    .and_then(Value::as_str)
                    .filter(|p| !p.starts_with('/'))
                {
                    diags.push(
                        Diagnostic::error(
                            "Invalid request_path",
                            format!("probes[{i}].request_path {p:?} must start with \"/\", e.g. \"/healthz\"."),
                        )
                        .at(at("request_path")),
                    );
                }
            }
            Some("Tcp") if has_path => diags.push(
                Diagnostic::error(
                    "request_path on a Tcp probe",
                    format!("probes[{i}] is a Tcp probe, which has no request path: remove request_path or use protocol \"Http\"."),
                )
                .at(at("request_path")),
            ),
            _ => {}
        }
        if let Some(value) = out_of_range(
            probe,
            "interval_in_seconds",
            MIN_PROBE_INTERVAL..=i32::MAX as u64,
        ) {
            diags.push(
                Diagnostic::error(
                    "Invalid interval_in_seconds",
                    format!("probes[{i}].interval_in_seconds is {value}; Azure probes at most every {MIN_PROBE_INTERVAL} seconds: use {MIN_PROBE_INTERVAL} or more."),
                )
                .at(at("interval_in_seconds")),
            );
        }
        if let Some(value) = out_of_range(probe, "number_of_probes", 1..=i32::MAX as u64) {
            diags.push(
                Diagnostic::error(
                    "Invalid number_of_probes",
                    format!("probes[{i}].number_of_probes is {value}; use 1 or more."),
                )
                .at(at("number_of_probes")),
            );
        }
        if let Some(name) = get_str(probe, "name") {
            if !names.insert(name) {
                diags.push(
                    Diagnostic::error(
                        "Duplicate probe name",
                        format!("probes[{i}] is named {name:?} like an earlier probe; give each probe its own name."),
                    )
                    .at(at("name")),
                );
            }
        }
    }
}

/// A DNS label: 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// The `dns` object: a zone name of two or more labels, a record name (`@`, labels, `*` first), a TTL
/// Azure accepts (https://learn.microsoft.com/azure/dns/dns-zones-records).
fn check_dns(config: &Value, diags: &mut Diagnostics) {
    let Some(dns) = config.get("dns").filter(|d| d.is_known() && !d.is_null()) else {
        return;
    };
    let at = |attr: &str| AttributePath::of("dns").attr(attr);
    if let Some(zone) = get_str(dns, "zone_name") {
        let zone = zone.strip_suffix('.').unwrap_or(zone);
        if zone.len() > 253 || zone.split('.').count() < 2 || !zone.split('.').all(is_dns_label) {
            diags.push(
                Diagnostic::error(
                    "Invalid dns.zone_name",
                    format!("zone_name {zone:?} is not a DNS zone name: use two or more labels of letters, digits and hyphens, e.g. \"example.com\"."),
                )
                .at(at("zone_name")),
            );
        }
    }
    if let Some(record) = get_str(dns, "record_name") {
        let labels = record.strip_prefix("*.").unwrap_or(record);
        let ok = record == "@"
            || record == "*"
            || labels
                .split('.')
                .all(|l| is_dns_label(&l.replace('_', "a")));
        if !ok {
            diags.push(
                Diagnostic::error(
                    "Invalid dns.record_name",
                    format!("record_name {record:?} is not a record set name: use \"@\" for the zone apex, or labels of letters, digits, hyphens and underscores such as \"www\"."),
                )
                .at(at("record_name")),
            );
        }
    }
    if let Some(value) = out_of_range(dns, "ttl", 1..=i32::MAX as u64) {
        diags.push(
            Diagnostic::error(
                "Invalid dns.ttl",
                format!(
                    "ttl is {value}; use a whole number of seconds from 1 to {}.",
                    i32::MAX
                ),
            )
            .at(at("ttl")),
        );
    }
}

/// The group's `name` prefixes its load balancers' and public IPs' names (`<name>-lb-<i>-pip`), which Azure
/// limits to 80 characters of letters, digits, `_ - .`, starting with a letter or digit.
fn check_group_name(config: &Value, diags: &mut Diagnostics) {
    const MAX: usize = 64;
    let Some(name) = get_str(config, "name") else {
        return;
    };
    let ok = (1..=MAX).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        diags.push(
            Diagnostic::error(
                "Invalid group name",
                format!(
                    "name {name:?} must start with a letter or digit and hold 1 to {MAX} letters, digits, \
                     underscores, hyphens and periods (load balancer names are built from it)."
                ),
            )
            .at(AttributePath::of("name")),
        );
    }
}

/// The rule, probe, DNS and name checks above (kept beside them, apart from the resource's plan tests).
#[cfg(test)]
mod check_tests {
    use super::*;

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().cloned())
    }

    fn rule(protocol: &str, frontend: i64, backend: i64) -> Value {
        object(&[
            ("name", Value::string(format!("{protocol}{frontend}"))),
            ("protocol", Value::string(protocol)),
            ("frontend_port", Value::number(frontend)),
            ("backend_port", Value::number(backend)),
        ])
    }

    fn paths_of(config: &[(&str, Value)]) -> Vec<(String, String)> {
        let mut diags = Diagnostics::new();
        let config = object(config);
        check_rules(&config, &mut diags);
        check_probes(&config, &mut diags);
        check_dns(&config, &mut diags);
        check_group_name(&config, &mut diags);
        diags
            .iter()
            .map(|d| {
                let at = d.attribute.as_ref().map(ToString::to_string);
                (at.unwrap_or_default(), d.detail.clone())
            })
            .collect()
    }

    fn flagged(config: &[(&str, Value)], path: &str, fragment: &str) {
        let found = paths_of(config);
        assert!(
            found.iter().any(|(p, d)| p == path && d.contains(fragment)),
            "expected {path} with {fragment:?}, got {found:?}"
        );
    }

    #[test]
    fn rules_need_known_protocols_ports_in_range_and_unique_frontends() {
        flagged(
            &[("rules", Value::list([rule("Icmp", 80, 80)]))],
            "rules[0].protocol",
            "Tcp, Udp, All",
        );
        flagged(
            &[("rules", Value::list([rule("Tcp", 0, 80)]))],
            "rules[0].frontend_port",
            "1 to 65534",
        );
        flagged(
            &[("rules", Value::list([rule("Udp", 53, 70000)]))],
            "rules[0].backend_port",
            "1 to 65535",
        );
        flagged(
            &[("rules", Value::list([rule("All", 80, 0)]))],
            "rules[0].frontend_port",
            "port 0",
        );
        flagged(
            &[(
                "rules",
                Value::list([rule("Tcp", 80, 80), rule("Tcp", 80, 8080)]),
            )],
            "rules[1].frontend_port",
            "one rule per frontend port",
        );
        let slow = object(&[
            ("name", Value::string("r")),
            ("protocol", Value::string("Tcp")),
            ("frontend_port", Value::number(1i64)),
            ("backend_port", Value::number(1i64)),
            ("idle_timeout_in_minutes", Value::number(31i64)),
        ]);
        flagged(
            &[("rules", Value::list([slow]))],
            "rules[0].idle_timeout_in_minutes",
            "4 to 30",
        );
        assert!(paths_of(&[(
            "rules",
            Value::list([
                rule("Tcp", 80, 8080),
                rule("Udp", 80, 80),
                rule("All", 0, 0)
            ])
        )])
        .is_empty());
    }

    #[test]
    fn probes_need_a_path_only_over_http() {
        let probe = |protocol: &str, path: Value| {
            object(&[
                ("name", Value::string("p")),
                ("protocol", Value::string(protocol)),
                ("port", Value::number(80i64)),
                ("request_path", path),
            ])
        };
        flagged(
            &[("probes", Value::list([probe("Http", Value::Null)]))],
            "probes[0]",
            "set request_path",
        );
        flagged(
            &[(
                "probes",
                Value::list([probe("Https", Value::string("healthz"))]),
            )],
            "probes[0].request_path",
            "start with",
        );
        flagged(
            &[("probes", Value::list([probe("Tcp", Value::string("/x"))]))],
            "probes[0].request_path",
            "remove request_path",
        );
        flagged(
            &[("probes", Value::list([probe("Udp", Value::Null)]))],
            "probes[0].protocol",
            "Tcp, Http, Https",
        );
        assert!(
            paths_of(&[(
                "probes",
                Value::list([
                    probe("Http", Value::string("/healthz")),
                    probe("Tcp", Value::Null)
                ])
            )])
            .len()
                == 1,
            "only the duplicate name is flagged"
        );
    }

    #[test]
    fn dns_names_and_ttl_follow_azure_dns() {
        let dns = |zone: &str, record: &str, ttl: i64| {
            object(&[
                ("zone_name", Value::string(zone)),
                ("zone_resource_group_name", Value::string("dns")),
                ("record_name", Value::string(record)),
                ("ttl", Value::number(ttl)),
            ])
        };
        flagged(
            &[("dns", dns("localhost", "www", 300))],
            "dns.zone_name",
            "two or more labels",
        );
        flagged(
            &[("dns", dns("example.com", "bad name", 300))],
            "dns.record_name",
            "\"@\"",
        );
        flagged(
            &[("dns", dns("example.com", "www", 0))],
            "dns.ttl",
            "from 1",
        );
        for record in ["@", "*", "www", "_acme-challenge", "*.apps"] {
            assert!(
                paths_of(&[("dns", dns("example.com.", record, 60))]).is_empty(),
                "{record}"
            );
        }
    }

    #[test]
    fn internal_without_a_subnet_points_at_internal_which_the_config_holds() {
        let diags = validate(&object(&[
            ("internal", Value::Bool(true)),
            ("frontend_subnet_id", Value::Null),
        ]));
        assert!(
            diags
                .iter()
                .any(|d| d.attribute == Some(AttributePath::of("internal"))
                    && d.detail.contains("set frontend_subnet_id")),
            "{diags:?}"
        );
    }

    #[test]
    fn group_names_must_fit_azure_load_balancer_names() {
        flagged(
            &[("name", Value::string("-web"))],
            "name",
            "start with a letter or digit",
        );
        flagged(
            &[("name", Value::string("w".repeat(65)))],
            "name",
            "1 to 64",
        );
        assert!(paths_of(&[("name", Value::string("web_1.prod"))]).is_empty());
    }
}

fn settings(config: &Value, subscription: &str) -> Result<Settings, Diagnostics> {
    let missing = |attr: &str| -> Diagnostics {
        Diagnostic::error(
            "Value not known",
            format!("{attr} must be known to apply this group."),
        )
        .at(AttributePath::of(attr))
        .into()
    };
    let name = get_str(config, "name")
        .ok_or_else(|| missing("name"))?
        .to_string();
    let resource_group =
        get_str(config, "resource_group_name").ok_or_else(|| missing("resource_group_name"))?;
    let location = get_str(config, "location")
        .ok_or_else(|| missing("location"))?
        .to_string();
    let sku = sku_of(config).ok_or_else(|| missing("sku"))?;
    let cap = get_u64(config, "max_backend_nodes").unwrap_or(sku.default_backend());
    let mut diags = Diagnostics::new();
    let subnet = config.get("frontend_subnet_id").and_then(|v| {
        parse_id(
            v,
            ResourceKind::Subnet,
            AttributePath::of("frontend_subnet_id"),
            &mut diags,
        )
    });
    if diags.has_errors() {
        return Err(diags);
    }
    let rules = rules_of(config.get("rules"));
    let probes = probes_of(config.get("probes"));
    let dns = dns_of(config.get("dns"));
    let tags = config
        .get("tags")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Settings {
        group: ResourceId::resource_group(subscription, resource_group),
        name,
        location,
        sku,
        internal: config
            .get("internal")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        subnet,
        cap,
        rules,
        probes,
        dns,
        tags,
    })
}

/// The timeout of `op` from the `timeouts` block, in Go's duration syntax (`45m`, `1h30m`, `90s`).
fn timeout(config: &Value, op: &str) -> Result<Duration, Diagnostic> {
    let Some(text) = config
        .get("timeouts")
        .and_then(|t| t.get(op))
        .and_then(Value::as_str)
    else {
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
    check(config, &mut diags);
    for op in ["create", "read", "update", "delete"] {
        if let Err(d) = timeout(config, op) {
            diags.push(d);
        }
    }
    diags
}

// ---------------------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------------------

/// Where each set sat in the prior state: lower-cased availability set ID -> (load balancer index, position among
/// that load balancer's `availability_set_ids`).
fn prior_assignment(prior: &Value, name: &str) -> BTreeMap<String, (u64, usize)> {
    let prefix = format!("{name}-lb-");
    let mut out = BTreeMap::new();
    for lb in prior
        .get("load_balancers")
        .and_then(Value::as_list)
        .unwrap_or(&[])
    {
        let Some(index) = get_str(lb, "name")
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|i| i.parse().ok())
        else {
            continue;
        };
        for (position, id) in lb
            .get("availability_set_ids")
            .and_then(Value::as_list)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if let Some(id) = id.as_str() {
                out.insert(id.to_ascii_lowercase(), (index, position));
            }
        }
    }
    out
}

fn prior_frontends(prior: &Value) -> BTreeMap<String, Value> {
    prior
        .get("load_balancers")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(|lb| {
            Some((
                get_str(lb, "name")?.to_string(),
                lb.get("frontend_ip")?.clone(),
            ))
        })
        .filter(|(_, ip)| ip.as_str().is_some())
        .collect()
}

/// A planned load balancer: index, the sets it fronts, and how many nodes.
#[derive(Debug, Clone)]
struct PlannedLb {
    index: u64,
    sets: Vec<ResourceId>,
    nodes: u64,
}

/// The load balancers for `sets`. A load balancer lists the sets it kept in their prior order (which import and
/// Read take from Azure, not from the configuration), then the sets it gains in configuration order, so that the
/// outputs derived from the order (annotations, `primaryVMSet`) change only when the sets do.
fn layout(
    settings: &Settings,
    sets: &[(ResourceId, u64)],
    prior: &BTreeMap<String, (u64, usize)>,
) -> Result<Vec<PlannedLb>, LbLayoutError> {
    let key = |id: &ResourceId| id.to_string().to_ascii_lowercase();
    let demand: Vec<SetDemand> = sets
        .iter()
        .map(|(id, nodes)| SetDemand {
            key: key(id),
            nodes: *nodes,
        })
        .collect();
    let indices: BTreeMap<String, u64> = prior
        .iter()
        .map(|(set, (index, _))| (set.clone(), *index))
        .collect();
    let slots = lb_layout::group(settings.sku, settings.cap, &demand, &indices)?;
    Ok(slots
        .into_iter()
        .map(|slot| {
            let mut fronted: Vec<ResourceId> = slot
                .sets
                .iter()
                .filter_map(|&p| sets.get(p).map(|(id, _)| id.clone()))
                .collect();
            fronted.sort_by_key(|id| {
                prior
                    .get(&key(id))
                    .filter(|(index, _)| *index == slot.index)
                    .map_or(usize::MAX, |(_, position)| *position)
            });
            PlannedLb {
                index: slot.index,
                sets: fronted,
                nodes: slot.nodes,
            }
        })
        .collect())
}

fn annotations(settings: &Settings, lb: &[ResourceId]) -> Value {
    let mut map = BTreeMap::from([(
        MODE_ANNOTATION.to_string(),
        Value::string(
            lb.iter()
                .map(ResourceId::name)
                .collect::<Vec<_>>()
                .join(","),
        ),
    )]);
    if settings.internal {
        map.insert(INTERNAL_ANNOTATION.to_string(), Value::string("true"));
    }
    Value::Map(map)
}

/// cloud-provider-azure's multiple Standard load balancer configuration: one entry per load balancer, with
/// the first availability set it fronts as the primary VM set whose nodes always join it
/// (<https://cloud-provider-azure.sigs.k8s.io/topics/multiple-slbs/>).
fn cloud_provider_config(settings: &Settings, lbs: &[PlannedLb]) -> Value {
    if settings.sku != Sku::Standard {
        return Value::Null;
    }
    let configs: Vec<Json> = lbs
        .iter()
        .map(|lb| {
            json!({
                "name": settings.lb_name(lb.index),
                "primaryVMSet": lb.sets.first().map(ResourceId::name).unwrap_or_default(),
                "allowServicePlacement": true,
            })
        })
        .collect();
    Value::string(
        json!({ "loadBalancerSku": "standard", "multipleStandardLoadBalancerConfigurations": configs }).to_string(),
    )
}

/// The computed outputs for a layout; `frontend` gives the frontend IP of each LB name (unknown when new).
fn outputs(
    state: &mut BTreeMap<String, Value>,
    settings: &Settings,
    lbs: &[PlannedLb],
    frontend: &dyn Fn(&str) -> Value,
) {
    let mut list = Vec::new();
    let mut ips = Vec::new();
    let mut notes = Vec::new();
    for lb in lbs {
        let name = settings.lb_name(lb.index);
        let ip = frontend(&name);
        ips.push(ip.clone());
        notes.push(annotations(settings, &lb.sets));
        list.push(Value::object([
            ("id", Value::string(settings.lb_id(lb.index).to_string())),
            (
                "availability_set_ids",
                Value::list(lb.sets.iter().map(|id| Value::string(id.to_string()))),
            ),
            ("frontend_ip", ip),
            ("backend_node_count", Value::number(lb.nodes)),
            ("name", Value::string(name)),
        ]));
    }
    state.insert("load_balancers".into(), Value::List(list));
    state.insert("frontend_ips".into(), Value::List(ips));
    state.insert("service_annotations".into(), Value::List(notes));
    state.insert(
        "cloud_provider_config".into(),
        cloud_provider_config(settings, lbs),
    );
}

fn unknown_outputs(state: &mut BTreeMap<String, Value>) {
    for attr in [
        "load_balancers",
        "frontend_ips",
        "service_annotations",
        "cloud_provider_config",
    ] {
        state.insert(attr.into(), Value::unknown());
    }
}

/// The Basic retirement warning, shown at plan time on public Azure.
fn basic_retirement_warning() -> Diagnostic {
    Diagnostic::warning(
        "Basic load balancers are retired on public Azure",
        "Azure retired the Basic load balancer SKU on 2025-09-30 \
         (https://azure.microsoft.com/updates/azure-basic-load-balancer-will-be-retired-on-30-september-2025-upgrade-to-standard-load-balancer/): \
         existing ones run unsupported and new ones may be refused. Set sku = \"Standard\".",
    )
    .at(AttributePath::of("sku"))
}

const REPLACING: [&str; 6] = [
    "name",
    "resource_group_name",
    "location",
    "sku",
    "internal",
    "frontend_subnet_id",
];

/// Inputs a configuration can spell differently from the state while meaning the same: `backend_sets` as a pool's
/// `availability_sets` or as `{ availability_set_id, nic_ids }` (as import and Read record it); rules, probes
/// and dns with Azure's defaults written out or left out; a region as its display name (`West Europe`) or as
/// Azure returns it (`westeurope`); an ARM ID in another letter case (ARM IDs are case-insensitive).
const EQUIVALENT_FORMS: [&str; 6] = [
    "backend_sets",
    "rules",
    "probes",
    "dns",
    "location",
    "frontend_subnet_id",
];

fn equivalent(attr: &str, a: &Value, b: &Value) -> bool {
    let text = |v: &Value, normal: fn(&str) -> String| v.as_str().map(normal);
    match attr {
        "location" => {
            let region = |s: &str| s.replace(' ', "").to_ascii_lowercase();
            text(a, region).is_some_and(|r| Some(r) == text(b, region))
        }
        "frontend_subnet_id" => text(a, str::to_ascii_lowercase)
            .is_some_and(|id| Some(id) == text(b, str::to_ascii_lowercase)),
        // Only across forms: two pools' `availability_sets` that differ (a node's `shape` during a rollout)
        // are planned as written, so that a plan made while some were unknown stays the plan once they are.
        "backend_sets" => {
            pool_form(a) != pool_form(b)
                && membership_of(a).is_some_and(|m| Some(m) == membership_of(b))
        }
        "rules" => rules_of(Some(a)) == rules_of(Some(b)),
        "probes" => probes_of(Some(a)) == probes_of(Some(b)),
        "dns" => dns_of(Some(a)).is_some_and(|d| Some(d) == dns_of(Some(b))),
        _ => false,
    }
}

/// Plans the prior value of an input the configuration only spells differently, so that import and a Read that
/// found nothing changed lead to an empty plan. Terraform accepts a planned value equal to the prior one in
/// place of the configuration's, as the provider's judgement that the two are the same
/// (<https://github.com/hashicorp/terraform/blob/v1.11.0/internal/plans/objchange/plan_valid.go>).
fn keep_equivalent_prior(state: &mut BTreeMap<String, Value>, prior: &Value) {
    for attr in EQUIVALENT_FORMS {
        let (Some(old), Some(new)) = (prior.get(attr), state.get(attr)) else {
            continue;
        };
        if old != new
            && !old.is_null()
            && !new.is_null()
            && new.is_fully_known()
            && equivalent(attr, old, new)
        {
            state.insert(attr.into(), old.clone());
        }
    }
}

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
    let sets = check(&request.config, &mut diags);
    let sku = if known(proposed, "sku") {
        sku_of(proposed)
    } else {
        None
    };
    if sku == Some(Sku::Basic) && ctx.public_cloud {
        diags.push(basic_retirement_warning());
    }
    if state.get("sku").is_some_and(Value::is_null) {
        state.insert("sku".into(), Value::string(Sku::Standard.as_str()));
    }
    if state.get("internal").is_some_and(Value::is_null) {
        state.insert("internal".into(), Value::Bool(false));
    }
    if state.get("max_backend_nodes").is_some_and(Value::is_null) {
        let default = sku.map_or(Value::unknown(), |s| Value::number(s.default_backend()));
        state.insert("max_backend_nodes".into(), default);
    }
    let mut replace = Vec::new();
    let prior = &request.prior_state;
    if !prior.is_null() {
        keep_equivalent_prior(&mut state, prior);
        for attr in REPLACING {
            let (old, new) = (prior.get(attr), state.get(attr));
            if new.is_some_and(|v| v.is_known()) && old != new {
                replace.push(AttributePath::of(attr));
            }
        }
    }
    let resolved = Value::Object(state.clone());
    let subscription = ctx.arm().ok().map(|arm| arm.subscription_id().to_string());
    let id = match (
        &subscription,
        get_str(&resolved, "resource_group_name"),
        get_str(&resolved, "name"),
    ) {
        (Some(sub), Some(rg), Some(name)) => Value::string(group_id(sub, rg, name).to_string()),
        _ => Value::unknown(),
    };
    state.insert("id".into(), id);
    let complete = sets
        .as_ref()
        .is_some_and(|sets| sets.iter().all(|s| s.id.is_some() && s.nodes.is_some()))
        && [
            "name",
            "resource_group_name",
            "sku",
            "internal",
            "max_backend_nodes",
        ]
        .iter()
        .all(|a| known(&resolved, a));
    let (Some(sub), true, false) = (subscription, complete, diags.has_errors()) else {
        unknown_outputs(&mut state);
        return (Value::Object(state), replace, diags);
    };
    let settings = match settings(&resolved, &sub) {
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
        prior_assignment(prior, &settings.name)
    };
    match layout(&settings, &demand, &prior_sets) {
        Ok(lbs) => {
            let frontends = if replacing {
                BTreeMap::new()
            } else {
                prior_frontends(prior)
            };
            outputs(&mut state, &settings, &lbs, &|name| {
                frontends.get(name).cloned().unwrap_or_else(Value::unknown)
            });
        }
        Err(e) => diags.push(
            Diagnostic::error("Cannot group the backend sets", e.to_string())
                .at(AttributePath::of("backend_sets")),
        ),
    }
    (Value::Object(state), replace, diags)
}

// ---------------------------------------------------------------------------------------------------------
// Apply: create, update and delete
// ---------------------------------------------------------------------------------------------------------

fn api_error(summary: &str, e: &ArmError) -> Diagnostic {
    let code = e
        .api()
        .map(|a| format!(" (Azure error {})", a.code))
        .unwrap_or_default();
    Diagnostic::error(summary.to_string(), format!("{e}{code}"))
}

fn tags_json(settings: &Settings) -> Json {
    let mut tags: serde_json::Map<String, Json> = settings
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    let mut own = vec![
        (GROUP_TAG, settings.name.clone()),
        (CAP_TAG, settings.cap.to_string()),
    ];
    if let Some(dns) = &settings.dns {
        own.extend([
            (DNS_ZONE_TAG, dns.zone.clone()),
            (DNS_ZONE_GROUP_TAG, dns.zone_group.clone()),
            (DNS_RECORD_TAG, dns.record.clone()),
            (DNS_TTL_TAG, dns.ttl.to_string()),
        ]);
    }
    for (k, v) in own {
        tags.insert(k.into(), Json::String(v));
    }
    Json::Object(tags)
}

/// Whether a tag is one the provider writes (GROUP_TAG and the tags sharing its prefix) rather than a user's.
fn is_own_tag(key: &str) -> bool {
    key.strip_prefix(GROUP_TAG)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The cap and DNS record a load balancer's tags recorded at create, for import.
fn recorded_settings(tags: &Json) -> (Option<u64>, Value) {
    let tag = |k: &str| tags[k].as_str();
    let cap = tag(CAP_TAG).and_then(|c| c.parse().ok());
    let dns = match (
        tag(DNS_ZONE_TAG),
        tag(DNS_ZONE_GROUP_TAG),
        tag(DNS_RECORD_TAG),
    ) {
        (Some(zone), Some(group), Some(record)) => Value::object([
            ("zone_name", Value::string(zone)),
            ("zone_resource_group_name", Value::string(group)),
            ("record_name", Value::string(record)),
            (
                "ttl",
                tag(DNS_TTL_TAG)
                    .and_then(|t| t.parse::<u64>().ok())
                    .map_or(Value::Null, Value::number),
            ),
        ]),
        _ => Value::Null,
    };
    (cap, dns)
}

fn rules_json(settings: &Settings, lb_id: &ResourceId) -> (Json, Json) {
    let sub = |kind: &str, name: &str| json!({ "id": format!("{lb_id}/{kind}/{name}") });
    let probes: Vec<Json> = settings
        .probes
        .iter()
        .map(|p| {
            let mut props = json!({
                "protocol": p.protocol,
                "port": p.port,
                "intervalInSeconds": p.interval,
                "numberOfProbes": p.count,
            });
            if let Some(path) = &p.request_path {
                props["requestPath"] = json!(path);
            }
            json!({ "name": p.name, "properties": props })
        })
        .collect();
    let rules: Vec<Json> = settings
        .rules
        .iter()
        .map(|r| {
            let mut props = json!({
                "frontendIPConfiguration": sub("frontendIPConfigurations", FRONTEND),
                "backendAddressPool": sub("backendAddressPools", BACKEND_POOL),
                "protocol": r.protocol,
                "frontendPort": r.frontend_port,
                "backendPort": r.backend_port,
                "idleTimeoutInMinutes": r.idle_timeout,
                "enableFloatingIP": r.floating_ip,
            });
            if let Some(probe) = &r.probe {
                props["probe"] = sub("probes", probe);
            }
            json!({ "name": r.name, "properties": props })
        })
        .collect();
    (Json::Array(probes), Json::Array(rules))
}

/// Creates the load balancer (and its public IP) or brings its frontend, rules, probes and tags up to date. An
/// existing load balancer whose frontend is still the group's keeps it as it is, so its IP never changes.
async fn ensure_lb(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    index: u64,
) -> Result<(), ArmError> {
    let lb_id = settings.lb_id(index);
    let (probes, rules) = rules_json(settings, &lb_id);
    let path = lb_id.to_string();
    let existing = arm
        .get_optional::<Json>(ctx, &path, NETWORK_API_VERSION)
        .await?;
    let frontend = match &existing {
        Some(lb) if frontend_is_ours(settings, index, &lb.body) => None,
        _ => Some(ensure_frontend(arm, ctx, settings, index).await?),
    };
    let Some(existing) = existing else {
        let body = json!({
            "location": settings.location,
            "sku": { "name": settings.sku.as_str() },
            "tags": tags_json(settings),
            "properties": {
                "frontendIPConfigurations": [{ "name": FRONTEND, "properties": frontend }],
                "backendAddressPools": [{ "name": BACKEND_POOL }],
                "probes": probes,
                "loadBalancingRules": rules,
            },
        });
        arm.put_and_wait::<_, Json>(
            ctx,
            &path,
            NETWORK_API_VERSION,
            &body,
            &Conditions::default(),
        )
        .await?;
        return Ok(());
    };
    let mut body = existing.body;
    let unchanged = frontend.is_none()
        && body["properties"]["probes"].as_array().map_or(0, Vec::len) == settings.probes.len()
        && body["properties"]["loadBalancingRules"]
            .as_array()
            .map_or(0, Vec::len)
            == settings.rules.len()
        && same_rules(&body, &probes, &rules)
        && body["tags"] == tags_json(settings);
    if unchanged {
        return Ok(());
    }
    let Some(props) = body.get_mut("properties").and_then(Json::as_object_mut) else {
        return Err(ArmError::Config(format!(
            "load balancer {lb_id} has no properties"
        )));
    };
    props.insert("probes".into(), probes);
    props.insert("loadBalancingRules".into(), rules);
    if let Some(frontend) = frontend {
        props.insert(
            "frontendIPConfigurations".into(),
            json!([{ "name": FRONTEND, "properties": frontend }]),
        );
    }
    if let Some(top) = body.as_object_mut() {
        top.insert("tags".into(), tags_json(settings));
    }
    let conditions = Conditions::matching(existing.etag);
    arm.put_and_wait::<_, Json>(ctx, &path, NETWORK_API_VERSION, &body, &conditions)
        .await?;
    Ok(())
}

/// The properties of the group's frontend for load balancer `index`, creating its public IP first when the group
/// is public (a PUT of an existing Static public IP keeps its address).
async fn ensure_frontend(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    index: u64,
) -> Result<Json, ArmError> {
    if settings.internal {
        let subnet = settings
            .subnet
            .as_ref()
            .map(ResourceId::to_string)
            .unwrap_or_default();
        return Ok(json!({ "subnet": { "id": subnet }, "privateIPAllocationMethod": "Dynamic" }));
    }
    let pip = settings.pip_id(index);
    let body = json!({
        "location": settings.location,
        "sku": { "name": settings.sku.as_str() },
        "tags": tags_json(settings),
        "properties": { "publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4" },
    });
    arm.put_and_wait::<_, Json>(
        ctx,
        &pip.to_string(),
        NETWORK_API_VERSION,
        &body,
        &Conditions::default(),
    )
    .await?;
    Ok(json!({ "publicIPAddress": { "id": pip.to_string() } }))
}

/// Whether load balancer `index`'s frontend is still the one the group gave it: its own public IP, or a dynamic
/// private IP in `frontend_subnet_id`. Anything else is drift that apply repairs.
fn frontend_is_ours(settings: &Settings, index: u64, lb: &Json) -> bool {
    let configs = lb["properties"]["frontendIPConfigurations"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let [config] = configs else {
        return false;
    };
    let p = &config["properties"];
    let same = |a: &Json, b: Option<String>| {
        a.as_str()
            .zip(b)
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(&b))
    };
    if settings.internal {
        same(
            &p["subnet"]["id"],
            settings.subnet.as_ref().map(ResourceId::to_string),
        ) && p["privateIPAllocationMethod"]
            .as_str()
            .is_none_or(|m| m.eq_ignore_ascii_case("Dynamic"))
            && p["publicIPAddress"].is_null()
    } else {
        same(
            &p["publicIPAddress"]["id"],
            Some(settings.pip_id(index).to_string()),
        ) && p["subnet"].is_null()
    }
}

/// Whether the load balancer's probes and rules already say what we would write (ignoring what ARM adds).
fn same_rules(body: &Json, probes: &Json, rules: &Json) -> bool {
    let covers = |have: &Json, want: &Json| -> bool {
        let (Some(have), Some(want)) = (have.as_array(), want.as_array()) else {
            return false;
        };
        want.iter().all(|w| {
            have.iter().any(|h| {
                h["name"] == w["name"]
                    && w["properties"].as_object().is_some_and(|props| {
                        props.iter().all(|(k, v)| match (v, &h["properties"][k]) {
                            (Json::Object(a), Json::Object(b)) => {
                                a.get("id")
                                    .and_then(Json::as_str)
                                    .map(str::to_ascii_lowercase)
                                    == b.get("id")
                                        .and_then(Json::as_str)
                                        .map(str::to_ascii_lowercase)
                            }
                            (a, b) => a == b,
                        })
                    })
            })
        })
    };
    covers(&body["properties"]["probes"], probes)
        && covers(&body["properties"]["loadBalancingRules"], rules)
}

/// Whether a backend pool ID belongs to one of this group's load balancers.
fn is_group_pool(settings: &Settings, pool: &str) -> bool {
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
    settings: &Settings,
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
    arm.put_and_wait::<_, Json>(ctx, &path, NETWORK_API_VERSION, &body, &conditions)
        .await?;
    Ok(())
}

/// Applies membership changes with a bounded window of writes in flight; the first error wins.
async fn apply_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
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

/// The NICs currently in a load balancer's backend pools.
fn members(lb: &Json) -> Vec<ResourceId> {
    lb["properties"]["backendAddressPools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["properties"]["backendIPConfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| ResourceId::parse(c["id"].as_str()?).ok()?.parent())
        .collect()
}

async fn put_dns(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    dns: &Dns,
    ips: &[String],
) -> Result<(), ArmError> {
    let id = dns_record_id(settings.group.subscription_id(), dns);
    let records: Vec<Json> = ips.iter().map(|ip| json!({ "ipv4Address": ip })).collect();
    let body = json!({ "properties": { "TTL": dns.ttl, "ARecords": records, "metadata": { GROUP_TAG: settings.name } } });
    arm.put_and_wait::<_, Json>(
        ctx,
        &id.to_string(),
        DNS_API_VERSION,
        &body,
        &Conditions::default(),
    )
    .await?;
    Ok(())
}

/// Deletes load balancers no longer planned: members leave first (a NIC may not point at a pool that is
/// gone), then the load balancer, then its public IP.
async fn delete_lb(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    index: u64,
) -> Result<(), ArmError> {
    let lb_id = settings.lb_id(index);
    if let Some(lb) = arm
        .get_optional::<Json>(ctx, &lb_id.to_string(), NETWORK_API_VERSION)
        .await?
    {
        let leaving = members(&lb.body)
            .into_iter()
            .map(|nic| (nic, None))
            .collect();
        apply_membership(arm, ctx, settings, leaving).await?;
        arm.delete_and_wait(ctx, &lb_id.to_string(), NETWORK_API_VERSION)
            .await?;
    }
    if !settings.internal {
        arm.delete_and_wait(
            ctx,
            &settings.pip_id(index).to_string(),
            NETWORK_API_VERSION,
        )
        .await?;
    }
    Ok(())
}

/// Indices of the load balancers a state records.
fn state_indices(state: &Value, settings: &Settings) -> BTreeSet<u64> {
    state
        .get("load_balancers")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(|lb| settings.index_of(get_str(lb, "name")?))
        .collect()
}

async fn create_or_update(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    prior: &Value,
    planned: &[PlannedLb],
    sets: &[BackendSet],
) -> Result<(), ArmError> {
    for lb in planned {
        ctx.check("creating the group's load balancers")?;
        ensure_lb(arm, ctx, settings, lb.index).await?;
    }
    // Desired membership: every NIC of every set joins its set's load balancer.
    let mut desired: BTreeMap<String, (ResourceId, String)> = BTreeMap::new();
    for lb in planned {
        let pool = format!(
            "{}/backendAddressPools/{BACKEND_POOL}",
            settings.lb_id(lb.index)
        );
        let fronted: BTreeSet<String> = lb
            .sets
            .iter()
            .map(|id| id.to_string().to_ascii_lowercase())
            .collect();
        for set in sets {
            let Some(id) = &set.id else { continue };
            if !fronted.contains(&id.to_string().to_ascii_lowercase()) {
                continue;
            }
            for nic in set.nics.iter().flatten() {
                desired.insert(
                    nic.to_string().to_ascii_lowercase(),
                    (nic.clone(), pool.clone()),
                );
            }
        }
    }
    // Current membership, from the load balancers themselves: catches out-of-band joins and removed nodes.
    let mut changes = Vec::new();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    let mut bodies = Vec::new();
    for lb in planned {
        let lb_id = settings.lb_id(lb.index);
        let pool = format!("{lb_id}/backendAddressPools/{BACKEND_POOL}").to_ascii_lowercase();
        let body = arm
            .get::<Json>(ctx, &lb_id.to_string(), NETWORK_API_VERSION)
            .await?
            .body;
        bodies.push((lb.index, body));
        let body = bodies.last().map_or(&Json::Null, |(_, b)| b);
        for nic in members(body) {
            let key = nic.to_string().to_ascii_lowercase();
            if !desired.contains_key(&key) {
                changes.push((nic, None));
            }
            current.insert(key, pool.clone());
        }
    }
    for (key, (nic, pool)) in &desired {
        if current.get(key) != Some(&pool.to_ascii_lowercase()) {
            changes.push((nic.clone(), Some(pool.clone())));
        }
    }
    // Leavers first, so a set moving between load balancers never sits in two pools at once.
    changes.sort_by_key(|(_, pool)| pool.is_some());
    apply_membership(arm, ctx, settings, changes).await?;
    let keep: BTreeSet<u64> = planned.iter().map(|lb| lb.index).collect();
    for index in state_indices(prior, settings).difference(&keep) {
        ctx.check("deleting load balancers no longer needed")?;
        delete_lb(arm, ctx, settings, *index).await?;
    }
    let old_dns = dns_of(prior.get("dns"));
    if let Some(old) = old_dns
        .as_ref()
        .filter(|old| Some(*old) != settings.dns.as_ref())
    {
        let same_record = settings.dns.as_ref().is_some_and(|new| {
            dns_record_id(settings.group.subscription_id(), new)
                == dns_record_id(settings.group.subscription_id(), old)
        });
        if !same_record {
            arm.delete_and_wait(
                ctx,
                &dns_record_id(settings.group.subscription_id(), old).to_string(),
                DNS_API_VERSION,
            )
            .await?;
        }
    }
    if let Some(dns) = &settings.dns {
        let mut ips = Vec::new();
        for (index, body) in &bodies {
            if let Some(ip) = frontend_ip(arm, ctx, settings, *index, body).await? {
                ips.push(ip);
            }
        }
        put_dns(arm, ctx, settings, dns, &ips).await?;
    }
    Ok(())
}

async fn delete(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    prior: &Value,
) -> Result<(), ArmError> {
    if let Some(id) = settings.dns_id() {
        arm.delete_and_wait(ctx, &id.to_string(), DNS_API_VERSION)
            .await?;
    }
    // Besides what the state records, anything tagged as this group's: an apply interrupted between a public IP
    // and its load balancer leaves an IP the state never saw.
    let mut indices = state_indices(prior, settings);
    for kind in ["loadBalancers", "publicIPAddresses"] {
        let listed: Vec<Json> = arm
            .list(
                ctx,
                &format!("{}/providers/Microsoft.Network/{kind}", settings.group),
                NETWORK_API_VERSION,
            )
            .await?;
        indices.extend(
            listed
                .iter()
                .filter(|r| r["tags"][GROUP_TAG].as_str() == Some(settings.name.as_str()))
                .filter_map(|r| {
                    let name = r["name"].as_str()?;
                    settings.index_of(name.strip_suffix("-pip").unwrap_or(name))
                }),
        );
    }
    for index in indices {
        ctx.check("deleting the group's load balancers")?;
        delete_lb(arm, ctx, settings, index).await?;
    }
    Ok(())
}

/// The load balancers a state records.
fn recorded_lbs(planned: &Value, settings: &Settings) -> Vec<PlannedLb> {
    planned
        .get("load_balancers")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(|lb| {
            Some(PlannedLb {
                index: settings.index_of(get_str(lb, "name")?)?,
                sets: lb
                    .get("availability_set_ids")?
                    .as_list()?
                    .iter()
                    .filter_map(|id| ResourceId::parse(id.as_str()?).ok())
                    .collect(),
                nodes: get_u64(lb, "backend_node_count").unwrap_or(0),
            })
        })
        .collect()
}

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
    let settings = match settings(source, arm.subscription_id()) {
        Ok(s) => s,
        Err(d) => return respond(request.prior_state.clone(), d),
    };
    let op = match (destroying, request.prior_state.is_null()) {
        (true, _) => "delete",
        (false, true) => "create",
        (false, false) => "update",
    };
    let op_ctx = match timeout(source, op) {
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
    let sets = backend_sets(
        request
            .planned_state
            .get("backend_sets")
            .unwrap_or(&Value::Null),
        &mut diags,
    )
    .unwrap_or_default();
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
    let result = create_or_update(
        arm,
        &op_ctx,
        &settings,
        &request.prior_state,
        &planned,
        &sets,
    )
    .await;
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

/// The group's frontend IP on load balancer `lb`: None when the frontend is no longer the group's (drift) or has
/// no address yet.
async fn frontend_ip(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    index: u64,
    lb: &Json,
) -> Result<Option<String>, ArmError> {
    if !frontend_is_ours(settings, index, lb) {
        return Ok(None);
    }
    if settings.internal {
        return Ok(
            lb["properties"]["frontendIPConfigurations"][0]["properties"]["privateIPAddress"]
                .as_str()
                .map(str::to_string),
        );
    }
    let pip = arm
        .get_optional::<Json>(
            ctx,
            &settings.pip_id(index).to_string(),
            NETWORK_API_VERSION,
        )
        .await?;
    Ok(pip.and_then(|p| {
        p.body["properties"]["ipAddress"]
            .as_str()
            .map(str::to_string)
    }))
}

/// What `observe` makes of what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observing {
    /// Read and import: backend membership that differs from `backend_sets` replaces it (in the explicit form), so
    /// the next plan shows the difference; a load balancer deleted out of band stays listed, with no frontend IP
    /// and no nodes, keeping its index and sets so that apply recreates it in place.
    Refresh,
    /// After a successful apply: `backend_sets` stays as planned, as Terraform requires of an input.
    Applied,
    /// After a failed apply: what exists, membership included.
    Failed,
}

/// The state as Azure has it: `base` with its load balancers (those of `lbs`) observed. The availability sets an
/// LB fronts come from the state, since Azure does not record them; members, frontend IPs and existence come from
/// Azure, so drift shows up in the next plan.
async fn observe(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Settings,
    base: &Value,
    lbs: &[PlannedLb],
    mode: Observing,
) -> Result<Value, ArmError> {
    let mut lbs = lbs.to_vec();
    lbs.sort_by_key(|lb| lb.index);
    lbs.dedup_by_key(|lb| lb.index);
    let mut found: Vec<(PlannedLb, Value, Vec<ResourceId>)> = Vec::new();
    for lb in lbs {
        let body = arm
            .get_optional::<Json>(
                ctx,
                &settings.lb_id(lb.index).to_string(),
                NETWORK_API_VERSION,
            )
            .await?;
        match body {
            Some(body) => {
                let ip = frontend_ip(arm, ctx, settings, lb.index, &body.body).await?;
                let nics = members(&body.body);
                let nodes = nics.len() as u64;
                found.push((
                    PlannedLb { nodes, ..lb },
                    ip.map_or(Value::Null, Value::string),
                    nics,
                ));
            }
            None if mode == Observing::Refresh => {
                found.push((PlannedLb { nodes: 0, ..lb }, Value::Null, Vec::new()))
            }
            None => {}
        }
    }
    let Value::Object(mut state) = base.clone() else {
        return Ok(base.clone());
    };
    if mode != Observing::Applied {
        let by_lb: Vec<(&PlannedLb, &[ResourceId])> = found
            .iter()
            .map(|(lb, _, nics)| (lb, nics.as_slice()))
            .collect();
        if let Some(actual) = drifted_membership(arm, ctx, base, &by_lb).await? {
            state.insert("backend_sets".into(), actual);
        }
    }
    let ips: BTreeMap<String, Value> = found
        .iter()
        .map(|(lb, ip, _)| (settings.lb_name(lb.index), ip.clone()))
        .collect();
    let planned: Vec<PlannedLb> = found.into_iter().map(|(lb, _, _)| lb).collect();
    outputs(&mut state, settings, &planned, &|name| {
        ips.get(name).cloned().unwrap_or(Value::Null)
    });
    state.insert(
        "id".into(),
        Value::string(
            group_id(
                settings.group.subscription_id(),
                settings.group.resource_group_name().unwrap_or_default(),
                &settings.name,
            )
            .to_string(),
        ),
    );
    Ok(Value::Object(state))
}

/// Whether `backend_sets` is in a pool's `availability_sets` form (sets with `nodes`).
fn pool_form(backend_sets_value: &Value) -> bool {
    backend_sets_value
        .as_list()
        .is_some_and(|sets| sets.iter().any(|s| s.get("nodes").is_some()))
}

/// Lower-cased NIC IDs by lower-cased availability set ID, as `backend_sets` has them; None when it does not
/// list every set's NICs.
fn membership_of(backend_sets_value: &Value) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let sets = backend_sets(backend_sets_value, &mut Diagnostics::new())?;
    sets.into_iter()
        .map(|set| {
            Some((
                set.id?.to_string().to_ascii_lowercase(),
                set.nics?
                    .iter()
                    .map(|nic| nic.to_string().to_ascii_lowercase())
                    .collect(),
            ))
        })
        .collect()
}

/// When some load balancer's members differ from what `base`'s `backend_sets` puts on it (a node taken out of
/// band, a foreign NIC added), `backend_sets` as Azure has it; None when they agree.
async fn drifted_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    base: &Value,
    lbs: &[(&PlannedLb, &[ResourceId])],
) -> Result<Option<Value>, ArmError> {
    let expected = base
        .get("backend_sets")
        .and_then(membership_of)
        .unwrap_or_default();
    let agrees = lbs.iter().all(|(lb, nics)| {
        let want: BTreeSet<&String> = lb
            .sets
            .iter()
            .filter_map(|set| expected.get(&set.to_string().to_ascii_lowercase()))
            .flatten()
            .collect();
        let have: BTreeSet<String> = nics
            .iter()
            .map(|nic| nic.to_string().to_ascii_lowercase())
            .collect();
        want.len() == have.len() && want.into_iter().all(|nic| have.contains(nic))
    });
    if agrees {
        return Ok(None);
    }
    let all: Vec<ResourceId> = lbs
        .iter()
        .flat_map(|(_, nics)| nics.iter().cloned())
        .collect();
    let set_of_nic = sets_of_nics(arm, ctx, &all).await?;
    let mut by_set: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for nic in all {
        if let Some(set) = set_of_nic.get(&nic.to_string().to_ascii_lowercase()) {
            by_set.entry(set.clone()).or_default().push(nic.to_string());
        }
    }
    Ok(Some(explicit_backend_sets(by_set)))
}

/// The availability set of each NIC's VM (lower-cased NIC ID -> set ID), from the NIC and availability set lists of
/// the NICs' resource groups: O(pages) reads instead of one per node. A NIC of no VM in a set is left out.
async fn sets_of_nics(
    arm: &ArmClient,
    ctx: &Ctx,
    nics: &[ResourceId],
) -> Result<BTreeMap<String, String>, ArmError> {
    let groups: BTreeMap<String, ResourceId> = nics
        .iter()
        .filter_map(|nic| {
            let g = ResourceId::resource_group(nic.subscription_id(), nic.resource_group_name()?);
            Some((g.to_string().to_ascii_lowercase(), g))
        })
        .collect();
    let mut vm_of_nic: BTreeMap<String, String> = BTreeMap::new();
    let mut set_of_vm: BTreeMap<String, String> = BTreeMap::new();
    for g in groups.values() {
        let listed: Vec<Json> = arm
            .list(
                ctx,
                &format!("{g}/providers/Microsoft.Network/networkInterfaces"),
                NETWORK_API_VERSION,
            )
            .await?;
        for nic in listed {
            if let (Some(id), Some(vm)) = (
                nic["id"].as_str(),
                nic["properties"]["virtualMachine"]["id"].as_str(),
            ) {
                vm_of_nic.insert(id.to_ascii_lowercase(), vm.to_ascii_lowercase());
            }
        }
        let sets: Vec<Json> = arm
            .list(
                ctx,
                &format!("{g}/providers/Microsoft.Compute/availabilitySets"),
                COMPUTE_API_VERSION,
            )
            .await?;
        for set in sets {
            let Some(set_id) = set["id"].as_str() else {
                continue;
            };
            for vm in set["properties"]["virtualMachines"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(vm) = vm["id"].as_str() {
                    set_of_vm.insert(vm.to_ascii_lowercase(), set_id.to_string());
                }
            }
        }
    }
    Ok(vm_of_nic
        .into_iter()
        .filter_map(|(nic, vm)| Some((nic, set_of_vm.get(&vm)?.clone())))
        .collect())
}

/// `backend_sets` in the `{ availability_set_id, nic_ids }` form, sets ordered by ID and NICs sorted.
fn explicit_backend_sets(by_set: BTreeMap<String, Vec<String>>) -> Value {
    let sets: Vec<(String, Vec<String>)> = by_set
        .into_iter()
        .map(|(set, mut nics)| {
            nics.sort();
            nics.dedup();
            (set, nics)
        })
        .collect();
    let ty = Type::Tuple(
        sets.iter()
            .map(|(_, nics)| {
                Type::object([
                    ("availability_set_id", Type::String),
                    ("nic_ids", Type::Tuple(vec![Type::String; nics.len()])),
                ])
            })
            .collect(),
    );
    let value = Value::Tuple(
        sets.into_iter()
            .map(|(set, nics)| {
                Value::object([
                    ("availability_set_id", Value::string(set)),
                    (
                        "nic_ids",
                        Value::Tuple(nics.into_iter().map(Value::string).collect()),
                    ),
                ])
            })
            .collect(),
    );
    Value::Dynamic(ty, Box::new(value))
}

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
    let settings = match settings(&request.current_state, arm.subscription_id()) {
        Ok(s) => s,
        Err(d) => return respond(request.current_state.clone(), d),
    };
    let op_ctx = match timeout(&request.current_state, "read") {
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

async fn rebuild(
    arm: &ArmClient,
    ctx: &Ctx,
    group: &ResourceId,
) -> Result<Option<Value>, ArmError> {
    let name = group.name().to_string();
    let rg = group.resource_group_name().unwrap_or_default().to_string();
    let rg_id = ResourceId::resource_group(group.subscription_id(), &rg);
    let all: Vec<Json> = arm
        .list(
            ctx,
            &format!("{rg_id}/providers/Microsoft.Network/loadBalancers"),
            NETWORK_API_VERSION,
        )
        .await?;
    let prefix = format!("{name}-lb-");
    let mut lbs: Vec<(u64, Json)> = all
        .into_iter()
        .filter(|lb| lb["tags"][GROUP_TAG].as_str() == Some(name.as_str()))
        .filter_map(|lb| {
            Some((
                lb["name"].as_str()?.strip_prefix(&prefix)?.parse().ok()?,
                lb,
            ))
        })
        .collect();
    lbs.sort_by_key(|(i, _)| *i);
    let Some((_, first)) = lbs.first() else {
        return Ok(None);
    };
    let sku = first["sku"]["name"]
        .as_str()
        .and_then(Sku::parse)
        .unwrap_or(Sku::Standard);
    let frontend = &first["properties"]["frontendIPConfigurations"][0]["properties"];
    let subnet = frontend["subnet"]["id"].as_str().map(str::to_string);
    let (cap, dns) = recorded_settings(&first["tags"]);
    let all: Vec<ResourceId> = lbs.iter().flat_map(|(_, lb)| members(lb)).collect();
    let set_of_nic = sets_of_nics(arm, ctx, &all).await?;
    let mut backend: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lb_values = Vec::new();
    for (index, lb) in &lbs {
        let mut set_ids = BTreeSet::new();
        for nic in members(lb) {
            if let Some(set) = set_of_nic.get(&nic.to_string().to_ascii_lowercase()) {
                set_ids.insert(set.clone());
                backend
                    .entry(set.clone())
                    .or_default()
                    .push(nic.to_string());
            }
        }
        lb_values.push(Value::object([
            ("name", Value::string(format!("{name}-lb-{index}"))),
            (
                "availability_set_ids",
                Value::list(set_ids.into_iter().map(Value::string)),
            ),
        ]));
    }
    let (probes, rules) = (
        &first["properties"]["probes"],
        &first["properties"]["loadBalancingRules"],
    );
    // Optional attributes left at Azure's default read back as null, as a configuration leaving them out has them.
    let text = |v: &Json| v.as_str().map_or(Value::Null, Value::string);
    let num = |v: &Json| v.as_u64().map_or(Value::Null, Value::number);
    let unless = |v: &Json, default: u64| {
        v.as_u64()
            .filter(|n| *n != default)
            .map_or(Value::Null, Value::number)
    };
    let entries = |list: &Json| list.as_array().cloned().unwrap_or_default();
    let rule_values: Vec<Value> = entries(rules)
        .iter()
        .map(|r| {
            let p = &r["properties"];
            let probe = p["probe"]["id"]
                .as_str()
                .and_then(|id| id.rsplit('/').next());
            Value::object([
                ("name", text(&r["name"])),
                ("protocol", text(&p["protocol"])),
                ("frontend_port", num(&p["frontendPort"])),
                ("backend_port", num(&p["backendPort"])),
                (
                    "idle_timeout_in_minutes",
                    unless(&p["idleTimeoutInMinutes"], 4),
                ),
                (
                    "enable_floating_ip",
                    if p["enableFloatingIP"] == Json::Bool(true) {
                        Value::Bool(true)
                    } else {
                        Value::Null
                    },
                ),
                ("probe_name", probe.map_or(Value::Null, Value::string)),
            ])
        })
        .collect();
    let probe_values: Vec<Value> = entries(probes)
        .iter()
        .map(|pr| {
            let p = &pr["properties"];
            Value::object([
                ("name", text(&pr["name"])),
                ("protocol", text(&p["protocol"])),
                ("port", num(&p["port"])),
                ("request_path", text(&p["requestPath"])),
                ("interval_in_seconds", unless(&p["intervalInSeconds"], 15)),
                ("number_of_probes", unless(&p["numberOfProbes"], 2)),
            ])
        })
        .collect();
    let tags: BTreeMap<String, Value> = first["tags"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !is_own_tag(k))
        .filter_map(|(k, v)| Some((k.clone(), Value::string(v.as_str()?))))
        .collect();
    let list_or_null = |v: Vec<Value>| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::List(v)
        }
    };
    let state = Value::object([
        ("name", Value::string(name.clone())),
        ("resource_group_name", Value::string(rg)),
        (
            "location",
            first["location"]
                .as_str()
                .map_or(Value::Null, Value::string),
        ),
        ("sku", Value::string(sku.as_str())),
        ("internal", Value::Bool(subnet.is_some())),
        (
            "frontend_subnet_id",
            subnet.map_or(Value::Null, Value::string),
        ),
        ("backend_sets", explicit_backend_sets(backend)),
        (
            "max_backend_nodes",
            Value::number(cap.unwrap_or(sku.default_backend())),
        ),
        ("rules", list_or_null(rule_values)),
        ("probes", list_or_null(probe_values)),
        ("dns", dns),
        (
            "tags",
            if tags.is_empty() {
                Value::Null
            } else {
                Value::Map(tags)
            },
        ),
        ("load_balancers", Value::List(lb_values.clone())),
        ("timeouts", Value::Null),
    ]);
    let settings = match settings(&state, group.subscription_id()) {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let lbs = recorded_lbs(&state, &settings);
    observe(arm, ctx, &settings, &state, &lbs, Observing::Refresh)
        .await
        .map(Some)
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

    const SET: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/availabilitySets/web-as-0";

    fn nic(j: usize) -> String {
        format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/web-0-{j}-nic")
    }

    fn pool_set(nodes: usize) -> Value {
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
    fn unknown_backend_sets_plan_unknown_outputs() {
        let (state, diags) = plan(&context(false), config("Standard", Value::unknown()));
        assert!(diags.is_empty(), "{diags:?}");
        assert!(!state.get("load_balancers").is_some_and(Value::is_known));
        assert_eq!(get_u64(&state, "max_backend_nodes"), Some(5000));
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

    fn explicit(nodes: usize) -> Value {
        Value::list([Value::object([
            (
                "availability_set_id",
                Value::string(SET.to_ascii_lowercase()),
            ),
            (
                "nic_ids",
                Value::list((0..nodes).rev().map(|j| Value::string(nic(j)))),
            ),
        ])])
    }

    #[test]
    fn a_configuration_spelling_the_prior_differently_plans_the_prior() {
        let rule = |idle: Value| {
            Value::list([Value::object([
                ("name", Value::string("http")),
                ("protocol", Value::string("Tcp")),
                ("frontend_port", Value::number(80u64)),
                ("backend_port", Value::number(30080u64)),
                ("idle_timeout_in_minutes", idle),
            ])])
        };
        let mut prior = BTreeMap::from([
            ("backend_sets".to_string(), explicit(3)),
            ("rules".to_string(), rule(Value::Null)),
        ]);
        let mut state = BTreeMap::from([
            ("backend_sets".to_string(), Value::list([pool_set(3)])),
            ("rules".to_string(), rule(Value::number(4u64))),
        ]);
        keep_equivalent_prior(&mut state, &Value::Object(prior.clone()));
        assert_eq!(state, prior);
        let mut region = BTreeMap::from([("location".to_string(), Value::string("West Europe"))]);
        keep_equivalent_prior(
            &mut region,
            &Value::object([("location", Value::string("westeurope"))]),
        );
        assert_eq!(region["location"], Value::string("westeurope"));

        // A node less, or another timeout, is a change the plan must show.
        prior.insert("backend_sets".into(), explicit(2));
        prior.insert("rules".into(), rule(Value::number(5u64)));
        let config = BTreeMap::from([
            ("backend_sets".to_string(), Value::list([pool_set(3)])),
            ("rules".to_string(), rule(Value::number(4u64))),
        ]);
        let mut state = config.clone();
        keep_equivalent_prior(&mut state, &Value::Object(prior));
        assert_eq!(state, config);
    }

    fn settings_with_dns(ttl: Option<u64>) -> Settings {
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
        match settings(&cfg, "s") {
            Ok(s) => s,
            Err(d) => panic!("{d:?}"),
        }
    }

    #[test]
    fn tags_record_the_cap_and_dns_for_import_apart_from_the_users_tags() {
        let settings = settings_with_dns(None);
        let tags = tags_json(&settings);
        let (cap, dns) = recorded_settings(&tags);
        assert_eq!(cap, Some(700));
        assert_eq!(dns_of(Some(&dns)), settings.dns);
        let users: Vec<&String> = tags
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .filter(|k| !is_own_tag(k))
            .collect();
        assert_eq!(users, vec!["team"]);
        assert!(!is_own_tag("largek8s-lb-groupie"));
    }

    #[test]
    fn a_frontend_other_than_the_groups_is_drift() {
        let settings = settings_with_dns(Some(60));
        let pip = settings.pip_id(0).to_string();
        let lb = |props: Json| json!({ "properties": { "frontendIPConfigurations": [{ "name": FRONTEND, "properties": props }] } });
        assert!(frontend_is_ours(
            &settings,
            0,
            &lb(json!({ "publicIPAddress": { "id": pip.to_ascii_uppercase() } }))
        ));
        assert!(!frontend_is_ours(
            &settings,
            1,
            &lb(json!({ "publicIPAddress": { "id": pip } }))
        ));
        assert!(!frontend_is_ours(
            &settings,
            0,
            &lb(json!({ "subnet": { "id": "x" }, "privateIPAllocationMethod": "Dynamic" }))
        ));
        assert!(!frontend_is_ours(&settings, 0, &json!({})));
    }

    #[test]
    fn a_load_balancer_keeps_its_sets_in_their_prior_order_and_appends_new_ones() {
        let settings = settings_with_dns(None);
        let set = |i: usize| {
            ResourceId::parse_as(
                &format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/availabilitySets/web-as-{i}"),
                ResourceKind::AvailabilitySet,
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        // As import records them: Azure's order of IDs, as-10 before as-2.
        let prior = Value::object([(
            "load_balancers",
            Value::list([Value::object([
                ("name", Value::string("web-lb-0")),
                (
                    "availability_set_ids",
                    Value::list([10, 2].map(|i| Value::string(set(i).to_string()))),
                ),
            ])]),
        )]);
        let demand: Vec<(ResourceId, u64)> = [2, 3, 10].map(|i| (set(i), 1)).into();
        let lbs = match layout(&settings, &demand, &prior_assignment(&prior, "web")) {
            Ok(lbs) => lbs,
            Err(e) => panic!("{e}"),
        };
        let names: Vec<Vec<&str>> = lbs
            .iter()
            .map(|lb| lb.sets.iter().map(ResourceId::name).collect())
            .collect();
        assert_eq!(names, vec![vec!["web-as-10", "web-as-2", "web-as-3"]]);
    }
}
