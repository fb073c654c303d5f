//! Check 2: the firmware describes an IOMMU in ACPI: DMAR (Intel VT-d) or IVRS (AMD-Vi).

use crate::cpu::{firmware_option, iommu_name, CpuVendor};
use crate::report::{Check, CheckId, Status};
use crate::root::Root;

pub(crate) const TABLES: &str = "sys/firmware/acpi/tables";
pub(crate) const DMAR: &str = "sys/firmware/acpi/tables/DMAR";
pub(crate) const IVRS: &str = "sys/firmware/acpi/tables/IVRS";

/// DMAR flags byte (offset 37, after the 36-byte ACPI header and the host address
/// width), VT-d specification section 8.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DmarFlags(pub(crate) u8);

impl DmarFlags {
    /// Bit 0: INTR_REMAP, the platform supports interrupt remapping.
    pub(crate) fn intr_remap(self) -> bool {
        self.0 & 0x1 != 0
    }
    /// Bit 1: X2APIC_OPT_OUT, firmware asks the OS not to enable x2APIC mode.
    pub(crate) fn x2apic_opt_out(self) -> bool {
        self.0 & 0x2 != 0
    }

    pub(crate) fn parse(table: &[u8]) -> Option<Self> {
        if table.len() < 38 || &table[..4] != b"DMAR" {
            return None;
        }
        table.get(37).copied().map(DmarFlags)
    }

    pub(crate) fn describe(self) -> String {
        let mut parts = vec![format!("flags 0x{:02x}", self.0)];
        parts.push(if self.intr_remap() {
            "INTR_REMAP set (interrupt remapping supported)".to_owned()
        } else {
            "INTR_REMAP clear (no interrupt remapping)".to_owned()
        });
        if self.x2apic_opt_out() {
            parts.push("X2APIC_OPT_OUT set".to_owned());
        }
        parts.join(", ")
    }
}

/// What the ACPI table directory shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Firmware {
    pub(crate) tables_visible: bool,
    pub(crate) dmar: bool,
    pub(crate) ivrs: bool,
    /// `None` when DMAR is absent or unreadable (it is mode 0400: root only).
    pub(crate) dmar_flags: Option<DmarFlags>,
    pub(crate) dmar_unreadable: Option<String>,
}

impl Firmware {
    pub(crate) fn load(root: &Root) -> Self {
        let mut fw = Firmware {
            tables_visible: root.is_dir(TABLES),
            dmar: root.exists(DMAR),
            ivrs: root.exists(IVRS),
            ..Firmware::default()
        };
        if fw.dmar {
            match root.read_bytes(DMAR) {
                Ok(bytes) => fw.dmar_flags = DmarFlags::parse(&bytes),
                Err(r) => fw.dmar_unreadable = Some(r.describe_absence()),
            }
        }
        fw
    }

    pub(crate) fn any(&self) -> bool {
        self.dmar || self.ivrs
    }
}

pub(crate) fn check(
    fw: &Firmware,
    vendor: CpuVendor,
    iommu_units: usize,
    in_container: bool,
) -> Check {
    let mut check = if fw.dmar || fw.ivrs {
        let mut names = Vec::new();
        if fw.dmar {
            names.push("DMAR (Intel VT-d)");
        }
        if fw.ivrs {
            names.push("IVRS (AMD-Vi)");
        }
        Check::new(
            CheckId::Firmware,
            Status::Pass,
            format!(
                "the firmware describes an IOMMU: ACPI {}",
                names.join(" and ")
            ),
        )
    } else if !fw.tables_visible {
        if iommu_units > 0 {
            Check::new(
                CheckId::Firmware,
                Status::Info,
                "no ACPI tables visible, but the kernel registered IOMMU units (device tree or a masked /sys/firmware)",
            )
        } else if in_container {
            Check::new(
                CheckId::Firmware,
                Status::Skip,
                "ACPI tables are not visible inside this container",
            )
        } else {
            Check::new(
                CheckId::Firmware,
                Status::Warn,
                "ACPI tables are not visible, so the firmware's IOMMU description cannot be checked",
            )
            .with_remedy("Run the check on the host with sysfs mounted at /sys.")
        }
    } else {
        Check::new(
            CheckId::Firmware,
            Status::Fail,
            format!(
                "no ACPI DMAR or IVRS table: the firmware does not expose an IOMMU ({} is off or absent)",
                iommu_name(vendor)
            ),
        )
        .with_remedy(format!(
            "Enable {} in the firmware (BIOS/UEFI) setup, then boot again. If the setup has no such option, the board does not support passthrough.",
            firmware_option(vendor)
        ))
    };
    let tables = Root::shown(TABLES);
    let observed = if !fw.tables_visible {
        "missing".to_owned()
    } else {
        format!(
            "DMAR {}, IVRS {}",
            if fw.dmar { "present" } else { "absent" },
            if fw.ivrs { "present" } else { "absent" }
        )
    };
    check.push_evidence(tables, observed);
    if let Some(flags) = fw.dmar_flags {
        check.push_evidence(Root::shown(DMAR), flags.describe());
    } else if let Some(why) = &fw.dmar_unreadable {
        check.push_evidence(Root::shown(DMAR), why.clone());
    }
    check
}

#[cfg(test)]
mod tests {
    use super::DmarFlags;

    #[test]
    fn dmar_flags() {
        let mut t = vec![0u8; 48];
        t[..4].copy_from_slice(b"DMAR");
        t[37] = 0x03;
        let f = DmarFlags::parse(&t);
        assert_eq!(f, Some(DmarFlags(3)));
        assert!(f.is_some_and(|f| f.intr_remap() && f.x2apic_opt_out()));
        assert_eq!(DmarFlags::parse(b"DMAR"), None);
        assert_eq!(DmarFlags::parse(&[0u8; 48]), None);
    }
}
