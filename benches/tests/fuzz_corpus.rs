//! Replays every committed fuzz input (`fuzz/corpus/<target>/*` and
//! `fuzz/regressions/<target>/*`) through the same property functions the fuzz
//! targets run, so `cargo test --workspace` keeps them passing without
//! cargo-fuzz or a nightly toolchain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

use sriov_benches::{props, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

/// Feeds every input of `kind` through its target's property; panics at the
/// end listing every input that broke one (each panic message is printed
/// above it by the default hook).
fn replay(kind: &str) -> usize {
    let mut n = 0;
    let mut broken = Vec::new();
    for t in TARGETS {
        for p in inputs(kind, t) {
            let data = fs::read(&p).unwrap();
            match std::panic::catch_unwind(|| props::run(t, &data)) {
                Ok(known) => assert!(known, "unknown target {t}"),
                Err(_) => broken.push(format!(
                    "fuzz/{kind}/{t}/{}",
                    p.file_name().unwrap().to_string_lossy()
                )),
            }
            n += 1;
        }
    }
    assert!(
        broken.is_empty(),
        "{} input(s) break their fuzz property (see the panic messages above):\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
    n
}

#[test]
fn corpus_inputs_hold_every_property() {
    let n = replay("corpus");
    assert!(n > 0, "no corpus files under {}", fuzz_dir().display());
}

#[test]
fn regression_inputs_hold_every_property() {
    replay("regressions");
}

#[test]
fn every_target_has_a_seed_corpus() {
    for t in TARGETS {
        assert!(!inputs("corpus", t).is_empty(), "fuzz/corpus/{t} is empty");
    }
}
