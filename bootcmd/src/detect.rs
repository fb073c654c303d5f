//! How a system boots, read from a root directory: which file holds the kernel
//! command line, which command refreshes the boot entries, and why.
//!
//! What is looked at (all relative to the root, so fixtures are plain temp dirs):
//!
//! * `sys/firmware/efi`: present when booted through UEFI; the `SecureBoot-*`
//!   EFI variable says whether Secure Boot is on;
//! * `etc/kernel/proxmox-boot-uuids`: the ESPs proxmox-boot-tool keeps in sync;
//!   when present, proxmox-boot-tool is in charge. It installs systemd-boot on
//!   UEFI systems without Secure Boot and GRUB otherwise (legacy BIOS, Secure Boot);
//! * `proc/cmdline`: `BOOT_IMAGE=` is added by GRUB, an `initrd=\EFI\...` path by
//!   systemd-boot: the strongest evidence of what booted the running system;
//! * ESP contents where mounted (`boot/efi`, `efi`, `boot`, `var/tmp/espmounts/*`):
//!   `loader/entries`, `EFI/systemd` (systemd-boot) or `EFI/*/grubx64.efi` (GRUB);
//! * `etc/default/grub` (GRUB) and `etc/kernel/cmdline` (systemd-boot, kernel-install).

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmdline::{compare, Cmdline, Edit, Pending};
use crate::error::{Error, Result};
use crate::grub::GrubDefaults;
use crate::kernel_cmdline;
use crate::write::{read_optional, FileChange, WriteOutcome};

/// Present when the kernel was booted through UEFI.
pub const SYS_FIRMWARE_EFI: &str = "sys/firmware/efi";
/// The running kernel's command line.
pub const PROC_CMDLINE: &str = "proc/cmdline";
/// The ESPs proxmox-boot-tool keeps in sync, one UUID a line.
pub const PROXMOX_BOOT_UUIDS: &str = "etc/kernel/proxmox-boot-uuids";

/// The EFI global-variable GUID of `SecureBoot`.
const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-e42b9f8e5d8a";

/// Firmware boot mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Firmware {
    /// UEFI (`/sys/firmware/efi` present).
    Efi,
    /// Legacy BIOS / CSM.
    Bios,
}

/// The boot loader that reads the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Loader {
    /// GRUB: the command line comes from `/etc/default/grub` (+ drop-ins).
    Grub,
    /// systemd-boot: the command line comes from `/etc/kernel/cmdline`.
    SystemdBoot,
}

/// Which file (format) holds the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum CmdlineSource {
    /// `/etc/kernel/cmdline` (one line).
    KernelCmdline,
    /// `GRUB_CMDLINE_LINUX_DEFAULT` in `/etc/default/grub` or a drop-in.
    GrubDefaults,
}

/// The answer of [`detect`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BootSetup {
    /// UEFI or BIOS.
    pub firmware: Firmware,
    /// Secure Boot on (UEFI only; `false` when unknown).
    pub secure_boot: bool,
    /// The loader.
    pub loader: Loader,
    /// True when proxmox-boot-tool manages the ESPs.
    pub proxmox_boot_tool: bool,
    /// Where the command line is kept.
    pub source: CmdlineSource,
    /// That file as the target system names it (`/etc/kernel/cmdline`).
    pub cmdline_file: PathBuf,
    /// The command that writes the change into the boot entries.
    pub refresh: Vec<String>,
    /// The evidence, one sentence each.
    pub why: Vec<String>,
    /// False when the loader was inferred from defaults rather than seen.
    pub certain: bool,
    /// The other command-line file, when it exists but this setup never reads it
    /// (the classic mistake: `/etc/default/grub` edited on a systemd-boot host).
    pub unused: Option<PathBuf>,
}

impl BootSetup {
    /// The refresh command as one shell-ready string.
    pub fn refresh_command(&self) -> String {
        self.refresh.join(" ")
    }

    /// The command line the boot configuration asks for (without what the boot
    /// loader adds). `Ok(None)` when `/etc/kernel/cmdline` does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::Read`], [`Error::ShellSyntax`], [`Error::NulByte`], [`Error::NotLiteral`].
    pub fn configured_cmdline(&self, root: &Path) -> Result<Option<Cmdline>> {
        match self.source {
            CmdlineSource::KernelCmdline => {
                Ok(read_optional(&root.join(kernel_cmdline::PATH))?
                    .map(|t| kernel_cmdline::parse(&t)))
            }
            CmdlineSource::GrubDefaults => Ok(Some(GrubDefaults::load(root)?.cmdline()?)),
        }
    }

