//! Long-running operations: start, poll with Retry-After, end in ARM's terminal state, resume from a saved URL.
//!
//! <https://github.com/microsoft/api-guidelines/blob/vNext/azure/ConsiderationsForServiceDesign.md#long-running-operations>
//! and ARM's RPC contract
//! <https://github.com/cloud-and-api-governance/resource-provider-contract/blob/master/v1.0/async-api-reference.md>.

use std::future::Future;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{ArmClient, RawResponse};
use super::error::{ApiError, ArmError};
use super::pacing::retry_after;
use super::retry::{Backoff, Ctx};

/// An operation ARM accepted but has not finished: enough to poll it now or after a restart (persist it in
/// private state with [`PendingOperation::to_token`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOperation {
    /// Where to poll: the `Azure-AsyncOperation` URL when given (preferred), else `Location`, else the
    /// resource itself (a 201 whose provisioningState is not terminal).
    pub poll_url: String,
    /// The resource to read once the operation succeeded (PUT/PATCH); None for DELETE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// The wait the response that started the operation asked for before the first poll. Not saved in
    /// tokens: a resumed operation is polled at once.
    #[serde(skip)]
    pub first_poll_after: Option<Duration>,
}

impl PendingOperation {
    /// An opaque string for Terraform's private state.
    pub fn to_token(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.poll_url.clone())
    }

    /// Reads a token written by [`to_token`](Self::to_token); a bare URL is taken as the poll URL.
    pub fn from_token(token: &str) -> Self {
        serde_json::from_str(token).unwrap_or_else(|_| PendingOperation {
            poll_url: token.to_string(),
            final_url: None,
            first_poll_after: None,
        })
    }
}

/// What a poll said.
#[derive(Debug)]
enum Poll {
    Running(Option<Duration>),
    /// Finished; the poll's response is the result when it answered the resource (Location polling, or the
    /// resource's own provisioningState).
    Done(Option<RawResponse>),
}

const TERMINAL_FAILED: &[&str] = &["failed", "canceled", "cancelled"];

/// Whether a provisioningState or operation status has ended, and how.
fn terminal(status: &str) -> Option<bool> {
    let s = status.to_ascii_lowercase();
    if s == "succeeded" {
        Some(true)
    } else if TERMINAL_FAILED.contains(&s.as_str()) {
        Some(false)
    } else {
        None
    }
}

fn provisioning_state(body: &Value) -> Option<&str> {
    body.get("properties")?.get("provisioningState")?.as_str()
}

/// How many polls in a row may fail (after the client's own retries) before the operation is given up.
const TOLERATED_POLL_FAILURES: u32 = 3;

