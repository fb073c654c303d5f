//! The kernel sequencing this crate does for its callers, on fixture trees:
//! count writes with autoprobe deferred, several PFs at once, threaded probes,
//! resets checked before anything is written, and binds that put the old
//! `driver_override` back when they fail.
//!
//! A fixture cannot react like the kernel: a write only changes the file. The
//! crate writes values without a newline and the fixture with one, so a file
//! that reads `"1"` was written by the crate and `"1\n"` was not touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sysfs_sriov::fixture::{Host, HostBuilder, PfSpec, VfDriver};
use sysfs_sriov::{CountDone, CountOptions, DriverTarget, Error, InUse, NumVfsOutcome, PciAddress};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn raw(host: &Host, dev: &PciAddress, file: &str) -> String {
    fs::read_to_string(dev_file(host, dev, file)).unwrap()
}

fn dev_file(host: &Host, dev: &PciAddress, file: &str) -> PathBuf {
    host.root()
        .join(format!("sys/bus/pci/devices/{dev}/{file}"))
}

const DEFER: CountOptions = CountOptions {
    allow_recreate: false,
    defer_probe: true,
};

// ---------------------------------------------------------------- write_count

#[test]
fn defer_probe_turns_autoprobe_back_on_and_says_the_vfs_need_a_probe() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let done = sysfs.write_count(&pf, 4, DEFER).unwrap();
    assert_eq!(
        done,
        CountDone {
            outcome: NumVfsOutcome::Changed { from: 0, to: 4 },
            probe_deferred: true,
        }
    );
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "4");
    // Written (0, then 1 again): the value it had before.
    assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "1");
    assert!(sysfs.sriov_info(&pf).unwrap().drivers_autoprobe);
}

#[test]
fn defer_probe_leaves_autoprobe_alone_when_off_or_when_no_vf_is_created() {
    let pf = addr("0000:02:00.0");
    // Off already: the VFs get no driver anyway; nothing to defer, nothing touched.
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).autoprobe(false))
        .build()
        .unwrap();
    let done = host.sysfs().write_count(&pf, 4, DEFER).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Changed { from: 0, to: 4 });
    assert!(!done.probe_deferred);
    assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "0\n");
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "4");

    // On, but the write creates no VF: to 0, or the same count.
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(3))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let done = sysfs.write_count(&pf, 3, DEFER).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Unchanged { num_vfs: 3 });
    assert!(!done.probe_deferred);
    let done = sysfs.write_count(&pf, 0, DEFER).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Changed { from: 3, to: 0 });
    assert!(!done.probe_deferred);
    assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "1\n");

    // Without defer_probe: never touched.
    let done = sysfs.write_count(&pf, 2, CountOptions::default()).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Changed { from: 0, to: 2 });
    assert!(!done.probe_deferred);
    assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "1\n");
}

#[test]
fn defer_probe_with_allow_recreate_defers_the_new_vfs() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(2))
        .build()
        .unwrap();
    let opts = CountOptions {
        allow_recreate: true,
        defer_probe: true,
    };
    let done = host.sysfs().write_count(&pf, 5, opts).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Changed { from: 2, to: 5 });
    assert!(done.probe_deferred);
    assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "1");
}

#[test]
fn autoprobe_is_restored_when_the_count_write_fails() {
    let pf = addr("0000:02:00.0");
    type Case = (PfSpec, u16, fn(&Error) -> bool);
    let cases: [Case; 3] = [
        // 65 > sriov_totalvfs 64.
        (PfSpec::intel_x710(pf), 65, |e| {
            matches!(e, Error::NumVfsOutOfRange { requested: 65, .. })
        }),
        // No PF driver: the kernel would answer ENOENT.
        (PfSpec::intel_x710(pf).no_driver(), 3, |e| {
            matches!(e, Error::NoDriver { .. })
        }),
        // 2 -> 5 needs 0 first, not allowed.
        (PfSpec::intel_x710(pf).vfs(2), 5, |e| {
            matches!(e, Error::RecreateRefused { from: 2, to: 5, .. })
        }),
    ];
    for (spec, n, is_expected) in cases {
        let host = HostBuilder::new().pf(spec).build().unwrap();
        let before = raw(&host, &pf, "sriov_numvfs");
        let e = host.sysfs().write_count(&pf, n, DEFER).unwrap_err();
        assert!(is_expected(&e), "{n}: {e}");
        // Written, and back to 1: turned off around the write and restored.
        assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "1", "{e}");
        assert_eq!(raw(&host, &pf, "sriov_numvfs"), before, "{e}");
    }
}

