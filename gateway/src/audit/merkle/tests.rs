use ct_merkle::mem_backed_tree::MemoryBackedTree;
use proptest::prelude::*;

use super::*;

/// ct-merkle hashes each leaf's bytes with the 0x00 prefix, as RFC 6962 does.
type Leaf = [u8; 32];

fn data(n: usize) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| <[u8; 32]>::from(Sha256::digest((i as u64).to_le_bytes())))
        .collect()
}

fn reference(data: &[[u8; 32]]) -> MemoryBackedTree<sha2_11::Sha256, Leaf> {
    let mut tree = MemoryBackedTree::new();
    for d in data {
        tree.push(*d);
    }
    tree
}

#[test]
fn roots_match_an_independent_rfc6962_implementation() {
    for n in 0..70 {
        let data = data(n);
        let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let ours = root(&leaves);
        let theirs = reference(&data).root();
        assert_eq!(ours.as_slice(), theirs.as_bytes().as_slice(), "size {n}");
        let mut frontier = Frontier::default();
        for leaf in &leaves {
            frontier.push(*leaf);
        }
        assert_eq!(frontier.root(), ours, "frontier at size {n}");
    }
}

#[test]
fn our_inclusion_proofs_verify_with_the_reference_and_ours() {
    for n in 1..40 {
        let data = data(n);
        let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let head = root(&leaves);
        let tree = reference(&data);
        for index in 0..n {
            let proof = inclusion_proof(index, &leaves);
            assert!(
                verify_inclusion(index as u64, n as u64, &leaves[index], &proof, &head),
                "{index}/{n}"
            );
            let bytes: Vec<u8> = proof.iter().flatten().copied().collect();
            let theirs = ct_merkle::InclusionProof::<sha2_11::Sha256>::from_bytes(bytes);
            assert!(
                tree.root()
                    .verify_inclusion(&data[index], index as u64, &theirs)
                    .is_ok(),
                "{index}/{n}"
            );
            // A proof for one leaf does not prove another.
            if n > 1 {
                let other = (index + 1) % n;
                assert!(!verify_inclusion(
                    other as u64,
                    n as u64,
                    &leaves[other],
                    &proof,
                    &head
                ));
            }
        }
    }
}

#[test]
fn our_consistency_proofs_verify_with_the_reference_and_ours() {
    for n in 1..40 {
        let data = data(n);
        let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let new_root = root(&leaves);
        for m in 1..n {
            let old_root = root(&leaves[..m]);
            let proof = consistency_proof(m, &leaves);
            assert!(
                verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof),
                "{m}->{n}"
            );
            let old_tree = reference(&data[..m]);
            let bytes: Vec<u8> = proof.iter().flatten().copied().collect();
            let theirs =
                ct_merkle::ConsistencyProof::<sha2_11::Sha256>::try_from_bytes(bytes).unwrap();
            assert!(
                reference(&data)
                    .root()
                    .verify_consistency(&old_tree.root(), &theirs)
                    .is_ok(),
                "{m}->{n}"
            );
            // A rewritten old leaf breaks consistency.
            let mut forged = leaves.clone();
            forged[0] = leaf_hash(b"rewritten");
            let forged_old = root(&forged[..m]);
            assert!(
                !verify_consistency(m as u64, n as u64, &forged_old, &new_root, &proof),
                "{m}->{n}"
            );
        }
    }
}

proptest! {
    #[test]
    fn any_flipped_proof_byte_fails(n in 2usize..64, index_seed in any::<usize>(), byte in 0usize..32, bit in 0u8..8) {
        let leaves: Vec<Hash> = data(n).iter().map(|d| leaf_hash(d)).collect();
        let index = index_seed % n;
        let head = root(&leaves);
        let mut proof = inclusion_proof(index, &leaves);
        prop_assume!(!proof.is_empty());
        let at = index_seed % proof.len();
        proof[at][byte] ^= 1 << bit;
        prop_assert!(!verify_inclusion(index as u64, n as u64, &leaves[index], &proof, &head));
    }
}
