//! `sriov-vfs-generator`, the systemd generator (systemd.generator(7)) of the
//! Debian package: `sriov-vfs.service` waits for the PFs that
//! `/etc/sriov-cli/sriov.toml` names *at boot*, so nothing is regenerated
//! when the PFs change (netplan does the same for its SR-IOV unit).
//!
//! systemd runs it very early at every boot and at every `systemctl
//! daemon-reload`, before `/var` and the journal exist. It reads the config
//! and nothing else (no netlink, no sysfs), prints nothing unless something
//! is wrong, and never fails the boot: a missing config writes nothing (the
//! unit is then skipped by its `ConditionPathExists=`), and an invalid one
//! writes nothing and says so once (the unit then fails with the
//! `file:line:col` error in the journal). Into the generator's normal
//! directory (`/run/systemd/generator/`, below `/etc` in precedence) it writes:
//!
//! - `sriov-vfs.service.d/50-sriov-cli.conf`: `After=` and `Wants=` (not
//!   `Requires=`) on the device unit of every PF of this node, and an
//!   `ExecStartPre=-` that names in the journal any PF that is still missing
//!   ([`check_pfs`]);
//! - `<device unit>.d/50-sriov-cli.conf` for each of them:
//!   `JobTimeoutSec=` and `JobRunningTimeoutSec=` of [`PF_TIMEOUT_SECS`], so a
//!   PF that never appears holds the unit (and `network-pre.target`) at most
//!   that long instead of systemd's 90 s. A file of the same name in
//!   `/etc/systemd/system/<device unit>.d/` replaces it.
//!
//! A PF given by name waits for `sys-subsystem-net-devices-<name>.device`; a
//! PF given by PCI address waits for `sys-subsystem-net-pci-<address>.device`,
//! the alias that the package's udev rule (`70-sriov-cli.rules`) gives the
//! network interface of every SR-IOV capable PCI function once udev has
//! processed (and renamed) it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{PfKey, DEFAULT_PATH};
use crate::render::Style;
use crate::Ctx;

/// The unit the generator extends.
pub const UNIT: &str = "sriov-vfs.service";
/// The name of every drop-in it writes.
pub const DROP_IN: &str = "50-sriov-cli.conf";
/// How long `sriov-vfs.service` waits for a PF's network interface.
pub const PF_TIMEOUT_SECS: u32 = 30;
/// Where the Debian package installs the generator.
pub const INSTALLED_PATH: &str = "/usr/lib/systemd/system-generators/sriov-vfs-generator";
/// The generator's other mode, run by the unit's `ExecStartPre=`: print a
/// line for every PF of the config that has no network interface.
pub const CHECK_FLAG: &str = "--check-pfs";

/// What one run of the generator produces.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// Files to write: path relative to the output directory, contents.
    pub files: Vec<(PathBuf, String)>,
    /// One-line messages for the kernel log (something is wrong).
    pub messages: Vec<String>,
}

/// One PF the unit waits for.
struct Wait {
    /// The PF as the config writes it (`enp2s0f0`, `0000:02:00.0`).
    pf: String,
    /// Its device unit.
    unit: String,
    /// Where its network interface shows, relative to the root.
    key: PfKey,
}

/// systemd's name for a device unit of a network interface:
/// `sys-subsystem-net-devices-<name>.device`, the name escaped the way
/// `systemd-escape` does it (every byte but ASCII letters, digits, `:`, `_`
/// and a `.` that is not first becomes `\xNN`).
pub(crate) fn netdev_device_unit(name: &str) -> String {
    let mut esc = String::new();
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || (b == b'.' && i > 0) {
            esc.push(char::from(b));
        } else {
            let _ = write!(esc, "\\x{b:02x}");
        }
    }
    format!("sys-subsystem-net-devices-{esc}.device")
}

/// The device unit that `70-sriov-cli.rules` names after a PF's PCI address
/// (`SYSTEMD_ALIAS=/sys/subsystem/net/pci/<address>`; an address needs no
/// escaping).
pub(crate) fn pci_device_unit(address: &sysfs_sriov::PciAddress) -> String {
    format!("sys-subsystem-net-pci-{address}.device")
}

