//! Pure grouping of availability sets onto the load balancers of an `largek8s_lb_group`.
//!
//! Limits, from <https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer>:
//! - a Basic load balancer's backend pool holds VMs of a single availability set and at most 300 IP
//!   configurations;
//! - a Standard load balancer's backend pool holds at most 5,000 IP configurations;
//! - a NIC takes part in at most 300 load-balancing rules (Load Balancer and inbound NAT, across all its IPs).
//!
//! Every NIC of the group belongs to exactly one of its load balancers, so a NIC carries exactly that load
//! balancer's rules: the rules-per-NIC limit caps the rules of each load balancer (see [`check_rule_count`])
//! and never forces more load balancers. Grouping is then driven by the backend limit alone.
//!
//! Stability comes first: a set keeps the load balancer it had as long as that load balancer still has
//! room, so adding a set never moves another one and frontend IPs never change on scale.

use std::collections::{BTreeMap, BTreeSet};

/// Basic: at most 300 IP configurations in one backend pool.
pub const BASIC_MAX_BACKEND: u64 = 300;
/// The default cap for Basic groups: 100 nodes, the size at which one Basic LB per set is the usual advice.
pub const BASIC_DEFAULT_BACKEND: u64 = 100;
/// Standard: at most 5,000 IP configurations in one backend pool.
pub const STANDARD_MAX_BACKEND: u64 = 5_000;
/// Rules (Load Balancer + inbound NAT) per NIC, across all its IP configurations.
pub const MAX_RULES_PER_NIC: u64 = 300;

/// The load balancer SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sku {
    Basic,
    Standard,
}

impl Sku {
    pub fn parse(s: &str) -> Option<Sku> {
        match s {
            "Basic" => Some(Sku::Basic),
            "Standard" => Some(Sku::Standard),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sku::Basic => "Basic",
            Sku::Standard => "Standard",
        }
    }

    /// Azure's limit of backend IP configurations per pool for this SKU.
    pub fn max_backend(self) -> u64 {
        match self {
            Sku::Basic => BASIC_MAX_BACKEND,
            Sku::Standard => STANDARD_MAX_BACKEND,
        }
    }

    /// `max_backend_nodes` when the configuration leaves it out.
    pub fn default_backend(self) -> u64 {
        match self {
            Sku::Basic => BASIC_DEFAULT_BACKEND,
            Sku::Standard => STANDARD_MAX_BACKEND,
        }
    }
}

/// One availability set to front: its key (the lower-cased ARM ID) and how many nodes it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDemand {
    pub key: String,
    pub nodes: u64,
}

/// One load balancer of the layout: its stable index (it names the LB) and the positions of the sets it
/// fronts in the input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSlot {
    pub index: u64,
    pub sets: Vec<usize>,
    pub nodes: u64,
}

/// Why a grouping cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LbLayoutError {
    #[error("max_backend_nodes must be between 1 and {max} for sku {sku}, got {got}", sku = .sku.as_str())]
    CapOutOfRange { sku: Sku, max: u64, got: u64 },
    #[error("availability set {key} holds {nodes} nodes, more than max_backend_nodes {cap}")]
    SetTooLarge {
        position: usize,
        key: String,
        nodes: u64,
        cap: u64,
    },
    #[error("availability set {key} is listed twice")]
    DuplicateSet { position: usize, key: String },
}

/// Checks `max_backend_nodes` against the SKU's limit.
pub fn check_cap(sku: Sku, cap: u64) -> Result<(), LbLayoutError> {
    if cap == 0 || cap > sku.max_backend() {
        return Err(LbLayoutError::CapOutOfRange {
            sku,
            max: sku.max_backend(),
            got: cap,
        });
    }
    Ok(())
}

/// Whether `rules` load-balancing rules on one load balancer fit the rules-per-NIC limit.
pub fn check_rule_count(rules: u64) -> bool {
    rules <= MAX_RULES_PER_NIC
}

