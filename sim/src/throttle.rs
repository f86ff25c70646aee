//! The `azure-public` throttling model: ARM's subscription token buckets and the Network and Compute RP limits.
//!
//! Every bucket refills continuously on simulated time. The numbers follow Microsoft's published limits:
//! ARM subscription buckets (reads 250 refilled 25/s, writes 200 refilled 10/s, deletes 200 refilled 10/s;
//! <https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling>), the
//! Network RP's 1,000 PUT/DELETE per 5 minutes
//! (<https://learn.microsoft.com/azure/virtual-network/virtual-network-troubleshoot-throttling>), and the Compute
//! RP's PutVM policy (a 3-minute bucket of 1,500 refilled at 500/min and a 30-minute bucket of 12,000 refilled at
//! 400/min; <https://learn.microsoft.com/troubleshoot/azure/virtual-machines/troubleshooting-throttling-errors>).

use crate::config::ThrottleModel;
use crate::error::ArmError;
use serde_json::{json, Value};

/// A token bucket on simulated time.
#[derive(Debug, Clone)]
struct Bucket {
    name: &'static str,
    capacity: f64,
    /// Tokens per simulated second.
    rate: f64,
    tokens: f64,
    last: f64,
    /// A request refused with Retry-After may not come back before this simulated instant.
    blocked_until: f64,
    /// Requests accepted and refused since the current run began.
    accepted: u64,
    refused: u64,
    /// Tokens the bucket held when the current run began (its first request).
    run_tokens: f64,
}

impl Bucket {
    fn new(name: &'static str, capacity: f64, rate: f64, now: f64) -> Self {
        Self {
            name,
            capacity,
            rate,
            tokens: capacity,
            last: now,
            blocked_until: f64::MIN,
            accepted: 0,
            refused: 0,
            run_tokens: capacity,
        }
    }

    fn refill(&mut self, now: f64) {
        if now > self.last {
            self.tokens = (self.tokens + (now - self.last) * self.rate).min(self.capacity);
            self.last = now;
        }
    }

    /// Simulated seconds until this bucket admits one request, or zero.
    fn wait(&self, now: f64) -> f64 {
        // Tolerance for float rounding, so a client that waits exactly the advertised time is admitted.
        const EPSILON: f64 = 1e-9;
        let blocked = self.blocked_until - now;
        let blocked = if blocked > EPSILON { blocked } else { 0.0 };
        let empty = if self.tokens >= 1.0 - EPSILON {
            0.0
        } else {
            (1.0 - self.tokens) / self.rate
        };
        blocked.max(empty)
    }

    /// The least simulated time, from the start of the run, in which the run's `accepted` requests fit through
    /// this bucket: the tokens it held then go at once, the rest at the refill rate.
    fn floor(&self) -> f64 {
        ((self.accepted as f64 - self.run_tokens) / self.rate).max(0.0)
    }
}

/// Which buckets a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
    Delete,
}

impl Kind {
    pub fn of_method(method: &str) -> Self {
        match method {
            "GET" | "HEAD" => Kind::Read,
            "DELETE" => Kind::Delete,
            _ => Kind::Write,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Delete => "delete",
        }
    }
}

const READS: usize = 0;
const WRITES: usize = 1;
const DELETES: usize = 2;
const NETWORK: usize = 3;
const PUT_VM_3MIN: usize = 4;
const PUT_VM_30MIN: usize = 5;

/// Throttling state of one subscription.
#[derive(Debug)]
pub struct Throttle {
    model: ThrottleModel,
    buckets: Vec<Bucket>,
    throttled: u64,
    /// Whether the current run has had its first request (which notes the buckets' tokens).
    run_started: bool,
}

/// A refusal: the error to send and the simulated seconds to wait.
#[derive(Debug)]
pub struct Refusal {
    pub error: ArmError,
    pub wait_simulated: f64,
}

