//! VF count writes with their kernel sequencing: `sriov_drivers_autoprobe` off
//! around the write when asked, several PFs at the same time.
//!
//! With autoprobe off, the PCI core does not bind a driver to the VFs it creates
//! (`pci_device_can_probe()` in `drivers/pci/pci-driver.c` checks the PF's flag
//! for every VF probe, also later ones), so the caller can set the VFs' MACs and
//! other attributes first and probe the drivers afterwards (a VF driver such as
//! igbvf reads its MAC only when it probes). The flag is put back at once, whatever
//! the count write did: leaving it off would leave every later VF of that PF
//! without a driver.

use crate::attr;
use crate::error::{Error, Result};
use crate::numvfs::NumVfsOutcome;
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;
use crate::workers::{self, Timed};

/// How [`Sysfs::write_count`] and [`Sysfs::write_counts`] write a VF count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountOptions {
    /// Non-zero -> other non-zero goes through 0, destroying every VF (as
    /// [`Sysfs::set_num_vfs`]'s `allow_recreate`).
    pub allow_recreate: bool,
    /// Turn the PF's `sriov_drivers_autoprobe` off around the write when it is on
    /// and writable, so new VFs get no driver yet (see [`Sysfs::write_count`]).
    pub defer_probe: bool,
}

/// What [`Sysfs::write_count`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountDone {
    /// What the count write did.
    pub outcome: NumVfsOutcome,
    /// True when autoprobe was turned off around a write that created VFs: the
    /// caller must probe them ([`Sysfs::probe_vfs`]).
    pub probe_deferred: bool,
}

impl Sysfs {
    /// One PF's VF count write: [`Sysfs::set_num_vfs`]`(pf, n, opts.allow_recreate)`,
    /// and with `opts.defer_probe`, `sriov_drivers_autoprobe` off around it.
    ///
    /// With `defer_probe`, when the write would create VFs (`n` is not 0 and not
    /// the current count) and the PF's `sriov_drivers_autoprobe` reads 1: writes 0
    /// to it, does the count write, then always writes 1 back, whatever the count
    /// write did. The new VFs then have no driver, and
    /// [`CountDone::probe_deferred`] says the caller must probe them
    /// ([`Sysfs::probe_vfs`]). A PF whose flag is off already, or cannot be
    /// written (a read-only sysfs, a kernel without the file), gets the normal
    /// write, and `probe_deferred` is false.
    ///
    /// # Errors
    /// Those of [`Sysfs::set_num_vfs`] (also when autoprobe was restored after
    /// it failed); [`Error::AutoprobeNotRestored`] when writing 1 back failed,
    /// carrying the count write's own error if it had one.
    pub fn write_count(&self, pf: &PciAddress, n: u16, opts: CountOptions) -> Result<CountDone> {
        let plain = || {
            self.set_num_vfs(pf, n, opts.allow_recreate)
                .map(|outcome| CountDone {
                    outcome,
                    probe_deferred: false,
                })
        };
        if !opts.defer_probe || n == 0 {
            return plain();
        }
        let info = self.sriov_info(pf)?;
        // The same count writes nothing, so it creates no VF.
        if n == info.num_vfs || !info.drivers_autoprobe {
            return plain();
        }
        let path = self.device_file(pf, "sriov_drivers_autoprobe");
        if attr::write(&path, "0").is_err() {
            return plain();
        }
        let counted = self.set_num_vfs(pf, n, opts.allow_recreate);
        // It was on ("1"): back to that, whatever the count write did.
        let restored = attr::write(&path, "1");
        after_restore(pf, path, counted, restored)
    }

