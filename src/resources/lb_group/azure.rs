//! The group's ARM bodies and calls: load balancers with their frontend, rules and probes, public IPs, the DNS
//! record, and the order apply makes them in (load balancers, then membership, then deletions, then DNS).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::IgnoredAny;
use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::arm::client::{ArmClient, Conditions};
use crate::arm::error::ArmError;
use crate::arm::ids::ResourceId;
use crate::arm::models::{DNS_API_VERSION, NETWORK_API_VERSION};
use crate::arm::retry::Ctx;
use crate::tf::diagnostics::Diagnostic;
use crate::tf::value::Value;

use super::balancer::{BackendAddress, BackendPool, LoadBalancer, Write, WriteProperties};
use super::membership::apply_membership;
use super::plan::PlannedLb;
use super::spec::{
    self, BackendPoolType, BackendSet, Dns, Spec, CAP_TAG, DNS_RECORD_TAG, DNS_TTL_TAG,
    DNS_ZONE_GROUP_TAG, DNS_ZONE_TAG, GROUP_TAG,
};

/// The frontend every load balancer of a group has, and its backend pools: `nodes` holds NICs, `node-ips` holds
/// IP addresses; a load balancer has the one of its group's `backend_pool_type`, and both only while an apply
/// moves its members from one to the other.
pub const FRONTEND: &str = "frontend";
pub const BACKEND_POOL: &str = "nodes";
pub const IP_POOL: &str = "node-ips";

pub fn api_error(summary: &str, e: &ArmError) -> Diagnostic {
    let code = e
        .api()
        .map(|a| format!(" (Azure error {})", a.code))
        .unwrap_or_default();
    Diagnostic::error(summary.to_string(), format!("{e}{code}"))
}

pub fn tags_json(settings: &Spec) -> Json {
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
pub fn is_own_tag(key: &str) -> bool {
    key.strip_prefix(GROUP_TAG)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The cap and DNS record a load balancer's tags recorded at create, for import.
pub fn recorded_settings(tags: &Json) -> (Option<u64>, Value) {
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

fn rules_json(settings: &Spec, lb_id: &ResourceId, pool: &str) -> (Json, Json) {
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
                "backendAddressPool": sub("backendAddressPools", pool),
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

/// Where an apply is in moving members between the two forms of backend pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before NIC writes: the pool of the form the group moves to is written beside the other one, and the rules
    /// go to whichever pool holds every node, so that no node is ever in neither form.
    Moving,
    /// After NIC writes: only the group's own form is left.
    Settled,
}

/// The backend pools a write leaves a load balancer with, and the pool its rules send traffic to.
#[derive(Debug, Clone)]
struct Pools<'a> {
    nic_pool: bool,
    ip_pool: Option<&'a [BackendAddress]>,
    rules_to: &'static str,
}

/// One backend pool as a write gives it: a NIC pool by name alone (NICs join it from their side), an IP pool with
/// its addresses.
#[derive(Serialize)]
struct PoolWrite<'a> {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<AddressesWrite<'a>>,
}

#[derive(Serialize)]
struct AddressesWrite<'a> {
    #[serde(rename = "loadBalancerBackendAddresses")]
    addresses: &'a [BackendAddress],
}

impl<'a> Pools<'a> {
    /// What load balancer `existing` (None when new) should have in `phase`, holding `addresses` by IP when the
    /// group is IP-based.
    fn for_phase(
        settings: &Spec,
        existing: Option<&'a LoadBalancer>,
        addresses: &'a [BackendAddress],
        phase: Phase,
    ) -> Pools<'a> {
        let pool = |name: &str| existing.and_then(|lb| lb.pool(name));
        match (settings.pool_type, phase) {
            (BackendPoolType::NodeIp, phase) => Pools {
                nic_pool: phase == Phase::Moving && pool(BACKEND_POOL).is_some(),
                ip_pool: Some(addresses),
                rules_to: IP_POOL,
            },
            (BackendPoolType::NodeIpConfiguration, Phase::Moving) => match pool(IP_POOL) {
                Some(ips) => Pools {
                    nic_pool: true,
                    ip_pool: Some(ips.addresses()),
                    rules_to: IP_POOL,
                },
                None => Pools {
                    nic_pool: true,
                    ip_pool: None,
                    rules_to: BACKEND_POOL,
                },
            },
            (BackendPoolType::NodeIpConfiguration, Phase::Settled) => Pools {
                nic_pool: true,
                ip_pool: None,
                rules_to: BACKEND_POOL,
            },
        }
    }

    fn written(&self) -> Vec<PoolWrite<'a>> {
        let nic_pool = self.nic_pool.then_some(PoolWrite {
            name: BACKEND_POOL,
            properties: None,
        });
        let ip_pool = self.ip_pool.map(|addresses| PoolWrite {
            name: IP_POOL,
            properties: Some(AddressesWrite { addresses }),
        });
        nic_pool.into_iter().chain(ip_pool).collect()
    }

    /// Whether load balancer pools `have` already are these: the same pools, holding the same addresses.
    fn same_as(&self, have: &[BackendPool]) -> bool {
        type Shape = BTreeMap<String, BTreeSet<(String, String, String)>>;
        let shape = |pools: &mut dyn Iterator<Item = (&str, &[BackendAddress])>| -> Shape {
            pools
                .map(|(name, addresses)| {
                    (
                        name.to_string(),
                        addresses.iter().map(BackendAddress::key).collect(),
                    )
                })
                .collect()
        };
        let want = self
            .nic_pool
            .then_some((BACKEND_POOL, &[][..]))
            .into_iter()
            .chain(self.ip_pool.map(|a| (IP_POOL, a)));
        shape(&mut have.iter().map(|p| (p.name.as_str(), p.addresses())))
            == shape(&mut want.into_iter())
    }
}

