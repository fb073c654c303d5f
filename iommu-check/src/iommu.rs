//! Checks 3 and 5: IOMMU units and groups registered by the kernel, and the DMA
//! translation mode (default domain type) of each group.

use std::collections::BTreeMap;

use bootcmd::Cmdline;

use crate::args::{iommu_disabled_all, iommu_disabled_by};
use crate::cpu::{firmware_option, CpuVendor};
use crate::firmware::Firmware;
use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

pub(crate) const CLASS_IOMMU: &str = "sys/class/iommu";
pub(crate) const GROUPS: &str = "sys/kernel/iommu_groups";

/// One IOMMU group: number, default domain type (`type`, Linux 5.11+) and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) number: u32,
    /// `identity`, `DMA`, `DMA-FQ`, `unmanaged`, `blocked`, ... (None: file absent).
    pub(crate) kind: Option<String>,
    /// PCI addresses (or other device names) in `devices/`.
    pub(crate) devices: Vec<String>,
}

/// What the kernel registered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Iommu {
    pub(crate) units_visible: bool,
    pub(crate) units: Vec<String>,
    pub(crate) groups_visible: bool,
    pub(crate) groups: Vec<Group>,
}

impl Iommu {
    pub(crate) fn load(root: &Root) -> Self {
        let units = root.list(CLASS_IOMMU);
        let group_names = root.list(GROUPS);
        let mut groups = Vec::new();
        for name in group_names.iter().flatten() {
            let Ok(number) = name.parse::<u32>() else {
                continue;
            };
            let kind = match root.read(&format!("{GROUPS}/{number}/type")) {
                Read::Text(t) => Some(t.trim().to_owned()),
                _ => None,
            };
            let devices = root
                .list(&format!("{GROUPS}/{number}/devices"))
                .unwrap_or_default();
            groups.push(Group {
                number,
                kind,
                devices,
            });
        }
        groups.sort_by_key(|g| g.number);
        Iommu {
            units_visible: units.is_some(),
            units: units.unwrap_or_default(),
            groups_visible: group_names.is_some(),
            groups,
        }
    }

    pub(crate) fn group(&self, number: u32) -> Option<&Group> {
        self.groups.iter().find(|g| g.number == number)
    }

    pub(crate) fn active(&self) -> bool {
        !self.units.is_empty() || !self.groups.is_empty()
    }
}

fn list_short(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "(empty)".to_owned();
    }
    if items.len() <= max {
        return items.join(", ");
    }
    format!("{}, ... ({} in all)", items[..max].join(", "), items.len())
}

