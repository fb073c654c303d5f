//! Fake sysfs trees for tests (feature `fixture`).
//!
//! [`HostBuilder`] writes a temp-dir tree of real files and symlinks in the shapes
//! the kernel uses, so code written against [`Sysfs`] can be tested without SR-IOV
//! hardware. The shapes were copied from an igb PF under QEMU (see the repository's
//! `testbed/`) and from the Proxmox guide's `ls -l .../virtfn*` output:
//!
//! ```text
//! sys/devices/pci0000:00/0000:00:03.0/0000:02:00.0/          the PF's directory
//!     vendor "0x8086", device "0x1572", subsystem_vendor, subsystem_device,
//!     class "0x020000", numa_node, driver_override
//!     sriov_totalvfs sriov_numvfs sriov_offset sriov_stride sriov_vf_device
//!     sriov_drivers_autoprobe
//!     driver -> ../../../../bus/pci/drivers/i40e
//!     iommu_group -> ../../../../kernel/iommu_groups/12
//!     virtfn0 -> ../0000:02:02.0
//!     net/enp2s0f0/{ifindex,flags,operstate,address,name_assign_type}
//!     net/enp2s0f0/device -> ../../../0000:02:00.0
//! sys/devices/pci0000:00/0000:00:03.0/0000:02:02.0/physfn -> ../0000:02:00.0
//! sys/bus/pci/devices/0000:02:00.0 -> ../../../devices/pci0000:00/0000:00:03.0/0000:02:00.0
//! sys/bus/pci/drivers/i40e/{bind,unbind,new_id,remove_id}, .../i40e/0000:02:00.0 -> (device)
//! sys/bus/pci/drivers_probe
//! sys/kernel/iommu_groups/12/devices/0000:02:00.0 -> ../../../../devices/...
//! sys/class/net/enp2s0f0 -> ../../devices/pci0000:00/0000:00:03.0/0000:02:00.0/net/enp2s0f0
//! run/udev/control, run/udev/data/n<ifindex>      (only with HostBuilder::udev(true))
//! proc/net/if_inet6                               (addresses given to VF netdevs)
//! dev/vfio/<group>                                (groups of vfio-pci bound devices)
//! ```
//!
//! A fixture cannot react to writes the way the kernel does: writing
//! `sriov_numvfs` only changes the file. Tests check what was written;
//! [`Host::create_vfs`] plays the kernel's part when a test needs the VFs to appear.
//!
//! ```
//! use sysfs_sriov::fixture::{HostBuilder, PfSpec};
//!
//! let pf = "0000:02:00.0".parse()?;
//! let host = HostBuilder::new()
//!     .pf(PfSpec::intel_x710(pf).netdev("enp2s0f0").vfs(4))
//!     .build()?;
//! let sysfs = host.sysfs();
//! assert_eq!(sysfs.find_pf("enp2s0f0")?.sriov.num_vfs, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::net::Ipv6Addr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::pci::PciAddress;
use crate::sysfs::Sysfs;

/// Which driver a fixture VF is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VfDriver {
    /// The preset's VF driver (`iavf`, `igbvf`, `mlx5_core`).
    Native,
    /// `vfio-pci` (no netdev; `/dev/vfio/<group>` is created).
    VfioPci,
    /// No driver.
    None,
    /// Any driver by name (gets a netdev unless it is a passthrough driver).
    Named(String),
}

/// One PF of a fixture host. Start from a preset and adjust.
#[derive(Debug, Clone)]
pub struct PfSpec {
    address: PciAddress,
    vendor: u16,
    device: u16,
    vf_device: u16,
    subsystem: (u16, u16),
    vf_subsystem: (u16, u16),
    total_vfs: u16,
    layout: VfLayout,
    stride: u16,
    driver: Option<String>,
    native_vf_driver: String,
    netdev: Option<String>,
    up: bool,
    num_vfs: u16,
    autoprobe: bool,
    numa_node: i32,
    iommu_group: Option<u32>,
    vf_driver: VfDriver,
    vf_drivers: BTreeMap<u32, VfDriver>,
    vf_names: BTreeMap<u32, String>,
    vf_up: BTreeSet<u32>,
    vf_addrs: BTreeMap<u32, Vec<Ipv6Addr>>,
    vf_other_netns: BTreeSet<u32>,
    vf_udev_pending: BTreeSet<u32>,
}

