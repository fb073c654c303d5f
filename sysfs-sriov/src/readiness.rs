//! Can this PF have VFs? A reading of everything sysfs shows that decides
//! whether a `sriov_numvfs` write will work, each failed condition a
//! [`Finding`] with its exact fix.
//!
//! What is read, and the kernel code it mirrors:
//!
//! - the SR-IOV capability: `sriov_totalvfs` exists only for a PF whose
//!   capability offers VFs (`sriov_init()` returns early for TotalVFs 0, and
//!   `sriov_attrs_are_visible()` hides the `sriov_*` files of a device that is no
//!   PF, `drivers/pci/iov.c`);
//! - the driver: none bound, or vfio-pci without `enable_sriov`, makes the write
//!   fail with `ENOENT` (`sriov_numvfs_store()`); whether another driver has a
//!   `sriov_configure` is not visible in sysfs, so only the write tells;
//! - the VF BARs: lines 8 to 13 of the PF's `resource` file
//!   (`PCI_IOV_RESOURCES` = 7 to 12 in `include/linux/pci.h`, after the six BARs
//!   and the ROM; `resource_show()` in `drivers/pci/pci-sysfs.c` prints `start
//!   end flags`), each the region for all TotalVFs VFs. A BAR the kernel could
//!   not place is reset to all zeros (`reset_resource()` in
//!   `drivers/pci/setup-bus.c`), so the BAR registers of the SR-IOV capability
//!   in config space tell which BARs exist; `sriov_enable()` then fails with
//!   `ENOMEM` ("not enough MMIO resources for SR-IOV");
//! - ARI: below a PCIe root or downstream port, a function with a device number
//!   other than 0 is reachable only with the port's ARI Forwarding enabled
//!   (Device Control 2 bit 5, set by `pci_configure_ari()` in
//!   `drivers/pci/pci.c`); the VFs' routing ids follow from `sriov_offset` and
//!   `sriov_stride` (`pci_iov_virtfn_devfn()`);
//! - bus numbers: the last VF's bus must not lie beyond the subordinate bus of
//!   the port above (`sriov_enable()`: "can't enable N VFs (bus .. out of range
//!   ..)", `ENOMEM`), read from the port's config space (`PCI_SUBORDINATE_BUS`).
//!
//! Config space is read through the [`Sysfs`] root, at most 4096 bytes. Without
//! `CAP_SYS_ADMIN` the kernel shows only its first 64 bytes: the readings that
//! need more say so ([`AriReading::Unknown`], [`VfBarsReading::Read`] without
//! the config check) rather than guess.

use std::fmt::Write as _;

use serde::Serialize;

use crate::attr;
use crate::config::{self, Config};
use crate::error::Result;
use crate::pci::PciAddress;
use crate::sysfs::Sysfs;

/// `IORESOURCE_UNSET`: a resource without an address yet.
const IORESOURCE_UNSET: u64 = 0x2000_0000;
/// `IORESOURCE_PREFETCH`, `IORESOURCE_MEM_64`.
const IORESOURCE_PREFETCH: u64 = 0x2000;
const IORESOURCE_MEM_64: u64 = 0x0010_0000;
/// `PCI_IOV_RESOURCES`: the first VF BAR line of `resource`.
const IOV_RESOURCES: usize = 7;
/// `PCI_SRIOV_NUM_BARS`.
const SRIOV_NUM_BARS: usize = 6;

/// The SR-IOV readiness of one PCI device: what was read, and every condition
/// that stops a `sriov_numvfs` write from creating VFs, each with its fix.
///
/// ```
/// # #[cfg(feature = "fixture")] {
/// use sysfs_sriov::fixture::{HostBuilder, PfSpec, PortAri, VfBarState};
/// use sysfs_sriov::FindingKind;
///
/// let (ok, bad) = ("0000:01:00.0".parse()?, "0000:02:00.0".parse()?);
/// let host = HostBuilder::new()
///     .pf(PfSpec::intel_82576(ok))
///     .pf(PfSpec::intel_82576(bad).vf_bars(VfBarState::Reset).port_ari(PortAri::Disabled))
///     .build()?;
/// let sysfs = host.sysfs();
///
/// assert!(sysfs.sriov_readiness(&ok)?.is_ready());
///
/// let r = sysfs.sriov_readiness(&bad)?;
/// assert!(!r.is_ready());
/// for f in &r.findings {
///     println!("{}: {}\n  fix: {}", r.address, f.message, f.fix);
/// }
/// assert!(matches!(r.findings[0].kind, FindingKind::VfBarsUnassigned { .. }));
/// assert!(r.findings[0].fix.contains("pci=realloc"));
/// assert!(matches!(r.findings[1].kind, FindingKind::NoAriForwarding { supported: true, .. }));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The device.
    pub address: PciAddress,
    /// Its bound driver.
    pub driver: Option<String>,
    /// Whether `sriov_totalvfs` exists: the kernel found an SR-IOV capability
    /// offering VFs.
    pub sriov_capability: bool,
    /// `sriov_totalvfs`: the VFs the driver allows (at most the hardware's).
    pub total_vfs: Option<u16>,
    /// `sriov_numvfs`.
    pub num_vfs: Option<u16>,
    /// TotalVFs of the SR-IOV capability in config space (`None` when not
    /// readable); each VF BAR region is sized for this many.
    pub hw_total_vfs: Option<u16>,
    /// The VF BARs.
    pub vf_bars: VfBarsReading,
    /// Whether the VFs need ARI, and whether the port above forwards it.
    pub ari: AriReading,
    /// The VFs' bus numbers against the port above.
    pub bus_range: BusRangeReading,
    /// Every condition that stops VFs from being created, in the order above.
    pub findings: Vec<Finding>,
}

