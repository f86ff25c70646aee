//! Entra-shaped token endpoints, the cloud metadata document, and bearer-token checks on ARM calls.

use crate::config::Config;
use crate::config::Login;
use crate::entropy::{guid, keyed_digest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The audience ARM tokens are issued for.
pub const ARM_AUDIENCE: &str = "https://management.azure.com/";

/// An HTTP answer from the token endpoints: status and JSON body.
pub type Answer = (u16, Value);

/// `client_assertion_type` for federated (OIDC) credentials.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn aad_error(status: u16, error: &str, code: u32, description: &str, now: &str) -> Answer {
    (
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": now,
            "trace_id": guid(),
            "correlation_id": guid(),
        }),
    )
}

/// What the token endpoint needs to know besides the form.
pub struct Issuer<'a> {
    pub config: &'a Config,
    pub secret: &'a str,
    pub now: f64,
}

impl Issuer<'_> {
    /// `POST /{tenant}/oauth2/v2.0/token` (Microsoft identity platform v2, client-credentials grant).
    ///
    /// Accepts a client secret, or a federated `client_assertion` (OIDC workload identity): any well-formed JWT whose
    /// payload has a non-empty `iss`, `sub` and `aud`, presented for the configured client ID. The simulator does not
    /// check the assertion's signature, because it has no identity provider to trust.
    pub fn token_v2(&self, tenant: &str, form: &HashMap<String, String>) -> Answer {
        let ts = crate::clock::rfc3339(self.now);
        if !tenant.eq_ignore_ascii_case(&self.config.tenant) {
            return aad_error(
                400,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
                &ts,
            );
        }
        if let Some(e) = self.check_client(form, &ts) {
            return e;
        }
        let Some(scope) = form.get("scope") else {
            return aad_error(
                400,
                "invalid_request",
                90014,
                "The required field 'scope' is missing from the credential.",
                &ts,
            );
        };
        if !scope.split(' ').all(|s| s.ends_with("/.default")) {
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                &ts,
            );
        }
        let expires_in = self.expires_in();
        (
            200,
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in,
                "ext_expires_in": expires_in,
                "access_token": self.mint(),
            }),
        )
    }

    /// `POST /adfs/oauth2/token` (AD FS, as on Azure Stack Hub): client credentials with a `resource` parameter.
    pub fn token_adfs(&self, form: &HashMap<String, String>) -> Answer {
        let ts = crate::clock::rfc3339(self.now);
        if let Some(e) = self.check_client(form, &ts) {
            return e;
        }
        let expires_in = self.expires_in();
        (
            200,
            json!({
                "access_token": self.mint(),
                "token_type": "bearer",
                "expires_in": expires_in,
                "resource": form.get("resource").cloned().unwrap_or_else(|| ARM_AUDIENCE.to_string()),
            }),
        )
    }

    /// `GET /metadata/identity/oauth2/token` (the Azure Instance Metadata Service's managed identity endpoint,
    /// as a VM sees it at 169.254.169.254): needs the `Metadata: true` header and a `resource`; a `client_id`,
    /// when given, must name the identity assigned to the "VM", which is the simulator's client ID.
    /// <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http>
    pub fn token_imds(
        &self,
        metadata_header: Option<&str>,
        resource: Option<&str>,
        client_id: Option<&str>,
    ) -> Answer {
        if !metadata_header.is_some_and(|h| h.eq_ignore_ascii_case("true")) {
            return (
                400,
                json!({ "error": "invalid_request", "error_description": "Required metadata header not specified" }),
            );
        }
        let Some(resource) = resource.filter(|r| !r.is_empty()) else {
            return (
                400,
                json!({ "error": "invalid_request", "error_description": "Required query variable 'resource' is missing" }),
            );
        };
        if client_id.is_some_and(|id| !id.eq_ignore_ascii_case(&self.config.client_id)) {
            return (
                400,
                json!({ "error": "invalid_request", "error_description": "Identity not found" }),
            );
        }
        let expires_in = self.expires_in();
        // IMDS gives its numbers as strings, and expires_on on the client's (real) clock.
        let real_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (
            200,
            json!({
                "access_token": self.mint(),
                "client_id": self.config.client_id,
                "expires_in": expires_in.to_string(),
                "expires_on": (real_now + expires_in).to_string(),
                "not_before": real_now.to_string(),
                "resource": resource,
                "token_type": "Bearer",
            }),
        )
    }

    fn check_client(&self, form: &HashMap<String, String>, ts: &str) -> Option<Answer> {
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Some(aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type. Only 'client_credentials' is supported by this simulator.",
                ts,
            ));
        }
        let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
        if !client_id.eq_ignore_ascii_case(&self.config.client_id) {
            return Some(aad_error(
                400,
                "unauthorized_client",
                700016,
                &format!("Application with identifier '{client_id}' was not found in the directory '{}'.", self.config.tenant),
                ts,
            ));
        }
        if let Some(assertion) = form.get("client_assertion") {
            if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER)
                || !well_formed_assertion(assertion)
            {
                return Some(aad_error(
                    401,
                    "invalid_client",
                    50027,
                    "JWT token is invalid or malformed.",
                    ts,
                ));
            }
            return None;
        }
        if form.get("client_secret").map(String::as_str) != Some(self.config.client_secret.as_str())
        {
            return Some(aad_error(
                401,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
                ts,
            ));
        }
        None
    }

    /// Real seconds until expiry, as a client's clock measures them: whole seconds, as Entra sends them, and
    /// at least one.
    fn expires_in(&self) -> u64 {
        (self.config.token_lifetime / self.config.time_scale)
            .floor()
            .max(1.0) as u64
    }

    /// Simulated seconds a token lives: `--token-lifetime`, but never less than the `expires_in` it is issued
    /// with, so that at a time scale above the lifetime a client that trusts `expires_in` never sends an
    /// expired token.
    fn lifetime(&self) -> f64 {
        self.config
            .token_lifetime
            .max(self.expires_in() as f64 * self.config.time_scale)
    }

    fn mint(&self) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256","kid":"largek8s-sim"}"#);
        let payload = json!({
            "aud": ARM_AUDIENCE,
            "iss": format!("https://sts.windows.net/{}/", self.config.tenant),
            "tid": self.config.tenant,
            "appid": self.config.client_id,
            "oid": self.config.client_id,
            "iat": self.now.floor() as i64,
            "nbf": self.now.floor() as i64,
            "exp": (self.now + self.lifetime()).floor() as i64,
            "jti": guid(),
        });
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let signed = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(keyed_digest(self.secret, &signed).to_be_bytes());
        format!("{signed}.{sig}")
    }
}