impl Throttle {
    pub fn new(model: ThrottleModel, now: f64) -> Self {
        let buckets = vec![
            Bucket::new("subscription-reads", 250.0, 25.0, now),
            Bucket::new("subscription-writes", 200.0, 10.0, now),
            Bucket::new("subscription-deletes", 200.0, 10.0, now),
            Bucket::new(
                "Microsoft.Network/PutDelete5Min",
                1000.0,
                1000.0 / 300.0,
                now,
            ),
            Bucket::new("Microsoft.Compute/PutVM3Min", 1500.0, 500.0 / 60.0, now),
            Bucket::new("Microsoft.Compute/PutVM30Min", 12000.0, 400.0 / 60.0, now),
        ];
        Self {
            model,
            buckets,
            throttled: 0,
            run_started: false,
        }
    }

    /// Starts a new run: counters go to zero and the floor is measured again from the next request, with the
    /// tokens the buckets hold then (they keep refilling and spending as before).
    pub fn restart_run(&mut self) {
        self.throttled = 0;
        self.run_started = false;
        for b in &mut self.buckets {
            b.accepted = 0;
            b.refused = 0;
        }
    }

    fn applicable(kind: Kind, resource_type: &str) -> ([usize; 3], usize) {
        let sub = match kind {
            Kind::Read => READS,
            Kind::Write => WRITES,
            Kind::Delete => DELETES,
        };
        let mut out = [sub, 0, 0];
        let mut n = 1;
        let network = resource_type
            .get(..18)
            .is_some_and(|p| p.eq_ignore_ascii_case("Microsoft.Network/"));
        let vm = resource_type.eq_ignore_ascii_case("Microsoft.Compute/virtualMachines");
        if kind != Kind::Read && network {
            out[1] = NETWORK;
            n = 2;
        } else if kind == Kind::Write && vm {
            out[1] = PUT_VM_3MIN;
            out[2] = PUT_VM_30MIN;
            n = 3;
        }
        (out, n)
    }

    /// Admits a request or refuses it; on success returns the rate-limit headers to send.
    pub fn admit(
        &mut self,
        now: f64,
        kind: Kind,
        resource_type: &str,
        subscription: &str,
        scale: f64,
    ) -> Result<Vec<(&'static str, String)>, Refusal> {
        if self.model == ThrottleModel::Off {
            return Ok(Vec::new());
        }
        if !self.run_started {
            self.run_started = true;
            for b in &mut self.buckets {
                b.refill(now);
                b.run_tokens = b.tokens;
            }
        }
        let (idx, n) = Self::applicable(kind, resource_type);
        let idx = &idx[..n];
        for &i in idx {
            self.buckets[i].refill(now);
        }
        let worst = idx
            .iter()
            .map(|&i| (i, self.buckets[i].wait(now)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, w)| *w > 0.0);
        if let Some((i, wait)) = worst {
            let b = &mut self.buckets[i];
            b.blocked_until = b.blocked_until.max(now + wait);
            b.refused += 1;
            self.throttled += 1;
            let error = refusal_error(i, b.name, kind, subscription, wait / scale);
            return Err(Refusal {
                error,
                wait_simulated: wait,
            });
        }
        for &i in idx {
            self.buckets[i].tokens -= 1.0;
            self.buckets[i].accepted += 1;
        }
        Ok(self.headers(kind, resource_type))
    }

