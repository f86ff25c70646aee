//! ARM's generic resource operations: PUT, GET, PATCH, DELETE, lists with paging, and operation polling.

use crate::api_versions;
use crate::error::ArmError;
use crate::http::{Reply, Request};
use crate::ids::{ResourceId, Target, RESOURCE_GROUP_TYPE};
use crate::lro::{self, OpKind, Operation, Outcome};
use crate::rules::{self, PutCtx};
use crate::sim::Sim;
use crate::store::{new_etag, Resource, World};
use serde_json::{json, Value};

/// Types that carry no location of their own.
fn untracked(resource_type: &str) -> bool {
    let t = resource_type.to_ascii_lowercase();
    t.matches('/').count() > 1
        || t == "microsoft.authorization/roleassignments"
        || t == "microsoft.network/dnszones"
}

/// Sets the members ARM owns (id, name, type, normalised location) on a PUT body.
pub fn normalise(
    rid: &ResourceId,
    resource_type: &str,
    body: Value,
    old: Option<&Resource>,
) -> Result<Value, ArmError> {
    let mut body = match body {
        Value::Object(m) => Value::Object(m),
        _ => {
            return Err(ArmError::invalid_body(
                "The request content must be a JSON object.",
            ))
        }
    };
    body["id"] = json!(old.map(|o| o.id.as_str()).unwrap_or(&rid.id));
    body["name"] = json!(old
        .and_then(|o| o.body["name"].as_str())
        .unwrap_or(&rid.name));
    body["type"] = json!(resource_type);
    if !untracked(resource_type) {
        let Some(loc) = body["location"].as_str() else {
            return Err(ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            ));
        };
        let loc: String = loc
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(old) = old {
            let was = old.body["location"].as_str().unwrap_or("");
            if !was.is_empty() && was != loc {
                return Err(ArmError::bad_request(
                    "LocationNotAvailableForResourceType",
                    format!("The resource '{}' already exists in location '{was}'; a resource cannot move to '{loc}'.", rid.id),
                ));
            }
        }
        body["location"] = json!(loc);
    }
    if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("provisioningState");
    }
    Ok(body)
}

fn etag_reply(r: Reply, etag: &str) -> Reply {
    r.header("ETag", etag)
}

/// ARM's `If-Match` / `If-None-Match` handling.
fn preconditions(req: &Request, existing: Option<&Resource>) -> Result<(), ArmError> {
    if let Some(want) = req.header("if-match") {
        let ok = match existing {
            None => false,
            Some(r) => {
                want.trim() == "*"
                    || want.split(',').any(|w| {
                        w.trim() == r.etag
                            || w.trim().trim_start_matches("W/") == r.etag.trim_start_matches("W/")
                    })
            }
        };
        if !ok {
            return Err(ArmError::precondition_failed());
        }
    }
    if let Some(none) = req.header("if-none-match") {
        if none.trim() == "*" && existing.is_some() {
            return Err(ArmError::precondition_failed());
        }
    }
    Ok(())
}

fn busy(resource: &Resource, op: Option<&Operation>, sim: &Sim) -> ArmError {
    let network = resource
        .resource_type
        .to_ascii_lowercase()
        .starts_with("microsoft.network/");
    let op_name = match op.map(|o| o.kind) {
        Some(OpKind::Delete) => "Delete",
        _ => "Put",
    };
    let op_id = op.map(|o| o.id.as_str()).unwrap_or("");
    let wait = op
        .map(|o| (o.due - sim.clock.now()).clamp(1.0, 10.0))
        .unwrap_or(1.0);
    let real = sim.clock.to_real(wait);
    if network {
        ArmError::new(
            429,
            "RetryableErrorDueToAnotherOperation",
            format!("Operation {op_name} (id {op_id}) is updating resource {}. The call can be retried in {} seconds.", resource.id, real.ceil().max(1.0)),
        )
        .with_retry_after(real)
    } else {
        ArmError::conflict(
            "AnotherOperationInProgress",
            format!("Another operation on this or a dependent resource is in progress: {op_name} on {} (operation {op_id}). Retry when it has completed.", resource.id),
        )
    }
}

