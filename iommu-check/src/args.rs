//! Questions the checks ask about the running command line, answered with
//! `bootcmd`'s parser (kernel `next_arg` rules, later options override earlier ones).

use bootcmd::{iommu::kernel_bool, Cmdline};

/// The kernel parameter that switches the IOMMU off, if any: `intel_iommu=off`
/// (dmar_disabled), `amd_iommu=off`, or `iommu=off` (no_iommu, which both drivers
/// honour): drivers/iommu/intel/iommu.c, drivers/iommu/amd/init.c,
/// arch/x86/kernel/pci-dma.c.
pub(crate) fn iommu_disabled_by(c: &Cmdline) -> Option<String> {
    ["intel_iommu", "amd_iommu", "iommu"]
        .into_iter()
        .find(|k| c.has_option(k, "off"))
        .map(|k| format!("{k}=off"))
}

/// Every IOMMU-disabling parameter in effect (`intel_iommu=off`, `amd_iommu=off`,
/// `iommu=off`).
pub(crate) fn iommu_disabled_all(c: &Cmdline) -> Vec<String> {
    ["intel_iommu", "amd_iommu", "iommu"]
        .into_iter()
        .filter(|k| c.has_option(k, "off"))
        .map(|k| format!("{k}=off"))
        .collect()
}

/// `intremap=off` or `nointremap`: interrupt remapping switched off by the command
/// line (drivers/iommu/irq_remapping.c).
pub(crate) fn intremap_disabled_by(c: &Cmdline) -> Option<String> {
    if c.has_option("intremap", "off") {
        Some("intremap=off".to_owned())
    } else if c.contains("nointremap") {
        Some("nointremap".to_owned())
    } else {
        None
    }
}

/// `vfio_iommu_type1.allow_unsafe_interrupts` set true (a bare flag is true too).
pub(crate) fn unsafe_interrupts(c: &Cmdline) -> bool {
    c.get("vfio_iommu_type1.allow_unsafe_interrupts")
        .is_some_and(|p| p.value().is_none_or(|v| kernel_bool(&v) == Some(true)))
}

/// Passthrough (identity) DMA mode asked for: `iommu=pt` or `iommu.passthrough=1`.
pub(crate) fn passthrough(c: &Cmdline) -> Option<String> {
    if c.has_option("iommu", "pt") {
        Some("iommu=pt".to_owned())
    } else if c
        .value("iommu.passthrough")
        .is_some_and(|v| kernel_bool(&v) == Some(true))
    {
        Some("iommu.passthrough=1".to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_intel_iommu_option_wins() {
        let c = Cmdline::parse("intel_iommu=on,sm_on intel_iommu=off");
        assert_eq!(iommu_disabled_by(&c).as_deref(), Some("intel_iommu=off"));
        let c = Cmdline::parse("intel_iommu=off intel-iommu=igfx_off,on");
        assert_eq!(iommu_disabled_by(&c), None);
        let c = Cmdline::parse("root=/dev/sda1 iommu=off");
        assert_eq!(iommu_disabled_by(&c).as_deref(), Some("iommu=off"));
    }

    #[test]
    fn intremap_and_unsafe() {
        let c = Cmdline::parse("intremap=off");
        assert_eq!(intremap_disabled_by(&c).as_deref(), Some("intremap=off"));
        assert_eq!(intremap_disabled_by(&Cmdline::parse("intremap=on")), None);
        assert_eq!(
            intremap_disabled_by(&Cmdline::parse("quiet nointremap")).as_deref(),
            Some("nointremap")
        );
        assert!(unsafe_interrupts(&Cmdline::parse(
            "vfio-iommu-type1.allow_unsafe_interrupts=1"
        )));
        assert!(unsafe_interrupts(&Cmdline::parse(
            "vfio_iommu_type1.allow_unsafe_interrupts"
        )));
        assert!(!unsafe_interrupts(&Cmdline::parse(
            "vfio_iommu_type1.allow_unsafe_interrupts=0"
        )));
    }

    #[test]
    fn passthrough_spellings() {
        assert_eq!(
            passthrough(&Cmdline::parse("iommu=pt")).as_deref(),
            Some("iommu=pt")
        );
        assert_eq!(
            passthrough(&Cmdline::parse("iommu.passthrough=1")).as_deref(),
            Some("iommu.passthrough=1")
        );
        assert_eq!(passthrough(&Cmdline::parse("iommu=nopt")), None);
    }
}
