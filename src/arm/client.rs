//! The ARM HTTP client: authenticated, paced, retried JSON requests with ETags, paging and long-running operations.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::cloud::Cloud;
use super::config::{is_loopback, CloudSource, Resolved};
use super::credentials::TokenCache;
use super::error::{ApiError, ArmError};
use super::lro::PendingOperation;
use super::pacing::{retry_after, Bucket, Pacer};
use super::retry::{classify, Backoff, Ctx, Verdict};

/// Settings of a client that do not come from the provider block.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// e.g. `terraform-provider-largek8s/0.1.0 terraform/1.11.0`, see [`user_agent`].
    pub user_agent: String,
    /// Sent as `x-ms-correlation-request-id` on every request, so one apply's requests can be found together
    /// in the Activity Log. A new one is made when None.
    pub correlation_id: Option<String>,
    pub backoff: Backoff,
    /// Poll interval when an operation's response asks for no wait: the Azure SDKs' default (30 s in the
    /// SDK for Go's `PollUntilDone`, and in the Python SDK's ARM polling).
    pub default_poll_interval: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            user_agent: user_agent(None),
            correlation_id: None,
            backoff: Backoff::default(),
            default_poll_interval: Duration::from_secs(30),
        }
    }
}

/// The User-Agent ARM sees: this provider's version and, once known from ConfigureProvider, Terraform's.
pub fn user_agent(terraform_version: Option<&str>) -> String {
    let mut ua = format!("terraform-provider-largek8s/{}", env!("CARGO_PKG_VERSION"));
    if let Some(v) = terraform_version.filter(|v| !v.is_empty()) {
        ua.push_str(" terraform/");
        ua.push_str(v);
    }
    ua
}

/// Optimistic concurrency for writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `If-Match`: write only if the resource still has this ETag (read-modify-write).
    pub if_match: Option<String>,
    /// `If-None-Match: *` creates only if absent.
    pub if_none_match: Option<String>,
}

impl Conditions {
    /// A read-modify-write: `If-Match` on the ETag read, when there was one.
    pub fn matching(etag: Option<String>) -> Self {
        Conditions {
            if_match: etag,
            ..Conditions::default()
        }
    }

    /// Create only: `If-None-Match: *`.
    pub fn create_only() -> Self {
        Conditions {
            if_none_match: Some("*".into()),
            ..Conditions::default()
        }
    }
}

/// A response as received, for the typed layers above.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    pub fn request_id(&self) -> Option<String> {
        header(&self.headers, "x-ms-request-id")
    }

    pub fn etag(&self) -> Option<String> {
        header(&self.headers, "etag")
    }

    fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ArmError> {
        let body: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| ArmError::decode(what, e))
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A decoded response with the ETag ARM gave it.
#[derive(Clone, Debug)]
pub struct Response<T> {
    pub status: u16,
    pub body: T,
    pub etag: Option<String>,
    pub request_id: Option<String>,
}

/// The answer to a write: done (with the resource), or accepted and still running.
#[derive(Clone, Debug)]
pub enum Started<T> {
    Done(Response<T>),
    Running(PendingOperation),
}

/// The ARM client. Cheap to clone; all clones share the token cache and the subscription's limiter.
#[derive(Clone, Debug)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    subscription_id: String,
    tokens: Arc<TokenCache>,
    pacer: Arc<Pacer>,
    options: ClientOptions,
    correlation_id: String,
}

/// TLS with the aws-lc-rs provider the rest of the crate uses, verification always on: the system's roots,
/// or Mozilla's when the system has none (minimal containers).
fn tls_config() -> Result<rustls::ClientConfig, ArmError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A malformed system certificate is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ArmError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The HTTP client every ARM and token request goes through.
pub fn http_client(user_agent: &str) -> Result<reqwest::Client, ArmError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_config()?)
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| ArmError::Config(format!("HTTP client: {e}")))
}

