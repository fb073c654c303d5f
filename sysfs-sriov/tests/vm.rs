//! Real-kernel tests: need the VM test bed's igb PF (`testbed/vm/run --lib`).
//!
//! They read `SRIOV_TESTBED_PF` (the PF netdev, `eth0` in the guest) and skip loudly
//! without it. They assume root, the QEMU igb PF (totalvfs 7, offset 128, stride 2),
//! no udev and 0 VFs at the start, and leave 0 VFs at the end (also on failure, via
//! a drop guard). Run them with `--test-threads=1`; a mutex serialises them anyway.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use sysfs_sriov::{
    CountDone, CountOptions, DriverTarget, Error, NumVfsOutcome, PciAddress, Pf, Sysfs, Vf,
};

static SERIAL: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_secs(60);

/// The test bed's PF, or a loud skip.
struct Bed {
    sysfs: Sysfs,
    pf: Pf,
    _serial: MutexGuard<'static, ()>,
}

impl Bed {
    fn new(test: &str) -> Option<Self> {
        let Ok(name) = std::env::var("SRIOV_TESTBED_PF") else {
            eprintln!(
                "SKIPPED {test}: needs the VM test bed (testbed/vm/run --lib), \
                 SRIOV_TESTBED_PF is not set"
            );
            return None;
        };
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED {test}: needs root (SRIOV_TESTBED_PF={name})");
            return None;
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let sysfs = Sysfs::new();
        let pf = sysfs.find_pf(&name).unwrap();
        assert_eq!(pf.sriov.num_vfs, 0, "the test bed starts without VFs");
        Some(Self {
            sysfs,
            pf,
            _serial: serial,
        })
    }

    fn addr(&self) -> PciAddress {
        self.pf.address
    }

    fn numvfs_path(&self) -> std::path::PathBuf {
        let pf = self.addr();
        self.sysfs
            .root()
            .join(format!("sys/bus/pci/devices/{pf}/sriov_numvfs"))
    }

    fn autoprobe_raw(&self) -> String {
        let pf = self.addr();
        std::fs::read_to_string(
            self.sysfs
                .root()
                .join(format!("sys/bus/pci/devices/{pf}/sriov_drivers_autoprobe")),
        )
        .unwrap()
        .trim()
        .to_string()
    }

    fn num_vfs(&self) -> u16 {
        self.sysfs.sriov_info(&self.addr()).unwrap().num_vfs
    }

    fn create(&self, n: u16) -> Vec<Vf> {
        self.sysfs.set_num_vfs(&self.addr(), n, false).unwrap();
        self.sysfs
            .wait_for_vfs(&self.addr(), n, WAIT, &mut |_| {})
            .unwrap()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Leave the PF as found, whatever the test did: autoprobe on (the test
        // bed's default, asserted at the start of the tests that change it), 0 VFs.
        if let Err(e) = self.sysfs.set_drivers_autoprobe(&self.pf.address, true) {
            eprintln!(
                "cleanup: could not turn sriov_drivers_autoprobe of {} back on: {e}",
                self.pf.address
            );
        }
        if let Err(e) = self.sysfs.set_num_vfs(&self.pf.address, 0, true) {
            eprintln!("cleanup: could not reset VFs of {}: {e}", self.pf.address);
        }
    }
}

/// Sets `IFF_UP` on `name` with `SIOCSIFFLAGS` (test setup; the library never
/// changes links).
fn set_link_up(name: &str, up: bool) {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: fd is an open socket, ifr a valid ifreq with a NUL-terminated name
    // (the name is at most 15 bytes, the array 16, zero-initialised).
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) };
    assert_eq!(rc, 0, "SIOCGIFFLAGS {name}");
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    let up_flag = libc::IFF_UP as libc::c_short;
    ifr.ifr_ifru.ifru_flags = if up {
        flags | up_flag
    } else {
        flags & !up_flag
    };
    // SAFETY: as above; SIOCSIFFLAGS reads the flags member.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) };
    assert_eq!(rc, 0, "SIOCSIFFLAGS {name}");
}

