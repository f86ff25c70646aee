//! Backend membership by NIC: each node's primary IP configuration points at its load balancer's pool, and
//! the load balancer lists the IP configurations that point at it.

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value as Json};

use crate::arm::client::{ArmClient, Conditions};
use crate::arm::error::ArmError;
use crate::arm::ids::ResourceId;
use crate::arm::models::NETWORK_API_VERSION;
use crate::arm::retry::Ctx;

use super::spec::Spec;

/// NIC writes in flight at once. The Network RP allows 1,000 writes per 5 minutes per subscription
/// (<https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling#network-throttling>);
/// the ARM client's pacer waits out throttling, and a small window keeps a 1,000-node change from bursting
/// through the whole allowance at once.
const MEMBERSHIP_CONCURRENCY: usize = 8;

/// Whether a backend pool ID belongs to one of this group's load balancers.
fn is_group_pool(settings: &Spec, pool: &str) -> bool {
    let prefix = format!(
        "{}/providers/Microsoft.Network/loadBalancers/{}-lb-",
        settings.group, settings.name
    );
    pool.to_ascii_lowercase()
        .starts_with(&prefix.to_ascii_lowercase())
}

/// Puts `nic` into `pool` (or into none of the group's pools when None), leaving pools of other load balancers
/// alone. Reads the NIC first and writes only when something changes, with If-Match against a concurrent edit.
async fn set_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    nic: &ResourceId,
    pool: Option<&str>,
) -> Result<(), ArmError> {
    let path = nic.to_string();
    let Some(current) = arm
        .get_optional::<Json>(ctx, &path, NETWORK_API_VERSION)
        .await?
    else {
        return match pool {
            // A removed node's NIC may already be gone: nothing to leave.
            None => Ok(()),
            Some(_) => Err(ArmError::Config(format!(
                "network interface {nic} does not exist"
            ))),
        };
    };
    let mut body = current.body;
    let Some(configs) = body["properties"]["ipConfigurations"].as_array_mut() else {
        return Err(ArmError::Config(format!(
            "network interface {nic} has no IP configurations"
        )));
    };
    let primary = configs
        .iter()
        .position(|c| c["properties"]["primary"].as_bool() == Some(true))
        .unwrap_or(0);
    let mut changed = false;
    for (i, config) in configs.iter_mut().enumerate() {
        let pools = config["properties"]["loadBalancerBackendAddressPools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut kept: Vec<Json> = pools
            .iter()
            .filter(|p| {
                p["id"]
                    .as_str()
                    .is_none_or(|id| !is_group_pool(settings, id))
            })
            .cloned()
            .collect();
        if let (Some(pool), true) = (pool, i == primary) {
            kept.push(json!({ "id": pool }));
        }
        let same = kept.len() == pools.len()
            && kept.iter().all(|k| {
                pools.iter().any(|p| {
                    p["id"].as_str().map(str::to_ascii_lowercase)
                        == k["id"].as_str().map(str::to_ascii_lowercase)
                })
            });
        if !same {
            let Some(props) = config.get_mut("properties").and_then(Json::as_object_mut) else {
                return Err(ArmError::Config(format!(
                    "network interface {nic} has an IP configuration without properties"
                )));
            };
            props.insert("loadBalancerBackendAddressPools".into(), Json::Array(kept));
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let conditions = Conditions::matching(current.etag);
    arm.put_and_wait::<_, Json>(ctx, &path, NETWORK_API_VERSION, &body, &conditions)
        .await?;
    Ok(())
}

/// Applies membership changes with a bounded window of writes in flight; the first error wins.
pub async fn apply_membership(
    arm: &ArmClient,
    ctx: &Ctx,
    settings: &Spec,
    changes: Vec<(ResourceId, Option<String>)>,
) -> Result<(), ArmError> {
    let results: Vec<Result<(), ArmError>> = stream::iter(changes)
        .map(|(nic, pool)| async move {
            set_membership(arm, ctx, settings, &nic, pool.as_deref()).await
        })
        .buffer_unordered(MEMBERSHIP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The NICs currently in a load balancer's backend pools.
pub fn members(lb: &Json) -> Vec<ResourceId> {
    lb["properties"]["backendAddressPools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["properties"]["backendIPConfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| ResourceId::parse(c["id"].as_str()?).ok()?.parent())
        .collect()
}
