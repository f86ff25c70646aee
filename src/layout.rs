//! Pure planning of node layouts.
//!
//! Azure holds at most 200 VMs in one availability set
//! (<https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits>),
//! and a VM joins its availability set only when it is created. A pool therefore spreads its nodes over
//! several sets, and rescaling it must never move a VM: it adds nodes to sets with room, adds sets, or
//! removes the newest nodes. Everything here is a plain function of its inputs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::str::FromStr;

/// Azure's limit of VMs in one availability set.
pub const AZURE_MAX_VMS_PER_SET: u32 = 200;

/// The largest pool we plan. Far beyond any subscription's VM quota; it only stops absurd input from
/// allocating wildly.
pub const MAX_NODE_COUNT: u64 = 1_000_000;

/// Why a layout cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "max_nodes_per_set must be between 1 and {AZURE_MAX_VMS_PER_SET} (Azure's limit of VMs per availability set), got {0}"
    )]
    CapOutOfRange(u64),
    #[error("node_count {0} is more than the {MAX_NODE_COUNT} nodes a pool supports")]
    TooManyNodes(u64),
    #[error("placement must be \"fill\" or \"balance\", got {0:?}")]
    UnknownPlacement(String),
    #[error("no availability set index is left after {0}")]
    SetIndexExhausted(u32),
}

/// How many nodes one availability set may hold: 1 to 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxNodesPerSet(u32);

impl MaxNodesPerSet {
    pub fn new(cap: u64) -> Result<MaxNodesPerSet, LayoutError> {
        match u32::try_from(cap) {
            Ok(cap) if (1..=AZURE_MAX_VMS_PER_SET).contains(&cap) => Ok(MaxNodesPerSet(cap)),
            _ => Err(LayoutError::CapOutOfRange(cap)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The pool's default: half of Azure's limit, leaving room to raise the cap later.
impl Default for MaxNodesPerSet {
    fn default() -> MaxNodesPerSet {
        MaxNodesPerSet(100)
    }
}

/// How nodes are spread over the sets a pool needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Fill each set to the cap before using the next.
    #[default]
    Fill,
    /// Use as few sets as Fill, but make their sizes as even as possible.
    Balance,
}

impl FromStr for Placement {
    type Err = LayoutError;

    fn from_str(text: &str) -> Result<Placement, LayoutError> {
        match text {
            "fill" => Ok(Placement::Fill),
            "balance" => Ok(Placement::Balance),
            other => Err(LayoutError::UnknownPlacement(other.to_owned())),
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Placement::Fill => "fill",
            Placement::Balance => "balance",
        })
    }
}

fn check_node_count(node_count: u64) -> Result<(), LayoutError> {
    if node_count > MAX_NODE_COUNT {
        return Err(LayoutError::TooManyNodes(node_count));
    }
    Ok(())
}

/// The sizes of the fewest sets that hold `node_count` nodes, in set order.
/// Fill: 450 with cap 100 is `[100, 100, 100, 100, 50]`; Balance: `[90, 90, 90, 90, 90]`, and 451 is
/// `[91, 90, 90, 90, 90]` (larger sets first).
pub fn split(
    node_count: u64,
    cap: MaxNodesPerSet,
    placement: Placement,
) -> Result<Vec<u32>, LayoutError> {
    check_node_count(node_count)?;
    let cap_nodes = u64::from(cap.get());
    let sets = node_count.div_ceil(cap_nodes);
    let sizes = (0..sets).map(|set| match placement {
        Placement::Fill => cap_nodes.min(node_count - set * cap_nodes),
        Placement::Balance => node_count / sets + u64::from(set < node_count % sets),
    });
    // Every size is at most the cap, which fits u32.
    Ok(sizes.map(|size| size.min(cap_nodes) as u32).collect())
}

/// One availability set of a pool and the indices of the nodes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSet {
    pub index: u32,
    pub nodes: BTreeSet<u32>,
}

/// Which nodes a pool has, by availability set. Sets are kept ordered by index and unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    sets: BTreeMap<u32, BTreeSet<u32>>,
}

