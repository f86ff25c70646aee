//! Validation of a virtual node's configuration: each known value decoded into its type where it is, and a
//! diagnostic at its attribute that says what to do when it is not one.

use crate::arm::cidr::Ipv4Cidr;
use crate::resources::timeouts::parse_duration;
use crate::tf::decode::{Fields, FromValue, Maybe};
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::value::Value;

use super::spec::{ClusterId, OsType, PrincipalId, Role, VnetId};

/// Longest prefix Azure accepts for a subnet: a /29 leaves 3 usable addresses after Azure's 5.
pub const MAX_SUBNET_PREFIX_LEN: u8 = 29;

/// Characters Azure refuses in a subnet name.
const SUBNET_NAME_FORBIDDEN: [char; 5] = ['/', '\\', '?', '#', '%'];

pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let fields = match Fields::root(config) {
        Ok(fields) => fields,
        Err(e) => {
            diags.push(Diagnostic::error("Invalid configuration", e.to_string()));
            return diags;
        }
    };
    // Decodes attribute `name` as `T` when it is known; a value that is not a `T` is an error with `summary`,
    // the type's own message and `hint`.
    fn check<T: FromValue>(
        fields: &Fields<'_>,
        diags: &mut Diagnostics,
        name: &str,
        summary: &str,
        hint: &str,
    ) -> Option<T> {
        match fields.get::<Maybe<Option<T>>>(name) {
            Ok(value) => value.into_known().flatten(),
            Err(e) => {
                diags.push(Diagnostic::error(summary, format!("{}{hint}", e.message)).at(e.path));
                None
            }
        }
    }
    check::<VnetId>(
        &fields,
        &mut diags,
        "virtual_network_id",
        "Invalid virtual_network_id",
        ". Use the VNet's ID, e.g. azurerm_virtual_network.x.id.",
    );
    check::<ClusterId>(
        &fields,
        &mut diags,
        "cluster_id",
        "Invalid cluster_id",
        ". Use the AKS cluster's ID, e.g. azurerm_kubernetes_cluster.x.id.",
    );
    if let Some(name) = check::<String>(
        &fields,
        &mut diags,
        "subnet_name",
        "Invalid subnet_name",
        "",
    ) {
        if name.is_empty() || name.len() > 80 || name.contains(SUBNET_NAME_FORBIDDEN) {
            diags.push(
                Diagnostic::error(
                    "Invalid subnet_name",
                    format!(
                        "{name:?} is not a subnet name: use 1 to 80 characters without / \\ ? # %."
                    ),
                )
                .at(fields.path("subnet_name")),
            );
        }
    }
    let prefix = check::<Ipv4Cidr>(
        &fields,
        &mut diags,
        "address_prefix",
        "Invalid address_prefix",
        "; set address_prefix to an IPv4 network such as \"10.0.16.0/24\".",
    );
    if let Some(cidr) = prefix.filter(|c| c.prefix_len() > MAX_SUBNET_PREFIX_LEN) {
        diags.push(
            Diagnostic::error(
                "address_prefix is too small",
                format!(
                    "{cidr} is smaller than Azure's smallest subnet, a /{MAX_SUBNET_PREFIX_LEN} (Azure reserves 5 \
                     addresses in each subnet, https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq); \
                     use a /{MAX_SUBNET_PREFIX_LEN} or larger, and size it for the container groups you expect."
                ),
            )
            .at(fields.path("address_prefix")),
        );
    }
    check::<PrincipalId>(
        &fields,
        &mut diags,
        "principal_id",
        "Invalid principal_id",
        "",
    );
    check::<Role>(&fields, &mut diags, "role", "Invalid role", "");
    check::<OsType>(&fields, &mut diags, "os_type", "Unsupported os_type", "");
    if let Ok(timeouts) = fields.object("timeouts") {
        for op in ["create", "read", "update", "delete"] {
            let text = check::<String>(&timeouts, &mut diags, op, "Invalid timeout", "");
            if let Some(Err(problem)) = text.map(|t| parse_duration(&t)) {
                diags.push(Diagnostic::error("Invalid timeout", problem).at(timeouts.path(op)));
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::path::AttributePath;

    fn flagged(prefix: &str) -> Vec<String> {
        validate(&Value::object([("address_prefix", Value::string(prefix))]))
            .iter()
            .filter(|d| d.attribute == Some(AttributePath::of("address_prefix")))
            .map(|d| d.detail.clone())
            .collect()
    }

    #[test]
    fn a_prefix_smaller_than_azures_smallest_subnet_is_refused() {
        let details = flagged("10.0.16.0/30");
        assert!(
            details.len() == 1 && details[0].contains("/29 or larger"),
            "{details:?}"
        );
        assert!(flagged("10.0.16.0/29").is_empty());
        assert!(flagged("10.0.16.0/24").is_empty());
    }

    #[test]
    fn validation_names_the_attribute_to_fix() {
        let config = Value::object([
            (
                "virtual_network_id",
                Value::string("/subscriptions/s/resourceGroups/g"),
            ),
            ("address_prefix", Value::string("10.0.16.1/24")),
            ("role", Value::string("Owner")),
            ("os_type", Value::string("Windows")),
            ("principal_id", Value::unknown()),
        ]);
        let diags = validate(&config);
        let paths: Vec<_> = diags.iter().filter_map(|d| d.attribute.clone()).collect();
        assert_eq!(
            paths,
            vec![
                AttributePath::of("virtual_network_id"),
                AttributePath::of("address_prefix"),
                AttributePath::of("role"),
                AttributePath::of("os_type")
            ]
        );
        assert!(diags.iter().any(|d| d.detail.contains("10.0.16.0/24")));
    }

    #[test]
    fn a_timeout_that_is_not_a_duration_is_refused_at_its_operation() {
        let config = Value::object([(
            "timeouts",
            Value::object([
                ("read", Value::string("later")),
                ("create", Value::unknown()),
            ]),
        )]);
        let diags = validate(&config);
        let paths: Vec<_> = diags.iter().filter_map(|d| d.attribute.clone()).collect();
        assert_eq!(paths, vec![AttributePath::of("timeouts").attr("read")]);
        assert!(diags.iter().all(|d| d.summary == "Invalid timeout"));
    }
}
