//! Request counters by method, resource type and status, for `/_sim/stats`.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Counters since start (or the last reset).
#[derive(Debug, Default)]
pub struct Stats {
    counts: BTreeMap<(String, String, u16), u64>,
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
