//! Check 8 on fixture hosts built with sysfs-sriov's `fixture::HostBuilder`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::Host;
use iommu_check::{check, CheckId, Report, Status, Verdict};
use sysfs_sriov::Sysfs;

fn vf_group(h: &Host, index: u32) -> u32 {
    let sysfs = Sysfs::with_root(h.root());
    let pf = "0000:02:00.0".parse().unwrap();
    sysfs.vf(&pf, index).unwrap().iommu_group.unwrap()
}

fn vf_addr(h: &Host, index: u32) -> String {
    let sysfs = Sysfs::with_root(h.root());
    let pf = "0000:02:00.0".parse().unwrap();
    sysfs.vf(&pf, index).unwrap().address.to_string()
}

fn devices(r: &Report) -> &iommu_check::Check {
    r.get(CheckId::Devices).unwrap()
}

fn show(r: &Report) -> String {
    for c in &r.checks {
        if matches!(c.status, Status::Warn | Status::Fail) {
            assert!(
                c.remedy.is_some(),
                "{} is {} without a remedy",
                c.id,
                c.status
            );
        }
    }
    iommu_check::render(r, iommu_check::RenderOptions::new(false).verbose(true))
}

#[test]
fn every_vf_in_its_own_group() {
    let h = Host::intel_pt_sriov(Host::x710(4, &[2]));
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Pass, "{}", show(&r));
    assert_eq!(
        d.summary,
        "1 PF(s), 4 VF(s), 1 bound to vfio-pci; every VF in an IOMMU group of its own"
    );
    let g = vf_group(&h, 2);
    assert!(d
        .evidence
        .iter()
        .any(|e| e.source == format!("/dev/vfio/{g}") && e.observed.starts_with("present")));
    assert_eq!(r.verdict, Verdict::Ready, "{}", show(&r));
    // Everything else is the intel_pt host.
    assert!(
        r.checks.iter().all(|c| c.status == Status::Pass),
        "{}",
        show(&r)
    );
}

#[test]
fn pf_without_vfs_is_reported() {
    let h = Host::intel_pt_sriov(Host::x710(0, &[]));
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Pass);
    let f = d.finding("0000:02:00.0").unwrap();
    assert_eq!(f.status, Status::Info);
    assert!(
        f.message
            .contains("no VFs enabled (sriov_numvfs 0, up to 64)"),
        "{}",
        f.message
    );
}

#[test]
fn vf_sharing_a_group_warns_and_names_the_devices() {
    let h = Host::intel_pt_sriov(Host::x710(2, &[]));
    let g = vf_group(&h, 0);
    let vf0 = vf_addr(&h, 0);
    // An ISA bridge (class 0x0601, not a PCI-to-PCI bridge) and the PF in VF0's group.
    h.add_to_group(g, "0000:00:1f.0", "0x060100");
    h.symlink(
        &format!("sys/kernel/iommu_groups/{g}/devices/0000:02:00.0"),
        "../../../../devices/pci0000:00/0000:00:03.0/0000:02:00.0",
    );
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Warn, "{}", show(&r));
    let f = d.finding(&vf0).unwrap();
    assert_eq!(f.status, Status::Warn);
    assert!(
        f.message.contains(&format!(
            "shares IOMMU group {g} with 0000:00:1f.0, 0000:02:00.0 (its PF)"
        )),
        "{}",
        f.message
    );
    assert!(
        d.summary.ends_with("1 VF(s) share their IOMMU group"),
        "{}",
        d.summary
    );
    assert!(d.remedy.as_deref().unwrap().contains("whole group"));
    // A warning, not a failure.
    assert_eq!(r.verdict, Verdict::Ready);
    let vf1 = vf_addr(&h, 1);
    assert!(d.finding(&vf1).is_none());
}

