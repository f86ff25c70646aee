//! Network: virtual networks and subnets, NICs, public IPs and load balancers.

use super::{
    cut_before, key, name_children, prop_array, props, require, str_at, Prepared, PutCtx,
    ACI_DELEGATION,
};
use crate::cidr::{format_ip, parse_ip, Prefix};
use crate::config::BasicLb;
use crate::error::ArmError;
use crate::store::{OutRef, RefKind, Resource, World};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Code this simulator uses when a Basic load balancer's backend pool would mix availability sets. Azure's
/// message for this is documented ("... is using different Availability Set than other Virtual Machines connected to
/// the Load Balancer(s) ..."); its code is not, so this one is ours.
pub const BASIC_POOL_AVAILABILITY_SET_MISMATCH: &str =
    "VirtualMachinesInBasicLoadBalancerMustBeInSameAvailabilitySet";
/// Code for a Basic backend pool over its size limit (chosen by this simulator).
pub const BASIC_POOL_FULL: &str = "BasicLoadBalancerBackendPoolLimitReached";
/// Code for new Basic load balancers with `--basic-lb deny`, by analogy with Azure's public IP code
/// `IPv4BasicSkuPublicIpCountLimitReached`.
pub const BASIC_LB_RETIRED: &str = "BasicSkuLoadBalancerCountLimitReached";
/// Code for a NIC in a subnet delegated to a service (chosen by this simulator).
pub const NIC_IN_DELEGATED_SUBNET: &str = "NetworkInterfaceCannotUseDelegatedSubnet";

/// Azure's code for a backend pool that would hold NIC members and IP addresses at once
/// (https://learn.microsoft.com/azure/load-balancer/backend-pool-management#limitations; the code as reported in
/// https://github.com/hashicorp/terraform-provider-azurerm/issues/25962).
pub const MIXED_BACKEND_POOL: &str =
    "CannotMixIPBasedAddressesAndIPConfigurationsOnLoadBalancerBackendAddressPool";
/// Code for backend addresses on a Basic load balancer, which has no IP-based pools (chosen by this simulator).
pub const IP_POOL_ON_BASIC: &str = "IpBasedBackendAddressPoolRequiresStandardSku";
/// Code for backend addresses outside the load balancer's virtual network (chosen by this simulator).
pub const IP_POOL_OUTSIDE_VNET: &str = "BackendAddressesMustBeInLoadBalancerVirtualNetwork";
/// Code for an inbound NAT rule on an IP-based backend pool (chosen by this simulator).
pub const NAT_RULE_ON_IP_POOL: &str = "InboundNatRuleCannotTargetIpBasedBackendAddressPool";

fn sku(body: &Value) -> String {
    body["sku"]["name"].as_str().unwrap_or("Basic").to_string()
}

fn is_basic(body: &Value) -> bool {
    sku(body).eq_ignore_ascii_case("Basic")
}

fn subnet_prefixes(body: &Value, owner: &str) -> Result<Vec<Prefix>, ArmError> {
    let p = &body["properties"];
    let mut texts: Vec<&str> = Vec::new();
    if let Some(one) = p["addressPrefix"].as_str() {
        texts.push(one);
    }
    if let Some(many) = p["addressPrefixes"].as_array() {
        texts.extend(many.iter().filter_map(Value::as_str));
    }
    if texts.is_empty() {
        return Err(ArmError::invalid_body(format!(
            "Subnet {owner} must have properties.addressPrefix or properties.addressPrefixes."
        )));
    }
    texts.into_iter().map(|t| Prefix::parse(t, owner)).collect()
}

fn delegated_services(body: &Value) -> Vec<String> {
    prop_array(body, "delegations")
        .iter()
        .filter_map(|d| d["properties"]["serviceName"].as_str().map(str::to_string))
        .collect()
}

// ---------- virtual networks and subnets ----------

fn vnet_prefixes(body: &Value, owner: &str) -> Result<Vec<Prefix>, ArmError> {
    let list = body
        .pointer("/properties/addressSpace/addressPrefixes")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ArmError::invalid_body(format!(
                "Virtual network {owner} must have properties.addressSpace.addressPrefixes."
            ))
        })?;
    list.iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| ArmError::invalid_body("addressPrefixes must be strings."))
                .and_then(|t| Prefix::parse(t, owner))
        })
        .collect()
}

