//! `pve pull-config`: the cluster's copy of the config becomes this node's
//! local copy, and setup applies it.
//!
//! The boot unit (`sriov-vfs.service`) reads the local copy
//! (`/etc/sriov-cli/sriov.toml`): it runs before the network, and pve-cluster
//! mounts `/etc/pve` only after it. `sriov-vfs-pve.service` runs this once
//! `/etc/pve` is there: a cluster copy valid for this node that differs from
//! the local copy replaces it (temp file, fsync, rename) and setup runs
//! in-process, under the host lock, with its usual refusals (a VF count
//! change of VFs in use needs `--allow-recreate`: refused here, applied at
//! the next boot by the boot unit, before any guest uses them).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::setup;
use crate::config;
use crate::host::Host;
use crate::plan::Options;
use crate::{CliError, Ctx};

/// Where the cluster's copy lives (on pmxcfs, the same on every node).
pub(crate) const CLUSTER_PATH: &str = "/etc/pve/sriov-cli/sriov.toml";

pub(crate) fn pull_config(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    from: Option<&Path>,
    dry_run: bool,
) -> Result<u8, CliError> {
    let from: PathBuf = from.map_or_else(|| ctx.under_root(CLUSTER_PATH), Path::to_path_buf);
    let local = ctx.config_path();
    let bytes = match config::read_regular(&from, config::MAX_SIZE) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ctx.note(&format!(
                "no cluster copy at {}: {} is kept as it is (put the config there to have every node pick it up)",
                from.display(),
                local.display()
            ));
            return Ok(0);
        }
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot read the cluster copy {}: {e}: {} was not changed",
                from.display(),
                local.display()
            )))
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        CliError::Usage(format!(
            "{}: not UTF-8 (byte offset {}): save it as UTF-8; {} was not changed",
            from.display(),
            e.utf8_error().valid_up_to(),
            local.display()
        ))
    })?;
    // The loader's node resolution, as setup will do it with the local copy.
    let node = ctx.node_name();
    let cfg = config::parse(&text, &from, &node)?;
    if let (Some(n), None) = (&ctx.node, &cfg.node) {
        return Err(CliError::Usage(format!(
            "--node {n}: {} has no [node.{n}] section: {} was not changed",
            from.display(),
            local.display()
        )));
    }
    let old = match config::read_regular(&local, config::MAX_SIZE) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot read the local copy {}: {e}: it was not changed",
                local.display()
            )))
        }
    };
    if old.as_deref() == Some(text.as_bytes()) {
        writeln!(
            out,
            "{}: same as {}: nothing to do",
            local.display(),
            from.display()
        )?;
        return Ok(0);
    }
    if dry_run {
        let old_text = old
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        out.write_all(
            crate::guest::diff(&local.display().to_string(), &old_text, &text).as_bytes(),
        )?;
        writeln!(
            out,
            "would replace {} with {} and run setup",
            local.display(),
            from.display()
        )?;
        return Ok(0);
    }
    // Setup's lock, held across the replacement and the setup run.
    let _lock = ctx.lock("pve pull-config")?;
    if let Some(dir) = local.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::Failed(format!(
                "cannot create {}: {e}: the local copy was not written",
                dir.display()
            ))
        })?;
    }
    let mode = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(&local).map_or(0o644, |m| m.permissions().mode() & 0o7777)
    };
    bootcmd::replace_file(&local, text.as_bytes(), mode).map_err(|e| {
        CliError::Failed(format!(
            "replacing {} with {}: {} (the local copy is as it was)",
            local.display(),
            from.display(),
            crate::host::chain(&e)
        ))
    })?;
    writeln!(
        out,
        "{}: replaced by {}{}",
        local.display(),
        from.display(),
        cfg.node
            .as_deref()
            .map(|n| format!(" (node {n})"))
            .unwrap_or_default()
    )?;
    let live = host.live();
    if !live {
        ctx.note(&format!(
            "--root {}: setup cannot change a fixture tree; its plan follows (setup --dry-run)",
            ctx.root.display()
        ));
    }
    setup::setup(
        ctx,
        host,
        out,
        setup::Mode {
            dry_run: !live,
            json: false,
            timings: false,
        },
        Options::default(),
    )
}