#[test]
fn igb_pf_is_discovered_with_its_sriov_facts() {
    let Some(bed) = Bed::new("igb_pf_is_discovered_with_its_sriov_facts") else {
        return;
    };
    let pf = &bed.pf;
    assert_eq!((pf.vendor_id, pf.device_id), (0x8086, 0x10c9));
    assert_eq!(pf.driver.as_deref(), Some("igb"));
    let s = pf.sriov;
    assert_eq!(
        (s.total_vfs, s.offset, s.stride, s.vf_device),
        (7, 128, 2, 0x10ca)
    );
    assert!(s.drivers_autoprobe);
    assert!(bed
        .sysfs
        .pfs()
        .unwrap()
        .iter()
        .any(|p| p.address == pf.address));
    assert_eq!(&bed.sysfs.find_pf(&pf.address.to_string()).unwrap(), pf);
    assert!(!bed.sysfs.udev_running(), "the test bed has no udev");
    // Every PCI device has subsystem ids in sysfs; the PF's netdev is listed.
    assert!(pf.subsystem.is_some(), "{pf:?}");
    let names = bed.sysfs.interface_names().unwrap();
    for n in &pf.netdevs {
        assert!(names.contains(n), "{n} in {names:?}");
    }
}

#[test]
fn seven_vfs_match_predictions_and_wait_returns_with_netdevs() {
    let Some(bed) = Bed::new("seven_vfs_match_predictions_and_wait_returns_with_netdevs") else {
        return;
    };
    let pf = bed.addr();
    let predicted: Vec<PciAddress> = (0..7).map(|i| bed.pf.vf_address(i).unwrap()).collect();
    let out = bed.sysfs.set_num_vfs(&pf, 7, false).unwrap();
    assert_eq!(out, NumVfsOutcome::Changed { from: 0, to: 7 });
    let mut reports = 0;
    let vfs = bed
        .sysfs
        .wait_for_vfs(&pf, 7, WAIT, &mut |p| {
            reports += 1;
            eprintln!(
                "wait: {}/{} present, {} ready",
                p.present, p.expected, p.ready
            );
        })
        .unwrap();
    assert!(reports >= 1);
    assert_eq!(vfs.len(), 7);
    let got: Vec<PciAddress> = vfs.iter().map(|v| v.address).collect();
    assert_eq!(
        got, predicted,
        "virtfn links equal offset/stride predictions"
    );
    for vf in &vfs {
        assert_eq!(vf.driver.as_deref(), Some("igbvf"));
        assert_eq!(vf.netdevs.len(), 1, "VF {} has its netdev", vf.index);
        assert_eq!((vf.vendor_id, vf.device_id), (0x8086, 0x10ca));
        assert!(vf.subsystem.is_some(), "VF {} subsystem ids", vf.index);
        assert_eq!(bed.sysfs.vf_to_pf(&vf.address).unwrap(), pf);
        let nd = bed.sysfs.netdev(&vf.netdevs[0]).unwrap();
        assert_eq!(nd.device, Some(vf.address));
        // vm-testbed.md: without udev the kernel's enumerated name stays.
        assert_eq!(nd.name_assign_type, Some(1));
        assert_eq!(nd.udev_processed, None);
    }
    // Same count again: no write, no change.
    let out = bed.sysfs.set_num_vfs(&pf, 7, false).unwrap();
    assert_eq!(out, NumVfsOutcome::Unchanged { num_vfs: 7 });
}

#[test]
fn nonzero_to_nonzero_is_refused_then_done_with_allow_recreate() {
    let Some(bed) = Bed::new("nonzero_to_nonzero_is_refused_then_done_with_allow_recreate") else {
        return;
    };
    let pf = bed.addr();
    bed.create(2);
    // The kernel itself answers EBUSY here: the rule is real.
    let raw = std::fs::write(format!("/sys/bus/pci/devices/{pf}/sriov_numvfs"), "4").unwrap_err();
    assert_eq!(raw.raw_os_error(), Some(libc::EBUSY));

    let e = bed.sysfs.set_num_vfs(&pf, 4, false).unwrap_err();
    match &e {
        Error::RecreateRefused {
            from,
            to,
            casualties,
            ..
        } => {
            assert_eq!((*from, *to), (2, 4));
            assert_eq!(casualties.len(), 2);
        }
        other => panic!("{other}"),
    }
    assert_eq!(bed.num_vfs(), 2, "refused: nothing written");

    let out = bed.sysfs.set_num_vfs(&pf, 4, true).unwrap();
    assert_eq!(out, NumVfsOutcome::Changed { from: 2, to: 4 });
    assert_eq!(bed.num_vfs(), 4);
    let vfs = bed.sysfs.wait_for_vfs(&pf, 4, WAIT, &mut |_| {}).unwrap();
    assert_eq!(vfs.len(), 4);
}

