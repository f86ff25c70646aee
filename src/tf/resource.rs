//! The managed resource interface: one implementation per resource type, called in the order Terraform
//! calls it. `C` is whatever context the provider hands its resources (clients, cancellation); this module
//! knows nothing of it.

use std::future::Future;
use std::pin::Pin;

use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::provider::{
    ApplyRequest, ApplyResponse, ClientCapabilities, ImportResponse, PlanRequest, PlanResponse,
    ReadRequest, ReadResponse,
};
use crate::tf::schema::Schema;
use crate::tf::value::Value;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Resource<C>: Send + Sync {
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Static checks on the configuration; values may still be unknown.
    fn validate(&self, config: &Value, client: ClientCapabilities) -> Diagnostics;

    /// Brings a state stored under schema `version` to the current schema. The default accepts only the
    /// current version; a resource whose schema changed overrides it.
    fn upgrade_state(&self, version: i64, state: Value) -> Result<Value, Diagnostics> {
        let current = self.schema().version;
        if version == current {
            Ok(state)
        } else {
            Err(Diagnostic::error(
                format!("Unsupported {} state version {version}", self.type_name()),
                format!(
                    "This provider writes version {current}. The state was written by a newer provider; use that \
                     version, or remove the resource from state and import it again."
                ),
            )
            .into())
        }
    }

    fn plan<'a>(&'a self, ctx: &'a C, request: PlanRequest) -> BoxFuture<'a, PlanResponse>;

    fn apply<'a>(&'a self, ctx: &'a C, request: ApplyRequest) -> BoxFuture<'a, ApplyResponse>;

    fn read<'a>(&'a self, ctx: &'a C, request: ReadRequest) -> BoxFuture<'a, ReadResponse>;

    fn import<'a>(&'a self, ctx: &'a C, id: &'a str) -> BoxFuture<'a, ImportResponse>;
}
