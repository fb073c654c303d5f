//! Every rule of the crate, checked on fixture trees (no hardware, no root).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use sysfs_sriov::fixture::{Host, HostBuilder, PfSpec, VfDriver};
use sysfs_sriov::{DriverTarget, Error, InUse, NumVfsOutcome, PciAddress, Sysfs, WaitingFor};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn x710_host(vfs: u16) -> (Host, PciAddress) {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .netdev("enp2s0f0")
            .vfs(vfs)
            .numa_node(0))
        .build()
        .unwrap();
    (host, pf)
}

/// The raw bytes of an attribute: the fixture writes "N\n", this crate writes "N",
/// so an unchanged newline proves nothing was written.
fn raw(host: &Host, pf: &PciAddress, file: &str) -> String {
    std::fs::read_to_string(host.root().join(format!("sys/bus/pci/devices/{pf}/{file}"))).unwrap()
}

// ---------------------------------------------------------------- discovery

#[test]
fn discovers_pfs_of_every_preset_sorted_with_names() {
    let host = HostBuilder::new()
        .pf(PfSpec::connectx5(addr("0000:3b:00.0")).netdev("ens1f0np0"))
        .pf(PfSpec::intel_x710(addr("0000:02:00.0"))
            .numa_node(1)
            .iommu_group(40))
        .pf(PfSpec::intel_82576(addr("0000:01:00.0")).netdev("eth0"))
        .build()
        .unwrap();
    let pfs = host.sysfs().pfs().unwrap();
    let got: Vec<String> = pfs.iter().map(|p| p.address.to_string()).collect();
    assert_eq!(got, ["0000:01:00.0", "0000:02:00.0", "0000:3b:00.0"]);

    let igb = &pfs[0];
    assert_eq!(igb.netdevs, ["eth0"]);
    assert_eq!(igb.driver.as_deref(), Some("igb"));
    assert_eq!((igb.vendor_id, igb.device_id), (0x8086, 0x10c9));
    assert_eq!(igb.vendor_name.as_deref(), Some("Intel Corporation"));
    assert_eq!(
        igb.device_name.as_deref(),
        Some("82576 Gigabit Network Connection")
    );
    assert_eq!(igb.numa_node, None, "-1 means no NUMA affinity");
    let s = igb.sriov;
    assert_eq!(
        (
            s.total_vfs,
            s.num_vfs,
            s.offset,
            s.stride,
            s.vf_device,
            s.drivers_autoprobe
        ),
        (7, 0, 128, 2, 0x10ca, true)
    );

    let x710 = &pfs[1];
    assert_eq!(x710.netdevs, ["enp2s0f0"], "systemd-style default name");
    assert_eq!(x710.numa_node, Some(1));
    assert_eq!(x710.iommu_group, Some(40));
    assert_eq!(
        x710.device_name.as_deref(),
        Some("Ethernet Controller X710 for 10GbE SFP+")
    );

    let cx5 = &pfs[2];
    assert_eq!(cx5.driver.as_deref(), Some("mlx5_core"));
    assert_eq!(cx5.vendor_name.as_deref(), Some("Mellanox Technologies"));
    assert_eq!(
        cx5.device_name.as_deref(),
        Some("MT27800 Family [ConnectX-5]")
    );
}

#[test]
fn find_pf_by_netdev_long_and_short_address() {
    let (host, pf) = x710_host(2);
    let sysfs = host.sysfs();
    for spec in ["enp2s0f0", "0000:02:00.0", "02:00.0"] {
        assert_eq!(sysfs.find_pf(spec).unwrap().address, pf, "{spec}");
    }
    assert_eq!(sysfs.pf_by_netdev("enp2s0f0").unwrap().address, pf);
    assert_eq!(sysfs.pf_by_address(&pf).unwrap().netdevs, ["enp2s0f0"]);
}

#[test]
fn find_pf_errors_name_what_is_missing() {
    let (host, _) = x710_host(1);
    let sysfs = host.sysfs();
    let e = sysfs.find_pf("eth9").unwrap_err();
    assert!(
        matches!(e, Error::NetdevNotFound { ref name, .. } if name == "eth9"),
        "{e}"
    );
    let e = sysfs.find_pf("0000:05:00.0").unwrap_err();
    assert!(matches!(e, Error::DeviceNotFound { .. }), "{e}");
    assert!(e.to_string().contains("0000:05:00.0"));

    // A VF's netdev is not a PF, and the error says which PF it belongs to.
    let e = sysfs.find_pf("enp2s0f0v0").unwrap_err();
    assert!(matches!(e, Error::NotSriovCapable { .. }), "{e}");
    assert!(e.to_string().contains("VF of 0000:02:00.0"), "{e}");

    // A netdev without a PCI device behind it (lo, bridges).
    std::fs::create_dir_all(host.root().join("sys/devices/virtual/net/lo")).unwrap();
    std::os::unix::fs::symlink(
        "../../devices/virtual/net/lo",
        host.root().join("sys/class/net/lo"),
    )
    .unwrap();
    let e = sysfs.find_pf("lo").unwrap_err();
    assert!(matches!(e, Error::NetdevNotPci { .. }), "{e}");
}

