//! GRUB defaults editor: no panic; an edited file still tokenizes, shows the
//! edit after re-parsing, and editing again is a no-op.
//! The property lives in `sriov_benches::props::grub` (replayed by `cargo test`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sriov_benches::props::grub(data);
});
