//! What every command of one invocation shares: `--root`, `--config`,
//! `--node`, verbosity and colour, and the node name and config they select.

use std::path::PathBuf;

use crate::config::{self, Config};
use crate::render::Style;
use crate::CliError;

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
    /// `--wait`: how long a writer waits for the host lock.
    pub wait: std::time::Duration,
}

impl Ctx {
    /// Checks what the whole invocation relies on before any command runs:
    /// `--root` is a directory, `--node` is a node name.
    pub fn check(&self) -> Result<(), CliError> {
        if !self.root.is_dir() {
            return Err(CliError::Usage(format!(
                "--root {}: not a directory (give the root of the system to inspect, or leave it out for the running system)",
                self.root.display()
            )));
        }
        if let Some(n) = &self.node {
            if let Err(why) = config::check_node_name(n) {
                return Err(CliError::Usage(format!("--node {n:?}: {why}")));
            }
        }
        Ok(())
    }

    /// Whether `--root` is the live system (`/`, however it is written).
    pub fn live(&self) -> bool {
        crate::host::is_live_root(&self.root)
    }

    /// `path` (absolute, as on the target system) under `--root`.
    pub fn under_root(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Prints a warning on stderr.
    pub fn warn(&self, msg: &str) {
        eprintln!("{} {msg}", self.err_style.yellow("warning:"));
    }

    /// Prints an error line on stderr (for a command that goes on).
    pub fn error(&self, msg: &str) {
        eprintln!("{} {msg}", self.err_style.red("error:"));
    }

    /// Prints a note on stderr.
    pub fn note(&self, msg: &str) {
        eprintln!("{} {msg}", self.err_style.cyan("note:"));
    }

    /// Takes the host-wide lock for the command `what`, which changes the
    /// host (see [`crate::lock`]). Under a fixture root without a `run/`
    /// directory there is nothing to serialise and no lock is taken.
    pub fn lock(&self, what: &str) -> Result<Option<crate::lock::HostLock>, CliError> {
        if !self.live() && !self.under_root("/run").is_dir() {
            return Ok(None);
        }
        crate::lock::acquire(&self.root, what, self.wait, &mut |m| self.note(m)).map(Some)
    }

    /// The node name: `--node`, else the hostname (`/proc/sys/kernel/hostname`,
    /// the kernel's uname nodename, on the live system; `<root>/etc/hostname`
    /// otherwise), without a domain.
    pub fn node_name(&self) -> String {
        if let Some(n) = &self.node {
            return n.clone();
        }
        let candidates: Vec<PathBuf> = if self.live() {
            vec!["/proc/sys/kernel/hostname".into(), "/etc/hostname".into()]
        } else {
            vec![self.under_root("/etc/hostname")]
        };
        for p in candidates {
            if let Ok(b) = config::read_regular(&p, 64 << 10) {
                let s = String::from_utf8_lossy(&b);
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
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.under_root(config::DEFAULT_PATH))
    }

    /// Loads the config for this node.
    pub fn load_config(&self) -> Result<Config, CliError> {
        let path = self.config_path();
        let cfg = config::load(&path, &path, &self.node_name())?;
        if let (Some(n), None) = (&self.node, &cfg.node) {
            return Err(CliError::Usage(format!(
                "--node {n}: {} has no [node.{n}] section",
                path.display()
            )));
        }
        Ok(cfg)
    }
}
