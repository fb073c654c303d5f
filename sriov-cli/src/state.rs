//! The live state the planner compares the config against.
//!
//! A plain snapshot, filled by [`crate::host`] from sysfs (always) and netlink
//! (only on the live system). Keeping it a value type lets planning and
//! rendering be tested without a kernel. Its values are the libraries' types:
//! [`PciAddress`], [`MacAddr`], [`VlanConfig`], [`IpPrefix`], [`VfStats`] and
//! [`InUse`].

use std::collections::BTreeSet;
use std::net::IpAddr;

use netlink_vf::{IpPrefix, LinkState, LinkStats, MacAddr, VfStats, VlanConfig};
use serde::Serialize;
use sysfs_sriov::{InUse, PciAddress, SriovInfo, SubsystemId};

use crate::config::PfKey;

/// Everything the planner needs to know about the host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostState {
    /// SR-IOV capable PCI functions, sorted by address.
    pub pfs: Vec<PfState>,
    /// Every network interface name on the host (from `class/net`, and from
    /// netlink when available).
    pub links: BTreeSet<String>,
    /// Whether netlink-backed fields were read (false under `--root`).
    pub netlink: bool,
    /// Default routes (main table) as (gateway, device name); `None` when
    /// unavailable.
    pub default_routes: Option<Vec<(IpAddr, String)>>,
    /// What the reading could not see, for notes on stderr (a network
    /// namespace it could not enter, say).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// One physical function.
#[derive(Debug, Clone, Serialize)]
pub struct PfState {
    /// PCI address.
    pub address: PciAddress,
    /// Its netdev names (usually one).
    pub netdevs: Vec<String>,
    /// Interface index of the first netdev, when netlink is available.
    pub ifindex: Option<u32>,
    /// Whether the first netdev is administratively up (IFF_UP), when netlink
    /// is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
    /// Whether the first netdev is up with carrier (IFF_UP and IFF_LOWER_UP),
    /// when netlink is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<bool>,
    /// Bound driver.
    pub driver: Option<String>,
    /// The PF driver's version (`ethtool -i`: `version`), when readable.
    pub driver_version: Option<String>,
    /// The PF's firmware version (`ethtool -i`: `firmware-version`), when readable.
    pub firmware: Option<String>,
    /// `sriov_totalvfs`.
    pub total_vfs: u32,
    /// `sriov_numvfs`.
    pub num_vfs: u32,
    /// PCI vendor id.
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
    /// Vendor name from pci.ids.
    pub vendor_name: Option<String>,
    /// Device name from pci.ids.
    pub device_name: Option<String>,
    /// IOMMU group of the PF.
    pub iommu_group: Option<u32>,
    /// Existing VFs, by index.
    pub vfs: Vec<VfState>,
    /// The SR-IOV capability as sysfs shows it (VF offset, stride, device id:
    /// the address and ids a VF not created yet will have).
    #[serde(skip)]
    pub sriov: Option<SriovInfo>,
    /// The PCI class code (`0x020000` Ethernet, `0x010802` NVMe), `None` when
    /// unknown.
    #[serde(skip)]
    pub class: Option<u32>,
}

impl PfState {
    /// A PF at `address` with nothing known about it yet (tests, fakes).
    pub fn new(address: PciAddress) -> Self {
        PfState {
            address,
            netdevs: Vec::new(),
            ifindex: None,
            up: None,
            carrier: None,
            driver: None,
            driver_version: None,
            firmware: None,
            total_vfs: 0,
            num_vfs: 0,
            vendor_id: 0,
            device_id: 0,
            vendor_name: None,
            device_name: None,
            iommu_group: None,
            vfs: Vec::new(),
            sriov: None,
            class: None,
        }
    }

    /// Whether the PF is a network controller (class `0x02xxxx`, or unknown):
    /// its VFs get netdevs from a network driver. An NVMe or crypto PF's VFs
    /// never do, and their default driver is not setup's business unless the
    /// config names one.
    pub fn is_network(&self) -> bool {
        self.class.is_none_or(|c| c >> 16 == 0x02)
    }

    /// The name to show: first netdev, else the PCI address.
    pub fn label(&self) -> String {
        self.netdevs
            .first()
            .cloned()
            .unwrap_or_else(|| self.address.to_string())
    }

    /// The VF with this index, if it exists.
    pub fn vf(&self, index: u32) -> Option<&VfState> {
        self.vfs.iter().find(|v| v.index == index)
    }

    /// The address VF `index` has, or will have once created (from the SR-IOV
    /// capability's offset and stride).
    pub fn vf_address(&self, index: u32) -> Option<PciAddress> {
        if let Some(v) = self.vf(index) {
            return Some(v.address);
        }
        let s = self.sriov.as_ref()?;
        if index >= u32::from(s.total_vfs) {
            return None;
        }
        self.address.vf_address(s.offset, s.stride, index)
    }
}

