//! VF attributes: the typed VF table (read side) and VF configuration requests
//! (write side), both as pure functions over bytes / `netlink-packet-route` values.

use netlink_packet_core::NlasIterator;
use netlink_packet_route::link::{
    LinkAttribute, LinkHeader, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac,
    VfInfoRate, VfInfoRssQueryEn, VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan,
    VfVlanInfo, VlanProtocol,
};
use netlink_packet_route::RouteNetlinkMessage;
use serde::Serialize;

use crate::error::{LinkRef, Op};
use crate::types::{LinkState, MacAddr, Qos, VlanId, VlanProto};
use crate::Error;

// include/uapi/linux/if_link.h
pub(crate) const IFLA_VFINFO_LIST: u16 = 22;
const IFLA_VF_INFO: u16 = 1;
const IFLA_VF_MAC: u16 = 1;
const IFLA_VF_VLAN: u16 = 2;
const IFLA_VF_TX_RATE: u16 = 3;
const IFLA_VF_SPOOFCHK: u16 = 4;
const IFLA_VF_LINK_STATE: u16 = 5;
const IFLA_VF_RATE: u16 = 6;
const IFLA_VF_RSS_QUERY_EN: u16 = 7;
const IFLA_VF_STATS: u16 = 8;
const IFLA_VF_TRUST: u16 = 9;
const IFLA_VF_VLAN_LIST: u16 = 12;
const IFLA_VF_VLAN_INFO: u16 = 1;

/// PF drivers known to keep no per-VF counters: their `net_device_ops` have
/// no `ndo_get_vf_stats`, and `rtnl_fill_vfinfo()` (net/core/rtnetlink.c)
/// sends IFLA_VF_STATS zeroed for them anyway, so a 0 there means "not
/// counted", not "no traffic". igb: `igb_netdev_ops` in
/// drivers/net/ethernet/intel/igb/igb_main.c (checked with `nm` on the igb.ko
/// of Debian's 6.1 and backports kernels on the test bed, and on the wire:
/// VF netdev counters grew while IFLA_VF_STATS stayed 0).
pub const DRIVERS_WITHOUT_VF_STATS: &[&str] = &["igb"];

/// Whether IFLA_VF_STATS from a PF bound to `driver` are counters: `false`
/// for the [`DRIVERS_WITHOUT_VF_STATS`], whose zeros mean "not counted".
///
/// ```
/// assert!(!netlink_vf::driver_counts_vf_stats("igb"));
/// assert!(netlink_vf::driver_counts_vf_stats("mlx5_core"));
/// ```
pub fn driver_counts_vf_stats(driver: &str) -> bool {
    !DRIVERS_WITHOUT_VF_STATS.contains(&driver)
}

/// Per-VF traffic counters (IFLA_VF_STATS), as the PF driver reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct VfStats {
    /// IFLA_VF_STATS_RX_PACKETS.
    pub rx_packets: u64,
    /// IFLA_VF_STATS_TX_PACKETS.
    pub tx_packets: u64,
    /// IFLA_VF_STATS_RX_BYTES.
    pub rx_bytes: u64,
    /// IFLA_VF_STATS_TX_BYTES.
    pub tx_bytes: u64,
    /// IFLA_VF_STATS_BROADCAST.
    pub broadcast: u64,
    /// IFLA_VF_STATS_MULTICAST.
    pub multicast: u64,
    /// IFLA_VF_STATS_RX_DROPPED (absent before Linux 4.16: `None`).
    pub rx_dropped: Option<u64>,
    /// IFLA_VF_STATS_TX_DROPPED (absent before Linux 4.16: `None`).
    pub tx_dropped: Option<u64>,
}