fn operation_urls(sim: &Sim, op: &Operation) -> (String, String) {
    let version = api_versions::for_namespace(&op.namespace).unwrap_or(api_versions::RESOURCES);
    let sub = op.resource_id.split('/').nth(2).unwrap_or("");
    let base = format!(
        "{}/subscriptions/{sub}/providers/{}/locations/{}",
        sim.base_url, op.namespace, op.location
    );
    (
        format!("{base}/operations/{}?api-version={version}", op.id),
        format!("{base}/operationResults/{}?api-version={version}", op.id),
    )
}

/// Real seconds a client should wait before polling an operation: [`lro::poll_after`] at the time scale.
fn poll_after(sim: &Sim, op: &Operation) -> f64 {
    sim.clock.to_real(lro::poll_after(op, sim.clock.now()))
}

/// Handles a request under `/subscriptions/`. `outcome` is an injected ending for the operation it starts.
pub fn handle(sim: &Sim, req: &Request, target: &Target, outcome: Option<Outcome>) -> Reply {
    let result = match target {
        Target::Collection {
            parent,
            resource_type,
            ..
        } => list(sim, req, parent, resource_type),
        Target::Resource(rid) => resource(sim, req, rid, outcome),
    };
    result.unwrap_or_else(|e| Reply::error(&e))
}

fn resource(
    sim: &Sim,
    req: &Request,
    rid: &ResourceId,
    outcome: Option<Outcome>,
) -> Result<Reply, ArmError> {
    let t = rid.resource_type.to_ascii_lowercase();
    if t.ends_with("/locations/operations") || t.ends_with("/locations/operationresults") {
        return operation(sim, req, rid, t.ends_with("operationresults"));
    }
    if t == SERVICE_ASSOCIATION_LINK {
        return delete_service_association_link(sim, req, rid, outcome);
    }
    let Some(served) = api_versions::served(&rid.resource_type) else {
        return embedded(sim, req, rid);
    };
    api_versions::check(
        req.query("api-version"),
        served.resource_type,
        served.api_version,
    )?;
    match req.method.as_str() {
        "GET" | "HEAD" => get(sim, req, rid),
        "PUT" => put(sim, req, rid, served.resource_type, outcome),
        "PATCH" => patch(sim, req, rid),
        "DELETE" => delete(sim, req, rid, outcome),
        m => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{m}' is not allowed on {}.", rid.id),
        )),
    }
}

fn missing(rid: &ResourceId) -> ArmError {
    if rid.resource_type == RESOURCE_GROUP_TYPE {
        ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{}' could not be found.", rid.name),
        )
    } else {
        let short = rid.resource_type.clone();
        ArmError::not_found(&short, &rid.name, rid.resource_group.as_deref())
    }
}

fn get(sim: &Sim, req: &Request, rid: &ResourceId) -> Result<Reply, ArmError> {
    sim.settle();
    let w = sim.world();
    let Some(r) = w.get(&rid.key()) else {
        return Err(missing(rid));
    };
    if req.method == "HEAD" {
        return Ok(Reply::empty(204));
    }
    let body = rules::render(&w, r);
    let reply = etag_reply(Reply::json(200, &body), &r.etag);
    // A client that waits for a provisioning resource by reading it (one it found mid-operation) learns when
    // to read again from the milliseconds header alone: ARM sends no Retry-After on a GET, and without it a
    // client falls back to its default interval, which the time scale cannot shrink.
    let pending = r.pending.as_ref().and_then(|id| w.ops.get(id));
    Ok(match pending {
        Some(op) => reply.retry_after_ms(poll_after(sim, op)),
        None => reply,
    })
}

