//! Resetting PFs to 0 VFs: what it would disturb, and doing it for several PFs
//! at the same time.
//!
//! Writing 0 to `sriov_numvfs` removes every VF of the PF (`sriov_disable()` in
//! `drivers/pci/iov.c`), whatever uses it: a VM's passthrough device, an
//! interface with addresses. So every PF is checked before any is written.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::numvfs::NumVfsOutcome;
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;
use crate::usage::PfImpact;
use crate::workers::{self, Timed};

/// The PFs in input order, each once.
fn dedup(pfs: &[PciAddress]) -> Vec<PciAddress> {
    let mut out: Vec<PciAddress> = Vec::with_capacity(pfs.len());
    for pf in pfs {
        if !out.contains(pf) {
            out.push(*pf);
        }
    }
    out
}

impl Sysfs {
    /// What a reset to 0 VFs of these PFs would disturb: for each PF (input
    /// order, a PF given twice counts once) its VF count and every VF as a
    /// [`Casualty`](crate::Casualty), with what is in use on it (see
    /// [`Sysfs::recreate_impact`]; empty reasons when nothing is). A PF with 0 VFs
    /// is included with an empty list. [`PfImpact::in_use`] gives the VFs in use.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], I/O and parse errors
    /// of any PF (the first one met).
    pub fn reset_impact(&self, pfs: &[PciAddress]) -> Result<Vec<PfImpact>> {
        dedup(pfs)
            .into_iter()
            .map(|pf| {
                let num_vfs = self.sriov_info(&pf)?.num_vfs;
                let casualties = if num_vfs == 0 {
                    Vec::new()
                } else {
                    self.recreate_impact(&pf)?
                };
                Ok(PfImpact {
                    pf,
                    num_vfs,
                    casualties,
                })
            })
            .collect()
    }

    /// Sets every given PF to 0 VFs, all at the same time (a thread per PF that
    /// has VFs; none for a single one).
    ///
    /// Every PF is read before any is written. Unless `allow_in_use`, this is
    /// [`Sysfs::reset_impact`], and when any VF of any PF is in use the answer is
    /// [`Error::ResetRefused`] naming each such VF, with nothing written. PFs with
    /// 0 VFs are not written ([`NumVfsOutcome::Unchanged`]).
    ///
    /// One answer per PF, in input order, a PF given twice once; each write timed
    /// on its own.
    ///
    /// ```
    /// # #[cfg(feature = "fixture")] {
    /// use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};
    /// use sysfs_sriov::Error;
    ///
    /// let pf = "0000:01:00.0".parse()?;
    /// let host = HostBuilder::new()
    ///     .pf(PfSpec::intel_82576(pf).vfs(2).vf_driver_at(1, VfDriver::VfioPci))
    ///     .build()?;
    /// let e = host.sysfs().reset_pfs(&[pf], false).unwrap_err();
    /// assert!(matches!(e, Error::ResetRefused { .. }));
    /// assert!(e.to_string().contains("bound to vfio-pci"));
    /// assert_eq!(host.read_attr(&pf, "sriov_numvfs")?, "2"); // nothing written
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ResetRefused`]; the errors of [`Sysfs::reset_impact`] (or, with
    /// `allow_in_use`, of [`Sysfs::sriov_info`]) before anything is written. Each
    /// PF's answer has the errors of [`Sysfs::set_num_vfs`] or
    /// [`Error::WorkerPanicked`].
    pub fn reset_pfs(
        &self,
        pfs: &[PciAddress],
        allow_in_use: bool,
    ) -> Result<Vec<(PciAddress, Timed<Result<NumVfsOutcome>>)>> {
        let counts: Vec<(PciAddress, u16)> = if allow_in_use {
            dedup(pfs)
                .into_iter()
                .map(|pf| Ok((pf, self.sriov_info(&pf)?.num_vfs)))
                .collect::<Result<_>>()?
        } else {
            let impacts = self.reset_impact(pfs)?;
            let busy: Vec<PfImpact> = impacts
                .iter()
                .filter(|i| i.in_use().next().is_some())
                .cloned()
                .collect();
            if !busy.is_empty() {
                return Err(Error::ResetRefused { pfs: busy });
            }
            impacts.iter().map(|i| (i.pf, i.num_vfs)).collect()
        };
        let todo: Vec<PciAddress> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(pf, _)| *pf)
            .collect();
        let mut done = workers::each(
            &todo,
            |pf| format!("writing 0 to sriov_numvfs of {pf}"),
            |pf| self.set_num_vfs(pf, 0, true),
        )
        .into_iter();
        Ok(counts
            .into_iter()
            .map(|(pf, n)| {
                let answer = if n == 0 {
                    Timed {
                        value: Ok(NumVfsOutcome::Unchanged { num_vfs: 0 }),
                        took: Duration::ZERO,
                    }
                } else {
                    // `each` answers every item of `todo`, in order.
                    done.next().unwrap_or_else(|| Timed {
                        value: Err(Error::WorkerPanicked {
                            what: format!("writing 0 to sriov_numvfs of {pf}"),
                            payload: "no answer".to_string(),
                        }),
                        took: Duration::ZERO,
                    })
                };
                (pf, answer)
            })
            .collect())
    }
}