impl PfSpec {
    #[allow(clippy::too_many_arguments)]
    fn preset(
        address: PciAddress,
        vendor: u16,
        device: u16,
        vf_device: u16,
        [subsystem, vf_subsystem]: [(u16, u16); 2],
        total_vfs: u16,
        layout: VfLayout,
        stride: u16,
        driver: &str,
        vf_driver: &str,
    ) -> Self {
        Self {
            address,
            vendor,
            device,
            vf_device,
            subsystem,
            vf_subsystem,
            total_vfs,
            layout,
            stride,
            driver: Some(driver.to_string()),
            native_vf_driver: vf_driver.to_string(),
            netdev: Some(default_netdev_name(&address)),
            up: true,
            num_vfs: 0,
            autoprobe: true,
            numa_node: -1,
            iommu_group: None,
            vf_driver: VfDriver::Native,
            vf_drivers: BTreeMap::new(),
            vf_names: BTreeMap::new(),
            vf_up: BTreeSet::new(),
            vf_addrs: BTreeMap::new(),
            vf_other_netns: BTreeSet::new(),
            vf_udev_pending: BTreeSet::new(),
        }
    }

    /// Intel Ethernet Controller X710 (8086:1572, driver i40e) on an X710-2 board
    /// (subsystem 8086:0007); VFs 8086:154c (iavf, subsystem 8086:0000); 64 VFs,
    /// stride 1. Each port's VFs follow the previous port's, as
    /// i40e reports them: `sriov_offset` 16 on function 0, 79 (16 + 64 - 1) on
    /// function 1, so the VFs of a dual-port card never share an address.
    pub fn intel_x710(address: PciAddress) -> Self {
        Self::preset(
            address,
            0x8086,
            0x1572,
            0x154c,
            [(0x8086, 0x0007), (0x8086, 0x0000)],
            64,
            VfLayout::PerFunction { first: 16 },
            1,
            "i40e",
            "iavf",
        )
    }

    /// Intel 82576 (8086:10c9, driver igb); VFs 8086:10ca (igbvf); subsystem
    /// 8086:0000 on both; 7 VFs,
    /// offset 128, stride 2: what QEMU's igb shows (see vm-testbed notes). Both
    /// ports report the same offset and stride: their VFs interleave (port 0 on
    /// even, port 1 on odd routing ids), so they do not collide either.
    pub fn intel_82576(address: PciAddress) -> Self {
        Self::preset(
            address,
            0x8086,
            0x10c9,
            0x10ca,
            [(0x8086, 0x0000), (0x8086, 0x0000)],
            7,
            VfLayout::Fixed { offset: 128 },
            2,
            "igb",
            "igbvf",
        )
    }

    /// Mellanox ConnectX-5 (15b3:1017, driver `mlx5_core`) on an MCX512A board
    /// (subsystem 15b3:0020, also on its VFs); VFs 15b3:1018 (`mlx5_core`); 16 VFs, stride 1; offset 2 on function 0, each further
    /// port's VFs after the previous port's (17 on function 1).
    pub fn connectx5(address: PciAddress) -> Self {
        Self::preset(
            address,
            0x15b3,
            0x1017,
            0x1018,
            [(0x15b3, 0x0020), (0x15b3, 0x0020)],
            16,
            VfLayout::PerFunction { first: 2 },
            1,
            "mlx5_core",
            "mlx5_core",
        )
    }

    /// The `sriov_offset` this PF reports: fixed, or (for cards that give each
    /// port its own block of VFs) VF 0 of function `f` at routing id
    /// `first + f * total_vfs * stride` counted from function 0. `None` when it
    /// does not fit the 16-bit register.
    fn offset(&self) -> Option<u16> {
        match self.layout {
            VfLayout::Fixed { offset } => Some(offset),
            VfLayout::PerFunction { first } => {
                let f = u32::from(self.address.function());
                let start = u32::from(first)
                    + f * u32::from(self.total_vfs) * u32::from(self.stride.max(1));
                u16::try_from(start.checked_sub(f)?).ok()
            }
        }
    }

    /// The PF's netdev name (default: systemd's `enp<bus>s<slot>f<fn>`).
    #[must_use]
    pub fn netdev(mut self, name: &str) -> Self {
        self.netdev = Some(name.to_string());
        self
    }

    /// No PF netdev.
    #[must_use]
    pub fn no_netdev(mut self) -> Self {
        self.netdev = None;
        self
    }

    /// Whether the PF netdev is up (default true).
    #[must_use]
    pub fn up(mut self, up: bool) -> Self {
        self.up = up;
        self
    }

    /// No driver bound to the PF (then `sriov_numvfs` writes fail with ENOENT in
    /// a real kernel).
    #[must_use]
    pub fn no_driver(mut self) -> Self {
        self.driver = None;
        self.netdev = None;
        self
    }

    /// Number of VFs that exist (default 0).
    #[must_use]
    pub fn vfs(mut self, n: u16) -> Self {
        self.num_vfs = n;
        self
    }

    /// Overrides `sriov_totalvfs`.
    #[must_use]
    pub fn total_vfs(mut self, n: u16) -> Self {
        self.total_vfs = n;
        self
    }

