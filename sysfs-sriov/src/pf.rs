//! Physical functions: discovery, lookup and their SR-IOV attributes.

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;

/// The `sriov_*` attributes of a PF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SriovInfo {
    /// `sriov_totalvfs`: the most VFs the PF (and its driver) supports.
    pub total_vfs: u16,
    /// `sriov_numvfs`: VFs enabled now.
    pub num_vfs: u16,
    /// `sriov_offset`: First VF Offset (routing id distance PF -> VF 0).
    pub offset: u16,
    /// `sriov_stride`: VF Stride (routing id distance between VFs).
    pub stride: u16,
    /// `sriov_vf_device`: the VFs' PCI device id.
    pub vf_device: u16,
    /// `sriov_drivers_autoprobe`: whether new VFs get a driver bound automatically.
    pub drivers_autoprobe: bool,
}

/// A PCI subsystem id: the board vendor and board id behind a chip's vendor and
/// device id (`subsystem_vendor`, `subsystem_device` in sysfs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct SubsystemId {
    /// `subsystem_vendor`.
    pub vendor: u16,
    /// `subsystem_device`.
    pub device: u16,
}

impl std::fmt::Display for SubsystemId {
    /// `8086:0007`, the form `lspci -nn` and Proxmox use.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}

/// An SR-IOV capable PCI device (a physical function).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pf {
    /// PCI address.
    pub address: PciAddress,
    /// Its network interfaces (usually one), sorted.
    pub netdevs: Vec<String>,
    /// The bound driver, `None` when unbound.
    pub driver: Option<String>,
    /// PCI vendor id (`vendor`).
    pub vendor_id: u16,
    /// PCI device id (`device`).
    pub device_id: u16,
    /// Vendor name from the PCI ID database.
    pub vendor_name: Option<String>,
    /// Device name from the PCI ID database.
    pub device_name: Option<String>,
    /// PCI subsystem (vendor, device) ids (`subsystem_vendor`, `subsystem_device`):
    /// which board carries the chip, what Proxmox' `subsystem-id` matches.
    /// `None` when sysfs does not show them.
    pub subsystem: Option<SubsystemId>,
    /// NUMA node (`numa_node`); `None` when absent or `-1` (no affinity).
    pub numa_node: Option<i32>,
    /// IOMMU group number; `None` without an active IOMMU.
    pub iommu_group: Option<u32>,
    /// PCI class code (`class`: `0x020000` Ethernet, `0x010802` NVMe); `None`
    /// when sysfs does not show it. Its VFs have the same class.
    pub class: Option<u32>,
    /// SR-IOV attributes.
    pub sriov: SriovInfo,
}

impl Pf {
    /// Whether the PF is a network controller (PCI class `0x02xxxx`), or its
    /// class is not shown: VFs of any other class (NVMe, crypto) never get a
    /// netdev.
    #[must_use]
    pub fn is_network(&self) -> bool {
        self.class.is_none_or(|c| c >> 16 == 0x02)
    }

    /// The address VF `index` has (or will have), from `sriov_offset`/`sriov_stride`.
    ///
    /// # Errors
    /// [`Error::VfIndexOutOfRange`] when `index >= total_vfs`,
    /// [`Error::VfAddressOverflow`] when the address would lie beyond bus `ff`.
    pub fn vf_address(&self, index: u32) -> Result<PciAddress> {
        predict_vf_address(self, index)
    }
}

/// Predicts the PCI address of VF `index` of `pf`, also for VFs that do not exist yet:
/// routing id = PF routing id + `sriov_offset` + `sriov_stride` * index
/// (`pci_iov_virtfn_bus()`/`pci_iov_virtfn_devfn()` in `drivers/pci/iov.c`).
///
/// The hardware may report a different offset/stride for different VF counts; the
/// kernel re-reads them when VFs are enabled, so predictions are exact for the
/// current `sriov_numvfs` (or for `sriov_totalvfs` while none are enabled).
///
/// # Errors
/// [`Error::VfIndexOutOfRange`] when `index >= total_vfs`,
/// [`Error::VfAddressOverflow`] when the address would lie beyond bus `ff`.
pub fn predict_vf_address(pf: &Pf, index: u32) -> Result<PciAddress> {
    let s = &pf.sriov;
    if index >= u32::from(s.total_vfs) {
        return Err(Error::VfIndexOutOfRange {
            pf: pf.address,
            index,
            limit: u32::from(s.total_vfs),
        });
    }
    pf.address
        .vf_address(s.offset, s.stride, index)
        .ok_or(Error::VfAddressOverflow {
            pf: pf.address,
            index,
            offset: s.offset,
            stride: s.stride,
        })
}

