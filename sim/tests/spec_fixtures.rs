//! The kinds without a generated model answer in the shapes Azure's published REST examples show.
//!
//! Each fixture in `tests/fixtures` (sources in `tests/fixtures/README.md`) holds a request written like the
//! example's, the response shape the spec defines for it (property names, nesting, casing, JSON types), the
//! properties a response must carry, and the status codes and headers of each operation. A simulator response may
//! leave out what it does not model, but every property it sends must be one the fixture knows, spelled the same.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn fixture(name: &str) -> Value {
    let text = match name {
        "managed_cluster" => include_str!("fixtures/managed_cluster.json"),
        "role_assignment" => include_str!("fixtures/role_assignment.json"),
        "dns_zone" => include_str!("fixtures/dns_zone.json"),
        "dns_a_record_set" => include_str!("fixtures/dns_a_record_set.json"),
        "user_assigned_identity" => include_str!("fixtures/user_assigned_identity.json"),
        "service_association_link_delete" => {
            include_str!("fixtures/service_association_link_delete.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Every property path of a body with its JSON type; array items are `[]`, keys of open maps `*`.
fn shape(v: &Value, path: &str, open: &[String], out: &mut BTreeMap<String, &'static str>) {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(items) => {
            for item in items {
                shape(item, &format!("{path}[]"), open, out);
            }
            "array"
        }
        Value::Object(m) => {
            let is_open = open.iter().any(|o| o == path);
            for (k, child) in m {
                let key = if is_open { "*" } else { k.as_str() };
                shape(child, &format!("{path}.{key}"), open, out);
            }
            "object"
        }
    };
    if path != "$" {
        out.insert(path.to_string(), kind);
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// What is wrong with `body` against the fixture's shape `expected`, by path.
fn mismatches(fx: &Value, expected_key: &str, required_key: &str, body: &Value) -> Vec<String> {
    let open = strings(&fx["open_maps"]);
    let mut known = BTreeMap::new();
    shape(&fx[expected_key], "$", &open, &mut known);
    let mut sent = BTreeMap::new();
    shape(body, "$", &open, &mut sent);
    let mut out = Vec::new();
    for (path, kind) in &sent {
        match known.get(path) {
            Some(k) if k == kind => {}
            Some(k) => out.push(format!("{path} is a {kind}, the spec says {k}")),
            None => match known.keys().find(|p| p.eq_ignore_ascii_case(path)) {
                Some(spelled) => out.push(format!("{path} is spelled {spelled} in the spec")),
                None => out.push(format!("{path} is not in the published shape")),
            },
        }
    }
    for path in strings(&fx[required_key]) {
        if !sent.contains_key(&path) {
            out.push(format!("{path} is missing"));
        }
    }
    for (path, want) in fx["values"].as_object().into_iter().flatten() {
        let pointer = path.trim_start_matches('$').replace('.', "/");
        if body.pointer(&pointer) != Some(want) {
            out.push(format!(
                "{path} is {:?}, the spec says {want}",
                body.pointer(&pointer)
            ));
        }
    }
    out
}

fn assert_shape(fx: &Value, what: &str, body: &Value) {
    let wrong = mismatches(fx, "response", "required", body);
    assert!(
        wrong.is_empty(),
        "{} {what}:\n{}\nbody: {body}",
        fx["kind"],
        wrong.join("\n")
    );
}

fn status(fx: &Value, op: &str) -> u16 {
    fx["status"][op]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| panic!("{} has no status for {op}", fx["kind"]))
}

fn assert_headers(fx: &Value, op: &str, r: &Reply) {
    for h in strings(&fx["headers"][op]) {
        assert!(
            r.header(&h).is_some(),
            "{} {op} carries {h}: {:?}",
            fx["kind"],
            r.headers
        );
    }
}

/// The fixture's request with the placeholders filled in.
fn request(fx: &Value, fill: &[(&str, &str)]) -> Value {
    let mut text = fx["request"].to_string();
    for (k, v) in fill {
        text = text.replace(&format!("{{{k}}}"), v);
    }
    serde_json::from_str(&text).expect("filled request is JSON")
}

/// PUT (create, then update), GET, DELETE (then DELETE of the absent resource), each checked against the fixture.
async fn life(sim: &Sim, fx: &Value, id: &str, body: Value, settle: f64) {
    let version = fx["api_version"].as_str().expect("api_version");
    let r = sim.put(id, version, body.clone()).await;
    assert_eq!(r.status, status(fx, "create"), "create {id}: {}", r.body);
    assert_headers(fx, "create", &r);
    if let Some(state) = fx["creating_state"].as_str() {
        assert_eq!(r.body["properties"]["provisioningState"], state);
    }
    assert_shape(fx, "create", &r.body);
    sim.advance(settle).await;
    let g = sim.get(id, version).await;
    assert_eq!(g.status, status(fx, "get"));
    assert_shape(fx, "get", &g.body);
    let r = sim.put(id, version, body).await;
    assert_eq!(r.status, status(fx, "update"), "update {id}: {}", r.body);
    assert_shape(fx, "update", &r.body);
    sim.advance(settle).await;
    let d = sim.delete(id, version).await;
    assert_eq!(d.status, status(fx, "delete"), "delete {id}: {}", d.body);
    assert_headers(fx, "delete", &d);
    if fx["delete_returns_body"] == true {
        assert_shape(fx, "delete", &d.body);
    } else {
        assert_eq!(d.body, Value::Null, "{id}: the spec declares no body");
    }
    sim.advance(settle).await;
    let d = sim.delete(id, version).await;
    assert_eq!(d.status, status(fx, "delete_absent"), "delete absent {id}");
}

async fn aci_subnet(sim: &Sim) -> (String, String) {
    let nodes = sim.network("rg").await;
    let vnet = sim.id("rg", "Microsoft.Network/virtualNetworks", "vnet");
    let aci = format!("{vnet}/subnets/aci");
    sim.create(&aci, NET, json!({ "properties": { "addressPrefix": "10.0.16.0/24", "delegations": [{ "name": "aci", "properties": { "serviceName": "Microsoft.ContainerInstance/containerGroups" } }] } })).await;
    (nodes, aci)
}

#[tokio::test]
async fn managed_clusters_answer_as_aks_2024_05_01_does() {
    let sim = Sim::start().await;
    let fx = fixture("managed_cluster");
    let (nodes, _) = aci_subnet(&sim).await;
    let cluster = sim.id("rg", "Microsoft.ContainerService/managedClusters", "aks");
    life(
        &sim,
        &fx,
        &cluster,
        request(&fx, &[("nodes", &nodes)]),
        600.0,
    )
    .await;
}

#[tokio::test]
async fn user_assigned_identities_answer_as_managed_identity_2023_01_31_does() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let fx = fixture("user_assigned_identity");
    let id = sim.id(
        "rg",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "aciconnectorlinux-aks",
    );
    life(&sim, &fx, &id, request(&fx, &[]), 0.0).await;
}

#[tokio::test]
async fn role_assignments_answer_as_authorization_2022_04_01_does() {
    let sim = Sim::start().await;
    let fx = fixture("role_assignment");
    let subnet = sim.network("rg").await;
    let id = format!("{subnet}/providers/Microsoft.Authorization/roleAssignments/05c5a614-a7d6-4502-b150-c2fb455033ff");
    life(
        &sim,
        &fx,
        &id,
        request(&fx, &[("subscription", &sim.sub)]),
        0.0,
    )
    .await;
}

#[tokio::test]
async fn dns_zones_and_a_record_sets_answer_as_dns_2018_05_01_does() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let zone = sim.id("rg", "Microsoft.Network/dnsZones", "example.com");
    let zone_fx = fixture("dns_zone");
    let r = sim.put(&zone, DNS, request(&zone_fx, &[])).await;
    assert_eq!(r.status, status(&zone_fx, "create"));
    assert_shape(&zone_fx, "create", &r.body);
    let record_fx = fixture("dns_a_record_set");
    life(
        &sim,
        &record_fx,
        &format!("{zone}/A/record1"),
        request(&record_fx, &[]),
        0.0,
    )
    .await;
    assert_shape(&zone_fx, "get", &sim.get(&zone, DNS).await.body);
    let r = sim.put(&zone, DNS, request(&zone_fx, &[])).await;
    assert_eq!(r.status, status(&zone_fx, "update"));
    let d = sim.delete(&zone, DNS).await;
    assert_eq!(d.status, status(&zone_fx, "delete"));
    assert_eq!(
        sim.delete(&zone, DNS).await.status,
        status(&zone_fx, "delete_absent")
    );
}