    /// Overrides `sriov_offset` and `sriov_stride` (the preset derives the offset
    /// from the function number; [`HostBuilder::build`] refuses overrides that make
    /// two devices share an address).
    #[must_use]
    pub fn offset_stride(mut self, offset: u16, stride: u16) -> Self {
        self.layout = VfLayout::Fixed { offset };
        self.stride = stride;
        self
    }

    /// The PF's PCI subsystem id (`subsystem_vendor`, `subsystem_device`).
    #[must_use]
    pub fn subsystem(mut self, vendor: u16, device: u16) -> Self {
        self.subsystem = (vendor, device);
        self
    }

    /// The VFs' PCI subsystem id.
    #[must_use]
    pub fn vf_subsystem(mut self, vendor: u16, device: u16) -> Self {
        self.vf_subsystem = (vendor, device);
        self
    }

    /// `sriov_drivers_autoprobe` (default on).
    #[must_use]
    pub fn autoprobe(mut self, on: bool) -> Self {
        self.autoprobe = on;
        self
    }

    /// `numa_node` (default -1).
    #[must_use]
    pub fn numa_node(mut self, node: i32) -> Self {
        self.numa_node = node;
        self
    }

    /// The PF's IOMMU group (default: the next free number).
    #[must_use]
    pub fn iommu_group(mut self, group: u32) -> Self {
        self.iommu_group = Some(group);
        self
    }

    /// The driver of every VF (default [`VfDriver::Native`]).
    #[must_use]
    pub fn vf_driver(mut self, d: VfDriver) -> Self {
        self.vf_driver = d;
        self
    }

    /// The driver of VF `index`.
    #[must_use]
    pub fn vf_driver_at(mut self, index: u32, d: VfDriver) -> Self {
        self.vf_drivers.insert(index, d);
        self
    }

    /// The netdev name of VF `index` (default `<pf netdev>v<index>`).
    #[must_use]
    pub fn vf_netdev(mut self, index: u32, name: &str) -> Self {
        self.vf_names.insert(index, name.to_string());
        self
    }

    /// VF `index`'s netdev is up.
    #[must_use]
    pub fn vf_up(mut self, index: u32) -> Self {
        self.vf_up.insert(index);
        self
    }

    /// VF `index`'s netdev carries `addr` (written to `proc/net/if_inet6`).
    #[must_use]
    pub fn vf_ipv6(mut self, index: u32, addr: Ipv6Addr) -> Self {
        self.vf_addrs.entry(index).or_default().push(addr);
        self
    }

    /// VF `index`'s netdev was moved to another network namespace: its driver is
    /// bound but sysfs shows no `net/` entry here.
    #[must_use]
    pub fn vf_in_other_netns(mut self, index: u32) -> Self {
        self.vf_other_netns.insert(index);
        self
    }

    /// udev has not processed VF `index`'s netdev yet (with [`HostBuilder::udev`]).
    #[must_use]
    pub fn vf_udev_pending(mut self, index: u32) -> Self {
        self.vf_udev_pending.insert(index);
        self
    }

    /// The PF's address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    fn vf_driver_for(&self, index: u32) -> Option<String> {
        match self.vf_drivers.get(&index).unwrap_or(&self.vf_driver) {
            VfDriver::Native => Some(self.native_vf_driver.clone()),
            VfDriver::VfioPci => Some("vfio-pci".to_string()),
            VfDriver::None => None,
            VfDriver::Named(n) => Some(n.clone()),
        }
    }
}

/// How a preset's `sriov_offset` is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VfLayout {
    /// The same offset on every function (82576: functions interleave by stride).
    Fixed { offset: u16 },
    /// Each function gets its own block of `total_vfs` routing ids, function 0's
    /// starting `first` after it (i40e, mlx5).
    PerFunction { first: u16 },
}

/// systemd's predictable name for a PCI function on domain 0: `enp2s0f0`.
fn default_netdev_name(a: &PciAddress) -> String {
    if a.domain() == 0 {
        format!("enp{}s{}f{}", a.bus(), a.device(), a.function())
    } else {
        format!(
            "enP{}p{}s{}f{}",
            a.domain(),
            a.bus(),
            a.device(),
            a.function()
        )
    }
}

/// Builds a fixture host.
#[derive(Debug, Clone, Default)]
pub struct HostBuilder {
    pfs: Vec<PfSpec>,
    udev: bool,
    no_iommu: bool,
    iommu_pt: bool,
    no_vfio: bool,
}

impl HostBuilder {
    /// An empty host (no PFs, no udev, IOMMU on, vfio-pci loaded).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a PF.
    #[must_use]
    pub fn pf(mut self, spec: PfSpec) -> Self {
        self.pfs.push(spec);
        self
    }

