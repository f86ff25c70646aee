//! `largek8s_pool`: N nodes (VMs with one NIC each) split over availability sets of at most
//! `max_nodes_per_set` VMs, scaled with the least churn (see `crate::layout`).
//!
//! This file is the resource's life in Terraform's order: schema, validate, plan, apply (create, update,
//! delete), read, import. Beside it, in `pool/`: `spec` (the ID, the configuration and the recorded
//! inventory, typed through [`crate::tf::decode`], and the state encoded back) and `azure` (ARM bodies and
//! the order of calls).
//!
//! # Design
//! - What it owns in Azure: availability sets `<name>-as-<i>` (Aligned, with the configured fault and
//!   update domain counts), and per node `<name>-<i>-<j>` (node `j` of set `i`) a NIC `<name>-<i>-<j>-nic`
//!   in `subnet_id`, a Linux VM in set `i` on that NIC, and the VM's OS disk `<name>-<i>-<j>-osdisk`. All
//!   live in `resource_group_name`; the pool itself is no ARM resource, but has an ARM-shaped ID
//!   `/subscriptions/<s>/resourceGroups/<rg>/providers/largek8s/pools/<name>`. It owns no load balancer:
//!   `largek8s_lb_group` puts the nodes behind one.
//! - Tags: `largek8s-pool = <pool ID>` (owner) on every set, NIC and VM: apply adopts only what carries it,
//!   and delete and import find the pool by it. `largek8s-pool-shape` (a digest of what a VM is made with,
//!   see `Spec::shape`) on sets, NICs and VMs: a set or VM of another shape found outside state is refused,
//!   and a VM of another shape than the configuration's is rolled. On sets also `largek8s-max-nodes-per-set`
//!   (cap) and `largek8s-placement`, which Azure keeps nowhere else, so import restores them. Users' `tags`
//!   sit beside them.
//! - Names are stable: a node keeps its set and index for its life, so scaling never moves a VM (Azure
//!   cannot move one between sets) and a rollout recreates a VM under the same name on the same NIC.
//! - Order of calls on create and scale (`azure::converge`): scale down first, newest nodes first (the
//!   VM, then its NIC and disk if they outlived it), then the sets left empty; then the missing sets; then a
//!   check that each growing set has room beside VMs that are not the pool's; then the missing nodes
//!   concurrently, each its NIC then its VM (created with `If-None-Match: *`, adopted when already ours).
//! - Rollout (`azure::roll`, after any new nodes): nodes whose VM runs another shape, in batches of at most
//!   `upgrade.max_unavailable`, a batch starting when the previous one has provisioned; a VM whose set
//!   offers the new size and differs in nothing else is resized in place, any other is deleted and created
//!   again with the same name on its NIC (keeping its private IP and load balancer membership).
//! - Delete (`azure::delete_all`): each recorded set is read for VMs it still lists, every node is deleted
//!   (newest first), then the sets, then the pool's NICs that no VM took (one list of the group's NICs).
//!   Read: one GET per recorded set (a node its set no longer lists is dropped, so the next plan recreates
//!   it). Import: the group's sets found by name and owner tag, then each node's NIC for its private IP.

mod azure;
mod spec;

use std::time::Duration;

use crate::layout::{self, Layout, MaxNodesPerSet, Placement};
use crate::plugin::logging::warn;
use crate::resources::timeouts::parse_duration;
use crate::tf::decode::{Fields, Maybe};
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

use super::context::Context;
use crate::tf::decode::{known, known_at};
use azure::PoolError;
use spec::{
    node_value, set_value, Inventory, MaxUnavailable, PoolId, Spec, CAP_TAG, DEFAULT_CAP,
    DEFAULT_FAULT_DOMAINS, DEFAULT_IMAGE, DEFAULT_MAX_UNAVAILABLE, DEFAULT_OS_DISK_GB,
    DEFAULT_STORAGE, DEFAULT_UPDATE_DOMAINS, MAX_NAME_LEN, OWNER_TAG, PLACEMENT_TAG, SHAPE_TAG,
};

pub const TYPE_NAME: &str = "largek8s_pool";

/// Attributes whose change needs a new pool: they name the resources, or Azure fixes them on the sets and
/// NICs a rollout keeps. (`custom_data` is only in state for a Terraform without write-only attributes.)
/// The VM shape (`vm_size`, `image`, `os_disk`, `admin_username`, `ssh_public_keys`,
/// `custom_data_version`) changes in place: apply rolls the nodes (see `azure::roll`).
const REPLACE_ON_CHANGE: [&str; 7] = [
    "name",
    "resource_group_name",
    "location",
    "custom_data",
    "subnet_id",
    "fault_domain_count",
    "update_domain_count",
];

/// The schema version: 1 added `custom_data_version`, `upgrade` and each node's `shape`.
const SCHEMA_VERSION: i64 = 1;

/// Defaults sized for 1,000 nodes under public Azure's throttling (about 3 minutes of writes at the
/// floor, plus VM provisioning), with room to spare.
const DEFAULT_TIMEOUTS: [(&str, Duration); 4] = [
    ("create", Duration::from_secs(60 * 60)),
    ("update", Duration::from_secs(60 * 60)),
    ("delete", Duration::from_secs(60 * 60)),
    ("read", Duration::from_secs(10 * 60)),
];

pub struct Pool;

fn node_attributes() -> Vec<Attribute> {
    vec![
        Attribute::computed("name", Type::String).describe("The VM's name, `<name>-<set>-<node>`."),
        Attribute::computed("vm_id", Type::String).describe("The VM's ARM ID."),
        Attribute::computed("nic_id", Type::String)
            .describe("The ARM ID of the VM's network interface, `<node>-nic`."),
        Attribute::computed("private_ip", Type::String)
            .describe("The private IP address of the network interface."),
        Attribute::computed("shape", Type::String).describe(
            "A digest of the VM shape the node runs (`vm_size`, `image`, `os_disk`, `admin_username`, \
             `ssh_public_keys`, `custom_data_version`). A node whose shape differs from the configuration's \
             is rolled by the next apply.",
        ),
    ]
}

fn set_attributes() -> Vec<Attribute> {
    vec![
        Attribute::computed("index", Type::Number)
            .describe("The set's index; sets keep their index for life."),
        Attribute::computed("name", Type::String)
            .describe("The availability set's name, `<name>-as-<index>`."),
        Attribute::computed("id", Type::String).describe("The availability set's ARM ID."),
        Attribute::computed("node_count", Type::Number).describe("How many nodes the set holds."),
        Attribute::nested("nodes", Nesting::List, node_attributes())
            .set_computed()
            .describe("The set's nodes, in node index order."),
    ]
}