fn check_scheme(what: &str, url: &Url) -> Result<(), ArmError> {
    if url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url)) {
        Ok(())
    } else {
        Err(ArmError::Config(format!(
            "the cloud metadata gives {what} {url}, which is neither https nor loopback http"
        )))
    }
}

impl ArmClient {
    /// A client for a resolved configuration: discovers a custom cloud's endpoints when needed, and joins the
    /// subscription's process-wide limiter.
    pub async fn connect(
        resolved: &Resolved,
        options: ClientOptions,
        ctx: &Ctx,
    ) -> Result<Self, ArmError> {
        let http = http_client(&options.user_agent)?;
        let cloud = match &resolved.cloud {
            CloudSource::Known(c) => c.clone(),
            CloudSource::Discover(url) => {
                ctx.run(
                    "discovering the cloud's endpoints",
                    Cloud::discover(&http, url),
                )
                .await?
            }
        };
        check_scheme("resourceManager", &cloud.resource_manager)?;
        check_scheme("loginEndpoint", &cloud.login)?;
        let tokens = TokenCache::new(resolved.auth.clone(), cloud.clone(), http.clone());
        let pacer = Pacer::shared(
            cloud.resource_manager.as_str(),
            &resolved.subscription_id,
            resolved.max_concurrency,
        );
        Ok(Self::from_parts(
            http,
            cloud,
            resolved.subscription_id.clone(),
            tokens,
            pacer,
            options,
        ))
    }

    /// A client from its parts, for tests and tools that build their own.
    pub fn from_parts(
        http: reqwest::Client,
        cloud: Cloud,
        subscription_id: String,
        tokens: Arc<TokenCache>,
        pacer: Arc<Pacer>,
        options: ClientOptions,
    ) -> Self {
        let correlation_id = options
            .correlation_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        ArmClient {
            inner: Arc::new(Inner {
                http,
                base: cloud.resource_manager,
                subscription_id,
                tokens,
                pacer,
                options,
                correlation_id,
            }),
        }
    }

    /// Obtains a token for the configured credential now, so that a refused credential is reported before
    /// any ARM request; the token stays cached and the requests that follow use it.
    pub async fn authenticate(&self, ctx: &Ctx) -> Result<(), ArmError> {
        self.inner.tokens.token(ctx).await.map(|_| ())
    }

    pub fn subscription_id(&self) -> &str {
        &self.inner.subscription_id
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.inner.pacer
    }

