//! A 72-VF RTM_NEWLINK with IFLA_VFINFO_LIST and per-VF stats, tested both
//! ways: value -> bytes (netlink-packet-route emits exactly the fixture) and
//! bytes -> value (this crate parses the fixture into the expected `VfState`s).
//!
//! The fixture is *built*, not captured (there is no SR-IOV NIC on the build
//! host): `NETLINK_VF_REGEN_FIXTURES=1 cargo test -p netlink-vf --test vfinfo_list`
//! rewrites it from `build()` below. Attribute order per VF follows the
//! kernel's `rtnl_fill_vfinfo()`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_MULTIPART,
};
use netlink_packet_route::link::{
    LinkAttribute, LinkFlags, LinkHeader, LinkLayerType, LinkMessage, LinkVfInfo, VfInfo,
    VfInfoBroadcast, VfInfoLinkState, VfInfoMac, VfInfoRate, VfInfoRssQueryEn, VfInfoSpoofCheck,
    VfInfoTrust, VfInfoTxRate, VfInfoVlan, VfLinkState, VfStats as NprVfStats, VfVlan, VfVlanInfo,
    VlanProtocol,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_vf::{parse_link, parse_vfinfo_list, LinkState, MacAddr, VfState, VfStats, VlanProto};

const NUM_VFS: u32 = 72;
const PF_INDEX: u32 = 4;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vfinfo_list_72vfs_stats.hex")
}

fn mac_of(i: u32) -> [u8; 6] {
    if i % 8 == 7 {
        [0; 6] // no administrative MAC set
    } else {
        [0x02, 0, 0, 0x5f, (i >> 8) as u8, i as u8]
    }
}

fn vlan_of(i: u32) -> (u32, u32, VlanProtocol) {
    if i.is_multiple_of(5) {
        (0, 0, VlanProtocol::Ieee8021Q)
    } else if i.is_multiple_of(3) {
        (100 + i, i % 8, VlanProtocol::Ieee8021Ad)
    } else {
        (100 + i, i % 8, VlanProtocol::Ieee8021Q)
    }
}

fn rates_of(i: u32) -> (u32, u32) {
    (
        (i % 4) * 100,
        if i.is_multiple_of(6) { 0 } else { 1000 + i },
    )
}

fn stats_of(i: u32) -> VfStats {
    let i = u64::from(i);
    let mut s = VfStats::default();
    s.rx_packets = 1000 * i + 1;
    s.tx_packets = 1000 * i + 2;
    s.rx_bytes = (i << 33) | 3;
    s.tx_bytes = (i << 34) | 4;
    s.broadcast = i;
    s.multicast = 2 * i;
    s.rx_dropped = Some(3 * i);
    s.tx_dropped = Some(4 * i);
    s
}

