//! Planning, without I/O: which load balancer fronts which sets (stable across applies), the computed
//! outputs of a layout, and which configuration changes are only another spelling of the prior state.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::arm::ids::ResourceId;
use crate::lb_layout::{self, LbLayoutError, SetDemand, Sku};
use crate::tf::decode::{Fields, FromValue, IntoValue, Maybe};
use crate::tf::diagnostics::Diagnostic;
use crate::tf::path::AttributePath;
use crate::tf::value::Value;

use super::spec::{self, index_in, LbEntry, Spec};

/// Pins a Kubernetes Service to the load balancer fronting the named availability sets
/// (<https://cloud-provider-azure.sigs.k8s.io/topics/loadbalancer/#loadbalancer-annotations>).
const MODE_ANNOTATION: &str = "service.beta.kubernetes.io/azure-load-balancer-mode";
const INTERNAL_ANNOTATION: &str = "service.beta.kubernetes.io/azure-load-balancer-internal";

/// Inputs whose change replaces the group: they name its load balancers or Azure fixes them at creation.
pub const REPLACING: [&str; 6] = [
    "name",
    "resource_group_name",
    "location",
    "sku",
    "internal",
    "frontend_subnet_id",
];

/// A planned load balancer: index, the sets it fronts, and how many nodes.
#[derive(Debug, Clone)]
pub struct PlannedLb {
    pub index: u64,
    pub sets: Vec<ResourceId>,
    pub nodes: u64,
}

impl PlannedLb {
    /// A load balancer a state records, when its name is one of the group's.
    pub fn recorded(entry: &LbEntry, spec: &Spec) -> Option<PlannedLb> {
        Some(PlannedLb {
            index: spec.index_of(&entry.name)?,
            sets: entry
                .availability_set_ids
                .iter()
                .filter_map(|id| ResourceId::parse(id).ok())
                .collect(),
            nodes: entry.backend_node_count,
        })
    }
}

/// The load balancers a state records.
pub fn recorded_lbs(state: &Value, spec: &Spec) -> Vec<PlannedLb> {
    spec::recorded(state)
        .iter()
        .filter_map(|lb| PlannedLb::recorded(lb, spec))
        .collect()
}

/// Where each set sat in the prior state: lower-cased availability set ID -> (load balancer index, position among
/// that load balancer's `availability_set_ids`).
pub fn prior_assignment(prior: &Value, name: &str) -> BTreeMap<String, (u64, usize)> {
    let mut out = BTreeMap::new();
    for lb in spec::recorded(prior) {
        let Some(index) = index_in(name, &lb.name) else {
            continue;
        };
        for (position, id) in lb.availability_set_ids.iter().enumerate() {
            out.insert(id.to_ascii_lowercase(), (index, position));
        }
    }
    out
}

/// The frontend IP each load balancer of the prior state had, by name.
pub fn prior_frontends(prior: &Value) -> BTreeMap<String, String> {
    spec::recorded(prior)
        .into_iter()
        .filter_map(|lb| Some((lb.name, lb.frontend_ip.into_known().flatten()?)))
        .collect()
}

