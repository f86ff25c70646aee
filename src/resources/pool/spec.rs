//! The pool's typed inputs and outputs: its ID, the configuration read from a Terraform value, and the
//! availability sets and nodes kept in state.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::arm::ids::{ResourceId, ResourceKind};
use crate::layout::{Layout, MaxNodesPerSet, NodeSet, Placement};
use crate::tf::decode::{Fields, FromValue, Maybe};
use crate::tf::number::Number;
use crate::tf::path::AttributePath;
use crate::tf::value::{Value, ValueError};

/// Tag naming the pool that owns an availability set, NIC or VM; its value is the pool ID.
pub const OWNER_TAG: &str = "largek8s-pool";
/// Tags recording the placement settings on each set, so that import can restore them.
pub const CAP_TAG: &str = "largek8s-max-nodes-per-set";
pub const PLACEMENT_TAG: &str = "largek8s-placement";
/// Tag recording the VM shape (see [`Spec::shape`]) a VM runs, or a set or NIC was made with. A set or VM
/// of another shape that apply runs into outside its state (another workspace reusing the pool's name) is
/// refused rather than adopted; NICs outlive shapes (a rollout keeps them), so only their owner is checked.
pub const SHAPE_TAG: &str = "largek8s-pool-shape";

pub const DEFAULT_CAP: u32 = 100;
pub const DEFAULT_FAULT_DOMAINS: u32 = 2;
pub const DEFAULT_UPDATE_DOMAINS: u32 = 5;
pub const DEFAULT_OS_DISK_GB: u32 = 30;
pub const DEFAULT_STORAGE: &str = "Premium_LRS";
/// Ubuntu 24.04 LTS, Canonical's current LTS image on the marketplace.
pub const DEFAULT_IMAGE: [(&str, &str); 4] = [
    ("publisher", "Canonical"),
    ("offer", "ubuntu-24_04-lts"),
    ("sku", "server"),
    ("version", "latest"),
];
/// Linux VM names may have 64 characters; `<name>-<set>-<node>-osdisk` must fit.
pub const MAX_NAME_LEN: usize = 40;

/// `/subscriptions/<sub>/resourceGroups/<rg>/providers/largek8s/pools/<name>`: not an ARM resource (a pool
/// is many), but shaped like one so it reads naturally next to the IDs of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolId {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

const POOL_SEGMENT: &str = "/providers/largek8s/pools/";

impl PoolId {
    pub fn parse(input: &str) -> Result<PoolId, String> {
        let wanted = "expected /subscriptions/<subscription>/resourceGroups/<group>/providers/largek8s/pools/<name>";
        let lower = input.to_ascii_lowercase();
        let at = lower
            .find(POOL_SEGMENT)
            .ok_or_else(|| format!("{input:?} is not a pool ID: {wanted}"))?;
        let (group, rest) = input.split_at(at);
        let name = rest.get(POOL_SEGMENT.len()..).unwrap_or_default();
        if name.is_empty() || name.contains('/') {
            return Err(format!("{input:?} has no pool name at its end: {wanted}"));
        }
        let group = ResourceId::parse(group).map_err(|e| format!("{e}: {wanted}"))?;
        match group.resource_group_name() {
            Some(rg) if group.scopes().is_empty() => Ok(PoolId {
                subscription: group.subscription_id().to_string(),
                resource_group: rg.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "{input:?} does not name a resource group: {wanted}"
            )),
        }
    }

    pub fn set_id(&self, set: u32) -> ResourceId {
        ResourceId::availability_set(
            &self.subscription,
            &self.resource_group,
            &crate::layout::set_name(&self.name, set),
        )
    }

    pub fn vm_id(&self, node: &str) -> ResourceId {
        ResourceId::virtual_machine(&self.subscription, &self.resource_group, node)
    }

    pub fn nic_id(&self, node: &str) -> ResourceId {
        ResourceId::network_interface(&self.subscription, &self.resource_group, &nic_name(node))
    }

    pub fn disk_id(&self, node: &str) -> ResourceId {
        ResourceId::resource_group(&self.subscription, &self.resource_group).provider(
            "Microsoft.Compute",
            "disks",
            disk_name(node),
        )
    }

    pub fn group_id(&self) -> ResourceId {
        ResourceId::resource_group(&self.subscription, &self.resource_group)
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}{POOL_SEGMENT}{}",
            self.subscription, self.resource_group, self.name
        )
    }
}

