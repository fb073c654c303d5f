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
//!
//! For benches and fuzzing, [`api`] exposes the pure parts: config parsing,
//! planning against an in-memory [`api::HostState`], and the dry-run diff.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod apply;
mod cli;
mod commands;
mod config;
mod ctx;
mod fault;
pub mod generator;
mod guest;
mod host;
mod lock;
mod plan;
mod pve;
mod render;
mod state;

pub mod api {
    //! The pure core of `setup`, for benches and fuzzing: parse a config,
    //! plan it against an in-memory host state, render the dry-run diff.
    //! Nothing here touches the kernel (except [`read_host`], which reads a
    //! root the way `setup` does).
    //!
    //! ```
    //! use std::path::Path;
    //! use sriov_cli::api::{self, HostState, Options, PfState};
    //!
    //! let cfg = api::parse_config(
    //!     "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 1\nvlan = 50\n",
    //!     Path::new("sriov.toml"),
    //! )?;
    //! let host = HostState {
    //!     pfs: vec![PfState {
    //!         netdevs: vec!["eno1".into()],
    //!         driver: Some("igb".into()),
    //!         total_vfs: 7,
    //!         ..PfState::new("0000:01:00.0".parse().unwrap())
    //!     }],
    //!     ..HostState::default()
    //! };
    //! let plan = api::plan(&cfg, &host, Options::default());
    //! assert!(plan.errors.is_empty());
    //! assert_eq!(plan.changes.len(), 2); // num_vfs 0 -> 2, VF 1 vlan 50
    //! let text = api::diff(&plan.changes, "sriov.toml");
    //! assert!(text.contains("+num_vfs 2"));
    //! # Ok::<(), api::ConfigError>(())
    //! ```

    use std::path::Path;

    pub use crate::config::{Config, ConfigError, Diag, DriverSpec, Loc, PfKey, PfSpec, VfSpec};
    pub use crate::host::{Detail, Host, HostError, LiveHost};
    pub use crate::plan::{Change, Op, Options, Plan, Status, Step};
    pub use crate::state::{HostState, LinkInfo, PfState, VfAttrs, VfIds, VfState};

    /// Parses config text as `setup` does, for a host without a
    /// `[node.NAME]` section of its own (top-level `[[pf]]` tables only).
    /// `path` is only shown in messages.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem with `file:line:col`.
    pub fn parse_config(text: &str, path: &Path) -> Result<Config, ConfigError> {
        crate::config::parse(text, path, "")
    }

    /// Parses config text for the node `node` (selects `[node.NODE]`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem with `file:line:col`.
    pub fn parse_config_for_node(
        text: &str,
        path: &Path,
        node: &str,
    ) -> Result<Config, ConfigError> {
        crate::config::parse(text, path, node)
    }

    /// Plans `cfg` against `host` (pure): the changes in application order,
    /// warnings, and validation errors (non-empty means `setup` exits 2).
    pub fn plan(cfg: &Config, host: &HostState, opts: Options) -> Plan {
        crate::plan::plan(cfg, host, opts)
    }

    /// The `setup --dry-run` diff of `changes` (no colour), headed
    /// `+++ target`.
    pub fn diff(changes: &[Change], target: &str) -> String {
        crate::render::diff(changes, target, crate::render::Style::default())
    }

    /// Reads the host state under `root` as `setup` does: sysfs always,
    /// netlink only when `root` is the live `/`.
    ///
    /// # Errors
    /// sysfs (or netlink) could not be read.
    pub fn read_host(root: &Path) -> Result<HostState, HostError> {
        use crate::host::Host as _;
        crate::host::LiveHost::new(root).read(crate::host::Detail::Plan)
    }
}

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::Parser;

