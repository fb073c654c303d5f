//! Check 1: the CPU vendor from `vendor_id` (firmware can hide `vmx`/`svm`, but not the
//! vendor) and the virtualization flags.

pub use bootcmd::CpuVendor;

use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

const CPUINFO: &str = "proc/cpuinfo";

/// The IOMMU's marketing name (`VT-d`, `AMD-Vi`, `IOMMU`).
pub(crate) fn iommu_name(vendor: CpuVendor) -> &'static str {
    match vendor {
        CpuVendor::Intel => "VT-d",
        CpuVendor::Amd => "AMD-Vi",
        _ => "IOMMU",
    }
}

/// Name of the firmware setup option that enables the IOMMU.
pub(crate) fn firmware_option(vendor: CpuVendor) -> &'static str {
    match vendor {
        CpuVendor::Intel => "\"Intel VT-d\" (\"Virtualization Technology for Directed I/O\")",
        CpuVendor::Amd => "\"IOMMU\" / \"AMD-Vi\" (often next to \"SVM Mode\")",
        _ => "the IOMMU (VT-d on Intel, AMD-Vi/IOMMU on AMD)",
    }
}

/// What `/proc/cpuinfo` says (first processor only: all are the same).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CpuInfo {
    pub(crate) vendor_id: Option<String>,
    pub(crate) model_name: Option<String>,
    pub(crate) vmx: bool,
    pub(crate) svm: bool,
    pub(crate) hypervisor: bool,
    pub(crate) read: bool,
}

impl CpuInfo {
    pub(crate) fn vendor(&self) -> CpuVendor {
        self.vendor_id
            .as_deref()
            .map_or(CpuVendor::Other, CpuVendor::from_vendor_id)
    }

    pub(crate) fn parse(text: &str) -> Self {
        let mut info = CpuInfo {
            read: true,
            ..CpuInfo::default()
        };
        let mut seen_flags = false;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "vendor_id" if info.vendor_id.is_none() => info.vendor_id = Some(value.to_owned()),
                "model name" if info.model_name.is_none() => {
                    info.model_name = Some(value.to_owned());
                }
                "flags" if !seen_flags => {
                    seen_flags = true;
                    for flag in value.split_ascii_whitespace() {
                        match flag {
                            "vmx" => info.vmx = true,
                            "svm" => info.svm = true,
                            "hypervisor" => info.hypervisor = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        info
    }

    pub(crate) fn load(root: &Root) -> (Self, Read) {
        let read = root.read(CPUINFO);
        let info = read.text().map(CpuInfo::parse).unwrap_or_default();
        (info, read)
    }
}

pub(crate) fn check(info: &CpuInfo, read: &Read) -> Check {
    let src = Root::shown(CPUINFO);
    if !info.read {
        return Check::new(
            CheckId::Cpu,
            Status::Warn,
            "cannot read the CPU description; vendor-specific advice below is generic",
        )
        .with_evidence(src, read.describe_absence())
        .with_remedy("Run the check on the host itself, with /proc mounted.");
    }
    let vendor = info.vendor();
    let vendor_id = info
        .vendor_id
        .clone()
        .unwrap_or_else(|| "(none)".to_owned());
    let mut flags = Vec::new();
    if info.vmx {
        flags.push("vmx");
    }
    if info.svm {
        flags.push("svm");
    }
    if info.hypervisor {
        flags.push("hypervisor");
    }
    let flag_text = if flags.is_empty() {
        "no vmx/svm/hypervisor flag".to_owned()
    } else {
        format!("flags include {}", flags.join(", "))
    };
    let mut check_ev = vec![(src.clone(), format!("vendor_id: {vendor_id}; {flag_text}"))];
    if let Some(model) = &info.model_name {
        check_ev.push((src.clone(), format!("model name: {model}")));
    }

    let (needed_flag, tech) = match vendor {
        CpuVendor::Intel => ("vmx", "Intel VT-x"),
        CpuVendor::Amd => ("svm", "AMD-V"),
        _ => ("", ""),
    };
    let mut check = if !matches!(vendor, CpuVendor::Intel | CpuVendor::Amd) {
        Check::new(
            CheckId::Cpu,
            Status::Warn,
            format!(
                "CPU vendor {vendor_id} is neither Intel nor AMD; the VT-d/AMD-Vi advice here may not apply"
            ),
        )
        .with_remedy("Consult the platform's documentation for enabling its IOMMU and KVM.")
    } else if info.vmx || info.svm {
        Check::new(
            CheckId::Cpu,
            Status::Pass,
            format!(
                "{vendor_id} with {tech} ({needed_flag} flag); the IOMMU to expect is {}",
                iommu_name(vendor)
            ),
        )
    } else if info.hypervisor {
        Check::new(
            CheckId::Cpu,
            Status::Warn,
            format!(
                "{vendor_id}, running as a virtual machine without {needed_flag}: nested virtualization is not exposed, VMs here run without KVM"
            ),
        )
        .with_remedy(format!(
            "Expose {tech} to this guest (nested virtualization, e.g. QEMU -cpu host) if VMs must run in it."
        ))
    } else {
        Check::new(
            CheckId::Cpu,
            Status::Warn,
            format!(
                "{vendor_id} without the {needed_flag} flag: {tech} is disabled in the firmware, so KVM cannot run VMs"
            ),
        )
        .with_remedy(format!(
            "Enable {tech} (\"Virtualization Technology\"{}) in the firmware setup.",
            if vendor == CpuVendor::Amd { " / \"SVM Mode\"" } else { "" }
        ))
    };
    for (s, o) in check_ev {
        check.push_evidence(s, o);
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_first_processor() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t\t: fpu vmx sse\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t: svm\n";
        let info = CpuInfo::parse(text);
        assert_eq!(info.vendor(), CpuVendor::Intel);
        assert!(info.vmx && !info.svm && !info.hypervisor);
        assert_eq!(info.model_name.as_deref(), Some("Xeon"));
    }

    #[test]
    fn hygon_is_amd() {
        let info = CpuInfo::parse("vendor_id\t: HygonGenuine\nflags\t: svm\n");
        assert_eq!(info.vendor(), CpuVendor::Amd);
        let info = CpuInfo::parse("vendor_id\t: CentaurHauls\n");
        assert_eq!(info.vendor(), CpuVendor::Other);
    }
}
