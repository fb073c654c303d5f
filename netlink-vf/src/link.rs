//! Links (netdevs) as RTM_NEWLINK reports them.

use netlink_packet_core::NlasIterator;
use serde::Serialize;

use crate::error::Op;
use crate::types::{IfName, MacAddr};
use crate::vf::{parse_vfinfo_list, VfState, IFLA_VFINFO_LIST};
use crate::Error;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NUM_VF: u16 = 21;
const IFLA_STATS64: u16 = 23;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_PERM_ADDRESS: u16 = 54;
const IFLA_PARENT_DEV_NAME: u16 = 56;
const IFLA_PARENT_DEV_BUS_NAME: u16 = 57;
const IFLA_INFO_KIND: u16 = 1;

pub(crate) const IFF_UP: u32 = libc::IFF_UP as u32;
pub(crate) const IFF_PROMISC: u32 = libc::IFF_PROMISC as u32;
pub(crate) const IFF_LOWER_UP: u32 = 0x1_0000;

/// RFC 2863 operational state (IFLA_OPERSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperState {
    /// IF_OPER_UNKNOWN.
    Unknown,
    /// IF_OPER_NOTPRESENT.
    NotPresent,
    /// IF_OPER_DOWN.
    Down,
    /// IF_OPER_LOWERLAYERDOWN.
    LowerLayerDown,
    /// IF_OPER_TESTING.
    Testing,
    /// IF_OPER_DORMANT.
    Dormant,
    /// IF_OPER_UP.
    Up,
    /// A value newer than this crate.
    Other(u8),
}

impl OperState {
    fn from_raw(v: u8) -> Self {
        match v {
            0 => OperState::Unknown,
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            o => OperState::Other(o),
        }
    }
}

/// A link's own traffic counters (IFLA_STATS64, `struct rtnl_link_stats64`
/// in `include/uapi/linux/if_link.h`; what `ip -s link show` prints), the
/// ones a VF netdev's driver counts for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct LinkStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
    /// Multicast packets received.
    pub multicast: u64,
}

