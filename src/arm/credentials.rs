//! Access tokens for ARM: client secret, OIDC federation, managed identity, Azure CLI and AD FS, cached and shared.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::cloud::Cloud;
use super::config::{AuthMethod, OidcSource, Secret};
use super::error::{ArmError, AuthError};
use super::retry::{Backoff, Ctx};

/// An access token and when it stops being accepted.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: Secret,
    pub expires_at: Instant,
    /// When the cache fetches a new one: ahead of expiry, so requests in flight never carry a dying token.
    refresh_at: Instant,
}

impl AccessToken {
    fn new(token: String, lifetime: Duration) -> Self {
        let now = Instant::now();
        // Refresh 5 minutes ahead (as the Azure SDKs do), or a tenth of the lifetime for short-lived tokens.
        let margin = Duration::from_secs(300).min(lifetime / 10);
        AccessToken {
            token: Secret::new(token),
            expires_at: now + lifetime,
            refresh_at: now + lifetime - margin,
        }
    }
}

/// The `client_assertion_type` of federated credentials.
/// <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential>
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The audience GitHub Actions' ID tokens need for Entra workload identity federation.
const OIDC_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// IMDS api-version for managed identity tokens.
const IMDS_API_VERSION: &str = "2018-02-01";

/// Fetches tokens with one configured method, and caches them: concurrent callers share one fetch.
#[derive(Debug)]
pub struct TokenCache {
    method: AuthMethod,
    cloud: Cloud,
    http: reqwest::Client,
    backoff: Backoff,
    cached: Mutex<Option<AccessToken>>,
}

