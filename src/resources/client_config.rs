//! `largek8s_client_config`: the subscription, tenant, client and cloud the provider is configured for,
//! after the `ARM_*` environment variables have been applied (like azurerm's `azurerm_client_config`).

use crate::tf::diagnostics::Diagnostics;
use crate::tf::schema::{Attribute, Block, Schema};
use crate::tf::types::Type;
use crate::tf::value::Value;

pub const TYPE_NAME: &str = "largek8s_client_config";

use crate::arm::config::{AuthMethod, CloudSource, Resolved};

/// Computed attributes and their descriptions.
const FIELDS: [(&str, &str); 5] = [
    ("subscription_id", "The subscription the provider manages."),
    ("tenant_id", "The Microsoft Entra tenant the provider authenticates in, when the credential names one."),
    ("client_id", "The client (application) ID the provider authenticates as, when the credential names one."),
    ("environment", "The Azure cloud: `public`, `usgovernment`, `china`, or `custom` for a discovered cloud."),
    ("arm_endpoint", "The Azure Resource Manager endpoint, or the metadata URL a custom cloud is discovered from."),
];

pub fn schema() -> Schema {
    let block = FIELDS.iter().fold(
        Block::new(
            "The subscription, tenant, client and cloud this provider is configured for, with the `ARM_*` \
             environment variables applied. Handy to build ARM IDs and role assignments in modules.",
        ),
        |block, (name, description)| block.attribute(Attribute::computed(name, Type::String).describe(*description)),
    );
    Schema::new(0, block)
}

pub fn validate(_config: &Value) -> Diagnostics {
    Diagnostics::new()
}

/// The data source's state: what the ARM client will use.
pub fn read(resolved: &Resolved) -> Value {
    let (tenant_id, client_id) = match &resolved.auth {
        AuthMethod::ClientSecret {
            tenant_id,
            client_id,
            ..
        }
        | AuthMethod::Oidc {
            tenant_id,
            client_id,
            ..
        } => (Some(tenant_id.clone()), Some(client_id.clone())),
        AuthMethod::Msi { client_id, .. } => (None, client_id.clone()),
        AuthMethod::Cli { tenant_id } => (tenant_id.clone(), None),
    };
    let (environment, arm_endpoint) = match &resolved.cloud {
        CloudSource::Known(cloud) => (cloud.name.clone(), cloud.resource_manager.to_string()),
        CloudSource::Discover(url) => ("custom".to_string(), url.to_string()),
    };
    let opt = |v: Option<String>| v.map_or(Value::Null, Value::string);
    Value::object([
        (
            "subscription_id",
            Value::string(resolved.subscription_id.clone()),
        ),
        ("tenant_id", opt(tenant_id)),
        ("client_id", opt(client_id)),
        ("environment", Value::string(environment)),
        ("arm_endpoint", Value::string(arm_endpoint)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::config::{resolve, Secret, Settings};

    #[test]
    fn reports_the_resolved_identity_and_cloud_never_the_secret() {
        let settings = Settings {
            subscription_id: Some("sub-1".into()),
            tenant_id: Some("tenant-1".into()),
            client_id: Some("client-1".into()),
            client_secret: Some(Secret::new("hunter2-secret")),
            ..Settings::default()
        };
        let resolved = resolve(settings, |_| None).unwrap();
        let state = read(&resolved);
        assert_eq!(
            state.get("subscription_id").and_then(Value::as_str),
            Some("sub-1")
        );
        assert_eq!(
            state.get("tenant_id").and_then(Value::as_str),
            Some("tenant-1")
        );
        assert_eq!(
            state.get("client_id").and_then(Value::as_str),
            Some("client-1")
        );
        assert_eq!(
            state.get("environment").and_then(Value::as_str),
            Some("public")
        );
        assert!(!format!("{state:?}").contains("hunter2"));
    }
}