impl Readiness {
    /// No finding: as far as sysfs shows, a count write can create VFs.
    pub fn is_ready(&self) -> bool {
        self.findings.is_empty()
    }

    /// The readings that could not be made (config space not readable, ...),
    /// one sentence each: not failures, but not checked either.
    pub fn unknowns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let VfBarsReading::Read {
            config_checked: false,
            ..
        } = &self.vf_bars
        {
            out.push(
                "VF BARs: the SR-IOV capability in config space was not readable (run as \
                 root), so a BAR the kernel reset could not be seen"
                    .to_string(),
            );
        }
        if let AriReading::Unknown { why, .. } = &self.ari {
            out.push(format!("ARI: {why}"));
        }
        if let BusRangeReading::Unknown { why } = &self.bus_range {
            out.push(format!("bus range: {why}"));
        }
        out
    }
}

/// One VF BAR of a PF, from its `resource` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VfBar {
    /// The VF BAR number (0 to 5; `resource` line 8 + number).
    pub bar: u8,
    /// Start of the region for all VFs (0 when unassigned).
    pub start: u64,
    /// End of the region.
    pub end: u64,
    /// The `IORESOURCE_*` flags.
    pub flags: u64,
    /// The kernel gave it an address.
    pub assigned: bool,
    /// Bytes of the region (every VF's BAR of this number).
    pub size: u64,
    /// One VF's BAR: `size` / the hardware's TotalVFs, when that is known.
    pub per_vf: Option<u64>,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// 64-bit memory.
    pub mem64: bool,
}

/// The VF BARs of a PF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VfBarsReading {
    /// The `resource` file was read.
    Read {
        /// The VF BARs it shows (lines with flags).
        bars: Vec<VfBar>,
        /// VF BARs the SR-IOV capability has but `resource` shows as all zero:
        /// reset by the kernel after it could not place them.
        reset: Vec<u8>,
        /// Whether the SR-IOV capability's BAR registers were read to find
        /// `reset` ones.
        config_checked: bool,
    },
    /// Not read (no SR-IOV capability, no VFs offered, or no `resource` file).
    NotRead {
        /// Why.
        why: String,
    },
}

/// Whether the VFs need ARI Forwarding in the port above, and whether it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AriReading {
    /// Every VF (up to `sriov_totalvfs`) has device number 0 on its bus.
    NotNeeded,
    /// The PF is on a root bus (a root complex integrated endpoint): no port
    /// forwards its configuration requests.
    RootBus,
    /// The port above forwards ARI.
    Enabled {
        /// The port.
        bridge: PciAddress,
    },
    /// VFs need it and the port above does not forward it.
    NotEnabled {
        /// The port.
        bridge: PciAddress,
        /// The port supports ARI Forwarding (then the kernel left it off).
        supported: bool,
    },
    /// Not read.
    Unknown {
        /// The port, when found.
        bridge: Option<PciAddress>,
        /// Why.
        why: String,
    },
    /// Not applicable (no VFs offered).
    NotRead,
}

/// The VFs' bus numbers against the bus range of the port above.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BusRangeReading {
    /// Every VF's bus lies in the port's range.
    Fits {
        /// The port.
        bridge: PciAddress,
        /// Its secondary bus.
        secondary: u8,
        /// Its subordinate bus.
        subordinate: u8,
        /// The bus of VF `sriov_totalvfs - 1`.
        last_vf_bus: u16,
    },
    /// The last VFs' buses lie beyond the range (also a [`Finding`]).
    TooSmall {
        /// The port.
        bridge: PciAddress,
        /// Its secondary bus.
        secondary: u8,
        /// Its subordinate bus.
        subordinate: u8,
        /// The bus of VF `sriov_totalvfs - 1` (above 255: beyond any bus).
        last_vf_bus: u16,
    },
    /// The PF is on a root bus, whose range comes from the firmware (ACPI
    /// `_CRS`) and is not in sysfs; only a bus beyond ff is a finding.
    RootBus {
        /// The bus of VF `sriov_totalvfs - 1`.
        last_vf_bus: u16,
    },
    /// Not read.
    Unknown {
        /// Why.
        why: String,
    },
    /// Not applicable (no VFs offered).
    NotRead,
}

