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
//!     resource (13 lines: BARs, ROM, VF BARs), config (4096 bytes: PCIe, AER,
//!     ARI and SR-IOV capabilities with the VF BAR registers)
//!     driver -> ../../../../bus/pci/drivers/i40e
//!     iommu_group -> ../../../../kernel/iommu_groups/12
//!     virtfn0 -> ../0000:02:02.0
//!     net/enp2s0f0/{ifindex,flags,operstate,address,name_assign_type}
//!     net/enp2s0f0/device -> ../../../0000:02:00.0
//! sys/devices/pci0000:00/0000:00:03.0/0000:02:02.0/physfn -> ../0000:02:00.0
//! sys/bus/pci/devices/0000:02:00.0 -> ../../../devices/pci0000:00/0000:00:03.0/0000:02:00.0
//! sys/bus/pci/drivers/i40e/{bind,unbind,new_id,remove_id}, .../i40e/0000:02:00.0 -> (device)
//! sys/bus/pci/drivers_probe
//! sys/devices/pci0000:00/0000:00:03.0/config     the root port: bus numbers, ARI, ACS
//! sys/module/vfio_pci/parameters/enable_sriov    N (or Y, HostBuilder::vfio_pci_enable_sriov)
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
    sriov_capability: bool,
    hw_total_vfs: Option<u16>,
    pf_bars: Vec<Bar>,
    vf_bars: Vec<Bar>,
    vf_bar_state: VfBarState,
    port_ari: PortAri,
    port_subordinate: Option<u8>,
}

/// One BAR of a fixture device: its number, its size (for a VF BAR: one VF's),
/// and the `IORESOURCE_*` flags the kernel shows in `resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bar {
    index: u8,
    size: u64,
    flags: u64,
}

/// `IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_MEM_64 | IORESOURCE_SIZEALIGN`
/// and the BAR's own type bits (64-bit, prefetchable): how `resource` shows a
/// 64-bit prefetchable BAR (`0x000000000014220c` on QEMU's igb).
const MEM64_PREF: u64 = 0x0014_220c;
/// A 64-bit non-prefetchable BAR (`0x0000000000140204`).
const MEM64: u64 = 0x0014_0204;
/// A 32-bit non-prefetchable BAR (`0x0000000000040200`).
const MEM32: u64 = 0x0004_0200;
/// An I/O BAR (`0x0000000000040101`).
const IO: u64 = 0x0004_0101;
/// `IORESOURCE_UNSET`: no address yet.
const IORESOURCE_UNSET: u64 = 0x2000_0000;

/// What the kernel made of a fixture PF's VF BARs, as its `resource` file
/// shows them (lines 8 to 13, `PCI_IOV_RESOURCES` = 7 to 12) and its config
/// space's SR-IOV capability holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VfBarState {
    /// Assigned: each line holds the region for every VF (`start end flags`).
    #[default]
    Assigned,
    /// Not assigned, and reset by the kernel: `resource` lines all zero (what
    /// `reset_resource()` in `drivers/pci/setup-bus.c` leaves when the kernel
    /// could not place the BAR), while the BAR registers in the SR-IOV capability
    /// still show the BARs' types with address 0. This is what a guest showed
    /// for an nvme PF whose VF BARs did not fit (see the README).
    Reset,
    /// Not assigned, not reset: start 0, end the size minus 1, the flags with
    /// `IORESOURCE_UNSET` (the state `__pci_read_base()` leaves for a BAR whose
    /// firmware address is unusable, before the kernel assigns one).
    NoAddress,
}

