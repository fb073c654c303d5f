//! Every command against the fake host, through `dispatch`, as `run` calls
//! it: exit codes, stdout, and what the host was asked to do.

use super::*;
use crate::cli::StatsFormat;
use crate::host::fake::{fake, pci, Fake};
use crate::render::Style;
use sysfs_sriov::InUse;

const GUIDE: &str = "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 0\npromisc = true\nname = \"eth0pve0\"\nup = true\n[[pf.vf]]\nindex = 1\nvlan = 50\nname = \"eth0pve050\"\nup = true\naddresses = [\"10.0.50.100/24\"]\ngateway = \"10.0.50.1\"\n[[pf.vf]]\nindex = 3\nvlan = 60\ndriver = \"vfio-pci\"\n";

struct Run {
    _dir: tempfile::TempDir,
    ctx: Ctx,
}

fn with_config(text: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sriov.toml");
    std::fs::write(&path, text).unwrap();
    // The root is the temp dir: a writing command's host lock is taken in
    // its run/, never in the live /run.
    std::fs::create_dir(dir.path().join("run")).unwrap();
    let ctx = Ctx {
        root: dir.path().to_path_buf(),
        config: Some(path),
        node: None,
        verbose: 0,
        out_style: Style::default(),
        err_style: Style::default(),
        err_tty: false,
        wait: std::time::Duration::from_secs(5),
    };
    Run { _dir: dir, ctx }
}

fn run(r: &Run, f: &mut Fake, cmd: Command) -> (Result<u8, CliError>, String) {
    let mut out = Vec::new();
    let res = dispatch(&cmd, &r.ctx, f, &mut out);
    (res, String::from_utf8(out).unwrap())
}

fn setup(dry_run: bool, json: bool, allow_recreate: bool) -> Command {
    Command::Setup {
        dry_run,
        json,
        allow_recreate,
        force_unbind: false,
        prune: false,
        timings: false,
    }
}

