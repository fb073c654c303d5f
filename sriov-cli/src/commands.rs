//! Subcommand dispatch and the `setup` and `reset` commands.

use std::io::Write;
use std::path::PathBuf;

use crate::apply::{apply, Progress, Timing};
use crate::cli::{Command, Generate};
use crate::config::{self, Config};
use crate::host::{chain, LiveHost};
use crate::plan::{plan, Options};
use crate::render::{self, ChangesJson};
use crate::{CliError, Ctx};

/// Runs one subcommand; returns the exit code.
pub(crate) fn dispatch(cmd: &Command, ctx: &Ctx, out: &mut dyn Write) -> Result<u8, CliError> {
    match cmd {
        Command::Setup {
            dry_run,
            json,
            allow_recreate,
            force_unbind,
            prune,
            timings,
        } => setup(
            ctx,
            out,
            *dry_run,
            *json,
            *timings,
            Options {
                allow_recreate: *allow_recreate,
                force_unbind: *force_unbind,
                prune: *prune,
            },
        ),
        Command::Status { pf, json } => crate::status::status(ctx, out, pf.as_deref(), *json),
        Command::Reset { pf, allow_recreate } => reset(ctx, out, pf, *allow_recreate),
        Command::CheckIommu { json } => crate::status::check_iommu(ctx, out, *json),
        Command::EnableIommu { dry_run, yes } => {
            crate::status::enable_iommu(ctx, out, *dry_run, *yes)
        }
        Command::Generate(g) => match g {
            Generate::SystemdUnit { bin } => crate::generate::systemd_unit(ctx, out, bin),
            Generate::Lxc { ctid } => crate::generate::lxc(ctx, out, *ctid),
            Generate::PveMapping => crate::generate::pve_mapping(ctx, out),
            Generate::Hostpci { vm } => crate::generate::hostpci(ctx, out, vm.as_deref()),
        },
        Command::Stats { format, output } => {
            crate::stats::stats(ctx, out, *format, output.as_deref())
        }
    }
}

/// The node name: `--node`, else the hostname (`/proc/sys/kernel/hostname`,
/// the kernel's uname nodename, on the live system; `<root>/etc/hostname`
/// otherwise), without a domain.
pub(crate) fn node_name(ctx: &Ctx) -> String {
    if let Some(n) = &ctx.node {
        return n.clone();
    }
    let candidates: Vec<PathBuf> = if ctx.live() {
        vec!["/proc/sys/kernel/hostname".into(), "/etc/hostname".into()]
    } else {
        vec![ctx.under_root("/etc/hostname")]
    };
    for p in candidates {
        if let Ok(s) = std::fs::read_to_string(&p) {
            let h = s.lines().next().unwrap_or("").trim();
            let h = h.split('.').next().unwrap_or(h);
            if !h.is_empty() {
                return h.to_string();
            }
        }
    }
    "localhost".to_string()
}

/// The config path: `--config` as given, else the default under `--root`.
pub(crate) fn config_path(ctx: &Ctx) -> PathBuf {
    ctx.config
        .clone()
        .unwrap_or_else(|| ctx.under_root(config::DEFAULT_PATH))
}

/// Loads the config for this node.
pub(crate) fn load_config(ctx: &Ctx) -> Result<Config, CliError> {
    let path = config_path(ctx);
    let cfg = config::load(&path, &path, &node_name(ctx))?;
    if let (Some(n), None) = (&ctx.node, &cfg.node) {
        return Err(CliError::Usage(format!(
            "--node {n}: {} has no [node.{n}] section",
            path.display()
        )));
    }
    Ok(cfg)
}