#[test]
fn names_that_could_escape_sysfs_are_rejected_before_any_path() {
    // The root does not even exist: any path built would give an I/O error
    // instead of InvalidName.
    let sysfs = Sysfs::with_root("/nonexistent-sysfs-sriov-root");
    for bad in [
        "..",
        "../../etc/passwd",
        "eth0/../../x",
        "a\0b",
        "way-too-long-name0",
        ".",
        "",
        "eth\t0",
    ] {
        let e = sysfs.find_pf(bad).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{bad:?}: {e}");
        let e = sysfs.netdev(bad).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{bad:?}: {e}");
    }
    // Not kernel interface names (netlink_vf::IfName refuses them) but safe path
    // components: looked up, and not found.
    for odd in ["eth 0", "eth0:1"] {
        let e = sysfs.netdev(odd).unwrap_err();
        assert!(matches!(e, Error::NetdevNotFound { .. }), "{odd:?}: {e}");
    }
    let pf = addr("0000:02:00.0");
    for bad in ["..", "../../../../tmp/x", "vfio-pci/../x", "a\0", ""] {
        let e = sysfs
            .bind_driver(&pf, &DriverTarget::Named(bad.to_string()), true)
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidName { kind: "driver", .. }),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn pf_without_driver_and_without_iommu() {
    let pf = addr("0000:04:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).no_driver())
        .no_iommu()
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let p = sysfs.pf_by_address(&pf).unwrap();
    assert_eq!(p.driver, None);
    assert!(p.netdevs.is_empty());
    assert_eq!(p.iommu_group, None);

    let e = sysfs.set_num_vfs(&pf, 4, false).unwrap_err();
    assert!(matches!(e, Error::NoDriver { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("0000:04:00.0") && msg.contains("sriov_numvfs"),
        "{msg}"
    );
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "0\n", "nothing written");
}

#[test]
fn autoprobe_is_read_and_set() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).autoprobe(false))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    assert!(!sysfs.sriov_info(&pf).unwrap().drivers_autoprobe);
    sysfs.set_drivers_autoprobe(&pf, true).unwrap();
    assert_eq!(host.read_attr(&pf, "sriov_drivers_autoprobe").unwrap(), "1");
    assert!(sysfs.sriov_info(&pf).unwrap().drivers_autoprobe);
    sysfs.set_drivers_autoprobe(&pf, false).unwrap();
    assert_eq!(host.read_attr(&pf, "sriov_drivers_autoprobe").unwrap(), "0");
}

#[test]
fn sriov_calls_on_a_non_sriov_device_fail_clearly() {
    let (host, pf) = x710_host(1);
    let sysfs = host.sysfs();
    let vf = sysfs.vf(&pf, 0).unwrap().address;
    for r in [
        sysfs.sriov_info(&vf).map(|_| ()),
        sysfs.set_num_vfs(&vf, 1, false).map(|_| ()),
        sysfs.set_drivers_autoprobe(&vf, true),
        sysfs.vfs(&vf).map(|_| ()),
    ] {
        assert!(matches!(r, Err(Error::NotSriovCapable { .. })), "{r:?}");
    }
    // The PF is not a VF either.
    assert!(matches!(sysfs.vf_to_pf(&pf), Err(Error::NotAVf { .. })));
}

// ---------------------------------------------------------------- VF count

#[test]
fn unchanged_count_writes_nothing() {
    let (host, pf) = x710_host(4);
    let out = host.sysfs().set_num_vfs(&pf, 4, false).unwrap();
    assert_eq!(out, NumVfsOutcome::Unchanged { num_vfs: 4 });
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "4\n");
}

#[test]
fn count_above_total_is_rejected_before_writing() {
    let (host, pf) = x710_host(0);
    let e = host.sysfs().set_num_vfs(&pf, 65, true).unwrap_err();
    match &e {
        Error::NumVfsOutOfRange {
            requested, total, ..
        } => assert_eq!((*requested, *total), (65, 64)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("at most 64"), "{e}");
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "0\n");
}

#[test]
fn zero_to_n_and_n_to_zero_write_the_count() {
    let (host, pf) = x710_host(0);
    let sysfs = host.sysfs();
    let out = sysfs.set_num_vfs(&pf, 8, false).unwrap();
    assert_eq!(out, NumVfsOutcome::Changed { from: 0, to: 8 });
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "8");

    let (host, pf) = x710_host(3);
    let out = host.sysfs().set_num_vfs(&pf, 0, false).unwrap();
    assert_eq!(out, NumVfsOutcome::Changed { from: 3, to: 0 });
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "0");
}

fn busy_host() -> (Host, PciAddress) {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .netdev("enp2s0f0")
            .vfs(5)
            .vf_driver_at(0, VfDriver::VfioPci)
            .vf_up(1)
            .vf_ipv6(2, "fd00::2".parse().unwrap())
            .vf_in_other_netns(3))
        .build()
        .unwrap();
    (host, pf)
}

#[test]
fn recreate_impact_lists_every_vf_and_what_is_in_use() {
    let (host, pf) = busy_host();
    let c = host.sysfs().recreate_impact(&pf).unwrap();
    assert_eq!(c.len(), 5);
    assert_eq!(
        c[0].reasons,
        [InUse::Passthrough {
            driver: "vfio-pci".into()
        }]
    );
    assert_eq!(
        c[1].reasons,
        [InUse::NetdevUp {
            netdev: "enp2s0f0v1".into()
        }]
    );
    assert_eq!(
        c[2].reasons,
        [InUse::HasAddresses {
            netdev: "enp2s0f0v2".into(),
            addresses: vec!["fd00::2".parse::<std::net::IpAddr>().unwrap()]
        }]
    );
    assert_eq!(
        c[3].reasons,
        [InUse::OtherNamespace {
            driver: "iavf".into()
        }]
    );
    assert!(c[4].reasons.is_empty());
    assert_eq!(c[4].netdevs, ["enp2s0f0v4"]);
    // The same from VFs the caller resolved itself.
    let vfs = host.sysfs().vfs(&pf).unwrap();
    assert_eq!(host.sysfs().impact_of(&vfs).unwrap(), c);
    assert!(host.sysfs().impact_of(&[]).unwrap().is_empty());
}