/// One condition that stops VFs from being created, with its fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was found, with the values it was found from.
    #[serde(flatten)]
    pub kind: FindingKind,
    /// One sentence: the device and what is wrong.
    pub message: String,
    /// What to do, exactly.
    pub fix: String,
}

/// What a [`Finding`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// No SR-IOV capability (no `sriov_totalvfs`).
    NoSriovCapability {
        /// The device is itself a VF of this PF.
        vf_of: Option<PciAddress>,
    },
    /// An mlx5 card whose firmware has SR-IOV off: no capability, or
    /// `sriov_totalvfs` 0.
    Mlx5FirmwareSriovOff {
        /// `sriov_totalvfs`, when the file exists.
        total_vfs: Option<u16>,
    },
    /// `sriov_totalvfs` is 0 (not an mlx5 card).
    NoVfsOffered,
    /// No driver bound: writes fail with `ENOENT`.
    NoDriver,
    /// Bound to vfio-pci, loaded without `enable_sriov=1`: writes fail with
    /// `ENOENT`.
    VfioPciSriovDisabled,
    /// VF BARs without addresses: writes fail with `ENOMEM`.
    VfBarsUnassigned {
        /// The VF BAR numbers.
        bars: Vec<u8>,
        /// Bytes each needs (for all VFs), where known, in `bars` order.
        sizes: Vec<Option<u64>>,
    },
    /// `resource` shows no VF BAR at all and config space was not readable to
    /// tell whether the kernel reset them: most likely unassigned.
    NoVfBarShown,
    /// VFs with a device number above 0 below a port that does not forward ARI.
    NoAriForwarding {
        /// The port.
        bridge: PciAddress,
        /// The port supports ARI Forwarding (the kernel left it off).
        supported: bool,
        /// The first VF index with a device number above 0.
        first_vf: u16,
        /// Its address.
        first_vf_address: PciAddress,
    },
    /// The last VFs' bus numbers lie beyond the port's subordinate bus: writes
    /// above `usable_vfs` fail with `ENOMEM`.
    VfBusOutOfRange {
        /// The port (`None`: a root bus, when the VFs go past bus ff).
        bridge: Option<PciAddress>,
        /// Its subordinate bus (ff for a root bus).
        subordinate: u8,
        /// The bus of VF `sriov_totalvfs - 1`.
        last_vf_bus: u16,
        /// How many VFs fit.
        usable_vfs: u16,
    },
}

impl Finding {
    /// The finding `kind` for the device at `pf`, with its message and fix.
    pub fn new(pf: &PciAddress, kind: FindingKind) -> Self {
        let (message, fix) = describe(pf, &kind);
        Self { kind, message, fix }
    }

    /// Whether this finding explains an `ENOMEM` answer to a write of
    /// `requested` VFs.
    pub fn explains_no_resources(&self, requested: u16) -> bool {
        match &self.kind {
            FindingKind::VfBarsUnassigned { .. } | FindingKind::NoVfBarShown => true,
            FindingKind::VfBusOutOfRange { usable_vfs, .. } => requested > *usable_vfs,
            _ => false,
        }
    }
}

const REALLOC_FIX: &str = "add pci=realloc to the kernel command line and reboot (the \
     kernel then re-sizes the bridge windows to fit the VF BARs); if the VFs still get no \
     room, enable \"SR-IOV support\" and \"Above 4G decoding\" (also called \"MMIO above \
     4G\" or \"64-bit MMIO\") in the firmware setup and reboot";

fn size_text(bytes: u64) -> String {
    const K: u64 = 1024;
    if bytes >= K * K * K && bytes.is_multiple_of(K * K * K) {
        format!("{} GiB", bytes / (K * K * K))
    } else if bytes >= K * K && bytes.is_multiple_of(K * K) {
        format!("{} MiB", bytes / (K * K))
    } else if bytes >= K && bytes.is_multiple_of(K) {
        format!("{} KiB", bytes / K)
    } else {
        format!("{bytes} bytes")
    }
}

