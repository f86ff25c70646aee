//! Pacing under ARM throttling: one limiter per subscription, fed by ARM's rate-limit headers and 429s.
//!
//! ARM meters each subscription with token buckets (reads, writes, deletes) and resource providers add their
//! own policies (`Microsoft.Network/PutDelete5Min`, `Microsoft.Compute/PutVM3Min`...). Every response says how
//! many tokens remain (`x-ms-ratelimit-remaining-subscription-*`, `x-ms-ratelimit-remaining-resource`), and a
//! refusal says when to come back (`Retry-After`); ARM refuses anything sent earlier.
//! <https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling>
//!
//! Each bucket becomes a [`Gauge`] that predicts the tokens left from the last report, the requests sent since
//! and a refill rate it learns from successive reports; a request goes when every gauge it draws from predicts
//! a token. So a large apply spends the buckets' capacity at full speed and then runs at their refill rate,
//! close to the throttling floor, instead of bursting into 429s. A 429 holds the whole bucket until its
//! Retry-After has passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::error::ArmError;
use super::retry::Ctx;

/// ARM's subscription buckets, chosen by the request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Reads,
    Writes,
    Deletes,
}

impl Bucket {
    pub fn of(method: &reqwest::Method) -> Self {
        match *method {
            reqwest::Method::GET | reqwest::Method::HEAD => Bucket::Reads,
            reqwest::Method::DELETE => Bucket::Deletes,
            _ => Bucket::Writes,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Reads => "reads",
            Bucket::Writes => "writes",
            Bucket::Deletes => "deletes",
        }
    }

    fn header(self) -> &'static str {
        match self {
            Bucket::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Bucket::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Bucket::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// Parses `x-ms-ratelimit-remaining-resource`: comma-separated `Namespace/Policy;count` entries, e.g.
/// `Microsoft.Compute/PutVM3Min;239,Microsoft.Compute/PutVM30Min;1199`. Malformed entries are skipped.
pub fn parse_remaining_resource(value: &str) -> Vec<(String, u64)> {
    value
        .split(',')
        .filter_map(|entry| {
            let (policy, count) = entry.trim().rsplit_once(';')?;
            let policy = policy.trim();
            let count = count.trim().parse().ok()?;
            (!policy.is_empty()).then(|| (policy.to_string(), count))
        })
        .collect()
}

/// The wait a response asks for, in the order Azure's SDKs read it: `retry-after-ms`, then
/// `x-ms-retry-after-ms` (milliseconds), then `Retry-After` (delta-seconds, fractions tolerated, or an
/// HTTP-date). A header that is absent, zero or unreadable gives way to the next one, and nothing is rounded
/// to whole seconds. This is the order of `RetryAfter` in the Azure SDK for Go
/// (<https://github.com/Azure/azure-sdk-for-go/blob/main/sdk/azcore/internal/shared/shared.go>), which its
/// retry policy and its long-running-operation poller both use, and of azure-core for JavaScript
/// (`AllRetryAfterHeaders` in `@azure/core-rest-pipeline`'s throttling retry strategy).
/// <https://www.rfc-editor.org/rfc/rfc9110#field.retry-after>
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header_str(headers, name).and_then(|v| v.trim().parse::<f64>().ok()) {
            if ms.is_finite() && ms > 0.0 {
                return Some(Duration::from_secs_f64(ms.min(86_400_000.0) / 1000.0));
            }
        }
    }
    parse_retry_after(header_str(headers, "retry-after")?, now)
}

/// Parses a `Retry-After` value.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// How long a gauge that has seen its bucket run low but knows no refill rate yet waits before letting one
/// more request probe the bucket.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// The least time between two reports before a refill rate is computed from them.
const RATE_WINDOW: Duration = Duration::from_millis(500);
/// The fraction of the learned refill rate that pacing uses.
const RATE_SAFETY: f64 = 0.95;

#[derive(Clone, Copy, Debug)]
struct Report {
    /// Admission number of the request whose response carried the report.
    seq: u64,
    remaining: f64,
    at: Instant,
    /// The gauge's refused count when the report arrived.
    refused: u64,
}

/// One throttling bucket as seen from this process.
#[derive(Debug, Default)]
struct Gauge {
    /// Admissions so far; each admitted request gets the next number.
    admitted: u64,
    /// Admissions that ARM refused (429), which took no token.
    refused: u64,
    last_admit: Option<Instant>,
    /// The report of the latest-admitted request answered so far.
    latest: Option<Report>,
    /// The first report of the current run below capacity, from which the refill rate is measured.
    span_start: Option<Report>,
    /// Tokens per second, learned.
    rate: Option<f64>,
    max_seen: f64,
    hold_until: Option<Instant>,
}