#[tokio::test]
async fn service_association_link_delete_answers_as_container_instance_2023_05_01_does() {
    let sim = Sim::start().await;
    let fx = fixture("service_association_link_delete");
    let (nodes, aci) = aci_subnet(&sim).await;
    let cluster = sim.id("rg", "Microsoft.ContainerService/managedClusters", "aks");
    let aks = fixture("managed_cluster");
    sim.create(&cluster, AKS, request(&aks, &[("nodes", &nodes)]))
        .await;
    let link =
        format!("{aci}/providers/Microsoft.ContainerInstance/serviceAssociationLinks/default");
    let version = fx["api_version"].as_str().expect("api_version");
    let d = sim.delete(&link, version).await;
    assert_eq!(d.status, status(&fx, "delete"));
    assert_headers(&fx, "delete", &d);
    let poll = d
        .header("azure-asyncoperation")
        .expect("status URL")
        .to_string();
    sim.advance(600.0).await;
    let op = sim.call("GET", &sim.path_of(&poll), None, &[]).await;
    assert_eq!(op.status, 200);
    let wrong = mismatches(
        &fx,
        "operation_status",
        "operation_status_required",
        &op.body,
    );
    assert!(
        wrong.is_empty(),
        "operation status:\n{}\n{}",
        wrong.join("\n"),
        op.body
    );
    assert_eq!(
        sim.delete(&link, version).await.status,
        status(&fx, "delete_absent")
    );
}

#[test]
fn a_miscased_or_invented_property_is_named_by_its_path() {
    let fx = fixture("dns_a_record_set");
    let body = json!({ "id": "x", "etag": "e", "name": "r", "type": "Microsoft.Network/dnsZones/A", "properties": { "ttl": 5, "fqdn": "r.", "ARecords": [{ "ipv4Address": "1.2.3.4" }], "invented": true } });
    assert_eq!(
        mismatches(&fx, "response", "required", &body),
        [
            "$.properties.invented is not in the published shape",
            "$.properties.ttl is spelled $.properties.TTL in the spec",
            "$.properties.metadata is missing",
            "$.properties.TTL is missing",
        ]
    );
}