fn describe(pf: &PciAddress, kind: &FindingKind) -> (String, String) {
    match kind {
        FindingKind::NoSriovCapability { vf_of: Some(p) } => (
            format!("{pf} is a VF of {p}, not a PF: it cannot have VFs"),
            format!("check the PF {p} instead"),
        ),
        FindingKind::NoSriovCapability { vf_of: None } => (
            format!(
                "{pf} shows no SR-IOV capability (no sriov_totalvfs): the device, its \
                 firmware, or the host firmware has SR-IOV off"
            ),
            format!(
                "enable SR-IOV for the card in the firmware setup (boards list it globally \
                 and sometimes per slot; some NICs have their own setting in their option \
                 ROM setup) and reboot; `lspci -s {pf} -vvv` must then list \"Single Root \
                 I/O Virtualization\" (a card without it cannot have VFs)"
            ),
        ),
        FindingKind::Mlx5FirmwareSriovOff { total_vfs } => (
            format!(
                "{pf} (mlx5_core) offers no VFs ({}): the card's firmware has SR-IOV off",
                match total_vfs {
                    Some(n) => format!("sriov_totalvfs is {n}"),
                    None => "no SR-IOV capability".to_string(),
                }
            ),
            format!(
                "`mstconfig -d {pf} set SRIOV_EN=1 NUM_OF_VFS=<N>` (mstflint; N at least the \
                 VFs you want), then reboot"
            ),
        ),
        FindingKind::NoVfsOffered => (
            format!("{pf} offers no VFs: sriov_totalvfs is 0"),
            format!(
                "the driver or the card's firmware limits VFs to 0: enable SR-IOV (and a \
                 number of VFs) for the card in the firmware setup, and check the driver's \
                 module parameters (`modinfo <driver>`, e.g. max_vfs); `lspci -s {pf} -vvv` \
                 shows the capability's Total VFs"
            ),
        ),
        FindingKind::NoDriver => (
            format!(
                "no driver is bound to {pf}: writing sriov_numvfs fails with ENOENT (the \
                 kernel creates VFs through the PF driver's sriov_configure)"
            ),
            format!(
                "load and bind the PF's driver: `lspci -k -s {pf}` names its module \
                 (`modprobe <module>`), or `echo {pf} > /sys/bus/pci/drivers_probe`"
            ),
        ),
        FindingKind::VfioPciSriovDisabled => (
            format!(
                "{pf} is bound to vfio-pci, loaded without enable_sriov=1 \
                 (/sys/module/vfio_pci/parameters/enable_sriov is N): writing sriov_numvfs \
                 fails with ENOENT"
            ),
            "`modprobe -r vfio-pci && modprobe vfio-pci enable_sriov=1` (persist it with \
             `options vfio-pci enable_sriov=1` in /etc/modprobe.d/), or bind the PF to its \
             own driver"
                .to_string(),
        ),
        FindingKind::VfBarsUnassigned { bars, sizes } => {
            let mut list = String::new();
            for (i, b) in bars.iter().enumerate() {
                if i > 0 {
                    list.push_str(", ");
                }
                let _ = write!(list, "VF BAR{b}");
                if let Some(Some(s)) = sizes.get(i) {
                    let _ = write!(list, " ({} for all VFs)", size_text(*s));
                }
            }
            (
                format!(
                    "the kernel could not give the VF BARs of {pf} addresses ({list}): a VF \
                     count write fails with ENOMEM (\"not enough MMIO resources for \
                     SR-IOV\" in dmesg)"
                ),
                REALLOC_FIX.to_string(),
            )
        }
        FindingKind::NoVfBarShown => (
            format!(
                "the kernel shows no VF BAR for {pf} (its resource file's VF BAR lines are \
                 all zero), which is how a VF BAR it could not place reads; config space was \
                 not readable to confirm (run as root): a VF count write would fail with \
                 ENOMEM"
            ),
            REALLOC_FIX.to_string(),
        ),
        FindingKind::NoAriForwarding {
            bridge,
            supported,
            first_vf,
            first_vf_address,
        } => {
            let limit = if *first_vf == 0 {
                "no VF is reachable without it".to_string()
            } else {
                format!("or use at most {first_vf} VFs")
            };
            (
                format!(
                    "VF {first_vf} of {pf} and later ones would be at device numbers above 0 \
                     ({first_vf_address}), which the port {bridge} above forwards only with \
                     ARI, and its ARI Forwarding is {}: those VFs would be unreachable",
                    if *supported { "off" } else { "not supported" }
                ),
                if *supported {
                    format!(
                        "the kernel turns ARI Forwarding on only when function 0 of the card \
                         has the ARI capability and the command line has no pci=noari: \
                         remove pci=noari, update the card's firmware; {limit}"
                    )
                } else {
                    format!(
                        "move the card to a slot whose port supports ARI (a CPU or chipset \
                         root port of a PCIe 2.0 or later platform), {limit}"
                    )
                },
            )
        }
        FindingKind::VfBusOutOfRange {
            bridge,
            subordinate,
            last_vf_bus,
            usable_vfs,
        } => {
            let whose = match bridge {
                Some(b) => format!("the port {b} above routes buses only up to {subordinate:02x}"),
                None => "no bus lies beyond ff".to_string(),
            };
            (
                format!(
                    "the VFs of {pf} need bus numbers up to {last_vf_bus:02x}, but {whose}: a \
                     count above {usable_vfs} fails with ENOMEM (\"can't enable N VFs (bus .. \
                     out of range ..)\" in dmesg)"
                ),
                format!(
                    "enable SR-IOV in the firmware setup (the firmware then reserves bus \
                     numbers for VFs), or boot with pci=assign-busses so the kernel numbers \
                     the buses itself and leaves room for the VFs; or use at most {usable_vfs} \
                     VFs"
                ),
            )
        }
    }
}

