//! `pve sync-mappings` and `status`'s stale-mapping check, run as the built
//! binary on fixture sysfs trees, against `examples/pvesh-double.rs` (a
//! stand-in for Proxmox VE's pvesh over a `pci.cfg` on disk) on `PATH`.
//!
//! Writes are counted from the double's own log (`write ...` lines), and
//! the file is read back here, not from what sriov-cli says it did.
//! `cargo test -p sriov-cli` builds the double; with `--test pve` alone,
//! build it first: `cargo build -p sriov-cli --example pvesh-double`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

/// The double, next to the binary under test (`target/<profile>/examples/`).
fn double() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_sriov-cli"));
    let p = bin.parent().unwrap().join("examples/pvesh-double");
    assert!(
        p.is_file(),
        "{} is not built: cargo build -p sriov-cli --example pvesh-double",
        p.display()
    );
    p
}

/// A cluster: one `/etc/pve` stand-in shared by the nodes, and a `PATH`
/// directory whose `pvesh` is the double.
struct Cluster {
    dir: tempfile::TempDir,
}

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        fs::create_dir_all(dir.path().join("etc-pve/mapping")).unwrap();
        std::os::unix::fs::symlink(double(), dir.path().join("bin/pvesh")).unwrap();
        Self { dir }
    }

    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc-pve")
    }

    fn cfg(&self) -> String {
        fs::read_to_string(self.etc().join("mapping/pci.cfg")).unwrap_or_default()
    }

    fn log(&self) -> Vec<String> {
        fs::read_to_string(self.etc().join("pvesh-double.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `write ...` lines of the double's log since line `from`.
    fn writes_since(&self, from: usize) -> Vec<String> {
        self.log()
            .into_iter()
            .skip(from)
            .filter(|l| l.starts_with("write "))
            .collect()
    }

    /// Runs sriov-cli with the double on PATH (and only system directories
    /// besides), plus `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let path = format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display());
        let mut c = Command::new(env!("CARGO_BIN_EXE_sriov-cli"));
        c.args(args)
            .env("PATH", path)
            .env("PVE_DOUBLE_ETC", self.etc())
            .env_remove("SRIOV_CLI_PVESH")
            .env_remove("PVE_DOUBLE_EDIT_AFTER_GET")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        Out {
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
            code: o.status.code().unwrap_or(-1),
        }
    }

    /// `map` lines of section `id` in pci.cfg, as written by the double.
    fn maps(&self, id: &str) -> Vec<String> {
        let text = self.cfg();
        let mut out = Vec::new();
        let mut inside = false;
        for l in text.lines() {
            if !l.starts_with('\t') {
                inside = l.trim() == id;
                continue;
            }
            if inside {
                if let Some(m) = l.strip_prefix("\tmap ") {
                    out.push(m.to_string());
                }
            }
        }
        out
    }
}

/// A node: an Intel 82576 `eno1` with 4 VFs, VF 1 and 2 on vfio-pci. `group`
/// is the PF's IOMMU group, VF N's is `group + 1 + N` (each node its own).
fn node_host(group: u32) -> sysfs_sriov::fixture::Host {
    let h = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:05:00.0".parse().unwrap())
            .netdev("eno1")
            .iommu_group(group)
            .vfs(4)
            .vf_driver_at(1, VfDriver::VfioPci)
            .vf_driver_at(2, VfDriver::VfioPci))
        .build()
        .unwrap();
    for (n, addr) in [
        "0000:05:10.0",
        "0000:05:10.2",
        "0000:05:10.4",
        "0000:05:10.6",
    ]
    .iter()
    .enumerate()
    {
        move_group(&h, addr, group + 1 + u32::try_from(n).unwrap());
    }
    h
}

/// The cluster's config: both nodes have `eno1`; VF 1 is router0's VLAN 50
/// (mapping router0-v050), VFs 2 and 3 one pool `pool` (two entries per
/// node).
const CONFIG: &str = r#"
[node.pve1]
[[node.pve1.pf]]
name = "eno1"
num_vfs = 4
[[node.pve1.pf.vf]]
index = 1
driver = "vfio-pci"
vm = "router0"
vlan = 50
[[node.pve1.pf.vf]]
index = 2
mapping = "pool"
[[node.pve1.pf.vf]]
index = 3
mapping = "pool"