#[test]
fn a_pf_whose_autoprobe_cannot_be_written_gets_the_normal_write() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf))
        .build()
        .unwrap();
    // A kernel before 4.12 has no such file (and always autoprobes).
    host.remove(&format!("sys/bus/pci/devices/{pf}/sriov_drivers_autoprobe"))
        .unwrap();
    let done = host.sysfs().write_count(&pf, 2, DEFER).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Changed { from: 0, to: 2 });
    assert!(!done.probe_deferred, "the VFs were probed the usual way");
    assert!(!dev_file(&host, &pf, "sriov_drivers_autoprobe").exists());
}

// ---------------------------------------------------------------- write_counts

#[test]
fn write_counts_answer_in_input_order_each_with_its_own_error() {
    let (igb, x710, cx5) = (
        addr("0000:01:00.0"),
        addr("0000:02:00.0"),
        addr("0000:03:00.0"),
    );
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576(igb).no_driver())
        .pf(PfSpec::intel_x710(x710))
        .pf(PfSpec::connectx5(cx5).vfs(2))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let missing = addr("0000:09:00.0");
    let got = sysfs.write_counts(&[(x710, 8), (igb, 2), (cx5, 5), (missing, 1)], DEFER);
    assert_eq!(got.len(), 4);
    assert_eq!(
        got[0].value.as_ref().unwrap(),
        &CountDone {
            outcome: NumVfsOutcome::Changed { from: 0, to: 8 },
            probe_deferred: true
        }
    );
    assert!(
        matches!(&got[1].value, Err(Error::NoDriver { pf, .. }) if *pf == igb),
        "{:?}",
        got[1].value
    );
    assert!(
        matches!(&got[2].value, Err(Error::RecreateRefused { pf, .. }) if *pf == cx5),
        "{:?}",
        got[2].value
    );
    assert!(
        matches!(&got[3].value, Err(Error::DeviceNotFound { address, .. }) if *address == missing),
        "{:?}",
        got[3].value
    );
    for pf in [x710, igb, cx5] {
        assert_eq!(raw(&host, &pf, "sriov_drivers_autoprobe"), "1", "{pf}");
    }
    assert_eq!(raw(&host, &x710, "sriov_numvfs"), "8");
    assert_eq!(raw(&host, &cx5, "sriov_numvfs"), "2\n");

    // Allowed: 2 -> 5 through 0; 8 again is no write. One PF: the same answer.
    let opts = CountOptions {
        allow_recreate: true,
        defer_probe: false,
    };
    let got = sysfs.write_counts(&[(cx5, 5), (x710, 8)], opts);
    assert_eq!(
        got[0].value.as_ref().unwrap().outcome,
        NumVfsOutcome::Changed { from: 2, to: 5 }
    );
    assert_eq!(
        got[1].value.as_ref().unwrap().outcome,
        NumVfsOutcome::Unchanged { num_vfs: 8 }
    );
    let one = sysfs.write_counts(&[(x710, 0)], opts);
    assert_eq!(one.len(), 1);
    assert_eq!(
        one[0].value.as_ref().unwrap().outcome,
        NumVfsOutcome::Changed { from: 8, to: 0 }
    );
    assert!(sysfs.write_counts(&[], opts).is_empty());
}

// ---------------------------------------------------------------- probe_vfs

