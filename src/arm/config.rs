//! The provider's Azure settings, completed from the azurerm provider's ARM_* environment variables and checked.
//!
//! Each attribute falls back to the variable the azurerm provider reads, so one set of credentials serves both
//! providers (<https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs#argument-reference>).
//! Our own additions: `arm_endpoint` (`ARM_ENDPOINT`) and `max_concurrency` (`LARGEK8S_MAX_CONCURRENCY`).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use url::Url;

use super::cloud::Cloud;

/// A sensitive string: its Debug and Display print `***`, so it cannot leak through logs or diagnostics.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The provider block's Azure attributes as Terraform gave them (None = not set in configuration).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub subscription_id: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_id_file_path: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_secret_file_path: Option<String>,
    pub use_oidc: Option<bool>,
    pub oidc_token: Option<Secret>,
    pub oidc_token_file_path: Option<String>,
    pub oidc_request_url: Option<String>,
    pub oidc_request_token: Option<Secret>,
    pub use_msi: Option<bool>,
    pub msi_endpoint: Option<String>,
    pub use_cli: Option<bool>,
    pub environment: Option<String>,
    pub metadata_host: Option<String>,
    pub arm_endpoint: Option<String>,
    pub max_concurrency: Option<i64>,
}

/// A setting that is missing, malformed or contradicts another, tied to the attribute (and the environment
/// variable it may have come from) so the provider can report it on that attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub attribute: &'static str,
    pub env_var: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attribute)?;
        if let Some(v) = self.env_var {
            write!(f, " (or {v})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Where the OIDC client assertion comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OidcSource {
    Token(Secret),
    /// Read anew for every token request: workload identity rotates the file.
    File(PathBuf),
    /// GitHub Actions / HCP Terraform style: GET `url` with a bearer `token`, answer `{"value": ...}`.
    Request {
        url: Url,
        token: Secret,
    },
}

/// The one way this provider authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: Secret,
    },
    Oidc {
        tenant_id: String,
        client_id: String,
        source: OidcSource,
    },
    /// Managed identity through an IMDS-style endpoint.
    Msi {
        client_id: Option<String>,
        endpoint: Url,
    },
    /// `az account get-access-token`.
    Cli { tenant_id: Option<String> },
}

impl AuthMethod {
    /// The credential as users name it, with the application and tenant it is for: what a refusal is about.
    pub fn describe(&self) -> String {
        match self {
            AuthMethod::ClientSecret {
                tenant_id,
                client_id,
                ..
            } => format!("the client secret of application {client_id} in tenant {tenant_id}"),
            AuthMethod::Oidc {
                tenant_id,
                client_id,
                ..
            } => format!(
                "the OIDC token (workload identity federation) of application {client_id} in tenant {tenant_id}"
            ),
            AuthMethod::Msi {
                client_id: Some(id),
                endpoint,
            } => format!("the managed identity {id} (token endpoint {endpoint})"),
            AuthMethod::Msi {
                client_id: None,
                endpoint,
            } => format!("the managed identity of this machine (token endpoint {endpoint})"),
            AuthMethod::Cli {
                tenant_id: Some(t),
            } => format!("the Azure CLI's signed-in account in tenant {t}"),
            AuthMethod::Cli { tenant_id: None } => {
                "the Azure CLI's signed-in account in its default tenant".to_string()
            }
        }
    }

