//! Kernel command-line parser and editor: byte-exact round trip, edits re-parse
//! to the same tokens and show their effect, edits and removals are idempotent.
//! The property lives in `sriov_benches::props::cmdline` (replayed by `cargo test`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sriov_benches::props::cmdline(data);
});