/// Ported from sriov-cli's `probes_on_threads_answer_for_each_vf_in_order`. No
/// kernel: a probe here succeeds unless the VF's device is gone. One answer per
/// VF, in the VFs' order, each failure naming its own VF, however the threads
/// interleave.
#[test]
fn probes_on_threads_answer_for_each_vf_in_order() {
    let pf = addr("0000:03:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(20).vf_driver(VfDriver::None))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let vfs: Vec<PciAddress> = sysfs.vfs(&pf).unwrap().iter().map(|v| v.address).collect();
    assert_eq!(vfs.len(), 20);
    // Two VFs vanish before they are probed.
    for i in [2, 13] {
        host.remove(&format!("sys/bus/pci/devices/{}", vfs[i]))
            .unwrap();
    }
    // More VFs than threads: each thread takes several in turn.
    let got = sysfs.probe_vfs(&vfs, 8);
    assert_eq!(got.len(), 20);
    for (i, t) in got.iter().enumerate() {
        if i == 2 || i == 13 {
            let e = t.value.as_ref().unwrap_err();
            assert!(
                matches!(e, Error::DeviceNotFound { address, .. } if *address == vfs[i]),
                "VF {i}: {e}"
            );
            assert!(e.to_string().contains(&vfs[i].to_string()), "VF {i}: {e}");
        } else {
            let out = t.value.as_ref().unwrap();
            assert_eq!(out.address, vfs[i], "VF {i}");
            assert!(out.changed);
        }
    }
    // Each probe that ran asked for the kernel's own driver: the fixture's
    // "(null)" override was overwritten with an empty one, and the address
    // written to drivers_probe.
    for (i, vf) in vfs.iter().enumerate().filter(|(i, _)| *i != 2 && *i != 13) {
        assert_eq!(raw(&host, vf, "driver_override"), "\n", "VF {i}");
    }
    assert!(sysfs.probe_vfs(&[], 8).is_empty());
    // One VF, any thread count: the same answer.
    for threads in [0, 1, 8] {
        let one = sysfs.probe_vfs(&vfs[..1], threads);
        assert_eq!(one.len(), 1);
        assert!(one[0].value.is_ok());
    }
}

#[test]
fn a_probe_error_that_does_not_name_the_vf_is_wrapped_with_it() {
    let pf = addr("0000:03:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(3).vf_driver(VfDriver::None))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let vfs: Vec<PciAddress> = sysfs.vfs(&pf).unwrap().iter().map(|v| v.address).collect();
    // drivers_probe is shared by every device; its error names no VF.
    host.remove("sys/bus/pci/drivers_probe").unwrap();
    let got = sysfs.probe_vfs(&vfs, 2);
    for (vf, t) in vfs.iter().zip(&got) {
        let e = t.value.as_ref().unwrap_err();
        assert!(
            matches!(e, Error::ProbeFailed { address, source }
                if address == vf && matches!(**source, Error::Io { .. })),
            "{vf}: {e}"
        );
        assert!(e.to_string().contains(&vf.to_string()), "{e}");
        // And the old override is back.
        assert_eq!(raw(&host, vf, "driver_override"), "\n");
    }
}

// ---------------------------------------------------------------- reset

/// PF A (82576): 3 VFs, VF 1 on vfio-pci and VF 2's netdev up; PF B (X710):
/// no VFs; PF C (ConnectX-5): 2 idle VFs.
fn reset_host() -> (Host, [PciAddress; 3]) {
    let (a, b, c) = (
        addr("0000:01:00.0"),
        addr("0000:02:00.0"),
        addr("0000:03:00.0"),
    );
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576(a)
            .netdev("eth0")
            .vfs(3)
            .vf_driver_at(1, VfDriver::VfioPci)
            .vf_up(2))
        .pf(PfSpec::intel_x710(b))
        .pf(PfSpec::connectx5(c).vfs(2))
        .build()
        .unwrap();
    (host, [a, b, c])
}

#[test]
fn reset_impact_lists_each_pf_once_with_every_vf_and_what_is_in_use() {
    let (host, [a, b, c]) = reset_host();
    let sysfs = host.sysfs();
    let imp = sysfs.reset_impact(&[a, b, a, c]).unwrap();
    let pfs: Vec<(PciAddress, u16, usize)> = imp
        .iter()
        .map(|i| (i.pf, i.num_vfs, i.casualties.len()))
        .collect();
    assert_eq!(pfs, [(a, 3, 3), (b, 0, 0), (c, 2, 2)]);
    let in_use: Vec<(u32, Vec<InUse>)> = imp[0]
        .in_use()
        .map(|c| (c.index, c.reasons.clone()))
        .collect();
    assert_eq!(
        in_use,
        [
            (
                1,
                vec![InUse::Passthrough {
                    driver: "vfio-pci".into()
                }]
            ),
            (
                2,
                vec![InUse::NetdevUp {
                    netdev: "eth0v2".into()
                }]
            ),
        ]
    );
    assert!(imp[0].casualties[0].reasons.is_empty());
    assert_eq!(imp[2].in_use().count(), 0);
    assert_eq!(imp[0].casualties, sysfs.recreate_impact(&a).unwrap());
    // Serializes for --json.
    let j = serde_json::to_value(&imp[1]).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"pf": "0000:02:00.0", "num_vfs": 0, "casualties": []})
    );
    assert!(matches!(
        sysfs.reset_impact(&[a, addr("0000:09:00.0")]),
        Err(Error::DeviceNotFound { .. })
    ));
}