/// The state of one VF as the PF reports it (`ip link show PF` "vf N" lines).
///
/// Fields are `None` where the kernel did not report a value (the attribute was
/// missing, or the driver left the kernel's "unknown" marker, `-1`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct VfState {
    /// VF number (0-based, as in `ip link set PF vf N`).
    pub index: u32,
    /// Administrative MAC; `00:00:00:00:00:00` when none was set.
    pub mac: Option<MacAddr>,
    /// VLAN id; `None` when the VF is untagged (kernel value 0).
    pub vlan: Option<VlanId>,
    /// VLAN priority.
    pub qos: Option<Qos>,
    /// VLAN protocol (only reported with IFLA_VF_VLAN_LIST).
    pub vlan_proto: Option<VlanProto>,
    /// Minimum TX rate in Mbit/s (0 = unlimited).
    pub min_tx_rate: Option<u32>,
    /// Maximum TX rate in Mbit/s (0 = unlimited).
    pub max_tx_rate: Option<u32>,
    /// Spoof checking.
    pub spoofchk: Option<bool>,
    /// Trusted VF (may change MAC, enable promisc/multicast).
    pub trust: Option<bool>,
    /// Administrative link state.
    pub link_state: Option<LinkState>,
    /// RSS query enabled.
    pub query_rss: Option<bool>,
    /// Counters; present when requested and the driver reports them.
    pub stats: Option<VfStats>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// `struct ifla_vf_spoofchk`-style `{ __u32 vf; __u32 setting; }`; the kernel
/// pre-fills `setting` with -1 and drivers that do not know leave it so.
fn tristate(b: &[u8]) -> Option<bool> {
    match u32_at(b, 4)? {
        u32::MAX => None,
        0 => Some(false),
        _ => Some(true),
    }
}

fn parse_stats(b: &[u8], op: Op) -> Result<VfStats, Error> {
    let mut s = VfStats::default();
    for nla in NlasIterator::new(b) {
        let nla = nla.map_err(|e| Error::decode(op, format!("IFLA_VF_STATS: {e}")))?;
        let Some(v) = u64_at(nla.value(), 0) else {
            continue;
        };
        match nla.kind() {
            0 => s.rx_packets = v,
            1 => s.tx_packets = v,
            2 => s.rx_bytes = v,
            3 => s.tx_bytes = v,
            4 => s.broadcast = v,
            5 => s.multicast = v,
            7 => s.rx_dropped = Some(v),
            8 => s.tx_dropped = Some(v),
            _ => {} // 6 is IFLA_VF_STATS_PAD; newer counters are ignored
        }
    }
    Ok(s)
}

/// Parses one IFLA_VF_INFO nest.
pub(crate) fn parse_vf_info(b: &[u8], op: Op) -> Result<VfState, Error> {
    let mut st = VfState::default();
    let mut index: Option<u32> = None;
    let mut set_index = |vf: Option<u32>| {
        if index.is_none() {
            index = vf;
        }
    };
    for nla in NlasIterator::new(b) {
        let nla = nla.map_err(|e| Error::decode(op, format!("IFLA_VF_INFO: {e}")))?;
        let v = nla.value();
        match nla.kind() {
            IFLA_VF_MAC => {
                set_index(u32_at(v, 0));
                st.mac = v.get(4..).and_then(MacAddr::from_slice);
            }
            IFLA_VF_VLAN => {
                set_index(u32_at(v, 0));
                if let (Some(vlan), Some(qos)) = (u32_at(v, 4), u32_at(v, 8)) {
                    st.vlan = u16::try_from(vlan).ok().and_then(|x| VlanId::new(x).ok());
                    st.qos = u8::try_from(qos).ok().and_then(|x| Qos::new(x).ok());
                }
            }
            IFLA_VF_VLAN_LIST => {
                // struct ifla_vf_vlan_info { vf, vlan, qos, __be16 vlan_proto }
                for inner in NlasIterator::new(v) {
                    let inner =
                        inner.map_err(|e| Error::decode(op, format!("IFLA_VF_VLAN_LIST: {e}")))?;
                    if inner.kind() != IFLA_VF_VLAN_INFO {
                        continue;
                    }
                    let iv = inner.value();
                    if let Some(p) = iv.get(12..14) {
                        st.vlan_proto = VlanProto::from_ethertype(u16::from_be_bytes([p[0], p[1]]));
                    }
                    break; // the first entry is the one `ip link` shows
                }
            }
            IFLA_VF_TX_RATE => {
                set_index(u32_at(v, 0));
                if st.max_tx_rate.is_none() {
                    st.max_tx_rate = u32_at(v, 4);
                }
            }
            IFLA_VF_RATE => {
                set_index(u32_at(v, 0));
                st.min_tx_rate = u32_at(v, 4);
                st.max_tx_rate = u32_at(v, 8).or(st.max_tx_rate);
            }
            IFLA_VF_SPOOFCHK => {
                set_index(u32_at(v, 0));
                st.spoofchk = tristate(v);
            }
            IFLA_VF_TRUST => {
                set_index(u32_at(v, 0));
                st.trust = tristate(v);
            }
            IFLA_VF_RSS_QUERY_EN => {
                set_index(u32_at(v, 0));
                st.query_rss = tristate(v);
            }
            IFLA_VF_LINK_STATE => {
                set_index(u32_at(v, 0));
                st.link_state = u32_at(v, 4).and_then(LinkState::from_raw);
            }
            IFLA_VF_STATS => st.stats = Some(parse_stats(v, op)?),
            _ => {} // IB GUIDs, broadcast, future attributes
        }
    }
    st.index = index.ok_or_else(|| Error::decode(op, "IFLA_VF_INFO without a VF number"))?;
    Ok(st)
}

