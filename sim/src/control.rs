//! The test control API under `/_sim/` (no authentication): stats (and starting a new measured run), state, reset,
//! faults, out-of-band edits, quota, clock, and ending operations that fault injection left running forever.

use crate::error::ArmError;
use crate::faults::FaultSpec;
use crate::http::{Reply, Request};
use crate::lro::Outcome;
use crate::rules;
use crate::sim::Sim;
use serde_json::{json, Value};

fn bad(message: impl Into<String>) -> Reply {
    Reply::error(&ArmError::bad_request("InvalidRequest", message))
}

/// Routes one control request.
pub fn handle(sim: &Sim, req: &Request) -> Reply {
    let route = req.path.trim_end_matches('/');
    match (req.method.as_str(), route) {
        ("GET", "/_sim/stats") => stats(sim),
        ("POST", "/_sim/stats/reset") => {
            *sim.stats() = crate::stats::Stats::default();
            sim.throttle().restart_run();
            Reply::json(200, &json!({ "reset": true }))
        }
        ("GET", "/_sim/state") => state(sim),
        ("POST", "/_sim/reset") => match sim.reset() {
            Ok(()) => Reply::json(200, &json!({ "reset": true })),
            Err(e) => bad(e),
        },
        ("GET", "/_sim/faults") => Reply::json(200, &sim.faults().list()),
        ("POST", "/_sim/faults") => add_faults(sim, req),
        ("DELETE", "/_sim/faults") => {
            sim.faults().clear();
            Reply::empty(204)
        }
        ("DELETE", "/_sim/resource") => delete_resource(sim, req),
        ("PUT", "/_sim/resource") => put_resource(sim, req),
        ("POST", "/_sim/quota") => quota(sim, req),
        ("POST", "/_sim/clock") => clock(sim, req),
        ("POST", "/_sim/operations/end-stuck") => end_stuck(sim, req),
        ("DELETE", "/_sim/stats/unavailable") => {
            sim.world_mut().availability.reset_peaks();
            Reply::empty(204)
        }
        ("POST", "/_sim/vm-sizes") => vm_sizes(sim, req),
        _ => Reply::error(&ArmError::new(
            404,
            "NotFound",
            format!("No control endpoint {} {}.", req.method, req.path),
        )),
    }
}

fn stats(sim: &Sim) -> Reply {
    let mut body = sim.stats().report();
    let throttling = sim.throttle().report(sim.clock.scale());
    body["throttled"] = throttling["throttled"].clone();
    body["throttling"] = throttling;
    let floor = sim.throttle().floor();
    body["run"] = sim.stats().run.report(floor, sim.clock.scale());
    body["unavailable"] = sim.world().availability.report();
    body["timeScale"] = json!(sim.clock.scale());
    body["simulatedTime"] = json!(crate::clock::rfc3339(sim.clock.now()));
    Reply::json(200, &body)
}

fn state(sim: &Sim) -> Reply {
    sim.settle();
    let w = sim.world();
    let resources: Vec<Value> = w
        .resources
        .values()
        .map(|r| json!({ "id": r.id, "type": r.resource_type, "etag": r.etag, "pending": r.pending, "body": rules::render(&w, r) }))
        .collect();
    let operations: Vec<Value> = w.ops.values().map(|o| o.document()).collect();
    Reply::json(
        200,
        &json!({
            "simulatedTime": crate::clock::rfc3339(sim.clock.now()),
            "vmLimit": w.persisted.vm_limit,
            "resources": resources,
            "operations": operations,
        }),
    )
}

fn add_faults(sim: &Sim, req: &Request) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return Reply::error(&e),
    };
    let specs = match body {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut ids = Vec::new();
    let mut faults = sim.faults();
    for s in specs {
        let spec: FaultSpec = match serde_json::from_value(s) {
            Ok(s) => s,
            Err(e) => return bad(format!("invalid fault rule: {e}")),
        };
        match faults.add(spec) {
            Ok(id) => ids.push(id),
            Err(e) => return bad(e),
        }
    }
    Reply::json(201, &json!({ "ids": ids }))
}

fn target_id(req: &Request) -> Result<String, Reply> {
    req.query("id")
        .map(str::to_string)
        .ok_or_else(|| bad("give the resource ID as ?id=..."))
}

