//! Check 4: the running kernel's command line: IOMMU parameters that disable, fake or
//! weaken passthrough (`bootcmd::lint`), and whether the boot configuration asks for
//! something the running kernel lacks ("pending reboot").

use bootcmd::iommu::FindingKind;
use bootcmd::{Cmdline, CpuVendor, Severity};

use crate::args::{intremap_disabled_by, passthrough};
use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

pub(crate) const PROC_CMDLINE: &str = "proc/cmdline";

/// The running command line, as read and as parsed.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub(crate) text: String,
    pub(crate) cmdline: Cmdline,
}

pub(crate) fn load(root: &Root) -> (Option<Running>, Read) {
    let read = root.read(PROC_CMDLINE);
    let running = read.text().map(|t| {
        let text = t.trim_end_matches(['\n', '\0']).to_owned();
        let cmdline = Cmdline::parse(&text);
        Running { text, cmdline }
    });
    (running, read)
}

fn status_of(severity: Severity) -> Status {
    match severity {
        Severity::Error => Status::Fail,
        Severity::Warning => Status::Warn,
        _ => Status::Info,
    }
}

/// What to do about one lint finding, and whether it means editing the boot
/// configuration.
fn remedy_for(kind: &FindingKind, param: &str) -> Option<String> {
    Some(match kind {
        FindingKind::IommuDisabled => format!("remove `{param}`"),
        FindingKind::AmdIommuOnNoop => format!("drop `{param}` (keep `iommu=pt`)"),
        FindingKind::PcieAcsOverride => format!(
            "remove `{param}` and pass through whole IOMMU groups, or move the card to a slot with ACS"
        ),
        FindingKind::UnsafeInterrupts => {
            format!("remove `{param}` once interrupt remapping works")
        }
        FindingKind::InterruptRemappingOff => format!("remove `{param}` if the platform supports remapping"),
        FindingKind::UnknownOption { .. } => format!("fix or remove `{param}`"),
        _ => return None,
    })
}

/// The lint of issue 6, item 4, plus what is worth knowing about the IOMMU mode.
pub(crate) fn lint(
    cmdline: &Cmdline,
    vendor: CpuVendor,
    check: &mut Check,
    remedies: &mut Vec<String>,
) {
    for f in bootcmd::lint(cmdline, Some(vendor)) {
        let status = status_of(f.severity);
        if status.severity() > 0 {
            if let Some(r) = remedy_for(&f.kind, &f.param) {
                if !remedies.contains(&r) {
                    remedies.push(r);
                }
            }
        }
        check.push_finding(status, f.param, f.message);
    }
    // `nointremap` is the older spelling of intremap=off; bootcmd lints only the latter.
    if intremap_disabled_by(cmdline).as_deref() == Some("nointremap") {
        check.push_finding(
            Status::Warn,
            "nointremap",
            "disables interrupt remapping: VFIO then refuses devices unless allow_unsafe_interrupts is set",
        );
        remedies.push("remove `nointremap` if the platform supports remapping".to_owned());
    }
    if let Some(pt) = passthrough(cmdline) {
        check.push_finding(
            Status::Info,
            pt,
            "host devices use passthrough (identity) DMA mode",
        );
    }
    if vendor == CpuVendor::Intel && cmdline.options("intel_iommu").is_empty() {
        check.push_finding(
            Status::Info,
            "intel_iommu",
            "not given: the kernel's build default (CONFIG_INTEL_IOMMU_DEFAULT_ON) decides whether VT-d is on",
        );
    }
}

/// Keys whose loss at the next boot matters for passthrough.
const IOMMU_KEYS: [&str; 8] = [
    "intel_iommu",
    "amd_iommu",
    "iommu",
    "iommu.passthrough",
    "intremap",
    "pcie_acs_override",
    "vfio_iommu_type1.allow_unsafe_interrupts",
    "vfio-pci.ids",
];

