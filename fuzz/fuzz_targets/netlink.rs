//! Netlink link / VFINFO parsers: no panic on any bytes; VF configs derived from
//! the input survive our encoder + parser round trip.
//! The property lives in `sriov_benches::props::netlink` (replayed by `cargo test`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sriov_benches::props::netlink(data);
});
