//! `sriov-cli`: declarative SR-IOV VF setup for Linux and Proxmox VE hosts.
//!
//! The binary is a thin shell around [`run`]. Kernel work lives in the library
//! crates (`sysfs-sriov`, `netlink-vf`, `iommu-check`, `bootcmd`); this crate
//! holds the config, the plan and the rendering.
//!
//! ```no_run
//! // What `main` does:
//! let code = match sriov_cli::run(["sriov-cli", "--root", "examples/pve1", "status"]) {
//!     Ok(()) => 0,
//!     Err(code) => code,
//! };
//! # let _ = code;
//! ```
//!
//! Exit codes: 0 success (converged, ready), 1 failed while applying (or "not
//! ready" for `check-iommu`), 2 usage error or invalid plan (nothing changed).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod addr;
mod apply;
mod cli;
mod commands;
mod config;
mod generate;
mod host;
mod plan;
mod render;
mod state;
mod stats;
mod status;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Parser;

use crate::config::ConfigError;
use crate::render::Style;

/// Everything that ends a command early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad config (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad invocation or a request that cannot be honoured (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The plan failed validation (exit 2); nothing was changed.
    #[error("{}\nnothing was changed", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The host could not be read or changed (exit 1).
    #[error("{0}")]
    Host(String),
    /// Writing the output failed.
    #[error("writing output")]
    Io(#[from] std::io::Error),
}

impl CliError {
    fn code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) | CliError::Invalid(_) => 2,
            CliError::Host(_) | CliError::Io(_) => 1,
        }
    }
}

/// Per-invocation settings shared by the commands.
pub(crate) struct Ctx {
    /// `--root`.
    pub root: PathBuf,
    /// `--config` as given.
    pub config: Option<PathBuf>,
    /// `--node`.
    pub node: Option<String>,
    /// `-v` count.
    pub verbose: u8,
    /// Colour for stdout.
    pub out_style: Style,
    /// Colour for stderr.
    pub err_style: Style,
    /// stderr is a terminal (progress display).
    pub err_tty: bool,
}

impl Ctx {
    /// Whether `--root` is the live system.
    pub fn live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `path` (absolute, as on the target system) under `--root`.
    pub fn under_root(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Prints a warning on stderr.
    pub fn warn(&self, msg: &str) {
        eprintln!("{} {msg}", self.err_style.yellow("warning:"));
    }

    /// Prints a note on stderr.
    pub fn note(&self, msg: &str) {
        eprintln!("{} {msg}", self.err_style.cyan("note:"));
    }
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Runs the command line `args` (program name first).
///
/// # Errors
/// The process exit code (1 or 2); the reason has already been printed on
/// stderr, each line starting with `error:`.
pub fn run<I, T>(args: I) -> Result<(), u8>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            // --help / --version go to stdout; a closed pipe there is not an error.
            let _ = e.print();
            return if usage { Err(2) } else { Ok(()) };
        }
    };
    let err_tty = std::io::stderr().is_terminal();
    let ctx = Ctx {
        root: cli.root.clone(),
        config: cli.config.clone(),
        node: cli.node.clone(),
        verbose: cli.verbose,
        out_style: Style {
            color: std::io::stdout().is_terminal() && !no_color(),
        },
        err_style: Style {
            color: err_tty && !no_color(),
        },
        err_tty,
    };
    let mut out = std::io::stdout().lock();
    let res = commands::dispatch(&cli.command, &ctx, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match res {
        Ok(0) => Ok(()),
        Ok(code) => Err(code),
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            print_error(&e, ctx.err_style);
            Err(e.code())
        }
    }
}

/// The one error printer: every line of the message as `error: ...`, then the
/// cause chain as `  caused by: ...`.
fn print_error(e: &CliError, style: Style) {
    let mut err = std::io::stderr().lock();
    let tag = style.red("error:");
    for line in e.to_string().lines() {
        let _ = writeln!(err, "{tag} {line}");
    }
    let mut cur = std::error::Error::source(e);
    if matches!(e, CliError::Config(ConfigError::Invalid { .. })) {
        cur = None;
    }
    while let Some(c) = cur {
        let _ = writeln!(err, "  caused by: {c}");
        cur = c.source();
    }
}
