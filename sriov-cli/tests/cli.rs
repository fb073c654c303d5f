//! The built binary on fixture roots: exact stdout, stderr and exit codes.
//!
//! Golden files live in `tests/golden/`; `<EXAMPLE>` stands for the bundled
//! example host's path. Regenerate them after an intended output change with
//! `SRIOV_CLI_BLESS=1 cargo test -p sriov-cli --test cli`, and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

fn run(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Out {
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
        code: o.status.code().unwrap_or(-1),
    }
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pve1")
}

fn ex() -> String {
    example().display().to_string()
}

fn note() -> String {
    format!(
        "note: --root {} is not /, so netlink is not used: VF attributes, link state, addresses and routes show as unavailable\n",
        ex()
    )
}

/// Compares `actual` (with the example path replaced by `<EXAMPLE>`) with
/// `tests/golden/<name>`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = actual.replace(&ex(), "<EXAMPLE>");
    if std::env::var_os("SRIOV_CLI_BLESS").is_some() {
        fs::write(&path, &actual).unwrap();
    }
    let want = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == actual,
        "{name} differs (SRIOV_CLI_BLESS=1 to regenerate):\n--- want\n{want}\n--- got\n{actual}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn dry_run_of_the_example_prints_the_guide_as_a_diff() {
    let o = run(&["--root", &ex(), "setup", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    golden("example-dry-run.txt", &o.stdout);
    golden("example-dry-run.stderr", &o.stderr);
    // The explicit --config form of the README's command gives the same plan.
    let cfg = format!("{}/etc/sriov-cli/sriov.toml", ex());
    let o2 = run(&["--root", &ex(), "setup", "--config", &cfg, "--dry-run"]);
    assert_eq!((o2.code, &o2.stdout), (0, &o.stdout));
}

#[test]
fn timings_go_to_stderr_and_leave_stdout_alone() {
    let plain = run(&["--root", &ex(), "setup", "--dry-run"]);
    let o = run(&["--root", &ex(), "setup", "--dry-run", "--timings"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, plain.stdout);
    let t = o
        .stderr
        .strip_prefix(plain.stderr.as_str())
        .unwrap_or_else(|| panic!("timings come after the usual stderr:\n{}", o.stderr));
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3, "{t}");
    assert_eq!(lines[0], "timings:");
    for (line, what) in lines[1..]
        .iter()
        .zip(["read host, validate the plan", "in all"])
    {
        let (ms, rest) = line.trim_start().split_once(" ms  ").unwrap();
        assert!(ms.parse::<f64>().is_ok_and(|v| v >= 0.0), "{line}");
        assert_eq!(rest, what);
    }
    // --json keeps its stdout a single JSON document.
    let j = run(&["--root", &ex(), "setup", "--dry-run", "--json", "--timings"]);
    assert_eq!(j.code, 0, "{}", j.stderr);
    serde_json::from_str::<serde_json::Value>(&j.stdout).unwrap();
    assert!(j.stderr.contains("timings:\n"), "{}", j.stderr);
}

#[test]
fn dry_run_json_lists_planned_changes() {
    let o = run(&["--root", &ex(), "setup", "--dry-run", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 38);
    assert!(changes.iter().all(|c| c["status"] == "planned"));
    assert_eq!(changes[0]["attr"], "num_vfs");
    assert_eq!(changes[0]["from"], "0");
    assert_eq!(changes[0]["to"], "64");
    let vf9_mac = changes
        .iter()
        .find(|c| c["vf"] == 9 && c["attr"] == "mac")
        .unwrap();
    assert!(vf9_mac["to"].as_str().unwrap().ends_with(":01:00:50"));
    assert_eq!(v["warnings"].as_array().unwrap().len(), 3);
}

#[test]
fn other_node_section_by_flag() {
    let o = run(&["--root", &ex(), "--node", "pve2", "setup", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    golden("example-pve2-dry-run.txt", &o.stdout);
    let o = run(&["--root", &ex(), "--node", "pve9", "setup", "--dry-run"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!(
            "error: {}/etc/sriov-cli/sriov.toml: no [node.pve9] section for this host (sections: pve1, pve2); pass --node NAME to pick one\n",
            ex()
        )
    );
}

#[test]
fn setup_without_dry_run_under_root_is_refused() {
    let o = run(&["--root", &ex(), "setup"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        format!("error: setup changes VFs through netlink, which --root cannot redirect; with --root {} only `setup --dry-run` is possible\n", ex())
    );
}

#[test]
fn config_errors_carry_file_line_col_and_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(
        d.path(),
        "s.toml",
        "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\nvlna = 5\n",
    );
    let o = run(&["--root", &ex(), "setup", "--config", &cfg, "--dry-run"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    assert_eq!(o.stderr, format!("error: {cfg}:4:1: unknown field `vlna`, expected one of `name`, `pci`, `num_vfs`, `up`, `vf`\n"));

    let cfg = write(
        d.path(),
        "t.toml",
        "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 2\nvlan = 5000\n[[pf.vf]]\nindex = 1\ndriver = \"vfio-pci\"\naddresses = [\"10.0.0.1/24\"]\n",
    );
    let o = run(&["--root", &ex(), "setup", "--config", &cfg, "--dry-run"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!(
            "error: {cfg}:5:9: VF index 2 is not below num_vfs = 2 of PF eno1\n\
             error: {cfg}:10:13: VF 1: `addresses` needs a VF netdev, but driver = \"vfio-pci\" leaves none on the host\n"
        )
    );
}

#[test]
fn missing_config_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().display().to_string();
    let o = run(&["--root", &root, "setup", "--dry-run"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!("error: cannot read config {root}/etc/sriov-cli/sriov.toml\n  caused by: No such file or directory (os error 2)\n")
    );
}

#[test]
fn invalid_plan_against_the_live_state_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(
        d.path(),
        "s.toml",
        "[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 65\n[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 8\n[[pf]]\nname = \"eth9\"\nnum_vfs = 1\n[[pf]]\npci = \"0000:05:00.0\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 0\nname = \"enp2s0f1v3\"\n",
    );
    let o = run(&[
        "--root",
        &ex(),
        "setup",
        "--config",
        &cfg,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(o.code, 2);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["changes"].as_array().unwrap().len(), 0);
    assert_eq!(v["errors"].as_array().unwrap().len(), 7);
    let stderr = o.stderr.strip_prefix(&note()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    // Each error points at the offending key (file:line:col).
    assert_eq!(
        lines[0],
        format!("error: {cfg}:3:11: PF enp2s0f0 (0000:02:00.0): num_vfs = 65 is above sriov_totalvfs = 64")
    );
    // One VF per line, saying what is in use on it.
    assert_eq!(
        lines[1..5],
        [
            &format!("error: {cfg}:6:11: PF enp2s0f1: num_vfs is 64 and the config wants 8; the kernel only allows this through 0, which destroys all 64 VFs. Re-run with --allow-recreate to do it; 3 of them in use:"),
            "error:   VF 9 (0000:02:0b.1): bound to vfio-pci",
            "error:   VF 10 (0000:02:0b.2): bound to vfio-pci",
            "error:   VF 11 (0000:02:0b.3): bound to vfio-pci",
        ]
    );
    assert_eq!(
        lines[5],
        format!("error: {cfg}:8:8: PF eth9: no network interface `eth9` belongs to an SR-IOV capable PCI device")
    );
    assert_eq!(lines[6], format!("error: {cfg}:15:8: VF 0 of 0000:05:00.0: the name `enp2s0f1v3` is already taken by another network interface"));
    assert_eq!(lines[7], "error: nothing was changed");
    assert_eq!(lines.len(), 8);
}

#[test]
fn status_of_the_example() {
    let o = run(&["--root", &ex(), "status"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stderr, note());
    golden("example-status.txt", &o.stdout);

    let o = run(&["--root", &ex(), "status", "--json", "0000:02:00.1"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stderr, "");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["netlink"], false);
    let pfs = v["pfs"].as_array().unwrap();
    assert_eq!(pfs.len(), 1);
    assert_eq!(pfs[0]["netdevs"][0], "enp2s0f1");
    // ethtool -i needs the live kernel: unavailable under a fixture root.
    assert_eq!(pfs[0]["driver"], "i40e");
    assert_eq!(pfs[0]["driver_version"], serde_json::Value::Null);
    assert_eq!(pfs[0]["firmware"], serde_json::Value::Null);
    let vf9 = &pfs[0]["vfs"][9];
    assert_eq!(vf9["address"], "0000:02:0b.1");
    assert_eq!(vf9["driver"], "vfio-pci");
    assert_eq!(vf9["vfio_dev"], "/dev/vfio/10");
    assert_eq!(vf9["attrs"], serde_json::Value::Null);

    let o = run(&["--root", &ex(), "status", "eth9"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!(
            "{}error: no network interface \"eth9\" ({}/sys/class/net/eth9 does not exist; check `ip link`)\n",
            note(),
            ex()
        )
    );
}

#[test]
fn generate_for_the_example() {
    let o = run(&["--root", &ex(), "generate", "lxc", "--ctid", "9999"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    golden("example-lxc-9999.txt", &o.stdout);
    let o = run(&["--root", &ex(), "generate", "pve-mapping"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    golden("example-pve-mapping.txt", &o.stdout);
    let o = run(&["--root", &ex(), "generate", "hostpci", "--vm", "router0"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    golden("example-hostpci.txt", &o.stdout);
    // No config yet: the unit of before, and a note to generate it again.
    let empty = tempfile::tempdir().unwrap();
    let root = empty.path().to_str().unwrap();
    let o = run(&["--root", root, "generate", "systemd-unit"]);
    assert_eq!(o.code, 0);
    assert_eq!(
        o.stderr,
        format!("note: no config at {root}/etc/sriov-cli/sriov.toml: the unit does not wait for the PFs' network interfaces; generate it again once the config exists\n")
    );
    golden("systemd-unit.txt", &o.stdout);
    // With the config: it also waits for the PFs' interfaces.
    let o = run(&["--root", &ex(), "generate", "systemd-unit"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    golden("example-systemd-unit.txt", &o.stdout);
    verify_unit(&o.stdout);
    // PFs given by PCI address: looked up in sysfs; one that is not there is
    // said, and the unit does not wait for it.
    let d = tempfile::tempdir().unwrap();
    let cfg = write(
        d.path(),
        "pci.toml",
        "[[pf]]\npci = \"05:00.0\"\nnum_vfs = 2\n[[pf]]\npci = \"0000:09:00.0\"\nnum_vfs = 1\n",
    );
    let o = run(&[
        "--root",
        &ex(),
        "--config",
        &cfg,
        "generate",
        "systemd-unit",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("\nAfter=sys-subsystem-net-devices-eno1.device\nWants=sys-subsystem-net-devices-eno1.device\n")
            && o.stdout.contains("# PF 0000:09:00.0: no network interface found now, so the unit does not wait for it.\n"),
        "{}",
        o.stdout
    );
    assert_eq!(
        o.stderr,
        "warning: PF 0000:09:00.0 of the config has no network interface on this host now: the unit does not wait for it\n"
    );
    // An invalid config: the plain unit, and a warning with the reason.
    let bad = write(d.path(), "bad.toml", "[[pf]]\nname = \"eno1\"\n");
    let o = run(&[
        "--root",
        &ex(),
        "--config",
        &bad,
        "generate",
        "systemd-unit",
    ]);
    assert_eq!(o.code, 0);
    assert!(!o.stdout.contains("sys-subsystem"), "{}", o.stdout);
    assert!(
        o.stderr
            .starts_with("warning: the unit does not wait for the PFs' network interfaces: ")
            && o.stderr.contains("num_vfs"),
        "{}",
        o.stderr
    );
    // A config on /etc/pve is not there yet when the unit runs.
    let o = run(&[
        "--root",
        root,
        "generate",
        "systemd-unit",
        "--config",
        "/etc/pve/sriov.toml",
    ]);
    assert_eq!(o.code, 0);
    assert!(
        o.stderr.starts_with("warning: /etc/pve/sriov.toml is on the Proxmox cluster file system, which pve-cluster mounts only after the network is up")
            && o.stderr.contains("Generate the unit with --config /etc/sriov-cli/sriov.toml: on Proxmox VE, sriov-vfs-pve.service (`generate pve-unit`) copies /etc/pve/sriov-cli/sriov.toml there at every boot"),
        "{}",
        o.stderr
    );
    let o = run(&["--root", &ex(), "generate", "lxc", "--ctid", "101"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!("error: no VF in {}/etc/sriov-cli/sriov.toml is for container 101 (set `lxc = 101` and `name` on its [[pf.vf]])\n", ex())
    );
    let o = run(&["generate", "systemd-unit", "--bin", "sriov cli"]);
    assert_eq!(o.code, 2);
}

/// `systemd-analyze verify` on a generated unit (with an ExecStart binary
/// that exists): no complaint at all. Skipped, loudly, without systemd.
fn verify_unit(text: &str) {
    let d = tempfile::tempdir().unwrap();
    let unit = d.path().join("sriov-vfs.service");
    let text = text.replace("/usr/local/sbin/sriov-cli", env!("CARGO_BIN_EXE_sriov-cli"));
    fs::write(&unit, text).unwrap();
    let o = match std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("\n*** SKIPPED systemd-analyze verify of the generated unit: {e} ***\n");
            return;
        }
    };
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );
}

#[test]
fn stats_under_a_fixture_root_has_only_sysfs_gauges() {
    let o = run(&["--root", &ex(), "stats", "--format", "prometheus"]);
    assert_eq!(o.code, 0);
    golden("example-stats.prom", &o.stdout);
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("sriov.prom");
    let o = run(&[
        "--root",
        &ex(),
        "stats",
        "--format",
        "prometheus",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""));
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/example-stats.prom")
        )
        .unwrap()
    );
}

/// Issue 17: `stats --output` into a directory others can write. Symlinks
/// planted at the old writer's predictable temp names (`.NAME.PID.tmp`)
/// leave their targets untouched; a symlink, FIFO or device at the output
/// path is refused (exit 2) and left as it was; `-` is stdout.
#[test]
fn stats_output_never_follows_planted_links_nor_replaces_special_files() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, "root only\n").unwrap();
    let out = d.path().join("sriov.prom");
    // The next pids' old temp names.
    let me = std::process::id();
    for pid in me..me + 200 {
        std::os::unix::fs::symlink(&victim, d.path().join(format!(".sriov.prom.{pid}.tmp")))
            .unwrap();
    }
    let stats = |to: &Path| {
        run(&[
            "--root",
            &ex(),
            "stats",
            "--format",
            "prometheus",
            "--output",
            to.to_str().unwrap(),
        ])
    };
    let o = stats(&out);
    assert_eq!((o.code, o.stderr), (0, note()));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root only\n");
    assert!(fs::read_to_string(&out)
        .unwrap()
        .starts_with("# HELP sriov_pf_total_vfs"));
    // A symlink at the output itself.
    let link = d.path().join("link.prom");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let o = stats(&link);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("is a symbolic link, not a regular file"),
        "{}",
        o.stderr
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root only\n");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // A FIFO: refused at once (no hang), still a FIFO.
    let fifo = d.path().join("fifo.prom");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let o = stats(&fifo);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("is a FIFO"), "{}", o.stderr);
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    // A device node: refused, still a device.
    let o = stats(Path::new("/dev/full"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("/dev/full is a character device"),
        "{}",
        o.stderr
    );
    assert!(fs::symlink_metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    // `-` writes to stdout.
    let o = stats(Path::new("-"));
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.starts_with("# HELP sriov_pf_total_vfs"),
        "{}",
        o.stdout
    );
}

#[test]
fn check_iommu_json_and_exit_code() {
    // The example host is a VT-d host booted with intel_iommu=on iommu=pt,
    // vfio loaded: ready, every check passes.
    let o = run(&["--root", &ex(), "check-iommu"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{}", o.stdout);
    assert!(
        o.stdout.ends_with("PCI passthrough: READY\n"),
        "{}",
        o.stdout
    );
    let o = run(&["--root", &ex(), "-v", "check-iommu"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{}", o.stdout);
    golden("example-check-iommu-v.txt", &o.stdout);
    let o = run(&["--root", &ex(), "check-iommu", "--json"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{}", o.stdout);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "ready");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 9, "{checks:?}");
    for c in checks {
        assert_eq!(c["status"], "pass", "{c}");
    }

    // The same host without vfio modules is not ready: exit 1.
    let d = tempfile::tempdir().unwrap();
    copy_tree(&example(), d.path());
    fs::remove_file(d.path().join("proc/modules")).unwrap();
    fs::remove_dir_all(d.path().join("sys/module")).unwrap();
    fs::remove_file(d.path().join("dev/vfio/vfio")).unwrap();
    let o = run(&[
        "--root",
        d.path().to_str().unwrap(),
        "check-iommu",
        "--json",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "not-ready");
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        let t = e.file_type().unwrap();
        if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &dst).unwrap();
        } else if t.is_dir() {
            fs::create_dir_all(&dst).unwrap();
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn enable_iommu_edits_the_right_file() {
    // The example host already boots with the IOMMU options.
    let o = run(&["--root", &ex(), "enable-iommu", "--dry-run"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    golden("example-enable-iommu-dry-run.txt", &o.stdout);

    // The same host before the IOMMU was enabled.
    let d = tempfile::tempdir().unwrap();
    for dir in ["etc", "proc", "sys/firmware"] {
        fs::create_dir_all(d.path().join(dir)).unwrap();
        copy_tree(&example().join(dir), &d.path().join(dir));
    }
    let before = "root=ZFS=rpool/ROOT/pve-1 boot=zfs";
    fs::write(d.path().join("etc/kernel/cmdline"), format!("{before}\n")).unwrap();
    fs::write(
        d.path().join("proc/cmdline"),
        format!("initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve {before}\n"),
    )
    .unwrap();
    let root = d.path().to_str().unwrap();
    let o = run(&["--root", root, "enable-iommu", "--dry-run"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    golden("enable-iommu-dry-run-before.txt", &o.stdout);
    let o = run(&["--root", root, "enable-iommu"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.ends_with("Wrote /etc/kernel/cmdline.\nNow run `proxmox-boot-tool refresh` and reboot (or re-run with --yes to run it).\n"), "{}", o.stdout);
    assert_eq!(
        fs::read_to_string(d.path().join("etc/kernel/cmdline")).unwrap(),
        "root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt\n"
    );
    let o = run(&["--root", root, "enable-iommu"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout
            .contains("/etc/kernel/cmdline already has the IOMMU options"),
        "{}",
        o.stdout
    );
    // The running kernel still lacks them (the refresh may never have run):
    // --dry-run says what --yes would run.
    let o = run(&["--root", root, "enable-iommu", "--dry-run"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.ends_with("The running kernel does not have them yet. Dry run: without --dry-run, --yes would run `proxmox-boot-tool refresh` (idempotent, in case it never ran); then reboot.\n"),
        "{}",
        o.stdout
    );
    let o = run(&["--root", root, "enable-iommu", "--yes"]);
    assert_eq!(o.code, 2);
}

fn fixture_with_vfs() -> sysfs_sriov::fixture::Host {
    HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap())
            .netdev("eth0")
            .vfs(3)
            .vf_driver_at(2, VfDriver::VfioPci)
            .vf_up(0))
        .build()
        .unwrap()
}

#[test]
fn reset_refuses_vfs_in_use_and_never_writes_a_fixture() {
    let host = fixture_with_vfs();
    let root = host.root().to_str().unwrap();
    let o = run(&["--root", root, "reset", "eth0"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.starts_with("error: PF eth0: removing its 3 VFs would disturb VFs in use; re-run with --allow-recreate to do it anyway:\nerror:   VF 0 (0000:01:10.0): "), "{}", o.stderr);
    assert!(
        o.stderr.contains("VF 2 (0000:01:10.4): bound to vfio-pci"),
        "{}",
        o.stderr
    );
    assert_eq!(
        host.read_attr(&"0000:01:00.0".parse().unwrap(), "sriov_numvfs")
            .unwrap(),
        "3"
    );

    // Under a fixture root reset changes nothing (sriov_numvfs there is a plain
    // file, maybe the bundled example's): it says what it would do, exit 2.
    let o = run(&["--root", root, "reset", "0000:01:00.0", "--allow-recreate"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stdout,
        "PF eth0 (0000:01:00.0): num_vfs 3 -> 0 (not done)\n"
    );
    assert_eq!(
        o.stderr,
        format!("error: reset writes sriov_numvfs, and under --root {root} that is a file of a fixture tree, not a device: nothing was changed; run reset on the live system (--root /)\n")
    );
    assert_eq!(
        host.read_attr(&"0000:01:00.0".parse().unwrap(), "sriov_numvfs")
            .unwrap(),
        "3"
    );

    let o = run(&["--root", root, "reset", "eth7"]);
    assert_eq!(o.code, 2);
}

#[test]
fn reset_of_several_pfs_checks_them_all_before_touching_any() {
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap())
            .netdev("eth0")
            .vfs(3)
            .vf_up(0))
        .pf(PfSpec::intel_82576("0000:02:00.0".parse().unwrap())
            .netdev("eth1")
            .vfs(2)
            .vf_driver_at(1, VfDriver::VfioPci))
        .pf(PfSpec::intel_82576("0000:03:00.0".parse().unwrap()).netdev("eth2"))
        .build()
        .unwrap();
    let root = host.root().to_str().unwrap();
    let numvfs = |a: &str| host.read_attr(&a.parse().unwrap(), "sriov_numvfs").unwrap();
    // An unknown PF among them: nothing done.
    let o = run(&["--root", root, "reset", "eth0", "eth7", "--allow-recreate"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{}", o.stderr);
    assert!(o.stderr.contains("eth7"), "{}", o.stderr);
    // VFs in use on both: one refusal naming every one of them.
    let o = run(&["--root", root, "reset", "eth0", "eth1"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""));
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 5, "{}", o.stderr);
    assert!(lines[0].starts_with("error: PF eth0: removing its 3 VFs would disturb VFs in use"));
    assert!(lines[1].starts_with("error:   VF 0 (0000:01:10.0): "));
    assert!(lines[2].starts_with("error: PF eth1: removing its 2 VFs would disturb VFs in use"));
    assert!(
        lines[3].contains("VF 1 (0000:02:10.2): bound to vfio-pci"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "error: nothing was changed");
    // With --allow-recreate, under a fixture root: what would be done, per
    // PF (one named twice counts once), and nothing done.
    let o = run(&[
        "--root",
        root,
        "reset",
        "eth0",
        "eth2",
        "0000:02:00.0",
        "0000:01:00.0",
        "--allow-recreate",
    ]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stdout,
        "PF eth2 (0000:03:00.0) has no VFs; nothing to do.\n\
         PF eth0 (0000:01:00.0): num_vfs 3 -> 0 (not done)\n\
         PF eth1 (0000:02:00.0): num_vfs 2 -> 0 (not done)\n"
    );
    assert_eq!(
        (numvfs("0000:01:00.0"), numvfs("0000:02:00.0")),
        ("3".into(), "2".into())
    );
    // No PF at all is a usage error.
    assert_eq!(run(&["--root", root, "reset"]).code, 2);
}

#[test]
fn binding_a_busy_vf_is_refused_at_validation() {
    // VF 0's netdev is up (sysfs flags), so moving it to vfio-pci would take a
    // live interface away: refused before anything changes, naming the fix.
    let host = fixture_with_vfs();
    let root = host.root().to_str().unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = write(
        d.path(),
        "s.toml",
        "[[pf]]\nname = \"eth0\"\nnum_vfs = 3\n[[pf.vf]]\nindex = 0\nvlan = 50\ndriver = \"vfio-pci\"\n",
    );
    let o = run(&["--root", root, "setup", "--config", &cfg, "--dry-run"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stdout, "");
    let e = o.stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        e.starts_with(&format!(
            "error: {cfg}:7:10: VF 0 of eth0 (0000:01:10.0): binding it to vfio-pci would unbind "
        )),
        "{e}"
    );
    assert!(e.contains(" is up") && e.contains("--force-unbind"), "{e}");
    // With the opt-in the plan is valid (a dry run here: the fixture is not a device).
    let o = run(&[
        "--root",
        root,
        "setup",
        "--config",
        &cfg,
        "--dry-run",
        "--force-unbind",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("warning: VF 0 of eth0"), "{}", o.stderr);
    assert!(o.stdout.contains("+driver vfio-pci"), "{}", o.stdout);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let o = run(&["frobnicate"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{}",
        o.stderr
    );
    let o = run(&["--help"]);
    assert_eq!(o.code, 0);
    for c in [
        "setup",
        "status",
        "reset",
        "check-iommu",
        "enable-iommu",
        "generate",
        "stats",
    ] {
        assert!(o.stdout.contains(c), "{c} missing from --help");
    }
    // The opt-in to unbind a busy VF (an extension of the contract).
    let o = run(&["setup", "--help"]);
    assert_eq!(o.code, 0);
    for f in ["--allow-recreate", "--force-unbind", "--dry-run", "--json"] {
        assert!(o.stdout.contains(f), "{f} missing from setup --help");
    }
}

#[test]
fn broken_pipe_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(["--root", &ex(), "status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn live_root_reads_the_real_kernel() {
    // The live system (no --root): sysfs and netlink of this machine, read only.
    let o = run(&["status", "--json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["pfs"].is_array());
    let o = run(&["stats", "--format", "prometheus"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("# HELP sriov_pf_total_vfs "));

    let d = tempfile::tempdir().unwrap();
    let cfg = write(
        d.path(),
        "s.toml",
        "[[pf]]\nname = \"sriovnone0\"\nnum_vfs = 1\n",
    );
    let o = run(&["setup", "--config", &cfg, "--dry-run", "--json"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!("error: {cfg}:2:8: PF sriovnone0: no network interface `sriovnone0` belongs to an SR-IOV capable PCI device\nerror: nothing was changed\n")
    );
}

#[test]
fn pve_mapping_ids_come_from_sysfs_for_existing_and_future_vfs() {
    // VF 0 exists (vfio-pci, with its own subsystem id); VF 5 does not exist yet:
    // its id is the PF's vendor and sriov_vf_device, its subsystem is unknown.
    let host = HostBuilder::new()
        .pf(PfSpec::intel_x710("0000:02:00.0".parse().unwrap())
            .netdev("enp2s0f0")
            .vf_subsystem(0x8086, 0x1234)
            .vfs(1)
            .vf_driver_at(0, VfDriver::VfioPci))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "sriov.toml",
        "[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 8\n\
         [[pf.vf]]\nindex = 0\ndriver = \"vfio-pci\"\n\
         [[pf.vf]]\nindex = 5\ndriver = \"vfio-pci\"\n",
    );
    let root = host.root().to_str().unwrap();
    let o = run(&["--root", root, "--config", &cfg, "generate", "pve-mapping"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(",path=0000:02:02.0,id=8086:154c,subsystem-id=8086:1234,iommugroup=2'"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(",path=0000:02:02.5,id=8086:154c'"),
        "{}",
        o.stdout
    );
}

/// Issue 17: hostile paths and files. A root that does not exist is a
/// usage error (exit 2), not "no devices"; a config that is a FIFO or a
/// device is refused at once (no hang, no unbounded read), one over the size
/// limit too; an empty config says it configures nothing.
#[test]
fn hostile_roots_and_config_files_are_refused_with_exit_2() {
    let o = run(&["--root", "/nonexistent-sriov-root", "status"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stderr, "error: --root /nonexistent-sriov-root: not a directory (give the root of the system to inspect, or leave it out for the running system)\n");
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("sriov.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let big = d.path().join("big.toml");
    fs::write(&big, "#".repeat(5 << 20)).unwrap();
    for (cfg, why) in [
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (big.to_str().unwrap(), "larger than the limit of 4 MiB"),
    ] {
        let o = run(&["--root", &ex(), "--config", cfg, "setup", "--dry-run"]);
        assert_eq!(o.code, 2, "{cfg}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!(
                "error: cannot read config {cfg}\n  caused by: {why}"
            )),
            "{cfg}: {}",
            o.stderr
        );
    }
    let empty = write(d.path(), "empty.toml", "# nothing yet\n");
    let o = run(&["--root", &ex(), "--config", &empty, "setup", "--dry-run"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stderr.starts_with(&format!(
            "warning: {empty} configures no PF: setup has nothing to do"
        )),
        "{}",
        o.stderr
    );
}

/// Issue 17: `$` in a path is expanded by systemd in ExecStart= but not in
/// ConditionPathExists=: written `$$` there so both name the same file.
#[test]
fn a_dollar_in_the_config_path_is_escaped_in_exec_start_only() {
    let o = run(&[
        "--root",
        &ex(),
        "--config",
        "/etc/sriov-cli/$USER.toml",
        "generate",
        "systemd-unit",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("ConditionPathExists=/etc/sriov-cli/$USER.toml\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(
            "ExecStart=/usr/local/sbin/sriov-cli setup --config /etc/sriov-cli/$$USER.toml\n"
        ),
        "{}",
        o.stdout
    );
}

/// Issue 17: a `'` in a description is quoted in the `pvesh` line, not
/// dropped.
#[test]
fn a_quote_in_a_description_is_quoted_in_pve_mapping() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write(
        d.path(),
        "s.toml",
        "[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 64\n[[pf.vf]]\nindex = 9\ndriver = \"vfio-pci\"\nvlan = 60\ndescription = \"Bob's VM\"\n",
    );
    let o = run(&["--root", &ex(), "--config", &cfg, "generate", "pve-mapping"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains(" --description 'Bob'\\''s VM' --map "),
        "{}",
        o.stdout
    );
}

/// Issue 17: `generate lxc --ctid 0` no longer suggests `lxc = 0`, which the
/// config would refuse.
#[test]
fn a_container_id_below_100_is_a_usage_error() {
    let o = run(&["--root", &ex(), "generate", "lxc", "--ctid", "0"]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""));
    assert_eq!(
        o.stderr,
        "error: --ctid 0: Proxmox VE container ids start at 100\n"
    );
}