/// The VF as netlink-packet-route values, in rtnl_fill_vfinfo() order.
fn vf_info(i: u32) -> LinkVfInfo {
    let (vlan, qos, proto) = vlan_of(i);
    let (min, max) = rates_of(i);
    let s = stats_of(i);
    let minus_one = |kind: u16| {
        let mut v = i.to_ne_bytes().to_vec();
        v.extend_from_slice(&u32::MAX.to_ne_bytes());
        VfInfo::Other(DefaultNla::new(kind, v))
    };
    let mut v = vec![
        VfInfo::Mac(VfInfoMac::new(i, &mac_of(i))),
        VfInfo::Broadcast(VfInfoBroadcast::new(&[0xff; 6])),
        VfInfo::Vlan(VfInfoVlan::new(i, vlan, qos)),
        VfInfo::Rate(VfInfoRate::new(i, min, max)),
        VfInfo::TxRate(VfInfoTxRate::new(i, max)),
    ];
    // Drivers that do not implement a setting leave the kernel's -1.
    if i.is_multiple_of(7) {
        v.push(minus_one(4)); // IFLA_VF_SPOOFCHK
    } else {
        v.push(VfInfo::SpoofCheck(VfInfoSpoofCheck::new(
            i,
            i.is_multiple_of(2),
        )));
    }
    let ls = match i % 3 {
        0 => VfLinkState::Auto,
        1 => VfLinkState::Enable,
        _ => VfLinkState::Disable,
    };
    v.push(VfInfo::LinkState(VfInfoLinkState::new(i, ls)));
    if i.is_multiple_of(7) {
        v.push(minus_one(7)); // IFLA_VF_RSS_QUERY_EN
        v.push(minus_one(9)); // IFLA_VF_TRUST
    } else {
        v.push(VfInfo::RssQueryEn(VfInfoRssQueryEn::new(i, i % 2 == 1)));
        v.push(VfInfo::Trust(VfInfoTrust::new(i, i.is_multiple_of(4))));
    }
    v.push(VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
        i, vlan, qos, proto,
    ))]));
    v.push(VfInfo::Stats(vec![
        NprVfStats::RxPackets(s.rx_packets),
        NprVfStats::TxPackets(s.tx_packets),
        NprVfStats::RxBytes(s.rx_bytes),
        NprVfStats::TxBytes(s.tx_bytes),
        NprVfStats::Broadcast(s.broadcast),
        NprVfStats::Multicast(s.multicast),
        NprVfStats::RxDropped(s.rx_dropped.unwrap()),
        NprVfStats::TxDropped(s.tx_dropped.unwrap()),
    ]));
    LinkVfInfo(v)
}

/// What this crate must make of VF `i`.
fn expected(i: u32) -> VfState {
    let (vlan, qos, proto) = vlan_of(i);
    let (min, max) = rates_of(i);
    let mut v = VfState::default();
    v.index = i;
    v.mac = Some(MacAddr(mac_of(i)));
    v.vlan = if vlan == 0 {
        None
    } else {
        Some(netlink_vf::VlanId::new(vlan as u16).unwrap())
    };
    v.qos = Some(netlink_vf::Qos::new(qos as u8).unwrap());
    v.vlan_proto = Some(if proto == VlanProtocol::Ieee8021Ad {
        VlanProto::Dot1Ad
    } else {
        VlanProto::Dot1Q
    });
    v.min_tx_rate = Some(min);
    v.max_tx_rate = Some(max);
    v.spoofchk = if i.is_multiple_of(7) {
        None
    } else {
        Some(i.is_multiple_of(2))
    };
    v.trust = if i.is_multiple_of(7) {
        None
    } else {
        Some(i.is_multiple_of(4))
    };
    v.link_state = Some(match i % 3 {
        0 => LinkState::Auto,
        1 => LinkState::Enable,
        _ => LinkState::Disable,
    });
    v.query_rss = if i.is_multiple_of(7) {
        None
    } else {
        Some(i % 2 == 1)
    };
    v.stats = Some(stats_of(i));
    v
}

fn link_message() -> LinkMessage {
    let header = LinkHeader {
        interface_family: AddressFamily::Unspec,
        index: PF_INDEX,
        link_layer_type: LinkLayerType::Ether,
        flags: LinkFlags::Up
            | LinkFlags::Broadcast
            | LinkFlags::Multicast
            | LinkFlags::LowerUp
            | LinkFlags::Running,
        ..LinkHeader::default()
    };
    let mut m = LinkMessage::default();
    m.header = header;
    m.attributes = vec![
        LinkAttribute::IfName("enp1s0f0".into()),
        LinkAttribute::Mtu(1500),
        LinkAttribute::Address(vec![0x52, 0x54, 0, 0x12, 0x34, 0x56]),
        LinkAttribute::NumVf(NUM_VFS),
        LinkAttribute::VfInfoList((0..NUM_VFS).map(vf_info).collect()),
    ];
    m
}

/// The whole datagram: one RTM_NEWLINK as the kernel answers a GETLINK.
fn build() -> Vec<u8> {
    let mut h = NetlinkHeader::default();
    h.sequence_number = 1;
    h.port_number = 0;
    h.flags = 0;
    let _ = NLM_F_MULTIPART;
    let mut msg = NetlinkMessage::new(
        h,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link_message())),
    );
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

