//! Changing `sriov_numvfs` with the kernel's rules, and saying what a re-create
//! would destroy.
//!
//! The rules are those of `sriov_numvfs_store()` in `drivers/pci/pci-sysfs.c`:
//! a count above `sriov_totalvfs` is `ERANGE`; the same count is a no-op; a PF
//! without a driver (or whose driver lacks `sriov_configure`) is `ENOENT`; going from
//! one non-zero count to another is `EBUSY` ("Disable before enabling"), so it needs
//! a write of 0 first, which removes every VF.

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::netdev::{AddressMap, Addresses};
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;
use crate::usage::{Casualty, InUse};
use crate::vf::Vf;

/// What [`Sysfs::set_num_vfs`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum NumVfsOutcome {
    /// The count was already right; nothing was written.
    Unchanged {
        /// The count.
        num_vfs: u16,
    },
    /// The count was changed (through 0 when both are non-zero).
    Changed {
        /// Old count.
        from: u16,
        /// New count.
        to: u16,
    },
}

/// Maps the kernel's answer to a `sriov_numvfs` write (`sriov_numvfs_store()`).
pub(crate) fn numvfs_write_error(
    pf: &PciAddress,
    path: &Path,
    n: u16,
    current: u16,
    total: u16,
    e: io::Error,
) -> Error {
    match e.raw_os_error() {
        Some(libc::EBUSY) => Error::NumVfsBusy {
            pf: *pf,
            current,
            path: path.to_path_buf(),
        },
        Some(libc::ERANGE) => Error::NumVfsOutOfRange {
            pf: *pf,
            requested: u32::from(n),
            total,
            path: path.to_path_buf(),
        },
        Some(libc::ENOENT) => Error::NoDriver {
            pf: *pf,
            path: path.to_path_buf(),
        },
        _ => attr::write_error(
            path,
            &n.to_string(),
            e,
            "; the PF driver refused this count (see `dmesg`)",
        ),
    }
}

/// Drivers that give a VF to userspace instead of making a netdev.
pub(crate) fn is_passthrough_driver(driver: &str) -> bool {
    driver == "pci-stub"
        || driver == "uio_pci_generic"
        || driver == "igb_uio"
        || driver.contains("vfio")
}

impl Sysfs {
    /// Sets the number of VFs of the PF at `pf` to `n`, following the kernel's rules:
    ///
    /// - `n` equal to the current count: nothing is written ([`NumVfsOutcome::Unchanged`]).
    /// - `n > sriov_totalvfs`: [`Error::NumVfsOutOfRange`] before anything is written.
    /// - no driver bound to the PF: [`Error::NoDriver`] before anything is written.
    /// - current and `n` both non-zero: the kernel needs 0 first, which destroys every
    ///   VF. Only done when `allow_recreate`; otherwise [`Error::RecreateRefused`]
    ///   listing every VF and what is in use on it (see [`Sysfs::recreate_impact`]).
    ///
    /// The write is synchronous in the kernel: VFs exist when it returns, but their
    /// drivers and netdevs may still be coming; see [`Sysfs::wait_for_vfs`].
    ///
    /// # Errors
    /// The ones above, [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], and the
    /// kernel's answers mapped: `EBUSY` -> [`Error::NumVfsBusy`], `ERANGE` ->
    /// [`Error::NumVfsOutOfRange`], `ENOENT` -> [`Error::NoDriver`], `EINVAL` ->
    /// [`Error::InvalidValue`], `EPERM`/`EACCES` -> [`Error::PermissionDenied`].
    pub fn set_num_vfs(
        &self,
        pf: &PciAddress,
        n: u16,
        allow_recreate: bool,
    ) -> Result<NumVfsOutcome> {
        let info = self.sriov_info(pf)?;
        let path = self.device_file(pf, "sriov_numvfs");
        if n > info.total_vfs {
            return Err(Error::NumVfsOutOfRange {
                pf: *pf,
                requested: u32::from(n),
                total: info.total_vfs,
                path,
            });
        }
        let from = info.num_vfs;
        if n == from {
            return Ok(NumVfsOutcome::Unchanged { num_vfs: n });
        }
        if self.driver_of(pf)?.is_none() {
            return Err(Error::NoDriver { pf: *pf, path });
        }
        if from != 0 && n != 0 {
            if !allow_recreate {
                return Err(Error::RecreateRefused {
                    pf: *pf,
                    from,
                    to: n,
                    casualties: self.recreate_impact(pf)?,
                });
            }
            self.write_numvfs(pf, 0, from, info.total_vfs)?;
        }
        self.write_numvfs(
            pf,
            n,
            if from != 0 && n != 0 { 0 } else { from },
            info.total_vfs,
        )?;
        Ok(NumVfsOutcome::Changed { from, to: n })
    }

    fn write_numvfs(&self, pf: &PciAddress, n: u16, current: u16, total: u16) -> Result<()> {
        let path = self.device_file(pf, "sriov_numvfs");
        let value = n.to_string();
        attr::write_with(&path, &value, |e| {
            numvfs_write_error(pf, &path, n, current, total, e)
        })
    }

