//! Compute: availability sets, virtual machines (with their implicit OS disks) and managed disks.

use super::{cut_before, key, props, str_at, Prepared, PutCtx};
use crate::error::ArmError;
use crate::store::{RefKind, Resource, World};
use serde_json::{json, Value};

/// Most VMs an availability set holds
/// (<https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#virtual-machines-limits---azure-resource-manager>).
pub const MAX_VMS_PER_AVAILABILITY_SET: usize = 200;
/// Most update domains an availability set can have.
pub const MAX_UPDATE_DOMAINS: u64 = 20;

/// Sizes a hardware cluster offers when nothing was set for a set (`POST /_sim/vm-sizes`, or a seed entry
/// `{"id": "<set id>/vmSizes", "body": {"value": [...]}}`): a general-purpose cluster's D-series, with cores and
/// memory as Azure lists them (<https://learn.microsoft.com/azure/virtual-machines/sizes/general-purpose/dsv5-series>).
const DEFAULT_CLUSTER_SIZES: [(&str, u32, u32); 8] = [
    ("Standard_D2s_v5", 2, 8192),
    ("Standard_D4s_v5", 4, 16384),
    ("Standard_D8s_v5", 8, 32768),
    ("Standard_D16s_v5", 16, 65536),
    ("Standard_D2ds_v5", 2, 8192),
    ("Standard_D4ds_v5", 4, 16384),
    ("Standard_D2s_v4", 2, 8192),
    ("Standard_D4s_v4", 4, 16384),
];

/// The VM sizes the hardware cluster hosting availability set `set_key` offers.
pub fn offered_sizes(world: &World, set_key: &str) -> Vec<String> {
    let sizes = &world.persisted.vm_sizes;
    match sizes.get(set_key).or_else(|| sizes.get("*")) {
        Some(list) => list.clone(),
        None => DEFAULT_CLUSTER_SIZES
            .iter()
            .map(|(name, _, _)| (*name).to_string())
            .collect(),
    }
}

/// `AvailabilitySets_ListAvailableSizes` (`GET .../availabilitySets/{name}/vmSizes`): the sizes a VM in the set
/// can be created with or resized to in place.
pub fn list_available_sizes(world: &World, set_key: &str, name: &str) -> Result<Value, ArmError> {
    if world.get(set_key).is_none() {
        return Err(ArmError::not_found(
            "Microsoft.Compute/availabilitySets",
            name,
            None,
        ));
    }
    let value: Vec<Value> = offered_sizes(world, set_key)
        .iter()
        .map(|size| {
            let known = DEFAULT_CLUSTER_SIZES
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(size));
            let mut item = json!({ "name": size });
            if let Some((_, cores, memory)) = known {
                item["numberOfCores"] = json!(cores);
                item["memoryInMB"] = json!(memory);
            }
            item
        })
        .collect();
    Ok(json!({ "value": value }))
}

fn invalid_parameter(target: &str, message: String) -> ArmError {
    ArmError::bad_request("InvalidParameter", message).with_detail(json!({ "target": target }))
}

pub fn put_availability_set(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let max_fd = u64::from(ctx.config.max_fault_domains);
    let p = props(&mut body);
    let fd = p
        .get("platformFaultDomainCount")
        .and_then(Value::as_u64)
        .unwrap_or(2);
    let ud = p
        .get("platformUpdateDomainCount")
        .and_then(Value::as_u64)
        .unwrap_or(5);
    if !(1..=max_fd).contains(&fd) {
        return Err(invalid_parameter(
            "platformFaultDomainCount",
            format!("The specified fault domain count {fd} must fall in the range 1 to {max_fd}."),
        ));
    }
    if !(1..=MAX_UPDATE_DOMAINS).contains(&ud) {
        return Err(invalid_parameter(
            "platformUpdateDomainCount",
            format!("The specified update domain count {ud} must fall in the range 1 to {MAX_UPDATE_DOMAINS}."),
        ));
    }
    if let Some(old) = ctx.old {
        let members = ctx
            .world
            .referrer_count(&key(&old.id), RefKind::AvailabilitySetMember);
        let old_fd = old.body["properties"]["platformFaultDomainCount"]
            .as_u64()
            .unwrap_or(2);
        if members > 0 && old_fd != fd {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                "The fault domain count of an availability set that contains virtual machines cannot be changed.",
            ));
        }
    }
    p.insert("platformFaultDomainCount".into(), json!(fd));
    p.insert("platformUpdateDomainCount".into(), json!(ud));
    // Membership is derived from the VMs; a client cannot write it.
    p.remove("virtualMachines");
    p.remove("provisioningState");
    Ok(Prepared::body(body))
}

pub fn render_availability_set(world: &World, r: &Resource, body: &mut Value) {
    let vms: Vec<Value> = world
        .referrers(&key(&r.id), RefKind::AvailabilitySetMember)
        .map(|id| json!({ "id": id }))
        .collect();
    props(body).insert("virtualMachines".into(), Value::Array(vms));
}