impl Layout {
    /// A layout of the given sets; sets given twice are merged.
    pub fn new(sets: impl IntoIterator<Item = NodeSet>) -> Layout {
        let mut layout = Layout::default();
        for set in sets {
            layout.sets.entry(set.index).or_default().extend(set.nodes);
        }
        layout
    }

    /// A fresh layout with sets of the given sizes, numbered from 0, nodes numbered from 0 in each.
    pub fn from_sizes(sizes: &[u32]) -> Layout {
        Layout {
            sets: (0u32..)
                .zip(sizes)
                .map(|(index, size)| (index, (0..*size).collect()))
                .collect(),
        }
    }

    /// The sets in index order.
    pub fn sets(&self) -> impl Iterator<Item = NodeSet> + '_ {
        self.sets.iter().map(|(index, nodes)| NodeSet {
            index: *index,
            nodes: nodes.clone(),
        })
    }

    /// The nodes of one set.
    pub fn set(&self, index: u32) -> Option<&BTreeSet<u32>> {
        self.sets.get(&index)
    }

    /// Set sizes in index order.
    pub fn sizes(&self) -> Vec<u32> {
        self.sets
            .values()
            .map(|nodes| u32::try_from(nodes.len()).unwrap_or(u32::MAX))
            .collect()
    }

    pub fn set_count(&self) -> usize {
        self.sets.len()
    }

    pub fn node_count(&self) -> u64 {
        self.sets.values().map(|nodes| nodes.len() as u64).sum()
    }

    /// Every node as `(set, node)`, in order.
    pub fn nodes(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.sets
            .iter()
            .flat_map(|(set, nodes)| nodes.iter().map(move |node| (*set, *node)))
    }
}

/// The availability set's name: `<name>-as-<set>`.
pub fn set_name(pool: &str, set: u32) -> String {
    format!("{pool}-as-{set}")
}

/// A node's (VM's) name: `<name>-<set>-<node>`.
pub fn node_name(pool: &str, set: u32, node: u32) -> String {
    format!("{pool}-{set}-{node}")
}

/// The layout a pool should have for `target` nodes, changing `current` as little as possible:
/// - VMs never move between sets, and existing nodes are kept when scaling up;
/// - scale-up first fills sets below the cap (Fill: lowest set index first; Balance: the emptiest set
///   first), then adds the fewest new sets, numbered after the highest existing index;
/// - a set at or above the cap (say, after the cap was lowered) keeps its nodes but gets no new ones, so
///   a changed cap applies to new placement only;
/// - new nodes in a set take the lowest free indices, refilling gaps left by VMs deleted out of band;
/// - scale-down removes the newest nodes first (highest set index, then highest node index);
/// - sets left empty are dropped.
pub fn rescale(
    current: &Layout,
    target: u64,
    cap: MaxNodesPerSet,
    placement: Placement,
) -> Result<Layout, LayoutError> {
    check_node_count(target)?;
    let existing = current.node_count();
    let mut sets = current.sets.clone();
    if target >= existing {
        let added = grow_open_sets(&mut sets, target - existing, cap, placement);
        let remaining = target - existing - added;
        let next_index = match sets.keys().next_back() {
            None => 0,
            Some(last) => last
                .checked_add(1)
                .ok_or(LayoutError::SetIndexExhausted(*last))?,
        };
        let mut index = next_index;
        for size in split(remaining, cap, placement)? {
            sets.insert(index, (0..size).collect());
            index = index
                .checked_add(1)
                .ok_or(LayoutError::SetIndexExhausted(index))?;
        }
    } else {
        let mut to_remove = existing - target;
        for nodes in sets.values_mut().rev() {
            while to_remove > 0 && nodes.pop_last().is_some() {
                to_remove -= 1;
            }
        }
    }
    sets.retain(|_, nodes| !nodes.is_empty());
    Ok(Layout { sets })
}