/// The VF routing ids of a PF, as `pci_iov_virtfn_bus()`/`_devfn()` compute
/// them: PF routing id + offset + stride x index (may exceed 16 bits).
fn vf_rid(pf: &PciAddress, offset: u16, stride: u16, index: u16) -> u32 {
    u32::from(pf.routing_id()) + u32::from(offset) + u32::from(stride) * u32::from(index)
}

/// A line of a `resource` file: start, end, flags.
fn parse_resource(text: &str) -> Option<Vec<(u64, u64, u64)>> {
    let hex = |s: &str| u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let v = (hex(it.next()?)?, hex(it.next()?)?, hex(it.next()?)?);
            it.next().is_none().then_some(v)
        })
        .collect()
}

impl Sysfs {
    /// The upstream bridge of `addr`: the parent directory of its device
    /// directory, when that is a PCI device (`None`: a root bus).
    ///
    /// # Errors
    /// Why it could not be told (not a symlink as sysfs makes it).
    pub(crate) fn upstream_bridge(
        &self,
        addr: &PciAddress,
    ) -> std::result::Result<Option<PciAddress>, String> {
        let link = self.device_dir(addr);
        let target = std::fs::read_link(&link)
            .map_err(|e| format!("{} is not a readable symlink ({e})", link.display()))?;
        let mut comps = target
            .components()
            .rev()
            .filter_map(|c| c.as_os_str().to_str());
        let _self = comps.next();
        Ok(comps.next().and_then(|p| p.parse().ok()))
    }

    /// Reads the SR-IOV readiness of the PCI device at `addr` (see the module
    /// docs and [`Readiness`]): the capability, TotalVFs, the driver, the VF
    /// BARs and whether the kernel assigned them, ARI, and the VFs' buses
    /// against the port above. Nothing is written.
    ///
    /// # Errors
    /// [`crate::Error::DeviceNotFound`]; I/O and parse errors reading the
    /// `sriov_*` files. What cannot be read of config space is reported in the
    /// reading, not as an error.
    pub fn sriov_readiness(&self, addr: &PciAddress) -> Result<Readiness> {
        self.require_device(addr)?;
        let driver = self.driver_of(addr)?;
        let f = |n: &str| self.device_file(addr, n);
        let capability = f("sriov_totalvfs").exists();
        let mut r = Readiness {
            address: *addr,
            driver: driver.clone(),
            sriov_capability: capability,
            total_vfs: None,
            num_vfs: None,
            hw_total_vfs: None,
            vf_bars: VfBarsReading::NotRead {
                why: "no SR-IOV capability".to_string(),
            },
            ari: AriReading::NotRead,
            bus_range: BusRangeReading::NotRead,
            findings: Vec::new(),
        };
        let is_mlx5 = driver.as_deref() == Some("mlx5_core");
        if !capability {
            let vf_of = attr::link_address(&f("physfn")).ok().flatten();
            let kind = if vf_of.is_none() && is_mlx5 {
                FindingKind::Mlx5FirmwareSriovOff { total_vfs: None }
            } else {
                FindingKind::NoSriovCapability { vf_of }
            };
            r.findings.push(Finding::new(addr, kind));
            return Ok(r);
        }
        let total: u16 = attr::read_dec(&f("sriov_totalvfs"))?;
        r.total_vfs = Some(total);
        r.num_vfs = attr::read_dec_opt(&f("sriov_numvfs"))?;
        let config = config::read(&f("config")).ok();
        let sriov_cap = config
            .as_ref()
            .and_then(|c| c.find_ext_cap(config::EXT_CAP_ID_SRIOV).ok().flatten());
        r.hw_total_vfs = sriov_cap
            .zip(config.as_ref())
            .and_then(|(cap, c)| c.u16_at(cap + config::SRIOV_TOTAL_VF));
        if total == 0 {
            let kind = if is_mlx5 {
                FindingKind::Mlx5FirmwareSriovOff { total_vfs: Some(0) }
            } else {
                FindingKind::NoVfsOffered
            };
            r.findings.push(Finding::new(addr, kind));
            r.vf_bars = VfBarsReading::NotRead {
                why: "no VFs offered".to_string(),
            };
            return Ok(r);
        }
        match driver.as_deref() {
            None => r.findings.push(Finding::new(addr, FindingKind::NoDriver)),
            Some("vfio-pci") => {
                let p = self.path("sys/module/vfio_pci/parameters/enable_sriov");
                if matches!(attr::read_opt(&p)?.as_deref(), Some("N" | "0")) {
                    r.findings
                        .push(Finding::new(addr, FindingKind::VfioPciSriovDisabled));
                }
            }
            Some(_) => {}
        }
        self.read_vf_bars(addr, &mut r, config.as_ref(), sriov_cap)?;
        let offset: u16 = attr::read_dec_opt(&f("sriov_offset"))?.unwrap_or(0);
        let stride: u16 = attr::read_dec_opt(&f("sriov_stride"))?.unwrap_or(0);
        let bridge = self.upstream_bridge(addr);
        self.read_ari(addr, &mut r, &bridge, offset, stride, total);
        self.read_bus_range(addr, &mut r, &bridge, offset, stride, total);
        Ok(r)
    }

