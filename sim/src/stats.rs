//! Request counters by method, resource type and status, for `/_sim/stats`.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Counters since start (or the last reset).
#[derive(Debug, Default)]
pub struct Stats {
    counts: BTreeMap<(String, String, u16), u64>,
    /// The span of ARM traffic and its critical write, for the run's least time.
    pub run: Run,
}

/// The current run's ARM traffic on the simulated clock: from its first request to its last response, and the
/// write accepted last with the provisioning latency it started.
#[derive(Debug, Default)]
pub struct Run {
    first_request: Option<f64>,
    last_response: Option<f64>,
    /// (simulated time accepted, provisioning latency) of the write accepted last.
    last_write: Option<(f64, f64)>,
    /// The longest provisioning latency any write of the run started.
    longest_latency: f64,
}

impl Run {
    /// An ARM request arrived at simulated time `at`.
    pub fn request(&mut self, at: f64) {
        self.first_request.get_or_insert(at);
    }

    /// An ARM response left at simulated time `at`.
    pub fn response(&mut self, at: f64) {
        self.last_response = Some(self.last_response.map_or(at, |l| l.max(at)));
    }

    /// A write or delete was accepted at `at` and started an operation of `latency` simulated seconds (0 when
    /// it finished at once).
    pub fn write_accepted(&mut self, at: f64, latency: f64) {
        let latency = if latency.is_finite() {
            latency.max(0.0)
        } else {
            0.0
        };
        if self.last_write.is_none_or(|(t, _)| at >= t) {
            self.last_write = Some((at, latency));
        }
        self.longest_latency = self.longest_latency.max(latency);
    }

    /// Simulated seconds from the first request to the last response.
    pub fn simulated_seconds(&self) -> f64 {
        match (self.first_request, self.last_response) {
            (Some(a), Some(b)) => (b - a).max(0.0),
            _ => 0.0,
        }
    }

    /// The least simulated time any client needed for the run's writes, given the throttling `floor` (the
    /// least time from the first request in which they fit through the buckets): the last write cannot be
    /// accepted before the floor and the run has not ended before it has provisioned; nor before the longest
    /// operation has.
    pub fn least_seconds(&self, floor: f64) -> f64 {
        let last = self.last_write.map_or(0.0, |(_, l)| l);
        (floor + last).max(self.longest_latency)
    }

    /// The `run` section of `/_sim/stats`.
    pub fn report(&self, floor: f64, scale: f64) -> Value {
        let spent = self.simulated_seconds();
        let least = self.least_seconds(floor);
        json!({
            "since": self.first_request.map(crate::clock::rfc3339),
            "simulatedSeconds": spent,
            "realSeconds": spent / scale,
            "leastSimulatedSeconds": least,
            "floorSimulatedSeconds": floor,
            "lastWriteLatencySeconds": self.last_write.map_or(0.0, |(_, l)| l),
            "longestLatencySeconds": self.longest_latency,
            "ratio": if least > 0.0 { json!(spent / least) } else { Value::Null },
        })
    }
}

impl Stats {
    pub fn record(&mut self, method: &str, resource_type: &str, status: u16) {
        if let Some(n) =
            self.counts
                .get_mut(&(method.to_string(), resource_type.to_string(), status))
        {
            *n += 1;
        } else {
            self.counts
                .insert((method.to_string(), resource_type.to_string(), status), 1);
        }
    }

    pub fn report(&self) -> Value {
        let mut by_method: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        let mut total = 0;
        let requests: Vec<Value> = self
            .counts
            .iter()
            .map(|((m, t, s), n)| {
                *by_method.entry(m).or_default() += n;
                *by_type.entry(t).or_default() += n;
                *by_status.entry(s.to_string()).or_default() += n;
                total += n;
                json!({ "method": m, "resourceType": t, "status": s, "count": n })
            })
            .collect();
        json!({
            "total": total,
            "byMethod": by_method,
            "byResourceType": by_type,
            "byStatus": by_status,
            "requests": requests,
        })
    }
}

/// The `largek8s-pool` tag naming the pool a VM belongs to.
const POOL_TAG: &str = "largek8s-pool";

/// Per pool (the `largek8s-pool` tag of its VMs), the VMs that are absent or not `Succeeded`: now, and the most at
/// once since start or the last [`Availability::reset_peaks`]. A VM is down while its provisioning state is anything
/// but `Succeeded` (creating, updating, deleting, failed), and absent when it was deleted but its NIC stayed (a node
/// being replaced) until a VM takes that NIC again or the NIC goes.
#[derive(Debug, Default)]
pub struct Availability {
    /// VM key -> (pool, NIC keys) of the pools' VMs the world holds.
    vms: HashMap<String, (String, Vec<String>)>,
    /// Pool -> keys of its VMs down now.
    down: BTreeMap<String, BTreeSet<String>>,
    /// NIC key -> (pool, VM key) of a VM deleted while its NIC stayed.
    absent: HashMap<String, (String, String)>,
    peak: BTreeMap<String, usize>,
}

impl Availability {
    fn set_down(&mut self, pool: &str, vm: &str, down: bool) {
        let set = self.down.entry(pool.to_string()).or_default();
        if down {
            set.insert(vm.to_string());
        } else {
            set.remove(vm);
        }
    }

    fn sample(&mut self, pool: &str) {
        let now = self.down.get(pool).map_or(0, BTreeSet::len);
        let peak = self.peak.entry(pool.to_string()).or_default();
        *peak = (*peak).max(now);
    }