impl TokenCache {
    pub fn new(method: AuthMethod, cloud: Cloud, http: reqwest::Client) -> Arc<Self> {
        Arc::new(TokenCache {
            method,
            cloud,
            http,
            backoff: Backoff {
                max_retries: 3,
                ..Backoff::default()
            },
            cached: Mutex::new(None),
        })
    }

    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// A valid token: the cached one, or a new one fetched by the first caller while the others wait for it.
    pub async fn token(&self, ctx: &Ctx) -> Result<AccessToken, ArmError> {
        let mut cached = ctx
            .run("waiting for an access token", async {
                Ok(self.cached.lock().await)
            })
            .await?;
        let now = Instant::now();
        if let Some(t) = cached.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(t.clone());
        }
        match ctx
            .run("fetching an access token", self.fetch_with_retries(ctx))
            .await
        {
            Ok(t) => {
                *cached = Some(t.clone());
                Ok(t)
            }
            // A failed early refresh keeps using the old token while it lasts.
            Err(e) => match cached.as_ref().filter(|t| now < t.expires_at) {
                Some(t) if !matches!(e, ArmError::Cancelled { .. }) => Ok(t.clone()),
                _ => Err(e),
            },
        }
    }

    /// Forgets `token` after ARM refused it (401), so the next call fetches anew.
    pub async fn invalidate(&self, token: &AccessToken) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token.token) {
            *cached = None;
        }
    }

    async fn fetch_with_retries(&self, ctx: &Ctx) -> Result<AccessToken, ArmError> {
        let mut attempt = 0;
        loop {
            match self.fetch().await {
                Err(Fetch::Transient(_)) if attempt < self.backoff.max_retries => {
                    attempt += 1;
                    ctx.sleep(self.backoff.delay(attempt), "retrying a token request")
                        .await?;
                }
                Err(Fetch::Transient(e)) | Err(Fetch::Fatal(e)) => return Err(e),
                Ok(t) => return Ok(t),
            }
        }
    }

    async fn fetch(&self) -> Result<AccessToken, Fetch> {
        match &self.method {
            AuthMethod::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                let form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", client_id.clone()),
                    ("client_secret", secret.expose().to_string()),
                ];
                self.token_request(tenant_id, form, "client secret").await
            }
            AuthMethod::Oidc {
                tenant_id,
                client_id,
                source,
            } => {
                let assertion = self.assertion(source).await?;
                let form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_id", client_id.clone()),
                    ("client_assertion_type", JWT_BEARER.to_string()),
                    ("client_assertion", assertion.expose().to_string()),
                ];
                self.token_request(tenant_id, form, "OIDC").await
            }
            AuthMethod::Msi {
                client_id,
                endpoint,
            } => self.msi(client_id.as_deref(), endpoint).await,
            AuthMethod::Cli { tenant_id } => self.cli(tenant_id.as_deref()).await,
        }
    }

    /// POSTs a client-credentials request to the cloud's token endpoint: v2 with `scope`, or for AD FS the
    /// v1 shape with `resource`.
    async fn token_request(
        &self,
        tenant_id: &str,
        mut form: Vec<(&'static str, String)>,
        credential: &'static str,
    ) -> Result<AccessToken, Fetch> {
        let url = self.cloud.token_url(tenant_id).map_err(Fetch::Fatal)?;
        if self.cloud.adfs {
            form.push(("resource", self.cloud.audience.clone()));
        } else {
            form.push(("scope", self.cloud.scope()));
        }
        let resp = self.http.post(url.clone()).form(&form).send().await;
        read_token(resp, credential).await
    }

    async fn assertion(&self, source: &OidcSource) -> Result<Secret, Fetch> {
        let fail = |description: String| {
            Fetch::Fatal(
                AuthError {
                    credential: "OIDC",
                    status: None,
                    code: None,
                    description,
                }
                .into(),
            )
        };
        match source {
            OidcSource::Token(t) => Ok(t.clone()),
            OidcSource::File(path) => match tokio::fs::read_to_string(path).await {
                Ok(s) if !s.trim().is_empty() => Ok(Secret::new(s.trim())),
                Ok(_) => Err(fail(format!(
                    "the ID token file {} is empty",
                    path.display()
                ))),
                Err(e) => Err(fail(format!(
                    "cannot read the ID token file {}: {e}",
                    path.display()
                ))),
            },
            OidcSource::Request { url, token } => {
                let mut url = url.clone();
                if !url.query_pairs().any(|(k, _)| k == "audience") {
                    url.query_pairs_mut()
                        .append_pair("audience", OIDC_EXCHANGE_AUDIENCE);
                }
                let resp = self
                    .http
                    .get(url)
                    .bearer_auth(token.expose())
                    .header("Accept", "application/json")
                    .send()
                    .await
                    .map_err(|e| transport(&e))?;
                let status = resp.status();
                let body: Value = resp.json().await.map_err(|e| transport(&e))?;
                match body.get("value").and_then(Value::as_str) {
                    Some(v) if status.is_success() => Ok(Secret::new(v)),
                    _ => Err(fail(format!(
                        "the OIDC request URL answered HTTP {status} without an ID token"
                    ))),
                }
            }
        }
    }

    /// Managed identity through IMDS (or an IMDS-style endpoint).
    /// <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http>
    async fn msi(&self, client_id: Option<&str>, endpoint: &Url) -> Result<AccessToken, Fetch> {
        let mut url = endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", IMDS_API_VERSION);
            q.append_pair("resource", &self.cloud.audience);
            if let Some(id) = client_id {
                q.append_pair("client_id", id);
            }
        }
        let resp = self.http.get(url).header("Metadata", "true").send().await;
        read_token(resp, "managed identity").await
    }

    /// `az account get-access-token`. <https://learn.microsoft.com/cli/azure/account#az-account-get-access-token>
    async fn cli(&self, tenant_id: Option<&str>) -> Result<AccessToken, Fetch> {
        let fail = |description: String| {
            Fetch::Fatal(
                AuthError {
                    credential: "Azure CLI",
                    status: None,
                    code: None,
                    description,
                }
                .into(),
            )
        };
        let mut cmd = tokio::process::Command::new("az");
        cmd.args([
            "account",
            "get-access-token",
            "--resource",
            &self.cloud.audience,
            "-o",
            "json",
        ]);
        if let Some(t) = tenant_id {
            cmd.args(["--tenant", t]);
        }
        let out = cmd.kill_on_drop(true).output().await.map_err(|e| {
            fail(format!(
                "cannot run `az` ({e}); install the Azure CLI and run `az login`, or configure another credential"
            ))
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(fail(format!(
                "`az account get-access-token` failed: {}",
                stderr.trim().chars().take(500).collect::<String>()
            )));
        }
        let body: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            fail(format!(
                "`az account get-access-token` printed no JSON: {e}"
            ))
        })?;
        let token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("`az account get-access-token` printed no accessToken".into()))?;
        // Newer CLIs print `expires_on` (epoch seconds); older ones only a local-time `expiresOn`, for which
        // a short assumed lifetime makes us ask again soon rather than use an expired token.
        let lifetime = number(&body, "expires_on")
            .map(epoch_to_lifetime)
            .unwrap_or(Duration::from_secs(600));
        Ok(AccessToken::new(token.to_string(), lifetime))
    }
}