#[test]
fn nonzero_to_nonzero_is_refused_listing_casualties_and_writes_nothing() {
    let (host, pf) = busy_host();
    let e = host.sysfs().set_num_vfs(&pf, 8, false).unwrap_err();
    let msg = e.to_string();
    match e {
        Error::RecreateRefused {
            from,
            to,
            casualties,
            ..
        } => {
            assert_eq!((from, to), (5, 8));
            assert_eq!(casualties.len(), 5);
        }
        other => panic!("{other}"),
    }
    for part in [
        "0000:02:00.0",
        "from 5 to 8",
        "bound to vfio-pci",
        "enp2s0f0v1 is up",
        "fd00::2",
        "another network namespace",
        "allow_recreate",
    ] {
        assert!(msg.contains(part), "{part:?} missing in: {msg}");
    }
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "5\n");
}

#[test]
fn nonzero_to_nonzero_with_allow_recreate_goes_through_zero() {
    let (host, pf) = busy_host();
    let out = host.sysfs().set_num_vfs(&pf, 2, true).unwrap();
    assert_eq!(out, NumVfsOutcome::Changed { from: 5, to: 2 });
    // The fixture keeps only the last write; the VM test proves the 0 in between.
    assert_eq!(raw(&host, &pf, "sriov_numvfs"), "2");
}

#[test]
fn unreadable_or_odd_attributes_are_errors_not_panics() {
    let (host, pf) = x710_host(0);
    let f = host
        .root()
        .join(format!("sys/bus/pci/devices/{pf}/sriov_numvfs"));
    // /dev/zero never ends, and a FIFO would block until a writer comes:
    // only regular files are read (opened without blocking, checked after).
    std::fs::remove_file(&f).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
    let e = host.sysfs().set_num_vfs(&pf, 1, false).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(
        std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("not a regular file")),
        "{e:?}"
    );
    std::fs::remove_file(&f).unwrap();
    nix::unistd::mkfifo(&f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let t0 = std::time::Instant::now();
    let e = host.sysfs().pf_by_address(&pf).unwrap_err();
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(5),
        "blocked on the FIFO"
    );
    assert!(e.to_string().contains("sriov_numvfs"), "{e}");
    std::fs::remove_file(&f).unwrap();
    std::fs::write(&f, "many\n").unwrap();
    let e = host.sysfs().pf_by_address(&pf).unwrap_err();
    assert!(e.to_string().contains("sriov_numvfs"), "{e}");
    assert!(e.to_string().contains("(expected a decimal number)"), "{e}");
    // A regular file past the read limit is an error naming the limit.
    std::fs::write(&f, vec![b'1'; (1 << 20) + 1]).unwrap();
    let e = host.sysfs().pf_by_address(&pf).unwrap_err();
    assert!(
        std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("larger than 1 MiB")),
        "{e:?}"
    );
    // A number too large for the field says so, not "expected a decimal number".
    std::fs::write(&f, "0\n").unwrap();
    let t = host
        .root()
        .join(format!("sys/bus/pci/devices/{pf}/sriov_totalvfs"));
    std::fs::write(&t, "4294967295\n").unwrap();
    let e = host.sysfs().pf_by_address(&pf).unwrap_err();
    assert!(
        e.to_string().contains("\"4294967295\"") && e.to_string().contains("at most 65535"),
        "{e}"
    );
}

// ---------------------------------------------------------------- VFs

#[test]
fn vfs_resolve_from_virtfn_links_and_match_predictions() {
    let (host, pf) = x710_host(4);
    let sysfs = host.sysfs();
    let p = sysfs.pf_by_address(&pf).unwrap();
    let vfs = sysfs.vfs(&pf).unwrap();
    assert_eq!(vfs.len(), 4);
    let mut groups = std::collections::BTreeSet::new();
    for (i, vf) in vfs.iter().enumerate() {
        let i = u32::try_from(i).unwrap();
        assert_eq!(vf.index, i);
        assert_eq!(vf.pf, pf);
        assert_eq!(vf.address, p.vf_address(i).unwrap());
        assert_eq!(vf.netdevs, [format!("enp2s0f0v{i}")]);
        assert_eq!(vf.driver.as_deref(), Some("iavf"));
        assert_eq!((vf.vendor_id, vf.device_id), (0x8086, 0x154c));
        assert_eq!(
            vf.device_name.as_deref(),
            Some("Ethernet Virtual Function 700 Series")
        );
        assert_eq!(vf.vfio_dev, None);
        assert!(groups.insert(vf.iommu_group.unwrap()), "own group each");
        assert_ne!(vf.iommu_group, p.iommu_group);
        assert_eq!(sysfs.vf_to_pf(&vf.address).unwrap(), pf);
        assert_eq!(&sysfs.vf_by_address(&vf.address).unwrap(), vf);
        assert_eq!(&sysfs.vf(&pf, i).unwrap(), vf);
    }
    // X710: offset 16, stride 1 -> 02:02.0, 02:02.1, ...
    assert_eq!(vfs[0].address.to_string(), "0000:02:02.0");
    assert_eq!(vfs[3].address.to_string(), "0000:02:02.3");

    let e = sysfs.vf(&pf, 4).unwrap_err();
    assert!(
        matches!(
            e,
            Error::VfIndexOutOfRange {
                index: 4,
                limit: 4,
                ..
            }
        ),
        "{e}"
    );
    // Existing VFs come from virtfn links, others are predicted, up to totalvfs.
    assert_eq!(sysfs.vf_address(&pf, 3).unwrap(), vfs[3].address);
    assert_eq!(
        sysfs.vf_address(&pf, 10).unwrap().to_string(),
        "0000:02:03.2"
    );
    assert!(sysfs.vf_address(&pf, 64).is_err());
    let e = sysfs.find_pf("02:00.9").unwrap_err();
    assert!(matches!(e, Error::InvalidPciAddress { .. }), "{e}");
    // Predictions work for VFs that do not exist yet, up to totalvfs.
    assert_eq!(p.vf_address(63).unwrap().to_string(), "0000:02:09.7");
    assert!(matches!(
        p.vf_address(64),
        Err(Error::VfIndexOutOfRange { limit: 64, .. })
    ));
}

