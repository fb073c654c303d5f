//! Attachments written into Proxmox VE guest configs, and the cluster copy of
//! the config picked up: `generate lxc --write`, `generate hostpci --write`
//! (against `examples/qm-double.rs`), `pve pull-config`. Each fixture tree is
//! a temp root built by the `sysfs-sriov` fixture builder plus hand-written
//! `etc/` files; each behaviour of PVE that a test relies on names the PVE
//! source file it comes from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Out {
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
        code: o.status.code().unwrap_or(-1),
    }
}

fn run(args: &[&str]) -> Out {
    run_env(args, &[])
}

fn put(root: &Path, rel: &str, content: &str) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, content).unwrap();
    p
}

/// An Intel 82576 (igb) at 0000:05:00.0 with 4 VFs, VFs 0 and 1 on
/// vfio-pci; hostname pve1.
fn host() -> sysfs_sriov::fixture::Host {
    let h = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:05:00.0".parse().unwrap())
            .netdev("eno1")
            .iommu_group(30)
            .vfs(4)
            .vf_driver_at(0, VfDriver::VfioPci)
            .vf_driver_at(1, VfDriver::VfioPci))
        .build()
        .unwrap();
    put(h.root(), "etc/hostname", "pve1\n");
    h
}

fn vf_address(root: &Path, vf: u32) -> String {
    fs::read_link(root.join(format!("sys/bus/pci/devices/0000:05:00.0/virtfn{vf}")))
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

const CONFIG: &str = r#"[node.pve1]
id = 1

[[node.pve1.pf]]
name = "eno1"
num_vfs = 4

[[node.pve1.pf.vf]]
index = 0
driver = "vfio-pci"
vm = "router0"
vlan = 50

[[node.pve1.pf.vf]]
index = 1
driver = "vfio-pci"
vm = "router0"
vlan = 60

[[node.pve1.pf.vf]]
index = 2
vlan = 50
name = "eth1lxc101v050"
up = true
lxc = 101
addresses = ["10.0.50.100/24"]
gateway = "10.0.50.1"

[[node.pve1.pf.vf]]
index = 3
vlan = 70
name = "eth1lxc101v070"
up = true
lxc = 101
"#;

/// A container config as PVE writes it (pve-container src/PVE/LXC/Config.pm
/// `write_pct_config`: description `#` lines first, keys sorted, raw `lxc.*`
/// keys after them, snapshots after a blank line) holding: the block an
/// earlier `generate lxc --ctid 101` printed and the admin pasted (index 1,
/// an old address), an entry of the admin's own (`phys`, a link that is no VF
/// of the config), a raw key, and a snapshot with the same index.
const CT_CONF: &str = "#web server\n#  notes: keep\narch: amd64\nhostname: ct101\nmemory: 512\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth\nostype: debian\nrootfs: local-lvm:vm-101-disk-0,size=8G\nlxc.apparmor.profile: unconfined\nlxc.net.1.type: phys\nlxc.net.1.link: eth1lxc101v050\nlxc.net.1.flags: up\nlxc.net.1.ipv4.address: 10.0.50.99/24\nlxc.net.2.type: phys\nlxc.net.2.link: enp9s0\nlxc.net.2.flags: up\n\n[before-upgrade]\narch: amd64\nlxc.net.1.type: phys\nlxc.net.1.link: eth1lxc101v050\nsnaptime: 1700000000\n";

/// What `--write` must make of [`CT_CONF`], by hand: the pasted block is
/// replaced where it was (index 3: above net0 and the admin's lxc.net.2),
/// the second VF follows it, every other byte is as it was.
const CT_EXPECTED: &str = "#web server\n#  notes: keep\narch: amd64\nhostname: ct101\nmemory: 512\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth\nostype: debian\nrootfs: local-lvm:vm-101-disk-0,size=8G\nlxc.apparmor.profile: unconfined\nlxc.net.3.type: phys\nlxc.net.3.link: eth1lxc101v050\nlxc.net.3.flags: up\nlxc.net.3.ipv4.address: 10.0.50.100/24\nlxc.net.3.ipv4.gateway: 10.0.50.1\nlxc.net.4.type: phys\nlxc.net.4.link: eth1lxc101v070\nlxc.net.4.flags: up\nlxc.net.2.type: phys\nlxc.net.2.link: enp9s0\nlxc.net.2.flags: up\n\n[before-upgrade]\narch: amd64\nlxc.net.1.type: phys\nlxc.net.1.link: eth1lxc101v050\nsnaptime: 1700000000\n";

fn ct_root() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    put(d.path(), "etc/hostname", "pve1\n");
    put(d.path(), "etc/sriov-cli/sriov.toml", CONFIG);
    let conf = put(d.path(), "etc/pve/lxc/101.conf", CT_CONF);
    // pmxcfs shows every file as 0640 root:www-data.
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir_all(d.path().join("run/lock")).unwrap();
    (d, conf)
}

