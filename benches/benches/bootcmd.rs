//! bootcmd: parsing and editing kernel command lines and GRUB defaults files.

use std::hint::black_box;
use std::time::Duration;

use bootcmd::{grub, iommu_edits, Cmdline, CpuVendor};
use criterion::{criterion_group, criterion_main, Criterion};
use sriov_benches::fixtures;

fn cmdline(c: &mut Criterion) {
    let mut g = c.benchmark_group("cmdline");
    let edits = iommu_edits(CpuVendor::Intel);
    g.bench_function("parse_4_lines", |b| {
        b.iter(|| {
            for l in fixtures::CMDLINES {
                black_box(Cmdline::parse(black_box(l)));
            }
        })
    });
    g.bench_function("parse_edit_print_4_lines", |b| {
        b.iter(|| {
            for l in fixtures::CMDLINES {
                let mut c = Cmdline::parse(black_box(l));
                let _ = c.apply(&edits);
                black_box(c.to_bytes());
            }
        })
    });
    g.finish();
}

fn grub_files(c: &mut Criterion) {
    let mut g = c.benchmark_group("grub");
    let edits = iommu_edits(CpuVendor::Intel);
    for (name, text) in [
        ("debian", fixtures::GRUB_DEBIAN),
        ("edited", fixtures::GRUB_EDITED),
    ] {
        g.bench_function(format!("parse_{name}"), |b| {
            b.iter(|| {
                grub::GrubDefaults::from_texts(vec![(
                    "/etc/default/grub".into(),
                    black_box(text).to_owned(),
                )])
            })
        });
        g.bench_function(format!("edit_{name}"), |b| {
            b.iter(|| grub::edit_text(black_box(text), &edits))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = cmdline, grub_files
}
criterion_main!(benches);