fn put(
    sim: &Sim,
    req: &Request,
    rid: &ResourceId,
    resource_type: &str,
    outcome: Option<Outcome>,
) -> Result<Reply, ArmError> {
    let body = req.json()?;
    sim.settle();
    let now = sim.clock.now();
    let mut w = sim.world_mut();
    let key = rid.key();
    let old = w.get(&key).cloned();
    preconditions(req, old.as_ref())?;
    if let Some(o) = &old {
        if let Some(op_id) = &o.pending {
            return Err(busy(o, w.ops.get(op_id), sim));
        }
    }
    check_container(&w, rid)?;
    let body = normalise(rid, resource_type, body, old.as_ref())?;
    let ctx = PutCtx {
        world: &w,
        config: &sim.config,
        id: rid,
        old: old.as_ref(),
        now,
    };
    let mut prepared = rules::prepare_put(&ctx, body)?;
    let kind = if old.is_some() {
        OpKind::Update
    } else {
        OpKind::Create
    };
    let latency = lro::latency(resource_type, kind);
    let asynchronous = latency > 0.0 || outcome.is_some();
    if rules::reports_provisioning_state(resource_type) {
        let state = if asynchronous {
            lro::transient_state(resource_type, kind)
        } else {
            "Succeeded"
        };
        prepared.body["properties"]["provisioningState"] = json!(state);
    }
    let etag = new_etag(resource_type);
    let id = old
        .as_ref()
        .map(|o| o.id.clone())
        .unwrap_or_else(|| rid.id.clone());
    w.put(Resource {
        id: id.clone(),
        resource_type: resource_type.to_string(),
        body: prepared.body,
        etag: etag.clone(),
        pending: None,
    });
    for r in prepared.upserts {
        w.put(r);
    }
    for k in prepared.removals {
        w.delete_cascade(&k);
    }
    let status = if old.is_some() {
        200
    } else {
        rules::created_status(resource_type)
    };
    let mut extra = Vec::new();
    let mut poll_wait = None;
    if asynchronous {
        let op = new_operation(&w, rid, &id, kind, now, latency.max(1.0), outcome);
        let (status_url, _) = operation_urls(sim, &op);
        extra.push(("Azure-AsyncOperation".to_string(), status_url));
        let wait = poll_after(sim, &op);
        w.start(op);
        sim.note_due(&w);
        poll_wait = Some(wait);
    }
    let rendered = w
        .get(&key)
        .map(|r| rules::render(&w, r))
        .unwrap_or(Value::Null);
    drop(w);
    sim.mark_dirty();
    let mut reply = etag_reply(Reply::json(status, &rendered), &etag);
    for (k, v) in extra {
        reply = reply.header(&k, v);
    }
    if let Some(wait) = poll_wait {
        reply = reply.retry_after(wait);
    }
    Ok(reply)
}

fn location_of(w: &World, rid: &ResourceId, id: &str) -> String {
    w.get(&id.to_ascii_lowercase())
        .and_then(|r| r.body["location"].as_str())
        .or_else(|| {
            rid.resource_group
                .as_ref()
                .and_then(|rg| {
                    w.get(
                        &crate::ids::resource_group_id(&rid.subscription, rg).to_ascii_lowercase(),
                    )
                })
                .and_then(|r| r.body["location"].as_str())
        })
        .unwrap_or("global")
        .to_string()
}

fn new_operation(
    w: &World,
    rid: &ResourceId,
    id: &str,
    kind: OpKind,
    now: f64,
    latency: f64,
    outcome: Option<Outcome>,
) -> Operation {
    let outcome = outcome.unwrap_or(Outcome::Succeeded);
    let due = if outcome == Outcome::Never {
        f64::INFINITY
    } else {
        now + latency
    };
    Operation {
        id: crate::entropy::guid(),
        resource_key: id.to_ascii_lowercase(),
        resource_id: id.to_string(),
        namespace: rid.namespace().to_string(),
        location: location_of(w, rid, id),
        kind,
        started: now,
        due,
        outcome,
        finished: None,
    }
}

