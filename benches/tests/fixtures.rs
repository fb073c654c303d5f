//! The benchmark fixtures are what they claim to be: parsed both ways.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sriov_benches::fixtures;

#[test]
fn vfinfo_dump_parses_back_to_the_values_written() {
    let vfs = netlink_vf::parse_vfinfo_list(&fixtures::vfinfo_list(256, true)).unwrap();
    assert_eq!(vfs.len(), 256);
    for (i, v) in (0u32..).zip(&vfs) {
        assert_eq!(v.index, i);
        assert_eq!(v.mac.unwrap().octets(), fixtures::vf_mac(i));
        assert_eq!(v.vlan.unwrap().get(), fixtures::vf_vlan(i));
        assert_eq!(u32::from(v.qos.unwrap().get()), i % 8);
        assert_eq!(v.max_tx_rate, Some(1000));
        assert_eq!(v.spoofchk, Some(true));
        assert_eq!(v.trust, Some(i % 2 == 1));
        assert_eq!(v.query_rss, None, "-1 means unknown");
        let st = v.stats.unwrap();
        assert_eq!(st.rx_packets, u64::from(i) * 1000 + 1);
        assert_eq!(st.tx_dropped, Some(8));
    }
}

#[test]
fn pf_link_payload_parses_with_its_vf_table() {
    let l = netlink_vf::parse_link(&fixtures::pf_link_payload("enp59s0f0", 64, false)).unwrap();
    assert_eq!(l.name.as_str(), "enp59s0f0");
    assert_eq!(l.num_vfs, Some(64));
    assert!(l.up);
    let vfs = l.vfs.unwrap();
    assert_eq!(vfs.len(), 64);
    assert!(vfs.iter().all(|v| v.stats.is_none()));
}

#[test]
fn vf_configs_cover_every_vf() {
    let c = fixtures::vf_configs(256).unwrap();
    assert_eq!(c.len(), 256);
    let bytes = netlink_vf::set_vfs_request_bytes(2, &c, 1);
    // One message, far below the kernel's 32 KiB default socket buffer limits
    // would matter: 256 VFs fit in one request.
    assert!(bytes.len() > 256 * 40, "{}", bytes.len());
}

#[test]
fn sysfs_fixture_resolves_256_vfs() {
    let (host, pf) = fixtures::sysfs_host(256).unwrap();
    let vfs = host.sysfs().vfs(&pf).unwrap();
    assert_eq!(vfs.len(), 256);
    assert_eq!(vfs[255].index, 255);
}

#[test]
fn grub_fixtures_parse_and_edit() {
    for text in [fixtures::GRUB_DEBIAN, fixtures::GRUB_EDITED] {
        let out = bootcmd::grub::edit_text(text, &bootcmd::iommu_edits(bootcmd::CpuVendor::Intel))
            .unwrap();
        assert!(out.contains("intel_iommu=on"), "{out}");
        sriov_benches::props::grub(text.as_bytes());
    }
    for l in fixtures::CMDLINES {
        sriov_benches::props::cmdline(l.as_bytes());
    }
}

/// Regenerates the binary seeds of the `netlink` fuzz target from the fixtures
/// (`cargo test -p sriov-benches --test fixtures -- --ignored`).
#[test]
#[ignore = "writes fuzz/corpus/netlink; run with --ignored to regenerate"]
fn write_netlink_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/netlink");
    std::fs::create_dir_all(&dir).unwrap();
    let w = |name: &str, b: &[u8]| std::fs::write(dir.join(name), b).unwrap();
    w(
        "newlink-pf-2vfs-stats",
        &fixtures::pf_link_payload("eth0", 2, true),
    );
    w(
        "newlink-pf-7vfs",
        &fixtures::pf_link_payload("enp1s0", 7, false),
    );
    w("vfinfo-list-3-stats", &fixtures::vfinfo_list(3, true));
    w("vf-info-nest", &fixtures::vf_info_nest(5, true));
    let c = fixtures::vf_configs(4).unwrap();
    w(
        "setlink-4vfs-request",
        &netlink_vf::set_vfs_request_bytes(2, &c, 1),
    );
    // 12-byte records that the round-trip half of the property turns into VF configs.
    let mut recs = Vec::new();
    for i in 0u8..6 {
        recs.extend_from_slice(&[i, 0x1f, 2, 0, 0, 0, 0, i, 50 + i, 0, i, 3]);
    }
    w("vf-config-records", &recs);
}
