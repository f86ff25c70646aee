//! Resource groups (Microsoft.Resources/resourceGroups).

use super::{props, Prepared, PutCtx};
use crate::error::ArmError;
use serde_json::{json, Value};

/// A resource group's location cannot change once created.
pub fn put_group(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    if let Some(old) = ctx.old {
        if old.body["location"] != body["location"] {
            return Err(ArmError::conflict(
                "InvalidResourceGroupLocation",
                format!(
                    "Invalid resource group location '{}'. The Resource group already exists in location '{}'.",
                    body["location"].as_str().unwrap_or(""),
                    old.body["location"].as_str().unwrap_or("")
                ),
            ));
        }
    }
    props(&mut body).insert("provisioningState".into(), json!("Succeeded"));
    Ok(Prepared::body(body))
}