fn schema() -> Schema {
    let timeouts = DEFAULT_TIMEOUTS.iter().fold(
        Block::new(
            "How long each operation may take, as Go durations such as `\"60m\"` or `\"1h30m\"`.",
        ),
        |block, (name, default)| {
            block.attribute(Attribute::optional(name, Type::String).describe(format!(
                "Time limit for {name} (default `\"{}m\"`).",
                default.as_secs() / 60
            )))
        },
    );
    let block = Block::new(
        "A pool of VMs split over availability sets of at most `max_nodes_per_set` VMs, for agent pools \
         larger than one availability set (200 VMs) or one Basic load balancer (100 nodes) can hold. Scaling \
         never moves a VM between sets: it fills open sets, adds sets, or removes the newest nodes.",
    )
    .attribute(Attribute::computed("id", Type::String).describe(
        "The pool ID, `/subscriptions/<subscription>/resourceGroups/<group>/providers/largek8s/pools/<name>`, \
         which `terraform import` takes.",
    ))
    .attribute(Attribute::required("name", Type::String).describe(format!(
        "Prefix of every resource's name: lowercase letters, digits and hyphens, starting with a letter, not \
         ending with a hyphen, at most {MAX_NAME_LEN} characters. Changing it replaces the pool."
    )))
    .attribute(Attribute::required("resource_group_name", Type::String).describe(
        "The resource group that holds the sets, VMs, NICs and disks. Changing it replaces the pool.",
    ))
    .attribute(Attribute::required("location", Type::String).describe("The Azure region. Changing it replaces the pool."))
    .attribute(Attribute::required("node_count", Type::Number).describe("How many nodes (VMs) the pool has; 0 or more."))
    .attribute(Attribute::optional_computed("max_nodes_per_set", Type::Number).describe(format!(
        "The most nodes one availability set holds, 1 to 200 (Azure's limit); default {DEFAULT_CAP}, what one \
         Basic load balancer can front. A change applies to new placement only: existing VMs stay in their sets."
    )))
    .attribute(Attribute::optional_computed("placement", Type::String).describe(
        "`\"fill\"` (default) fills each set to the cap before opening the next; `\"balance\"` uses as many \
         sets as fill but keeps their sizes even. A change applies to new placement only.",
    ))
    .attribute(Attribute::required("vm_size", Type::String).describe("The VM size, e.g. `Standard_D2s_v5`. Changing it rolls the nodes (see `upgrade`): a node whose availability set's hardware cluster offers the new size is resized in place, any other is replaced."))
    .attribute(Attribute::required("subnet_id", Type::String).describe("The ARM ID of the subnet the NICs join. Changing it replaces the pool."))
    .attribute(Attribute::required("admin_username", Type::String).describe("The VMs' administrator: 1 to 64 letters, digits, `_ - .`, a letter or underscore first, not a name Azure reserves such as `root` or `admin`. Changing it replaces the nodes in a rollout (see `upgrade`)."))
    .attribute(Attribute::required("ssh_public_keys", Type::list(Type::String)).describe(
        "OpenSSH public keys (`ssh-rsa` or `ssh-ed25519`) authorised for `admin_username` (password login is disabled). Changing them replaces the nodes in a rollout (see `upgrade`).",
    ))
    .attribute(
        Attribute::nested(
            "image",
            Nesting::Single,
            vec![
                Attribute::optional_computed("publisher", Type::String).describe("Marketplace publisher."),
                Attribute::optional_computed("offer", Type::String).describe("Marketplace offer."),
                Attribute::optional_computed("sku", Type::String).describe("Marketplace SKU."),
                Attribute::optional_computed("version", Type::String).describe("Marketplace version, e.g. `latest`."),
                Attribute::optional("id", Type::String)
                    .describe("The ARM ID of an image or gallery image version, instead of a marketplace reference."),
            ],
        )
        .set_optional()
        .set_computed()
        .describe(
            "The OS image: a marketplace reference (default Canonical `ubuntu-24_04-lts` `server` `latest`) or \
             `id`. Changing it replaces the nodes in a rollout (see `upgrade`).",
        ),
    )
    .attribute(
        Attribute::nested(
            "os_disk",
            Nesting::Single,
            vec![
                Attribute::optional_computed("size_gb", Type::Number)
                    .describe(format!("OS disk size in GiB, {MIN_OS_DISK_GB} to {MAX_OS_DISK_GB} (default {DEFAULT_OS_DISK_GB}).")),
                Attribute::optional_computed("storage_account_type", Type::String)
                    .describe(format!("Managed disk type: `Standard_LRS`, `StandardSSD_LRS`, `Premium_LRS`, `StandardSSD_ZRS` or `Premium_ZRS` (default `{DEFAULT_STORAGE}`).")),
            ],
        )
        .set_optional()
        .set_computed()
        .describe("The managed OS disk of each VM, `<node>-osdisk`. Changing it replaces the nodes in a rollout (see `upgrade`)."),
    )
    .attribute(
        Attribute::optional("custom_data", Type::String)
            .sensitive()
            .write_only()
            .describe(
                "cloud-init data given to each VM at creation. Sensitive and write-only: Terraform never stores \
                 it, so a change is not detected; change `custom_data_version` to roll it out.",
            ),
    )
    .attribute(Attribute::optional("custom_data_version", Type::Number).describe(
        "Any number that names the `custom_data` in use, as Terraform's `*_wo_version` attributes do for \
         write-only values: changing it replaces the nodes in a rollout (see `upgrade`) so that every VM \
         boots with the current `custom_data`.",
    ))
    .attribute(
        Attribute::nested(
            "upgrade",
            Nesting::Single,
            vec![Attribute::optional("max_unavailable", Type::String).describe(format!(
                "How many nodes a rollout takes away at once: a count (`\"20\"`) or a percentage of \
                 `node_count`, rounded down (`\"10%\"`); at least one node. Default `\"{DEFAULT_MAX_UNAVAILABLE}\"`."
            ))],
        )
        .set_optional()
        .describe(
            "How a change of the VM shape rolls out: the nodes are resized or replaced in batches of at most \
             `max_unavailable`, each batch once the previous one's VMs have provisioned.",
        ),
    )
    .attribute(Attribute::optional_computed("fault_domain_count", Type::Number).describe(format!(
        "Fault domains per availability set, 1 to 3 (the region's maximum); default {DEFAULT_FAULT_DOMAINS}. \
         Changing it replaces the pool."
    )))
    .attribute(Attribute::optional_computed("update_domain_count", Type::Number).describe(format!(
        "Update domains per availability set, 1 to 20; default {DEFAULT_UPDATE_DOMAINS}. Changing it replaces the pool."
    )))
    .attribute(Attribute::optional("tags", Type::map(Type::String)).describe(format!(
        "Tags for the sets, VMs and NICs, besides the `{OWNER_TAG}` ownership tag the provider adds."
    )))
    .attribute(
        Attribute::nested("availability_sets", Nesting::List, set_attributes())
            .set_computed()
            .describe(
                "The pool's availability sets in index order, each with its nodes. Known at plan time whenever \
                 `node_count` is; IDs and IPs of nodes still to be created are known after apply. A \
                 `largek8s_lb_group` takes this list as its backend.",
            ),
    )
    .block(NestedBlock::new("timeouts", Nesting::Single, timeouts));
    Schema::new(SCHEMA_VERSION, block)
}

/// Key types Azure accepts in a Linux VM's `ssh.publicKeys`
/// (https://learn.microsoft.com/azure/virtual-machines/linux/mac-create-ssh-keys#supported-ssh-key-formats).
const SSH_KEY_TYPES: [&str; 2] = ["ssh-rsa", "ssh-ed25519"];

/// Resource types `image.id` may name: a managed image or a gallery image (version).
const IMAGE_TYPES: [&str; 3] = [
    "Microsoft.Compute/images",
    "Microsoft.Compute/galleries/images",
    "Microsoft.Compute/galleries/images/versions",
];

/// OS disk sizes Azure accepts; marketplace Linux images need at least 30 GiB
/// (https://learn.microsoft.com/azure/virtual-machines/managed-disks-overview#os-disk).
const MIN_OS_DISK_GB: u64 = 30;
const MAX_OS_DISK_GB: u64 = 4095;

/// Managed disk types that can hold an OS disk (Ultra and Premium SSD v2 cannot)
/// (https://learn.microsoft.com/azure/virtual-machines/disks-types).
const OS_DISK_TYPES: [&str; 5] = [
    "Standard_LRS",
    "StandardSSD_LRS",
    "Premium_LRS",
    "StandardSSD_ZRS",
    "Premium_ZRS",
];

/// Tags the provider puts on every resource of a pool, which count against Azure's limit.
const RESERVED_TAGS: [&str; 3] = [OWNER_TAG, CAP_TAG, PLACEMENT_TAG];

/// Names Azure refuses as a Linux VM's administrator
/// (https://learn.microsoft.com/azure/virtual-machines/linux/faq#what-are-the-username-requirements-when-creating-a-vm-).
const RESERVED_USERNAMES: [&str; 32] = [
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin",
    "admin1",
    "admin2",
    "administrator",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test",
    "test1",
    "test2",
    "test3",
    "user",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
];

