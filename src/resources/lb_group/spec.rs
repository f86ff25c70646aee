//! The group's typed inputs and outputs: the configuration as validation and planning see it (values that
//! may still be unknown), the settings apply needs (everything known, Azure's defaults filled in), and the
//! load balancers recorded in state. Each is decoded once through [`crate::tf::decode`], so every problem
//! names its attribute path; the state is encoded back the same way.

use std::collections::{BTreeMap, BTreeSet};

use crate::arm::ids::{ResourceId, ResourceKind};
use crate::lb_layout::Sku;
use crate::tf::decode::{Fields, FromValue, IntoValue, Maybe};
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::number::Number;
use crate::tf::path::AttributePath;
use crate::tf::types::Type;
use crate::tf::value::{Value, ValueError};

/// Tag on every load balancer and public IP of a group, naming the group: import finds them by it.
pub const GROUP_TAG: &str = "largek8s-lb-group";
/// Tags recording on every load balancer what Azure does not keep, so that import recovers the configuration:
/// the cap and the DNS record. They share GROUP_TAG's prefix, which marks them as the provider's, not the user's.
pub const CAP_TAG: &str = "largek8s-lb-group-max-backend-nodes";
pub const DNS_ZONE_TAG: &str = "largek8s-lb-group-dns-zone";
pub const DNS_ZONE_GROUP_TAG: &str = "largek8s-lb-group-dns-zone-resource-group";
pub const DNS_RECORD_TAG: &str = "largek8s-lb-group-dns-record";
pub const DNS_TTL_TAG: &str = "largek8s-lb-group-dns-ttl";

/// Azure's defaults for what a rule, probe or DNS record leaves out.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 4;
pub const DEFAULT_PROBE_INTERVAL: u64 = 15;
pub const DEFAULT_PROBE_COUNT: u64 = 2;
pub const DEFAULT_DNS_TTL: u64 = 300;

impl std::str::FromStr for Sku {
    type Err = String;

    fn from_str(s: &str) -> Result<Sku, String> {
        Sku::parse(s).ok_or_else(|| "sku must be \"Standard\" or \"Basic\".".to_string())
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::from_str_value!(Sku);

/// How a group's load balancers hold their nodes, named after cloud-provider-azure's
/// `loadBalancerBackendPoolConfigurationType` (`nodeIP`, `nodeIPConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendPoolType {
    /// By IP address and virtual network, in the load balancer's own body: one write per load balancer for any
    /// membership change. Standard only.
    NodeIp,
    /// By NIC: each node's IP configuration points at the pool, one NIC write per node that joins or leaves.
    NodeIpConfiguration,
}

impl BackendPoolType {
    /// What a group plans when the configuration leaves `backend_pool_type` out: by IP for Standard; Basic has no
    /// IP-based pools.
    pub fn default_for(sku: Sku) -> BackendPoolType {
        match sku {
            Sku::Standard => BackendPoolType::NodeIp,
            Sku::Basic => BackendPoolType::NodeIpConfiguration,
        }
    }

    /// The value of `loadBalancerBackendPoolConfigurationType` in cloud-provider-azure's configuration.
    pub fn cloud_provider_value(self) -> &'static str {
        match self {
            BackendPoolType::NodeIp => "nodeIP",
            BackendPoolType::NodeIpConfiguration => "nodeIPConfiguration",
        }
    }
}

impl std::str::FromStr for BackendPoolType {
    type Err = String;

    fn from_str(s: &str) -> Result<BackendPoolType, String> {
        match s {
            "NodeIP" => Ok(BackendPoolType::NodeIp),
            "NodeIPConfiguration" => Ok(BackendPoolType::NodeIpConfiguration),
            _ => {
                Err("backend_pool_type must be \"NodeIP\" or \"NodeIPConfiguration\".".to_string())
            }
        }
    }
}

