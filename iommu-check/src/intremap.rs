//! Check 6: interrupt remapping. vfio_iommu_type1 refuses to attach a group whose MSIs
//! are not isolated ("No interrupt remapping support. Use the module param
//! \"allow_unsafe_interrupts\" ...", drivers/vfio/vfio_iommu_type1.c), and on x86
//! isolation means interrupt remapping: the kernel then names its irq chips `IR-...`
//! (`IR-IO-APIC`, `IR-PCI-MSI`, `IR-PCI-MSIX-0000:01:00.0`) in `/proc/interrupts`.

use bootcmd::Cmdline;

use crate::args::{intremap_disabled_by, unsafe_interrupts};
use crate::firmware::{Firmware, DMAR};
use crate::iommu::{Iommu, CLASS_IOMMU};
use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

pub(crate) const INTERRUPTS: &str = "proc/interrupts";
pub(crate) const UNSAFE_PARAM: &str =
    "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";

/// Irq chip names seen in `/proc/interrupts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Chips {
    /// Lines on a remapped chip, and the distinct chip names (`IR-PCI-MSI`).
    pub(crate) remapped_lines: usize,
    pub(crate) remapped: Vec<String>,
    /// Lines on an x86 chip that is not remapped (`IO-APIC`, `PCI-MSI`, `PCI-MSIX-...`).
    pub(crate) plain_lines: usize,
    pub(crate) plain: Vec<String>,
}

/// Strips the per-device suffix newer kernels add (`PCI-MSIX-0000:01:00.0` ->
/// `PCI-MSIX`).
fn chip_family(token: &str) -> String {
    token
        .match_indices('-')
        .map(|(i, _)| i)
        .find(|&i| token[i + 1..].parse::<sysfs_sriov::PciAddress>().is_ok())
        .map_or_else(|| token.to_owned(), |i| token[..i].to_owned())
}

impl Chips {
    pub(crate) fn parse(text: &str) -> Self {
        let mut chips = Chips::default();
        for line in text.lines().skip(1) {
            // The IOMMU's own interrupt is never remapped (by design): `AMD-Vi`, `dmar0`.
            let owner = line.split_ascii_whitespace().last().unwrap_or("");
            if owner == "AMD-Vi"
                || owner
                    .strip_prefix("dmar")
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            {
                continue;
            }
            let mut remapped = None;
            let mut plain = None;
            for tok in line.split_ascii_whitespace() {
                if tok.starts_with("IR-") {
                    remapped = Some(chip_family(tok));
                    break;
                }
                if tok == "IO-APIC" || tok.starts_with("PCI-MSI") {
                    plain = Some(chip_family(tok));
                    break;
                }
            }
            if let Some(name) = remapped {
                chips.remapped_lines += 1;
                if !chips.remapped.contains(&name) {
                    chips.remapped.push(name);
                }
            } else if let Some(name) = plain {
                chips.plain_lines += 1;
                if !chips.plain.contains(&name) {
                    chips.plain.push(name);
                }
            }
        }
        chips
    }
}

/// Whether an Intel unit's extended capability register has IR (bit 3).
fn ecap_ir(root: &Root, unit: &str) -> Option<bool> {
    let text = root.read(&format!("{CLASS_IOMMU}/{unit}/intel-iommu/ecap"));
    let value = u64::from_str_radix(text.text()?.trim().trim_start_matches("0x"), 16).ok()?;
    Some(value & (1 << 3) != 0)
}