#[test]
fn igb_vfs_use_offset_128_stride_2() {
    let pf = addr("0000:01:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576(pf).netdev("eth0").vfs(7))
        .build()
        .unwrap();
    let vfs = host.sysfs().vfs(&pf).unwrap();
    let got: Vec<String> = vfs.iter().map(|v| v.address.to_string()).collect();
    assert_eq!(
        got,
        [
            "0000:01:10.0",
            "0000:01:10.2",
            "0000:01:10.4",
            "0000:01:10.6",
            "0000:01:11.0",
            "0000:01:11.2",
            "0000:01:11.4"
        ]
    );
    assert_eq!(vfs[0].driver.as_deref(), Some("igbvf"));
    assert_eq!(vfs[0].netdevs, ["eth0v0"]);
}

#[test]
fn vfio_bound_and_unbound_vfs() {
    let pf = addr("0000:3b:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::connectx5(pf)
            .vfs(3)
            .vf_driver(VfDriver::VfioPci)
            .vf_driver_at(2, VfDriver::None)
            .vf_netdev(1, "unused"))
        .build()
        .unwrap();
    let vfs = host.sysfs().vfs(&pf).unwrap();
    assert_eq!(vfs[0].driver.as_deref(), Some("vfio-pci"));
    assert!(vfs[0].netdevs.is_empty());
    let g = vfs[0].iommu_group.unwrap();
    assert_eq!(
        vfs[0].vfio_dev,
        Some(host.root().join(format!("dev/vfio/{g}")))
    );
    assert_eq!(vfs[2].driver, None);
    assert_eq!(vfs[2].vfio_dev, None);
    // ConnectX-5: offset 2 stride 1 from 3b:00.0.
    assert_eq!(vfs[0].address.to_string(), "0000:3b:00.2");
}

#[test]
fn scale_256_vfs_roll_over_to_the_next_bus() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).netdev("p0").total_vfs(256).vfs(256))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let p = sysfs.pf_by_address(&pf).unwrap();
    let vfs = sysfs.vfs(&pf).unwrap();
    assert_eq!(vfs.len(), 256);
    for vf in &vfs {
        assert_eq!(vf.address, p.vf_address(vf.index).unwrap());
        assert_eq!(sysfs.vf_to_pf(&vf.address).unwrap(), pf);
    }
    assert_eq!(vfs[239].address.to_string(), "0000:02:1f.7");
    assert_eq!(vfs[240].address.to_string(), "0000:03:00.0");
    assert_eq!(vfs[255].netdevs, ["p0v255"]);
    let start = Instant::now();
    let got = sysfs
        .wait_for_vfs(&pf, 256, Duration::from_secs(10), &mut |_| {})
        .unwrap();
    assert_eq!(got.len(), 256);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn scale_host_with_8_pfs() {
    let mut b = HostBuilder::new();
    for bus in 1..=8u8 {
        let a = PciAddress::new(0, bus, 0, 0).unwrap();
        b = b.pf(PfSpec::intel_x710(a).vfs(u16::from(bus) * 2));
    }
    let host = b.build().unwrap();
    let sysfs = host.sysfs();
    let pfs = sysfs.pfs().unwrap();
    assert_eq!(pfs.len(), 8);
    let mut all = std::collections::BTreeSet::new();
    for p in &pfs {
        let vfs = sysfs.vfs(&p.address).unwrap();
        assert_eq!(vfs.len(), usize::from(p.sriov.num_vfs));
        assert_eq!(p.netdevs, [format!("enp{}s0f0", p.address.bus())]);
        for vf in vfs {
            assert!(all.insert(vf.address));
        }
    }
    assert_eq!(all.len(), (1..=8).map(|b| b * 2).sum::<usize>());
    assert_eq!(
        sysfs.find_pf("enp7s0f0").unwrap().address.to_string(),
        "0000:07:00.0"
    );
}

/// Every PCI address on the host (PFs, and every VF a PF can have up to
/// `sriov_totalvfs`, predicted for those not created yet), asserting none repeats.
fn assert_no_shared_address(sysfs: &Sysfs) -> usize {
    let mut seen = std::collections::BTreeMap::new();
    let pfs = sysfs.pfs().unwrap();
    for p in &pfs {
        assert!(seen
            .insert(p.address, format!("PF {}", p.address))
            .is_none());
    }
    for p in &pfs {
        for vf in sysfs.vfs(&p.address).unwrap() {
            assert_eq!(vf.address, p.vf_address(vf.index).unwrap());
        }
        for i in 0..u32::from(p.sriov.total_vfs) {
            let a = p.vf_address(i).unwrap();
            if let Some(other) = seen.insert(a, format!("VF {i} of {}", p.address)) {
                panic!("VF {i} of {} shares {a} with {other}", p.address);
            }
        }
    }
    seen.len()
}

#[test]
fn multi_function_presets_give_every_vf_its_own_address() {
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(addr("0000:02:00.0")).vfs(64))
        .pf(PfSpec::intel_x710(addr("0000:02:00.1")).vfs(64))
        .pf(PfSpec::intel_82576(addr("0000:05:00.0")).vfs(7))
        .pf(PfSpec::intel_82576(addr("0000:05:00.1")).vfs(7))
        .pf(PfSpec::connectx5(addr("0000:3b:00.0")).vfs(16))
        .pf(PfSpec::connectx5(addr("0000:3b:00.1")).vfs(16))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    assert_eq!(assert_no_shared_address(&sysfs), 6 + 2 * (64 + 7 + 16));

    // What i40e reports on a dual-port X710: 16 on fn 0, 79 = 16 + 64 - 1 on fn 1.
    let port = |a: &str| sysfs.pf_by_address(&addr(a)).unwrap().sriov;
    assert_eq!(
        (port("0000:02:00.0").offset, port("0000:02:00.0").stride),
        (16, 1)
    );
    assert_eq!(
        (port("0000:02:00.1").offset, port("0000:02:00.1").stride),
        (79, 1)
    );
    let vf = |pf: &str, i| sysfs.vf(&addr(pf), i).unwrap().address.to_string();
    assert_eq!(vf("0000:02:00.0", 63), "0000:02:09.7");
    assert_eq!(vf("0000:02:00.1", 0), "0000:02:0a.0");
    // 82576 ports interleave (same offset and stride), mlx5 ports follow each other.
    assert_eq!(port("0000:05:00.1").offset, 128);
    assert_eq!(vf("0000:05:00.1", 0), "0000:05:10.1");
    assert_eq!(port("0000:3b:00.1").offset, 17);
    assert_eq!(vf("0000:3b:00.1", 0), "0000:3b:02.2");
}