/// The context `setup` gets from `sriov-vfs.service` (no `--node`, the
/// default config), so the generator selects the same `[node.NAME]` section.
fn ctx(root: &Path) -> Ctx {
    Ctx {
        root: root.to_path_buf(),
        config: None,
        node: None,
        verbose: 0,
        out_style: Style::default(),
        err_style: Style::default(),
        err_tty: false,
        // The generator never takes the host lock (it writes nothing there).
        wait: std::time::Duration::ZERO,
    }
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let _ = write!(s, ": {c}");
        cur = c.source();
    }
    let mut lines = s.lines();
    let first = lines.next().unwrap_or_default().to_string();
    match lines.count() {
        0 => first,
        n => format!("{first} (and {n} more lines)"),
    }
}

/// Control characters out of text that goes into a comment line.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The PFs of one node's config, and the `[node.NAME]` section used.
type Waits = (Vec<Wait>, Option<String>);

/// The PFs of this node's config under `root`, and the node section used;
/// `Ok(None)` without a config file.
fn waits(root: &Path) -> Result<Option<Waits>, String> {
    let ctx = ctx(root);
    if !ctx.config_path().exists() {
        return Ok(None);
    }
    let cfg = ctx.load_config().map_err(|e| one_line(&e))?;
    let mut out: Vec<Wait> = Vec::new();
    for pf in &cfg.pfs {
        let unit = match &pf.key {
            PfKey::Name(n) => netdev_device_unit(n),
            PfKey::Pci { address, .. } => pci_device_unit(address),
        };
        if !out.iter().any(|w| w.unit == unit) {
            out.push(Wait {
                pf: pf.key.to_string(),
                unit,
                key: pf.key.clone(),
            });
        }
    }
    Ok(Some((out, cfg.node)))
}

/// Whether `p` can stand in `ExecStartPre=` as it is: an absolute path of
/// characters that systemd's command line syntax leaves alone (no quoting,
/// `%` specifiers, `$` variables or escapes).
fn plain_path(p: &Path) -> bool {
    p.is_absolute()
        && p.to_str().is_some_and(|s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b))
        })
}

/// What the generator writes for the system under `root` (`/` at boot).
/// `checker` is the generator's own path, for the unit's `ExecStartPre=`.
pub fn generate(root: &Path, checker: &Path) -> Generated {
    let mut g = Generated::default();
    let (waits, node) = match waits(root) {
        Ok(Some(w)) => w,
        Ok(None) => return g,
        Err(e) => {
            g.messages.push(format!(
                "{DEFAULT_PATH} is not a valid config, so {UNIT} does not wait for its PFs and will fail with the details: {e}"
            ));
            return g;
        }
    };
    if waits.is_empty() {
        return g;
    }
    for w in &waits {
        g.files.push((
            PathBuf::from(format!("{}.d", w.unit)).join(DROP_IN),
            format!(
                "# Written by sriov-vfs-generator: {UNIT} waits at most {PF_TIMEOUT_SECS} s\n\
                 # for PF {pf} of {DEFAULT_PATH}. To wait longer, put a\n\
                 # {DROP_IN} with other values in\n\
                 # /etc/systemd/system/{unit}.d/.\n\
                 [Unit]\n\
                 JobTimeoutSec={PF_TIMEOUT_SECS}s\n\
                 JobRunningTimeoutSec={PF_TIMEOUT_SECS}s\n",
                pf = w.pf,
                unit = w.unit,
            ),
        ));
    }
    let check = plain_path(checker);
    let mut t = format!(
        "# Written by sriov-vfs-generator (at boot, and at systemctl daemon-reload)\n\
         # from {DEFAULT_PATH}{node}: {UNIT} waits for\n\
         # the network interface of each PF there, at most {PF_TIMEOUT_SECS} s. Wants=, not\n\
         # Requires=: a PF that never appears does not stop the boot{journal}.\n\
         [Unit]\n",
        node = node
            .map(|n| format!(" (node {})", printable(&n)))
            .unwrap_or_default(),
        journal = if check {
            ", and\n# ExecStartPre= names it in the journal"
        } else {
            ""
        },
    );
    for w in &waits {
        // Never the PF's name last on a comment line: a name may end in
        // `\`, which would continue the comment into the next line.
        let how = match w.key {
            PfKey::Name(_) => "by name",
            PfKey::Pci { .. } => "by PCI address: its interface, as 70-sriov-cli.rules names it",
        };
        let _ = write!(
            t,
            "# PF {pf}, {how}\nAfter={unit}\nWants={unit}\n",
            pf = w.pf,
            unit = w.unit
        );
    }
    if check {
        let _ = write!(
            t,
            "\n[Service]\nExecStartPre=-{} {CHECK_FLAG}\n",
            checker.display()
        );
    } else {
        g.messages.push(format!(
            "{} cannot be named in ExecStartPre= as it is: the journal will not name a PF that does not appear",
            checker.display()
        ));
    }
    g.files
        .push((PathBuf::from(format!("{UNIT}.d")).join(DROP_IN), t));
    g
}

