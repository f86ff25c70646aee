//! The virtual node's typed inputs and outputs: every attribute decoded once from a configuration, plan or
//! state (with its path for diagnostics), the typed values apply needs, and the encoding back for state.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::arm::cidr::Ipv4Cidr;
use crate::arm::{roles, ResourceId, ResourceKind};
use crate::resources::timeouts::parse_duration;
use crate::tf::decode::{Fields, FromValue, IntoValue, Maybe};
use crate::tf::diagnostics::Diagnostic;
use crate::tf::path::AttributePath;
use crate::tf::types::Type;
use crate::tf::value::{Value, ValueError};

/// The service ACI container groups are delegated to, and the action the delegation grants.
pub const ACI_SERVICE: &str = "Microsoft.ContainerInstance/containerGroups";
pub const ACI_DELEGATION_ACTION: &str = "Microsoft.Network/virtualNetworks/subnets/action";
pub const DELEGATION_NAME: &str = "aci-delegation";
/// What the add-on's virtual kubelet registers as, and the taint it carries
/// (<https://learn.microsoft.com/azure/aks/virtual-nodes-cli#deploy-a-sample-app>).
pub const NODE_NAME: &str = "virtual-node-aci-linux";
pub const TAINT_KEY: &str = "virtual-kubelet.io/provider";
pub const TAINT: &str = "virtual-kubelet.io/provider=azure:NoSchedule";
/// The only operating system the AKS add-on runs.
pub const OS_TYPE: &str = "Linux";

crate::from_str_value!(Ipv4Cidr, Role, VnetId, ClusterId, PrincipalId, OsType);

#[cfg(test)]
/// What the ACI connector does on the virtual node's subnet: read it, and join container groups to it
/// (<https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-subnet#permissions>: deploying a
/// resource into a subnet takes `Microsoft.Network/virtualNetworks/subnets/join/action` on it).
pub const CONNECTOR_ACTIONS: [&str; 2] = [
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
];

/// The role granted to the connector's principal, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Least privilege: Network Contributor on the virtual node's subnet only.
    NetworkContributor,
    /// What the classic instructions grant: Contributor on the whole VNet.
    Contributor,
}

impl Role {
    pub const DEFAULT: Role = Role::NetworkContributor;
    pub const ALL: [Role; 2] = [Role::NetworkContributor, Role::Contributor];

    pub fn name(self) -> &'static str {
        match self {
            Role::NetworkContributor => "Network Contributor",
            Role::Contributor => "Contributor",
        }
    }

    /// What the role allows, as Microsoft publishes it.
    #[cfg(test)]
    pub fn permissions(self) -> roles::Permissions {
        match self {
            Role::NetworkContributor => roles::NETWORK_CONTRIBUTOR_PERMISSIONS,
            Role::Contributor => roles::CONTRIBUTOR_PERMISSIONS,
        }
    }

    pub fn definition_id(self, subscription_id: &str) -> String {
        let guid = match self {
            Role::NetworkContributor => roles::NETWORK_CONTRIBUTOR,
            Role::Contributor => roles::CONTRIBUTOR,
        };
        roles::role_definition_id(subscription_id, guid)
    }

    pub fn scope(self, subnet: &ResourceId) -> ResourceId {
        match self {
            Role::NetworkContributor => subnet.clone(),
            Role::Contributor => subnet.parent().unwrap_or_else(|| subnet.clone()),
        }
    }

    /// The deterministic ID of the assignment of this role to `principal_id` for `subnet`.
    pub fn assignment_id(self, subnet: &ResourceId, principal_id: &str) -> ResourceId {
        let scope = self.scope(subnet);
        let definition = self.definition_id(subnet.subscription_id());
        ResourceId::role_assignment(
            &scope,
            &roles::assignment_name(&scope, principal_id, &definition),
        )
    }
}

impl FromStr for Role {
    type Err = String;

