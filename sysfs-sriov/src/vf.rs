//! Virtual functions: `virtfnN` links from the PF, `physfn` back.

use std::path::PathBuf;

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::pci::PciAddress;
use crate::pf::{device_name, SubsystemId};
use crate::sysfs::Sysfs;

/// One virtual function that exists now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vf {
    /// VF index (`N` in the PF's `virtfnN`).
    pub index: u32,
    /// PCI address.
    pub address: PciAddress,
    /// The PF it belongs to.
    pub pf: PciAddress,
    /// Its network interfaces (none when bound to vfio-pci, unbound, or moved to
    /// another network namespace), sorted.
    pub netdevs: Vec<String>,
    /// The bound driver.
    pub driver: Option<String>,
    /// `driver_override`, when set.
    pub driver_override: Option<String>,
    /// IOMMU group number.
    pub iommu_group: Option<u32>,
    /// PCI vendor id (`vendor`).
    pub vendor_id: u16,
    /// The VF's own PCI device id (`device`; the PF's `sriov_vf_device`).
    pub device_id: u16,
    /// Device name from the PCI ID database.
    pub device_name: Option<String>,
    /// PCI subsystem id (`subsystem_vendor`, `subsystem_device`), `None` when
    /// sysfs does not show it.
    pub subsystem: Option<SubsystemId>,
    /// `/dev/vfio/<group>` (under the handle's root) when bound to vfio-pci and the
    /// node exists: what a VMM opens.
    pub vfio_dev: Option<PathBuf>,
}

impl Sysfs {
    /// The VFs of the PF at `pf` that exist now (every `virtfnN` link), by index.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], I/O and parse errors.
    pub fn vfs(&self, pf: &PciAddress) -> Result<Vec<Vf>> {
        self.require_pf(pf)?;
        let mut out = Vec::new();
        for (index, addr) in self.virtfn_links(pf)? {
            out.push(self.read_vf(pf, index, &addr)?);
        }
        Ok(out)
    }

    /// VF `index` of the PF at `pf`.
    ///
    /// # Errors
    /// [`Error::VfIndexOutOfRange`] when there is no `virtfn<index>`, plus the errors
    /// of [`Sysfs::vfs`].
    pub fn vf(&self, pf: &PciAddress, index: u32) -> Result<Vf> {
        self.require_pf(pf)?;
        match attr::link_address(&self.device_file(pf, &format!("virtfn{index}")))? {
            Some(addr) => self.read_vf(pf, index, &addr),
            None => Err(Error::VfIndexOutOfRange {
                pf: *pf,
                index,
                limit: u32::from(self.sriov_info(pf)?.num_vfs),
            }),
        }
    }

    /// The address of VF `index` of the PF at `pf`: from its `virtfn<index>` link
    /// when the VF exists, else predicted from `sriov_offset`/`sriov_stride` (see
    /// [`predict_vf_address`](crate::predict_vf_address)).
    ///
    /// # Errors
    /// [`Error::VfIndexOutOfRange`] when `index >= sriov_totalvfs`,
    /// [`Error::VfAddressOverflow`], plus the errors of [`Sysfs::pf_by_address`].
    pub fn vf_address(&self, pf: &PciAddress, index: u32) -> Result<PciAddress> {
        self.require_pf(pf)?;
        match attr::link_address(&self.device_file(pf, &format!("virtfn{index}")))? {
            Some(a) => Ok(a),
            None => crate::pf::predict_vf_address(&self.pf_by_address(pf)?, index),
        }
    }

    /// The PF of the VF at `vf` (its `physfn` link).
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotAVf`], I/O and parse errors.
    pub fn vf_to_pf(&self, vf: &PciAddress) -> Result<PciAddress> {
        self.require_device(vf)?;
        let path = self.device_file(vf, "physfn");
        attr::link_address(&path)?.ok_or(Error::NotAVf { address: *vf, path })
    }

    /// The VF at PCI address `vf`, with its index found through its PF.
    ///
    /// # Errors
    /// The errors of [`Sysfs::vf_to_pf`]; [`Error::NotAVf`] when the PF does not list
    /// it.
    pub fn vf_by_address(&self, vf: &PciAddress) -> Result<Vf> {
        let pf = self.vf_to_pf(vf)?;
        for (index, addr) in self.virtfn_links(&pf)? {
            if addr == *vf {
                return self.read_vf(&pf, index, &addr);
            }
        }
        Err(Error::NotAVf {
            address: *vf,
            path: self.device_dir(&pf),
        })
    }

    /// `(index, address)` of every `virtfnN` link, sorted by index.
    pub(crate) fn virtfn_links(&self, pf: &PciAddress) -> Result<Vec<(u32, PciAddress)>> {
        let dir = self.device_dir(pf);
        let mut out = Vec::new();
        for name in attr::list_dir(&dir)? {
            let Some(Ok(index)) = name.strip_prefix("virtfn").map(str::parse::<u32>) else {
                continue;
            };
            if let Some(addr) = attr::link_address(&dir.join(&name))? {
                out.push((index, addr));
            }
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out)
    }

    pub(crate) fn read_vf(&self, pf: &PciAddress, index: u32, addr: &PciAddress) -> Result<Vf> {
        self.require_device(addr)?;
        let (vendor_id, device_id) = self.ids(addr)?;
        let driver = self.driver_of(addr)?;
        let iommu_group = self.iommu_group_of(addr)?;
        let vfio_dev = match (driver.as_deref(), iommu_group) {
            (Some("vfio-pci"), Some(g)) => Some(self.vfio_dev(g)).filter(|p| p.exists()),
            _ => None,
        };
        let driver_override = attr::read_opt(&self.device_file(addr, "driver_override"))?
            .filter(|s| !s.is_empty() && s != "(null)");
        Ok(Vf {
            index,
            address: *addr,
            pf: *pf,
            netdevs: self.netdev_names(addr)?,
            driver,
            driver_override,
            iommu_group,
            vendor_id,
            device_id,
            device_name: device_name(vendor_id, device_id),
            subsystem: self.subsystem_of(addr)?,
            vfio_dev,
        })
    }
}
