//! PCI address parsing: canonical print, parse(print(a)) == a, routing id round trip.
//! The property lives in `sriov_benches::props::pci` (replayed by `cargo test`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sriov_benches::props::pci(data);
});
