//! User-assigned managed identities (Microsoft.ManagedIdentity/userAssignedIdentities, api-version 2023-01-31):
//! the ones clients create, and the one AKS creates for an add-on.
//!
//! Shape: azure-rest-api-specs, specification/msi/resource-manager/Microsoft.ManagedIdentity/stable/2023-01-31/
//! ManagedIdentity.json, `UserAssignedIdentityProperties`: `tenantId`, `principalId` and `clientId`, all
//! read-only and set by the service.

use super::{props, Prepared, PutCtx};
use crate::error::ArmError;
use crate::store::{new_etag, Resource};
use serde_json::{json, Value};

pub const IDENTITY_TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";

/// The service sets the identity's IDs at creation and keeps them for its life; a client's values are ignored.
pub fn put_identity(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let kept = |name: &str| {
        ctx.old
            .and_then(|o| o.body["properties"][name].as_str())
            .map(str::to_string)
            .unwrap_or_else(crate::entropy::guid)
    };
    let (principal, client) = (kept("principalId"), kept("clientId"));
    let p = props(&mut body);
    p.insert("tenantId".into(), json!(ctx.config.tenant));
    p.insert("principalId".into(), json!(principal));
    p.insert("clientId".into(), json!(client));
    Ok(Prepared::body(body))
}

/// A new user-assigned identity `name` in resource group `group_id` (`/subscriptions/s/resourceGroups/g`), as a
/// service (AKS) creates it.
pub fn new_identity(group_id: &str, name: &str, location: &str, tenant: &str) -> Resource {
    let id = format!("{group_id}/providers/{IDENTITY_TYPE}/{name}");
    Resource {
        body: json!({
            "id": id,
            "name": name,
            "type": IDENTITY_TYPE,
            "location": location,
            "tags": {},
            "properties": {
                "tenantId": tenant,
                "principalId": crate::entropy::guid(),
                "clientId": crate::entropy::guid(),
            },
        }),
        id,
        resource_type: IDENTITY_TYPE.to_string(),
        etag: new_etag(IDENTITY_TYPE),
        pending: None,
    }
}

/// How an add-on profile reports its identity (AKS 2024-05-01 `UserAssignedIdentity`: `resourceId`,
/// `clientId`, `objectId`).
pub fn as_addon_identity(identity: &Resource) -> Value {
    json!({
        "resourceId": identity.id,
        "clientId": identity.body["properties"]["clientId"],
        "objectId": identity.body["properties"]["principalId"],
    })
}
