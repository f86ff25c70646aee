//! `largek8s_client_config`: the subscription, tenant, client and cloud the provider is configured for,
//! after the `ARM_*` environment variables have been applied (like azurerm's `azurerm_client_config`).

use crate::tf::diagnostics::Diagnostics;
use crate::tf::schema::{Attribute, Block, Schema};
use crate::tf::types::Type;
use crate::tf::value::Value;

pub const TYPE_NAME: &str = "largek8s_client_config";

/// Computed attributes, each with the provider attribute and environment variable it comes from.
const FIELDS: [(&str, &str, &str, &str); 5] = [
    (
        "subscription_id",
        "subscription_id",
        "ARM_SUBSCRIPTION_ID",
        "The subscription the provider manages.",
    ),
    (
        "tenant_id",
        "tenant_id",
        "ARM_TENANT_ID",
        "The Microsoft Entra tenant the provider authenticates in.",
    ),
    (
        "client_id",
        "client_id",
        "ARM_CLIENT_ID",
        "The client (application) ID the provider authenticates as.",
    ),
    (
        "environment",
        "environment",
        "ARM_ENVIRONMENT",
        "The Azure cloud: `public`, `usgovernment` or `china`.",
    ),
    (
        "arm_endpoint",
        "arm_endpoint",
        "ARM_ENDPOINT",
        "The Azure Resource Manager endpoint, when set explicitly.",
    ),
];

pub fn schema() -> Schema {
    let block = FIELDS.iter().fold(
        Block::new(
            "The subscription, tenant, client and cloud this provider is configured for, with the `ARM_*` \
             environment variables applied. Handy to build ARM IDs and role assignments in modules.",
        ),
        |block, (name, _, _, description)| block.attribute(Attribute::computed(name, Type::String).describe(*description)),
    );
    Schema::new(0, block)
}

pub fn validate(_config: &Value) -> Diagnostics {
    Diagnostics::new()
}

/// The data source's state from the provider configuration (`None` when unconfigured) and the environment.
pub fn read(provider_config: Option<&Value>, env: impl Fn(&str) -> Option<String>) -> Value {
    Value::object(FIELDS.iter().map(|(name, attr, var, _)| {
        let from_config = provider_config
            .and_then(|c| c.get(attr))
            .and_then(Value::as_str)
            .map(str::to_string);
        let resolved = from_config.or_else(|| env(var).filter(|v| !v.is_empty()));
        let resolved = match (*name, resolved) {
            ("environment", None) => Some("public".to_string()),
            (_, v) => v,
        };
        (*name, resolved.map_or(Value::Null, Value::string))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_wins_over_the_environment_and_public_is_the_default_cloud() {
        let config = Value::object([
            ("subscription_id", Value::string("from-config")),
            ("tenant_id", Value::Null),
        ]);
        let env = |k: &str| match k {
            "ARM_SUBSCRIPTION_ID" => Some("from-env".to_string()),
            "ARM_TENANT_ID" => Some("tenant-env".to_string()),
            _ => None,
        };
        let state = read(Some(&config), env);
        assert_eq!(
            state.get("subscription_id").and_then(Value::as_str),
            Some("from-config")
        );
        assert_eq!(
            state.get("tenant_id").and_then(Value::as_str),
            Some("tenant-env")
        );
        assert_eq!(
            state.get("environment").and_then(Value::as_str),
            Some("public")
        );
        assert!(state.get("client_id").is_some_and(Value::is_null));
    }
}