    /// Whether udev runs (`run/udev/control`); netdevs then get
    /// `run/udev/data/n<ifindex>` unless marked pending.
    #[must_use]
    pub fn udev(mut self, running: bool) -> Self {
        self.udev = running;
        self
    }

    /// No IOMMU: no `iommu_group` links, no `kernel/iommu_groups`.
    #[must_use]
    pub fn no_iommu(mut self) -> Self {
        self.no_iommu = true;
        self
    }

    /// The IOMMU runs in passthrough mode (`iommu=pt`): every group's `type` is
    /// `identity` instead of `DMA`.
    #[must_use]
    pub fn iommu_passthrough(mut self) -> Self {
        self.iommu_pt = true;
        self
    }

    /// vfio-pci is not loaded (no `sys/bus/pci/drivers/vfio-pci`).
    #[must_use]
    pub fn without_vfio_pci(mut self) -> Self {
        self.no_vfio = true;
        self
    }

    /// Writes the tree into a new temp dir.
    ///
    /// # Errors
    /// I/O errors creating files; `InvalidInput` when two PFs, or a PF and a VF, or
    /// two VFs (counting every VF up to `sriov_totalvfs`, which the hardware
    /// reserves) would share a PCI address, as no real host can show that.
    pub fn build(self) -> io::Result<Host> {
        check_addresses(&self.pfs)?;
        let dir = tempfile::Builder::new().prefix("sysfs-sriov-").tempdir()?;
        let mut w = Writer {
            root: dir.path().to_path_buf(),
            next_ifindex: 2,
            used_groups: self.pfs.iter().filter_map(|p| p.iommu_group).collect(),
            udev: self.udev,
            iommu: !self.no_iommu,
            group_type: if self.iommu_pt { "identity" } else { "DMA" },
            inet6: Vec::new(),
        };
        w.base(!self.no_vfio)?;
        for pf in &self.pfs {
            w.pf(pf)?;
            w.vfs(pf)?;
        }
        w.flush_inet6()?;
        Ok(Host {
            dir,
            writer: w,
            pfs: self.pfs,
        })
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl PfSpec {
    fn offset_checked(&self) -> io::Result<u16> {
        self.offset().ok_or_else(|| {
            invalid_input(format!(
                "fixture PF {}: sriov_offset does not fit 16 bits",
                self.address
            ))
        })
    }
}

/// Refuses specs whose devices would overlap: every PF and every VF it can have
/// (indices below `total_vfs`) must get its own address.
fn check_addresses(pfs: &[PfSpec]) -> io::Result<()> {
    let mut taken: BTreeMap<PciAddress, String> = BTreeMap::new();
    for pf in pfs {
        if let Some(other) = taken.insert(pf.address, format!("PF {}", pf.address)) {
            return Err(invalid_input(format!(
                "fixture PF {} is added twice (or is also {other})",
                pf.address
            )));
        }
    }
    for pf in pfs {
        let offset = pf.offset_checked()?;
        for i in 0..u32::from(pf.total_vfs) {
            // VFs beyond bus ff cannot exist; `Writer::vfs` reports the created ones.
            let Some(addr) = pf.address.vf_address(offset, pf.stride, i) else {
                break;
            };
            if let Some(other) = taken.insert(addr, format!("VF {i} of PF {}", pf.address)) {
                return Err(invalid_input(format!(
                    "fixture VF {i} of PF {} would be at {addr}, which is already {other} \
                     (sriov_offset {offset}, sriov_stride {})",
                    pf.address, pf.stride
                )));
            }
        }
    }
    Ok(())
}

/// A fixture host on disk; removed when dropped.
#[derive(Debug)]
pub struct Host {
    dir: tempfile::TempDir,
    writer: Writer,
    pfs: Vec<PfSpec>,
}

impl Host {
    /// The root directory (pass it to [`Sysfs::with_root`]).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A [`Sysfs`] handle on this tree (addresses from its `proc/net/if_inet6`).
    pub fn sysfs(&self) -> Sysfs {
        Sysfs::with_root(self.root())
    }

    /// The PFs' addresses, in the order they were added.
    pub fn pf_addresses(&self) -> Vec<PciAddress> {
        self.pfs.iter().map(|p| p.address).collect()
    }

    /// The content of `rel` under the root, trimmed (for checking what was written).
    ///
    /// # Errors
    /// I/O errors.
    pub fn read(&self, rel: &str) -> io::Result<String> {
        fs::read_to_string(self.root().join(rel)).map(|s| s.trim().to_string())
    }

    /// The content of attribute `file` of device `addr`, trimmed.
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_attr(&self, addr: &PciAddress, file: &str) -> io::Result<String> {
        self.read(&format!("sys/bus/pci/devices/{addr}/{file}"))
    }

    /// Plays the kernel's part after `sriov_numvfs` is written: removes the PF's
    /// VFs and creates `n` new ones (with the spec's VF settings), and sets
    /// `sriov_numvfs` to `n`.
    ///
    /// # Errors
    /// I/O errors; `InvalidInput` for an unknown PF.
    pub fn create_vfs(&mut self, pf: &PciAddress, n: u16) -> io::Result<()> {
        let spec = self
            .pfs
            .iter_mut()
            .find(|p| p.address == *pf)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown PF"))?;
        self.writer.remove_vfs(spec)?;
        spec.num_vfs = n;
        let spec = spec.clone();
        self.writer.vfs(&spec)?;
        self.writer.flush_inet6()
    }

    /// Creates `run/udev/data/n<ifindex>` for netdev `name`, as udev does when it
    /// has processed it.
    ///
    /// # Errors
    /// I/O errors, e.g. when the netdev does not exist.
    pub fn mark_udev_processed(&self, name: &str) -> io::Result<()> {
        let idx = self.read(&format!("sys/class/net/{name}/ifindex"))?;
        let data = self.root().join("run/udev/data");
        fs::create_dir_all(&data)?;
        fs::write(data.join(format!("n{idx}")), "I:1\n")
    }

    /// Plays another tool (or the kernel) binding device `addr` to `driver`, or
    /// unbinding it (`None`): moves its `driver` link and the driver's link back
    /// to the device, creating the driver's directory (with `bind`, `unbind`,
    /// ...) when it does not exist. Netdevs are left as they are.
    ///
    /// # Errors
    /// I/O errors; `InvalidInput` for a driver name that is not one path
    /// component.
    pub fn set_driver(&self, addr: &PciAddress, driver: Option<&str>) -> io::Result<()> {
        let dev = self.root().join(format!("sys/bus/pci/devices/{addr}"));
        let dev_dir = fs::canonicalize(&dev)?;
        if let Ok(old) = fs::read_link(dev_dir.join("driver")) {
            if let Some(old) = old.file_name() {
                let back = self
                    .writer
                    .sys(&format!("bus/pci/drivers/{}/{addr}", old.to_string_lossy()));
                if fs::symlink_metadata(&back).is_ok() {
                    fs::remove_file(back)?;
                }
            }
            fs::remove_file(dev_dir.join("driver"))?;
        }
        let Some(d) = driver else {
            return Ok(());
        };
        if crate::name::check_driver_name(d).is_err() {
            return Err(invalid_input(format!("fixture driver name {d:?}")));
        }
        self.writer.driver(d)?;
        let drv_dir = self.writer.sys(&format!("bus/pci/drivers/{d}"));
        link(&drv_dir.to_string_lossy(), &dev_dir.join("driver"))?;
        link(&dev_dir.to_string_lossy(), &drv_dir.join(addr.to_string()))
    }

    /// Removes a path under the root (a test's way to make something disappear).
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove(&self, rel: &str) -> io::Result<()> {
        let p = self.root().join(rel);
        if fs::symlink_metadata(&p)?.is_dir() {
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        }
    }
}

#[derive(Debug)]
struct Writer {
    root: PathBuf,
    next_ifindex: u32,
    used_groups: BTreeSet<u32>,
    udev: bool,
    iommu: bool,
    /// `kernel/iommu_groups/N/type`: the default domain type.
    group_type: &'static str,
    inet6: Vec<String>,
}

/// The ACS control bits the kernel needs to isolate devices below a port
/// (Source Validation, P2P Request Redirect, P2P Completion Redirect, Upstream
/// Forwarding).
pub const ACS_ISOLATING: u16 = 0x001d;

/// 4096 bytes of PCIe config space for a root port (type 1 header, class
/// 0x060400), with an AER extended capability at 0x100 and, when `acs_ctl` is
/// given, an ACS capability at 0x148 (capable of SV, TB, RR, CR, UF) with that
/// control register; without it the list ends after AER. The fixture writes
/// it as the port's `config` file.
///
/// ```
/// let c = sysfs_sriov::fixture::bridge_config(Some(sysfs_sriov::fixture::ACS_ISOLATING));
/// assert_eq!(c.len(), 4096);
/// assert_eq!(&c[0x148..0x150], &[0x0d, 0x00, 0x01, 0x00, 0x1f, 0x00, 0x1d, 0x00]);
/// ```
pub fn bridge_config(acs_ctl: Option<u16>) -> Vec<u8> {
    let mut c = vec![0u8; 4096];
    c[0..4].copy_from_slice(&[0x86, 0x80, 0x01, 0x19]); // vendor 8086, device 1901
    c[0x0a] = 0x04; // subclass: PCI-to-PCI bridge
    c[0x0b] = 0x06; // class: bridge
    c[0x0e] = 0x01; // header type 1
    let aer_next: u32 = if acs_ctl.is_some() { 0x148 } else { 0 };
    let aer = 0x0001 | (1 << 16) | (aer_next << 20);
    c[0x100..0x104].copy_from_slice(&aer.to_le_bytes());
    if let Some(ctl) = acs_ctl {
        let acs: u32 = 0x000d | (1 << 16);
        c[0x148..0x14c].copy_from_slice(&acs.to_le_bytes());
        c[0x14c..0x14e].copy_from_slice(&0x001f_u16.to_le_bytes());
        c[0x14e..0x150].copy_from_slice(&ctl.to_le_bytes());
    }
    c
}

fn ups(rel: &str) -> String {
    "../".repeat(rel.split('/').count())
}

fn write_file(path: &Path, content: &str) -> io::Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(path, content)
}

/// Replaces a file atomically: a concurrent reader (a test's `wait_for_vfs`) sees the
/// old or the new value, never an empty file, just as with a sysfs attribute.
fn replace_file(path: &Path, content: &str) -> io::Result<()> {
    let tmp = path.with_extension("fixture-tmp");
    fs::write(&tmp, content)?;
    fs::rename(tmp, path)
}

fn link(target: &str, at: &Path) -> io::Result<()> {
    if let Some(p) = at.parent() {
        fs::create_dir_all(p)?;
    }
    if fs::symlink_metadata(at).is_ok() {
        fs::remove_file(at)?;
    }
    symlink(target, at)
}

struct Dev<'a> {
    addr: PciAddress,
    vendor: u16,
    device: u16,
    subsystem: (u16, u16),
    driver: Option<&'a str>,
    numa_node: i32,
    group: Option<u32>,
}

