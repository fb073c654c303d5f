//! Whole-report tests on fixture hosts: the exact status of every check and the
//! verdict.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::Host;
use iommu_check::{check, CheckId, Report, Status, Verdict};

use CheckId::*;
use Status::*;

fn statuses(report: &Report) -> Vec<(CheckId, Status)> {
    report.checks.iter().map(|c| (c.id, c.status)).collect()
}

/// Compares every check's status, printing the report on mismatch.
fn assert_statuses(report: &Report, expected: [Status; 9]) {
    // Every warning and failure tells the admin what to do.
    for c in &report.checks {
        if matches!(c.status, Warn | Fail) {
            assert!(
                c.remedy.is_some(),
                "{} is {} without a remedy",
                c.id,
                c.status
            );
        }
    }
    let want: Vec<(CheckId, Status)> = CheckId::ALL.iter().copied().zip(expected).collect();
    assert_eq!(
        statuses(report),
        want,
        "\n{}",
        iommu_check::render(report, iommu_check::RenderOptions::new(false).verbose(true))
    );
}

fn summary(report: &Report, id: CheckId) -> &str {
    &report.get(id).unwrap().summary
}

fn remedy(report: &Report, id: CheckId) -> &str {
    report.get(id).unwrap().remedy.as_deref().unwrap_or("")
}

#[test]
fn intel_with_pt_is_ready() {
    let h = Host::intel_pt();
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Pass, Pass, Pass, Pass, Pass, Pass, Info, Pass]);
    assert_eq!(r.verdict, Verdict::Ready);
    assert!(summary(&r, Cpu).contains("GenuineIntel"));
    assert!(summary(&r, KernelIommu).contains("dmar0, dmar1"));
    assert!(summary(&r, DmaMode).contains("3 group(s) identity"));
    assert!(summary(&r, InterruptRemapping).contains("IR-IO-APIC, IR-PCI-MSIX"));
    let ir = r.get(InterruptRemapping).unwrap();
    assert!(ir
        .evidence
        .iter()
        .any(|e| e.source == "/sys/firmware/acpi/tables/DMAR"
            && e.observed.contains("INTR_REMAP set")));
    assert!(ir
        .evidence
        .iter()
        .any(|e| e.source == "/sys/class/iommu/dmar0/intel-iommu/ecap"
            && e.observed.starts_with("IR bit set")));
    let cmd = r.get(Cmdline).unwrap();
    assert_eq!(cmd.finding("iommu=pt").map(|f| f.status), Some(Info));
    assert_eq!(r.container, None);
}

#[test]
fn amd_without_interrupt_remapping_fails_and_says_why() {
    let h = Host::amd_no_ir();
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Pass, Pass, Warn, Pass, Fail, Pass, Info, Pass]);
    assert_eq!(r.verdict, Verdict::NotReady);
    assert!(summary(&r, Cpu).contains("AuthenticAMD"));
    assert!(summary(&r, Firmware).contains("IVRS"));
    let ir = summary(&r, InterruptRemapping);
    assert!(
        ir.contains("off because the command line has `intremap=off`"),
        "{ir}"
    );
    assert!(ir.contains("vfio will refuse"), "{ir}");
    let fix = remedy(&r, InterruptRemapping);
    assert!(
        fix.contains("vfio_iommu_type1.allow_unsafe_interrupts=1"),
        "{fix}"
    );
    assert!(fix.contains("inject interrupts"), "{fix}");
    assert_eq!(
        r.get(Cmdline)
            .unwrap()
            .finding("intremap=off")
            .map(|f| f.status),
        Some(Warn)
    );
}

#[test]
fn amd_with_unsafe_interrupts_allowed_only_warns() {
    let h = Host::amd_no_ir();
    // Loaded by modprobe, which applied the command line: the module shows Y.
    h.cmdline("console=ttyS0 iommu=pt intremap=off vfio_iommu_type1.allow_unsafe_interrupts=1")
        .file(
            "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
            "Y\n",
        );
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Pass, Pass, Warn, Pass, Warn, Pass, Info, Pass]);
    assert_eq!(r.verdict, Verdict::Ready);
    assert!(summary(&r, InterruptRemapping).contains("allow_unsafe_interrupts"));
    assert!(remedy(&r, InterruptRemapping).contains("forge MSI"));
    let f = r
        .get(Cmdline)
        .unwrap()
        .finding("vfio_iommu_type1.allow_unsafe_interrupts=1")
        .unwrap();
    assert_eq!(f.status, Warn);
}

