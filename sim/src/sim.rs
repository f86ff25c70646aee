//! The simulator's shared state: configuration, clock, world, throttling, counters, faults and persistence signal.

use crate::clock::Clock;
use crate::config::Config;
use crate::error::ArmError;
use crate::faults::Faults;
use crate::ids::ResourceId;
use crate::rules::{self, PutCtx};
use crate::stats::Stats;
use crate::store::{Persisted, Resource, Snapshot, World};
use crate::throttle::Throttle;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::Notify;

/// Everything a request handler touches. Locks are held only for synchronous work, never across an await.
#[derive(Debug)]
pub struct Sim {
    pub config: Config,
    pub clock: Clock,
    pub base_url: String,
    world: RwLock<World>,
    /// Simulated millisecond of the next operation completion, so reads can skip the write lock.
    next_due: AtomicU64,
    throttle: Mutex<Throttle>,
    stats: Mutex<Stats>,
    faults: Mutex<Faults>,
    dirty: AtomicBool,
    pub changed: Notify,
    seed: Vec<(String, Value)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sim {
    /// Builds the simulator from its configuration, a restored snapshot (if any) and the seed.
    pub fn new(
        config: Config,
        base_url: String,
        restored: Option<Snapshot>,
        seed: Vec<(String, Value)>,
    ) -> Result<Self, String> {
        let (clock, world, fresh) = match restored {
            Some(s) => {
                let clock = Clock::starting_at(s.time, config.time_scale);
                (clock, World::restore(s), false)
            }
            None => (Clock::new(config.time_scale), World::default(), true),
        };
        let now = clock.now();
        let sim = Self {
            throttle: Mutex::new(Throttle::new(config.throttle, now)),
            config,
            clock,
            base_url,
            world: RwLock::new(world),
            next_due: AtomicU64::new(0),
            stats: Mutex::new(Stats::default()),
            faults: Mutex::new(Faults::default()),
            dirty: AtomicBool::new(false),
            changed: Notify::new(),
            seed,
        };
        if fresh {
            sim.populate()?;
        }
        Ok(sim)
    }

    fn populate(&self) -> Result<(), String> {
        let mut w = self.world_mut();
        if w.persisted.secret.is_empty() {
            w.persisted.secret = format!("{}{}", crate::entropy::guid(), crate::entropy::guid());
        }
        for (id, body) in &self.seed {
            if let Some(set) = crate::seed::vm_sizes_entry(id, body) {
                w.persisted.vm_sizes.insert(set.0, set.1);
                continue;
            }
            self.put_direct(&mut w, id, body.clone(), true)
                .map_err(|e| format!("seed resource {id}: {} {}", e.code, e.message))?;
        }
        drop(w);
        self.mark_dirty();
        Ok(())
    }

    pub fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn world_mut(&self) -> RwLockWriteGuard<'_, World> {
        self.world
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn throttle(&self) -> MutexGuard<'_, Throttle> {
        lock(&self.throttle)
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// Completes operations whose time has come.
    pub fn settle(&self) {
        let now = self.clock.now();
        if crate::store::due_ms(now) >= self.next_due.load(Ordering::Acquire) {
            let mut w = self.world_mut();
            w.settle(now);
            self.next_due.store(w.next_due_ms(), Ordering::Release);
            drop(w);
            self.mark_dirty();
        }
    }

    /// Called after starting an operation, so `settle` notices it.
    pub fn note_due(&self, w: &World) {
        self.next_due.store(w.next_due_ms(), Ordering::Release);
    }

    /// Records that state changed, for the persister.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Takes the dirty flag.
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// The whole state, with the current simulated time.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.world().snapshot();
        s.time = self.clock.now();
        s
    }

    /// `POST /_sim/reset`: back to the seeded world, with fresh counters, buckets and no faults.
    pub fn reset(&self) -> Result<(), String> {
        {
            let mut w = self.world_mut();
            let secret = w.persisted.secret.clone();
            *w = World::with_persisted(Persisted {
                secret,
                ..Persisted::default()
            });
            self.note_due(&w);
        }
        *self.throttle() = Throttle::new(self.config.throttle, self.clock.now());
        *self.stats() = Stats::default();
        self.faults().clear();
        self.populate()
    }

    /// Creates or replaces a resource through Azure's rules but without an operation, throttling or faults (seed
    /// data). With `rules == false` (out-of-band edits) the body is stored as given.
    pub fn put_direct(
        &self,
        w: &mut World,
        id: &str,
        body: Value,
        apply_rules: bool,
    ) -> Result<(), ArmError> {
        let rid = ResourceId::parse(id)?;
        let served = crate::api_versions::served(&rid.resource_type);
        let resource_type = served
            .map(|s| s.resource_type.to_string())
            .unwrap_or(rid.resource_type.clone());
        let key = rid.key();
        let old = w.get(&key).cloned();
        let mut body = crate::arm::normalise(&rid, &resource_type, body, old.as_ref())?;
        let mut prepared = if apply_rules {
            let ctx = PutCtx {
                world: w,
                config: &self.config,
                id: &rid,
                old: old.as_ref(),
                now: self.clock.now(),
            };
            rules::prepare_put(&ctx, body)?
        } else {
            if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
                p.insert("provisioningState".into(), json!("Succeeded"));
            }
            rules::Prepared {
                body: std::mem::take(&mut body),
                ..Default::default()
            }
        };
        if !resource_type.eq_ignore_ascii_case("Microsoft.Authorization/roleAssignments") {
            prepared.body["properties"]["provisioningState"] = json!("Succeeded");
        }
        let id = old
            .as_ref()
            .map(|o| o.id.clone())
            .unwrap_or_else(|| rid.id.clone());
        prepared.body["id"] = json!(id);
        w.put(Resource {
            id,
            etag: crate::store::new_etag(&resource_type),
            resource_type,
            body: prepared.body,
            pending: None,
        });
        for r in prepared.upserts {
            w.put(r);
        }
        for k in prepared.removals {
            w.delete_cascade(&k);
        }
        Ok(())
    }
}
