//! The world: resources keyed by case-insensitive ID, the reverse references between them, and pending operations.

use crate::error::ArmError;
use crate::lro::{OpKind, Operation, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// One stored resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    /// ID with the casing of its first PUT.
    pub id: String,
    /// Canonical type (`Microsoft.Network/virtualNetworks/subnets`).
    pub resource_type: String,
    /// The body as stored: request body plus server-set members, minus secrets. Back-references are computed when
    /// the resource is rendered, not stored.
    pub body: Value,
    pub etag: String,
    /// The operation (create, update or delete) still running on this resource.
    pub pending: Option<String>,
}

impl Resource {
    pub fn provisioning_state(&self) -> &str {
        self.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or("Succeeded")
    }
}

/// How one resource refers to another; the reverse index is keyed by the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefKind {
    /// VM -> availability set.
    AvailabilitySetMember,
    /// VM -> NIC.
    NicOfVm,
    /// VM -> managed OS disk.
    DiskOfVm,
    /// NIC IP configuration or LB frontend -> subnet.
    IpConfigInSubnet,
    /// NIC IP configuration -> LB backend pool.
    BackendPoolMember,
    /// NIC IP configuration or LB frontend -> public IP.
    PublicIpUser,
}

/// An outgoing reference: (kind, target key, source ID as rendered, e.g. an IP configuration ID).
pub type OutRef = (RefKind, String, String);

/// Every resource and the indexes derived from them.
#[derive(Debug, Default)]
pub struct World {
    pub resources: BTreeMap<String, Resource>,
    pub ops: HashMap<String, Operation>,
    queue: BinaryHeap<Reverse<(u64, String)>>,
    /// Target key -> (kind, source ID).
    refs: HashMap<String, BTreeSet<(RefKind, String)>>,
    /// Resource key -> its outgoing references (to undo them on update and delete).
    outgoing: HashMap<String, Vec<OutRef>>,
    /// Subnet key -> addresses in use.
    ips: HashMap<String, BTreeSet<u32>>,
    /// Resource key -> addresses it holds, per subnet key.
    held_ips: HashMap<String, Vec<(String, u32)>>,
    pub persisted: Persisted,
    /// Pools' VMs absent or not `Succeeded`, for `/_sim/stats`.
    pub availability: crate::stats::Availability,
}

/// Scalars that persist with the resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    /// Signs access tokens; kept so tokens survive a restart.
    pub secret: String,
    /// Quota on the number of virtual machines (`POST /_sim/quota`).
    pub vm_limit: Option<usize>,
    /// VM sizes the hardware cluster of an availability set offers, by set key (`*` for every set without its
    /// own entry); see `rules::compute::offered_sizes`.
    #[serde(default)]
    pub vm_sizes: BTreeMap<String, Vec<String>>,
}

/// Milliseconds for the due-queue; `u64::MAX` means never.
pub fn due_ms(due: f64) -> u64 {
    if due.is_finite() {
        (due.max(0.0) * 1000.0).ceil() as u64
    } else {
        u64::MAX
    }
}

impl World {
    /// An empty world keeping the persisted scalars (the token secret survives a reset).
    pub fn with_persisted(persisted: Persisted) -> Self {
        Self {
            persisted,
            ..Self::default()
        }
    }

    pub fn get(&self, key: &str) -> Option<&Resource> {
        self.resources.get(key)
    }

    /// Sources referring to `target_key` with `kind`.
    pub fn referrers(&self, target_key: &str, kind: RefKind) -> impl Iterator<Item = &str> {
        self.refs.get(target_key).into_iter().flat_map(move |s| {
            s.iter()
                .filter(move |(k, _)| *k == kind)
                .map(|(_, id)| id.as_str())
        })
    }

    pub fn referrer_count(&self, target_key: &str, kind: RefKind) -> usize {
        self.referrers(target_key, kind).count()
    }