pub fn check_availability_set_delete(world: &World, r: &Resource) -> Result<(), ArmError> {
    match world.referrers(&key(&r.id), RefKind::AvailabilitySetMember).next() {
        Some(vm) => Err(ArmError::conflict(
            "OperationNotAllowed",
            format!("Availability set {} cannot be deleted. Before deleting an availability set please ensure that it does not contain any VM; it contains {vm}.", r.id),
        )),
        None => Ok(()),
    }
}

pub fn check_disk_delete(world: &World, r: &Resource) -> Result<(), ArmError> {
    match world.referrers(&key(&r.id), RefKind::DiskOfVm).next() {
        Some(vm) => Err(ArmError::conflict(
            "OperationNotAllowed",
            format!("Disk {} is attached to VM {vm}.", r.name()),
        )),
        None => Ok(()),
    }
}

trait Named {
    fn name(&self) -> &str;
}

impl Named for Resource {
    fn name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or("")
    }
}

fn avset_of(body: &Value) -> Option<String> {
    str_at(body, "/properties/availabilitySet/id").map(key)
}

fn nic_ids(body: &Value) -> Vec<String> {
    body["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn put_vm(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let world = ctx.world;
    let vm_id = ctx.id.id.as_str();
    if body
        .pointer("/properties/hardwareProfile/vmSize")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(invalid_parameter(
            "hardwareProfile.vmSize",
            "Required parameter 'hardwareProfile.vmSize' is missing (null).".into(),
        ));
    }
    let nics = nic_ids(&body);
    if nics.is_empty() {
        return Err(invalid_parameter(
            "networkProfile",
            "Required parameter 'networkProfile.networkInterfaces' is missing (null).".into(),
        ));
    }
    for nic in &nics {
        if world.get(&key(nic)).is_none() {
            return Err(ArmError::new(
                404,
                "NotFound",
                format!("Resource {nic} not found."),
            ));
        }
        if let Some(other) = world
            .referrers(&key(nic), RefKind::NicOfVm)
            .find(|vm| !vm.eq_ignore_ascii_case(vm_id))
        {
            return Err(ArmError::bad_request(
                "NicInUse",
                format!("Network Interface {nic} is used by existing resource {other}. In order to attach it to {vm_id}, it must be dissociated from the resource."),
            ));
        }
    }
    let avset = avset_of(&body);
    if let Some(old) = ctx.old {
        if avset_of(&old.body) != avset {
            return Err(ArmError::conflict(
                "PropertyChangeNotAllowed",
                "Changing property 'availabilitySet.id' is not allowed.",
            )
            .with_detail(json!({ "target": "availabilitySet.id" })));
        }
    }
    if let (Some(old), Some(set)) = (ctx.old, &avset) {
        let size = |b: &Value| {
            str_at(b, "/properties/hardwareProfile/vmSize")
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        let wanted = size(&body);
        if wanted != size(&old.body) {
            let offered = offered_sizes(world, set);
            if !offered.iter().any(|s| s.eq_ignore_ascii_case(&wanted)) {
                let requested =
                    str_at(&body, "/properties/hardwareProfile/vmSize").unwrap_or_default();
                return Err(ArmError::conflict(
                    "OperationNotAllowed",
                    format!("Unable to resize the VM '{}' because the requested size {requested} is not available in the current hardware cluster. The available sizes in this cluster are: {}. Deallocate every VM in the availability set to resize to another size.", ctx.id.name, offered.join(", ")),
                ));
            }
        }
    }
    if let Some(set) = &avset {
        let set_id = str_at(&body, "/properties/availabilitySet/id").unwrap_or(set);
        if world.get(set).is_none() {
            return Err(ArmError::new(
                404,
                "NotFound",
                format!("Availability set {set_id} was not found."),
            ));
        }
        let members = world.referrers(set, RefKind::AvailabilitySetMember);
        let (count, already) = members.fold((0, false), |(n, a), vm| {
            (n + 1, a || vm.eq_ignore_ascii_case(vm_id))
        });
        if !already && count >= MAX_VMS_PER_AVAILABILITY_SET {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                format!("The availability set {set_id} already contains {count} virtual machines, the most an availability set can hold is {MAX_VMS_PER_AVAILABILITY_SET}."),
            ));
        }
    }
    if ctx.old.is_none() {
        if let Some(limit) = world.persisted.vm_limit {
            let count = world
                .resources
                .values()
                .filter(|r| {
                    r.resource_type
                        .eq_ignore_ascii_case("Microsoft.Compute/virtualMachines")
                })
                .count();
            if count >= limit {
                let location = body["location"].as_str().unwrap_or("");
                return Err(ArmError::conflict(
                    "OperationNotAllowed",
                    format!("Operation could not be completed as it results in exceeding approved Total Regional vCPUs quota. Location: {location}, Current Limit: {limit} virtual machines (simulated quota), Current Usage: {count}, Additional Required: 1, (Minimum) New Limit Required: {}.", count + 1),
                ));
            }
        }
    }
    super::network::check_basic_pools_for_vm(world, vm_id, &nics, avset.as_deref())?;

    // Azure never returns secrets.
    if let Some(os) = body
        .pointer_mut("/properties/osProfile")
        .and_then(Value::as_object_mut)
    {
        os.remove("adminPassword");
        os.remove("customData");
    }
    if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("userData");
    }
    let mut upserts = Vec::new();
    let old_body = ctx.old.map(|o| &o.body);
    let vm_name = ctx.id.name.clone();
    let rg_id = cut_before(vm_id, "providers").to_string();
    let location = body["location"].clone();
    let os_disk = {
        let p = props(&mut body);
        if !p.contains_key("storageProfile") {
            p.insert("storageProfile".into(), json!({}));
        }
        &mut p["storageProfile"]["osDisk"]
    };
    if !os_disk.is_object() {
        *os_disk = json!({});
    }
    let prior_disk = old_body
        .and_then(|b| b.pointer("/properties/storageProfile/osDisk"))
        .cloned();
    let disk_name = match prior_disk.as_ref().and_then(|d| d["name"].as_str()) {
        Some(n) => n.to_string(),
        None => os_disk["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{vm_name}_OsDisk_1_{}",
                    crate::entropy::guid().replace('-', "")
                )
            }),
    };
    let disk_id = format!("{rg_id}/providers/Microsoft.Compute/disks/{disk_name}");
    os_disk["name"] = json!(disk_name);
    if os_disk["createOption"].is_null() {
        os_disk["createOption"] = json!("FromImage");
    }
    if os_disk["deleteOption"].is_null() {
        os_disk["deleteOption"] = json!("Detach");
    }
    if os_disk["diskSizeGB"].is_null() {
        os_disk["diskSizeGB"] = json!(30);
    }
    if !os_disk["managedDisk"].is_object() {
        os_disk["managedDisk"] = json!({});
    }
    if os_disk["managedDisk"]["storageAccountType"].is_null() {
        os_disk["managedDisk"]["storageAccountType"] = json!("Premium_LRS");
    }
    os_disk["managedDisk"]["id"] = json!(disk_id);
    if ctx.old.is_none() && ctx.world.get(&key(&disk_id)).is_none() {
        let sku = os_disk["managedDisk"]["storageAccountType"].clone();
        let size = os_disk["diskSizeGB"].clone();
        upserts.push(Resource {
            id: disk_id.clone(),
            resource_type: "Microsoft.Compute/disks".into(),
            etag: crate::entropy::guid(),
            pending: None,
            body: json!({
                "id": disk_id,
                "name": disk_name,
                "type": "Microsoft.Compute/disks",
                "location": location,
                "managedBy": vm_id,
                "sku": { "name": sku },
                "properties": {
                    "osType": "Linux",
                    "creationData": { "createOption": "FromImage" },
                    "diskSizeGB": size,
                    "diskState": "Attached",
                    "timeCreated": crate::clock::rfc3339(ctx.now),
                    "provisioningState": "Succeeded",
                },
            }),
        });
    }
    let p = props(&mut body);
    let vm_uuid = old_body
        .and_then(|b| b["properties"]["vmId"].as_str())
        .map(str::to_string)
        .unwrap_or_else(crate::entropy::guid);
    p.insert("vmId".into(), json!(vm_uuid));
    let created = old_body
        .and_then(|b| b["properties"]["timeCreated"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| crate::clock::rfc3339(ctx.now));
    p.insert("timeCreated".into(), json!(created));
    Ok(Prepared {
        body,
        upserts,
        removals: Vec::new(),
    })
}