/// Azure's rules for a Linux administrator name: 1 to 64 characters, a letter or underscore first, then
/// letters, digits, `_`, `-` and `.`, not reserved.
fn check_admin_username(user: &str) -> Result<(), String> {
    let shape = !user.is_empty()
        && user.len() <= 64
        && user.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !user.ends_with('.');
    if !shape {
        return Err(format!(
            "admin_username {user:?} is not a Linux user name Azure accepts: use 1 to 64 letters, digits, _ - . \
             starting with a letter or underscore, e.g. \"azureuser\"."
        ));
    }
    if RESERVED_USERNAMES.contains(&user.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "admin_username {user:?} is reserved by Azure; choose another name, e.g. \"azureuser\"."
        ));
    }
    Ok(())
}

/// Validation: each known value checked where it is, with what to do about it.
fn validate(config: &Value, client: ClientCapabilities) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let mut error = |name: AttributePath, summary: &str, detail: String| {
        diags.push(Diagnostic::error(summary, detail).at(name));
    };
    let Ok(f) = Fields::root(config) else {
        return diags;
    };
    if let Some(name) = known::<String>(&f, "name") {
        let ok = name.len() <= MAX_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            error(
                AttributePath::of("name"),
                "Invalid pool name",
                format!(
                    "name {name:?} must start with a lowercase letter, hold only lowercase letters, digits and \
                     hyphens, not end with a hyphen, and have at most {MAX_NAME_LEN} characters (VM and disk \
                     names are built from it)."
                ),
            );
        }
    }
    let number = |name: &str| known::<Number>(&f, name);
    if let Some(n) = number("node_count") {
        if n.is_negative()
            || !n.is_integer()
            || n.to_u64().is_none_or(|n| n > layout::MAX_NODE_COUNT)
        {
            error(
                AttributePath::of("node_count"),
                "Invalid node_count",
                format!("node_count must be a whole number from 0 to {}; set node_count = 0 to empty the pool.", layout::MAX_NODE_COUNT),
            );
        }
    }
    if let Some(n) = number("max_nodes_per_set") {
        if n.to_u64()
            .and_then(|n| MaxNodesPerSet::new(n).ok())
            .is_none()
            || !n.is_integer()
        {
            error(
                AttributePath::of("max_nodes_per_set"),
                "Invalid max_nodes_per_set",
                format!(
                    "max_nodes_per_set must be a whole number from 1 to {} (Azure holds at most {} VMs in one \
                     availability set); use 100 to let one Basic load balancer front each set.",
                    layout::AZURE_MAX_VMS_PER_SET,
                    layout::AZURE_MAX_VMS_PER_SET
                ),
            );
        }
    }
    if let Some(text) = known::<String>(&f, "placement") {
        if let Err(e) = text.parse::<Placement>() {
            error(
                AttributePath::of("placement"),
                "Invalid placement",
                e.to_string(),
            );
        }
    }
    for (name, max) in [("fault_domain_count", 3), ("update_domain_count", 20)] {
        if let Some(n) = number(name) {
            if n.to_u64().is_none_or(|n| !(1..=max).contains(&n)) || !n.is_integer() {
                error(
                    AttributePath::of(name),
                    &format!("Invalid {name}"),
                    format!("{name} must be a whole number from 1 to {max} (Azure's limit for availability sets)."),
                );
            }
        }
    }
    if let Some(subnet) = known::<String>(&f, "subnet_id") {
        if let Err(e) =
            crate::arm::ids::ResourceId::parse_as(&subnet, crate::arm::ids::ResourceKind::Subnet)
        {
            error(
                AttributePath::of("subnet_id"),
                "Invalid subnet_id",
                format!(
                    "{e}. Use a subnet ID like /subscriptions/<subscription>/resourceGroups/<group>/providers/\
                     Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>, e.g. a subnet resource's `id`."
                ),
            );
        }
    }
    // An unknown key is checked once known, at plan or apply.
    let keys = known::<Vec<Maybe<Option<String>>>>(&f, "ssh_public_keys");
    if let Some(keys) = &keys {
        if keys.is_empty() {
            error(
                AttributePath::of("ssh_public_keys"),
                "No SSH public key",
                "Password login is disabled on the nodes: give at least one OpenSSH public key."
                    .into(),
            );
        }
    }
    if let Some(user) = known::<String>(&f, "admin_username") {
        if let Err(problem) = check_admin_username(&user) {
            error(
                AttributePath::of("admin_username"),
                "Invalid admin_username",
                problem,
            );
        }
    }
    for (i, key) in keys.iter().flatten().enumerate() {
        let Some(key) = key.present() else { continue };
        if !SSH_KEY_TYPES.iter().any(|t| {
            key.trim_start()
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with(' '))
        }) {
            error(
                AttributePath::of("ssh_public_keys").index(i as i64),
                "Invalid SSH public key",
                format!(
                    "ssh_public_keys[{i}] is not an OpenSSH public key line: Azure accepts {} keys; give the \
                     contents of a .pub file, e.g. file(\"~/.ssh/id_ed25519.pub\").",
                    SSH_KEY_TYPES.join(" or ")
                ),
            );
        }
    }
    let image = known::<Value>(&f, "image");
    let image = image
        .as_ref()
        .and_then(|image| Fields::of(image, &f.path("image")).ok());
    if let Some(id) = image.as_ref().and_then(|i| known::<String>(i, "id")) {
        let is_image = crate::arm::ids::ResourceId::parse(&id).is_ok_and(|id| {
            id.type_name().is_some_and(|t| {
                IMAGE_TYPES
                    .iter()
                    .any(|image| t.eq_ignore_ascii_case(image))
            })
        });
        if !is_image {
            error(
                AttributePath::of("image").attr("id"),
                "Invalid image.id",
                format!(
                    "{id:?} is not the ID of an image: use a {} ID, or leave image.id out and set publisher, \
                     offer, sku and version.",
                    IMAGE_TYPES.join(" or ")
                ),
            );
        }
    }
    let disk = known::<Value>(&f, "os_disk");
    if let Some(disk) = disk
        .as_ref()
        .and_then(|disk| Fields::of(disk, &f.path("os_disk")).ok())
    {
        if let Some(size) = known::<Number>(&disk, "size_gb") {
            if !size.is_integer()
                || size
                    .to_u64()
                    .is_none_or(|s| !(MIN_OS_DISK_GB..=MAX_OS_DISK_GB).contains(&s))
            {
                error(
                    AttributePath::of("os_disk").attr("size_gb"),
                    "Invalid os_disk.size_gb",
                    format!(
                        "size_gb is {size}; an OS disk holds {MIN_OS_DISK_GB} to {MAX_OS_DISK_GB} GiB (and at \
                         least the image's size): set a whole number in that range or leave it out."
                    ),
                );
            }
        }
        if let Some(kind) = known::<String>(&disk, "storage_account_type") {
            if !OS_DISK_TYPES.contains(&kind.as_str()) {
                error(
                    AttributePath::of("os_disk").attr("storage_account_type"),
                    "Invalid os_disk.storage_account_type",
                    format!(
                        "{kind:?} cannot back an OS disk: use one of {}.",
                        OS_DISK_TYPES.join(", ")
                    ),
                );
            }
        }
    }
    if let Some(image) = &image {
        // An unknown member counts as set.
        let has_id = !image.raw("id").is_null();
        let has_reference = ["publisher", "offer", "sku", "version"]
            .iter()
            .any(|k| !image.raw(k).is_null());
        if has_id && has_reference {
            error(
                AttributePath::of("image"),
                "Ambiguous image",
                "Set either image.id or the marketplace reference (publisher, offer, sku, version), not both.".into(),
            );
        }
    }
    let timeouts = known::<Value>(&f, "timeouts");
    if let Some(timeouts) = timeouts
        .as_ref()
        .and_then(|t| Fields::of(t, &f.path("timeouts")).ok())
    {
        for (name, _) in DEFAULT_TIMEOUTS {
            if let Some(text) = known::<String>(&timeouts, name) {
                if let Err(e) = parse_duration(&text) {
                    error(
                        AttributePath::of("timeouts").attr(name),
                        "Invalid timeout",
                        e,
                    );
                }
            }
        }
    }
    let upgrade = known::<Value>(&f, "upgrade");
    if let Some(text) = upgrade
        .as_ref()
        .and_then(|u| Fields::of(u, &f.path("upgrade")).ok())
        .and_then(|u| known::<String>(&u, "max_unavailable"))
    {
        if let Err(e) = MaxUnavailable::parse(&text) {
            diags.push(
                Diagnostic::error("Invalid upgrade.max_unavailable", e)
                    .at(AttributePath::of("upgrade").attr("max_unavailable")),
            );
        }
    }
    crate::resources::naming::check_resource_group_name(config, &mut diags);
    crate::resources::naming::check_tags(config, RESERVED_TAGS.len(), &mut diags);
    if !f.raw("custom_data").is_null() && !client.write_only_attributes_allowed {
        diags.push(
            Diagnostic::warning(
                "custom_data is stored in state",
                "This Terraform does not support write-only attributes (Terraform >= 1.11 does), so custom_data \
                 is kept in state, marked sensitive.",
            )
            .at(AttributePath::of("custom_data")),
        );
    }
    diags
}