#[test]
fn reset_is_refused_naming_each_vf_in_use_and_writes_nothing() {
    let (host, [a, b, c]) = reset_host();
    let sysfs = host.sysfs();
    let e = sysfs.reset_pfs(&[c, a, b, a], false).unwrap_err();
    let Error::ResetRefused { pfs } = &e else {
        panic!("{e}");
    };
    // Only the PF with VFs in use, once.
    assert_eq!(pfs.len(), 1);
    assert_eq!((pfs[0].pf, pfs[0].num_vfs), (a, 3));
    let vf1 = pfs[0].casualties[1].address;
    let vf2 = pfs[0].casualties[2].address;
    let m = e.to_string();
    for want in [
        format!("PF {a} VF 1 ({vf1}): bound to vfio-pci"),
        format!("PF {a} VF 2 ({vf2}): netdev eth0v2 is up"),
        "sriov_numvfs".to_string(),
        "allow_in_use (CLI: --allow-recreate)".to_string(),
    ] {
        assert!(m.contains(&want), "{want:?} in {m}");
    }
    assert_eq!(m.lines().count(), 4, "one line per VF in use: {m}");
    assert!(!m.contains(&c.to_string()), "the idle PF is not named: {m}");
    // Nothing written, not even to the idle PF.
    assert_eq!(raw(&host, &a, "sriov_numvfs"), "3\n");
    assert_eq!(raw(&host, &c, "sriov_numvfs"), "2\n");
    assert_eq!(raw(&host, &b, "sriov_numvfs"), "0\n");
    // An unknown PF among them: nothing written either.
    let e = sysfs
        .reset_pfs(&[c, addr("0000:09:00.0")], true)
        .unwrap_err();
    assert!(matches!(e, Error::DeviceNotFound { .. }), "{e}");
    assert_eq!(raw(&host, &c, "sriov_numvfs"), "2\n");
}

#[test]
fn reset_with_allow_in_use_writes_0_to_each_pf_with_vfs_once() {
    let (host, [a, b, c]) = reset_host();
    let t = Instant::now();
    let got = host.sysfs().reset_pfs(&[a, b, a, c], true).unwrap();
    let outcomes: Vec<(PciAddress, NumVfsOutcome)> = got
        .iter()
        .map(|(pf, t)| (*pf, *t.value.as_ref().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (a, NumVfsOutcome::Changed { from: 3, to: 0 }),
            (b, NumVfsOutcome::Unchanged { num_vfs: 0 }),
            (c, NumVfsOutcome::Changed { from: 2, to: 0 }),
        ]
    );
    assert_eq!(got[1].1.took, Duration::ZERO, "not written");
    assert!(got.iter().all(|(_, d)| d.took <= t.elapsed()));
    assert_eq!(raw(&host, &a, "sriov_numvfs"), "0");
    assert_eq!(raw(&host, &c, "sriov_numvfs"), "0");
    assert_eq!(raw(&host, &b, "sriov_numvfs"), "0\n");
}

