//! ARM resource IDs parsed once into typed parts: scope, provider namespace, type chain and names.

use crate::error::ArmError;

/// What a request path under `/subscriptions/...` addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One resource (possibly a child, an extension resource, or a resource group).
    Resource(ResourceId),
    /// A collection: every resource of `resource_type` directly under `parent` (a resource ID, a resource group, or a
    /// subscription, with no trailing slash).
    Collection {
        parent: String,
        resource_type: String,
        subscription: String,
    },
}

/// A parsed ARM resource ID such as
/// `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceId {
    /// The ID as the client wrote it (ARM keeps the casing of the first PUT).
    pub id: String,
    pub subscription: String,
    pub resource_group: Option<String>,
    /// Full type: `Microsoft.Network/virtualNetworks/subnets`, or `Microsoft.Resources/resourceGroups`.
    pub resource_type: String,
    pub name: String,
}

impl ResourceId {
    /// Lower-cased ID: ARM resource IDs are case-insensitive.
    pub fn key(&self) -> String {
        self.id.to_ascii_lowercase()
    }

    /// The provider namespace, e.g. `Microsoft.Network`.
    pub fn namespace(&self) -> &str {
        self.resource_type.split('/').next().unwrap_or("")
    }

    /// The ID of the enclosing resource for child resources (`.../virtualNetworks/v` for a subnet).
    pub fn parent_id(&self) -> Option<String> {
        let depth = self.resource_type.split('/').count();
        if depth <= 2 {
            return None;
        }
        let cut = self.id.rfind('/')?;
        let cut = self.id[..cut].rfind('/')?;
        Some(self.id[..cut].to_string())
    }

    /// Type of the last segment only (`subnets`).
    pub fn leaf_type(&self) -> &str {
        self.resource_type.rsplit('/').next().unwrap_or("")
    }

    pub fn parse(id: &str) -> Result<Self, ArmError> {
        match parse_target(id)? {
            Target::Resource(r) => Ok(r),
            Target::Collection { .. } => Err(malformed(id)),
        }
    }
}

fn malformed(path: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidResourceId",
        format!("The resource ID '{path}' is not a valid Azure resource ID."),
    )
}

/// Parses a path beginning with `/subscriptions/`.
pub fn parse_target(path: &str) -> Result<Target, ArmError> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("subscriptions") || segs[1].is_empty() {
        return Err(malformed(path));
    }
    let subscription = segs[1].to_string();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(malformed(path));
    }
    // The last `providers/<Namespace>` pair decides the type; anything before it is the scope (extension resources
    // such as role assignments can sit on any resource).
    let provider_at = (0..segs.len().saturating_sub(1))
        .rev()
        .find(|&i| segs[i].eq_ignore_ascii_case("providers") && segs[i + 1].contains('.'));
    let Some(p) = provider_at else {
        return parse_resource_group_level(trimmed, &segs, subscription);
    };
    let scope_len: usize = segs[..p].iter().map(|s| s.len() + 1).sum();
    let resource_group = if segs.len() > 3 && segs[2].eq_ignore_ascii_case("resourceGroups") {
        Some(segs[3].to_string())
    } else {
        None
    };
    let namespace = segs[p + 1];
    let rest = &segs[p + 2..];
    if rest.is_empty() {
        return Err(malformed(path));
    }
    let mut types = vec![namespace.to_string()];
    let mut i = 0;
    let mut consumed = scope_len + "providers/".len() + 1 + namespace.len();
    while i < rest.len() {
        types.push(rest[i].to_string());
        if i + 1 == rest.len() {
            return Ok(Target::Collection {
                // A top-level collection lives in its scope; a child collection in its parent resource.
                parent: trimmed[..if i == 0 { scope_len } else { consumed }].to_string(),
                resource_type: types.join("/"),
                subscription,
            });
        }
        consumed += rest[i].len() + rest[i + 1].len() + 2;
        i += 2;
    }
    Ok(Target::Resource(ResourceId {
        id: trimmed.to_string(),
        subscription,
        resource_group,
        resource_type: types.join("/"),
        name: rest[rest.len() - 1].to_string(),
    }))
}

fn parse_resource_group_level(
    trimmed: &str,
    segs: &[&str],
    subscription: String,
) -> Result<Target, ArmError> {
    match segs.len() {
        3 if segs[2].eq_ignore_ascii_case("resourceGroups") => Ok(Target::Collection {
            parent: format!("/subscriptions/{subscription}"),
            resource_type: RESOURCE_GROUP_TYPE.to_string(),
            subscription,
        }),
        4 if segs[2].eq_ignore_ascii_case("resourceGroups") => Ok(Target::Resource(ResourceId {
            id: trimmed.to_string(),
            resource_group: Some(segs[3].to_string()),
            resource_type: RESOURCE_GROUP_TYPE.to_string(),
            name: segs[3].to_string(),
            subscription,
        })),
        _ => Err(malformed(trimmed)),
    }
}

/// The type ARM reports for resource groups.
pub const RESOURCE_GROUP_TYPE: &str = "Microsoft.Resources/resourceGroups";

/// The resource-group ID a resource lives in.
pub fn resource_group_id(subscription: &str, resource_group: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{resource_group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourceId {
        match parse_target(path).expect("parses") {
            Target::Resource(r) => r,
            other => panic!("expected a resource, got {other:?}"),
        }
    }

    #[test]
    fn parses_child_resources_and_their_parent() {
        let r = resource(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a",
        );
        assert_eq!(r.resource_type, "Microsoft.Network/virtualNetworks/subnets");
        assert_eq!(r.name, "a");
        assert_eq!(r.resource_group.as_deref(), Some("rg"));
        assert_eq!(
            r.parent_id().as_deref(),
            Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
            )
        );
    }

    #[test]
    fn extension_resources_take_the_last_provider() {
        let r = resource(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/providers/Microsoft.Authorization/roleAssignments/x",
        );
        assert_eq!(r.resource_type, "Microsoft.Authorization/roleAssignments");
        assert_eq!(r.parent_id(), None);
    }

    #[test]
    fn collections_name_their_parent() {
        let t = parse_target(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines",
        )
        .expect("parses");
        assert_eq!(
            t,
            Target::Collection {
                parent: "/subscriptions/s/resourceGroups/rg".into(),
                resource_type: "Microsoft.Compute/virtualMachines".into(),
                subscription: "s".into(),
            }
        );
        let t = parse_target("/subscriptions/s/resourcegroups").expect("parses");
        assert!(
            matches!(t, Target::Collection { resource_type, .. } if resource_type == RESOURCE_GROUP_TYPE)
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        assert!(parse_target("/subscriptions/").is_err());
        assert!(
            parse_target("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network").is_err()
        );
        assert!(parse_target("/subscriptions/s/foo/bar/baz/qux").is_err());
    }
}
