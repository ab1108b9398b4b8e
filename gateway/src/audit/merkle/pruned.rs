//! The Merkle tree of a trail whose oldest events were purged: the purged
//! prefix survives only as its frontier (the roots of the perfect subtrees
//! covering it, kept in the purge record), the rest as leaf hashes.
//!
//! Tree heads at any size from the cut on, inclusion proofs for every kept
//! event and consistency proofs from any size at or after the cut come out
//! exactly as over the full tree: every RFC 6962 subtree they need either
//! lies after the cut, is one of the frontier's subtrees, or is built from
//! both. What needs a purged leaf itself (a proof for a purged event, or a
//! consistency proof from a size before the cut) is `None`. Pure; no I/O.

use super::{Frontier, Hash, node_hash, root};
use sha2::{Digest, Sha256};

/// Frontier of the purged prefix plus the leaf hashes after it.
#[derive(Clone, Debug, Default)]
pub struct PrunedTree {
    cut: u64,
    /// `(first leaf, leaf count, root)` of each frontier subtree, left to right.
    nodes: Vec<(u64, u64, Hash)>,
    /// Leaf hashes of indices `cut..`.
    leaves: Vec<Hash>,
}

impl PrunedTree {
    /// The tree over the leaves `base` covers followed by `leaves`.
    pub fn new(base: &Frontier, leaves: Vec<Hash>) -> PrunedTree {
        let mut start = 0;
        let nodes = base
            .nodes()
            .into_iter()
            .map(|(size, node)| {
                let entry = (start, size, node);
                start += size;
                entry
            })
            .collect();
        PrunedTree {
            cut: base.len(),
            nodes,
            leaves,
        }
    }

    /// Number of leaves purged (the first kept leaf's index).
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.cut + self.leaves.len() as u64
    }

    /// Leaf hash at `index`, if kept.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let offset = usize::try_from(index.checked_sub(self.cut)?).ok()?;
        self.leaves.get(offset).copied()
    }

    /// Tree head of the first `size` leaves.
    pub fn root(&self, size: u64) -> Option<Hash> {
        if size == 0 {
            return Some(Sha256::digest([]).into());
        }
        if size > self.size() {
            return None;
        }
        self.range(0, size)
    }

    /// RFC 6962 audit path for leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index < self.cut || index >= size || size > self.size() {
            return None;
        }
        self.path(index, 0, size)
    }

    /// RFC 6962 consistency proof between sizes `old` and `new`; empty when
    /// `old` is 0 or not below `new`, as for the full tree.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if new > self.size() {
            return None;
        }
        if old == 0 || old >= new {
            return Some(Vec::new());
        }
        self.subproof(old, 0, new, true)
    }

    /// Root of leaves `[a, b)`, `a < b`.
    fn range(&self, a: u64, b: u64) -> Option<Hash> {
        if a >= self.cut {
            let from = usize::try_from(a - self.cut).ok()?;
            let to = usize::try_from(b - self.cut).ok()?;
            return Some(root(self.leaves.get(from..to)?));
        }
        if let Some((_, _, node)) = self
            .nodes
            .iter()
            .find(|(start, size, _)| *start == a && *size == b - a)
        {
            return Some(*node);
        }
        if b - a == 1 {
            return None;
        }
        let k = split(b - a);
        Some(node_hash(&self.range(a, a + k)?, &self.range(a + k, b)?))
    }

    fn path(&self, index: u64, a: u64, b: u64) -> Option<Vec<Hash>> {
        if b - a == 1 {
            return Some(Vec::new());
        }
        let k = split(b - a);
        if index < a + k {
            let mut path = self.path(index, a, a + k)?;
            path.push(self.range(a + k, b)?);
            Some(path)
        } else {
            let mut path = self.path(index, a + k, b)?;
            path.push(self.range(a, a + k)?);
            Some(path)
        }
    }

    fn subproof(&self, m: u64, a: u64, b: u64, complete: bool) -> Option<Vec<Hash>> {
        if m == b - a {
            return if complete {
                Some(Vec::new())
            } else {
                Some(vec![self.range(a, b)?])
            };
        }
        let k = split(b - a);
        if m <= k {
            let mut proof = self.subproof(m, a, a + k, complete)?;
            proof.push(self.range(a + k, b)?);
            Some(proof)
        } else {
            let mut proof = self.subproof(m - k, a + k, b, false)?;
            proof.push(self.range(a, a + k)?);
            Some(proof)
        }
    }
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::merkle::{consistency_proof, inclusion_proof, leaf_hash};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn pruned(all: &[Hash], cut: usize) -> PrunedTree {
        let mut frontier = Frontier::default();
        for leaf in &all[..cut] {
            frontier.push(*leaf);
        }
        let rebuilt = Frontier::from_nodes(&frontier.nodes()).expect("valid frontier");
        PrunedTree::new(&rebuilt, all[cut..].to_vec())
    }

    /// Every head, proof for a kept leaf and consistency proof from a size
    /// at or after the cut equals the full tree's.
    #[test]
    fn a_pruned_tree_proves_what_the_full_tree_proves() {
        for n in 1..=33u64 {
            let all = leaves(n);
            for cut in 0..=n as usize {
                let tree = pruned(&all, cut);
                for size in cut as u64..=n {
                    let full = &all[..size as usize];
                    assert_eq!(
                        tree.root(size),
                        Some(root(full)),
                        "root n={n} cut={cut} size={size}"
                    );
                    for index in cut as u64..size {
                        assert_eq!(
                            tree.inclusion_proof(index, size),
                            Some(inclusion_proof(index as usize, full)),
                            "inclusion n={n} cut={cut} size={size} index={index}"
                        );
                    }
                    for old in (cut as u64).max(1)..=size {
                        assert_eq!(
                            tree.consistency_proof(old, size),
                            Some(consistency_proof(old as usize, full)),
                            "consistency n={n} cut={cut} old={old} size={size}"
                        );
                    }
                }
                for index in 0..cut as u64 {
                    assert_eq!(tree.inclusion_proof(index, n), None);
                }
            }
        }
    }

    #[test]
    fn malformed_frontiers_are_refused() {
        let node = [0u8; 32];
        assert!(Frontier::from_nodes(&[(3, node)]).is_none());
        assert!(Frontier::from_nodes(&[(2, node), (4, node)]).is_none());
        assert!(Frontier::from_nodes(&[(2, node), (2, node)]).is_none());
        assert_eq!(
            Frontier::from_nodes(&[(4, node), (1, node)]).map(|f| f.len()),
            Some(5)
        );
    }
}