impl std::fmt::Display for BackendPoolType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendPoolType::NodeIp => "NodeIP",
            BackendPoolType::NodeIpConfiguration => "NodeIPConfiguration",
        })
    }
}

crate::from_str_value!(BackendPoolType);

/// ARM IDs of one kind, decoded from configuration strings; a malformed one or one of another kind is an
/// error at its attribute that names the kind expected.
macro_rules! typed_id {
    ($($name:ident => $kind:expr),* $(,)?) => {$(
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub ResourceId);

        impl FromValue for $name {
            fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
                let text = String::from_value_at(value, path)?;
                ResourceId::parse_as(&text, $kind).map($name).map_err(|e| {
                    ValueError::at(
                        path.clone(),
                        format!("{e}; expected a {} ID.", $kind.type_name()),
                    )
                })
            }
        }
    )*};
}

typed_id!(
    SubnetId => ResourceKind::Subnet,
    AvailabilitySetId => ResourceKind::AvailabilitySet,
    NicId => ResourceKind::NetworkInterface,
);

/// `value` decoded, or the error as a diagnostic with `summary` (and the decoder's path and message).
pub fn reported<T>(
    decoded: Result<T, ValueError>,
    summary: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    decoded
        .map_err(|e| diags.push(Diagnostic::error(summary, e.message).at(e.path)))
        .ok()
}

/// A value when it is known and not null: what a check can look at.
fn present<T>(value: &Maybe<Option<T>>) -> Option<&T> {
    value.present()
}

/// One entry of `backend_sets`, as far as it is known.
#[derive(Debug, Clone, Default)]
pub struct BackendSet {
    pub id: Option<ResourceId>,
    pub nics: Option<Vec<ResourceId>>,
    pub nodes: Option<u64>,
    /// Given as a pool's availability set (so the fix for an oversized set is the pool's cap).
    pub from_pool: bool,
}

impl BackendSet {
    pub fn name(&self) -> Option<&str> {
        self.id.as_ref().map(ResourceId::name)
    }
}

/// A list of NIC IDs, each read from `field` of an element (a pool's `nodes[*].nic_id`) or from the element
/// itself (`nic_ids[*]`): None while the list or one of its IDs is unknown, or after a malformed ID (reported).
fn nic_list(
    value: &Value,
    at: &AttributePath,
    field: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Vec<ResourceId>> {
    let items = reported(
        Maybe::<Vec<Value>>::from_value_at(value, at),
        "Invalid backend set",
        diags,
    )?
    .into_known()?;
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let item_path = at.clone().index(j as i64);
        let decoded = match field {
            Some(f) => Fields::of(item, &item_path).and_then(|n| n.get::<Maybe<NicId>>(f)),
            None => Maybe::<NicId>::from_value_at(item, &item_path),
        };
        let nic = reported(decoded, "Invalid resource ID", diags)?.into_known()?;
        out.push(nic.0);
    }
    Some(out)
}

