//! The host-wide lock, seen from outside: a writing command waits for the
//! holder (bounded by `--wait`) and changes nothing when it gives up;
//! read-only commands never wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::OpenOptions;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use sysfs_sriov::fixture::{HostBuilder, PfSpec};

fn run(args: &[&str]) -> (i32, String, Duration) {
    let t0 = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_sriov-cli"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        t0.elapsed(),
    )
}

#[test]
fn a_writer_waits_for_the_holder_and_readers_never_do() {
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse().unwrap())
            .netdev("eth0")
            .vfs(2))
        .build()
        .unwrap();
    let r = host.root().to_str().unwrap().to_string();
    std::fs::create_dir_all(host.root().join("run")).unwrap();
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(host.root().join("run/sriov-cli.lock"))
        .unwrap();
    let held = Flock::lock(lock, FlockArg::LockExclusiveNonblock).unwrap();

    // reset changes the host: it waits --wait seconds, then gives up, exit 2.
    let (code, err, took) = run(&["--root", &r, "--wait", "1", "reset", "eth0"]);
    assert_eq!(code, 2, "{err}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(err.contains("waiting for another sriov-cli run"), "{err}");
    assert!(
        err.contains("still holds") && err.contains("nothing was changed"),
        "{err}"
    );
    let numvfs = host
        .root()
        .join("sys/bus/pci/devices/0000:01:00.0/sriov_numvfs");
    assert_eq!(std::fs::read_to_string(&numvfs).unwrap().trim(), "2");

    // Read-only commands do not wait for it.
    for args in [vec!["status"], vec!["stats"], vec!["check-iommu"]] {
        let mut a = vec!["--root", r.as_str(), "--wait", "30"];
        a.extend(args.iter().copied());
        let (_, err, took) = run(&a);
        assert!(
            took < Duration::from_secs(10),
            "{args:?} waited: {took:?} {err}"
        );
        assert!(!err.contains("waiting for another"), "{args:?}: {err}");
    }

    // Released: the writer gets it at once (and then refuses to write a
    // fixture's sriov_numvfs, as reset does under --root).
    drop(held);
    let (code, err, _) = run(&["--root", &r, "--wait", "1", "reset", "eth0"]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("waiting for another"), "{err}");
    assert!(err.contains("fixture"), "{err}");
}