pub fn nic_name(node: &str) -> String {
    format!("{node}-nic")
}

pub fn disk_name(node: &str) -> String {
    format!("{node}-osdisk")
}

/// The node index of `node_name` in set `set` of pool `pool`, when the name follows our scheme.
pub fn node_index(pool: &str, set: u32, node_name: &str) -> Option<u32> {
    node_name
        .strip_prefix(&format!("{pool}-{set}-"))?
        .parse()
        .ok()
}

/// The (set, node) indexes of `node_name` in pool `pool`, when the name follows our scheme.
pub fn node_of(pool: &str, node_name: &str) -> Option<(u32, u32)> {
    let (set, node) = node_name
        .strip_prefix(&format!("{pool}-"))?
        .split_once('-')?;
    Some((set.parse().ok()?, node.parse().ok()?))
}

/// The set index of `set_name` in pool `pool`, when the name follows our scheme.
pub fn set_index(pool: &str, set_name: &str) -> Option<u32> {
    set_name.strip_prefix(&format!("{pool}-as-"))?.parse().ok()
}

/// The OS image: a marketplace reference or the ID of an image (gallery image version, managed image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    Marketplace {
        publisher: String,
        offer: String,
        sku: String,
        version: String,
    },
    Id(String),
}

/// How many of the pool's nodes a rollout may take away at once: a count, or a percentage of `node_count`
/// (rounded down). Never less than one node, so a rollout always makes progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUnavailable {
    Nodes(u64),
    Percent(u64),
}

/// One node at a time: the only bound that never takes more than a Kubernetes drain of one node would.
pub const DEFAULT_MAX_UNAVAILABLE: MaxUnavailable = MaxUnavailable::Nodes(1);

impl MaxUnavailable {
    pub fn parse(text: &str) -> Result<MaxUnavailable, String> {
        let wanted = "use a whole number of nodes of at least 1 (\"20\") or a percentage of node_count from 1% to 100% (\"10%\")";
        let (digits, percent) = match text.strip_suffix('%') {
            Some(digits) => (digits, true),
            None => (text, false),
        };
        let n: u64 = digits.parse().map_err(|_| {
            format!("max_unavailable {text:?} is not a count or a percentage: {wanted}")
        })?;
        match (percent, n) {
            (true, 1..=100) => Ok(MaxUnavailable::Percent(n)),
            (false, 1..) => Ok(MaxUnavailable::Nodes(n)),
            _ => Err(format!(
                "max_unavailable {text:?} is out of range: {wanted}"
            )),
        }
    }