impl Gauge {
    /// How long a new request must wait before this gauge expects a token for it.
    fn wait(&self, now: Instant) -> Duration {
        if let Some(h) = self.hold_until.filter(|h| *h > now) {
            return h - now;
        }
        let Some(latest) = self.latest else {
            return Duration::ZERO;
        };
        let sent_since = self.admitted.saturating_sub(latest.seq) as f64
            - self.refused.saturating_sub(latest.refused) as f64;
        let elapsed = now.saturating_duration_since(latest.at).as_secs_f64();
        let predicted = latest.remaining - sent_since.max(0.0) + self.rate.unwrap_or(0.0) * elapsed;
        if predicted >= 1.0 {
            return Duration::ZERO;
        }
        match self.rate {
            // Pace slightly under the learned rate: a rate measured a little high costs a 429 and a hold
            // of the whole bucket, one measured a little low costs only that fraction of throughput.
            Some(rate) => {
                Duration::from_secs_f64(((1.0 - predicted) / (rate * RATE_SAFETY)).min(60.0))
            }
            // No refill rate known yet: probe the bucket with one request per interval, whose report (or a
            // 429's Retry-After) teaches the rate.
            None => (latest.at.max(self.last_admit.unwrap_or(latest.at)) + PROBE_INTERVAL)
                .saturating_duration_since(now),
        }
    }

    fn admit(&mut self, now: Instant) -> u64 {
        self.admitted += 1;
        self.last_admit = Some(now);
        self.admitted
    }

    fn report(&mut self, seq: u64, remaining: f64, now: Instant) {
        self.max_seen = self.max_seen.max(remaining);
        let report = Report {
            seq,
            remaining,
            at: now,
            refused: self.refused,
        };
        if self.latest.is_none_or(|l| seq >= l.seq) {
            self.latest = Some(report);
        } else {
            return;
        }
        // A full bucket refills nothing, so only reports below capacity measure the rate.
        if remaining >= self.max_seen - 1.0 {
            self.span_start = None;
            return;
        }
        match self.span_start {
            None => self.span_start = Some(report),
            Some(start) if now.saturating_duration_since(start.at) >= RATE_WINDOW => {
                let consumed = (seq - start.seq) as f64 - (self.refused - start.refused) as f64;
                let dt = now.saturating_duration_since(start.at).as_secs_f64();
                let rate = (remaining - start.remaining + consumed) / dt;
                if rate > 0.0 {
                    self.rate = Some(rate);
                }
            }
            Some(_) => {}
        }
    }

    /// Records a refusal. `wait` brings one token, so before any report measured the rate, `1 / wait` is a
    /// first estimate (an upper bound, hence the safety factor).
    fn refuse(&mut self, hold: Instant, wait: Duration) {
        self.refused += 1;
        if self.rate.is_none() && !wait.is_zero() {
            self.rate = Some(1.0 / wait.as_secs_f64());
        }
        self.hold_until = Some(self.hold_until.map_or(hold, |h| h.max(hold)));
    }
}

#[derive(Debug, Default)]
struct State {
    gauges: HashMap<String, Gauge>,
    /// Resource-provider policies seen on responses to (namespace, bucket) requests.
    policies: HashMap<(String, Bucket), Vec<String>>,
    throttled: u64,
}

/// Counters for benchmarks and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacerStats {
    pub admitted: u64,
    pub throttled: u64,
}

/// The limiter of one subscription: bounded concurrency plus the gauges of its buckets.
#[derive(Debug)]
pub struct Pacer {
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

/// A request's right to go: holds a concurrency permit and the admission numbers it got from each gauge.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    bucket: Bucket,
    namespace: Option<String>,
    seqs: Vec<(String, u64)>,
}

fn subscription_gauge(bucket: Bucket) -> String {
    format!("subscription-{}", bucket.name())
}

impl Pacer {
    pub fn new(max_concurrency: usize) -> Self {
        Pacer {
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
            state: Mutex::new(State::default()),
        }
    }

