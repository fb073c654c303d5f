//! What the kernel accepts for its IOMMU parameters, what to add per CPU vendor,
//! and a lint for command lines that defeat passthrough.
//!
//! Sources: the option loops in `drivers/iommu/intel/iommu.c` (`intel_iommu_setup`),
//! `drivers/iommu/amd/init.c` (`parse_amd_iommu_options`), `arch/x86/kernel/pci-dma.c`
//! (`iommu_setup`), `drivers/iommu/irq_remapping.c` (`setup_irqremap`),
//! `drivers/iommu/iommu.c` (`iommu.passthrough=`, `iommu.strict=`) and
//! `Documentation/admin-guide/kernel-parameters.txt`.
//!
//! `amd_iommu=on` is **not** an option: the AMD driver logs "Unknown option" and
//! carries on; AMD-Vi is enabled by default wherever the firmware provides an IVRS
//! table. This crate never writes it and [`iommu_edits`] removes it.

use std::fmt;

use crate::cmdline::{Cmdline, Edit, Param};

/// The CPU vendor, which decides the IOMMU driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum CpuVendor {
    /// `GenuineIntel`: VT-d, `intel_iommu=`.
    Intel,
    /// `AuthenticAMD` (and Hygon's `HygonGenuine`): AMD-Vi, `amd_iommu=`.
    Amd,
    /// Anything else (ARM SMMU, ...): nothing vendor-specific to add.
    Other,
}

impl CpuVendor {
    /// From a `vendor_id` string as in `/proc/cpuinfo`.
    pub fn from_vendor_id(id: &str) -> CpuVendor {
        match id.trim() {
            "GenuineIntel" => CpuVendor::Intel,
            "AuthenticAMD" | "HygonGenuine" => CpuVendor::Amd,
            _ => CpuVendor::Other,
        }
    }

    /// From the text of `/proc/cpuinfo` (first `vendor_id` line); `None` when absent.
    pub fn from_cpuinfo(text: &str) -> Option<CpuVendor> {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "vendor_id").then(|| CpuVendor::from_vendor_id(v))
        })
    }
}

/// One accepted option of an IOMMU parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionInfo {
    /// The option text.
    pub name: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

const fn o(name: &'static str, meaning: &'static str) -> OptionInfo {
    OptionInfo { name, meaning }
}

/// `intel_iommu=` options (`intel_iommu_setup`).
pub const INTEL_IOMMU: &[OptionInfo] = &[
    o("on", "enable the Intel IOMMU (VT-d / DMAR)"),
    o("off", "disable the Intel IOMMU"),
    o(
        "igfx_off",
        "leave the integrated graphics device out of DMA remapping",
    ),
    o("forcedac", "deprecated: use iommu.forcedac=1"),
    o("strict", "deprecated: use iommu.strict=1"),
    o("sp_off", "do not use super pages"),
    o("sm_on", "enable scalable mode if the hardware supports it"),
    o("sm_off", "disallow scalable mode"),
    o(
        "tboot_noforce",
        "do not force the IOMMU on after tboot (weakens tboot's DMA protection)",
    ),
];

/// `amd_iommu=` options (`parse_amd_iommu_options`). There is no `on`.
pub const AMD_IOMMU: &[OptionInfo] = &[
    o("fullflush", "deprecated: use iommu.strict=1"),
    o("off", "do not initialize any AMD IOMMU"),
    o("force_isolation", "force device isolation for all devices"),
    o(
        "force_enable",
        "enable the IOMMU on platforms known to be buggy with it",
    ),
    o("pgtbl_v1", "use the v1 page table for DMA-API"),
    o("pgtbl_v2", "use the v2 page table for DMA-API"),
    o("irtcachedis", "disable the interrupt remapping table cache"),
    o("nohugepages", "restrict v1 page sizes to 4 KiB"),
    o(
        "v2_pgsizes_only",
        "restrict v1 page sizes to 4 KiB/2 MiB/1 GiB",
    ),
];

/// x86 `iommu=` options (`iommu_setup`).
pub const IOMMU: &[OptionInfo] = &[
    o("off", "disable every IOMMU"),
    o("force", "force the use of the hardware IOMMU"),
    o("noforce", "do not force the hardware IOMMU"),
    o("biomerge", "merge scatter-gather lists (implies force)"),
    o("panic", "panic when the IOMMU overflows"),
    o("nopanic", "do not panic when the IOMMU overflows"),
    o("merge", "merge scatter-gather lists"),
    o("nomerge", "do not merge scatter-gather lists"),
    o("soft", "use software bounce buffering (swiotlb)"),
    o(
        "pt",
        "identity-map host devices (passthrough); only devices given to guests are translated",
    ),
    o("nopt", "translate DMA of host devices too"),
];