impl Writer {
    fn sys(&self, rel: &str) -> PathBuf {
        self.root.join("sys").join(rel)
    }

    fn base(&mut self, vfio: bool) -> io::Result<()> {
        for f in ["drivers_probe", "drivers_autoprobe", "rescan"] {
            write_file(&self.sys(&format!("bus/pci/{f}")), "")?;
        }
        fs::write(self.sys("bus/pci/drivers_autoprobe"), "1\n")?;
        fs::create_dir_all(self.sys("bus/pci/devices"))?;
        fs::create_dir_all(self.sys("class/net"))?;
        if self.iommu {
            fs::create_dir_all(self.sys("kernel/iommu_groups"))?;
        }
        if vfio {
            self.driver("vfio-pci")?;
        }
        if self.udev {
            write_file(&self.root.join("run/udev/control"), "")?;
            fs::create_dir_all(self.root.join("run/udev/data"))?;
        }
        fs::create_dir_all(self.root.join("proc/net"))?;
        write_file(&self.root.join("proc/net/if_inet6"), "")?;
        Ok(())
    }

    fn driver(&self, name: &str) -> io::Result<()> {
        let d = self.sys(&format!("bus/pci/drivers/{name}"));
        fs::create_dir_all(&d)?;
        for f in ["bind", "unbind", "new_id", "remove_id"] {
            if !d.join(f).exists() {
                fs::write(d.join(f), "")?;
            }
        }
        Ok(())
    }