    /// Direct children of `parent_key` of the given (lower-cased) full type.
    pub fn children<'a>(
        &'a self,
        parent_key: &str,
        type_lower: &'a str,
    ) -> impl Iterator<Item = &'a Resource> + 'a {
        let prefix = format!("{parent_key}/");
        self.resources
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, r)| r)
            .filter(move |r| r.resource_type.eq_ignore_ascii_case(type_lower))
    }

    /// Inserts or replaces a resource and refreshes the indexes.
    pub fn put(&mut self, resource: Resource) {
        let key = resource.id.to_ascii_lowercase();
        self.unindex(&key);
        self.index(&key, &resource);
        if resource
            .resource_type
            .eq_ignore_ascii_case("Microsoft.Compute/virtualMachines")
        {
            self.availability.vm_stored(&key, &resource.body);
        }
        self.resources.insert(key, resource);
    }

    /// Removes a resource (no cascade) and its index entries.
    pub fn remove(&mut self, key: &str) -> Option<Resource> {
        self.unindex(key);
        self.resources.remove(key)
    }

    fn index(&mut self, key: &str, r: &Resource) {
        let out = crate::rules::references(r);
        for (kind, target, source) in &out {
            self.refs
                .entry(target.clone())
                .or_default()
                .insert((*kind, source.clone()));
        }
        self.outgoing.insert(key.to_string(), out);
        let held = crate::rules::held_addresses(r);
        for (subnet, ip) in &held {
            self.ips.entry(subnet.clone()).or_default().insert(*ip);
        }
        self.held_ips.insert(key.to_string(), held);
    }

    fn unindex(&mut self, key: &str) {
        for (kind, target, source) in self.outgoing.remove(key).unwrap_or_default() {
            if let Some(set) = self.refs.get_mut(&target) {
                set.remove(&(kind, source));
                if set.is_empty() {
                    self.refs.remove(&target);
                }
            }
        }
        for (subnet, ip) in self.held_ips.remove(key).unwrap_or_default() {
            if let Some(set) = self.ips.get_mut(&subnet) {
                set.remove(&ip);
            }
        }
    }

    /// Addresses in use in a subnet.
    pub fn used_ips(&self, subnet_key: &str) -> Option<&BTreeSet<u32>> {
        self.ips.get(subnet_key)
    }

    /// Records an operation; it completes when simulated time passes `due` (never if infinite).
    pub fn start(&mut self, op: Operation) {
        let ms = due_ms(op.due);
        if ms != u64::MAX {
            self.queue.push(Reverse((ms, op.id.clone())));
        }
        if let Some(r) = self.resources.get_mut(&op.resource_key) {
            r.pending = Some(op.id.clone());
        }
        self.ops.insert(op.id.clone(), op);
    }

    /// Simulated millisecond at which the next operation completes.
    pub fn next_due_ms(&self) -> u64 {
        self.queue
            .peek()
            .map(|Reverse((ms, _))| *ms)
            .unwrap_or(u64::MAX)
    }

    /// Completes every operation due by `now`.
    pub fn settle(&mut self, now: f64) {
        let now_ms = due_ms(now);
        while let Some(Reverse((ms, _))) = self.queue.peek() {
            if *ms > now_ms {
                break;
            }
            let Some(Reverse((_, id))) = self.queue.pop() else {
                break;
            };
            self.finish(&id, now);
        }
    }

    /// Ends every operation that was told never to finish (fault injection) with `outcome` at `now`, as ARM
    /// eventually gives up on a stuck operation; returns how many.
    pub fn end_stuck(&mut self, outcome: &Outcome, now: f64) -> usize {
        let stuck: Vec<String> = self
            .ops
            .values()
            .filter(|o| o.finished.is_none() && o.outcome == Outcome::Never)
            .map(|o| o.id.clone())
            .collect();
        for id in &stuck {
            if let Some(op) = self.ops.get_mut(id) {
                op.outcome = outcome.clone();
                op.due = now;
            }
            self.finish(id, now);
        }
        stuck.len()
    }

    fn finish(&mut self, op_id: &str, now: f64) {
        let Some(op) = self.ops.get_mut(op_id) else {
            return;
        };
        if op.finished.is_some() {
            return;
        }
        op.finished = Some(now.min(op.due));
        let op = op.clone();
        let key = op.resource_key.clone();
        let owned = self
            .resources
            .get(&key)
            .is_some_and(|r| r.pending.as_deref() == Some(op_id));
        if !owned {
            return;
        }
        match (&op.kind, &op.outcome) {
            (OpKind::Delete, Outcome::Succeeded) => self.delete_cascade(&key),
            (_, outcome) => {
                if let Some(mut r) = self.resources.get(&key).cloned() {
                    r.pending = None;
                    r.body["properties"]["provisioningState"] =
                        json!(crate::lro::final_state(&r.resource_type, outcome));
                    self.put(r);
                }
            }
        }
    }

    /// Deletes a resource with everything that goes with it: children and extension resources (by ID prefix), a
    /// VM's disks and NICs marked `deleteOption: Delete`, and service association links a cluster created.
    pub fn delete_cascade(&mut self, key: &str) {
        let Some(r) = self.resources.get(key).cloned() else {
            return;
        };
        let mut doomed: Vec<String> = vec![key.to_string()];
        let prefix = format!("{key}/");
        doomed.extend(
            self.resources
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone()),
        );
        doomed.extend(crate::rules::delete_with(&r));
        crate::rules::before_delete(self, &r);
        for k in &doomed {
            self.remove(k);
        }
        self.availability.removed(&doomed);
    }

    /// Everything, for `/_sim/state` and persistence.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            persisted: self.persisted.clone(),
            resources: self.resources.values().cloned().collect(),
            operations: self.ops.values().cloned().collect(),
            time: 0.0,
        }
    }

    /// Rebuilds a world (indexes included) from a snapshot.
    pub fn restore(s: Snapshot) -> Self {
        let mut w = World::with_persisted(s.persisted);
        for r in s.resources {
            w.put(r);
        }
        for op in s.operations {
            if op.finished.is_none() {
                let ms = due_ms(op.due);
                if ms != u64::MAX {
                    w.queue.push(Reverse((ms, op.id.clone())));
                }
            }
            w.ops.insert(op.id.clone(), op);
        }
        w
    }

    /// Allocates the lowest free address of a subnet, skipping the five Azure reserves (network, gateway, two DNS,
    /// broadcast).
    pub fn allocate_ip(
        &self,
        subnet_key: &str,
        prefix: &crate::cidr::Prefix,
        taken: &BTreeSet<u32>,
        subnet_id: &str,
    ) -> Result<u32, ArmError> {
        let used = self.used_ips(subnet_key);
        let size = prefix.size().min(u64::from(u32::MAX)) as u32;
        (4..size.saturating_sub(1))
            .map(|o| prefix.nth(o))
            .find(|ip| !taken.contains(ip) && !used.is_some_and(|u| u.contains(ip)))
            .ok_or_else(|| {
                ArmError::bad_request(
                    "SubnetIsFull",
                    format!("Subnet {subnet_id} with address prefix {prefix} does not have enough capacity for 1 IP addresses."),
                )
            })
    }
}

/// The serialisable state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub persisted: Persisted,
    pub resources: Vec<Resource>,
    pub operations: Vec<Operation>,
    /// Simulated time when the snapshot was taken; a restarted simulator resumes from it.
    pub time: f64,
}

/// A fresh ETag: weak GUIDs for network resources as the Network RP sends them, plain GUIDs elsewhere.
pub fn new_etag(resource_type: &str) -> String {
    if resource_type
        .to_ascii_lowercase()
        .starts_with("microsoft.network/")
        && !resource_type
            .to_ascii_lowercase()
            .starts_with("microsoft.network/dnszones")
    {
        format!("W/\"{}\"", crate::entropy::guid())
    } else {
        format!("\"{}\"", crate::entropy::guid())
    }
}
