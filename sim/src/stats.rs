//! Request counters by method, resource type and status, for `/_sim/stats`.

use serde_json::{json, Value};
use std::collections::BTreeMap;

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
}