    /// The process-wide limiter for a subscription at an ARM endpoint: every client of the same subscription
    /// shares it, since ARM's buckets are per subscription. The first caller's `max_concurrency` sets its size.
    pub fn shared(arm_endpoint: &str, subscription_id: &str, max_concurrency: usize) -> Arc<Pacer> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<Pacer>>>> = OnceLock::new();
        let key = format!("{}|{}", arm_endpoint, subscription_id).to_ascii_lowercase();
        let mut map = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(key)
            .or_insert_with(|| Arc::new(Pacer::new(max_concurrency)))
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent counters; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn gauge_keys(state: &State, bucket: Bucket, namespace: Option<&str>) -> Vec<String> {
        let mut keys = vec![subscription_gauge(bucket)];
        if let Some(ns) = namespace {
            if let Some(p) = state.policies.get(&(ns.to_ascii_lowercase(), bucket)) {
                keys.extend(p.iter().cloned());
            }
        }
        keys
    }

    fn wait(state: &State, keys: &[String], now: Instant) -> Duration {
        keys.iter()
            .filter_map(|k| state.gauges.get(k))
            .map(|g| g.wait(now))
            .max()
            .unwrap_or_default()
    }

    /// Waits until a request of `bucket` to `namespace` may go, within the caller's deadline and cancellation.
    pub async fn admit(
        &self,
        bucket: Bucket,
        namespace: Option<&str>,
        ctx: &Ctx,
    ) -> Result<Admission, ArmError> {
        let during = format!("waiting for ARM's {} budget", bucket.name());
        loop {
            let wait = {
                let state = self.lock();
                Self::wait(
                    &state,
                    &Self::gauge_keys(&state, bucket, namespace),
                    Instant::now(),
                )
            };
            if !wait.is_zero() {
                if ctx.remaining().is_some_and(|left| left < wait) {
                    return Err(ArmError::Throttled {
                        bucket: bucket.name(),
                        retry_after: wait,
                    });
                }
                ctx.sleep(wait, &during).await?;
                continue;
            }
            // The permit is taken only once the budget allows, so requests waiting for one bucket never hold
            // the permits that another bucket's requests (e.g. the reads polling operations) need.
            let permit = ctx
                .run(&during, async {
                    self.permits
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|_| ArmError::Config("the ARM limiter was closed".into()))
                })
                .await?;
            let mut state = self.lock();
            let now = Instant::now();
            let keys = Self::gauge_keys(&state, bucket, namespace);
            if !Self::wait(&state, &keys, now).is_zero() {
                continue;
            }
            let seqs = keys
                .into_iter()
                .map(|k| {
                    let seq = state.gauges.entry(k.clone()).or_default().admit(now);
                    (k, seq)
                })
                .collect();
            return Ok(Admission {
                _permit: permit,
                bucket,
                namespace: namespace.map(str::to_ascii_lowercase),
                seqs,
            });
        }
    }

    /// Feeds the rate-limit headers of a response (any status but 429) into the gauges.
    pub fn observe(&self, admission: &Admission, headers: &HeaderMap) {
        let now = Instant::now();
        let mut state = self.lock();
        let sub = subscription_gauge(admission.bucket);
        if let Some(n) = header_str(headers, admission.bucket.header())
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if let Some(seq) = seq_of(admission, &sub) {
                state
                    .gauges
                    .entry(sub)
                    .or_default()
                    .report(seq, n as f64, now);
            }
        }
        let Some(value) = header_str(headers, "x-ms-ratelimit-remaining-resource") else {
            return;
        };
        for (policy, n) in parse_remaining_resource(value) {
            let seq = match (seq_of(admission, &policy), &admission.namespace) {
                (Some(seq), _) => seq,
                // Reads report the write policies of their provider too; only writes and deletes are paced by
                // provider policies, reads by their own subscription bucket.
                (None, Some(ns)) if admission.bucket != Bucket::Reads => {
                    let list = state
                        .policies
                        .entry((ns.clone(), admission.bucket))
                        .or_default();
                    if !list.contains(&policy) {
                        list.push(policy.clone());
                    }
                    state.gauges.entry(policy.clone()).or_default().admit(now)
                }
                _ => continue,
            };
            state
                .gauges
                .entry(policy)
                .or_default()
                .report(seq, n as f64, now);
        }
    }

    /// Records a 429: every gauge the request drew from holds until `retry_after` has passed.
    pub fn throttled(&self, admission: &Admission, retry_after: Duration) {
        let hold = Instant::now() + retry_after;
        let mut state = self.lock();
        state.throttled += 1;
        for (key, _) in &admission.seqs {
            state
                .gauges
                .entry(key.clone())
                .or_default()
                .refuse(hold, retry_after);
        }
    }

    pub fn stats(&self) -> PacerStats {
        let state = self.lock();
        PacerStats {
            admitted: state
                .gauges
                .iter()
                .filter(|(k, _)| k.starts_with("subscription-"))
                .map(|(_, g)| g.admitted)
                .sum(),
            throttled: state.throttled,
        }
    }
}