#[test]
fn reset_of_idle_vfs_needs_no_permission() {
    let (host, [_, b, c]) = reset_host();
    let got = host.sysfs().reset_pfs(&[c, b], false).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        *got[0].1.value.as_ref().unwrap(),
        NumVfsOutcome::Changed { from: 2, to: 0 }
    );
    assert_eq!(
        *got[1].1.value.as_ref().unwrap(),
        NumVfsOutcome::Unchanged { num_vfs: 0 }
    );
    assert_eq!(raw(&host, &c, "sriov_numvfs"), "0");
    assert!(host.sysfs().reset_pfs(&[], false).unwrap().is_empty());
}

// ---------------------------------------------------------------- bind: restore

/// A VF of an X710 bound to iavf, its override set to `previous` (as the
/// kernel shows it) first.
fn bound_vf(previous: &str) -> (Host, PciAddress) {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(2))
        .build()
        .unwrap();
    let vf = host.sysfs().vf(&pf, 0).unwrap().address;
    fs::write(
        dev_file(&host, &vf, "driver_override"),
        format!("{previous}\n"),
    )
    .unwrap();
    (host, vf)
}

/// Puts a directory where the attribute file `rel` is: opening it for writing
/// fails (also for root, which permission bits would not stop).
fn break_attr(host: &Host, rel: &str) {
    host.remove(rel).unwrap();
    fs::create_dir(host.root().join(rel)).unwrap();
}

#[test]
fn a_failed_unbind_puts_the_previous_override_back() {
    for (previous, restored) in [("(null)", "\n"), ("iavf", "iavf\n")] {
        let (host, vf) = bound_vf(previous);
        break_attr(&host, "sys/bus/pci/drivers/iavf/unbind");
        let e = host
            .sysfs()
            .bind_driver(&vf, &DriverTarget::VfioPci, false)
            .unwrap_err();
        assert!(
            matches!(&e, Error::Io { path, .. } if path.ends_with("drivers/iavf/unbind")),
            "{e}"
        );
        assert_eq!(raw(&host, &vf, "driver_override"), restored, "{previous}");
        assert_eq!(host.read("sys/bus/pci/drivers_probe").unwrap(), "");
    }
    // Without the unbind attribute at all (a driver still registering that
    // never finishes, or one that allows no manual unbinding): the same,
    // once the bounded wait for the file is over.
    let (host, vf) = bound_vf("(null)");
    host.remove("sys/bus/pci/drivers/iavf/unbind").unwrap();
    let e = host
        .sysfs()
        .with_unbind_file_wait(std::time::Duration::from_millis(50))
        .bind_driver(&vf, &DriverTarget::VfioPci, false)
        .unwrap_err();
    assert!(
        matches!(&e, Error::UnbindFileMissing { path, .. } if path.ends_with("drivers/iavf/unbind")),
        "{e}"
    );
    assert_eq!(raw(&host, &vf, "driver_override"), "\n");
}

#[test]
fn a_failed_probe_puts_the_previous_override_back() {
    let (host, vf) = bound_vf("igbvf");
    host.set_driver(&vf, None).unwrap();
    break_attr(&host, "sys/bus/pci/drivers_probe");
    let e = host
        .sysfs()
        .bind_driver(&vf, &DriverTarget::VfioPci, false)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path.ends_with("drivers_probe")),
        "{e}"
    );
    assert_eq!(raw(&host, &vf, "driver_override"), "igbvf\n");
    // Nothing was bound, so nothing was unbound.
    assert_eq!(host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(), "");
}

