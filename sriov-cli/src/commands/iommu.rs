//! `check-iommu` (the report is iommu-check's, read through the host) and
//! `enable-iommu` (boot files, through bootcmd).

use std::io::Write;

use crate::host::{chain, Host};
use crate::render;
use crate::{CliError, Ctx};

pub(crate) fn check_iommu(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    json: bool,
) -> Result<u8, CliError> {
    let report = host
        .iommu_report()
        .map_err(|e| CliError::Usage(chain(&e)))?;
    if json {
        out.write_all(crate::render::json(&report).as_bytes())?;
    } else {
        out.write_all(iommu_text(ctx, &report).as_bytes())?;
    }
    Ok(if report.verdict.is_ready() { 0 } else { 1 })
}

/// iommu-check's report as text, in the invocation's colour and verbosity.
fn iommu_text(ctx: &Ctx, report: &iommu_check::Report) -> String {
    let opts = iommu_check::RenderOptions::new(ctx.out_style.color).verbose(ctx.verbose > 0);
    iommu_check::render(report, opts)
}

/// `check`: the IOMMU verdict and every SR-IOV device's readiness; ready
/// when both are.
pub(crate) fn check(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    json: bool,
) -> Result<u8, CliError> {
    let report = host
        .iommu_report()
        .map_err(|e| CliError::Usage(chain(&e)))?;
    let sriov = host
        .sriov_readiness()
        .map_err(|e| CliError::Usage(chain(&e)))?;
    let iommu_ready = report.verdict.is_ready();
    let sriov_ready = !sriov.is_empty() && sriov.iter().all(sysfs_sriov::Readiness::is_ready);
    if json {
        #[derive(serde::Serialize)]
        struct Check<'a> {
            ready: bool,
            iommu: &'a iommu_check::Report,
            sriov: &'a [sysfs_sriov::Readiness],
        }
        let doc = Check {
            ready: iommu_ready && sriov_ready,
            iommu: &report,
            sriov: &sriov,
        };
        out.write_all(crate::render::json(&doc).as_bytes())?;
    } else {
        out.write_all(iommu_text(ctx, &report).as_bytes())?;
        out.write_all(sriov_text(&sriov, ctx).as_bytes())?;
        let verdict = match (iommu_ready, sriov_ready) {
            (true, true) => ctx
                .out_style
                .green("ready: VFs can be created and passed through"),
            (false, true) => ctx.out_style.red("not ready: the IOMMU (above)"),
            (true, false) => ctx.out_style.red("not ready: SR-IOV (above)"),
            (false, false) => ctx.out_style.red("not ready: the IOMMU and SR-IOV (above)"),
        };
        writeln!(out, "\nVerdict: {verdict}")?;
    }
    Ok(if iommu_ready && sriov_ready { 0 } else { 1 })
}

/// The SR-IOV section of `check`: a line per device, then each problem and
/// its fix, and what could not be read.
fn sriov_text(devices: &[sysfs_sriov::Readiness], ctx: &Ctx) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("\nSR-IOV\n");
    if devices.is_empty() {
        let _ = writeln!(
            s,
            "  {} no SR-IOV capable PCI device (no sriov_totalvfs under /sys/bus/pci/devices): SR-IOV may be off in the firmware setup, or the NIC has none",
            ctx.out_style.red("NOT READY")
        );
    }
    for r in devices {
        let driver = r.driver.as_deref().unwrap_or("no driver");
        let vfs = match (r.total_vfs, r.num_vfs) {
            (Some(t), Some(n)) => format!("{n} of {t} VFs"),
            _ => "no VFs offered".to_string(),
        };
        let tag = if r.is_ready() {
            ctx.out_style.green("ready    ")
        } else {
            ctx.out_style.red("NOT READY")
        };
        let _ = writeln!(s, "  {tag} {} ({driver}): {vfs}", r.address);
        for f in &r.findings {
            let _ = writeln!(s, "            {}", render::one_line(&f.message));
            let _ = writeln!(s, "            fix: {}", render::one_line(&f.fix));
        }
        for u in r.unknowns() {
            let _ = writeln!(s, "            not checked: {u}");
        }
    }
    s
}

/// The largest `/proc/cpuinfo` read (about 3 KiB a CPU: 16 MiB is several
/// thousand CPUs).
const CPUINFO_MAX: u64 = 16 << 20;