/// The resource group, parent resource or scope a PUT lands in must exist.
fn check_container(w: &World, rid: &ResourceId) -> Result<(), ArmError> {
    if rid.resource_type != RESOURCE_GROUP_TYPE {
        if let Some(rg) = &rid.resource_group {
            let rg_key = crate::ids::resource_group_id(&rid.subscription, rg).to_ascii_lowercase();
            match w.get(&rg_key) {
                None => {
                    return Err(ArmError::new(
                        404,
                        "ResourceGroupNotFound",
                        format!("Resource group '{rg}' could not be found."),
                    ));
                }
                Some(g) if g.provisioning_state() == "Deleting" => {
                    return Err(ArmError::conflict("ResourceGroupBeingDeleted", format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation.")));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(parent) = rid.parent_id() {
        if w.get(&parent.to_ascii_lowercase()).is_none() {
            let name = parent.rsplit('/').next().unwrap_or("");
            return Err(ArmError::new(404, "ParentResourceNotFound", format!("Can not perform requested operation on nested resource. Parent resource '{name}' not found.")));
        }
    }
    Ok(())
}

fn patch(sim: &Sim, req: &Request, rid: &ResourceId) -> Result<Reply, ArmError> {
    let body = req.json()?;
    sim.settle();
    let mut w = sim.world_mut();
    let key = rid.key();
    let Some(mut r) = w.get(&key).cloned() else {
        return Err(missing(rid));
    };
    preconditions(req, Some(&r))?;
    match &body["tags"] {
        Value::Object(_) => r.body["tags"] = body["tags"].clone(),
        Value::Null => {}
        _ => return Err(ArmError::invalid_body("tags must be an object.")),
    }
    r.etag = new_etag(&r.resource_type);
    let etag = r.etag.clone();
    w.put(r);
    let rendered = w
        .get(&key)
        .map(|r| rules::render(&w, r))
        .unwrap_or(Value::Null);
    drop(w);
    sim.mark_dirty();
    Ok(etag_reply(Reply::json(200, &rendered), &etag))
}

fn delete(
    sim: &Sim,
    req: &Request,
    rid: &ResourceId,
    outcome: Option<Outcome>,
) -> Result<Reply, ArmError> {
    sim.settle();
    let now = sim.clock.now();
    let mut w = sim.world_mut();
    let key = rid.key();
    let Some(r) = w.get(&key).cloned() else {
        return Ok(Reply::empty(204));
    };
    preconditions(req, Some(&r))?;
    if let Some(op_id) = &r.pending {
        let op = w.ops.get(op_id).cloned();
        if let Some(op) = op.clone().filter(|o| o.kind == OpKind::Delete) {
            let (status_url, location) = operation_urls(sim, &op);
            let wait = poll_after(sim, &op);
            return Ok(Reply::empty(202)
                .header("Location", location)
                .header("Azure-AsyncOperation", status_url)
                .retry_after(wait));
        }
        return Err(busy(&r, op.as_ref(), sim));
    }
    rules::check_delete(&w, &r)?;
    let latency = lro::latency(&r.resource_type, OpKind::Delete);
    if latency <= 0.0 && outcome.is_none() {
        // `RoleAssignments_Delete` answers 200 with the assignment it deleted; the other synchronous deletes
        // (availability sets, DNS) declare an empty 200.
        let gone = r
            .resource_type
            .eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments")
            .then(|| rules::render(&w, &r));
        w.delete_cascade(&key);
        drop(w);
        sim.mark_dirty();
        return Ok(match gone {
            Some(body) => Reply::json(200, &body),
            None => Reply::empty(200),
        });
    }
    let op = new_operation(
        &w,
        rid,
        &r.id,
        OpKind::Delete,
        now,
        latency.max(1.0),
        outcome,
    );
    let mut deleting = r.clone();
    deleting.body["properties"]["provisioningState"] = json!("Deleting");
    w.put(deleting);
    let reply = accepted(sim, &mut w, op);
    drop(w);
    sim.mark_dirty();
    Ok(reply)
}

/// Starts `op` and answers 202 with the headers a client polls it by.
fn accepted(sim: &Sim, w: &mut World, op: Operation) -> Reply {
    let (status_url, location) = operation_urls(sim, &op);
    let wait = poll_after(sim, &op);
    w.start(op);
    sim.note_due(w);
    Reply::empty(202)
        .header("Location", location)
        .header("Azure-AsyncOperation", status_url)
        .retry_after(wait)
}

/// ACI's extension resource on a subnet: `{subnetId}/providers/Microsoft.ContainerInstance/serviceAssociationLinks/default`.
const SERVICE_ASSOCIATION_LINK: &str = "microsoft.containerinstance/serviceassociationlinks";

/// `SubnetServiceAssociationLink_Delete`, ACI's only operation on the link: a long-running delete during which the
/// subnet is busy. The link goes when the delete is accepted, unless fault injection makes the operation fail.
fn delete_service_association_link(
    sim: &Sim,
    req: &Request,
    rid: &ResourceId,
    outcome: Option<Outcome>,
) -> Result<Reply, ArmError> {
    api_versions::check(
        req.query("api-version"),
        &rid.resource_type,
        api_versions::CONTAINER_INSTANCE,
    )?;
    if req.method != "DELETE" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The simulator serves only DELETE on {}.", rid.id),
        ));
    }
    if !rid.name.eq_ignore_ascii_case("default") {
        return Err(missing(rid));
    }
    sim.settle();
    let now = sim.clock.now();
    let mut w = sim.world_mut();
    let Some(unlinked) = rules::remove_link(&w, &rid.id)? else {
        return Ok(Reply::empty(204));
    };
    if let Some(op_id) = &unlinked.pending {
        return Err(busy(&unlinked, w.ops.get(op_id), sim));
    }
    let keep_link = matches!(
        outcome,
        Some(Outcome::Failed { .. } | Outcome::Canceled | Outcome::Never)
    );
    if !keep_link {
        w.put(unlinked.clone());
    }
    let latency = lro::latency(&rid.resource_type, OpKind::Delete);
    let op = new_operation(&w, rid, &unlinked.id, OpKind::Update, now, latency, outcome);
    let reply = accepted(sim, &mut w, op);
    drop(w);
    sim.mark_dirty();
    Ok(reply)
}

fn operation(sim: &Sim, req: &Request, rid: &ResourceId, results: bool) -> Result<Reply, ArmError> {
    if req.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            "Operations can only be read.",
        ));
    }
    let namespace = rid.namespace();
    let version = api_versions::for_namespace(namespace).ok_or_else(|| {
        ArmError::bad_request(
            "InvalidResourceNamespace",
            format!("The resource namespace '{namespace}' is invalid."),
        )
    })?;
    api_versions::check(
        req.query("api-version"),
        &format!("{namespace}/operations"),
        version,
    )?;
    sim.settle();
    let w = sim.world();
    let Some(op) = w.ops.get(&rid.name) else {
        return Err(ArmError::new(
            404,
            "OperationNotFound",
            format!("The operation '{}' could not be found.", rid.name),
        ));
    };
    if !results {
        let mut reply = Reply::json(200, &op.document());
        if op.status() == "InProgress" {
            reply = reply.retry_after(poll_after(sim, op));
        }
        return Ok(reply);
    }
    if op.status() == "InProgress" {
        let (_, location) = operation_urls(sim, op);
        return Ok(Reply::empty(202)
            .header("Location", location)
            .retry_after(poll_after(sim, op)));
    }
    if let Some(e) = op.terminal_error() {
        return Err(e);
    }
    if op.kind == OpKind::Delete {
        return Ok(Reply::empty(204));
    }
    match w.get(&op.resource_key) {
        Some(r) => Ok(etag_reply(Reply::json(200, &rules::render(&w, r)), &r.etag)),
        None => Ok(Reply::empty(204)),
    }
}

