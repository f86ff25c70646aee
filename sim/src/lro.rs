//! Long-running operations: provisioning latencies, the async-operation status document, and Location polling.

use crate::error::ArmError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What an operation does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

/// How an operation ends (fault injection can choose anything but success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed {
        code: String,
        message: String,
    },
    Canceled,
    /// Never finishes: the status stays InProgress.
    Never,
}

/// One operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub resource_key: String,
    pub resource_id: String,
    pub namespace: String,
    pub location: String,
    pub kind: OpKind,
    pub started: f64,
    /// Simulated time the operation completes (infinite for `Never`).
    pub due: f64,
    pub outcome: Outcome,
    pub finished: Option<f64>,
}

impl Operation {
    /// The status ARM reports at `now`.
    pub fn status(&self) -> &'static str {
        match (&self.finished, &self.outcome) {
            (None, _) | (_, Outcome::Never) => "InProgress",
            (Some(_), Outcome::Succeeded) => "Succeeded",
            (Some(_), Outcome::Failed { .. }) => "Failed",
            (Some(_), Outcome::Canceled) => "Canceled",
        }
    }

    /// The document served at the `Azure-AsyncOperation` URL.
    pub fn document(&self) -> Value {
        let mut doc = json!({
            "id": format!("/subscriptions/{}/providers/{}/locations/{}/operations/{}", subscription_of(&self.resource_id), self.namespace, self.location, self.id),
            "name": self.id,
            "status": self.status(),
            "startTime": crate::clock::rfc3339(self.started),
        });
        if let Some(end) = self.finished {
            doc["endTime"] = json!(crate::clock::rfc3339(end));
        }
        match (&self.finished, &self.outcome) {
            (Some(_), Outcome::Failed { code, message }) => {
                doc["error"] = json!({ "code": code, "message": message });
            }
            (Some(_), Outcome::Canceled) => {
                doc["error"] = json!({ "code": "OperationCanceled", "message": "The operation was canceled." });
            }
            _ => {}
        }
        doc
    }

    /// The error a Location poll answers with once the operation has failed or been canceled.
    pub fn terminal_error(&self) -> Option<ArmError> {
        match (&self.finished, &self.outcome) {
            (Some(_), Outcome::Failed { code, message }) => {
                Some(ArmError::new(500, code, message.clone()))
            }
            (Some(_), Outcome::Canceled) => Some(ArmError::conflict(
                "OperationCanceled",
                "The operation was canceled.",
            )),
            _ => None,
        }
    }
}

fn subscription_of(id: &str) -> &str {
    id.split('/').nth(2).unwrap_or("")
}

/// Default simulated provisioning latency, in seconds, of an operation on a resource type (0 = synchronous).
///
/// Creating a VM takes about a minute on Azure, a NIC a couple of seconds, a load balancer tens of seconds; these
/// defaults keep those proportions. Resource groups, availability sets, role assignments and DNS are synchronous.
pub fn latency(resource_type: &str, kind: OpKind) -> f64 {
    let t = resource_type.to_ascii_lowercase();
    let (create, update, delete) = match t.as_str() {
        "microsoft.compute/virtualmachines" => (60.0, 30.0, 30.0),
        "microsoft.compute/disks" => (5.0, 5.0, 5.0),
        "microsoft.network/networkinterfaces" => (2.0, 2.0, 2.0),
        "microsoft.network/loadbalancers" => (30.0, 15.0, 15.0),
        "microsoft.network/publicipaddresses" => (3.0, 3.0, 3.0),
        "microsoft.network/virtualnetworks" => (5.0, 5.0, 5.0),
        "microsoft.network/virtualnetworks/subnets" => (3.0, 3.0, 3.0),
        "microsoft.containerservice/managedclusters" => (120.0, 60.0, 120.0),
        "microsoft.containerinstance/serviceassociationlinks" => (0.0, 0.0, 10.0),
        "microsoft.resources/resourcegroups" => (0.0, 0.0, 10.0),
        _ => (0.0, 0.0, 0.0),
    };
    match kind {
        OpKind::Create => create,
        OpKind::Update => update,
        OpKind::Delete => delete,
    }
}

/// The longest wait, in simulated seconds, the simulator asks a client to leave between two polls of one
/// operation (an operation that never ends is polled this often).
pub const MAX_POLL_AFTER: f64 = 60.0;

/// Simulated seconds a client should wait before polling `op` at simulated time `now`: the time the operation
/// still needs, at most [`MAX_POLL_AFTER`]. A client that honours it polls a finished operation once, so
/// polls cost no more of the read budget than the operations need. The server turns it into real time at the
/// time scale and sends it as `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds) and `Retry-After`
/// (whole seconds, rounded up).
pub fn poll_after(op: &Operation, now: f64) -> f64 {
    (op.due - now).clamp(0.0, MAX_POLL_AFTER)
}

/// The provisioningState a resource shows while an operation runs. The Network RP says `Updating` for creates too.
pub fn transient_state(resource_type: &str, kind: OpKind) -> &'static str {
    let network = network_rp(resource_type);
    match kind {
        OpKind::Delete => "Deleting",
        OpKind::Create if !network => "Creating",
        _ => "Updating",
    }
}

/// The provisioningState an operation leaves its resource in. The Network RP's `ProvisioningState` (network.json,
/// 2024-03-01) is `Succeeded`, `Updating`, `Deleting` or `Failed`: a canceled Network operation leaves `Failed`.
pub fn final_state(resource_type: &str, outcome: &Outcome) -> &'static str {
    let network = network_rp(resource_type);
    match outcome {
        Outcome::Succeeded => "Succeeded",
        Outcome::Canceled if !network => "Canceled",
        _ => "Failed",
    }
}

/// Whether a type belongs to the Network resource provider, whose provisioning states differ from the others'.
fn network_rp(resource_type: &str) -> bool {
    resource_type
        .to_ascii_lowercase()
        .starts_with("microsoft.network/")
}
