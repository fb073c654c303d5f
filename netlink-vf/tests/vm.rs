//! Real SR-IOV tests against the igb PF of the VM test bed (QEMU igb, see
//! ../shared/vm-testbed.md and `testbed/`). They read the PF netdev name from
//! `SRIOV_TESTBED_PF`; without it they print a loud SKIPPED line and pass.
//!
//! Assumes root, an igb PF with totalvfs 7, no udev, `sriov_numvfs` 0 at the
//! start; every test puts it back to 0. Run with `--test-threads=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use netlink_vf::{
    Error, Handle, IfName, LinkEvent, LinkEvents, LinkState, MacAddr, Request, VfAttr, VfConfig,
    VlanConfig, VlanId, VlanProto,
};

fn testbed_pf() -> Option<String> {
    match std::env::var("SRIOV_TESTBED_PF") {
        Ok(pf) if !pf.is_empty() => Some(pf),
        _ => {
            eprintln!(
                "\n*** SKIPPED netlink-vf VM test (needs the VM test bed: testbed/vm/run ...; \
                 set SRIOV_TESTBED_PF to the igb PF netdev) ***\n"
            );
            None
        }
    }
}

/// Writes `sriov_numvfs` through sysfs (the PF's `device` link) and puts it
/// back to 0 on drop, even when the test fails.
struct NumVfs {
    path: std::path::PathBuf,
}

impl NumVfs {
    fn set(pf: &str, n: u32) -> NumVfs {
        let path = std::path::PathBuf::from(format!("/sys/class/net/{pf}/device/sriov_numvfs"));
        let cur: u32 = std::fs::read_to_string(&path)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if cur != 0 {
            std::fs::write(&path, "0").unwrap();
        }
        std::fs::write(&path, n.to_string()).unwrap();
        NumVfs { path }
    }
}

impl Drop for NumVfs {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, "0");
    }
}