    /// The provider attribute that selects this credential, where a diagnostic about it belongs.
    pub fn attribute(&self) -> &'static str {
        match self {
            AuthMethod::ClientSecret { .. } => "client_secret",
            AuthMethod::Oidc { .. } => "use_oidc",
            AuthMethod::Msi { .. } => "use_msi",
            AuthMethod::Cli { .. } => "use_cli",
        }
    }

    /// What to check when the credential is refused.
    pub fn remedy(&self) -> &'static str {
        match self {
            AuthMethod::ClientSecret { .. } => {
                "Check that client_secret (or ARM_CLIENT_SECRET / ARM_CLIENT_SECRET_FILE_PATH) holds the secret's \
                 value, not its ID, that it has not expired, and that client_id and tenant_id name its application."
            }
            AuthMethod::Oidc { .. } => {
                "Check the ID token (oidc_token, oidc_token_file_path or oidc_request_url, or their ARM_* \
                 variables) and that the application has a federated credential whose issuer, subject and \
                 audience (api://AzureADTokenExchange) match it."
            }
            AuthMethod::Msi { .. } => {
                "Check that the identity is assigned to this machine and that client_id (ARM_CLIENT_ID) names it."
            }
            AuthMethod::Cli { .. } => {
                "Run `az login` (with `--tenant` for tenant_id), or configure another credential."
            }
        }
    }

    /// The secrets this credential carries, for scrubbing from logs and messages.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            AuthMethod::ClientSecret { secret, .. } => vec![secret.expose()],
            AuthMethod::Oidc { source, .. } => match source {
                OidcSource::Token(t) => vec![t.expose()],
                OidcSource::Request { token, .. } => vec![token.expose()],
                OidcSource::File(_) => Vec::new(),
            },
            AuthMethod::Msi { .. } | AuthMethod::Cli { .. } => Vec::new(),
        }
    }
}

/// How the cloud's endpoints are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudSource {
    Known(Cloud),
    /// Ask `{url}/metadata/endpoints` (metadata_host, or an explicit arm_endpoint).
    Discover(Url),
}

/// A complete, consistent configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub subscription_id: String,
    pub auth: AuthMethod,
    pub cloud: CloudSource,
    pub max_concurrency: usize,
}

/// Concurrency when none is configured: enough to keep ARM's write bucket busy, few enough not to burst
/// through it.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// Upper bound for max_concurrency.
pub const MAX_CONCURRENCY_LIMIT: i64 = 256;
/// Azure's Instance Metadata Service token endpoint.
/// <https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token>
pub const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

struct Resolver<'a, E: Fn(&str) -> Option<String>> {
    env: &'a E,
    errors: Vec<ConfigError>,
}

impl<E: Fn(&str) -> Option<String>> Resolver<'_, E> {
    fn error(&mut self, attribute: &'static str, env_var: Option<&'static str>, message: String) {
        self.errors.push(ConfigError {
            attribute,
            env_var,
            message,
        });
    }

    /// The configured value, else the first non-empty environment variable.
    fn string(&self, set: Option<String>, vars: &[&'static str]) -> Option<String> {
        set.filter(|s| !s.is_empty()).or_else(|| {
            vars.iter()
                .find_map(|v| (self.env)(v).filter(|s| !s.is_empty()))
        })
    }

    fn secret(&self, set: Option<Secret>, vars: &[&'static str]) -> Option<Secret> {
        self.string(set.map(|s| s.0), vars).map(Secret)
    }

    fn boolean(
        &mut self,
        set: Option<bool>,
        attribute: &'static str,
        var: &'static str,
    ) -> Option<bool> {
        if set.is_some() {
            return set;
        }
        let raw = (self.env)(var).filter(|s| !s.is_empty())?;
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.error(
                    attribute,
                    Some(var),
                    format!("{raw:?} is not true or false"),
                );
                None
            }
        }
    }

    /// Reads a file named by a setting, trimmed (a trailing newline is never part of an ID or secret).
    fn file(&mut self, path: &str, attribute: &'static str, var: &'static str) -> Option<String> {
        match std::fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Ok(_) => {
                self.error(attribute, Some(var), format!("the file {path:?} is empty"));
                None
            }
            Err(e) => {
                self.error(attribute, Some(var), format!("cannot read {path:?}: {e}"));
                None
            }
        }
    }

    /// A URL that may use plain http only on a loopback host.
    fn endpoint_url(
        &mut self,
        raw: &str,
        attribute: &'static str,
        var: &'static str,
    ) -> Option<Url> {
        let with_scheme = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("https://{raw}")
        };
        let url = match Url::parse(&with_scheme) {
            Ok(u) => u,
            Err(e) => {
                self.error(attribute, Some(var), format!("{raw:?} is not a URL: {e}"));
                return None;
            }
        };
        match url.scheme() {
            "https" => Some(url),
            "http" if is_loopback(&url) => Some(url),
            "http" => {
                self.error(
                    attribute,
                    Some(var),
                    format!("{raw:?} uses plain http, which is allowed only for a loopback host (127.0.0.0/8, ::1, localhost); use https"),
                );
                None
            }
            other => {
                self.error(
                    attribute,
                    Some(var),
                    format!("unsupported scheme {other:?}; use https"),
                );
                None
            }
        }
    }
}

