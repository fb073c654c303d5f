//! The bundled example host `examples/pve1` must be exactly what the
//! `sysfs-sriov` fixture builder writes plus the IOMMU files [`iommu_files`]
//! writes (plus the hand-written files under `etc/`, `proc/cmdline`,
//! `proc/cpuinfo` and `sys/firmware/efi`), so it stays in step with the library.
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
/// The IOMMU is Intel VT-d in passthrough mode (`intel_iommu=on iommu=pt` in the
/// hand-written command lines), ready for PCI passthrough.
fn build() -> sysfs_sriov::fixture::Host {
    let host = HostBuilder::new()
        .iommu_passthrough()
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
        .unwrap();
    iommu_files(host.root());
    host
}

fn put(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// An ACPI table: the 36-byte header (valid checksum) followed by `body`.
fn acpi_table(sig: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(36 + body.len());
    t.extend_from_slice(sig);
    t.extend_from_slice(&u32::try_from(36 + body.len()).unwrap().to_le_bytes());
    t.push(revision);
    t.push(0); // checksum, set below
    t.extend_from_slice(b"INTEL ");
    t.extend_from_slice(b"S2600WF ");
    t.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    t.extend_from_slice(b"INTL");
    t.extend_from_slice(&0x2009_1013u32.to_le_bytes()); // creator revision
    t.extend_from_slice(body);
    let sum = t.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    t[9] = 0u8.wrapping_sub(sum);
    t
}

/// What a VT-d host booted with `intel_iommu=on iommu=pt` and vfio loaded shows
/// beyond the PCI tree (the shapes of iommu-check's `tests/common` Intel host):
/// the firmware's DMAR table (INTR_REMAP flag), two DMAR
/// units with interrupt remapping in `ecap`, remapped interrupts, the vfio
/// modules, `/dev/vfio/vfio`.
fn iommu_files(root: &Path) {
    put(
        root,
        "sys/firmware/acpi/tables/APIC",
        acpi_table(b"APIC", 4, &[0; 8]),
    );
    put(
        root,
        "sys/firmware/acpi/tables/FACP",
        acpi_table(b"FACP", 6, &[0; 8]),
    );
    // DMAR: host address width - 1 (46 bits), flags, 10 reserved bytes; the
    // remapping structures (DRHD, RMRR, ...) are left out.
    let mut dmar = vec![45, 0x01];
    dmar.extend_from_slice(&[0; 10]);
    put(
        root,
        "sys/firmware/acpi/tables/DMAR",
        acpi_table(b"DMAR", 1, &dmar),
    );

    for (unit, address) in [("dmar0", "d37fc000"), ("dmar1", "e0ffc000")] {
        let dir = format!("sys/devices/virtual/iommu/{unit}");
        put(
            root,
            &format!("{dir}/intel-iommu/address"),
            format!("{address}\n"),
        );
        put(root, &format!("{dir}/intel-iommu/cap"), "8d2078c106f0466\n");
        put(root, &format!("{dir}/intel-iommu/ecap"), "f020df\n");
        put(root, &format!("{dir}/intel-iommu/version"), "1:0\n");
        let link = root.join(format!("sys/class/iommu/{unit}"));
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(format!("../../devices/virtual/iommu/{unit}"), link).unwrap();
    }

    put(
        root,
        "proc/interrupts",
        "            CPU0       CPU1       CPU2       CPU3       \n\
         \x20  0:         44          0          0          0  IR-IO-APIC    2-edge      timer\n\
         \x20  8:          0          0          1          0  IR-IO-APIC    8-edge      rtc0\n\
         \x20  9:          0          0          0          0  IR-IO-APIC    9-fasteoi   acpi\n\
         \x20 24:          0          0          0          0  DMAR-MSI    0-edge      dmar0\n\
         \x20 25:          0          0          0          0  DMAR-MSI    1-edge      dmar1\n\
         \x20 40:          0       1220          0          0  IR-PCI-MSIX-0000:02:00.0    0-edge      i40e-0000:02:00.0:misc\n\
         \x20 41:      18431          0          0          0  IR-PCI-MSIX-0000:02:00.0    1-edge      i40e-enp2s0f0-TxRx-0\n\
         \x20 72:          0          0       1187          0  IR-PCI-MSIX-0000:02:00.1    0-edge      i40e-0000:02:00.1:misc\n\
         \x20 73:          0          0          0      20977  IR-PCI-MSIX-0000:02:00.1    1-edge      i40e-enp2s0f1-TxRx-0\n\
         \x20104:          0      39012          0          0  IR-PCI-MSIX-0000:05:00.0    0-edge      eno1\n\
         NMI:          0          0          0          0   Non-maskable interrupts\n\
         LOC:     201744     187230     190112     176541   Local timer interrupts\n",
    );
    put(
        root,
        "proc/modules",
        "vfio_pci 16384 3 - Live 0x0000000000000000\n\
         vfio_pci_core 86016 1 vfio_pci, Live 0x0000000000000000\n\
         vfio_iommu_type1 49152 0 - Live 0x0000000000000000\n\
         vfio 69632 7 vfio_pci_core,vfio_iommu_type1,vfio_pci, Live 0x0000000000000000\n\
         iommufd 98304 1 vfio, Live 0x0000000000000000\n\
         iavf 221184 0 - Live 0x0000000000000000\n\
         i40e 573440 0 - Live 0x0000000000000000\n\
         igb 286720 0 - Live 0x0000000000000000\n",
    );
    for m in ["vfio", "vfio_pci", "vfio_iommu_type1"] {
        put(root, &format!("sys/module/{m}/initstate"), "live\n");
    }
    put(
        root,
        "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "N\n",
    );
    put(root, "dev/vfio/vfio", "");
    put(root, "proc/1/cgroup", "0::/init.scope\n");
}

/// Paths written by hand, not by the builder.
fn hand_written(rel: &str) -> bool {
    rel == "etc"
        || rel.starts_with("etc/")
        || rel == "proc/cmdline"
        || rel == "proc/cpuinfo"
        || rel == "sys/firmware/efi"
        || rel.starts_with("sys/firmware/efi/")
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