/// Parses the value of an IFLA_VFINFO_LIST attribute into typed VF states.
///
/// # Errors
/// [`Error::Decode`] for malformed attributes (never panics on any input).
pub fn parse_vfinfo_list(b: &[u8]) -> Result<Vec<VfState>, Error> {
    let op = Op::GetVfs;
    let mut out = Vec::new();
    for nla in NlasIterator::new(b) {
        let nla = nla.map_err(|e| Error::decode(op, format!("IFLA_VFINFO_LIST: {e}")))?;
        if nla.kind() == IFLA_VF_INFO {
            out.push(parse_vf_info(nla.value(), op)?);
        }
    }
    Ok(out)
}

/// The VLAN part of a [`VfConfig`] (`vlan VLANID [qos QOS] [proto PROTO]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct VlanConfig {
    /// VLAN id; `None` removes the VLAN (`vlan 0`).
    pub id: Option<VlanId>,
    /// Priority (default 0).
    #[serde(default)]
    pub qos: Qos,
    /// Tag protocol (default 802.1Q).
    #[serde(default)]
    pub proto: VlanProto,
}

impl VlanConfig {
    /// `vlan ID` with qos 0, 802.1Q.
    pub fn new(id: VlanId) -> Self {
        Self {
            id: Some(id),
            ..Self::default()
        }
    }

    /// `vlan 0`: untagged.
    pub fn none() -> Self {
        Self::default()
    }

    /// Sets the priority.
    pub fn qos(mut self, qos: Qos) -> Self {
        self.qos = qos;
        self
    }

    /// Sets the tag protocol.
    pub fn proto(mut self, proto: VlanProto) -> Self {
        self.proto = proto;
        self
    }
}

/// Which VF attribute a result is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VfAttr {
    /// IFLA_VF_MAC (`mac`).
    Mac,
    /// IFLA_VF_VLAN or IFLA_VF_VLAN_LIST (`vlan`, `qos`, `proto`).
    Vlan,
    /// IFLA_VF_SPOOFCHK (`spoofchk`).
    SpoofChk,
    /// IFLA_VF_RSS_QUERY_EN (`query_rss`).
    QueryRss,
    /// IFLA_VF_LINK_STATE (`state`).
    LinkState,
    /// IFLA_VF_TRUST (`trust`).
    Trust,
    /// IFLA_VF_RATE (`min_tx_rate`, `max_tx_rate`).
    Rate,
}

