//! The pool's effects on Azure: availability sets, NICs and VMs created, adopted, read and deleted through
//! the shared ARM client. Request bodies are JSON built here (only the members we set), responses are read
//! for the few members we need.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value as Json};

use super::spec::{
    disk_name, node_index, node_of, set_index, Image, Inventory, Node, PoolId, SetRecord, Spec,
    CAP_TAG, OWNER_TAG, PLACEMENT_TAG, SHAPE_TAG,
};
use crate::arm::client::{ArmClient, Conditions};
use crate::arm::error::ArmError;
use crate::arm::ids::ResourceId;
use crate::arm::models::{COMPUTE_API_VERSION, NETWORK_API_VERSION};
use crate::arm::retry::Ctx;
use crate::layout::node_name;
use crate::plugin::logging::info;

/// Nodes worked on at once. The client's pacer bounds the HTTP requests in flight; this only bounds how
/// many node tasks (mostly waiting on long-running operations) are alive, and with it memory.
const NODE_CONCURRENCY: usize = 512;

/// Something in Azure that stops the pool from converging, with the resource it concerns.
#[derive(Debug)]
pub struct PoolError {
    pub resource: String,
    pub message: String,
    /// The operation's timeout passed while this was waited for.
    pub timed_out: bool,
}

impl PoolError {
    fn arm(resource: &ResourceId, what: &str, error: ArmError) -> PoolError {
        PoolError {
            resource: resource.to_string(),
            timed_out: matches!(error, ArmError::Deadline { .. }),
            message: format!("{what}: {error}"),
        }
    }
}

/// Why a node could not be made, with the node itself when its VM exists all the same.
type NodeFailure = (PoolError, Option<Node>);

/// A GET that may find nothing.
type Fetched = Result<Option<Json>, PoolError>;

fn owner(body: &Json) -> Option<&str> {
    body.pointer(&format!("/tags/{OWNER_TAG}"))
        .and_then(Json::as_str)
}

/// Checks that an existing resource belongs to this pool and, for a set or VM not in state (`shape` given),
/// was made by this configuration's shape; anything else must not be touched. A NIC outlives its VMs (a
/// rollout keeps it, and an interrupted one may leave it for the next apply), so only its owner is checked.
/// Resources made before shapes were recorded carry no shape tag.
fn check_owner(
    id: &ResourceId,
    body: &Json,
    pool: &PoolId,
    shape: Option<&str>,
) -> Result<(), PoolError> {
    let pool_text = pool.to_string();
    let theirs = body
        .pointer(&format!("/tags/{SHAPE_TAG}"))
        .and_then(Json::as_str);
    match owner(body) {
        Some(o) if o.eq_ignore_ascii_case(&pool_text) => match (theirs, shape) {
            (Some(t), Some(shape)) if !t.eq_ignore_ascii_case(shape) => Err(PoolError {
                timed_out: false,
                resource: id.to_string(),
                message: format!(
                    "{id} already exists and belongs to pool {pool_text} as another configuration made it: its \
                     {SHAPE_TAG} tag is {t}, this configuration's is {shape} (vm_size, image, os_disk, \
                     admin_username, ssh_public_keys, custom_data_version, subnet_id, location or the domain \
                     counts differ), and it is not a node in this pool's state. Another workspace probably \
                     manages a pool of this name: choose another name or resource group, or delete the VM."
                ),
            }),
            _ => Ok(()),
        },
        other => Err(PoolError {
            timed_out: false,
            resource: id.to_string(),
            message: format!(
                "{id} already exists and belongs to {}, not to this pool ({pool_text}). Choose another pool \
                 name, or delete or rename the existing resource.",
                other.map_or_else(|| "no largek8s pool".to_string(), |o| format!("pool {o}"))
            ),
        }),
    }
}

fn tags(spec: &Spec, pool: &PoolId) -> Json {
    let mut tags: serde_json::Map<String, Json> = spec
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    tags.insert(OWNER_TAG.into(), json!(pool.to_string()));
    tags.insert(SHAPE_TAG.into(), json!(spec.shape()));
    Json::Object(tags)
}

fn is_precondition_failed(error: &ArmError) -> bool {
    error.api().is_some_and(|e| e.status == 412)
}

/// Why a resource could not be made ready, and whether it is ours and exists all the same.
#[derive(Debug)]
struct Unready {
    error: PoolError,
    /// ARM accepted the creation (or the resource was ours already), but apply stopped waiting for its
    /// provisioning: cancelled (StopProvider) or out of time.
    exists: bool,
}

fn interrupted(error: &ArmError) -> bool {
    matches!(
        error,
        ArmError::Cancelled { .. } | ArmError::Deadline { .. }
    )
}

/// A resource made or found by [`create_or_adopt`].
struct Ensured {
    body: Json,
    /// It existed before: an earlier apply made it.
    adopted: bool,
}

/// Creates with `If-None-Match: *`; when the resource is already there, reads it and adopts it if it is
/// ours (and, with `shape`, a VM of that shape). A retried or interrupted apply so finds what it made,
/// without a read per resource otherwise.
async fn create_or_adopt(
    arm: &ArmClient,
    ctx: &Ctx,
    id: &ResourceId,
    api_version: &str,
    body: &Json,
    shape: Option<&str>,
    pool: &PoolId,
) -> Result<Ensured, Unready> {
    let path = id.to_string();
    let failed = |what: &str, e: ArmError, exists: bool| Unready {
        exists: exists && interrupted(&e),
        error: PoolError::arm(id, what, e),
    };
    let started = match arm
        .put::<Json, Json>(ctx, &path, api_version, body, &Conditions::create_only())
        .await
    {
        Ok(started) => started,
        Err(e) if is_precondition_failed(&e) => {
            let existing = arm
                .get::<Json>(ctx, &path, api_version)
                .await
                .map_err(|e| failed("reading the existing resource", e, false))?;
            check_owner(id, &existing.body, pool, shape).map_err(|error| Unready {
                error,
                exists: false,
            })?;
            return adopt(arm, ctx, id, api_version, body, existing)
                .await
                .map(|body| Ensured {
                    body,
                    adopted: true,
                });
        }
        Err(e) => return Err(failed("creating", e, false)),
    };
    arm.finish(ctx, started, &path, api_version)
        .await
        .map(|r| Ensured {
            body: r.body,
            adopted: false,
        })
        .map_err(|e| failed("creating", e, true))
}