/// Validates one subnet against its VNet's address space and its siblings.
fn validate_subnet(
    vnet_id: &str,
    vnet_space: &[Prefix],
    siblings: &[(String, Vec<Prefix>)],
    subnet_id: &str,
    name: &str,
    mut body: Value,
    old: Option<&Value>,
) -> Result<Value, ArmError> {
    let prefixes = subnet_prefixes(&body, subnet_id)?;
    let vnet_name = vnet_id.rsplit('/').next().unwrap_or(vnet_id);
    for p in &prefixes {
        if !vnet_space.iter().any(|s| s.contains_prefix(p)) {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                format!("Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'."),
            ));
        }
        if let Some((other, _)) = siblings
            .iter()
            .find(|(_, ps)| ps.iter().any(|q| q.overlaps(p)))
        {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangesOverlap",
                format!("Subnet '{name}' is not valid because its IP address range overlaps with that of an existing subnet '{other}' in virtual network '{vnet_name}'."),
            ));
        }
    }
    if let Some(ds) = body["properties"]["delegations"].as_array() {
        if ds
            .iter()
            .any(|d| d["properties"]["serviceName"].as_str().is_none())
        {
            return Err(ArmError::invalid_body(
                "Every delegation needs properties.serviceName.",
            ));
        }
    }
    name_children(&mut body, subnet_id, "delegations", "delegations")?;
    if let Some(ds) = body
        .pointer_mut("/properties/delegations")
        .and_then(Value::as_array_mut)
    {
        for d in ds {
            if d["properties"]["serviceName"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(ACI_DELEGATION))
            {
                d["properties"]["actions"] =
                    json!(["Microsoft.Network/virtualNetworks/subnets/action"]);
            }
            d["type"] = json!("Microsoft.Network/virtualNetworks/subnets/delegations");
        }
    }
    // Service association links are read-only: they survive any PUT and pin the delegation.
    let links = old
        .map(|o| o["properties"]["serviceAssociationLinks"].clone())
        .filter(|l| l.as_array().is_some_and(|a| !a.is_empty()));
    let p = props(&mut body);
    p.remove("ipConfigurations");
    p.remove("serviceAssociationLinks");
    if let Some(links) = links {
        let required: BTreeSet<String> = links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                l["properties"]["linkedResourceType"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        let services = delegated_services(&body);
        if let Some(missing) = required
            .iter()
            .find(|r| !services.iter().any(|s| s.eq_ignore_ascii_case(r)))
        {
            let link = links[0]["id"].as_str().unwrap_or("").to_string();
            return Err(ArmError::bad_request(
                "SubnetMissingRequiredDelegation",
                format!("Subnet {subnet_id} requires any of the following delegation(s) [{missing}] to reference service association link {link}."),
            ));
        }
        props(&mut body).insert("serviceAssociationLinks".into(), links);
    }
    Ok(body)
}

pub fn put_subnet(ctx: &PutCtx<'_>, body: Value) -> Result<Prepared, ArmError> {
    let Some(vnet_id) = ctx.id.parent_id() else {
        return Err(ArmError::invalid_body(
            "A subnet lives under a virtual network.",
        ));
    };
    let vnet_key = key(&vnet_id);
    let Some(vnet) = ctx.world.get(&vnet_key) else {
        return Err(ArmError::invalid_reference(&vnet_id, &ctx.id.id));
    };
    let space = vnet_prefixes(&vnet.body, &vnet.id)?;
    let me = ctx.id.key();
    let mut siblings = Vec::new();
    for s in ctx
        .world
        .children(&vnet_key, "microsoft.network/virtualnetworks/subnets")
    {
        if key(&s.id) != me {
            let name = s.id.rsplit('/').next().unwrap_or("").to_string();
            siblings.push((name, subnet_prefixes(&s.body, &s.id)?));
        }
    }
    let body = validate_subnet(
        &vnet.id,
        &space,
        &siblings,
        &ctx.id.id,
        &ctx.id.name,
        body,
        ctx.old.map(|o| &o.body),
    )?;
    Ok(Prepared::body(body))
}