/// Whether the URL's host is on this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Completes `settings` from the environment (`env` is `std::env::var(..).ok()` in the provider, a map in
/// tests) and checks it. Every problem is reported, not just the first.
pub fn resolve(
    settings: Settings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Resolved, Vec<ConfigError>> {
    let mut r = Resolver {
        env: &env,
        errors: Vec::new(),
    };
    let s = settings;

    let subscription_id = r.string(s.subscription_id, &["ARM_SUBSCRIPTION_ID"]);
    if subscription_id.is_none() {
        r.error(
            "subscription_id",
            Some("ARM_SUBSCRIPTION_ID"),
            "the subscription to manage is required".into(),
        );
    }
    let tenant_id = r.string(s.tenant_id, &["ARM_TENANT_ID"]);

    let client_id = r.string(s.client_id, &["ARM_CLIENT_ID"]);
    let client_id_file = r.string(s.client_id_file_path, &["ARM_CLIENT_ID_FILE_PATH"]);
    let client_id = match (client_id, client_id_file) {
        (id, None) => id,
        (id, Some(path)) => {
            let from_file = r.file(&path, "client_id_file_path", "ARM_CLIENT_ID_FILE_PATH");
            match (id, from_file) {
                (Some(id), Some(f)) if id != f => {
                    r.error(
                        "client_id_file_path",
                        Some("ARM_CLIENT_ID_FILE_PATH"),
                        format!("the file holds a different client ID than client_id ({id}); set only one"),
                    );
                    None
                }
                (id, f) => id.or(f),
            }
        }
    };

    let secret = r.secret(s.client_secret, &["ARM_CLIENT_SECRET"]);
    let secret_file = r.string(s.client_secret_file_path, &["ARM_CLIENT_SECRET_FILE_PATH"]);
    let secret = match (secret, secret_file) {
        (secret, None) => secret,
        (secret, Some(path)) => {
            let from_file = r
                .file(
                    &path,
                    "client_secret_file_path",
                    "ARM_CLIENT_SECRET_FILE_PATH",
                )
                .map(Secret);
            match (secret, from_file) {
                (Some(a), Some(b)) if a != b => {
                    r.error(
                        "client_secret_file_path",
                        Some("ARM_CLIENT_SECRET_FILE_PATH"),
                        "the file holds a different secret than client_secret; set only one".into(),
                    );
                    None
                }
                (a, b) => a.or(b),
            }
        }
    };

    let use_oidc = r
        .boolean(s.use_oidc, "use_oidc", "ARM_USE_OIDC")
        .unwrap_or(false);
    let use_msi = r
        .boolean(s.use_msi, "use_msi", "ARM_USE_MSI")
        .unwrap_or(false);
    let use_cli = r.boolean(s.use_cli, "use_cli", "ARM_USE_CLI");

    let oidc_token = r.secret(s.oidc_token, &["ARM_OIDC_TOKEN"]);
    let oidc_file = r.string(s.oidc_token_file_path, &["ARM_OIDC_TOKEN_FILE_PATH"]);
    let oidc_url = r.string(
        s.oidc_request_url,
        &["ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL"],
    );
    let oidc_request_token = r.secret(
        s.oidc_request_token,
        &["ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
    );
    let msi_endpoint = r.string(s.msi_endpoint, &["ARM_MSI_ENDPOINT"]);

    let chosen: Vec<&str> = [
        (secret.is_some() && !use_oidc && !use_msi, "client_secret"),
        (use_oidc, "use_oidc"),
        (use_msi, "use_msi"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if use_oidc && use_msi {
        r.error(
            "use_msi",
            Some("ARM_USE_MSI"),
            "use_oidc and use_msi are both enabled; enable one way to authenticate".into(),
        );
    }
    if (use_oidc || use_msi) && secret.is_some() {
        r.error(
            "client_secret",
            Some("ARM_CLIENT_SECRET"),
            format!(
                "a client secret is set together with {}; remove one of them",
                if use_oidc { "use_oidc" } else { "use_msi" }
            ),
        );
    }
    if use_cli == Some(true) && !chosen.is_empty() {
        r.error(
            "use_cli",
            Some("ARM_USE_CLI"),
            format!(
                "use_cli is enabled together with {}; enable one way to authenticate",
                chosen.join(", ")
            ),
        );
    }

    let need_tenant_and_client = |r: &mut Resolver<'_, _>, what: &str| {
        if tenant_id.is_none() {
            r.error(
                "tenant_id",
                Some("ARM_TENANT_ID"),
                format!("{what} needs the tenant ID"),
            );
        }
        if client_id.is_none() {
            r.error(
                "client_id",
                Some("ARM_CLIENT_ID"),
                format!("{what} needs the application (client) ID"),
            );
        }
        tenant_id.clone().zip(client_id.clone())
    };

    let auth = if use_oidc {
        let tc = need_tenant_and_client(&mut r, "OIDC authentication");
        let sources = [oidc_token.is_some(), oidc_file.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if sources > 1 {
            r.error(
                "oidc_token_file_path",
                Some("ARM_OIDC_TOKEN_FILE_PATH"),
                "both oidc_token and oidc_token_file_path are set; set one".into(),
            );
        }
        let source = if let Some(t) = oidc_token {
            Some(OidcSource::Token(t))
        } else if let Some(f) = oidc_file {
            Some(OidcSource::File(PathBuf::from(f)))
        } else {
            match (oidc_url, oidc_request_token) {
                (Some(u), Some(token)) => r
                    .endpoint_url(&u, "oidc_request_url", "ARM_OIDC_REQUEST_URL")
                    .map(|url| OidcSource::Request { url, token }),
                (Some(_), None) => {
                    r.error(
                        "oidc_request_token",
                        Some("ARM_OIDC_REQUEST_TOKEN"),
                        "oidc_request_url is set but the bearer token for it is not".into(),
                    );
                    None
                }
                // HCP Terraform hands every run of a workspace that sets TFC_WORKLOAD_IDENTITY_AUDIENCE a
                // workload identity token in this variable; it is the last source tried, so an explicit one wins.
                // https://developer.hashicorp.com/terraform/cloud-docs/workspaces/dynamic-provider-credentials/workload-identity-tokens
                (None, _) => match r.secret(None, &["TFC_WORKLOAD_IDENTITY_TOKEN"]) {
                    Some(token) => Some(OidcSource::Token(token)),
                    None => {
                        r.error(
                            "oidc_token",
                            Some("ARM_OIDC_TOKEN"),
                            "use_oidc is enabled but no ID token is configured: set oidc_token, oidc_token_file_path, or oidc_request_url with oidc_request_token (in HCP Terraform, set the workspace variable TFC_WORKLOAD_IDENTITY_AUDIENCE to api://AzureADTokenExchange)".into(),
                        );
                        None
                    }
                },
            }
        };
        tc.zip(source)
            .map(|((tenant_id, client_id), source)| AuthMethod::Oidc {
                tenant_id,
                client_id,
                source,
            })
    } else if use_msi {
        let endpoint = msi_endpoint.unwrap_or_else(|| IMDS_TOKEN_ENDPOINT.to_string());
        // IMDS speaks plain http on a link-local address by design, so no https rule applies here.
        match Url::parse(&endpoint) {
            Ok(endpoint) => Some(AuthMethod::Msi {
                client_id: client_id.clone(),
                endpoint,
            }),
            Err(e) => {
                r.error(
                    "msi_endpoint",
                    Some("ARM_MSI_ENDPOINT"),
                    format!("{endpoint:?} is not a URL: {e}"),
                );
                None
            }
        }
    } else if let Some(secret) = secret {
        need_tenant_and_client(&mut r, "client secret authentication").map(
            |(tenant_id, client_id)| AuthMethod::ClientSecret {
                tenant_id,
                client_id,
                secret,
            },
        )
    } else if use_cli != Some(false) {
        Some(AuthMethod::Cli {
            tenant_id: tenant_id.clone(),
        })
    } else {
        r.error(
            "use_cli",
            Some("ARM_USE_CLI"),
            "no way to authenticate is configured: set client_secret, use_oidc or use_msi, or allow use_cli".into(),
        );
        None
    };

    let environment = r.string(s.environment, &["ARM_ENVIRONMENT"]);
    let metadata_host = r.string(s.metadata_host, &["ARM_METADATA_HOSTNAME"]);
    let arm_endpoint = r.string(s.arm_endpoint, &["ARM_ENDPOINT"]);
    let cloud = match (environment, metadata_host, arm_endpoint) {
        (_, Some(_), Some(_)) => {
            r.error(
                "arm_endpoint",
                Some("ARM_ENDPOINT"),
                "arm_endpoint and metadata_host are both set; set one".into(),
            );
            None
        }
        (Some(env), Some(_), None) | (Some(env), None, Some(_)) => {
            r.error(
                "environment",
                Some("ARM_ENVIRONMENT"),
                format!("environment {env:?} is set together with a custom endpoint (metadata_host or arm_endpoint), whose metadata names the cloud; set one"),
            );
            None
        }
        (None, Some(host), None) => r
            .endpoint_url(&host, "metadata_host", "ARM_METADATA_HOSTNAME")
            .map(CloudSource::Discover),
        (None, None, Some(arm)) => r
            .endpoint_url(&arm, "arm_endpoint", "ARM_ENDPOINT")
            .map(CloudSource::Discover),
        (Some(env), None, None) => match Cloud::named(&env) {
            Some(c) => Some(CloudSource::Known(c)),
            None => {
                r.error(
                    "environment",
                    Some("ARM_ENVIRONMENT"),
                    format!("unknown environment {env:?}; use public, usgovernment or china, or metadata_host for other clouds"),
                );
                None
            }
        },
        (None, None, None) => Some(CloudSource::Known(Cloud::public())),
    };

    let max_concurrency = match s.max_concurrency {
        Some(n) => Some(n),
        None => match env("LARGEK8S_MAX_CONCURRENCY").filter(|v| !v.is_empty()) {
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    r.error(
                        "max_concurrency",
                        Some("LARGEK8S_MAX_CONCURRENCY"),
                        format!("{raw:?} is not a whole number"),
                    );
                    None
                }
            },
            None => None,
        },
    };
    let max_concurrency = match max_concurrency {
        None => DEFAULT_MAX_CONCURRENCY,
        Some(n) if (1..=MAX_CONCURRENCY_LIMIT).contains(&n) => n as usize,
        Some(n) => {
            r.error(
                "max_concurrency",
                Some("LARGEK8S_MAX_CONCURRENCY"),
                format!("{n} is out of range; use 1 to {MAX_CONCURRENCY_LIMIT}"),
            );
            DEFAULT_MAX_CONCURRENCY
        }
    };

    match (subscription_id, auth, cloud) {
        (Some(subscription_id), Some(auth), Some(cloud)) if r.errors.is_empty() => Ok(Resolved {
            subscription_id,
            auth,
            cloud,
            max_concurrency,
        }),
        _ => Err(r.errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const SECRET: &str = "s3cr3t-value-never-shown";

    fn sp_env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ARM_SUBSCRIPTION_ID", "sub-env"),
            ("ARM_TENANT_ID", "tenant-env"),
            ("ARM_CLIENT_ID", "client-env"),
            ("ARM_CLIENT_SECRET", SECRET),
        ]
    }

    fn attributes(errors: &[ConfigError]) -> Vec<&'static str> {
        errors.iter().map(|e| e.attribute).collect()
    }

    #[test]
    fn environment_fills_unset_attributes_and_configuration_wins() {
        let settings = Settings {
            subscription_id: Some("sub-config".into()),
            ..Settings::default()
        };
        let r = resolve(settings, env(&sp_env())).expect("complete");
        assert_eq!(r.subscription_id, "sub-config");
        assert_eq!(
            r.auth,
            AuthMethod::ClientSecret {
                tenant_id: "tenant-env".into(),
                client_id: "client-env".into(),
                secret: Secret::new(SECRET),
            }
        );
        assert_eq!(r.cloud, CloudSource::Known(Cloud::public()));
        assert_eq!(r.max_concurrency, DEFAULT_MAX_CONCURRENCY);
    }

    #[test]
    fn github_actions_variables_feed_oidc_requests() {
        let mut vars = sp_env();
        vars.retain(|(k, _)| *k != "ARM_CLIENT_SECRET");
        vars.extend([
            ("ARM_USE_OIDC", "true"),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://token.actions.example/x?audience=y",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer-value"),
        ]);
        let r = resolve(Settings::default(), env(&vars)).expect("complete");
        match r.auth {
            AuthMethod::Oidc {
                source: OidcSource::Request { url, token },
                ..
            } => {
                assert_eq!(url.host_str(), Some("token.actions.example"));
                assert_eq!(token.expose(), "bearer-value");
            }
            other => panic!("expected OIDC request, got {other:?}"),
        }
    }

    #[test]
    fn missing_settings_name_attribute_and_variable() {
        let errors = resolve(
            Settings {
                use_oidc: Some(true),
                ..Settings::default()
            },
            env(&[]),
        )
        .expect_err("incomplete");
        assert_eq!(
            attributes(&errors),
            ["subscription_id", "tenant_id", "client_id", "oidc_token"]
        );
        assert_eq!(errors[0].env_var, Some("ARM_SUBSCRIPTION_ID"));
    }

    #[test]
    fn contradictory_credentials_are_errors() {
        let mut vars = sp_env();
        vars.push(("ARM_USE_MSI", "true"));
        vars.push(("ARM_USE_OIDC", "true"));
        vars.push(("ARM_OIDC_TOKEN", "jwt"));
        let errors = resolve(Settings::default(), env(&vars)).expect_err("contradictory");
        assert_eq!(attributes(&errors), ["use_msi", "client_secret"]);

        let errors = resolve(
            Settings {
                use_cli: Some(true),
                ..Settings::default()
            },
            env(&sp_env()),
        )
        .expect_err("cli and secret");
        assert_eq!(attributes(&errors), ["use_cli"]);
    }

    #[test]
    fn cli_is_the_fallback_unless_disabled() {
        let vars = [("ARM_SUBSCRIPTION_ID", "s")];
        let r = resolve(Settings::default(), env(&vars)).expect("cli fallback");
        assert_eq!(r.auth, AuthMethod::Cli { tenant_id: None });
        let errors = resolve(
            Settings {
                use_cli: Some(false),
                ..Settings::default()
            },
            env(&vars),
        )
        .expect_err("nothing left");
        assert_eq!(attributes(&errors), ["use_cli"]);
    }

    #[test]
    fn plain_http_is_allowed_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9/",
            "http://[::1]:1/",
            "http://localhost:3",
        ] {
            let r = resolve(
                Settings {
                    arm_endpoint: Some(ok.into()),
                    ..Settings::default()
                },
                env(&sp_env()),
            )
            .unwrap_or_else(|e| panic!("{ok}: {e:?}"));
            assert!(matches!(r.cloud, CloudSource::Discover(_)), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://example.com",
            "http://127.0.0.1.example.com/",
            "ftp://127.0.0.1/",
        ] {
            let errors = resolve(
                Settings {
                    arm_endpoint: Some(bad.into()),
                    ..Settings::default()
                },
                env(&sp_env()),
            )
            .expect_err(bad);
            assert_eq!(attributes(&errors), ["arm_endpoint"], "{bad}");
        }
    }

    #[test]
    fn metadata_host_may_be_a_bare_hostname() {
        let mut vars = sp_env();
        vars.push((
            "ARM_METADATA_HOSTNAME",
            "management.local.azurestack.external",
        ));
        let r = resolve(Settings::default(), env(&vars)).expect("complete");
        assert_eq!(
            r.cloud,
            CloudSource::Discover(
                Url::parse("https://management.local.azurestack.external/").expect("url")
            )
        );
    }

    #[test]
    fn environment_and_custom_endpoints_contradict() {
        let mut vars = sp_env();
        vars.push(("ARM_ENVIRONMENT", "china"));
        vars.push(("ARM_ENDPOINT", "https://arm.example"));
        let errors = resolve(Settings::default(), env(&vars)).expect_err("contradictory");
        assert_eq!(attributes(&errors), ["environment"]);
        let errors = resolve(
            Settings {
                environment: Some("mars".into()),
                ..Settings::default()
            },
            env(&sp_env()),
        )
        .expect_err("unknown");
        assert!(errors[0].message.contains("mars"));
    }

    #[test]
    fn max_concurrency_is_bounded_and_read_from_our_variable() {
        let mut vars = sp_env();
        vars.push(("LARGEK8S_MAX_CONCURRENCY", "4"));
        assert_eq!(
            resolve(Settings::default(), env(&vars)).map(|r| r.max_concurrency),
            Ok(4)
        );
        for bad in [0, 257, -1] {
            let errors = resolve(
                Settings {
                    max_concurrency: Some(bad),
                    ..Settings::default()
                },
                env(&sp_env()),
            )
            .expect_err("out of range");
            assert_eq!(attributes(&errors), ["max_concurrency"]);
        }
        vars.push(("ARM_USE_MSI", "yes please"));
        let errors = resolve(Settings::default(), env(&vars)).expect_err("bad boolean");
        assert_eq!(errors[0].env_var, Some("ARM_USE_MSI"));
    }

    #[test]
    fn file_settings_are_read_and_checked_against_direct_ones() {
        let dir = std::env::temp_dir().join(format!("largek8s-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let secret_file = dir.join("secret");
        std::fs::write(&secret_file, format!("{SECRET}-other\n")).expect("write");
        let path = secret_file.to_string_lossy().to_string();
        let mut vars = sp_env();
        vars.push(("ARM_CLIENT_SECRET_FILE_PATH", &path));
        let errors = resolve(Settings::default(), env(&vars)).expect_err("differing secrets");
        assert_eq!(attributes(&errors), ["client_secret_file_path"]);

        vars.retain(|(k, _)| *k != "ARM_CLIENT_SECRET");
        let r = resolve(Settings::default(), env(&vars)).expect("secret from file");
        assert!(
            matches!(r.auth, AuthMethod::ClientSecret { secret, .. } if secret.expose() == format!("{SECRET}-other"))
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn hcp_terraform_workload_identity_token_is_the_last_oidc_source() {
        let base = [
            ("ARM_SUBSCRIPTION_ID", "sub"),
            ("ARM_TENANT_ID", "tenant"),
            ("ARM_CLIENT_ID", "client"),
            ("ARM_USE_OIDC", "true"),
            ("TFC_WORKLOAD_IDENTITY_TOKEN", "hcp-jwt"),
        ];
        let env = |extra: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                base.iter()
                    .chain(extra.iter())
                    .rev()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let resolved = resolve(Settings::default(), env(&[])).expect("resolves");
        assert!(matches!(
            resolved.auth,
            AuthMethod::Oidc { source: OidcSource::Token(ref t), .. } if t.expose() == "hcp-jwt"
        ));
        let resolved = resolve(
            Settings::default(),
            env(&[("ARM_OIDC_TOKEN_FILE_PATH", "/run/token")]),
        )
        .expect("resolves");
        assert!(matches!(
            resolved.auth,
            AuthMethod::Oidc {
                source: OidcSource::File(_),
                ..
            }
        ));
    }

    #[test]
    fn secrets_never_appear_in_messages_or_debug_output() {
        let mut vars = sp_env();
        vars.push(("ARM_USE_MSI", "true"));
        vars.push(("ARM_OIDC_REQUEST_TOKEN", "request-token-value"));
        let settings = Settings {
            oidc_token: Some(Secret::new("oidc-jwt-value")),
            ..Settings::default()
        };
        let debug = format!("{settings:?}");
        let errors = resolve(settings, env(&vars)).expect_err("secret with msi");
        let text = format!(
            "{errors:?} {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        for needle in [SECRET, "oidc-jwt-value", "request-token-value"] {
            assert!(!text.contains(needle), "{needle} leaked in {text}");
            assert!(!debug.contains(needle), "{needle} leaked in {debug}");
        }
        let ok = resolve(Settings::default(), env(&sp_env())).expect("complete");
        assert!(!format!("{ok:?}").contains(SECRET));
        assert_eq!(Secret::new(SECRET).to_string(), "***");
    }
}
