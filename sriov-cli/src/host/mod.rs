//! The one seam between the commands and the kernel: the [`Host`] trait.
//!
//! Every command reaches the kernel through one `Host` value, created in
//! [`crate::run`]: a [`LiveHost`] (sysfs-sriov, netlink-vf, iommu-check) in
//! production, a fake in unit tests. Kernel sequencing (count writes with
//! autoprobe deferred, several PFs at once, bounded parallel probes, the
//! in-use check of a reset, carrier waits) lives in the libraries; a `Host`
//! only forwards to them. Timings are the libraries' ([`Timed`]) or the
//! caller's: the trait records none.

mod live;
mod read;

use std::net::IpAddr;
use std::time::Duration;

use netlink_vf::{IfName, IpPrefix, VfAttr, VfConfig};
pub use sysfs_sriov::Timed;
use sysfs_sriov::{PciAddress, PfImpact};

pub use live::{is_live_root, LiveHost};

use crate::config::DriverSpec;
use crate::state::{HostState, PfState, VfState};

/// How long `setup` waits for new VFs (and their drivers and netdevs).
pub const VF_WAIT: Duration = Duration::from_secs(60);

/// How long to wait for a PF's link to come back after its VFs were created,
/// or to come up after `up = true` brought the PF up.
pub const CARRIER_WAIT: Duration = Duration::from_secs(15);