fn to_hex(b: &[u8]) -> String {
    let mut s = String::new();
    for line in b.chunks(16) {
        let l: Vec<String> = line.iter().map(|x| format!("{x:02x}")).collect();
        s.push_str(&l.join(" "));
        s.push('\n');
    }
    s
}

fn read_fixture() -> Vec<u8> {
    let text = std::fs::read_to_string(fixture_path()).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| {
            l.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn value_to_bytes_matches_the_fixture() {
    let bytes = build();
    if std::env::var_os("NETLINK_VF_REGEN_FIXTURES").is_some() {
        let header = format!(
            "# RTM_NEWLINK for PF enp1s0f0 (ifindex {PF_INDEX}) with IFLA_NUM_VF {NUM_VFS} and an IFLA_VFINFO_LIST of\n\
             # {NUM_VFS} VFs with IFLA_VF_STATS, {} bytes in one message (a 256-VF PF is about 75 KiB).\n\
             # NOT a capture: built by emitting netlink-packet-route 0.34 types in netlink-vf/tests/vfinfo_list.rs\n\
             # (NETLINK_VF_REGEN_FIXTURES=1 cargo test -p netlink-vf --test vfinfo_list). Per-VF attribute order\n\
             # follows the kernel's rtnl_fill_vfinfo(); some VFs carry the kernel's -1 \"unknown\" for\n\
             # spoofchk/query_rss/trust. Hex, native (x86_64 little-endian) byte order.\n",
            bytes.len()
        );
        std::fs::write(fixture_path(), header + &to_hex(&bytes)).unwrap();
    }
    assert_eq!(
        read_fixture(),
        bytes,
        "fixture differs from the emitted value; regenerate?"
    );
    assert!(bytes.len() > 16 * 1024);
}

#[test]
fn bytes_to_value_parses_every_vf() {
    let bytes = read_fixture();
    // skip nlmsghdr
    let link = parse_link(&bytes[16..]).unwrap();
    assert_eq!(link.index, PF_INDEX);
    assert_eq!(link.name.as_str(), "enp1s0f0");
    assert_eq!(link.num_vfs, Some(NUM_VFS));
    assert!(link.up);
    let vfs = link.vfs.unwrap();
    assert_eq!(vfs.len(), NUM_VFS as usize);
    for (i, vf) in vfs.iter().enumerate() {
        assert_eq!(vf, &expected(i as u32), "VF {i}");
    }
    // zero MAC is reported as a zero MAC, not dropped
    assert!(vfs[7].mac.unwrap().is_zero());
}

#[test]
fn netlink_packet_route_round_trips_the_fixture() {
    use netlink_packet_core::NetlinkDeserializable;
    let bytes = read_fixture();
    let mut h = NetlinkHeader::default();
    h.message_type = 16;
    let parsed = RouteNetlinkMessage::deserialize(&h, &bytes[16..]).unwrap();
    let RouteNetlinkMessage::NewLink(m) = parsed else {
        panic!("not a NewLink")
    };
    // npr folds the -1 markers into `false`, so compare a VF without them
    let vfl = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::VfInfoList(v) => Some(v),
        _ => None,
    });
    assert_eq!(vfl.unwrap().len(), NUM_VFS as usize);
    assert_eq!(vfl.unwrap()[1], vf_info(1));
}

#[test]
fn bare_vfinfo_list_value_parses() {
    // parse_vfinfo_list takes the attribute value: find it in the fixture
    let bytes = read_fixture();
    let list = LinkAttribute::VfInfoList((0..NUM_VFS).map(vf_info).collect());
    let mut buf = vec![0; netlink_packet_core::Emitable::buffer_len(&list)];
    netlink_packet_core::Emitable::emit(&list, &mut buf);
    let value = &buf[4..];
    let pos = bytes.windows(value.len()).position(|w| w == value).unwrap();
    assert!(pos > 16);
    let vfs = parse_vfinfo_list(value).unwrap();
    assert_eq!(vfs.len(), NUM_VFS as usize);
    assert_eq!(vfs[70], expected(70));
}
