//! The largek8s provider: its configuration schema, the functions and resources it registers, and the
//! cancellation that StopProvider triggers.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::arm::client::{user_agent, ArmClient, ClientOptions};
use crate::arm::cloud::Cloud;
use crate::arm::config::{
    is_loopback, resolve, ConfigError, Resolved, Secret, Settings, DEFAULT_MAX_CONCURRENCY,
    MAX_CONCURRENCY_LIMIT,
};
use crate::arm::config::{AuthMethod, CloudSource};
use crate::arm::error::{ArmError, AuthError};
use crate::arm::retry::Ctx;
use crate::functions;
use crate::resources::client_config;
use crate::resources::context::{Context, Unconfigured};
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::function::FunctionError;
use crate::tf::path::AttributePath;
use crate::tf::provider::{
    ApplyRequest, ApplyResponse, ClientCapabilities, ConfigureRequest, ImportResponse, PlanRequest,
    PlanResponse, Provider, ProviderSchema, ReadRequest, ReadResponse,
};
use crate::tf::resource::Resource;
use crate::tf::schema::{Attribute, Block, Schema};
use crate::tf::types::Type;
use crate::tf::value::Value;

/// Clouds the `environment` attribute names, as the azurerm provider spells them.
pub const ENVIRONMENTS: [&str; 3] = ["public", "usgovernment", "china"];

pub fn provider_schema_block() -> Block {
    let s = |name: &str, env: &str, what: &str| {
        Attribute::optional(name, Type::String)
            .describe(format!("{what} Can also be set with `{env}`."))
    };
    let b = |name: &str, env: &str, what: &str| {
        Attribute::optional(name, Type::Bool)
            .describe(format!("{what} Can also be set with `{env}`."))
    };
    Block::new(
        "Manages large Kubernetes node pools on Azure. Authenticates like the azurerm provider and reads the \
         same `ARM_*` environment variables, so one set of credentials serves both.",
    )
    .attribute(s("subscription_id", "ARM_SUBSCRIPTION_ID", "The Azure subscription to manage."))
    .attribute(s("tenant_id", "ARM_TENANT_ID", "The Microsoft Entra tenant of the service principal."))
    .attribute(s("client_id", "ARM_CLIENT_ID", "Client (application) ID of the service principal or managed identity."))
    .attribute(s("client_id_file_path", "ARM_CLIENT_ID_FILE_PATH", "Path to a file holding the client ID."))
    .attribute(s("client_secret", "ARM_CLIENT_SECRET", "Client secret of the service principal.").sensitive())
    .attribute(s(
        "client_secret_file_path",
        "ARM_CLIENT_SECRET_FILE_PATH",
        "Path to a file holding the client secret.",
    ))
    .attribute(b(
        "use_oidc",
        "ARM_USE_OIDC",
        "Authenticate with an OpenID Connect token (GitHub Actions, HCP Terraform dynamic credentials).",
    ))
    .attribute(s("oidc_token", "ARM_OIDC_TOKEN", "The OIDC ID token to exchange.").sensitive())
    .attribute(s("oidc_token_file_path", "ARM_OIDC_TOKEN_FILE_PATH", "Path to a file holding the OIDC ID token."))
    .attribute(s(
        "oidc_request_url",
        "ARM_OIDC_REQUEST_URL",
        "URL to request an OIDC token from (GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`).",
    ))
    .attribute(
        s(
            "oidc_request_token",
            "ARM_OIDC_REQUEST_TOKEN",
            "Bearer token for `oidc_request_url` (GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_TOKEN`).",
        )
        .sensitive(),
    )
    .attribute(b("use_msi", "ARM_USE_MSI", "Authenticate with a managed identity."))
    .attribute(s("msi_endpoint", "ARM_MSI_ENDPOINT", "Endpoint of the managed identity token service."))
    .attribute(b("use_cli", "ARM_USE_CLI", "Authenticate with the Azure CLI's signed-in account."))
    .attribute(s(
        "environment",
        "ARM_ENVIRONMENT",
        "The cloud: `public` (default), `usgovernment` or `china`.",
    ))
    .attribute(s(
        "metadata_host",
        "ARM_METADATA_HOSTNAME",
        "Host name of a cloud metadata endpoint, for Azure Stack Hub and other custom clouds; its \
         `/metadata/endpoints` document gives the ARM and login endpoints.",
    ))
    .attribute(s(
        "arm_endpoint",
        "ARM_ENDPOINT",
        "Explicit Azure Resource Manager base URL, e.g. the `largek8s-sim` simulator's address. Plain `http` is \
         accepted only for loopback addresses.",
    ))
    .attribute(Attribute::optional("max_concurrency", Type::Number).describe(
        format!(
        "Most ARM requests in flight at once (1 to {MAX_CONCURRENCY_LIMIT}, default {DEFAULT_MAX_CONCURRENCY}). Can also \
         be set with `LARGEK8S_MAX_CONCURRENCY`. ARM throttling sets the pace either way; this bounds bursts."
    ),
    ))
}