#[test]
fn unsafe_interrupts_on_the_command_line_before_the_module_loads() {
    let h = Host::amd_no_ir();
    h.cmdline("iommu=pt intremap=off vfio_iommu_type1.allow_unsafe_interrupts=1")
        .remove("sys/module/vfio_iommu_type1")
        .file("proc/modules", "vfio 61440 0 - Live 0x0\n")
        .file("sys/module/vfio_pci/initstate", "live\n");
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(InterruptRemapping), Warn);
}

/// The test bed's AMD guest with `allow_unsafe_interrupts=1` on the command line: busybox
/// `insmod` does not apply it, the module shows N, and vfio refused the group with EPERM
/// ("No interrupt remapping support") when probed.
#[test]
fn unsafe_interrupts_on_the_command_line_ignored_by_an_insmod_module() {
    let h = Host::amd_no_ir();
    h.cmdline("iommu=pt intremap=off noapic vfio_iommu_type1.allow_unsafe_interrupts=1");
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(InterruptRemapping), Fail);
    let ir = r.get(InterruptRemapping).unwrap();
    assert!(
        ir.summary.starts_with(
            "interrupt remapping is off because the command line has `intremap=off` and `noapic`"
        ),
        "{}",
        ir.summary
    );
    assert!(ir
        .summary
        .contains("allow_unsafe_interrupts=N although the command line asks for 1"));
    assert!(remedy(&r, InterruptRemapping)
        .contains("echo Y > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"));
    assert_eq!(r.verdict, Verdict::NotReady);
}

#[test]
fn unsafe_interrupts_from_the_module_parameter() {
    let h = Host::amd_no_ir();
    h.file(
        "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "Y\n",
    );
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(InterruptRemapping), Warn);
    assert!(r
        .get(InterruptRemapping)
        .unwrap()
        .evidence
        .iter()
        .any(|e| e.source.ends_with("allow_unsafe_interrupts") && e.observed == "Y"));
}

#[test]
fn no_iommu_is_not_ready() {
    let h = Host::no_iommu();
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Fail, Fail, Pass, Skip, Fail, Warn, Info, Pass]);
    assert_eq!(r.verdict, Verdict::NotReady);
    assert!(remedy(&r, Firmware).contains("Intel VT-d"));
    assert!(remedy(&r, KernelIommu).contains("firmware"));
    assert!(summary(&r, InterruptRemapping).contains("there is no IOMMU"));
    assert!(summary(&r, Vfio).contains("vfio_pci installed, not loaded"));
    assert!(remedy(&r, Vfio).contains("modprobe vfio vfio-pci vfio-iommu-type1"));
    assert_eq!(
        r.get(Cmdline)
            .unwrap()
            .finding("intel_iommu")
            .map(|f| f.status),
        Some(Info)
    );
    assert_eq!(r.counts.fail, 3);
    assert_eq!(r.counts.warn, 1);
}

#[test]
fn no_iommu_with_firmware_table_asks_for_intel_iommu_on() {
    let h = Host::no_iommu();
    h.dmar(0x01);
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(Firmware), Pass);
    assert_eq!(r.status(KernelIommu), Fail);
    assert!(remedy(&r, KernelIommu).contains("Add `intel_iommu=on iommu=pt`"));
}

#[test]
fn iommu_disabled_on_the_command_line() {
    let h = Host::no_iommu();
    h.dmar(0x01)
        .cmdline("BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro intel_iommu=off iommu=pt");
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Pass, Fail, Fail, Skip, Fail, Warn, Info, Pass]);
    assert_eq!(r.verdict, Verdict::NotReady);
    assert!(summary(&r, KernelIommu).contains("`intel_iommu=off`"));
    assert!(remedy(&r, KernelIommu).contains("Remove `intel_iommu=off`"));
    let cmd = r.get(Cmdline).unwrap();
    assert_eq!(cmd.finding("intel_iommu=off").map(|f| f.status), Some(Fail));
    assert!(cmd
        .remedy
        .as_deref()
        .unwrap()
        .contains("Remove `intel_iommu=off`"));
}

/// The test bed's "none" guest: no iommu device, `intel_iommu=off amd_iommu=off`.
#[test]
fn no_firmware_table_and_disabled_on_the_command_line() {
    let h = Host::no_iommu();
    h.amd_cpu()
        .cmdline("console=ttyS0 panic=-1 quiet loglevel=3 intel_iommu=off amd_iommu=off");
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Fail, Fail, Fail, Skip, Fail, Warn, Info, Pass]);
    let fix = remedy(&r, KernelIommu);
    assert!(fix.starts_with("Enable \"IOMMU\" / \"AMD-Vi\""), "{fix}");
    assert!(
        fix.contains("Then: Remove `intel_iommu=off` and `amd_iommu=off`"),
        "{fix}"
    );
}

