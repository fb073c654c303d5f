//! Changing `sriov_numvfs` with the kernel's rules, and saying what a re-create
//! would destroy.
//!
//! The rules are those of `sriov_numvfs_store()` (`drivers/pci/iov.c` since
//! Linux 5.x, `drivers/pci/pci-sysfs.c` before):
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

/// What an errno from a `sriov_numvfs` write means, for the errnos that have
/// no variant of their own in [`Error`] ([`Error::NumVfsFailed`]).
///
/// Read from `sriov_numvfs_store()` and `sriov_enable()` in `drivers/pci/iov.c`
/// and the drivers' `sriov_configure` callbacks (kernel 6.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NumVfsRefusal {
    /// `EIO`: the device or its firmware failed. The PCI core answers it for an
    /// SR-IOV capability that contradicts itself (InitialVFs above TotalVFs, or
    /// below it without VF Migration; offset or stride 0); drivers for a failed
    /// firmware command.
    DeviceError,
    /// `ENOSPC`: the driver ran out of its own resources for that many VFs (ice:
    /// MSI-X vectors or queues).
    DriverOutOfResources,
    /// `EPERM` on a write of 0: the driver keeps its VFs while one is assigned
    /// to a guest (igb, ixgbe: "VFs will not be deallocated").
    VfsAssigned,
    /// `EPERM` on a write of a count: the driver's own limit is below
    /// `sriov_totalvfs` (ixgbe by traffic classes, i40e by its requested VFs).
    DriverLimit,
    /// `EINVAL`: the driver rejected the count.
    InvalidCount,
    /// `EOPNOTSUPP`: the driver does not do SR-IOV in its current mode or
    /// firmware.
    NotSupported,
    /// `ENODEV`/`ENOSYS`: the PF's Function Dependency Link names a function
    /// that is missing or not a PF (`sriov_enable()`), or the device is no PF
    /// (`pci_enable_sriov()`).
    DependencyLink,
    /// `EAGAIN`: the driver is busy; a retry may work.
    TryAgain,
    /// Any other errno.
    Other,
}

impl NumVfsRefusal {
    /// The refusal an errno from writing `requested` means.
    pub fn from_errno(errno: i32, requested: u16) -> Self {
        match errno {
            libc::EIO => Self::DeviceError,
            libc::ENOSPC => Self::DriverOutOfResources,
            libc::EPERM if requested == 0 => Self::VfsAssigned,
            libc::EPERM => Self::DriverLimit,
            libc::EINVAL => Self::InvalidCount,
            libc::EOPNOTSUPP => Self::NotSupported,
            libc::ENODEV | libc::ENOSYS => Self::DependencyLink,
            libc::EAGAIN => Self::TryAgain,
            _ => Self::Other,
        }
    }

    /// What happened and what to do, for a write of `requested`.
    pub fn explain(&self, requested: u16) -> String {
        match self {
            Self::DeviceError => "the device or its firmware failed to enable the VFs; `dmesg` \
                 names the step; reload the PF driver (unbind and bind it) or power-cycle the \
                 host, and update the card's firmware if it happens again"
                .to_string(),
            Self::DriverOutOfResources => format!(
                "the driver has not enough of its own resources (interrupt vectors, queues) \
                 for {requested} VFs; ask for fewer, or give the PF fewer queues first \
                 (`ethtool -L <pf netdev> combined <n>`)"
            ),
            Self::VfsAssigned => "a VF is still assigned to a guest, so the driver keeps \
                 them all; stop the VM (or detach the VF from it) and write 0 again"
                .to_string(),
            Self::DriverLimit => format!(
                "the driver allows fewer than {requested} VFs in its current configuration \
                 (ixgbe: 63, 31 or 15 by traffic classes; i40e: its max_vfs); `dmesg` names \
                 the limit: ask for at most that many"
            ),
            Self::InvalidCount => format!(
                "the driver rejected {requested} VFs; `dmesg` says why (usually a limit of its \
                 own below sriov_totalvfs): ask for fewer"
            ),
            Self::NotSupported => "the driver does not create VFs in its current mode or with \
                 this firmware; `dmesg` says which (e.g. the eswitch mode, or firmware without \
                 SR-IOV)"
                .to_string(),
            Self::DependencyLink => "the PF's SR-IOV capability depends on another function \
                 of the card (Function Dependency Link) that is missing or has no SR-IOV; \
                 enable SR-IOV on every function of the card in the firmware setup"
                .to_string(),
            Self::TryAgain => {
                "the driver is busy (a reset in progress); retry in a second".to_string()
            }
            Self::Other => "see `dmesg` for the PF".to_string(),
        }
    }
}