    /// The batch size for a pool of `node_count` nodes.
    pub fn nodes(self, node_count: u64) -> usize {
        let n = match self {
            MaxUnavailable::Nodes(n) => n,
            MaxUnavailable::Percent(p) => node_count.saturating_mul(p) / 100,
        };
        usize::try_from(n.max(1)).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for MaxUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxUnavailable::Nodes(n) => write!(f, "{n}"),
            MaxUnavailable::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Everything apply needs, read from a planned state whose inputs are all known.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    pub node_count: u64,
    pub cap: MaxNodesPerSet,
    pub placement: Placement,
    pub vm_size: String,
    pub subnet_id: ResourceId,
    pub admin_username: String,
    pub ssh_public_keys: Vec<String>,
    pub image: Image,
    pub os_disk_gb: u32,
    pub os_disk_storage: String,
    pub custom_data: Option<String>,
    /// Changing it rolls `custom_data` out (Terraform's convention for write-only attributes).
    pub custom_data_version: Option<String>,
    pub max_unavailable: MaxUnavailable,
    pub fault_domains: u32,
    pub update_domains: u32,
    pub tags: BTreeMap<String, String>,
}

/// A value that apply needs known and well-formed, and is not: the error names the attribute path.
pub type SpecError = ValueError;

impl Spec {
    /// Reads the inputs from a planned state (defaults filled in) and the configuration (for the write-only
    /// `custom_data`, which is never in a plan).
    pub fn from_values(planned: &Value, config: &Value) -> Result<Spec, SpecError> {
        let f = Fields::root(planned)?;
        let cap_raw = f.get_or("max_nodes_per_set", u64::from(DEFAULT_CAP))?;
        let cap = MaxNodesPerSet::new(cap_raw)
            .map_err(|e| ValueError::at(f.path("max_nodes_per_set"), e.to_string()))?;
        let subnet: String = f.get("subnet_id")?;
        let subnet_id = ResourceId::parse_as(&subnet, ResourceKind::Subnet)
            .map_err(|e| ValueError::at(f.path("subnet_id"), e.to_string()))?;
        // Null keys or tag values carry nothing; tags may still be unknown when planning a rollout.
        let ssh_public_keys = f
            .get::<Option<Vec<Option<String>>>>("ssh_public_keys")?
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect();
        let tags = f
            .get::<Maybe<Option<BTreeMap<String, Option<String>>>>>("tags")?
            .into_known()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        let disk = f.object("os_disk")?;
        // With write-only support the plan holds null and only the configuration has the value.
        let mut custom_data = None;
        for value in [config, planned] {
            let written = Fields::root(value)?.get::<Maybe<Option<String>>>("custom_data")?;
            if let Some(text) = written.into_known().flatten() {
                custom_data = Some(text);
                break;
            }
        }
        // Placement and the upgrade settings are no part of the shape: planning reads the shape while they
        // may still be unknown, and an unknown one reads as its default.
        let placement = f
            .get::<Maybe<Option<Placement>>>("placement")?
            .into_known()
            .flatten()
            .unwrap_or(Placement::Fill);
        let max_unavailable = match f.get::<Maybe<Value>>("upgrade")?.into_known() {
            None => None,
            Some(upgrade) => {
                let upgrade = Fields::of(&upgrade, &f.path("upgrade"))?;
                match upgrade.get::<Maybe<Option<String>>>("max_unavailable")? {
                    Maybe::Known(Some(text)) => {
                        Some(MaxUnavailable::parse(&text).map_err(|message| {
                            ValueError::at(upgrade.path("max_unavailable"), message)
                        })?)
                    }
                    _ => None,
                }
            }
        }
        .unwrap_or(DEFAULT_MAX_UNAVAILABLE);
        Ok(Spec {
            name: f.get("name")?,
            resource_group: f.get("resource_group_name")?,
            location: f.get("location")?,
            node_count: f.get_or("node_count", 0)?,
            cap,
            placement,
            vm_size: f.get("vm_size")?,
            subnet_id,
            admin_username: f.get("admin_username")?,
            ssh_public_keys,
            image: f.get("image")?,
            os_disk_gb: disk.get_or("size_gb", DEFAULT_OS_DISK_GB)?,
            os_disk_storage: disk.get_or("storage_account_type", DEFAULT_STORAGE.to_string())?,
            custom_data,
            custom_data_version: f
                .get::<Option<Number>>("custom_data_version")?
                .map(|n| n.to_string()),
            max_unavailable,
            fault_domains: f.get_or("fault_domain_count", DEFAULT_FAULT_DOMAINS)?,
            update_domains: f.get_or("update_domain_count", DEFAULT_UPDATE_DOMAINS)?,
            tags,
        })
    }
}

impl Spec {
    /// A digest of what a node's VM is made with: VM size, image, disk, admin, keys and
    /// `custom_data_version` (besides subnet, location and domain counts, which replace the pool). Each node
    /// records the shape it runs; a node of another shape is rolled (see `azure::roll`). `custom_data` itself
    /// is left out, as Terraform cannot see a change to it; without a `custom_data_version` the digest is
    /// the one earlier versions of the provider tagged their resources with.
    pub fn shape(&self) -> String {
        let image = match &self.image {
            Image::Id(id) => format!("id={}", id.to_ascii_lowercase()),
            Image::Marketplace {
                publisher,
                offer,
                sku,
                version,
            } => format!("{publisher}:{offer}:{sku}:{version}").to_ascii_lowercase(),
        };
        let canonical = [
            self.location.to_ascii_lowercase(),
            self.vm_size.to_ascii_lowercase(),
            self.subnet_id.to_string().to_ascii_lowercase(),
            self.admin_username.clone(),
            self.ssh_public_keys.join("\n"),
            image,
            format!(
                "{}:{}",
                self.os_disk_gb,
                self.os_disk_storage.to_ascii_lowercase()
            ),
            format!("{}:{}", self.fault_domains, self.update_domains),
        ]
        .into_iter()
        .chain(
            self.custom_data_version
                .iter()
                .map(|v| format!("custom_data_version={v}")),
        )
        .collect::<Vec<_>>()
        .join("\u{1f}");
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, canonical.as_bytes())
            .simple()
            .to_string()
    }