/// Compares the running command line with what the boot configuration asks for
/// (`bootcmd::detect` finds the file). Returns the configured tokens the running
/// kernel lacks (empty: no reboot pending, or not compared).
fn pending_reboot(root: &Root, running: &Running, check: &mut Check) -> Vec<String> {
    let base = root.path("");
    let setup = match bootcmd::detect(&base) {
        Ok(s) => s,
        Err(bootcmd::Error::UnknownBootSetup { .. }) => {
            check.push_finding(
                Status::Info,
                "pending-reboot",
                "no boot configuration found (neither /etc/default/grub nor /etc/kernel/cmdline): not compared",
            );
            return Vec::new();
        }
        Err(e) => {
            check.push_finding(
                Status::Info,
                "pending-reboot",
                format!("cannot work out the boot setup, not compared: {e}"),
            );
            return Vec::new();
        }
    };
    let file = setup.cmdline_file.display().to_string();
    let configured = match setup.configured_cmdline(&base) {
        Ok(Some(c)) => c,
        Ok(None) => {
            check.push_finding(
                Status::Info,
                "pending-reboot",
                format!("{file} does not exist: not compared"),
            );
            return Vec::new();
        }
        Err(e) => {
            check.push_finding(
                Status::Info,
                "pending-reboot",
                format!("cannot read the configured command line, not compared: {e}"),
            );
            return Vec::new();
        }
    };
    check.push_evidence(file.clone(), configured.to_string().trim().to_owned());
    check.push_evidence(
        "boot setup",
        format!(
            "{}; refresh with `{}`",
            setup.why.join("; "),
            setup.refresh_command()
        ),
    );
    let pending = bootcmd::compare(&configured, &running.cmdline);
    let dropped: Vec<&String> = pending
        .extra
        .iter()
        .filter(|t| {
            let key = t.split('=').next().unwrap_or("").replace('-', "_");
            IOMMU_KEYS.iter().any(|k| k.replace('-', "_") == key)
        })
        .collect();
    if !dropped.is_empty() {
        check.push_finding(
            Status::Warn,
            "next-boot",
            format!(
                "the running kernel has {} but {file} does not ask for it: the next boot drops it",
                dropped
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if pending.reboot_pending() {
        check.push_finding(
            Status::Warn,
            "pending-reboot",
            format!(
                "{file} asks for {} which the running kernel does not have: reboot pending (after `{}`, if not run yet)",
                pending
                    .missing
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                setup.refresh_command()
            ),
        );
        pending.missing
    } else {
        check.push_finding(
            Status::Info,
            "pending-reboot",
            format!("the running kernel has everything {file} asks for"),
        );
        Vec::new()
    }
}

/// Check 4, and the configured tokens a reboot would bring (for check 3's remedy).
pub(crate) fn check(
    root: &Root,
    running: Option<&Running>,
    read: &Read,
    vendor: CpuVendor,
    in_container: bool,
) -> (Check, Vec<String>) {
    let src = Root::shown(PROC_CMDLINE);
    let Some(running) = running else {
        let check = Check::new(
            CheckId::Cmdline,
            Status::Warn,
            "cannot read the running kernel's command line",
        )
        .with_evidence(src, read.describe_absence())
        .with_remedy("Run the check on the host with /proc mounted.");
        return (check, Vec::new());
    };
    let mut check = Check::new(CheckId::Cmdline, Status::Pass, "");
    check.push_evidence(src, running.text.clone());
    let mut remedies = Vec::new();
    lint(&running.cmdline, vendor, &mut check, &mut remedies);
    let missing = if in_container {
        check.push_finding(
            Status::Skip,
            "pending-reboot",
            "inside a container the boot configuration under /etc is not the host's: not compared",
        );
        Vec::new()
    } else {
        pending_reboot(root, running, &mut check)
    };
    if check.finding("next-boot").is_some() {
        remedies.push(
            "put the parameters the next boot would drop back into the boot configuration"
                .to_owned(),
        );
    }
    (finish(check, &remedies, !missing.is_empty()), missing)
}

/// Sets status, summary and remedy from the findings.
pub(crate) fn finish(mut check: Check, remedies: &[String], reboot: bool) -> Check {
    check.status = check
        .findings
        .iter()
        .fold(Status::Pass, |acc, f| acc.worst(f.status));
    let bad: Vec<&str> = check
        .findings
        .iter()
        .filter(|f| f.status.severity() > 0)
        .map(|f| f.subject.as_str())
        .collect();
    check.summary = if bad.is_empty() {
        "no parameter that disables or weakens passthrough".to_owned()
    } else {
        format!("attention: {}", bad.join(", "))
    };
    let mut text = Vec::new();
    if !remedies.is_empty() {
        text.push(format!(
            "{} (`sriov-cli enable-iommu` edits the boot configuration; refresh the boot loader and reboot).",
            capitalize(&remedies.join("; "))
        ));
    }
    if reboot {
        text.push(
            "Reboot to run the command line the boot configuration asks for (refresh the boot loader first if that was not done)."
                .to_owned(),
        );
    }
    if !text.is_empty() {
        check.remedy = Some(text.join(" "));
    }
    check
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
