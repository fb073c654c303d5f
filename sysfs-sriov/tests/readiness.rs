//! The SR-IOV readiness reading and the `sriov_numvfs` errno mapping on
//! fixture trees: every finding, every errno.
//!
//! A fixture cannot make a file write fail with `ENOMEM`: the errno tests use
//! `Host::answer_numvfs`, which the crate's write path consults in place of the
//! file write (a simulation of the kernel's answer; the mapping, the diagnosis
//! and the read-back after it are the crate's real code). The unassigned VF BAR
//! readings come from files as a real kernel printed them (QEMU nvme, below).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sysfs_sriov::fixture::{Host, HostBuilder, NumVfsAnswer, PfSpec, PortAri, VfBarState};
use sysfs_sriov::{
    AriReading, BusRangeReading, CountOptions, Error, FindingKind, NumVfsOutcome, NumVfsRefusal,
    PciAddress, Readiness, VfBarsReading,
};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn host(spec: PfSpec) -> Host {
    HostBuilder::new().pf(spec).build().unwrap()
}

fn reading(h: &Host, pf: &PciAddress) -> Readiness {
    h.sysfs().sriov_readiness(pf).unwrap()
}

fn kinds(r: &Readiness) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind.clone()).collect()
}

fn raw(h: &Host, pf: &PciAddress, file: &str) -> String {
    std::fs::read_to_string(h.root().join(format!("sys/bus/pci/devices/{pf}/{file}"))).unwrap()
}

// ---------------------------------------------------------------- ready

#[test]
fn presets_are_ready_with_every_reading_made() {
    for spec in [
        PfSpec::intel_82576(addr("0000:01:00.0")),
        PfSpec::intel_x710(addr("0000:02:00.0")).vfs(4),
        PfSpec::connectx5(addr("0000:03:00.1")),
    ] {
        let pf = spec.address();
        let h = host(spec);
        let r = reading(&h, &pf);
        assert!(r.is_ready(), "{pf}: {:?}", r.findings);
        assert!(r.unknowns().is_empty(), "{:?}", r.unknowns());
        let VfBarsReading::Read {
            bars,
            reset,
            config_checked: true,
        } = &r.vf_bars
        else {
            panic!("{:?}", r.vf_bars)
        };
        assert!(reset.is_empty());
        assert!(!bars.is_empty() && bars.iter().all(|b| b.assigned && b.per_vf.is_some()));
        assert!(
            matches!(r.ari, AriReading::Enabled { .. } | AriReading::NotNeeded),
            "{:?}",
            r.ari
        );
        assert!(
            matches!(r.bus_range, BusRangeReading::Fits { .. }),
            "{:?}",
            r.bus_range
        );
    }
}

#[test]
fn igb_vf_bars_read_as_qemu_shows_them() {
    // QEMU's igb under Linux 6.1: VF BAR0 and BAR3, 16 KiB per VF, the region
    // sized for the capability's 8 VFs while igb allows 7.
    let pf = addr("0000:01:00.0");
    let h = host(PfSpec::intel_82576(pf));
    let r = reading(&h, &pf);
    assert_eq!((r.total_vfs, r.hw_total_vfs), (Some(7), Some(8)));
    let VfBarsReading::Read { bars, .. } = &r.vf_bars else {
        panic!()
    };
    let got: Vec<(u8, u64, Option<u64>, bool, bool)> = bars
        .iter()
        .map(|b| (b.bar, b.size, b.per_vf, b.prefetchable, b.mem64))
        .collect();
    assert_eq!(
        got,
        [
            (0, 0x2_0000, Some(0x4000), true, true),
            (3, 0x2_0000, Some(0x4000), true, true)
        ]
    );
    // The lines as resource_show() prints them: 13, the flags the guest showed.
    let res = raw(&h, &pf, "resource");
    let lines: Vec<&str> = res.lines().collect();
    assert_eq!(lines.len(), 13);
    assert!(lines[7].ends_with(" 0x000000000014220c"), "{}", lines[7]);
    assert!(lines[10].ends_with(" 0x000000000014220c"), "{}", lines[10]);
    assert_eq!(
        lines[8],
        "0x0000000000000000 0x0000000000000000 0x0000000000000000"
    );
    assert!(lines[1].ends_with(" 0x0000000000040200"), "{}", lines[1]);
    assert_eq!(
        lines[2],
        "0x000000000000c000 0x000000000000c01f 0x0000000000040101"
    );
    assert!(lines[3].ends_with(" 0x0000000000140204"), "{}", lines[3]);
}