    /// This configuration with another VM size: the shape a VM resized in place to this one's size had.
    pub fn with_vm_size(&self, vm_size: &str) -> Spec {
        Spec {
            vm_size: vm_size.to_string(),
            ..self.clone()
        }
    }
}

/// A null `image` (or one without an `id`) is the marketplace image, each part left out taken from
/// [`DEFAULT_IMAGE`].
impl FromValue for Image {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        if let Some(id) = f.get::<Option<String>>("id")? {
            return Ok(Image::Id(id));
        }
        let field = |name: &str| {
            let default = DEFAULT_IMAGE
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .unwrap_or_default();
            f.get_or(name, default.to_string())
        };
        Ok(Image::Marketplace {
            publisher: field("publisher")?,
            offer: field("offer")?,
            sku: field("sku")?,
            version: field("version")?,
        })
    }
}

/// One node as state records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub vm_id: String,
    pub nic_id: String,
    pub private_ip: String,
    /// The [`Spec::shape`] the node's VM runs (empty when unknown, e.g. in hand-edited state).
    pub shape: String,
}

/// One availability set as state records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetRecord {
    pub id: String,
    pub nodes: BTreeMap<u32, Node>,
}

/// What of a pool exists in Azure, by set index: the source of `availability_sets` after apply and read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub sets: BTreeMap<u32, SetRecord>,
    /// Nodes (set, node) whose VM exists but whose provisioning was not seen to end: apply was stopped
    /// (StopProvider) or ran out of time while waiting. Kept in private state, not in `availability_sets`,
    /// so that the next refresh checks them and drops the ones whose provisioning failed.
    pub unsettled: BTreeSet<(u32, u32)>,
}

/// An entry of `availability_sets` as state holds it: each attribute that is missing or of the wrong kind
/// (hand-edited state) reads as `None`, and the entry or node is then skipped rather than trusted.
struct RecordedSet {
    index: Option<u32>,
    id: Option<String>,
    nodes: Vec<RecordedNode>,
}

struct RecordedNode {
    name: Option<String>,
    vm_id: Option<String>,
    nic_id: Option<String>,
    private_ip: Option<String>,
    shape: Option<String>,
}

impl FromValue for RecordedSet {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let Ok(f) = Fields::of(value, path) else {
            return Ok(RecordedSet {
                index: None,
                id: None,
                nodes: Vec::new(),
            });
        };
        Ok(RecordedSet {
            index: f.get("index").ok(),
            id: f.get("id").ok(),
            nodes: f
                .get::<Option<Vec<RecordedNode>>>("nodes")
                .ok()
                .flatten()
                .unwrap_or_default(),
        })
    }
}

impl FromValue for RecordedNode {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path).ok();
        let text = |name: &str| f.as_ref().and_then(|f| f.get::<String>(name).ok());
        Ok(RecordedNode {
            name: text("name"),
            vm_id: text("vm_id"),
            nic_id: text("nic_id"),
            private_ip: text("private_ip"),
            shape: text("shape"),
        })
    }
}

/// The private state the pool keeps beside its state.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Private {
    #[serde(default)]
    unsettled: Vec<(u32, u32)>,
}

impl Inventory {
    /// The inventory recorded in a state value's `availability_sets`; entries that do not follow the naming
    /// scheme (hand-edited state) are skipped, so they are recreated rather than trusted.
    pub fn from_state(state: &Value, pool: &str) -> Inventory {
        let recorded = Fields::root(state)
            .and_then(|f| f.get::<Option<Vec<RecordedSet>>>("availability_sets"))
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut sets = BTreeMap::new();
        for set in recorded {
            let (Some(index), Some(id)) = (set.index, set.id) else {
                continue;
            };
            let nodes = set
                .nodes
                .into_iter()
                .filter_map(|node| {
                    let number = node_index(pool, index, &node.name?)?;
                    Some((
                        number,
                        Node {
                            vm_id: node.vm_id?,
                            nic_id: node.nic_id?,
                            private_ip: node.private_ip?,
                            shape: node.shape.unwrap_or_default(),
                        },
                    ))
                })
                .collect();
            sets.insert(index, SetRecord { id, nodes });
        }
        Inventory {
            sets,
            unsettled: BTreeSet::new(),
        }
    }

