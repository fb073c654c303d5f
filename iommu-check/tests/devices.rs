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