pub(crate) fn vendor_name(vendor: u16) -> Option<String> {
    use pci_ids::FromId;
    pci_ids::Vendor::from_id(vendor).map(|v| v.name().to_string())
}

pub(crate) fn device_name(vendor: u16, device: u16) -> Option<String> {
    pci_ids::Device::from_vid_pid(vendor, device).map(|d| d.name().to_string())
}

impl Sysfs {
    /// Every SR-IOV capable PCI device (every entry of `sys/bus/pci/devices` with a
    /// `sriov_totalvfs` file), sorted by address.
    ///
    /// # Errors
    /// I/O and parse errors reading sysfs.
    pub fn pfs(&self) -> Result<Vec<Pf>> {
        let mut out = Vec::new();
        for name in attr::list_dir(&self.path("sys/bus/pci/devices"))? {
            // Entries the kernel names are PCI addresses; skip anything else.
            let Ok(addr) = name.parse::<PciAddress>() else {
                continue;
            };
            if self.device_file(&addr, "sriov_totalvfs").exists() {
                out.push(self.pf_by_address(&addr)?);
            }
        }
        out.sort_by_key(|p| p.address);
        Ok(out)
    }

    /// Resolves a PF from a PCI address (`0000:02:00.0`, `02:00.0`) or a netdev name.
    ///
    /// # Errors
    /// [`Error::InvalidPciAddress`] when `spec` contains `:` but is no PCI address,
    /// [`Error::InvalidName`] when it is no valid interface name either, and the errors of [`Sysfs::pf_by_address`] / [`Sysfs::pf_by_netdev`].
    pub fn find_pf(&self, spec: &str) -> Result<Pf> {
        match spec.parse::<PciAddress>() {
            Ok(addr) => self.pf_by_address(&addr),
            // Interface names cannot contain `:`, so this was meant as an address:
            // say what is wrong with it as one.
            Err(e) if spec.contains(':') => Err(e),
            Err(_) => self.pf_by_netdev(spec),
        }
    }

    /// The PF behind network interface `name`.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::NetdevNotFound`], [`Error::NetdevNotPci`],
    /// [`Error::NotSriovCapable`] (with a hint when `name` is a VF's netdev).
    pub fn pf_by_netdev(&self, name: &str) -> Result<Pf> {
        let addr = self.netdev_pci_address(name)?;
        self.pf_by_address(&addr)
    }

    /// The PCI device behind network interface `name`.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::NetdevNotFound`], [`Error::NetdevNotPci`].
    pub fn netdev_pci_address(&self, name: &str) -> Result<PciAddress> {
        let dir = self.existing_class_net(name)?;
        let dev = dir.join("device");
        match attr::link_name(&dev)?.map(|n| n.parse::<PciAddress>()) {
            Some(Ok(a)) => Ok(a),
            _ => Err(Error::NetdevNotPci {
                name: name.to_string(),
                path: dev,
            }),
        }
    }

    /// Reads the PF at `addr`.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], I/O and parse errors.
    pub fn pf_by_address(&self, addr: &PciAddress) -> Result<Pf> {
        self.require_pf(addr)?;
        let (vendor_id, device_id) = self.ids(addr)?;
        let numa_node =
            attr::read_dec_opt::<i32>(&self.device_file(addr, "numa_node"))?.filter(|n| *n >= 0);
        Ok(Pf {
            address: *addr,
            netdevs: self.netdev_names(addr)?,
            driver: self.driver_of(addr)?,
            vendor_id,
            device_id,
            vendor_name: vendor_name(vendor_id),
            device_name: device_name(vendor_id, device_id),
            subsystem: self.subsystem_of(addr)?,
            numa_node,
            iommu_group: self.iommu_group_of(addr)?,
            class: attr::read_hex_u32_opt(&self.device_file(addr, "class"))?,
            sriov: self.sriov_info(addr)?,
        })
    }