impl LinkStats {
    /// Decodes the leading fields of `struct rtnl_link_stats64` (native-endian
    /// u64s: rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped,
    /// multicast); `None` when the attribute is shorter than that.
    fn parse(v: &[u8]) -> Option<Self> {
        let f = |i: usize| -> Option<u64> {
            Some(u64::from_ne_bytes(
                v.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        Some(Self {
            rx_packets: f(0)?,
            tx_packets: f(1)?,
            rx_bytes: f(2)?,
            tx_bytes: f(3)?,
            rx_dropped: f(6)?,
            tx_dropped: f(7)?,
            multicast: f(8)?,
        })
    }
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: IfName,
    /// Raw `IFF_*` flags.
    pub flags: u32,
    /// IFF_UP (administratively up).
    pub up: bool,
    /// IFF_LOWER_UP (carrier).
    pub lower_up: bool,
    /// IFF_PROMISC: the promiscuous flag a user set (`ip link set X promisc
    /// on`, what `ip link` shows as `PROMISC`). A bridge port, a packet
    /// socket or tcpdump raises the kernel's counter ([`Link::promiscuity`])
    /// without setting this flag.
    pub promisc: bool,
    /// IFLA_PROMISCUITY: the kernel's promiscuity counter (every user of
    /// promiscuous mode, the flag included); `None` when not reported.
    pub promiscuity: Option<u32>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Hardware address, when it is a 6-byte MAC.
    pub mac: Option<MacAddr>,
    /// Permanent hardware address (IFLA_PERM_ADDRESS).
    pub perm_mac: Option<MacAddr>,
    /// Operational state.
    pub operstate: Option<OperState>,
    /// `IFLA_LINKINFO`/`IFLA_INFO_KIND` (`veth`, `bridge`, ...); `None` for
    /// hardware netdevs.
    pub kind: Option<String>,
    /// IFLA_LINK: the peer or lower device's index (veth peer, VLAN parent).
    pub link: Option<u32>,
    /// IFLA_MASTER.
    pub master: Option<u32>,
    /// IFLA_NUM_VF: number of VFs (PFs only, when asked with RTEXT_FILTER_VF).
    pub num_vfs: Option<u32>,
    /// IFLA_PARENT_DEV_NAME: e.g. the PCI address `0000:01:00.0`.
    pub parent_dev: Option<String>,
    /// IFLA_PARENT_DEV_BUS_NAME: e.g. `pci`.
    pub parent_bus: Option<String>,
    /// The VF table, when it was requested (RTEXT_FILTER_VF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vfs: Option<Vec<VfState>>,
    /// IFLA_STATS64: the link's own counters (`None` when not reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<LinkStats>,
}

/// `Link` without the name, filled while walking the attributes.
struct Fields {
    index: u32,
    flags: u32,
    up: bool,
    lower_up: bool,
    promisc: bool,
    promiscuity: Option<u32>,
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    perm_mac: Option<MacAddr>,
    operstate: Option<OperState>,
    kind: Option<String>,
    link: Option<u32>,
    master: Option<u32>,
    num_vfs: Option<u32>,
    parent_dev: Option<String>,
    parent_bus: Option<String>,
    vfs: Option<Vec<VfState>>,
    stats: Option<LinkStats>,
}

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn c_string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// `ifi_index` and `ifi_flags` of an RTM_NEWLINK/RTM_DELLINK payload, from
/// the fixed `struct ifinfomsg` alone: for waits that need no attribute, so
/// a link they do not care about can never fail them.
pub(crate) fn index_and_flags(payload: &[u8]) -> Option<(u32, u32)> {
    Some((u32_of(payload.get(4..8)?)?, u32_of(payload.get(8..12)?)?))
}

/// Parses an RTM_NEWLINK payload (`struct ifinfomsg` + attributes).
///
/// Only the attributes this crate models are decoded; everything else is
/// skipped, so new kernel attributes can never break parsing.
///
/// # Errors
/// [`Error::Decode`] when the header or an attribute header is malformed.
pub fn parse_link(payload: &[u8]) -> Result<Link, Error> {
    parse_link_op(payload, Op::GetLink)
}

pub(crate) fn parse_link_op(payload: &[u8], op: Op) -> Result<Link, Error> {
    if payload.len() < 16 {
        return Err(Error::decode(op, "short ifinfomsg"));
    }
    let index = u32_of(&payload[4..8]).unwrap_or(0);
    let flags = u32_of(&payload[8..12]).unwrap_or(0);
    let mut name: Option<IfName> = None;
    let mut l = Fields {
        index,
        flags,
        up: flags & IFF_UP != 0,
        lower_up: flags & IFF_LOWER_UP != 0,
        promisc: flags & IFF_PROMISC != 0,
        promiscuity: None,
        mtu: None,
        mac: None,
        perm_mac: None,
        operstate: None,
        kind: None,
        link: None,
        master: None,
        num_vfs: None,
        parent_dev: None,
        parent_bus: None,
        vfs: None,
        stats: None,
    };
    for nla in NlasIterator::new(&payload[16..]) {
        let nla = nla.map_err(|e| Error::decode(op, format!("link attribute: {e}")))?;
        let v = nla.value();
        match nla.kind() {
            IFLA_IFNAME => {
                let s = c_string(v);
                name = Some(
                    IfName::new(&s)
                        .map_err(|e| Error::decode(op, format!("kernel link name: {e}")))?,
                );
            }
            IFLA_ADDRESS if v.len() == 6 => l.mac = MacAddr::from_slice(v),
            IFLA_PERM_ADDRESS if v.len() == 6 => l.perm_mac = MacAddr::from_slice(v),
            IFLA_MTU => l.mtu = u32_of(v),
            IFLA_LINK => l.link = u32_of(v),
            IFLA_MASTER => l.master = u32_of(v),
            IFLA_OPERSTATE => l.operstate = v.first().map(|b| OperState::from_raw(*b)),
            IFLA_NUM_VF => l.num_vfs = u32_of(v),
            IFLA_PROMISCUITY => l.promiscuity = u32_of(v),
            IFLA_PARENT_DEV_NAME => l.parent_dev = Some(c_string(v)),
            IFLA_PARENT_DEV_BUS_NAME => l.parent_bus = Some(c_string(v)),
            IFLA_LINKINFO => {
                for inner in NlasIterator::new(v) {
                    let Ok(inner) = inner else { break };
                    if inner.kind() == IFLA_INFO_KIND {
                        l.kind = Some(c_string(inner.value()));
                    }
                }
            }
            IFLA_VFINFO_LIST => l.vfs = Some(parse_vfinfo_list(v)?),
            IFLA_STATS64 => l.stats = LinkStats::parse(v),
            _ => {}
        }
    }
    let name =
        name.ok_or_else(|| Error::decode(op, format!("link {index} without IFLA_IFNAME")))?;
    Ok(Link {
        index: l.index,
        name,
        flags: l.flags,
        up: l.up,
        lower_up: l.lower_up,
        promisc: l.promisc,
        promiscuity: l.promiscuity,
        mtu: l.mtu,
        mac: l.mac,
        perm_mac: l.perm_mac,
        operstate: l.operstate,
        kind: l.kind,
        link: l.link,
        master: l.master,
        num_vfs: l.num_vfs,
        parent_dev: l.parent_dev,
        parent_bus: l.parent_bus,
        vfs: l.vfs,
        stats: l.stats,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// An RTM_NEWLINK payload: `struct ifinfomsg`, IFLA_IFNAME, and an
    /// IFLA_STATS64 of `len` bytes whose u64 number i holds i + 1.
    fn payload(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; 16];
        p[4..8].copy_from_slice(&7u32.to_ne_bytes());
        let mut nla = |kind: u16, v: &[u8]| {
            p.extend_from_slice(&u16::try_from(4 + v.len()).unwrap().to_ne_bytes());
            p.extend_from_slice(&kind.to_ne_bytes());
            p.extend_from_slice(v);
            while !p.len().is_multiple_of(4) {
                p.push(0);
            }
        };
        nla(IFLA_IFNAME, b"eth0\0");
        let stats: Vec<u8> = (1..=(len / 8) as u64).flat_map(u64::to_ne_bytes).collect();
        nla(IFLA_STATS64, &stats);
        p
    }

    #[test]
    fn stats64_fields_come_from_their_offsets() {
        // rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes,
        // rx_errors, tx_errors, rx_dropped, tx_dropped, multicast, ...
        let l = parse_link(&payload(25 * 8)).unwrap();
        let s = l.stats.unwrap();
        assert_eq!(
            (s.rx_packets, s.tx_packets, s.rx_bytes, s.tx_bytes),
            (1, 2, 3, 4)
        );
        assert_eq!((s.rx_dropped, s.tx_dropped, s.multicast), (7, 8, 9));
    }

    #[test]
    fn a_short_stats64_is_no_stats_not_an_error() {
        let l = parse_link(&payload(8 * 8)).unwrap();
        assert_eq!(l.stats, None);
        assert_eq!(l.name.as_str(), "eth0");
    }
}