/// Writes `g`'s files under `dir` (the device drop-ins first, the unit's
/// last, so a failure never leaves a wait without its bound).
///
/// # Errors
/// A directory or file could not be written.
pub fn write(g: &Generated, dir: &Path) -> std::io::Result<()> {
    for (rel, text) in &g.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}

/// One line for every PF of the config under `root` that has no network
/// interface now, naming it and the way out (run by the unit's
/// `ExecStartPre=`, after the wait; its output goes to the journal). An
/// unreadable or invalid config gives no line: `setup` reports it next.
pub fn check_pfs(root: &Path) -> Vec<String> {
    let Ok(Some((waits, _))) = waits(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for w in &waits {
        let present = match &w.key {
            PfKey::Name(n) => root.join("sys/class/net").join(n).exists(),
            PfKey::Pci { address, .. } => {
                std::fs::read_dir(root.join(format!("sys/bus/pci/devices/{address}/net")))
                    .is_ok_and(|mut d| d.next().is_some())
            }
        };
        if present {
            continue;
        }
        out.push(format!(
            "PF {pf} of {DEFAULT_PATH} has no network interface after {UNIT} waited up to {PF_TIMEOUT_SECS} s for {unit}: \
             setup refuses the plan and changes nothing, and the boot goes on. Way out: correct or remove that [[pf]] entry, \
             or have the PF's driver load earlier, or wait longer (JobTimeoutSec= and JobRunningTimeoutSec= in \
             /etc/systemd/system/{unit}.d/{DROP_IN}); then: systemctl daemon-reload && systemctl restart {UNIT}",
            pf = w.pf,
            unit = w.unit
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::fs;

    const CHECKER: &str = INSTALLED_PATH;

    /// A root with `etc/sriov-cli/sriov.toml` (when `config` is given) and
    /// `etc/hostname`.
    fn root(dir: &Path, config: Option<&str>) -> PathBuf {
        let root = dir.to_path_buf();
        fs::create_dir_all(root.join("etc/sriov-cli")).unwrap();
        fs::write(root.join("etc/hostname"), "pve1\n").unwrap();
        if let Some(c) = config {
            fs::write(root.join("etc/sriov-cli/sriov.toml"), c).unwrap();
        }
        root
    }

    /// Runs the generator into a fresh directory; returns every file written
    /// (relative path, text), sorted.
    fn run(root: &Path) -> (Vec<(String, String)>, Vec<String>) {
        let out = tempfile::tempdir().unwrap();
        let g = generate(root, Path::new(CHECKER));
        write(&g, out.path()).unwrap();
        let mut files = Vec::new();
        let mut stack = vec![out.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(out.path()).unwrap().display().to_string();
                    files.push((rel, fs::read_to_string(&p).unwrap()));
                }
            }
        }
        files.sort();
        (files, g.messages)
    }

    #[test]
    fn pfs_by_name_and_by_pci_address() {
        let d = tempfile::tempdir().unwrap();
        let r = root(
            d.path(),
            Some(
                "[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 4\n\
                 [node.pve1]\nid = 1\n[[node.pve1.pf]]\npci = \"02:00.1\"\nnum_vfs = 2\n\
                 [node.pve2]\nid = 2\n[[node.pve2.pf]]\nname = \"eno1\"\nnum_vfs = 2\n",
            ),
        );
        let (files, messages) = run(&r);
        assert!(messages.is_empty(), "{messages:?}");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "sriov-vfs.service.d/50-sriov-cli.conf",
                "sys-subsystem-net-devices-enp2s0f0.device.d/50-sriov-cli.conf",
                "sys-subsystem-net-pci-0000:02:00.1.device.d/50-sriov-cli.conf",
            ]
        );
        let unit = &files[0].1;
        let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            keys,
            [
                "[Unit]",
                "After=sys-subsystem-net-devices-enp2s0f0.device",
                "Wants=sys-subsystem-net-devices-enp2s0f0.device",
                "After=sys-subsystem-net-pci-0000:02:00.1.device",
                "Wants=sys-subsystem-net-pci-0000:02:00.1.device",
                "",
                "[Service]",
                "ExecStartPre=-/usr/lib/systemd/system-generators/sriov-vfs-generator --check-pfs",
            ]
        );
        // The node section of this host only (pve2's eno1 is not waited for).
        assert!(
            unit.contains("(node pve1)") && !unit.contains("eno1"),
            "{unit}"
        );
        assert!(!keys.iter().any(|l| l.starts_with("Requires=")));
        for (_, dev) in &files[1..] {
            let keys: Vec<&str> = dev.lines().filter(|l| !l.starts_with('#')).collect();
            assert_eq!(
                keys,
                ["[Unit]", "JobTimeoutSec=30s", "JobRunningTimeoutSec=30s"]
            );
        }
        verify(&files);
    }

    #[test]
    fn no_config_writes_nothing_and_says_nothing() {
        let d = tempfile::tempdir().unwrap();
        let r = root(d.path(), None);
        assert_eq!(generate(&r, Path::new(CHECKER)), Generated::default());
        assert!(check_pfs(&r).is_empty());
        // A config without a PF for this node: nothing either.
        fs::write(
            r.join("etc/sriov-cli/sriov.toml"),
            "[node.pve1]\nid = 1\n[node.other]\nid = 2\n[[node.other.pf]]\nname = \"eno1\"\nnum_vfs = 1\n",
        )
        .unwrap();
        assert_eq!(generate(&r, Path::new(CHECKER)), Generated::default());
        // Without a section for this host at all, setup refuses the file:
        // said once, nothing written.
        fs::write(
            r.join("etc/sriov-cli/sriov.toml"),
            "[node.other]\nid = 2\n[[node.other.pf]]\nname = \"eno1\"\nnum_vfs = 1\n",
        )
        .unwrap();
        let g = generate(&r, Path::new(CHECKER));
        assert!(g.files.is_empty() && g.messages.len() == 1, "{g:?}");
        assert!(g.messages[0].contains("no [node.pve1] section"), "{g:?}");
    }

    #[test]
    fn invalid_config_writes_nothing_and_says_so_once() {
        let d = tempfile::tempdir().unwrap();
        for bad in [
            "[[pf]]\nname = \"eno1\"\n",                         // no num_vfs
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\nbogus = 1\n", // unknown key
            "[[pf\n",                                            // not TOML
            "\u{ff}\u{fe}",                                      // (valid UTF-8, invalid TOML)
        ] {
            let r = root(d.path(), Some(bad));
            let g = generate(&r, Path::new(CHECKER));
            assert!(g.files.is_empty(), "{bad:?}: {:?}", g.files);
            assert_eq!(g.messages.len(), 1, "{bad:?}: {:?}", g.messages);
            let m = &g.messages[0];
            assert!(
                m.starts_with("/etc/sriov-cli/sriov.toml is not a valid config, so sriov-vfs.service does not wait for its PFs and will fail with the details: ")
                    && !m.contains('\n'),
                "{m}"
            );
            assert!(check_pfs(&r).is_empty());
        }
        // Not UTF-8, and a directory where the file should be.
        let r = root(d.path(), None);
        fs::write(r.join("etc/sriov-cli/sriov.toml"), b"\xff\xfe").unwrap();
        let g = generate(&r, Path::new(CHECKER));
        assert!(g.files.is_empty() && g.messages.len() == 1, "{g:?}");
        fs::remove_file(r.join("etc/sriov-cli/sriov.toml")).unwrap();
        fs::create_dir(r.join("etc/sriov-cli/sriov.toml")).unwrap();
        let g = generate(&r, Path::new(CHECKER));
        assert!(g.files.is_empty() && g.messages.len() == 1, "{g:?}");
    }

    #[test]
    fn names_needing_escapes() {
        // A root whose path needs quoting anywhere, and PF names that need
        // systemd's escaping in unit names (`-`, `%`, `\`, `$`, non-ASCII,
        // a leading `.`).
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("a root with spaces, %i, $HOME and \\");
        let r = root(
            &r,
            Some(
                "[[pf]]\nname = \"lan-1\"\nnum_vfs = 1\n[[pf]]\nname = \"a%b\\\\c$d\\\\\"\nnum_vfs = 1\n\
                 [[pf]]\nname = \".x\u{e9}\"\nnum_vfs = 1\n",
            ),
        );
        let units = [
            "sys-subsystem-net-devices-lan\\x2d1.device",
            "sys-subsystem-net-devices-a\\x25b\\x5cc\\x24d\\x5c.device",
            "sys-subsystem-net-devices-\\x2ex\\xc3\\xa9.device",
        ];
        let (files, messages) = run(&r);
        assert!(messages.is_empty(), "{messages:?}");
        let unit = &files
            .iter()
            .find(|(n, _)| n.starts_with("sriov-vfs.service.d/"))
            .unwrap()
            .1;
        for u in units {
            assert!(
                files.iter().any(|(n, _)| *n == format!("{u}.d/{DROP_IN}")),
                "{u}: {files:?}"
            );
            assert_eq!(unit.matches(&format!("After={u}\n")).count(), 1, "{unit}");
            assert_eq!(unit.matches(&format!("Wants={u}\n")).count(), 1, "{unit}");
        }
        assert_eq!(files.len(), 4);
        // No comment line ends in `\` (it would swallow the next line).
        assert!(files
            .iter()
            .all(|(_, t)| t.lines().all(|l| !l.ends_with('\\'))));
        // Nothing of the root's path leaks into what systemd reads.
        assert!(files.iter().all(|(_, t)| !t.contains("spaces")));
        verify(&files);
        // A generator path that would need quoting: no ExecStartPre=, said once.
        let g = generate(&r, Path::new("/opt/my generators/sriov-vfs-generator"));
        assert!(!g.files.iter().any(|(_, t)| t.contains("\nExecStartPre=")));
        assert_eq!(g.messages.len(), 1, "{:?}", g.messages);
        let g = generate(&r, Path::new("/usr/lib/systemd/system-generators/%n"));
        assert!(!g.files.iter().any(|(_, t)| t.contains("\nExecStartPre=")));
    }

    #[test]
    fn check_names_each_missing_pf_and_the_way_out() {
        let d = tempfile::tempdir().unwrap();
        let r = root(
            d.path(),
            Some(
                "[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 4\n[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n\
                 [[pf]]\npci = \"0000:05:00.0\"\nnum_vfs = 2\n[[pf]]\npci = \"0000:06:00.0\"\nnum_vfs = 2\n",
            ),
        );
        fs::create_dir_all(r.join("sys/class/net/enp2s0f0")).unwrap();
        fs::create_dir_all(r.join("sys/bus/pci/devices/0000:05:00.0/net/enp5s0")).unwrap();
        fs::create_dir_all(r.join("sys/bus/pci/devices/0000:06:00.0/net")).unwrap();
        let lines = check_pfs(&r);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            "PF eno1 of /etc/sriov-cli/sriov.toml has no network interface after sriov-vfs.service waited up to 30 s for sys-subsystem-net-devices-eno1.device: \
             setup refuses the plan and changes nothing, and the boot goes on. Way out: correct or remove that [[pf]] entry, \
             or have the PF's driver load earlier, or wait longer (JobTimeoutSec= and JobRunningTimeoutSec= in \
             /etc/systemd/system/sys-subsystem-net-devices-eno1.device.d/50-sriov-cli.conf); then: systemctl daemon-reload && systemctl restart sriov-vfs.service"
        );
        assert!(lines[1].starts_with("PF 0000:06:00.0 of /etc/sriov-cli/sriov.toml has no network interface after sriov-vfs.service waited up to 30 s for sys-subsystem-net-pci-0000:06:00.0.device: "));
    }

    /// The package's man page assets (Cargo.toml, listed by name) are the
    /// pages build.rs renders: one for sriov-cli and one per subcommand.
    #[test]
    fn package_lists_a_man_page_per_command() {
        fn pages(cmd: &clap::Command, name: &str, out: &mut Vec<String>) {
            out.push(format!("{name}.8.gz"));
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                pages(sub, &format!("{name}-{}", sub.get_name()), out);
            }
        }
        let mut want = Vec::new();
        pages(
            &<crate::cli::Cli as clap::CommandFactory>::command(),
            "sriov-cli",
            &mut want,
        );
        want.sort();
        let manifest: toml::Value =
            toml::from_str(include_str!("../Cargo.toml")).expect("sriov-cli/Cargo.toml");
        let assets = manifest["package"]["metadata"]["deb"]["assets"]
            .as_array()
            .expect("[package.metadata.deb] assets");
        let mut listed: Vec<String> = assets
            .iter()
            .filter_map(|a| a.get(0)?.as_str())
            .filter_map(|src| src.strip_prefix("target/release/sriov-cli-generated/man/"))
            .map(str::to_string)
            .collect();
        listed.sort();
        assert_eq!(listed, want);
        // And the shell completions and the generator are there too.
        let dests: Vec<&str> = assets.iter().filter_map(|a| a.get(1)?.as_str()).collect();
        for d in [
            "usr/sbin/",
            "usr/lib/systemd/system-generators/",
            "usr/share/bash-completion/completions/sriov-cli",
            "usr/share/zsh/vendor-completions/_sriov-cli",
            "usr/share/fish/vendor_completions.d/sriov-cli.fish",
        ] {
            assert!(dests.contains(&d), "{d} missing from {dests:?}");
        }
    }

    /// The Debian changelog's newest entry is this version, revision 1 (the
    /// package's version: lintian wants the changelog, and it must not lie).
    #[test]
    fn debian_changelog_is_for_this_version() {
        let top = include_str!("../debian/changelog")
            .lines()
            .next()
            .unwrap_or_default();
        let want = format!("sriov-cli ({}-1) ", env!("CARGO_PKG_VERSION"));
        assert!(
            top.starts_with(&want),
            "debian/changelog starts {top:?}, want {want:?}..."
        );
    }

    /// `systemd-analyze verify` of the shipped unit with these drop-ins
    /// (and a stand-in for the binaries): no complaint. Skipped, loudly,
    /// without systemd.
    fn verify(files: &[(String, String)]) {
        let d = tempfile::tempdir().unwrap();
        let unit_dir = d.path().join("system");
        fs::create_dir_all(&unit_dir).unwrap();
        let bin = "/bin/true";
        let unit = include_str!("../debian/sriov-vfs.service").replace("/usr/sbin/sriov-cli", bin);
        fs::write(unit_dir.join(UNIT), unit).unwrap();
        for (rel, text) in files {
            let p = unit_dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text.replace(INSTALLED_PATH, bin)).unwrap();
        }
        let o = match std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .env("SYSTEMD_UNIT_PATH", format!("{}:", unit_dir.display()))
            .arg(unit_dir.join(UNIT))
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!(
                    "\n*** SKIPPED systemd-analyze verify of the generated drop-ins: {e} ***\n"
                );
                return;
            }
        };
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && err.trim().is_empty(),
            "systemd-analyze verify: {err}"
        );
    }
}