/// `GET` of a sub-resource kept inside its parent's body (a load balancer's backend pool, a NIC's IP configuration).
fn embedded(sim: &Sim, req: &Request, rid: &ResourceId) -> Result<Reply, ArmError> {
    let parent_type = rid
        .resource_type
        .rsplit_once('/')
        .map(|(p, _)| p)
        .unwrap_or("");
    let property = rules::embedded_child(parent_type, rid.leaf_type());
    let (Some(property), Some(parent_served)) = (property, api_versions::served(parent_type))
    else {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!("The resource type '{}' could not be found in the namespace '{}' for api version '{}'.", rid.resource_type.split_once('/').map(|(_, t)| t).unwrap_or(""), rid.namespace(), req.query("api-version").unwrap_or("")),
        ));
    };
    api_versions::check(
        req.query("api-version"),
        &rid.resource_type,
        parent_served.api_version,
    )?;
    if req.method != "GET" {
        return Err(ArmError::new(405, "MethodNotAllowed", format!("The simulator serves {} only as part of its parent resource; change it with a PUT of the parent.", rid.resource_type)));
    }
    sim.settle();
    let w = sim.world();
    let parent_id = rid.parent_id().unwrap_or_default();
    let parent = w
        .get(&parent_id.to_ascii_lowercase())
        .ok_or_else(|| missing(rid))?;
    let body = rules::render(&w, parent);
    body["properties"][property]
        .as_array()
        .and_then(|items| {
            items.iter().find(|i| {
                i["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&rid.name))
            })
        })
        .map(|item| Reply::json(200, item))
        .ok_or_else(|| ArmError::new(404, "NotFound", format!("Resource {} not found.", rid.id)))
}