impl std::fmt::Display for VfAttr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VfAttr::Mac => "mac",
            VfAttr::Vlan => "vlan",
            VfAttr::SpoofChk => "spoofchk",
            VfAttr::QueryRss => "query_rss",
            VfAttr::LinkState => "state",
            VfAttr::Trust => "trust",
            VfAttr::Rate => "rate",
        })
    }
}

/// Desired settings for one VF; `None` leaves an attribute unchanged.
///
/// Each field is the twin of an `ip link set PF vf N ...` keyword (see the
/// setter methods). Build with `VfConfig::new(n).vlan(...).trust(true)` or a
/// struct literal with `..VfConfig::new(n)`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct VfConfig {
    /// VF number.
    pub index: u32,
    /// `mac LLADDR`.
    pub mac: Option<MacAddr>,
    /// `vlan VLANID [qos QOS] [proto PROTO]`.
    pub vlan: Option<VlanConfig>,
    /// `spoofchk on|off`.
    pub spoofchk: Option<bool>,
    /// `trust on|off`.
    pub trust: Option<bool>,
    /// `state auto|enable|disable`.
    pub link_state: Option<LinkState>,
    /// `min_tx_rate MBPS`.
    pub min_tx_rate: Option<u32>,
    /// `max_tx_rate MBPS`.
    pub max_tx_rate: Option<u32>,
    /// `query_rss on|off`.
    pub query_rss: Option<bool>,
}

impl VfConfig {
    /// Nothing to change yet for VF `index`.
    pub fn new(index: u32) -> Self {
        Self {
            index,
            ..Self::default()
        }
    }

    /// `ip link set PF vf N mac LLADDR`.
    pub fn mac(mut self, mac: MacAddr) -> Self {
        self.mac = Some(mac);
        self
    }

    /// `ip link set PF vf N vlan VLANID qos QOS proto PROTO` (`vlan 0` with
    /// [`VlanConfig::none`]).
    pub fn vlan(mut self, vlan: VlanConfig) -> Self {
        self.vlan = Some(vlan);
        self
    }

    /// `ip link set PF vf N spoofchk on|off`.
    pub fn spoofchk(mut self, on: bool) -> Self {
        self.spoofchk = Some(on);
        self
    }

    /// `ip link set PF vf N trust on|off`.
    pub fn trust(mut self, on: bool) -> Self {
        self.trust = Some(on);
        self
    }

    /// `ip link set PF vf N state auto|enable|disable`.
    pub fn link_state(mut self, state: LinkState) -> Self {
        self.link_state = Some(state);
        self
    }

    /// `ip link set PF vf N min_tx_rate MBPS`.
    pub fn min_tx_rate(mut self, mbps: u32) -> Self {
        self.min_tx_rate = Some(mbps);
        self
    }

    /// `ip link set PF vf N max_tx_rate MBPS`.
    pub fn max_tx_rate(mut self, mbps: u32) -> Self {
        self.max_tx_rate = Some(mbps);
        self
    }

