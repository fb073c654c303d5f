//! The bundled example host `examples/pve1` must be exactly what the
//! `sysfs-sriov` fixture builder writes (plus the hand-written files under
//! `etc/` and `proc/`), so it stays in step with the library.
//!
//! Regenerate it after a builder change with:
//!
//! ```text
//! SRIOV_CLI_BLESS=1 cargo test -p sriov-cli --test example_host
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

/// What the example host holds: an Intel X710 with two ports (64 VFs each) and
/// an Intel 82576 (igb). Port 0 has no VFs yet (a fresh boot); port 1 already has
/// 64, VFs 9-11 bound to vfio-pci for a VM. Each port's VFs get their own
/// routing ids (the preset's `sriov_offset` 16 and 79), as on the real card.
fn build() -> sysfs_sriov::fixture::Host {
    HostBuilder::new()
        .pf(PfSpec::intel_x710("0000:02:00.0".parse().unwrap())
            .netdev("enp2s0f0")
            .iommu_group(20))
        .pf(PfSpec::intel_x710("0000:02:00.1".parse().unwrap())
            .netdev("enp2s0f1")
            .iommu_group(21)
            .vfs(64)
            .vf_driver_at(9, VfDriver::VfioPci)
            .vf_driver_at(10, VfDriver::VfioPci)
            .vf_driver_at(11, VfDriver::VfioPci))
        .pf(PfSpec::intel_82576("0000:05:00.0".parse().unwrap())
            .netdev("eno1")
            .iommu_group(30))
        .build()
        .unwrap()
}

/// Paths written by hand, not by the builder.
fn hand_written(rel: &str) -> bool {
    rel == "etc"
        || rel.starts_with("etc/")
        || rel == "proc/cmdline"
        || rel == "proc/cpuinfo"
        || rel == "sys/firmware"
        || rel.starts_with("sys/firmware/")
        || rel == "README.md"
}

#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if hand_written(&rel) {
            continue;
        }
        let t = e.file_type().unwrap();
        if t.is_symlink() {
            out.insert(rel, Entry::Link(fs::read_link(&p).unwrap()));
        } else if t.is_dir() {
            out.insert(rel, Entry::Dir);
            walk(root, &p, out);
        } else {
            out.insert(rel, Entry::File(fs::read(&p).unwrap()));
        }
    }
}

fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut m = BTreeMap::new();
    walk(root, root, &mut m);
    m
}

fn copy(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        let dst = to.join(e.file_name());
        if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &dst).unwrap();
        } else if t.is_dir() {
            fs::create_dir_all(&dst).unwrap();
            copy(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Removes everything the builder wrote under `dir`, keeping the hand-written
/// files at any depth (and the directories that hold them).
fn clean(root: &Path, dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if hand_written(&rel) {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            clean(root, &p);
            // Fails (and is kept) when it still holds hand-written files.
            let _ = fs::remove_dir(&p);
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
}

#[test]
fn example_host_matches_the_fixture_builder() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pve1");
    let host = build();
    if std::env::var_os("SRIOV_CLI_BLESS").is_some() {
        fs::create_dir_all(&example).unwrap();
        clean(&example, &example);
        copy(host.root(), &example);
    }
    let want = tree(host.root());
    let have = tree(&example);
    let missing: Vec<&String> = want.keys().filter(|k| !have.contains_key(*k)).collect();
    let extra: Vec<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    let differ: Vec<&String> = want
        .iter()
        .filter(|(k, v)| have.get(*k).is_some_and(|h| h != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "examples/pve1 is out of date (regenerate with SRIOV_CLI_BLESS=1 cargo test -p sriov-cli --test example_host):\nmissing {missing:?}\nextra {extra:?}\ndiffering {differ:?}"
    );
}
