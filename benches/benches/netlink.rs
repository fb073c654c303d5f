//! netlink-vf without a kernel: building the one-message VF request and
//! parsing a VF table dump (the bytes of `fixtures`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sriov_benches::fixtures;

fn set_vfs_request(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_vfs_request");
    for n in [8u32, 64, 256] {
        let Ok(configs) = fixtures::vf_configs(n) else {
            eprintln!("vf_configs({n}) failed; skipping");
            continue;
        };
        g.throughput(Throughput::Elements(u64::from(n)));
        g.bench_with_input(BenchmarkId::from_parameter(n), &configs, |b, configs| {
            b.iter(|| netlink_vf::set_vfs_request_bytes(black_box(2), black_box(configs), 1));
        });
    }
    g.finish();
}

fn parse_dump(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_vfinfo");
    let list = fixtures::vfinfo_list(256, true);
    let link = fixtures::pf_link_payload("enp59s0f0", 256, true);
    g.throughput(Throughput::Elements(256));
    g.bench_function("vfinfo_list_256_stats", |b| {
        b.iter(|| netlink_vf::parse_vfinfo_list(black_box(&list)));
    });
    g.bench_function("newlink_256_stats", |b| {
        b.iter(|| netlink_vf::parse_link(black_box(&link)));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = set_vfs_request, parse_dump
}
criterion_main!(benches);
