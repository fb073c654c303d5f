//! `setup`: validate the whole plan, then apply it phase by phase.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use super::plural;
use crate::apply::{apply_from, Outcome, Progress, Timing};
use crate::host::{Detail, Host, CARRIER_WAIT};
use crate::plan::{plan, Options, Status};
use crate::render::{self, ChangesJson};
use crate::{CliError, Ctx};

/// Setup's switches besides the plan options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    pub dry_run: bool,
    pub json: bool,
    pub timings: bool,
}

pub(crate) fn setup(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    mode: Mode,
    opts: Options,
) -> Result<u8, CliError> {
    let t_start = Instant::now();
    // Printed on stderr, after stdout is flushed, once setup has a plan
    // (a refused config or plan changed nothing and prints no timings).
    let print_timings = |out: &mut dyn Write, spent: &[Timing]| -> Result<(), CliError> {
        if mode.timings {
            out.flush()?;
            eprint!("{}", render::timings(spent, t_start.elapsed()));
        }
        Ok(())
    };
    let cfg = ctx.load_config()?;
    if cfg.pfs.is_empty() {
        ctx.warn(&format!(
            "{} configures no PF{}: setup has nothing to do (add a [[pf]] table)",
            cfg.path.display(),
            cfg.node
                .as_deref()
                .map(|n| format!(" for node {n}"))
                .unwrap_or_default()
        ));
    }
    if !host.live() && !mode.dry_run {
        return Err(CliError::Usage(format!(
            "setup changes VFs through netlink, which --root cannot redirect; with --root {} only `setup --dry-run` is possible",
            ctx.root.display()
        )));
    }
    if let Some(n) = host.netlink_note() {
        ctx.note(&n);
    }
    let t_read = Instant::now();
    let state = host.read(Detail::Plan)?;
    let p = plan(&cfg, &state, opts);
    let mut spent = vec![Timing {
        depth: 0,
        what: "read host, validate the plan".into(),
        took: t_read.elapsed(),
    }];
    for w in &p.warnings {
        ctx.warn(w);
    }
    let target = match &cfg.node {
        Some(n) => format!("{} (node {n})", cfg.path.display()),
        None => cfg.path.display().to_string(),
    };
    if !p.errors.is_empty() {
        if mode.json {
            let json = ChangesJson {
                changes: &[],
                warnings: &p.warnings,
                errors: &p.errors,
            };
            out.write_all(render::json(&json).as_bytes())?;
        }
        return Err(CliError::Invalid(p.errors));
    }
    if p.changes.is_empty() || mode.dry_run {
        if mode.json {
            let json = ChangesJson {
                changes: &p.changes,
                warnings: &p.warnings,
                errors: &[],
            };
            out.write_all(render::json(&json).as_bytes())?;
        } else if p.changes.is_empty() {
            writeln!(out, "No changes: the host already matches {target}.")?;
        } else {
            out.write_all(render::diff(&p.changes, &target, ctx.out_style).as_bytes())?;
            let pfs: BTreeSet<_> = p.changes.iter().map(|c| c.pf_address).collect();
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
        if err_tty {
            eprint!("{}", progress_text(p));
        }
    };
    // The first phase plans on the reading just validated.
    let outcome = apply_from(&cfg, host, opts, &mut progress, Some(state));
    spent.extend(outcome.timings.iter().cloned());
    for w in &outcome.warnings {
        ctx.warn(w);
    }
    report(ctx, out, &outcome, &p.warnings, mode.json, &target)?;
    print_timings(out, &spent)?;
    Ok(if outcome.converged() { 0 } else { 1 })
}

/// The outcome on stdout (text or JSON) and, when it did not converge, why
/// on stderr.
fn report(
    ctx: &Ctx,
    out: &mut dyn Write,
    outcome: &Outcome,
    plan_warnings: &[String],
    json: bool,
    target: &str,
) -> Result<(), CliError> {
    if json {
        let warnings: Vec<String> = plan_warnings
            .iter()
            .chain(&outcome.warnings)
            .cloned()
            .collect();
        let json = ChangesJson {
            changes: &outcome.changes,
            warnings: &warnings,
            errors: outcome.fatal.as_slice(),
        };
        out.write_all(render::json(&json).as_bytes())?;
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
        return Ok(());
    }
    let bad: Vec<&crate::plan::Change> = outcome
        .changes
        .iter()
        .filter(|c| c.status != Status::Applied)
        .collect();
    // The devices, so that the error line alone says where to look.
    let mut what: Vec<String> = Vec::new();
    for c in &bad {
        let s = format!("{} {}", c.subject(), c.label());
        if !what.contains(&s) {
            what.push(s);
        }
    }
    let more = what.len().saturating_sub(4);
    what.truncate(4);
    if more > 0 {
        what.push(format!("{more} more"));
    }
    out.flush()?;
    if let Some(f) = &outcome.fatal {
        ctx.error(f);
    }
    ctx.error(&format!(
        "setup did not converge: {} of {} not applied ({}; see above); fix the cause and re-run",
        bad.len(),
        plural(outcome.changes.len(), "change"),
        what.join(", ")
    ));
    Ok(())
}

/// What a terminal shows for a progress event.
fn progress_text(p: Progress<'_>) -> String {
    match p {
        Progress::Vfs { pf, ready, want } => {
            let mut s = format!("\rwaiting for the VFs of {pf}: {ready}/{want} ready");
            if ready >= want {
                s.push('\n');
            }
            s
        }
        Progress::Carrier { pf } => format!(
            "bringing PF {pf} up, waiting for its carrier (at most {} s)\n",
            CARRIER_WAIT.as_secs()
        ),
        Progress::NumVfs {
            pf,
            from,
            to,
            carrier_wait,
        } => format!("{}\n", num_vfs_progress(pf, from, to, carrier_wait)),
    }
}

/// The terminal line before a VF count write.
fn num_vfs_progress(pf: &str, from: u32, to: u32, carrier_wait: bool) -> String {
    let mut s = format!("PF {pf}: sriov_numvfs {from} -> {to}");
    if carrier_wait {
        s.push_str(&format!(
            ", then waiting for the PF's carrier to come back (at most {} s)",
            CARRIER_WAIT.as_secs()
        ));
    }
    s
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
                CARRIER_WAIT.as_secs()
            )
        );
        assert_eq!(
            progress_text(Progress::Vfs {
                pf: "eth0",
                ready: 7,
                want: 7
            }),
            "\rwaiting for the VFs of eth0: 7/7 ready\n"
        );
    }
}