#[test]
fn fixture_hosts_in_these_tests_never_share_an_address() {
    let (host, _) = x710_host(64);
    assert_no_shared_address(&host.sysfs());
    // Port 1 without VFs yet: its future VFs must not land on port 0's.
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(addr("0000:02:00.0")).vfs(64))
        .pf(PfSpec::intel_x710(addr("0000:02:00.1")))
        .build()
        .unwrap();
    assert_no_shared_address(&host.sysfs());
}

#[test]
fn builder_refuses_overlapping_vfs() {
    let err = HostBuilder::new()
        .pf(PfSpec::intel_x710(addr("0000:02:00.0")))
        .pf(PfSpec::intel_x710(addr("0000:02:00.1")).offset_stride(16, 1))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let msg = err.to_string();
    assert!(
        msg.contains("VF 0 of PF 0000:02:00.1 would be at 0000:02:02.1, which is already VF 1 of PF 0000:02:00.0"),
        "{msg}"
    );
    let err = HostBuilder::new()
        .pf(PfSpec::intel_x710(addr("0000:02:00.0")))
        .pf(PfSpec::intel_82576(addr("0000:02:00.0")))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("added twice"), "{err}");
}

// ---------------------------------------------------------------- waiting

#[test]
fn wait_returns_at_once_when_everything_is_there() {
    let (host, pf) = x710_host(4);
    let mut calls = Vec::new();
    let vfs = host
        .sysfs()
        .wait_for_vfs(&pf, 4, Duration::from_secs(5), &mut |p| {
            calls.push(p.clone())
        })
        .unwrap();
    assert_eq!(vfs.len(), 4);
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].present, calls[0].ready), (4, 4));
}

#[test]
fn wait_times_out_naming_the_missing_vfs() {
    let (host, pf) = x710_host(2);
    let sysfs = host.sysfs().with_poll_interval(Duration::from_millis(5));
    let start = Instant::now();
    let e = sysfs
        .wait_for_vfs(&pf, 4, Duration::from_millis(150), &mut |_| {})
        .unwrap_err();
    let el = start.elapsed();
    assert!(
        el >= Duration::from_millis(150) && el < Duration::from_secs(2),
        "{el:?}"
    );
    match &e {
        Error::WaitTimeout { missing, .. } => {
            let idx: Vec<u32> = missing.iter().map(|m| m.index).collect();
            assert_eq!(idx, [2, 3]);
            assert_eq!(missing[0].waiting_for, WaitingFor::Device);
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("VF 2") && msg.contains("virtfn2") && msg.contains("0000:02:00.0"),
        "{msg}"
    );
}

#[test]
fn wait_rejects_more_than_total() {
    let (host, pf) = x710_host(0);
    let e = host
        .sysfs()
        .wait_for_vfs(&pf, 65, Duration::from_millis(10), &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::NumVfsOutOfRange { .. }), "{e}");
}

#[test]
fn wait_returns_soon_after_vfs_appear() {
    let (mut host, pf) = x710_host(0);
    let sysfs = host.sysfs().with_poll_interval(Duration::from_millis(5));
    let mut seen = Vec::new();
    let start = Instant::now();
    let vfs = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            host.create_vfs(&pf, 6).unwrap();
        });
        sysfs
            .wait_for_vfs(&pf, 6, Duration::from_secs(10), &mut |p| seen.push(p.ready))
            .unwrap()
    });
    assert_eq!(vfs.len(), 6);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&6));
}

#[test]
fn udev_running_means_waiting_for_its_data_file() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .netdev("enp2s0f0")
            .vfs(3)
            .vf_udev_pending(1))
        .udev(true)
        .build()
        .unwrap();
    let sysfs = host.sysfs().with_poll_interval(Duration::from_millis(5));
    assert!(sysfs.udev_running());
    assert_eq!(
        sysfs.netdev("enp2s0f0v1").unwrap().udev_processed,
        Some(false)
    );
    assert_eq!(
        sysfs.netdev("enp2s0f0v0").unwrap().udev_processed,
        Some(true)
    );

    let e = sysfs
        .wait_for_vfs(&pf, 3, Duration::from_millis(50), &mut |_| {})
        .unwrap_err();
    match &e {
        Error::WaitTimeout { missing, .. } => assert_eq!(
            missing[0].waiting_for,
            WaitingFor::Udev {
                netdev: "enp2s0f0v1".into()
            }
        ),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("not yet processed by udev"), "{e}");

    let vfs = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            host.mark_udev_processed("enp2s0f0v1").unwrap();
        });
        sysfs
            .wait_for_vfs(&pf, 3, Duration::from_secs(10), &mut |_| {})
            .unwrap()
    });
    assert_eq!(vfs.len(), 3);
}

