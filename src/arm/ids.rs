//! Typed ARM resource IDs: parsed case-insensitively once, formatted canonically everywhere.

use std::fmt;
use std::str::FromStr;

/// One provider scope of an ID: `providers/{namespace}/{type}/{name}[/{child type}/{child name}...]`.
/// An ID has several when an extension resource sits on another (a role assignment on a subnet).
#[derive(Clone, Debug)]
pub struct ProviderScope {
    pub namespace: String,
    /// `(type, name)` pairs, outermost first: `[("virtualNetworks","v"), ("subnets","s")]`.
    pub types: Vec<(String, String)>,
}

/// An ARM resource ID: a subscription, optionally a resource group, then provider scopes.
/// Equality ignores ASCII case, as ARM does.
#[derive(Clone, Debug)]
pub struct ResourceId {
    subscription_id: String,
    resource_group: Option<String>,
    scopes: Vec<ProviderScope>,
}

/// A malformed resource ID, saying what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed Azure resource ID {input:?}: {reason}")]
pub struct IdError {
    pub input: String,
    pub reason: String,
}

/// Namespaces and types we write, in the casing ARM documents, so that IDs read back in lower case
/// (as some APIs answer them) format the same as the ones we built.
const CANONICAL: &[&str] = &[
    "Microsoft.Network",
    "Microsoft.Compute",
    "Microsoft.ContainerService",
    "Microsoft.Authorization",
    "Microsoft.Resources",
    "availabilitySets",
    "virtualMachines",
    "networkInterfaces",
    "loadBalancers",
    "publicIPAddresses",
    "virtualNetworks",
    "subnets",
    "managedClusters",
    "roleAssignments",
    "roleDefinitions",
    "dnsZones",
    "A",
    "disks",
];

fn canonical(word: &str) -> String {
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(word))
        .map_or_else(|| word.to_string(), |c| c.to_string())
}

/// The kinds of resource this provider manages, each with its full ARM type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    AvailabilitySet,
    VirtualMachine,
    NetworkInterface,
    LoadBalancer,
    PublicIpAddress,
    VirtualNetwork,
    Subnet,
    ManagedCluster,
    RoleAssignment,
    DnsZone,
    DnsARecordSet,
}

impl ResourceKind {
    /// The full type, e.g. `Microsoft.Network/virtualNetworks/subnets`.
    pub fn type_name(self) -> &'static str {
        match self {
            ResourceKind::AvailabilitySet => "Microsoft.Compute/availabilitySets",
            ResourceKind::VirtualMachine => "Microsoft.Compute/virtualMachines",
            ResourceKind::NetworkInterface => "Microsoft.Network/networkInterfaces",
            ResourceKind::LoadBalancer => "Microsoft.Network/loadBalancers",
            ResourceKind::PublicIpAddress => "Microsoft.Network/publicIPAddresses",
            ResourceKind::VirtualNetwork => "Microsoft.Network/virtualNetworks",
            ResourceKind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            ResourceKind::ManagedCluster => "Microsoft.ContainerService/managedClusters",
            ResourceKind::RoleAssignment => "Microsoft.Authorization/roleAssignments",
            ResourceKind::DnsZone => "Microsoft.Network/dnsZones",
            ResourceKind::DnsARecordSet => "Microsoft.Network/dnsZones/A",
        }
    }
}

impl ResourceId {
    /// `/subscriptions/{id}`.
    pub fn subscription(subscription_id: impl Into<String>) -> Self {
        ResourceId {
            subscription_id: subscription_id.into(),
            resource_group: None,
            scopes: Vec::new(),
        }
    }

    /// `/subscriptions/{id}/resourceGroups/{name}`.
    pub fn resource_group(subscription_id: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceId {
            resource_group: Some(name.into()),
            ..Self::subscription(subscription_id)
        }
    }

    /// A top-level resource `providers/{namespace}/{type}/{name}` under this ID.
    pub fn provider(&self, namespace: &str, type_: &str, name: impl Into<String>) -> Self {
        let mut id = self.clone();
        id.scopes.push(ProviderScope {
            namespace: canonical(namespace),
            types: vec![(canonical(type_), name.into())],
        });
        id
    }

