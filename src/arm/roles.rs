//! Built-in Azure roles the provider grants, and deterministic role assignment names.

use uuid::Uuid;

use super::ids::ResourceId;

/// "Network Contributor": manage networks, enough to join ACI container groups to a subnet.
/// <https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/networking#network-contributor>
pub const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
/// "Contributor": what the classic virtual-node instructions grant on the VNet.
/// <https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/privileged#contributor>
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";

/// The actions a built-in role allows and the ones it excepts, as Microsoft publishes them
/// (<https://learn.microsoft.com/azure/role-based-access-control/built-in-roles>), so that what a role grants
/// can be checked against what a service needs.
#[derive(Clone, Copy, Debug)]
pub struct Permissions {
    pub actions: &'static [&'static str],
    pub not_actions: &'static [&'static str],
}

/// Network Contributor's permissions
/// (<https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/networking#network-contributor>).
pub const NETWORK_CONTRIBUTOR_PERMISSIONS: Permissions = Permissions {
    actions: &[
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Network/*",
        "Microsoft.ResourceHealth/availabilityStatuses/read",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
    ],
    not_actions: &[],
};

/// Contributor's permissions: everything but managing access
/// (<https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/privileged#contributor>).
pub const CONTRIBUTOR_PERMISSIONS: Permissions = Permissions {
    actions: &["*"],
    not_actions: &[
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action",
    ],
};

impl Permissions {
    /// Whether the role allows `action`: some action pattern matches it and no excepted one does. Azure
    /// compares operations without regard to case, and `*` in a pattern stands for any run of characters.
    pub fn allows(&self, action: &str) -> bool {
        let matches = |pattern: &&str| {
            wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
        };
        self.actions.iter().any(matches) && !self.not_actions.iter().any(matches)
    }
}

fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| wildcard_match(rest, &tail[i..]))
        }
    }
}

/// The subscription-level ID of a built-in role definition, the form ARM expects in `roleDefinitionId`.
pub fn role_definition_id(subscription_id: &str, role_guid: &str) -> String {
    format!("/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}")
}

/// A role assignment name that is the same for the same (scope, principal, role) on every run, so a
/// re-applied or interrupted create PUTs the same assignment instead of adding a second one. ARM compares
/// IDs without regard to case, so the inputs are lower-cased first.
pub fn assignment_name(scope: &ResourceId, principal_id: &str, role_definition_id: &str) -> String {
    let key = format!("{scope}|{principal_id}|{role_definition_id}").to_ascii_lowercase();
    Uuid::new_v5(&Uuid::NAMESPACE_URL, key.as_bytes()).to_string()
}

/// The assignment name in ARM's `RoleAssignmentExists` message ("... The ID of the existing role assignment
/// is 0a1b...."), which ARM gives as 32 hex digits without dashes.
pub fn existing_assignment_name(message: &str) -> Option<String> {
    let word = message.split_whitespace().last()?.trim_end_matches('.');
    Uuid::try_parse(word).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_names_depend_on_scope_principal_and_role_but_not_case() {
        let subnet = ResourceId::subnet("s", "g", "v", "aci");
        let vnet = ResourceId::virtual_network("s", "g", "v");
        let nc = role_definition_id("s", NETWORK_CONTRIBUTOR);
        let name = assignment_name(&subnet, "p", &nc);
        assert_eq!(name, assignment_name(&subnet, "P", &nc.to_uppercase()));
        assert!(Uuid::try_parse(&name).is_ok());
        assert_ne!(name, assignment_name(&vnet, "p", &nc));
        assert_ne!(name, assignment_name(&subnet, "q", &nc));
        assert_ne!(
            name,
            assignment_name(&subnet, "p", &role_definition_id("s", CONTRIBUTOR))
        );
    }

    #[test]
    fn permissions_match_wildcards_without_regard_to_case_and_honour_exceptions() {
        let nc = NETWORK_CONTRIBUTOR_PERMISSIONS;
        assert!(nc.allows("Microsoft.Network/virtualNetworks/subnets/join/action"));
        assert!(nc.allows("microsoft.authorization/roleAssignments/READ"));
        assert!(!nc.allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(!nc.allows("Microsoft.ContainerInstance/containerGroups/write"));
        let c = CONTRIBUTOR_PERMISSIONS;
        assert!(c.allows("Microsoft.ContainerInstance/containerGroups/write"));
        assert!(!c.allows("Microsoft.Authorization/roleAssignments/write"));
        assert!(wildcard_match("a*c*e", "abcde") && !wildcard_match("a*c", "abd"));
    }

    #[test]
    fn the_existing_assignment_is_read_from_arms_message() {
        assert_eq!(
            existing_assignment_name(
                "The role assignment already exists. The ID of the existing role assignment is 0a1b2c3d4e5f60718293a4b5c6d7e8f9."
            )
            .as_deref(),
            Some("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9")
        );
        assert_eq!(existing_assignment_name("Conflict."), None);
    }
}