/// Creates the load balancer (and its public IP) or brings its frontend, rules, probes, backend pools and tags up
/// to date, in one write. An existing load balancer whose frontend is still the group's keeps it as it is, so its
/// IP never changes; what else it has (outbound rules, NAT rules...) is written back as read.
async fn ensure_lb(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    index: u64,
    addresses: &[BackendAddress],
    phase: Phase,
) -> Result<(), ArmError> {
    let lb_id = settings.lb_id(index);
    let path = lb_id.to_string();
    let existing = arm
        .get_optional::<LoadBalancer>(ctx, &path, NETWORK_API_VERSION)
        .await?;
    let lb = existing.as_ref().map(|lb| &lb.body);
    let pools = Pools::for_phase(settings, lb, addresses, phase);
    let (probes, rules) = rules_json(settings, &lb_id, pools.rules_to);
    let frontend = match lb {
        Some(lb) if frontend_is_ours(settings, index, lb) => None,
        _ => Some(ensure_frontend(arm, ctx, settings, index).await?),
    };
    let (mut top, mut props, conditions) = match &existing {
        Some(existing) => {
            let lb = &existing.body;
            let unchanged = frontend.is_none()
                && lb.property("probes").as_array().map_or(0, Vec::len) == settings.probes.len()
                && lb
                    .property("loadBalancingRules")
                    .as_array()
                    .map_or(0, Vec::len)
                    == settings.rules.len()
                && same_rules(lb, &probes, &rules)
                && pools.same_as(&lb.pools)
                && *lb.get("tags") == tags_json(settings);
            if unchanged {
                return Ok(());
            }
            (
                lb.top.clone(),
                lb.properties.clone(),
                Conditions::matching(existing.etag.clone()),
            )
        }
        None => {
            let mut top = serde_json::Map::new();
            top.insert("location".into(), json!(settings.location));
            top.insert("sku".into(), json!({ "name": settings.sku.as_str() }));
            (top, serde_json::Map::new(), Conditions::default())
        }
    };
    top.insert("tags".into(), tags_json(settings));
    props.insert("probes".into(), probes);
    props.insert("loadBalancingRules".into(), rules);
    if let Some(frontend) = frontend {
        props.insert(
            "frontendIPConfigurations".into(),
            json!([{ "name": FRONTEND, "properties": frontend }]),
        );
    }
    let body = Write {
        top: &top,
        properties: WriteProperties {
            rest: &props,
            pools: pools.written(),
        },
    };
    arm.put_and_wait::<_, IgnoredAny>(ctx, &path, NETWORK_API_VERSION, &body, &conditions)
        .await?;
    Ok(())
}