#[test]
fn readiness_serializes_with_kind_message_and_fix() {
    let pf = addr("0000:01:00.0");
    let h = host(PfSpec::intel_82576(pf).vf_bars(VfBarState::Reset));
    let r = reading(&h, &pf);
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["address"], "0000:01:00.0");
    assert_eq!(j["vf_bars"]["state"], "read");
    assert_eq!(j["ari"]["state"], "enabled");
    assert_eq!(j["bus_range"]["state"], "fits");
    let f = &j["findings"][0];
    assert_eq!(f["kind"], "vf_bars_unassigned");
    assert_eq!(f["bars"], serde_json::json!([0, 3]));
    assert!(f["fix"].as_str().unwrap().contains("pci=realloc"));
    assert!(f["message"].as_str().unwrap().contains("0000:01:00.0"));
}

// ---------------------------------------------------------------- capability

#[test]
fn no_capability_is_a_finding_with_the_firmware_fix() {
    let pf = addr("0000:02:00.0");
    let h = host(PfSpec::intel_x710(pf).no_sriov_capability());
    assert!(h.sysfs().pfs().unwrap().is_empty());
    let r = reading(&h, &pf);
    assert!(!r.sriov_capability);
    assert_eq!(kinds(&r), [FindingKind::NoSriovCapability { vf_of: None }]);
    assert!(
        r.findings[0].fix.contains("firmware setup"),
        "{}",
        r.findings[0].fix
    );
    assert!(r.findings[0].fix.contains("lspci -s 0000:02:00.0 -vvv"));
    // Not a PF to the rest of the crate either.
    assert!(matches!(
        h.sysfs().set_num_vfs(&pf, 1, false),
        Err(Error::NotSriovCapable { .. })
    ));
    // Only mlx5_core devices without the capability are listed by _all.
    assert!(h.sysfs().sriov_readiness_all().unwrap().is_empty());
}

#[test]
fn a_vf_is_told_to_check_its_pf() {
    let pf = addr("0000:02:00.0");
    let h = host(PfSpec::intel_x710(pf).vfs(1));
    let vf = h.sysfs().vf(&pf, 0).unwrap().address;
    let r = reading(&h, &vf);
    assert_eq!(
        kinds(&r),
        [FindingKind::NoSriovCapability { vf_of: Some(pf) }]
    );
    assert_eq!(r.findings[0].fix, "check the PF 0000:02:00.0 instead");
}

#[test]
fn mlx5_without_vfs_gets_the_mstconfig_fix() {
    // SRIOV_EN off: no capability at all (sriov_init() needs TotalVFs > 0).
    let a = addr("0000:03:00.0");
    // A driver that offers 0 in sriov_totalvfs.
    let b = addr("0000:04:00.0");
    let h = HostBuilder::new()
        .pf(PfSpec::connectx5(a).no_sriov_capability())
        .pf(PfSpec::connectx5(b).total_vfs(0))
        .build()
        .unwrap();
    let all = h.sysfs().sriov_readiness_all().unwrap();
    assert_eq!(
        all.iter().map(|r| r.address).collect::<Vec<_>>(),
        [a, b],
        "both listed, the one without sriov_totalvfs too"
    );
    assert_eq!(
        kinds(&all[0]),
        [FindingKind::Mlx5FirmwareSriovOff { total_vfs: None }]
    );
    assert_eq!(
        kinds(&all[1]),
        [FindingKind::Mlx5FirmwareSriovOff { total_vfs: Some(0) }]
    );
    assert_eq!(
        all[0].findings[0].fix,
        "`mstconfig -d 0000:03:00.0 set SRIOV_EN=1 NUM_OF_VFS=<N>` (mstflint; N at least the \
         VFs you want), then reboot"
    );
    assert!(all[1].findings[0].message.contains("sriov_totalvfs is 0"));
}

#[test]
fn totalvfs_0_on_another_driver_is_no_vfs_offered() {
    let pf = addr("0000:02:00.0");
    let h = host(PfSpec::intel_x710(pf).total_vfs(0));
    let r = reading(&h, &pf);
    assert_eq!(kinds(&r), [FindingKind::NoVfsOffered]);
    assert!(r.findings[0].fix.contains("max_vfs"));
}

