//! The one way to Proxmox's API: `pvesh`, spawned without a shell, its JSON
//! output parsed.
//!
//! pvesh prints a result with `--output-format json` as one line of
//! canonical JSON (pve-common `src/PVE/CLIFormatter.pm`,
//! `print_api_result`), and nothing for a call that returns null (`create`,
//! `set`). A failed call exits non-zero with the API's error on stderr.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the pvesh binary (tests use a double).
pub(crate) const ENV: &str = "SRIOV_CLI_PVESH";

/// Why a pvesh call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PveshError {
    /// No pvesh: not a Proxmox VE node.
    #[error("pvesh not found on PATH: this is not a Proxmox VE node (set {ENV} to the pvesh binary to use another)")]
    NotFound,
    /// `SRIOV_CLI_PVESH` names something that is not an executable file.
    #[error("{ENV}={}: not an executable file", .0.display())]
    BadEnv(PathBuf),
    /// The process could not be started.
    #[error("cannot run {}", bin.display())]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// pvesh did not answer in time (pmxcfs without quorum can block).
    #[error("`pvesh {args}` did not finish within {secs} s (is pve-cluster running, and the cluster quorate?)")]
    Timeout {
        /// The arguments.
        args: String,
        /// The limit.
        secs: u64,
    },
    /// pvesh exited non-zero.
    #[error("`pvesh {args}` failed (exit {code}): {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// Its exit code (-1: killed by a signal).
        code: i32,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// pvesh printed something that is not the JSON expected.
    #[error("`pvesh {args}` printed no valid JSON ({why})")]
    BadJson {
        /// The arguments.
        args: String,
        /// What was wrong.
        why: String,
    },
}

