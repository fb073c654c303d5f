//! What a VF that is not final yet still lacks: reported by
//! [`Sysfs::wait_for_vfs`](crate::Sysfs::wait_for_vfs) and carried by
//! [`Error::WaitTimeout`](crate::Error::WaitTimeout). A leaf module: it imports
//! nothing of the crate but [`PciAddress`].

use std::fmt;

use serde::Serialize;

use crate::pci::PciAddress;

/// What a VF is still waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitingFor {
    /// The PCI device itself (no `virtfnN` link yet).
    Device,
    /// A driver (autoprobe is on, nothing is bound yet).
    Driver,
    /// A netdev from its network driver.
    Netdev {
        /// The bound driver.
        driver: String,
    },
    /// udev has not processed the netdev yet (`/run/udev/data/n<ifindex>` missing);
    /// renaming it now would race udev.
    Udev {
        /// The netdev.
        netdev: String,
    },
}

/// A VF that is not final yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingVf {
    /// VF index.
    pub index: u32,
    /// Its address, once the device exists.
    pub address: Option<PciAddress>,
    /// What it lacks.
    pub waiting_for: WaitingFor,
}

impl fmt::Display for PendingVf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VF {}", self.index)?;
        if let Some(a) = self.address {
            write!(f, " ({a})")?;
        }
        match &self.waiting_for {
            WaitingFor::Device => write!(f, " does not exist (no virtfn{} link)", self.index),
            WaitingFor::Driver => {
                write!(f, " has no driver bound (is the VF driver module loaded?)")
            }
            WaitingFor::Netdev { driver } => write!(f, " has no netdev yet (driver {driver})"),
            WaitingFor::Udev { netdev } => {
                write!(f, " netdev {netdev} not yet processed by udev")
            }
        }
    }
}