    pub fn correlation_id(&self) -> &str {
        &self.inner.correlation_id
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The absolute URL of an ARM path (`/subscriptions/...`) with its api-version.
    pub fn url(&self, path: &str, api_version: &str) -> Result<String, ArmError> {
        let mut url = self
            .inner
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ArmError::Config(format!("ARM path {path:?}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url.into())
    }

    /// Only ARM's own origin gets our token: a nextLink or poll URL pointing elsewhere is refused.
    fn same_origin(&self, url: &str) -> Result<Url, ArmError> {
        let parsed =
            Url::parse(url).map_err(|e| ArmError::decode(format!("URL {url:?} from ARM"), e))?;
        if parsed.origin() != self.inner.base.origin() {
            return Err(ArmError::Config(format!(
                "refusing to send the ARM token to {}, which is not {}",
                parsed.origin().ascii_serialization(),
                self.inner.base.origin().ascii_serialization()
            )));
        }
        Ok(parsed)
    }

    /// Sends one request with pacing, authentication and retries, and returns the 2xx response (anything
    /// else is an error). Throttling is waited out until the deadline; server errors, busy resources and
    /// dropped connections are retried with backoff up to the configured number of times.
    pub async fn send(
        &self,
        ctx: &Ctx,
        method: Method,
        url: &str,
        body: Option<&Value>,
        conditions: &Conditions,
    ) -> Result<RawResponse, ArmError> {
        let target = self.same_origin(url)?;
        let namespace = provider_namespace(target.path());
        let bucket = Bucket::of(&method);
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ArmError::decode("request body", e))?;
        let backoff = &self.inner.options.backoff;
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            let admission = self
                .inner
                .pacer
                .admit(bucket, namespace.as_deref(), ctx)
                .await?;
            let token = self.inner.tokens.token(ctx).await?;
            let mut req = self
                .inner
                .http
                .request(method.clone(), target.clone())
                .bearer_auth(token.token.expose())
                .header("x-ms-correlation-request-id", &self.inner.correlation_id)
                .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string())
                .header("Accept", "application/json");
            if let Some(b) = &body {
                req = req
                    .header("Content-Type", "application/json")
                    .body(b.clone());
            }
            for (name, value) in [
                ("If-Match", &conditions.if_match),
                ("If-None-Match", &conditions.if_none_match),
            ] {
                if let Some(v) = value {
                    let v = HeaderValue::from_str(v)
                        .map_err(|e| ArmError::Config(format!("{name} {v:?}: {e}")))?;
                    req = req.header(name, v);
                }
            }
            let during = format!("{method} {}", target.path());
            let result = ctx
                .run(&during, async {
                    let resp = req.send().await.map_err(|e| transport(&target, &e))?;
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let body = resp.bytes().await.map_err(|e| transport(&target, &e))?;
                    Ok(RawResponse {
                        status,
                        headers,
                        body,
                    })
                })
                .await;
            let resp = match result {
                Ok(r) => r,
                Err(e @ ArmError::Transport { .. }) => {
                    drop(admission);
                    attempt += 1;
                    if attempt > backoff.max_retries {
                        return Err(e);
                    }
                    ctx.sleep(
                        backoff.delay(attempt),
                        &format!("retrying {during} after: {e}"),
                    )
                    .await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let asked_wait = retry_after(&resp.headers, SystemTime::now());
            if resp.status == 429 {
                // Not an attempt: ARM will take the request once the bucket refills, so no request is lost to
                // throttling; the deadline bounds the wait.
                let wait = asked_wait.unwrap_or_else(|| backoff.delay(1));
                self.inner.pacer.throttled(&admission, wait);
                continue;
            }
            self.inner.pacer.observe(&admission, &resp.headers);
            drop(admission);
            if (200..300).contains(&resp.status) {
                return Ok(resp);
            }
            let error = ApiError::from_response(resp.status, resp.request_id(), &resp.body);
            if resp.status == 401 && !reauthenticated {
                // An expired or revoked token: fetch a new one once.
                reauthenticated = true;
                self.inner.tokens.invalidate(&token).await;
                continue;
            }
            match classify(&error) {
                Verdict::Transient | Verdict::Throttled if attempt < backoff.max_retries => {
                    attempt += 1;
                    // The server's own wait when it names one, else backoff: the Azure SDK for Go's retry
                    // policy (sdk/azcore/runtime/policy_retry.go) does the same.
                    let wait = asked_wait.unwrap_or_else(|| backoff.delay(attempt));
                    ctx.sleep(wait, &format!("retrying {during} after {}", error.code))
                        .await?;
                }
                _ => return Err(error.into()),
            }
        }
    }

    /// GET a resource (or any ARM path) and decode it.
    pub async fn get<T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
    ) -> Result<Response<T>, ArmError> {
        let url = self.url(path, api_version)?;
        let resp = self
            .send(ctx, Method::GET, &url, None, &Conditions::default())
            .await?;
        decoded(&resp, path)
    }

    /// GET, with 404 as None.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
    ) -> Result<Option<Response<T>>, ArmError> {
        match self.get(ctx, path, api_version).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        method: Method,
        path: &str,
        api_version: &str,
        body: &B,
        conditions: &Conditions,
    ) -> Result<Started<T>, ArmError> {
        let url = self.url(path, api_version)?;
        let body = serde_json::to_value(body).map_err(|e| ArmError::decode("request body", e))?;
        let resp = self
            .send(ctx, method.clone(), &url, Some(&body), conditions)
            .await?;
        match self.pending_from(&method, &url, &resp) {
            Some(op) => Ok(Started::Running(op)),
            None => Ok(Started::Done(decoded(&resp, path)?)),
        }
    }