    /// Plan `edits` on this system's command-line file(s). Nothing is written;
    /// see [`Plan::apply`].
    ///
    /// # Errors
    ///
    /// The file's own refusals ([`Error::MissingRoot`], [`Error::MultiLineCmdline`],
    /// [`Error::NotLiteral`], [`Error::UnclosedQuote`], [`Error::NulByte`],
    /// [`Error::TooLong`], ...) and read errors.
    pub fn plan(&self, root: &Path, edits: &[Edit]) -> Result<Plan> {
        let running = running_cmdline(root)?;
        let mut notes = Vec::new();
        let (changes, configured) = match self.source {
            CmdlineSource::KernelCmdline => {
                let real = root.join(kernel_cmdline::PATH);
                let old = read_optional(&real)?;
                let base = match &old {
                    Some(t) => t.clone(),
                    None => match &running {
                        Some(r) => {
                            notes.push(format!(
                                "{} does not exist; starting from the running command line",
                                self.cmdline_file.display()
                            ));
                            kernel_cmdline::seed_from_running(r)
                        }
                        None => String::new(),
                    },
                };
                // proxmox-boot-tool aborts without root=; kernel-install setups may
                // find the root themselves, then only losing root= is refused.
                let new = kernel_cmdline::edit_with(
                    &self.cmdline_file,
                    &base,
                    edits,
                    self.proxmox_boot_tool,
                )?;
                let configured = kernel_cmdline::parse(&new);
                (
                    vec![FileChange {
                        root: root.to_owned(),
                        path: real,
                        display_path: self.cmdline_file.clone(),
                        old,
                        new,
                    }],
                    configured,
                )
            }
            CmdlineSource::GrubDefaults => {
                let g = GrubDefaults::load(root)?;
                let plan = g.plan(edits)?;
                notes.extend(plan.notes);
                let configured = configured_after_grub(root, &plan.changes)?;
                (plan.changes, configured)
            }
        };
        let pending = running.as_ref().map(|r| compare(&configured, r));
        Ok(Plan {
            setup: self.clone(),
            changes,
            notes,
            configured,
            pending,
        })
    }
}

fn configured_after_grub(root: &Path, changes: &[FileChange]) -> Result<Cmdline> {
    let g = GrubDefaults::load(root)?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (path, real, text) in g.files_for_replan() {
        let text = changes
            .iter()
            .find(|c| c.path == real)
            .map(|c| c.new.clone())
            .or(text)
            .unwrap_or_default();
        files.push((path, text));
    }
    GrubDefaults::from_texts(files)?.cmdline()
}

/// A planned change of the boot command line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// The boot setup it was planned for.
    pub setup: BootSetup,
    /// The file changes (all no-ops when nothing needs to change).
    pub changes: Vec<FileChange>,
    /// Things worth telling the admin.
    pub notes: Vec<String>,
    /// The command line the configuration asks for after the change.
    pub configured: Cmdline,
    /// That line compared with the running kernel's (`None` without `proc/cmdline`).
    pub pending: Option<Pending>,
}

impl Plan {
    /// True when no file would change.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(FileChange::is_noop)
    }

    /// Unified diffs of every change, for a dry run (empty for a no-op).
    pub fn diff(&self) -> String {
        self.changes.iter().map(FileChange::unified_diff).collect()
    }

    /// True when, after this change, a reboot is needed for the running kernel to
    /// get what the configuration asks for.
    pub fn reboot_pending(&self) -> bool {
        self.pending.as_ref().is_some_and(Pending::reboot_pending)
    }

    /// Write every change atomically (no-ops write nothing). Run
    /// [`BootSetup::refresh`] afterwards when anything was written.
    ///
    /// # Errors
    ///
    /// [`Error::ChangedSinceRead`] and write errors; earlier files stay written.
    pub fn apply(&self) -> Result<Vec<WriteOutcome>> {
        self.changes.iter().map(FileChange::apply).collect()
    }
}