fn setup(
    ctx: &Ctx,
    out: &mut dyn Write,
    dry_run: bool,
    json: bool,
    timings: bool,
    opts: Options,
) -> Result<u8, CliError> {
    let t_start = std::time::Instant::now();
    // Printed on stderr, after stdout is flushed, once setup has a plan
    // (a refused config or plan changed nothing and prints no timings).
    let mut spent: Vec<Timing> = Vec::new();
    let print_timings = |out: &mut dyn Write, spent: &[Timing]| -> Result<(), CliError> {
        if timings {
            out.flush()?;
            eprint!("{}", render::timings(spent, t_start.elapsed()));
        }
        Ok(())
    };
    let cfg = load_config(ctx)?;
    if !ctx.live() && !dry_run {
        return Err(CliError::Usage(format!(
            "setup changes VFs through netlink, which --root cannot redirect; with --root {} only `setup --dry-run` is possible",
            ctx.root.display()
        )));
    }
    let mut host = LiveHost::new(&ctx.root);
    if let Some(n) = &host.nl_note {
        ctx.note(n);
    }
    let t_read = std::time::Instant::now();
    let state = host.read_state().map_err(CliError::Host)?;
    let p = plan(&cfg, &state, opts);
    spent.push(Timing {
        depth: 0,
        what: "read host, validate the plan".into(),
        took: t_read.elapsed(),
    });
    for w in &p.warnings {
        ctx.warn(w);
    }
    let target = match &cfg.node {
        Some(n) => format!("{} (node {n})", cfg.path.display()),
        None => cfg.path.display().to_string(),
    };
    if !p.errors.is_empty() {
        if json {
            out.write_all(
                render::json(&ChangesJson {
                    changes: &[],
                    warnings: &p.warnings,
                    errors: &p.errors,
                })
                .as_bytes(),
            )?;
        }
        return Err(CliError::Invalid(p.errors));
    }
    if p.changes.is_empty() || dry_run {
        if json {
            out.write_all(
                render::json(&ChangesJson {
                    changes: &p.changes,
                    warnings: &p.warnings,
                    errors: &[],
                })
                .as_bytes(),
            )?;
        } else if p.changes.is_empty() {
            writeln!(out, "No changes: the host already matches {target}.")?;
        } else {
            out.write_all(render::diff(&p.changes, &target, ctx.out_style).as_bytes())?;
            let pfs: std::collections::BTreeSet<&str> =
                p.changes.iter().map(|c| c.pf_address.as_str()).collect();
            writeln!(
                out,
                "{} on {} PF{}; nothing was changed (--dry-run).",
                plural(p.changes.len(), "change"),
                pfs.len(),
                if pfs.len() == 1 { "" } else { "s" }
            )?;
        }
        print_timings(out, &spent)?;
        return Ok(0);
    }

    let err_tty = ctx.err_tty;
    let mut progress = |p: Progress<'_>| {
        if !err_tty {
            return;
        }
        match p {
            Progress::Vfs { pf, ready, want } => {
                eprint!("\rwaiting for the VFs of {pf}: {ready}/{want} ready");
                if ready >= want {
                    eprintln!();
                }
            }
            Progress::Carrier { pf } => eprintln!(
                "bringing PF {pf} up, waiting for its carrier (at most {} s)",
                crate::host::CARRIER_WAIT.as_secs()
            ),
            Progress::NumVfs {
                pf,
                from,
                to,
                carrier_wait,
            } => eprintln!("{}", num_vfs_progress(pf, from, to, carrier_wait)),
        }
    };
    let outcome = apply(&cfg, &mut host, opts, &mut progress);
    spent.extend(outcome.timings.iter().cloned());
    if json {
        out.write_all(
            render::json(&ChangesJson {
                changes: &outcome.changes,
                warnings: &p.warnings,
                errors: outcome.fatal.as_slice(),
            })
            .as_bytes(),
        )?;
    } else {
        out.write_all(render::report(&outcome.changes, ctx.out_style).as_bytes())?;
    }
    if outcome.converged() {
        if !json {
            writeln!(
                out,
                "Applied {}; the host matches {target}.",
                plural(outcome.changes.len(), "change")
            )?;
        }
        print_timings(out, &spent)?;
        Ok(0)
    } else {
        let bad = outcome
            .changes
            .iter()
            .filter(|c| c.status != crate::plan::Status::Applied)
            .count();
        out.flush()?;
        if let Some(f) = &outcome.fatal {
            eprintln!("{} {f}", ctx.err_style.red("error:"));
        }
        eprintln!(
            "{} setup did not converge: {bad} of {} not applied (see above); fix the cause and re-run",
            ctx.err_style.red("error:"),
            plural(outcome.changes.len(), "change")
        );
        print_timings(out, &spent)?;
        Ok(1)
    }
}

