//! SR-IOV physical and virtual functions through Linux sysfs.
//!
//! This crate owns everything SR-IOV that lives in `/sys`: finding physical functions
//! (PFs), reading and changing their VF count with the kernel's rules, resolving VFs
//! (addresses, netdevs, drivers, IOMMU groups), waiting for new VFs to be usable
//! without `sleep 10`, and binding VFs to `vfio-pci` and back.
//!
//! It also does the kernel sequencing a setup tool needs, once: count writes
//! with driver probing deferred ([`Sysfs::write_count`], `sriov_drivers_autoprobe`
//! always restored), several PFs at the same time ([`Sysfs::write_counts`]),
//! threaded probes ([`Sysfs::probe_vfs`]), and resets to 0 VFs checked for VFs in
//! use before anything is written ([`Sysfs::reset_impact`], [`Sysfs::reset_pfs`]).
//!
//! It says why VFs cannot be created: [`Sysfs::sriov_readiness`] reads the
//! SR-IOV capability, TotalVFs, the driver, whether the kernel could assign the
//! VF BARs, ARI, and the VFs' bus numbers, each failed condition a [`Finding`]
//! with its fix; every errno of a count write is a typed [`Error`], and a count
//! the driver silently cut short is [`Error::NumVfsShort`].
//!
//! Everything goes through a [`Sysfs`] handle, rooted at `/` on a live host or at a
//! fixture directory in tests: no path is global. Every name that becomes part of a
//! path is checked first ([`PciAddress`] by parsing, netdev and driver names by
//! [`check_netdev_name`] and [`check_driver_name`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use sysfs_sriov::Sysfs;
//!
//! let sysfs = Sysfs::new();
//! let pf = sysfs.find_pf("enp2s0f0")?; // or "0000:02:00.0", or "02:00.0"
//! println!("{} {:?}: {} of {} VFs", pf.address, pf.device_name, pf.sriov.num_vfs, pf.sriov.total_vfs);
//!
//! // 8 VFs; refuses (listing what would be destroyed) if a different non-zero
//! // count exists, since that needs 0 first.
//! sysfs.set_num_vfs(&pf.address, 8, false)?;
//! let vfs = sysfs.wait_for_vfs(&pf.address, 8, Duration::from_secs(30), &mut |p| {
//!     eprintln!("{}/{} VFs ready", p.ready, p.expected);
//! })?;
//! for vf in &vfs {
//!     println!("VF {} at {} netdevs {:?}", vf.index, vf.address, vf.netdevs);
//! }
//! # Ok::<(), sysfs_sriov::Error>(())
//! ```
//!
//! The same code runs against a fixture tree (feature `fixture`):
//!
//! ```
//! # #[cfg(feature = "fixture")] {
//! use sysfs_sriov::fixture::{HostBuilder, PfSpec};
//! use sysfs_sriov::{Error, NumVfsOutcome};
//!
//! let pf = "0000:01:00.0".parse()?;
//! let host = HostBuilder::new()
//!     .pf(PfSpec::intel_82576(pf).netdev("eth0").vfs(2))
//!     .build()?;
//! let sysfs = host.sysfs();
//!
//! let info = sysfs.find_pf("eth0")?;
//! assert_eq!(info.sriov.total_vfs, 7);
//! assert_eq!(info.vf_address(6)?.to_string(), "0000:01:11.4");
//! assert_eq!(sysfs.vfs(&pf)?[1].address.to_string(), "0000:01:10.2");
//!
//! // 2 -> 4 needs 0 first: refused without allow_recreate, nothing written.
//! assert!(matches!(sysfs.set_num_vfs(&pf, 4, false), Err(Error::RecreateRefused { .. })));
//! assert_eq!(host.read_attr(&pf, "sriov_numvfs")?, "2");
//! assert_eq!(sysfs.set_num_vfs(&pf, 2, false)?, NumVfsOutcome::Unchanged { num_vfs: 2 });
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Kernel rules this crate follows are cited where they are applied
//! (`drivers/pci/iov.c`, `drivers/pci/pci-sysfs.c`).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod attr;
mod bind;
mod config;
mod count;
mod error;
mod name;
mod netdev;
mod numvfs;
mod pci;
mod pending;
mod pf;
mod readiness;
mod reset;
mod sysfs;
mod usage;
mod vf;
mod wait;
mod workers;

#[cfg(any(test, feature = "fixture"))]
pub mod fixture;

pub use bind::{BindOutcome, DriverTarget};
pub use count::{CountDone, CountOptions};
pub use error::{Error, Result};
pub use name::{check_driver_name, check_netdev_name, COMPONENT_MAX, IFNAME_MAX};
pub use netdev::{Addresses, Netdev};
pub use numvfs::{NumVfsOutcome, NumVfsRefusal};
pub use pci::PciAddress;
pub use pending::{PendingVf, WaitingFor};
pub use pf::{predict_vf_address, Pf, SriovInfo, SubsystemId};
pub use readiness::{
    AriReading, BusRangeReading, Finding, FindingKind, Readiness, VfBar, VfBarsReading,
};
pub use sysfs::{AddressSource, Sysfs, DEFAULT_ROOT};
pub use usage::{Casualty, InUse, PfImpact};
pub use vf::Vf;
pub use wait::WaitProgress;
pub use workers::Timed;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