#[test]
fn a_bind_that_does_not_take_puts_the_previous_override_back() {
    // The fixture has no kernel to rebind: after the probe the VF is still on
    // iavf, so the bind failed; it must not stay pinned to vfio-pci.
    let (host, vf) = bound_vf("iavf");
    let e = host
        .sysfs()
        .bind_driver(&vf, &DriverTarget::VfioPci, false)
        .unwrap_err();
    assert!(matches!(e, Error::BindFailed { .. }), "{e}");
    assert_eq!(raw(&host, &vf, "driver_override"), "iavf\n");
    assert_eq!(
        host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(),
        vf.to_string()
    );
}

/// Puts a FIFO at `rel` in place of an attribute file: every open of it then
/// blocks until the other side opens it too, so a test thread can step through
/// the crate's accesses one by one.
fn fifo(host: &Host, rel: &str) -> PathBuf {
    let path = host.root().join(rel);
    host.remove(rel).unwrap();
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    path
}

// The rebind-meanwhile cases (the unbind goes to the driver bound at that
// moment; no unbind when the wanted driver was bound meanwhile) are unit tests
// in src/bind.rs: they stepped through the crate's reads with a FIFO at
// driver_override, which the crate now refuses to read, as it refuses every
// attribute that is not a regular file.

#[test]
fn fixture_set_driver_moves_both_links() {
    let (host, vf) = bound_vf("(null)");
    let sysfs = host.sysfs();
    host.set_driver(&vf, Some("ixgbevf")).unwrap();
    assert_eq!(sysfs.driver_of(&vf).unwrap().as_deref(), Some("ixgbevf"));
    assert!(fs::symlink_metadata(
        host.root()
            .join(format!("sys/bus/pci/drivers/ixgbevf/{vf}"))
    )
    .is_ok());
    assert!(
        fs::symlink_metadata(host.root().join(format!("sys/bus/pci/drivers/iavf/{vf}"))).is_err()
    );
    assert_eq!(host.read("sys/bus/pci/drivers/ixgbevf/unbind").unwrap(), "");
    host.set_driver(&vf, None).unwrap();
    assert_eq!(sysfs.driver_of(&vf).unwrap(), None);
    assert!(host.set_driver(&vf, Some("../x")).is_err());
}

#[test]
fn a_failed_restore_is_reported_with_the_first_error() {
    // The bind fails at the probe, and by then the override cannot be written
    // either (another tool broke it while the unbind was under way): both are
    // reported, nothing is swallowed.
    let (host, vf) = bound_vf("(null)");
    break_attr(&host, "sys/bus/pci/drivers_probe");
    let over = dev_file(&host, &vf, "driver_override");
    // The unbind is a FIFO: the crate's write waits for this thread, which first
    // turns the override into a directory.
    let unbind = fifo(&host, "sys/bus/pci/drivers/iavf/unbind");
    let (e, unbound) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            // Wait for the override to be written before breaking it.
            let t = Instant::now();
            while fs::read_to_string(&over).unwrap_or_default() != "vfio-pci\n" {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "override never written"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            fs::remove_file(&over).unwrap();
            fs::create_dir(&over).unwrap();
            fs::read_to_string(&unbind).unwrap()
        });
        let e = host
            .sysfs()
            .bind_driver(&vf, &DriverTarget::VfioPci, false)
            .unwrap_err();
        (e, other.join().unwrap())
    });
    assert_eq!(unbound, vf.to_string());
    match &e {
        Error::OverrideNotRestored {
            address,
            path,
            previous,
            bind_error,
            source,
        } => {
            assert_eq!(*address, vf);
            assert_eq!(path, &over);
            assert_eq!(*previous, None);
            assert!(
                matches!(&**bind_error, Error::Io { path, .. } if path.ends_with("drivers_probe")),
                "{bind_error}"
            );
            assert!(matches!(**source, Error::Io { .. }), "{source}");
        }
        other => panic!("{other}"),
    }
    let m = e.to_string();
    assert!(
        m.contains("drivers_probe")
            && m.contains(&vf.to_string())
            && m.contains(&format!("echo > {}", over.display())),
        "{m}"
    );
}