    /// PUT without waiting: the resource when ARM finished at once, else the operation to wait for.
    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
        body: &B,
        conditions: &Conditions,
    ) -> Result<Started<T>, ArmError> {
        self.write(ctx, Method::PUT, path, api_version, body, conditions)
            .await
    }

    /// PATCH without waiting.
    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
        body: &B,
        conditions: &Conditions,
    ) -> Result<Started<T>, ArmError> {
        self.write(ctx, Method::PATCH, path, api_version, body, conditions)
            .await
    }

    /// Waits for a started write and returns the resource.
    pub async fn finish<T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        started: Started<T>,
        path: &str,
        api_version: &str,
    ) -> Result<Response<T>, ArmError> {
        match started {
            Started::Done(r) => Ok(r),
            Started::Running(op) => match self.wait_response(ctx, &op).await? {
                Some(resp) => decoded(&resp, path),
                None => self.get(ctx, path, api_version).await,
            },
        }
    }

    /// PUT and wait for the operation to finish.
    pub async fn put_and_wait<B: Serialize, T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
        body: &B,
        conditions: &Conditions,
    ) -> Result<Response<T>, ArmError> {
        let started = self.put(ctx, path, api_version, body, conditions).await?;
        self.finish(ctx, started, path, api_version).await
    }

    /// DELETE without waiting: None when done (or already absent), else the operation.
    pub async fn delete(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
    ) -> Result<Option<PendingOperation>, ArmError> {
        let url = self.url(path, api_version)?;
        match self
            .send(ctx, Method::DELETE, &url, None, &Conditions::default())
            .await
        {
            Ok(resp) => Ok(self.pending_from(&Method::DELETE, &url, &resp)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// DELETE and wait until the resource is gone.
    pub async fn delete_and_wait(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
    ) -> Result<(), ArmError> {
        if let Some(op) = self.delete(ctx, path, api_version).await? {
            self.wait(ctx, &op).await?;
        }
        Ok(())
    }

    /// GET a collection, following `nextLink` across pages.
    pub async fn list<T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        path: &str,
        api_version: &str,
    ) -> Result<Vec<T>, ArmError> {
        #[derive(serde::Deserialize)]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            #[serde(rename = "nextLink", default)]
            next_link: Option<String>,
        }
        let mut out = Vec::new();
        let mut next = Some(self.url(path, api_version)?);
        while let Some(url) = next.take() {
            let resp = self
                .send(ctx, Method::GET, &url, None, &Conditions::default())
                .await?;
            let page: Page<T> = resp.json(&format!("a page of {path}"))?;
            out.extend(page.value);
            next = page.next_link.filter(|l| !l.is_empty());
        }
        Ok(out)
    }
}

fn decoded<T: DeserializeOwned>(resp: &RawResponse, path: &str) -> Result<Response<T>, ArmError> {
    Ok(Response {
        status: resp.status,
        body: resp.json(path)?,
        etag: resp.etag(),
        request_id: resp.request_id(),
    })
}

fn transport(url: &Url, e: &reqwest::Error) -> ArmError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ArmError::Transport {
        host: url.host_str().unwrap_or_default().to_string(),
        message,
    }
}

/// The provider namespace of the innermost resource in a path, for provider-level throttling policies.
fn provider_namespace(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').collect();
    segs.iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))
        .and_then(|i| segs.get(i + 1))
        .map(|s| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_the_innermost_provider() {
        assert_eq!(
            provider_namespace("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/x/providers/Microsoft.Authorization/roleAssignments/r"),
            Some("microsoft.authorization".into())
        );
        assert_eq!(
            provider_namespace("/subscriptions/s/resourcegroups/g"),
            None
        );
    }

    #[test]
    fn user_agent_names_provider_and_terraform() {
        assert_eq!(
            user_agent(Some("1.11.0")),
            format!(
                "terraform-provider-largek8s/{} terraform/1.11.0",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(!user_agent(None).contains("terraform/"));
    }
}
