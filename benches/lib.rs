//! Shared code of the benchmarks, the fuzz targets and the corpus tests.
//!
//! * [`fixtures`]: the inputs of the criterion benchmarks (VF requests, a
//!   VFINFO_LIST dump as the kernel lays it out, command lines, fixture sysfs
//!   trees). Inputs are always fixtures, never the live system.
//! * [`props`]: one property function per fuzzed parser. `fuzz/fuzz_targets/*`
//!   call them on fuzzer input, and `tests/fuzz_corpus.rs` calls them on every
//!   committed corpus and regression file, so `cargo test --workspace` replays
//!   what the fuzzers found without needing cargo-fuzz or a nightly toolchain.
//!
//! ```
//! // The property functions panic exactly when an invariant is broken.
//! sriov_benches::props::pci(b"0000:02:00.0");
//! sriov_benches::props::cmdline(b"root=/dev/sda1 quiet intel_iommu=on\n");
//! sriov_benches::props::config(b"[[pf]]\nname = \"eth0\"\nnum_vfs = 2\n");
//! ```

pub mod fixtures;
pub mod props;

/// Fuzz target names, each a directory under `fuzz/corpus/` and
/// `fuzz/regressions/`, and a function in [`props`] (see [`props::run`]).
pub const TARGETS: &[&str] = &["cmdline", "grub", "netlink", "config", "pci"];