    /// A VM was stored (created, or its body or provisioning state changed).
    pub fn vm_stored(&mut self, key: &str, body: &Value) {
        let Some(pool) = body
            .pointer(&format!("/tags/{POOL_TAG}"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        else {
            return;
        };
        let nics: Vec<String> = body["properties"]["networkProfile"]["networkInterfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["id"].as_str().map(str::to_ascii_lowercase))
            .collect();
        for nic in &nics {
            if let Some((was_pool, vm)) = self.absent.remove(nic) {
                self.set_down(&was_pool, &vm, false);
            }
        }
        let succeeded = body["properties"]["provisioningState"]
            .as_str()
            .is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"));
        self.vms.insert(key.to_string(), (pool.clone(), nics));
        self.set_down(&pool, key, !succeeded);
        self.sample(&pool);
    }

    /// Resources left the world together (one delete with what went with it).
    pub fn removed(&mut self, keys: &[String]) {
        let gone: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        let mut touched = BTreeSet::new();
        for key in keys {
            let Some((pool, nics)) = self.vms.remove(key) else {
                continue;
            };
            let kept: Vec<&String> = nics.iter().filter(|n| !gone.contains(n.as_str())).collect();
            for nic in &kept {
                self.absent
                    .insert((*nic).clone(), (pool.clone(), key.clone()));
            }
            self.set_down(&pool, key, !kept.is_empty());
            touched.insert(pool);
        }
        for key in keys {
            if let Some((pool, vm)) = self.absent.remove(key) {
                self.set_down(&pool, &vm, false);
                touched.insert(pool);
            }
        }
        for pool in touched {
            self.sample(&pool);
        }
    }

    /// Starts the peaks afresh from what is down now.
    pub fn reset_peaks(&mut self) {
        self.peak = self
            .down
            .iter()
            .map(|(pool, vms)| (pool.clone(), vms.len()))
            .collect();
    }

    /// `{"<pool id>": {"now": n, "mostUnavailable": m}}`.
    pub fn report(&self) -> Value {
        let pools: serde_json::Map<String, Value> = self
            .peak
            .iter()
            .map(|(pool, peak)| {
                let now = self.down.get(pool).map_or(0, BTreeSet::len);
                (pool.clone(), json!({ "now": now, "mostUnavailable": peak }))
            })
            .collect();
        Value::Object(pools)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_time_is_the_floor_plus_the_last_writes_provisioning() {
        let mut run = Run::default();
        run.request(100.0);
        run.write_accepted(100.0, 60.0);
        run.write_accepted(130.0, 2.0);
        run.response(140.0);
        assert_eq!(run.simulated_seconds(), 40.0);
        // The last write (2 s) after a 30 s floor, but never less than the 60 s operation.
        assert_eq!(run.least_seconds(30.0), 60.0);
        assert_eq!(run.least_seconds(70.0), 72.0);
        let report = run.report(70.0, 10.0);
        assert_eq!(report["realSeconds"], json!(4.0));
        assert_eq!(report["leastSimulatedSeconds"], json!(72.0));
    }

    #[test]
    fn an_operation_that_never_ends_adds_no_latency() {
        let mut run = Run::default();
        run.write_accepted(5.0, f64::INFINITY);
        assert_eq!(run.least_seconds(1.0), 1.0);
    }

    fn vm(state: &str, nic: &str) -> Value {
        json!({
            "tags": { POOL_TAG: "/Pool/A" },
            "properties": {
                "provisioningState": state,
                "networkProfile": { "networkInterfaces": [{ "id": nic }] },
            },
        })
    }

    fn most(a: &Availability) -> (u64, u64) {
        let pool = &a.report()["/pool/a"];
        (
            pool["now"].as_u64().unwrap_or(99),
            pool["mostUnavailable"].as_u64().unwrap_or(99),
        )
    }

    #[test]
    fn a_node_is_away_from_its_vm_delete_until_a_new_vm_on_its_nic_succeeds() {
        let mut a = Availability::default();
        for n in ["vm1", "vm2"] {
            a.vm_stored(n, &vm("Creating", &format!("{n}-nic")));
            a.vm_stored(n, &vm("Succeeded", &format!("{n}-nic")));
        }
        a.reset_peaks();
        assert_eq!(most(&a), (0, 0));
        a.vm_stored("vm1", &vm("Deleting", "vm1-nic"));
        a.removed(&["vm1".to_string()]);
        assert_eq!(most(&a), (1, 1), "deleted, its NIC stays: absent");
        a.vm_stored("vm1", &vm("Creating", "VM1-NIC"));
        assert_eq!(
            most(&a),
            (1, 1),
            "being created on the same NIC: still one node away"
        );
        a.vm_stored("vm1", &vm("Succeeded", "vm1-nic"));
        assert_eq!(most(&a), (0, 1));
        a.vm_stored("vm2", &vm("Deleting", "vm2-nic"));
        a.removed(&["vm2".to_string(), "vm2-nic".to_string()]);
        assert_eq!(
            most(&a),
            (0, 1),
            "a VM deleted with its NIC is gone, not away"
        );
    }

    #[test]
    fn a_nic_deleted_after_its_vm_ends_the_absence() {
        let mut a = Availability::default();
        a.vm_stored("vm1", &vm("Succeeded", "nic1"));
        a.removed(&["vm1".to_string()]);
        assert_eq!(most(&a), (1, 1));
        a.removed(&["nic1".to_string()]);
        assert_eq!(most(&a), (0, 1));
        a.vm_stored(
            "other",
            &json!({"properties": {"provisioningState": "Creating"}}),
        );
        assert_eq!(
            a.report().as_object().map(|o| o.len()),
            Some(1),
            "untagged VMs are no pool's"
        );
    }
}