/// Static checks on the provider block: only values known now, and nothing read from the environment.
pub fn validate_provider_config(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let at = |name: &str| AttributePath::root().attr(name);
    if let Some(env) = config.get("environment").and_then(Value::as_str) {
        if Cloud::named(env).is_none() {
            diags.push(
                Diagnostic::error(
                    "Unknown Azure environment",
                    format!(
                        "environment is {env:?}; use one of {}. For Azure Stack Hub or another custom cloud, \
                         set metadata_host instead.",
                        ENVIRONMENTS.join(", ")
                    ),
                )
                .at(at("environment")),
            );
        }
    }
    if let Some(n) = config.get("max_concurrency").and_then(Value::as_number) {
        let ok = n.is_integer()
            && n.to_i64()
                .is_some_and(|v| (1..=MAX_CONCURRENCY_LIMIT).contains(&v));
        if !ok {
            diags.push(
                Diagnostic::error(
                    "Invalid max_concurrency",
                    format!("max_concurrency is {n}; use a whole number from 1 to {MAX_CONCURRENCY_LIMIT}."),
                )
                .at(at("max_concurrency")),
            );
        }
    }
    for (value, file) in [
        ("client_secret", "client_secret_file_path"),
        ("client_id", "client_id_file_path"),
        ("oidc_token", "oidc_token_file_path"),
    ] {
        let set = |name: &str| config.get(name).is_some_and(|v| !v.is_null());
        if set(value) && set(file) {
            diags.push(
                Diagnostic::error(
                    format!("Both {value} and {file} are set"),
                    format!("Set one of {value} and {file}, not both."),
                )
                .at(at(file)),
            );
        }
    }
    if let Some(endpoint) = config.get("arm_endpoint").and_then(Value::as_str) {
        if let Err(problem) = check_arm_endpoint(endpoint) {
            diags.push(Diagnostic::error("Invalid arm_endpoint", problem).at(at("arm_endpoint")));
        }
    }
    diags
}