fn timeout(state: &Value, name: &str) -> Duration {
    let default = DEFAULT_TIMEOUTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Duration::from_secs(3600), |(_, d)| *d);
    known_at::<String>(state, &["timeouts", name])
        .and_then(|text| parse_duration(&text).ok())
        .unwrap_or(default)
}

/// A value from `proposed` (the config merged with prior computed values), or `default` when null.
fn or_default(proposed: &Value, name: &str, default: Value) -> Value {
    match raw(proposed, name) {
        v if !v.is_null() => v.clone(),
        _ => default,
    }
}

/// Attribute `name` of an object value as it is (null when absent, or when `value` is no object), for
/// plan values copied or compared whole rather than read.
fn raw<'a>(value: &'a Value, name: &str) -> &'a Value {
    Fields::root(value).map_or(&Value::Null, |f| f.raw(name))
}

/// Fills the unset members of a nested object attribute with their defaults (unknown stays unknown).
/// A null value has no members, so every one takes its default.
fn nested_default(value: &Value, defaults: &[(&str, Value)], extra_null: &[&str]) -> Value {
    if !value.is_known() {
        return value.clone();
    }
    let keep_reference_null = !raw(value, "id").is_null();
    let mut members: Vec<(String, Value)> = defaults
        .iter()
        .map(|(k, d)| {
            let given = Some(raw(value, k)).filter(|g| !g.is_null()).cloned();
            let fallback = if keep_reference_null {
                Value::Null
            } else {
                d.clone()
            };
            (k.to_string(), given.unwrap_or(fallback))
        })
        .collect();
    for k in extra_null {
        members.push((k.to_string(), raw(value, k).clone()));
    }
    Value::object(members)
}

fn image_defaults() -> Vec<(&'static str, Value)> {
    DEFAULT_IMAGE
        .iter()
        .map(|(k, v)| (*k, Value::string(*v)))
        .collect()
}

fn os_disk_defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("size_gb", Value::number(DEFAULT_OS_DISK_GB)),
        ("storage_account_type", Value::string(DEFAULT_STORAGE)),
    ]
}

/// The VM shape (see [`Spec::shape`]) of a planned state, when every input of it is known.
fn planned_shape(planned: &Value, config: &Value) -> Option<String> {
    const INPUTS: [&str; 10] = [
        "location",
        "vm_size",
        "subnet_id",
        "admin_username",
        "ssh_public_keys",
        "image",
        "os_disk",
        "custom_data_version",
        "fault_domain_count",
        "update_domain_count",
    ];
    let known =
        Fields::root(planned).is_ok_and(|f| INPUTS.iter().all(|name| f.raw(name).is_fully_known()));
    known
        .then(|| Spec::from_values(planned, config).ok())
        .flatten()
        .map(|spec| spec.shape())
}

/// The planned `availability_sets`: the layout `rescale` gives from the prior state's layout, with prior
/// values kept for every existing set and node and unknowns only for what apply creates; every node's
/// `shape` is the configuration's (`shape`, unknown while an input is). Also returns how many existing
/// nodes run another shape, which apply rolls.
fn planned_sets(
    prior: &Value,
    planned: &Value,
    shape: Option<&str>,
    diags: &mut Diagnostics,
) -> (Value, usize) {
    let (Some(count), Some(cap), Some(placement)) = (
        known_at::<u64>(planned, &["node_count"]),
        known_at::<u64>(planned, &["max_nodes_per_set"]),
        known_at::<String>(planned, &["placement"]),
    ) else {
        return (Value::unknown(), 0);
    };
    let name = known_at::<String>(planned, &["name"]);
    let prior_name = known_at::<String>(prior, &["name"]);
    let name = name.as_deref();
    let prior_inventory = match prior_name.as_deref() {
        Some(p) if Some(p) == name => Inventory::from_state(prior, p),
        _ => Inventory::default(),
    };
    let (Ok(cap), Ok(placement)) = (MaxNodesPerSet::new(cap), placement.parse::<Placement>())
    else {
        return (Value::unknown(), 0);
    };
    let target = match layout::rescale(&prior_inventory.layout(), count, cap, placement) {
        Ok(target) => target,
        Err(e) => {
            diags.push(
                Diagnostic::error("Cannot plan the pool's layout", e.to_string())
                    .at(AttributePath::of("node_count")),
            );
            return (Value::unknown(), 0);
        }
    };
    let stale = target
        .nodes()
        .filter_map(|(set, number)| prior_inventory.sets.get(&set)?.nodes.get(&number))
        .filter(|node| shape.is_none_or(|shape| node.shape != shape))
        .count();
    (layout_value(&target, &prior_inventory, name, shape), stale)
}

fn layout_value(
    target: &Layout,
    prior: &Inventory,
    name: Option<&str>,
    shape: Option<&str>,
) -> Value {
    let text =
        |f: &dyn Fn(&str) -> String| name.map_or_else(Value::unknown, |n| Value::string(f(n)));
    let shape = shape.map_or_else(Value::unknown, Value::string);
    Value::list(target.sets().map(|set| {
        let prior_set = prior.sets.get(&set.index);
        let nodes = set.nodes.iter().map(|number| {
            let node_name = text(&|n| layout::node_name(n, set.index, *number));
            match prior_set.and_then(|s| s.nodes.get(number)) {
                Some(node) => node_value(
                    node_name,
                    Value::string(&node.vm_id),
                    Value::string(&node.nic_id),
                    Value::string(&node.private_ip),
                    shape.clone(),
                ),
                None => node_value(
                    node_name,
                    Value::unknown(),
                    Value::unknown(),
                    Value::unknown(),
                    shape.clone(),
                ),
            }
        });
        set_value(
            set.index,
            text(&|n| layout::set_name(n, set.index)),
            prior_set.map_or_else(Value::unknown, |s| Value::string(&s.id)),
            Value::list(nodes),
        )
    }))
}