    /// Role names as Azure spells them, in any case.
    fn from_str(name: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "role {name:?} is not supported: use \"Network Contributor\" (on the subnet) or \"Contributor\" \
                     (on the VNet)."
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource ID that must name one kind of resource.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(pub ResourceId);

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<$name, String> {
                ResourceId::parse_as(text, $kind)
                    .map($name)
                    .map_err(|e| e.to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// The virtual network the subnet is made in.
    VnetId,
    ResourceKind::VirtualNetwork
);
typed_id!(
    /// The AKS managed cluster whose add-on uses the subnet.
    ClusterId,
    ResourceKind::ManagedCluster
);

/// The object (principal) ID of an identity in Microsoft Entra ID, kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalId(pub String);

impl FromStr for PrincipalId {
    type Err = String;
    fn from_str(text: &str) -> Result<PrincipalId, String> {
        match uuid::Uuid::try_parse(text) {
            Ok(_) => Ok(PrincipalId(text.to_string())),
            Err(_) => Err(format!(
                "{text:?} is not an object ID: set principal_id to the identity's object (principal) ID, a UUID."
            )),
        }
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The virtual node's operating system: the add-on runs Linux pods only. Kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsType(pub String);

impl FromStr for OsType {
    type Err = String;
    fn from_str(text: &str) -> Result<OsType, String> {
        if text.eq_ignore_ascii_case(OS_TYPE) {
            Ok(OsType(text.to_string()))
        } else {
            Err(format!(
                "os_type {text:?}: the AKS virtual-node add-on runs Linux pods only; set os_type = \"Linux\" or \
                 leave it out."
            ))
        }
    }
}

impl fmt::Display for OsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ACI connector's managed identity, as the cluster reports it under
/// `addonProfiles.aciConnectorLinux.identity`: a user-assigned identity AKS makes for the add-on
/// (`aciconnectorlinux-<cluster>` in the node resource group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorIdentity {
    /// ARM ID of the identity. States written before it was reported lack it until the next refresh.
    pub resource_id: Option<String>,
    pub client_id: String,
    pub object_id: String,
}

impl ConnectorIdentity {
    pub fn value_type() -> Type {
        Type::object([
            ("resource_id", Type::String),
            ("client_id", Type::String),
            ("object_id", Type::String),
        ])
    }
}

impl FromValue for ConnectorIdentity {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let fields = Fields::of(value, path)?;
        Ok(ConnectorIdentity {
            resource_id: fields.get("resource_id")?,
            client_id: fields.get("client_id")?,
            object_id: fields.get("object_id")?,
        })
    }
}

impl IntoValue for ConnectorIdentity {
    fn into_value(self) -> Value {
        Value::object([
            ("resource_id", self.resource_id.into_value()),
            ("client_id", Value::string(self.client_id)),
            ("object_id", Value::string(self.object_id)),
        ])
    }
}

/// A value of a plan or state: unknown until apply, null when absent.
pub type Planned<T> = Maybe<Option<T>>;

/// Every attribute of a virtual node as Terraform holds it in a configuration, plan or state. Inputs stay as
/// written, so that they go back to Terraform unchanged; the constant outputs (node name, selector,
/// tolerations, taint) are not read, only written.
#[derive(Clone, Debug, PartialEq)]
pub struct Attrs {
    pub virtual_network_id: Planned<String>,
    pub subnet_name: Planned<String>,
    pub address_prefix: Planned<String>,
    pub cluster_id: Planned<String>,
    pub principal_id: Planned<String>,
    pub role: Planned<String>,
    pub os_type: Planned<String>,
    pub subnet_id: Planned<String>,
    pub delegation_name: Planned<String>,
    pub role_assignment_id: Planned<String>,
    pub connector_identity: Planned<ConnectorIdentity>,
    /// The `timeouts` block, which only Terraform reads back.
    pub timeouts: Value,
}

/// Nothing known yet: the start of a state built from what exists in Azure.
fn absent<T>() -> Planned<T> {
    Maybe::Known(None)
}

/// A known value.
pub fn known<T>(value: T) -> Planned<T> {
    Maybe::Known(Some(value))
}

impl Default for Attrs {
    fn default() -> Attrs {
        Attrs {
            virtual_network_id: absent(),
            subnet_name: absent(),
            address_prefix: absent(),
            cluster_id: absent(),
            principal_id: absent(),
            role: absent(),
            os_type: absent(),
            subnet_id: absent(),
            delegation_name: absent(),
            role_assignment_id: absent(),
            connector_identity: absent(),
            timeouts: Value::Null,
        }
    }
}

impl FromValue for Attrs {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        Ok(Attrs {
            virtual_network_id: f.get("virtual_network_id")?,
            subnet_name: f.get("subnet_name")?,
            address_prefix: f.get("address_prefix")?,
            cluster_id: f.get("cluster_id")?,
            principal_id: f.get("principal_id")?,
            role: f.get("role")?,
            os_type: f.get("os_type")?,
            subnet_id: f.get("subnet_id")?,
            delegation_name: f.get("delegation_name")?,
            role_assignment_id: f.get("role_assignment_id")?,
            connector_identity: f.get("connector_identity")?,
            timeouts: f.raw("timeouts").clone(),
        })
    }
}

impl IntoValue for Attrs {
    fn into_value(self) -> Value {
        Value::object([
            ("virtual_network_id", self.virtual_network_id.into_value()),
            ("subnet_name", self.subnet_name.into_value()),
            ("address_prefix", self.address_prefix.into_value()),
            ("cluster_id", self.cluster_id.into_value()),
            ("principal_id", self.principal_id.into_value()),
            ("role", self.role.into_value()),
            ("os_type", self.os_type.into_value()),
            ("subnet_id", self.subnet_id.into_value()),
            ("delegation_name", self.delegation_name.into_value()),
            ("role_assignment_id", self.role_assignment_id.into_value()),
            ("connector_identity", self.connector_identity.into_value()),
            ("node_name", node_name()),
            ("node_selector", node_selector()),
            ("tolerations", tolerations()),
            ("taint", Value::string(TAINT)),
            ("timeouts", self.timeouts),
        ])
    }
}

impl Attrs {
    /// A planned or prior state, or a diagnostic when it is not shaped like one.
    pub fn decode(value: &Value) -> Result<Attrs, Diagnostic> {
        Attrs::from_value(value).map_err(|e| invalid(&e))
    }

    /// The role named in `role`, else the default.
    pub fn role(&self) -> Role {
        self.role
            .present()
            .and_then(|r| r.parse().ok())
            .unwrap_or(Role::DEFAULT)
    }

    /// The virtual network, when known and well-formed.
    pub fn vnet(&self) -> Option<ResourceId> {
        let id: VnetId = self.virtual_network_id.present()?.parse().ok()?;
        Some(id.0)
    }

    /// The subnet's ID, when the VNet and the name are known.
    pub fn subnet(&self) -> Option<ResourceId> {
        Some(subnet_id(&self.vnet()?, self.subnet_name.present()?))
    }

    /// The cluster, when known and well-formed.
    pub fn cluster(&self) -> Option<ResourceId> {
        let id: ClusterId = self.cluster_id.present()?.parse().ok()?;
        Some(id.0)
    }

    /// The recorded role assignment, when well-formed.
    pub fn role_assignment(&self) -> Option<ResourceId> {
        self.role_assignment_id.present()?.parse().ok()
    }

    /// How long `operation` may take.
    pub fn timeout(&self, operation: &str) -> Duration {
        timeout(&self.timeouts, operation)
    }
}

/// The inputs of a planned state that apply needs, all known and well-formed by then.
#[derive(Clone, Debug)]
pub struct Spec {
    pub subnet: ResourceId,
    pub prefix: Ipv4Cidr,
    pub cluster: Option<ResourceId>,
    pub principal_id: Option<PrincipalId>,
    pub role: Role,
}

impl FromValue for Spec {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        let f = Fields::of(value, path)?;
        let vnet: VnetId = f.get("virtual_network_id")?;
        let name: String = f.get("subnet_name")?;
        Ok(Spec {
            subnet: subnet_id(&vnet.0, &name),
            prefix: f.get("address_prefix")?,
            cluster: f.get::<Option<ClusterId>>("cluster_id")?.map(|c| c.0),
            // Known after apply when it is the add-on's identity, which the add-on write makes.
            principal_id: f
                .get::<Maybe<Option<PrincipalId>>>("principal_id")?
                .into_known()
                .flatten(),
            role: f.get_or("role", Role::DEFAULT)?,
        })
    }
}

impl Spec {
    pub fn decode(value: &Value) -> Result<Spec, Diagnostic> {
        Spec::from_value(value).map_err(|e| invalid(&e))
    }
}

/// A value apply cannot use, at its attribute.
fn invalid(e: &ValueError) -> Diagnostic {
    Diagnostic::error(format!("Invalid {}", e.path), e.message.clone()).at(e.path.clone())
}

pub fn subnet_id(vnet: &ResourceId, subnet_name: &str) -> ResourceId {
    ResourceId::subnet(
        vnet.subscription_id(),
        vnet.resource_group_name().unwrap_or_default(),
        vnet.name(),
        subnet_name,
    )
}

/// The operation's timeout from the `timeouts` block, else the default. Cluster updates take minutes on
/// Azure, hence the generous defaults.
pub fn timeout(timeouts: &Value, operation: &str) -> Duration {
    let default = if operation == "read" { 5 * 60 } else { 45 * 60 };
    Fields::of(timeouts, &AttributePath::of("timeouts"))
        .and_then(|t| t.get::<Maybe<Option<String>>>(operation))
        .ok()
        .and_then(|text| text.present().and_then(|t| parse_duration(t).ok()))
        .unwrap_or(Duration::from_secs(default))
}

/// The computed values that are the same for every virtual node: what a Deployment needs to land on it.
pub fn node_name() -> Value {
    Value::string(NODE_NAME)
}

pub fn node_selector() -> Value {
    Value::map([
        ("type", Value::string("virtual-kubelet")),
        ("kubernetes.io/os", Value::string("linux")),
    ])
}

pub fn tolerations() -> Value {
    let toleration = |key: &str, effect: Option<&str>| {
        Value::object([
            ("key", Value::string(key)),
            ("operator", Value::string("Exists")),
            ("value", Value::Null),
            ("effect", effect.map(str::to_string).into_value()),
        ])
    };
    Value::list([
        toleration(TAINT_KEY, None),
        toleration("azure.com/aci", Some("NoSchedule")),
    ])
}

pub fn toleration_type() -> Type {
    Type::object([
        ("key", Type::String),
        ("operator", Type::String),
        ("value", Type::String),
        ("effect", Type::String),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_role_is_network_contributor_on_the_subnet_and_contributor_is_on_the_vnet() {
        let subnet = ResourceId::subnet("s", "g", "v", "aci");
        let nc: Role = "network contributor".parse().unwrap();
        assert_eq!(nc, Role::DEFAULT);
        assert_eq!(nc.scope(&subnet), subnet);
        assert_eq!(
            nc.definition_id("s"),
            "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7"
        );
        let c: Role = "Contributor".parse().unwrap();
        assert_eq!(c.scope(&subnet), ResourceId::virtual_network("s", "g", "v"));
        assert!(c
            .definition_id("s")
            .ends_with("b24988ac-6180-42a0-ab88-20f7382dd24c"));
        assert_eq!(
            nc.assignment_id(&subnet, "p"),
            nc.assignment_id(&subnet, "P")
        );
        assert_ne!(
            nc.assignment_id(&subnet, "p"),
            c.assignment_id(&subnet, "p")
        );
        assert!("Owner".parse::<Role>().is_err());
    }

    #[test]
    fn every_role_grants_the_connector_what_it_needs_on_the_subnet() {
        let subnet = ResourceId::subnet("s", "g", "v", "aci");
        for role in Role::ALL {
            let scope = role.scope(&subnet).to_string().to_ascii_lowercase();
            assert!(
                subnet.to_string().to_ascii_lowercase().starts_with(&scope),
                "{role}: {scope} does not cover the subnet"
            );
            for action in CONNECTOR_ACTIONS {
                assert!(role.permissions().allows(action), "{role} lacks {action}");
            }
        }
    }

    #[test]
    fn a_state_decodes_and_encodes_back_unchanged() {
        let attrs = Attrs {
            virtual_network_id: known(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v"
                    .into(),
            ),
            subnet_name: known("aci".into()),
            address_prefix: known("10.0.16.0/24".into()),
            role: known("network contributor".into()),
            connector_identity: known(ConnectorIdentity {
                resource_id: None,
                client_id: "c".into(),
                object_id: "o".into(),
            }),
            principal_id: Maybe::Unknown,
            ..Attrs::default()
        };
        let value = attrs.clone().into_value();
        assert_eq!(Attrs::from_value(&value), Ok(attrs.clone()));
        assert_eq!(attrs.role(), Role::NetworkContributor);
        assert_eq!(
            attrs.subnet().map(|s| s.to_string()),
            Some(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/aci"
                    .to_string()
            )
        );
    }

    #[test]
    fn apply_refuses_a_spec_it_cannot_use_at_the_attribute() {
        let state = Value::object([
            ("virtual_network_id", Value::string("/subscriptions/s")),
            ("subnet_name", Value::string("aci")),
            ("address_prefix", Value::string("10.0.16.0/24")),
        ]);
        let err = Spec::decode(&state).unwrap_err();
        assert_eq!(err.attribute, Some(AttributePath::of("virtual_network_id")));
        assert_eq!(err.summary, "Invalid virtual_network_id");
    }

    #[test]
    fn timeouts_default_when_absent_unknown_or_malformed() {
        let block = Value::object([
            ("create", Value::string("8s")),
            ("read", Value::unknown()),
            ("delete", Value::string("soon")),
        ]);
        assert_eq!(timeout(&block, "create"), Duration::from_secs(8));
        assert_eq!(timeout(&block, "read"), Duration::from_secs(300));
        assert_eq!(timeout(&block, "delete"), Duration::from_secs(2700));
        assert_eq!(timeout(&Value::Null, "update"), Duration::from_secs(2700));
    }
}
