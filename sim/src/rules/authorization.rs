//! Role assignments (Microsoft.Authorization/roleAssignments) at any scope.

use super::{props, str_at, Prepared, PutCtx};
use crate::error::ArmError;
use serde_json::{json, Value};

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Role assignments cannot be updated, and one principal holds a role at a scope once
/// (<https://learn.microsoft.com/azure/role-based-access-control/troubleshooting>): both conflicts are
/// `409 RoleAssignmentExists`. Re-sending an identical assignment is idempotent.
pub fn put_role_assignment(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let role = str_at(&body, "/properties/roleDefinitionId").map(str::to_string);
    let principal = str_at(&body, "/properties/principalId").map(str::to_string);
    let (Some(role), Some(principal)) = (role, principal) else {
        return Err(ArmError::bad_request(
            "InvalidRoleAssignmentRequest",
            "A role assignment needs properties.roleDefinitionId and properties.principalId.",
        ));
    };
    let segs: Vec<&str> = role.split('/').collect();
    let well_formed = segs.len() >= 4
        && segs[segs.len() - 2].eq_ignore_ascii_case("roleDefinitions")
        && segs[segs.len() - 3].eq_ignore_ascii_case("Microsoft.Authorization");
    if !well_formed {
        return Err(ArmError::bad_request(
            "InvalidRoleDefinitionId",
            format!("The role definition ID '{role}' is not valid."),
        ));
    }
    let suffix = "/providers/Microsoft.Authorization/roleAssignments/".len() + ctx.id.name.len();
    let scope = ctx.id.id[..ctx.id.id.len().saturating_sub(suffix)].to_string();
    let role_guid = |r: &str| r.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    if let Some(old) = ctx.old {
        let unchanged = same(
            str_at(&old.body, "/properties/principalId"),
            Some(&principal),
        ) && role_guid(
            str_at(&old.body, "/properties/roleDefinitionId").unwrap_or(""),
        ) == role_guid(&role);
        if !unchanged {
            return Err(ArmError::conflict(
                "RoleAssignmentExists",
                format!("The role assignment already exists. The ID of the existing role assignment is {}.", ctx.id.name),
            ));
        }
    }
    let scope_key = scope.to_ascii_lowercase();
    let prefix = format!("{scope_key}/providers/microsoft.authorization/roleassignments/");
    let twin = ctx
        .world
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, r)| r)
        .find(|r| {
            !r.id.eq_ignore_ascii_case(&ctx.id.id)
                && same(str_at(&r.body, "/properties/principalId"), Some(&principal))
                && role_guid(str_at(&r.body, "/properties/roleDefinitionId").unwrap_or(""))
                    == role_guid(&role)
        });
    if let Some(twin) = twin {
        let name = twin.id.rsplit('/').next().unwrap_or("");
        return Err(ArmError::conflict(
            "RoleAssignmentExists",
            format!("The role assignment already exists. The ID of the existing role assignment is {name}."),
        ));
    }
    let created = ctx
        .old
        .and_then(|o| str_at(&o.body, "/properties/createdOn").map(str::to_string))
        .unwrap_or_else(|| crate::clock::rfc3339(ctx.now));
    let client = ctx.config.client_id.clone();
    let p = props(&mut body);
    p.insert("scope".into(), json!(scope));
    p.entry("principalType")
        .or_insert(json!("ServicePrincipal"));
    p.insert("createdOn".into(), json!(created));
    p.insert("updatedOn".into(), json!(created));
    p.insert("createdBy".into(), json!(client));
    p.insert("updatedBy".into(), json!(client));
    p.remove("provisioningState");
    Ok(Prepared::body(body))
}