/// The name of an errno, for messages (`ENOMEM`), or its number.
pub(crate) fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ERANGE => "ERANGE",
        libc::EAGAIN => "EAGAIN",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENXIO => "ENXIO",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// One `sriov_numvfs` write: what is needed to say what its errno means.
pub(crate) struct NumVfsWrite<'a> {
    pub(crate) pf: &'a PciAddress,
    pub(crate) path: &'a Path,
    /// The count written.
    pub(crate) n: u16,
    /// The count before the write.
    pub(crate) current: u16,
    /// `sriov_totalvfs`.
    pub(crate) total: u16,
    /// The PF's driver.
    pub(crate) driver: Option<&'a str>,
}

impl NumVfsWrite<'_> {
    /// Maps the kernel's answer to the write (`sriov_numvfs_store()`).
    pub(crate) fn error(&self, e: io::Error) -> Error {
        let (pf, path, n) = (*self.pf, self.path.to_path_buf(), self.n);
        let Some(errno) = e.raw_os_error() else {
            return attr::write_error(self.path, &n.to_string(), e, "");
        };
        match errno {
            libc::EBUSY => Error::NumVfsBusy {
                pf,
                current: self.current,
                requested: n,
                path,
            },
            libc::ERANGE => Error::NumVfsOutOfRange {
                pf,
                requested: u32::from(n),
                total: self.total,
                path,
            },
            libc::ENOENT => match self.driver {
                None => Error::NoDriver { pf, path },
                Some(d) => Error::NoSriovConfigure {
                    pf,
                    driver: d.to_string(),
                    path,
                },
            },
            libc::ENOMEM => Error::NumVfsNoResources {
                pf,
                requested: n,
                path,
                diagnosis: Vec::new(),
            },
            // The file's own permissions stop an open, not a write; a write
            // refused with these is a read-only or locked-down sysfs.
            libc::EACCES | libc::EROFS => attr::write_error(self.path, &n.to_string(), e, ""),
            _ => Error::NumVfsFailed {
                pf,
                requested: n,
                errno,
                refusal: NumVfsRefusal::from_errno(errno, n),
                driver: self.driver.map(str::to_string),
                path,
            },
        }
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
    /// After each write `sriov_numvfs` is read back: a driver may create fewer VFs
    /// than asked and still return success (`sriov_numvfs_store()` only logs "N VFs
    /// requested; only M enabled"; bnxt_en creates none while its PF is down), and
    /// that is [`Error::NumVfsShort`], never a silent success.
    ///
    /// The write is synchronous in the kernel: VFs exist when it returns, but their
    /// drivers and netdevs may still be coming; see [`Sysfs::wait_for_vfs`].
    ///
    /// # Errors
    /// The ones above, [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], and the
    /// kernel's answers mapped (`sriov_numvfs_store()` and `sriov_enable()` in
    /// `drivers/pci/iov.c`, the drivers' `sriov_configure`):
    ///
    /// | errno | error |
    /// | --- | --- |
    /// | `ERANGE` | [`Error::NumVfsOutOfRange`] (more than `sriov_totalvfs`) |
    /// | `ENOENT` | [`Error::NoDriver`] (no driver), [`Error::NoSriovConfigure`] (a driver without `sriov_configure`, or vfio-pci without `enable_sriov=1`) |
    /// | `EBUSY` | [`Error::NumVfsBusy`] (VFs exist, or one is assigned, or the driver is resetting) |
    /// | `ENOMEM` | [`Error::NumVfsNoResources`] (no MMIO room for the VF BARs, or no bus numbers), with the PF's VF BAR and bus findings |
    /// | `EIO`, `ENOSPC`, `EPERM`, `EINVAL`, `EOPNOTSUPP`, `ENODEV`, `ENOSYS`, `EAGAIN`, others | [`Error::NumVfsFailed`] with its [`NumVfsRefusal`] |
    /// | `EACCES`, `EROFS` (read-only sysfs) | [`Error::PermissionDenied`] |
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
        let Some(driver) = self.driver_of(pf)? else {
            return Err(Error::NoDriver { pf: *pf, path });
        };
        let write = |n: u16, current: u16| {
            self.write_numvfs(&NumVfsWrite {
                pf,
                path: &path,
                n,
                current,
                total: info.total_vfs,
                driver: Some(&driver),
            })
        };
        if from != 0 && n != 0 {
            if !allow_recreate {
                return Err(Error::RecreateRefused {
                    pf: *pf,
                    from,
                    to: n,
                    casualties: self.recreate_impact(pf)?,
                });
            }
            write(0, from)?;
            write(n, 0)?;
        } else {
            write(n, from)?;
        }
        Ok(NumVfsOutcome::Changed { from, to: n })
    }

    /// One write of `sriov_numvfs`, its errno mapped, then the count read back.
    fn write_numvfs(&self, w: &NumVfsWrite<'_>) -> Result<()> {
        #[allow(unused_mut)]
        let mut value = w.n.to_string();
        #[cfg(any(test, feature = "fixture"))]
        match self.fixture_answer(w.pf, w.n) {
            Some(
                crate::fixture::NumVfsAnswer::Errno(errno)
                | crate::fixture::NumVfsAnswer::ErrnoOnZero(errno),
            ) => {
                return Err(self.diagnosed(w.error(io::Error::from_raw_os_error(errno))));
            }
            Some(
                crate::fixture::NumVfsAnswer::Enables(m)
                | crate::fixture::NumVfsAnswer::ZeroLeaves(m),
            ) => value = m.to_string(),
            None => {}
        }
        attr::write_with(w.path, &value, |e| w.error(e)).map_err(|e| self.diagnosed(e))?;
        let enabled: u16 = attr::read_dec(w.path)?;
        if enabled != w.n {
            return Err(Error::NumVfsShort {
                pf: *w.pf,
                requested: w.n,
                enabled,
                driver: w.driver.map(str::to_string),
                path: w.path.to_path_buf(),
            });
        }
        Ok(())
    }

    /// An `ENOMEM` answer, with what the PF's readiness reading finds on its VF
    /// BARs and bus numbers; any other error as it is.
    fn diagnosed(&self, e: Error) -> Error {
        match e {
            Error::NumVfsNoResources {
                pf,
                requested,
                path,
                ..
            } => {
                let diagnosis = self
                    .sriov_readiness(&pf)
                    .map(|r| {
                        r.findings
                            .into_iter()
                            .filter(|f| f.explains_no_resources(requested))
                            .collect()
                    })
                    .unwrap_or_default();
                Error::NumVfsNoResources {
                    pf,
                    requested,
                    path,
                    diagnosis,
                }
            }
            e => e,
        }
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

    const EVERY_ERRNO: [i32; 16] = [
        libc::ERANGE,
        libc::ENOENT,
        libc::EBUSY,
        libc::ENOMEM,
        libc::EIO,
        libc::ENOSPC,
        libc::EPERM,
        libc::EINVAL,
        libc::EOPNOTSUPP,
        libc::ENODEV,
        libc::ENOSYS,
        libc::EAGAIN,
        libc::EACCES,
        libc::EROFS,
        libc::ENXIO,
        libc::EFAULT,
    ];

    #[test]
    fn every_kernel_errno_maps_to_a_typed_error_naming_pf_file_and_fix() {
        let pf: PciAddress = "0000:01:00.0".parse().unwrap();
        let path = Path::new("/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs");
        let w = |n, driver| NumVfsWrite {
            pf: &pf,
            path,
            n,
            current: 2,
            total: 7,
            driver,
        };
        let map = |errno| w(8, Some("igb")).error(io::Error::from_raw_os_error(errno));
        assert!(matches!(
            map(libc::EBUSY),
            Error::NumVfsBusy {
                current: 2,
                requested: 8,
                ..
            }
        ));
        assert!(matches!(
            map(libc::ERANGE),
            Error::NumVfsOutOfRange {
                requested: 8,
                total: 7,
                ..
            }
        ));
        assert!(matches!(
            w(8, None).error(io::Error::from_raw_os_error(libc::ENOENT)),
            Error::NoDriver { .. }
        ));
        assert!(
            matches!(map(libc::ENOENT), Error::NoSriovConfigure { ref driver, .. } if driver == "igb")
        );
        assert!(matches!(
            map(libc::ENOMEM),
            Error::NumVfsNoResources { requested: 8, .. }
        ));
        let refusal = |e: Error| match e {
            Error::NumVfsFailed {
                refusal, requested, ..
            } => Some((refusal, requested)),
            _ => None,
        };
        for (errno, want) in [
            (libc::EIO, NumVfsRefusal::DeviceError),
            (libc::ENOSPC, NumVfsRefusal::DriverOutOfResources),
            (libc::EPERM, NumVfsRefusal::DriverLimit),
            (libc::EINVAL, NumVfsRefusal::InvalidCount),
            (libc::EOPNOTSUPP, NumVfsRefusal::NotSupported),
            (libc::ENODEV, NumVfsRefusal::DependencyLink),
            (libc::ENOSYS, NumVfsRefusal::DependencyLink),
            (libc::EAGAIN, NumVfsRefusal::TryAgain),
            (libc::ENXIO, NumVfsRefusal::Other),
        ] {
            assert_eq!(refusal(map(errno)), Some((want, 8)), "{errno}");
        }
        // EPERM on a write of 0: a VF is assigned (igb, ixgbe).
        assert_eq!(
            refusal(w(0, Some("igb")).error(io::Error::from_raw_os_error(libc::EPERM))),
            Some((NumVfsRefusal::VfsAssigned, 0))
        );
        assert!(matches!(map(libc::EACCES), Error::PermissionDenied { .. }));
        assert!(matches!(map(libc::EROFS), Error::PermissionDenied { .. }));
        // Every message names the PF (except a read-only sysfs, which is not the
        // PF's doing), the file, and says what to do.
        for errno in EVERY_ERRNO {
            let m = map(errno).to_string();
            assert!(m.contains("sriov_numvfs"), "{m}");
            if errno != libc::EACCES && errno != libc::EROFS {
                assert!(m.contains("0000:01:00.0"), "{m}");
            }
            assert!(m.len() > 80, "no fix in {m}");
        }
        let m = map(libc::ENOMEM).to_string();
        assert!(
            m.contains("pci=realloc") && m.contains("Above 4G decoding"),
            "{m}"
        );
        let m = map(libc::EACCES).to_string();
        assert!(m.contains("run as root"), "{m}");
        let m = w(0, Some("igb"))
            .error(io::Error::from_raw_os_error(libc::EBUSY))
            .to_string();
        assert!(m.contains("assigned to a guest"), "{m}");
        let m = w(3, Some("vfio-pci"))
            .error(io::Error::from_raw_os_error(libc::ENOENT))
            .to_string();
        assert!(m.contains("enable_sriov=1"), "{m}");
    }
}
