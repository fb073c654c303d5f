//! `sriov-cli` plan + diff for 256 VFs on a fixture root: read the config,
//! read the (fixture) host, validate, plan, render the diff. Measured through
//! `sriov_cli::run(... setup --dry-run)`, the crate's only public entry point
//! (the plan/diff functions are private), with stdout sent to /dev/null.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sriov_benches::fixtures;

/// Runs `f` with fd 1 on /dev/null (the dry run prints a diff line per change).
fn quiet<T>(f: impl FnOnce() -> T) -> T {
    let saved = nix::unistd::dup(std::io::stdout()).ok();
    let _ = std::io::stdout().flush();
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    let r = f();
    let _ = std::io::stdout().flush();
    if let Some(fd) = saved {
        let _ = nix::unistd::dup2_stdout(&fd);
    }
    r
}

fn plan_and_diff(c: &mut Criterion) {
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
    if let Err(code) = quiet(|| sriov_cli::run(args)) {
        eprintln!("sriov-cli setup --dry-run exited {code} on the 256-VF fixture; skipping");
        return;
    }
    let mut g = c.benchmark_group("sriov_cli");
    g.throughput(Throughput::Elements(256));
    g.bench_function("setup_dry_run_256", |b| {
        quiet(|| b.iter(|| sriov_cli::run(args)));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(4));
    targets = plan_and_diff
}
criterion_main!(benches);