/// Interprets `backend_sets`, a list whose elements are a pool's availability sets (`id`, `nodes`) or
/// `{ availability_set_id, nic_ids }` objects: None when the list itself is not known yet. Problems with an
/// element are reported on it, and the other elements are still read.
pub fn backend_sets(value: &Value, diags: &mut Diagnostics) -> Option<Vec<BackendSet>> {
    let at = AttributePath::of("backend_sets");
    let Ok(list) = Maybe::<Vec<Value>>::from_value_at(value, &at) else {
        diags.push(
            Diagnostic::error(
                "backend_sets must be a list",
                "Pass a largek8s_pool's availability_sets, or a list of { availability_set_id, nic_ids } objects.",
            )
            .at(at),
        );
        return Some(Vec::new());
    };
    let items = list.into_known()?;
    let mut sets = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = at.clone().index(i as i64);
        if !item.is_known() {
            sets.push(BackendSet::default());
            continue;
        }
        let fields = Fields::of(item, &at).ok();
        let shape = fields.as_ref().map(|f| {
            (
                f.has("availability_set_id") && f.has("nic_ids"),
                f.has("id") && f.has("nodes"),
            )
        });
        let set = match (fields, shape) {
            (Some(f), Some((true, _))) => {
                let nics = nic_list(f.raw("nic_ids"), &f.path("nic_ids"), None, diags);
                let id = reported(
                    f.get::<Maybe<AvailabilitySetId>>("availability_set_id"),
                    "Invalid resource ID",
                    diags,
                );
                BackendSet {
                    id: id.and_then(Maybe::into_known).map(|id| id.0),
                    nodes: nics.as_ref().map(|n| n.len() as u64),
                    nics,
                    from_pool: false,
                }
            }
            (Some(f), Some((false, true))) => {
                let nics = nic_list(f.raw("nodes"), &f.path("nodes"), Some("nic_id"), diags);
                let counted = f
                    .get::<Maybe<Option<u64>>>("node_count")
                    .ok()
                    .and_then(|n| n.present().copied());
                let id = reported(
                    f.get::<Maybe<AvailabilitySetId>>("id"),
                    "Invalid resource ID",
                    diags,
                );
                BackendSet {
                    id: id.and_then(Maybe::into_known).map(|id| id.0),
                    nodes: nics.as_ref().map(|n| n.len() as u64).or(counted),
                    nics,
                    from_pool: true,
                }
            }
            (fields, _) => {
                let found = match fields {
                    Some(f) => f.names().collect::<Vec<_>>().join(", "),
                    None => item.kind().to_string(),
                };
                diags.push(
                    Diagnostic::error(
                        "Unrecognised backend set",
                        format!(
                            "Each element must be an availability set of a largek8s_pool (attributes id and nodes, as \
                             in largek8s_pool.NAME.availability_sets) or an object {{ availability_set_id = \"...\", \
                             nic_ids = [...] }}. This element has: {found}."
                        ),
                    )
                    .at(at),
                );
                continue;
            }
        };
        sets.push(set);
    }
    Some(sets)
}

/// The `backend_sets` of a planned or prior state.
pub fn backend_sets_of(state: &Value, diags: &mut Diagnostics) -> Option<Vec<BackendSet>> {
    backend_sets(Fields::root(state).ok()?.raw("backend_sets"), diags)
}

/// Whether `backend_sets` is in a pool's `availability_sets` form (sets with `nodes`).
pub fn pool_form(backend_sets_value: &Value) -> bool {
    backend_sets(backend_sets_value, &mut Diagnostics::new())
        .is_some_and(|sets| sets.iter().any(|set| set.from_pool))
}

/// Lower-cased NIC IDs by lower-cased availability set ID, as `backend_sets` has them; None when it does not
/// list every set's NICs.
pub fn membership_of(backend_sets_value: &Value) -> Option<BTreeMap<String, BTreeSet<String>>> {
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

/// `backend_sets` in the `{ availability_set_id, nic_ids }` form, sets ordered by ID and NICs sorted.
pub fn explicit_backend_sets(by_set: BTreeMap<String, Vec<String>>) -> Value {
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
    Value::Dynamic(Box::new(ty), Box::new(value))
}

/// A `rules` element as the configuration has it: any attribute may still be unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInput {
    pub name: Maybe<Option<String>>,
    pub protocol: Maybe<Option<String>>,
    pub frontend_port: Maybe<Option<Number>>,
    pub backend_port: Maybe<Option<Number>>,
    pub idle_timeout_in_minutes: Maybe<Option<Number>>,
    pub enable_floating_ip: Maybe<Option<bool>>,
    pub probe_name: Maybe<Option<String>>,
}

impl FromValue for RuleInput {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        Ok(RuleInput {
            name: f.get("name")?,
            protocol: f.get("protocol")?,
            frontend_port: f.get("frontend_port")?,
            backend_port: f.get("backend_port")?,
            idle_timeout_in_minutes: f.get("idle_timeout_in_minutes")?,
            enable_floating_ip: f.get("enable_floating_ip")?,
            probe_name: f.get("probe_name")?,
        })
    }
}