fn plan(ctx: &Context, request: PlanRequest) -> PlanResponse {
    let mut diags = Diagnostics::new();
    let proposed = &request.proposed_new_state;
    let prior = &request.prior_state;
    if proposed.is_null() {
        return PlanResponse {
            planned_state: Value::Null,
            requires_replace: Vec::new(),
            planned_private: Vec::new(),
            diagnostics: diags,
        };
    }
    let Value::Object(mut planned) = proposed.clone() else {
        return PlanResponse {
            planned_state: proposed.clone(),
            requires_replace: Vec::new(),
            planned_private: Vec::new(),
            diagnostics: Diagnostic::error(
                "Unexpected plan",
                "The proposed state is not an object.",
            )
            .into(),
        };
    };
    planned.insert(
        "max_nodes_per_set".into(),
        or_default(proposed, "max_nodes_per_set", Value::number(DEFAULT_CAP)),
    );
    planned.insert(
        "placement".into(),
        or_default(proposed, "placement", Value::string("fill")),
    );
    planned.insert(
        "fault_domain_count".into(),
        or_default(
            proposed,
            "fault_domain_count",
            Value::number(DEFAULT_FAULT_DOMAINS),
        ),
    );
    planned.insert(
        "update_domain_count".into(),
        or_default(
            proposed,
            "update_domain_count",
            Value::number(DEFAULT_UPDATE_DOMAINS),
        ),
    );
    planned.insert(
        "image".into(),
        nested_default(raw(&request.config, "image"), &image_defaults(), &["id"]),
    );
    planned.insert(
        "os_disk".into(),
        nested_default(raw(&request.config, "os_disk"), &os_disk_defaults(), &[]),
    );
    if request.client.write_only_attributes_allowed {
        planned.insert("custom_data".into(), Value::Null);
    }
    let id = match (
        ctx.arm().ok(),
        known_at::<String>(proposed, &["resource_group_name"]),
        known_at::<String>(proposed, &["name"]),
    ) {
        (Some(arm), Some(resource_group), Some(name)) => Value::string(
            PoolId {
                subscription: arm.subscription_id().to_string(),
                resource_group,
                name,
            }
            .to_string(),
        ),
        _ => Fields::root(prior)
            .ok()
            .filter(|f| !prior.is_null() && f.has("id"))
            .map_or_else(Value::unknown, |f| f.raw("id").clone()),
    };
    planned.insert("id".into(), id);
    let mut planned = Value::Object(planned);

    let mut requires_replace = Vec::new();
    if !prior.is_null() {
        for name in REPLACE_ON_CHANGE {
            let (before, after) = (raw(prior, name), raw(&planned, name));
            if before != after {
                requires_replace.push(AttributePath::of(name));
            }
        }
        for name in ["max_nodes_per_set", "placement"] {
            let (before, after) = (raw(prior, name), raw(&planned, name));
            if before != after && after.is_known() {
                diags.push(
                    Diagnostic::warning(
                        format!("{name} applies to new placement only"),
                        format!(
                            "Azure cannot move a VM to another availability set, so the pool's existing nodes stay \
                             where they are; {name} decides only where new nodes go. To re-lay out every node, \
                             replace the pool (terraform apply -replace)."
                        ),
                    )
                    .at(AttributePath::of(name)),
                );
            }
        }
    }
    // A replaced pool starts from nothing; otherwise rescale from what exists.
    let base = if requires_replace.is_empty() {
        prior.clone()
    } else {
        Value::Null
    };
    let shape = planned_shape(&planned, &request.config);
    let (sets, stale) = planned_sets(&base, &planned, shape.as_deref(), &mut diags);
    if let Value::Object(members) = &mut planned {
        members.insert("availability_sets".into(), sets);
    }
    if stale > 0 {
        let batch = Spec::from_values(&planned, &request.config)
            .map_or(DEFAULT_MAX_UNAVAILABLE, |s| s.max_unavailable);
        let count = known_at::<u64>(&planned, &["node_count"]).unwrap_or_default();
        diags.push(Diagnostic::warning(
            format!("{stale} nodes will be rolled to the new VM shape"),
            format!(
                "The VM shape (vm_size, image, os_disk, admin_username, ssh_public_keys or custom_data_version) \
                 differs from what {stale} existing nodes run. Apply resizes in place the VMs whose availability \
                 set offers the new size and differs in nothing else, and deletes and recreates the others with \
                 the same name, NIC, private IP and load balancer membership, {} at a time \
                 (upgrade.max_unavailable = \"{batch}\"). Drain those nodes in Kubernetes as they go.",
                batch.nodes(count)
            ),
        ));
    }
    // The unsettled nodes a refresh left in private state go on to apply (nothing when replacing).
    let planned_private = if requires_replace.is_empty() {
        request.prior_private.clone()
    } else {
        Vec::new()
    };
    PlanResponse {
        planned_state: planned,
        requires_replace,
        planned_private,
        diagnostics: diags,
    }
}

fn errors_to_diagnostics(errors: Vec<PoolError>, what: &str) -> Diagnostics {
    let total = errors.len();
    let timed_out = errors.iter().filter(|e| e.timed_out).count();
    let mut diags = Diagnostics::new();
    if timed_out > 0 {
        diags.push(Diagnostic::error(
            format!("Pool {what} ran out of time"),
            format!(
                "The {what} timeout passed while {timed_out} operation(s) were still running (set it in the pool's \
                 timeouts block, e.g. timeouts {{ {what} = \"90m\" }}). The state keeps every node that exists; \
                 nodes still provisioning are checked on the next refresh. Run apply again to converge, with a \
                 longer timeout if Azure is slow."
            ),
        ));
    }
    let listed: Diagnostics = errors
        .into_iter()
        .take(5)
        .map(|e| {
            Diagnostic::error(
                format!("Pool {what} failed for {}", e.resource),
                format!(
                    "{}\n\nThe state records every node that exists; run apply again to converge.",
                    e.message
                ),
            )
        })
        .collect();
    diags.extend(listed);
    if total > 5 {
        diags.push(Diagnostic::error(
            format!("{} more failures", total - 5),
            "Only the first 5 failures are shown; run with TF_LOG=debug for the rest.",
        ));
    }
    diags
}

/// The state after apply: the planned inputs with the inventory of what exists.
fn state_of(planned: &Value, pool: &PoolId, inventory: &Inventory, write_only: bool) -> Value {
    let Value::Object(mut members) = planned.clone() else {
        return Value::Null;
    };
    members.insert("id".into(), Value::string(pool.to_string()));
    members.insert("availability_sets".into(), inventory.to_value(&pool.name));
    if write_only {
        members.insert("custom_data".into(), Value::Null);
    }
    Value::Object(members)
}

/// Whether a state or plan holds `custom_data` as null: Terraform supports write-only attributes, and
/// state keeps the attribute without its value.
fn custom_data_withheld(value: &Value) -> bool {
    Fields::root(value).is_ok_and(|f| f.has("custom_data") && f.raw("custom_data").is_null())
}

fn pool_id_of(ctx: &Context, state: &Value) -> Result<PoolId, Diagnostic> {
    let arm = ctx.arm()?;
    let text = |name: &str| {
        known_at::<String>(state, &[name]).ok_or_else(|| {
            Diagnostic::error(
                format!("{name} is not known"),
                format!("{name} must be known to manage the pool."),
            )
            .at(AttributePath::of(name))
        })
    };
    Ok(PoolId {
        subscription: arm.subscription_id().to_string(),
        resource_group: text("resource_group_name")?,
        name: text("name")?,
    })
}

async fn apply(ctx: &Context, request: ApplyRequest) -> ApplyResponse {
    let prior = &request.prior_state;
    let respond = |state: Value, diags: Diagnostics| ApplyResponse {
        new_state: state,
        private: Vec::new(),
        diagnostics: diags,
    };
    let arm = match ctx.arm() {
        Ok(arm) => arm,
        Err(d) => return respond(prior.clone(), d.into()),
    };

    if request.planned_state.is_null() {
        let pool = match pool_id_of(ctx, prior) {
            Ok(pool) => pool,
            Err(d) => return respond(prior.clone(), d.into()),
        };
        let op = ctx.operation(timeout(prior, "delete"));
        let mut inventory = Inventory::from_state(prior, &pool.name);
        let errors = azure::delete_all(arm, &op, &pool, &mut inventory).await;
        if errors.is_empty() {
            return respond(Value::Null, Diagnostics::new());
        }
        let write_only = custom_data_withheld(prior);
        return respond(
            state_of(prior, &pool, &inventory, write_only),
            errors_to_diagnostics(errors, "delete"),
        );
    }

    let planned = &request.planned_state;
    let spec = match Spec::from_values(planned, &request.config) {
        Ok(spec) => spec,
        Err(e) => {
            return respond(
                prior.clone(),
                Diagnostic::error("Invalid pool configuration", e.message)
                    .at(e.path)
                    .into(),
            )
        }
    };
    let pool = PoolId {
        subscription: arm.subscription_id().to_string(),
        resource_group: spec.resource_group.clone(),
        name: spec.name.clone(),
    };
    let creating = prior.is_null();
    let op = ctx.operation(timeout(planned, if creating { "create" } else { "update" }));
    let mut inventory =
        Inventory::from_state(prior, &pool.name).with_private(&request.planned_private);
    let target = match layout::rescale(
        &inventory.layout(),
        spec.node_count,
        spec.cap,
        spec.placement,
    ) {
        Ok(target) => target,
        Err(e) => {
            return respond(
                prior.clone(),
                Diagnostic::error("Cannot lay out the pool", e.to_string())
                    .at(AttributePath::of("node_count"))
                    .into(),
            )
        }
    };
    let errors = azure::converge(arm, &op, &spec, &pool, &mut inventory, &target).await;
    let write_only = custom_data_withheld(planned);
    let state = if creating && inventory.sets.is_empty() && !errors.is_empty() {
        Value::Null
    } else {
        state_of(planned, &pool, &inventory, write_only)
    };
    if !errors.is_empty() {
        warn(
            "pool apply stopped with errors",
            &[
                ("pool", &pool.name),
                ("nodes", &inventory.node_count().to_string()),
                ("unsettled", &inventory.unsettled.len().to_string()),
            ],
        );
    }
    ApplyResponse {
        new_state: state,
        private: inventory.private(),
        diagnostics: errors_to_diagnostics(errors, if creating { "create" } else { "update" }),
    }
}

