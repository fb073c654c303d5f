//! Binding a device (usually a VF) to a driver through `driver_override`.
//!
//! The sequence is the kernel's documented one (`Documentation/ABI/testing/
//! sysfs-bus-pci`, `driver_override`): write the driver name to
//! `<dev>/driver_override`, unbind from the current driver through
//! `/sys/bus/pci/drivers/<old>/unbind`, then ask the PCI core to probe again by
//! writing the address to `/sys/bus/pci/drivers_probe`. Only the named driver may
//! then bind. An empty override (a lone newline) restores normal matching.

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::name::check_driver_name;
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;

/// The driver [`Sysfs::bind_driver`] should leave the device bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum DriverTarget {
    /// `vfio-pci`, for passing the VF to a VM.
    VfioPci,
    /// Whatever the kernel picks without an override (e.g. `iavf`, `igbvf`).
    Default,
    /// A driver by name.
    Named(String),
}

impl DriverTarget {
    /// The override to write; `None` for [`DriverTarget::Default`].
    fn name(&self) -> Option<&str> {
        match self {
            Self::VfioPci => Some("vfio-pci"),
            Self::Default => None,
            Self::Named(n) => Some(n),
        }
    }
}

/// What [`Sysfs::bind_driver`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindOutcome {
    /// The device.
    pub address: PciAddress,
    /// Driver before.
    pub before: Option<String>,
    /// Driver after.
    pub after: Option<String>,
    /// Whether anything was written.
    pub changed: bool,
}

impl Sysfs {
    /// Binds the device at `addr` to `target` and reports the resulting driver.
    ///
    /// Nothing is written when the device already has the wanted driver and
    /// override. Before unbinding, a device whose netdev is up or carries addresses
    /// is refused unless `force`: unbinding takes the interface away.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a bad driver name (checked before any path is
    /// built), [`Error::DeviceNotFound`], [`Error::DriverNotLoaded`] when the target
    /// driver is not registered, [`Error::UnbindRefused`], [`Error::BindFailed`] when
    /// a named target did not end up bound, [`Error::PermissionDenied`] and other
    /// write errors.
    pub fn bind_driver(
        &self,
        addr: &PciAddress,
        target: &DriverTarget,
        force: bool,
    ) -> Result<BindOutcome> {
        let wanted = target.name();
        if let Some(w) = wanted {
            check_driver_name(w)?;
        }
        self.require_device(addr)?;
        let before = self.driver_of(addr)?;
        let override_path = self.device_file(addr, "driver_override");
        let current_override =
            attr::read_opt(&override_path)?.filter(|s| !s.is_empty() && s != "(null)");

        let done = match wanted {
            Some(w) => before.as_deref() == Some(w) && current_override.as_deref() == Some(w),
            None => current_override.is_none() && before.is_some(),
        };
        if done {
            return Ok(BindOutcome {
                address: *addr,
                after: before.clone(),
                before,
                changed: false,
            });
        }
        if let Some(w) = wanted {
            let dir = self.driver_dir(w);
            if !dir.exists() {
                return Err(Error::DriverNotLoaded {
                    driver: w.to_string(),
                    path: dir,
                });
            }
        }
        if let Some(old) = &before {
            check_driver_name(old)?;
            if !force {
                self.check_unbind_allowed(addr, old)?;
            }
        }

        // 1. Override (a lone newline clears it).
        attr::write(&override_path, &format!("{}\n", wanted.unwrap_or("")))?;
        // 2. Unbind from the old driver, unless it already is the wanted one.
        let mut unbound = false;
        if let Some(old) = &before {
            if wanted != Some(old.as_str()) {
                attr::write(&self.driver_dir(old).join("unbind"), &addr.to_string())?;
                unbound = true;
            }
        }
        // 3. Re-probe: the PCI core now only matches the override.
        if before.is_none() || unbound {
            // ENODEV (no driver matched) passes: the result is checked below.
            self.probe(addr)?;
        }
        self.bound_outcome(addr, before, wanted)
    }

    /// Reloads the device's driver: unbinds it and asks the PCI core to probe
    /// again, so the same driver starts afresh (a VF driver such as igbvf reads
    /// the MAC the PF set for it only when it loads). A device without a driver
    /// is just probed.
    ///
    /// Refuses, before writing anything, when the device's netdev is up or has
    /// addresses, unless `force`: the netdev goes away and comes back under the
    /// kernel's name, down and without addresses.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::UnbindRefused`], [`Error::BindFailed`]
    /// when the driver did not come back, [`Error::PermissionDenied`] and other
    /// write errors.
    pub fn reload_driver(&self, addr: &PciAddress, force: bool) -> Result<BindOutcome> {
        self.require_device(addr)?;
        let before = self.driver_of(addr)?;
        if let Some(old) = &before {
            check_driver_name(old)?;
            if !force {
                self.check_unbind_allowed(addr, old)?;
            }
            attr::write(&self.driver_dir(old).join("unbind"), &addr.to_string())?;
        }
        self.probe(addr)?;
        let wanted = before.clone();
        self.bound_outcome(addr, before, wanted.as_deref())
    }

    /// After a rebind: the outcome, or [`Error::BindFailed`] when `wanted` is
    /// set and the device did not end up bound to it.
    fn bound_outcome(
        &self,
        addr: &PciAddress,
        before: Option<String>,
        wanted: Option<&str>,
    ) -> Result<BindOutcome> {
        let after = self.driver_of(addr)?;
        if let Some(w) = wanted {
            if after.as_deref() != Some(w) {
                return Err(Error::BindFailed {
                    address: *addr,
                    wanted: w.to_string(),
                    got: after,
                });
            }
        }
        Ok(BindOutcome {
            address: *addr,
            changed: true,
            before,
            after,
        })
    }

    /// Writes the address to `/sys/bus/pci/drivers_probe`; ENODEV (no driver
    /// matched) is not an error here, the caller checks the result.
    fn probe(&self, addr: &PciAddress) -> Result<()> {
        let probe = self.path("sys/bus/pci/drivers_probe");
        let value = addr.to_string();
        let mut no_match = false;
        let r = attr::write_with(&probe, &value, |e| {
            no_match = e.raw_os_error() == Some(libc::ENODEV);
            attr::write_error(&probe, &value, e, "")
        });
        if no_match {
            return Ok(());
        }
        r
    }

    fn check_unbind_allowed(&self, addr: &PciAddress, driver: &str) -> Result<()> {
        let addrs = self.address_map()?;
        for name in self.netdev_names(addr)? {
            let nd = self.netdev_with(&name, &addrs)?;
            let reason = if nd.up {
                "is up".to_string()
            } else if !nd.addresses.is_empty() {
                let a: Vec<String> = nd.addresses.iter().map(ToString::to_string).collect();
                format!("has addresses {}", a.join(", "))
            } else {
                continue;
            };
            return Err(Error::UnbindRefused {
                address: *addr,
                driver: driver.to_string(),
                netdev: name,
                reason,
            });
        }
        Ok(())
    }
}