pub(crate) fn check(root: &Root, args: Option<&Cmdline>, iommu: &Iommu, fw: &Firmware) -> Check {
    let read = root.read(INTERRUPTS);
    let src = Root::shown(INTERRUPTS);
    let Read::Text(text) = &read else {
        return Check::new(
            CheckId::InterruptRemapping,
            Status::Warn,
            "cannot read the interrupt list, interrupt remapping unknown",
        )
        .with_evidence(src, read.describe_absence())
        .with_remedy("Run the check on the host with /proc mounted.");
    };
    let chips = Chips::parse(text);
    let param = root.read(UNSAFE_PARAM);
    let unsafe_cmdline = args.is_some_and(unsafe_interrupts);
    // The loaded module's parameter is what vfio_iommu_type1 obeys. The command line
    // reaches it only through modprobe (which reads /proc/cmdline) or when it is
    // built in; a module loaded with plain insmod keeps N (seen in the test bed).
    let unsafe_module = param.text().map(|t| matches!(t.trim(), "Y" | "y" | "1"));
    let unsafe_allowed = unsafe_module.unwrap_or(unsafe_cmdline);
    let cmdline_ignored = unsafe_cmdline && unsafe_module == Some(false);

    let mut check = if chips.remapped_lines > 0 {
        let mut c = Check::new(
            CheckId::InterruptRemapping,
            Status::Pass,
            format!(
                "interrupts are remapped ({} on {})",
                chips.remapped_lines,
                chips.remapped.join(", ")
            ),
        );
        if unsafe_allowed {
            c.push_finding(
                Status::Info,
                "allow_unsafe_interrupts",
                "allow_unsafe_interrupts is set but not needed here: interrupt remapping works",
            );
        }
        c
    } else if chips.plain_lines == 0 {
        Check::new(
            CheckId::InterruptRemapping,
            Status::Skip,
            "no x86 IO-APIC/PCI-MSI interrupt chips listed: remapping cannot be judged from here",
        )
    } else {
        let mut causes: Vec<String> = args.and_then(intremap_disabled_by).into_iter().collect();
        if args.is_some_and(|a| a.contains("noapic")) {
            // arch/x86/kernel/apic/apic.c: "Not enabling interrupt remapping due to
            // skipped IO-APIC setup".
            causes.push("noapic".to_owned());
        }
        let why = if !causes.is_empty() {
            format!(
                "interrupt remapping is off because the command line has {}",
                causes
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        } else if !iommu.active() {
            "interrupt remapping is off: there is no IOMMU to do it".to_owned()
        } else if fw.dmar_flags.is_some_and(|f| !f.intr_remap()) {
            "interrupt remapping is off: the firmware's DMAR table does not offer it".to_owned()
        } else {
            "interrupt remapping is off (the IOMMU or firmware does not provide it)".to_owned()
        };
        let chip_text = format!(
            "{} IRQ line(s) on {}",
            chips.plain_lines,
            chips.plain.join(", ")
        );
        if unsafe_allowed {
            Check::new(
                CheckId::InterruptRemapping,
                Status::Warn,
                format!(
                    "{why}; vfio accepts devices only because allow_unsafe_interrupts is set ({chip_text})"
                ),
            )
            .with_remedy(
                "A guest with an assigned device can forge MSI writes and inject interrupts into the host: acceptable only for trusted guests. To remove the risk, enable interrupt remapping (VT-d/AMD-Vi and x2APIC in the firmware, no `intremap=off`/`nointremap`) and drop vfio_iommu_type1.allow_unsafe_interrupts.",
            )
        } else if cmdline_ignored {
            let mut c = Check::new(
                CheckId::InterruptRemapping,
                Status::Fail,
                format!("{why}; vfio will refuse to assign devices: the loaded vfio_iommu_type1 has allow_unsafe_interrupts=N although the command line asks for 1 ({chip_text})"),
            )
            .with_remedy(
                "The module was loaded without modprobe (which applies the command line): `echo Y > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts`, or reload it with modprobe. Better, enable interrupt remapping (VT-d/AMD-Vi and x2APIC in the firmware, no `intremap=off`/`nointremap`/`noapic`).",
            );
            c.push_finding(
                Status::Fail,
                "allow_unsafe_interrupts",
                "set on the command line but not in the loaded module",
            );
            c
        } else {
            Check::new(
                CheckId::InterruptRemapping,
                Status::Fail,
                format!("{why}; vfio will refuse to assign devices ({chip_text})"),
            )
            .with_remedy(
                "Enable interrupt remapping: VT-d/AMD-Vi (and x2APIC, if offered) in the firmware setup, and remove `intremap=off`/`nointremap`/`noapic` from the command line. Or, accepting that a guest can then inject interrupts into the host (trusted guests only): add `vfio_iommu_type1.allow_unsafe_interrupts=1` to the command line, or `options vfio_iommu_type1 allow_unsafe_interrupts=1` in /etc/modprobe.d/vfio.conf.",
            )
        }
    };
    let observed = match (chips.remapped.is_empty(), chips.plain.is_empty()) {
        (true, true) => "no IO-APIC/PCI-MSI chips".to_owned(),
        (false, true) => format!(
            "{} line(s) on {}",
            chips.remapped_lines,
            chips.remapped.join(", ")
        ),
        (true, false) => format!(
            "no IR- chip; {} line(s) on {}",
            chips.plain_lines,
            chips.plain.join(", ")
        ),
        (false, false) => format!(
            "{} line(s) on {}; {} on {}",
            chips.remapped_lines,
            chips.remapped.join(", "),
            chips.plain_lines,
            chips.plain.join(", ")
        ),
    };
    check.push_evidence(src, observed);
    if let Some(p) = args.and_then(intremap_disabled_by) {
        check.push_evidence(Root::shown("proc/cmdline"), p);
    }
    if chips.remapped_lines == 0 && args.is_some_and(|a| a.contains("noapic")) {
        check.push_evidence(Root::shown("proc/cmdline"), "noapic");
    }
    if let Some(flags) = fw.dmar_flags {
        check.push_evidence(Root::shown(DMAR), flags.describe());
    }
    for unit in iommu.units.iter().filter(|u| u.starts_with("dmar")) {
        if let Some(ir) = ecap_ir(root, unit) {
            check.push_evidence(
                format!("{}/{unit}/intel-iommu/ecap", Root::shown(CLASS_IOMMU)),
                if ir {
                    "IR bit set (unit supports interrupt remapping)"
                } else {
                    "IR bit clear (unit cannot remap interrupts)"
                },
            );
        }
    }
    if let Read::Text(t) = &param {
        check.push_evidence(Root::shown(UNSAFE_PARAM), t.trim().to_owned());
    }
    if unsafe_cmdline {
        check.push_evidence(
            Root::shown("proc/cmdline"),
            "vfio_iommu_type1.allow_unsafe_interrupts=1",
        );
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shape of a QEMU q35 guest with intel-iommu,intremap=on (Linux 6.1).
    const IR: &str = "           CPU0       CPU1       \n  0:         41          0   IR-IO-APIC    2-edge      timer\n  4:          0        312   IR-IO-APIC    4-edge      ttyS0\n 24:          0          0   DMAR-MSI    0-edge      dmar0\n 25:          0         17   IR-PCI-MSIX-0000:01:00.0    0-edge      eth0\nNMI:          0          0   Non-maskable interrupts\n";
    /// Same guest without an IOMMU (or with intremap=off).
    const PLAIN: &str = "           CPU0       CPU1       \n  0:         41          0   IO-APIC   2-edge      timer\n 25:          0         17   PCI-MSI-0000:01:00.0    0-edge      eth0\n 26:          0          1   PCI-MSI 524288-edge      virtio0\n 24:          0          0   PCI-MSI 32768-edge      AMD-Vi\nLOC:        100        100   Local timer interrupts\n";

    #[test]
    fn parses_ir_chips() {
        let c = Chips::parse(IR);
        assert_eq!(c.remapped_lines, 3);
        assert_eq!(c.remapped, ["IR-IO-APIC", "IR-PCI-MSIX"]);
        assert_eq!(c.plain_lines, 0);
    }

    /// Linux 6.12 (Debian backports) in the AMD-Vi test-bed guest, `intremap=off noapic`.
    const BACKPORTS_AMD: &str = "           CPU0       CPU1       \n  0:        103          0    XT-PIC      timer\n 24:          0          0  PCI-MSI-0000:00:02.0   0-edge      AMD-Vi\n 25:          0          0  PCI-MSIX-0000:00:03.0   0-edge      PCIe PME, aerdrv\n";

    #[test]
    fn skips_the_iommus_own_interrupt() {
        let c = Chips::parse(BACKPORTS_AMD);
        assert_eq!(c.remapped_lines, 0);
        assert_eq!(c.plain_lines, 1);
        assert_eq!(c.plain, ["PCI-MSIX"]);
    }

    #[test]
    fn chip_families() {
        assert_eq!(chip_family("IR-PCI-MSIX-0000:01:00.0"), "IR-PCI-MSIX");
        assert_eq!(chip_family("PCI-MSI-10000:e1:00.0"), "PCI-MSI");
        assert_eq!(chip_family("IR-IO-APIC"), "IR-IO-APIC");
    }

    #[test]
    fn parses_plain_chips() {
        let c = Chips::parse(PLAIN);
        assert_eq!(c.remapped_lines, 0);
        assert_eq!(c.plain_lines, 3);
        assert_eq!(c.plain, ["IO-APIC", "PCI-MSI"]);
    }
}