    /// The `x-ms-ratelimit-remaining-*` headers for a request of this kind, without consuming anything.
    pub fn headers(&self, kind: Kind, resource_type: &str) -> Vec<(&'static str, String)> {
        if self.model == ThrottleModel::Off {
            return Vec::new();
        }
        let remaining = |i: usize| (self.buckets[i].tokens.max(0.0).floor() as u64).to_string();
        let mut h = vec![match kind {
            Kind::Read => (
                "x-ms-ratelimit-remaining-subscription-reads",
                remaining(READS),
            ),
            Kind::Write => (
                "x-ms-ratelimit-remaining-subscription-writes",
                remaining(WRITES),
            ),
            Kind::Delete => (
                "x-ms-ratelimit-remaining-subscription-deletes",
                remaining(DELETES),
            ),
        }];
        if resource_type
            .get(..18)
            .is_some_and(|p| p.eq_ignore_ascii_case("Microsoft.Compute/"))
        {
            h.push((
                "x-ms-ratelimit-remaining-resource",
                format!(
                    "Microsoft.Compute/PutVM3Min;{},Microsoft.Compute/PutVM30Min;{}",
                    remaining(PUT_VM_3MIN),
                    remaining(PUT_VM_30MIN)
                ),
            ));
        } else if resource_type
            .get(..18)
            .is_some_and(|p| p.eq_ignore_ascii_case("Microsoft.Network/"))
        {
            h.push((
                "x-ms-ratelimit-remaining-resource",
                format!("Microsoft.Network/PutDelete5Min;{}", remaining(NETWORK)),
            ));
        }
        h
    }

    /// The throttling floor of the run: the least simulated time from its first request in which its writes
    /// and deletes fit through every bucket they drew from. Reads are left out: how many a client needs
    /// (polls, refreshes) is its own choice, not the run's.
    pub fn floor(&self) -> f64 {
        if self.model == ThrottleModel::Off {
            return 0.0;
        }
        [WRITES, DELETES, NETWORK, PUT_VM_3MIN, PUT_VM_30MIN]
            .iter()
            .map(|&i| self.buckets[i].floor())
            .fold(0.0, f64::max)
    }

    /// Counters and the throttling floor, for `/_sim/stats`.
    pub fn report(&self, scale: f64) -> Value {
        if self.model == ThrottleModel::Off {
            return json!({ "model": "off", "throttled": 0, "floorSimulatedSeconds": 0.0, "floorRealSeconds": 0.0 });
        }
        let floor = self.floor();
        let buckets: Vec<Value> = self
            .buckets
            .iter()
            .map(|b| {
                json!({
                    "name": b.name,
                    "capacity": b.capacity,
                    "refillPerSecond": b.rate,
                    "remaining": b.tokens.max(0.0).floor(),
                    "accepted": b.accepted,
                    "refused": b.refused,
                    "floorSimulatedSeconds": b.floor(),
                })
            })
            .collect();
        json!({
            "model": "azure-public",
            "throttled": self.throttled,
            "floorSimulatedSeconds": floor,
            "floorRealSeconds": floor / scale,
            "buckets": buckets,
        })
    }
}