fn decode_json(segment: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn well_formed_assertion(jwt: &str) -> bool {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || decode_json(parts[0]).is_none() {
        return false;
    }
    let Some(payload) = decode_json(parts[1]) else {
        return false;
    };
    let present = |k: &str| match &payload[k] {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    present("iss") && present("sub") && present("aud")
}

/// Why an ARM call was not authenticated: ARM's error code and message.
#[derive(Debug, PartialEq)]
pub struct Unauthenticated {
    pub code: &'static str,
    pub message: String,
}

/// Checks the `Authorization` header of an ARM call.
pub fn check_bearer(
    header: Option<&str>,
    secret: &str,
    tenant: &str,
    now: f64,
) -> Result<(), Unauthenticated> {
    let Some(header) = header else {
        return Err(Unauthenticated {
            code: "AuthenticationFailed",
            message: "Authentication failed. The 'Authorization' header is missing.".into(),
        });
    };
    let invalid = |why: &str| Unauthenticated {
        code: "InvalidAuthenticationToken",
        message: format!("The access token is invalid: {why}."),
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return Err(Unauthenticated {
            code: "AuthenticationFailedInvalidHeader",
            message: "Authentication failed. The 'Authorization' header is provided in an invalid format.".into(),
        });
    };
    let mut parts = token.trim().rsplitn(2, '.');
    let (Some(sig), Some(signed)) = (parts.next(), parts.next()) else {
        return Err(invalid("not a JWT"));
    };
    if URL_SAFE_NO_PAD.encode(keyed_digest(secret, signed).to_be_bytes()) != sig {
        return Err(invalid("signature verification failed"));
    }
    let payload = signed
        .split('.')
        .nth(1)
        .and_then(decode_json)
        .ok_or_else(|| invalid("payload is not JSON"))?;
    if !payload["tid"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
    {
        return Err(Unauthenticated {
            code: "InvalidAuthenticationTokenTenant",
            message: "The access token is from the wrong issuer. It must match the tenant associated with this subscription.".into(),
        });
    }
    let exp = payload["exp"].as_f64().unwrap_or(0.0);
    if exp <= now {
        return Err(Unauthenticated {
            code: "ExpiredAuthenticationToken",
            message: format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                crate::clock::rfc3339(exp),
                crate::clock::rfc3339(now)
            ),
        });
    }
    Ok(())
}

/// `GET /metadata/endpoints`: the cloud metadata document, pointing login and ARM at the simulator.
///
/// api-version 2020-06-01 and later answer with an array of clouds (as `management.azure.com` does); older
/// versions (and no version) with the single-object shape Azure Stack Hub serves.
pub fn metadata(base: &str, api_version: Option<&str>, provider: Login) -> Value {
    let (login, tenant, identity_provider) = match provider {
        Login::Entra => (format!("{base}/"), "common", "AAD"),
        // Azure Stack Hub with AD FS names the login authority with its /adfs path and tenant "adfs".
        Login::Adfs => (format!("{base}/adfs"), "adfs", "ADFS"),
    };
    let arm = format!("{base}/");
    let cloud = json!({
        "name": "LargeK8sSimulator",
        "portal": format!("{base}/portal"),
        "authentication": {
            "loginEndpoint": login,
            "audiences": [ARM_AUDIENCE, "https://management.core.windows.net/"],
            "tenant": tenant,
            "identityProvider": identity_provider,
        },
        "resourceManager": arm,
        "media": format!("{base}/media"),
        "graphAudience": "https://graph.windows.net/",
        "graph": format!("{base}/graph/"),
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "gallery": format!("{base}/gallery/"),
        "sqlManagement": format!("{base}/sql/"),
        "batch": "https://batch.core.windows.net/",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
        },
    });
    let array_shape = api_version.is_some_and(|v| v >= "2020-06-01");
    if array_shape {
        Value::Array(vec![cloud])
    } else {
        json!({
            "galleryEndpoint": cloud["gallery"],
            "graphEndpoint": cloud["graph"],
            "portalEndpoint": cloud["portal"],
            "authentication": {
                "loginEndpoint": login,
                "audiences": [ARM_AUDIENCE],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A client-credentials token for the configured service principal, issued at simulated second 1,000
    /// with key "k".
    fn client_credentials_token(config: &Config) -> Value {
        let issuer = Issuer {
            config,
            secret: "k",
            now: 1000.0,
        };
        let (status, body) = issuer.token_v2(
            &config.tenant,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &config.client_id),
                ("client_secret", &config.client_secret),
                ("scope", "https://management.azure.com/.default"),
            ]),
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    #[test]
    fn a_token_lives_at_least_the_expires_in_it_was_issued_with() {
        // 3,600 simulated seconds at 5,000x are 0.72 real seconds, but expires_in says 1: the token must
        // still pass just before that one real second (5,000 simulated seconds) is over.
        let config = Config {
            time_scale: 5000.0,
            ..Config::default()
        };
        let body = client_credentials_token(&config);
        assert_eq!(body["expires_in"], 1);
        let bearer = format!("Bearer {}", body["access_token"].as_str().expect("token"));
        assert_eq!(
            check_bearer(Some(&bearer), "k", &config.tenant, 1000.0 + 4999.0),
            Ok(())
        );
        let expired = check_bearer(Some(&bearer), "k", &config.tenant, 1000.0 + 5000.0);
        assert_eq!(expired.unwrap_err().code, "ExpiredAuthenticationToken");
    }

    #[test]
    fn issued_tokens_pass_until_they_expire() {
        let config = Config::default();
        let body = client_credentials_token(&config);
        let bearer = format!("Bearer {}", body["access_token"].as_str().expect("token"));
        assert_eq!(
            check_bearer(Some(&bearer), "k", &config.tenant, 1001.0),
            Ok(())
        );
        let expired = check_bearer(
            Some(&bearer),
            "k",
            &config.tenant,
            1000.0 + config.token_lifetime,
        );
        assert_eq!(expired.unwrap_err().code, "ExpiredAuthenticationToken");
        assert_eq!(
            check_bearer(Some(&bearer), "other", &config.tenant, 1001.0)
                .unwrap_err()
                .code,
            "InvalidAuthenticationToken"
        );
    }

    #[test]
    fn managed_identity_tokens_need_the_metadata_header_and_the_assigned_identity() {
        let config = Config::default();
        let issuer = Issuer {
            config: &config,
            secret: "k",
            now: 0.0,
        };
        let resource = Some("https://management.azure.com/");
        let (status, body) = issuer.token_imds(None, resource, None);
        assert_eq!(status, 400, "{body}");
        assert!(body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("metadata header")));
        let (status, _) = issuer.token_imds(Some("true"), None, None);
        assert_eq!(status, 400);
        let (status, body) = issuer.token_imds(Some("true"), resource, Some("someone-else"));
        assert_eq!(
            (status, body["error_description"].as_str()),
            (400, Some("Identity not found"))
        );
        let (status, body) = issuer.token_imds(Some("true"), resource, Some(&config.client_id));
        assert_eq!(status, 200, "{body}");
        assert!(
            body["expires_in"].is_string(),
            "IMDS sends numbers as strings: {body}"
        );
        assert_eq!(body["resource"], "https://management.azure.com/");
    }

    #[test]
    fn wrong_secret_is_invalid_client() {
        let config = Config::default();
        let issuer = Issuer {
            config: &config,
            secret: "k",
            now: 0.0,
        };
        let (status, body) = issuer.token_v2(
            &config.tenant,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &config.client_id),
                ("client_secret", "nope"),
                ("scope", "https://management.azure.com/.default"),
            ]),
        );
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
    }
}
