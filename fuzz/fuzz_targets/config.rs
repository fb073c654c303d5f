//! sriov-cli config: any file through `sriov_cli::api::parse_config` (and
//! `plan` + `diff` against a fixed in-memory host when it parses): no panic,
//! deterministic. The property lives in `sriov_benches::props::config`
//! (replayed by `cargo test`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sriov_benches::props::config(data);
});
