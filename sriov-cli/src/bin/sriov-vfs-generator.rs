//! `sriov-vfs-generator`: the systemd generator of the Debian package
//! (installed in `/usr/lib/systemd/system-generators/`). See
//! [`sriov_cli::generator`] for what it writes and why.
//!
//! systemd runs it as `sriov-vfs-generator NORMAL-DIR [EARLY-DIR LATE-DIR]`;
//! it writes into NORMAL-DIR only. Messages go to `/dev/kmsg` (the journal is
//! not running yet), else to stderr. It exits 0 unless the files cannot be
//! written, and never fails the boot either way.
//!
//! `sriov-vfs-generator --check-pfs` is what `sriov-vfs.service` runs first
//! (`ExecStartPre=-`): a warning line in the journal for every PF of the
//! config without a network interface; always exit 0.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sriov_cli::generator;

/// A warning in the kernel log (`<4>`), or on stderr where `/dev/kmsg`
/// cannot be opened (a container, a test).
fn log(msg: &str) {
    let line = format!("<4>sriov-vfs-generator: {msg}\n");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .and_then(|mut k| k.write_all(line.as_bytes()));
    if written.is_err() {
        eprintln!("sriov-vfs-generator: {msg}");
    }
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == generator::CHECK_FLAG) {
        // Under systemd (the unit's ExecStartPre=) a `<4>` prefix makes
        // the journal store the line as a warning.
        let prefix = if std::env::var_os("JOURNAL_STREAM").is_some() {
            "<4>"
        } else {
            ""
        };
        let mut err = std::io::stderr().lock();
        for line in generator::check_pfs(Path::new("/")) {
            let _ = writeln!(err, "{prefix}{line}");
        }
        return ExitCode::SUCCESS;
    }
    let Some(dir) = args.first().filter(|_| matches!(args.len(), 1 | 3)) else {
        eprintln!(
            "usage: sriov-vfs-generator NORMAL-DIR [EARLY-DIR LATE-DIR]   (run by systemd)\n       sriov-vfs-generator {}",
            generator::CHECK_FLAG
        );
        return ExitCode::from(2);
    };
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(generator::INSTALLED_PATH));
    let g = generator::generate(Path::new("/"), &me);
    for m in &g.messages {
        log(m);
    }
    if let Err(e) = generator::write(&g, Path::new(dir)) {
        log(&format!(
            "cannot write into {}: {e}; {} does not wait for its PFs",
            Path::new(dir).display(),
            generator::UNIT
        ));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