impl RuleInput {
    pub fn name(&self) -> Option<&str> {
        present(&self.name).map(String::as_str)
    }

    pub fn protocol(&self) -> Option<&str> {
        present(&self.protocol).map(String::as_str)
    }

    pub fn probe_name(&self) -> Option<&str> {
        present(&self.probe_name).map(String::as_str)
    }
}

/// A `probes` element as the configuration has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInput {
    pub name: Maybe<Option<String>>,
    pub protocol: Maybe<Option<String>>,
    pub port: Maybe<Option<Number>>,
    pub request_path: Maybe<Option<String>>,
    pub interval_in_seconds: Maybe<Option<Number>>,
    pub number_of_probes: Maybe<Option<Number>>,
}

impl FromValue for ProbeInput {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        Ok(ProbeInput {
            name: f.get("name")?,
            protocol: f.get("protocol")?,
            port: f.get("port")?,
            request_path: f.get("request_path")?,
            interval_in_seconds: f.get("interval_in_seconds")?,
            number_of_probes: f.get("number_of_probes")?,
        })
    }
}

impl ProbeInput {
    pub fn name(&self) -> Option<&str> {
        present(&self.name).map(String::as_str)
    }

    pub fn protocol(&self) -> Option<&str> {
        present(&self.protocol).map(String::as_str)
    }
}

/// The `dns` object as the configuration has it.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsInput {
    pub zone_name: Maybe<Option<String>>,
    pub zone_resource_group_name: Maybe<Option<String>>,
    pub record_name: Maybe<Option<String>>,
    pub ttl: Maybe<Option<Number>>,
}

impl FromValue for DnsInput {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        Ok(DnsInput {
            zone_name: f.get("zone_name")?,
            zone_resource_group_name: f.get("zone_resource_group_name")?,
            record_name: f.get("record_name")?,
            ttl: f.get("ttl")?,
        })
    }
}

/// A list attribute of objects whose elements may each be unknown, decoded as far as it is known: elements
/// keep their index, so a diagnostic about `rules[3]` points at the fourth rule even when the third is unknown.
pub type Entries<T> = Maybe<Option<Vec<Maybe<T>>>>;

/// The known elements of an `Entries` list with their index.
pub fn known_entries<T>(entries: &Entries<T>) -> impl Iterator<Item = (usize, &T)> {
    entries
        .present()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, entry)| Some((i, entry.known()?)))
}

/// A load-balancing rule with Azure's defaults filled in, so a configuration that spells a default out and one
/// that leaves it out compare equal.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub protocol: String,
    pub frontend_port: u64,
    pub backend_port: u64,
    pub idle_timeout: u64,
    pub floating_ip: bool,
    pub probe: Option<String>,
}

fn whole(number: &Maybe<Option<Number>>) -> Option<u64> {
    number.present().and_then(Number::to_u64)
}

impl Rule {
    fn of(input: &RuleInput) -> Rule {
        Rule {
            name: input.name().unwrap_or_default().to_string(),
            protocol: input.protocol().unwrap_or("Tcp").to_string(),
            frontend_port: whole(&input.frontend_port).unwrap_or(0),
            backend_port: whole(&input.backend_port).unwrap_or(0),
            idle_timeout: whole(&input.idle_timeout_in_minutes).unwrap_or(DEFAULT_IDLE_TIMEOUT),
            floating_ip: input.enable_floating_ip.present().copied().unwrap_or(false),
            probe: input.probe_name().map(str::to_string),
        }
    }
}

/// A health probe with Azure's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub name: String,
    pub protocol: String,
    pub port: u64,
    pub request_path: Option<String>,
    pub interval: u64,
    pub count: u64,
}