/// What to tell someone whose kernel has no IOMMU running.
pub(crate) fn enable_remedy(
    vendor: CpuVendor,
    fw: &Firmware,
    args: Option<&Cmdline>,
    pending: &[String],
) -> String {
    let iommu_pending: Vec<&str> = pending
        .iter()
        .map(String::as_str)
        .filter(|t| {
            let key = t.split('=').next().unwrap_or("").replace('-', "_");
            matches!(
                key.as_str(),
                "intel_iommu" | "amd_iommu" | "iommu" | "iommu.passthrough"
            )
        })
        .collect();
    let mut steps = Vec::new();
    // Without the firmware table nothing on the command line helps: first things first.
    if fw.tables_visible && !fw.any() {
        steps.push(format!(
            "Enable {} in the firmware setup; the kernel needs the firmware's DMAR/IVRS table.",
            firmware_option(vendor)
        ));
    }
    if !iommu_pending.is_empty() {
        steps.push(format!(
            "The boot configuration already asks for `{}`: reboot into it (see \"Kernel command line\").",
            iommu_pending.join(" ")
        ));
        return steps.join(" Then: ");
    }
    let disabled = args.map(iommu_disabled_all).unwrap_or_default();
    if !disabled.is_empty() {
        steps.push(format!(
            "Remove {} from the boot command line (`sriov-cli enable-iommu` edits the right file), refresh the boot loader and reboot.",
            disabled
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    let has_on = args.is_some_and(|a| a.has_option("intel_iommu", "on"));
    if vendor == CpuVendor::Intel && !has_on {
        steps.push("Add `intel_iommu=on iommu=pt` to the boot command line (`sriov-cli enable-iommu`), refresh the boot loader and reboot.".to_owned());
    }
    if !steps.is_empty() {
        return steps.join(" Then: ");
    }
    match vendor {
        CpuVendor::Intel => "The kernel was asked for intel_iommu=on but registered no DMAR unit: check `dmesg | grep -e DMAR -e IOMMU` for firmware errors, and that the kernel has CONFIG_INTEL_IOMMU.".to_owned(),
        CpuVendor::Amd => "AMD-Vi is on by default when the firmware has an IVRS table: check `dmesg | grep -e AMD-Vi -e IOMMU` for firmware errors, and that the kernel has CONFIG_AMD_IOMMU. Add `iommu=pt` for host performance (`sriov-cli enable-iommu`).".to_owned(),
        _ => "Enable the platform IOMMU in the firmware and the kernel (see its documentation), then reboot.".to_owned(),
    }
}

pub(crate) fn check_kernel(
    iommu: &Iommu,
    vendor: CpuVendor,
    fw: &Firmware,
    args: Option<&Cmdline>,
    pending: &[String],
) -> Check {
    let units = &iommu.units;
    let groups = iommu.groups.len();
    let mut check = match (units.is_empty(), groups == 0) {
        (false, false) => Check::new(
            CheckId::KernelIommu,
            Status::Pass,
            format!(
                "{} IOMMU unit(s) registered ({}), {groups} IOMMU group(s)",
                units.len(),
                list_short(units, 4)
            ),
        ),
        (true, true) => Check::new(
            CheckId::KernelIommu,
            Status::Fail,
            match args.and_then(iommu_disabled_by) {
                Some(p) => format!("no IOMMU in the running kernel: the command line has `{p}`"),
                None => "no IOMMU in the running kernel: no units registered, no IOMMU groups".to_owned(),
            },
        )
        .with_remedy(enable_remedy(vendor, fw, args, pending)),
        (false, true) => Check::new(
            CheckId::KernelIommu,
            Status::Fail,
            format!(
                "IOMMU unit(s) registered ({}) but no IOMMU groups: no device can be assigned to vfio",
                list_short(units, 4)
            ),
        )
        .with_remedy(enable_remedy(vendor, fw, args, pending)),
        (true, false) => Check::new(
            CheckId::KernelIommu,
            Status::Warn,
            format!("{groups} IOMMU group(s) but no unit listed in /sys/class/iommu"),
        )
        .with_remedy("Check `dmesg` for the IOMMU driver; groups without a listed unit are unusual."),
    };
    check.push_evidence(
        Root::shown(CLASS_IOMMU),
        if iommu.units_visible {
            list_short(units, 8)
        } else {
            "missing".to_owned()
        },
    );
    check.push_evidence(
        Root::shown(GROUPS),
        if iommu.groups_visible {
            format!("{groups} group(s)")
        } else {
            "missing".to_owned()
        },
    );
    check
}

/// Check 5. `unmanaged` groups are owned by vfio (a VM's domain), so they say nothing
/// about the host's default mode; the rest is `identity` with `iommu=pt` (or
/// `iommu.passthrough=1`), `DMA`/`DMA-FQ` when the kernel translates host DMA.
pub(crate) fn check_mode(iommu: &Iommu) -> Check {
    if iommu.groups.is_empty() {
        return Check::new(
            CheckId::DmaMode,
            Status::Skip,
            "no IOMMU groups, no DMA mode to report",
        )
        .with_evidence(Root::shown(GROUPS), "no groups");
    }
    let mut by_kind: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for g in &iommu.groups {
        by_kind
            .entry(
                g.kind
                    .clone()
                    .unwrap_or_else(|| "(no type file)".to_owned()),
            )
            .or_default()
            .push(g.number);
    }
    let count = |k: &str| by_kind.get(k).map_or(0, Vec::len);
    let identity = count("identity");
    let translated = count("DMA") + count("DMA-FQ");
    let unmanaged = count("unmanaged");
    let untyped = count("(no type file)");
    let observed = by_kind
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.len()))
        .collect::<Vec<_>>()
        .join(", ");
    let vfio_note = if unmanaged > 0 {
        format!("; {unmanaged} owned by vfio (unmanaged)")
    } else {
        String::new()
    };

    let mut check = if untyped == iommu.groups.len() {
        Check::new(
            CheckId::DmaMode,
            Status::Info,
            "this kernel does not show the group type (added in Linux 5.11)",
        )
    } else if identity > 0 && translated == 0 {
        Check::new(
            CheckId::DmaMode,
            Status::Pass,
            format!("passthrough: {identity} group(s) identity-mapped (iommu=pt){vfio_note}"),
        )
    } else if identity > 0 {
        Check::new(
            CheckId::DmaMode,
            Status::Pass,
            format!(
                "passthrough for {identity} group(s); {translated} translated (DMA/DMA-FQ), e.g. devices the kernel does not trust{vfio_note}"
            ),
        )
    } else if translated > 0 {
        Check::new(
            CheckId::DmaMode,
            Status::Warn,
            format!(
                "host DMA is translated in {translated} group(s) (DMA/DMA-FQ): passthrough mode is recommended for host performance{vfio_note}"
            ),
        )
        .with_remedy("Add `iommu=pt` to the boot command line (`sriov-cli enable-iommu`) and reboot; VMs keep full isolation.")
    } else {
        Check::new(
            CheckId::DmaMode,
            Status::Info,
            format!("no host default domain to judge{vfio_note}"),
        )
    };
    check.push_evidence(format!("{}/*/type", Root::shown(GROUPS)), observed);
    check
}