    /// Restores the unsettled nodes from private state written by [`Inventory::private`]; unreadable or
    /// empty private state means none.
    pub fn with_private(mut self, private: &[u8]) -> Inventory {
        let private: Private = serde_json::from_slice(private).unwrap_or_default();
        self.unsettled = private
            .unsettled
            .into_iter()
            .filter(|(set, node)| {
                self.sets
                    .get(set)
                    .is_some_and(|r| r.nodes.contains_key(node))
            })
            .collect();
        self
    }

    /// The private state that carries the unsettled nodes (empty when there are none).
    pub fn private(&self) -> Vec<u8> {
        if self.unsettled.is_empty() {
            return Vec::new();
        }
        let private = Private {
            unsettled: self.unsettled.iter().copied().collect(),
        };
        serde_json::to_vec(&private).unwrap_or_default()
    }

    pub fn layout(&self) -> Layout {
        Layout::new(self.sets.iter().map(|(index, set)| NodeSet {
            index: *index,
            nodes: set.nodes.keys().copied().collect(),
        }))
    }

    pub fn node_count(&self) -> usize {
        self.sets.values().map(|s| s.nodes.len()).sum()
    }

    /// The `availability_sets` value.
    pub fn to_value(&self, pool: &str) -> Value {
        Value::list(self.sets.iter().map(|(index, set)| {
            let nodes = set.nodes.iter().map(|(number, node)| {
                node_value(
                    Value::string(crate::layout::node_name(pool, *index, *number)),
                    Value::string(&node.vm_id),
                    Value::string(&node.nic_id),
                    Value::string(&node.private_ip),
                    Value::string(&node.shape),
                )
            });
            set_value(
                *index,
                Value::string(crate::layout::set_name(pool, *index)),
                Value::string(&set.id),
                Value::list(nodes),
            )
        }))
    }
}

pub fn node_value(
    name: Value,
    vm_id: Value,
    nic_id: Value,
    private_ip: Value,
    shape: Value,
) -> Value {
    Value::object([
        ("name", name),
        ("vm_id", vm_id),
        ("nic_id", nic_id),
        ("private_ip", private_ip),
        ("shape", shape),
    ])
}