    /// Reads the `sriov_*` attributes of the PF at `addr`.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotSriovCapable`], I/O and parse errors.
    pub fn sriov_info(&self, addr: &PciAddress) -> Result<SriovInfo> {
        self.require_pf(addr)?;
        let f = |n: &str| self.device_file(addr, n);
        let autoprobe = attr::read_dec_opt::<u8>(&f("sriov_drivers_autoprobe"))?;
        Ok(SriovInfo {
            total_vfs: attr::read_dec(&f("sriov_totalvfs"))?,
            num_vfs: attr::read_dec(&f("sriov_numvfs"))?,
            offset: attr::read_dec_opt(&f("sriov_offset"))?.unwrap_or(0),
            stride: attr::read_dec_opt(&f("sriov_stride"))?.unwrap_or(0),
            vf_device: attr::read_hex_u16(&f("sriov_vf_device"))?,
            // Absent only on kernels older than 4.12, which always autoprobe.
            drivers_autoprobe: autoprobe != Some(0),
        })
    }

    /// Sets `sriov_drivers_autoprobe`: whether VFs created from now on get a driver
    /// bound automatically. Off is useful before creating VFs meant for vfio-pci.
    ///
    /// # Errors
    /// [`Error::DeviceNotFound`], [`Error::NotSriovCapable`],
    /// [`Error::PermissionDenied`], other write errors.
    pub fn set_drivers_autoprobe(&self, addr: &PciAddress, on: bool) -> Result<()> {
        self.require_pf(addr)?;
        let path = self.device_file(addr, "sriov_drivers_autoprobe");
        attr::write(&path, if on { "1" } else { "0" })
    }

    /// Checks that `addr` exists and is a PF.
    pub(crate) fn require_pf(&self, addr: &PciAddress) -> Result<()> {
        self.require_device(addr)?;
        let total = self.device_file(addr, "sriov_totalvfs");
        if !total.exists() {
            let hint = match attr::link_address(&self.device_file(addr, "physfn")) {
                Ok(Some(pf)) => format!("; it is a VF of {pf}, use that instead"),
                _ => String::new(),
            };
            return Err(Error::NotSriovCapable {
                address: *addr,
                path: total,
                hint,
            });
        }
        Ok(())
    }

    pub(crate) fn require_device(&self, addr: &PciAddress) -> Result<()> {
        let dir = self.device_dir(addr);
        if !dir.exists() {
            return Err(Error::DeviceNotFound {
                address: *addr,
                path: dir,
            });
        }
        Ok(())
    }

    /// (vendor, device) ids.
    pub(crate) fn ids(&self, addr: &PciAddress) -> Result<(u16, u16)> {
        Ok((
            attr::read_hex_u16(&self.device_file(addr, "vendor"))?,
            attr::read_hex_u16(&self.device_file(addr, "device"))?,
        ))
    }

    /// The PCI subsystem id of the device at `addr` (`subsystem_vendor` and
    /// `subsystem_device`); `None` unless both files exist.
    ///
    /// # Errors
    /// I/O errors, [`Error::Parse`] when a file holds no hex id.
    pub fn subsystem_of(&self, addr: &PciAddress) -> Result<Option<SubsystemId>> {
        let vendor = attr::read_hex_u16_opt(&self.device_file(addr, "subsystem_vendor"))?;
        let device = attr::read_hex_u16_opt(&self.device_file(addr, "subsystem_device"))?;
        Ok(vendor
            .zip(device)
            .map(|(vendor, device)| SubsystemId { vendor, device }))
    }

    /// The driver bound to `addr` (the `driver` link's target name).
    ///
    /// # Errors
    /// I/O errors reading the link.
    pub fn driver_of(&self, addr: &PciAddress) -> Result<Option<String>> {
        attr::link_name(&self.device_file(addr, "driver"))
    }

    /// The IOMMU group of `addr` (the `iommu_group` link's target name).
    ///
    /// # Errors
    /// I/O errors, [`Error::Parse`] when the link does not end in a number.
    pub fn iommu_group_of(&self, addr: &PciAddress) -> Result<Option<u32>> {
        let path = self.device_file(addr, "iommu_group");
        match attr::link_name(&path)? {
            None => Ok(None),
            Some(n) => n.parse().map(Some).map_err(|_| Error::Parse {
                path,
                content: n,
                expected: "a link to kernel/iommu_groups/<number>",
            }),
        }
    }
}