/// A VNet PUT carries its subnets: listed ones are created or updated, missing ones deleted (as on Azure, a client
/// that leaves `subnets` out deletes them, or fails if they are in use).
pub fn put_vnet(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let vnet_id = ctx.id.id.clone();
    let vnet_key = ctx.id.key();
    let space = vnet_prefixes(&body, &vnet_id)?;
    let listed: Vec<Value> = props(&mut body)
        .remove("subnets")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let mut parsed = Vec::new();
    for s in &listed {
        let name = s["name"]
            .as_str()
            .ok_or_else(|| ArmError::invalid_body("Every subnet needs a name."))?
            .to_string();
        let id = format!("{vnet_id}/subnets/{name}");
        parsed.push((name, subnet_prefixes(s, &id)?, s.clone(), id));
    }
    let mut upserts = Vec::new();
    for (i, (name, _, sbody, id)) in parsed.iter().enumerate() {
        let siblings: Vec<(String, Vec<Prefix>)> = parsed
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (n, p, _, _))| (n.clone(), p.clone()))
            .collect();
        let old = ctx.world.get(&key(id));
        let mut sb = json!({ "id": id, "name": name, "type": "Microsoft.Network/virtualNetworks/subnets", "properties": sbody["properties"].clone() });
        sb = validate_subnet(
            &vnet_id,
            &space,
            &siblings,
            id,
            name,
            sb,
            old.map(|o| &o.body),
        )?;
        sb["properties"]["provisioningState"] = json!("Succeeded");
        upserts.push(Resource {
            id: old.map(|o| o.id.clone()).unwrap_or_else(|| id.clone()),
            resource_type: "Microsoft.Network/virtualNetworks/subnets".into(),
            etag: crate::store::new_etag("Microsoft.Network/virtualNetworks/subnets"),
            pending: None,
            body: sb,
        });
    }
    let mut removals = Vec::new();
    for existing in ctx
        .world
        .children(&vnet_key, "microsoft.network/virtualnetworks/subnets")
    {
        let name = existing.id.rsplit('/').next().unwrap_or("");
        if !parsed.iter().any(|(n, ..)| n.eq_ignore_ascii_case(name)) {
            check_subnet_delete(ctx.world, existing)?;
            removals.push(key(&existing.id));
        } else {
            // A subnet that stays must still fit the (possibly changed) address space.
            let prefixes = subnet_prefixes(&existing.body, &existing.id)?;
            if prefixes
                .iter()
                .any(|p| !space.iter().any(|s| s.contains_prefix(p)))
                && !parsed.iter().any(|(n, ..)| n.eq_ignore_ascii_case(name))
            {
                return Err(ArmError::bad_request(
                    "NetcfgSubnetRangeOutsideVnet",
                    format!("Subnet '{name}' is outside the new address space."),
                ));
            }
        }
    }
    Ok(Prepared {
        body,
        upserts,
        removals,
    })
}

pub fn check_subnet_delete(world: &World, subnet: &Resource) -> Result<(), ArmError> {
    let name = subnet.id.rsplit('/').next().unwrap_or("");
    let link = subnet.body["properties"]["serviceAssociationLinks"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|l| l["id"].as_str().map(str::to_string));
    let user = link.or_else(|| {
        world
            .referrers(&key(&subnet.id), RefKind::IpConfigInSubnet)
            .next()
            .map(str::to_string)
    });
    match user {
        Some(user) => Err(ArmError::bad_request(
            "InUseSubnetCannotBeDeleted",
            format!("Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."),
        )),
        None => Ok(()),
    }
}

pub fn render_subnet(world: &World, r: &Resource, body: &mut Value) {
    body["etag"] = json!(r.etag);
    let configs: Vec<Value> = world
        .referrers(&key(&r.id), RefKind::IpConfigInSubnet)
        .map(|id| json!({ "id": id }))
        .collect();
    if !configs.is_empty() {
        props(body).insert("ipConfigurations".into(), Value::Array(configs));
    }
}

pub fn render_vnet(world: &World, r: &Resource, body: &mut Value) {
    let subnets: Vec<Value> = world
        .children(&key(&r.id), "microsoft.network/virtualnetworks/subnets")
        .map(|s| {
            let mut b = s.body.clone();
            render_subnet(world, s, &mut b);
            b
        })
        .collect();
    props(body).insert("subnets".into(), Value::Array(subnets));
}

// ---------- private addresses ----------

/// Gives an IP configuration (NIC or LB frontend) in a subnet its private address.
fn assign_private_ip(
    world: &World,
    config: &mut Value,
    subnet_id: &str,
    old_config: Option<&Value>,
    taken: &mut BTreeSet<u32>,
    mine: &BTreeSet<u32>,
) -> Result<(), ArmError> {
    let subnet_key = key(subnet_id);
    let Some(subnet) = world.get(&subnet_key) else {
        return Err(ArmError::invalid_reference(
            subnet_id,
            config["id"].as_str().unwrap_or(""),
        ));
    };
    let prefix = subnet_prefixes(&subnet.body, &subnet.id)?[0];
    let p = &mut config["properties"];
    let method = p["privateIPAllocationMethod"]
        .as_str()
        .unwrap_or("Dynamic")
        .to_string();
    let requested = p["privateIPAddress"].as_str().map(str::to_string);
    let used = world.used_ips(&subnet_key);
    let in_use_by_other = |ip: u32| {
        taken.contains(&ip) || (used.is_some_and(|u| u.contains(&ip)) && !mine.contains(&ip))
    };
    let ip = if method.eq_ignore_ascii_case("Static") {
        let text = requested.ok_or_else(|| {
            ArmError::invalid_body("A static IP configuration needs properties.privateIPAddress.")
        })?;
        let ip = parse_ip(&text).ok_or_else(|| {
            ArmError::bad_request(
                "InvalidPrivateIPAddress",
                format!("Private IP address {text} is not valid."),
            )
        })?;
        if !prefix.contains(ip) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressNotInSubnet",
                format!("IP configuration {} references the private IP address {text} which is not in the address range {prefix} of subnet {subnet_id}.", config["id"].as_str().unwrap_or("")),
            ));
        }
        if in_use_by_other(ip) {
            return Err(ArmError::bad_request(
                "PrivateIPAddressInUse",
                format!("IP configuration {} is using the private IP address {text} which is already allocated to another resource.", config["id"].as_str().unwrap_or("")),
            ));
        }
        ip
    } else {
        let kept = old_config
            .filter(|o| {
                o["properties"]["subnet"]["id"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(subnet_id))
            })
            .and_then(|o| o["properties"]["privateIPAddress"].as_str())
            .and_then(parse_ip)
            .filter(|ip| prefix.contains(*ip) && !taken.contains(ip));
        match kept {
            Some(ip) => ip,
            None => world.allocate_ip(&subnet_key, &prefix, taken, subnet_id)?,
        }
    };
    taken.insert(ip);
    let p = &mut config["properties"];
    p["privateIPAddress"] = json!(format_ip(ip));
    p["privateIPAllocationMethod"] = json!(if method.eq_ignore_ascii_case("Static") {
        "Static"
    } else {
        "Dynamic"
    });
    p["privateIPAddressVersion"] = json!("IPv4");
    Ok(())
}