    /// [`Sysfs::sriov_readiness`] of every device that is or should be a PF:
    /// every one with `sriov_totalvfs`, and every device bound to mlx5_core
    /// that is no VF but lacks it (its firmware has SR-IOV off). Sorted by
    /// address.
    ///
    /// # Errors
    /// Those of [`Sysfs::sriov_readiness`], and listing `sys/bus/pci/devices`.
    pub fn sriov_readiness_all(&self) -> Result<Vec<Readiness>> {
        let mut out = Vec::new();
        for name in attr::list_dir(&self.path("sys/bus/pci/devices"))? {
            let Ok(addr) = name.parse::<PciAddress>() else {
                continue;
            };
            let pf = self.device_file(&addr, "sriov_totalvfs").exists();
            let mlx5_off = !pf
                && self.driver_of(&addr)?.as_deref() == Some("mlx5_core")
                && std::fs::symlink_metadata(self.device_file(&addr, "physfn")).is_err();
            if pf || mlx5_off {
                out.push(self.sriov_readiness(&addr)?);
            }
        }
        out.sort_by_key(|r| r.address);
        Ok(out)
    }

    fn read_vf_bars(
        &self,
        addr: &PciAddress,
        r: &mut Readiness,
        config: Option<&Config>,
        sriov_cap: Option<usize>,
    ) -> Result<()> {
        let path = self.device_file(addr, "resource");
        let Some(text) = attr::read_opt(&path)? else {
            r.vf_bars = VfBarsReading::NotRead {
                why: format!("{} does not exist", path.display()),
            };
            return Ok(());
        };
        let Some(lines) = parse_resource(&text) else {
            r.vf_bars = VfBarsReading::NotRead {
                why: format!("{} is not in the kernel's format", path.display()),
            };
            return Ok(());
        };
        let mut bars = Vec::new();
        let mut zero_lines = Vec::new();
        for i in 0..SRIOV_NUM_BARS {
            let Some(&(start, end, flags)) = lines.get(IOV_RESOURCES + i) else {
                continue;
            };
            if flags == 0 && start == 0 && end == 0 {
                zero_lines.push(i);
                continue;
            }
            if flags == 0 {
                continue;
            }
            let size = if end >= start {
                (end - start).saturating_add(1)
            } else {
                0
            };
            let per_vf = r
                .hw_total_vfs
                .filter(|t| *t > 0 && size.is_multiple_of(u64::from(*t)))
                .map(|t| size / u64::from(t));
            bars.push(VfBar {
                bar: i as u8,
                start,
                end,
                flags,
                assigned: start != 0 && flags & IORESOURCE_UNSET == 0,
                size,
                per_vf,
                prefetchable: flags & IORESOURCE_PREFETCH != 0,
                mem64: flags & IORESOURCE_MEM_64 != 0,
            });
        }
        // Which VF BARs the SR-IOV capability has: a register with type bits
        // or an address; the upper half of a 64-bit BAR is no BAR of its own.
        let mut reset = Vec::new();
        let cap = sriov_cap.zip(config);
        if let Some((cap, c)) = cap {
            let mut i = 0;
            while i < SRIOV_NUM_BARS {
                let reg = c.u32_at(cap + config::SRIOV_BAR + 4 * i).unwrap_or(0);
                let is64 = reg & 0x1 == 0 && reg & 0x6 == 0x4;
                if reg != 0 && zero_lines.contains(&i) {
                    reset.push(i as u8);
                }
                i += if is64 { 2 } else { 1 };
            }
        }
        let unassigned: Vec<&VfBar> = bars.iter().filter(|b| !b.assigned).collect();
        if !unassigned.is_empty() || !reset.is_empty() {
            let mut list: Vec<(u8, Option<u64>)> = unassigned
                .iter()
                .map(|b| (b.bar, (b.size > 0).then_some(b.size)))
                .collect();
            list.extend(reset.iter().map(|b| (*b, None)));
            list.sort_by_key(|(b, _)| *b);
            r.findings.push(Finding::new(
                addr,
                FindingKind::VfBarsUnassigned {
                    bars: list.iter().map(|(b, _)| *b).collect(),
                    sizes: list.iter().map(|(_, s)| *s).collect(),
                },
            ));
        } else if bars.is_empty() && cap.is_none() {
            r.findings
                .push(Finding::new(addr, FindingKind::NoVfBarShown));
        }
        r.vf_bars = VfBarsReading::Read {
            bars,
            reset,
            config_checked: cap.is_some(),
        };
        Ok(())
    }