impl Probe {
    fn of(input: &ProbeInput) -> Probe {
        Probe {
            name: input.name().unwrap_or_default().to_string(),
            protocol: input.protocol().unwrap_or("Tcp").to_string(),
            port: whole(&input.port).unwrap_or(0),
            request_path: input.request_path.present().cloned(),
            interval: whole(&input.interval_in_seconds).unwrap_or(DEFAULT_PROBE_INTERVAL),
            count: whole(&input.number_of_probes).unwrap_or(DEFAULT_PROBE_COUNT),
        }
    }
}

/// The DNS round-robin record, with the default TTL filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Dns {
    pub zone: String,
    pub zone_group: String,
    pub record: String,
    pub ttl: u64,
}

impl Dns {
    fn of(input: &DnsInput) -> Option<Dns> {
        Some(Dns {
            zone: present(&input.zone_name)?.clone(),
            zone_group: present(&input.zone_resource_group_name)?.clone(),
            record: present(&input.record_name)?.clone(),
            ttl: whole(&input.ttl).unwrap_or(DEFAULT_DNS_TTL),
        })
    }

    pub fn record_id(&self, subscription: &str) -> ResourceId {
        ResourceId::dns_a_record_set(subscription, &self.zone_group, &self.zone, &self.record)
    }
}

/// The rules of a `rules` value with defaults filled in (the known ones; None when it is not a rules list).
pub fn rules_of(value: &Value) -> Option<Vec<Rule>> {
    let entries = Entries::<RuleInput>::from_value(value).ok()?;
    Some(known_entries(&entries).map(|(_, r)| Rule::of(r)).collect())
}

/// The probes of a `probes` value with defaults filled in.
pub fn probes_of(value: &Value) -> Option<Vec<Probe>> {
    let entries = Entries::<ProbeInput>::from_value(value).ok()?;
    Some(known_entries(&entries).map(|(_, p)| Probe::of(p)).collect())
}

/// The record of a `dns` value, when it is set and complete.
pub fn dns_of(value: &Value) -> Option<Dns> {
    let dns = Maybe::<Option<DnsInput>>::from_value(value).ok()?;
    Dns::of(dns.present()?)
}

/// The DNS record a prior state recorded, when it had one.
pub fn prior_dns(prior: &Value) -> Option<Dns> {
    dns_of(Fields::root(prior).ok()?.raw("dns"))
}

/// The `timeouts` block: each operation's duration text as written, when set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeouts {
    pub by_op: BTreeMap<String, String>,
}

pub const OPERATIONS: [&str; 4] = ["create", "read", "update", "delete"];

impl FromValue for Timeouts {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        if !value.is_known() {
            return Ok(Timeouts::default());
        }
        let f = Fields::of(value, path)?;
        let mut by_op = BTreeMap::new();
        for op in OPERATIONS {
            if let Some(text) = f.get::<Maybe<Option<String>>>(op)?.present() {
                by_op.insert(op.to_string(), text.clone());
            }
        }
        Ok(Timeouts { by_op })
    }
}

/// The configuration (or a proposed or prior state) as validation and planning see it. Attributes that may
/// be unknown are `Maybe`; a value of the wrong form is reported once, where it is decoded, and reads as
/// unknown so that the checks that depend on it stay quiet.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: Maybe<Option<String>>,
    pub resource_group_name: Maybe<Option<String>>,
    pub sku: Maybe<Option<Sku>>,
    pub backend_pool_type: Maybe<Option<BackendPoolType>>,
    pub internal: Maybe<Option<bool>>,
    pub frontend_subnet_id: Maybe<Option<SubnetId>>,
    pub max_backend_nodes: Maybe<Option<Number>>,
    pub rules: Entries<RuleInput>,
    pub probes: Entries<ProbeInput>,
    pub dns: Maybe<Option<DnsInput>>,
    /// None while the list is not known.
    pub backend_sets: Option<Vec<BackendSet>>,
    pub timeouts: Timeouts,
}