    /// `ip link set PF vf N query_rss on|off`.
    pub fn query_rss(mut self, on: bool) -> Self {
        self.query_rss = Some(on);
        self
    }

    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.attrs().is_empty()
    }

    /// The attributes this config sets, in the order they are sent.
    pub fn attrs(&self) -> Vec<VfAttr> {
        let mut v = Vec::new();
        if self.mac.is_some() {
            v.push(VfAttr::Mac);
        }
        if self.vlan.is_some() {
            v.push(VfAttr::Vlan);
        }
        if self.spoofchk.is_some() {
            v.push(VfAttr::SpoofChk);
        }
        if self.query_rss.is_some() {
            v.push(VfAttr::QueryRss);
        }
        if self.link_state.is_some() {
            v.push(VfAttr::LinkState);
        }
        if self.trust.is_some() {
            v.push(VfAttr::Trust);
        }
        if self.min_tx_rate.is_some() || self.max_tx_rate.is_some() {
            v.push(VfAttr::Rate);
        }
        v
    }

    /// A copy that only sets `attr`.
    pub fn only(&self, attr: VfAttr) -> VfConfig {
        let mut c = VfConfig::new(self.index);
        match attr {
            VfAttr::Mac => c.mac = self.mac,
            VfAttr::Vlan => c.vlan = self.vlan,
            VfAttr::SpoofChk => c.spoofchk = self.spoofchk,
            VfAttr::QueryRss => c.query_rss = self.query_rss,
            VfAttr::LinkState => c.link_state = self.link_state,
            VfAttr::Trust => c.trust = self.trust,
            VfAttr::Rate => {
                c.min_tx_rate = self.min_tx_rate;
                c.max_tx_rate = self.max_tx_rate;
            }
        }
        c
    }

    /// The IFLA_VF_* attributes of one IFLA_VF_INFO, in iproute2's order.
    ///
    /// iproute2 emits VF attributes in command-line order and IFLA_VF_RATE
    /// last; this follows the order of its usage text (`mac`, `vlan`,
    /// `spoofchk`, `query_rss`, `state`, `trust`, then the rate), so a request
    /// equals `ip link set PF vf N` with the keywords in that order. 802.1Q
    /// VLANs use the legacy IFLA_VF_VLAN, other protocols IFLA_VF_VLAN_LIST,
    /// exactly as iproute2 does. `min_tx_rate`/`max_tx_rate` both go into one
    /// IFLA_VF_RATE; a missing one must be filled in by the caller
    /// ([`crate::Handle::set_vfs`] reads the current value, like iproute2),
    /// here it is sent as 0.
    pub fn to_vf_info(&self) -> LinkVfInfo {
        let vf = self.index;
        let mut v = Vec::new();
        if let Some(mac) = self.mac {
            v.push(VfInfo::Mac(VfInfoMac::new(vf, &mac.octets())));
        }
        if let Some(vlan) = self.vlan {
            let id = u32::from(vlan.id.map(VlanId::get).unwrap_or(0));
            let qos = u32::from(vlan.qos.get());
            match vlan.proto {
                VlanProto::Dot1Q => v.push(VfInfo::Vlan(VfInfoVlan::new(vf, id, qos))),
                VlanProto::Dot1Ad => v.push(VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
                    vf,
                    id,
                    qos,
                    VlanProtocol::Ieee8021Ad,
                ))])),
            }
        }
        if let Some(on) = self.spoofchk {
            v.push(VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, on)));
        }
        if let Some(on) = self.query_rss {
            v.push(VfInfo::RssQueryEn(VfInfoRssQueryEn::new(vf, on)));
        }
        if let Some(s) = self.link_state {
            let s = match s {
                LinkState::Auto => VfLinkState::Auto,
                LinkState::Enable => VfLinkState::Enable,
                LinkState::Disable => VfLinkState::Disable,
            };
            v.push(VfInfo::LinkState(VfInfoLinkState::new(vf, s)));
        }
        if let Some(on) = self.trust {
            v.push(VfInfo::Trust(VfInfoTrust::new(vf, on)));
        }
        if self.min_tx_rate.is_some() || self.max_tx_rate.is_some() {
            v.push(VfInfo::Rate(VfInfoRate::new(
                vf,
                self.min_tx_rate.unwrap_or(0),
                self.max_tx_rate.unwrap_or(0),
            )));
        }
        LinkVfInfo(v)
    }
}

/// Builds the RTM_SETLINK message for `configs` on PF `pf_index`: one
/// IFLA_VFINFO_LIST holding one IFLA_VF_INFO per (non-empty) config.
pub fn set_vfs_message(pf_index: u32, configs: &[VfConfig]) -> RouteNetlinkMessage {
    let header = LinkHeader {
        index: pf_index,
        ..LinkHeader::default()
    };
    let list: Vec<LinkVfInfo> = configs
        .iter()
        .filter(|c| !c.is_empty())
        .map(VfConfig::to_vf_info)
        .collect();
    let mut msg = LinkMessage::default();
    msg.header = header;
    msg.attributes = vec![LinkAttribute::VfInfoList(list)];
    RouteNetlinkMessage::SetLink(msg)
}

