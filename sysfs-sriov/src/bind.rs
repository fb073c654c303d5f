//! Binding a device (usually a VF) to a driver through `driver_override`.
//!
//! The sequence is the kernel's documented one (`Documentation/ABI/testing/
//! sysfs-bus-pci`, `driver_override`): write the driver name to
//! `<dev>/driver_override`, unbind from the current driver through
//! `/sys/bus/pci/drivers/<old>/unbind`, then ask the PCI core to probe again by
//! writing the address to `/sys/bus/pci/drivers_probe`. Only the named driver may
//! then bind. An empty override (a lone newline) restores normal matching.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use std::{fs, io};

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::name::check_driver_name;
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;
use crate::workers::{self, Timed};

/// How long an unbind waits for the `unbind` file of a driver that is still
/// registering: igbvf probing 7 VFs one after the other under emulation takes
/// a few seconds.
pub(crate) const UNBIND_FILE_WAIT: Duration = Duration::from_secs(10);

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
    /// override. The unbind goes to the driver bound right before it (re-read
    /// after the override is written, since another tool may have rebound the
    /// device), and is skipped when that is the wanted one. Before unbinding, a device whose netdev is up or carries addresses
    /// is refused unless `force`: unbinding takes the interface away.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a bad driver name (checked before any path is
    /// built), [`Error::DeviceNotFound`], [`Error::DriverNotLoaded`] when the target
    /// driver is not registered, [`Error::UnbindRefused`], [`Error::BindFailed`] when
    /// a named target did not end up bound, [`Error::PermissionDenied`] and other
    /// write errors. When the unbind, the probe or the final check fails, the
    /// previous `driver_override` is written back first; when that fails too, the
    /// answer is [`Error::OverrideNotRestored`] carrying both errors.
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
        // 2. and 3.; on failure the old override comes back, or the device would
        // stay pinned to a driver it is not bound to.
        self.unbind_and_probe(addr, wanted)
            .and_then(|()| self.bound_outcome(addr, before, wanted))
            .map_err(|e| self.restore_override(addr, current_override.as_deref(), e))
    }

    /// Steps 2 and 3 of a bind, after the override is written: unbind from the
    /// driver bound now (unless it is the wanted one), then re-probe.
    fn unbind_and_probe(&self, addr: &PciAddress, wanted: Option<&str>) -> Result<()> {
        // Read again: another tool may have rebound the device since it was first
        // read, and the unbind must go to the driver that holds it now.
        let now = self.driver_of(addr)?;
        let mut unbound = false;
        if let Some(cur) = &now {
            if wanted != Some(cur.as_str()) {
                check_driver_name(cur)?;
                attr::write(&self.unbind_file(addr, cur)?, &addr.to_string())?;
                unbound = true;
            }
        }
        // The PCI core now only matches the override.
        if now.is_none() || unbound {
            // ENODEV (no driver matched) passes: the result is checked after.
            self.probe(addr)?;
        }
        Ok(())
    }

    /// Writes `previous` back to the device's `driver_override` after `err`,
    /// returning `err`, or [`Error::OverrideNotRestored`] with both errors when
    /// that write fails too. A device that is gone has nothing left to restore.
    fn restore_override(&self, addr: &PciAddress, previous: Option<&str>, err: Error) -> Error {
        if !self.device_dir(addr).exists() {
            return err;
        }
        let path = self.device_file(addr, "driver_override");
        match attr::write(&path, &format!("{}\n", previous.unwrap_or(""))) {
            Ok(()) => err,
            Err(source) => Error::OverrideNotRestored {
                address: *addr,
                path,
                previous: previous.map(str::to_string),
                bind_error: Box::new(err),
                source: Box::new(source),
            },
        }
    }

    /// Probes the kernel's default driver for each VF, what
    /// [`Sysfs::bind_driver`]`(vf, &DriverTarget::Default, false)` does for one,
    /// at most `threads` at a time (at least 1; no thread for 0 or 1 VF), the
    /// threads taking the VFs in turn: each probe is the VF driver's own work
    /// (a mailbox exchange with the PF, firmware commands), and the kernel probes
    /// different devices independently. The usual follow-up of
    /// [`Sysfs::write_count`] with [`CountOptions::defer_probe`](crate::CountOptions).
    ///
    /// One answer per VF, in input order, each timed on its own.
    ///
    /// # Errors
    /// None for the call. Each VF's answer has the errors of
    /// [`Sysfs::bind_driver`], each naming that VF: one that would not (a write
    /// to the shared `drivers_probe`, say) comes as [`Error::ProbeFailed`] with
    /// it as the source. A worker that panics answers [`Error::WorkerPanicked`]
    /// for the VFs it did not answer.
    pub fn probe_vfs(&self, vfs: &[PciAddress], threads: usize) -> Vec<Timed<Result<BindOutcome>>> {
        workers::pool(
            vfs,
            threads,
            |vf| format!("probing the default driver of {vf}"),
            |vf| {
                self.bind_driver(vf, &DriverTarget::Default, false)
                    .map_err(|e| {
                        if e.to_string().contains(&vf.to_string()) {
                            e
                        } else {
                            Error::ProbeFailed {
                                address: *vf,
                                source: Box::new(e),
                            }
                        }
                    })
            },
        )
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
            attr::write(&self.unbind_file(addr, old)?, &addr.to_string())?;
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

    /// The `unbind` file of `driver`, which `addr` is bound to, once it
    /// exists: a driver that is still registering (udev loads igbvf as the
    /// VFs appear) has bound devices before the kernel creates its `bind`
    /// and `unbind` files (`bus_add_driver()` in `drivers/base/bus.c` adds
    /// them after `driver_attach()`), so wait for it, polling, at most
    /// [`UNBIND_FILE_WAIT`].
    fn unbind_file(&self, addr: &PciAddress, driver: &str) -> Result<PathBuf> {
        let path = self.driver_dir(driver).join("unbind");
        let start = Instant::now();
        loop {
            match fs::symlink_metadata(&path) {
                Ok(_) => return Ok(path),
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(attr::io_err("reading", &path, e))
                }
                Err(_) => {}
            }
            if start.elapsed() >= self.unbind_file_wait() {
                return Err(Error::UnbindFileMissing {
                    address: *addr,
                    driver: driver.to_string(),
                    path,
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(self.poll_interval());
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::fixture::{Host, HostBuilder, PfSpec};
    use crate::{Error, PciAddress};

    /// An X710 with 2 VFs; VF 0 bound to iavf.
    fn bed() -> (Host, PciAddress) {
        let pf: PciAddress = "0000:02:00.0".parse().unwrap();
        let host = HostBuilder::new()
            .pf(PfSpec::intel_x710(pf).vfs(2))
            .build()
            .unwrap();
        let vf = host.sysfs().vf(&pf, 0).unwrap().address;
        (host, vf)
    }

    #[test]
    fn the_unbind_goes_to_the_driver_bound_at_that_moment() {
        // bind_driver looked (iavf) and wrote the override; then another tool
        // rebound the VF to ixgbevf. The unbind step reads the driver again.
        let (host, vf) = bed();
        assert_eq!(
            host.sysfs().driver_of(&vf).unwrap().as_deref(),
            Some("iavf")
        );
        host.set_driver(&vf, Some("ixgbevf")).unwrap();
        host.sysfs()
            .unbind_and_probe(&vf, Some("vfio-pci"))
            .unwrap();
        assert_eq!(
            host.read("sys/bus/pci/drivers/ixgbevf/unbind").unwrap(),
            vf.to_string()
        );
        assert_eq!(host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(), "");
        assert_eq!(
            host.read("sys/bus/pci/drivers_probe").unwrap(),
            vf.to_string()
        );
    }

    #[test]
    fn no_unbind_when_another_tool_bound_the_wanted_driver_meanwhile() {
        let (host, vf) = bed();
        host.set_driver(&vf, Some("vfio-pci")).unwrap();
        host.sysfs()
            .unbind_and_probe(&vf, Some("vfio-pci"))
            .unwrap();
        assert_eq!(host.read("sys/bus/pci/drivers/iavf/unbind").unwrap(), "");
        assert_eq!(
            host.read("sys/bus/pci/drivers/vfio-pci/unbind").unwrap(),
            ""
        );
        assert_eq!(host.read("sys/bus/pci/drivers_probe").unwrap(), "");
    }

    #[test]
    fn an_unbind_waits_for_a_driver_that_is_still_registering() {
        // udev loads igbvf as the VFs appear: the driver binds them before the
        // kernel creates its unbind file (bus_add_driver, drivers/base/bus.c).
        let (host, vf) = bed();
        let unbind = host.sysfs().root().join("sys/bus/pci/drivers/iavf/unbind");
        std::fs::remove_file(&unbind).unwrap();
        let later = unbind.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            std::fs::write(later, "").unwrap();
        });
        let done = host.sysfs().reload_driver(&vf, false).unwrap();
        t.join().unwrap();
        assert_eq!(done.before.as_deref(), Some("iavf"));
        assert_eq!(std::fs::read_to_string(&unbind).unwrap(), vf.to_string());
    }

    #[test]
    fn a_missing_unbind_file_is_an_error_naming_it_after_the_wait() {
        let (host, vf) = bed();
        let unbind = host.sysfs().root().join("sys/bus/pci/drivers/iavf/unbind");
        std::fs::remove_file(&unbind).unwrap();
        let sysfs = host
            .sysfs()
            .with_unbind_file_wait(Duration::from_millis(60));
        let t = Instant::now();
        let err = sysfs.reload_driver(&vf, false).unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(60));
        match &err {
            Error::UnbindFileMissing {
                address,
                driver,
                path,
                ..
            } => {
                assert_eq!(address, &vf);
                assert_eq!(driver, "iavf");
                assert_eq!(path, &unbind);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("udevadm settle"), "{err}");
        // Nothing was probed: the device is still bound as it was.
        assert_eq!(sysfs.driver_of(&vf).unwrap().as_deref(), Some("iavf"));
        assert_eq!(host.read("sys/bus/pci/drivers_probe").unwrap(), "");
    }
}