#[test]
fn a_database_entry_is_not_enough_while_udev_has_events_queued() {
    // The boot-path guest saw udev rename a VF netdev after its database entry
    // existed: while /run/udev/queue exists (udev has events to process; what
    // `udevadm settle` waits for) no netdev counts as processed.
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).netdev("enp2s0f0").vfs(2))
        .udev(true)
        .build()
        .unwrap();
    let sysfs = host.sysfs().with_poll_interval(Duration::from_millis(5));
    assert_eq!(
        sysfs.netdev("enp2s0f0v0").unwrap().udev_processed,
        Some(true)
    );
    let queue = host.root().join("run/udev/queue");
    std::fs::write(&queue, "").unwrap();
    assert_eq!(
        sysfs.netdev("enp2s0f0v0").unwrap().udev_processed,
        Some(false)
    );
    assert!(sysfs
        .wait_for_vfs(&pf, 2, Duration::from_millis(50), &mut |_| {})
        .is_err());
    let vfs = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::remove_file(&queue).unwrap();
        });
        sysfs
            .wait_for_vfs(&pf, 2, Duration::from_secs(10), &mut |_| {})
            .unwrap()
    });
    assert_eq!(vfs.len(), 2);
}

#[test]
fn without_udev_pending_netdevs_are_final() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(2).vf_udev_pending(0))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    assert!(!sysfs.udev_running());
    assert_eq!(sysfs.netdev("enp2s0f0v0").unwrap().udev_processed, None);
    sysfs
        .wait_for_vfs(&pf, 2, Duration::from_millis(100), &mut |_| {})
        .unwrap();
}

#[test]
fn wait_driver_and_netdev_rules() {
    // vfio-pci VFs never get a netdev; unbound VFs with autoprobe off never get a
    // driver: both are final.
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .vfs(2)
            .autoprobe(false)
            .vf_driver_at(0, VfDriver::VfioPci)
            .vf_driver_at(1, VfDriver::None))
        .build()
        .unwrap();
    host.sysfs()
        .wait_for_vfs(&pf, 2, Duration::from_millis(100), &mut |_| {})
        .unwrap();

    // With autoprobe on, an unbound VF waits for a driver, and a net driver without
    // netdev waits for the netdev.
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .vfs(2)
            .vf_driver_at(0, VfDriver::None)
            .vf_in_other_netns(1))
        .build()
        .unwrap();
    let e = host
        .sysfs()
        .wait_for_vfs(&pf, 2, Duration::from_millis(50), &mut |_| {})
        .unwrap_err();
    match e {
        Error::WaitTimeout { missing, .. } => {
            assert_eq!(missing[0].waiting_for, WaitingFor::Driver);
            assert_eq!(
                missing[1].waiting_for,
                WaitingFor::Netdev {
                    driver: "iavf".into()
                }
            );
        }
        other => panic!("{other}"),
    }
}

// ---------------------------------------------------------------- binding

#[test]
fn bind_to_vfio_writes_override_unbind_and_probe() {
    let (host, pf) = x710_host(2);
    let sysfs = host.sysfs();
    let vf = sysfs.vf(&pf, 0).unwrap().address;
    let e = sysfs
        .bind_driver(&vf, &DriverTarget::VfioPci, false)
        .unwrap_err();
    // The fixture has no kernel to rebind the device, so it still shows iavf: the
    // library reports that instead of claiming success.
    assert!(
        matches!(&e, Error::BindFailed { wanted, got, .. }
            if wanted == "vfio-pci" && got.as_deref() == Some("iavf")),
        "{e}"
    );
    // The override was written, then, as the bind failed, the old one (none)
    // restored with a lone newline: the VF is not left pinned to vfio-pci.
    assert_eq!(raw(&host, &vf, "driver_override"), "\n");
    assert_eq!(
        host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(),
        vf.to_string()
    );
    assert_eq!(
        host.read("sys/bus/pci/drivers_probe").unwrap(),
        vf.to_string()
    );
}

#[test]
fn bind_already_bound_writes_nothing_and_reports_the_driver() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(1).vf_driver(VfDriver::VfioPci))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let vf = sysfs.vf(&pf, 0).unwrap().address;
    // Bound to vfio-pci (e.g. by new_id) but without override: only the override
    // is written, no unbind.
    let out = sysfs
        .bind_driver(&vf, &DriverTarget::VfioPci, false)
        .unwrap();
    assert_eq!(out.before.as_deref(), Some("vfio-pci"));
    assert_eq!(out.after.as_deref(), Some("vfio-pci"));
    assert!(out.changed);
    assert_eq!(host.read_attr(&vf, "driver_override").unwrap(), "vfio-pci");
    assert_eq!(
        host.read("sys/bus/pci/drivers/vfio-pci/unbind").unwrap(),
        ""
    );
    assert_eq!(host.read("sys/bus/pci/drivers_probe").unwrap(), "");
    // Now override and driver agree: nothing to do.
    let out = sysfs
        .bind_driver(&vf, &DriverTarget::Named("vfio-pci".into()), false)
        .unwrap();
    assert!(!out.changed);
    assert_eq!(
        sysfs.vf(&pf, 0).unwrap().driver_override.as_deref(),
        Some("vfio-pci")
    );
}

#[test]
fn bind_back_to_default_clears_the_override() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(1).vf_driver(VfDriver::VfioPci))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let vf = sysfs.vf(&pf, 0).unwrap().address;
    std::fs::write(
        host.root()
            .join(format!("sys/bus/pci/devices/{vf}/driver_override")),
        "vfio-pci\n",
    )
    .unwrap();
    let out = sysfs
        .bind_driver(&vf, &DriverTarget::Default, false)
        .unwrap();
    assert_eq!(out.before.as_deref(), Some("vfio-pci"));
    assert!(out.changed);
    assert_eq!(raw(&host, &vf, "driver_override"), "\n");
    assert_eq!(
        host.read("sys/bus/pci/drivers/vfio-pci/unbind").unwrap(),
        vf.to_string()
    );
    assert_eq!(
        host.read("sys/bus/pci/drivers_probe").unwrap(),
        vf.to_string()
    );
}