/// The running kernel's command line, from `proc/cmdline` under `root`
/// (`Ok(None)` when there is none, e.g. in a fixture).
///
/// # Errors
///
/// [`Error::Read`] for I/O errors other than "not found".
pub fn running_cmdline(root: &Path) -> Result<Option<Cmdline>> {
    Ok(read_optional(&root.join(PROC_CMDLINE))?.map(|t| Cmdline::parse(&t)))
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

fn secure_boot(root: &Path) -> bool {
    let p = root
        .join(SYS_FIRMWARE_EFI)
        .join("efivars")
        .join(SECURE_BOOT_VAR);
    // 4 bytes of attributes, then the value.
    fs::read(p).ok().and_then(|b| b.get(4).copied()) == Some(1)
}

fn proxmox_uuids(root: &Path) -> Result<Vec<String>> {
    Ok(read_optional(&root.join(PROXMOX_BOOT_UUIDS))?
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

/// ESP directories that may be mounted under the root.
fn esp_dirs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["boot/efi", "efi", "boot"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    if let Ok(rd) = fs::read_dir(root.join("var/tmp/espmounts")) {
        let mut m: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        m.sort();
        v.extend(m);
    }
    v
}

/// What the mounted ESPs show: (systemd-boot seen, GRUB EFI seen, where).
fn esp_evidence(root: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut sd = None;
    let mut grub = None;
    for d in esp_dirs(root) {
        for p in [
            d.join("loader/entries"),
            d.join("loader/loader.conf"),
            d.join("EFI/systemd"),
        ] {
            if sd.is_none() && exists(&p) {
                sd = Some(p);
            }
        }
        if grub.is_none() {
            if let Ok(rd) = fs::read_dir(d.join("EFI")) {
                let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                dirs.sort();
                grub = dirs
                    .into_iter()
                    .map(|x| x.join("grubx64.efi"))
                    .find(|x| exists(x));
            }
        }
    }
    (sd, grub)
}

fn rel(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(r) => format!("/{}", r.display()),
        Err(_) => p.display().to_string(),
    }
}

/// systemd-boot's `LoaderInfo` EFI variable (vendor GUID of the Boot Loader
/// Interface): set by systemd-boot, never by GRUB.
const LOADER_INFO_VAR: &str = "LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// The `LoaderInfo` string ("systemd-boot 252.33"): 4 bytes of attributes, then
/// NUL-terminated UTF-16LE.
fn loader_info(root: &Path) -> Option<String> {
    let b = fs::read(
        root.join(SYS_FIRMWARE_EFI)
            .join("efivars")
            .join(LOADER_INFO_VAR),
    )
    .ok()?;
    let units: Vec<u16> = b
        .get(4..)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// What the running system shows about the loader that booted it: `proc/cmdline`
/// (GRUB adds `BOOT_IMAGE=`, systemd-boot an `initrd=\EFI\...` path) and the
/// `LoaderInfo` EFI variable systemd-boot sets.
fn running_loader(root: &Path, running: Option<&Cmdline>) -> Option<(Loader, String)> {
    let from_var = || {
        loader_info(root)
            .filter(|i| i.starts_with("systemd-boot"))
            .map(|i| {
                (
                    Loader::SystemdBoot,
                    format!(
                        "the LoaderInfo EFI variable says {i:?}: systemd-boot booted this system"
                    ),
                )
            })
    };
    let Some(r) = running else {
        return from_var();
    };
    if let Some(p) = r.get("BOOT_IMAGE") {
        return Some((
            Loader::Grub,
            format!("the running command line has {} (GRUB adds it)", p.raw()),
        ));
    }
    if let Some(p) = r.get("initrd") {
        if p.value().is_some_and(|v| v.contains('\\')) {
            return Some((
                Loader::SystemdBoot,
                format!(
                    "the running command line has {} (an EFI path: systemd-boot adds it)",
                    p.raw()
                ),
            ));
        }
    }
    from_var()
}

fn argv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Work out how the system under `root` boots.
///
/// # Errors
///
/// [`Error::UnknownBootSetup`] when neither GRUB nor systemd-boot/kernel-install
/// configuration is present; [`Error::Read`] for I/O errors.
pub fn detect(root: &Path) -> Result<BootSetup> {
    let mut why = Vec::new();
    let efi = exists(&root.join(SYS_FIRMWARE_EFI));
    let firmware = if efi {
        why.push("/sys/firmware/efi exists: booted through UEFI".to_owned());
        Firmware::Efi
    } else {
        why.push("/sys/firmware/efi is absent: legacy BIOS boot".to_owned());
        Firmware::Bios
    };
    let sb = efi && secure_boot(root);
    if sb {
        why.push("the SecureBoot EFI variable is 1: Secure Boot is on".to_owned());
    }
    let running = running_cmdline(root)?;
    let seen = running_loader(root, running.as_ref());
    let (esp_sd, esp_grub) = esp_evidence(root);
    let has_grub = exists(&root.join(crate::grub::DEFAULT_FILE));
    let has_kcmd = exists(&root.join(kernel_cmdline::PATH));
    let uuids = proxmox_uuids(root)?;

    let mut certain = true;
    let proxmox = !uuids.is_empty();
    let loader = if proxmox {
        why.push(format!(
            "/etc/kernel/proxmox-boot-uuids lists {} ESP(s): proxmox-boot-tool keeps them in sync",
            uuids.len()
        ));
        if !efi {
            why.push("proxmox-boot-tool uses GRUB on legacy BIOS systems".to_owned());
            Loader::Grub
        } else if let Some((l, w)) = seen {
            why.push(w);
            l
        } else if let Some(p) = esp_sd {
            why.push(format!(
                "{} exists on a mounted ESP: systemd-boot",
                rel(root, &p)
            ));
            Loader::SystemdBoot
        } else if let Some(p) = esp_grub {
            why.push(format!("{} exists on a mounted ESP: GRUB", rel(root, &p)));
            Loader::Grub
        } else if sb {
            why.push("proxmox-boot-tool uses GRUB (shim) when Secure Boot is on".to_owned());
            Loader::Grub
        } else {
            certain = has_kcmd;
            why.push(format!(
                "proxmox-boot-tool uses systemd-boot on UEFI without Secure Boot{}",
                if has_kcmd {
                    ", and /etc/kernel/cmdline exists"
                } else {
                    " (assumed: no ESP mounted and no loader trace in /proc/cmdline)"
                }
            ));
            Loader::SystemdBoot
        }
    } else if let Some((l, w)) = seen.filter(|(l, _)| match l {
        Loader::Grub => has_grub,
        Loader::SystemdBoot => has_kcmd && efi,
    }) {
        why.push(w);
        l
    } else if efi && has_kcmd && (esp_sd.is_some() || !has_grub) {
        match &esp_sd {
            Some(p) => why.push(format!(
                "/etc/kernel/cmdline exists and {} shows systemd-boot",
                rel(root, p)
            )),
            None => why.push(
                "/etc/kernel/cmdline exists and there is no /etc/default/grub: systemd-boot / kernel-install"
                    .to_owned(),
            ),
        }
        Loader::SystemdBoot
    } else if has_grub {
        why.push("/etc/default/grub exists: GRUB".to_owned());
        Loader::Grub
    } else {
        return Err(Error::UnknownBootSetup {
            root: root.to_owned(),
            reasons: format!(
                "{}; no /etc/kernel/proxmox-boot-uuids, /etc/default/grub or /etc/kernel/cmdline",
                why.join("; ")
            ),
        });
    };

    let (source, file) = match loader {
        Loader::Grub => (CmdlineSource::GrubDefaults, "/etc/default/grub"),
        Loader::SystemdBoot => (CmdlineSource::KernelCmdline, "/etc/kernel/cmdline"),
    };
    let unused = match loader {
        Loader::Grub if has_kcmd => Some("/etc/kernel/cmdline"),
        Loader::SystemdBoot if has_grub => Some("/etc/default/grub"),
        _ => None,
    }
    .map(PathBuf::from);
    if let Some(u) = &unused {
        why.push(format!(
            "{} exists but is not read on this setup: edits there do nothing",
            u.display()
        ));
    }
    let refresh = if proxmox {
        why.push(
            "`proxmox-boot-tool refresh` copies kernels and the command line to every ESP"
                .to_owned(),
        );
        argv(&["proxmox-boot-tool", "refresh"])
    } else {
        match loader {
            Loader::Grub => {
                if !exists(&root.join("usr/sbin/update-grub"))
                    && exists(&root.join("usr/sbin/grub2-mkconfig"))
                {
                    let cfg = if exists(&root.join("boot/grub2")) {
                        "/boot/grub2/grub.cfg"
                    } else {
                        "/boot/grub/grub.cfg"
                    };
                    argv(&["grub2-mkconfig", "-o", cfg])
                } else {
                    argv(&["update-grub"])
                }
            }
            Loader::SystemdBoot => argv(&["kernel-install", "add-all"]),
        }
    };
    Ok(BootSetup {
        firmware,
        secure_boot: sb,
        loader,
        proxmox_boot_tool: proxmox,
        source,
        cmdline_file: PathBuf::from(file),
        refresh,
        why,
        certain,
        unused,
    })
}