[node.pve2]
[[node.pve2.pf]]
name = "eno1"
num_vfs = 4
[[node.pve2.pf.vf]]
index = 1
driver = "vfio-pci"
vm = "router0"
vlan = 50
description = "router0 WAN"
[[node.pve2.pf.vf]]
index = 2
mapping = "pool"
[[node.pve2.pf.vf]]
index = 3
mapping = "pool"
"#;

fn config(dir: &Path) -> String {
    let p = dir.join("sriov.toml");
    fs::write(&p, CONFIG).unwrap();
    p.display().to_string()
}

/// The VF's `iommu_group` link re-pointed to group `g` (what a reboot or a
/// BIOS update may do).
fn move_group(host: &sysfs_sriov::fixture::Host, addr: &str, g: u32) {
    let link = host
        .root()
        .join("sys/bus/pci/devices")
        .join(addr)
        .join("iommu_group");
    let target = fs::read_link(&link).unwrap();
    let new = target.parent().unwrap().join(g.to_string());
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(new, &link).unwrap();
}

fn sync(c: &Cluster, host: &sysfs_sriov::fixture::Host, cfg: &str, node: &str) -> Out {
    let root = host.root().to_str().unwrap();
    c.run(
        &[
            "--root",
            root,
            "--config",
            cfg,
            "--node",
            node,
            "pve",
            "sync-mappings",
        ],
        &[],
    )
}

fn json(o: &Out) -> serde_json::Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// Two nodes with the same PF name share one pci.cfg: each sync adds or
/// replaces only its own node's entries (pve-manager
/// `PVE/API2/Cluster/Mapping/PCI.pm` `create`/`update`, in the double), and
/// a second sync of either makes no write.
#[test]
fn two_nodes_share_one_pci_cfg_and_each_keeps_its_own_entries() {
    let c = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (h1, h2) = (node_host(30), node_host(50));

    let o = sync(&c, &h1, &cfg, "pve1");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(
        c.writes_since(0),
        ["write create router0-v050", "write create pool"]
    );
    assert_eq!(
        c.maps("router0-v050"),
        ["node=pve1,path=0000:05:10.2,id=8086:10ca,subsystem-id=8086:0000,iommugroup=32,description=VF 1 of eno1"]
    );
    assert_eq!(c.maps("pool").len(), 2);
    let pve1_maps = (c.maps("router0-v050"), c.maps("pool"));

    let n = c.log().len();
    let o = sync(&c, &h2, &cfg, "pve2");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(
        c.writes_since(n),
        ["write set router0-v050", "write set pool"]
    );
    // pve1's entries kept byte for byte, in their place; pve2's appended.
    let r = c.maps("router0-v050");
    assert_eq!(r[0], pve1_maps.0[0]);
    assert_eq!(
        r[1],
        "node=pve2,path=0000:05:10.2,id=8086:10ca,subsystem-id=8086:0000,iommugroup=52,description=VF 1 of eno1"
    );
    let p = c.maps("pool");
    assert_eq!(p[..2], pve1_maps.1[..]);
    assert_eq!(p.len(), 4);
    assert!(p[2].starts_with("node=pve2,path=0000:05:10.4,"), "{p:?}");
    assert!(p[3].starts_with("node=pve2,path=0000:05:10.6,"), "{p:?}");
    // The mapping-level description is pve1's, from the create: pve2 does
    // not touch it.
    assert!(
        c.cfg().contains("\tdescription VF 1 of eno1\n"),
        "{}",
        c.cfg()
    );
    assert!(!c.cfg().contains("router0 WAN"));

    // Both again: 0 writes, by the double's count.
    let n = c.log().len();
    for (h, node) in [(&h1, "pve1"), (&h2, "pve2")] {
        let o = sync(&c, h, &cfg, node);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(o.stdout.contains(", 0 writes"), "{}", o.stdout);
    }
    assert_eq!(c.writes_since(n), Vec::<String>::new());
}