/// The properties of the group's frontend for load balancer `index`, creating its public IP first when the group
/// is public (a PUT of an existing Static public IP keeps its address).
async fn ensure_frontend(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
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
    arm.put_and_wait::<_, IgnoredAny>(
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
pub fn frontend_is_ours(settings: &Spec, index: u64, lb: &LoadBalancer) -> bool {
    let configs = lb
        .property("frontendIPConfigurations")
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
fn same_rules(lb: &LoadBalancer, probes: &Json, rules: &Json) -> bool {
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
    covers(lb.property("probes"), probes) && covers(lb.property("loadBalancingRules"), rules)
}

async fn put_dns(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    dns: &Dns,
    ips: &[String],
) -> Result<(), ArmError> {
    let id = dns.record_id(settings.group.subscription_id());
    let records: Vec<Json> = ips.iter().map(|ip| json!({ "ipv4Address": ip })).collect();
    let body = json!({ "properties": { "TTL": dns.ttl, "ARecords": records, "metadata": { GROUP_TAG: settings.name } } });
    arm.put_and_wait::<_, IgnoredAny>(
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
    settings: &Spec,
    index: u64,
) -> Result<(), ArmError> {
    let lb_id = settings.lb_id(index);
    if let Some(lb) = arm
        .get_optional::<LoadBalancer>(ctx, &lb_id.to_string(), NETWORK_API_VERSION)
        .await?
    {
        let leaving = lb
            .body
            .nic_members()
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
fn state_indices(state: &Value, settings: &Spec) -> BTreeSet<u64> {
    spec::recorded(state)
        .iter()
        .filter_map(|lb| settings.index_of(&lb.name))
        .collect()
}

/// The NICs each planned load balancer fronts (lower-cased ID -> ID), from the backend sets.
pub fn fronted_nics(
    planned: &[PlannedLb],
    sets: &[BackendSet],
) -> Vec<(u64, BTreeMap<String, ResourceId>)> {
    planned
        .iter()
        .map(|lb| {
            let ids: BTreeSet<String> = lb
                .sets
                .iter()
                .map(|id| id.to_string().to_ascii_lowercase())
                .collect();
            let nics = sets
                .iter()
                .filter(|set| {
                    set.id
                        .as_ref()
                        .is_some_and(|id| ids.contains(&id.to_string().to_ascii_lowercase()))
                })
                .flat_map(|set| set.nics.iter().flatten())
                .map(|nic| (nic.to_string().to_ascii_lowercase(), nic.clone()))
                .collect();
            (lb.index, nics)
        })
        .collect()
}

/// Brings the planned load balancers, their members (`fronted`, by IP with `addresses` for an IP-based group),
/// the deletions and the DNS record to what the plan says.
pub async fn create_or_update(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    prior: &Value,
    planned: &[PlannedLb],
    fronted: &[(u64, BTreeMap<String, ResourceId>)],
    addresses: &BTreeMap<u64, Vec<BackendAddress>>,
) -> Result<(), ArmError> {
    let none = Vec::new();
    for lb in planned {
        ctx.check("creating the group's load balancers")?;
        let addresses = addresses.get(&lb.index).unwrap_or(&none);
        ensure_lb(arm, ctx, settings, lb.index, addresses, Phase::Moving).await?;
    }
    // Desired NIC membership: for a NIC-based group, every NIC of every set joins its set's load balancer; for an
    // IP-based one, none.
    let mut desired: BTreeMap<String, (ResourceId, String)> = BTreeMap::new();
    if settings.pool_type == BackendPoolType::NodeIpConfiguration {
        for (index, nics) in fronted {
            let pool = format!(
                "{}/backendAddressPools/{BACKEND_POOL}",
                settings.lb_id(*index)
            );
            for (key, nic) in nics {
                desired.insert(key.clone(), (nic.clone(), pool.clone()));
            }
        }
    }
    // Current NIC membership, from the load balancers themselves: catches out-of-band joins and removed nodes.
    let mut changes = Vec::new();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    let mut bodies = Vec::new();
    for lb in planned {
        let lb_id = settings.lb_id(lb.index);
        let pool = format!("{lb_id}/backendAddressPools/{BACKEND_POOL}").to_ascii_lowercase();
        let body = arm
            .get::<LoadBalancer>(ctx, &lb_id.to_string(), NETWORK_API_VERSION)
            .await?
            .body;
        for nic in body.nic_members() {
            let key = nic.to_string().to_ascii_lowercase();
            if !desired.contains_key(&key) {
                changes.push((nic, None));
            }
            current.insert(key, pool.clone());
        }
        bodies.push((lb.index, body));
    }
    for (key, (nic, pool)) in &desired {
        if current.get(key) != Some(&pool.to_ascii_lowercase()) {
            changes.push((nic.clone(), Some(pool.clone())));
        }
    }
    // Leavers first, so a set moving between load balancers never sits in two pools at once.
    changes.sort_by_key(|(_, pool)| pool.is_some());
    apply_membership(arm, ctx, settings, changes).await?;
    for lb in planned {
        let addresses = addresses.get(&lb.index).unwrap_or(&none);
        ensure_lb(arm, ctx, settings, lb.index, addresses, Phase::Settled).await?;
    }
    let keep: BTreeSet<u64> = planned.iter().map(|lb| lb.index).collect();
    for index in state_indices(prior, settings).difference(&keep) {
        ctx.check("deleting load balancers no longer needed")?;
        delete_lb(arm, ctx, settings, *index).await?;
    }
    let old_dns = spec::prior_dns(prior);
    if let Some(old) = old_dns
        .as_ref()
        .filter(|old| Some(*old) != settings.dns.as_ref())
    {
        let same_record = settings.dns.as_ref().is_some_and(|new| {
            new.record_id(settings.group.subscription_id())
                == old.record_id(settings.group.subscription_id())
        });
        if !same_record {
            arm.delete_and_wait(
                ctx,
                &old.record_id(settings.group.subscription_id()).to_string(),
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

pub async fn delete(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
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
        let listed: Vec<LoadBalancer> = arm
            .list(
                ctx,
                &format!("{}/providers/Microsoft.Network/{kind}", settings.group),
                NETWORK_API_VERSION,
            )
            .await?;
        indices.extend(
            listed
                .iter()
                .filter(|r| r.get("tags")[GROUP_TAG].as_str() == Some(settings.name.as_str()))
                .filter_map(|r| {
                    let name = r.get("name").as_str()?;
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

/// The group's frontend IP on load balancer `lb`: None when the frontend is no longer the group's (drift) or has
/// no address yet.
pub async fn frontend_ip(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    index: u64,
    lb: &LoadBalancer,
) -> Result<Option<String>, ArmError> {
    if !frontend_is_ours(settings, index, lb) {
        return Ok(None);
    }
    if settings.internal {
        return Ok(
            lb.property("frontendIPConfigurations")[0]["properties"]["privateIPAddress"]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_record_the_cap_and_dns_for_import_apart_from_the_users_tags() {
        let settings = super::super::tests::spec_with_dns(None);
        let tags = tags_json(&settings);
        let (cap, dns) = recorded_settings(&tags);
        assert_eq!(cap, Some(700));
        assert_eq!(spec::dns_of(&dns), settings.dns);
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
        let settings = super::super::tests::spec_with_dns(Some(60));
        let pip = settings.pip_id(0).to_string();
        let lb = |props: Json| -> LoadBalancer {
            serde_json::from_value(json!({ "properties": {
                "frontendIPConfigurations": [{ "name": FRONTEND, "properties": props }],
            }}))
            .expect("a load balancer")
        };
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
        assert!(!frontend_is_ours(&settings, 0, &LoadBalancer::default()));
    }

    #[test]
    fn pools_compare_by_name_ip_and_network_in_any_case_and_write_only_what_a_write_gives() {
        let mut settings = super::super::tests::spec_with_dns(None);
        settings.pool_type = BackendPoolType::NodeIp;
        let vnet =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v";
        let addresses = [BackendAddress::new("nic-a", "10.0.0.4", vnet)];
        let read: LoadBalancer = serde_json::from_value(json!({ "properties": { "backendAddressPools": [
            { "name": BACKEND_POOL },
            { "name": IP_POOL, "properties": { "loadBalancerBackendAddresses": [{ "name": "NIC-A", "properties": {
                "ipAddress": "10.0.0.4",
                "virtualNetwork": { "id": vnet.to_ascii_uppercase() },
                "networkInterfaceIPConfiguration": { "id": "/x/ipConfigurations/primary" },
            }}]}},
        ]}}))
        .expect("a load balancer");
        // Moving to IP: the NIC pool stays beside the addresses until NICs have left it.
        let moving = Pools::for_phase(&settings, Some(&read), &addresses, Phase::Moving);
        assert!(moving.same_as(&read.pools));
        let settled = Pools::for_phase(&settings, Some(&read), &addresses, Phase::Settled);
        assert!(!settled.same_as(&read.pools));
        assert_eq!(
            serde_json::to_value(settled.written()).expect("encodes"),
            json!([{ "name": IP_POOL, "properties": { "loadBalancerBackendAddresses": [
                { "name": "nic-a", "properties": { "ipAddress": "10.0.0.4", "virtualNetwork": { "id": vnet } } },
            ]}}])
        );
        // Moving back to NICs: the addresses Azure holds are written back as they are, beside the NIC pool.
        settings.pool_type = BackendPoolType::NodeIpConfiguration;
        let back = Pools::for_phase(&settings, Some(&read), &[], Phase::Moving);
        assert!(back.same_as(&read.pools));
        assert_eq!(
            serde_json::to_value(back.written()).expect("encodes")[1]["properties"]
                ["loadBalancerBackendAddresses"][0]["properties"]["virtualNetwork"]["id"],
            vnet.to_ascii_uppercase()
        );
        let done = Pools::for_phase(&settings, Some(&read), &[], Phase::Settled);
        assert_eq!(
            serde_json::to_value(done.written()).expect("encodes"),
            json!([{ "name": BACKEND_POOL }])
        );
    }
}
