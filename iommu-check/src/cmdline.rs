//! Check 4: the running kernel's command line: IOMMU parameters that hurt, and
//! whether the boot configuration asks for something the running kernel lacks
//! ("pending reboot").

use crate::args::KernelArgs;
use crate::cpu::CpuVendor;
use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

pub(crate) const PROC_CMDLINE: &str = "proc/cmdline";

/// The running command line, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub(crate) text: String,
    pub(crate) args: KernelArgs,
}

pub(crate) fn load(root: &Root) -> (Option<Running>, Read) {
    let read = root.read(PROC_CMDLINE);
    let running = read.text().map(|t| {
        let text = t.trim_end_matches(['\n', '\0']).to_owned();
        let args = parse(&text);
        Running { text, args }
    });
    (running, read)
}

/// TEMPORARY: whitespace split until `bootcmd::Cmdline` lands; replaced by it.
fn parse(text: &str) -> KernelArgs {
    KernelArgs::from_pairs(
        text.split_ascii_whitespace()
            .map(|tok| match tok.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (tok, None),
            }),
    )
}

/// The lint of issue 6, item 4: parameters that disable, fake or weaken passthrough.
pub(crate) fn lint(args: &KernelArgs, vendor: CpuVendor, check: &mut Check) {
    if args
        .last_option_among("intel_iommu", &["on", "off"])
        .as_deref()
        == Some("off")
    {
        check.push_finding(
            Status::Fail,
            "intel_iommu=off",
            "switches Intel VT-d off: no IOMMU, no passthrough",
        );
    }
    if args.last_option_among("amd_iommu", &["off"]).is_some() {
        check.push_finding(
            Status::Fail,
            "amd_iommu=off",
            "switches AMD-Vi off: no IOMMU, no passthrough",
        );
    }
    if args
        .last_option_among("iommu", &["off", "on", "force", "pt", "nopt"])
        .as_deref()
        == Some("off")
    {
        check.push_finding(
            Status::Fail,
            "iommu=off",
            "switches every IOMMU off: no passthrough",
        );
    }
    if args.all("amd_iommu").any(|a| {
        a.value
            .as_deref()
            .is_some_and(|v| v.split(',').any(|o| o == "on"))
    }) {
        check.push_finding(
            Status::Warn,
            "amd_iommu=on",
            "`on` is not a value of amd_iommu= and does nothing; AMD-Vi is on by default when the firmware has an IVRS table",
        );
    }
    if args.has("pcie_acs_override") {
        check.push_finding(
            Status::Warn,
            "pcie_acs_override",
            "fakes isolation: IOMMU groups are split although the hardware may let the devices DMA to each other; a guest can then reach devices it was not given",
        );
    }
    if args.unsafe_interrupts() {
        check.push_finding(
            Status::Warn,
            "vfio_iommu_type1.allow_unsafe_interrupts",
            "lets vfio assign devices without interrupt remapping: a guest can inject interrupts into the host (trusted guests only)",
        );
    }
    if let Some(p) = args.intremap_disabled_by() {
        check.push_finding(
            Status::Warn,
            p.as_str(),
            "switches interrupt remapping off: vfio refuses devices unless unsafe interrupts are allowed",
        );
    }
    let pt = args
        .last_option_among("iommu", &["pt", "nopt", "on", "force", "off"])
        .is_some_and(|v| v == "pt")
        || matches!(
            args.last_value("iommu.passthrough"),
            Some("1" | "y" | "Y" | "on")
        );
    if pt {
        check.push_finding(
            Status::Info,
            args.show_last("iommu")
                .filter(|s| s == "iommu=pt")
                .unwrap_or_else(|| "iommu.passthrough=1".to_owned()),
            "host devices use passthrough (identity) DMA mode",
        );
    }
    if vendor == CpuVendor::Intel
        && args
            .last_option_among("intel_iommu", &["on", "off"])
            .is_none()
    {
        check.push_finding(
            Status::Info,
            "intel_iommu",
            "not given: the kernel's build default (CONFIG_INTEL_IOMMU_DEFAULT_ON) decides whether VT-d is on",
        );
    }
}

pub(crate) fn check(
    running: Option<&Running>,
    read: &Read,
    vendor: CpuVendor,
    in_container: bool,
) -> Check {
    let src = Root::shown(PROC_CMDLINE);
    let Some(running) = running else {
        return Check::new(
            CheckId::Cmdline,
            Status::Warn,
            "cannot read the running kernel's command line",
        )
        .with_evidence(src, read.describe_absence())
        .with_remedy("Run the check on the host with /proc mounted.");
    };
    let mut check = Check::new(CheckId::Cmdline, Status::Pass, "");
    check.push_evidence(src, running.text.clone());
    lint(&running.args, vendor, &mut check);
    if in_container {
        check.push_finding(
            Status::Skip,
            "pending-reboot",
            "inside a container the boot configuration under /etc is not the host's: not compared",
        );
    }
    finish(check)
}

/// Sets status, summary and remedy from the findings.
pub(crate) fn finish(mut check: Check) -> Check {
    let status = check
        .findings
        .iter()
        .fold(Status::Pass, |acc, f| acc.worst(f.status));
    check.status = status;
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
    let mut remedies = Vec::new();
    let mut edit = false;
    for f in check.findings.iter().filter(|f| f.status.severity() > 0) {
        let r = match f.subject.as_str() {
            "intel_iommu=off" | "amd_iommu=off" | "iommu=off" | "intremap=off" | "nointremap" => {
                format!("remove `{}`", f.subject)
            }
            "amd_iommu=on" => "drop `amd_iommu=on` (keep `iommu=pt`)".to_owned(),
            "pcie_acs_override" => {
                "remove `pcie_acs_override` and pass through whole IOMMU groups, or move the card to a slot with ACS".to_owned()
            }
            "vfio_iommu_type1.allow_unsafe_interrupts" => {
                "remove `vfio_iommu_type1.allow_unsafe_interrupts=1` once interrupt remapping works".to_owned()
            }
            "pending-reboot" => {
                remedies.push("reboot to run the command line the boot configuration asks for".to_owned());
                continue;
            }
            _ => continue,
        };
        edit = true;
        remedies.push(r);
    }
    if !remedies.is_empty() {
        let tail = if edit {
            " (`sriov-cli enable-iommu` edits the boot configuration; refresh the boot loader and reboot)"
        } else {
            ""
        };
        check.remedy = Some(format!("{}{tail}.", capitalize(&remedies.join("; "))));
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
