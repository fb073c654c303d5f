//! Waiting for freshly created VFs to become usable.
//!
//! Writing `sriov_numvfs` returns once the VF PCI devices exist, but their drivers
//! probe asynchronously and netdevs register later; where udev runs, it may still
//! rename them. Scripts paper over this with `sleep 10`. [`Sysfs::wait_for_vfs`]
//! polls sysfs at a short interval instead (sysfs does not report new entries through
//! inotify) and returns as soon as every VF is final.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::netdev::AddressMap;
use crate::numvfs::is_passthrough_driver;
use crate::pci::PciAddress;
use crate::pending::{PendingVf, WaitingFor};
use crate::sysfs::Sysfs;
use crate::vf::Vf;

/// Reported to the progress callback of [`Sysfs::wait_for_vfs`] whenever something
/// changed, and once at the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitProgress {
    /// VFs waited for.
    pub expected: u16,
    /// VFs whose PCI device exists.
    pub present: u16,
    /// VFs that are final.
    pub ready: u16,
    /// The others, by index.
    pub pending: Vec<PendingVf>,
    /// Time since the wait started.
    pub elapsed: Duration,
}

impl Sysfs {
    /// Waits until VFs `0..expected` of the PF at `pf` are final, and returns all
    /// current VFs.
    ///
    /// A VF is final when its device exists and:
    /// - it is not a network-class device (PCI class other than `0x02xxxx`: NVMe,
    ///   crypto; with a driver or without), or is bound to a passthrough driver
    ///   (vfio-pci, ...), or has no driver while `sriov_drivers_autoprobe` is 0
    ///   (nothing will bind); or
    /// - it has a netdev, and, when udev runs under the root (`run/udev/control`
    ///   exists), udev has processed it (`run/udev/data/n<ifindex>` exists). Without
    ///   udev the kernel's name is final at once.
    ///
    /// Polls at the handle's poll interval (see [`Sysfs::with_poll_interval`]); no
    /// other sleeping.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] naming each VF still missing and what it lacks;
    /// [`Error::NumVfsOutOfRange`] when `expected > sriov_totalvfs`; the errors of
    /// [`Sysfs::vfs`].
    pub fn wait_for_vfs(
        &self,
        pf: &PciAddress,
        expected: u16,
        timeout: Duration,
        progress: &mut dyn FnMut(&WaitProgress),
    ) -> Result<Vec<Vf>> {
        let start = Instant::now();
        let info = self.sriov_info(pf)?;
        if expected > info.total_vfs {
            return Err(Error::NumVfsOutOfRange {
                pf: *pf,
                requested: u32::from(expected),
                total: info.total_vfs,
                path: self.device_file(pf, "sriov_numvfs"),
            });
        }
        let empty = AddressMap::new();
        let mut last: Option<(u16, u16, Vec<PendingVf>)> = None;
        loop {
            let autoprobe = self.sriov_info(pf)?.drivers_autoprobe;
            let mut present = 0u16;
            let mut pending = Vec::new();
            for index in 0..u32::from(expected) {
                match self.vf_state(pf, index, autoprobe, &empty)? {
                    (true, None) => present += 1,
                    (p, Some(w)) => {
                        present += u16::from(p);
                        pending.push(w);
                    }
                    (false, None) => {}
                }
            }
            let ready = expected - u16::try_from(pending.len()).unwrap_or(expected);
            let state = (present, ready, pending.clone());
            if last.as_ref() != Some(&state) {
                progress(&WaitProgress {
                    expected,
                    present,
                    ready,
                    pending: pending.clone(),
                    elapsed: start.elapsed(),
                });
                last = Some(state);
            }
            if pending.is_empty() {
                return self.vfs(pf);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                return Err(Error::WaitTimeout {
                    pf: *pf,
                    expected,
                    timeout,
                    missing: pending,
                });
            }
            std::thread::sleep(self.poll_interval().min(timeout - elapsed));
        }
    }

    /// (device present, what it still waits for).
    fn vf_state(
        &self,
        pf: &PciAddress,
        index: u32,
        autoprobe: bool,
        addrs: &AddressMap,
    ) -> Result<(bool, Option<PendingVf>)> {
        let pending = |address, waiting_for| PendingVf {
            index,
            address,
            waiting_for,
        };
        let Some(addr) = attr::link_address(&self.device_file(pf, &format!("virtfn{index}")))?
        else {
            return Ok((false, Some(pending(None, WaitingFor::Device))));
        };
        if !self.device_dir(&addr).exists() {
            return Ok((false, Some(pending(Some(addr), WaitingFor::Device))));
        }
        // PCI class 0x02xxxx is "network controller"; other VFs (crypto, NVMe) never
        // get a netdev, and their driver is not what the wait is for: one whose
        // driver gave it up (an NVMe VF without queue resources: nvme's probe
        // fails) stays without one, autoprobe or not.
        let class = attr::read_hex_u32_opt(&self.device_file(&addr, "class"))?;
        if class.is_some_and(|c| c >> 16 != 0x02) {
            return Ok((true, None));
        }
        let Some(driver) = self.driver_of(&addr)? else {
            return Ok(if autoprobe {
                (true, Some(pending(Some(addr), WaitingFor::Driver)))
            } else {
                (true, None)
            });
        };
        if is_passthrough_driver(&driver) {
            return Ok((true, None));
        }
        let netdevs = self.netdev_names(&addr)?;
        if netdevs.is_empty() {
            return Ok((
                true,
                Some(pending(Some(addr), WaitingFor::Netdev { driver })),
            ));
        }
        if self.udev_running() {
            for name in netdevs {
                // A netdev renamed between listing and reading is udev at work.
                let processed = match self.netdev_with(&name, addrs) {
                    Ok(nd) => nd.udev_processed == Some(true),
                    Err(Error::NetdevNotFound { .. }) => false,
                    Err(e) => return Err(e),
                };
                if !processed {
                    return Ok((
                        true,
                        Some(pending(Some(addr), WaitingFor::Udev { netdev: name })),
                    ));
                }
            }
        }
        Ok((true, None))
    }
}