/// A VF whose IOMMU group changed: `status` names the entry with its fix,
/// the sync replaces it (other node untouched), and then `status` is clean.
/// The checks are PVE's own at VM start (pve-guest-common
/// `src/PVE/Mapping/PCI.pm`, `assert_valid`).
#[test]
fn a_changed_iommu_group_is_named_by_status_and_updated_by_the_sync() {
    let c = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (h1, h2) = (node_host(30), node_host(50));
    assert_eq!(sync(&c, &h1, &cfg, "pve1").code, 0);
    assert_eq!(sync(&c, &h2, &cfg, "pve2").code, 0);
    let pve2_before: Vec<String> = c
        .maps("router0-v050")
        .into_iter()
        .filter(|m| m.starts_with("node=pve2,"))
        .collect();

    move_group(&h1, "0000:05:10.2", 77);
    let root = h1.root().to_str().unwrap();
    let st = c.run(&["--root", root, "--node", "pve1", "status", "--json"], &[]);
    assert_eq!(st.code, 0, "{}", st.stderr);
    let j = json(&st);
    assert_eq!(j["mappings"]["node"], "pve1");
    let stale = j["mappings"]["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0]["mapping"], "router0-v050");
    assert_eq!(
        stale[0]["problems"][0],
        "0000:05:10.2: iommugroup 32 in the entry, sysfs says 77"
    );
    assert_eq!(stale[0]["fix"], "sriov-cli pve sync-mappings");
    // The text form: a warning on stderr naming entry and fix; stdout as
    // without pvesh.
    let txt = c.run(&["--root", root, "--node", "pve1", "status"], &[]);
    assert!(
        txt.stderr.contains(
            "warning: mapping router0-v050: node pve1's entry `node=pve1,path=0000:05:10.2,"
        ) && txt
            .stderr
            .contains("iommugroup 32 in the entry, sysfs says 77")
            && txt.stderr.contains("fix: `sriov-cli pve sync-mappings`"),
        "{}",
        txt.stderr
    );
    assert!(!txt.stdout.contains("mapping"), "{}", txt.stdout);

    let n = c.log().len();
    let o = sync(&c, &h1, &cfg, "pve1");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(c.writes_since(n), ["write set router0-v050"]);
    assert!(
        o.stdout.contains(
            "  - node=pve1,path=0000:05:10.2,id=8086:10ca,subsystem-id=8086:0000,iommugroup=32,"
        ),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(
            "  + node=pve1,path=0000:05:10.2,id=8086:10ca,subsystem-id=8086:0000,iommugroup=77,"
        ),
        "{}",
        o.stdout
    );
    let now = c.maps("router0-v050");
    assert!(now[0].contains(",iommugroup=77,"), "{now:?}");
    assert_eq!(now[1..], pve2_before[..]);
    let j = json(&c.run(&["--root", root, "--node", "pve1", "status", "--json"], &[]));
    assert_eq!(j["mappings"]["stale"].as_array().unwrap().len(), 0);
}

/// A VF's path changed (another VF offset: a different VF count on some
/// devices, a firmware update): status says the old path is gone, the sync
/// writes the new one.
#[test]
fn a_changed_path_is_replaced() {
    let c = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    assert_eq!(sync(&c, &node_host(30), &cfg, "pve1").code, 0);
    let moved = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:05:00.0".parse().unwrap())
            .netdev("eno1")
            .iommu_group(30)
            .offset_stride(0x180, 2)
            .vfs(4))
        .build()
        .unwrap();
    let root = moved.root().to_str().unwrap();
    let j = json(&c.run(&["--root", root, "--node", "pve1", "status", "--json"], &[]));
    let stale = j["mappings"]["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 3, "{stale:?}");
    assert!(stale
        .iter()
        .any(|s| s["problems"][0] == "path 0000:05:10.2: no such PCI device in sysfs"));
    let n = c.log().len();
    let o = sync(&c, &moved, &cfg, "pve1");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        c.writes_since(n),
        ["write set router0-v050", "write set pool"]
    );
    assert!(
        c.maps("router0-v050")[0].starts_with("node=pve1,path=0000:06:10.2,"),
        "{:?}",
        c.maps("router0-v050")
    );
}