pub fn vm_references(r: &Resource) -> Vec<crate::store::OutRef> {
    let mut out = Vec::new();
    if let Some(set) = str_at(&r.body, "/properties/availabilitySet/id") {
        out.push((RefKind::AvailabilitySetMember, key(set), r.id.clone()));
    }
    for nic in nic_ids(&r.body) {
        out.push((RefKind::NicOfVm, key(&nic), r.id.clone()));
    }
    if let Some(disk) = str_at(&r.body, "/properties/storageProfile/osDisk/managedDisk/id") {
        out.push((RefKind::DiskOfVm, key(disk), r.id.clone()));
    }
    out
}

/// A VM takes its OS disk and NICs with it when their `deleteOption` says `Delete`.
pub fn vm_delete_with(r: &Resource) -> Vec<String> {
    let mut out = Vec::new();
    let os = &r.body["properties"]["storageProfile"]["osDisk"];
    if os["deleteOption"]
        .as_str()
        .is_some_and(|d| d.eq_ignore_ascii_case("Delete"))
    {
        if let Some(id) = os["managedDisk"]["id"].as_str() {
            out.push(key(id));
        }
    }
    for nic in r.body["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if nic["properties"]["deleteOption"]
            .as_str()
            .is_some_and(|d| d.eq_ignore_ascii_case("Delete"))
        {
            if let Some(id) = nic["id"].as_str() {
                out.push(key(id));
            }
        }
    }
    out
}
