//! sriov-cli config: any file through `setup --dry-run` on a fixture root: no panic.
//! The property lives in `sriov_benches::props::config` (replayed by `cargo test`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sriov_benches::props::config(data);
});