impl ArmClient {
    /// Sees whether a response to `method` on `url` started an operation that is still running.
    pub(crate) fn pending_from(
        &self,
        method: &reqwest::Method,
        url: &str,
        resp: &RawResponse,
    ) -> Option<PendingOperation> {
        let header = |name: &str| {
            resp.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let final_url = (*method != reqwest::Method::DELETE).then(|| url.to_string());
        let first_poll_after = retry_after(&resp.headers, SystemTime::now());
        if let Some(poll_url) = header("azure-asyncoperation") {
            return Some(PendingOperation {
                poll_url,
                final_url,
                first_poll_after,
            });
        }
        if resp.status == 202 {
            if let Some(poll_url) = header("location") {
                return Some(PendingOperation {
                    poll_url,
                    final_url,
                    first_poll_after,
                });
            }
        }
        if matches!(resp.status, 200 | 201) && *method != reqwest::Method::DELETE {
            let body: Value = serde_json::from_slice(&resp.body).ok()?;
            if provisioning_state(&body).is_some_and(|s| terminal(s).is_none()) {
                return Some(PendingOperation {
                    poll_url: url.to_string(),
                    final_url: Some(url.to_string()),
                    first_poll_after,
                });
            }
        }
        None
    }

    /// Polls an operation to its end and returns the resource body (None for a delete or an empty result).
    /// Failed and Canceled operations become [`ArmError::Operation`] with ARM's error.
    pub async fn wait(&self, ctx: &Ctx, op: &PendingOperation) -> Result<Option<Value>, ArmError> {
        let resp = self.wait_response(ctx, op).await?;
        Ok(resp.and_then(|r| serde_json::from_slice(&r.body).ok()))
    }

    /// Like [`wait`](Self::wait), with the final response itself (its ETag included).
    pub(crate) async fn wait_response(
        &self,
        ctx: &Ctx,
        op: &PendingOperation,
    ) -> Result<Option<RawResponse>, ArmError> {
        let done = poll_until_done(
            ctx,
            op.first_poll_after,
            self.options().default_poll_interval,
            &self.options().backoff,
            || self.poll(ctx, op),
        )
        .await?;
        match (&op.final_url, done) {
            (_, Some(resp)) => Ok(Some(resp)),
            (Some(url), None) => self
                .send(ctx, reqwest::Method::GET, url, None, &Default::default())
                .await
                .map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Waits until a resource that some other request is provisioning (an earlier, interrupted run's PUT)
    /// reaches a terminal provisioningState, by polling the resource itself; returns it. Failed and Canceled
    /// become [`ArmError::Operation`].
    pub async fn wait_provisioned(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
    ) -> Result<Option<Value>, ArmError> {
        let url = self.url(path, api_version)?;
        let op = PendingOperation {
            poll_url: url.clone(),
            final_url: Some(url),
            first_poll_after: None,
        };
        self.wait(ctx, &op).await
    }

    /// Resumes waiting for an operation saved earlier.
    pub async fn resume(&self, ctx: &Ctx, token: &str) -> Result<Option<Value>, ArmError> {
        self.wait(ctx, &PendingOperation::from_token(token)).await
    }

    async fn poll(&self, ctx: &Ctx, op: &PendingOperation) -> Result<Poll, ArmError> {
        let resp = match self
            .send(
                ctx,
                reqwest::Method::GET,
                &op.poll_url,
                None,
                &Default::default(),
            )
            .await
        {
            // Polling a deleted resource (or a delete's Location that is gone) means it is done.
            Err(e) if e.is_not_found() && op.final_url.is_none() => return Ok(Poll::Done(None)),
            other => other?,
        };
        let after = retry_after(&resp.headers, SystemTime::now());
        if resp.status == 202 {
            return Ok(Poll::Running(after));
        }
        let body: Option<Value> = serde_json::from_slice(&resp.body).ok();
        // An Azure-AsyncOperation status resource: {"status": "...", "error": {...}}.
        let status = body
            .as_ref()
            .and_then(|b| b.get("status"))
            .and_then(Value::as_str)
            .or_else(|| body.as_ref().and_then(provisioning_state));
        let is_status_resource = body.as_ref().is_some_and(|b| b.get("status").is_some());
        match status.map(|s| (s, terminal(s))) {
            Some((_, None)) => Ok(Poll::Running(after)),
            Some((s, Some(false))) => {
                let error = body
                    .as_ref()
                    .and_then(|b| ApiError::from_value(resp.status, resp.request_id(), b))
                    .unwrap_or_else(|| ApiError {
                        status: resp.status,
                        code: format!("Operation{s}"),
                        message: format!("the operation ended {s} without an error body"),
                        target: None,
                        details: Vec::new(),
                        request_id: resp.request_id(),
                    });
                Err(ArmError::Operation {
                    state: s.to_string(),
                    error: Box::new(error),
                    url: op.poll_url.clone(),
                })
            }
            Some((_, Some(true))) if is_status_resource => Ok(Poll::Done(None)),
            _ if body.is_some() => Ok(Poll::Done(Some(resp))),
            _ => Ok(Poll::Done(None)),
        }
    }
}

fn poll_error_is_transient(e: &ArmError) -> bool {
    match e {
        ArmError::Transport { .. } => true,
        ArmError::Api(api) => api.status >= 500,
        _ => false,
    }
}

/// The polling loop: waits what the last response asked for (`first` before the first poll), or
/// `default_interval` when it asked for nothing, as the Azure SDKs' pollers do (`PollUntilDone` in
/// <https://github.com/Azure/azure-sdk-for-go/blob/main/sdk/azcore/runtime/poller.go> waits the initial
/// response's Retry-After, then each poll's, else its 30 s default frequency). Tolerates a few transient
/// poll failures with backoff. Returns the response of the poll that saw the end, when it carries the result.
async fn poll_until_done<F, Fut>(
    ctx: &Ctx,
    first: Option<Duration>,
    default_interval: Duration,
    backoff: &Backoff,
    mut poll: F,
) -> Result<Option<RawResponse>, ArmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll, ArmError>>,
{
    let mut failures = 0;
    let mut interval = first;
    loop {
        if let Some(d) = interval.filter(|d| !d.is_zero()) {
            ctx.sleep(d, "waiting for a long-running operation").await?;
        }
        match poll().await {
            Ok(Poll::Running(after)) => {
                failures = 0;
                interval = Some(after.unwrap_or(default_interval));
            }
            Ok(Poll::Done(resp)) => return Ok(resp),
            Err(e @ (ArmError::Transport { .. } | ArmError::Api(_)))
                if failures < TOLERATED_POLL_FAILURES && poll_error_is_transient(&e) =>
            {
                failures += 1;
                interval = Some(backoff.delay(failures));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::client::ClientOptions;
    use reqwest::header::{HeaderMap, HeaderValue};
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    /// Runs the polling loop against an operation that answers `Running` with `headers` `running` times, then
    /// ends; returns the instants of the polls, measured from the start.
    async fn poll_instants(
        first: Option<Duration>,
        headers: HeaderMap,
        running: usize,
    ) -> Vec<Duration> {
        let ctx = Ctx::unbounded(CancellationToken::new());
        let start = Instant::now();
        let mut polls = Vec::new();
        let done = poll_until_done(
            &ctx,
            first,
            ClientOptions::default().default_poll_interval,
            &Backoff::default(),
            || {
                polls.push(start.elapsed());
                let answer = if polls.len() > running {
                    Poll::Done(None)
                } else {
                    Poll::Running(retry_after(&headers, SystemTime::now()))
                };
                async move { Ok(answer) }
            },
        )
        .await;
        assert!(matches!(done, Ok(None)), "{done:?}");
        polls
    }

    #[tokio::test(start_paused = true)]
    async fn a_3_ms_retry_after_ms_poll_waits_3_ms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", HeaderValue::from_static("3"));
        // The whole-seconds form a server must also send for HTTP clients is not what Azure's SDKs wait.
        h.insert("retry-after", HeaderValue::from_static("1"));
        let first = retry_after(&h, SystemTime::now());
        let ms = Duration::from_millis;
        assert_eq!(poll_instants(first, h, 2).await, vec![ms(3), ms(6), ms(9)]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_retry_after_polls_at_the_azure_sdks_default_interval() {
        assert_eq!(
            ClientOptions::default().default_poll_interval,
            Duration::from_secs(30)
        );
        let s = Duration::from_secs;
        assert_eq!(
            poll_instants(None, HeaderMap::new(), 2).await,
            vec![s(0), s(30), s(60)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_in_fractional_seconds_is_not_rounded_up() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("0.25"));
        let ms = Duration::from_millis;
        assert_eq!(poll_instants(None, h, 1).await, vec![ms(0), ms(250)]);
    }

    #[test]
    fn tokens_round_trip_and_bare_urls_are_accepted() {
        let op = PendingOperation {
            poll_url: "https://management.azure.com/op/1".into(),
            final_url: Some("https://management.azure.com/r".into()),
            first_poll_after: None,
        };
        assert_eq!(PendingOperation::from_token(&op.to_token()), op);
        let bare = PendingOperation::from_token("https://management.azure.com/op/2");
        assert_eq!(bare.poll_url, "https://management.azure.com/op/2");
        assert_eq!(bare.final_url, None);
    }

    #[test]
    fn terminal_states_are_case_insensitive() {
        assert_eq!(terminal("Succeeded"), Some(true));
        assert_eq!(terminal("FAILED"), Some(false));
        assert_eq!(terminal("Canceled"), Some(false));
        assert_eq!(terminal("InProgress"), None);
        assert_eq!(terminal("Updating"), None);
    }
}
