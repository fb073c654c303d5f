//! Runs every case under `tests/corpus/`: a fixture root (`root/`), the edits
//! (`edits`), and the expected outcome: changed files (`expect/`), or an error
//! (`expect-error`, a substring of the message), the detected boot setup (`detect`),
//! the configured command line after the edit (`configured`) and what a reboot
//! would still bring (`pending`). Each case says where its files came from (`ORIGIN`).
//!
//! For every case: detect -> plan -> compare -> apply on a copy -> files equal
//! `expect/` (everything else byte-identical, one `.bak` per changed file) -> plan
//! again is a no-op (idempotence).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bootcmd::{detect, iommu, Cmdline, CpuVendor, Edit, GrubDefaults, WriteOutcome};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_owned(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in files(from) {
        let dst = to.join(&rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::write(dst, bytes).unwrap();
    }
}

fn parse_edits(text: &str) -> Vec<Edit> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("vendor ") {
            let vendor = match v {
                "intel" => CpuVendor::Intel,
                "amd" => CpuVendor::Amd,
                other => panic!("unknown vendor {other}"),
            };
            out.extend(iommu::iommu_edits(vendor));
        } else if let Some(kv) = line.strip_prefix('+') {
            out.push(match kv.split_once('=') {
                Some((k, v)) => Edit::ensure(k, v),
                None => Edit::flag(kv),
            });
        } else if let Some(k) = line.strip_prefix('-') {
            out.push(match k.split_once(':') {
                Some((k, o)) => Edit::remove_option(k, o),
                None => Edit::remove(k),
            });
        } else {
            panic!("bad edit line {line:?}");
        }
    }
    out
}

fn read(case: &Path, name: &str) -> Option<String> {
    fs::read_to_string(case.join(name)).ok()
}

fn run_case(case: &Path) {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let origin = read(case, "ORIGIN").unwrap_or_default();
    assert!(
        origin.trim().len() > 20,
        "{name}: ORIGIN must say where the files came from"
    );
    let edits = parse_edits(&read(case, "edits").unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_tree(&case.join("root"), root);
    let before = files(root);

    let outcome = detect(root).and_then(|setup| {
        if let Some(want) = read(case, "detect") {
            let got = format!(
                "firmware={:?} loader={:?} source={:?} proxmox={} refresh={}{}",
                setup.firmware,
                setup.loader,
                setup.source,
                setup.proxmox_boot_tool,
                setup.refresh_command(),
                setup
                    .unused
                    .as_ref()
                    .map(|u| format!(" unused={}", u.display()))
                    .unwrap_or_default()
            );
            assert_eq!(got, want.trim(), "{name}: detect ({:?})", setup.why);
        }
        setup.plan(root, &edits).map(|p| (setup, p))
    });
    if let Some(want) = read(case, "expect-error") {
        let err = match outcome {
            Ok((_, p)) => panic!("{name}: expected an error, got a plan:\n{}", p.diff()),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(want.trim()),
            "{name}: error {err:?} lacks {:?}",
            want.trim()
        );
        assert_eq!(
            files(root),
            before,
            "{name}: an error must not write anything"
        );
        return;
    }
    let (setup, plan) = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Some(want) = read(case, "configured") {
        assert_eq!(
            plan.configured.to_string(),
            want.trim_end_matches('\n'),
            "{name}: configured"
        );
    }
    if let Some(want) = read(case, "pending") {
        let p = plan.pending.clone().expect("pending needs proc/cmdline");
        assert_eq!(p.missing.join(" "), want.trim(), "{name}: pending");
    }
    let expect = files(&case.join("expect"));
    assert_eq!(
        plan.is_noop(),
        expect.is_empty(),
        "{name}: no-op iff no expect/:\n{}",
        plan.diff()
    );
    let outcomes = plan.apply().unwrap();
    let after = files(root);
    for (rel, bytes) in &after {
        if rel.to_string_lossy().ends_with(".bak") {
            continue;
        }
        let want = expect
            .get(rel)
            .or_else(|| before.get(rel))
            .unwrap_or_else(|| panic!("{name}: unexpected new file {rel:?}"));
        assert_eq!(
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(want),
            "{name}: {rel:?}"
        );
    }
    for rel in expect.keys() {
        assert!(after.contains_key(rel), "{name}: {rel:?} not written");
    }
    for o in &outcomes {
        if let WriteOutcome::Written { path, backup } = o {
            let rel = path.strip_prefix(root).unwrap();
            match (backup, before.get(rel)) {
                (Some(b), Some(orig)) => assert_eq!(&fs::read(b).unwrap(), orig, "{name}: backup"),
                (None, None) => {}
                other => panic!("{name}: backup mismatch {other:?}"),
            }
        }
    }
    if expect.is_empty() {
        assert!(
            outcomes.iter().all(|o| !o.changed()),
            "{name}: no-op wrote something"
        );
        assert_eq!(after, before, "{name}: no-op changed files");
    }
    // Idempotence: planning again on the result changes nothing.
    let again = setup.plan(root, &edits).unwrap();
    assert!(
        again.is_noop(),
        "{name}: second plan not a no-op:\n{}",
        again.diff()
    );
}

#[test]
fn corpus_cases() {
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "corpus went missing");
    for c in &cases {
        run_case(c);
    }
}

/// Both directions for every fixture file: parse -> print gives the same bytes,
/// and every GRUB file tokenizes, or fails as the case's `expect-error` says.
#[test]
fn corpus_files_round_trip() {
    for case in fs::read_dir(corpus()).unwrap() {
        let case = case.unwrap().path();
        for (rel, bytes) in files(&case.join("root"))
            .into_iter()
            .chain(files(&case.join("expect")))
        {
            assert_eq!(
                Cmdline::from_bytes(&bytes).to_bytes(),
                bytes,
                "{case:?} {rel:?}"
            );
            let text = String::from_utf8(bytes).unwrap();
            if rel.starts_with("etc/default") {
                let label = Path::new("/").join(&rel);
                if let Err(e) = GrubDefaults::from_texts(vec![(label, text)]) {
                    let want = read(&case, "expect-error")
                        .unwrap_or_else(|| panic!("{case:?} {rel:?}: {e}"));
                    assert!(
                        e.to_string().contains(want.trim()),
                        "{case:?} {rel:?}: error {e} lacks {want:?}"
                    );
                }
            }
        }
    }
}
