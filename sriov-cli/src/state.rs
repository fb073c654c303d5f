//! The live state the planner compares the config against.
//!
//! A plain snapshot, filled by [`crate::host`] from sysfs (always) and netlink
//! (only when `--root` is `/`). Keeping it a value type lets planning and
//! rendering be tested without a kernel.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;

use crate::addr::{IpNet, Mac};
use crate::config::{LinkState, VlanSpec};

/// Everything the planner needs to know about the host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostState {
    /// SR-IOV capable PCI functions, sorted by address.
    pub pfs: Vec<PfState>,
    /// Every network interface name on the host (from `class/net`).
    pub links: BTreeSet<String>,
    /// Whether netlink-backed fields were read (false under `--root`).
    pub netlink: bool,
    /// Default routes as (gateway, device name); `None` when unavailable.
    pub default_routes: Option<Vec<(IpAddr, String)>>,
}

/// One physical function.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PfState {
    /// PCI address, `0000:02:00.0`.
    pub address: String,
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
    /// The PF driver's version (`ethtool -i`: `version`), when readable: needs
    /// netlink's namespace (not under `--root`) and a driver that answers.
    pub driver_version: Option<String>,
    /// The PF's firmware version (`ethtool -i`: `firmware-version`), when
    /// readable, as for `driver_version`.
    pub firmware: Option<String>,
    /// `sriov_totalvfs`.
    pub total_vfs: u32,
    /// `sriov_numvfs`.
    pub num_vfs: u32,
    /// PCI ids and names.
    pub vendor_id: u16,
    /// Device id.
    pub device_id: u16,
    /// Vendor name from pci.ids.
    pub vendor_name: Option<String>,
    /// Device name from pci.ids.
    pub device_name: Option<String>,
    /// IOMMU group of the PF.
    pub iommu_group: Option<u32>,
    /// Existing VFs, by index.
    pub vfs: Vec<VfState>,
}

impl PfState {
    /// The name to show: first netdev, else the PCI address.
    pub fn label(&self) -> &str {
        self.netdevs
            .first()
            .map_or(self.address.as_str(), String::as_str)
    }
    /// The VF with this index, if it exists.
    pub fn vf(&self, index: u32) -> Option<&VfState> {
        self.vfs.iter().find(|v| v.index == index)
    }
}

/// One virtual function.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VfState {
    /// VF number on its PF.
    pub index: u32,
    /// PCI address.
    pub address: String,
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
}

/// Why a VF counts as in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InUse {
    /// Bound to vfio-pci (or another userspace driver): a VM may hold it.
    Passthrough {
        /// The driver.
        driver: String,
    },
    /// Its netdev is administratively up.
    Up {
        /// The netdev.
        netdev: String,
    },
    /// Its netdev carries IP addresses.
    Addresses {
        /// The netdev.
        netdev: String,
        /// The addresses.
        addresses: Vec<IpAddr>,
    },
    /// A network driver is bound but its netdev is not in this network
    /// namespace (a container took it).
    OtherNetns {
        /// The driver.
        driver: String,
    },
}

impl std::fmt::Display for InUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InUse::Passthrough { driver } => write!(f, "bound to {driver}"),
            InUse::Up { netdev } => write!(f, "netdev {netdev} is up"),
            InUse::Addresses { netdev, addresses } => {
                let a: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                write!(f, "netdev {netdev} has addresses {}", a.join(", "))
            }
            InUse::OtherNetns { driver } => write!(
                f,
                "{driver} bound but its netdev is in another network namespace (a container?)"
            ),
        }
    }
}

impl VfState {
    /// What makes unbinding its driver disturb traffic: its netdev is up or
    /// has addresses.
    pub fn busy_netdev(&self) -> Vec<&InUse> {
        self.in_use
            .iter()
            .filter(|u| matches!(u, InUse::Up { .. } | InUse::Addresses { .. }))
            .collect()
    }
}

/// PF-side VF attributes (IFLA_VF_*); each `None` when the kernel did not report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VfAttrs {
    /// MAC.
    pub mac: Option<Mac>,
    /// VLAN, QoS, protocol.
    pub vlan: Option<VlanSpec>,
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
    /// Traffic counters when asked for.
    pub stats: Option<VfCounters>,
}

/// Per-VF counters (IFLA_VF_STATS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VfCounters {
    /// Received packets.
    pub rx_packets: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Received broadcast packets.
    pub broadcast: u64,
    /// Received multicast packets.
    pub multicast: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Transmitted packets dropped.
    pub tx_dropped: u64,
}

/// A VF netdev's link state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinkInfo {
    /// Interface index.
    pub ifindex: u32,
    /// IFF_UP.
    pub up: bool,
    /// IFF_PROMISC.
    pub promisc: bool,
    /// MTU.
    pub mtu: u32,
    /// Addresses with prefix.
    pub addresses: Vec<IpNet>,
    /// The netdev's own MAC (what the VF driver uses, which need not be the
    /// MAC the PF set for the VF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
}

impl HostState {
    /// Finds the PF a config key names.
    pub fn find_pf(&self, key: &crate::config::PfKey) -> Option<&PfState> {
        match key {
            crate::config::PfKey::Name(n) => {
                self.pfs.iter().find(|p| p.netdevs.iter().any(|d| d == n))
            }
            crate::config::PfKey::Pci(a) => {
                let full = if a.matches(':').count() == 1 {
                    format!("0000:{a}")
                } else {
                    a.clone()
                };
                self.pfs
                    .iter()
                    .find(|p| p.address.eq_ignore_ascii_case(&full))
            }
        }
    }
}