/// The ARI Forwarding of the PCIe port above a fixture PF (its Device
/// Capabilities 2 and Device Control 2 registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PortAri {
    /// Supported and enabled (what `pci_configure_ari()` does when function 0
    /// below has the ARI capability).
    #[default]
    Enabled,
    /// Supported, not enabled.
    Disabled,
    /// Not supported by the port.
    Unsupported,
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
            sriov_capability: true,
            hw_total_vfs: None,
            pf_bars: vec![Bar {
                index: 0,
                size: 0x10_0000,
                flags: MEM64_PREF,
            }],
            vf_bars: vec![Bar {
                index: 0,
                size: 0x1_0000,
                flags: MEM64_PREF,
            }],
            vf_bar_state: VfBarState::Assigned,
            port_ari: PortAri::Enabled,
            port_subordinate: None,
        }
    }

    fn bars(mut self, pf: &[(u8, u64, u64)], vf: &[(u8, u64, u64)]) -> Self {
        let bar = |&(index, size, flags): &(u8, u64, u64)| Bar { index, size, flags };
        self.pf_bars = pf.iter().map(bar).collect();
        self.vf_bars = vf.iter().map(bar).collect();
        self
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
        // Typical X710 sizes (PF BAR0 8 MiB, BAR3 32 KiB; VF BAR0 64 KiB, BAR3
        // 16 KiB, all 64-bit prefetchable), not copied from a host.
        .bars(
            &[(0, 0x80_0000, MEM64_PREF), (3, 0x8000, MEM64_PREF)],
            &[(0, 0x1_0000, MEM64_PREF), (3, 0x4000, MEM64_PREF)],
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
        // As QEMU's igb shows them under Linux 6.1: PF BAR0 and BAR1 128 KiB,
        // BAR2 32 bytes of I/O, BAR3 16 KiB 64-bit; VF BAR0 and BAR3 16 KiB
        // 64-bit prefetchable; the SR-IOV capability offers 8 VFs, of which igb
        // allows 7 (`pci_sriov_set_totalvfs()`).
        .bars(
            &[
                (0, 0x2_0000, MEM32),
                (1, 0x2_0000, MEM32),
                (2, 0x20, IO),
                (3, 0x4000, MEM64),
            ],
            &[(0, 0x4000, MEM64_PREF), (3, 0x4000, MEM64_PREF)],
        )
        .hw_total_vfs(8)
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
        // Typical ConnectX-5 sizes (PF BAR0 32 MiB, VF BAR0 1 MiB, 64-bit
        // prefetchable), not copied from a host.
        .bars(
            &[(0, 0x200_0000, MEM64_PREF)],
            &[(0, 0x10_0000, MEM64_PREF)],
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

    /// No SR-IOV capability: no `sriov_*` files, no SR-IOV capability in its
    /// config space (a card or firmware setup without SR-IOV, or an mlx5 card
    /// whose firmware has `SRIOV_EN` off). The device is then no PF to
    /// [`Sysfs::pfs`].
    #[must_use]
    pub fn no_sriov_capability(mut self) -> Self {
        self.sriov_capability = false;
        self.num_vfs = 0;
        self
    }

    /// The TotalVFs of the SR-IOV capability in config space, when the driver
    /// offers fewer in `sriov_totalvfs` (default: the same).
    #[must_use]
    pub fn hw_total_vfs(mut self, n: u16) -> Self {
        self.hw_total_vfs = Some(n);
        self
    }

    /// What the kernel made of the VF BARs (default [`VfBarState::Assigned`]).
    #[must_use]
    pub fn vf_bars(mut self, state: VfBarState) -> Self {
        self.vf_bar_state = state;
        self
    }

    /// One VF's BAR `index` is `size` bytes (64-bit prefetchable), in place of
    /// the preset's BAR of that number.
    #[must_use]
    pub fn vf_bar_size(mut self, index: u8, size: u64) -> Self {
        self.vf_bars.retain(|b| b.index != index);
        self.vf_bars.push(Bar {
            index,
            size,
            flags: MEM64_PREF,
        });
        self.vf_bars.sort_by_key(|b| b.index);
        self
    }

    /// The ARI Forwarding of the root port above the PF (default
    /// [`PortAri::Enabled`]; a PF on bus 0 has no port).
    #[must_use]
    pub fn port_ari(mut self, ari: PortAri) -> Self {
        self.port_ari = ari;
        self
    }

    /// The subordinate bus number of the root port above the PF (default: the
    /// highest bus any VF of the PFs below it can have).
    #[must_use]
    pub fn port_subordinate(mut self, bus: u8) -> Self {
        self.port_subordinate = Some(bus);
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
    vfio_sriov: bool,
    config_limit: Option<usize>,
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

    /// vfio-pci was loaded with `enable_sriov=1`
    /// (`sys/module/vfio_pci/parameters/enable_sriov` reads `Y`; default `N`).
    #[must_use]
    pub fn vfio_pci_enable_sriov(mut self) -> Self {
        self.vfio_sriov = true;
        self
    }

    /// Every `config` file holds only its first `bytes` bytes: what a reader
    /// without `CAP_SYS_ADMIN` gets (64; `pci_read_config()` in
    /// `drivers/pci/pci-sysfs.c`). Default: all 4096.
    #[must_use]
    pub fn config_limit(mut self, bytes: usize) -> Self {
        self.config_limit = Some(bytes);
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
            config_limit: self.config_limit.unwrap_or(4096),
            ports: ports(&self.pfs)?,
        };
        w.base(!self.no_vfio, self.vfio_sriov)?;
        for pf in &self.pfs {
            w.pf(pf)?;
            w.vfs(pf)?;
        }
        w.flush_inet6()?;
        Ok(Host {
            dir,
            writer: w,
            pfs: self.pfs,
            answers: Answers::default(),
        })
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl PfSpec {
    /// The hardware's TotalVFs (the SR-IOV capability's).
    fn hw_total(&self) -> u16 {
        self.hw_total_vfs
            .unwrap_or(self.total_vfs)
            .max(self.total_vfs)
    }

    /// The PF's BARs and VF BAR regions: (resource index, start, length, flags).
    fn regions(&self) -> Vec<(usize, u64, u64, u64)> {
        let mut out = Vec::new();
        let io_base = 0xc000 + (u64::from(self.address.routing_id()) % 64) * 0x100;
        let mem: Vec<Bar> = self
            .pf_bars
            .iter()
            .filter(|b| b.flags != IO)
            .copied()
            .collect();
        for (b, start, len) in layout(pf_region_base(&self.address), &mem, 1) {
            out.push((usize::from(b.index), start, len, b.flags));
        }
        for b in self.pf_bars.iter().filter(|b| b.flags == IO) {
            out.push((usize::from(b.index), io_base, b.size, b.flags));
        }
        if self.sriov_capability {
            let count = u64::from(self.hw_total());
            for (b, start, len) in layout(vf_region_base(&self.address), &self.vf_bars, count) {
                out.push((7 + usize::from(b.index), start, len, b.flags));
            }
        }
        out.sort_by_key(|r| r.0);
        out
    }

    /// The PF's `resource` file, with the VF BARs as [`VfBarState`] says.
    fn resource_file(&self) -> String {
        let lines: Vec<(usize, u64, u64, u64)> = self
            .regions()
            .into_iter()
            .filter_map(|(i, start, len, flags)| {
                let end = start.saturating_add(len).saturating_sub(1);
                if i < 7 {
                    return Some((i, start, end, flags));
                }
                match self.vf_bar_state {
                    VfBarState::Assigned => Some((i, start, end, flags)),
                    VfBarState::Reset => None,
                    VfBarState::NoAddress => {
                        Some((i, 0, len.saturating_sub(1), flags | IORESOURCE_UNSET))
                    }
                }
            })
            .collect();
        resource_file(&lines)
    }

    /// 4096 bytes of the PF's config space: a type 0 header with its ids and
    /// BARs, a PCIe capability (endpoint), and in extended space AER, ARI and
    /// (unless [`PfSpec::no_sriov_capability`]) SR-IOV with TotalVFs, offset,
    /// stride, the VF device id and the VF BAR registers. The layout follows
    /// QEMU's igb as Linux 6.1 shows it (PCIe capability at 0xa0, AER 0x100, ARI
    /// 0x150, SR-IOV 0x160).
    fn config_space(&self) -> Vec<u8> {
        let mut c = vec![0u8; 4096];
        let put16 = |c: &mut Vec<u8>, off: usize, v: u16| {
            c[off..off + 2].copy_from_slice(&v.to_le_bytes());
        };
        let put32 = |c: &mut Vec<u8>, off: usize, v: u32| {
            c[off..off + 4].copy_from_slice(&v.to_le_bytes());
        };
        put16(&mut c, 0x00, self.vendor);
        put16(&mut c, 0x02, self.device);
        put16(&mut c, 0x04, 0x0507);
        put16(&mut c, 0x06, 0x0010); // capability list
        c[0x0a] = 0x00;
        c[0x0b] = 0x02; // network controller
        put16(&mut c, 0x2c, self.subsystem.0);
        put16(&mut c, 0x2e, self.subsystem.1);
        c[0x34] = 0xa0;
        // PCIe capability, version 2, endpoint.
        c[0xa0..0xa4].copy_from_slice(&[0x10, 0x00, 0x02, 0x00]);
        // AER -> ARI -> SR-IOV (or AER -> ARI).
        put32(&mut c, 0x100, 0x0001 | (2 << 16) | (0x150 << 20));
        let ari_next: u32 = if self.sriov_capability { 0x160 } else { 0 };
        put32(&mut c, 0x150, 0x000e | (1 << 16) | (ari_next << 20));
        let regions = self.regions();
        for &(i, start, _, flags) in regions.iter().filter(|r| r.0 < 6) {
            let v = if flags == IO {
                (start & !0x3) | 1
            } else {
                bar_register(flags, start)
            };
            put32(&mut c, 0x10 + 4 * i, v as u32);
            if flags & 0x4 != 0 && i < 5 {
                put32(&mut c, 0x14 + 4 * i, (v >> 32) as u32);
            }
        }
        if self.sriov_capability {
            let cap = 0x160;
            put32(&mut c, cap, 0x0010 | (1 << 16));
            put16(&mut c, cap + 0x08, 0x0010); // control: ARI Capable Hierarchy
            put16(&mut c, cap + 0x0c, self.hw_total()); // InitialVFs
            put16(&mut c, cap + 0x0e, self.hw_total()); // TotalVFs
            put16(&mut c, cap + 0x10, self.num_vfs);
            put16(&mut c, cap + 0x14, self.offset().unwrap_or(0));
            put16(&mut c, cap + 0x16, self.stride);
            put16(&mut c, cap + 0x1a, self.vf_device);
            put32(&mut c, cap + 0x1c, 0x553); // supported page sizes
            put32(&mut c, cap + 0x20, 0x1); // system page size 4 KiB
            for &(i, start, _, flags) in regions.iter().filter(|r| r.0 >= 7) {
                let bar = i - 7;
                // A BAR the kernel could not place keeps its type bits and has
                // address 0 (the firmware left it so).
                let addr = if self.vf_bar_state == VfBarState::Assigned {
                    start
                } else {
                    0
                };
                let v = bar_register(flags, addr);
                put32(&mut c, cap + 0x24 + 4 * bar, v as u32);
                if flags & 0x4 != 0 && bar < 5 {
                    put32(&mut c, cap + 0x28 + 4 * bar, (v >> 32) as u32);
                }
            }
        }
        c
    }

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
    for pf in pfs.iter().filter(|p| p.sriov_capability) {
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

/// The root port above each PF not on bus 0 (by its directory below `sys`):
/// its bus range and ARI, from the PFs below it.
fn ports(pfs: &[PfSpec]) -> io::Result<BTreeMap<String, Port>> {
    let mut out: BTreeMap<String, Port> = BTreeMap::new();
    for pf in pfs.iter().filter(|p| p.address.bus() != 0) {
        let mut last = pf.address.bus();
        if pf.sriov_capability && pf.total_vfs > 0 {
            let offset = pf.offset_checked()?;
            let rid = u32::from(pf.address.routing_id());
            let last_rid =
                rid + u32::from(offset) + u32::from(pf.stride) * (u32::from(pf.total_vfs) - 1);
            last = u8::try_from(last_rid >> 8).unwrap_or(u8::MAX).max(last);
        }
        let port = out.entry(Writer::parent_of(&pf.address)).or_insert(Port {
            secondary: pf.address.bus(),
            subordinate: pf.address.bus(),
            ari: pf.port_ari,
            fixed: false,
        });
        match pf.port_subordinate {
            Some(s) => {
                port.subordinate = s;
                port.fixed = true;
            }
            None if !port.fixed => port.subordinate = port.subordinate.max(last),
            None => {}
        }
        if pf.port_ari != PortAri::Enabled {
            port.ari = pf.port_ari;
        }
    }
    Ok(out)
}

/// A fixture root port.
#[derive(Debug, Clone, Copy)]
struct Port {
    secondary: u8,
    subordinate: u8,
    ari: PortAri,
    /// The subordinate was set by a spec, not derived.
    fixed: bool,
}

/// What the fixture answers to `sriov_numvfs` writes, shared by every
/// [`Sysfs`] from [`Host::sysfs`].
pub(crate) type Answers = std::sync::Arc<std::sync::Mutex<BTreeMap<PciAddress, NumVfsAnswer>>>;

/// How a fixture's "kernel" answers writes to one PF's `sriov_numvfs`, in
/// place of a plain file write (see [`Host::answer_numvfs`]).
///
/// This simulates the kernel's answer inside the crate (a regular file cannot
/// fail a write with `ENOMEM`): the crate's write path consults it, so a test
/// sees the same error mapping, diagnosis and read-back a real write gets. Only
/// [`Sysfs`] handles from [`Host::sysfs`] see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumVfsAnswer {
    /// Writes of a non-zero count fail with this errno and change nothing;
    /// writes of 0 work.
    Errno(i32),
    /// Writes of 0 fail with this errno (a VF assigned to a guest: `EPERM` on
    /// igb and ixgbe, `EBUSY` on others); other writes work.
    ErrnoOnZero(i32),
    /// Writes of a non-zero count succeed, but the driver enables this many:
    /// `sriov_numvfs` reads it afterwards (bnxt_en with its PF down: 0).
    Enables(u16),
    /// Writes of 0 succeed, but this many VFs stay: `sriov_numvfs` reads it
    /// afterwards (bnxt_en while a VF is assigned to a guest).
    ZeroLeaves(u16),
}

impl NumVfsAnswer {
    pub(crate) fn applies_to(&self, n: u16) -> bool {
        match self {
            Self::Errno(_) | Self::Enables(_) => n != 0,
            Self::ErrnoOnZero(_) | Self::ZeroLeaves(_) => n == 0,
        }
    }
}

/// A fixture host on disk; removed when dropped.
#[derive(Debug)]
pub struct Host {
    dir: tempfile::TempDir,
    writer: Writer,
    pfs: Vec<PfSpec>,
    answers: Answers,
}

impl Host {
    /// The root directory (pass it to [`Sysfs::with_root`]).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A [`Sysfs`] handle on this tree (addresses from its `proc/net/if_inet6`),
    /// whose `sriov_numvfs` writes get the answers set with
    /// [`Host::answer_numvfs`].
    pub fn sysfs(&self) -> Sysfs {
        Sysfs::with_root(self.root()).with_fixture_answers(self.answers.clone())
    }

    /// From now on, writes to the `sriov_numvfs` of `pf` get `answer` instead
    /// of a plain file write (a simulation, see [`NumVfsAnswer`]): the way to
    /// test what a count write does on `ENOMEM`, `EIO`, or a driver that creates
    /// fewer VFs than asked.
    ///
    /// ```
    /// use sysfs_sriov::fixture::{HostBuilder, NumVfsAnswer, PfSpec};
    /// use sysfs_sriov::Error;
    ///
    /// let pf = "0000:01:00.0".parse()?;
    /// let host = HostBuilder::new().pf(PfSpec::intel_82576(pf)).build()?;
    /// host.answer_numvfs(&pf, NumVfsAnswer::Errno(libc::ENOMEM));
    /// let e = host.sysfs().set_num_vfs(&pf, 4, false).unwrap_err();
    /// assert!(matches!(e, Error::NumVfsNoResources { requested: 4, .. }));
    /// assert_eq!(host.read_attr(&pf, "sriov_numvfs")?, "0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn answer_numvfs(&self, pf: &PciAddress, answer: NumVfsAnswer) {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(*pf, answer);
    }

    /// Back to plain file writes for the `sriov_numvfs` of `pf`.
    pub fn clear_numvfs_answer(&self, pf: &PciAddress) {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(pf);
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
    /// Bytes of each `config` file.
    config_limit: usize,
    /// The root ports, by directory below `sys`.
    ports: BTreeMap<String, Port>,
}

/// The ACS control bits the kernel needs to isolate devices below a port
/// (Source Validation, P2P Request Redirect, P2P Completion Redirect, Upstream
/// Forwarding).
pub const ACS_ISOLATING: u16 = 0x001d;

/// 4096 bytes of PCIe config space for a root port (type 1 header, class
/// 0x060400), with an AER extended capability at 0x100 and, when `acs_ctl` is
/// given, an ACS capability at 0x148 (capable of SV, TB, RR, CR, UF) with that
/// control register; without it the list ends after AER. Its PCIe capability
/// (at 0x40) has ARI Forwarding supported and enabled, and its bus numbers are
/// 0 (see [`PortConfig`] for other ones). The fixture writes it as the port's
/// `config` file.
///
/// ```
/// let c = sysfs_sriov::fixture::bridge_config(Some(sysfs_sriov::fixture::ACS_ISOLATING));
/// assert_eq!(c.len(), 4096);
/// assert_eq!(&c[0x148..0x150], &[0x0d, 0x00, 0x01, 0x00, 0x1f, 0x00, 0x1d, 0x00]);
/// ```
pub fn bridge_config(acs_ctl: Option<u16>) -> Vec<u8> {
    PortConfig {
        acs_ctl,
        ..PortConfig::default()
    }
    .bytes()
}

/// The config space of a fixture root port, with what the readiness reading
/// looks at: bus numbers (`PCI_SECONDARY_BUS` 0x19, `PCI_SUBORDINATE_BUS`
/// 0x1a) and ARI Forwarding (PCIe capability: Device Capabilities 2 bit 5,
/// Device Control 2 bit 5, as `pci_configure_ari()` in `drivers/pci/pci.c`
/// sets it). The layout of the standard header and PCIe capability follows a
/// QEMU `pcie-root-port` as Linux 6.1 shows it (`hexdump config`: bus numbers
/// `00 01 01` at 0x18, DEVCAP2 `0x00300020`, DEVCTL2 `0x0020`), with an Intel
/// vendor/device id.
///
/// ```
/// use sysfs_sriov::fixture::{PortAri, PortConfig};
///
/// let c = PortConfig { secondary: 2, subordinate: 3, ari: PortAri::Disabled, ..Default::default() }
///     .bytes();
/// assert_eq!((c[0x19], c[0x1a]), (2, 3));
/// assert_eq!(c[0x40 + 0x24] & 0x20, 0x20); // ARI Forwarding Supported
/// assert_eq!(c[0x40 + 0x28] & 0x20, 0x00); // ... not enabled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortConfig {
    /// The ACS control register, `None` for no ACS capability.
    pub acs_ctl: Option<u16>,
    /// The port's secondary bus number.
    pub secondary: u8,
    /// The port's subordinate bus number.
    pub subordinate: u8,
    /// ARI Forwarding.
    pub ari: PortAri,
}

impl PortConfig {
    /// The 4096 bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut c = vec![0u8; 4096];
        c[0..4].copy_from_slice(&[0x86, 0x80, 0x01, 0x19]); // vendor 8086, device 1901
        c[0x06] = 0x10; // status: capability list
        c[0x0a] = 0x04; // subclass: PCI-to-PCI bridge
        c[0x0b] = 0x06; // class: bridge
        c[0x0e] = 0x01; // header type 1
        c[0x19] = self.secondary;
        c[0x1a] = self.subordinate;
        c[0x34] = 0x40;
        // PCIe capability, version 2, type root port, slot implemented.
        c[0x40..0x44].copy_from_slice(&[0x10, 0x00, 0x42, 0x01]);
        let (devcap2, devctl2): (u32, u16) = match self.ari {
            PortAri::Enabled => (0x0030_0020, 0x0020),
            PortAri::Disabled => (0x0030_0020, 0x0000),
            PortAri::Unsupported => (0x0030_0000, 0x0000),
        };
        c[0x64..0x68].copy_from_slice(&devcap2.to_le_bytes());
        c[0x68..0x6a].copy_from_slice(&devctl2.to_le_bytes());
        let aer_next: u32 = if self.acs_ctl.is_some() { 0x148 } else { 0 };
        let aer = 0x0001 | (1 << 16) | (aer_next << 20);
        c[0x100..0x104].copy_from_slice(&aer.to_le_bytes());
        if let Some(ctl) = self.acs_ctl {
            let acs: u32 = 0x000d | (1 << 16);
            c[0x148..0x14c].copy_from_slice(&acs.to_le_bytes());
            c[0x14c..0x14e].copy_from_slice(&0x001f_u16.to_le_bytes());
            c[0x14e..0x150].copy_from_slice(&ctl.to_le_bytes());
        }
        c
    }
}

/// The base of the VF BAR regions of a fixture PF (above 4 GiB, one 4 GiB
/// block per routing id, so no two PFs overlap).
fn vf_region_base(pf: &PciAddress) -> u64 {
    0x3800_0000_0000 + (u64::from(pf.routing_id()) << 32)
}

/// The base of the PF's own memory BARs: a 32 MiB block below 4 GiB, one of
/// 16 by routing id (PFs of a fixture rarely share one; nothing reads them).
fn pf_region_base(pf: &PciAddress) -> u64 {
    0xe000_0000 + (u64::from(pf.routing_id()) % 16) * 0x200_0000
}

/// Lays out `bars` (each `size` x `count`) from `base`, each aligned to its
/// size: the (bar, start, length) of each.
fn layout(base: u64, bars: &[Bar], count: u64) -> Vec<(Bar, u64, u64)> {
    let mut next = base;
    bars.iter()
        .map(|b| {
            let len = b.size.saturating_mul(count.max(1));
            let align = b.size.max(1);
            let start = next.div_ceil(align).saturating_mul(align);
            next = start.saturating_add(len);
            (*b, start, len)
        })
        .collect()
}

/// A `resource` file as `resource_show()` in `drivers/pci/pci-sysfs.c` prints
/// it for an endpoint: `PCI_BRIDGE_RESOURCES` (13) lines of
/// `0x%016llx 0x%016llx 0x%016llx` (start, end, flags): BARs 0-5, the ROM,
/// then the 6 VF BARs (`PCI_IOV_RESOURCES` = 7).
fn resource_file(lines: &[(usize, u64, u64, u64)]) -> String {
    let mut rows = [(0u64, 0u64, 0u64); 13];
    for &(i, start, end, flags) in lines {
        if let Some(r) = rows.get_mut(i) {
            *r = (start, end, flags);
        }
    }
    rows.iter()
        .map(|(s, e, f)| format!("0x{s:016x} 0x{e:016x} 0x{f:016x}\n"))
        .collect()
}

/// The BAR register value of a memory BAR: its type bits (64-bit,
/// prefetchable, from the flags' low bits) and the address.
fn bar_register(flags: u64, addr: u64) -> u64 {
    (addr & !0xf) | (flags & 0xf)
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

    fn base(&mut self, vfio: bool, vfio_sriov: bool) -> io::Result<()> {
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
            // module_param(enable_sriov, bool, 0644) in drivers/vfio/pci/vfio_pci.c
            write_file(
                &self.sys("module/vfio_pci/parameters/enable_sriov"),
                if vfio_sriov { "Y\n" } else { "N\n" },
            )?;
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
        let port = self.ports.get(&rel).copied().unwrap_or(Port {
            secondary: pf.bus(),
            subordinate: pf.bus(),
            ari: PortAri::Enabled,
            fixed: false,
        });
        let config = PortConfig {
            acs_ctl: Some(if self.iommu { ACS_ISOLATING } else { 0 }),
            secondary: port.secondary,
            subordinate: port.subordinate,
            ari: port.ari,
        }
        .bytes();
        self.write_config(&dir.join("config"), config)?;
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
        fs::write(dir.join("resource"), pf.resource_file())?;
        self.write_config(&dir.join("config"), pf.config_space())?;
        if !pf.sriov_capability {
            if let (Some(n), Some(_)) = (&pf.netdev, &pf.driver) {
                self.netdev(&rel, &pf.address, n, pf.up, true)?;
            }
            return Ok(());
        }
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

    /// Writes a `config` file, cut to the host's config limit.
    fn write_config(&self, path: &Path, mut bytes: Vec<u8>) -> io::Result<()> {
        bytes.truncate(self.config_limit);
        fs::write(path, bytes)
    }

    fn vfs(&mut self, pf: &PfSpec) -> io::Result<()> {
        if !pf.sriov_capability {
            return Ok(());
        }
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