// ---------------------------------------------------------------- driver

#[test]
fn no_driver_and_vfio_without_enable_sriov_are_findings() {
    let pf = addr("0000:01:00.0");
    let h = host(PfSpec::intel_82576(pf).no_driver());
    let r = reading(&h, &pf);
    assert_eq!(kinds(&r), [FindingKind::NoDriver]);
    assert!(r.findings[0].fix.contains("lspci -k -s 0000:01:00.0"));

    let h = host(PfSpec::intel_82576(pf));
    h.set_driver(&pf, Some("vfio-pci")).unwrap();
    let r = reading(&h, &pf);
    assert_eq!(kinds(&r), [FindingKind::VfioPciSriovDisabled]);
    assert!(r.findings[0].fix.contains("enable_sriov=1"));

    let h = HostBuilder::new()
        .pf(PfSpec::intel_82576(pf))
        .vfio_pci_enable_sriov()
        .build()
        .unwrap();
    h.set_driver(&pf, Some("vfio-pci")).unwrap();
    assert!(reading(&h, &pf).is_ready());
}

// ---------------------------------------------------------------- VF BARs

#[test]
fn vf_bars_the_kernel_reset_are_found_through_config_space() {
    let pf = addr("0000:01:00.0");
    let h = host(PfSpec::intel_82576(pf).vf_bars(VfBarState::Reset));
    let r = reading(&h, &pf);
    assert_eq!(
        kinds(&r),
        [FindingKind::VfBarsUnassigned {
            bars: vec![0, 3],
            sizes: vec![None, None]
        }]
    );
    let VfBarsReading::Read {
        bars,
        reset,
        config_checked,
    } = &r.vf_bars
    else {
        panic!()
    };
    assert!(bars.is_empty() && *config_checked);
    assert_eq!(reset, &[0, 3]);
    let f = &r.findings[0];
    assert!(f.message.contains("VF BAR0, VF BAR3"), "{}", f.message);
    assert!(f.message.contains("ENOMEM"), "{}", f.message);
    assert!(f
        .fix
        .starts_with("add pci=realloc to the kernel command line"));
    assert!(f.fix.contains("\"Above 4G decoding\""));
}