/// The load balancers for `sets`. A load balancer lists the sets it kept in their prior order (which import and
/// Read take from Azure, not from the configuration), then the sets it gains in configuration order, so that the
/// outputs derived from the order (annotations, `primaryVMSet`) change only when the sets do.
pub fn layout(
    spec: &Spec,
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
    let slots = lb_layout::group(spec.sku, spec.cap, &demand, &indices)?;
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

fn annotations(spec: &Spec, lb: &[ResourceId]) -> Value {
    let mut map = BTreeMap::from([(
        MODE_ANNOTATION.to_string(),
        lb.iter()
            .map(ResourceId::name)
            .collect::<Vec<_>>()
            .join(","),
    )]);
    if spec.internal {
        map.insert(INTERNAL_ANNOTATION.to_string(), "true".to_string());
    }
    map.into_value()
}

/// cloud-provider-azure's multiple Standard load balancer configuration: one entry per load balancer, with
/// the first availability set it fronts as the primary VM set whose nodes always join it
/// (<https://cloud-provider-azure.sigs.k8s.io/topics/multiple-slbs/>).
fn cloud_provider_config(spec: &Spec, lbs: &[PlannedLb]) -> Value {
    if spec.sku != Sku::Standard {
        return Value::Null;
    }
    let configs: Vec<Json> = lbs
        .iter()
        .map(|lb| {
            json!({
                "name": spec.lb_name(lb.index),
                "primaryVMSet": lb.sets.first().map(ResourceId::name).unwrap_or_default(),
                "allowServicePlacement": true,
            })
        })
        .collect();
    Value::string(
        json!({
            "loadBalancerSku": "standard",
            "loadBalancerBackendPoolConfigurationType": spec.pool_type.cloud_provider_value(),
            "multipleStandardLoadBalancerConfigurations": configs,
        })
        .to_string(),
    )
}

/// The computed outputs for a layout; `frontend` gives the frontend IP of each LB name (unknown when new).
pub fn outputs(
    state: &mut BTreeMap<String, Value>,
    spec: &Spec,
    lbs: &[PlannedLb],
    frontend: &dyn Fn(&str) -> Maybe<Option<String>>,
) {
    let mut list = Vec::new();
    let mut ips = Vec::new();
    let mut notes = Vec::new();
    for lb in lbs {
        let name = spec.lb_name(lb.index);
        let ip = frontend(&name);
        ips.push(ip.clone().into_value());
        notes.push(annotations(spec, &lb.sets));
        list.push(
            LbEntry {
                id: spec.lb_id(lb.index).to_string(),
                availability_set_ids: lb.sets.iter().map(ResourceId::to_string).collect(),
                frontend_ip: ip,
                backend_node_count: lb.nodes,
                name,
            }
            .into_value(),
        );
    }
    state.insert("load_balancers".into(), Value::List(list));
    state.insert("frontend_ips".into(), Value::List(ips));
    state.insert("service_annotations".into(), Value::List(notes));
    state.insert(
        "cloud_provider_config".into(),
        cloud_provider_config(spec, lbs),
    );
}

pub fn unknown_outputs(state: &mut BTreeMap<String, Value>) {
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
pub fn basic_retirement_warning() -> Diagnostic {
    Diagnostic::warning(
        "Basic load balancers are retired on public Azure",
        "Azure retired the Basic load balancer SKU on 2025-09-30 \
         (https://azure.microsoft.com/updates/azure-basic-load-balancer-will-be-retired-on-30-september-2025-upgrade-to-standard-load-balancer/): \
         existing ones run unsupported and new ones may be refused. Set sku = \"Standard\".",
    )
    .at(AttributePath::of("sku"))
}

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
    let text = |v: &Value, normal: fn(&str) -> String| known_text(v).map(|s| normal(&s));
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
            spec::pool_form(a) != spec::pool_form(b)
                && spec::membership_of(a).is_some_and(|m| Some(m) == spec::membership_of(b))
        }
        "rules" => spec::rules_of(a).is_some_and(|r| Some(r) == spec::rules_of(b)),
        "probes" => spec::probes_of(a).is_some_and(|p| Some(p) == spec::probes_of(b)),
        "dns" => spec::dns_of(a).is_some_and(|d| Some(d) == spec::dns_of(b)),
        _ => false,
    }
}

/// A value's text, when it is a known string.
fn known_text(value: &Value) -> Option<String> {
    Maybe::<Option<String>>::from_value(value)
        .ok()
        .and_then(|s| s.into_known().flatten())
}

/// Plans the prior value of an input the configuration only spells differently, so that import and a Read that
/// found nothing changed lead to an empty plan. Terraform accepts a planned value equal to the prior one in
/// place of the configuration's, as the provider's judgement that the two are the same
/// (<https://github.com/hashicorp/terraform/blob/v1.11.0/internal/plans/objchange/plan_valid.go>).
pub fn keep_equivalent_prior(state: &mut BTreeMap<String, Value>, prior: &Value) {
    let Ok(prior) = Fields::root(prior) else {
        return;
    };
    for attr in EQUIVALENT_FORMS {
        let (old, Some(new)) = (prior.raw(attr), state.get(attr)) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::ids::ResourceKind;

    use super::super::tests::{nic, pool_set, spec_with_dns, SET};

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

    #[test]
    fn a_load_balancer_keeps_its_sets_in_their_prior_order_and_appends_new_ones() {
        let spec = spec_with_dns(None);
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
        let lbs = match layout(&spec, &demand, &prior_assignment(&prior, "web")) {
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