impl Config {
    /// Decodes `value`, reporting every malformed attribute in `diags`.
    pub fn decode(value: &Value, diags: &mut Diagnostics) -> Config {
        let Ok(fields) = Fields::root(value) else {
            diags.push(Diagnostic::error(
                "Unexpected configuration",
                "The configuration is not an object.",
            ));
            return Config::unknown();
        };
        fn field<T: FromValue>(
            fields: &Fields<'_>,
            name: &str,
            summary: &str,
            diags: &mut Diagnostics,
        ) -> Maybe<T> {
            reported(fields.get::<Maybe<T>>(name), summary, diags).unwrap_or(Maybe::Unknown)
        }
        Config {
            name: field(&fields, "name", "Invalid name", diags),
            resource_group_name: field(
                &fields,
                "resource_group_name",
                "Invalid resource_group_name",
                diags,
            ),
            sku: field(&fields, "sku", "Unknown SKU", diags),
            backend_pool_type: field(
                &fields,
                "backend_pool_type",
                "Unknown backend_pool_type",
                diags,
            ),
            internal: field(&fields, "internal", "Invalid internal", diags),
            frontend_subnet_id: field(&fields, "frontend_subnet_id", "Invalid resource ID", diags),
            max_backend_nodes: field(
                &fields,
                "max_backend_nodes",
                "max_backend_nodes out of range",
                diags,
            ),
            rules: field(&fields, "rules", "Invalid rules", diags),
            probes: field(&fields, "probes", "Invalid probes", diags),
            dns: field(&fields, "dns", "Invalid dns", diags),
            backend_sets: backend_sets(fields.raw("backend_sets"), diags),
            timeouts: reported(fields.get("timeouts"), "Invalid timeouts", diags)
                .unwrap_or_default(),
        }
    }

    /// A configuration of which nothing is known.
    fn unknown() -> Config {
        Config {
            name: Maybe::Unknown,
            resource_group_name: Maybe::Unknown,
            sku: Maybe::Unknown,
            backend_pool_type: Maybe::Unknown,
            internal: Maybe::Unknown,
            frontend_subnet_id: Maybe::Unknown,
            max_backend_nodes: Maybe::Unknown,
            rules: Maybe::Unknown,
            probes: Maybe::Unknown,
            dns: Maybe::Unknown,
            backend_sets: None,
            timeouts: Timeouts::default(),
        }
    }

    /// The SKU when it is known: null means the default, Standard.
    pub fn sku(&self) -> Option<Sku> {
        self.sku.known().map(|sku| sku.unwrap_or(Sku::Standard))
    }
}

/// The group's settings once the configuration is fully known: what apply, read and import work from.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub group: ResourceId,
    pub location: String,
    pub sku: Sku,
    pub pool_type: BackendPoolType,
    pub internal: bool,
    pub subnet: Option<ResourceId>,
    pub cap: u64,
    pub rules: Vec<Rule>,
    pub probes: Vec<Probe>,
    pub dns: Option<Dns>,
    pub tags: BTreeMap<String, String>,
    pub timeouts: Timeouts,
}

