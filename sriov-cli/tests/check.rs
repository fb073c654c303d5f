//! `check`: the IOMMU verdict plus sysfs-sriov's SR-IOV readiness, one line
//! per device with each problem's fix, in text and `--json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfBarState};

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

#[test]
fn the_example_host_is_ready_for_both() {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pve1");
    let ex = ex.to_str().unwrap();
    let (code, out, err) = run(&["--root", ex, "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PCI passthrough: READY"), "{out}");
    for l in [
        "  ready     0000:02:00.0 (i40e): 0 of 64 VFs",
        "  ready     0000:05:00.0 (igb): 0 of 7 VFs",
        "Verdict: ready: VFs can be created and passed through",
    ] {
        assert!(out.lines().any(|x| x == l), "no line {l:?} in:\n{out}");
    }
    let (code, out, _) = run(&["--root", ex, "check", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["iommu"]["verdict"], "ready");
    assert_eq!(v["sriov"].as_array().unwrap().len(), 3, "{v}");
}

#[test]
fn each_device_that_cannot_create_vfs_is_named_with_its_fix() {
    // An igb whose VF BARs the kernel could not place (the firmware left no
    // room: ENOMEM at the count write), and a ConnectX-5 whose firmware has
    // SR-IOV off (no capability shown).
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap())
            .netdev("eth0")
            .vf_bars(VfBarState::Reset))
        .pf(PfSpec::connectx5("0000:03:00.0".parse().unwrap())
            .netdev("enp3s0f0np0")
            .no_sriov_capability())
        .build()
        .unwrap();
    let r = host.root().to_str().unwrap();
    let (code, out, err) = run(&["--root", r, "check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT READY 0000:01:00.0 (igb)"), "{out}");
    assert!(out.contains("pci=realloc"), "{out}");
    assert!(out.contains("NOT READY 0000:03:00.0 (mlx5_core)"), "{out}");
    assert!(out.contains("mstconfig"), "{out}");
    assert!(out.contains("Verdict: not ready"), "{out}");
    let (code, out, _) = run(&["--root", r, "check", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ready"], false);
    let kinds: Vec<String> = v["sriov"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["findings"].as_array().unwrap().clone())
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"vf_bars_unassigned".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"mlx5_firmware_sriov_off".to_string()),
        "{kinds:?}"
    );
    // Every finding carries its fix.
    for d in v["sriov"].as_array().unwrap() {
        for f in d["findings"].as_array().unwrap() {
            assert!(!f["fix"].as_str().unwrap().is_empty(), "{f}");
        }
    }
}

#[test]
fn enable_iommu_adds_pci_realloc_when_asked() {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pve1");
    let ex = ex.to_str().unwrap();
    let (code, out, err) = run(&["--root", ex, "enable-iommu", "--dry-run", "--pci-realloc"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l == "+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt pci=realloc"),
        "{out}"
    );
    // Without the flag the example is already done.
    let (code, out, _) = run(&["--root", ex, "enable-iommu", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(!out.contains("pci=realloc"), "{out}");
}
