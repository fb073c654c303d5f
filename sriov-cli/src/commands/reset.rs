//! `reset PF [PF...]`: VF counts back to 0. Every PF is found and checked
//! first; what is in use is sysfs-sriov's answer.

use std::io::Write;

use sysfs_sriov::PciAddress;

use crate::host::{chain, Detail, Host};
use crate::{CliError, Ctx};

pub(crate) fn reset(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    specs: &[String],
    allow_recreate: bool,
) -> Result<u8, CliError> {
    // Every PF found before any is touched; every unknown one named.
    let mut pfs: Vec<PciAddress> = Vec::new();
    let mut errs: Vec<String> = Vec::new();
    for spec in specs {
        match host.find_pf(spec) {
            // The same PF by name and by address: once.
            Ok(a) if pfs.contains(&a) => {}
            Ok(a) => pfs.push(a),
            Err(e) => errs.push(format!(
                "PF {}: {}",
                crate::render::one_line(spec),
                chain(&e)
            )),
        }
    }
    let impacts = host.reset_impact(&pfs)?;
    let state = host.read(Detail::Plan)?;
    let label = |a: &PciAddress| {
        state
            .pfs
            .iter()
            .find(|p| p.address == *a)
            .map_or_else(|| a.to_string(), |p| p.label())
    };
    for imp in &impacts {
        let in_use: Vec<String> = imp.in_use().map(|c| format!("  {c}")).collect();
        if !in_use.is_empty() && !allow_recreate {
            errs.push(format!(
                "PF {}: removing its {} VFs would disturb VFs in use; re-run with --allow-recreate to do it anyway:",
                label(&imp.pf),
                imp.num_vfs
            ));
            errs.extend(in_use);
        }
    }
    if !errs.is_empty() {
        return Err(CliError::Invalid(errs));
    }
    let mut todo = Vec::new();
    for imp in &impacts {
        if imp.num_vfs == 0 {
            writeln!(
                out,
                "PF {} ({}) has no VFs; nothing to do.",
                label(&imp.pf),
                imp.pf
            )?;
        } else {
            todo.push((imp.pf, imp.num_vfs));
        }
    }
    if todo.is_empty() {
        return Ok(0);
    }
    if !host.live() {
        // Under a fixture root sriov_numvfs is a plain file (maybe the repo's
        // bundled example): show what would happen, change nothing.
        for (pf, n) in &todo {
            writeln!(out, "PF {} ({pf}): num_vfs {n} -> 0 (not done)", label(pf))?;
        }
        return Err(CliError::Usage(format!(
            "reset writes sriov_numvfs, and under --root {} that is a file of a fixture tree, not a device: nothing was changed; run reset on the live system (--root /)",
            ctx.root.display()
        )));
    }
    let addrs: Vec<PciAddress> = todo.iter().map(|(a, _)| *a).collect();
    let mut failed = Vec::new();
    // From here on VFs may be gone: a failure is "failed while applying".
    let done = host
        .reset(&addrs)
        .map_err(|e| CliError::Failed(chain(&e)))?;
    for (pf, t) in done {
        let n = todo.iter().find(|(a, _)| *a == pf).map_or(0, |(_, n)| *n);
        match t.value {
            Ok(()) => writeln!(out, "PF {} ({pf}): num_vfs {n} -> 0", label(&pf))?,
            Err(e) => failed.push(format!("PF {} ({pf}): {}", label(&pf), chain(&e))),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Failed(failed.join("\n")))
    }
}