/// Deletes a resource (with its children) as someone in the portal would: no rules, no operation, no throttling.
fn delete_resource(sim: &Sim, req: &Request) -> Reply {
    let id = match target_id(req) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let mut w = sim.world_mut();
    let key = id.to_ascii_lowercase();
    if w.get(&key).is_none() {
        return Reply::error(&ArmError::new(
            404,
            "ResourceNotFound",
            format!("{id} does not exist."),
        ));
    }
    w.delete_cascade(&key);
    drop(w);
    sim.mark_dirty();
    Reply::empty(200)
}

/// Replaces a resource's body (or creates it) bypassing Azure's rules.
fn put_resource(sim: &Sim, req: &Request) -> Reply {
    let id = match target_id(req) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return Reply::error(&e),
    };
    let mut w = sim.world_mut();
    if let Err(e) = sim.put_direct(&mut w, &id, body, false) {
        return Reply::error(&e);
    }
    let rendered = w
        .get(&id.to_ascii_lowercase())
        .map(|r| rules::render(&w, r))
        .unwrap_or(Value::Null);
    drop(w);
    sim.mark_dirty();
    Reply::json(200, &rendered)
}

fn quota(sim: &Sim, req: &Request) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return Reply::error(&e),
    };
    let limit = match &body["vm_limit"] {
        Value::Null => None,
        v => match v.as_u64() {
            Some(n) => Some(n as usize),
            None => return bad("vm_limit must be a non-negative integer or null"),
        },
    };
    sim.world_mut().persisted.vm_limit = limit;
    sim.mark_dirty();
    Reply::json(200, &json!({ "vm_limit": limit }))
}

fn clock(sim: &Sim, req: &Request) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return Reply::error(&e),
    };
    let Some(seconds) = body["advance_seconds"].as_f64().filter(|s| *s >= 0.0) else {
        return bad("advance_seconds must be a non-negative number");
    };
    sim.clock.advance(seconds);
    sim.settle();
    Reply::json(
        200,
        &json!({ "simulatedTime": crate::clock::rfc3339(sim.clock.now()) }),
    )
}

/// Ends the operations started with `asyncOutcome: Never`: body `{"outcome": "Failed" | "Canceled" |
/// "Succeeded", "code": ..., "message": ...}` (Failed by default, as Azure ends a stuck provisioning).
fn end_stuck(sim: &Sim, req: &Request) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return Reply::error(&e),
    };
    let text = |name: &str, default: &str| body[name].as_str().unwrap_or(default).to_string();
    let outcome = match body["outcome"].as_str().unwrap_or("Failed") {
        "Succeeded" => Outcome::Succeeded,
        "Canceled" => Outcome::Canceled,
        "Failed" => Outcome::Failed {
            code: text("code", "OSProvisioningTimedOut"),
            message: text(
                "message",
                "OS provisioning did not finish in the allotted time (ended by the simulator's control API).",
            ),
        },
        other => return bad(format!("outcome must be Failed, Canceled or Succeeded, not {other:?}")),
    };
    sim.settle();
    let ended = sim.world_mut().end_stuck(&outcome, sim.clock.now());
    sim.mark_dirty();
    Reply::json(200, &json!({ "ended": ended }))
}

/// Sets the VM sizes an availability set's hardware cluster offers: `{"availabilitySetId": "<id>" | "*", "sizes":
/// ["Standard_D2s_v5", ...]}` (`null` sizes go back to the default).
fn vm_sizes(sim: &Sim, req: &Request) -> Reply {
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return Reply::error(&e),
    };
    let Some(set) = body["availabilitySetId"]
        .as_str()
        .map(str::to_ascii_lowercase)
    else {
        return bad("availabilitySetId must be an availability set ID or \"*\"");
    };
    let sizes = match &body["sizes"] {
        Value::Null => None,
        Value::Array(items) => match items.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
            Some(names) => Some(names.into_iter().map(str::to_string).collect::<Vec<_>>()),
            None => return bad("sizes must be a list of VM size names"),
        },
        _ => return bad("sizes must be a list of VM size names or null"),
    };
    let mut w = sim.world_mut();
    match &sizes {
        Some(list) => {
            w.persisted.vm_sizes.insert(set.clone(), list.clone());
        }
        None => {
            w.persisted.vm_sizes.remove(&set);
        }
    }
    drop(w);
    sim.mark_dirty();
    Reply::json(200, &json!({ "availabilitySetId": set, "sizes": sizes }))
}