    fn next_group(&mut self) -> u32 {
        let mut g = 1;
        while self.used_groups.contains(&g) {
            g += 1;
        }
        self.used_groups.insert(g);
        g
    }

    /// `devices/pci0000:00/0000:00:NN.0` for a PF on `bus`.
    fn parent_of(pf: &PciAddress) -> String {
        let d = pf.domain();
        if pf.bus() == 0 {
            format!("devices/pci{d:04x}:00")
        } else {
            format!(
                "devices/pci{d:04x}:00/{d:04x}:00:{:02x}.0",
                pf.bus() % 31 + 1
            )
        }
    }

    /// Writes one PCI device directory with its common attributes and links;
    /// returns its path relative to `sys`.
    fn device(&mut self, parent: &str, dev: &Dev<'_>) -> io::Result<String> {
        let rel = format!("{parent}/{}", dev.addr);
        let dir = self.sys(&rel);
        fs::create_dir_all(&dir)?;
        let up = ups(&rel);
        let files = [
            ("vendor", format!("0x{:04x}", dev.vendor)),
            ("device", format!("0x{:04x}", dev.device)),
            ("subsystem_vendor", format!("0x{:04x}", dev.subsystem.0)),
            ("subsystem_device", format!("0x{:04x}", dev.subsystem.1)),
            ("class", "0x020000".to_string()),
            ("numa_node", dev.numa_node.to_string()),
            ("driver_override", "(null)".to_string()),
            ("enable", "1".to_string()),
        ];
        for (f, v) in files {
            fs::write(dir.join(f), format!("{v}\n"))?;
        }
        link(&format!("{up}bus/pci"), &dir.join("subsystem"))?;
        link(
            &format!("../../../{rel}"),
            &self.sys(&format!("bus/pci/devices/{}", dev.addr)),
        )?;
        if let Some(d) = dev.driver {
            self.driver(d)?;
            link(&format!("{up}bus/pci/drivers/{d}"), &dir.join("driver"))?;
            link(
                &format!("../../../../{rel}"),
                &self.sys(&format!("bus/pci/drivers/{d}/{}", dev.addr)),
            )?;
        }
        if let Some(g) = dev.group {
            link(
                &format!("{up}kernel/iommu_groups/{g}"),
                &dir.join("iommu_group"),
            )?;
            let gdir = format!("kernel/iommu_groups/{g}");
            write_file(
                &self.sys(&format!("{gdir}/type")),
                &format!("{}\n", self.group_type),
            )?;
            link(
                &format!("../../../../{rel}"),
                &self.sys(&format!("{gdir}/devices/{}", dev.addr)),
            )?;
            if dev.driver == Some("vfio-pci") {
                write_file(&self.root.join(format!("dev/vfio/{g}")), "")?;
            }
        }
        Ok(rel)
    }

