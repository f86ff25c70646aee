//! Command-line options and the configuration they produce.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default subscription ID the simulator serves.
pub const DEFAULT_SUBSCRIPTION: &str = "11111111-2222-3333-4444-555555555555";
/// Default Entra tenant ID.
pub const DEFAULT_TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
/// Default service principal (application) client ID.
pub const DEFAULT_CLIENT_ID: &str = "00000000-1111-2222-3333-444444444444";
/// Default client secret.
pub const DEFAULT_CLIENT_SECRET: &str = "largek8s-sim-secret";

/// Azure Resource Manager on loopback: an ARM simulator with Azure's limits, long-running operations and throttling.
///
/// Prints its base URL as the first line on stdout once it accepts connections; logs go to stderr.
#[derive(Debug, Clone, Parser)]
#[command(name = "largek8s-sim", version)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Subscription ID served.
    #[arg(long, default_value = DEFAULT_SUBSCRIPTION)]
    pub subscription: String,
    /// Entra tenant ID accepted by the token endpoint.
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Service principal client ID accepted by the token endpoint.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Client secret accepted by the token endpoint.
    #[arg(long, default_value = DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,
    /// Simulated seconds per real second (provisioning latencies, token lifetime and throttling refills).
    #[arg(long, default_value_t = 1.0, value_parser = positive_f64)]
    pub time_scale: f64,
    /// Throttling model.
    #[arg(long, value_enum, default_value_t = ThrottleModel::AzurePublic)]
    pub throttle: ThrottleModel,
    /// Whether new Basic SKU load balancers and public IPs may be created (public Azure refuses them since the
    /// retirement).
    #[arg(long, value_enum, default_value_t = BasicLb::Allow)]
    pub basic_lb: BasicLb,
    /// Resources created at start: a JSON file with an array of {"id": ..., "body": ...}, or `demo`.
    #[arg(long)]
    pub seed: Option<String>,
    /// File to persist state to (atomically, on every change); a restarted simulator continues from it.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Maximum fault domains per availability set in the simulated region.
    #[arg(long, default_value_t = 3)]
    pub max_fault_domains: u32,
    /// Maximum backend NIC IP configurations in a Basic load balancer's backend pool.
    #[arg(long, default_value_t = 300)]
    pub basic_lb_max_backend: usize,
    /// Items per page in list responses before a `nextLink` is given.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Access-token lifetime in simulated seconds.
    #[arg(long, default_value_t = 3600.0, value_parser = positive_f64)]
    pub token_lifetime: f64,
    /// The identity provider the cloud metadata names: Microsoft Entra, or AD FS as on Azure Stack Hub
    /// (login endpoint `<base>/adfs`, v1-style token requests with `resource=`).
    #[arg(long, value_enum, default_value_t = Login::Entra)]
    pub login: Login,
}

/// Identity provider announced by `/metadata/endpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Login {
    Entra,
    Adfs,
}

fn positive_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err("must be a positive number".into())
    }
}

/// Which throttling model applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
pub enum ThrottleModel {
    /// Public Azure's ARM token buckets and resource-provider limits.
    AzurePublic,
    /// No throttling and no rate-limit headers.
    Off,
}

/// Whether Basic SKU load balancers and public IPs may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BasicLb {
    Allow,
    Deny,
}

/// Where the initial resources come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Seed {
    Demo,
    File(PathBuf),
}

/// The simulator's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub subscription: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub time_scale: f64,
    pub throttle: ThrottleModel,
    pub basic_lb: BasicLb,
    pub seed: Option<Seed>,
    pub state: Option<PathBuf>,
    pub max_fault_domains: u32,
    pub basic_lb_max_backend: usize,
    pub page_size: usize,
    pub token_lifetime: f64,
    pub login: Login,
}

impl Default for Config {
    fn default() -> Self {
        Cli::parse_from(["largek8s-sim"]).into()
    }
}

impl From<Cli> for Config {
    fn from(c: Cli) -> Self {
        Self {
            listen: c.listen,
            subscription: c.subscription,
            tenant: c.tenant,
            client_id: c.client_id,
            client_secret: c.client_secret,
            time_scale: c.time_scale,
            throttle: c.throttle,
            basic_lb: c.basic_lb,
            login: c.login,
            seed: c.seed.map(|s| {
                if s == "demo" {
                    Seed::Demo
                } else {
                    Seed::File(PathBuf::from(s))
                }
            }),
            state: c.state,
            max_fault_domains: c.max_fault_domains,
            basic_lb_max_backend: c.basic_lb_max_backend,
            page_size: c.page_size.max(1),
            token_lifetime: c.token_lifetime,
        }
    }
}