/// The terminal line before a VF count write.
fn num_vfs_progress(pf: &str, from: u32, to: u32, carrier_wait: bool) -> String {
    let mut s = format!("PF {pf}: sriov_numvfs {from} -> {to}");
    if carrier_wait {
        s.push_str(&format!(
            ", then waiting for the PF's carrier to come back (at most {} s)",
            crate::host::CARRIER_WAIT.as_secs()
        ));
    }
    s
}

pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn reset(
    ctx: &Ctx,
    out: &mut dyn Write,
    specs: &[String],
    allow_recreate: bool,
) -> Result<u8, CliError> {
    let host = LiveHost::new(&ctx.root);
    let sysfs = host.sysfs();
    // Every PF found and checked before any is touched.
    let mut pfs: Vec<sysfs_sriov::Pf> = Vec::new();
    for spec in specs {
        let pf = sysfs
            .find_pf(spec)
            .map_err(|e| CliError::Usage(chain(&e)))?;
        // The same PF by name and by address: once.
        if !pfs.iter().any(|p| p.address == pf.address) {
            pfs.push(pf);
        }
    }
    let label = |pf: &sysfs_sriov::Pf| {
        pf.netdevs
            .first()
            .cloned()
            .unwrap_or_else(|| pf.address.to_string())
    };
    let mut errs = Vec::new();
    for pf in pfs.iter().filter(|p| p.sriov.num_vfs > 0) {
        let casualties = sysfs
            .recreate_impact(&pf.address)
            .map_err(|e| CliError::Host(chain(&e)))?;
        let in_use: Vec<String> = casualties
            .iter()
            .filter(|c| !c.reasons.is_empty())
            .map(|c| format!("  {c}"))
            .collect();
        if !in_use.is_empty() {
            errs.push(format!(
                "PF {}: removing its {} VFs would disturb VFs in use; re-run with --allow-recreate to do it anyway:",
                label(pf),
                pf.sriov.num_vfs
            ));
            errs.extend(in_use);
        }
    }
    if !errs.is_empty() && !allow_recreate {
        return Err(CliError::Invalid(errs));
    }
    for pf in pfs.iter().filter(|p| p.sriov.num_vfs == 0) {
        writeln!(
            out,
            "PF {} ({}) has no VFs; nothing to do.",
            label(pf),
            pf.address
        )?;
    }
    let todo: Vec<&sysfs_sriov::Pf> = pfs.iter().filter(|p| p.sriov.num_vfs > 0).collect();
    if todo.is_empty() {
        return Ok(0);
    }
    if !ctx.live() {
        // Under a fixture root sriov_numvfs is a plain file (maybe the repo's
        // bundled example): show what would happen, change nothing.
        for pf in &todo {
            writeln!(
                out,
                "PF {} ({}): num_vfs {} -> 0 (not done)",
                label(pf),
                pf.address,
                pf.sriov.num_vfs
            )?;
        }
        return Err(CliError::Usage(format!(
            "reset writes sriov_numvfs, and under --root {} that is a file of a fixture tree, not a device: nothing was changed; run reset on the live system (--root /)",
            ctx.root.display()
        )));
    }
    // A thread per PF: removing many VFs takes the PF driver a while.
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .iter()
            .map(|pf| {
                s.spawn(move || {
                    sysfs
                        .set_num_vfs(&pf.address, 0, true)
                        .map(|_| ())
                        .map_err(|e| chain(&e))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the thread writing sriov_numvfs panicked".into()))
            })
            .collect()
    });
    let mut failed = Vec::new();
    for (pf, r) in todo.iter().zip(results) {
        match r {
            Ok(()) => writeln!(
                out,
                "PF {} ({}): num_vfs {} -> 0",
                label(pf),
                pf.address,
                pf.sriov.num_vfs
            )?,
            Err(e) => failed.push(format!("PF {} ({}): {e}", label(pf), pf.address)),
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Host(failed.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_vfs_progress_says_when_it_will_wait_for_the_carrier() {
        assert_eq!(
            num_vfs_progress("eth0", 0, 7, false),
            "PF eth0: sriov_numvfs 0 -> 7"
        );
        assert_eq!(
            num_vfs_progress("eth0", 0, 7, true),
            format!(
                "PF eth0: sriov_numvfs 0 -> 7, then waiting for the PF's carrier to come back (at most {} s)",
                crate::host::CARRIER_WAIT.as_secs()
            )
        );
    }
}
