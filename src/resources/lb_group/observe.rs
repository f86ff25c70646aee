//! What exists in Azure, for read, import and the state after apply: load balancers, their members and
//! frontend IPs, and the availability sets the members' VMs sit in. Reads are O(load balancers + pages),
//! never one per node.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::arm::client::ArmClient;
use crate::arm::error::ArmError;
use crate::arm::ids::ResourceId;
use crate::arm::models::network::SubResource;
use crate::arm::models::{COMPUTE_API_VERSION, NETWORK_API_VERSION};
use crate::arm::retry::Ctx;
use crate::lb_layout::Sku;
use crate::tf::decode::{Fields, IntoValue, Maybe};
use crate::tf::value::Value;

use super::azure::{frontend_ip, is_own_tag, recorded_settings};
use super::balancer::LoadBalancer;
use super::membership::{list_nics, resource_groups};
use super::plan::{outputs, recorded_lbs, PlannedLb};
use super::spec::{explicit_backend_sets, index_in, membership_of, Spec, GROUP_TAG};

/// What `observe` makes of what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observing {
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
pub async fn observe(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    base: &Value,
    lbs: &[PlannedLb],
    mode: Observing,
) -> Result<Value, ArmError> {
    let mut lbs = lbs.to_vec();
    lbs.sort_by_key(|lb| lb.index);
    lbs.dedup_by_key(|lb| lb.index);
    let mut found: Vec<(PlannedLb, Option<String>, Vec<ResourceId>)> = Vec::new();
    for lb in lbs {
        let body = arm
            .get_optional::<LoadBalancer>(
                ctx,
                &settings.lb_id(lb.index).to_string(),
                NETWORK_API_VERSION,
            )
            .await?;
        match body {
            Some(body) => {
                let ip = frontend_ip(arm, ctx, settings, lb.index, &body.body).await?;
                let nics = body.body.members();
                let nodes = nics.len() as u64;
                found.push((PlannedLb { nodes, ..lb }, ip, nics));
            }
            None if mode == Observing::Refresh => {
                found.push((PlannedLb { nodes: 0, ..lb }, None, Vec::new()))
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
    let ips: BTreeMap<String, Option<String>> = found
        .iter()
        .map(|(lb, ip, _)| (settings.lb_name(lb.index), ip.clone()))
        .collect();
    let planned: Vec<PlannedLb> = found.into_iter().map(|(lb, _, _)| lb).collect();
    outputs(&mut state, settings, &planned, &|name| {
        Maybe::Known(ips.get(name).cloned().flatten())
    });
    state.insert("id".into(), Value::string(settings.group_id().to_string()));
    Ok(Value::Object(state))
}

/// When some load balancer's members differ from what `base`'s `backend_sets` puts on it (a node taken out of
/// band, a foreign NIC added), `backend_sets` as Azure has it; None when they agree.
async fn drifted_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    base: &Value,
    lbs: &[(&PlannedLb, &[ResourceId])],
) -> Result<Option<Value>, ArmError> {
    let expected = Fields::root(base)
        .ok()
        .and_then(|f| membership_of(f.raw("backend_sets")))
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

/// What the group reads of an availability set in a list: its ID and its VMs.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ListedSet {
    id: Option<String>,
    properties: ListedSetProperties,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListedSetProperties {
    virtual_machines: Option<Vec<SubResource>>,
}

/// The availability set of each NIC's VM (lower-cased NIC ID -> set ID), from the NIC and availability set lists of
/// the NICs' resource groups: O(pages) reads instead of one per node. A NIC of no VM in a set is left out.
async fn sets_of_nics(
    arm: &ArmClient,
    ctx: &Ctx,
    nics: &[ResourceId],
) -> Result<BTreeMap<String, String>, ArmError> {
    let groups = resource_groups(nics.iter());
    let mut vm_of_nic: BTreeMap<String, String> = BTreeMap::new();
    let mut set_of_vm: BTreeMap<String, String> = BTreeMap::new();
    for g in &groups {
        let listed = list_nics(arm, ctx, g).await?;
        for nic in listed {
            let vm = nic.properties.virtual_machine.as_ref();
            if let (Some(id), Some(vm)) = (nic.id.as_deref(), vm.and_then(|v| v.id.as_deref())) {
                vm_of_nic.insert(id.to_ascii_lowercase(), vm.to_ascii_lowercase());
            }
        }
        let sets: Vec<ListedSet> = arm
            .list(
                ctx,
                &format!("{g}/providers/Microsoft.Compute/availabilitySets"),
                COMPUTE_API_VERSION,
            )
            .await?;
        for set in sets {
            let Some(set_id) = set.id else {
                continue;
            };
            for vm in set.properties.virtual_machines.into_iter().flatten() {
                if let Some(vm) = vm.id {
                    set_of_vm.insert(vm.to_ascii_lowercase(), set_id.clone());
                }
            }
        }
    }
    Ok(vm_of_nic
        .into_iter()
        .filter_map(|(nic, vm)| Some((nic, set_of_vm.get(&vm)?.clone())))
        .collect())
}

pub async fn rebuild(
    arm: &ArmClient,
    ctx: &Ctx,
    group: &ResourceId,
) -> Result<Option<Value>, ArmError> {
    let name = group.name().to_string();
    let rg = group.resource_group_name().unwrap_or_default().to_string();
    let rg_id = ResourceId::resource_group(group.subscription_id(), &rg);
    let all: Vec<LoadBalancer> = arm
        .list(
            ctx,
            &format!("{rg_id}/providers/Microsoft.Network/loadBalancers"),
            NETWORK_API_VERSION,
        )
        .await?;
    let mut lbs: Vec<(u64, LoadBalancer)> = all
        .into_iter()
        .filter(|lb| lb.get("tags")[GROUP_TAG].as_str() == Some(name.as_str()))
        .filter_map(|lb| Some((index_in(&name, lb.get("name").as_str()?)?, lb)))
        .collect();
    lbs.sort_by_key(|(i, _)| *i);
    let Some((_, first)) = lbs.first() else {
        return Ok(None);
    };
    let sku = first.get("sku")["name"]
        .as_str()
        .and_then(Sku::parse)
        .unwrap_or(Sku::Standard);
    let frontend = &first.property("frontendIPConfigurations")[0]["properties"];
    let subnet = frontend["subnet"]["id"].as_str().map(str::to_string);
    let (cap, dns) = recorded_settings(first.get("tags"));
    let members: Vec<Vec<ResourceId>> = lbs.iter().map(|(_, lb)| lb.members()).collect();
    let all: Vec<ResourceId> = members.iter().flatten().cloned().collect();
    let set_of_nic = sets_of_nics(arm, ctx, &all).await?;
    let mut backend: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lb_values = Vec::new();
    for ((index, _), nics) in lbs.iter().zip(members) {
        let mut set_ids = BTreeSet::new();
        for nic in nics {
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
        first.property("probes"),
        first.property("loadBalancingRules"),
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
    let tags: BTreeMap<String, Value> = first
        .get("tags")
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
            first
                .get("location")
                .as_str()
                .map_or(Value::Null, Value::string),
        ),
        ("sku", Value::string(sku.as_str())),
        ("backend_pool_type", first.pool_type().into_value()),
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
    let settings = match Spec::decode(&state, group.subscription_id()) {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let lbs = recorded_lbs(&state, &settings);
    observe(arm, ctx, &settings, &state, &lbs, Observing::Refresh)
        .await
        .map(Some)
}