    /// Every VF that setting the count to 0 would destroy, each with what is in use
    /// on it: bound to vfio-pci (or another passthrough driver), netdev up, netdev
    /// with addresses, or a network driver bound without a visible netdev (moved to
    /// another namespace). Addresses are only visible for the current network
    /// namespace.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], I/O and parse errors.
    pub fn recreate_impact(&self, pf: &PciAddress) -> Result<Vec<Casualty>> {
        self.impact_of(&self.vfs(pf)?)
    }

    /// [`Sysfs::recreate_impact`] for VFs already resolved with
    /// [`Sysfs::vfs`] (a caller that lists them anyway saves resolving every
    /// VF twice): what is in use on each, read now.
    ///
    /// ```
    /// # #[cfg(feature = "fixture")] {
    /// use sysfs_sriov::fixture::{HostBuilder, PfSpec};
    ///
    /// let pf = "0000:01:00.0".parse()?;
    /// let host = HostBuilder::new()
    ///     .pf(PfSpec::intel_82576(pf).netdev("eth0").vfs(2))
    ///     .build()?;
    /// let sysfs = host.sysfs();
    /// let vfs = sysfs.vfs(&pf)?;
    /// assert_eq!(sysfs.impact_of(&vfs)?, sysfs.recreate_impact(&pf)?);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// I/O and parse errors.
    pub fn impact_of(&self, vfs: &[Vf]) -> Result<Vec<Casualty>> {
        self.impact_with(vfs, &self.address_map()?)
    }

    /// [`Sysfs::impact_of`] with the interfaces' addresses given (from
    /// [`Sysfs::addresses`], or the caller's own netlink dump), so that one
    /// reading of a host with several PFs lists the addresses once.
    ///
    /// # Errors
    /// I/O and parse errors.
    pub fn impact_with(&self, vfs: &[Vf], addrs: &Addresses) -> Result<Vec<Casualty>> {
        vfs.iter()
            .map(|vf| {
                let reasons = self.in_use(&vf.driver, &vf.netdevs, addrs)?;
                Ok(Casualty {
                    index: vf.index,
                    address: vf.address,
                    driver: vf.driver.clone(),
                    netdevs: vf.netdevs.clone(),
                    reasons,
                })
            })
            .collect()
    }

    pub(crate) fn in_use(
        &self,
        driver: &Option<String>,
        netdevs: &[String],
        addrs: &AddressMap,
    ) -> Result<Vec<InUse>> {
        let mut reasons = Vec::new();
        if let Some(d) = driver {
            if is_passthrough_driver(d) {
                reasons.push(InUse::Passthrough { driver: d.clone() });
            } else if netdevs.is_empty() {
                reasons.push(InUse::OtherNamespace { driver: d.clone() });
            }
        }
        for name in netdevs {
            let nd = match self.netdev_with(name, addrs) {
                Ok(nd) => nd,
                // Renamed or gone since the listing: nothing to report on it.
                Err(Error::NetdevNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if nd.up {
                reasons.push(InUse::NetdevUp {
                    netdev: name.clone(),
                });
            }
            if !nd.addresses.is_empty() {
                reasons.push(InUse::HasAddresses {
                    netdev: name.clone(),
                    addresses: nd.addresses,
                });
            }
        }
        Ok(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errnos_map_to_typed_errors() {
        let pf: PciAddress = "0000:01:00.0".parse().unwrap();
        let path = Path::new("/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs");
        let map =
            |errno| numvfs_write_error(&pf, path, 8, 2, 7, io::Error::from_raw_os_error(errno));
        assert!(matches!(
            map(libc::EBUSY),
            Error::NumVfsBusy { current: 2, .. }
        ));
        assert!(matches!(
            map(libc::ERANGE),
            Error::NumVfsOutOfRange {
                requested: 8,
                total: 7,
                ..
            }
        ));
        assert!(matches!(map(libc::ENOENT), Error::NoDriver { .. }));
        assert!(matches!(map(libc::EINVAL), Error::InvalidValue { .. }));
        assert!(matches!(map(libc::EPERM), Error::PermissionDenied { .. }));
        assert!(matches!(map(libc::EACCES), Error::PermissionDenied { .. }));
        assert!(matches!(map(libc::EIO), Error::Io { op: "writing", .. }));
        // Every message names the device and the file.
        for errno in [
            libc::EBUSY,
            libc::ERANGE,
            libc::ENOENT,
            libc::EPERM,
            libc::EINVAL,
        ] {
            let m = map(errno).to_string();
            assert!(m.contains("sriov_numvfs"), "{m}");
        }
        for errno in [libc::EBUSY, libc::ERANGE, libc::ENOENT] {
            let m = map(errno).to_string();
            assert!(m.contains("0000:01:00.0"), "{m}");
        }
        let m = map(libc::EPERM).to_string();
        assert!(m.contains("run as root"), "{m}");
    }
}