fn vlan(id: u16) -> VlanConfig {
    VlanConfig::new(VlanId::new(id).unwrap())
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// Brings the PF up and waits for carrier (igb's watchdog reports link after
/// a moment); max_tx_rate needs the PF link up at 1000 Mbit/s.
fn pf_up(h: &mut Handle, pf: u32) {
    h.set_up(pf, true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if h.link_by_index(pf).unwrap().lower_up {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("PF link did not come up");
}

#[test]
fn vf_table_set_and_read_back() {
    let Some(pf_name) = testbed_pf() else { return };
    let mut h = Handle::new().unwrap();
    let pf = h.index_of(&IfName::new(&pf_name).unwrap()).unwrap();
    let _vfs = NumVfs::set(&pf_name, 3);
    let l = h.link_with_vfs(pf, false).unwrap();
    assert_eq!(l.num_vfs, Some(3));
    assert_eq!(l.vfs.as_ref().unwrap().len(), 3);
    pf_up(&mut h, pf);

    let report = h
        .set_vfs(
            pf,
            &[
                VfConfig::new(0)
                    .vlan(vlan(10).qos("3".parse().unwrap()))
                    .mac(mac("02:00:00:00:10:00"))
                    .trust(true)
                    .spoofchk(false)
                    .max_tx_rate(100),
                VfConfig::new(1).vlan(vlan(20)).spoofchk(true).trust(false),
                VfConfig::new(2).mac(mac("02:00:00:00:10:02")),
            ],
        )
        .unwrap();
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.requests, 1, "all VFs in one RTM_SETLINK");

    let vfs = h.vfs(pf, false).unwrap();
    assert_eq!(vfs.len(), 3);
    let v0 = &vfs[0];
    assert_eq!(v0.index, 0);
    assert_eq!(v0.vlan, Some(VlanId::new(10).unwrap()));
    assert_eq!(v0.qos.map(|q| q.get()), Some(3));
    assert_eq!(v0.mac, Some(mac("02:00:00:00:10:00")));
    assert_eq!(v0.trust, Some(true));
    assert_eq!(v0.spoofchk, Some(false));
    assert_eq!(v0.max_tx_rate, Some(100));
    assert!(v0.stats.is_none(), "stats skipped without with_stats");
    assert_eq!(vfs[1].vlan, Some(VlanId::new(20).unwrap()));
    assert_eq!(vfs[1].spoofchk, Some(true));
    assert_eq!(vfs[1].trust, Some(false));
    assert_eq!(vfs[2].mac, Some(mac("02:00:00:00:10:02")));

    // clearing the VLAN (vlan 0) and the rate
    h.set_vf(
        pf,
        &VfConfig::new(0).vlan(VlanConfig::none()).max_tx_rate(0),
    )
    .unwrap();
    let v0 = &h.vfs(pf, false).unwrap()[0];
    assert_eq!(v0.vlan, None);
    assert_eq!(v0.max_tx_rate, Some(0));

    // per-VF stats when asked
    let with = h.vfs(pf, true).unwrap();
    assert!(with.iter().all(|v| v.stats.is_some()), "{with:#?}");
}

#[test]
fn mixed_request_isolates_each_rejection_and_applies_the_rest() {
    let Some(pf_name) = testbed_pf() else { return };
    let mut h = Handle::new().unwrap();
    let pf = h.index_of(&IfName::new(&pf_name).unwrap()).unwrap();
    let _vfs = NumVfs::set(&pf_name, 3);
    pf_up(&mut h, pf);

    let report = h
        .set_vfs(
            pf,
            &[
                // igb: link-state EOPNOTSUPP; the vlan must still apply
                VfConfig::new(0)
                    .link_state(LinkState::Disable)
                    .vlan(vlan(30)),
                // igb: min_tx_rate EINVAL, query_rss EOPNOTSUPP; trust applies
                VfConfig::new(1)
                    .trust(true)
                    .min_tx_rate(10)
                    .max_tx_rate(100)
                    .query_rss(true),
                // igb: 802.1ad EPROTONOSUPPORT; mac applies
                VfConfig::new(2)
                    .mac(mac("02:00:00:00:20:02"))
                    .vlan(vlan(40).proto(VlanProto::Dot1Ad)),
            ],
        )
        .unwrap();
    let failures: Vec<(u32, VfAttr, &Error)> = report.failures().collect();
    assert_eq!(failures.len(), 4, "{report:#?}");
    let find = |vf: u32, attr: VfAttr| {
        failures
            .iter()
            .find(|(v, a, _)| *v == vf && *a == attr)
            .map(|(_, _, e)| *e)
            .unwrap_or_else(|| panic!("no failure for vf {vf} {attr}: {report:#?}"))
    };
    assert!(matches!(find(0, VfAttr::LinkState), Error::NotSupported(_)));
    assert!(matches!(find(1, VfAttr::Rate), Error::InvalidArgument(_)));
    assert!(matches!(find(1, VfAttr::QueryRss), Error::NotSupported(_)));
    assert!(matches!(
        find(2, VfAttr::Vlan),
        Error::ProtocolNotSupported(_)
    ));
    assert!(find(2, VfAttr::Vlan).to_string().contains("vf 2"));
    assert_eq!(report.applied(), 3);

    let vfs = h.vfs(pf, false).unwrap();
    assert_eq!(vfs[0].vlan, Some(VlanId::new(30).unwrap()));
    assert_eq!(vfs[1].trust, Some(true));
    assert_eq!(vfs[2].mac, Some(mac("02:00:00:00:20:02")));

    // driver answers from vm-testbed.md
    let e = h
        .set_vf(pf, &VfConfig::new(0).mac(mac("01:00:5e:00:00:01")))
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(_)),
        "multicast MAC: {e:?}"
    );
    let e = h.set_vf(pf, &VfConfig::new(6).vlan(vlan(5))).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument(_)),
        "VF out of range: {e:?}"
    );
}