/// Adds up to `wanted` nodes to the sets below the cap; returns how many it added.
fn grow_open_sets(
    sets: &mut BTreeMap<u32, BTreeSet<u32>>,
    wanted: u64,
    cap: MaxNodesPerSet,
    placement: Placement,
) -> u64 {
    let cap = cap.get() as usize;
    let room = |nodes: &BTreeSet<u32>| cap.saturating_sub(nodes.len()) as u64;
    let mut grants: BTreeMap<u32, u64> = BTreeMap::new();
    let mut left = wanted;
    match placement {
        Placement::Fill => {
            for (index, nodes) in sets.iter() {
                let grant = room(nodes).min(left);
                if grant > 0 {
                    grants.insert(*index, grant);
                    left -= grant;
                }
            }
        }
        Placement::Balance => {
            // Water-filling: each node goes to the smallest open set, lowest index among equals.
            let mut open: BinaryHeap<Reverse<(usize, u32)>> = sets
                .iter()
                .filter(|(_, nodes)| nodes.len() < cap)
                .map(|(index, nodes)| Reverse((nodes.len(), *index)))
                .collect();
            while left > 0 {
                let Some(Reverse((size, index))) = open.pop() else {
                    break;
                };
                *grants.entry(index).or_default() += 1;
                left -= 1;
                if size + 1 < cap {
                    open.push(Reverse((size + 1, index)));
                }
            }
        }
    }
    for (index, grant) in &grants {
        if let Some(nodes) = sets.get_mut(index) {
            add_lowest_free(nodes, *grant);
        }
    }
    wanted - left
}

/// Adds `count` nodes with the lowest indices not yet taken.
fn add_lowest_free(nodes: &mut BTreeSet<u32>, count: u64) {
    let mut added = 0;
    let mut candidate = 0u32;
    while added < count {
        if nodes.insert(candidate) {
            added += 1;
        }
        match candidate.checked_add(1) {
            Some(next) => candidate = next,
            None => break,
        }
    }
}

/// What to create and delete to go from one layout to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutDiff {
    pub create_sets: Vec<u32>,
    pub delete_sets: Vec<u32>,
    /// `(set, node)` pairs, in order.
    pub create_nodes: Vec<(u32, u32)>,
    /// `(set, node)` pairs, in order; includes the nodes of deleted sets.
    pub delete_nodes: Vec<(u32, u32)>,
}

impl LayoutDiff {
    pub fn is_empty(&self) -> bool {
        *self == LayoutDiff::default()
    }
}

pub fn diff(old: &Layout, new: &Layout) -> LayoutDiff {
    let old_nodes: BTreeSet<(u32, u32)> = old.nodes().collect();
    let new_nodes: BTreeSet<(u32, u32)> = new.nodes().collect();
    LayoutDiff {
        create_sets: new
            .sets
            .keys()
            .filter(|index| !old.sets.contains_key(index))
            .copied()
            .collect(),
        delete_sets: old
            .sets
            .keys()
            .filter(|index| !new.sets.contains_key(index))
            .copied()
            .collect(),
        create_nodes: new_nodes.difference(&old_nodes).copied().collect(),
        delete_nodes: old_nodes.difference(&new_nodes).copied().collect(),
    }
}