impl Spec {
    /// Reads a planned or prior state whose inputs are known, in subscription `subscription`.
    pub fn decode(value: &Value, subscription: &str) -> Result<Spec, Diagnostics> {
        let missing = |e: ValueError| -> Diagnostics {
            let attr = e.path.to_string();
            Diagnostic::error(
                "Value not known",
                format!("{attr} must be known to apply this group."),
            )
            .at(e.path)
            .into()
        };
        let f = Fields::root(value).map_err(missing)?;
        let name: String = f.get("name").map_err(missing)?;
        let resource_group: String = f.get("resource_group_name").map_err(missing)?;
        let location: String = f.get("location").map_err(missing)?;
        let sku = f
            .get::<Option<Sku>>("sku")
            .map_err(missing)?
            .unwrap_or(Sku::Standard);
        // A state written before backend_pool_type existed is of a group whose members are NICs.
        let pool_type = f
            .get::<Option<BackendPoolType>>("backend_pool_type")
            .map_err(missing)?
            .unwrap_or(BackendPoolType::NodeIpConfiguration);
        let cap = f
            .get::<Maybe<Option<u64>>>("max_backend_nodes")
            .ok()
            .and_then(|c| c.present().copied())
            .unwrap_or(sku.default_backend());
        let mut diags = Diagnostics::new();
        let subnet = reported(
            f.get::<Maybe<Option<SubnetId>>>("frontend_subnet_id"),
            "Invalid resource ID",
            &mut diags,
        );
        let timeouts = reported(
            f.get::<Timeouts>("timeouts"),
            "Invalid timeouts",
            &mut diags,
        );
        if diags.has_errors() {
            return Err(diags);
        }
        let tags = f
            .get::<Maybe<Option<BTreeMap<String, Maybe<Option<String>>>>>>("tags")
            .ok()
            .and_then(Maybe::into_known)
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.into_known().flatten()?)))
            .collect();
        Ok(Spec {
            group: ResourceId::resource_group(subscription, resource_group),
            name,
            location,
            sku,
            pool_type,
            internal: f
                .get::<Maybe<Option<bool>>>("internal")
                .ok()
                .and_then(|i| i.present().copied())
                .unwrap_or(false),
            subnet: subnet.and_then(|s| s.into_known().flatten()).map(|s| s.0),
            cap,
            rules: rules_of(f.raw("rules")).unwrap_or_default(),
            probes: probes_of(f.raw("probes")).unwrap_or_default(),
            dns: dns_of(f.raw("dns")),
            tags,
            timeouts: timeouts.unwrap_or_default(),
        })
    }

    pub fn lb_name(&self, index: u64) -> String {
        format!("{}-lb-{index}", self.name)
    }

    pub fn lb_id(&self, index: u64) -> ResourceId {
        self.group
            .provider("Microsoft.Network", "loadBalancers", self.lb_name(index))
    }

    pub fn pip_id(&self, index: u64) -> ResourceId {
        self.group.provider(
            "Microsoft.Network",
            "publicIPAddresses",
            format!("{}-pip", self.lb_name(index)),
        )
    }

    /// The index a load balancer's name carries, when it is one of this group's.
    pub fn index_of(&self, lb_name: &str) -> Option<u64> {
        index_in(&self.name, lb_name)
    }

    pub fn dns_id(&self) -> Option<ResourceId> {
        self.dns
            .as_ref()
            .map(|d| d.record_id(self.group.subscription_id()))
    }

    /// The group's own ID (`.../providers/Largek8s.Network/lbGroups/<name>`), which import takes.
    pub fn group_id(&self) -> ResourceId {
        group_id(
            self.group.subscription_id(),
            self.group.resource_group_name().unwrap_or_default(),
            &self.name,
        )
    }
}

/// The index `lb_name` carries as a load balancer of group `group` (`<group>-lb-<index>`).
pub fn index_in(group: &str, lb_name: &str) -> Option<u64> {
    lb_name.strip_prefix(&format!("{group}-lb-"))?.parse().ok()
}

pub fn group_id(subscription: &str, resource_group: &str, name: &str) -> ResourceId {
    ResourceId::resource_group(subscription, resource_group).provider(
        "Largek8s.Network",
        "lbGroups",
        name,
    )
}

/// A `load_balancers` element of the state.
#[derive(Debug, Clone, PartialEq)]
pub struct LbEntry {
    pub name: String,
    pub id: String,
    pub availability_set_ids: Vec<String>,
    /// Unknown while planned for a load balancer apply creates; null when its frontend is gone (drift).
    pub frontend_ip: Maybe<Option<String>>,
    pub backend_node_count: u64,
}

impl FromValue for LbEntry {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        Ok(LbEntry {
            name: f.get("name")?,
            id: f.get_or("id", String::new())?,
            availability_set_ids: f.get_or("availability_set_ids", Vec::new())?,
            frontend_ip: f.get("frontend_ip")?,
            backend_node_count: f.get_or("backend_node_count", 0)?,
        })
    }
}

