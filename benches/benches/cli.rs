//! `sriov-cli` for 256 VFs on a fixture root (one X710-like PF, 256 VFs, and a
//! config giving each VF a MAC, VLAN + QoS, trust, spoofchk, rate, name, up
//! and an address):
//!
//! * `sriov_cli/plan_diff_256`: exactly plan + diff (`sriov_cli::api::plan`,
//!   `api::diff`) over an in-memory `HostState` and a parsed config, both
//!   built once outside the timed loop (the host through `api::read_host` on
//!   the fixture tree, as `setup` reads it);
//! * `sriov_cli/parse_config_256` and `sriov_cli/read_host_256`: the other
//!   two parts of a dry run, for the breakdown (and `parse_config_64`, to see
//!   how parsing scales);
//! * `sriov_cli/setup_dry_run_256`: end to end, `sriov_cli::run(... setup
//!   --dry-run)` (read the config file, read the fixture sysfs, validate,
//!   plan, render, print), with stdout sent to /dev/null.

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sriov_benches::fixtures;
use sriov_cli::api::{self, Options};

/// Runs `f` with fd 1 on /dev/null (the dry run prints a diff line per
/// change), and fd 2 too when `stderr` (its note per run about `--root`).
fn quiet<T>(stderr: bool, f: impl FnOnce() -> T) -> T {
    let saved_out = nix::unistd::dup(std::io::stdout()).ok();
    let saved_err = stderr
        .then(|| nix::unistd::dup(std::io::stderr()).ok())
        .flatten();
    let _ = std::io::stdout().flush();
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        if stderr {
            let _ = nix::unistd::dup2_stderr(&null);
        }
    }
    let r = f();
    let _ = std::io::stdout().flush();
    if let Some(fd) = saved_out {
        let _ = nix::unistd::dup2_stdout(&fd);
    }
    if let Some(fd) = saved_err {
        let _ = nix::unistd::dup2_stderr(&fd);
    }
    r
}

/// Plan + diff only: the config parsed and the host read once, outside the
/// timed loop; nothing in the loop touches a file.
fn plan_and_diff(c: &mut Criterion) {
    let (host, _pf) = match fixtures::sysfs_host(256) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot build the fixture sysfs tree: {e}; skipping");
            return;
        }
    };
    let text = fixtures::cli_config(256);
    let path = Path::new("bench.toml");
    let cfg = match api::parse_config(&text, path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("the 256-VF bench config does not parse: {e}; skipping");
            return;
        }
    };
    let state = match api::read_host(host.root()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot read the fixture host: {e}; skipping");
            return;
        }
    };
    // Sanity: the plan is valid and has work for every VF.
    let p = api::plan(&cfg, &state, Options::default());
    if !p.errors.is_empty() || p.changes.len() < 256 {
        eprintln!(
            "unexpected plan for the 256-VF fixture ({} changes, errors {:?}); skipping",
            p.changes.len(),
            p.errors
        );
        return;
    }
    let mut g = c.benchmark_group("sriov_cli");
    g.throughput(Throughput::Elements(256));
    g.bench_function("plan_diff_256", |b| {
        b.iter(|| {
            let p = api::plan(black_box(&cfg), black_box(&state), Options::default());
            api::diff(&p.changes, "bench.toml")
        });
    });
    g.bench_function("parse_config_256", |b| {
        b.iter(|| api::parse_config(black_box(&text), path));
    });
    // A quarter of the VFs, to see how parsing scales.
    let text_64 = fixtures::cli_config(64);
    g.throughput(Throughput::Elements(64));
    g.bench_function("parse_config_64", |b| {
        b.iter(|| api::parse_config(black_box(&text_64), path));
    });
    g.throughput(Throughput::Elements(256));
    g.bench_function("read_host_256", |b| {
        b.iter(|| api::read_host(black_box(host.root())));
    });
    g.finish();
}

/// The whole `setup --dry-run`, files and sysfs included.
fn setup_dry_run(c: &mut Criterion) {
    let (host, _pf) = match fixtures::sysfs_host(256) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot build the fixture sysfs tree: {e}; skipping");
            return;
        }
    };
    let cfg = host.root().join("bench.toml");
    if let Err(e) = std::fs::write(&cfg, fixtures::cli_config(256)) {
        eprintln!("cannot write {}: {e}; skipping", cfg.display());
        return;
    }
    let root = host.root().to_string_lossy().into_owned();
    let cfg = cfg.to_string_lossy().into_owned();
    let args = [
        "sriov-cli",
        "--root",
        root.as_str(),
        "setup",
        "--config",
        cfg.as_str(),
        "--dry-run",
    ];
    // Sanity: the config is valid for the fixture (exit 0), shown once.
    if let Err(code) = quiet(false, || sriov_cli::run(args)) {
        eprintln!("sriov-cli setup --dry-run exited {code} on the 256-VF fixture; skipping");
        return;
    }
    let mut g = c.benchmark_group("sriov_cli");
    g.throughput(Throughput::Elements(256));
    g.bench_function("setup_dry_run_256", |b| {
        quiet(true, || b.iter(|| sriov_cli::run(args)));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(4));
    targets = plan_and_diff, setup_dry_run
}
criterion_main!(benches);