/// Groups `sets` onto load balancers.
///
/// `prior` maps set keys to the LB index they had in the previous state. Basic gives every set its own
/// LB. Standard keeps sets where they were while the LB has room, then places the rest first-fit, largest
/// first, so a fresh layout has no two LBs whose sets would fit together in one.
pub fn group(
    sku: Sku,
    cap: u64,
    sets: &[SetDemand],
    prior: &BTreeMap<String, u64>,
) -> Result<Vec<LbSlot>, LbLayoutError> {
    check_cap(sku, cap)?;
    let mut seen = BTreeSet::new();
    for (position, set) in sets.iter().enumerate() {
        if !seen.insert(set.key.as_str()) {
            return Err(LbLayoutError::DuplicateSet {
                position,
                key: set.key.clone(),
            });
        }
        if set.nodes > cap {
            return Err(LbLayoutError::SetTooLarge {
                position,
                key: set.key.clone(),
                nodes: set.nodes,
                cap,
            });
        }
    }
    let mut slots: BTreeMap<u64, LbSlot> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for (position, set) in sets.iter().enumerate() {
        let kept = prior.get(&set.key).copied().filter(|index| {
            slots.get(index).is_none_or(|slot| match sku {
                Sku::Basic => false,
                Sku::Standard => slot.nodes + set.nodes <= cap,
            })
        });
        match kept {
            Some(index) => place(&mut slots, index, position, set.nodes),
            None => unplaced.push((position, set.nodes)),
        }
    }
    // Largest first: first-fit decreasing packs fresh layouts tightly.
    unplaced.sort_by_key(|&(_, nodes)| std::cmp::Reverse(nodes));
    for (position, nodes) in unplaced {
        let fit = match sku {
            Sku::Basic => None,
            Sku::Standard => slots
                .values()
                .find(|slot| slot.nodes + nodes <= cap)
                .map(|slot| slot.index),
        };
        let index = fit.unwrap_or_else(|| first_free(&slots));
        place(&mut slots, index, position, nodes);
    }
    Ok(slots.into_values().collect())
}

fn place(slots: &mut BTreeMap<u64, LbSlot>, index: u64, position: usize, nodes: u64) {
    let slot = slots.entry(index).or_insert_with(|| LbSlot {
        index,
        sets: Vec::new(),
        nodes: 0,
    });
    slot.sets.push(position);
    slot.nodes += nodes;
}