/// `https://…`, or `http://` to a loopback host (the simulator); anything else would send tokens in clear.
pub fn check_arm_endpoint(endpoint: &str) -> Result<(), String> {
    let url = url::Url::parse(endpoint).map_err(|e| {
        format!(
            "arm_endpoint {endpoint:?} is not a URL ({e}); use e.g. https://management.azure.com"
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("arm_endpoint {endpoint:?} has no host"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "arm_endpoint {endpoint:?} uses plain http to a host that is not loopback; bearer tokens would travel \
             unencrypted. Use https, or http only to 127.0.0.1/localhost for the simulator."
        )),
        other => Err(format!("arm_endpoint {endpoint:?} has scheme {other:?}; use https")),
    }
}

/// The provider block as the ARM client's settings; unset attributes stay `None` for the environment to fill.
pub fn settings_from(config: &Value) -> Settings {
    let string = |name: &str| config.get(name).and_then(Value::as_str).map(str::to_string);
    let secret = |name: &str| string(name).map(Secret::new);
    let flag = |name: &str| config.get(name).and_then(Value::as_bool);
    Settings {
        subscription_id: string("subscription_id"),
        tenant_id: string("tenant_id"),
        client_id: string("client_id"),
        client_id_file_path: string("client_id_file_path"),
        client_secret: secret("client_secret"),
        client_secret_file_path: string("client_secret_file_path"),
        use_oidc: flag("use_oidc"),
        oidc_token: secret("oidc_token"),
        oidc_token_file_path: string("oidc_token_file_path"),
        oidc_request_url: string("oidc_request_url"),
        oidc_request_token: secret("oidc_request_token"),
        use_msi: flag("use_msi"),
        msi_endpoint: string("msi_endpoint"),
        use_cli: flag("use_cli"),
        environment: string("environment"),
        metadata_host: string("metadata_host"),
        arm_endpoint: string("arm_endpoint"),
        max_concurrency: config
            .get("max_concurrency")
            .and_then(Value::as_number)
            .and_then(|n| n.to_i64()),
    }
}

/// A configuration error from the ARM settings, on its attribute, naming the variable that can set it too.
fn config_diagnostic(error: ConfigError) -> Diagnostic {
    let detail = match error.env_var {
        Some(var) => format!(
            "{} (set `{}` in the provider block or the {var} environment variable)",
            error.message, error.attribute
        ),
        None => error.message,
    };
    Diagnostic::error("Invalid provider configuration", detail)
        .at(AttributePath::root().attr(error.attribute))
}

/// Entra ID (or the CLI, or the managed identity endpoint) refused the configured credential.
fn credential_refused(auth: &AuthMethod, refusal: &AuthError) -> Diagnostic {
    let mut answer = String::new();
    if let Some(status) = refusal.status {
        answer.push_str(&format!("HTTP {status}"));
    }
    if let Some(code) = &refusal.code {
        if !answer.is_empty() {
            answer.push_str(", ");
        }
        answer.push_str(code);
    }
    let answer = if answer.is_empty() {
        String::new()
    } else {
        format!(" ({answer})")
    };
    // A status means a token endpoint answered; without one the credential failed before asking (no `az`,
    // an unreadable ID token file).
    let what = if refusal.status.is_some() {
        "Azure refused"
    } else {
        "Could not get a token with"
    };
    let detail = format!(
        "{what} {}{answer}: {}\n\n{} Nothing was sent to Azure Resource Manager.",
        auth.describe(),
        refusal.description,
        auth.remedy()
    );
    Diagnostic::error(
        format!("Cannot authenticate with {}", refusal.credential),
        crate::plugin::logging::scrub(&detail),
    )
    .at(AttributePath::root().attr(auth.attribute()))
}

/// The provider configuration as Terraform last sent it (resolved against the environment when used).
#[derive(Debug, Clone, Default)]
pub struct Configured {
    pub terraform_version: String,
    /// The ARM settings once resolved against the environment; `None` before ConfigureProvider, or while
    /// the provider block still holds unknown values.
    pub resolved: Option<Resolved>,
}

pub struct LargeK8s {
    schema: ProviderSchema,
    resources: Vec<Box<dyn Resource<Context>>>,
    stop: CancellationToken,
    configured: Mutex<Configured>,
    context: Mutex<Context>,
}

impl Default for LargeK8s {
    fn default() -> Self {
        Self::new()
    }
}

impl LargeK8s {
    pub fn new() -> Self {
        let stop = CancellationToken::new();
        LargeK8s {
            schema: provider_schema(),
            resources: crate::resources::all(),
            context: Mutex::new(Context::new(Err(Unconfigured::NotYet), stop.clone(), false)),
            stop,
            configured: Mutex::new(Configured::default()),
        }
    }

    /// Cancelled by StopProvider; every long wait selects on it.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn configured(&self) -> Configured {
        self.configured
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// A snapshot of what resources work with (cheap: the ARM client is shared behind an Arc).
    fn context(&self) -> Context {
        self.context
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|_| Context::new(Err(Unconfigured::Failed), self.stop.clone(), false))
    }

    fn resource(&self, type_name: &str) -> Result<&dyn Resource<Context>, Diagnostics> {
        self.resources
            .iter()
            .find(|r| r.type_name() == type_name)
            .map(|r| r.as_ref())
            .ok_or_else(|| unknown_resource(type_name))
    }

    /// Builds the ARM client for a resolved configuration (discovering a custom cloud's endpoints).
    async fn connect(
        &self,
        resolved: &Resolved,
        terraform_version: &str,
    ) -> Result<ArmClient, Diagnostic> {
        let options = ClientOptions {
            user_agent: user_agent(Some(terraform_version)),
            ..ClientOptions::default()
        };
        let ctx = Ctx::new(self.stop.clone(), CONNECT_TIMEOUT);
        ArmClient::connect(resolved, options, &ctx).await.map_err(|e| {
            Diagnostic::error(
                "Cannot reach Azure Resource Manager",
                format!("{e}. Check arm_endpoint / metadata_host / environment and the network path to them."),
            )
        })
    }

    /// Asks for a token at configure time, as the azurerm provider does, so that a pipeline learns of a wrong
    /// secret at plan, not halfway through an apply. A refusal is an error naming the credential and tenant
    /// with Entra's own code (`AADSTS…`); the secret never appears. A token endpoint that cannot be reached
    /// (offline plans that need no Azure call) is left to the first request that needs a token.
    async fn check_credentials(&self, client: &ArmClient, auth: &AuthMethod) -> Option<Diagnostic> {
        let ctx = Ctx::new(self.stop.clone(), CONNECT_TIMEOUT);
        match client.authenticate(&ctx).await {
            Ok(()) => None,
            Err(ArmError::Auth(refusal)) => Some(credential_refused(auth, &refusal)),
            Err(other) => {
                crate::plugin::logging::debug(
                    "no token at configure time; the first ARM request will ask again",
                    &[("error", &crate::plugin::logging::scrub(&other.to_string()))],
                );
                None
            }
        }
    }
}