/// One virtual function.
#[derive(Debug, Clone, Serialize)]
pub struct VfState {
    /// VF number on its PF.
    pub index: u32,
    /// PCI address.
    pub address: PciAddress,
    /// Bound driver (`iavf`, `igbvf`, `vfio-pci`, ...).
    pub driver: Option<String>,
    /// Its netdev, when bound to a network driver.
    pub netdev: Option<String>,
    /// IOMMU group.
    pub iommu_group: Option<u32>,
    /// `/dev/vfio/<group>` when bound to vfio-pci and present.
    pub vfio_dev: Option<String>,
    /// Device name from pci.ids.
    pub device_name: Option<String>,
    /// PF-side VF attributes from netlink; `None` when unavailable.
    pub attrs: Option<VfAttrs>,
    /// The VF netdev's link state from netlink; `None` when unavailable.
    pub link: Option<LinkInfo>,
    /// What is in use on it (from sysfs, also under `--root`): what a VF count
    /// change through 0 or an unbind would disturb. Empty when nothing is.
    pub in_use: Vec<InUse>,
    /// Its netdev in another network namespace (a container's, `ip netns`'),
    /// when it is not in this one: read for `stats` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns_link: Option<NetnsLink>,
    /// The VF's own PCI ids (vendor, device, subsystem), for resource mappings.
    #[serde(skip)]
    pub ids: Option<VfIds>,
}

/// A VF netdev found in another network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetnsLink {
    /// The namespace's label: its `ip netns` name, else `pid:N` of its
    /// lowest pid (a container's init).
    pub netns: String,
    /// The netdev's name there.
    pub name: String,
    /// Its IFLA_STATS64 there.
    pub stats: Option<LinkStats>,
}

/// A VF's PCI identity, what a Proxmox resource mapping matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VfIds {
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Subsystem id, when sysfs shows it.
    pub subsystem: Option<SubsystemId>,
}

impl VfState {
    /// A VF with nothing known about it yet (tests, fakes).
    pub fn new(index: u32, address: PciAddress) -> Self {
        VfState {
            index,
            address,
            driver: None,
            netdev: None,
            iommu_group: None,
            vfio_dev: None,
            device_name: None,
            attrs: None,
            link: None,
            in_use: Vec::new(),
            netns_link: None,
            ids: None,
        }
    }

    /// What makes unbinding its driver disturb traffic: its netdev is up or
    /// has addresses.
    pub fn busy_netdev(&self) -> Vec<&InUse> {
        self.in_use
            .iter()
            .filter(|u| matches!(u, InUse::NetdevUp { .. } | InUse::HasAddresses { .. }))
            .collect()
    }
}

/// PF-side VF attributes (IFLA_VF_*); each `None` when the kernel did not report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VfAttrs {
    /// MAC.
    pub mac: Option<MacAddr>,
    /// VLAN, QoS, protocol (`{"vlan": 0, ...}` when untagged).
    #[serde(serialize_with = "vlan_json")]
    pub vlan: Option<VlanConfig>,
    /// Trust.
    pub trust: Option<bool>,
    /// Spoof checking.
    pub spoofchk: Option<bool>,
    /// Link state.
    pub link_state: Option<LinkState>,
    /// Min TX rate, Mbit/s.
    pub min_tx_rate: Option<u32>,
    /// Max TX rate, Mbit/s.
    pub max_tx_rate: Option<u32>,
    /// RSS query.
    pub query_rss: Option<bool>,
    /// Traffic counters when asked for (a counter the driver does not report
    /// is `None`, never 0).
    pub stats: Option<VfStats>,
}

/// The JSON shape of a VF's VLAN in `status --json`: `{"vlan", "qos", "proto"}`.
fn vlan_json<S: serde::Serializer>(v: &Option<VlanConfig>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Shape {
        vlan: u16,
        qos: u8,
        proto: netlink_vf::VlanProto,
    }
    v.map(|v| Shape {
        vlan: v.id.map_or(0, netlink_vf::VlanId::get),
        qos: v.qos.get(),
        proto: v.proto,
    })
    .serialize(s)
}

/// A VF netdev's link state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinkInfo {
    /// Interface index.
    pub ifindex: u32,
    /// IFF_UP.
    pub up: bool,
    /// IFF_PROMISC: the user's promiscuous flag (not the kernel's counter, which
    /// a bridge port raises by itself).
    pub promisc: bool,
    /// MTU; `None` when the kernel did not report one.
    pub mtu: Option<u32>,
    /// Addresses with prefix.
    pub addresses: Vec<IpPrefix>,
    /// The netdev's own MAC (what the VF driver uses, which need not be the
    /// MAC the PF set for the VF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// The netdev's own traffic counters (IFLA_STATS64), read only for
    /// `stats`: the second source where the PF keeps no per-VF counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<netlink_vf::LinkStats>,
}

impl HostState {
    /// Finds the PF a config key names.
    pub fn find_pf(&self, key: &PfKey) -> Option<&PfState> {
        match key {
            PfKey::Name(n) => self.pfs.iter().find(|p| p.netdevs.iter().any(|d| d == n)),
            PfKey::Pci { address, .. } => self.pfs.iter().find(|p| p.address == *address),
        }
    }
}
