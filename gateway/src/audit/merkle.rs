//! RFC 6962 Merkle tree hashing over audit events: tree heads, inclusion
//! proofs and consistency proofs, and their verification (RFC 9162 §2.1).
//! Pure computation over leaf hashes; no I/O.
//!
//! A leaf is an audit event; its leaf data is the 32-byte chain hash of the
//! event (which already commits to every field and to the previous event).
//! Boundary: `leaf_hash` and `node_hash` follow RFC 6962 (0x00 / 0x01 prefixes),
//! so any RFC 6962 verifier can check our proofs.

use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 value.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The Merkle tree hash (MTH) of `leaves` (already leaf-hashed). The empty
/// tree's hash is SHA-256 of the empty string.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Audit path for leaf `index` in the tree of `leaves` (RFC 6962 PATH).
/// Empty when `index` is out of range.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if index >= leaves.len() || leaves.len() < 2 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if index < k {
        let mut path = inclusion_proof(index, &leaves[..k]);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_proof(index - k, &leaves[k..]);
        path.push(root(&leaves[..k]));
        path
    }
}

/// Consistency proof between the first `old_size` leaves and all of `leaves`
/// (RFC 6962 PROOF). Empty when `old_size` is 0, equal to or beyond the size.
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Vec<Hash> {
    if old_size == 0 || old_size >= leaves.len() {
        return Vec::new();
    }
    subproof(old_size, leaves, true)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut proof = subproof(m, &leaves[..k], complete);
        proof.push(root(&leaves[k..]));
        proof
    } else {
        let mut proof = subproof(m - k, &leaves[k..], false);
        proof.push(root(&leaves[..k]));
        proof
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old_size.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &fr == old_root && &sr == new_root
}

/// Streaming tree head: push leaf hashes in order and read the root of the
/// tree so far at any point, in O(log n) memory.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    /// Roots of perfect subtrees, largest first; `sizes[i]` leaves under `nodes[i]`.
    nodes: Vec<Hash>,
    sizes: Vec<u64>,
    len: u64,
}

impl Frontier {
    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = 1u64;
        while self.sizes.last() == Some(&size) {
            let (Some(left), Some(_)) = (self.nodes.pop(), self.sizes.pop()) else {
                break;
            };
            node = node_hash(&left, &node);
            size *= 2;
        }
        self.nodes.push(node);
        self.sizes.push(size);
        self.len += 1;
    }

    /// Number of leaves pushed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no leaf was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The perfect subtrees covering the leaves so far, largest (leftmost)
    /// first, as `(leaf count, root)`: the compact range a purge record keeps.
    pub fn nodes(&self) -> Vec<(u64, Hash)> {
        self.sizes
            .iter()
            .copied()
            .zip(self.nodes.iter().copied())
            .collect()
    }

    /// Rebuilds a frontier from [`Frontier::nodes`]. `None` unless the sizes
    /// are strictly decreasing powers of two (the only shape `push` makes).
    pub fn from_nodes(parts: &[(u64, Hash)]) -> Option<Frontier> {
        let mut frontier = Frontier::default();
        for (size, node) in parts {
            if !size.is_power_of_two() || frontier.sizes.last().is_some_and(|last| last <= size) {
                return None;
            }
            frontier.sizes.push(*size);
            frontier.nodes.push(*node);
            frontier.len = frontier.len.checked_add(*size)?;
        }
        Some(frontier)
    }

    /// The tree head of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return Sha256::digest([]).into();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

pub mod pruned;

#[cfg(test)]
mod tests;