pub fn held_addresses(r: &Resource) -> Vec<(String, u32)> {
    let configs = if r
        .resource_type
        .eq_ignore_ascii_case("Microsoft.Network/loadBalancers")
    {
        prop_array(&r.body, "frontendIPConfigurations")
    } else {
        prop_array(&r.body, "ipConfigurations")
    };
    configs
        .iter()
        .filter_map(|c| {
            let subnet = c["properties"]["subnet"]["id"].as_str()?;
            let ip = parse_ip(c["properties"]["privateIPAddress"].as_str()?)?;
            Some((key(subnet), ip))
        })
        .collect()
}

// ---------- network interfaces ----------

fn pool_lb(pool_id: &str) -> &str {
    cut_before(pool_id, "backendAddressPools")
}

fn nic_of_config(config_id: &str) -> &str {
    cut_before(config_id, "ipConfigurations")
}

fn lb_has_pool(lb: &Resource, pool_id: &str) -> bool {
    prop_array(&lb.body, "backendAddressPools").iter().any(|p| {
        p["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(pool_id))
    })
}

fn vm_avset(world: &World, vm_id: &str) -> Option<String> {
    world
        .get(&key(vm_id))
        .and_then(|vm| str_at(&vm.body, "/properties/availabilitySet/id").map(key))
}

/// Checks one Basic pool: members (other than `nic_key`'s) all in `avset`, and room for `adding` more.
fn check_basic_pool(
    world: &World,
    pool_id: &str,
    nic_key: &str,
    vm: Option<(&str, Option<&str>)>,
    adding: usize,
    limit: usize,
) -> Result<(), ArmError> {
    let pool_key = key(pool_id);
    let lb_id = pool_lb(pool_id);
    let others: Vec<&str> = world
        .referrers(&pool_key, RefKind::BackendPoolMember)
        .filter(|c| key(nic_of_config(c)) != nic_key)
        .collect();
    if others.len() + adding > limit {
        return Err(ArmError::bad_request(
            BASIC_POOL_FULL,
            format!("Backend address pool {pool_id} of Basic load balancer {lb_id} would hold {} IP configurations; a Basic load balancer's backend pool holds at most {limit}.", others.len() + adding),
        ));
    }
    let Some((vm_id, avset)) = vm else {
        return Ok(());
    };
    for config in others {
        let other_nic = key(nic_of_config(config));
        for other_vm in world.referrers(&other_nic, RefKind::NicOfVm) {
            if other_vm.eq_ignore_ascii_case(vm_id) {
                continue;
            }
            if vm_avset(world, other_vm).as_deref() != avset {
                return Err(ArmError::bad_request(
                    BASIC_POOL_AVAILABILITY_SET_MISMATCH,
                    format!("Virtual Machine {vm_id} is using different Availability Set than other Virtual Machines connected to the Load Balancer(s) {lb_id}."),
                ));
            }
        }
    }
    Ok(())
}

fn basic_pools_of(world: &World, nic_body: &Value) -> Vec<(String, usize)> {
    let mut pools: Vec<(String, usize)> = Vec::new();
    for c in prop_array(nic_body, "ipConfigurations") {
        for p in c["properties"]["loadBalancerBackendAddressPools"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(pool) = p["id"].as_str() else {
                continue;
            };
            let basic = world
                .get(&key(pool_lb(pool)))
                .is_some_and(|lb| is_basic(&lb.body));
            if !basic {
                continue;
            }
            match pools
                .iter_mut()
                .find(|(id, _)| id.eq_ignore_ascii_case(pool))
            {
                Some(entry) => entry.1 += 1,
                None => pools.push((pool.to_string(), 1)),
            }
        }
    }
    pools
}

/// The Basic-pool rules applied when a VM is created or updated with its NICs.
pub fn check_basic_pools_for_vm(
    world: &World,
    vm_id: &str,
    nics: &[String],
    avset: Option<&str>,
) -> Result<(), ArmError> {
    for nic in nics {
        let Some(n) = world.get(&key(nic)) else {
            continue;
        };
        for (pool, _) in basic_pools_of(world, &n.body) {
            // Limits were checked when the NIC joined; only the availability set is new information here.
            check_basic_pool(world, &pool, &key(nic), Some((vm_id, avset)), 0, usize::MAX)?;
        }
    }
    Ok(())
}

pub fn put_nic(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let world = ctx.world;
    let nic_id = ctx.id.id.clone();
    let nic_key = ctx.id.key();
    name_children(&mut body, &nic_id, "ipConfigurations", "ipConfigurations")?;
    let old_configs: Vec<Value> = ctx
        .old
        .map(|o| prop_array(&o.body, "ipConfigurations").to_vec())
        .unwrap_or_default();
    let mine: BTreeSet<u32> = ctx
        .old
        .map(|o| held_addresses(o).into_iter().map(|(_, ip)| ip).collect())
        .unwrap_or_default();
    let mut taken = BTreeSet::new();
    let count = prop_array(&body, "ipConfigurations").len();
    for i in 0..count {
        let config = &mut body["properties"]["ipConfigurations"][i];
        let config_id = config["id"].as_str().unwrap_or("").to_string();
        if count == 1 && config["properties"]["primary"].is_null() {
            config["properties"]["primary"] = json!(true);
        }
        let Some(subnet_id) = config["properties"]["subnet"]["id"]
            .as_str()
            .map(str::to_string)
        else {
            return Err(ArmError::bad_request(
                "IpConfigurationMustReferenceSubnet",
                format!("IP configuration {config_id} must reference a subnet."),
            ));
        };
        require(world, &subnet_id, &config_id)?;
        if let Some(subnet) = world.get(&key(&subnet_id)) {
            if let Some(service) = delegated_services(&subnet.body).first() {
                return Err(ArmError::bad_request(
                    NIC_IN_DELEGATED_SUBNET,
                    format!("Network interface {nic_id} cannot use subnet {subnet_id} because the subnet is delegated to {service}, which allows only that service's resources in it."),
                ));
            }
        }
        let old = old_configs.iter().find(|o| o["name"] == config["name"]);
        assign_private_ip(world, config, &subnet_id, old, &mut taken, &mine)?;
        for pool in config["properties"]["loadBalancerBackendAddressPools"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let pool_id = pool["id"].as_str().unwrap_or("");
            let lb = world.get(&key(pool_lb(pool_id)));
            if !lb.is_some_and(|lb| lb_has_pool(lb, pool_id)) {
                return Err(ArmError::invalid_reference(pool_id, &config_id));
            }
            let ip_based = lb.is_some_and(|lb| {
                prop_array(&lb.body, "backendAddressPools").iter().any(|p| {
                    p["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(pool_id))
                        && !backend_addresses(p).is_empty()
                })
            });
            if ip_based {
                return Err(ArmError::bad_request(
                    MIXED_BACKEND_POOL,
                    format!("IP configuration {config_id} cannot join backend pool {pool_id}, which holds IP addresses."),
                ));
            }
        }
        if let Some(pip) = config["properties"]["publicIPAddress"]["id"].as_str() {
            require(world, pip, &config_id)?;
        }
    }
    let vm = world.referrers(&nic_key, RefKind::NicOfVm).next();
    let avset = vm.and_then(|v| vm_avset(world, v));
    for (pool, adding) in basic_pools_of(world, &body) {
        check_basic_pool(
            world,
            &pool,
            &nic_key,
            vm.map(|v| (v, avset.as_deref())),
            adding,
            ctx.config.basic_lb_max_backend,
        )?;
    }
    props(&mut body).remove("virtualMachine");
    Ok(Prepared::body(body))
}

pub fn nic_references(r: &Resource) -> Vec<OutRef> {
    let mut out = Vec::new();
    for c in prop_array(&r.body, "ipConfigurations") {
        let source = c["id"].as_str().unwrap_or("").to_string();
        if let Some(s) = c["properties"]["subnet"]["id"].as_str() {
            out.push((RefKind::IpConfigInSubnet, key(s), source.clone()));
        }
        for p in c["properties"]["loadBalancerBackendAddressPools"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(pool) = p["id"].as_str() {
                out.push((RefKind::BackendPoolMember, key(pool), source.clone()));
            }
        }
        if let Some(pip) = c["properties"]["publicIPAddress"]["id"].as_str() {
            out.push((RefKind::PublicIpUser, key(pip), source.clone()));
        }
    }
    out
}

pub fn render_nic(world: &World, r: &Resource, body: &mut Value) {
    if let Some(vm) = world.referrers(&key(&r.id), RefKind::NicOfVm).next() {
        props(body).insert("virtualMachine".into(), json!({ "id": vm }));
    }
    let state = r.provisioning_state().to_string();
    if let Some(configs) = body
        .pointer_mut("/properties/ipConfigurations")
        .and_then(Value::as_array_mut)
    {
        for c in configs {
            c["properties"]["provisioningState"] = json!(state);
        }
    }
}

pub fn check_nic_delete(world: &World, r: &Resource) -> Result<(), ArmError> {
    match world.referrers(&key(&r.id), RefKind::NicOfVm).next() {
        Some(vm) => Err(ArmError::bad_request(
            "NicInUse",
            format!("Network Interface {} is used by existing resource {vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.", r.id),
        )),
        None => Ok(()),
    }
}

// ---------- public IPs ----------

pub fn put_public_ip(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    if body["sku"]["name"].is_null() {
        body["sku"] = json!({ "name": "Basic", "tier": "Regional" });
    }
    let basic = is_basic(&body);
    if basic && ctx.old.is_none() && ctx.config.basic_lb == BasicLb::Deny {
        return Err(ArmError::bad_request(
            "IPv4BasicSkuPublicIpCountLimitReached",
            "Cannot create more than 0 IPv4 Basic SKU public IP addresses for this subscription in this region.",
        ));
    }
    if let Some(old) = ctx.old {
        if !sku(&old.body).eq_ignore_ascii_case(&sku(&body)) {
            return Err(ArmError::bad_request(
                "PublicIPAddressSkuCannotBeChanged",
                format!(
                    "The SKU of public IP address {} cannot be changed from {} to {}.",
                    ctx.id.id,
                    sku(&old.body),
                    sku(&body)
                ),
            ));
        }
    }
    let p = props(&mut body);
    let method = p
        .get("publicIPAllocationMethod")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if basic {
                "Dynamic".into()
            } else {
                "Static".into()
            }
        });
    if !basic && !method.eq_ignore_ascii_case("Static") {
        return Err(ArmError::bad_request(
            "StandardSkuPublicIPAddressesMustBeStatic",
            format!(
                "Standard sku publicIp {} must have AllocationMethod set to Static.",
                ctx.id.id
            ),
        ));
    }
    p.insert("publicIPAllocationMethod".into(), json!(method));
    p.insert("publicIPAddressVersion".into(), json!("IPv4"));
    p.remove("ipConfiguration");
    let address = ctx
        .old
        .and_then(|o| {
            o.body["properties"]["ipAddress"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            // Deterministic per ID, in 20.0.0.0/8 like much of Azure's public space.
            let h = crate::entropy::keyed_digest("public-ip", &ctx.id.key());
            format_ip(0x1400_0000 | (h as u32 & 0x00ff_ffff))
        });
    p.insert("ipAddress".into(), json!(address));
    Ok(Prepared::body(body))
}

pub fn render_public_ip(world: &World, r: &Resource, body: &mut Value) {
    if let Some(user) = world.referrers(&key(&r.id), RefKind::PublicIpUser).next() {
        props(body).insert("ipConfiguration".into(), json!({ "id": user }));
    }
}

pub fn check_public_ip_delete(world: &World, r: &Resource) -> Result<(), ArmError> {
    match world.referrers(&key(&r.id), RefKind::PublicIpUser).next() {
        Some(user) => Err(ArmError::bad_request(
            "PublicIPAddressCannotBeDeleted",
            format!("Public IP address {} can not be deleted since it is still allocated to resource {user}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.", r.id),
        )),
        None => Ok(()),
    }
}

// ---------- load balancers ----------

const LB_CHILDREN: [&str; 6] = [
    "frontendIPConfigurations",
    "backendAddressPools",
    "probes",
    "loadBalancingRules",
    "inboundNatRules",
    "outboundRules",
];

pub fn put_load_balancer(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let world = ctx.world;
    let lb_id = ctx.id.id.clone();
    if body["sku"]["name"].is_null() {
        body["sku"] = json!({ "name": "Basic", "tier": "Regional" });
    }
    let lb_sku = sku(&body);
    if is_basic(&body) && ctx.old.is_none() && ctx.config.basic_lb == BasicLb::Deny {
        return Err(ArmError::bad_request(
            BASIC_LB_RETIRED,
            "Cannot create more than 0 Basic SKU load balancers for this subscription in this region. Basic SKU load balancers were retired on 30 September 2025; use the Standard SKU.",
        ));
    }
    for child in LB_CHILDREN {
        name_children(&mut body, &lb_id, child, child)?;
    }
    let child_ids: BTreeSet<String> = LB_CHILDREN
        .iter()
        .flat_map(|c| {
            prop_array(&body, c)
                .iter()
                .filter_map(|i| i["id"].as_str().map(key))
        })
        .collect();
    let old_frontends: Vec<Value> = ctx
        .old
        .map(|o| prop_array(&o.body, "frontendIPConfigurations").to_vec())
        .unwrap_or_default();
    let mine: BTreeSet<u32> = ctx
        .old
        .map(|o| held_addresses(o).into_iter().map(|(_, ip)| ip).collect())
        .unwrap_or_default();
    let mut taken = BTreeSet::new();
    let frontends = prop_array(&body, "frontendIPConfigurations").len();
    for i in 0..frontends {
        let fe = &mut body["properties"]["frontendIPConfigurations"][i];
        let fe_id = fe["id"].as_str().unwrap_or("").to_string();
        if let Some(pip_id) = fe["properties"]["publicIPAddress"]["id"]
            .as_str()
            .map(str::to_string)
        {
            let Some(pip) = world.get(&key(&pip_id)) else {
                return Err(ArmError::invalid_reference(&pip_id, &fe_id));
            };
            let pip_sku = sku(&pip.body);
            if !pip_sku.eq_ignore_ascii_case(&lb_sku) {
                return Err(ArmError::bad_request(
                    "PublicIPAndLBSkuDoNotMatch",
                    format!("{lb_sku} sku load balancer {lb_id} cannot reference {pip_sku} sku publicIP {pip_id}."),
                ));
            }
        }
        if let Some(subnet_id) = fe["properties"]["subnet"]["id"]
            .as_str()
            .map(str::to_string)
        {
            let old = old_frontends.iter().find(|o| o["name"] == fe["name"]);
            assign_private_ip(world, fe, &subnet_id, old, &mut taken, &mine)?;
        }
    }
    for rule_kind in ["loadBalancingRules", "inboundNatRules", "outboundRules"] {
        for rule in prop_array(&body, rule_kind) {
            let rule_id = rule["id"].as_str().unwrap_or("");
            let p = &rule["properties"];
            let refs = [
                p["frontendIPConfiguration"]["id"].as_str(),
                p["backendAddressPool"]["id"].as_str(),
                p["probe"]["id"].as_str(),
            ];
            for target in refs.into_iter().flatten() {
                if !child_ids.contains(&key(target)) {
                    return Err(ArmError::invalid_reference(target, rule_id));
                }
            }
        }
    }
    check_ip_pools(world, &body)?;
    if let Some(pools) = body
        .pointer_mut("/properties/backendAddressPools")
        .and_then(Value::as_array_mut)
    {
        for pool in pools {
            if let Some(p) = pool.get_mut("properties").and_then(Value::as_object_mut) {
                p.remove("backendIPConfigurations");
            }
        }
    }
    Ok(Prepared::body(body))
}

/// A backend pool's addresses (`loadBalancerBackendAddresses`): empty for a pool of NICs.
fn backend_addresses(pool: &Value) -> &[Value] {
    pool["properties"]["loadBalancerBackendAddresses"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The limitations of IP-based backend pools
/// (https://learn.microsoft.com/azure/load-balancer/backend-pool-management#limitations): Standard load balancers
/// only; addresses in one virtual network, the load balancer's own when its frontend is in a subnet; no pool with
/// both NIC members and addresses; no inbound NAT rule on an IP-based pool.
fn check_ip_pools(world: &World, body: &Value) -> Result<(), ArmError> {
    let frontend_vnet = prop_array(body, "frontendIPConfigurations")
        .iter()
        .find_map(|fe| fe["properties"]["subnet"]["id"].as_str())
        .map(|subnet| key(cut_before(subnet, "subnets")));
    let mut ip_pools = BTreeSet::new();
    for pool in prop_array(body, "backendAddressPools") {
        let addresses = backend_addresses(pool);
        if addresses.is_empty() {
            continue;
        }
        let pool_id = pool["id"].as_str().unwrap_or("");
        if is_basic(body) {
            return Err(ArmError::bad_request(
                IP_POOL_ON_BASIC,
                format!("Backend address pool {pool_id} lists IP addresses, but IP-based backend pools need a Standard load balancer."),
            ));
        }
        if world.referrer_count(&key(pool_id), RefKind::BackendPoolMember) > 0 {
            return Err(ArmError::bad_request(
                MIXED_BACKEND_POOL,
                format!("Backend address pool {pool_id} has network interface IP configurations as members and cannot also hold IP addresses."),
            ));
        }
        let mut vnet = frontend_vnet.clone();
        for address in addresses {
            let p = &address["properties"];
            let ip = p["ipAddress"].as_str().unwrap_or("");
            if parse_ip(ip).is_none() {
                return Err(ArmError::bad_request(
                    "InvalidIPAddress",
                    format!(
                        "Backend address {:?} of pool {pool_id} has no valid ipAddress.",
                        address["name"]
                    ),
                ));
            }
            let Some(vnet_id) = p["virtualNetwork"]["id"].as_str() else {
                return Err(ArmError::bad_request(
                    "InvalidRequestFormat",
                    format!("Backend address {ip} of pool {pool_id} must name its virtualNetwork."),
                ));
            };
            require(world, vnet_id, pool_id)?;
            match &vnet {
                Some(expected) if *expected != key(vnet_id) => {
                    return Err(ArmError::bad_request(
                        IP_POOL_OUTSIDE_VNET,
                        format!("Backend address {ip} of pool {pool_id} is in virtual network {vnet_id}, but the pool's addresses must all be in the load balancer's virtual network {expected}."),
                    ))
                }
                Some(_) => {}
                None => vnet = Some(key(vnet_id)),
            }
        }
        ip_pools.insert(key(pool_id));
    }
    for nat in prop_array(body, "inboundNatRules") {
        if let Some(pool) = nat["properties"]["backendAddressPool"]["id"].as_str() {
            if ip_pools.contains(&key(pool)) {
                return Err(ArmError::bad_request(
                    NAT_RULE_ON_IP_POOL,
                    format!("Inbound NAT rule {} targets backend pool {pool}, which is IP-based; inbound NAT rules cannot target IP addresses.", nat["id"].as_str().unwrap_or("")),
                ));
            }
        }
    }
    Ok(())
}

/// Each private IP address of the NICs in `vnet_key`'s subnets, with the ID of the IP configuration holding it.
fn nic_configs_by_ip(world: &World, vnet_key: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for subnet in world.children(vnet_key, "microsoft.network/virtualnetworks/subnets") {
        for config in world.referrers(&key(&subnet.id), RefKind::IpConfigInSubnet) {
            let Some(nic) = world.get(&key(nic_of_config(config))) else {
                continue;
            };
            let ip = prop_array(&nic.body, "ipConfigurations")
                .iter()
                .find(|c| {
                    c["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(config))
                })
                .and_then(|c| c["properties"]["privateIPAddress"].as_str());
            if let Some(ip) = ip {
                out.insert(ip.to_string(), config.to_string());
            }
        }
    }
    out
}

pub fn lb_references(r: &Resource) -> Vec<OutRef> {
    let mut out = Vec::new();
    for fe in prop_array(&r.body, "frontendIPConfigurations") {
        let source = fe["id"].as_str().unwrap_or("").to_string();
        if let Some(pip) = fe["properties"]["publicIPAddress"]["id"].as_str() {
            out.push((RefKind::PublicIpUser, key(pip), source.clone()));
        }
        if let Some(s) = fe["properties"]["subnet"]["id"].as_str() {
            out.push((RefKind::IpConfigInSubnet, key(s), source.clone()));
        }
    }
    out
}

pub fn render_load_balancer(world: &World, body: &mut Value) {
    if let Some(pools) = body
        .pointer_mut("/properties/backendAddressPools")
        .and_then(Value::as_array_mut)
    {
        for pool in pools {
            let pool_key = pool["id"].as_str().map(key).unwrap_or_default();
            render_backend_addresses(world, pool);
            let members: Vec<Value> = world
                .referrers(&pool_key, RefKind::BackendPoolMember)
                .map(|id| json!({ "id": id }))
                .collect();
            pool["properties"]["backendIPConfigurations"] = Value::Array(members);
        }
    }
}

/// Gives each backend address the NIC IP configuration that holds its IP, as Azure reports it
/// (`networkInterfaceIPConfiguration`, read-only in the loadBalancers 2024-03-01 spec).
fn render_backend_addresses(world: &World, pool: &mut Value) {
    let Some(addresses) = pool
        .pointer_mut("/properties/loadBalancerBackendAddresses")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let mut by_vnet: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for address in addresses {
        let p = &mut address["properties"];
        let (Some(vnet), Some(ip)) = (
            p["virtualNetwork"]["id"].as_str().map(key),
            p["ipAddress"].as_str().map(str::to_string),
        ) else {
            continue;
        };
        let configs = by_vnet
            .entry(vnet.clone())
            .or_insert_with(|| nic_configs_by_ip(world, &vnet));
        match configs.get(&ip) {
            Some(config) => p["networkInterfaceIPConfiguration"] = json!({ "id": config }),
            None => {
                if let Some(props) = p.as_object_mut() {
                    props.remove("networkInterfaceIPConfiguration");
                }
            }
        }
    }
}