#[test]
fn iommu_off_and_lint_flags() {
    let h = Host::amd_no_ir();
    h.empty_iommu()
        .remove("sys/class/iommu/ivhd0")
        .remove("sys/kernel/iommu_groups/0")
        .remove("sys/kernel/iommu_groups/1")
        .cmdline(
            "root=/dev/sda1 amd_iommu=on iommu=off pcie_acs_override=downstream,multifunction",
        );
    let r = check(h.root()).unwrap();
    let cmd = r.get(Cmdline).unwrap();
    assert_eq!(cmd.status, Fail);
    assert_eq!(cmd.finding("iommu=off").map(|f| f.status), Some(Fail));
    assert_eq!(cmd.finding("amd_iommu=on").map(|f| f.status), Some(Warn));
    let acs = cmd
        .finding("pcie_acs_override=downstream,multifunction")
        .unwrap();
    assert_eq!(acs.status, Warn);
    assert!(
        acs.message.contains("pretend devices are isolated"),
        "{}",
        acs.message
    );
    let fix = cmd.remedy.as_deref().unwrap();
    assert!(fix.starts_with("Drop `amd_iommu=on`"), "{fix}");
    assert!(fix.contains("remove `iommu=off`"), "{fix}");
    assert!(fix.contains("sriov-cli enable-iommu"), "{fix}");
    assert!(remedy(&r, KernelIommu).contains("Remove `iommu=off`"));
}

/// The guide's step one done, reboot not yet: /etc/kernel/cmdline has the IOMMU
/// parameters, the running kernel (booted by systemd-boot) does not.
#[test]
fn pending_reboot() {
    let h = Host::no_iommu();
    h.dmar(0x01)
        .proxmox_systemd_boot("root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt")
        .cmdline(r"initrd=\EFI\proxmox\6.8.12-4-pve\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 boot=zfs");
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Pass, Fail, Warn, Skip, Fail, Warn, Info, Pass]);
    assert_eq!(r.verdict, Verdict::NotReady);
    let cmd = r.get(Cmdline).unwrap();
    let f = cmd.finding("pending-reboot").unwrap();
    assert_eq!(f.status, Warn);
    assert!(
        f.message.starts_with(
            "/etc/kernel/cmdline asks for `intel_iommu=on`, `iommu=pt` which the running kernel does not have"
        ),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("proxmox-boot-tool refresh"),
        "{}",
        f.message
    );
    assert!(
        cmd.remedy.as_deref().unwrap().starts_with("Reboot"),
        "{:?}",
        cmd.remedy
    );
    assert!(cmd
        .evidence
        .iter()
        .any(|e| e.source == "/etc/kernel/cmdline"
            && e.observed.ends_with("intel_iommu=on iommu=pt")));
    assert_eq!(
        remedy(&r, KernelIommu),
        "The boot configuration already asks for `intel_iommu=on iommu=pt`: reboot into it (see \"Kernel command line\")."
    );
}

#[test]
fn grub_in_sync_is_not_pending() {
    let h = Host::intel_pt();
    h.grub("quiet intel_iommu=on iommu=pt");
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Pass, Pass, Pass, Pass, Pass, Pass, Info, Pass]);
    let f = r.get(Cmdline).unwrap().finding("pending-reboot").unwrap();
    assert_eq!(f.status, Info);
    assert_eq!(
        f.message,
        "the running kernel has everything /etc/default/grub asks for"
    );
}

#[test]
fn next_boot_would_drop_the_iommu_parameters() {
    let h = Host::intel_pt();
    h.grub("quiet");
    let r = check(h.root()).unwrap();
    let cmd = r.get(Cmdline).unwrap();
    assert_eq!(cmd.status, Warn);
    let f = cmd.finding("next-boot").unwrap();
    assert_eq!(f.status, Warn);
    assert!(
        f.message.contains("`intel_iommu=on`, `iommu=pt`"),
        "{}",
        f.message
    );
    assert!(
        f.message.ends_with("the next boot drops it"),
        "{}",
        f.message
    );
    assert_eq!(cmd.finding("pending-reboot").unwrap().status, Info);
}

#[test]
fn translated_dma_warns_and_recommends_pt() {
    let h = Host::intel_pt();
    h.group(0, "DMA-FQ", &["0000:00:00.0"])
        .group(1, "DMA-FQ", &["0000:00:01.0"])
        .group(2, "DMA", &["0000:00:1f.0"])
        .group(3, "unmanaged", &["0000:01:10.0"])
        .cmdline("BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 intel_iommu=on");
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(DmaMode), Warn);
    assert_eq!(r.verdict, Verdict::Ready);
    assert!(summary(&r, DmaMode).contains("1 owned by vfio"));
    assert!(remedy(&r, DmaMode).contains("iommu=pt"));
}