/// How long ConfigureProvider may spend discovering a custom cloud's endpoints, and again asking for a token.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Built once per process: schemas are served on every call that needs to decode a value.
pub fn provider_schema() -> ProviderSchema {
    static SCHEMA: OnceLock<ProviderSchema> = OnceLock::new();
    SCHEMA
        .get_or_init(|| ProviderSchema {
            provider: Schema::new(0, provider_schema_block()),
            resources: crate::resources::all()
                .iter()
                .map(|r| (r.type_name().to_string(), r.schema()))
                .collect(),
            data_sources: crate::resources::data_source_schemas(),
            functions: BTreeMap::from([(
                functions::POOL_LAYOUT.to_string(),
                functions::pool_layout_signature(),
            )]),
        })
        .clone()
}

fn unknown_data_source(type_name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown data source type {type_name:?}"),
        "The largek8s provider has no data source of that type.",
    )
    .into()
}

fn unknown_resource(type_name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown resource type {type_name:?}"),
        "The largek8s provider has no resource of that type. Check the spelling, and that the provider \
         version in .terraform.lock.hcl is the one you expect.",
    )
    .into()
}

impl Provider for LargeK8s {
    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        validate_provider_config(config)
    }

    async fn configure_provider(&self, request: ConfigureRequest) -> Diagnostics {
        let mut diags = validate_provider_config(&request.config);
        for secret in ["client_secret", "oidc_token", "oidc_request_token"] {
            if let Some(s) = request.config.get(secret).and_then(Value::as_str) {
                crate::plugin::logging::register_secret(s);
            }
        }
        for var in [
            "ARM_CLIENT_SECRET",
            "ARM_OIDC_TOKEN",
            "ARM_OIDC_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "TFC_WORKLOAD_IDENTITY_TOKEN",
        ] {
            if let Ok(s) = std::env::var(var) {
                crate::plugin::logging::register_secret(&s);
            }
        }
        // Values that are still unknown (they depend on resources not yet created) are resolved at apply time.
        let resolved = if diags.has_errors() || !request.config.is_fully_known() {
            None
        } else {
            match resolve(settings_from(&request.config), |k| std::env::var(k).ok()) {
                Ok(resolved) => Some(resolved),
                Err(errors) => {
                    errors
                        .into_iter()
                        .for_each(|e| diags.push(config_diagnostic(e)));
                    None
                }
            }
        };
        let arm = match &resolved {
            None if diags.has_errors() => Err(Unconfigured::Failed),
            None => Err(Unconfigured::NotYet),
            Some(resolved) => {
                for secret in resolved.auth.secrets() {
                    crate::plugin::logging::register_secret(secret);
                }
                match self.connect(resolved, &request.terraform_version).await {
                    Ok(client) => match self.check_credentials(&client, &resolved.auth).await {
                        None => Ok(client),
                        Some(d) => {
                            diags.push(d);
                            Err(Unconfigured::Failed)
                        }
                    },
                    Err(d) => {
                        diags.push(d);
                        Err(Unconfigured::Failed)
                    }
                }
            }
        };
        let public_cloud = resolved
            .as_ref()
            .is_some_and(|r| matches!(&r.cloud, CloudSource::Known(c) if c.name == "public"));
        if let Ok(mut c) = self.context.lock() {
            *c = Context::new(arm, self.stop.clone(), public_cloud);
        }
        if let Ok(mut c) = self.configured.lock() {
            *c = Configured {
                terraform_version: request.terraform_version,
                resolved,
            };
        }
        diags
    }

    fn validate_resource_config(
        &self,
        type_name: &str,
        config: &Value,
        client: ClientCapabilities,
    ) -> Diagnostics {
        match self.resource(type_name) {
            Ok(r) => r.validate(config, client),
            Err(d) => d,
        }
    }

    fn upgrade_resource_state(
        &self,
        type_name: &str,
        version: i64,
        state: Value,
    ) -> Result<Value, Diagnostics> {
        self.resource(type_name)?.upgrade_state(version, state)
    }

    async fn read_resource(&self, request: ReadRequest) -> ReadResponse {
        match self.resource(&request.type_name) {
            Ok(r) => r.read(&self.context(), request).await,
            Err(diagnostics) => ReadResponse {
                diagnostics,
                new_state: request.current_state,
                private: request.private,
            },
        }
    }

    async fn plan_resource_change(&self, request: PlanRequest) -> PlanResponse {
        match self.resource(&request.type_name) {
            Ok(r) => r.plan(&self.context(), request).await,
            Err(diagnostics) => PlanResponse {
                diagnostics,
                planned_state: request.proposed_new_state,
                requires_replace: Vec::new(),
                planned_private: request.prior_private,
            },
        }
    }

    async fn apply_resource_change(&self, request: ApplyRequest) -> ApplyResponse {
        match self.resource(&request.type_name) {
            Ok(r) => r.apply(&self.context(), request).await,
            Err(diagnostics) => ApplyResponse {
                diagnostics,
                new_state: request.prior_state,
                private: request.planned_private,
            },
        }
    }

    async fn import_resource_state(&self, type_name: &str, id: &str) -> ImportResponse {
        match self.resource(type_name) {
            Ok(r) => r.import(&self.context(), id).await,
            Err(diagnostics) => ImportResponse {
                imported: Vec::new(),
                diagnostics,
            },
        }
    }

    fn validate_data_source_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        match type_name {
            client_config::TYPE_NAME => client_config::validate(config),
            other => unknown_data_source(other),
        }
    }

    async fn read_data_source(&self, type_name: &str, _config: Value) -> (Value, Diagnostics) {
        match type_name {
            client_config::TYPE_NAME => {
                let configured = self.configured();
                match configured.resolved.as_ref() {
                    Some(resolved) => (client_config::read(resolved), Diagnostics::new()),
                    None => (
                        Value::Null,
                        Diagnostic::error(
                            "Provider not configured",
                            "largek8s_client_config needs a fully known provider configuration; check \
                             the provider block for values that depend on resources not yet created.",
                        )
                        .into(),
                    ),
                }
            }
            other => (Value::Null, unknown_data_source(other)),
        }
    }

    fn call_function(&self, name: &str, arguments: Vec<Value>) -> Result<Value, FunctionError> {
        match name {
            functions::POOL_LAYOUT => functions::pool_layout(&arguments),
            other => Err(FunctionError::new(format!(
                "the largek8s provider has no function {other:?}"
            ))),
        }
    }

    fn stop(&self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, Value)]) -> Value {
        let names: Vec<String> = provider_schema_block()
            .attributes
            .iter()
            .map(|a| a.name.clone())
            .collect();
        Value::object(names.into_iter().map(|n| {
            let v = pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            (n, v)
        }))
    }

    #[test]
    fn an_empty_provider_block_is_valid() {
        assert!(validate_provider_config(&config(&[])).is_empty());
    }

    #[test]
    fn unknown_environment_points_at_the_attribute() {
        let diags = validate_provider_config(&config(&[("environment", Value::string("mars"))]));
        let d = diags.iter().next().unwrap();
        assert_eq!(d.attribute, Some(AttributePath::root().attr("environment")));
        assert!(d.detail.contains("metadata_host"));
    }

    #[test]
    fn unknown_values_are_not_judged_at_validate_time() {
        let diags = validate_provider_config(&config(&[
            ("environment", Value::unknown()),
            ("max_concurrency", Value::unknown()),
        ]));
        assert!(diags.is_empty());
    }

    #[test]
    fn max_concurrency_must_be_a_whole_number_in_range() {
        for bad in [Value::number(0u64), Value::number(257u64)] {
            let diags = validate_provider_config(&config(&[("max_concurrency", bad)]));
            assert!(diags.has_errors());
        }
        assert!(
            validate_provider_config(&config(&[("max_concurrency", Value::number(8u64))]))
                .is_empty()
        );
    }

    #[test]
    fn secret_and_secret_file_are_exclusive() {
        let diags = validate_provider_config(&config(&[
            ("client_secret", Value::string("x")),
            ("client_secret_file_path", Value::string("/tmp/s")),
        ]));
        assert_eq!(
            diags.iter().next().unwrap().attribute,
            Some(AttributePath::root().attr("client_secret_file_path"))
        );
    }

    #[test]
    fn plain_http_is_accepted_only_for_loopback() {
        assert!(check_arm_endpoint("http://127.0.0.1:4000").is_ok());
        assert!(check_arm_endpoint("http://localhost:4000/").is_ok());
        assert!(check_arm_endpoint("http://[::1]:4000").is_ok());
        assert!(check_arm_endpoint("https://management.azure.com").is_ok());
        assert!(check_arm_endpoint("http://10.0.0.1:4000").is_err());
        assert!(check_arm_endpoint("http://management.azure.com").is_err());
        assert!(check_arm_endpoint("management.azure.com").is_err());
        assert!(check_arm_endpoint("ftp://127.0.0.1").is_err());
    }

    #[test]
    fn a_refused_secret_is_reported_with_tenant_and_entra_code_but_never_the_secret() {
        let secret = "refused-secret-value-3f9a";
        crate::plugin::logging::register_secret(secret);
        let auth = AuthMethod::ClientSecret {
            tenant_id: "tenant-1".into(),
            client_id: "app-1".into(),
            secret: Secret::new(secret),
        };
        // Even an endpoint that echoed the secret back would not get it into the diagnostic.
        let refusal = AuthError {
            credential: "client secret",
            status: Some(401),
            code: Some("invalid_client".into()),
            description: format!("AADSTS7000215: Invalid client secret provided ({secret})."),
        };
        let d = credential_refused(&auth, &refusal);
        assert_eq!(d.summary, "Cannot authenticate with client secret");
        for expected in [
            "tenant tenant-1",
            "application app-1",
            "HTTP 401, invalid_client",
            "AADSTS7000215",
        ] {
            assert!(
                d.detail.contains(expected),
                "{expected:?} missing from {:?}",
                d.detail
            );
        }
        assert!(!d.detail.contains(secret) && !d.summary.contains(secret));
        assert_eq!(
            d.attribute,
            Some(AttributePath::root().attr("client_secret"))
        );
    }

    #[test]
    fn a_credential_that_never_reached_a_token_endpoint_is_not_called_refused() {
        let auth = AuthMethod::Cli { tenant_id: None };
        let failure = AuthError {
            credential: "Azure CLI",
            status: None,
            code: None,
            description: "cannot run `az`".into(),
        };
        let d = credential_refused(&auth, &failure);
        assert!(
            d.detail
                .starts_with("Could not get a token with the Azure CLI"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("az login"));
        assert_eq!(d.attribute, Some(AttributePath::root().attr("use_cli")));
    }

    #[test]
    fn stop_cancels_the_token_later_work_observes() {
        let p = LargeK8s::new();
        let token = p.stop_token();
        assert!(!token.is_cancelled());
        p.stop();
        assert!(token.is_cancelled());
        assert!(p.stop_token().is_cancelled());
    }
}
