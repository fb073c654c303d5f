//! The commands: dispatch, and what they share (the node name, the config).
//! Each command reaches the kernel only through the [`Host`] it is given.

mod generate;
mod iommu;
mod pull_config;
mod pve;
mod reset;
mod setup;
mod stats;
mod status;

use std::io::Write;

use crate::cli::{Command, Generate, Pve};
use crate::host::Host;
use crate::plan::Options;
use crate::{CliError, Ctx};

/// Runs one subcommand against `host`; returns the exit code.
pub(crate) fn dispatch(
    cmd: &Command,
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    // The commands that change the host run one at a time (the lock is
    // held until this returns); read-only ones never wait.
    let _lock = match cmd {
        Command::Setup { dry_run: false, .. } => ctx.lock("setup")?,
        Command::Reset { .. } => ctx.lock("reset")?,
        Command::EnableIommu { dry_run: false, .. } => ctx.lock("enable-iommu")?,
        _ => None,
    };
    match cmd {
        Command::Setup {
            dry_run,
            json,
            allow_recreate,
            force_unbind,
            prune,
            timings,
        } => setup::setup(
            ctx,
            host,
            out,
            setup::Mode {
                dry_run: *dry_run,
                json: *json,
                timings: *timings,
            },
            Options {
                allow_recreate: *allow_recreate,
                force_unbind: *force_unbind,
                prune: *prune,
            },
        ),
        Command::Status { pf, json } => status::status(ctx, host, out, pf.as_deref(), *json),
        Command::Reset { pf, allow_recreate } => reset::reset(ctx, host, out, pf, *allow_recreate),
        Command::CheckIommu { json } => iommu::check_iommu(ctx, host, out, *json),
        Command::Check { json } => iommu::check(ctx, host, out, *json),
        Command::EnableIommu {
            dry_run,
            yes,
            pci_realloc,
        } => iommu::enable_iommu(ctx, out, *dry_run, *yes, *pci_realloc),
        Command::Generate(g) => match g {
            Generate::SystemdUnit { bin } => generate::systemd_unit(ctx, host, out, bin),
            Generate::Lxc {
                ctid,
                write,
                dry_run,
            } => generate::lxc(ctx, out, *ctid, *write, *dry_run),
            Generate::PveMapping => generate::pve_mapping(ctx, host, out),
            Generate::Hostpci {
                vm,
                vmid,
                write,
                dry_run,
            } => generate::hostpci(
                ctx,
                host,
                out,
                vm.as_deref(),
                generate::HostpciMode {
                    vmid: *vmid,
                    write: *write,
                    dry_run: *dry_run,
                },
            ),
            Generate::PveUnit { bin } => generate::pve_unit(out, bin),
        },
        Command::Pve(p) => match p {
            Pve::PullConfig { from, dry_run } => {
                pull_config::pull_config(ctx, host, out, from.as_deref(), *dry_run)
            }
            Pve::SyncMappings { dry_run, json } => {
                pve::sync_mappings(ctx, host, out, *dry_run, *json)
            }
        },
        Command::Stats { format, output } => {
            stats::stats(ctx, host, out, *format, output.as_deref())
        }
    }
}

/// `1 change`, `2 changes`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