#[test]
fn vfio_built_in_passes() {
    let h = Host::intel_pt();
    h.remove("sys/module").vfio_builtin();
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(Vfio), Pass);
    assert!(
        summary(&r, Vfio).contains("vfio built in, vfio_pci built in, vfio_iommu_type1 built in")
    );
}

#[test]
fn vfio_seen_through_what_it_registers() {
    let h = Host::intel_pt();
    h.remove("sys/module")
        .file("proc/modules", "")
        .dir("sys/bus/pci/drivers/vfio-pci")
        .file(
            "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
            "N\n",
        );
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(Vfio), Pass);
    assert_eq!(
        summary(&r, Vfio),
        "VFIO ready: vfio registered, vfio_pci registered, vfio_iommu_type1 built in"
    );
}

#[test]
fn vfio_missing_fails() {
    let h = Host::intel_pt();
    h.remove("sys/module")
        .remove("dev/vfio")
        .file("proc/modules", "igb 1 0 - Live 0x0\n");
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(Vfio), Fail);
    assert!(remedy(&r, Vfio)
        .starts_with("Load the modules (`modprobe vfio vfio-pci vfio-iommu-type1`)"));
    assert_eq!(r.verdict, Verdict::NotReady);
    // A kernel without module support: nothing to modprobe.
    h.remove("proc/modules");
    let r = check(h.root()).unwrap();
    assert_eq!(r.status(Vfio), Fail);
    assert!(remedy(&r, Vfio).starts_with("This kernel cannot load modules"));
}

#[test]
fn container_limits_conclusions() {
    let h = Host::intel_pt();
    h.lxc().remove("sys/firmware");
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Pass, Info, Pass, Pass, Pass, Pass, Pass, Info, Warn]);
    assert_eq!(r.container.as_deref(), Some("lxc"));
    assert_eq!(r.verdict, Verdict::Ready);
    assert!(summary(&r, Container).contains("inside a container (lxc)"));
    assert_eq!(
        r.get(Cmdline)
            .unwrap()
            .finding("pending-reboot")
            .map(|f| f.status),
        Some(Skip)
    );
    let c = r.get(Container).unwrap();
    assert!(c
        .evidence
        .iter()
        .any(|e| e.source == "/proc/1/environ" && e.observed == "container=lxc"));
}

#[test]
fn container_without_ir_visibility_skips_firmware() {
    let h = Host::no_iommu();
    h.remove("sys/firmware").file("/.dockerenv", "");
    let r = check(h.root()).unwrap();
    assert_eq!(r.container.as_deref(), Some("docker"));
    assert_eq!(r.status(Firmware), Skip);
    assert_eq!(r.status(Container), Warn);
}

#[test]
fn docker_cgroup_is_a_container() {
    let h = Host::intel_pt();
    h.file(
        "proc/1/cgroup",
        "12:pids:/docker/0123abcd\n0::/docker/0123abcd\n",
    );
    let r = check(h.root()).unwrap();
    assert_eq!(r.container.as_deref(), Some("docker"));
}

#[test]
fn empty_root_reports_instead_of_failing() {
    let h = Host::new();
    let r = check(h.root()).unwrap();
    assert_statuses(&r, [Warn, Warn, Fail, Warn, Skip, Warn, Fail, Info, Pass]);
    assert_eq!(r.verdict, Verdict::NotReady);
}

#[test]
fn root_must_be_a_directory() {
    let h = Host::new();
    h.file("f", "");
    let err = check(h.path("f")).unwrap_err();
    assert!(matches!(err, iommu_check::Error::RootNotADirectory { .. }));
}

#[test]
fn json_shape() {
    let h = Host::amd_no_ir();
    let r = check(h.root()).unwrap();
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["verdict"], "not-ready");
    assert_eq!(v["checks"][5]["id"], "interrupt-remapping");
    assert_eq!(v["checks"][5]["status"], "fail");
    assert!(v["checks"][5]["remedy"].is_string());
    assert_eq!(v["checks"][5]["evidence"][0]["source"], "/proc/interrupts");
    assert_eq!(v["counts"]["fail"], 1);
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn live_host_gives_a_report() {
    // Whatever this machine is, every check answers and nothing errors.
    let r = check("/").unwrap();
    let ids: Vec<CheckId> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CheckId::ALL);
    let text = iommu_check::render(&r, iommu_check::RenderOptions::new(false));
    assert!(text.contains("PCI passthrough:"));
}