fn refusal_error(
    bucket: usize,
    name: &str,
    kind: Kind,
    subscription: &str,
    real_wait: f64,
) -> ArmError {
    let secs = real_wait.ceil().max(1.0) as u64;
    let e = match bucket {
        PUT_VM_3MIN | PUT_VM_30MIN => ArmError::new(
            429,
            "OperationNotAllowed",
            "The server rejected the request because too many requests have been received for this subscription.",
        )
        .with_detail(json!({
            "code": "TooManyRequests",
            "target": name.trim_start_matches("Microsoft.Compute/"),
            "message": format!("{{\"operationGroup\":\"{}\",\"startTime\":\"\",\"endTime\":\"\",\"allowedRequestCount\":0,\"measuredRequestCount\":0}}", name.trim_start_matches("Microsoft.Compute/")),
        })),
        NETWORK => ArmError::new(
            429,
            "TooManyRequests",
            format!("The request is being throttled as the limit has been reached for operation type - Write_PutDelete. Retry after {secs} seconds."),
        ),
        _ => ArmError::new(
            429,
            "SubscriptionRequestsThrottled",
            format!(
                "Number of '{}' requests for subscription '{subscription}' actor 'largek8s-sim' exceeded. Please try again after '{secs}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
                kind.word()
            ),
        ),
    };
    e.with_retry_after(real_wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VM: &str = "Microsoft.Compute/virtualMachines";

    #[test]
    fn write_bucket_refuses_the_201st_write_and_names_the_wait() {
        let mut t = Throttle::new(ThrottleModel::AzurePublic, 0.0);
        for _ in 0..200 {
            t.admit(
                0.0,
                Kind::Write,
                "Microsoft.Resources/resourceGroups",
                "s",
                1.0,
            )
            .expect("within capacity");
        }
        let r = t
            .admit(
                0.0,
                Kind::Write,
                "Microsoft.Resources/resourceGroups",
                "s",
                1.0,
            )
            .unwrap_err();
        assert_eq!(r.error.status, 429);
        assert_eq!(r.error.code, "SubscriptionRequestsThrottled");
        assert!(
            (r.wait_simulated - 0.1).abs() < 1e-9,
            "{}",
            r.wait_simulated
        );
        // Coming back before Retry-After passes is refused again, even though the bucket would hold 0.5 tokens.
        assert!(t
            .admit(
                0.05,
                Kind::Write,
                "Microsoft.Resources/resourceGroups",
                "s",
                1.0
            )
            .is_err());
        assert!(t
            .admit(
                0.1,
                Kind::Write,
                "Microsoft.Resources/resourceGroups",
                "s",
                1.0
            )
            .is_ok());
    }

    #[test]
    fn put_vm_bucket_reports_remaining_in_azure_shape() {
        let mut t = Throttle::new(ThrottleModel::AzurePublic, 0.0);
        let h = t.admit(0.0, Kind::Write, VM, "s", 1.0).expect("admitted");
        let resource = h
            .iter()
            .find(|(n, _)| *n == "x-ms-ratelimit-remaining-resource")
            .expect("resource header");
        assert_eq!(
            resource.1,
            "Microsoft.Compute/PutVM3Min;1499,Microsoft.Compute/PutVM30Min;11999"
        );
    }

    #[test]
    fn floor_is_the_time_the_binding_bucket_needs() {
        let mut t = Throttle::new(ThrottleModel::AzurePublic, 0.0);
        // 300 writes at t=1000 (full buckets): 100 over capacity at 10/s = 10 s.
        let mut now = 1000.0;
        let mut admitted = 0;
        while admitted < 300 {
            match t.admit(
                now,
                Kind::Write,
                "Microsoft.Resources/resourceGroups",
                "s",
                1.0,
            ) {
                Ok(_) => admitted += 1,
                Err(r) => now += r.wait_simulated,
            }
        }
        assert!((now - 1010.0).abs() < 1e-6, "{now}");
        let floor = t.report(1.0)["floorSimulatedSeconds"]
            .as_f64()
            .expect("number");
        assert!((floor - 10.0).abs() < 1e-9, "{floor}");
    }

    #[test]
    fn a_restarted_run_measures_its_floor_from_the_tokens_left() {
        let rg = "Microsoft.Resources/resourceGroups";
        let mut t = Throttle::new(ThrottleModel::AzurePublic, 0.0);
        for _ in 0..150 {
            t.admit(0.0, Kind::Write, rg, "s", 1.0)
                .expect("within capacity");
        }
        // 50 tokens left, and 2 s later 20 more: the next run's first 70 writes need no time, 100 need 3 s.
        t.restart_run();
        let mut now = 2.0;
        let mut admitted = 0;
        while admitted < 100 {
            match t.admit(now, Kind::Write, rg, "s", 1.0) {
                Ok(_) => admitted += 1,
                Err(r) => now += r.wait_simulated,
            }
        }
        assert!((t.floor() - 3.0).abs() < 1e-9, "{}", t.floor());
        assert!((now - 5.0).abs() < 1e-6, "{now}");
    }

    #[test]
    fn off_model_admits_everything_without_headers() {
        let mut t = Throttle::new(ThrottleModel::Off, 0.0);
        for _ in 0..1000 {
            assert!(t
                .admit(0.0, Kind::Write, VM, "s", 1.0)
                .expect("admitted")
                .is_empty());
        }
    }
}