use crate::config::ConfigError;
use crate::host::{HostError, LiveHost};
use crate::render::Style;
pub(crate) use ctx::Ctx;

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
    /// The host could not be read (exit 2): an environment error, before
    /// anything was changed. A failure while changing it is [`CliError::Failed`].
    #[error(transparent)]
    Host(#[from] HostError),
    /// A command failed while changing the host (exit 1); the message says
    /// what was and was not done.
    #[error("{0}")]
    Failed(String),
    /// Writing the output failed (exit 2, an environment error: a full disk,
    /// `>/dev/full`).
    #[error("writing output")]
    Io(#[from] std::io::Error),
}

impl CliError {
    fn code(&self) -> u8 {
        match self {
            CliError::Config(_)
            | CliError::Usage(_)
            | CliError::Invalid(_)
            | CliError::Host(_)
            | CliError::Io(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

/// `NO_COLOR` set (and not empty), or a terminal that says it has no colour
/// (`TERM=dumb`).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var_os("TERM").is_some_and(|t| t == "dumb")
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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            if usage && wants_json(&args) {
                // The one JSON document of a `--json` run, for a usage error too.
                // Its first paragraph: the error, without the tips and usage.
                let msg = e.render().to_string();
                let lines: Vec<String> = msg
                    .lines()
                    .take_while(|l| !l.trim().is_empty())
                    .map(|l| l.trim_start_matches("error: ").trim_end().to_string())
                    .collect();
                print_json_errors(&lines);
            }
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
        wait: std::time::Duration::from_secs(cli.wait),
    };
    let json = command_json(&cli.command);
    let fail = |e: CliError| {
        print_error(&e, ctx.err_style);
        if json {
            print_json_errors(&error_lines(&e));
        }
        Err(e.code())
    };
    if let Err(e) = ctx.check() {
        return fail(e);
    }
    // The one host of this run: every command reaches the kernel through it.
    let mut host = LiveHost::new(&ctx.root);
    let mut out = Tracked {
        inner: std::io::stdout().lock(),
        written: false,
    };
    let res = commands::dispatch(&cli.command, &ctx, &mut host, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match res {
        Ok(0) => Ok(()),
        Ok(code) => Err(code),
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        // The command printed its JSON document (with its errors) already.
        Err(e) if out.written => {
            print_error(&e, ctx.err_style);
            Err(e.code())
        }
        Err(e) => fail(e),
    }
}

/// Whether the command's `--json` is set: then every outcome, errors
/// included, prints one JSON document on stdout.
fn command_json(cmd: &cli::Command) -> bool {
    match cmd {
        cli::Command::Setup { json, .. }
        | cli::Command::Status { json, .. }
        | cli::Command::CheckIommu { json }
        | cli::Command::Check { json }
        | cli::Command::Pve(cli::Pve::SyncMappings { json, .. }) => *json,
        _ => false,
    }
}

/// `--json` among arguments clap refused (before a `--`).
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Stdout, remembering whether anything was written to it.
struct Tracked<W> {
    inner: W,
    written: bool,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written |= !buf.is_empty();
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The lines of an error as `--json` lists them: one entry per line of the
/// message (a config's problems are one line each), the cause chain added to
/// the last one.
fn error_lines(e: &CliError) -> Vec<String> {
    let mut lines: Vec<String> = e
        .to_string()
        .lines()
        .filter(|l| *l != "nothing was changed")
        .map(str::to_string)
        .collect();
    if !matches!(e, CliError::Config(ConfigError::Invalid { .. })) {
        let mut cur = std::error::Error::source(e);
        while let Some(c) = cur {
            match lines.last_mut() {
                Some(l) => {
                    l.push_str(": ");
                    l.push_str(&c.to_string());
                }
                None => lines.push(c.to_string()),
            }
            cur = c.source();
        }
    }
    lines
}

/// `{"errors": [...]}` on stdout (best effort: stdout may be the problem).
fn print_json_errors(lines: &[String]) {
    #[derive(serde::Serialize)]
    struct Errors<'a> {
        errors: &'a [String],
    }
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(render::json(&Errors { errors: lines }).as_bytes());
    let _ = o.flush();
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