#[test]
fn new_vf_netdevs_arrive_as_events_and_can_be_renamed() {
    let Some(pf_name) = testbed_pf() else { return };
    let mut h = Handle::new().unwrap();
    let before: HashSet<u32> = h.links().unwrap().iter().map(|l| l.index).collect();
    let mut ev = LinkEvents::new().unwrap(); // subscribe before creating VFs
    let _vfs = NumVfs::set(&pf_name, 2);
    let e = ev
        .wait_for(
            Duration::from_secs(30),
            |e| matches!(e, LinkEvent::New(l) if !before.contains(&l.index)),
        )
        .unwrap();
    let vf_dev = e.link().index;

    let new_name = IfName::new("eth1lxc9999v050").unwrap();
    h.set_up(vf_dev, true).unwrap();
    // Kernels before 6.2 refuse to rename a running netdev; set_name then goes
    // down -> rename -> up. Pin which path this kernel takes.
    let direct = h.execute(Request::set_name(
        vf_dev,
        &IfName::new("vfdirect0").unwrap(),
    ));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    if (major, minor) < (6, 2) {
        assert!(
            matches!(direct, Err(Error::Busy(_))),
            "{release}: {direct:?}"
        );
        eprintln!(
            "kernel {}: live rename refused (EBUSY), set_name takes the down/up path",
            release.trim()
        );
    } else {
        direct.unwrap();
        eprintln!("kernel {}: live rename allowed", release.trim());
    }
    h.set_name(vf_dev, &new_name).unwrap();
    ev.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, LinkEvent::New(l) if l.index == vf_dev && l.name == new_name),
    )
    .unwrap();
    let l = h.link_by_index(vf_dev).unwrap();
    assert_eq!(l.name, new_name);
    assert!(l.up, "up state restored after rename");
    h.set_promisc(vf_dev, true).unwrap();
    assert!(h.link_by_index(vf_dev).unwrap().promisc);
}

#[test]
fn pf_driver_info_names_igb_and_its_pci_address() {
    let Some(pf) = testbed_pf() else { return };
    let info = netlink_vf::driver_info(&IfName::new(&pf).unwrap()).unwrap();
    assert_eq!(info.driver, "igb", "{info:?}");
    // bus_info is the PCI address the PF's `device` link points at.
    let dev = std::fs::read_link(format!("/sys/class/net/{pf}/device")).unwrap();
    assert_eq!(
        info.bus_info.as_deref(),
        dev.file_name().and_then(|n| n.to_str()),
        "{info:?}"
    );
    // igb always formats one from the NVM (igb_set_fw_version()).
    assert!(info.firmware_version.is_some(), "{info:?}");
}

/// The carrier watch on the real igb PF: subscribed before the PF is brought
/// up (from down), and before a VF count write resets its link; both times
/// the carrier comes back within the wait, as `sysfs`' carrier file says.
#[test]
fn carrier_watch_sees_the_pf_come_up_and_come_back_after_a_count_write() {
    let Some(pf) = testbed_pf() else { return };
    let mut h = Handle::new().unwrap();
    let idx = h.index_of(&IfName::new(&pf).unwrap()).unwrap();
    h.set_up(idx, false).unwrap();
    let watch = netlink_vf::CarrierWatch::new(&[idx]).unwrap();
    h.set_up(idx, true).unwrap();
    let seen = watch.wait(&mut h, Duration::from_secs(20)).unwrap();
    assert!(seen.all_back(), "PF {pf} did not come up: {seen:?}");
    let carrier = std::fs::read_to_string(format!("/sys/class/net/{pf}/carrier")).unwrap();
    assert_eq!(carrier.trim(), "1");
    let watch = netlink_vf::CarrierWatch::new(&[idx]).unwrap();
    let _vfs = NumVfs::set(&pf, 2);
    let seen = watch.wait(&mut h, Duration::from_secs(20)).unwrap();
    assert_eq!(seen.back, [idx], "{seen:?}");
}
