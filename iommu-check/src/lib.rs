//! `iommu-check`: can this Linux host pass SR-IOV VFs through to VMs, and if not,
//! exactly what to do.
//!
//! It reads only files (from `/`, or from any root directory standing in for it) and
//! answers nine questions, each with a [`Status`], the [`Evidence`] (which file said
//! what) and a remedy a person can act on:
//!
//! 1. CPU vendor (`vendor_id`) and virtualization flags;
//! 2. the firmware's ACPI DMAR (VT-d) / IVRS (AMD-Vi) table;
//! 3. IOMMU units and groups registered by the kernel;
//! 4. the running command line: harmful IOMMU parameters, pending reboot;
//! 5. the DMA mode of the groups (`identity` = passthrough);
//! 6. interrupt remapping (`IR-` chips in `/proc/interrupts`);
//! 7. `vfio`, `vfio_pci`, `vfio_iommu_type1` built in or loaded;
//! 8. every SR-IOV PF and VF in an IOMMU group of its own, `/dev/vfio/N` for vfio VFs,
//!    and the PCIe ACS of the ports above each PF (why a VF shares its group);
//! 9. whether it runs in a container (then `/proc/cmdline` is the host's).
//!
//! The [`Report`] serializes with serde (`--json`) and renders for people with
//! [`render`]; the library never prints and never looks at the terminal.
//!
//! ```no_run
//! use iommu_check::{check, render, RenderOptions};
//!
//! let report = check("/")?;
//! // The caller decides about colour, e.g. from std::io::IsTerminal.
//! print!("{}", render(&report, RenderOptions::new(false)));
//! std::process::exit(if report.verdict.is_ready() { 0 } else { 1 });
//! # Ok::<(), iommu_check::Error>(())
//! ```
//!
//! Any directory can stand in for `/`, which is how every check is tested:
//!
//! ```
//! use iommu_check::{check, CheckId, Status};
//!
//! let root = tempfile::tempdir()?;
//! std::fs::create_dir_all(root.path().join("proc"))?;
//! std::fs::write(
//!     root.path().join("proc/cpuinfo"),
//!     "vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n",
//! )?;
//! let report = check(root.path())?;
//! assert_eq!(report.status(CheckId::Cpu), Status::Pass);
//! // No IOMMU units, no groups, no VFIO in an almost empty tree.
//! assert_eq!(report.status(CheckId::KernelIommu), Status::Fail);
//! assert!(!report.verdict.is_ready());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod acs;
mod args;
mod cmdline;
mod container;
mod cpu;
mod devices;
mod error;
mod firmware;
mod intremap;
mod iommu;
mod render;
mod report;
mod root;
mod vfio;

use std::path::Path;

pub use cpu::CpuVendor;
pub use error::{Error, Result};
pub use render::{render, write_report, RenderOptions};
pub use report::{Check, CheckId, Counts, Evidence, Finding, Report, Status, Verdict};

/// Runs every check against the host whose file system is at `root` (`/` for the
/// live host, a fixture directory in tests).
///
/// Missing or unreadable files are not errors: they become evidence, and the checks
/// that depend on them warn or skip.
///
/// # Errors
///
/// [`Error::RootNotADirectory`] when `root` is not a directory.
pub fn check(root: impl AsRef<Path>) -> Result<Report> {
    let base = root.as_ref();
    if !base.is_dir() {
        return Err(Error::RootNotADirectory {
            path: base.to_path_buf(),
        });
    }
    let root = root::Root::new(base);

    let container = container::detect(&root);
    let in_container = container.is_some();
    let (cpu, cpu_read) = cpu::CpuInfo::load(&root);
    let vendor = cpu.vendor();
    let fw = firmware::Firmware::load(&root);
    let iommu = iommu::Iommu::load(&root);
    let (running, cmdline_read) = cmdline::load(&root);
    let args = running.as_ref().map(|r| &r.cmdline);

    let (cmdline_check, pending) =
        cmdline::check(&root, running.as_ref(), &cmdline_read, vendor, in_container);

    let checks = vec![
        cpu::check(&cpu, &cpu_read),
        firmware::check(&fw, vendor, iommu.units.len(), in_container),
        iommu::check_kernel(&iommu, vendor, &fw, args, &pending),
        cmdline_check,
        iommu::check_mode(&iommu),
        intremap::check(&root, args, &iommu, &fw),
        vfio::check(&root),
        devices::check(&root, &iommu, in_container),
        container::check(container.as_ref()),
    ];
    Ok(Report::from_checks(checks, container.map(|c| c.manager)))
}

/// The CPU vendor named by `<root>/proc/cpuinfo` ([`CpuVendor::Other`] when unknown),
/// e.g. to pick the IOMMU parameters to add with `bootcmd`.
#[must_use]
pub fn cpu_vendor(root: impl AsRef<Path>) -> CpuVendor {
    cpu::CpuInfo::load(&root::Root::new(root.as_ref()))
        .0
        .vendor()
}