/// The order in which a rollout takes `stale` nodes `(set, node)`: first the `waiting` ones (an interrupted
/// rollout's nodes still provisioning, unavailable already), then the others by node index and then set, so
/// that consecutive batches take a few nodes from every set rather than one set's nodes together (a VM's
/// update and fault domains follow from its place in its set, so neither is emptied either).
pub fn rollout_order(
    stale: impl IntoIterator<Item = (u32, u32)>,
    waiting: &BTreeSet<(u32, u32)>,
) -> Vec<(u32, u32)> {
    let mut rest: Vec<(u32, u32)> = stale
        .into_iter()
        .filter(|node| !waiting.contains(node))
        .collect();
    rest.sort_by_key(|(set, node)| (*node, *set));
    rest.dedup();
    waiting.iter().copied().chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cap(n: u64) -> MaxNodesPerSet {
        MaxNodesPerSet::new(n).unwrap()
    }

    fn layout(sets: &[(u32, &[u32])]) -> Layout {
        Layout::new(sets.iter().map(|(index, nodes)| NodeSet {
            index: *index,
            nodes: nodes.iter().copied().collect(),
        }))
    }

    #[test]
    fn cap_must_be_within_azure_limit() {
        assert!(MaxNodesPerSet::new(0).is_err());
        assert!(MaxNodesPerSet::new(201).is_err());
        assert_eq!(MaxNodesPerSet::new(200).unwrap().get(), 200);
        let message = MaxNodesPerSet::new(250).unwrap_err().to_string();
        assert!(message.contains("between 1 and 200"), "{message}");
    }

    #[test]
    fn placement_parses_from_its_names() {
        assert_eq!("fill".parse::<Placement>().unwrap(), Placement::Fill);
        assert_eq!("balance".parse::<Placement>().unwrap(), Placement::Balance);
        assert!("Fill".parse::<Placement>().is_err());
        assert_eq!(Placement::Balance.to_string(), "balance");
    }

    #[test]
    fn fill_uses_full_sets_and_one_partial() {
        assert_eq!(
            split(450, cap(100), Placement::Fill).unwrap(),
            [100, 100, 100, 100, 50]
        );
    }

    #[test]
    fn balance_uses_as_few_sets_with_even_sizes_larger_first() {
        assert_eq!(
            split(450, cap(100), Placement::Balance).unwrap(),
            [90, 90, 90, 90, 90]
        );
        assert_eq!(
            split(451, cap(100), Placement::Balance).unwrap(),
            [91, 90, 90, 90, 90]
        );
    }

    #[test]
    fn zero_nodes_need_no_sets() {
        assert!(split(0, cap(100), Placement::Fill).unwrap().is_empty());
        assert!(split(0, cap(100), Placement::Balance).unwrap().is_empty());
    }

    #[test]
    fn absurd_node_counts_are_errors() {
        assert!(split(MAX_NODE_COUNT + 1, cap(1), Placement::Fill).is_err());
        assert!(split(u64::MAX, cap(200), Placement::Balance).is_err());
        assert!(rescale(&Layout::default(), u64::MAX, cap(200), Placement::Fill).is_err());
    }

    #[test]
    fn names_follow_the_pool_prefix() {
        assert_eq!(set_name("web", 2), "web-as-2");
        assert_eq!(node_name("web", 2, 17), "web-2-17");
    }

    #[test]
    fn scale_down_removes_newest_nodes_first() {
        let current = layout(&[(0, &[0, 1, 2]), (1, &[0, 1, 2])]);
        let next = rescale(&current, 4, cap(3), Placement::Fill).unwrap();
        assert_eq!(next, layout(&[(0, &[0, 1, 2]), (1, &[0])]));
    }

    #[test]
    fn scale_down_deletes_sets_that_become_empty() {
        let current = layout(&[(0, &[0, 1]), (1, &[0, 1]), (2, &[0])]);
        let next = rescale(&current, 2, cap(2), Placement::Fill).unwrap();
        assert_eq!(next, layout(&[(0, &[0, 1])]));
        let change = diff(&current, &next);
        assert_eq!(change.delete_sets, [1, 2]);
        assert_eq!(change.delete_nodes, [(1, 0), (1, 1), (2, 0)]);
        assert!(change.create_nodes.is_empty());
    }

    #[test]
    fn scale_up_fills_open_sets_before_adding_new_ones() {
        let current = layout(&[(0, &[0, 1, 2]), (1, &[0])]);
        let next = rescale(&current, 8, cap(3), Placement::Fill).unwrap();
        assert_eq!(
            next,
            layout(&[(0, &[0, 1, 2]), (1, &[0, 1, 2]), (2, &[0, 1])])
        );
        let change = diff(&current, &next);
        assert_eq!(change.create_sets, [2]);
        assert_eq!(change.create_nodes, [(1, 1), (1, 2), (2, 0), (2, 1)]);
        assert!(change.delete_nodes.is_empty());
    }

    #[test]
    fn fill_tops_up_the_lowest_open_set_first() {
        let current = layout(&[(0, &[0]), (1, &[0])]);
        let next = rescale(&current, 4, cap(3), Placement::Fill).unwrap();
        assert_eq!(next, layout(&[(0, &[0, 1, 2]), (1, &[0])]));
    }

    #[test]
    fn balance_tops_up_the_emptiest_open_set_first() {
        let current = layout(&[(0, &[0, 1]), (1, &[0])]);
        let next = rescale(&current, 5, cap(4), Placement::Balance).unwrap();
        assert_eq!(next, layout(&[(0, &[0, 1, 2]), (1, &[0, 1])]));
    }

    #[test]
    fn balance_spreads_new_sets_evenly() {
        let current = layout(&[(0, &[0, 1, 2])]);
        let next = rescale(&current, 8, cap(3), Placement::Balance).unwrap();
        assert_eq!(next.sizes(), [3, 3, 2]);
        let next = rescale(&current, 10, cap(3), Placement::Balance).unwrap();
        assert_eq!(next.sizes(), [3, 3, 2, 2]);
    }

    #[test]
    fn lowered_cap_applies_to_new_placement_only() {
        let current = layout(&[(0, &[0, 1, 2, 3]), (1, &[0])]);
        let next = rescale(&current, 8, cap(2), Placement::Fill).unwrap();
        assert_eq!(
            next,
            layout(&[(0, &[0, 1, 2, 3]), (1, &[0, 1]), (2, &[0, 1])])
        );
    }

    #[test]
    fn gaps_left_by_deleted_vms_are_refilled_first() {
        let current = layout(&[(0, &[0, 2, 3])]);
        let next = rescale(&current, 5, cap(10), Placement::Fill).unwrap();
        assert_eq!(next, layout(&[(0, &[0, 1, 2, 3, 4])]));
    }

    #[test]
    fn new_sets_are_numbered_after_the_highest_existing_one() {
        let current = layout(&[(3, &[0])]);
        let next = rescale(&current, 3, cap(1), Placement::Fill).unwrap();
        assert_eq!(next, layout(&[(3, &[0]), (4, &[0]), (5, &[0])]));
    }

    #[test]
    fn unchanged_count_changes_nothing() {
        let current = layout(&[(0, &[0, 1, 2]), (1, &[5])]);
        let next = rescale(&current, 4, cap(2), Placement::Balance).unwrap();
        assert_eq!(next, current);
        assert!(diff(&current, &next).is_empty());
    }

    #[test]
    fn a_rollout_takes_waiting_nodes_first_then_spreads_over_the_sets() {
        let current = layout(&[(0, &[0, 1, 2]), (1, &[0, 1, 2])]);
        let waiting = BTreeSet::from([(1, 2)]);
        let order = rollout_order(current.nodes(), &waiting);
        assert_eq!(order, [(1, 2), (0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]);
        let batches: Vec<&[(u32, u32)]> = order.chunks(2).collect();
        assert_eq!(batches[1], [(1, 0), (0, 1)]);
    }

    fn arb_layout() -> impl Strategy<Value = Layout> {
        prop::collection::btree_map(
            0u32..8,
            prop::collection::btree_set(0u32..250, 0..220),
            0..6,
        )
        .prop_map(|sets| Layout { sets })
    }

    fn arb_placement() -> impl Strategy<Value = Placement> {
        prop_oneof![Just(Placement::Fill), Just(Placement::Balance)]
    }

    proptest! {
        #[test]
        fn split_sums_to_the_node_count_within_the_cap(
            nodes in 0u64..5000,
            cap_nodes in 1u64..=200,
            placement in arb_placement(),
        ) {
            let sizes = split(nodes, cap(cap_nodes), placement).unwrap();
            prop_assert_eq!(sizes.iter().map(|s| u64::from(*s)).sum::<u64>(), nodes);
            prop_assert!(sizes.iter().all(|s| u64::from(*s) <= cap_nodes && *s > 0));
            prop_assert_eq!(sizes.len() as u64, nodes.div_ceil(cap_nodes));
            prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
            if placement == Placement::Balance {
                let spread = sizes.first().zip(sizes.last()).map(|(a, b)| a - b);
                prop_assert!(spread.unwrap_or(0) <= 1);
            }
        }

        #[test]
        fn rescale_reaches_the_target_and_keeps_surviving_nodes_in_place(
            current in arb_layout(),
            target in 0u64..2000,
            cap_nodes in 1u64..=200,
            placement in arb_placement(),
        ) {
            let next = rescale(&current, target, cap(cap_nodes), placement).unwrap();
            prop_assert_eq!(next.node_count(), target);
            prop_assert!(next.sets.values().all(|nodes| !nodes.is_empty()));
            for set in current.sets() {
                let after = next.set(set.index).cloned().unwrap_or_default();
                if target >= current.node_count() {
                    prop_assert!(set.nodes.is_subset(&after));
                } else {
                    prop_assert!(after.is_subset(&set.nodes));
                }
            }
            let change = diff(&current, &next);
            prop_assert!(change.create_nodes.is_empty() || change.delete_nodes.is_empty());
            for (set, node) in &change.delete_nodes {
                prop_assert!(current.set(*set).is_some_and(|nodes| nodes.contains(node)));
            }
        }

        #[test]
        fn rescale_never_grows_a_set_beyond_the_cap(
            current in arb_layout(),
            target in 0u64..2000,
            cap_nodes in 1u64..=200,
            placement in arb_placement(),
        ) {
            let next = rescale(&current, target, cap(cap_nodes), placement).unwrap();
            for set in next.sets() {
                let before = current.set(set.index).map_or(0, BTreeSet::len);
                if set.nodes.len() > before {
                    prop_assert!(set.nodes.len() as u64 <= cap_nodes);
                }
            }
        }

        #[test]
        fn rescale_adds_the_fewest_sets_after_filling_open_ones(
            current in arb_layout(),
            target in 0u64..2000,
            cap_nodes in 1u64..=200,
            placement in arb_placement(),
        ) {
            let next = rescale(&current, target, cap(cap_nodes), placement).unwrap();
            let room: u64 = current
                .sets
                .values()
                .map(|nodes| (cap_nodes as usize).saturating_sub(nodes.len()) as u64)
                .sum();
            let overflow = target.saturating_sub(current.node_count() + room);
            let created = diff(&current, &next).create_sets.len() as u64;
            prop_assert_eq!(created, overflow.div_ceil(cap_nodes));
        }

        #[test]
        fn scale_down_removes_only_the_newest_nodes(
            current in arb_layout(),
            keep in any::<prop::sample::Index>(),
            cap_nodes in 1u64..=200,
        ) {
            let existing = current.node_count() as usize;
            prop_assume!(existing > 0);
            let target = keep.index(existing) as u64;
            let next = rescale(&current, target, cap(cap_nodes), Placement::Fill).unwrap();
            let change = diff(&current, &next);
            let newest_kept = next.nodes().max();
            for removed in change.delete_nodes {
                prop_assert!(newest_kept.is_none_or(|kept| removed > kept));
            }
        }

        #[test]
        fn a_rollout_takes_every_stale_node_once_round_by_round_over_the_sets(
            current in arb_layout(),
            waiting in prop::collection::btree_set((0u32..8, 0u32..250), 0..5),
        ) {
            let order = rollout_order(current.nodes(), &waiting);
            let mut seen = order.clone();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), order.len(), "no node twice");
            let expected: BTreeSet<(u32, u32)> = current.nodes().chain(waiting.iter().copied()).collect();
            prop_assert_eq!(seen, expected.into_iter().collect::<Vec<_>>());
            let rest = &order[waiting.len()..];
            // Round by round: node index first, so one set's nodes are not taken together.
            prop_assert!(rest.windows(2).all(|w| (w[0].1, w[0].0) < (w[1].1, w[1].0)));
        }

        #[test]
        fn rescale_from_empty_equals_split(
            target in 0u64..3000,
            cap_nodes in 1u64..=200,
            placement in arb_placement(),
        ) {
            let next = rescale(&Layout::default(), target, cap(cap_nodes), placement).unwrap();
            let sizes = split(target, cap(cap_nodes), placement).unwrap();
            prop_assert_eq!(next, Layout::from_sizes(&sizes));
        }
    }
}