#[test]
fn a_shared_group_is_explained_by_the_acs_of_the_ports_above() {
    use sysfs_sriov::fixture::{bridge_config, ACS_ISOLATING};
    let port_config = "sys/devices/pci0000:00/0000:00:03.0/config";
    let pf_config = "sys/devices/pci0000:00/0000:00:03.0/0000:02:00.0/config";
    let shared_message_pf =
        |config: Option<Vec<u8>>, pf: Option<Vec<u8>>| -> (String, Vec<String>) {
            let h = Host::intel_pt_sriov(Host::x710(2, &[]));
            let g = vf_group(&h, 0);
            h.add_to_group(g, "0000:00:1f.0", "0x060100");
            if let Some(c) = config {
                h.file(port_config, c);
            }
            if let Some(c) = pf {
                h.file(pf_config, c);
            }
            let r = check(h.root()).unwrap();
            let d = devices(&r);
            let f = d.finding(&vf_addr(&h, 0)).unwrap();
            assert_eq!(f.status, Status::Warn, "{}", show(&r));
            let ev = d
                .evidence
                .iter()
                .filter(|e| e.source == "/sys/bus/pci/devices/0000:00:03.0/config")
                .map(|e| e.observed.clone())
                .collect();
            (f.message.clone(), ev)
        };
    let shared_message = |config: Option<Vec<u8>>| shared_message_pf(config, None);

    // The fixture's root port isolates: the cause is elsewhere.
    let (m, ev) = shared_message(None);
    assert!(
        m.ends_with("; every port above it has ACS enabled, so the sharing comes from the device itself or a platform quirk"),
        "{m}"
    );
    assert_eq!(
        ev,
        ["ACS enabled: SrcValid ReqRedir CmpltRedir UpstreamFwd (ACSCap 0x001f, ACSCtl 0x001d) (above PF 0000:02:00.0)"]
    );
    assert_eq!(bridge_config(Some(ACS_ISOLATING)).len(), 4096);

    // A root port without ACS: named as the reason.
    let (m, ev) = shared_message(Some(bridge_config(None)));
    assert!(
        m.ends_with("; the port(s) above it do not isolate it: 0000:00:03.0 (no ACS capability)"),
        "{m}"
    );
    assert_eq!(ev, ["no ACS capability (above PF 0000:02:00.0)"]);

    // ACS there but not enabled (no IOMMU driver asked for it, or firmware).
    let (m, _) = shared_message(Some(bridge_config(Some(0x0001))));
    assert!(
        m.contains("0000:00:03.0 (ACS present but not isolating: ReqRedir, CmpltRedir, UpstreamFwd off (ACSCap 0x001f, ACSCtl 0x0001))"),
        "{m}"
    );

    // Only the first 64 bytes readable (not root): said, not guessed.
    let (m, ev) = shared_message(Some(vec![0u8; 64]));
    assert!(
        m.contains(
            "; ACS of the device(s) that decide it: 0000:00:03.0 (ACS unknown: 64 bytes of config space"
        ),
        "{m}"
    );
    assert!(ev[0].contains("read as root"), "{ev:?}");

    // Ports isolate, but the PF is one function of a multi-function device
    // whose functions have ACS that can redirect P2P and does not.
    let mut pf = bridge_config(Some(0));
    pf[0x0e] = 0x80;
    pf[0x14c..0x14e].copy_from_slice(&0x000c_u16.to_le_bytes());
    let (m, _) = shared_message_pf(None, Some(pf.clone()));
    assert!(
        m.ends_with("; its PF 0000:02:00.0 is one function of a multi-function device whose functions are not isolated from each other (ACS present but not isolating: ReqRedir, CmpltRedir off (ACSCap 0x000c, ACSCtl 0x0000)), unless a kernel quirk says they are"),
        "{m}"
    );
    // The same PF as a single-function device: not the reason.
    pf[0x0e] = 0x00;
    let (m, _) = shared_message_pf(None, Some(pf));
    assert!(m.ends_with("or a platform quirk"), "{m}");
}

#[test]
fn vf_sharing_only_with_a_bridge_passes() {
    let h = Host::intel_pt_sriov(Host::x710(1, &[]));
    let g = vf_group(&h, 0);
    h.add_to_group(g, "0000:00:03.0", "0x060400");
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Pass, "{}", show(&r));
    assert_eq!(d.finding(&vf_addr(&h, 0)).unwrap().status, Status::Info);
}

#[test]
fn vfio_vf_without_dev_node_fails() {
    let h = Host::intel_pt_sriov(Host::x710(4, &[1]));
    let g = vf_group(&h, 1);
    h.remove(&format!("dev/vfio/{g}"));
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Fail, "{}", show(&r));
    let f = d.finding(&vf_addr(&h, 1)).unwrap();
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.message,
        format!("VF 1 is bound to vfio-pci but /dev/vfio/{g} is missing")
    );
    assert!(
        d.summary
            .ends_with("1 vfio-pci VF(s) without /dev/vfio node"),
        "{}",
        d.summary
    );
    assert!(d.remedy.as_deref().unwrap().contains("devtmpfs"));
    assert_eq!(r.verdict, Verdict::NotReady);
}

#[test]
fn vfio_vf_without_dev_node_in_a_container_only_warns() {
    let h = Host::intel_pt_sriov(Host::x710(2, &[0]));
    let g = vf_group(&h, 0);
    h.remove(&format!("dev/vfio/{g}")).lxc();
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Warn, "{}", show(&r));
    assert!(d
        .finding(&vf_addr(&h, 0))
        .unwrap()
        .message
        .contains("not passed into this container"));
    assert_eq!(r.status(CheckId::Container), Status::Warn);
    assert_eq!(r.verdict, Verdict::Ready);
}

#[test]
fn no_iommu_skips_device_groups() {
    let h = Host::with_pci(Host::x710(2, &[]).no_iommu());
    h.intel_cpu()
        .acpi_tables()
        .empty_iommu()
        .interrupts_plain()
        .vfio_loaded()
        .cmdline("root=/dev/sda1");
    let r = check(h.root()).unwrap();
    let d = devices(&r);
    assert_eq!(d.status, Status::Skip, "{}", show(&r));
    assert_eq!(
        d.summary,
        "1 PF(s), 2 VF(s), 0 bound to vfio-pci; no IOMMU, so no device is in a group"
    );
    assert_eq!(d.finding("iommu-groups").unwrap().status, Status::Info);
    assert_eq!(r.verdict, Verdict::NotReady);
}