/// A fetch failure and whether another try may help.
enum Fetch {
    Transient(ArmError),
    Fatal(ArmError),
}

fn transport(e: &reqwest::Error) -> Fetch {
    Fetch::Transient(ArmError::Transport {
        host: e
            .url()
            .and_then(|u| u.host_str())
            .unwrap_or("the token endpoint")
            .to_string(),
        // reqwest's Display includes the URL but never the form body, so no secret can appear here.
        message: e.to_string(),
    })
}

/// Reads a token endpoint's answer (v2, v1/AD FS or IMDS shapes) or its error.
async fn read_token(
    resp: Result<reqwest::Response, reqwest::Error>,
    credential: &'static str,
) -> Result<AccessToken, Fetch> {
    let resp = resp.map_err(|e| transport(&e))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| transport(&e))?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let err = ArmError::from(AuthError {
            credential,
            status: Some(status.as_u16()),
            code: field("error"),
            description: field("error_description")
                .unwrap_or_else(|| "the token endpoint refused the request".into()),
        });
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            Fetch::Transient(err)
        } else {
            Fetch::Fatal(err)
        });
    }
    let bad = |what: &str| {
        Fetch::Fatal(
            AuthError {
                credential,
                status: Some(status.as_u16()),
                code: None,
                description: format!("the token endpoint's answer has no {what}"),
            }
            .into(),
        )
    };
    let json = json.ok_or_else(|| bad("JSON body"))?;
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("access_token"))?;
    let lifetime = number(&json, "expires_in")
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
        .or_else(|| number(&json, "expires_on").map(epoch_to_lifetime))
        .ok_or_else(|| bad("expires_in"))?;
    Ok(AccessToken::new(token.to_string(), lifetime))
}

/// A number that token endpoints send either as JSON number or as string (v1 and IMDS).
fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn epoch_to_lifetime(epoch: f64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Duration::from_secs_f64((epoch - now).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_lifetimes_come_as_numbers_or_strings() {
        assert_eq!(
            number(&json!({"expires_in": 3599}), "expires_in"),
            Some(3599.0)
        );
        assert_eq!(
            number(&json!({"expires_in": "3599"}), "expires_in"),
            Some(3599.0)
        );
        assert_eq!(number(&json!({"expires_in": null}), "expires_in"), None);
    }

    #[test]
    fn tokens_refresh_ahead_of_expiry() {
        let long = AccessToken::new("t".into(), Duration::from_secs(3600));
        assert_eq!(long.expires_at - long.refresh_at, Duration::from_secs(300));
        let short = AccessToken::new("t".into(), Duration::from_secs(60));
        assert_eq!(short.expires_at - short.refresh_at, Duration::from_secs(6));
        assert_eq!(format!("{:?}", short.token), "***");
    }
}
