//! The api-versions the simulator serves per resource type, and ARM's refusals for any other.

use crate::error::ArmError;

/// Network RP (virtual networks, subnets, NICs, public IPs, load balancers).
pub const NETWORK: &str = "2024-03-01";
/// Compute RP (VMs, availability sets, disks).
pub const COMPUTE: &str = "2024-07-01";
/// Authorization RP (role assignments).
pub const AUTHORIZATION: &str = "2022-04-01";
/// Resource groups (Microsoft.Resources).
pub const RESOURCES: &str = "2021-04-01";
/// Container Service RP (AKS managed clusters).
pub const CONTAINER_SERVICE: &str = "2024-05-01";
/// DNS zones and record sets.
pub const DNS: &str = "2018-05-01";
/// Managed Identity RP (user-assigned identities, such as the one AKS makes for the ACI connector add-on).
pub const MANAGED_IDENTITY: &str = "2023-01-31";
/// Container Instance RP: only the subnet service association link's delete (`SubnetServiceAssociationLink_Delete`).
pub const CONTAINER_INSTANCE: &str = "2023-05-01";

/// One resource type the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Full type with namespace (`Microsoft.Network/virtualNetworks/subnets`).
    pub resource_type: &'static str,
    pub api_version: &'static str,
}

/// Every resource type the simulator implements.
pub const SERVED: &[Served] = &[
    Served {
        resource_type: "Microsoft.Resources/resourceGroups",
        api_version: RESOURCES,
    },
    Served {
        resource_type: "Microsoft.Compute/availabilitySets",
        api_version: COMPUTE,
    },
    Served {
        resource_type: "Microsoft.Compute/virtualMachines",
        api_version: COMPUTE,
    },
    Served {
        resource_type: "Microsoft.Compute/disks",
        api_version: COMPUTE,
    },
    Served {
        resource_type: "Microsoft.Network/networkInterfaces",
        api_version: NETWORK,
    },
    Served {
        resource_type: "Microsoft.Network/publicIPAddresses",
        api_version: NETWORK,
    },
    Served {
        resource_type: "Microsoft.Network/loadBalancers",
        api_version: NETWORK,
    },
    Served {
        resource_type: "Microsoft.Network/virtualNetworks",
        api_version: NETWORK,
    },
    Served {
        resource_type: "Microsoft.Network/virtualNetworks/subnets",
        api_version: NETWORK,
    },
    Served {
        resource_type: "Microsoft.Network/dnsZones",
        api_version: DNS,
    },
    Served {
        resource_type: "Microsoft.Network/dnsZones/A",
        api_version: DNS,
    },
    Served {
        resource_type: "Microsoft.Authorization/roleAssignments",
        api_version: AUTHORIZATION,
    },
    Served {
        resource_type: "Microsoft.ManagedIdentity/userAssignedIdentities",
        api_version: MANAGED_IDENTITY,
    },
    Served {
        resource_type: "Microsoft.ContainerService/managedClusters",
        api_version: CONTAINER_SERVICE,
    },
];

/// Finds the served type, matching case-insensitively as ARM does. Returns the canonical spelling.
pub fn served(resource_type: &str) -> Option<&'static Served> {
    SERVED
        .iter()
        .find(|s| s.resource_type.eq_ignore_ascii_case(resource_type))
}

/// The api-version a namespace's operation endpoints answer to.
pub fn for_namespace(namespace: &str) -> Option<&'static str> {
    [
        ("Microsoft.Network", NETWORK),
        ("Microsoft.Compute", COMPUTE),
        ("Microsoft.Authorization", AUTHORIZATION),
        ("Microsoft.Resources", RESOURCES),
        ("Microsoft.ContainerService", CONTAINER_SERVICE),
        ("Microsoft.ContainerInstance", CONTAINER_INSTANCE),
        ("Microsoft.ManagedIdentity", MANAGED_IDENTITY),
    ]
    .iter()
    .find(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
    .map(|(_, v)| *v)
}

/// Checks the `api-version` query parameter the way ARM does before a request reaches a resource provider.
///
/// ARM answers a missing parameter with `MissingApiVersionParameter`, a malformed one with
/// `InvalidApiVersionParameter` and a well-formed one the provider does not register with `NoRegisteredProviderFound`,
/// each listing the supported versions.
pub fn check(
    requested: Option<&str>,
    resource_type: &str,
    supported: &str,
) -> Result<(), ArmError> {
    let Some(requested) = requested else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    if requested == supported {
        return Ok(());
    }
    let date = requested.split('-').take(3).collect::<Vec<_>>();
    let well_formed = date.len() == 3
        && date[0].len() == 4
        && date[1].len() == 2
        && date[2].len() == 2
        && date.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !well_formed {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{requested}' is invalid. The supported versions are '{supported}'."
            ),
        ));
    }
    let leaf = resource_type
        .split_once('/')
        .map(|(_, t)| t)
        .unwrap_or(resource_type);
    let namespace = resource_type.split('/').next().unwrap_or(resource_type);
    Err(ArmError::bad_request(
        "NoRegisteredProviderFound",
        format!(
            "No registered resource provider found for location 'global' and API version '{requested}' for type '{leaf}' in namespace '{namespace}'. The supported api-versions are '{supported}'."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_supported_version() {
        let e = check(
            Some("2019-01-01"),
            "Microsoft.Compute/virtualMachines",
            COMPUTE,
        )
        .unwrap_err();
        assert_eq!(e.code, "NoRegisteredProviderFound");
        assert!(e.message.contains(COMPUTE));
        let e = check(Some("latest"), "Microsoft.Compute/virtualMachines", COMPUTE).unwrap_err();
        assert_eq!(e.code, "InvalidApiVersionParameter");
        let e = check(None, "Microsoft.Compute/virtualMachines", COMPUTE).unwrap_err();
        assert_eq!(e.code, "MissingApiVersionParameter");
        assert!(check(Some(COMPUTE), "Microsoft.Compute/virtualMachines", COMPUTE).is_ok());
    }

    #[test]
    fn type_lookup_ignores_case() {
        let s = served("microsoft.network/VIRTUALNETWORKS/subnets").expect("served");
        assert_eq!(s.resource_type, "Microsoft.Network/virtualNetworks/subnets");
    }
}