#[test]
fn setup_end_to_end_then_a_second_run_changes_nothing() {
    let r = with_config(GUIDE);
    let mut f = fake();
    let (res, out) = run(&r, &mut f, setup(true, false, false));
    assert_eq!(res.unwrap(), 0);
    assert!(
        out.contains("+num_vfs 4") && out.ends_with("nothing was changed (--dry-run).\n"),
        "{out}"
    );
    assert!(f.log.is_empty(), "a dry run changed the host: {:?}", f.log);

    let (res, out) = run(&r, &mut f, setup(false, false, false));
    assert_eq!(res.unwrap(), 0, "{out}");
    assert!(
        out.starts_with("applied  PF eno1 (0000:01:00.0): num_vfs 0 -> 4\n"),
        "{out}"
    );
    assert!(
        out.ends_with("the host matches ".to_string().as_str())
            || out.contains("; the host matches "),
        "{out}"
    );
    assert_eq!(f.state.pfs[0].vfs[1].netdev.as_deref(), Some("eth0pve050"));
    assert_eq!(f.state.pfs[0].vfs[3].driver.as_deref(), Some("vfio-pci"));

    f.log.clear();
    let (res, out) = run(&r, &mut f, setup(false, true, false));
    assert_eq!(res.unwrap(), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changes"], serde_json::json!([]));
    assert!(f.log.is_empty(), "{:?}", f.log);
}

#[test]
fn setup_under_a_fixture_root_only_plans() {
    let r = with_config(GUIDE);
    let mut f = fake();
    f.fixture = true;
    let (res, _) = run(&r, &mut f, setup(false, false, false));
    assert!(
        matches!(res, Err(CliError::Usage(ref m)) if m.contains("only `setup --dry-run`")),
        "{res:?}"
    );
    assert!(f.log.is_empty());
}

#[test]
fn setup_of_num_vfs_zero_with_vfs_in_use_is_refused_and_prints_json() {
    let r = with_config("[[pf]]\nname = \"eno1\"\nnum_vfs = 0\n");
    let mut f = fake();
    f.state = crate::host::fake::host(2, true);
    f.state.pfs[0].vfs[1].in_use = vec![InUse::Passthrough {
        driver: "vfio-pci".into(),
    }];
    let (res, out) = run(&r, &mut f, setup(true, true, false));
    let Err(CliError::Invalid(errs)) = res else {
        panic!("{res:?}")
    };
    assert!(
        errs[1].contains("VF 1 (0000:01:10.2): bound to vfio-pci"),
        "{errs:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    assert!(f.log.is_empty());
    let (res, _) = run(&r, &mut f, setup(false, false, true));
    assert_eq!(res.unwrap(), 0);
    assert_eq!(f.state.pfs[0].num_vfs, 0);
}

#[test]
fn reset_checks_every_pf_first_and_names_every_problem() {
    let r = with_config(GUIDE);
    let mut f = fake();
    f.state = crate::host::fake::host(2, true);
    f.state.pfs[0].vfs[0].in_use = vec![InUse::NetdevUp {
        netdev: "eth1".into(),
    }];
    let reset = |pf: &[&str], allow_recreate| Command::Reset {
        pf: pf.iter().map(|s| s.to_string()).collect(),
        allow_recreate,
    };
    let (res, _) = run(&r, &mut f, reset(&["nosuch1", "eno1", "nosuch2"], false));
    let Err(CliError::Invalid(errs)) = res else {
        panic!("{res:?}")
    };
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs[0].starts_with("PF nosuch1: ") && errs[1].starts_with("PF nosuch2: "),
        "{errs:?}"
    );
    assert!(
        errs[2].contains("PF eno1: removing its 2 VFs would disturb VFs in use"),
        "{errs:?}"
    );
    assert_eq!(errs[3], "  VF 0 (0000:01:10.0): netdev eth1 is up");
    assert!(f.log.is_empty(), "{:?}", f.log);
    // By name and by address: once.
    let (res, out) = run(&r, &mut f, reset(&["eno1", "0000:01:00.0"], true));
    assert_eq!(res.unwrap(), 0);
    assert_eq!(out, "PF eno1 (0000:01:00.0): num_vfs 2 -> 0\n");
    assert_eq!(f.log, ["reset 0000:01:00.0"]);
    let (res, out) = run(&r, &mut f, reset(&["eno1"], false));
    assert_eq!(res.unwrap(), 0);
    assert_eq!(out, "PF eno1 (0000:01:00.0) has no VFs; nothing to do.\n");
}

#[test]
fn status_and_stats_read_through_the_host() {
    let r = with_config(GUIDE);
    let mut f = fake();
    f.state = crate::host::fake::host(2, true);
    let (res, out) = run(
        &r,
        &mut f,
        Command::Status {
            pf: Some("eno1".into()),
            json: true,
        },
    );
    assert_eq!(res.unwrap(), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pfs"][0]["address"], "0000:01:00.0");
    assert_eq!(
        v["pfs"][0]["vfs"][1]["attrs"]["vlan"],
        serde_json::json!({"vlan": 0, "qos": 0, "proto": "802.1Q"})
    );
    let (res, _) = run(
        &r,
        &mut f,
        Command::Status {
            pf: Some("nosuch".into()),
            json: false,
        },
    );
    assert!(matches!(res, Err(CliError::Usage(_))), "{res:?}");
    let (res, out) = run(
        &r,
        &mut f,
        Command::Stats {
            format: StatsFormat::Prometheus,
            output: None,
        },
    );
    assert_eq!(res.unwrap(), 0);
    assert!(
        out.contains("sriov_pf_num_vfs{pf=\"eno1\",pf_address=\"0000:01:00.0\"} 2\n"),
        "{out}"
    );
    assert_eq!(f.reads, 2);
    let _ = pci("0000:01:00.0");
}

#[test]
fn generate_systemd_unit_waits_for_the_pfs_of_the_config() {
    let r = with_config(GUIDE);
    let mut f = fake();
    let (res, out) = run(
        &r,
        &mut f,
        Command::Generate(Generate::SystemdUnit {
            bin: "/usr/sbin/sriov-cli".into(),
        }),
    );
    assert_eq!(res.unwrap(), 0);
    assert!(
        out.contains("After=sys-subsystem-net-devices-eno1.device\n"),
        "{out}"
    );
}

fn pull(from: &std::path::Path) -> Command {
    Command::Pve(crate::cli::Pve::PullConfig {
        from: Some(from.to_path_buf()),
        dry_run: false,
    })
}

#[test]
fn pull_config_replaces_the_local_copy_and_runs_setup_under_the_host_lock() {
    let r = with_config("[[pf]]\nname = \"eno1\"\nnum_vfs = 1\n");
    let cluster = r.ctx.root.join("cluster.toml");
    std::fs::write(&cluster, GUIDE).unwrap();
    let mut f = fake();
    let (res, out) = run(&r, &mut f, pull(&cluster));
    assert_eq!(res.unwrap(), 0, "{out}");
    let local = r.ctx.config.clone().unwrap();
    assert_eq!(std::fs::read_to_string(&local).unwrap(), GUIDE);
    assert!(
        out.contains("applied  PF eno1 (0000:01:00.0): num_vfs 0 -> 4\n"),
        "{out}"
    );
    assert_eq!(f.state.pfs[0].vfs[1].netdev.as_deref(), Some("eth0pve050"));
    // The host lock was taken for it (lock.rs: the holder's line).
    let holder = std::fs::read_to_string(r.ctx.root.join(crate::lock::LOCK_PATH)).unwrap();
    assert!(holder.ends_with(", pve pull-config\n"), "{holder}");
    // Again: the same content, no write, no setup.
    f.log.clear();
    let (res, out) = run(&r, &mut f, pull(&cluster));
    assert_eq!(res.unwrap(), 0);
    assert!(out.ends_with(": nothing to do\n"), "{out}");
    assert!(f.log.is_empty(), "{:?}", f.log);
}

#[test]
fn pull_config_keeps_setups_refusal_of_destroying_vfs_in_use() {
    let r = with_config("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n");
    let cluster = r.ctx.root.join("cluster.toml");
    std::fs::write(&cluster, "[[pf]]\nname = \"eno1\"\nnum_vfs = 0\n").unwrap();
    let mut f = fake();
    f.state = crate::host::fake::host(2, true);
    f.state.pfs[0].vfs[1].in_use = vec![InUse::Passthrough {
        driver: "vfio-pci".into(),
    }];
    let (res, _) = run(&r, &mut f, pull(&cluster));
    assert!(matches!(res, Err(CliError::Invalid(_))), "{res:?}");
    assert!(f.log.is_empty(), "the host was changed: {:?}", f.log);
    // The local copy is the cluster's now: the boot unit applies it at the
    // next boot, before any guest holds the VFs (README).
    assert_eq!(
        std::fs::read_to_string(r.ctx.config.as_ref().unwrap()).unwrap(),
        "[[pf]]\nname = \"eno1\"\nnum_vfs = 0\n"
    );
}