fn first_free(slots: &BTreeMap<u64, LbSlot>) -> u64 {
    (0..).find(|i| !slots.contains_key(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn demand(sizes: &[u64]) -> Vec<SetDemand> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &nodes)| SetDemand {
                key: format!("as-{i}"),
                nodes,
            })
            .collect()
    }

    fn prior_of(sets: &[SetDemand], slots: &[LbSlot]) -> BTreeMap<String, u64> {
        slots
            .iter()
            .flat_map(|slot| slot.sets.iter().map(|&p| (sets[p].key.clone(), slot.index)))
            .collect()
    }

    #[test]
    fn basic_gives_each_set_its_own_load_balancer() {
        let sets = demand(&[100, 100, 100, 100, 50]);
        let slots = group(Sku::Basic, 100, &sets, &BTreeMap::new()).unwrap();
        assert_eq!(slots.len(), 5);
        for (i, slot) in slots.iter().enumerate() {
            assert_eq!(slot.index, i as u64);
            assert_eq!(slot.sets, vec![i]);
        }
    }

    #[test]
    fn basic_set_over_the_cap_is_an_error_naming_the_set() {
        let sets = demand(&[100, 150]);
        let err = group(Sku::Basic, 100, &sets, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err,
            LbLayoutError::SetTooLarge {
                position: 1,
                key: "as-1".into(),
                nodes: 150,
                cap: 100
            }
        );
    }

    #[test]
    fn standard_packs_sets_under_the_backend_limit() {
        let sets = demand(&[200, 200, 200, 200, 200, 100]);
        let slots = group(Sku::Standard, 1000, &sets, &BTreeMap::new()).unwrap();
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0].nodes, 1000);
        assert_eq!(slots[1].nodes, 100);
    }

    #[test]
    fn caps_outside_the_sku_limit_are_refused() {
        assert!(check_cap(Sku::Basic, 301).is_err());
        assert!(check_cap(Sku::Basic, 0).is_err());
        assert!(check_cap(Sku::Standard, 5000).is_ok());
        assert!(check_cap(Sku::Standard, 5001).is_err());
    }

    #[test]
    fn a_removed_set_frees_its_index_for_the_next_new_set() {
        let sets = demand(&[10, 10, 10]);
        let first = group(Sku::Basic, 100, &sets, &BTreeMap::new()).unwrap();
        let prior = prior_of(&sets, &first);
        let remaining = vec![sets[0].clone(), sets[2].clone()];
        let second = group(Sku::Basic, 100, &remaining, &prior).unwrap();
        assert_eq!(
            second.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![0, 2]
        );
        let mut grown = remaining.clone();
        grown.push(SetDemand {
            key: "as-new".into(),
            nodes: 5,
        });
        let third = group(Sku::Basic, 100, &grown, &prior_of(&remaining, &second)).unwrap();
        assert_eq!(
            third.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn rules_beyond_the_per_nic_limit_are_flagged() {
        assert!(check_rule_count(300));
        assert!(!check_rule_count(301));
    }

    proptest! {
        #[test]
        fn every_load_balancer_stays_under_the_cap(
            sizes in prop::collection::vec(1u64..=300, 0..40),
            standard in any::<bool>(),
            cap in 300u64..=5000,
        ) {
            let sku = if standard { Sku::Standard } else { Sku::Basic };
            let cap = cap.min(sku.max_backend());
            let sets = demand(&sizes);
            let slots = group(sku, cap, &sets, &BTreeMap::new()).unwrap();
            let mut placed: Vec<usize> = slots.iter().flat_map(|s| s.sets.clone()).collect();
            placed.sort_unstable();
            prop_assert_eq!(placed, (0..sets.len()).collect::<Vec<_>>());
            for slot in &slots {
                prop_assert!(slot.nodes <= cap);
                prop_assert_eq!(slot.nodes, slot.sets.iter().map(|&p| sets[p].nodes).sum::<u64>());
                if sku == Sku::Basic {
                    prop_assert_eq!(slot.sets.len(), 1);
                }
            }
        }

        #[test]
        fn standard_fresh_layouts_leave_no_two_load_balancers_mergeable(
            sizes in prop::collection::vec(1u64..=200, 1..60),
            cap in 200u64..=1500,
        ) {
            let sets = demand(&sizes);
            let slots = group(Sku::Standard, cap, &sets, &BTreeMap::new()).unwrap();
            for (i, a) in slots.iter().enumerate() {
                for b in &slots[i + 1..] {
                    prop_assert!(a.nodes + b.nodes > cap, "{:?} and {:?} fit together", a, b);
                }
            }
            let total: u64 = sizes.iter().sum();
            prop_assert!(slots.len() as u64 >= total.div_ceil(cap));
        }

        #[test]
        fn adding_a_set_never_moves_an_existing_one(
            sizes in prop::collection::vec(1u64..=100, 0..30),
            extra in 1u64..=100,
            standard in any::<bool>(),
        ) {
            let sku = if standard { Sku::Standard } else { Sku::Basic };
            let cap = 100;
            let sets = demand(&sizes);
            let before = group(sku, cap, &sets, &BTreeMap::new()).unwrap();
            let prior = prior_of(&sets, &before);
            let mut grown = sets.clone();
            grown.push(SetDemand { key: "as-new".into(), nodes: extra });
            let after = group(sku, cap, &grown, &prior).unwrap();
            let after_map = prior_of(&grown, &after);
            for (key, index) in &prior {
                prop_assert_eq!(after_map.get(key), Some(index));
            }
        }
    }
}
