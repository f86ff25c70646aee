//! The tfplugin6 Provider service: decodes each request with the right schema, calls the provider, encodes
//! the answer. Malformed input becomes an error diagnostic, never a panic.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::plugin::convert;
use crate::plugin::proto::tfplugin6 as pb;
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::function::FunctionError;
use crate::tf::provider::{
    ApplyRequest, ConfigureRequest, PlanRequest, Provider, ProviderSchema, ReadRequest,
};
use crate::tf::schema::Schema;
use crate::tf::types::Type;

pub struct ProviderService<P> {
    provider: Arc<P>,
}

impl<P: Provider> ProviderService<P> {
    pub fn new(provider: Arc<P>) -> Self {
        ProviderService { provider }
    }

    fn schemas(&self) -> &ProviderSchema {
        self.provider.schema()
    }

    fn resource_schema(&self, type_name: &str) -> Result<&Schema, Diagnostic> {
        self.schemas()
            .resources
            .get(type_name)
            .ok_or_else(|| unknown_type("resource", type_name))
    }

    fn data_source_schema(&self, type_name: &str) -> Result<&Schema, Diagnostic> {
        self.schemas()
            .data_sources
            .get(type_name)
            .ok_or_else(|| unknown_type("data source", type_name))
    }
}

fn unknown_type(kind: &str, type_name: &str) -> Diagnostic {
    Diagnostic::error(
        format!("Unknown {kind} type {type_name:?}"),
        format!(
            "The largek8s provider has no {kind} type {type_name:?}. Check the spelling, and that the provider \
             version in .terraform.lock.hcl is the one you expect."
        ),
    )
}

fn diags_of(d: Diagnostic) -> Vec<pb::Diagnostic> {
    vec![convert::diagnostic(&d)]
}

/// The three Validate* calls: decode the configuration with its schema, then run `check` on it. An unknown
/// type or a malformed value is the diagnostic instead.
fn validate_config(
    schema: Result<&Schema, Diagnostic>,
    config: Option<&pb::DynamicValue>,
    what: &str,
    check: impl FnOnce(&crate::tf::value::Value) -> Diagnostics,
) -> Vec<pb::Diagnostic> {
    let schema = match schema {
        Ok(s) => s,
        Err(d) => return diags_of(d),
    };
    match convert::decode(config, &schema.value_type(), what) {
        Ok(config) => convert::diagnostics_in(&check(&config), &schema.block),
        Err(d) => diags_of(d),
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: true,
    }
}

