//! The report: one [`Check`] per question, each with its evidence and remedy, and the
//! overall [`Verdict`].

use serde::{Deserialize, Serialize};

/// Outcome of one check.
///
/// Only [`Status::Fail`] makes the host "not ready"; [`Status::Warn`] is something an
/// admin should read (a security caveat, a pending reboot, a shared IOMMU group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// The host does what passthrough needs.
    Pass,
    /// Nothing to judge, only a fact worth showing.
    Info,
    /// The check could not run here (its input does not apply or is not visible).
    Skip,
    /// Works, but with a caveat the admin should act on or accept.
    Warn,
    /// Passthrough does not work (or is unsafe) until the remedy is applied.
    Fail,
}

impl Status {
    /// How bad this is: 0 for pass/info/skip, 1 for warn, 2 for fail.
    #[must_use]
    pub fn severity(self) -> u8 {
        match self {
            Status::Pass | Status::Info | Status::Skip => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        }
    }

    /// The worse of two statuses (for equal severity, `self`).
    #[must_use]
    pub fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// Lower-case label as used in JSON: `pass`, `info`, `skip`, `warn`, `fail`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which question a [`Check`] answers (the numbering of issue 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CheckId {
    /// 1. CPU vendor (`vendor_id`) and virtualization flags (`vmx`, `svm`).
    Cpu,
    /// 2. ACPI DMAR (Intel VT-d) or IVRS (AMD-Vi) table from the firmware.
    Firmware,
    /// 3. IOMMU units registered by the kernel and IOMMU groups.
    KernelIommu,
    /// 4. Running command line, its IOMMU parameters, and pending reboot.
    Cmdline,
    /// 5. DMA translation mode of the IOMMU groups (`identity` = passthrough).
    DmaMode,
    /// 6. Interrupt remapping.
    InterruptRemapping,
    /// 7. `vfio`, `vfio_pci`, `vfio_iommu_type1` built in or loaded.
    Vfio,
    /// 8. Every SR-IOV PF and VF in an IOMMU group of its own, vfio device nodes.
    Devices,
    /// 9. Running inside a container.
    Container,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 9] = [
        CheckId::Cpu,
        CheckId::Firmware,
        CheckId::KernelIommu,
        CheckId::Cmdline,
        CheckId::DmaMode,
        CheckId::InterruptRemapping,
        CheckId::Vfio,
        CheckId::Devices,
        CheckId::Container,
    ];

    /// Stable kebab-case name, as in JSON (`interrupt-remapping`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Cpu => "cpu",
            CheckId::Firmware => "firmware",
            CheckId::KernelIommu => "kernel-iommu",
            CheckId::Cmdline => "cmdline",
            CheckId::DmaMode => "dma-mode",
            CheckId::InterruptRemapping => "interrupt-remapping",
            CheckId::Vfio => "vfio",
            CheckId::Devices => "devices",
            CheckId::Container => "container",
        }
    }

    /// Short human title, as the renderer prints it.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            CheckId::Cpu => "CPU",
            CheckId::Firmware => "Firmware IOMMU table",
            CheckId::KernelIommu => "IOMMU in the kernel",
            CheckId::Cmdline => "Kernel command line",
            CheckId::DmaMode => "DMA mode",
            CheckId::InterruptRemapping => "Interrupt remapping",
            CheckId::Vfio => "VFIO modules",
            CheckId::Devices => "SR-IOV devices",
            CheckId::Container => "Container",
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one file said: the path as it is on the inspected host (`/proc/cmdline`, not
/// the fixture directory) and the observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Path on the inspected host, absolute (`/sys/class/iommu`).
    pub source: String,
    /// What it showed (`dmar0, dmar1`; `missing`; `intel_iommu=on iommu=pt`).
    pub observed: String,
}

/// A sub-result of a check that covers several things (one device, one parameter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Status of this item alone.
    pub status: Status,
    /// What it is about (`0000:01:10.0`, `pcie_acs_override`, `pending-reboot`).
    pub subject: String,
    /// The sentence saying what is the matter.
    pub message: String,
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Which question.
    pub id: CheckId,
    /// Human title (same as [`CheckId::title`]).
    pub title: String,
    /// The outcome (the worst of the findings, or the check's own).
    pub status: Status,
    /// One line saying what was found.
    pub summary: String,
    /// Which file said what.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// Per-item results (devices, parameters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// What a person can do about a warn or fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl Check {
    /// A check with a status and summary, no evidence, findings or remedy yet.
    #[must_use]
    pub fn new(id: CheckId, status: Status, summary: impl Into<String>) -> Self {
        Check {
            id,
            title: id.title().to_owned(),
            status,
            summary: summary.into(),
            evidence: Vec::new(),
            findings: Vec::new(),
            remedy: None,
        }
    }

    /// Adds one piece of evidence.
    #[must_use]
    pub fn with_evidence(mut self, source: impl Into<String>, observed: impl Into<String>) -> Self {
        self.push_evidence(source, observed);
        self
    }

    /// Adds one piece of evidence in place.
    pub fn push_evidence(&mut self, source: impl Into<String>, observed: impl Into<String>) {
        self.evidence.push(Evidence {
            source: source.into(),
            observed: observed.into(),
        });
    }

    /// Adds a finding in place (does not change [`Check::status`]).
    pub fn push_finding(
        &mut self,
        status: Status,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            status,
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// Sets the remedy.
    #[must_use]
    pub fn with_remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }

    /// The finding about `subject`, if any (handy in tests and for callers).
    #[must_use]
    pub fn finding(&self, subject: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.subject == subject)
    }
}

/// Can VFs be passed through to VMs on this host?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// No check failed (warnings may remain).
    Ready,
    /// At least one check failed.
    NotReady,
}

impl Verdict {
    /// `ready` or `not-ready`, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady => "not-ready",
        }
    }

    /// Whether the verdict is [`Verdict::Ready`].
    #[must_use]
    pub fn is_ready(self) -> bool {
        self == Verdict::Ready
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many checks ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Checks that passed.
    pub pass: usize,
    /// Informational checks.
    pub info: usize,
    /// Skipped checks.
    pub skip: usize,
    /// Checks with a warning.
    pub warn: usize,
    /// Failed checks.
    pub fail: usize,
}

/// The whole readiness report: serialize it for `--json`, or render it with
/// [`crate::render`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Ready when no check failed.
    pub verdict: Verdict,
    /// Status counts over [`Report::checks`].
    pub counts: Counts,
    /// The container manager when running inside one (`lxc`, `docker`, ...): the
    /// conclusions about the host are then limited (see the `container` check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// One entry per [`CheckId`], in [`CheckId::ALL`] order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Builds a report from checks: computes counts and the verdict.
    #[must_use]
    pub fn from_checks(checks: Vec<Check>, container: Option<String>) -> Self {
        let mut counts = Counts::default();
        for c in &checks {
            match c.status {
                Status::Pass => counts.pass += 1,
                Status::Info => counts.info += 1,
                Status::Skip => counts.skip += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
            }
        }
        let verdict = if counts.fail == 0 {
            Verdict::Ready
        } else {
            Verdict::NotReady
        };
        Report {
            verdict,
            counts,
            container,
            checks,
        }
    }

    /// The check with this id.
    #[must_use]
    pub fn get(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Status of the check with this id ([`Status::Skip`] if it is absent).
    #[must_use]
    pub fn status(&self, id: CheckId) -> Status {
        self.get(id).map_or(Status::Skip, |c| c.status)
    }
}