/// `intremap=` options (`setup_irqremap`).
pub const INTREMAP: &[OptionInfo] = &[
    o("on", "enable interrupt remapping (default when supported)"),
    o("off", "disable interrupt remapping"),
    o("nosid", "do not check the source id of remapped interrupts"),
    o(
        "no_x2apic_optout",
        "ignore the firmware's x2APIC opt-out when remapping is enabled",
    ),
    o("nopost", "disable interrupt posting"),
    o("posted_msi", "use posted MSIs"),
];

/// Boolean values of `iommu.passthrough=` / `iommu.strict=` (`kstrtobool`).
pub const BOOL_VALUES: &[OptionInfo] = &[o("0", "false"), o("1", "true")];

/// The accepted options of an IOMMU parameter, or `None` for a name this module
/// does not know. Names compare with `-` == `_`.
pub fn known_options(key: &str) -> Option<&'static [OptionInfo]> {
    match key.replace('-', "_").as_str() {
        "intel_iommu" => Some(INTEL_IOMMU),
        "amd_iommu" => Some(AMD_IOMMU),
        "iommu" => Some(IOMMU),
        "intremap" => Some(INTREMAP),
        "iommu.passthrough" | "iommu.strict" | "iommu.forcedac" => Some(BOOL_VALUES),
        _ => None,
    }
}

/// Parse a kernel boolean the way `kstrtobool()` does (`y`/`1`/`on`/`t` true,
/// `n`/`0`/`off`/`f` false); `None` for anything else.
pub fn kernel_bool(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    match b.first()? {
        b'y' | b'Y' | b't' | b'T' | b'1' => Some(true),
        b'n' | b'N' | b'f' | b'F' | b'0' => Some(false),
        b'o' | b'O' => match b.get(1)? {
            b'n' | b'N' => Some(true),
            b'f' | b'F' => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// One parameter recommended for passthrough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Recommended {
    /// Parameter name.
    pub key: &'static str,
    /// Value.
    pub value: &'static str,
    /// Why it is there.
    pub why: &'static str,
}

impl fmt::Display for Recommended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

const INTEL_ON: Recommended = Recommended {
    key: "intel_iommu",
    value: "on",
    why: "VT-d is off unless the kernel was built with CONFIG_INTEL_IOMMU_DEFAULT_ON",
};
const PT: Recommended = Recommended {
    key: "iommu",
    value: "pt",
    why: "identity-map host devices so only devices given to guests pay for translation",
};

/// The parameters to add for PCI passthrough: Intel `intel_iommu=on iommu=pt`,
/// AMD `iommu=pt` (AMD-Vi is on by default; `amd_iommu=on` does not exist),
/// others nothing.
pub fn iommu_params(vendor: CpuVendor) -> Vec<Recommended> {
    match vendor {
        CpuVendor::Intel => vec![INTEL_ON, PT],
        CpuVendor::Amd => vec![PT],
        CpuVendor::Other => Vec::new(),
    }
}

/// The edits that enable passthrough on a command line: the [`iommu_params`]
/// (an `intel_iommu=off` is replaced, `iommu=off`/`nopt` give way to `pt`) and
/// removal of the no-op `amd_iommu=on`.
pub fn iommu_edits(vendor: CpuVendor) -> Vec<Edit> {
    let mut edits: Vec<Edit> = iommu_params(vendor)
        .iter()
        .map(|r| Edit::ensure(r.key, r.value))
        .collect();
    edits.push(Edit::remove_option("amd_iommu", "on"));
    if vendor == CpuVendor::Amd {
        edits.push(Edit::remove_option("amd_iommu", "off"));
    }
    edits
}

/// How bad a lint finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Works, but wrong or risky.
    Warning,
    /// Defeats passthrough.
    Error,
}

/// What a lint finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum FindingKind {
    /// `amd_iommu=on`: not an option, does nothing.
    AmdIommuOnNoop,
    /// `intel_iommu=off`, `amd_iommu=off` or `iommu=off` in effect.
    IommuDisabled,
    /// `pcie_acs_override=`: pretends devices are isolated when they are not.
    PcieAcsOverride,
    /// `vfio_iommu_type1.allow_unsafe_interrupts=1`: accepts MSI without remapping.
    UnsafeInterrupts,
    /// `intremap=off`: interrupt remapping disabled.
    InterruptRemappingOff,
    /// An option the kernel does not know (it logs "Unknown option" and ignores it).
    UnknownOption {
        /// The parameter.
        key: String,
        /// The unknown option.
        option: String,
    },
    /// The vendor's IOMMU parameter for another vendor (harmless, probably a copy-paste).
    OtherVendor,
}

