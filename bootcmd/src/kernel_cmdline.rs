//! `/etc/kernel/cmdline`: the command line proxmox-boot-tool (systemd-boot mode)
//! and systemd's kernel-install put into the boot entries.
//!
//! proxmox-boot-tool reads only the first line and aborts when it has no `root=`,
//! so this module keeps the file to one line, edits only that line, and refuses
//! to produce a line without `root=` ([`edit`]). Plain kernel-install setups may
//! find the root themselves (systemd-gpt-auto-generator): [`edit_with`] then only
//! refuses to *lose* an existing `root=`.

use std::path::Path;

use crate::cmdline::{Cmdline, Edit, LOADER_KEYS};
use crate::error::{Error, Result};

/// Where the file lives, relative to the root.
pub const PATH: &str = "etc/kernel/cmdline";

/// The command line the file asks for: its first line.
pub fn parse(text: &str) -> Cmdline {
    Cmdline::parse(first_line(text).0)
}

fn first_line(text: &str) -> (&str, &str) {
    match text.find('\n') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    }
}

/// Check the file's shape: one line (blank lines after it are tolerated) holding
/// `root=`.
///
/// # Errors
///
/// [`Error::MultiLineCmdline`] or [`Error::MissingRoot`], naming `path`.
pub fn validate(path: &Path, text: &str) -> Result<()> {
    validate_with(path, text, true)
}

fn validate_with(path: &Path, text: &str, require_root: bool) -> Result<()> {
    let (first, rest) = first_line(text);
    if let Some((n, _)) = rest
        .split('\n')
        .enumerate()
        .skip(1)
        .find(|(_, l)| !l.trim().is_empty())
    {
        return Err(Error::MultiLineCmdline {
            path: path.to_owned(),
            line: n + 1,
        });
    }
    if require_root && !Cmdline::parse(first).contains("root") {
        return Err(Error::MissingRoot {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Apply `edits` to the first line of the file's text, keeping every other byte.
/// `path` only names the file in errors.
///
/// # Errors
///
/// [`Error::MultiLineCmdline`], [`Error::MissingRoot`] (before or after the
/// edits), [`Error::TooLong`], or an invalid edit's error.
pub fn edit(path: &Path, text: &str, edits: &[Edit]) -> Result<String> {
    edit_with(path, text, edits, true)
}

/// [`edit`], with the `root=` rule relaxed when `require_root` is false: then only
/// *losing* an existing `root=` is refused. For systemd-boot/kernel-install setups
/// that find the root by themselves (systemd-gpt-auto-generator); proxmox-boot-tool
/// always needs `root=`.
///
/// # Errors
///
/// As [`edit`].
pub fn edit_with(path: &Path, text: &str, edits: &[Edit], require_root: bool) -> Result<String> {
    let (first, rest) = first_line(text);
    let had_root = Cmdline::parse(first).contains("root");
    validate_with(path, text, require_root)?;
    let mut c = Cmdline::parse(first);
    if !c.apply(edits)? {
        return Ok(text.to_owned());
    }
    if (require_root || had_root) && !c.contains("root") {
        return Err(Error::MissingRoot {
            path: path.to_owned(),
        });
    }
    c.check_size(0)?;
    let mut out = crate::cmdline::edited_text(path, first, c.to_bytes())?;
    out.push_str(rest);
    Ok(out)
}

/// A starting `/etc/kernel/cmdline` made from the running command line, without
/// what boot loaders add (`BOOT_IMAGE=`, `initrd=`), ending in a newline.
pub fn seed_from_running(running: &Cmdline) -> String {
    let mut c = running.clone();
    for k in LOADER_KEYS {
        c.remove(k);
    }
    let mut s = c.to_string().trim().to_owned();
    s.push('\n');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const P: &str = "/etc/kernel/cmdline";

    #[test]
    fn edits_first_line_only() {
        let t = "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n";
        let out = edit(Path::new(P), t, &[Edit::ensure("iommu", "pt")]).unwrap();
        assert_eq!(out, "root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n");
        assert_eq!(
            edit(Path::new(P), &out, &[Edit::ensure("iommu", "pt")]).unwrap(),
            out
        );
    }

    #[test]
    fn refuses_to_split_a_character_the_kernel_splits() {
        // A no-break space (C2 A0): the kernel ends `pcie_acs_override=downstream\xC2`
        // at the A0 byte. Appending an option there would separate C2 from A0.
        let t = "root=/dev/sda1 pcie_acs_override=downstream\u{a0}quiet\n";
        assert_eq!(
            edit(
                Path::new(P),
                t,
                &[Edit::ensure("pcie_acs_override", "multifunction")]
            ),
            Err(Error::SplitCharacter {
                path: P.into(),
                character: '\u{a0}',
                code: 0xa0,
            })
        );
        // Edits that leave the character whole still work.
        let out = edit(Path::new(P), t, &[Edit::ensure("iommu", "pt")]).unwrap();
        assert_eq!(
            out,
            "root=/dev/sda1 pcie_acs_override=downstream\u{a0}quiet iommu=pt\n"
        );
    }

    #[test]
    fn refuses_without_root() {
        assert_eq!(
            edit(Path::new(P), "quiet\n", &[Edit::ensure("iommu", "pt")]),
            Err(Error::MissingRoot { path: P.into() })
        );
        assert_eq!(
            edit(
                Path::new(P),
                "root=/dev/sda quiet\n",
                &[Edit::remove("root")]
            ),
            Err(Error::MissingRoot { path: P.into() })
        );
    }

    #[test]
    fn root_optional_outside_proxmox() {
        let t = "rw quiet\n";
        assert_eq!(
            edit_with(Path::new(P), t, &[Edit::ensure("iommu", "pt")], false).unwrap(),
            "rw quiet iommu=pt\n"
        );
        assert_eq!(
            edit_with(Path::new(P), "root=x\n", &[Edit::remove("root")], false),
            Err(Error::MissingRoot { path: P.into() })
        );
    }

    #[test]
    fn refuses_second_line() {
        assert_eq!(
            edit(Path::new(P), "root=x\n\nquiet\n", &[]),
            Err(Error::MultiLineCmdline {
                path: P.into(),
                line: 3
            })
        );
        assert!(edit(Path::new(P), "root=x\n\n", &[]).is_ok());
    }

    #[test]
    fn seed() {
        let r = Cmdline::parse(
            "initrd=\\EFI\\proxmox\\6.8\\initrd.img-6.8 root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
        );
        assert_eq!(
            seed_from_running(&r),
            "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n"
        );
    }
}