/// Another writer edits pci.cfg between our read and our write: PVE refuses
/// the stale digest (pve-common `src/PVE/Tools.pm` `assert_if_modified`, the
/// digest being pve-common `src/PVE/SectionConfig.pm`'s sha1 of the file),
/// the sync reads again and succeeds, keeping the other writer's change.
#[test]
fn an_edit_between_get_and_set_is_retried() {
    let c = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let h1 = node_host(30);
    assert_eq!(sync(&c, &h1, &cfg, "pve1").code, 0);
    move_group(&h1, "0000:05:10.2", 78);
    let n = c.log().len();
    let root = h1.root().to_str().unwrap();
    let args = [
        "--root",
        root,
        "--config",
        &cfg,
        "--node",
        "pve1",
        "pve",
        "sync-mappings",
        "--json",
    ];
    let o = c.run(&args, &[("PVE_DOUBLE_EDIT_AFTER_GET", "1")]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let log: Vec<String> = c.log().into_iter().skip(n).collect();
    assert_eq!(
        log,
        [
            "read router0-v050",
            "edit double-edit-1",
            "refused set router0-v050 digest",
            "read router0-v050",
            "write set router0-v050",
            "read pool",
        ]
    );
    let j = json(&o);
    assert_eq!(j["mappings"][0]["attempts"], 2);
    assert_eq!(j["mappings"][0]["action"], "update");
    assert_eq!(j["writes"], 1);
    assert!(c.maps("router0-v050")[0].contains(",iommugroup=78,"));
    assert_eq!(c.maps("double-edit-1").len(), 1, "{}", c.cfg());
}

/// The digest goes stale at every read: 3 attempts, then exit 1 with an
/// error naming the mapping, the file and the fix; nothing of that mapping
/// written, the other mappings still done.
#[test]
fn a_digest_stale_forever_gives_up_after_bounded_retries() {
    let c = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let h1 = node_host(30);
    assert_eq!(sync(&c, &h1, &cfg, "pve1").code, 0);
    move_group(&h1, "0000:05:10.2", 79);
    let before = c.maps("router0-v050");
    let n = c.log().len();
    let root = h1.root().to_str().unwrap();
    let args = [
        "--root",
        root,
        "--config",
        &cfg,
        "--node",
        "pve1",
        "pve",
        "sync-mappings",
        "--json",
    ];
    let o = c.run(&args, &[("PVE_DOUBLE_EDIT_AFTER_GET", "1000")]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let log: Vec<String> = c.log().into_iter().skip(n).collect();
    let refused = log
        .iter()
        .filter(|l| *l == "refused set router0-v050 digest")
        .count();
    assert_eq!(refused, 3, "{log:?}");
    assert!(c.writes_since(n).is_empty());
    assert_eq!(c.maps("router0-v050"), before);
    let j = json(&o);
    assert_eq!(j["mappings"][0]["action"], "failed");
    assert_eq!(j["mappings"][1]["action"], "unchanged");
    let e = j["errors"][0].as_str().unwrap();
    assert!(
        e.starts_with("mapping router0-v050: /etc/pve/mapping/pci.cfg changed between the read and the write 3 times in a row")
            && e.contains("run `sriov-cli pve sync-mappings` again")
            && e.contains("detected modified configuration - file changed by other user? Try again."),
        "{e}"
    );
    assert!(
        o.stderr.starts_with("error: mapping router0-v050: "),
        "{}",
        o.stderr
    );
}

/// `--dry-run` reads and writes nothing; the create it would do is named.
#[test]
fn dry_run_makes_no_write() {
    let c = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let h1 = node_host(30);
    let root = h1.root().to_str().unwrap();
    let o = c.run(
        &[
            "--root",
            root,
            "--config",
            &cfg,
            "--node",
            "pve1",
            "pve",
            "sync-mappings",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("mapping pool: would be created\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .ends_with("node pve1: 2 mappings, 0 writes (dry run)\n"),
        "{}",
        o.stdout
    );
    assert!(c.writes_since(0).is_empty());
    assert!(!c.etc().join("mapping/pci.cfg").exists());
}

/// Not a PVE node (no pvesh): the sync exits 2 before any change, saying
/// so; `status` says nothing about mappings. A VF that does not exist is
/// refused before pvesh runs at all.
#[test]
fn without_pvesh_the_sync_exits_2_and_status_is_unchanged() {
    let c = Cluster::new();
    fs::remove_file(c.dir.path().join("bin/pvesh")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let h1 = node_host(30);
    let o = sync(&c, &h1, &cfg, "pve1");
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "error: pvesh not found on PATH: this is not a Proxmox VE node (set SRIOV_CLI_PVESH to the pvesh binary to use another)\n"
    );
    let root = h1.root().to_str().unwrap();
    let j = json(&c.run(&["--root", root, "status", "--json"], &[]));
    assert!(j.get("mappings").is_none());
    // SRIOV_CLI_PVESH names the double: used instead of PATH.
    let d = double();
    let o = c.run(
        &[
            "--root",
            root,
            "--config",
            &cfg,
            "--node",
            "pve1",
            "pve",
            "sync-mappings",
        ],
        &[("SRIOV_CLI_PVESH", d.to_str().unwrap())],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(c.writes_since(0).len(), 2);
    // A VF count below the config's: VF 3 does not exist, nothing is run.
    let small = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:05:00.0".parse().unwrap())
            .netdev("eno1")
            .iommu_group(30)
            .vfs(3))
        .build()
        .unwrap();
    let n = c.log().len();
    let o = c.run(
        &[
            "--root",
            small.root().to_str().unwrap(),
            "--config",
            &cfg,
            "--node",
            "pve1",
            "pve",
            "sync-mappings",
        ],
        &[("SRIOV_CLI_PVESH", d.to_str().unwrap())],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("VF 3 of eno1 (0000:05:10.6, mapping pool) does not exist in sysfs now"),
        "{}",
        o.stderr
    );
    assert_eq!(c.log().len(), n, "pvesh ran");
}

/// The double's digest is the sha1 of the file as `sha1sum` computes it (an
/// independent reader), and `create` refuses an existing id with PVE's
/// words (pve-manager `PVE/API2/Cluster/Mapping/PCI.pm`, `create`).
#[test]
fn the_double_digests_like_sha1sum_and_refuses_an_existing_id() {
    let c = Cluster::new();
    let d = double();
    let call = |args: &[&str]| {
        Command::new(&d)
            .args(args)
            .env("PVE_DOUBLE_ETC", c.etc())
            .output()
            .unwrap()
    };
    let m = "node=pve1,path=0000:05:10.2,id=8086:10ca";
    let o = call(&["create", "/cluster/mapping/pci", "--id", "m1", "--map", m]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = call(&["create", "/cluster/mapping/pci", "--id", "m1", "--map", m]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pci ID 'm1' already defined"));
    let o = call(&["get", "/cluster/mapping/pci/m1", "--output-format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["map"][0], m);
    let o = call(&[
        "get",
        "/cluster/mapping/pci/none",
        "--output-format",
        "json",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "mapping 'none' not found\n"
    );
    assert_eq!(c.cfg(), format!("m1\n\tmap {m}\n\n"));
    match Command::new("sha1sum")
        .arg(c.etc().join("mapping/pci.cfg"))
        .output()
    {
        Ok(s) => {
            let sum = String::from_utf8_lossy(&s.stdout);
            assert_eq!(sum.split_whitespace().next().unwrap(), j["digest"]);
        }
        Err(_) => eprintln!("note: no sha1sum here: the digest is not cross-checked"),
    }
    // A known vector too (FIPS 180-1's "abc"): a file of one bare header.
    fs::write(c.etc().join("mapping/pci.cfg"), "abc").unwrap();
    let o = call(&["get", "/cluster/mapping/pci", "--output-format", "json"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "[{\"digest\":\"a9993e364706816aba3e25717850c26c9cd0d89d\",\"id\":\"abc\",\"map\":[],\"type\":\"pci\"}]\n"
    );
}
