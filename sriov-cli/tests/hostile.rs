//! Issue 17's reproducers, run against the built binary: every `--json` outcome
//! is one JSON document, exit codes follow the contract, FIFOs and devices are
//! refused instead of read, and the config's messages name what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

/// Runs the binary with a watchdog: a read that blocks (a FIFO) fails the
/// test instead of hanging it.
fn run(args: &[&str]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("sriov-cli {args:?} hung (a blocking read?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
        code: o.status.code().unwrap_or(-1),
    }
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/pve1")
        .display()
        .to_string()
}

fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// stdout is exactly one JSON document with a non-empty `errors` list whose
/// text contains `want`; returns the errors.
fn json_errors(o: &Out, want: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {:?}", o.stdout));
    let errs: Vec<String> = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {v}"))
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(
        errs.iter().any(|e| e.contains(want)),
        "no error mentions {want:?}: {errs:?}"
    );
    errs
}

fn one_pf() -> sysfs_sriov::fixture::Host {
    HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap()).netdev("eth0"))
        .build()
        .unwrap()
}

#[test]
fn json_is_printed_on_every_error_path() {
    let d = tempfile::tempdir().unwrap();
    let ex = example();
    let bad = write(
        d.path(),
        "bad.toml",
        b"[[pf]]\nname = \"eth0\"\nnum_vfs = \"x\"\n",
    );
    let missing = d.path().join("nope.toml").display().to_string();
    let file_root = write(d.path(), "afile", b"");
    let cases: Vec<(Vec<&str>, &str, i32)> = vec![
        // config errors
        (
            vec!["--root", &ex, "--config", &bad, "setup", "--json"],
            "bad.toml:3:11",
            2,
        ),
        (
            vec![
                "--root",
                &ex,
                "--config",
                &missing,
                "setup",
                "--dry-run",
                "--json",
            ],
            "cannot read config",
            2,
        ),
        // a root that does not exist, or is a file
        (
            vec!["--root", "/nonexistent", "status", "--json"],
            "not a directory",
            2,
        ),
        (
            vec!["--root", &file_root, "status", "--json"],
            "not a directory",
            2,
        ),
        (
            vec!["--root", &file_root, "check-iommu", "--json"],
            "not a directory",
            2,
        ),
        (
            vec!["--root", &file_root, "setup", "--dry-run", "--json"],
            "not a directory",
            2,
        ),
        // an unknown PF in status
        (
            vec!["--root", &ex, "status", "nosuch0", "--json"],
            "nosuch0",
            2,
        ),
        // a bad --node
        (
            vec!["--root", &ex, "--node", "", "status", "--json"],
            "node name cannot be empty",
            2,
        ),
        // a usage error clap finds
        (
            vec!["--root", &ex, "status", "--json", "--bogus"],
            "--bogus",
            2,
        ),
    ];
    for (args, want, code) in cases {
        let o = run(&args);
        assert_eq!(o.code, code, "{args:?}: {}", o.stderr);
        json_errors(&o, want);
        // The human lines stay on stderr.
        assert!(o.stderr.contains("error:"), "{args:?}: {}", o.stderr);
    }
    // A plan error prints its document once (changes, warnings, errors).
    let two = write(
        d.path(),
        "two.toml",
        b"[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 2\n",
    );
    let o = run(&[
        "--root",
        &ex,
        "--config",
        &two,
        "setup",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(
        v["changes"].is_array() && !v["errors"].as_array().unwrap().is_empty(),
        "{v}"
    );
}

#[test]
fn exit_codes_follow_the_contract() {
    let ex = example();
    // Output that cannot be written is an environment error (2), not "not ready" (1).
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(["--root", &ex, "check-iommu"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("No space left on device"));
    // An unreadable sysfs (a directory where a PF's attribute should be) is 2.
    let host = one_pf();
    let root = host.root().display().to_string();
    let attr = host
        .root()
        .join("sys/bus/pci/devices/0000:01:00.0/sriov_totalvfs");
    let real = fs::canonicalize(&attr).unwrap();
    fs::remove_file(&real).unwrap();
    fs::create_dir(&real).unwrap();
    let o = run(&["--root", &root, "status"]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("sriov_totalvfs"), "{}", o.stderr);
}

#[test]
fn fifos_and_devices_are_refused_not_read() {
    // A FIFO at sriov_totalvfs: every command used to block on it.
    let host = one_pf();
    let root = host.root().display().to_string();
    let attr = fs::canonicalize(
        host.root()
            .join("sys/bus/pci/devices/0000:01:00.0/sriov_totalvfs"),
    )
    .unwrap();
    fs::remove_file(&attr).unwrap();
    mkfifo(&attr);
    for cmd in [vec!["status"], vec!["stats"], vec!["check-iommu"]] {
        let mut args = vec!["--root", root.as_str()];
        args.extend(cmd.iter().copied());
        let o = run(&args);
        assert_ne!(o.code, 0, "{args:?}: {}", o.stdout);
    }
    let o = run(&["--root", &root, "status", "--json"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    json_errors(&o, "not a regular file");

    // A FIFO at /etc/pve/lxc/N.conf (generate lxc) and at /etc/hostname.
    let ex_host = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap())
            .netdev("eth0")
            .vfs(2))
        .build()
        .unwrap();
    let r = ex_host.root();
    fs::create_dir_all(r.join("etc/sriov-cli")).unwrap();
    fs::write(
        r.join("etc/sriov-cli/sriov.toml"),
        "[[pf]]\nname = \"eth0\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 0\nname = \"ct0\"\nlxc = 100\n",
    )
    .unwrap();
    fs::create_dir_all(r.join("etc/pve/lxc")).unwrap();
    mkfifo(&r.join("etc/pve/lxc/100.conf"));
    let _ = fs::remove_file(r.join("etc/hostname"));
    mkfifo(&r.join("etc/hostname"));
    let rs = r.display().to_string();
    let o = run(&["--root", &rs, "generate", "lxc", "--ctid", "100"]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("100.conf") && o.stderr.contains("not a regular file"),
        "{}",
        o.stderr
    );
    // /proc/cpuinfo as a FIFO: enable-iommu says so instead of blocking.
    fs::create_dir_all(r.join("proc")).unwrap();
    let _ = fs::remove_file(r.join("proc/cpuinfo"));
    mkfifo(&r.join("proc/cpuinfo"));
    let o = run(&["--root", &rs, "enable-iommu", "--dry-run"]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    // A FIFO as /proc/cmdline for check-iommu: evidence "unreadable", no hang.
    let _ = fs::remove_file(r.join("proc/cmdline"));
    mkfifo(&r.join("proc/cmdline"));
    let o = run(&["--root", &rs, "-v", "check-iommu"]);
    assert!(o.code == 1 || o.code == 2, "{}{}", o.stdout, o.stderr);
}

#[test]
fn config_messages_name_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    let ex = example();
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("big", b"[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 99999999999999999999\n",
         "big.toml:3:11: the number 99999999999999999999 is out of range"),
        ("date", b"[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 1979-05-27\n",
         "date.toml:3:11: invalid type: a date-time, expected an integer"),
        ("dup", b"[[pf]]\nname = \"enp2s0f0\"\nname = \"x\"\n",
         "dup.toml:3:1: duplicate key `name`: first set at 2:1"),
        ("order", b"[[pf.vf]]\nindex = 0\n[[pf]]\nname = \"enp2s0f0\"\n",
         "order.toml:3:3: [pf] comes after [pf.vf] (at 1:1)"),
        ("utf8", b"[[pf]]\nname = \"enp2s0f0\"\n# caf\xe9\n",
         "utf8.toml:3:6: not UTF-8: byte 0xe9"),
        ("empty_node", b"[node.\"\"]\n[[node.\"\".pf]]\nname = \"enp2s0f0\"\n",
         "a node name cannot be empty"),
        ("bad_node", b"[node.\"pve 1\"]\n[[node.\"pve 1\".pf]]\nname = \"enp2s0f0\"\n",
         "a node name holds only letters, digits and `-`"),
        ("dotdot", b"[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 64\n[[pf.vf]]\nindex = 0\ndriver = \"vfio-pci\"\nmapping = \"..\"\n",
         "mapping \"..\": a Proxmox mapping id is a letter"),
        ("newline", b"[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 64\n[[pf.vf]]\nindex = 0\ndriver = \"vfio-pci\"\nmapping = \"a\\nb\"\n",
         "mapping \"a\\nb\""),
        ("noindices", b"[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 4\n[[pf.vf]]\nindices = []\nvlan = 3\n",
         "noindices.toml:5:11: `indices = []` selects no VF"),
        ("vmname", b"[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 64\n[[pf.vf]]\nindex = 0\ndriver = \"vfio-pci\"\nvm = \"my_vm\"\n",
         "vm \"my_vm\": a Proxmox VM name is a DNS name"),
    ];
    for (name, text, want) in cases {
        let p = write(d.path(), &format!("{name}.toml"), text);
        let o = run(&["--root", &ex, "--config", &p, "setup", "--dry-run"]);
        assert_eq!(o.code, 2, "{name}: {}", o.stderr);
        assert!(
            o.stderr.contains(want),
            "{name}: want {want:?} in:\n{}",
            o.stderr
        );
        // One message, one line: no stray line without the `error:` tag.
        for l in o.stderr.lines() {
            assert!(
                l.starts_with("error: ")
                    || l.starts_with("note: ")
                    || l.starts_with("  caused by: "),
                "{name}: {l:?}"
            );
        }
        assert!(
            !o.stderr.contains("i64") && !o.stderr.contains("i128"),
            "{name}: {}",
            o.stderr
        );
    }
    // A 1000-character mapping id is refused, a 128-character one taken.
    for (n, ok) in [(1000, false), (128, true)] {
        let id = format!("m{}", "x".repeat(n - 1));
        let text = format!("[[pf]]\nname = \"enp2s0f1\"\nnum_vfs = 64\n[[pf.vf]]\nindex = 0\ndriver = \"vfio-pci\"\nmapping = \"{id}\"\n");
        let p = write(d.path(), "long.toml", text.as_bytes());
        let o = run(&["--root", &ex, "--config", &p, "setup", "--dry-run"]);
        assert_eq!(o.code == 0, ok, "{n}: {}", o.stderr);
        if !ok {
            assert!(
                o.stderr.contains("has 1000 characters, more than the 128"),
                "{}",
                o.stderr
            );
        }
    }
}

#[test]
fn thousands_of_problems_print_a_bounded_list_with_a_count() {
    let d = tempfile::tempdir().unwrap();
    let mut text = String::from("[[pf]]\nname = \"enp2s0f0\"\nnum_vfs = 4\n");
    for _ in 0..20_000 {
        text.push_str("[[pf.vf]]\nindex = 1\nvlan = 3\n");
    }
    let p = write(d.path(), "many.toml", text.as_bytes());
    let o = run(&["--root", &example(), "--config", &p, "setup", "--dry-run"]);
    assert_eq!(o.code, 2);
    let errors = o.stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert!(errors <= 52, "{errors} error lines");
    assert!(
        o.stderr
            .contains("more problems (fix the ones above first)"),
        "{}",
        o.stderr
    );
}

#[test]
fn vfs_sharing_a_mapping_id_are_one_mapping_with_alternatives() {
    // Proxmox: several `map` entries of one node are alternatives, the first
    // free one is taken at VM start (pve-guest-common src/PVE/Mapping/PCI.pm
    // get_node_mapping returns them all; qemu-server reserves one).
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap())
            .netdev("eth0")
            .vfs(3)
            .vf_driver(VfDriver::VfioPci))
        .build()
        .unwrap();
    let r = host.root();
    fs::create_dir_all(r.join("etc/sriov-cli")).unwrap();
    fs::write(
        r.join("etc/sriov-cli/sriov.toml"),
        "[[pf]]\npci = \"0000:01:00.0\"\nnum_vfs = 3\n[[pf.vf]]\nrange = \"0-1\"\ndriver = \"vfio-pci\"\nmapping = \"pool\"\n[[pf.vf]]\nindex = 2\ndriver = \"vfio-pci\"\n",
    )
    .unwrap();
    let o = run(&["--root", r.to_str().unwrap(), "generate", "pve-mapping"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let creates: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("pvesh create"))
        .collect();
    assert_eq!(creates.len(), 2, "{}", o.stdout);
    assert!(
        creates[0].contains("--id pool ") && creates[0].matches("--map ").count() == 2,
        "{}",
        creates[0]
    );
    // The PF is named by PCI address: the derived id is still a mapping id.
    let id = creates[1]
        .split("--id ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(id, "vf-0000-01-00-0-vf2");
}

#[test]
fn a_bad_node_argument_is_a_usage_error() {
    for n in ["", "-pve", "pve 1", "pve1.example.com"] {
        let arg = format!("--node={n}");
        let o = run(&["--root", &example(), &arg, "status"]);
        assert_eq!(o.code, 2, "{n:?}: {}", o.stderr);
        assert!(o.stderr.contains("--node"), "{}", o.stderr);
    }
}

#[test]
fn user_values_in_messages_stay_on_one_line() {
    let ex = example();
    for args in [
        vec!["--root", ex.as_str(), "reset", "x\ny\u{1b}[2J", "nosuch2"],
        vec!["--root", ex.as_str(), "status", "a\nb"],
        vec!["--root", ex.as_str(), "generate", "hostpci", "--vm", "v\nm"],
    ] {
        let o = run(&args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains('\u{1b}'), "{args:?}: {:?}", o.stderr);
        for l in o.stderr.lines() {
            assert!(
                l.starts_with("error: ")
                    || l.starts_with("note: ")
                    || l.starts_with("  caused by: "),
                "{args:?}: a message split over lines: {:?}",
                o.stderr
            );
        }
    }
    // reset names every bad PF, not only the first.
    let o = run(&["--root", &ex, "reset", "nosuch1", "nosuch2"]);
    assert!(
        o.stderr.contains("nosuch1") && o.stderr.contains("nosuch2"),
        "{}",
        o.stderr
    );
}