/// How far an existing resource's provisioning got.
#[derive(Debug, PartialEq, Eq)]
enum Provisioning {
    /// Succeeded, or a resource type without a provisioningState.
    Done,
    /// Still running: an earlier apply's request, which the interruption did not stop.
    Running,
    /// Ended Failed or Canceled: the resource exists but is not usable as it is.
    Broken,
}

fn provisioning(body: &Json) -> Provisioning {
    match body
        .pointer("/properties/provisioningState")
        .and_then(Json::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("succeeded") => Provisioning::Done,
        Some("failed" | "canceled" | "cancelled") => Provisioning::Broken,
        Some(_) => Provisioning::Running,
    }
}

/// Makes a resource of ours that already exists usable: waits out a provisioning an earlier apply started,
/// and redoes one that ended Failed or Canceled with the same PUT (`If-Match` its ETag, so a concurrent
/// change is not overwritten), as ARM lets a failed resource be retried in place.
async fn adopt(
    arm: &ArmClient,
    ctx: &Ctx,
    id: &ResourceId,
    api_version: &str,
    body: &Json,
    existing: crate::arm::client::Response<Json>,
) -> Result<Json, Unready> {
    let path = id.to_string();
    let failed = |what: &str, e: ArmError| Unready {
        exists: interrupted(&e),
        error: PoolError::arm(id, what, e),
    };
    let mut existing = existing;
    if provisioning(&existing.body) == Provisioning::Running {
        match arm.wait_provisioned(ctx, &path, api_version).await {
            Ok(_) | Err(ArmError::Operation { .. }) => {}
            Err(e) => return Err(failed("waiting for the existing resource", e)),
        }
        existing = arm
            .get::<Json>(ctx, &path, api_version)
            .await
            .map_err(|e| failed("reading the existing resource", e))?;
    }
    match provisioning(&existing.body) {
        Provisioning::Done => Ok(existing.body),
        Provisioning::Running | Provisioning::Broken => {
            let conditions = Conditions::matching(existing.etag.clone());
            arm.put_and_wait::<Json, Json>(ctx, &path, api_version, body, &conditions)
                .await
                .map(|r| r.body)
                .map_err(|e| failed("redoing the failed provisioning of", e))
        }
    }
}

fn set_body(spec: &Spec, pool: &PoolId) -> Json {
    let mut tags = tags(spec, pool);
    if let Some(t) = tags.as_object_mut() {
        t.insert(CAP_TAG.into(), json!(spec.cap.get().to_string()));
        t.insert(PLACEMENT_TAG.into(), json!(spec.placement.to_string()));
    }
    json!({
        "location": spec.location,
        "tags": tags,
        // Managed disks need an Aligned set.
        "sku": {"name": "Aligned"},
        "properties": {
            "platformFaultDomainCount": spec.fault_domains,
            "platformUpdateDomainCount": spec.update_domains,
        },
    })
}

fn nic_body(spec: &Spec, pool: &PoolId) -> Json {
    json!({
        "location": spec.location,
        "tags": tags(spec, pool),
        "properties": {
            "ipConfigurations": [{
                "name": "ipconfig1",
                "properties": {
                    "primary": true,
                    "privateIPAllocationMethod": "Dynamic",
                    "subnet": {"id": spec.subnet_id.to_string()},
                },
            }],
        },
    })
}

fn vm_body(spec: &Spec, pool: &PoolId, set: u32, node: &str, nic_id: &str) -> Json {
    let image = match &spec.image {
        Image::Id(id) => json!({"id": id}),
        Image::Marketplace {
            publisher,
            offer,
            sku,
            version,
        } => json!({"publisher": publisher, "offer": offer, "sku": sku, "version": version}),
    };
    let keys: Vec<Json> = spec
        .ssh_public_keys
        .iter()
        .map(|key| {
            json!({
                "path": format!("/home/{}/.ssh/authorized_keys", spec.admin_username),
                "keyData": key,
            })
        })
        .collect();
    let mut os_profile = json!({
        "computerName": node,
        "adminUsername": spec.admin_username,
        "linuxConfiguration": {
            "disablePasswordAuthentication": true,
            "ssh": {"publicKeys": keys},
        },
    });
    if let (Some(data), Some(profile)) = (&spec.custom_data, os_profile.as_object_mut()) {
        use base64::Engine;
        profile.insert(
            "customData".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(data)),
        );
    }
    json!({
        "location": spec.location,
        "tags": tags(spec, pool),
        "properties": {
            "hardwareProfile": {"vmSize": spec.vm_size},
            "availabilitySet": {"id": pool.set_id(set).to_string()},
            "storageProfile": {
                "imageReference": image,
                "osDisk": {
                    "name": disk_name(node),
                    "createOption": "FromImage",
                    // A new VM gets a new disk, so the old one goes with its VM.
                    "deleteOption": "Delete",
                    "diskSizeGB": spec.os_disk_gb,
                    "managedDisk": {"storageAccountType": spec.os_disk_storage},
                },
            },
            "osProfile": os_profile,
            "networkProfile": {
                // The NIC outlives its VM, so that a rolled node keeps its private IP and load balancer
                // membership; deleting a node deletes its NIC after the VM.
                "networkInterfaces": [{
                    "id": nic_id,
                    "properties": {"primary": true, "deleteOption": NIC_DELETE_OPTION},
                }],
            },
        },
    })
}

/// What Azure does with a VM's NIC when the VM is deleted: `Detach` keeps it
/// (<https://learn.microsoft.com/azure/virtual-machines/delete>).
const NIC_DELETE_OPTION: &str = "Detach";