    /// [`Sysfs::write_count`] for several PFs at the same time: one thread per
    /// PF (none for a single PF), since each write blocks in its PF's driver and
    /// the kernel does different PFs independently.
    ///
    /// One answer per write, in input order, each timed on its own. A thread
    /// that panics answers [`Error::WorkerPanicked`] for its PF.
    ///
    /// ```
    /// # #[cfg(feature = "fixture")] {
    /// use sysfs_sriov::fixture::{HostBuilder, PfSpec};
    /// use sysfs_sriov::{CountOptions, NumVfsOutcome};
    ///
    /// let (a, b) = ("0000:01:00.0".parse()?, "0000:02:00.0".parse()?);
    /// let host = HostBuilder::new()
    ///     .pf(PfSpec::intel_82576(a))
    ///     .pf(PfSpec::intel_x710(b))
    ///     .build()?;
    /// let opts = CountOptions { defer_probe: true, ..CountOptions::default() };
    /// let done = host.sysfs().write_counts(&[(a, 4), (b, 99)], opts);
    /// let first = done[0].value.as_ref().map_err(|e| e.to_string())?;
    /// assert_eq!(first.outcome, NumVfsOutcome::Changed { from: 0, to: 4 });
    /// assert!(first.probe_deferred);
    /// assert!(done[1].value.is_err()); // 99 > 64
    /// assert_eq!(host.read_attr(&a, "sriov_drivers_autoprobe")?, "1");
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// None for the call; each item has the errors of [`Sysfs::write_count`] or
    /// [`Error::WorkerPanicked`].
    pub fn write_counts(
        &self,
        writes: &[(PciAddress, u16)],
        opts: CountOptions,
    ) -> Vec<Timed<Result<CountDone>>> {
        workers::each(
            writes,
            |(pf, _)| format!("writing sriov_numvfs of {pf}"),
            |&(pf, n)| self.write_count(&pf, n, opts),
        )
    }
}

/// The answer of a deferred count write once autoprobe was written back: a
/// failed restore is never swallowed.
fn after_restore(
    pf: &PciAddress,
    path: std::path::PathBuf,
    counted: Result<NumVfsOutcome>,
    restored: Result<()>,
) -> Result<CountDone> {
    match (counted, restored) {
        (Ok(outcome), Ok(())) => Ok(CountDone {
            outcome,
            probe_deferred: matches!(outcome, NumVfsOutcome::Changed { to, .. } if to > 0),
        }),
        (Err(e), Ok(())) => Err(e),
        (counted, Err(source)) => Err(Error::AutoprobeNotRestored {
            pf: *pf,
            path,
            count_error: counted.err().map(Box::new),
            source: Box::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn restore_failed() -> Result<()> {
        Err(Error::PermissionDenied {
            path: PathBuf::from("/sys/bus/pci/devices/0000:01:00.0/sriov_drivers_autoprobe"),
            source: std::io::Error::from_raw_os_error(libc::EROFS),
        })
    }

    #[test]
    fn a_failed_restore_is_an_error_with_the_count_error_kept() {
        let pf: PciAddress = "0000:01:00.0".parse().unwrap();
        let path = PathBuf::from("/sys/bus/pci/devices/0000:01:00.0/sriov_drivers_autoprobe");
        let changed = NumVfsOutcome::Changed { from: 0, to: 3 };

        let ok = after_restore(&pf, path.clone(), Ok(changed), Ok(())).unwrap();
        assert!(ok.probe_deferred);
        let to_zero = NumVfsOutcome::Changed { from: 3, to: 0 };
        let ok = after_restore(&pf, path.clone(), Ok(to_zero), Ok(())).unwrap();
        assert!(!ok.probe_deferred, "no VF created");

        let e = after_restore(&pf, path.clone(), Ok(changed), restore_failed()).unwrap_err();
        match &e {
            Error::AutoprobeNotRestored {
                count_error: None,
                source,
                ..
            } => assert!(matches!(**source, Error::PermissionDenied { .. })),
            other => panic!("{other}"),
        }
        let m = e.to_string();
        assert!(
            m.contains("0000:01:00.0")
                && m.contains("echo 1 > /sys/bus/pci/devices/0000:01:00.0/sriov_drivers_autoprobe"),
            "{m}"
        );

        let busy = Error::NumVfsBusy {
            pf,
            current: 2,
            requested: 4,
            path: PathBuf::from("/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs"),
        };
        let e = after_restore(&pf, path.clone(), Err(busy), restore_failed()).unwrap_err();
        assert!(
            matches!(&e, Error::AutoprobeNotRestored { count_error: Some(c), .. }
                if matches!(**c, Error::NumVfsBusy { current: 2, .. })),
            "{e}"
        );
        let m = e.to_string();
        assert!(
            m.contains("the count write had failed too") && m.contains("EBUSY"),
            "{m}"
        );
        // The restore's own error is the source, not in the message.
        assert!(std::error::Error::source(&e).is_some());

        let busy = Error::NumVfsBusy {
            pf,
            current: 2,
            requested: 4,
            path: PathBuf::from("x"),
        };
        assert!(matches!(
            after_restore(&pf, path, Err(busy), Ok(())),
            Err(Error::NumVfsBusy { .. })
        ));
    }
}