#[test]
fn bind_refuses_to_unbind_a_busy_netdev_unless_forced() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .netdev("enp2s0f0")
            .vfs(2)
            .vf_up(0)
            .vf_ipv6(1, Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    for (i, why) in [(0, "is up"), (1, "has addresses fe80::1")] {
        let vf = sysfs.vf(&pf, i).unwrap().address;
        let e = sysfs
            .bind_driver(&vf, &DriverTarget::VfioPci, false)
            .unwrap_err();
        assert!(matches!(e, Error::UnbindRefused { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(why) && msg.contains(&format!("enp2s0f0v{i}")),
            "{msg}"
        );
        assert_eq!(host.read_attr(&vf, "driver_override").unwrap(), "(null)");
    }
    let vf = sysfs.vf(&pf, 0).unwrap().address;
    let e = sysfs
        .bind_driver(&vf, &DriverTarget::VfioPci, true)
        .unwrap_err();
    assert!(
        matches!(e, Error::BindFailed { .. }),
        "forced: went ahead: {e}"
    );
    assert_eq!(
        host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(),
        vf.to_string()
    );
    // Failed: the old override (none) is back.
    assert_eq!(raw(&host, &vf, "driver_override"), "\n");
}

#[test]
fn reload_unbinds_and_probes_and_refuses_a_busy_netdev_unless_forced() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).netdev("enp2s0f0").vfs(2).vf_up(0))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let idle = sysfs.vf(&pf, 1).unwrap().address;
    let out = sysfs.reload_driver(&idle, false).unwrap();
    // The fixture keeps the driver link (no kernel): the same driver is back.
    assert_eq!(out.before.as_deref(), Some("iavf"));
    assert_eq!(out.after.as_deref(), Some("iavf"));
    assert_eq!(
        host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(),
        idle.to_string()
    );
    assert_eq!(
        host.read("sys/bus/pci/drivers_probe").unwrap(),
        idle.to_string()
    );
    // No override is written: the same driver matches again.
    assert_eq!(host.read_attr(&idle, "driver_override").unwrap(), "(null)");

    let up = sysfs.vf(&pf, 0).unwrap().address;
    std::fs::write(host.root().join("sys/bus/pci/drivers/iavf/unbind"), "").unwrap();
    let e = sysfs.reload_driver(&up, false).unwrap_err();
    assert!(
        matches!(&e, Error::UnbindRefused { netdev, .. } if netdev == "enp2s0f0v0"),
        "{e}"
    );
    assert_eq!(host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(), "");
    sysfs.reload_driver(&up, true).unwrap();
    assert_eq!(
        host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(),
        up.to_string()
    );
}

#[test]
fn bind_to_a_driver_that_is_not_loaded() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf).vfs(1))
        .without_vfio_pci()
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let vf = sysfs.vf(&pf, 0).unwrap().address;
    let e = sysfs
        .bind_driver(&vf, &DriverTarget::VfioPci, false)
        .unwrap_err();
    assert!(matches!(e, Error::DriverNotLoaded { .. }), "{e}");
    assert!(e.to_string().contains("modprobe vfio-pci"), "{e}");
    assert_eq!(host.read_attr(&vf, "driver_override").unwrap(), "(null)");
    let e = sysfs
        .bind_driver(&addr("0000:09:00.0"), &DriverTarget::VfioPci, false)
        .unwrap_err();
    assert!(matches!(e, Error::DeviceNotFound { .. }), "{e}");
}

// ---------------------------------------------------------------- netdevs, serde

#[test]
fn netdev_details() {
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .netdev("enp2s0f0")
            .up(false)
            .vfs(1)
            .vf_up(0))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    let p = sysfs.netdev("enp2s0f0").unwrap();
    assert!(!p.up && !p.in_use());
    assert_eq!(p.operstate.as_deref(), Some("down"));
    assert_eq!(p.device, Some(pf));
    assert!(p.ifindex.is_some());
    assert_eq!(p.name_assign_type, Some(4));
    let v = sysfs.netdev("enp2s0f0v0").unwrap();
    assert!(v.up && v.in_use());
    assert_eq!(
        sysfs.netdev_pci_address("enp2s0f0v0").unwrap(),
        sysfs.vf(&pf, 0).unwrap().address
    );
}

#[test]
fn everything_serializes_for_json_output() {
    let (host, pf) = busy_host();
    let sysfs = host.sysfs();
    let p = serde_json::to_value(sysfs.pf_by_address(&pf).unwrap()).unwrap();
    assert_eq!(p["address"], "0000:02:00.0");
    assert_eq!(p["sriov"]["total_vfs"], 64);
    assert_eq!(p["vendor_name"], "Intel Corporation");
    let v = serde_json::to_value(sysfs.vfs(&pf).unwrap()).unwrap();
    assert_eq!(v[1]["address"], "0000:02:02.1");
    assert_eq!(v[1]["pf"], "0000:02:00.0");
    let c = serde_json::to_value(sysfs.recreate_impact(&pf).unwrap()).unwrap();
    assert_eq!(c[0]["reasons"][0]["kind"], "passthrough");
    let o = serde_json::to_value(NumVfsOutcome::Changed { from: 1, to: 2 }).unwrap();
    assert_eq!(o["outcome"], "changed");
    let t = serde_json::to_value(DriverTarget::Named("igbvf".into())).unwrap();
    assert_eq!(t["name"], "igbvf");
    let n = serde_json::to_value(sysfs.netdev("enp2s0f0v2").unwrap()).unwrap();
    assert_eq!(n["addresses"][0], "fd00::2");
}

#[test]
fn fixture_create_vfs_replaces_the_old_ones() {
    let (mut host, pf) = x710_host(4);
    host.create_vfs(&pf, 2).unwrap();
    let sysfs = host.sysfs();
    assert_eq!(sysfs.vfs(&pf).unwrap().len(), 2);
    assert_eq!(sysfs.sriov_info(&pf).unwrap().num_vfs, 2);
    assert!(sysfs.netdev("enp2s0f0v3").is_err());
    assert!(!host
        .root()
        .join("sys/bus/pci/devices/0000:02:02.3")
        .exists());
    host.create_vfs(&pf, 0).unwrap();
    assert!(sysfs.vfs(&pf).unwrap().is_empty());
}