/// Serializes [`set_vfs_message`] as a complete netlink request
/// (NLM_F_REQUEST | NLM_F_ACK) with sequence number `seq` and port id 0.
pub fn set_vfs_request_bytes(pf_index: u32, configs: &[VfConfig], seq: u32) -> Vec<u8> {
    crate::nl::encode(set_vfs_message(pf_index, configs), 0, seq)
}

/// Result of one attribute of one VF in [`SetVfsReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AttrOutcome {
    /// Which attribute.
    pub attr: VfAttr,
    /// `None` when applied, the kernel's rejection otherwise.
    pub error: Option<Error>,
}

/// Per-VF results in [`SetVfsReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VfOutcome {
    /// VF number.
    pub index: u32,
    /// One entry per attribute that was requested, in send order.
    pub attrs: Vec<AttrOutcome>,
}

impl VfOutcome {
    /// True when every attribute was applied.
    pub fn is_ok(&self) -> bool {
        self.attrs.iter().all(|a| a.error.is_none())
    }

    /// The outcome of `attr`, if it was requested.
    pub fn get(&self, attr: VfAttr) -> Option<&AttrOutcome> {
        self.attrs.iter().find(|a| a.attr == attr)
    }
}

/// What [`crate::Handle::set_vfs`] did: per VF, per attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SetVfsReport {
    /// PF interface index.
    pub pf_index: u32,
    /// Number of RTM_SETLINK requests sent (1 when the kernel accepted all).
    pub requests: usize,
    /// One entry per requested VF, in request order.
    pub vfs: Vec<VfOutcome>,
}

impl SetVfsReport {
    /// True when everything was applied.
    pub fn is_ok(&self) -> bool {
        self.vfs.iter().all(VfOutcome::is_ok)
    }

    /// The outcome for VF `index`.
    pub fn vf(&self, index: u32) -> Option<&VfOutcome> {
        self.vfs.iter().find(|v| v.index == index)
    }

    /// Every failure as (VF, attribute, error).
    pub fn failures(&self) -> impl Iterator<Item = (u32, VfAttr, &Error)> {
        self.vfs.iter().flat_map(|v| {
            v.attrs
                .iter()
                .filter_map(move |a| a.error.as_ref().map(|e| (v.index, a.attr, e)))
        })
    }

    /// Number of applied attributes.
    pub fn applied(&self) -> usize {
        self.vfs
            .iter()
            .map(|v| v.attrs.iter().filter(|a| a.error.is_none()).count())
            .sum()
    }

    /// `Ok(())` when everything applied, else the first failure.
    ///
    /// # Errors
    /// The first attribute error, in request order.
    pub fn into_result(self) -> Result<(), Error> {
        match self.failures().next() {
            None => Ok(()),
            Some((_, _, e)) => Err(e.clone()),
        }
    }
}

pub(crate) fn vf_link(pf: u32, vf: u32) -> LinkRef {
    LinkRef::Vf { pf, vf }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn attrs_in_iproute2_order() {
        let c = VfConfig::new(1)
            .max_tx_rate(10)
            .trust(true)
            .link_state(LinkState::Enable)
            .query_rss(false)
            .spoofchk(true)
            .vlan(VlanConfig::new(VlanId::new(5).unwrap()))
            .mac(MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(
            c.attrs(),
            vec![
                VfAttr::Mac,
                VfAttr::Vlan,
                VfAttr::SpoofChk,
                VfAttr::QueryRss,
                VfAttr::LinkState,
                VfAttr::Trust,
                VfAttr::Rate
            ]
        );
        assert_eq!(c.to_vf_info().0.len(), 7);
        assert_eq!(c.only(VfAttr::Rate).attrs(), vec![VfAttr::Rate]);
        assert!(VfConfig::new(0).is_empty());
    }

    #[test]
    fn tristate_minus_one_is_unknown() {
        let mut b = Vec::new();
        b.extend_from_slice(&3u32.to_ne_bytes());
        b.extend_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(tristate(&b), None);
        b[4..].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(tristate(&b), Some(true));
    }
}