impl PveshError {
    /// The API's own words, for the cases the sync reacts to.
    pub fn stderr(&self) -> &str {
        match self {
            PveshError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// What the sync and `status` need from Proxmox's API. [`Pvesh`] spawns the
/// real binary; unit tests give a fake.
pub(crate) trait Api {
    /// Runs `pvesh ARGS` and returns its stdout.
    ///
    /// # Errors
    /// See [`PveshError`].
    fn call(&mut self, args: &[String]) -> Result<String, PveshError>;
}

/// The pvesh binary, with a time limit per call.
pub(crate) struct Pvesh {
    /// Path of the binary.
    pub bin: PathBuf,
    /// How long one call may take.
    pub timeout: Duration,
}

impl Pvesh {
    /// The pvesh to use: `$SRIOV_CLI_PVESH` when set (it must be an
    /// executable file), else `pvesh` on `PATH`.
    ///
    /// # Errors
    /// [`PveshError::NotFound`], [`PveshError::BadEnv`].
    pub fn locate(timeout: Duration) -> Result<Self, PveshError> {
        let bin = match std::env::var_os(ENV).filter(|v| !v.is_empty()) {
            Some(p) => {
                let p = PathBuf::from(p);
                if !is_executable(&p) {
                    return Err(PveshError::BadEnv(p));
                }
                p
            }
            None => std::env::var_os("PATH")
                .and_then(|path| {
                    std::env::split_paths(&path)
                        .filter(|d| d.is_absolute())
                        .map(|d| d.join("pvesh"))
                        .find(|p| is_executable(p))
                })
                .ok_or(PveshError::NotFound)?,
        };
        Ok(Self { bin, timeout })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Api for Pvesh {
    fn call(&mut self, args: &[String]) -> Result<String, PveshError> {
        let shown = args.join(" ");
        let mut child = Command::new(&self.bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| PveshError::Spawn {
                bin: self.bin.clone(),
                source,
            })?;
        // Both pipes drained while waiting: a full pipe would block pvesh.
        let drain = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(PveshError::Timeout {
                        args: shown,
                        secs: self.timeout.as_secs(),
                    });
                }
                Err(source) => {
                    return Err(PveshError::Spawn {
                        bin: self.bin.clone(),
                        source,
                    })
                }
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            return Err(PveshError::Failed {
                args: shown,
                code: status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
            });
        }
        String::from_utf8(stdout).map_err(|_| PveshError::BadJson {
            args: shown,
            why: "not UTF-8".into(),
        })
    }
}

/// A mapping as `pvesh get /cluster/mapping/pci[/<id>]` returns it
/// (pve-manager `PVE/API2/Cluster/Mapping/PCI.pm`: the section's keys, and
/// the file's `digest`; the index adds `id`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct Mapping {
    /// The id (index only).
    #[serde(default)]
    pub id: Option<String>,
    /// The entries.
    #[serde(default)]
    pub map: Vec<String>,
    /// The mapping's description.
    #[serde(default)]
    pub description: Option<String>,
    /// SHA-1 of the whole `pci.cfg` at the time of the read.
    #[serde(default)]
    pub digest: Option<String>,
}

fn json_args(path: &str) -> Vec<String> {
    vec![
        "get".into(),
        path.into(),
        "--output-format".into(),
        "json".into(),
    ]
}

/// `pvesh get /cluster/mapping/pci`: every mapping.
///
/// # Errors
/// The call failed or printed something else.
pub(crate) fn list(api: &mut dyn Api) -> Result<Vec<Mapping>, PveshError> {
    let args = json_args("/cluster/mapping/pci");
    let out = api.call(&args)?;
    serde_json::from_str(&out).map_err(|e| PveshError::BadJson {
        args: args.join(" "),
        why: e.to_string(),
    })
}

/// `pvesh get /cluster/mapping/pci/<id>`: `None` when there is no such
/// mapping (the API says "mapping '<id>' not found").
///
/// # Errors
/// The call failed otherwise, or printed something else.
pub(crate) fn get(api: &mut dyn Api, id: &str) -> Result<Option<Mapping>, PveshError> {
    let args = json_args(&format!("/cluster/mapping/pci/{id}"));
    match api.call(&args) {
        Ok(out) => serde_json::from_str(&out)
            .map(Some)
            .map_err(|e| PveshError::BadJson {
                args: args.join(" "),
                why: e.to_string(),
            }),
        Err(e) if e.stderr().contains(&format!("mapping '{id}' not found")) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `pvesh create /cluster/mapping/pci --id <id> --description <d> --map ...`.
///
/// # Errors
/// The call failed (an existing id: "pci ID '<id>' already defined").
pub(crate) fn create(
    api: &mut dyn Api,
    id: &str,
    description: &str,
    map: &[String],
) -> Result<(), PveshError> {
    let mut args: Vec<String> = vec![
        "create".into(),
        "/cluster/mapping/pci".into(),
        "--id".into(),
        id.into(),
        "--description".into(),
        description.into(),
    ];
    for m in map {
        args.push("--map".into());
        args.push(m.clone());
    }
    args.extend(["--output-format".into(), "json".into()]);
    api.call(&args).map(|_| ())
}

/// `pvesh set /cluster/mapping/pci/<id> --map ... --digest <digest>`: the
/// whole list replaced, refused when the file changed since the read.
///
/// # Errors
/// The call failed (a stale digest: "detected modified configuration").
pub(crate) fn set(
    api: &mut dyn Api,
    id: &str,
    map: &[String],
    digest: Option<&str>,
) -> Result<(), PveshError> {
    let mut args: Vec<String> = vec!["set".into(), format!("/cluster/mapping/pci/{id}")];
    for m in map {
        args.push("--map".into());
        args.push(m.clone());
    }
    if let Some(d) = digest {
        args.push("--digest".into());
        args.push(d.into());
    }
    args.extend(["--output-format".into(), "json".into()]);
    api.call(&args).map(|_| ())
}

/// Whether `e` is PVE's refusal of a stale digest (pve-common
/// `src/PVE/Tools.pm`, `assert_if_modified`).
pub(crate) fn is_stale_digest(e: &PveshError) -> bool {
    e.stderr().contains("detected modified configuration")
}

/// Whether `e` is PVE's refusal to create an existing mapping.
pub(crate) fn is_already_defined(e: &PveshError) -> bool {
    e.stderr().contains("already defined")
}