// ---------------------------------------------------------------- ids, interfaces

#[test]
fn subsystem_and_device_ids_of_pfs_and_vfs() {
    let (host, pf) = x710_host(2);
    let sysfs = host.sysfs();
    let p = sysfs.pf_by_address(&pf).unwrap();
    assert_eq!(p.subsystem.unwrap().to_string(), "8086:0007");
    let vf = sysfs.vf(&pf, 1).unwrap();
    assert_eq!((vf.vendor_id, vf.device_id), (0x8086, 0x154c));
    assert_eq!(vf.device_id, p.sriov.vf_device);
    assert_eq!(
        vf.subsystem,
        Some(sysfs_sriov::SubsystemId {
            vendor: 0x8086,
            device: 0
        })
    );
    assert_eq!(
        sysfs.subsystem_of(&vf.address).unwrap(),
        vf.subsystem,
        "the same through the per-device call"
    );
    let json = serde_json::to_value(&vf).unwrap();
    assert_eq!(json["subsystem"]["device"], 0);

    // Overrides, a missing file and a broken one.
    let host = HostBuilder::new()
        .pf(PfSpec::connectx5(pf)
            .subsystem(0x15b3, 0x0068)
            .vf_subsystem(0x15b3, 0x0001)
            .vfs(1))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    assert_eq!(
        sysfs
            .pf_by_address(&pf)
            .unwrap()
            .subsystem
            .unwrap()
            .to_string(),
        "15b3:0068"
    );
    let vf = sysfs.vf(&pf, 0).unwrap();
    assert_eq!(vf.subsystem.unwrap().to_string(), "15b3:0001");
    host.remove(&format!(
        "sys/bus/pci/devices/{}/subsystem_device",
        vf.address
    ))
    .unwrap();
    assert_eq!(sysfs.vf(&pf, 0).unwrap().subsystem, None);
    std::fs::write(
        host.root()
            .join(format!("sys/bus/pci/devices/{pf}/subsystem_device")),
        "zz\n",
    )
    .unwrap();
    assert!(matches!(sysfs.pf_by_address(&pf), Err(Error::Parse { .. })));
}

#[test]
fn interface_names_lists_class_net() {
    let (host, _) = x710_host(3);
    let sysfs = host.sysfs();
    assert_eq!(
        sysfs.interface_names().unwrap(),
        ["enp2s0f0", "enp2s0f0v0", "enp2s0f0v1", "enp2s0f0v2"]
    );
    // Not a safe path component (a control character, over 15 bytes): skipped,
    // not returned as a path component.
    std::fs::write(host.root().join("sys/class/net/bad\tname"), "").unwrap();
    std::fs::write(host.root().join("sys/class/net/sixteen-bytes-xx"), "").unwrap();
    assert_eq!(sysfs.interface_names().unwrap().len(), 4);
    host.remove("sys/class/net").unwrap();
    assert!(sysfs.interface_names().unwrap().is_empty());
}

#[test]
fn iommu_group_type_follows_passthrough_mode() {
    let pf = addr("0000:02:00.0");
    for (pt, want) in [(false, "DMA"), (true, "identity")] {
        let mut b = HostBuilder::new().pf(PfSpec::intel_x710(pf).vfs(1));
        if pt {
            b = b.iommu_passthrough();
        }
        let host = b.build().unwrap();
        let g = host
            .sysfs()
            .pf_by_address(&pf)
            .unwrap()
            .iommu_group
            .unwrap();
        assert_eq!(
            host.read(&format!("sys/kernel/iommu_groups/{g}/type"))
                .unwrap(),
            want
        );
        let vf = host.sysfs().vf(&pf, 0).unwrap();
        let g = vf.iommu_group.unwrap();
        assert_eq!(
            host.read(&format!("sys/kernel/iommu_groups/{g}/type"))
                .unwrap(),
            want
        );
    }
}

#[test]
fn a_vf_that_is_not_a_nic_is_final_without_a_driver() {
    // Issue 15, item 5: an NVMe PF's VFs (class 0x010802) never get a netdev,
    // and nvme gives up a VF it cannot start (QEMU's nvme VF without queue
    // resources), autoprobe on or not. The wait must not wait for a driver
    // that will not come. The same tree as a NIC waits for it.
    let pf = addr("0000:02:00.0");
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710(pf)
            .no_netdev()
            .vfs(2)
            .vf_driver_at(0, VfDriver::None)
            .vf_driver_at(1, VfDriver::VfioPci))
        .build()
        .unwrap();
    let sysfs = host.sysfs();
    assert!(sysfs.pf_by_address(&pf).unwrap().is_network());
    match sysfs.wait_for_vfs(&pf, 2, Duration::from_millis(50), &mut |_| {}) {
        Err(Error::WaitTimeout { missing, .. }) => {
            assert_eq!(missing.len(), 1);
            assert_eq!(missing[0].waiting_for, WaitingFor::Driver);
        }
        other => panic!("{other:?}"),
    }
    let mut devs = vec![pf];
    devs.extend(sysfs.vfs(&pf).unwrap().iter().map(|v| v.address));
    for a in devs {
        std::fs::write(
            host.root().join(format!("sys/bus/pci/devices/{a}/class")),
            "0x010802\n",
        )
        .unwrap();
    }
    let p = sysfs.pf_by_address(&pf).unwrap();
    assert_eq!((p.class, p.is_network()), (Some(0x01_08_02), false));
    let vfs = sysfs
        .wait_for_vfs(&pf, 2, Duration::from_secs(5), &mut |_| {})
        .unwrap();
    assert_eq!(vfs.len(), 2);
    assert_eq!(vfs[0].driver, None);
}