/// What went wrong in the host, with its source kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// sysfs (sysfs-sriov).
    #[error(transparent)]
    Sysfs(#[from] sysfs_sriov::Error),
    /// rtnetlink (netlink-vf).
    #[error(transparent)]
    Netlink(#[from] netlink_vf::Error),
    /// The passthrough readiness report (iommu-check).
    #[error(transparent)]
    Iommu(#[from] iommu_check::Error),
    /// Netlink is not used or could not be opened.
    #[error("netlink is not available: {0}")]
    NoNetlink(String),
    /// A PF without a network interface was asked for a netlink operation.
    #[error("PF {pf} has no netdev{why}")]
    NoNetdev {
        /// The PF.
        pf: PciAddress,
        /// What needed it.
        why: &'static str,
    },
    /// A device that was there when the plan was made is gone.
    #[error("{0} disappeared since the host was read")]
    Vanished(String),
    /// A change given to a phase that does not apply it (a bug).
    #[error("`{0}` is not applied in this phase")]
    NotInPhase(&'static str),
    /// A fake host's answer (unit tests).
    #[cfg(test)]
    #[error("{0}")]
    Fake(String),
    /// A count beyond what sysfs can take.
    #[error("num_vfs {0} is too large (at most 65535)")]
    CountTooLarge(u32),
    /// A netdev name from the host that is not a valid interface name.
    #[error("`{name}` is not a valid interface name: {source}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: netlink_vf::Error,
    },
}

/// What a reading of the host includes beyond what planning needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// What `setup` plans on (every phase reads it: no extras).
    Plan,
    /// Also each PF driver's version and firmware (`ethtool -i`), for `status`.
    Status,
    /// Also per-VF traffic counters, for `stats`.
    Stats,
}

/// One result per PF of a reset, with the time of its write.
pub type Resets = Vec<(PciAddress, Timed<Result<(), HostError>>)>;

/// One VF request's failures: (VF index, attribute, the kernel's answer).
pub type VfFailures = Vec<(u32, VfAttr, HostError)>;

/// What the commands need from the kernel.
pub trait Host {
    /// Whether this host is the running system (netlink works on it) rather
    /// than a fixture tree under `--root`.
    fn live(&self) -> bool;
    /// Why netlink is not used, when it is not (for a note on stderr).
    fn netlink_note(&self) -> Option<String>;
    /// Reads the current state, with the details `detail` asks for.
    ///
    /// # Errors
    /// When sysfs or netlink cannot be read at all.
    fn read(&mut self, detail: Detail) -> Result<HostState, HostError>;
    /// `st` with its netlink fields read again (VF attributes, links,
    /// addresses, routes), its sysfs fields kept: after a phase that changed
    /// only what netlink shows. The default reads everything again.
    ///
    /// # Errors
    /// As [`Host::read`].
    fn refresh(&mut self, st: HostState) -> Result<HostState, HostError> {
        let _ = st;
        self.read(Detail::Plan)
    }
    /// The PF a command-line argument names (netdev name or PCI address).
    ///
    /// # Errors
    /// No such PF, or it is not SR-IOV capable.
    fn find_pf(&self, spec: &str) -> Result<PciAddress, HostError>;
    /// Subscribes to link events for these PFs, before an operation that
    /// brings their links up or resets them (so no carrier coming back is
    /// missed). Replaces an earlier watch.
    ///
    /// # Errors
    /// The subscription failed.
    fn watch_carriers(&mut self, pfs: &[&PfState]) -> Result<(), HostError>;
    /// Waits (at most `timeout`) until every watched PF is up with carrier;
    /// returns the labels of those that are not. Without a watch: nothing.
    ///
    /// # Errors
    /// Reading link events failed.
    fn wait_carriers(&mut self, timeout: Duration) -> Result<Vec<String>, HostError>;
    /// Sets PF links up or down; one result per PF, in order.
    fn set_pf_links(&mut self, links: &[(&PfState, bool)]) -> Vec<Timed<Result<(), HostError>>>;
    /// Writes `sriov_numvfs` of several PFs at once (through 0 when
    /// `allow_recreate`), with new VFs created without drivers where the PF
    /// allows it; `Ok(true)`: they were, and the caller probes them.
    fn set_num_vfs(
        &mut self,
        writes: &[(&PfState, u32)],
        allow_recreate: bool,
    ) -> Vec<Timed<Result<bool, HostError>>>;
    /// Waits until `n` VFs exist with their drivers and netdevs, reporting
    /// progress as (ready, wanted).
    ///
    /// # Errors
    /// Timeout.
    fn wait_for_vfs(
        &mut self,
        pf: &PfState,
        n: u32,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<(), HostError>;
    /// Sets PF-side VF attributes, all VFs of `pf` in one request; returns
    /// the failures per VF and attribute.
    ///
    /// # Errors
    /// When the request could not be made at all.
    fn set_vf_attrs(&mut self, pf: &PfState, configs: &[VfConfig])
        -> Result<VfFailures, HostError>;
    /// Binds a VF to a driver; refused for a busy netdev unless `force`.
    ///
    /// # Errors
    /// The sysfs write that failed, or the refusal.
    fn bind_driver(&mut self, vf: &VfState, to: &DriverSpec, force: bool) -> Result<(), HostError>;
    /// Probes the kernel's default driver for VFs created without one,
    /// several at a time; one result per VF, in order.
    fn probe_vfs(&mut self, vfs: &[&VfState]) -> Vec<Timed<Result<(), HostError>>>;
    /// Reloads a VF's driver; refused for a busy netdev unless `force`.
    ///
    /// # Errors
    /// The sysfs write that failed, or the refusal.
    fn reload_driver(&mut self, vf: &VfState, force: bool) -> Result<(), HostError>;
    /// Renames a link.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn rename(&mut self, link: &str, to: &IfName) -> Result<(), HostError>;
    /// Sets the MTU.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), HostError>;
    /// Sets the promiscuous flag (IFF_PROMISC).
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_promisc(&mut self, link: &str, on: bool) -> Result<(), HostError>;
    /// Sets the link up or down.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_up(&mut self, link: &str, up: bool) -> Result<(), HostError>;
    /// Adds an address (present already: fine).
    ///
    /// # Errors
    /// The kernel's refusal.
    fn add_address(&mut self, link: &str, addr: &IpPrefix) -> Result<(), HostError>;
    /// Removes an address.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn del_address(&mut self, link: &str, addr: &IpPrefix) -> Result<(), HostError>;
    /// Makes the default route of `gateway`'s family go via `gateway` on
    /// `link`, replacing one via another gateway or device.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_default_route(&mut self, link: &str, gateway: IpAddr) -> Result<(), HostError>;
    /// What setting these PFs to 0 VFs would disturb.
    ///
    /// # Errors
    /// sysfs could not be read.
    fn reset_impact(&self, pfs: &[PciAddress]) -> Result<Vec<PfImpact>, HostError>;
    /// Sets these PFs to 0 VFs at once (the caller checked what is in use);
    /// one result per PF.
    ///
    /// # Errors
    /// Nothing could be written.
    fn reset(&mut self, pfs: &[PciAddress]) -> Result<Resets, HostError>;
    /// The passthrough readiness report.
    ///
    /// # Errors
    /// The report could not be made (an unreadable root).
    fn iommu_report(&self) -> Result<iommu_check::Report, HostError>;
    /// sysfs-sriov's SR-IOV readiness of every SR-IOV device (and of an
    /// mlx5 PF whose firmware has SR-IOV off).
    ///
    /// # Errors
    /// sysfs could not be read.
    fn sriov_readiness(&self) -> Result<Vec<sysfs_sriov::Readiness>, HostError>;
}

/// Renders an error with its cause chain: `outer: inner: innermost`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
pub(crate) mod fake;
