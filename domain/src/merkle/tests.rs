use super::*;
use proptest::prelude::*;

fn unhex(s: &str) -> NodeHash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The RFC 6962 / CT reference leaves.
fn ct_leaves() -> Vec<NodeHash> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|h| leaf_hash(&hex::decode(h).unwrap()))
        .collect()
}

const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// MTH straight from the RFC's definition.
fn mth(leaves: &[NodeHash]) -> NodeHash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn ref_path(m: usize, leaves: &[NodeHash]) -> Vec<NodeHash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n as u64) as usize;
    if m < k {
        let mut p = ref_path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn ref_subproof(m: usize, leaves: &[NodeHash], whole: bool) -> Vec<NodeHash> {
    let n = leaves.len();
    if m == n {
        return if whole { vec![] } else { vec![mth(leaves)] };
    }
    let k = split(n as u64) as usize;
    if m <= k {
        let mut p = ref_subproof(m, &leaves[..k], whole);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

#[test]
fn roots_match_the_rfc_6962_reference_for_every_size() {
    let leaves = ct_leaves();
    let mut frontier = Frontier::default();
    assert_eq!(frontier.root(), unhex(CT_ROOTS[0]));
    let nodes = MemoryNodes::from_leaves(&leaves);
    for (n, leaf) in leaves.iter().enumerate() {
        frontier.push(*leaf);
        assert_eq!(frontier.root(), unhex(CT_ROOTS[n + 1]), "frontier size {}", n + 1);
        assert_eq!(root_at(&nodes, n as u64 + 1).unwrap(), unhex(CT_ROOTS[n + 1]), "stored size {}", n + 1);
    }
}

#[test]
fn proofs_match_the_published_reference_proofs() {
    let nodes = MemoryNodes::from_leaves(&ct_leaves());
    let expect = |hexes: &[&str]| hexes.iter().map(|h| unhex(h)).collect::<Vec<_>>();
    assert_eq!(
        inclusion_proof(&nodes, 0, 8).unwrap(),
        expect(&[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ])
    );
    assert_eq!(
        inclusion_proof(&nodes, 5, 8).unwrap(),
        expect(&[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ])
    );
    assert_eq!(
        consistency_proof(&nodes, 2, 5).unwrap(),
        expect(&[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ])
    );
}

#[test]
fn bad_sizes_and_indexes_are_typed_errors() {
    let nodes = MemoryNodes::from_leaves(&ct_leaves());
    assert_eq!(inclusion_proof(&nodes, 8, 8), Err(MerkleError::IndexOutOfRange { index: 8, size: 8 }));
    assert_eq!(consistency_proof(&nodes, 0, 3), Err(MerkleError::BadSizes { first: 0, second: 3 }));
    assert_eq!(consistency_proof(&nodes, 5, 3), Err(MerkleError::BadSizes { first: 5, second: 3 }));
    assert!(matches!(inclusion_proof(&nodes, 0, 9), Err(MerkleError::MissingNode { .. })));
}

fn leaves(n: usize) -> Vec<NodeHash> {
    (0..n).map(|i| leaf_hash(format!("envelope-{i}").as_bytes())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_inclusion_proof_is_the_rfcs_and_verifies_and_every_bit_flip_fails(n in 1usize..300, pick in any::<usize>(), bit in any::<usize>()) {
        let leaves = leaves(n);
        let nodes = MemoryNodes::from_leaves(&leaves);
        let root = mth(&leaves);
        prop_assert_eq!(root_at(&nodes, n as u64).unwrap(), root);
        let m = pick % n;
        let proof = inclusion_proof(&nodes, m as u64, n as u64).unwrap();
        prop_assert_eq!(&proof, &ref_path(m, &leaves));
        prop_assert_eq!(verify_inclusion(m as u64, n as u64, &leaves[m], &proof, &root), Ok(()));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let b = bit % (bad.len() * 256);
            bad[b / 256][(b % 256) / 8] ^= 1 << (b % 8);
            prop_assert!(verify_inclusion(m as u64, n as u64, &leaves[m], &bad, &root).is_err());
        }
        // (A size off by one is not always caught by the path alone, by RFC 9162's design:
        // signed tree heads bind size and root together.)
        prop_assert!(verify_inclusion(m as u64, n as u64, &leaf_hash(b"not in the log"), &proof, &root).is_err());
        if n > 1 {
            let other = (m + 1) % n;
            prop_assert!(verify_inclusion(other as u64, n as u64, &leaves[m], &proof, &root).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_is_the_rfcs_and_verifies_and_every_bit_flip_fails(second in 1usize..300, pick in any::<usize>(), bit in any::<usize>()) {
        let leaves = leaves(second);
        let nodes = MemoryNodes::from_leaves(&leaves);
        let first = 1 + pick % second;
        let (r1, r2) = (mth(&leaves[..first]), mth(&leaves));
        let proof = consistency_proof(&nodes, first as u64, second as u64).unwrap();
        prop_assert_eq!(&proof, &ref_subproof(first, &leaves, true));
        prop_assert_eq!(verify_consistency(first as u64, second as u64, &r1, &r2, &proof), Ok(()));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let b = bit % (bad.len() * 256);
            bad[b / 256][(b % 256) / 8] ^= 1 << (b % 8);
            prop_assert!(verify_consistency(first as u64, second as u64, &r1, &r2, &bad).is_err());
            // A fork: the same first tree, a second tree with one leaf changed.
            let mut forked = leaves.clone();
            forked[second - 1] = leaf_hash(b"forged");
            prop_assert!(verify_consistency(first as u64, second as u64, &r1, &mth(&forked), &proof).is_err());
        }
    }
}

proptest! {
    #[test]
    fn a_frontier_restored_from_stored_nodes_continues_like_the_original(n in 0usize..300, more in 0usize..40) {
        let all = leaves(n + more);
        let mut original = Frontier::default();
        let mut nodes = MemoryNodes::default();
        for leaf in &all[..n] {
            for node in original.push(*leaf) {
                nodes.insert(node);
            }
        }
        let mut restored = Frontier::restore(n as u64, &nodes).expect("every peak is stored");
        prop_assert_eq!(&restored, &original);
        for leaf in &all[n..] {
            prop_assert_eq!(restored.push(*leaf), original.push(*leaf));
        }
        prop_assert_eq!(restored.root(), original.root());
    }
}

proptest! {
    #[test]
    fn dense_level_nodes_make_the_same_proofs_as_a_node_map(n in 1usize..300, a in any::<usize>(), b in any::<usize>()) {
        let leaves = leaves(n);
        let map = MemoryNodes::from_leaves(&leaves);
        let mut dense = LevelNodes::default();
        let mut frontier = Frontier::default();
        for leaf in &leaves {
            dense.extend(frontier.push(*leaf));
        }
        let (first, second) = { let (x, y) = (1 + a % n, 1 + b % n); (x.min(y) as u64, x.max(y) as u64) };
        prop_assert_eq!(root_at(&dense, second).unwrap(), root_at(&map, second).unwrap());
        prop_assert_eq!(consistency_proof(&dense, first, second).unwrap(), consistency_proof(&map, first, second).unwrap());
        prop_assert_eq!(inclusion_proof(&dense, first - 1, second).unwrap(), inclusion_proof(&map, first - 1, second).unwrap());
    }
}