fn seq_of(admission: &Admission, key: &str) -> Option<u64> {
    admission
        .seqs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn remaining_resource_lists_every_policy() {
        assert_eq!(
            parse_remaining_resource(
                "Microsoft.Compute/PutVM3Min;239, Microsoft.Compute/PutVM30Min;1199"
            ),
            vec![
                ("Microsoft.Compute/PutVM3Min".to_string(), 239),
                ("Microsoft.Compute/PutVM30Min".to_string(), 1199)
            ]
        );
        assert_eq!(
            parse_remaining_resource("Microsoft.Network/PutDelete5Min;0"),
            vec![("Microsoft.Network/PutDelete5Min".to_string(), 0)]
        );
        assert_eq!(
            parse_remaining_resource("garbage,;5,A/B;x,,C/D;7"),
            vec![("C/D".to_string(), 7)]
        );
    }

    #[test]
    fn retry_after_takes_seconds_dates_and_milliseconds() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(parse_retry_after("17", now), Some(Duration::from_secs(17)));
        assert_eq!(
            parse_retry_after(" 0.25 ", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);

        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("5"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(5)));
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        h.insert("retry-after-ms", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(3)));
        // A zero milliseconds header gives way to the next one, as in Azure's SDKs.
        h.insert("retry-after-ms", HeaderValue::from_static("0"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_holds_every_write_until_retry_after() {
        let pacer = Pacer::new(4);
        let ctx = Ctx::unbounded(CancellationToken::new());
        let first = pacer
            .admit(Bucket::Writes, None, &ctx)
            .await
            .expect("admitted");
        pacer.throttled(&first, Duration::from_secs(3));
        drop(first);
        let start = Instant::now();
        let next = pacer
            .admit(Bucket::Writes, None, &ctx)
            .await
            .expect("admitted later");
        assert!(
            start.elapsed() >= Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        drop(next);
        // Reads are a different bucket and go at once.
        let start = Instant::now();
        let _read = pacer.admit(Bucket::Reads, None, &ctx).await.expect("read");
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(
            pacer.stats(),
            PacerStats {
                admitted: 3,
                throttled: 1
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_past_the_deadline_fails_at_once() {
        let pacer = Pacer::new(1);
        let a = pacer
            .admit(
                Bucket::Deletes,
                None,
                &Ctx::unbounded(CancellationToken::new()),
            )
            .await
            .expect("admitted");
        pacer.throttled(&a, Duration::from_secs(120));
        let ctx = Ctx::new(CancellationToken::new(), Duration::from_secs(10));
        let e = pacer
            .admit(Bucket::Deletes, None, &ctx)
            .await
            .expect_err("throttled");
        assert!(
            matches!(
                e,
                ArmError::Throttled {
                    bucket: "deletes",
                    ..
                }
            ),
            "{e}"
        );
    }

    /// A simulated bucket of 20 tokens refilled at 5/s: the pacer must learn the rate from the headers and keep
    /// 60 requests within a few 429s of the floor ((60 - 20) / 5 = 8 s).
    #[tokio::test(start_paused = true)]
    async fn learns_the_refill_rate_and_runs_near_the_floor() {
        let pacer = Pacer::new(8);
        let ctx = Ctx::unbounded(CancellationToken::new());
        let origin = Instant::now();
        let (capacity, rate) = (20.0_f64, 5.0_f64);
        let mut tokens = capacity;
        let mut last = origin;
        let mut refused = 0;
        let mut done = 0;
        while done < 60 {
            let a = pacer
                .admit(Bucket::Writes, Some("Microsoft.Network"), &ctx)
                .await
                .expect("admit");
            let now = Instant::now();
            tokens = (tokens + rate * (now - last).as_secs_f64()).min(capacity);
            last = now;
            if tokens >= 1.0 {
                tokens -= 1.0;
                done += 1;
                let h = headers(&[(
                    "x-ms-ratelimit-remaining-resource",
                    format!("Microsoft.Network/PutDelete5Min;{}", tokens.floor()),
                )]);
                pacer.observe(&a, &h);
            } else {
                refused += 1;
                pacer.throttled(&a, Duration::from_secs_f64((1.0 - tokens) / rate));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = origin.elapsed().as_secs_f64();
        assert!(elapsed <= 8.0 * 1.15 + 0.6, "took {elapsed}s");
        assert!(refused <= 3, "{refused} refusals");
    }
}