    fn in_group(sub: &str, rg: &str, kind: ResourceKind, names: &[&str]) -> Self {
        let mut parts = kind.type_name().split('/');
        let namespace = parts.next().unwrap_or_default();
        let types = parts
            .zip(names)
            .map(|(t, n)| (t.to_string(), (*n).to_string()))
            .collect();
        ResourceId {
            subscription_id: sub.to_string(),
            resource_group: Some(rg.to_string()),
            scopes: vec![ProviderScope {
                namespace: namespace.to_string(),
                types,
            }],
        }
    }

    pub fn availability_set(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::AvailabilitySet, &[name])
    }
    pub fn virtual_machine(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::VirtualMachine, &[name])
    }
    pub fn network_interface(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::NetworkInterface, &[name])
    }
    pub fn load_balancer(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::LoadBalancer, &[name])
    }
    pub fn public_ip_address(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::PublicIpAddress, &[name])
    }
    pub fn virtual_network(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::VirtualNetwork, &[name])
    }
    pub fn subnet(sub: &str, rg: &str, vnet: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::Subnet, &[vnet, name])
    }
    pub fn managed_cluster(sub: &str, rg: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::ManagedCluster, &[name])
    }
    pub fn dns_zone(sub: &str, rg: &str, zone: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::DnsZone, &[zone])
    }
    pub fn dns_a_record_set(sub: &str, rg: &str, zone: &str, name: &str) -> Self {
        Self::in_group(sub, rg, ResourceKind::DnsARecordSet, &[zone, name])
    }
    /// A role assignment `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub fn role_assignment(scope: &ResourceId, name: &str) -> Self {
        scope.provider("Microsoft.Authorization", "roleAssignments", name)
    }

    /// Parses an ID, accepting any casing of the fixed segments (`resourcegroups`, `PROVIDERS`...).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let err = |reason: String| IdError {
            input: input.to_string(),
            reason,
        };
        let rest = input
            .strip_prefix('/')
            .ok_or_else(|| err("it must start with \"/subscriptions/\"".into()))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<&str> = rest.split('/').collect();
        if let Some(i) = segs.iter().position(|s| s.is_empty()) {
            return Err(err(format!("segment {} is empty (a doubled \"/\")", i + 1)));
        }
        let mut it = segs.into_iter().peekable();
        match it.next() {
            Some(s) if s.eq_ignore_ascii_case("subscriptions") => {}
            Some(s) => {
                return Err(err(format!(
                    "expected \"subscriptions\" first, found {s:?}"
                )))
            }
            None => return Err(err("it is empty".into())),
        }
        let subscription_id = it
            .next()
            .ok_or_else(|| err("the subscription ID is missing after \"subscriptions\"".into()))?
            .to_string();
        let mut id = ResourceId::subscription(subscription_id);
        if it
            .peek()
            .is_some_and(|s| s.eq_ignore_ascii_case("resourceGroups"))
        {
            it.next();
            let rg = it.next().ok_or_else(|| {
                err("the resource group name is missing after \"resourceGroups\"".into())
            })?;
            id.resource_group = Some(rg.to_string());
        }
        while let Some(seg) = it.next() {
            if !seg.eq_ignore_ascii_case("providers") {
                return Err(err(format!(
                    "expected \"providers\" or \"resourceGroups\", found {seg:?}"
                )));
            }
            let namespace = it.next().ok_or_else(|| {
                err("the provider namespace is missing after \"providers\"".into())
            })?;
            if !namespace.contains('.') {
                return Err(err(format!(
                    "{namespace:?} is not a provider namespace (like \"Microsoft.Network\")"
                )));
            }
            let mut types = Vec::new();
            while let Some(t) = it.next_if(|s| !s.eq_ignore_ascii_case("providers")) {
                let name = it
                    .next_if(|s| !s.eq_ignore_ascii_case("providers"))
                    .ok_or_else(|| err(format!("the name of the {t:?} resource is missing")))?;
                types.push((canonical(t), name.to_string()));
            }
            if types.is_empty() {
                return Err(err(format!(
                    "no resource type and name follow \"providers/{namespace}\""
                )));
            }
            id.scopes.push(ProviderScope {
                namespace: canonical(namespace),
                types,
            });
        }
        Ok(id)
    }

    /// Parses an ID and checks that it is of the given kind.
    pub fn parse_as(input: &str, kind: ResourceKind) -> Result<Self, IdError> {
        let id = Self::parse(input)?;
        if !id.is_kind(kind) {
            return Err(IdError {
                input: input.to_string(),
                reason: format!(
                    "expected a {} ID, found {}",
                    kind.type_name(),
                    id.type_name()
                        .unwrap_or_else(|| "a subscription or resource group".into())
                ),
            });
        }
        Ok(id)
    }

    pub fn is_kind(&self, kind: ResourceKind) -> bool {
        self.type_name()
            .is_some_and(|t| t.eq_ignore_ascii_case(kind.type_name()))
            && self.resource_group.is_some()
    }

    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    pub fn resource_group_name(&self) -> Option<&str> {
        self.resource_group.as_deref()
    }

    pub fn scopes(&self) -> &[ProviderScope] {
        &self.scopes
    }

    /// The full type of the innermost resource (`Microsoft.Network/virtualNetworks/subnets`), or None for a
    /// subscription or resource group.
    pub fn type_name(&self) -> Option<String> {
        let scope = self.scopes.last()?;
        let mut s = scope.namespace.clone();
        for (t, _) in &scope.types {
            s.push('/');
            s.push_str(t);
        }
        Some(s)
    }

    /// The provider namespace of the innermost resource, used to match per-provider throttling policies.
    pub fn namespace(&self) -> Option<&str> {
        self.scopes.last().map(|s| s.namespace.as_str())
    }

    /// The innermost name: the resource's, else the resource group's, else the subscription's.
    pub fn name(&self) -> &str {
        self.scopes
            .last()
            .and_then(|s| s.types.last())
            .map(|(_, n)| n.as_str())
            .or(self.resource_group.as_deref())
            .unwrap_or(&self.subscription_id)
    }

    /// The name of the ancestor of type `type_` (e.g. the virtual network of a subnet).
    pub fn name_of(&self, type_: &str) -> Option<&str> {
        self.scopes
            .iter()
            .flat_map(|s| s.types.iter())
            .rev()
            .find(|(t, _)| t.eq_ignore_ascii_case(type_))
            .map(|(_, n)| n.as_str())
    }

    /// The enclosing resource: a subnet's virtual network, a resource's group, a group's subscription.
    pub fn parent(&self) -> Option<Self> {
        let mut id = self.clone();
        if let Some(scope) = id.scopes.last_mut() {
            scope.types.pop();
            if scope.types.is_empty() {
                id.scopes.pop();
            }
        } else if id.resource_group.take().is_none() {
            return None;
        }
        Some(id)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/subscriptions/{}", self.subscription_id)?;
        if let Some(rg) = &self.resource_group {
            write!(f, "/resourceGroups/{rg}")?;
        }
        for scope in &self.scopes {
            write!(f, "/providers/{}", scope.namespace)?;
            for (t, n) in &scope.types {
                write!(f, "/{t}/{n}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for ResourceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.to_string().eq_ignore_ascii_case(&other.to_string())
    }
}
impl Eq for ResourceId {}

impl std::hash::Hash for ResourceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_string().to_ascii_lowercase().hash(state);
    }
}

