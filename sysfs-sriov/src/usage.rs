//! What is in use on a VF: the answer to "what would removing these VFs disturb?".
//!
//! Plain data, read by [`Sysfs::recreate_impact`](crate::Sysfs::recreate_impact)
//! and [`Sysfs::reset_impact`](crate::Sysfs::reset_impact), carried by
//! [`Error::RecreateRefused`](crate::Error::RecreateRefused) and
//! [`Error::ResetRefused`](crate::Error::ResetRefused). A leaf module: it imports
//! nothing of the crate but [`PciAddress`].

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::pci::PciAddress;

/// A VF that re-creating the VFs would destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Casualty {
    /// VF index.
    pub index: u32,
    /// VF address.
    pub address: PciAddress,
    /// Bound driver.
    pub driver: Option<String>,
    /// Its netdevs in this namespace.
    pub netdevs: Vec<String>,
    /// What is in use on it; empty when nothing visible is.
    pub reasons: Vec<InUse>,
}

/// `VF 2 (0000:01:10.4): bound to vfio-pci, ...`: the VF and what is in use
/// on it.
impl fmt::Display for Casualty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VF {} ({}):", self.index, self.address)?;
        for (i, r) in self.reasons.iter().enumerate() {
            write!(f, "{}{r}", if i == 0 { " " } else { ", " })?;
        }
        Ok(())
    }
}

/// Why a VF counts as in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InUse {
    /// Bound to a userspace-I/O driver (vfio-pci, ...): a VM may hold it.
    Passthrough {
        /// The driver.
        driver: String,
    },
    /// Its netdev is administratively up.
    NetdevUp {
        /// The netdev.
        netdev: String,
    },
    /// Its netdev carries IP addresses.
    HasAddresses {
        /// The netdev.
        netdev: String,
        /// The addresses.
        addresses: Vec<IpAddr>,
    },
    /// A network driver is bound but no netdev is visible here: it was most likely
    /// moved into another network namespace (a container).
    OtherNamespace {
        /// The driver.
        driver: String,
    },
}

impl fmt::Display for InUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passthrough { driver } => write!(f, "bound to {driver}"),
            Self::NetdevUp { netdev } => write!(f, "netdev {netdev} is up"),
            Self::HasAddresses { netdev, addresses } => {
                let a: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                write!(f, "netdev {netdev} has addresses {}", a.join(", "))
            }
            Self::OtherNamespace { driver } => write!(
                f,
                "{driver} bound but no netdev here (moved to another network namespace?)"
            ),
        }
    }
}

/// What a reset to 0 VFs of one PF would disturb (see
/// [`Sysfs::reset_impact`](crate::Sysfs::reset_impact)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PfImpact {
    /// The PF.
    pub pf: PciAddress,
    /// Its VF count (`sriov_numvfs`) when read.
    pub num_vfs: u16,
    /// Every VF it has, in index order, each with what is in use on it (empty
    /// reasons when nothing is); empty for a PF without VFs.
    pub casualties: Vec<Casualty>,
}

impl PfImpact {
    /// The casualties with non-empty reasons: the VFs a reset would disturb.
    pub fn in_use(&self) -> impl Iterator<Item = &Casualty> {
        self.casualties.iter().filter(|c| !c.reasons.is_empty())
    }
}
