//! ChainIDs (OCI image spec, "Layer ChainID"): the identity of a layer *with* everything below
//! it. `chain(L1) = diffID(L1)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diffID(Ln))`.

use super::digest::Digest;

/// The ChainID of a layer whose own diffID is `diff_id`, stacked on the layer `parent`.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(parent) => Digest::of_bytes(format!("{parent} {diff_id}").as_bytes()),
    }
}

/// The ChainIDs of a whole stack of diffIDs, bottom first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chains: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = chain_id(chains.last(), diff_id);
        chains.push(next);
    }
    chains
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_follows_the_oci_definition() {
        let a = Digest::of_bytes(b"a");
        let b = Digest::of_bytes(b"b");
        let c = Digest::of_bytes(b"c");
        let chains = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(chains[0], a);
        let ab = Digest::of_bytes(format!("{} {}", a.as_str(), b.as_str()).as_bytes());
        assert_eq!(chains[1], ab);
        let abc = Digest::of_bytes(format!("{} {}", ab.as_str(), c.as_str()).as_bytes());
        assert_eq!(chains[2], abc);
    }

    #[test]
    fn chain_id_matches_sha256sum_of_the_joined_text() {
        // printf 'sha256:1..1 sha256:2..2' | sha256sum
        let a = Digest::from_hex(&"1".repeat(64)).unwrap();
        let b = Digest::from_hex(&"2".repeat(64)).unwrap();
        assert_eq!(
            chain_id(Some(&a), &b).hex(),
            "9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5"
        );
    }
}