#[test]
fn vf_bars_without_an_address_are_found_in_resource() {
    let pf = addr("0000:02:00.0");
    let h = host(PfSpec::intel_x710(pf).vf_bars(VfBarState::NoAddress));
    let r = reading(&h, &pf);
    assert_eq!(
        kinds(&r),
        [FindingKind::VfBarsUnassigned {
            bars: vec![0, 3],
            sizes: vec![Some(64 * 0x1_0000), Some(64 * 0x4000)]
        }]
    );
    assert!(
        r.findings[0]
            .message
            .contains("VF BAR0 (4 MiB for all VFs), VF BAR3 (1 MiB for all VFs)"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn without_config_space_no_vf_bar_shown_is_said_not_proven() {
    let pf = addr("0000:01:00.0");
    // Not root: 64 bytes of config space.
    let h = HostBuilder::new()
        .pf(PfSpec::intel_82576(pf).vf_bars(VfBarState::Reset))
        .config_limit(64)
        .build()
        .unwrap();
    let r = reading(&h, &pf);
    assert_eq!(kinds(&r), [FindingKind::NoVfBarShown]);
    assert!(r.findings[0].message.contains("run as root"));
    // Assigned BARs need no config space; the ARI check does (VFs at device 16).
    let h = HostBuilder::new()
        .pf(PfSpec::intel_82576(pf))
        .config_limit(64)
        .build()
        .unwrap();
    let r = reading(&h, &pf);
    assert!(r.is_ready(), "{:?}", r.findings);
    let u = r.unknowns();
    assert_eq!(u.len(), 2, "{u:?}");
    assert!(
        u[0].starts_with("VF BARs:") && u[1].contains("only 64 bytes"),
        "{u:?}"
    );
    // The bus range is in the first 64 bytes.
    assert!(matches!(r.bus_range, BusRangeReading::Fits { .. }));
}

/// `resource` of a QEMU nvme PF (`-device nvme,...,sriov_max_vfs=127,
/// max_ioqpairs=2048,msix_qsize=2048` behind a `pcie-root-port`) in a Linux
/// 6.1 guest booted with `pci=realloc=off`: the kernel logged "VF BAR 0 [mem
/// size 0x001fc000 64bit]: can't assign; no space" and reset line 8.
const NVME_RESOURCE: &str = "\
0x00000000fe800000 0x00000000fe80ffff 0x0000000000140204
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000000000000000 0x0000000000000000 0x0000000000000000
";

/// The same PF's config space from 0x100 (`hexdump -C config`): ARI at 0x100,
/// SR-IOV at 0x120 (InitialVFs and TotalVFs 0x7f, offset 1, stride 1, VF
/// device 0x0010, VF BAR0 register `0x00000004`: 64-bit, address 0).
const NVME_EXT_CONFIG: [(usize, [u8; 16]); 5] = [
    (
        0x100,
        [0x0e, 0x00, 0x01, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    (
        0x120,
        [
            0x10, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x7f, 0, 0x7f, 0,
        ],
    ),
    (
        0x130,
        [
            0, 0, 0, 0, 0x01, 0, 0x01, 0, 0, 0, 0x10, 0, 0x53, 0x05, 0, 0,
        ],
    ),
    (
        0x140,
        [0x01, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ),
    (0x150, [0; 16]),
];

#[test]
fn an_nvme_pf_as_a_guest_kernel_showed_it_is_diagnosed() {
    let pf = addr("0000:01:00.0");
    let h = host(
        PfSpec::intel_82576(pf)
            .total_vfs(127)
            .offset_stride(1, 1)
            .port_ari(PortAri::Enabled),
    );
    let dir = h.root().join(format!("sys/bus/pci/devices/{pf}"));
    std::fs::write(dir.join("resource"), NVME_RESOURCE).unwrap();
    let mut config = std::fs::read(dir.join("config")).unwrap();
    config[0x100..].fill(0);
    for (off, row) in NVME_EXT_CONFIG {
        config[off..off + 16].copy_from_slice(&row);
    }
    std::fs::write(dir.join("config"), config).unwrap();
    let r = reading(&h, &pf);
    assert_eq!(r.hw_total_vfs, Some(127));
    assert_eq!(
        kinds(&r),
        [FindingKind::VfBarsUnassigned {
            bars: vec![0],
            sizes: vec![None]
        }]
    );
    // ... and the count write the guest answered with ENOMEM ("sh: write
    // error: Cannot allocate memory", "not enough MMIO resources for SR-IOV").
    h.answer_numvfs(&pf, NumVfsAnswer::Errno(libc::ENOMEM));
    let e = h.sysfs().set_num_vfs(&pf, 127, false).unwrap_err();
    let Error::NumVfsNoResources { diagnosis, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(diagnosis.len(), 1);
    let m = e.to_string();
    assert!(
        m.starts_with("the kernel has no room for 127 VFs of 0000:01:00.0 (writing "),
        "{m}"
    );
    assert!(
        m.contains("/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs: ENOMEM): "),
        "{m}"
    );
    assert!(
        m.contains("could not give the VF BARs of 0000:01:00.0 addresses (VF BAR0)"),
        "{m}"
    );
    assert!(m.contains("fix: add pci=realloc"), "{m}");
}

#[test]
fn the_fixtures_reset_state_has_the_shape_the_guest_showed() {
    // Lines 8-13 all zero while the SR-IOV capability keeps the BAR's type bits
    // at address 0, as in NVME_RESOURCE / NVME_EXT_CONFIG.
    let pf = addr("0000:01:00.0");
    let h = host(PfSpec::intel_82576(pf).vf_bars(VfBarState::Reset));
    let res = raw(&h, &pf, "resource");
    for line in res.lines().skip(7) {
        assert_eq!(
            line,
            "0x0000000000000000 0x0000000000000000 0x0000000000000000"
        );
    }
    let config = std::fs::read(h.root().join(format!("sys/bus/pci/devices/{pf}/config"))).unwrap();
    // SR-IOV at 0x160 in the fixture (igb's layout): VF BAR0 register.
    assert_eq!(&config[0x160..0x162], &[0x10, 0x00]);
    assert_eq!(&config[0x184..0x188], &[0x0c, 0, 0, 0]);
}

// ---------------------------------------------------------------- ARI

#[test]
fn vfs_past_device_0_need_ari_forwarding_in_the_port() {
    // igb: offset 128, so VF 0 is at device 16 of the PF's bus.
    let pf = addr("0000:02:00.0");
    let bridge = addr("0000:00:03.0");
    let h = host(PfSpec::intel_82576(pf).port_ari(PortAri::Disabled));
    let r = reading(&h, &pf);
    assert_eq!(
        r.ari,
        AriReading::NotEnabled {
            bridge,
            supported: true
        }
    );
    assert_eq!(
        kinds(&r),
        [FindingKind::NoAriForwarding {
            bridge,
            supported: true,
            first_vf: 0,
            first_vf_address: addr("0000:02:10.0"),
        }]
    );
    let f = &r.findings[0];
    assert!(
        f.message.contains("port 0000:00:03.0 above"),
        "{}",
        f.message
    );
    assert!(
        f.fix.contains("pci=noari") && f.fix.contains("no VF is reachable"),
        "{}",
        f.fix
    );

    let h = host(PfSpec::intel_82576(pf).port_ari(PortAri::Unsupported));
    let r = reading(&h, &pf);
    assert!(matches!(
        r.findings[0].kind,
        FindingKind::NoAriForwarding {
            supported: false,
            ..
        }
    ));
    assert!(r.findings[0].fix.contains("move the card to a slot"));

    // Offset 1, stride 1: VFs 0-6 are functions 1-7 of device 0, VF 7 is the
    // first at device 1: at most 7 VFs without ARI.
    let h = host(
        PfSpec::intel_82576(pf)
            .total_vfs(8)
            .hw_total_vfs(8)
            .offset_stride(1, 1)
            .port_ari(PortAri::Disabled),
    );
    let r = reading(&h, &pf);
    assert_eq!(
        kinds(&r),
        [FindingKind::NoAriForwarding {
            bridge,
            supported: true,
            first_vf: 7,
            first_vf_address: addr("0000:02:01.0"),
        }]
    );
    assert!(r.findings[0].fix.contains("or use at most 7 VFs"));

    // Seven VFs in functions 1-7: no ARI needed, even with it off.
    let h = host(
        PfSpec::intel_82576(pf)
            .offset_stride(1, 1)
            .port_ari(PortAri::Disabled),
    );
    let r = reading(&h, &pf);
    assert_eq!(r.ari, AriReading::NotNeeded);
    assert!(r.is_ready());
}

#[test]
fn a_pf_on_the_root_bus_has_no_port_to_check() {
    let pf = addr("0000:00:05.0");
    let h = host(PfSpec::intel_82576(pf));
    let r = reading(&h, &pf);
    assert_eq!(r.ari, AriReading::RootBus);
    assert!(matches!(
        r.bus_range,
        BusRangeReading::RootBus { last_vf_bus: 0 }
    ));
    assert!(r.is_ready());
}

// ---------------------------------------------------------------- bus range

#[test]
fn vfs_past_the_ports_subordinate_bus_are_found_with_the_count_that_fits() {
    // Routing ids 0x200 + 250 + i: VFs 0-5 on bus 02, VF 6 onwards on bus 03,
    // and the port routes only bus 02.
    let pf = addr("0000:02:00.0");
    let bridge = addr("0000:00:03.0");
    let spec = || PfSpec::intel_x710(pf).offset_stride(250, 1);
    let h = host(spec().port_subordinate(2));
    let r = reading(&h, &pf);
    assert_eq!(
        r.bus_range,
        BusRangeReading::TooSmall {
            bridge,
            secondary: 2,
            subordinate: 2,
            last_vf_bus: 3
        }
    );
    assert_eq!(
        kinds(&r),
        [FindingKind::VfBusOutOfRange {
            bridge: Some(bridge),
            subordinate: 2,
            last_vf_bus: 3,
            usable_vfs: 6
        }]
    );
    let f = &r.findings[0];
    assert!(
        f.message.contains("up to 03") && f.message.contains("above 6"),
        "{}",
        f.message
    );
    assert!(f.fix.contains("pci=assign-busses") && f.fix.contains("at most 6 VFs"));
    // The fixture's own port reaches bus 03.
    let h = host(spec());
    assert!(matches!(
        reading(&h, &pf).bus_range,
        BusRangeReading::Fits {
            subordinate: 3,
            last_vf_bus: 3,
            ..
        }
    ));
}

// ---------------------------------------------------------------- errnos

#[test]
fn every_errno_of_a_count_write_is_a_typed_error_and_nothing_changes() {
    let pf = addr("0000:01:00.0");
    type Check = fn(&Error) -> bool;
    let cases: [(i32, Check); 11] = [
        (libc::ENOMEM, |e| {
            matches!(e, Error::NumVfsNoResources { requested: 4, .. })
        }),
        (
            libc::ENOENT,
            |e| matches!(e, Error::NoSriovConfigure { driver, .. } if driver == "igb"),
        ),
        (libc::EBUSY, |e| {
            matches!(
                e,
                Error::NumVfsBusy {
                    current: 0,
                    requested: 4,
                    ..
                }
            )
        }),
        (libc::ERANGE, |e| {
            matches!(e, Error::NumVfsOutOfRange { total: 7, .. })
        }),
        (libc::EIO, |e| {
            refusal(e) == Some(NumVfsRefusal::DeviceError)
        }),
        (libc::ENOSPC, |e| {
            refusal(e) == Some(NumVfsRefusal::DriverOutOfResources)
        }),
        (libc::EPERM, |e| {
            refusal(e) == Some(NumVfsRefusal::DriverLimit)
        }),
        (libc::EINVAL, |e| {
            refusal(e) == Some(NumVfsRefusal::InvalidCount)
        }),
        (libc::EOPNOTSUPP, |e| {
            refusal(e) == Some(NumVfsRefusal::NotSupported)
        }),
        (libc::EAGAIN, |e| {
            refusal(e) == Some(NumVfsRefusal::TryAgain)
        }),
        (libc::EROFS, |e| matches!(e, Error::PermissionDenied { .. })),
    ];
    for (errno, check) in cases {
        let h = host(PfSpec::intel_82576(pf));
        h.answer_numvfs(&pf, NumVfsAnswer::Errno(errno));
        let e = h.sysfs().set_num_vfs(&pf, 4, false).unwrap_err();
        assert!(check(&e), "{errno}: {e}");
        assert_eq!(raw(&h, &pf, "sriov_numvfs"), "0\n", "nothing written: {e}");
        let m = e.to_string();
        assert!(m.contains("sriov_numvfs"), "{m}");
        // A fix in every message.
        assert!(m.len() > 100, "{m}");
        // Back to plain writes.
        h.clear_numvfs_answer(&pf);
        assert_eq!(
            h.sysfs().set_num_vfs(&pf, 4, false).unwrap(),
            NumVfsOutcome::Changed { from: 0, to: 4 }
        );
    }
}

fn refusal(e: &Error) -> Option<NumVfsRefusal> {
    match e {
        Error::NumVfsFailed { refusal, .. } => Some(*refusal),
        _ => None,
    }
}

#[test]
fn enomem_carries_the_diagnosis_that_explains_it() {
    let pf = addr("0000:01:00.0");
    // No finding: the message names both causes and their fixes.
    let h = host(PfSpec::intel_82576(pf));
    h.answer_numvfs(&pf, NumVfsAnswer::Errno(libc::ENOMEM));
    let e = h.sysfs().set_num_vfs(&pf, 4, false).unwrap_err();
    assert!(matches!(&e, Error::NumVfsNoResources { diagnosis, .. } if diagnosis.is_empty()));
    let m = e.to_string();
    for part in [
        "not enough MMIO resources for SR-IOV",
        "pci=realloc",
        "\"Above 4G decoding\"",
        "can't enable 4 VFs (bus .. out of range ..)",
        "pci=assign-busses",
    ] {
        assert!(m.contains(part), "{part:?} missing in {m}");
    }

    // Bus numbers: only a count beyond the ones that fit is explained by them.
    let pf = addr("0000:02:00.0");
    let h = host(
        PfSpec::intel_x710(pf)
            .offset_stride(250, 1)
            .port_subordinate(2),
    );
    h.answer_numvfs(&pf, NumVfsAnswer::Errno(libc::ENOMEM));
    let diag = |n| match h.sysfs().set_num_vfs(&pf, n, false).unwrap_err() {
        Error::NumVfsNoResources { diagnosis, .. } => diagnosis,
        e => panic!("{e}"),
    };
    assert!(diag(6).is_empty());
    let d = diag(7);
    assert_eq!(d.len(), 1);
    assert!(matches!(
        d[0].kind,
        FindingKind::VfBusOutOfRange { usable_vfs: 6, .. }
    ));

    // The same through write_count with the probe deferred: autoprobe is back.
    let opts = CountOptions {
        allow_recreate: false,
        defer_probe: true,
    };
    let e = h.sysfs().write_count(&pf, 8, opts).unwrap_err();
    assert!(
        matches!(e, Error::NumVfsNoResources { requested: 8, .. }),
        "{e}"
    );
    assert_eq!(raw(&h, &pf, "sriov_drivers_autoprobe"), "1");
}

#[test]
fn a_short_count_is_an_error_saying_what_the_driver_did() {
    let pf = addr("0000:02:00.0");
    let h = host(PfSpec::intel_x710(pf));
    h.answer_numvfs(&pf, NumVfsAnswer::Enables(2));
    let e = h.sysfs().set_num_vfs(&pf, 8, false).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::NumVfsShort { requested: 8, enabled: 2, driver: Some(d), .. } if d == "i40e"
        ),
        "{e}"
    );
    let m = e.to_string();
    assert!(
        m.contains("the driver i40e of 0000:02:00.0 left 2 VFs where 8 were asked for"),
        "{m}"
    );
    assert!(m.contains("reads 2 after writing 8"), "{m}");
    assert_eq!(raw(&h, &pf, "sriov_numvfs"), "2");

    // bnxt_en with its PF down creates none and returns success.
    let h = host(PfSpec::intel_x710(pf));
    h.set_driver(&pf, Some("bnxt_en")).unwrap();
    h.answer_numvfs(&pf, NumVfsAnswer::Enables(0));
    let e = h.sysfs().set_num_vfs(&pf, 4, false).unwrap_err();
    assert!(matches!(e, Error::NumVfsShort { enabled: 0, .. }), "{e}");
    let m = e.to_string();
    assert!(m.contains("ip link set <pf netdev> up"), "{m}");
    assert!(
        m.contains("Reject SRIOV config request since if is down!"),
        "{m}"
    );
}

#[test]
fn a_reset_refused_while_a_vf_is_assigned_says_so() {
    let pf = addr("0000:01:00.0");
    let h = host(
        PfSpec::intel_82576(pf)
            .vfs(2)
            .vf_driver(sysfs_sriov::fixture::VfDriver::None),
    );
    // igb and ixgbe: EPERM.
    h.answer_numvfs(&pf, NumVfsAnswer::ErrnoOnZero(libc::EPERM));
    let e = h.sysfs().set_num_vfs(&pf, 0, false).unwrap_err();
    assert_eq!(refusal(&e), Some(NumVfsRefusal::VfsAssigned), "{e}");
    assert!(e.to_string().contains("still assigned to a guest"), "{e}");
    // Others: EBUSY.
    h.answer_numvfs(&pf, NumVfsAnswer::ErrnoOnZero(libc::EBUSY));
    let e = h.sysfs().set_num_vfs(&pf, 0, false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NumVfsBusy {
                requested: 0,
                current: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("assigned to a guest"), "{e}");
    assert_eq!(raw(&h, &pf, "sriov_numvfs"), "2\n");
    // A count write is not affected by an answer for writes of 0.
    assert!(h.sysfs().set_num_vfs(&pf, 2, false).is_ok());
}

#[test]
fn a_write_of_0_that_leaves_vfs_is_a_short_count_too() {
    // bnxt_en: "Unable to configure SRIOV since some VFs are assigned to VMs",
    // returns 0 for a write of 0, and the VFs stay.
    let pf = addr("0000:01:00.0");
    let h = host(PfSpec::intel_82576(pf).vfs(3));
    h.answer_numvfs(&pf, NumVfsAnswer::ZeroLeaves(3));
    let e = h.sysfs().set_num_vfs(&pf, 0, false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NumVfsShort {
                requested: 0,
                enabled: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("assigned to a guest"), "{e}");
    // A recreate stops at the 0 it could not reach: nothing more is written.
    let e = h.sysfs().set_num_vfs(&pf, 5, true).unwrap_err();
    assert!(matches!(e, Error::NumVfsShort { requested: 0, .. }), "{e}");
    assert_eq!(raw(&h, &pf, "sriov_numvfs"), "3");
}