/// The planned or new state encoded; an encoding failure is appended to `diagnostics`.
fn encode_state(
    value: &crate::tf::value::Value,
    ty: &Type,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<pb::DynamicValue> {
    match convert::encode(value, ty, what) {
        Ok(v) => Some(v),
        Err(d) => {
            diagnostics.push(d);
            None
        }
    }
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_metadata(
        &self,
        _request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        let schemas = self.schemas();
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: schemas
                .data_sources
                .keys()
                .map(|name| pb::get_metadata::DataSourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            resources: schemas
                .resources
                .keys()
                .map(|name| pb::get_metadata::ResourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            functions: schemas
                .functions
                .keys()
                .map(|name| pb::get_metadata::FunctionMetadata { name: name.clone() })
                .collect(),
            ephemeral_resources: Vec::new(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        let schemas = self.schemas();
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(convert::schema(&schemas.provider)),
            resource_schemas: schemas
                .resources
                .iter()
                .map(|(name, s)| (name.clone(), convert::schema(s)))
                .collect(),
            data_source_schemas: schemas
                .data_sources
                .iter()
                .map(|(name, s)| (name.clone(), convert::schema(s)))
                .collect(),
            functions: schemas
                .functions
                .iter()
                .map(|(name, f)| (name.clone(), convert::function(f)))
                .collect(),
            ephemeral_resource_schemas: Default::default(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(capabilities()),
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = request.into_inner();
        let diagnostics = validate_config(
            Ok(&self.schemas().provider),
            req.config.as_ref(),
            "the provider configuration",
            |config| self.provider.validate_provider_config(config),
        );
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics,
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = request.into_inner();
        let client = convert::client_capabilities(req.client_capabilities.as_ref());
        let diagnostics = validate_config(
            self.resource_schema(&req.type_name),
            req.config.as_ref(),
            "the resource configuration",
            |config| {
                self.provider
                    .validate_resource_config(&req.type_name, config, client)
            },
        );
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics,
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = request.into_inner();
        let diagnostics = validate_config(
            self.data_source_schema(&req.type_name),
            req.config.as_ref(),
            "the data source configuration",
            |config| {
                self.provider
                    .validate_data_source_config(&req.type_name, config)
            },
        );
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics,
        }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = request.into_inner();
        let mut diagnostics = Diagnostics::new();
        let upgraded = match self.resource_schema(&req.type_name) {
            Err(d) => {
                diagnostics.push(d);
                None
            }
            Ok(schema) => {
                let ty = schema.value_type();
                let raw = req.raw_state.unwrap_or_default();
                if raw.json.is_empty() {
                    diagnostics.push(Diagnostic::error(
                        "State in the legacy flatmap format",
                        "This state was written in a format this provider never used. Remove the resource \
                         from state (`terraform state rm`) and import it again.",
                    ));
                    None
                } else {
                    match crate::tf::json::decode_json(&raw.json, &ty) {
                        Err(e) => {
                            diagnostics.push(Diagnostic::error(
                                "Stored state does not match the resource schema",
                                format!(
                                    "{e}. If the state was edited by hand, restore it from a backup, or remove \
                                     the resource from state and import it again."
                                ),
                            ));
                            None
                        }
                        Ok(state) => match self.provider.upgrade_resource_state(
                            &req.type_name,
                            req.version,
                            state,
                        ) {
                            Err(ds) => {
                                diagnostics.extend(ds);
                                None
                            }
                            Ok(state) => {
                                encode_state(&state, &ty, "the upgraded state", &mut diagnostics)
                            }
                        },
                    }
                }
            }
        };
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: upgraded,
            diagnostics: convert::diagnostics(&diagnostics),
        }))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = request.into_inner();
        let ty = self.schemas().provider.value_type();
        let diagnostics =
            match convert::decode(req.config.as_ref(), &ty, "the provider configuration") {
                Err(d) => diags_of(d),
                Ok(config) => {
                    let ds = self
                        .provider
                        .configure_provider(ConfigureRequest {
                            terraform_version: req.terraform_version,
                            config,
                            client: convert::client_capabilities(req.client_capabilities.as_ref()),
                        })
                        .await;
                    convert::diagnostics(&ds)
                }
            };
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics,
        }))
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let mut req = request.into_inner();
        let schema = match self.resource_schema(&req.type_name) {
            Ok(s) => s,
            Err(d) => return Ok(Response::new(read_failure(d))),
        };
        let ty = schema.value_type();
        let current =
            match convert::decode(req.current_state.take().as_ref(), &ty, "the current state") {
                Ok(v) => v,
                Err(d) => return Ok(Response::new(read_failure(d))),
            };
        let out = self
            .provider
            .read_resource(ReadRequest {
                type_name: req.type_name,
                current_state: current,
                private: req.private,
            })
            .await;
        let mut diagnostics = out.diagnostics;
        let new_state = encode_state(&out.new_state, &ty, "the refreshed state", &mut diagnostics);
        Ok(Response::new(pb::read_resource::Response {
            new_state,
            diagnostics: convert::diagnostics(&diagnostics),
            private: out.private,
            deferred: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        // The encoded values are taken out as they are decoded, so that they are not held through the call.
        let mut req = request.into_inner();
        let failure = |d: Diagnostic| pb::plan_resource_change::Response {
            diagnostics: diags_of(d),
            ..Default::default()
        };
        let schema = match self.resource_schema(&req.type_name) {
            Ok(s) => s,
            Err(d) => return Ok(Response::new(failure(d))),
        };
        let ty = schema.value_type();
        let decoded = (|| {
            Ok::<_, Diagnostic>((
                convert::decode(req.prior_state.take().as_ref(), &ty, "the prior state")?,
                convert::decode(
                    req.proposed_new_state.take().as_ref(),
                    &ty,
                    "the proposed new state",
                )?,
                convert::decode(req.config.take().as_ref(), &ty, "the configuration")?,
            ))
        })();
        let (prior_state, proposed_new_state, config) = match decoded {
            Ok(v) => v,
            Err(d) => return Ok(Response::new(failure(d))),
        };
        let out = self
            .provider
            .plan_resource_change(PlanRequest {
                type_name: req.type_name,
                prior_state,
                proposed_new_state,
                config,
                prior_private: req.prior_private,
                client: convert::client_capabilities(req.client_capabilities.as_ref()),
            })
            .await;
        let mut diagnostics = out.diagnostics;
        let planned_state = encode_state(
            &out.planned_state,
            &ty,
            "the planned state",
            &mut diagnostics,
        );
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state,
            requires_replace: out.requires_replace.iter().map(convert::path).collect(),
            planned_private: out.planned_private,
            diagnostics: convert::diagnostics_in(&diagnostics, &schema.block),
            legacy_type_system: false,
            deferred: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let mut req = request.into_inner();
        // Whatever happens here, Terraform must not lose the object it had: echo the prior state back.
        let prior = req.prior_state.clone();
        let failure = |d: Diagnostic| pb::apply_resource_change::Response {
            new_state: prior.clone(),
            diagnostics: diags_of(d),
            ..Default::default()
        };
        let schema = match self.resource_schema(&req.type_name) {
            Ok(s) => s,
            Err(d) => return Ok(Response::new(failure(d))),
        };
        let ty = schema.value_type();
        let decoded = (|| {
            Ok::<_, Diagnostic>((
                convert::decode(req.prior_state.take().as_ref(), &ty, "the prior state")?,
                convert::decode(req.planned_state.take().as_ref(), &ty, "the planned state")?,
                convert::decode(req.config.take().as_ref(), &ty, "the configuration")?,
            ))
        })();
        let (prior_state, planned_state, config) = match decoded {
            Ok(v) => v,
            Err(d) => return Ok(Response::new(failure(d))),
        };
        let out = self
            .provider
            .apply_resource_change(ApplyRequest {
                type_name: req.type_name,
                prior_state,
                planned_state,
                config,
                planned_private: req.planned_private,
            })
            .await;
        let mut diagnostics = out.diagnostics;
        let new_state = encode_state(&out.new_state, &ty, "the new state", &mut diagnostics);
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state,
            private: out.private,
            diagnostics: convert::diagnostics_in(&diagnostics, &schema.block),
            legacy_type_system: false,
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = request.into_inner();
        let failure = |d: Diagnostic| pb::import_resource_state::Response {
            diagnostics: diags_of(d),
            ..Default::default()
        };
        if let Err(d) = self.resource_schema(&req.type_name) {
            return Ok(Response::new(failure(d)));
        }
        let out = self
            .provider
            .import_resource_state(&req.type_name, &req.id)
            .await;
        let mut diagnostics = out.diagnostics;
        let mut imported_resources = Vec::with_capacity(out.imported.len());
        for r in out.imported {
            let Ok(schema) = self.resource_schema(&r.type_name) else {
                diagnostics.push(unknown_type("resource", &r.type_name));
                continue;
            };
            if let Some(state) = encode_state(
                &r.state,
                &schema.value_type(),
                "the imported state",
                &mut diagnostics,
            ) {
                imported_resources.push(pb::import_resource_state::ImportedResource {
                    type_name: r.type_name,
                    state: Some(state),
                    private: r.private,
                });
            }
        }
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources,
            diagnostics: convert::diagnostics(&diagnostics),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let req = request.into_inner();
        let failure = |d: Diagnostic| pb::move_resource_state::Response {
            diagnostics: diags_of(d),
            ..Default::default()
        };
        let schema = match self.resource_schema(&req.target_type_name) {
            Ok(s) => s,
            Err(d) => return Ok(Response::new(failure(d))),
        };
        // A move keeps the resource type (e.g. after the provider's source address changed, or between
        // module addresses handled by Terraform itself); there is no other type whose state maps onto ours.
        if req.source_type_name != req.target_type_name {
            return Ok(Response::new(failure(Diagnostic::error(
                "Unsupported resource move",
                format!(
                    "{} cannot be moved to {}: the two types describe different Azure resources. Remove the old \
                     resource from state and import the new one instead.",
                    req.source_type_name, req.target_type_name
                ),
            ))));
        }
        let ty = schema.value_type();
        let raw = req.source_state.map(|s| s.json).unwrap_or_default();
        let state = match crate::tf::json::decode_json(&raw, &ty) {
            Ok(v) => v,
            Err(e) => {
                return Ok(Response::new(failure(Diagnostic::error(
                    "Moved state does not match the resource schema",
                    format!("{e} (source provider {}).", req.source_provider_address),
                ))))
            }
        };
        let state = match self.provider.upgrade_resource_state(
            &req.target_type_name,
            req.source_schema_version,
            state,
        ) {
            Ok(s) => s,
            Err(ds) => {
                return Ok(Response::new(pb::move_resource_state::Response {
                    diagnostics: convert::diagnostics(&ds),
                    ..Default::default()
                }))
            }
        };
        let mut diagnostics = Diagnostics::new();
        let target_state = encode_state(&state, &ty, "the moved state", &mut diagnostics);
        Ok(Response::new(pb::move_resource_state::Response {
            target_state,
            diagnostics: convert::diagnostics(&diagnostics),
            target_private: req.source_private,
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = request.into_inner();
        let failure = |d: Diagnostic| pb::read_data_source::Response {
            diagnostics: diags_of(d),
            ..Default::default()
        };
        let schema = match self.data_source_schema(&req.type_name) {
            Ok(s) => s,
            Err(d) => return Ok(Response::new(failure(d))),
        };
        let ty = schema.value_type();
        let config =
            match convert::decode(req.config.as_ref(), &ty, "the data source configuration") {
                Ok(v) => v,
                Err(d) => return Ok(Response::new(failure(d))),
            };
        let (state, mut diagnostics) = self.provider.read_data_source(&req.type_name, config).await;
        let state = if diagnostics.has_errors() {
            None
        } else {
            encode_state(&state, &ty, "the data source state", &mut diagnostics)
        };
        Ok(Response::new(pb::read_data_source::Response {
            state,
            diagnostics: convert::diagnostics(&diagnostics),
            deferred: None,
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let req = request.into_inner();
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: diags_of(unknown_type("ephemeral resource", &req.type_name)),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let req = request.into_inner();
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: diags_of(unknown_type("ephemeral resource", &req.type_name)),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let req = request.into_inner();
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: diags_of(unknown_type("ephemeral resource", &req.type_name)),
            ..Default::default()
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let req = request.into_inner();
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics: diags_of(unknown_type("ephemeral resource", &req.type_name)),
        }))
    }

    async fn get_functions(
        &self,
        _request: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response {
            functions: self
                .schemas()
                .functions
                .iter()
                .map(|(name, f)| (name.clone(), convert::function(f)))
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn call_function(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        let req = request.into_inner();
        let error = |e: FunctionError| {
            Ok(Response::new(pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError {
                    text: crate::plugin::logging::scrub(&e.text),
                    function_argument: e.argument,
                }),
            }))
        };
        let Some(function) = self.schemas().functions.get(&req.name) else {
            return error(FunctionError::new(format!(
                "the largek8s provider has no function {:?}",
                req.name
            )));
        };
        if req.arguments.len() != function.parameters.len() {
            return error(FunctionError::new(format!(
                "{} takes {} arguments, got {}",
                req.name,
                function.parameters.len(),
                req.arguments.len()
            )));
        }
        let mut arguments = Vec::with_capacity(req.arguments.len());
        for (index, (arg, param)) in req.arguments.iter().zip(&function.parameters).enumerate() {
            match convert::decode(Some(arg), &param.ty, &format!("argument {}", param.name)) {
                Ok(v) => arguments.push(v),
                Err(d) => return error(FunctionError::at_argument(d.detail, index)),
            }
        }
        let return_type = function.return_type.clone();
        match self.provider.call_function(&req.name, arguments) {
            Err(e) => error(e),
            Ok(value) => match convert::encode(&value, &return_type, "the function result") {
                Ok(result) => Ok(Response::new(pb::call_function::Response {
                    result: Some(result),
                    error: None,
                })),
                Err(d) => error(FunctionError::new(d.detail)),
            },
        }
    }

    async fn stop_provider(
        &self,
        _request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        crate::plugin::logging::info("StopProvider received: cancelling in-flight work", &[]);
        self.provider.stop();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn read_failure(d: Diagnostic) -> pb::read_resource::Response {
    pb::read_resource::Response {
        diagnostics: diags_of(d),
        ..Default::default()
    }
}