impl serde::Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ResourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    #[test]
    fn lower_case_ids_format_in_canonical_casing() {
        let id = ResourceId::parse(&format!(
            "/SUBSCRIPTIONS/{SUB}/resourcegroups/RG/providers/microsoft.network/virtualnetworks/Vnet/SUBNETS/s1"
        ))
        .expect("valid ID");
        assert_eq!(
            id.to_string(),
            format!("/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/Vnet/subnets/s1")
        );
        assert!(id.is_kind(ResourceKind::Subnet));
        assert_eq!(id, ResourceId::subnet(SUB, "rg", "vnet", "S1"));
        assert_eq!(id.name(), "s1");
        assert_eq!(id.name_of("virtualNetworks"), Some("Vnet"));
        assert_eq!(
            id.parent(),
            Some(ResourceId::virtual_network(SUB, "RG", "Vnet"))
        );
    }

    #[test]
    fn role_assignments_nest_on_another_resource() {
        let scope = ResourceId::subnet(SUB, "rg", "v", "s");
        let ra = ResourceId::role_assignment(&scope, "1234");
        let text = ra.to_string();
        assert!(text.ends_with("/subnets/s/providers/Microsoft.Authorization/roleAssignments/1234"));
        let back = ResourceId::parse_as(&text, ResourceKind::RoleAssignment).expect("valid");
        assert_eq!(back, ra);
        assert_eq!(back.scopes().len(), 2);
        assert_eq!(back.parent(), Some(scope));
    }

    #[test]
    fn errors_say_what_is_malformed() {
        let cases = [
            ("subscriptions/x", "must start with"),
            ("/subs/x", "expected \"subscriptions\" first"),
            ("/subscriptions", "subscription ID is missing"),
            (
                "/subscriptions/x/resourceGroups",
                "resource group name is missing",
            ),
            (
                "/subscriptions/x/resourceGroups/rg/providers",
                "namespace is missing",
            ),
            (
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network",
                "no resource type",
            ),
            (
                "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks",
                "name of the \"virtualNetworks\" resource is missing",
            ),
            (
                "/subscriptions/x/resourceGroups/rg/bogus/y",
                "expected \"providers\"",
            ),
            ("/subscriptions/x//resourceGroups/rg", "empty"),
            (
                "/subscriptions/x/resourceGroups/rg/providers/network/a/b",
                "not a provider namespace",
            ),
        ];
        for (input, needle) in cases {
            let e = ResourceId::parse(input).expect_err(input);
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
        let e = ResourceId::parse_as(
            &ResourceId::virtual_network(SUB, "rg", "v").to_string(),
            ResourceKind::Subnet,
        )
        .expect_err("kind mismatch");
        assert!(e
            .reason
            .contains("expected a Microsoft.Network/virtualNetworks/subnets ID"));
    }

    #[test]
    fn typed_constructors_have_their_kind() {
        let cases = [
            (
                ResourceId::availability_set(SUB, "g", "n"),
                ResourceKind::AvailabilitySet,
            ),
            (
                ResourceId::virtual_machine(SUB, "g", "n"),
                ResourceKind::VirtualMachine,
            ),
            (
                ResourceId::network_interface(SUB, "g", "n"),
                ResourceKind::NetworkInterface,
            ),
            (
                ResourceId::load_balancer(SUB, "g", "n"),
                ResourceKind::LoadBalancer,
            ),
            (
                ResourceId::public_ip_address(SUB, "g", "n"),
                ResourceKind::PublicIpAddress,
            ),
            (
                ResourceId::managed_cluster(SUB, "g", "n"),
                ResourceKind::ManagedCluster,
            ),
            (
                ResourceId::dns_zone(SUB, "g", "example.com"),
                ResourceKind::DnsZone,
            ),
            (
                ResourceId::dns_a_record_set(SUB, "g", "example.com", "www"),
                ResourceKind::DnsARecordSet,
            ),
        ];
        for (id, kind) in cases {
            assert!(id.is_kind(kind), "{id} is not {kind:?}");
            assert_eq!(
                ResourceId::parse_as(&id.to_string(), kind).as_ref(),
                Ok(&id)
            );
        }
    }

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9._-]{0,20}"
    }

    fn scope() -> impl Strategy<Value = ProviderScope> {
        (
            "[A-Z][a-z]{1,8}\\.[A-Z][a-z]{1,8}",
            prop::collection::vec(("[a-z][A-Za-z]{1,12}", name()), 1..4),
        )
            .prop_filter("a type may not read as a keyword", |(_, types)| {
                types.iter().all(|(t, n)| {
                    !t.eq_ignore_ascii_case("providers") && !n.eq_ignore_ascii_case("providers")
                })
            })
            .prop_map(|(namespace, types)| ProviderScope { namespace, types })
    }

    fn resource_id() -> impl Strategy<Value = ResourceId> {
        (
            name(),
            prop::option::of(name()),
            prop::collection::vec(scope(), 0..3),
        )
            .prop_map(|(subscription_id, resource_group, scopes)| ResourceId {
                subscription_id,
                resource_group,
                scopes,
            })
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_round_trips(id in resource_id()) {
            let text = id.to_string();
            let back = ResourceId::parse(&text).expect("formatted IDs parse");
            prop_assert_eq!(&back, &id);
            let again = ResourceId::parse(&back.to_string()).expect("canonical IDs parse");
            prop_assert_eq!(again.to_string(), back.to_string());
        }

        #[test]
        fn parsing_ignores_case(id in resource_id()) {
            let text = id.to_string();
            let upper = ResourceId::parse(&text.to_ascii_uppercase()).expect("upper case parses");
            let lower = ResourceId::parse(&text.to_ascii_lowercase()).expect("lower case parses");
            prop_assert_eq!(&upper, &id);
            prop_assert_eq!(&lower, &id);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
            let _ = ResourceId::parse(&s);
        }
    }
}