impl IntoValue for LbEntry {
    fn into_value(self) -> Value {
        Value::object([
            ("name", self.name.into_value()),
            ("id", self.id.into_value()),
            (
                "availability_set_ids",
                self.availability_set_ids.into_value(),
            ),
            ("frontend_ip", self.frontend_ip.into_value()),
            ("backend_node_count", self.backend_node_count.into_value()),
        ])
    }
}

/// The `load_balancers` a state records, or none when it records none (or is not a state of this resource).
pub fn recorded(state: &Value) -> Vec<LbEntry> {
    Fields::root(state)
        .and_then(|f| f.get::<Maybe<Option<Vec<LbEntry>>>>("load_balancers"))
        .ok()
        .and_then(Maybe::into_known)
        .flatten()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::tests::SET;
    use super::*;

    #[test]
    fn both_shapes_of_backend_sets_decode_to_the_same_sets() {
        let nic = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/web-0-0-nic";
        let explicit = Value::list([Value::object([
            ("availability_set_id", Value::string(SET)),
            ("nic_ids", Value::list([Value::string(nic)])),
        ])]);
        let pool = Value::list([Value::object([
            ("id", Value::string(SET)),
            ("node_count", Value::number(1u64)),
            (
                "nodes",
                Value::list([Value::object([("nic_id", Value::string(nic))])]),
            ),
        ])]);
        let mut diags = Diagnostics::new();
        let a = backend_sets(&explicit, &mut diags).expect("known");
        let b = backend_sets(&pool, &mut diags).expect("known");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(a[0].id, b[0].id);
        assert_eq!(a[0].nics, b[0].nics);
        assert!(!a[0].from_pool && b[0].from_pool);
        assert_eq!(membership_of(&explicit), membership_of(&pool));
    }

    #[test]
    fn a_nic_of_another_kind_is_reported_at_its_index() {
        let explicit = Value::list([Value::object([
            ("availability_set_id", Value::string(SET)),
            ("nic_ids", Value::list([Value::string(SET)])),
        ])]);
        let mut diags = Diagnostics::new();
        let sets = backend_sets(&explicit, &mut diags).expect("known");
        assert!(sets[0].nics.is_none());
        let error = diags.iter().next().expect("an error");
        assert_eq!(
            error.attribute,
            Some(
                AttributePath::of("backend_sets")
                    .index(0)
                    .attr("nic_ids")
                    .index(0)
            )
        );
        assert_eq!(error.summary, "Invalid resource ID");
        assert!(error.detail.contains("networkInterfaces"), "{error:?}");
    }

    #[test]
    fn rules_read_with_azures_defaults_so_spelled_out_defaults_compare_equal() {
        let rule = |idle: Value| {
            Value::list([Value::object([
                ("name", Value::string("http")),
                ("protocol", Value::string("Tcp")),
                ("frontend_port", Value::number(80u64)),
                ("backend_port", Value::number(80u64)),
                ("idle_timeout_in_minutes", idle),
            ])])
        };
        assert_eq!(
            rules_of(&rule(Value::Null)),
            rules_of(&rule(Value::number(4u64)))
        );
        assert_ne!(
            rules_of(&rule(Value::Null)),
            rules_of(&rule(Value::number(5u64)))
        );
    }

    #[test]
    fn load_balancer_entries_round_trip_through_state() {
        let entry = LbEntry {
            name: "web-lb-0".into(),
            id: "id".into(),
            availability_set_ids: vec![SET.into()],
            frontend_ip: Maybe::Known(Some("20.0.0.1".into())),
            backend_node_count: 3,
        };
        let state = Value::object([("load_balancers", Value::list([entry.clone().into_value()]))]);
        assert_eq!(recorded(&state), vec![entry]);
        assert!(recorded(&Value::Null).is_empty());
    }
}