    fn read_ari(
        &self,
        addr: &PciAddress,
        r: &mut Readiness,
        bridge: &std::result::Result<Option<PciAddress>, String>,
        offset: u16,
        stride: u16,
        total: u16,
    ) {
        let needs = (0..total).find(|i| (vf_rid(addr, offset, stride, *i) & 0xff) >> 3 != 0);
        let bridge = match bridge {
            Err(why) => {
                r.ari = AriReading::Unknown {
                    bridge: None,
                    why: why.clone(),
                };
                return;
            }
            Ok(None) => {
                r.ari = AriReading::RootBus;
                return;
            }
            Ok(Some(b)) => *b,
        };
        let Some(first_vf) = needs else {
            r.ari = AriReading::NotNeeded;
            return;
        };
        let unknown = |why: String| AriReading::Unknown {
            bridge: Some(bridge),
            why,
        };
        let path = self.device_file(&bridge, "config");
        let c = match config::read(&path) {
            Ok(c) => c,
            Err(e) => {
                r.ari = unknown(format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        let exp = match c.find_cap(config::CAP_ID_EXP) {
            Ok(Some(p)) => p,
            Ok(None) => {
                r.ari = unknown(format!(
                    "the port {bridge} above has no PCIe capability (a conventional PCI \
                     bridge): ARI does not apply"
                ));
                return;
            }
            Err(()) => {
                r.ari = unknown(format!(
                    "only {} bytes of the config space of the port {bridge} are readable \
                     (run as root)",
                    c.len()
                ));
                return;
            }
        };
        let port_type = c
            .u16_at(exp + config::EXP_FLAGS)
            .map(|f| ((f >> 4) & 0xf) as u8);
        if !matches!(
            port_type,
            Some(config::EXP_TYPE_ROOT_PORT | config::EXP_TYPE_DOWNSTREAM)
        ) {
            r.ari = unknown(format!(
                "{bridge} above is no PCIe root or downstream port (type {})",
                port_type.map_or_else(|| "unreadable".to_string(), |t| t.to_string())
            ));
            return;
        }
        let (Some(devcap2), Some(devctl2)) = (
            c.u32_at(exp + config::EXP_DEVCAP2),
            c.u16_at(exp + config::EXP_DEVCTL2),
        ) else {
            r.ari = unknown(format!(
                "the PCIe capability of {bridge} lies beyond the {} bytes read",
                c.len()
            ));
            return;
        };
        let supported = devcap2 & config::EXP_DEVCAP2_ARI != 0;
        if devctl2 & config::EXP_DEVCTL2_ARI != 0 {
            r.ari = AriReading::Enabled { bridge };
            return;
        }
        r.ari = AriReading::NotEnabled { bridge, supported };
        let rid = vf_rid(addr, offset, stride, first_vf);
        let first_vf_address = u8::try_from(rid >> 8)
            .ok()
            .and_then(|bus| {
                PciAddress::new(
                    addr.domain(),
                    bus,
                    ((rid >> 3) & 0x1f) as u8,
                    (rid & 7) as u8,
                )
                .ok()
            })
            .unwrap_or(*addr);
        r.findings.push(Finding::new(
            addr,
            FindingKind::NoAriForwarding {
                bridge,
                supported,
                first_vf,
                first_vf_address,
            },
        ));
    }

    fn read_bus_range(
        &self,
        addr: &PciAddress,
        r: &mut Readiness,
        bridge: &std::result::Result<Option<PciAddress>, String>,
        offset: u16,
        stride: u16,
        total: u16,
    ) {
        let bus_of = |i: u16| vf_rid(addr, offset, stride, i) >> 8;
        let last_vf_bus = u16::try_from(bus_of(total.saturating_sub(1))).unwrap_or(u16::MAX);
        let usable = |limit: u32| (0..total).take_while(|i| bus_of(*i) <= limit).count() as u16;
        let bridge = match bridge {
            Err(why) => {
                r.bus_range = BusRangeReading::Unknown { why: why.clone() };
                return;
            }
            Ok(None) => {
                r.bus_range = BusRangeReading::RootBus { last_vf_bus };
                if last_vf_bus > 0xff {
                    r.findings.push(Finding::new(
                        addr,
                        FindingKind::VfBusOutOfRange {
                            bridge: None,
                            subordinate: 0xff,
                            last_vf_bus,
                            usable_vfs: usable(0xff),
                        },
                    ));
                }
                return;
            }
            Ok(Some(b)) => *b,
        };
        let path = self.device_file(&bridge, "config");
        let c = match config::read(&path) {
            Ok(c) => c,
            Err(e) => {
                r.bus_range = BusRangeReading::Unknown {
                    why: format!("cannot read {}: {e}", path.display()),
                };
                return;
            }
        };
        let (Some(secondary), Some(subordinate)) = (
            c.u8_at(config::SECONDARY_BUS),
            c.u8_at(config::SUBORDINATE_BUS),
        ) else {
            r.bus_range = BusRangeReading::Unknown {
                why: format!("{} is shorter than a config header", path.display()),
            };
            return;
        };
        if last_vf_bus <= u16::from(subordinate) {
            r.bus_range = BusRangeReading::Fits {
                bridge,
                secondary,
                subordinate,
                last_vf_bus,
            };
            return;
        }
        r.bus_range = BusRangeReading::TooSmall {
            bridge,
            secondary,
            subordinate,
            last_vf_bus,
        };
        r.findings.push(Finding::new(
            addr,
            FindingKind::VfBusOutOfRange {
                bridge: Some(bridge),
                subordinate,
                last_vf_bus,
                usable_vfs: usable(u32::from(subordinate)),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lines_parse_as_the_kernel_prints_them() {
        // QEMU's igb under Linux 6.1 (VF BAR0 and BAR3 assigned).
        let text = "0x00000000fe800000 0x00000000fe81ffff 0x0000000000040200\n\
                    0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
        assert_eq!(
            parse_resource(text),
            Some(vec![(0xfe80_0000, 0xfe81_ffff, 0x40200), (0, 0, 0)])
        );
        assert_eq!(parse_resource("0x1 0x2\n"), None);
        assert_eq!(parse_resource("0x1 0x2 0x3 0x4\n"), None);
        assert_eq!(parse_resource("zz 0x2 0x3\n"), None);
        assert_eq!(parse_resource(""), Some(vec![]));
    }

    #[test]
    fn every_finding_names_the_pf_and_has_a_fix() {
        let pf: PciAddress = "0000:02:00.0".parse().unwrap();
        let b: PciAddress = "0000:00:03.0".parse().unwrap();
        let kinds = [
            FindingKind::NoSriovCapability { vf_of: None },
            FindingKind::NoSriovCapability { vf_of: Some(b) },
            FindingKind::Mlx5FirmwareSriovOff { total_vfs: None },
            FindingKind::Mlx5FirmwareSriovOff { total_vfs: Some(0) },
            FindingKind::NoVfsOffered,
            FindingKind::NoDriver,
            FindingKind::VfioPciSriovDisabled,
            FindingKind::VfBarsUnassigned {
                bars: vec![0, 3],
                sizes: vec![Some(0x2_0000), None],
            },
            FindingKind::NoVfBarShown,
            FindingKind::NoAriForwarding {
                bridge: b,
                supported: true,
                first_vf: 0,
                first_vf_address: pf,
            },
            FindingKind::NoAriForwarding {
                bridge: b,
                supported: false,
                first_vf: 3,
                first_vf_address: pf,
            },
            FindingKind::VfBusOutOfRange {
                bridge: Some(b),
                subordinate: 2,
                last_vf_bus: 3,
                usable_vfs: 5,
            },
            FindingKind::VfBusOutOfRange {
                bridge: None,
                subordinate: 0xff,
                last_vf_bus: 0x100,
                usable_vfs: 5,
            },
        ];
        for k in kinds {
            let f = Finding::new(&pf, k);
            assert!(f.message.contains("0000:02:00.0"), "{}", f.message);
            assert!(f.fix.len() > 10, "{}", f.fix);
            let j = serde_json::to_value(&f).unwrap();
            assert!(j["kind"].is_string() && j["fix"].is_string(), "{j}");
        }
        assert_eq!(size_text(0x2_0000), "128 KiB");
        assert_eq!(size_text(0x200_0000), "32 MiB");
        assert_eq!(size_text(3), "3 bytes");
    }
}