pub fn set_value(index: u32, name: Value, id: Value, nodes: Value) -> Value {
    let count = nodes.as_list().map_or(0, <[Value]>::len) as u64;
    Value::object([
        ("index", Value::number(index)),
        ("name", name),
        ("id", id),
        ("node_count", Value::number(count)),
        ("nodes", nodes),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_id_round_trips_and_rejects_other_ids() {
        let id = PoolId {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "pool".into(),
        };
        let text = id.to_string();
        assert_eq!(
            text,
            "/subscriptions/s/resourceGroups/rg/providers/largek8s/pools/pool"
        );
        assert_eq!(PoolId::parse(&text), Ok(id));
        assert!(PoolId::parse("/subscriptions/s/resourceGroups/rg").is_err());
        assert!(PoolId::parse("/subscriptions/s/providers/largek8s/pools/p").is_err());
        assert!(
            PoolId::parse("/subscriptions/s/resourceGroups/rg/providers/largek8s/pools/").is_err()
        );
    }

    #[test]
    fn names_parse_back_to_indexes() {
        assert_eq!(node_index("a-b", 3, "a-b-3-17"), Some(17));
        assert_eq!(node_index("a-b", 3, "a-b-4-17"), None);
        assert_eq!(node_of("a-b", "a-b-4-17"), Some((4, 17)));
        assert_eq!(node_of("a-b", "a-b-as-1"), None);
        assert_eq!(node_of("a-b", "a-b-4-17-nic"), None);
        assert_eq!(set_index("a-b", "a-b-as-12"), Some(12));
        assert_eq!(set_index("a-b", "a-b-x-12"), None);
    }

    #[test]
    fn inventory_round_trips_through_state() {
        let mut inventory = Inventory::default();
        let mut set = SetRecord {
            id: "/set0".into(),
            nodes: BTreeMap::new(),
        };
        set.nodes.insert(
            2,
            Node {
                vm_id: "/vm".into(),
                nic_id: "/nic".into(),
                private_ip: "10.0.0.4".into(),
                shape: "abc".into(),
            },
        );
        inventory.sets.insert(0, set);
        let state = Value::object([("availability_sets", inventory.to_value("p"))]);
        assert_eq!(Inventory::from_state(&state, "p"), inventory);
        assert_eq!(inventory.layout().sizes(), vec![1]);
    }

    fn spec(extra: &[(&str, Value)]) -> Spec {
        let mut members = vec![
            ("name", Value::string("agents")),
            ("resource_group_name", Value::string("rg")),
            ("location", Value::string("westeurope")),
            ("node_count", Value::number(300u64)),
            ("vm_size", Value::string("Standard_D2s_v5")),
            (
                "subnet_id",
                Value::string(
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/n",
                ),
            ),
            ("admin_username", Value::string("azureuser")),
            ("ssh_public_keys", Value::list([Value::string("ssh-ed25519 A")])),
        ];
        members.extend(extra.iter().cloned());
        Spec::from_values(&Value::object(members), &Value::Null).expect("a valid spec")
    }

    #[test]
    fn shape_ignores_what_changes_in_place_and_sees_what_azure_fixes() {
        let base = spec(&[]).shape();
        for (name, value) in [
            ("node_count", Value::number(450u64)),
            ("max_nodes_per_set", Value::number(50u64)),
            (
                "tags",
                Value::map([("team".to_string(), Value::string("a"))]),
            ),
            ("custom_data", Value::string("#cloud-config")),
            (
                "upgrade",
                Value::object([("max_unavailable", Value::string("10%"))]),
            ),
        ] {
            assert_eq!(
                spec(&[(name, value)]).shape(),
                base,
                "{name} is not part of the shape"
            );
        }
        for (name, value) in [
            ("vm_size", Value::string("Standard_D4s_v5")),
            ("admin_username", Value::string("root2")),
            (
                "ssh_public_keys",
                Value::list([Value::string("ssh-ed25519 B")]),
            ),
            ("fault_domain_count", Value::number(3u64)),
            ("custom_data_version", Value::number(2u64)),
        ] {
            assert_ne!(
                spec(&[(name, value)]).shape(),
                base,
                "{name} is part of the shape"
            );
        }
    }

    #[test]
    fn spec_errors_name_the_attribute_path() {
        let base = |extra: (&str, Value)| {
            let mut members = vec![
                ("name", Value::string("agents")),
                ("resource_group_name", Value::string("rg")),
                ("location", Value::string("westeurope")),
                ("vm_size", Value::string("Standard_D2s_v5")),
                (
                    "subnet_id",
                    Value::string(
                        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/n",
                    ),
                ),
                ("admin_username", Value::string("azureuser")),
            ];
            members.push(extra);
            Spec::from_values(&Value::object(members), &Value::Null)
        };
        let too_many = base(("fault_domain_count", Value::number(u64::from(u32::MAX) + 1)))
            .expect_err("past u32");
        assert_eq!(too_many.path.to_string(), "fault_domain_count");
        let disk = base((
            "os_disk",
            Value::object([("size_gb", Value::string("big"))]),
        ))
        .expect_err("a string is no size");
        assert_eq!(disk.path.to_string(), "os_disk.size_gb");
        let batch = base((
            "upgrade",
            Value::object([("max_unavailable", Value::string("0"))]),
        ))
        .expect_err("zero nodes never progress");
        assert_eq!(batch.path.to_string(), "upgrade.max_unavailable");
        let unnamed = base(("name", Value::unknown())).expect_err("apply needs the name");
        assert_eq!(unnamed.path.to_string(), "name");
        assert!(unnamed.message.starts_with("must be known"), "{unnamed}");
    }

    #[test]
    fn inputs_outside_the_shape_may_still_be_unknown_and_read_as_their_defaults() {
        let spec = spec(&[
            ("tags", Value::unknown()),
            ("placement", Value::unknown()),
            ("upgrade", Value::unknown()),
            ("custom_data", Value::unknown()),
        ]);
        assert!(spec.tags.is_empty());
        assert_eq!(spec.placement, Placement::Fill);
        assert_eq!(spec.max_unavailable, DEFAULT_MAX_UNAVAILABLE);
        assert_eq!(spec.custom_data, None);
        assert_eq!(
            spec.image,
            Image::Marketplace {
                publisher: "Canonical".into(),
                offer: "ubuntu-24_04-lts".into(),
                sku: "server".into(),
                version: "latest".into(),
            }
        );
    }

    #[test]
    fn hand_edited_state_entries_are_skipped_not_trusted() {
        let good_node = node_value(
            Value::string("p-0-1"),
            Value::string("/vm"),
            Value::string("/nic"),
            Value::string("10.0.0.4"),
            Value::Null,
        );
        let foreign_node = node_value(
            Value::string("q-0-1"),
            Value::string("/vm"),
            Value::string("/nic"),
            Value::string("10.0.0.5"),
            Value::Null,
        );
        let state = Value::object([(
            "availability_sets",
            Value::list([
                set_value(
                    0,
                    Value::string("p-as-0"),
                    Value::string("/set0"),
                    Value::list([good_node, foreign_node, Value::string("junk")]),
                ),
                set_value(1, Value::string("p-as-1"), Value::Null, Value::list([])),
                Value::Bool(true),
            ]),
        )]);
        let inventory = Inventory::from_state(&state, "p");
        assert_eq!(inventory.sets.keys().collect::<Vec<_>>(), [&0]);
        let nodes = &inventory.sets[&0].nodes;
        assert_eq!(nodes.keys().collect::<Vec<_>>(), [&1]);
        assert_eq!(nodes[&1].shape, "", "a null shape reads as unknown");
        assert_eq!(
            Inventory::from_state(&Value::unknown(), "p"),
            Inventory::default()
        );
    }

    #[test]
    fn unsettled_nodes_round_trip_through_private_state_while_in_the_inventory() {
        let mut inventory = Inventory::default();
        let set = inventory.sets.entry(0).or_default();
        for n in [1, 2] {
            set.nodes.insert(
                n,
                Node {
                    vm_id: format!("/vm{n}"),
                    nic_id: format!("/nic{n}"),
                    private_ip: String::new(),
                    shape: String::new(),
                },
            );
        }
        assert!(
            inventory.private().is_empty(),
            "nothing unsettled, no private state"
        );
        inventory.unsettled.extend([(0, 2), (3, 9)]);
        let restored = Inventory {
            unsettled: BTreeSet::new(),
            ..inventory.clone()
        }
        .with_private(&inventory.private());
        assert_eq!(
            restored.unsettled,
            BTreeSet::from([(0, 2)]),
            "a node no longer in the inventory is no longer unsettled"
        );
        assert!(Inventory::default()
            .with_private(b"not json")
            .unsettled
            .is_empty());
    }

    #[test]
    fn max_unavailable_is_a_count_or_a_share_of_the_pool_and_never_zero() {
        assert_eq!(
            MaxUnavailable::parse("10%"),
            Ok(MaxUnavailable::Percent(10))
        );
        assert_eq!(MaxUnavailable::parse("3"), Ok(MaxUnavailable::Nodes(3)));
        for bad in ["0", "0%", "101%", "-1", "ten", "10 %", ""] {
            assert!(
                MaxUnavailable::parse(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        assert_eq!(MaxUnavailable::Percent(10).nodes(300), 30);
        assert_eq!(MaxUnavailable::Percent(10).nodes(2000), 200);
        assert_eq!(
            MaxUnavailable::Percent(10).nodes(5),
            1,
            "rounded down, at least one"
        );
        assert_eq!(MaxUnavailable::Nodes(50).nodes(10), 50);
        assert_eq!(DEFAULT_MAX_UNAVAILABLE.nodes(2000), 1);
        assert_eq!(MaxUnavailable::Percent(25).to_string(), "25%");
    }

    #[test]
    fn a_resize_is_told_apart_from_other_shape_changes() {
        let before = spec(&[]);
        let after = spec(&[("vm_size", Value::string("Standard_D4s_v5"))]);
        assert_eq!(
            after.with_vm_size("Standard_D2s_v5").shape(),
            before.shape()
        );
        let reimaged = spec(&[
            ("vm_size", Value::string("Standard_D4s_v5")),
            ("custom_data_version", Value::number(1u64)),
        ]);
        assert_ne!(
            reimaged.with_vm_size("Standard_D2s_v5").shape(),
            before.shape()
        );
    }
}
