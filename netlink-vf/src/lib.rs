//! `netlink-vf`: a synchronous rtnetlink client for SR-IOV VF attributes and
//! the link setup around them.
//!
//! It replaces the `ip link set PF vf N ...`, `ip link set dev ...`,
//! `ip address add` and `ip route add` lines of a typical SR-IOV boot script
//! with typed, checked calls. It is blocking (no async runtime) and built on
//! `netlink-sys` + `netlink-packet-route`.
//!
//! * [`Handle::vfs`] reads a PF's VF table (RTM_GETLINK with RTEXT_FILTER_VF),
//!   any size: the receive buffer grows to fit each datagram.
//! * [`Handle::set_vfs`] sets any subset of VF attributes for any number of
//!   VFs in **one** RTM_SETLINK, and when the kernel refuses, isolates the
//!   exact VF + attribute (errno and extended ACK) while applying the rest.
//! * Link operations: [`Handle::set_name`], [`Handle::set_up`],
//!   [`Handle::set_promisc`], [`Handle::set_mtu`], [`Handle::set_mac`],
//!   addresses, routes, namespace moves, veth and bridge creation.
//! * [`Request::set_link`] with a [`LinkChange`]: MTU, name, promisc and up of
//!   one link in a single RTM_SETLINK.
//! * [`Batch`] pipelines many requests (about one round trip for N), and
//!   [`Handle::links_by_name`] many lookups.
//! * [`LinkEvents`] waits for new VF netdevs or renames (RTNLGRP_LINK).
//! * [`CarrierWatch`] waits for the carriers of a set of links on those
//!   events (subscribe, trigger, wait): [`CarrierOutcome`] says which came
//!   back; a timeout is not an error, a failed subscription is.
//! * [`Link::promisc`] is the `IFF_PROMISC` flag a user sets;
//!   [`Link::promiscuity`] the kernel's counter (a bridge port raises it).
//! * [`Handle::create_bridge`] and [`Handle::set_master`] for bridge ports.
//! * [`namespaces`] lists the host's other network namespaces (a
//!   container's, `ip netns`'), and [`Handle::in_netns`] opens a handle in one,
//!   for a VF netdev that was moved there.
//! * [`driver_info`] / [`Handle::driver_info`]: driver, driver version,
//!   firmware version and bus info of a netdev (`ethtool -i`, the
//!   `SIOCETHTOOL` ioctl with `ETHTOOL_GDRVINFO`).
//!
//! ```no_run
//! use netlink_vf::{Handle, IfName, VfConfig, VlanConfig, VlanId};
//!
//! # fn main() -> Result<(), netlink_vf::Error> {
//! let mut h = Handle::new()?;
//! let pf = h.index_of(&IfName::new("enp1s0f0")?)?;
//!
//! // ip link set enp1s0f0 vf 63 vlan 50 ; ... vf 9 vlan 50 trust on
//! let report = h.set_vfs(pf, &[
//!     VfConfig::new(63).vlan(VlanConfig::new(VlanId::new(50)?)),
//!     VfConfig::new(9).vlan(VlanConfig::new(VlanId::new(50)?)).trust(true),
//! ])?;
//! for (vf, attr, err) in report.failures() {
//!     eprintln!("vf {vf} {attr}: {err}");
//! }
//!
//! // ip link set dev enp1s0f0v63 name eth1lxc9999v050 ; ip link set dev eth1lxc9999v050 up
//! let vf_dev = h.index_of(&IfName::new("enp1s0f0v63")?)?;
//! h.set_name(vf_dev, &IfName::new("eth1lxc9999v050")?)?;
//! h.set_up(vf_dev, true)?;
//!
//! for vf in h.vfs(pf, true)? {
//!     println!("vf {} vlan {:?} mac {:?}", vf.index, vf.vlan, vf.mac);
//! }
//! # Ok(()) }
//! ```
//!
//! All calls act on the network namespace of the thread that created the
//! [`Handle`]. Errors are one enum, [`Error`], with typed variants for the
//! errnos callers act on ([`Error::NotSupported`], [`Error::Exists`], ...).

mod addr;
mod error;
mod ethtool;
mod events;
mod handle;
mod link;
mod netns;
mod nl;
mod route;
mod types;
mod vf;

pub use addr::Address;
pub use error::{errno_name, Error, KernelError, LinkRef, Op};
pub use ethtool::{driver_info, DriverInfo};
pub use events::{CarrierOutcome, CarrierWatch, LinkEvent, LinkEvents};
pub use handle::{Batch, Handle, LinkChange, Request};
pub use link::{parse_link, Link, LinkStats, OperState};
pub use netns::{namespaces, Netns};
pub use route::{Route, RouteSpec};
pub use types::{IfName, IpPrefix, LinkState, MacAddr, Qos, VlanId, VlanProto, IFNAME_MAX_LEN};
pub use vf::{
    driver_counts_vf_stats, parse_vfinfo_list, set_vfs_message, set_vfs_request_bytes, AttrOutcome,
    SetVfsReport, VfAttr, VfConfig, VfOutcome, VfState, VfStats, VlanConfig,
    DRIVERS_WITHOUT_VF_STATS,
};

/// Re-exported so callers can build or inspect messages with the same types.
pub use netlink_packet_route;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