pub(crate) fn enable_iommu(
    ctx: &Ctx,
    out: &mut dyn Write,
    dry_run: bool,
    yes: bool,
    pci_realloc: bool,
) -> Result<u8, CliError> {
    if yes && dry_run {
        return Err(CliError::Usage(
            "--dry-run and --yes contradict each other".into(),
        ));
    }
    if yes && !ctx.live() {
        return Err(CliError::Usage(format!(
            "--yes runs the boot loader refresh command of this machine, which does not act on --root {}; run it inside that system",
            ctx.root.display()
        )));
    }
    // Until the file is written nothing has changed: failures are exit 2.
    let setup = bootcmd::detect(&ctx.root).map_err(|e| CliError::Usage(chain(&e)))?;
    let cpuinfo_path = ctx.under_root("/proc/cpuinfo");
    // An unreadable cpuinfo is its own error, not "no vendor_id".
    let cpuinfo = crate::config::read_regular(&cpuinfo_path, CPUINFO_MAX)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot tell whether this is an Intel or AMD CPU: reading {}: {e}",
                cpuinfo_path.display()
            ))
        })?;
    let vendor = bootcmd::CpuVendor::from_cpuinfo(&cpuinfo).ok_or_else(|| {
        CliError::Usage(format!(
            "cannot tell whether this is an Intel or AMD CPU ({} has no vendor_id)",
            cpuinfo_path.display()
        ))
    })?;
    let mut edits = bootcmd::iommu_edits(vendor);
    if pci_realloc {
        // An option of the `pci=` list, merged with the ones already there
        // (`pci=realloc=off` gives way to it).
        edits.push(bootcmd::Edit::ensure("pci", "realloc"));
    }
    let plan = setup
        .plan(&ctx.root, &edits)
        .map_err(|e| CliError::Usage(chain(&e)))?;
    let file = setup.cmdline_file.display().to_string();
    let refresh = setup.refresh_command();
    let loader = match setup.loader {
        bootcmd::Loader::Grub => "GRUB".to_string(),
        bootcmd::Loader::SystemdBoot => "systemd-boot".to_string(),
        other => format!("{other:?}"),
    };
    let firmware = match setup.firmware {
        bootcmd::Firmware::Efi => "UEFI".to_string(),
        bootcmd::Firmware::Bios => "legacy BIOS".to_string(),
        other => format!("{other:?}"),
    };
    let tool = if setup.proxmox_boot_tool {
        ", kept in sync by proxmox-boot-tool"
    } else {
        ""
    };
    writeln!(
        out,
        "Boot setup: {loader} ({firmware}{tool}); the command line lives in {file}."
    )?;
    if ctx.verbose > 0 {
        for w in &setup.why {
            writeln!(out, "  {w}")?;
        }
    }
    for n in &plan.notes {
        ctx.note(n);
    }
    if plan.is_noop() {
        writeln!(
            out,
            "{file} already has the IOMMU options{}: {}",
            if pci_realloc { " and pci=realloc" } else { "" },
            plan.configured.to_string().trim_end()
        )?;
        let (msg, run) = noop_next_step(
            &refresh,
            !setup.refresh.is_empty(),
            plan.reboot_pending(),
            dry_run,
            yes,
        );
        if let Some(msg) = msg {
            writeln!(out, "{msg}")?;
        }
        if !run {
            return Ok(0);
        }
        return run_refresh(out, &setup.refresh, &refresh, &file);
    }
    out.write_all(plan.diff().as_bytes())?;
    if dry_run {
        writeln!(out, "Dry run: nothing was written. Without --dry-run, {file} is changed; then run `{refresh}` and reboot.")?;
        return Ok(0);
    }
    plan.apply().map_err(|e| CliError::Failed(chain(&e)))?;
    writeln!(out, "Wrote {file}.")?;
    if !yes {
        writeln!(
            out,
            "Now run `{refresh}` and reboot (or re-run with --yes to run it)."
        )?;
        return Ok(0);
    }
    if setup.refresh.is_empty() {
        writeln!(
            out,
            "No refresh command is needed; reboot to use the new command line."
        )?;
        return Ok(0);
    }
    run_refresh(out, &setup.refresh, &refresh, &file)
}

/// What `enable-iommu` says (and whether it runs the refresh command) when the
/// file already holds the options. When the running kernel lacks them the
/// refresh may never have run: `--yes` runs it anyway (it is idempotent).
fn noop_next_step(
    refresh: &str,
    has_refresh: bool,
    reboot_pending: bool,
    dry_run: bool,
    yes: bool,
) -> (Option<String>, bool) {
    if !reboot_pending {
        return (None, false);
    }
    if !has_refresh {
        return (
            Some("The running kernel does not have them yet: reboot.".to_string()),
            false,
        );
    }
    if dry_run {
        return (Some(format!("The running kernel does not have them yet. Dry run: without --dry-run, --yes would run `{refresh}` (idempotent, in case it never ran); then reboot.")), false);
    }
    if yes {
        return (Some(format!("The running kernel does not have them yet: running `{refresh}` anyway (idempotent, in case it never ran).")), true);
    }
    (Some(format!("The running kernel does not have them yet: reboot (after `{refresh}` if you have not run it, or re-run with --yes to run it).")), false)
}

/// Runs the boot loader refresh command directly (no shell), inheriting
/// stdout/stderr.
fn run_refresh(
    out: &mut dyn Write,
    cmd: &[String],
    refresh: &str,
    file: &str,
) -> Result<u8, CliError> {
    let Some((prog, args)) = cmd.split_first() else {
        return Ok(0);
    };
    out.flush()?;
    let status = std::process::Command::new(prog)
        .args(args)
        .status()
        .map_err(|e| CliError::Failed(format!("running `{refresh}`: {e}")))?;
    if !status.success() {
        return Err(CliError::Failed(format!("`{refresh}` failed ({status}); {file} is already changed, fix the cause and run it again")));
    }
    writeln!(out, "Ran `{refresh}`. Reboot to use the new command line.")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_with_a_pending_reboot_runs_the_refresh_with_yes() {
        let r = "proxmox-boot-tool refresh";
        // --yes: run it anyway, and say so.
        let (m, run) = noop_next_step(r, true, true, false, true);
        let m = m.unwrap();
        assert!(run);
        assert!(
            m.contains("running `proxmox-boot-tool refresh` anyway"),
            "{m}"
        );
        // --dry-run: say what would run, run nothing.
        let (m, run) = noop_next_step(r, true, true, true, false);
        let m = m.unwrap();
        assert!(!run);
        assert!(
            m.contains("--yes would run `proxmox-boot-tool refresh`"),
            "{m}"
        );
        // Neither: the hint.
        let (m, run) = noop_next_step(r, true, true, false, false);
        let m = m.unwrap();
        assert!(!run && m.contains("re-run with --yes"), "{m}");
        // Running kernel already has them, or no refresh command: nothing runs.
        assert!(!noop_next_step(r, true, false, false, true).1);
        assert!(!noop_next_step("", false, true, false, true).1);
    }
}
