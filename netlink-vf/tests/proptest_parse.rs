//! Parsing arbitrary bytes never panics (and never loops forever).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use netlink_vf::{parse_link, parse_vfinfo_list};
use proptest::prelude::*;

fn fixture() -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vfinfo_list_72vfs_stats.hex");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| {
            l.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn vfinfo_list_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_vfinfo_list(&b);
    }

    #[test]
    fn link_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_link(&b);
    }

    /// Structured garbage: the real fixture with bytes overwritten and cut.
    #[test]
    fn mutated_fixture(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
                       cut in any::<prop::sample::Index>()) {
        let mut b = fixture();
        for (i, v) in edits {
            let at = i.index(b.len());
            b[at] = v;
        }
        let end = cut.index(b.len()).max(16);
        let _ = parse_link(&b[16..end]);
        let _ = parse_vfinfo_list(&b[16..end]);
    }
}
