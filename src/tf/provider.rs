//! The provider as the plugin server sees it: schemas, and one method per Terraform call, in Terraform's
//! own vocabulary (values and diagnostics, no protobuf).

use std::collections::BTreeMap;
use std::future::Future;

use crate::tf::diagnostics::Diagnostics;
use crate::tf::function::{Function, FunctionError};
use crate::tf::path::AttributePath;
use crate::tf::schema::Schema;
use crate::tf::value::Value;

/// Every schema the provider serves. Built once; Terraform may ask for it in any process, at any time,
/// or not at all (`get_provider_schema_optional`).
#[derive(Debug, Clone)]
pub struct ProviderSchema {
    pub provider: Schema,
    pub resources: BTreeMap<String, Schema>,
    pub data_sources: BTreeMap<String, Schema>,
    pub functions: BTreeMap<String, Function>,
}

/// What Terraform says it can handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    pub deferral_allowed: bool,
    pub write_only_attributes_allowed: bool,
}

#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    pub terraform_version: String,
    pub config: Value,
    pub client: ClientCapabilities,
}

#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub type_name: String,
    pub current_state: Value,
    pub private: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct ReadResponse {
    /// Null when the remote object is gone: Terraform then drops it from state.
    pub new_state: Value,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub type_name: String,
    pub prior_state: Value,
    pub proposed_new_state: Value,
    pub config: Value,
    pub prior_private: Vec<u8>,
    pub client: ClientCapabilities,
}

#[derive(Debug, Clone)]
pub struct PlanResponse {
    pub planned_state: Value,
    pub requires_replace: Vec<AttributePath>,
    pub planned_private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub type_name: String,
    pub prior_state: Value,
    pub planned_state: Value,
    pub config: Value,
    pub planned_private: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct ApplyResponse {
    /// Whatever exists after the call, even when it failed halfway: state must never lose a real object.
    pub new_state: Value,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone)]
pub struct ImportedResource {
    pub type_name: String,
    pub state: Value,
    pub private: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportResponse {
    pub imported: Vec<ImportedResource>,
    pub diagnostics: Diagnostics,
}

/// Implemented once, by the largek8s provider; the plugin server turns gRPC calls into these.
pub trait Provider: Send + Sync + 'static {
    fn schema(&self) -> &ProviderSchema;

    fn validate_provider_config(&self, config: &Value) -> Diagnostics;

    fn configure_provider(
        &self,
        request: ConfigureRequest,
    ) -> impl Future<Output = Diagnostics> + Send;

    fn validate_resource_config(
        &self,
        type_name: &str,
        config: &Value,
        client: ClientCapabilities,
    ) -> Diagnostics;

    /// Brings a stored state written under schema `version` to the current schema.
    fn upgrade_resource_state(
        &self,
        type_name: &str,
        version: i64,
        state: Value,
    ) -> Result<Value, Diagnostics>;

    fn read_resource(&self, request: ReadRequest) -> impl Future<Output = ReadResponse> + Send;

    fn plan_resource_change(
        &self,
        request: PlanRequest,
    ) -> impl Future<Output = PlanResponse> + Send;

    fn apply_resource_change(
        &self,
        request: ApplyRequest,
    ) -> impl Future<Output = ApplyResponse> + Send;

    fn import_resource_state(
        &self,
        type_name: &str,
        id: &str,
    ) -> impl Future<Output = ImportResponse> + Send;

    fn validate_data_source_config(&self, type_name: &str, config: &Value) -> Diagnostics;

    /// Reads a data source; the value is its full state (config values plus what was computed).
    fn read_data_source(
        &self,
        type_name: &str,
        config: Value,
    ) -> impl Future<Output = (Value, Diagnostics)> + Send;

    fn call_function(&self, name: &str, arguments: Vec<Value>) -> Result<Value, FunctionError>;

    /// Terraform's StopProvider: cancel in-flight work promptly; later work sees the cancellation too.
    fn stop(&self);
}