#[test]
fn above_totalvfs_is_erange_typed_before_writing() {
    let Some(bed) = Bed::new("above_totalvfs_is_erange_typed_before_writing") else {
        return;
    };
    let pf = bed.addr();
    let e = bed.sysfs.set_num_vfs(&pf, 8, false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NumVfsOutOfRange {
                requested: 8,
                total: 7,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(bed.num_vfs(), 0);
    // What the kernel would have said.
    let raw = std::fs::write(bed.numvfs_path(), "8").unwrap_err();
    assert_eq!(raw.raw_os_error(), Some(libc::ERANGE));
}

#[test]
fn vf_binds_to_vfio_pci_and_back() {
    let Some(bed) = Bed::new("vf_binds_to_vfio_pci_and_back") else {
        return;
    };
    let pf = bed.addr();
    let vfs = bed.create(2);
    let vf = &vfs[1];
    if vf.iommu_group.is_none() {
        eprintln!("NOTE: no IOMMU in this boot; vfio-pci cannot bind, binding not checked");
        return;
    }
    let out = bed
        .sysfs
        .bind_driver(&vf.address, &DriverTarget::VfioPci, false)
        .unwrap();
    assert_eq!(out.before.as_deref(), Some("igbvf"));
    assert_eq!(out.after.as_deref(), Some("vfio-pci"));
    assert!(out.changed);
    let now = bed.sysfs.vf(&pf, 1).unwrap();
    assert!(now.netdevs.is_empty());
    let g = now.iommu_group.unwrap();
    assert_eq!(
        now.vfio_dev,
        Some(bed.sysfs.root().join(format!("dev/vfio/{g}")))
    );
    // Idempotent.
    let again = bed
        .sysfs
        .bind_driver(&vf.address, &DriverTarget::VfioPci, false)
        .unwrap();
    assert!(!again.changed);
    // A re-create would destroy a passthrough VF: say so.
    let impact = bed.sysfs.recreate_impact(&pf).unwrap();
    assert!(!impact[1].reasons.is_empty());

    let back = bed
        .sysfs
        .bind_driver(&vf.address, &DriverTarget::Default, false)
        .unwrap();
    assert_eq!(back.after.as_deref(), Some("igbvf"));
    let vfs = bed.sysfs.wait_for_vfs(&pf, 2, WAIT, &mut |_| {}).unwrap();
    assert_eq!(vfs[1].netdevs.len(), 1, "netdev is back");
    assert_eq!(vfs[1].driver_override, None);
}

#[test]
fn unbinding_a_vf_whose_netdev_is_up_needs_force() {
    let Some(bed) = Bed::new("unbinding_a_vf_whose_netdev_is_up_needs_force") else {
        return;
    };
    let pf = bed.addr();
    let vfs = bed.create(1);
    let name = vfs[0].netdevs[0].clone();
    set_link_up(&name, true);
    assert!(bed.sysfs.netdev(&name).unwrap().up);
    let e = bed
        .sysfs
        .bind_driver(&vfs[0].address, &DriverTarget::VfioPci, false)
        .unwrap_err();
    assert!(matches!(e, Error::UnbindRefused { .. }), "{e}");
    assert_eq!(
        bed.sysfs.vf(&pf, 0).unwrap().driver.as_deref(),
        Some("igbvf")
    );
    let impact = bed.sysfs.recreate_impact(&pf).unwrap();
    assert!(
        impact[0]
            .reasons
            .iter()
            .any(|r| r.to_string().contains("is up")),
        "{impact:?}"
    );
    set_link_up(&name, false);
}

#[test]
fn reloading_a_vf_driver_brings_its_netdev_back_and_refuses_a_busy_one() {
    let Some(bed) = Bed::new("reloading_a_vf_driver_brings_its_netdev_back_and_refuses_a_busy_one")
    else {
        return;
    };
    let pf = bed.addr();
    let vfs = bed.create(1);
    let name = vfs[0].netdevs[0].clone();
    set_link_up(&name, true);
    let e = bed.sysfs.reload_driver(&vfs[0].address, false).unwrap_err();
    assert!(matches!(e, Error::UnbindRefused { .. }), "{e}");
    assert_eq!(
        bed.sysfs.vf(&pf, 0).unwrap().netdevs,
        vec![name.clone()],
        "refused before anything was written"
    );
    set_link_up(&name, false);
    let out = bed.sysfs.reload_driver(&vfs[0].address, false).unwrap();
    assert_eq!(out.before.as_deref(), Some("igbvf"));
    assert_eq!(out.after.as_deref(), Some("igbvf"));
    assert!(out.changed);
    let back = bed.sysfs.wait_for_vfs(&pf, 1, WAIT, &mut |_| {}).unwrap();
    assert_eq!(back[0].netdevs.len(), 1, "a netdev again: {back:?}");
    assert_eq!(back[0].driver_override, None, "no override left behind");
}

#[test]
fn deferred_probe_creates_vfs_without_drivers_then_probe_vfs_binds_them() {
    let Some(bed) =
        Bed::new("deferred_probe_creates_vfs_without_drivers_then_probe_vfs_binds_them")
    else {
        return;
    };
    let pf = bed.addr();
    assert!(bed.sysfs.sriov_info(&pf).unwrap().drivers_autoprobe);
    let opts = CountOptions {
        allow_recreate: false,
        defer_probe: true,
    };
    let done = bed.sysfs.write_count(&pf, 3, opts).unwrap();
    assert_eq!(
        done,
        CountDone {
            outcome: NumVfsOutcome::Changed { from: 0, to: 3 },
            probe_deferred: true,
        }
    );
    // Back to what it was.
    assert_eq!(bed.autoprobe_raw(), "1");
    // The write is synchronous: the VF devices exist, and the PCI core probed
    // none of them (pci_device_can_probe() saw the flag off when they were added).
    let vfs = bed.sysfs.vfs(&pf).unwrap();
    assert_eq!(vfs.len(), 3);
    for vf in &vfs {
        assert_eq!(vf.driver, None, "VF {} has no driver yet", vf.index);
        assert!(vf.netdevs.is_empty(), "VF {}", vf.index);
    }
    let addrs: Vec<PciAddress> = vfs.iter().map(|v| v.address).collect();
    let probed = bed.sysfs.probe_vfs(&addrs, 8);
    assert_eq!(probed.len(), 3);
    for (a, t) in addrs.iter().zip(&probed) {
        let out = t.value.as_ref().unwrap();
        assert_eq!(out.address, *a);
        assert_eq!(out.before, None);
        assert_eq!(out.after.as_deref(), Some("igbvf"), "{a}");
        eprintln!("probe {a}: {:?}", t.took);
    }
    let vfs = bed.sysfs.wait_for_vfs(&pf, 3, WAIT, &mut |_| {}).unwrap();
    for vf in &vfs {
        assert_eq!(vf.driver.as_deref(), Some("igbvf"));
        assert_eq!(vf.netdevs.len(), 1, "VF {} has its netdev", vf.index);
        assert_eq!(vf.driver_override, None, "no override left behind");
    }

    // Nothing in use (netdevs down, no addresses): a reset needs no permission.
    let imp = bed.sysfs.reset_impact(&[pf, pf]).unwrap();
    assert_eq!(imp.len(), 1);
    assert_eq!((imp[0].num_vfs, imp[0].casualties.len()), (3, 3));
    assert_eq!(imp[0].in_use().count(), 0, "{imp:?}");
    let got = bed.sysfs.reset_pfs(&[pf], false).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, pf);
    assert_eq!(
        *got[0].1.value.as_ref().unwrap(),
        NumVfsOutcome::Changed { from: 3, to: 0 }
    );
    assert_eq!(bed.num_vfs(), 0);
    // 0 VFs: not written again.
    let got = bed.sysfs.reset_pfs(&[pf], false).unwrap();
    assert_eq!(
        *got[0].1.value.as_ref().unwrap(),
        NumVfsOutcome::Unchanged { num_vfs: 0 }
    );
}

#[test]
fn deferred_probe_leaves_an_autoprobe_that_was_off_off() {
    let Some(bed) = Bed::new("deferred_probe_leaves_an_autoprobe_that_was_off_off") else {
        return;
    };
    let pf = bed.addr();
    bed.sysfs.set_drivers_autoprobe(&pf, false).unwrap();
    let opts = CountOptions {
        allow_recreate: false,
        defer_probe: true,
    };
    let done = bed.sysfs.write_count(&pf, 2, opts).unwrap();
    assert_eq!(done.outcome, NumVfsOutcome::Changed { from: 0, to: 2 });
    assert!(!done.probe_deferred, "off already: nothing was deferred");
    assert_eq!(bed.autoprobe_raw(), "0");
    let vfs = bed.sysfs.vfs(&pf).unwrap();
    assert!(vfs.iter().all(|v| v.driver.is_none()), "{vfs:?}");
    // A count write the kernel refuses (ERANGE, checked before writing) with
    // autoprobe on: it is still turned back on.
    bed.sysfs.set_drivers_autoprobe(&pf, true).unwrap();
    let e = bed.sysfs.write_count(&pf, 8, opts).unwrap_err();
    assert!(matches!(e, Error::NumVfsOutOfRange { .. }), "{e}");
    assert_eq!(bed.autoprobe_raw(), "1");
    assert_eq!(bed.num_vfs(), 2);
    // The Bed's drop resets to 0 VFs.
}

#[test]
fn reset_is_refused_while_a_vf_is_bound_to_vfio_pci() {
    let test = "reset_is_refused_while_a_vf_is_bound_to_vfio_pci";
    let Some(bed) = Bed::new(test) else {
        return;
    };
    let pf = bed.addr();
    if !bed
        .sysfs
        .root()
        .join("sys/bus/pci/drivers/vfio-pci")
        .exists()
    {
        eprintln!("SKIPPED {test}: vfio-pci is not loaded in this guest (modprobe vfio-pci)");
        return;
    }
    let vfs = bed.create(2);
    if vfs[1].iommu_group.is_none() {
        eprintln!("SKIPPED {test}: no IOMMU in this boot; vfio-pci cannot bind");
        return;
    }
    let out = bed
        .sysfs
        .bind_driver(&vfs[1].address, &DriverTarget::VfioPci, false)
        .unwrap();
    assert_eq!(out.after.as_deref(), Some("vfio-pci"));

    let imp = bed.sysfs.reset_impact(&[pf]).unwrap();
    let in_use: Vec<u32> = imp[0].in_use().map(|c| c.index).collect();
    assert_eq!(in_use, [1], "{imp:?}");

    // A PF given twice counts once; refused, nothing written.
    let e = bed.sysfs.reset_pfs(&[pf, pf], false).unwrap_err();
    let Error::ResetRefused { pfs } = &e else {
        panic!("{e}");
    };
    assert_eq!(pfs.len(), 1);
    assert_eq!((pfs[0].pf, pfs[0].num_vfs), (pf, 2));
    let m = e.to_string();
    assert!(
        m.contains(&format!("VF 1 ({}): bound to vfio-pci", vfs[1].address))
            && m.contains("allow_in_use"),
        "{m}"
    );
    assert_eq!(bed.num_vfs(), 2, "refused: nothing written");
    assert_eq!(
        bed.sysfs.driver_of(&vfs[1].address).unwrap().as_deref(),
        Some("vfio-pci")
    );

    // Allowed: the kernel removes both VFs, the vfio-pci one too (no VM holds it).
    let got = bed.sysfs.reset_pfs(&[pf, pf], true).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        *got[0].1.value.as_ref().unwrap(),
        NumVfsOutcome::Changed { from: 2, to: 0 }
    );
    assert_eq!(bed.num_vfs(), 0);
}