async fn read(ctx: &Context, request: ReadRequest) -> ReadResponse {
    let state = request.current_state;
    let respond = |new_state: Value, diagnostics: Diagnostics| ReadResponse {
        new_state,
        private: request.private.clone(),
        diagnostics,
    };
    let arm = match ctx.arm() {
        Ok(arm) => arm,
        Err(d) => return respond(state, d.into()),
    };
    let pool = match pool_id_of(ctx, &state) {
        Ok(pool) => pool,
        Err(d) => return respond(state, d.into()),
    };
    let op = ctx.operation(timeout(&state, "read"));
    let mut inventory = Inventory::from_state(&state, &pool.name).with_private(&request.private);
    let had_sets = !inventory.sets.is_empty();
    if let Err(e) = azure::refresh(arm, &op, &pool, &mut inventory).await {
        return respond(state, errors_to_diagnostics(vec![e], "read"));
    }
    if had_sets && inventory.sets.is_empty() {
        return respond(Value::Null, Diagnostics::new());
    }
    let write_only = custom_data_withheld(&state);
    ReadResponse {
        new_state: state_of(&state, &pool, &inventory, write_only),
        private: inventory.private(),
        diagnostics: Diagnostics::new(),
    }
}

/// The state import rebuilds from Azure: inputs read back from the newest set, one VM and its NIC.
fn imported_state(pool: &PoolId, found: &azure::Discovered) -> Value {
    use serde_json::Value as Json;
    let text = |json: Option<&Json>, pointer: &str| {
        json.and_then(|j| j.pointer(pointer))
            .and_then(Json::as_str)
            .map_or(Value::Null, Value::string)
    };
    let number = |json: Option<&Json>, pointer: &str, default: u32| {
        let n = json
            .and_then(|j| j.pointer(pointer))
            .and_then(Json::as_u64)
            .unwrap_or(u64::from(default));
        Value::number(n)
    };
    let set = found.newest_set.as_ref();
    let vm = found.sample_vm.as_ref();
    let tag = |name: &str| {
        set.and_then(|s| s.pointer(&format!("/tags/{name}")))
            .and_then(Json::as_str)
    };
    let cap = tag(CAP_TAG)
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(DEFAULT_CAP);
    let placement = tag(PLACEMENT_TAG).unwrap_or("fill");
    let tags: Vec<(String, Value)> = set
        .and_then(|s| s.get("tags"))
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| ![OWNER_TAG, SHAPE_TAG, CAP_TAG, PLACEMENT_TAG].contains(&k.as_str()))
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), Value::string(v))))
        .collect();
    let image_ref = vm.and_then(|v| v.pointer("/properties/storageProfile/imageReference"));
    let image = match image_ref.and_then(|i| i.get("id")).and_then(Json::as_str) {
        Some(id) => Value::object([
            ("publisher", Value::Null),
            ("offer", Value::Null),
            ("sku", Value::Null),
            ("version", Value::Null),
            ("id", Value::string(id)),
        ]),
        None => Value::object([
            ("publisher", text(image_ref, "/publisher")),
            ("offer", text(image_ref, "/offer")),
            ("sku", text(image_ref, "/sku")),
            ("version", text(image_ref, "/version")),
            ("id", Value::Null),
        ]),
    };
    let keys = vm
        .and_then(|v| v.pointer("/properties/osProfile/linuxConfiguration/ssh/publicKeys"))
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| k.get("keyData").and_then(Json::as_str))
        .map(Value::string);
    let state = Value::object([
        ("id", Value::string(pool.to_string())),
        ("name", Value::string(&pool.name)),
        ("resource_group_name", Value::string(&pool.resource_group)),
        ("location", text(set, "/location")),
        (
            "node_count",
            Value::number(found.inventory.node_count() as u64),
        ),
        ("max_nodes_per_set", Value::number(cap)),
        ("placement", Value::string(placement)),
        ("vm_size", text(vm, "/properties/hardwareProfile/vmSize")),
        (
            "subnet_id",
            text(
                found.sample_nic.as_ref(),
                "/properties/ipConfigurations/0/properties/subnet/id",
            ),
        ),
        (
            "admin_username",
            text(vm, "/properties/osProfile/adminUsername"),
        ),
        ("ssh_public_keys", Value::list(keys)),
        ("image", image),
        (
            "os_disk",
            Value::object([
                (
                    "size_gb",
                    number(
                        vm,
                        "/properties/storageProfile/osDisk/diskSizeGB",
                        DEFAULT_OS_DISK_GB,
                    ),
                ),
                (
                    "storage_account_type",
                    text(
                        vm,
                        "/properties/storageProfile/osDisk/managedDisk/storageAccountType",
                    ),
                ),
            ]),
        ),
        ("custom_data", Value::Null),
        (
            "fault_domain_count",
            number(
                set,
                "/properties/platformFaultDomainCount",
                DEFAULT_FAULT_DOMAINS,
            ),
        ),
        (
            "update_domain_count",
            number(
                set,
                "/properties/platformUpdateDomainCount",
                DEFAULT_UPDATE_DOMAINS,
            ),
        ),
        (
            "tags",
            if tags.is_empty() {
                Value::Null
            } else {
                Value::map(tags)
            },
        ),
        ("availability_sets", found.inventory.to_value(&pool.name)),
        ("timeouts", Value::Null),
        ("custom_data_version", Value::Null),
        ("upgrade", Value::Null),
    ]);
    // Each node runs the shape its VM is tagged with; one VM is read, and a pool is of one shape unless a
    // rollout was left unfinished (which the next apply then finishes).
    let shape = vm
        .and_then(|v| v.pointer(&format!("/tags/{SHAPE_TAG}")))
        .and_then(Json::as_str)
        .map(str::to_string)
        .or_else(|| {
            Spec::from_values(&state, &Value::Null)
                .ok()
                .map(|s| s.shape())
        })
        .unwrap_or_default();
    with_node_shapes(state, &shape)
}

/// `state` with every node's `shape` set to `shape`.
fn with_node_shapes(state: Value, shape: &str) -> Value {
    let Value::Object(mut members) = state else {
        return state;
    };
    if let Some(Value::List(sets)) = members.get_mut("availability_sets") {
        for set in sets.iter_mut() {
            let Value::Object(set) = set else { continue };
            let Some(Value::List(nodes)) = set.get_mut("nodes") else {
                continue;
            };
            for node in nodes.iter_mut() {
                if let Value::Object(node) = node {
                    node.insert("shape".into(), Value::string(shape));
                }
            }
        }
    }
    Value::Object(members)
}

