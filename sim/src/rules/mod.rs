//! Azure's rules per resource family: request validation, derived members, references, and cascades.

mod authorization;
mod compute;
mod container_service;
mod dns;
mod managed_identity;
mod network;
mod resources;

use crate::config::Config;
use crate::error::ArmError;
use crate::ids::ResourceId;
use crate::store::{OutRef, Resource, World};
use serde_json::{json, Map, Value};

pub use compute::list_available_sizes;
pub use container_service::{remove_link, ACI_DELEGATION};

/// What a PUT handler sees.
pub struct PutCtx<'a> {
    pub world: &'a World,
    pub config: &'a Config,
    pub id: &'a ResourceId,
    pub old: Option<&'a Resource>,
    pub now: f64,
}

/// The outcome of validating a PUT: the body to store plus other resources it creates, changes or removes.
#[derive(Debug, Default)]
pub struct Prepared {
    pub body: Value,
    pub upserts: Vec<Resource>,
    pub removals: Vec<String>,
}

impl Prepared {
    fn body(body: Value) -> Self {
        Self {
            body,
            ..Self::default()
        }
    }
}

fn type_lower(r: &Resource) -> String {
    r.resource_type.to_ascii_lowercase()
}

/// Validates a PUT body and computes what to store. `body` already carries id, name, type and (for tracked
/// resources) a normalised location.
pub fn prepare_put(ctx: &PutCtx<'_>, body: Value) -> Result<Prepared, ArmError> {
    match ctx.id.resource_type.to_ascii_lowercase().as_str() {
        "microsoft.resources/resourcegroups" => resources::put_group(ctx, body),
        "microsoft.compute/availabilitysets" => compute::put_availability_set(ctx, body),
        "microsoft.compute/virtualmachines" => compute::put_vm(ctx, body),
        "microsoft.network/networkinterfaces" => network::put_nic(ctx, body),
        "microsoft.network/publicipaddresses" => network::put_public_ip(ctx, body),
        "microsoft.network/loadbalancers" => network::put_load_balancer(ctx, body),
        "microsoft.network/virtualnetworks" => network::put_vnet(ctx, body),
        "microsoft.network/virtualnetworks/subnets" => network::put_subnet(ctx, body),
        "microsoft.authorization/roleassignments" => authorization::put_role_assignment(ctx, body),
        "microsoft.containerservice/managedclusters" => container_service::put_cluster(ctx, body),
        "microsoft.network/dnszones" => dns::put_zone(ctx, body),
        "microsoft.network/dnszones/a" => dns::put_a_record_set(ctx, body),
        "microsoft.managedidentity/userassignedidentities" => {
            managed_identity::put_identity(ctx, body)
        }
        _ => Ok(Prepared::body(body)),
    }
}

/// Refuses a DELETE that Azure would refuse (resources still in use).
pub fn check_delete(world: &World, r: &Resource) -> Result<(), ArmError> {
    match type_lower(r).as_str() {
        "microsoft.network/virtualnetworks/subnets" => network::check_subnet_delete(world, r),
        "microsoft.network/virtualnetworks" => world
            .children(
                &r.id.to_ascii_lowercase(),
                "microsoft.network/virtualnetworks/subnets",
            )
            .try_for_each(|s| network::check_subnet_delete(world, s)),
        "microsoft.network/networkinterfaces" => network::check_nic_delete(world, r),
        "microsoft.network/publicipaddresses" => network::check_public_ip_delete(world, r),
        "microsoft.compute/availabilitysets" => compute::check_availability_set_delete(world, r),
        "microsoft.compute/disks" => compute::check_disk_delete(world, r),
        _ => Ok(()),
    }
}

/// Keys of other resources deleted together with `r` (beyond its children).
pub fn delete_with(r: &Resource) -> Vec<String> {
    match type_lower(r).as_str() {
        "microsoft.compute/virtualmachines" => compute::vm_delete_with(r),
        _ => Vec::new(),
    }
}

/// Changes to other resources when `r` goes away (e.g. a cluster's service association link).
pub fn before_delete(world: &mut World, r: &Resource) {
    if type_lower(r) == "microsoft.containerservice/managedclusters" {
        container_service::unlink(world, r);
    }
}

/// References from `r` to other resources, for the reverse index.
pub fn references(r: &Resource) -> Vec<OutRef> {
    match type_lower(r).as_str() {
        "microsoft.compute/virtualmachines" => compute::vm_references(r),
        "microsoft.network/networkinterfaces" => network::nic_references(r),
        "microsoft.network/loadbalancers" => network::lb_references(r),
        _ => Vec::new(),
    }
}

/// Private addresses `r` holds: (subnet key, address).
pub fn held_addresses(r: &Resource) -> Vec<(String, u32)> {
    match type_lower(r).as_str() {
        "microsoft.network/networkinterfaces" | "microsoft.network/loadbalancers" => {
            network::held_addresses(r)
        }
        _ => Vec::new(),
    }
}