#[test]
fn readiness_of_the_igb_pf_reads_its_vf_bars_ari_and_buses() {
    let Some(bed) = Bed::new("readiness_of_the_igb_pf_reads_its_vf_bars_ari_and_buses") else {
        return;
    };
    // Verified in a QEMU 10 / Linux 6.1 guest like the test bed's: igb's
    // capability offers 8 VFs (the VF BAR regions are sized for 8), igb allows
    // 7; VF BAR0 and BAR3 of 16 KiB each, assigned in the root port's window;
    // the port forwards ARI (VF 0 is at device 16); bus 01 only.
    let r = bed.sysfs.sriov_readiness(&bed.addr()).unwrap();
    assert!(r.is_ready(), "{:?}", r.findings);
    assert!(r.unknowns().is_empty(), "as root: {:?}", r.unknowns());
    assert_eq!((r.total_vfs, r.hw_total_vfs), (Some(7), Some(8)));
    let sysfs_sriov::VfBarsReading::Read { bars, reset, .. } = &r.vf_bars else {
        panic!("{:?}", r.vf_bars);
    };
    assert!(reset.is_empty());
    let got: Vec<(u8, Option<u64>, bool)> =
        bars.iter().map(|b| (b.bar, b.per_vf, b.assigned)).collect();
    assert_eq!(got, [(0, Some(0x4000), true), (3, Some(0x4000), true)]);
    assert!(
        matches!(r.ari, sysfs_sriov::AriReading::Enabled { .. }),
        "{:?}",
        r.ari
    );
    assert!(
        matches!(r.bus_range, sysfs_sriov::BusRangeReading::Fits { .. }),
        "{:?}",
        r.bus_range
    );
    // (Every count write in these tests is read back by set_num_vfs now.)
}