/// Brings a state of an earlier schema version to this one. Version 0 knew no rollouts: every node runs
/// the shape of the state's own inputs, which is also the digest version 0 tagged the VMs with.
fn upgrade_state(version: i64, state: Value) -> Result<Value, Diagnostics> {
    match version {
        SCHEMA_VERSION => Ok(state),
        0 if state.is_null() => Ok(state),
        0 => match Spec::from_values(&state, &Value::Null) {
            Ok(spec) => Ok(with_node_shapes(state, &spec.shape())),
            Err(e) => Err(Diagnostic::error(
                "Cannot upgrade the pool's state",
                format!(
                    "The stored state (version 0) has an unreadable {}: {}. Restore the state from a backup, or \
                     remove the pool from state and import it again.",
                    e.path, e.message
                ),
            )
            .into()),
        },
        other => Err(Diagnostic::error(
            format!("Unsupported {TYPE_NAME} state version {other}"),
            format!(
                "This provider writes version {SCHEMA_VERSION}. The state was written by a newer provider; use \
                 that version, or remove the resource from state and import it again."
            ),
        )
        .into()),
    }
}

async fn import(ctx: &Context, id: &str) -> ImportResponse {
    let fail = |d: Diagnostic| ImportResponse {
        imported: Vec::new(),
        diagnostics: d.into(),
    };
    let pool = match PoolId::parse(id) {
        Ok(pool) => pool,
        Err(e) => return fail(Diagnostic::error("Invalid pool ID", e)),
    };
    let arm = match ctx.arm() {
        Ok(arm) => arm,
        Err(d) => return fail(d),
    };
    if !pool
        .subscription
        .eq_ignore_ascii_case(arm.subscription_id())
    {
        return fail(Diagnostic::error(
            "Pool in another subscription",
            format!(
                "The pool ID names subscription {}, but the provider manages {}. Configure the provider for \
                 that subscription.",
                pool.subscription,
                arm.subscription_id()
            ),
        ));
    }
    let op = ctx.operation(timeout(&Value::Null, "read"));
    let found = match azure::discover(arm, &op, &pool).await {
        Ok(found) => found,
        Err(e) => {
            return fail(Diagnostic::error(
                format!("Cannot import {pool}"),
                format!("{}: {}", e.resource, e.message),
            ))
        }
    };
    if found.inventory.sets.is_empty() {
        return fail(Diagnostic::error(
            "Pool not found",
            format!(
                "No availability set named {}-as-<n> with tag {OWNER_TAG} = {pool} exists in resource group {}.",
                pool.name, pool.resource_group
            ),
        ));
    }
    ImportResponse {
        imported: vec![ImportedResource {
            type_name: TYPE_NAME.to_string(),
            state: imported_state(&pool, &found),
            private: Vec::new(),
        }],
        diagnostics: Diagnostics::new(),
    }
}