    fn netdev(
        &mut self,
        dev_rel: &str,
        addr: &PciAddress,
        name: &str,
        up: bool,
        udev_done: bool,
    ) -> io::Result<u32> {
        let ifindex = self.next_ifindex;
        self.next_ifindex += 1;
        let dir = self.sys(&format!("{dev_rel}/net/{name}"));
        fs::create_dir_all(&dir)?;
        let mac = format!(
            "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
            addr.bus(),
            addr.devfn(),
            (ifindex >> 8) & 0xff,
            ifindex & 0xff
        );
        let files = [
            ("ifindex", ifindex.to_string()),
            ("flags", if up { "0x1003" } else { "0x1002" }.to_string()),
            ("operstate", if up { "up" } else { "down" }.to_string()),
            ("address", mac),
            ("name_assign_type", "4".to_string()),
            ("type", "1".to_string()),
            ("mtu", "1500".to_string()),
        ];
        for (f, v) in files {
            fs::write(dir.join(f), format!("{v}\n"))?;
        }
        link(&format!("../../../{addr}"), &dir.join("device"))?;
        link(
            &format!("../../{dev_rel}/net/{name}"),
            &self.sys(&format!("class/net/{name}")),
        )?;
        if self.udev && udev_done {
            write_file(
                &self.root.join(format!("run/udev/data/n{ifindex}")),
                "I:1\n",
            )?;
        }
        Ok(ifindex)
    }

    /// The PCIe root port above a PF not on bus 0 (once per port): a
    /// PCI-to-PCI bridge whose config space has ACS, enabled when there is an
    /// IOMMU (the kernel enables it at boot only when an IOMMU driver asks).
    fn root_port(&mut self, pf: &PciAddress) -> io::Result<()> {
        if pf.bus() == 0 {
            return Ok(());
        }
        let rel = Self::parent_of(pf);
        let Some(addr) = rel.rsplit('/').next().map(str::to_owned) else {
            return Ok(());
        };
        let bus_link = self.sys(&format!("bus/pci/devices/{addr}"));
        if fs::symlink_metadata(&bus_link).is_ok() {
            return Ok(());
        }
        let dir = self.sys(&rel);
        fs::create_dir_all(&dir)?;
        for (f, v) in [
            ("vendor", "0x8086"),
            ("device", "0x1901"),
            ("class", "0x060400"),
        ] {
            fs::write(dir.join(f), format!("{v}\n"))?;
        }
        fs::write(
            dir.join("config"),
            bridge_config(Some(if self.iommu { ACS_ISOLATING } else { 0 })),
        )?;
        link(&format!("../../../{rel}"), &bus_link)
    }

    fn pf(&mut self, pf: &PfSpec) -> io::Result<()> {
        self.root_port(&pf.address)?;
        let group = if self.iommu {
            Some(match pf.iommu_group {
                Some(g) => g,
                None => self.next_group(),
            })
        } else {
            None
        };
        let rel = self.device(
            &Self::parent_of(&pf.address),
            &Dev {
                addr: pf.address,
                vendor: pf.vendor,
                device: pf.device,
                subsystem: pf.subsystem,
                driver: pf.driver.as_deref(),
                numa_node: pf.numa_node,
                group,
            },
        )?;
        let dir = self.sys(&rel);
        let files = [
            ("sriov_totalvfs", pf.total_vfs.to_string()),
            ("sriov_numvfs", pf.num_vfs.to_string()),
            ("sriov_offset", pf.offset_checked()?.to_string()),
            ("sriov_stride", pf.stride.to_string()),
            ("sriov_vf_device", format!("{:04x}", pf.vf_device)),
            (
                "sriov_drivers_autoprobe",
                u8::from(pf.autoprobe).to_string(),
            ),
        ];
        for (f, v) in files {
            fs::write(dir.join(f), format!("{v}\n"))?;
        }
        if let (Some(n), Some(_)) = (&pf.netdev, &pf.driver) {
            self.netdev(&rel, &pf.address, n, pf.up, true)?;
        }
        Ok(())
    }