fn list(sim: &Sim, req: &Request, parent: &str, resource_type: &str) -> Result<Reply, ArmError> {
    if resource_type.eq_ignore_ascii_case("Microsoft.Compute/availabilitySets/vmSizes") {
        api_versions::check(
            req.query("api-version"),
            resource_type,
            api_versions::COMPUTE,
        )?;
        sim.settle();
        let name = parent.rsplit('/').next().unwrap_or_default();
        let body = rules::list_available_sizes(&sim.world(), &parent.to_ascii_lowercase(), name)?;
        return Ok(Reply::json(200, &body));
    }
    let Some(served) = api_versions::served(resource_type) else {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!("The resource type '{resource_type}' could not be found."),
        ));
    };
    api_versions::check(
        req.query("api-version"),
        served.resource_type,
        served.api_version,
    )?;
    if req.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            "Collections can only be listed.",
        ));
    }
    let skip: usize = req
        .query("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page = sim.config.page_size;
    sim.settle();
    let w = sim.world();
    let parent_key = parent.to_ascii_lowercase();
    let type_lower = served.resource_type.to_ascii_lowercase();
    if parent_key.contains("/resourcegroups/")
        && !parent_key.contains("/providers/")
        && w.get(&parent_key).is_none()
    {
        let rg = parent.rsplit('/').next().unwrap_or("");
        return Err(ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        ));
    }
    let mut matched = w.children(&parent_key, &type_lower);
    let mut items: Vec<Value> = Vec::new();
    let mut more = false;
    for (i, r) in matched.by_ref().enumerate() {
        if i < skip {
            continue;
        }
        if items.len() == page {
            more = true;
            break;
        }
        items.push(rules::render(&w, r));
    }
    let mut body = json!({ "value": items });
    if more {
        let version = served.api_version;
        body["nextLink"] = json!(format!(
            "{}{}?api-version={version}&$skiptoken={}",
            sim.base_url,
            req.path,
            skip + page
        ));
    }
    Ok(Reply::json(200, &body))
}