/// Whether the published spec of a type defines `properties.provisioningState`. Four do not: availability sets
/// (`AvailabilitySetProperties`, Compute 2024-07-01), role assignments (`RoleAssignmentProperties`, Authorization
/// 2022-04-01), DNS zones (`ZoneProperties`, DNS 2018-05-01) and user-assigned identities
/// (`UserAssignedIdentityProperties`, ManagedIdentity 2023-01-31). Their operations still run (fault injection can
/// make one asynchronous), but a client reads no state from their bodies.
pub fn reports_provisioning_state(resource_type: &str) -> bool {
    !matches!(
        resource_type.to_ascii_lowercase().as_str(),
        "microsoft.compute/availabilitysets"
            | "microsoft.authorization/roleassignments"
            | "microsoft.network/dnszones"
            | "microsoft.managedidentity/userassignedidentities"
    )
}

/// The status a PUT that creates a resource answers with. `AvailabilitySets_CreateOrUpdate` (Compute 2024-07-01,
/// availabilitySet.json) declares only `200`; every other served type declares `201` for a create.
pub fn created_status(resource_type: &str) -> u16 {
    if resource_type.eq_ignore_ascii_case("Microsoft.Compute/availabilitySets") {
        200
    } else {
        201
    }
}

/// The body a client reads: stored body plus back-references and server-side members.
pub fn render(world: &World, r: &Resource) -> Value {
    let mut body = r.body.clone();
    let t = type_lower(r);
    if !reports_provisioning_state(&t) {
        if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("provisioningState");
        }
    }
    if t.starts_with("microsoft.network/") {
        body["etag"] = json!(r.etag);
    }
    match t.as_str() {
        "microsoft.compute/availabilitysets" => {
            compute::render_availability_set(world, r, &mut body)
        }
        "microsoft.network/networkinterfaces" => network::render_nic(world, r, &mut body),
        "microsoft.network/loadbalancers" => network::render_load_balancer(world, &mut body),
        "microsoft.network/virtualnetworks" => network::render_vnet(world, r, &mut body),
        "microsoft.network/virtualnetworks/subnets" => network::render_subnet(world, r, &mut body),
        "microsoft.network/publicipaddresses" => network::render_public_ip(world, r, &mut body),
        "microsoft.network/dnszones" => dns::render_zone(world, r, &mut body),
        // Every ManagedCluster example of 2024-05-01 spells the type so; the spec defines no body etag (the ETag
        // header carries it).
        "microsoft.containerservice/managedclusters" => {
            body["type"] = json!("Microsoft.ContainerService/ManagedClusters");
        }
        _ => {}
    }
    body
}

/// Embedded child collections readable as sub-resources (`GET .../loadBalancers/lb/backendAddressPools/pool`).
pub fn embedded_child(parent_type: &str, child: &str) -> Option<&'static str> {
    let pairs: [(&str, &str, &str); 5] = [
        (
            "microsoft.network/loadbalancers",
            "backendaddresspools",
            "backendAddressPools",
        ),
        (
            "microsoft.network/loadbalancers",
            "frontendipconfigurations",
            "frontendIPConfigurations",
        ),
        ("microsoft.network/loadbalancers", "probes", "probes"),
        (
            "microsoft.network/loadbalancers",
            "loadbalancingrules",
            "loadBalancingRules",
        ),
        (
            "microsoft.network/networkinterfaces",
            "ipconfigurations",
            "ipConfigurations",
        ),
    ];
    pairs
        .iter()
        .find(|(p, c, _)| parent_type.eq_ignore_ascii_case(p) && child.eq_ignore_ascii_case(c))
        .map(|(_, _, prop)| *prop)
}

// ---- helpers shared by the families ----

/// A string at a JSON pointer.
fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The `properties` object, created if missing.
fn props(body: &mut Value) -> &mut Map<String, Value> {
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    match body.get_mut("properties").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("properties was just made an object"),
    }
}

/// The array at `properties.<name>` (empty when absent).
fn prop_array<'a>(body: &'a Value, name: &str) -> &'a [Value] {
    body["properties"][name]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Gives every named item of `properties.<name>` its ID under `parent_id` and a provisioningState.
fn name_children(
    body: &mut Value,
    parent_id: &str,
    name: &str,
    child_type: &str,
) -> Result<(), ArmError> {
    let Some(items) = body
        .get_mut("properties")
        .and_then(|p| p.get_mut(name))
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    for item in items.iter_mut() {
        let Some(n) = item["name"].as_str().map(str::to_string) else {
            return Err(ArmError::invalid_body(format!(
                "Every item of properties.{name} needs a name."
            )));
        };
        item["id"] = json!(format!("{parent_id}/{child_type}/{n}"));
        if !item["properties"].is_object() {
            item["properties"] = json!({});
        }
        item["properties"]["provisioningState"] = json!("Succeeded");
    }
    Ok(())
}

fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// The ID of a resource's enclosing resource, cut before `/<segment>/`.
fn cut_before<'a>(id: &'a str, segment: &str) -> &'a str {
    let lower = id.to_ascii_lowercase();
    let needle = format!("/{}/", segment.to_ascii_lowercase());
    match lower.find(&needle) {
        Some(i) => &id[..i],
        None => id,
    }
}

/// A reference that must exist.
fn require(world: &World, target: &str, referrer: &str) -> Result<(), ArmError> {
    if world.get(&key(target)).is_some() {
        Ok(())
    } else {
        Err(ArmError::invalid_reference(target, referrer))
    }
}
