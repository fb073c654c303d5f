//! Check 7: the VFIO modules a passthrough VM needs, built in or loaded.

use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

/// The modules QEMU/Proxmox passthrough uses, by their `/sys/module` names.
pub(crate) const MODULES: [&str; 3] = ["vfio", "vfio_pci", "vfio_iommu_type1"];
const PROC_MODULES: &str = "proc/modules";
const OSRELEASE: &str = "proc/sys/kernel/osrelease";

/// Where a module stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModState {
    /// Listed in `/proc/modules` (or `/sys/module/<m>/initstate` exists).
    Loaded,
    /// Compiled into the kernel (`/sys/module/<m>` without `initstate`, or
    /// `modules.builtin`).
    BuiltIn,
    /// Not listed as a module, but what it registers is there (the `vfio-pci` PCI
    /// driver, the `/dev/vfio/vfio` container node): loaded or built in.
    Registered,
    /// Not loaded but installed for the running kernel (`modules.dep`).
    Available,
    /// Nowhere to be seen.
    Missing,
}

impl ModState {
    fn describe(self) -> &'static str {
        match self {
            ModState::Loaded => "loaded",
            ModState::BuiltIn => "built in",
            ModState::Registered => "registered",
            ModState::Available => "installed, not loaded",
            ModState::Missing => "not found",
        }
    }
}

/// `drivers/vfio/pci/vfio-pci.ko.zst` -> `vfio_pci`.
fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let stem = base.split(".ko").next()?;
    Some(stem.replace('-', "_"))
}

fn names_in(list: Option<&str>) -> Vec<String> {
    list.map(|t| {
        t.lines()
            .filter_map(|l| l.split(':').next())
            .filter_map(|p| module_name(p.trim()))
            .collect()
    })
    .unwrap_or_default()
}

/// What module `m` registers when it is in the kernel, where that is visible.
fn registers(root: &Root, m: &str) -> bool {
    match m {
        "vfio_pci" => root.is_dir("sys/bus/pci/drivers/vfio-pci"),
        "vfio" => root.exists("dev/vfio/vfio"),
        _ => false,
    }
}