#[test]
fn lxc_write_replaces_only_its_entries_and_a_second_write_changes_nothing() {
    let (d, conf) = ct_root();
    let root = d.path().to_str().unwrap();
    let o = run(&[
        "--root", root, "generate", "lxc", "--ctid", "101", "--write",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "/etc/pve/lxc/101.conf: wrote lxc.net.3 (eth1lxc101v050), lxc.net.4 (eth1lxc101v070)\n"
    );
    assert_eq!(fs::read_to_string(&conf).unwrap(), CT_EXPECTED);
    let m1 = fs::metadata(&conf).unwrap();
    assert_eq!(m1.permissions().mode() & 0o7777, 0o640, "mode kept");
    // PVE's lock file was created (pve-container src/PVE/LXC/Config.pm
    // config_file_lock), and no temp file is left in the directory.
    assert!(d.path().join("run/lock/lxc/pve-config-101.lock").is_file());
    let names: Vec<String> = fs::read_dir(conf.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["101.conf"]);
    // Again: byte-identical, not even rewritten, and it says so.
    let o = run(&[
        "--root", root, "generate", "lxc", "--ctid", "101", "--write",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "/etc/pve/lxc/101.conf: unchanged (already has lxc.net.3 (eth1lxc101v050), lxc.net.4 (eth1lxc101v070))\n"
    );
    let m2 = fs::metadata(&conf).unwrap();
    assert_eq!(fs::read_to_string(&conf).unwrap(), CT_EXPECTED);
    assert_eq!((m1.ino(), m1.mtime_nsec()), (m2.ino(), m2.mtime_nsec()));
}

#[test]
fn lxc_write_survives_pves_rewrite_of_the_raw_keys() {
    // PVE writes `lxc.x = v` back as `lxc.x: v` and keeps raw keys in order
    // (Config.pm parse_pct_config / write_pct_config): our entries are still
    // recognised after that, so nothing is added twice.
    let (d, conf) = ct_root();
    let root = d.path().to_str().unwrap();
    assert_eq!(
        run(&["--root", root, "generate", "lxc", "--ctid", "101", "--write"]).code,
        0
    );
    let pve_style = fs::read_to_string(&conf)
        .unwrap()
        .replace("lxc.net.3.link: ", "lxc.net.3.link = ");
    fs::write(&conf, &pve_style).unwrap();
    let o = run(&[
        "--root", root, "generate", "lxc", "--ctid", "101", "--write",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(fs::read_to_string(&conf).unwrap(), CT_EXPECTED);
}

#[test]
fn lxc_dry_run_shows_the_diff_and_writes_nothing() {
    let (d, conf) = ct_root();
    let root = d.path().to_str().unwrap();
    let o = run(&[
        "--root",
        root,
        "generate",
        "lxc",
        "--ctid",
        "101",
        "--write",
        "--dry-run",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .starts_with("--- /etc/pve/lxc/101.conf\n+++ /etc/pve/lxc/101.conf\n@@ -10,"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("\n-lxc.net.1.ipv4.address: 10.0.50.99/24\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("\n+lxc.net.4.link: eth1lxc101v070\n"),
        "{}",
        o.stdout
    );
    assert_eq!(fs::read_to_string(&conf).unwrap(), CT_CONF);
    assert!(
        !d.path().join("run/lock/lxc").exists(),
        "a dry run takes no lock"
    );
}

#[test]
fn lxc_write_refuses_a_locked_container_a_missing_one_and_a_bad_id() {
    let (d, conf) = ct_root();
    let root = d.path().to_str().unwrap();
    // `lock: backup` (pve-guest-common src/PVE/AbstractConfig.pm check_lock).
    let locked = CT_CONF.replace("memory: 512\n", "lock: backup\nmemory: 512\n");
    fs::write(&conf, &locked).unwrap();
    let o = run(&[
        "--root", root, "generate", "lxc", "--ctid", "101", "--write",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("101.conf: container 101 is locked (lock: backup)"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("pct unlock 101"), "{}", o.stderr);
    assert_eq!(fs::read_to_string(&conf).unwrap(), locked);
    let o = run(&[
        "--root", root, "generate", "lxc", "--ctid", "102", "--write",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no VF in"), "{}", o.stderr);
    fs::write(
        d.path().join("etc/sriov-cli/sriov.toml"),
        CONFIG.replace("lxc = 101", "lxc = 105"),
    )
    .unwrap();
    let o = run(&[
        "--root", root, "generate", "lxc", "--ctid", "105", "--write",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("105.conf: no such file: container 105 does not exist on this node"),
        "{}",
        o.stderr
    );
    let o = run(&[
        "--root",
        root,
        "generate",
        "lxc",
        "--ctid",
        "1000000000",
        "--write",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("100 to 999999999"), "{}", o.stderr);
    assert_eq!(fs::read_to_string(&conf).unwrap(), locked);
}

/// Holds an exclusive flock on `path` as another PVE tool would.
fn hold(path: &Path) -> fs::File {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    // SAFETY: flock on the fd `f` owns.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    f
}

#[test]
fn lxc_write_waits_for_pves_config_lock_then_gives_up_changing_nothing() {
    let (d, conf) = ct_root();
    let root = d.path().to_str().unwrap();
    let lock = d.path().join("run/lock/lxc/pve-config-101.lock");
    let held = hold(&lock);
    let o = run(&[
        "--root", root, "--wait", "1", "generate", "lxc", "--ctid", "101", "--write",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("waiting for "), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("pve-config-101.lock is still held after 1 s"),
        "{}",
        o.stderr
    );
    assert_eq!(fs::read_to_string(&conf).unwrap(), CT_CONF);
    // Released while it waits: it goes on.
    let child = std::thread::spawn({
        let root = root.to_string();
        move || {
            run(&[
                "--root", &root, "--wait", "20", "generate", "lxc", "--ctid", "101", "--write",
            ])
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        CT_CONF,
        "written under the lock"
    );
    drop(held);
    let o = child.join().unwrap();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(fs::read_to_string(&conf).unwrap(), CT_EXPECTED);
}

#[test]
fn lxc_write_warns_that_a_running_container_gets_it_at_its_next_start() {
    let (d, _conf) = ct_root();
    // LXC's command socket in /proc/net/unix (pve-container src/PVE/LXC.pm
    // list_active_containers).
    put(
        d.path(),
        "proc/net/unix",
        "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 41923 @/var/lib/lxc/101/command\n",
    );
    let o = run(&[
        "--root",
        d.path().to_str().unwrap(),
        "generate",
        "lxc",
        "--ctid",
        "101",
        "--write",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("warning: container 101 is running: the new entries apply at its next start (pct reboot 101)"),
        "{}",
        o.stderr
    );
}

fn qm_double() -> PathBuf {
    // tests run from target/<profile>/deps; cargo builds examples next door.
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/qm-double");
    assert!(
        p.is_file(),
        "{} missing: cargo test builds it (examples/qm-double.rs)",
        p.display()
    );
    p
}

fn log_lines(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn hostpci_write_attaches_by_mapping_or_address_once() {
    let h = host();
    let root = h.root();
    put(root, "etc/sriov-cli/sriov.toml", CONFIG);
    let (vf0, vf1) = (vf_address(root, 0), vf_address(root, 1));
    // VF 0 has a mapping on this node (pve-guest-common src/PVE/Mapping/PCI.pm
    // section format); VF 1 has one only on another node.
    put(
        root,
        "etc/pve/mapping/pci.cfg",
        &format!("router0-v050\n\tmap node=pve1,path={vf0},id=8086:10ca\n\tmap node=pve2,path={vf0},id=8086:10ca\n\nrouter0-v060\n\tmap node=pve2,path={vf1},id=8086:10ca\n"),
    );
    // A q35 VM with hostpci0 taken (and hostpci1 only in a snapshot).
    let conf = put(
        root,
        "etc/pve/qemu-server/200.conf",
        "#router\nboot: order=scsi0\nhostpci0: 0000:07:00.0,pcie=1\nmachine: q35\nmemory: 2048\n\n[snap]\nhostpci1: 0000:08:00.0\n",
    );
    let log = root.join("qm.log");
    let qm = qm_double();
    let env = [
        ("SRIOV_CLI_QM", qm.to_str().unwrap()),
        ("QM_DOUBLE_ROOT", root.to_str().unwrap()),
        ("QM_DOUBLE_LOG", log.to_str().unwrap()),
    ];
    let args = [
        "--root",
        root.to_str().unwrap(),
        "generate",
        "hostpci",
        "--vm",
        "router0",
        "--vmid",
        "200",
        "--write",
    ];
    // --dry-run: the commands, none run.
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let o = run_env(&dry, &env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        format!("qm set 200 --hostpci1 mapping=router0-v050,pcie=1\nqm set 200 --hostpci2 {vf1},pcie=1\n")
    );
    assert!(
        o.stderr.contains(&format!("VF 1 of eno1 ({vf1})")),
        "{}",
        o.stderr
    );
    assert!(log_lines(&log).is_empty());
    let o = run_env(&args, &env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .ends_with("/etc/pve/qemu-server/200.conf: attached 2 VFs (qm set)\n"),
        "{}",
        o.stdout
    );
    assert_eq!(
        log_lines(&log),
        [
            "set 200 --hostpci1 mapping=router0-v050,pcie=1 -> ok".to_string(),
            format!("set 200 --hostpci2 {vf1},pcie=1 -> ok"),
        ]
    );
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        format!("#router\nboot: order=scsi0\nhostpci0: 0000:07:00.0,pcie=1\nhostpci1: mapping=router0-v050,pcie=1\nhostpci2: {vf1},pcie=1\nmachine: q35\nmemory: 2048\n\n[snap]\nhostpci1: 0000:08:00.0\n")
    );
    // Again: the VM has both; no qm set at all.
    let o = run_env(&args, &env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .ends_with("/etc/pve/qemu-server/200.conf: unchanged (VM 200 has every VF already)\n"),
        "{}",
        o.stdout
    );
    assert_eq!(log_lines(&log).len(), 2, "no new qm call");
}

#[test]
fn hostpci_write_refuses_a_full_vm_before_any_qm_set() {
    let h = host();
    let root = h.root();
    put(root, "etc/sriov-cli/sriov.toml", CONFIG);
    let full: String = (0..16)
        .map(|i| format!("hostpci{i}: 0000:0{}:00.0\n", i % 8))
        .collect();
    let conf = put(root, "etc/pve/qemu-server/200.conf", &full);
    let log = root.join("qm.log");
    let qm = qm_double();
    let o = run_env(
        &[
            "--root",
            root.to_str().unwrap(),
            "generate",
            "hostpci",
            "--vm",
            "router0",
            "--vmid",
            "200",
            "--write",
        ],
        &[
            ("SRIOV_CLI_QM", qm.to_str().unwrap()),
            ("QM_DOUBLE_ROOT", root.to_str().unwrap()),
            ("QM_DOUBLE_LOG", log.to_str().unwrap()),
        ],
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("VM 200 uses every hostpci index (0 to 15): nothing was changed"),
        "{}",
        o.stderr
    );
    assert!(log_lines(&log).is_empty());
    assert_eq!(fs::read_to_string(&conf).unwrap(), full);
}

#[test]
fn the_qm_double_refuses_what_qemu_server_refuses() {
    let d = tempfile::tempdir().unwrap();
    let conf = put(d.path(), "etc/pve/qemu-server/200.conf", "memory: 512\n");
    let log = d.path().join("qm.log");
    let qm = |args: &[&str]| {
        Command::new(qm_double())
            .args(args)
            .env("QM_DOUBLE_ROOT", d.path())
            .env("QM_DOUBLE_LOG", &log)
            .output()
            .unwrap()
    };
    // $MAX_HOSTPCI_DEVICES = 16 (qemu-server src/PVE/QemuServer/PCI.pm).
    let o = qm(&["set", "200", "--hostpci16", "0000:01:00.0"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hostpci16: property is not defined in schema")
    );
    // host and mapping together (PCI.pm parse_hostpci).
    assert!(!qm(&["set", "200", "--hostpci0", "0000:01:00.0,mapping=x"])
        .status
        .success());
    // No such VM (src/PVE/API2/Qemu.pm update_vm loads the config).
    assert!(!qm(&["set", "201", "--hostpci0", "0000:01:00.0"])
        .status
        .success());
    assert_eq!(fs::read_to_string(&conf).unwrap(), "memory: 512\n");
    assert!(qm(&["set", "200", "--hostpci15", "mapping=x"])
        .status
        .success());
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "hostpci15: mapping=x\nmemory: 512\n"
    );
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines.iter().filter(|l| l.ends_with("-> ok")).count(), 1);
}

fn pull_root() -> (sysfs_sriov::fixture::Host, PathBuf, PathBuf) {
    let h = host();
    let local = put(h.root(), "etc/sriov-cli/sriov.toml", CONFIG);
    let cluster = h.root().join("etc/pve/sriov-cli/sriov.toml");
    fs::create_dir_all(h.root().join("run/lock")).unwrap();
    (h, local, cluster)
}

#[test]
fn pull_config_replaces_a_different_local_copy_and_runs_setup() {
    let (h, local, cluster) = pull_root();
    let newer = CONFIG.replace("vlan = 70", "vlan = 80");
    put(h.root(), "etc/pve/sriov-cli/sriov.toml", &newer);
    let o = run(&["--root", h.root().to_str().unwrap(), "pve", "pull-config"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with(&format!(
            "{}: replaced by {} (node pve1)\n",
            local.display(),
            cluster.display()
        )),
        "{}",
        o.stdout
    );
    // Setup's plan for the new file follows (a fixture root: as a dry run).
    assert!(o.stdout.contains("vlan 80"), "{}", o.stdout);
    assert!(
        o.stderr.contains("setup cannot change a fixture tree"),
        "{}",
        o.stderr
    );
    assert_eq!(fs::read_to_string(&local).unwrap(), newer);
    // Atomically: no temp file left next to it.
    let names: Vec<_> = fs::read_dir(local.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn pull_config_with_the_same_content_writes_nothing() {
    let (h, local, _cluster) = pull_root();
    put(h.root(), "etc/pve/sriov-cli/sriov.toml", CONFIG);
    let before = fs::metadata(&local).unwrap();
    let o = run(&["--root", h.root().to_str().unwrap(), "pve", "pull-config"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.ends_with(": nothing to do\n"), "{}", o.stdout);
    let after = fs::metadata(&local).unwrap();
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    // No cluster copy at all: a note, nothing changed, success.
    fs::remove_file(h.root().join("etc/pve/sriov-cli/sriov.toml")).unwrap();
    let o = run(&["--root", h.root().to_str().unwrap(), "pve", "pull-config"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("no cluster copy at"), "{}", o.stderr);
    assert_eq!(fs::read_to_string(&local).unwrap(), CONFIG);
}

#[test]
fn pull_config_refuses_an_invalid_cluster_copy_and_changes_nothing() {
    let (h, local, cluster) = pull_root();
    // Invalid for this node: a VLAN out of range in pve1's section.
    put(
        h.root(),
        "etc/pve/sriov-cli/sriov.toml",
        &CONFIG.replace("vlan = 70", "vlan = 5000"),
    );
    let o = run(&["--root", h.root().to_str().unwrap(), "pve", "pull-config"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    let line = CONFIG.lines().position(|l| l == "vlan = 70").unwrap() + 1;
    assert!(
        o.stderr.contains(&format!("{}:{line}:", cluster.display())),
        "file:line:col expected: {}",
        o.stderr
    );
    assert_eq!(fs::read_to_string(&local).unwrap(), CONFIG);
    // Dry run of a valid one: the diff, nothing written.
    put(
        h.root(),
        "etc/pve/sriov-cli/sriov.toml",
        &CONFIG.replace("vlan = 70", "vlan = 80"),
    );
    let o = run(&[
        "--root",
        h.root().to_str().unwrap(),
        "pve",
        "pull-config",
        "--dry-run",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("\n-vlan = 70\n+vlan = 80\n"),
        "{}",
        o.stdout
    );
    assert_eq!(fs::read_to_string(&local).unwrap(), CONFIG);
}