impl Resource<Context> for Pool {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, client: ClientCapabilities) -> Diagnostics {
        validate(config, client)
    }

    fn upgrade_state(&self, version: i64, state: Value) -> Result<Value, Diagnostics> {
        upgrade_state(version, state)
    }

    fn plan<'a>(&'a self, ctx: &'a Context, request: PlanRequest) -> BoxFuture<'a, PlanResponse> {
        Box::pin(async move { plan(ctx, request) })
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
    use tokio_util::sync::CancellationToken;

    const SUBNET: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/nodes";

    fn ctx() -> Context {
        Context::new(Err(Unconfigured::NotYet), CancellationToken::new(), false)
    }

    fn config(node_count: Value, extra: &[(&str, Value)]) -> Value {
        let mut members = vec![
            ("name", Value::string("agents")),
            ("resource_group_name", Value::string("rg")),
            ("location", Value::string("westeurope")),
            ("node_count", node_count),
            ("vm_size", Value::string("Standard_D2s_v5")),
            ("subnet_id", Value::string(SUBNET)),
            ("admin_username", Value::string("azureuser")),
            (
                "ssh_public_keys",
                Value::list([Value::string("ssh-ed25519 AAAA")]),
            ),
        ];
        members.extend(extra.iter().cloned());
        Value::object(members)
    }

    fn plan_for(prior: Value, config: Value) -> PlanResponse {
        let request = PlanRequest {
            type_name: TYPE_NAME.into(),
            prior_state: prior,
            proposed_new_state: config.clone(),
            config,
            prior_private: Vec::new(),
            client: ClientCapabilities {
                deferral_allowed: false,
                write_only_attributes_allowed: true,
            },
        };
        plan(&ctx(), request)
    }

    fn sizes(planned: &Value) -> Vec<u64> {
        planned
            .get("availability_sets")
            .and_then(Value::as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                s.get("node_count")
                    .and_then(Value::as_number)
                    .and_then(|n| n.to_u64())
            })
            .collect()
    }

    /// A state as apply leaves it for `node_count` nodes.
    fn applied(node_count: u64) -> Value {
        let planned = plan_for(Value::Null, config(Value::number(node_count), &[])).planned_state;
        let pool = PoolId {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "agents".into(),
        };
        let mut inventory = Inventory::default();
        let shape = Spec::from_values(&planned, &Value::Null)
            .map(|s| s.shape())
            .unwrap_or_default();
        let sizes = layout::split(node_count, MaxNodesPerSet::default(), Placement::Fill)
            .unwrap_or_default();
        for (set, nodes) in Layout::from_sizes(&sizes)
            .sets()
            .map(|s| (s.index, s.nodes))
        {
            let record = inventory.sets.entry(set).or_default();
            record.id = pool.set_id(set).to_string();
            for node in nodes {
                let name = layout::node_name("agents", set, node);
                record.nodes.insert(
                    node,
                    spec::Node {
                        vm_id: pool.vm_id(&name).to_string(),
                        nic_id: pool.nic_id(&name).to_string(),
                        private_ip: format!("10.0.{set}.{node}"),
                        shape: shape.clone(),
                    },
                );
            }
        }
        state_of(&planned, &pool, &inventory, true)
    }

    #[test]
    fn plan_shows_the_layout_with_names_and_unknown_ids_for_new_nodes() {
        let response = plan_for(Value::Null, config(Value::number(450u64), &[]));
        assert!(!response.diagnostics.has_errors());
        let planned = &response.planned_state;
        assert_eq!(sizes(planned), vec![100, 100, 100, 100, 50]);
        let sets = planned
            .get("availability_sets")
            .and_then(Value::as_list)
            .unwrap_or_default();
        let last = sets.last().cloned().unwrap_or(Value::Null);
        assert_eq!(
            last.get("name").and_then(Value::as_str),
            Some("agents-as-4")
        );
        let node = last
            .get("nodes")
            .and_then(Value::as_list)
            .and_then(|n| n.first())
            .cloned();
        let node = node.unwrap_or(Value::Null);
        assert_eq!(node.get("name").and_then(Value::as_str), Some("agents-4-0"));
        assert!(!node.get("vm_id").is_some_and(Value::is_known));
        assert_eq!(
            planned.get("max_nodes_per_set"),
            Some(&Value::number(100u64))
        );
        assert_eq!(planned.get("placement"), Some(&Value::string("fill")));
        assert_eq!(planned.get("custom_data"), Some(&Value::Null));
    }

    #[test]
    fn plan_is_unknown_layout_while_node_count_is_unknown() {
        let response = plan_for(Value::Null, config(Value::unknown(), &[]));
        assert!(!response
            .planned_state
            .get("availability_sets")
            .is_some_and(Value::is_known));
    }

    #[test]
    fn replanning_an_applied_pool_changes_nothing() {
        let prior = applied(450);
        let response = plan_for(prior.clone(), config(Value::number(450u64), &[]));
        assert!(response.requires_replace.is_empty());
        assert_eq!(response.planned_state, prior);
    }

    #[test]
    fn scale_up_keeps_every_existing_node_and_adds_a_set() {
        let prior = applied(450);
        let response = plan_for(prior.clone(), config(Value::number(520u64), &[]));
        let planned = &response.planned_state;
        assert_eq!(sizes(planned), vec![100, 100, 100, 100, 100, 20]);
        let before = Inventory::from_state(&prior, "agents");
        let sets = planned
            .get("availability_sets")
            .and_then(Value::as_list)
            .unwrap_or_default();
        for (index, record) in &before.sets {
            let planned_set = sets.get(*index as usize).cloned().unwrap_or(Value::Null);
            assert_eq!(
                planned_set.get("id").and_then(Value::as_str),
                Some(record.id.as_str())
            );
        }
        let known = sets
            .iter()
            .flat_map(|s| {
                s.get("nodes")
                    .and_then(Value::as_list)
                    .unwrap_or_default()
                    .to_vec()
            })
            .filter(|n| n.get("vm_id").is_some_and(Value::is_known))
            .count();
        assert_eq!(known, 450, "only the 70 new nodes are unknown");
    }

    fn node_shapes(planned: &Value) -> Vec<Value> {
        planned
            .get("availability_sets")
            .and_then(Value::as_list)
            .unwrap_or_default()
            .iter()
            .flat_map(|s| {
                s.get("nodes")
                    .and_then(Value::as_list)
                    .unwrap_or_default()
                    .to_vec()
            })
            .map(|n| n.get("shape").cloned().unwrap_or(Value::Null))
            .collect()
    }

    #[test]
    fn a_vm_shape_change_is_an_in_place_rollout_with_a_warning() {
        let prior = applied(10);
        for (name, value) in [
            ("vm_size", Value::string("Standard_D4s_v5")),
            (
                "image",
                Value::object([("version", Value::string("24.04.202501010"))]),
            ),
            ("custom_data_version", Value::number(2u64)),
            ("admin_username", Value::string("ops")),
        ] {
            let response = plan_for(
                prior.clone(),
                config(
                    Value::number(10u64),
                    &[
                        (name, value),
                        (
                            "upgrade",
                            Value::object([("max_unavailable", Value::string("30%"))]),
                        ),
                    ],
                ),
            );
            assert!(response.requires_replace.is_empty(), "{name}: in place");
            let warning = response
                .diagnostics
                .iter()
                .find(|d| d.summary.contains("10 nodes will be rolled"));
            assert!(
                warning.is_some_and(|w| w.detail.contains("3 at a time")),
                "{name}: the plan warns with the count and batch: {:?}",
                response.diagnostics
            );
            let shapes = node_shapes(&response.planned_state);
            assert_eq!(shapes.len(), 10);
            assert!(shapes.windows(2).all(|w| w[0] == w[1]));
            assert_ne!(shapes.first(), node_shapes(&prior).first(), "{name}");
            let ids = |v: &Value| {
                Inventory::from_state(v, "agents")
                    .sets
                    .values()
                    .flat_map(|s| {
                        s.nodes
                            .values()
                            .map(|n| (n.vm_id.clone(), n.private_ip.clone()))
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                ids(&response.planned_state),
                ids(&prior),
                "{name}: nothing else of the nodes changes"
            );
        }
    }

    #[test]
    fn an_unknown_shape_input_leaves_the_shapes_unknown() {
        let response = plan_for(
            applied(3),
            config(Value::number(3u64), &[("vm_size", Value::unknown())]),
        );
        assert!(node_shapes(&response.planned_state)
            .iter()
            .all(|s| !s.is_known()));
    }

    #[test]
    fn renaming_replaces_and_cap_changes_warn() {
        let prior = applied(10);
        let response = plan_for(
            prior.clone(),
            config(
                Value::number(10u64),
                &[("subnet_id", Value::string(SUBNET.replace("nodes", "other")))],
            ),
        );
        assert_eq!(
            response.requires_replace,
            vec![AttributePath::of("subnet_id")]
        );
        let response = plan_for(
            prior,
            config(
                Value::number(10u64),
                &[("max_nodes_per_set", Value::number(50u64))],
            ),
        );
        assert!(response.requires_replace.is_empty());
        assert!(response.diagnostics.iter().any(|d| d.attribute
            == Some(AttributePath::of("max_nodes_per_set"))
            && d.summary.contains("new placement only")));
    }

    #[test]
    fn version_0_state_gains_the_shape_its_vms_were_tagged_with() {
        let current = applied(4);
        let shape = node_shapes(&current)
            .first()
            .cloned()
            .unwrap_or(Value::Null);
        let v0 = with_node_shapes(current.clone(), "").clone();
        let v0 = match v0 {
            Value::Object(mut members) => {
                members.remove("custom_data_version");
                members.remove("upgrade");
                Value::Object(members)
            }
            other => other,
        };
        let upgraded = upgrade_state(0, v0).expect("upgrades");
        assert!(node_shapes(&upgraded).iter().all(|s| *s == shape));
        assert!(shape.as_str().is_some_and(|s| !s.is_empty()));
        let replanned = plan_for(upgraded, config(Value::number(4u64), &[]));
        assert!(
            !replanned
                .diagnostics
                .iter()
                .any(|d| d.summary.contains("rolled")),
            "an upgraded state plans no rollout"
        );
        assert!(upgrade_state(2, current).is_err());
    }

    #[test]
    fn validation_names_the_attribute() {
        let client = ClientCapabilities::default();
        let cases = [
            ("max_nodes_per_set", Value::number(201u64)),
            ("node_count", Value::number(-1i64)),
            ("name", Value::string("Bad_Name")),
            ("subnet_id", Value::string("/subscriptions/s/nodes")),
            ("update_domain_count", Value::number(21u64)),
            ("fault_domain_count", Value::number(4u64)),
        ];
        for (name, value) in cases {
            let diags = validate(&config(Value::number(1u64), &[(name, value)]), client);
            assert!(
                diags
                    .iter()
                    .any(|d| d.attribute == Some(AttributePath::of(name))),
                "{name} should be flagged: {diags:?}"
            );
        }
        assert!(validate(&config(Value::number(450u64), &[]), client).is_empty());
    }

    #[test]
    fn validation_checks_azures_vm_rules_at_the_nested_attribute() {
        let client = ClientCapabilities::default();
        let image = |id: &str| Value::object([("id", Value::string(id))]);
        let disk = |k: &str, v: Value| Value::object([(k, v)]);
        let cases = [
            (
                ("admin_username", Value::string("root")),
                AttributePath::of("admin_username"),
                "reserved",
            ),
            (
                ("admin_username", Value::string("9lives")),
                AttributePath::of("admin_username"),
                "letter or underscore",
            ),
            (
                (
                    "ssh_public_keys",
                    Value::list([Value::string("ssh-ed25519 AAAA"), Value::string("AAAA x")]),
                ),
                AttributePath::of("ssh_public_keys").index(1),
                "ssh-rsa or ssh-ed25519",
            ),
            (
                (
                    "image",
                    image("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"),
                ),
                AttributePath::of("image").attr("id"),
                "Microsoft.Compute/images",
            ),
            (
                ("os_disk", disk("size_gb", Value::number(8u64))),
                AttributePath::of("os_disk").attr("size_gb"),
                "30 to 4095",
            ),
            (
                (
                    "os_disk",
                    disk("storage_account_type", Value::string("UltraSSD_LRS")),
                ),
                AttributePath::of("os_disk").attr("storage_account_type"),
                "Premium_LRS",
            ),
            (
                (
                    "upgrade",
                    Value::object([("max_unavailable", Value::string("0"))]),
                ),
                AttributePath::of("upgrade").attr("max_unavailable"),
                "at least 1",
            ),
            (
                ("resource_group_name", Value::string("rg/x")),
                AttributePath::of("resource_group_name"),
                "letters, digits",
            ),
        ];
        for ((name, value), path, fragment) in cases {
            let diags = validate(&config(Value::number(1u64), &[(name, value)]), client);
            assert!(
                diags
                    .iter()
                    .any(|d| d.attribute.as_ref() == Some(&path) && d.detail.contains(fragment)),
                "{path} should be flagged with {fragment:?}: {diags:?}"
            );
        }
        let fine = [
            (
                "image",
                image("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"),
            ),
            ("os_disk", disk("size_gb", Value::number(64u64))),
            ("admin_username", Value::string("_svc.ops-1")),
        ];
        for (name, value) in fine {
            let diags = validate(&config(Value::number(1u64), &[(name, value)]), client);
            assert!(diags.is_empty(), "{name} should pass: {diags:?}");
        }
    }
}