    fn vfs(&mut self, pf: &PfSpec) -> io::Result<()> {
        let parent = Self::parent_of(&pf.address);
        let pf_dir = self.sys(&format!("{parent}/{}", pf.address));
        replace_file(&pf_dir.join("sriov_numvfs"), &format!("{}\n", pf.num_vfs))?;
        let offset = pf.offset_checked()?;
        for i in 0..u32::from(pf.num_vfs) {
            let Some(addr) = pf.address.vf_address(offset, pf.stride, i) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "VF address beyond bus ff",
                ));
            };
            let driver = pf.vf_driver_for(i);
            let group = if self.iommu {
                Some(self.next_group())
            } else {
                None
            };
            let rel = self.device(
                &parent,
                &Dev {
                    addr,
                    vendor: pf.vendor,
                    device: pf.vf_device,
                    subsystem: pf.vf_subsystem,
                    driver: driver.as_deref(),
                    numa_node: pf.numa_node,
                    group,
                },
            )?;
            link(
                &format!("../{}", pf.address),
                &self.sys(&format!("{rel}/physfn")),
            )?;
            link(&format!("../{addr}"), &pf_dir.join(format!("virtfn{i}")))?;
            let netdev_driver = driver
                .as_deref()
                .is_some_and(|d| !crate::numvfs::is_passthrough_driver(d));
            if netdev_driver && !pf.vf_other_netns.contains(&i) {
                let name = pf.vf_names.get(&i).cloned().unwrap_or_else(|| {
                    let base = pf
                        .netdev
                        .clone()
                        .unwrap_or_else(|| default_netdev_name(&pf.address));
                    let n = format!("{base}v{i}");
                    if n.len() > crate::name::IFNAME_MAX {
                        format!("eth{}", self.next_ifindex)
                    } else {
                        n
                    }
                });
                let up = pf.vf_up.contains(&i);
                let ifindex =
                    self.netdev(&rel, &addr, &name, up, !pf.vf_udev_pending.contains(&i))?;
                for a in pf.vf_addrs.get(&i).into_iter().flatten() {
                    // net/ipv6/addrconf.c if6_seq_show(): addr ifindex plen scope flags name
                    self.inet6.push(format!(
                        "{:032x} {ifindex:02x} 40 00 80 {name:>8}",
                        u128::from(*a)
                    ));
                }
            }
        }
        Ok(())
    }

    fn remove_vfs(&mut self, pf: &PfSpec) -> io::Result<()> {
        let parent = Self::parent_of(&pf.address);
        let pf_dir = self.sys(&format!("{parent}/{}", pf.address));
        for ent in fs::read_dir(&pf_dir)? {
            let ent = ent?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if !name.starts_with("virtfn") {
                continue;
            }
            let target = fs::read_link(ent.path())?;
            let addr = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let vf_dir = self.sys(&format!("{parent}/{addr}"));
            for nd in fs::read_dir(vf_dir.join("net")).into_iter().flatten() {
                let nd = nd?.file_name().to_string_lossy().into_owned();
                let _ = fs::remove_file(self.sys(&format!("class/net/{nd}")));
                self.inet6.retain(|l| !l.ends_with(&format!(" {nd}")));
            }
            if let Ok(g) = fs::read_link(vf_dir.join("iommu_group")) {
                if let Some(g) = g.file_name() {
                    let g = g.to_string_lossy().into_owned();
                    let _ = fs::remove_dir_all(self.sys(&format!("kernel/iommu_groups/{g}")));
                    let _ = fs::remove_file(self.root.join(format!("dev/vfio/{g}")));
                    if let Ok(n) = g.parse() {
                        self.used_groups.remove(&n);
                    }
                }
            }
            if let Ok(d) = fs::read_link(vf_dir.join("driver")) {
                if let Some(d) = d.file_name() {
                    let _ = fs::remove_file(
                        self.sys(&format!("bus/pci/drivers/{}/{addr}", d.to_string_lossy())),
                    );
                }
            }
            let _ = fs::remove_file(self.sys(&format!("bus/pci/devices/{addr}")));
            fs::remove_dir_all(&vf_dir)?;
            fs::remove_file(ent.path())?;
        }
        replace_file(&pf_dir.join("sriov_numvfs"), "0\n")
    }

    fn flush_inet6(&self) -> io::Result<()> {
        let mut s = self.inet6.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        fs::write(self.root.join("proc/net/if_inet6"), s)
    }
}