fn private_ip(nic: &Json) -> String {
    nic.pointer("/properties/ipConfigurations/0/properties/privateIPAddress")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

fn id_of(body: &Json, fallback: &ResourceId) -> String {
    body.get("id")
        .and_then(Json::as_str)
        .and_then(|id| ResourceId::parse(id).ok())
        .unwrap_or_else(|| fallback.clone())
        .to_string()
}

/// Creates (or adopts) one availability set.
pub async fn ensure_set(
    arm: &ArmClient,
    ctx: &Ctx,
    spec: &Spec,
    pool: &PoolId,
    set: u32,
) -> Result<SetRecord, PoolError> {
    let id = pool.set_id(set);
    // Availability sets are synchronous and a PUT of our own set changes nothing, but another pool's set
    // must not be rewritten: create only, and adopt when ours.
    // A set that is not in state yet is checked for this configuration's shape, as a VM is: another
    // workspace reusing the pool's name is refused before anything of it is recorded (or later destroyed).
    let shape = spec.shape();
    let set = create_or_adopt(
        arm,
        ctx,
        &id,
        COMPUTE_API_VERSION,
        &set_body(spec, pool),
        Some(&shape),
        pool,
    )
    .await
    .map_err(|u| u.error)?;
    Ok(SetRecord {
        id: id_of(&set.body, &id),
        nodes: BTreeMap::new(),
    })
}

/// Creates (or adopts) one node: its NIC, then its VM in the set. On failure, the node as well when its VM
/// exists though its provisioning was not seen to end (apply was stopped or ran out of time).
async fn ensure_node(
    arm: &ArmClient,
    ctx: &Ctx,
    spec: &Spec,
    pool: &PoolId,
    set: u32,
    number: u32,
) -> Result<Node, NodeFailure> {
    let name = node_name(&pool.name, set, number);
    let nic_id = pool.nic_id(&name);
    let Ensured { body: nic, adopted } = create_or_adopt(
        arm,
        ctx,
        &nic_id,
        NETWORK_API_VERSION,
        &nic_body(spec, pool),
        None,
        pool,
    )
    .await
    .map_err(|u| (u.error, None))?;
    let nic_text = id_of(&nic, &nic_id);
    let vm_id = pool.vm_id(&name);
    let shape = spec.shape();
    match create_or_adopt(
        arm,
        ctx,
        &vm_id,
        COMPUTE_API_VERSION,
        &vm_body(spec, pool, set, &name, &nic_text),
        Some(&shape),
        pool,
    )
    .await
    {
        Ok(vm) => Ok(Node {
            vm_id: id_of(&vm.body, &vm_id),
            nic_id: nic_text,
            private_ip: private_ip(&nic),
            shape,
        }),
        Err(Unready {
            error,
            exists: true,
        }) => Err((
            error,
            Some(Node {
                vm_id: vm_id.to_string(),
                nic_id: nic_text,
                private_ip: private_ip(&nic),
                shape,
            }),
        )),
        Err(Unready { error, .. }) => {
            // Leave no NIC without its VM, unless an earlier apply made it: a node whose VM a rollout
            // deleted keeps its NIC (IP, load balancer membership) for the next try. A failure here is
            // secondary to the VM's error.
            if !adopted {
                let _ = arm
                    .delete_and_wait(ctx, &nic_id.to_string(), NETWORK_API_VERSION)
                    .await;
            }
            Err((error, None))
        }
    }
}

/// Deletes one node: the VM (which takes its disk and NIC), then the NIC and disk in case they outlived it
/// (a VM that failed to create, or one made with other delete options). Absent parts are no error.
async fn delete_node(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    name: &str,
) -> Result<(), PoolError> {
    let vm = pool.vm_id(name);
    arm.delete_and_wait(ctx, &vm.to_string(), COMPUTE_API_VERSION)
        .await
        .map_err(|e| PoolError::arm(&vm, "deleting", e))?;
    let nic = pool.nic_id(name);
    arm.delete_and_wait(ctx, &nic.to_string(), NETWORK_API_VERSION)
        .await
        .map_err(|e| PoolError::arm(&nic, "deleting", e))?;
    let disk = pool.disk_id(name);
    arm.delete_and_wait(ctx, &disk.to_string(), COMPUTE_API_VERSION)
        .await
        .map_err(|e| PoolError::arm(&disk, "deleting", e))
}

/// Deletes nodes concurrently, newest (highest set, then node) first, and drops the deleted ones from
/// `inventory`. A node still in a set keeps the set from being deleted.
async fn delete_nodes(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    inventory: &mut Inventory,
    nodes: impl DoubleEndedIterator<Item = (u32, u32)>,
) -> Vec<PoolError> {
    let results: Vec<((u32, u32), Result<(), PoolError>)> = stream::iter(nodes.rev())
        .map(|(set, number)| async move {
            let name = node_name(&pool.name, set, number);
            ((set, number), delete_node(arm, ctx, pool, &name).await)
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .collect()
        .await;
    let mut errors = Vec::new();
    for ((set, number), result) in results {
        match result {
            Ok(()) => {
                if let Some(record) = inventory.sets.get_mut(&set) {
                    record.nodes.remove(&number);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    errors
}

/// Brings `inventory` to `target` (set -> node numbers): deletes the nodes and sets not in it (newest
/// first), then creates the missing sets, then the missing nodes concurrently. `inventory` always holds
/// what exists, also when this fails halfway, so the caller can return it as state.
pub async fn converge(
    arm: &ArmClient,
    ctx: &Ctx,
    spec: &Spec,
    pool: &PoolId,
    inventory: &mut Inventory,
    target: &crate::layout::Layout,
) -> Vec<PoolError> {
    let diff = crate::layout::diff(&inventory.layout(), target);

    // Scale down: newest nodes first.
    let mut errors =
        delete_nodes(arm, ctx, pool, inventory, diff.delete_nodes.iter().copied()).await;
    errors.extend(delete_empty_sets(arm, ctx, pool, inventory, diff.delete_sets.clone()).await);
    if !errors.is_empty() {
        return errors;
    }

    // Scale up: sets first, since a VM joins its set only at creation.
    for set in target.sets().map(|s| s.index) {
        if inventory.sets.contains_key(&set) {
            continue;
        }
        match ensure_set(arm, ctx, spec, pool, set).await {
            Ok(record) => {
                inventory.sets.insert(set, record);
            }
            Err(e) => return vec![e],
        }
    }
    // Azure counts every VM in a set against its limit, the pool's or not: a set that someone else's VMs
    // fill is explained once, up front, instead of failing node by node on every apply.
    let mut full = BTreeSet::new();
    let growing: BTreeSet<u32> = diff.create_nodes.iter().map(|(set, _)| *set).collect();
    for set in target.sets().filter(|s| growing.contains(&s.index)) {
        if let Err(e) = check_room(arm, ctx, pool, &set).await {
            errors.push(e);
            full.insert(set.index);
        }
    }
    let create: Vec<(u32, u32)> = diff
        .create_nodes
        .iter()
        .copied()
        .filter(|(set, _)| !full.contains(set))
        .collect();
    let total = create.len();
    if total == 0 {
        if errors.is_empty() {
            errors.extend(roll(arm, ctx, spec, pool, inventory).await);
        }
        return errors;
    }
    let done = AtomicUsize::new(0);
    let progress_step = (total / 20).max(1);
    let results: Vec<((u32, u32), Result<Node, NodeFailure>)> = stream::iter(create)
        .map(|(set, number)| {
            let done = &done;
            async move {
                let result = ensure_node(arm, ctx, spec, pool, set, number).await;
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if finished.is_multiple_of(progress_step) || finished == total {
                    info(
                        &format!("created {finished}/{total} nodes"),
                        &[("pool", &pool.name)],
                    );
                }
                ((set, number), result)
            }
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .collect()
        .await;
    for ((set, number), result) in results {
        let node = match result {
            Ok(node) => node,
            Err((e, exists)) => {
                errors.push(e);
                let Some(node) = exists else { continue };
                inventory.unsettled.insert((set, number));
                node
            }
        };
        inventory
            .sets
            .entry(set)
            .or_default()
            .nodes
            .insert(number, node);
    }
    // New nodes first, as they add capacity; then the existing nodes of another shape.
    if errors.is_empty() {
        errors.extend(roll(arm, ctx, spec, pool, inventory).await);
    }
    errors
}

/// The nodes a rollout works on, in order (see [`crate::layout::rollout_order`]): those an interrupted apply
/// left provisioning (they are unavailable already, and must settle before more nodes go), then the nodes
/// whose VM runs another shape than `shape`.
fn rollout_order(inventory: &Inventory, shape: &str) -> Vec<(u32, u32)> {
    let stale = inventory.sets.iter().flat_map(|(set, record)| {
        record
            .nodes
            .iter()
            .filter(|(_, node)| node.shape != shape)
            .map(move |(number, _)| (*set, *number))
    });
    crate::layout::rollout_order(stale, &inventory.unsettled)
}

/// Where one node of a rollout ended.
struct Rolled {
    node: Node,
    /// A write was accepted but not seen to succeed: the next refresh reads the VM (see [`settle`]).
    unsettled: bool,
    error: Option<PoolError>,
}

/// Rolls the nodes whose VM runs another shape than `spec` (see [`rollout_order`]) in batches of at most
/// `spec.max_unavailable`; a batch starts when every VM of the previous one has provisioned. A VM whose
/// set's hardware cluster offers the new size, and that differs in nothing else, is resized in place;
/// every other one is deleted and created again with the same name, in the same set, on its NIC (which
/// keeps the private IP and load balancer membership), with a new OS disk. The first failure ends the
/// rollout after its batch; `inventory` records each node's shape as it is, so the next apply continues.
pub async fn roll(
    arm: &ArmClient,
    ctx: &Ctx,
    spec: &Spec,
    pool: &PoolId,
    inventory: &mut Inventory,
) -> Vec<PoolError> {
    let shape = spec.shape();
    let order = rollout_order(inventory, &shape);
    if order.is_empty() {
        return Vec::new();
    }
    let batch = spec.max_unavailable.nodes(spec.node_count);
    let total = order.len();
    info(
        &format!("rolling {total} nodes to shape {shape}, {batch} at a time"),
        &[("pool", &pool.name)],
    );
    let sets: BTreeSet<u32> = order.iter().map(|(set, _)| *set).collect();
    let offered = offered_sizes(arm, ctx, pool, sets).await;
    let mut errors = Vec::new();
    let mut done = 0;
    for chunk in order.chunks(batch) {
        let work: Vec<((u32, u32), Node, bool)> = chunk
            .iter()
            .filter_map(|(set, number)| {
                let node = inventory.sets.get(set)?.nodes.get(number)?.clone();
                Some((
                    (*set, *number),
                    node,
                    inventory.unsettled.contains(&(*set, *number)),
                ))
            })
            .collect();
        let results: Vec<((u32, u32), Rolled)> = stream::iter(work)
            .map(|((set, number), node, unsettled)| {
                let offered = offered.get(&set);
                async move {
                    let rolled = roll_node(
                        arm,
                        ctx,
                        spec,
                        pool,
                        (set, number),
                        node,
                        unsettled,
                        offered,
                    )
                    .await;
                    ((set, number), rolled)
                }
            })
            .buffer_unordered(NODE_CONCURRENCY)
            .collect()
            .await;
        for ((set, number), rolled) in results {
            if rolled.unsettled {
                inventory.unsettled.insert((set, number));
            } else {
                inventory.unsettled.remove(&(set, number));
            }
            if let Some(record) = inventory.sets.get_mut(&set) {
                record.nodes.insert(number, rolled.node);
            }
            errors.extend(rolled.error);
        }
        done += chunk.len();
        info(
            &format!("rolled {done}/{total} nodes"),
            &[("pool", &pool.name)],
        );
        if !errors.is_empty() {
            break;
        }
    }
    errors
}

/// The VM sizes each set's hardware cluster offers (`GET .../availabilitySets/{name}/vmSizes`,
/// <https://learn.microsoft.com/rest/api/compute/availability-sets/list-available-sizes>), lower-cased. A
/// set whose list cannot be read offers nothing: its VMs are replaced rather than resized.
async fn offered_sizes(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    sets: BTreeSet<u32>,
) -> BTreeMap<u32, BTreeSet<String>> {
    stream::iter(sets)
        .map(|set| async move {
            let path = format!("{}/vmSizes", pool.set_id(set));
            let sizes: Vec<Json> = arm
                .list(ctx, &path, COMPUTE_API_VERSION)
                .await
                .unwrap_or_default();
            let names = sizes
                .iter()
                .filter_map(|s| s.get("name").and_then(Json::as_str))
                .map(str::to_ascii_lowercase)
                .collect();
            (set, names)
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .collect()
        .await
}

/// The VM's body for an in-place update: what Azure returned, with `tags` and `vm_size`, and the NIC kept
/// when the VM is deleted (VMs made before rollouts took theirs along). `customData` is not returned, and
/// leaving it out of the update keeps it.
fn updated_vm_body(existing: &Json, tags: Json, vm_size: &str) -> Json {
    let mut body = existing.clone();
    body["tags"] = tags;
    body["properties"]["hardwareProfile"]["vmSize"] = json!(vm_size);
    if let Some(nics) = body
        .pointer_mut("/properties/networkProfile/networkInterfaces")
        .and_then(Json::as_array_mut)
    {
        for nic in nics {
            nic["properties"]["deleteOption"] = json!(NIC_DELETE_OPTION);
        }
    }
    body
}

fn keeps_nic(vm: &Json) -> bool {
    vm.pointer("/properties/networkProfile/networkInterfaces")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .all(|nic| {
            nic.pointer("/properties/deleteOption")
                .and_then(Json::as_str)
                .is_some_and(|d| d.eq_ignore_ascii_case(NIC_DELETE_OPTION))
        })
}

/// Brings one node's VM to `spec`'s shape (see [`roll`]). Reads the VM first, so that a node an
/// interrupted rollout left half done continues where it stopped: a VM still being deleted is waited for,
/// a missing one is created, one already of the new shape is kept (waited for, or redone if it failed).
#[allow(clippy::too_many_arguments)]
async fn roll_node(
    arm: &ArmClient,
    ctx: &Ctx,
    spec: &Spec,
    pool: &PoolId,
    (set, number): (u32, u32),
    node: Node,
    unsettled: bool,
    offered: Option<&BTreeSet<String>>,
) -> Rolled {
    let name = node_name(&pool.name, set, number);
    let vm_id = pool.vm_id(&name);
    let path = vm_id.to_string();
    let shape = spec.shape();
    let fail = |node: Node, unsettled: bool, error: PoolError| Rolled {
        node,
        unsettled,
        error: Some(error),
    };
    let renewed = Node {
        shape: shape.clone(),
        ..node.clone()
    };
    let rolled = Rolled {
        node: renewed.clone(),
        unsettled: false,
        error: None,
    };
    let mut existing = match arm
        .get_optional::<Json>(ctx, &path, COMPUTE_API_VERSION)
        .await
    {
        Ok(existing) => existing,
        Err(e) => return fail(node, unsettled, PoolError::arm(&vm_id, "reading", e)),
    };
    let deleting = |vm: &Json| {
        vm.pointer("/properties/provisioningState")
            .and_then(Json::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("deleting"))
    };
    // An operation an earlier apply started: wait for its end before anything else.
    if let Some(vm) = existing
        .as_ref()
        .filter(|vm| provisioning(&vm.body) == Provisioning::Running)
    {
        let waited = if deleting(&vm.body) {
            arm.delete_and_wait(ctx, &path, COMPUTE_API_VERSION).await
        } else {
            match arm.wait_provisioned(ctx, &path, COMPUTE_API_VERSION).await {
                Ok(_) | Err(ArmError::Operation { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = waited {
            return fail(node, unsettled, PoolError::arm(&vm_id, "waiting for", e));
        }
        existing = match arm
            .get_optional::<Json>(ctx, &path, COMPUTE_API_VERSION)
            .await
        {
            Ok(existing) => existing,
            Err(e) => return fail(node, unsettled, PoolError::arm(&vm_id, "reading", e)),
        };
    }
    if let Some(vm) = existing {
        let theirs = vm
            .body
            .pointer(&format!("/tags/{SHAPE_TAG}"))
            .and_then(Json::as_str)
            .unwrap_or(&node.shape)
            .to_string();
        if theirs.eq_ignore_ascii_case(&shape) {
            let body = vm_body(spec, pool, set, &name, &node.nic_id);
            return match adopt(arm, ctx, &vm_id, COMPUTE_API_VERSION, &body, vm).await {
                Ok(_) => rolled,
                Err(u) => fail(renewed, true, u.error),
            };
        }
        let size = vm
            .body
            .pointer("/properties/hardwareProfile/vmSize")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let only_size = spec
            .with_vm_size(&size)
            .shape()
            .eq_ignore_ascii_case(&theirs);
        let fits = offered.is_some_and(|o| o.contains(&spec.vm_size.to_ascii_lowercase()));
        if only_size && fits && provisioning(&vm.body) == Provisioning::Done {
            let body = updated_vm_body(&vm.body, tags(spec, pool), &spec.vm_size);
            let conditions = Conditions::matching(vm.etag.clone());
            return match arm
                .put_and_wait::<Json, Json>(ctx, &path, COMPUTE_API_VERSION, &body, &conditions)
                .await
            {
                Ok(_) => rolled,
                Err(e) => fail(renewed, true, PoolError::arm(&vm_id, "resizing", e)),
            };
        }
        if !keeps_nic(&vm.body) {
            // Made before rollouts: its NIC would go with it. One update first keeps the NIC.
            let kept = vm.body.get("tags").cloned().unwrap_or(Json::Null);
            let body = updated_vm_body(&vm.body, kept, &size);
            let conditions = Conditions::matching(vm.etag.clone());
            if let Err(e) = arm
                .put_and_wait::<Json, Json>(ctx, &path, COMPUTE_API_VERSION, &body, &conditions)
                .await
            {
                let error = PoolError::arm(&vm_id, "keeping the network interface of", e);
                return fail(node, unsettled, error);
            }
        }
        if let Err(e) = arm.delete_and_wait(ctx, &path, COMPUTE_API_VERSION).await {
            return fail(node, unsettled, PoolError::arm(&vm_id, "deleting", e));
        }
    }
    let body = vm_body(spec, pool, set, &name, &node.nic_id);
    match create_or_adopt(
        arm,
        ctx,
        &vm_id,
        COMPUTE_API_VERSION,
        &body,
        Some(&shape),
        pool,
    )
    .await
    {
        Ok(_) => rolled,
        // Whatever became of the VM, the next refresh reads it: one that is missing or failed leaves
        // the state, and the next apply makes it again on the node's NIC.
        Err(u) => fail(renewed, true, u.error),
    }
}

/// Checks that availability set `set` has room for the pool's nodes `set.nodes` beside the VMs it already
/// lists: Azure holds at most 200 VMs in a set
/// (<https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#virtual-machines-limits>).
async fn check_room(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    set: &crate::layout::NodeSet,
) -> Result<(), PoolError> {
    let id = pool.set_id(set.index);
    let Some(body) = arm
        .get_optional::<Json>(ctx, &id.to_string(), COMPUTE_API_VERSION)
        .await
        .map_err(|e| PoolError::arm(&id, "reading", e))?
    else {
        return Ok(());
    };
    let planned: BTreeSet<String> = set
        .nodes
        .iter()
        .map(|n| node_name(&pool.name, set.index, *n).to_ascii_lowercase())
        .collect();
    let others: Vec<String> = member_names(&body.body)
        .filter(|vm| !planned.contains(&vm.to_ascii_lowercase()))
        .collect();
    room_error(&id, planned.len(), &others).map_or(Ok(()), Err)
}

/// The error for a set that cannot hold `planned` pool nodes beside the `others` VMs it lists, if it cannot.
fn room_error(set: &ResourceId, planned: usize, others: &[String]) -> Option<PoolError> {
    let limit = crate::layout::AZURE_MAX_VMS_PER_SET as usize;
    if planned + others.len() <= limit {
        return None;
    }
    let shown: Vec<&str> = others.iter().take(5).map(String::as_str).collect();
    let more = others.len().saturating_sub(shown.len());
    Some(PoolError {
        timed_out: false,
 resource: set.to_string(),
        message: format!(
            "availability set {} would hold {} VMs, more than the {limit} Azure allows: besides the pool's {planned} \
             nodes it holds {} VM(s) that are not the pool's ({}{}). No node was added to this set. Delete or \
             move those VMs, or lower max_nodes_per_set so that new nodes go to new sets.",
            set.name(),
            planned + others.len(),
            others.len(),
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() },
        ),
    })
}

/// Deletes every node and set of the pool: those in `inventory`, and any VM its sets still list (left by
/// an interrupted apply). `inventory` keeps what could not be deleted.
pub async fn delete_all(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    inventory: &mut Inventory,
) -> Vec<PoolError> {
    let mut nodes: BTreeSet<(u32, u32)> = inventory.layout().nodes().collect();
    let mut errors = Vec::new();
    for set in inventory.sets.keys() {
        let id = pool.set_id(*set);
        match arm
            .get_optional::<Json>(ctx, &id.to_string(), COMPUTE_API_VERSION)
            .await
        {
            Ok(Some(body)) => nodes.extend(
                member_names(&body.body)
                    .filter_map(|vm| node_index(&pool.name, *set, &vm).map(|n| (*set, n))),
            ),
            Ok(None) => {}
            Err(e) => errors.push(PoolError::arm(&id, "reading", e)),
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let mut errors = delete_nodes(arm, ctx, pool, inventory, nodes.into_iter()).await;
    let sets: Vec<u32> = inventory.sets.keys().copied().collect();
    errors.extend(delete_empty_sets(arm, ctx, pool, inventory, sets).await);
    errors.extend(delete_stray_nics(arm, ctx, pool).await);
    errors
}

/// Deletes the pool's NICs that no VM took, which no set lists: an apply stopped between creating a
/// node's NIC and its VM leaves them. One list of the resource group's NICs, filtered by name, ownership
/// tag and attachment.
async fn delete_stray_nics(arm: &ArmClient, ctx: &Ctx, pool: &PoolId) -> Vec<PoolError> {
    let group = pool.group_id();
    let path = format!("{group}/providers/Microsoft.Network/networkInterfaces");
    let nics: Vec<Json> = match arm.list(ctx, &path, NETWORK_API_VERSION).await {
        Ok(nics) => nics,
        Err(e) => return vec![PoolError::arm(&group, "listing network interfaces in", e)],
    };
    let pool_text = pool.to_string();
    let stray: Vec<ResourceId> = nics
        .iter()
        .filter(|nic| owner(nic).is_some_and(|o| o.eq_ignore_ascii_case(&pool_text)))
        .filter(|nic| nic.pointer("/properties/virtualMachine").is_none())
        .filter_map(|nic| nic.get("name").and_then(Json::as_str))
        .filter(|name| {
            name.strip_suffix("-nic")
                .and_then(|node| node_of(&pool.name, node))
                .is_some()
        })
        .map(|name| ResourceId::network_interface(&pool.subscription, &pool.resource_group, name))
        .collect();
    stream::iter(stray)
        .map(|id| async move {
            arm.delete_and_wait(ctx, &id.to_string(), NETWORK_API_VERSION)
                .await
                .map_err(|e| PoolError::arm(&id, "deleting", e))
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .filter_map(|result| async move { result.err() })
        .collect()
        .await
}

/// Deletes those of `sets` that hold no node any more (a set with VMs cannot be deleted).
async fn delete_empty_sets(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    inventory: &mut Inventory,
    sets: Vec<u32>,
) -> Vec<PoolError> {
    let mut errors = Vec::new();
    for set in sets {
        if inventory
            .sets
            .get(&set)
            .is_some_and(|r| !r.nodes.is_empty())
        {
            continue;
        }
        let id = pool.set_id(set);
        match arm
            .delete_and_wait(ctx, &id.to_string(), COMPUTE_API_VERSION)
            .await
        {
            Ok(()) => {
                inventory.sets.remove(&set);
            }
            Err(e) => errors.push(PoolError::arm(&id, "deleting", e)),
        }
    }
    errors
}

/// The names of the VMs an availability set lists.
fn member_names(set: &Json) -> impl Iterator<Item = String> + '_ {
    set.pointer("/properties/virtualMachines")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|vm| vm.get("id").and_then(Json::as_str))
        .filter_map(|id| ResourceId::parse(id).ok())
        .map(|id| id.name().to_string())
}

/// Refreshes `inventory` with one read per set: sets that are gone drop out, and so do nodes their set no
/// longer lists (deleted out of band), so the next plan recreates them.
pub async fn refresh(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    inventory: &mut Inventory,
) -> Result<(), PoolError> {
    let sets: Vec<u32> = inventory.sets.keys().copied().collect();
    let reads: Vec<(u32, Fetched)> = stream::iter(sets)
        .map(|set| async move {
            let id = pool.set_id(set);
            let result = arm
                .get_optional::<Json>(ctx, &id.to_string(), COMPUTE_API_VERSION)
                .await
                .map(|r| r.map(|r| r.body))
                .map_err(|e| PoolError::arm(&id, "reading", e));
            (set, result)
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .collect()
        .await;
    for (set, read) in reads {
        match read? {
            None => {
                inventory.sets.remove(&set);
            }
            Some(body) => {
                let members: BTreeSet<u32> = member_names(&body)
                    .filter_map(|vm| node_index(&pool.name, set, &vm))
                    .collect();
                if let Some(record) = inventory.sets.get_mut(&set) {
                    record.nodes.retain(|number, _| members.contains(number));
                }
            }
        }
    }
    settle(arm, ctx, pool, inventory).await
}

/// Reads the VMs of the unsettled nodes (one read each; there are none unless an apply was stopped):
/// provisioned ones are settled, and nodes whose VM is gone or failed leave the inventory, so the next plan
/// shows them and apply adopts and redoes them.
async fn settle(
    arm: &ArmClient,
    ctx: &Ctx,
    pool: &PoolId,
    inventory: &mut Inventory,
) -> Result<(), PoolError> {
    let nodes: Vec<(u32, u32)> = inventory
        .unsettled
        .iter()
        .copied()
        .filter(|(set, number)| {
            inventory
                .sets
                .get(set)
                .is_some_and(|r| r.nodes.contains_key(number))
        })
        .collect();
    let reads: Vec<((u32, u32), Fetched)> = stream::iter(nodes)
        .map(|(set, number)| async move {
            let vm = pool.vm_id(&node_name(&pool.name, set, number));
            let result = arm
                .get_optional::<Json>(ctx, &vm.to_string(), COMPUTE_API_VERSION)
                .await
                .map(|r| r.map(|r| r.body))
                .map_err(|e| PoolError::arm(&vm, "reading", e));
            ((set, number), result)
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .collect()
        .await;
    inventory.unsettled.clear();
    for ((set, number), read) in reads {
        match read?.as_ref().map(provisioning) {
            Some(Provisioning::Done) => {}
            Some(Provisioning::Running) => {
                inventory.unsettled.insert((set, number));
            }
            None | Some(Provisioning::Broken) => {
                if let Some(record) = inventory.sets.get_mut(&set) {
                    record.nodes.remove(&number);
                }
            }
        }
    }
    Ok(())
}

/// What import learns from Azure besides the inventory: the shape of the VMs and the placement settings.
#[derive(Debug, Default)]
pub struct Discovered {
    pub inventory: Inventory,
    /// A VM of the pool, to read vm_size, image, disk, admin and keys from.
    pub sample_vm: Option<Json>,
    pub sample_nic: Option<Json>,
    /// The newest set, to read location, tags, domains and placement tags from.
    pub newest_set: Option<Json>,
}

/// Finds the pool's sets (by name and ownership tag) and their nodes, and reads each node's NIC for its ID
/// and private IP.
pub async fn discover(arm: &ArmClient, ctx: &Ctx, pool: &PoolId) -> Result<Discovered, PoolError> {
    let group = pool.group_id();
    let path = format!("{group}/providers/Microsoft.Compute/availabilitySets");
    let sets: Vec<Json> = arm
        .list(ctx, &path, COMPUTE_API_VERSION)
        .await
        .map_err(|e| PoolError::arm(&group, "listing availability sets in", e))?;
    let pool_text = pool.to_string();
    let mut found: BTreeMap<u32, Json> = BTreeMap::new();
    for set in sets {
        let index = set
            .get("name")
            .and_then(Json::as_str)
            .and_then(|n| set_index(&pool.name, n));
        if let Some(index) = index {
            if owner(&set).is_some_and(|o| o.eq_ignore_ascii_case(&pool_text)) {
                found.insert(index, set);
            }
        }
    }
    let mut discovered = Discovered::default();
    let wanted: Vec<(u32, u32)> = found
        .iter()
        .flat_map(|(index, set)| {
            member_names(set)
                .filter_map(|vm| node_index(&pool.name, *index, &vm).map(|n| (*index, n)))
                .collect::<Vec<_>>()
        })
        .collect();
    for (index, set) in &found {
        discovered.inventory.sets.insert(
            *index,
            SetRecord {
                id: id_of(set, &pool.set_id(*index)),
                nodes: BTreeMap::new(),
            },
        );
    }
    let nics: Vec<((u32, u32), Fetched)> = stream::iter(wanted)
        .map(|(set, number)| async move {
            let nic = pool.nic_id(&node_name(&pool.name, set, number));
            let result = arm
                .get_optional::<Json>(ctx, &nic.to_string(), NETWORK_API_VERSION)
                .await
                .map(|r| r.map(|r| r.body))
                .map_err(|e| PoolError::arm(&nic, "reading", e));
            ((set, number), result)
        })
        .buffer_unordered(NODE_CONCURRENCY)
        .collect()
        .await;
    for ((set, number), nic) in nics {
        let Some(nic) = nic? else { continue };
        let name = node_name(&pool.name, set, number);
        let node = Node {
            vm_id: pool.vm_id(&name).to_string(),
            nic_id: id_of(&nic, &pool.nic_id(&name)),
            private_ip: private_ip(&nic),
            // Filled in from the sample VM by import.
            shape: String::new(),
        };
        if let Some(record) = discovered.inventory.sets.get_mut(&set) {
            record.nodes.insert(number, node);
        }
        if discovered.sample_nic.is_none() {
            discovered.sample_nic = Some(nic);
        }
    }
    if let Some((set, number)) = discovered
        .inventory
        .sets
        .iter()
        .find_map(|(set, r)| r.nodes.keys().next().map(|n| (*set, *n)))
    {
        let vm = pool.vm_id(&node_name(&pool.name, set, number));
        discovered.sample_vm = arm
            .get_optional::<Json>(ctx, &vm.to_string(), COMPUTE_API_VERSION)
            .await
            .map_err(|e| PoolError::arm(&vm, "reading", e))?
            .map(|r| r.body);
    }
    discovered.newest_set = found.into_values().next_back();
    Ok(discovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolId {
        PoolId {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "agents".into(),
        }
    }

    #[test]
    fn a_set_with_foreign_vms_has_room_only_up_to_azures_limit() {
        let set = pool().set_id(1);
        assert!(room_error(&set, 200, &[]).is_none());
        assert!(room_error(&set, 199, &["intruder".into()]).is_none());
        let e = room_error(&set, 200, &["intruder".into()]).expect("no room");
        assert!(
            e.message.contains("intruder") && e.message.contains("201 VMs"),
            "{}",
            e.message
        );
        assert!(e.message.contains("max_nodes_per_set"), "{}", e.message);
    }

    #[test]
    fn an_update_keeps_what_azure_returned_and_detaches_the_nic() {
        let existing = json!({
            "location": "westeurope",
            "tags": {"team": "a"},
            "properties": {
                "vmId": "1234",
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "osProfile": {"computerName": "agents-0-0"},
                "networkProfile": {"networkInterfaces": [{"id": "/nic", "properties": {"deleteOption": "Delete"}}]},
            },
        });
        assert!(!keeps_nic(&existing), "made before rollouts");
        let body = updated_vm_body(&existing, json!({"x": "y"}), "Standard_D4s_v5");
        assert!(keeps_nic(&body));
        assert_eq!(
            body["properties"]["hardwareProfile"]["vmSize"],
            "Standard_D4s_v5"
        );
        assert_eq!(
            body["properties"]["osProfile"],
            existing["properties"]["osProfile"]
        );
        assert_eq!(body["tags"], json!({"x": "y"}));
    }

    #[test]
    fn a_rollout_works_on_the_nodes_of_another_shape_and_the_unsettled_ones_first() {
        let mut inventory = Inventory::default();
        let set = inventory.sets.entry(0).or_default();
        for (number, shape) in [(0, "old"), (1, "new"), (2, "old"), (3, "new")] {
            set.nodes.insert(
                number,
                Node {
                    vm_id: String::new(),
                    nic_id: String::new(),
                    private_ip: String::new(),
                    shape: shape.into(),
                },
            );
        }
        inventory.unsettled.insert((0, 3));
        assert_eq!(rollout_order(&inventory, "new"), [(0, 3), (0, 0), (0, 2)]);
    }

    #[test]
    fn provisioning_tells_usable_running_and_broken_resources_apart() {
        let state = |s: &str| json!({"properties": {"provisioningState": s}});
        assert_eq!(provisioning(&json!({"properties": {}})), Provisioning::Done);
        assert_eq!(provisioning(&state("Succeeded")), Provisioning::Done);
        assert_eq!(provisioning(&state("Creating")), Provisioning::Running);
        assert_eq!(provisioning(&state("Updating")), Provisioning::Running);
        assert_eq!(provisioning(&state("Failed")), Provisioning::Broken);
        assert_eq!(provisioning(&state("Canceled")), Provisioning::Broken);
    }

    #[test]
    fn owners_of_another_shape_or_pool_are_refused() {
        let pool = pool();
        let id = pool.vm_id("agents-0-0");
        let tagged = |owner: &str, shape: Option<&str>| {
            let mut tags = json!({ OWNER_TAG: owner });
            if let Some(shape) = shape {
                tags[SHAPE_TAG] = json!(shape);
            }
            json!({ "tags": tags })
        };
        let ours = pool.to_string();
        let abc = Some("abc");
        assert!(check_owner(&id, &tagged(&ours, Some("abc")), &pool, abc).is_ok());
        assert!(
            check_owner(&id, &tagged(&ours, None), &pool, abc).is_ok(),
            "made before shapes were recorded"
        );
        let e = check_owner(&id, &tagged(&ours, Some("def")), &pool, abc).expect_err("other shape");
        assert!(e.message.contains("another configuration"), "{}", e.message);
        assert!(
            check_owner(
                &pool.nic_id("agents-0-0"),
                &tagged(&ours, Some("def")),
                &pool,
                None
            )
            .is_ok(),
            "a NIC of the pool is kept across rollouts, whatever shape it was made with"
        );
        let e = check_owner(&id, &tagged("/other/pool", Some("abc")), &pool, abc)
            .expect_err("other pool");
        assert!(
            e.message.contains("belongs to pool /other/pool"),
            "{}",
            e.message
        );
        assert!(check_owner(&id, &json!({}), &pool, abc).is_err());
        assert!(check_owner(&id, &json!({}), &pool, None).is_err());
    }
}
