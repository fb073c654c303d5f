//! Byte-level: the request this crate builds for each VF attribute equals the
//! one iproute2 sends for the same `ip link set ... vf ...` command.
//!
//! The fixtures in `tests/fixtures/iproute2/` were captured with strace (see
//! `capture.sh` there; each file names the command and the iproute2 version).
//! Compared: everything except `nlmsg_seq`/`nlmsg_pid` (per process) and
//! `nlmsg_type`: iproute2 sends RTM_NEWLINK (16) without NLM_F_CREATE, this
//! crate sends RTM_SETLINK (19); the kernel handles both in `do_setlink()`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use netlink_vf::{set_vfs_request_bytes, LinkState, VfConfig, VlanConfig, VlanId, VlanProto};

struct Fixture {
    command: String,
    ifindex: u32,
    bytes: Vec<u8>,
}

fn load(name: &str) -> Fixture {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/iproute2")
        .join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut command = String::new();
    let mut ifindex = None;
    let mut bytes = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# command: ") {
            command = c.to_owned();
        } else if let Some(i) = line.find("(v0 ifindex ") {
            let rest = &line[i + "(v0 ifindex ".len()..];
            ifindex = Some(rest.trim_end_matches(')').parse().unwrap());
        } else if !line.starts_with('#') {
            bytes.extend(
                line.split_whitespace()
                    .map(|b| u8::from_str_radix(b, 16).unwrap()),
            );
        }
    }
    assert!(command.starts_with("ip link set v0 vf "), "{command}");
    Fixture {
        command,
        ifindex: ifindex.expect("fixture names the ifindex"),
        bytes,
    }
}

fn check(name: &str, cfg: VfConfig) {
    let f = load(name);
    let ours = set_vfs_request_bytes(f.ifindex, std::slice::from_ref(&cfg), 0x1234_5678);
    assert_eq!(
        ours.len(),
        f.bytes.len(),
        "{name}: length differs for `{}`",
        f.command
    );
    // nlmsg_len
    assert_eq!(ours[0..4], f.bytes[0..4], "{name}: nlmsg_len");
    // nlmsg_type: RTM_NEWLINK in iproute2, RTM_SETLINK here
    assert_eq!(
        u16::from_ne_bytes([f.bytes[4], f.bytes[5]]),
        16,
        "{name}: iproute2 type"
    );
    assert_eq!(
        u16::from_ne_bytes([ours[4], ours[5]]),
        19,
        "{name}: our type"
    );
    // nlmsg_flags: NLM_F_REQUEST | NLM_F_ACK in both
    assert_eq!(ours[6..8], f.bytes[6..8], "{name}: flags");
    assert_eq!(u16::from_ne_bytes([ours[6], ours[7]]), 0x5);
    // skip seq (8..12) and pid (12..16); everything after must be identical
    assert_eq!(
        ours[16..],
        f.bytes[16..],
        "{name}: body differs for `{}`",
        f.command
    );
}

fn vlan(id: u16) -> VlanConfig {
    VlanConfig::new(VlanId::new(id).unwrap())
}

#[test]
fn mac() {
    check(
        "mac",
        VfConfig::new(0).mac("02:11:22:33:44:55".parse().unwrap()),
    );
}

#[test]
fn vlan_and_qos() {
    check(
        "vlan_qos",
        VfConfig::new(0).vlan(vlan(5).qos("2".parse().unwrap())),
    );
}

#[test]
fn vlan_clear() {
    check("vlan_clear", VfConfig::new(0).vlan(VlanConfig::none()));
}

#[test]
fn vlan_proto_8021ad() {
    check(
        "vlan_8021ad",
        VfConfig::new(0).vlan(vlan(5).qos("2".parse().unwrap()).proto(VlanProto::Dot1Ad)),
    );
}

#[test]
fn rate() {
    check("rate", VfConfig::new(0).max_tx_rate(1000).min_tx_rate(100));
}

#[test]
fn spoofchk() {
    check("spoofchk_on", VfConfig::new(0).spoofchk(true));
    check("spoofchk_off", VfConfig::new(0).spoofchk(false));
}

#[test]
fn trust() {
    check("trust_on", VfConfig::new(0).trust(true));
}

#[test]
fn link_state() {
    check(
        "state_disable",
        VfConfig::new(0).link_state(LinkState::Disable),
    );
    check("state_auto", VfConfig::new(0).link_state(LinkState::Auto));
}

#[test]
fn query_rss() {
    check("query_rss_on", VfConfig::new(0).query_rss(true));
}

#[test]
fn every_attribute_in_iproute2_order() {
    check(
        "all_vf7",
        VfConfig::new(7)
            .mac("02:aa:bb:cc:dd:07".parse().unwrap())
            .vlan(vlan(50).qos("3".parse().unwrap()))
            .spoofchk(false)
            .query_rss(true)
            .link_state(LinkState::Enable)
            .trust(true)
            .max_tx_rate(1000)
            .min_tx_rate(100),
    );
}

#[test]
fn many_vfs_share_one_vfinfo_list() {
    // Not an iproute2 capture (iproute2 sends one VF per request): two VFs are
    // the two single-VF IFLA_VF_INFO nests back to back in one IFLA_VFINFO_LIST.
    let a = load("vlan_qos");
    let b = load("trust_on");
    let ours = set_vfs_request_bytes(
        a.ifindex,
        &[
            VfConfig::new(0).vlan(vlan(5).qos("2".parse().unwrap())),
            VfConfig::new(0).trust(true),
        ],
        1,
    );
    let vf_info_a = &a.bytes[36..];
    let vf_info_b = &b.bytes[36..];
    assert_eq!(&ours[36..36 + vf_info_a.len()], vf_info_a);
    assert_eq!(&ours[36 + vf_info_a.len()..], vf_info_b);
    let list_len = u16::from_ne_bytes([ours[32], ours[33]]) as usize;
    assert_eq!(list_len, 4 + vf_info_a.len() + vf_info_b.len());
}
