//! Azure Resource Manager client: configuration, credentials, clouds, pacing, retries, long-running operations.
//!
//! Knows nothing of Terraform. The generated crates `azure_mgmt_network` and `azure_mgmt_compute` supply request
//! and response bodies only; their `azure_core` pipeline is not used because it has no shared per-subscription
//! pacing fed by ARM's rate-limit headers, retries 429s on a fixed policy without holding the whole bucket until
//! Retry-After, polls long-running operations without exposing the URL to resume from after an interrupted
//! apply, and brings its own HTTP stack; `client`, `pacing`, `retry` and `lro` do those jobs here.

pub mod cidr;
pub mod client;
pub mod cloud;
pub mod config;
pub mod credentials;
pub mod error;
pub mod ids;
pub mod lro;
pub mod models;
pub mod pacing;
pub mod retry;
pub mod roles;

pub use client::{ArmClient, ClientOptions, Conditions, Response, Started};
pub use config::{resolve, ConfigError, Resolved, Secret, Settings};
pub use error::{ApiError, ArmError, AuthError};
pub use ids::{ResourceId, ResourceKind};
pub use lro::PendingOperation;
pub use retry::Ctx;
