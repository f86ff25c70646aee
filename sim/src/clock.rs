//! Simulated time: real elapsed time multiplied by the time scale, plus manual advances.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A clock reading simulated seconds since the Unix epoch.
///
/// At start the simulated clock equals the wall clock (or the time a persisted state stopped at); from then on it runs
/// `scale` times faster than real time. `advance` jumps it forward, which tests use to pass provisioning latencies
/// and throttling windows without sleeping.
#[derive(Debug)]
pub struct Clock {
    started: Instant,
    origin: f64,
    scale: f64,
    /// Manual advances, in simulated milliseconds.
    advanced_ms: AtomicU64,
}

impl Clock {
    /// A clock starting at the wall-clock time.
    pub fn new(scale: f64) -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self::starting_at(wall, scale)
    }

    /// A clock starting at a given simulated time (used when a persisted state is resumed).
    pub fn starting_at(origin: f64, scale: f64) -> Self {
        Self {
            started: Instant::now(),
            origin,
            scale,
            advanced_ms: AtomicU64::new(0),
        }
    }

    /// Simulated seconds since the Unix epoch.
    pub fn now(&self) -> f64 {
        self.origin
            + self.started.elapsed().as_secs_f64() * self.scale
            + self.advanced_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// How many simulated seconds pass per real second.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Converts a simulated duration to real seconds.
    pub fn to_real(&self, simulated_seconds: f64) -> f64 {
        simulated_seconds / self.scale
    }

    /// Jumps simulated time forward.
    pub fn advance(&self, simulated_seconds: f64) {
        let ms = (simulated_seconds.max(0.0) * 1000.0).round() as u64;
        self.advanced_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Formats simulated seconds since the epoch as an RFC 3339 UTC timestamp, as ARM writes `timeCreated`.
pub fn rfc3339(seconds: f64) -> String {
    let total = seconds.max(0.0);
    let secs = total.floor() as i64;
    let micros = ((total - total.floor()) * 1_000_000.0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_700_000_000.5), "2023-11-14T22:13:20.500000Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn advance_moves_simulated_time_forward() {
        let clock = Clock::starting_at(100.0, 1.0);
        clock.advance(50.0);
        let now = clock.now();
        assert!((150.0..151.0).contains(&now), "{now}");
    }
}