/// One lint finding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// What.
    pub kind: FindingKind,
    /// The token as written.
    pub param: String,
    /// A sentence for humans.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.message)
    }
}

fn finding(severity: Severity, kind: FindingKind, p: &Param, message: String) -> Finding {
    Finding {
        severity,
        kind,
        param: p.raw().into_owned(),
        message,
    }
}

/// Flag what defeats or fakes passthrough on a command line (kernel parameters
/// only; init arguments after `--` are not the kernel's). `vendor`, when known,
/// adds a note about the other vendor's parameter.
pub fn lint(cmdline: &Cmdline, vendor: Option<CpuVendor>) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in cmdline.params() {
        let key = p.key().replace('-', "_");
        match key.as_str() {
            "intel_iommu" | "amd_iommu" | "iommu" | "intremap" => {
                let known = known_options(&key).unwrap_or_default();
                for opt in p.options() {
                    if key == "amd_iommu" && opt == "on" {
                        out.push(finding(
                            Severity::Warning,
                            FindingKind::AmdIommuOnNoop,
                            p,
                            "amd_iommu has no `on` option: the kernel logs \"Unknown option\" and ignores it; AMD-Vi is on by default when the firmware has an IVRS table (enable IOMMU/SVM in the firmware instead)".into(),
                        ));
                    } else if !known.iter().any(|k| k.name == opt) {
                        out.push(finding(
                            Severity::Warning,
                            FindingKind::UnknownOption {
                                key: key.clone(),
                                option: opt.clone(),
                            },
                            p,
                            format!("`{opt}` is not a {key}= option the kernel knows; it is ignored"),
                        ));
                    }
                }
                if p.is_flag() {
                    out.push(finding(
                        Severity::Warning,
                        FindingKind::UnknownOption {
                            key: key.clone(),
                            option: String::new(),
                        },
                        p,
                        format!("{key} without a value does nothing"),
                    ));
                }
                if vendor == Some(CpuVendor::Amd) && key == "intel_iommu" {
                    out.push(finding(
                        Severity::Info,
                        FindingKind::OtherVendor,
                        p,
                        "intel_iommu= has no effect on an AMD CPU".into(),
                    ));
                }
                if vendor == Some(CpuVendor::Intel) && key == "amd_iommu" {
                    out.push(finding(
                        Severity::Info,
                        FindingKind::OtherVendor,
                        p,
                        "amd_iommu= has no effect on an Intel CPU".into(),
                    ));
                }
            }
            "iommu.passthrough" | "iommu.strict" | "iommu.forcedac"
                if p.value().is_none_or(|v| kernel_bool(&v).is_none()) =>
            {
                out.push(finding(
                    Severity::Warning,
                    FindingKind::UnknownOption {
                        key: key.clone(),
                        option: p.value().unwrap_or_default().into_owned(),
                    },
                    p,
                    format!("{key} takes a boolean (0/1, y/n, on/off); this value is ignored"),
                ));
            }
            "pcie_acs_override" => out.push(finding(
                Severity::Warning,
                FindingKind::PcieAcsOverride,
                p,
                "pcie_acs_override makes the kernel pretend devices are isolated: IOMMU groups look split, but devices can still reach each other's DMA; a guest can attack the host or other guests".into(),
            )),
            "vfio_iommu_type1.allow_unsafe_interrupts"
                if p.value().is_none_or(|v| kernel_bool(&v) == Some(true)) =>
            {
                out.push(finding(
                    Severity::Warning,
                    FindingKind::UnsafeInterrupts,
                    p,
                    "allow_unsafe_interrupts lets VFIO assign devices without interrupt remapping: a guest can inject arbitrary interrupts into the host".into(),
                ));
            }
            _ => {}
        }
    }
    // Effective state, after later occurrences override earlier ones.
    for (key, what) in [
        ("intel_iommu", "disables the Intel IOMMU"),
        ("amd_iommu", "disables the AMD IOMMU"),
        ("iommu", "disables every IOMMU"),
    ] {
        if cmdline.has_option(key, "off") {
            if let Some(p) = cmdline
                .get_all(key)
                .into_iter()
                .rev()
                .find(|p| p.options().iter().any(|o| o == "off"))
            {
                out.push(finding(
                    Severity::Error,
                    FindingKind::IommuDisabled,
                    p,
                    format!("{key}=off {what}: no passthrough possible"),
                ));
            }
        }
    }
    if cmdline.has_option("intremap", "off") {
        if let Some(p) = cmdline.get("intremap") {
            out.push(finding(
                Severity::Warning,
                FindingKind::InterruptRemappingOff,
                p,
                "intremap=off disables interrupt remapping: VFIO then refuses devices unless allow_unsafe_interrupts is set".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn vendor_sets() {
        let s = |v| {
            iommu_params(v)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(s(CpuVendor::Intel), "intel_iommu=on iommu=pt");
        assert_eq!(s(CpuVendor::Amd), "iommu=pt");
        assert_eq!(s(CpuVendor::Other), "");
    }

    #[test]
    fn never_writes_amd_on() {
        for v in [CpuVendor::Intel, CpuVendor::Amd, CpuVendor::Other] {
            let mut c = Cmdline::parse("quiet amd_iommu=on");
            c.apply(&iommu_edits(v)).unwrap();
            assert!(!c.has_option("amd_iommu", "on"), "{v:?}: {c}");
            assert!(AMD_IOMMU.iter().all(|o| o.name != "on"));
        }
        let mut c = Cmdline::parse("quiet amd_iommu=on");
        c.apply(&iommu_edits(CpuVendor::Amd)).unwrap();
        assert_eq!(c.to_string(), "quiet iommu=pt");
    }

    #[test]
    fn intel_enable_replaces_off() {
        let mut c = Cmdline::parse("root=/dev/sda1 intel_iommu=off iommu=off quiet");
        assert!(c.apply(&iommu_edits(CpuVendor::Intel)).unwrap());
        assert_eq!(
            c.to_string(),
            "root=/dev/sda1 intel_iommu=on iommu=pt quiet"
        );
        assert!(!c.apply(&iommu_edits(CpuVendor::Intel)).unwrap());
        assert!(lint(&c, Some(CpuVendor::Intel)).is_empty());
    }

    #[test]
    fn lints() {
        let c = Cmdline::parse(
            "amd_iommu=on intel_iommu=off iommu=off pcie_acs_override=downstream,multifunction \
             vfio_iommu_type1.allow_unsafe_interrupts=1 intel_iommu=bogus",
        );
        let kinds: Vec<FindingKind> = lint(&c, None).into_iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&FindingKind::AmdIommuOnNoop));
        assert!(kinds.contains(&FindingKind::PcieAcsOverride));
        assert!(kinds.contains(&FindingKind::UnsafeInterrupts));
        assert!(kinds.contains(&FindingKind::UnknownOption {
            key: "intel_iommu".into(),
            option: "bogus".into()
        }));
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == FindingKind::IommuDisabled)
                .count(),
            2
        );
        // A later `on` wins over an earlier `off`.
        let c = Cmdline::parse("intel_iommu=off intel_iommu=on");
        assert!(lint(&c, None).is_empty());
        // allow_unsafe_interrupts=0 is fine; bare flag is true.
        let c = Cmdline::parse("vfio_iommu_type1.allow_unsafe_interrupts=0");
        assert!(lint(&c, None).is_empty());
        let c = Cmdline::parse("vfio-iommu-type1.allow-unsafe-interrupts");
        assert_eq!(lint(&c, None).len(), 1);
        // After `--` it is init's business.
        let c = Cmdline::parse("quiet -- iommu=off");
        assert!(lint(&c, None).is_empty());
    }

    #[test]
    fn passthrough_values() {
        assert!(lint(&Cmdline::parse("iommu.passthrough=1 iommu.strict=0"), None).is_empty());
        let f = lint(
            &Cmdline::parse("iommu.passthrough=yes-please iommu.strict"),
            None,
        );
        assert_eq!(f.len(), 1, "{f:?}"); // "y..." is true for kstrtobool; bare is not a bool
        assert_eq!(f[0].param, "iommu.strict");
    }

    #[test]
    fn cpuinfo() {
        let t = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n";
        assert_eq!(CpuVendor::from_cpuinfo(t), Some(CpuVendor::Amd));
        assert_eq!(CpuVendor::from_cpuinfo(""), None);
        assert_eq!(kernel_bool("on"), Some(true));
        assert_eq!(kernel_bool("off"), Some(false));
        assert_eq!(kernel_bool("x"), None);
    }
}
