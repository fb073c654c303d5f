//! sysfs-sriov on a fixture tree: resolving 256 VFs (virtfnN links, netdevs,
//! drivers, IOMMU groups) and finding the PF by netdev name.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sriov_benches::fixtures;

fn resolve(c: &mut Criterion) {
    let (host, pf) = match fixtures::sysfs_host(256) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot build the fixture sysfs tree: {e}; skipping");
            return;
        }
    };
    let sysfs = host.sysfs();
    let mut g = c.benchmark_group("sysfs");
    g.throughput(Throughput::Elements(256));
    g.bench_function("vfs_256", |b| b.iter(|| sysfs.vfs(black_box(&pf))));
    g.finish();
    let mut g = c.benchmark_group("sysfs_pf");
    g.bench_function("find_pf_by_netdev", |b| {
        b.iter(|| sysfs.find_pf(black_box("enp59s0f0")))
    });
    g.bench_function("pfs", |b| b.iter(|| sysfs.pfs()));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    targets = resolve
}
criterion_main!(benches);
