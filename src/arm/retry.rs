//! Which ARM failures are worth another try, how long to back off, and waits bounded by deadline and cancellation.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, ArmError};

/// The caller's bounds on one piece of work: a deadline (the resource's timeouts) and a cancellation token
/// (Terraform's StopProvider). Every wait inside the client honours both.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub deadline: Option<Instant>,
    pub cancel: CancellationToken,
}

impl Ctx {
    /// Work that ends after `timeout` or when `cancel` fires.
    pub fn new(cancel: CancellationToken, timeout: Duration) -> Self {
        Ctx {
            deadline: Some(Instant::now() + timeout),
            cancel,
        }
    }

    /// Work with no deadline, ended only by `cancel`.
    pub fn unbounded(cancel: CancellationToken) -> Self {
        Ctx {
            deadline: None,
            cancel,
        }
    }

    /// Time left before the deadline (None = no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Fails when cancelled or past the deadline, so loops stop before starting more work.
    pub fn check(&self, during: &str) -> Result<(), ArmError> {
        if self.cancel.is_cancelled() {
            return Err(ArmError::Cancelled {
                during: during.to_string(),
            });
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(ArmError::Deadline {
                during: during.to_string(),
            });
        }
        Ok(())
    }

    /// Sleeps `dur`, or fails early when cancelled, or fails at once when the sleep would end past the
    /// deadline (sleeping into a deadline we cannot meet only delays the error).
    pub async fn sleep(&self, dur: Duration, during: &str) -> Result<(), ArmError> {
        self.check(during)?;
        if self.remaining().is_some_and(|left| left < dur) {
            return Err(ArmError::Deadline {
                during: format!("{during} (the next try would start after the deadline)"),
            });
        }
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ArmError::Cancelled { during: during.to_string() }),
            _ = tokio::time::sleep(dur) => Ok(()),
        }
    }

    /// Runs `fut`, failing when the deadline passes or `cancel` fires first.
    pub async fn run<T>(
        &self,
        during: &str,
        fut: impl std::future::Future<Output = Result<T, ArmError>>,
    ) -> Result<T, ArmError> {
        self.check(during)?;
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = fut => r,
            _ = self.cancel.cancelled() => Err(ArmError::Cancelled { during: during.to_string() }),
            _ = deadline => Err(ArmError::Deadline { during: during.to_string() }),
        }
    }
}

/// Jittered exponential backoff for server errors and dropped connections.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Tries after the first before a server error or transport failure is returned. Throttling (429) has
    /// no such limit: it is waited out until the deadline.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            max_retries: 8,
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1-based): "full jitter", uniform in [d/2, d] for
    /// d = initial * 2^(attempt-1) capped at max, so that many clients failing together do not come back together.
    /// <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        let half = exp / 2;
        half + Duration::from_secs_f64(rand::rng().random::<f64>() * half.as_secs_f64())
    }
}

/// What to do with a response that is not a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 429: wait for Retry-After (pacing holds the whole bucket), try again without counting an attempt.
    Throttled,
    /// A transient failure: back off and try again, counting an attempt.
    Transient,
    /// Return the error to the caller.
    Fatal,
}

/// Codes ARM uses for "another operation on this resource is in progress, retry later"
/// (<https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-codes>).
const TRANSIENT_CODES: &[&str] = &[
    "RetryableErrorDueToAnotherOperation",
    "AnotherOperationInProgress",
    "OperationPreempted",
];

/// Classifies an ARM error response.
pub fn classify(error: &ApiError) -> Verdict {
    match error.status {
        429 => Verdict::Throttled,
        408 | 500 | 502 | 503 | 504 => Verdict::Transient,
        _ if TRANSIENT_CODES.iter().any(|c| error.has_code(c)) => Verdict::Transient,
        _ => Verdict::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_retries: 3,
        };
        for attempt in 1..=20 {
            let d = b.delay(attempt);
            let full = (Duration::from_millis(100) * 2u32.pow(attempt.min(10) - 1))
                .min(Duration::from_secs(1));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn classifies_throttling_server_errors_and_busy_resources() {
        let e = |status, code: &str| {
            ApiError::from_response(
                status,
                None,
                format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#).as_bytes(),
            )
        };
        assert_eq!(classify(&e(429, "TooManyRequests")), Verdict::Throttled);
        assert_eq!(classify(&e(503, "ServiceUnavailable")), Verdict::Transient);
        assert_eq!(
            classify(&e(409, "RetryableErrorDueToAnotherOperation")),
            Verdict::Transient
        );
        assert_eq!(classify(&e(409, "Conflict")), Verdict::Fatal);
        assert_eq!(classify(&e(400, "InvalidParameter")), Verdict::Fatal);
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_fail_fast_past_the_deadline_and_on_cancel() {
        let cancel = CancellationToken::new();
        let ctx = Ctx::new(cancel.clone(), Duration::from_secs(5));
        assert!(ctx.sleep(Duration::from_secs(1), "waiting").await.is_ok());
        let e = ctx
            .sleep(Duration::from_secs(10), "waiting")
            .await
            .expect_err("past deadline");
        assert!(matches!(e, ArmError::Deadline { .. }), "{e}");
        cancel.cancel();
        let e = ctx
            .sleep(Duration::from_millis(1), "waiting")
            .await
            .expect_err("cancelled");
        assert!(matches!(e, ArmError::Cancelled { .. }), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_a_future_at_the_deadline() {
        let ctx = Ctx::new(CancellationToken::new(), Duration::from_secs(2));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, ArmError>(())
        };
        let e = ctx.run("polling", slow).await.expect_err("deadline");
        assert!(matches!(e, ArmError::Deadline { during } if during == "polling"));
    }
}