/// Each module's state, and the evidence (path, observation) behind them.
type States = (Vec<(&'static str, ModState)>, Vec<(String, String)>);

pub(crate) fn states(root: &Root) -> States {
    let mut evidence = Vec::new();
    let proc_modules = root.read(PROC_MODULES);
    let loaded: Vec<String> = proc_modules
        .text()
        .map(|t| {
            t.lines()
                .filter_map(|l| l.split_ascii_whitespace().next())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let release = root
        .read(OSRELEASE)
        .text()
        .map(|t| t.trim().to_owned())
        .filter(|r| !r.is_empty() && !r.contains('/') && r != "." && r != "..");
    let (builtin, dep) = match &release {
        Some(rel) => {
            let b = root.read(&format!("lib/modules/{rel}/modules.builtin"));
            let d = root.read(&format!("lib/modules/{rel}/modules.dep"));
            (names_in(b.text()), names_in(d.text()))
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut out = Vec::new();
    for m in MODULES {
        let sys = format!("sys/module/{m}");
        let state = if loaded.iter().any(|l| l == m) || root.exists(&format!("{sys}/initstate")) {
            ModState::Loaded
        } else if root.is_dir(&sys) || builtin.iter().any(|b| b == m) {
            ModState::BuiltIn
        } else if registers(root, m) {
            ModState::Registered
        } else if dep.iter().any(|d| d == m) {
            ModState::Available
        } else {
            ModState::Missing
        };
        out.push((m, state));
    }
    evidence.push((
        Root::shown(PROC_MODULES),
        match &proc_modules {
            Read::Text(_) => {
                let found: Vec<&str> = MODULES
                    .iter()
                    .copied()
                    .filter(|m| loaded.iter().any(|l| l == m))
                    .collect();
                if found.is_empty() {
                    "none of vfio, vfio_pci, vfio_iommu_type1".to_owned()
                } else {
                    found.join(", ")
                }
            }
            other => other.describe_absence(),
        },
    ));
    let sys_present: Vec<&str> = MODULES
        .iter()
        .copied()
        .filter(|m| root.is_dir(&format!("sys/module/{m}")))
        .collect();
    evidence.push((
        "/sys/module".to_owned(),
        if sys_present.is_empty() {
            "no vfio entries".to_owned()
        } else {
            sys_present.join(", ")
        },
    ));
    if let Some(rel) = &release {
        if out
            .iter()
            .any(|(_, s)| matches!(s, ModState::Available | ModState::BuiltIn))
            || !builtin.is_empty()
            || !dep.is_empty()
        {
            evidence.push((
                format!("/lib/modules/{rel}"),
                format!(
                    "modules.builtin: {} entries, modules.dep: {} entries",
                    builtin.len(),
                    dep.len()
                ),
            ));
        }
    }
    (out, evidence)
}

pub(crate) fn check(root: &Root) -> Check {
    let (states, evidence) = states(root);
    let listing = states
        .iter()
        .map(|(m, s)| format!("{m} {}", s.describe()))
        .collect::<Vec<_>>()
        .join(", ");
    let missing: Vec<&str> = states
        .iter()
        .filter(|(_, s)| *s == ModState::Missing)
        .map(|(m, _)| *m)
        .collect();
    let unloaded: Vec<&str> = states
        .iter()
        .filter(|(_, s)| *s == ModState::Available)
        .map(|(m, _)| *m)
        .collect();
    // Without /proc/modules the kernel cannot load modules (CONFIG_MODULES=n).
    let modular = root.exists(PROC_MODULES);
    let mut check = if !missing.is_empty() {
        let remedy = if modular {
            format!(
                "Load the modules (`modprobe {}`); if modprobe cannot find them, install or boot a kernel with VFIO (CONFIG_VFIO, CONFIG_VFIO_PCI, CONFIG_VFIO_IOMMU_TYPE1).",
                missing
                    .iter()
                    .map(|m| m.replace('_', "-"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        } else {
            "This kernel cannot load modules (no /proc/modules): boot a kernel with VFIO built in (CONFIG_VFIO, CONFIG_VFIO_PCI, CONFIG_VFIO_IOMMU_TYPE1).".to_owned()
        };
        Check::new(
            CheckId::Vfio,
            Status::Fail,
            format!("VFIO is not available: {listing}"),
        )
        .with_remedy(remedy)
    } else if !unloaded.is_empty() {
        Check::new(
            CheckId::Vfio,
            Status::Warn,
            format!("VFIO is installed but not loaded: {listing}"),
        )
        .with_remedy(format!(
            "`modprobe {}` now (Proxmox loads vfio-pci when a VM with a PCI device starts); to load at boot, list them in /etc/modules-load.d/vfio.conf.",
            unloaded
                .iter()
                .map(|m| m.replace('_', "-"))
                .collect::<Vec<_>>()
                .join(" ")
        ))
    } else {
        Check::new(
            CheckId::Vfio,
            Status::Pass,
            format!("VFIO ready: {listing}"),
        )
    };
    for (s, o) in evidence {
        check.push_evidence(s, o);
    }
    let container = "dev/vfio/vfio";
    check.push_evidence(
        Root::shown(container),
        if root.exists(container) {
            "present"
        } else {
            "missing"
        },
    );
    check
}

#[cfg(test)]
mod tests {
    use super::module_name;

    #[test]
    fn module_names() {
        assert_eq!(
            module_name("kernel/drivers/vfio/pci/vfio-pci.ko.zst").as_deref(),
            Some("vfio_pci")
        );
        assert_eq!(
            module_name("kernel/drivers/vfio/vfio.ko").as_deref(),
            Some("vfio")
        );
    }
}
