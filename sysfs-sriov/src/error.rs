//! The crate's one error type.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::pci::PciAddress;
use crate::pending::PendingVf;
use crate::usage::{Casualty, PfImpact};

/// Everything that can go wrong in this crate.
///
/// Variants are named after the failed operation and carry the device, the sysfs
/// file and, where one exists, the fix. Every errno a `sriov_numvfs` write can
/// return maps to a typed variant (see [`Sysfs::set_num_vfs`](crate::Sysfs::set_num_vfs)):
/// `ERANGE` -> [`Error::NumVfsOutOfRange`], `ENOENT` -> [`Error::NoDriver`] or
/// [`Error::NoSriovConfigure`], `EBUSY` -> [`Error::NumVfsBusy`], `ENOMEM` ->
/// [`Error::NumVfsNoResources`], `EIO`, `ENOSPC`, `EPERM`, `EINVAL`, `EOPNOTSUPP`,
/// `ENODEV`, `ENOSYS`, `EAGAIN` and any other -> [`Error::NumVfsFailed`] with a
/// [`NumVfsRefusal`](crate::NumVfsRefusal); a write the driver answered with
/// fewer VFs than asked -> [`Error::NumVfsShort`]. Other attributes: `EINVAL` ->
/// [`Error::InvalidValue`], `EPERM`/`EACCES`/`EROFS` -> [`Error::PermissionDenied`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not a PCI address.
    #[error("invalid PCI address {input:?}: {reason} (expected e.g. 0000:02:00.0 or 02:00.0)")]
    InvalidPciAddress {
        /// The rejected input (cut to 64 characters).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A name that would not be a single safe sysfs path component.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// What the name was for (`"netdev"`, `"driver"`).
        kind: &'static str,
        /// The rejected name (escaped by `Debug`, cut to 64 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// No PCI device with this address.
    #[error("no PCI device {address} ({path} does not exist; check `lspci -D`)")]
    DeviceNotFound {
        /// The address looked up.
        address: PciAddress,
        /// The sysfs directory that is missing.
        path: PathBuf,
    },

    /// No network interface with this name (in the network namespace sysfs shows).
    #[error("no network interface {name:?} ({path} does not exist; check `ip link`)")]
    NetdevNotFound {
        /// The name looked up.
        name: String,
        /// The sysfs entry that is missing.
        path: PathBuf,
    },

    /// The netdev exists but is not backed by a PCI device.
    #[error("network interface {name:?} is not a PCI device ({path} is missing or not PCI)")]
    NetdevNotPci {
        /// The interface.
        name: String,
        /// Its `device` link.
        path: PathBuf,
    },

    /// The device has no SR-IOV capability (no `sriov_totalvfs`).
    #[error("{address} is not an SR-IOV physical function ({path} does not exist){hint}")]
    NotSriovCapable {
        /// The device.
        address: PciAddress,
        /// The missing `sriov_totalvfs` file.
        path: PathBuf,
        /// Extra advice, e.g. that the device is itself a VF (may be empty).
        hint: String,
    },

    /// The device is not a virtual function (no `physfn` link).
    #[error("{address} is not an SR-IOV virtual function ({path} does not exist)")]
    NotAVf {
        /// The device.
        address: PciAddress,
        /// The missing `physfn` link.
        path: PathBuf,
    },

    /// A VF index beyond the VFs the PF has or can have.
    #[error("PF {pf} has no VF {index} (valid: 0..{limit}); create more with sriov_numvfs")]
    VfIndexOutOfRange {
        /// The PF.
        pf: PciAddress,
        /// The requested index.
        index: u32,
        /// One past the highest valid index.
        limit: u32,
    },

    /// The predicted VF address would need a bus number above 255.
    #[error("VF {index} of {pf} would lie beyond bus ff (offset {offset}, stride {stride})")]
    VfAddressOverflow {
        /// The PF.
        pf: PciAddress,
        /// The VF index.
        index: u32,
        /// `sriov_offset`.
        offset: u16,
        /// `sriov_stride`.
        stride: u16,
    },

    /// More VFs than `sriov_totalvfs` allows (the kernel answers `ERANGE`).
    #[error(
        "cannot set {requested} VFs on {pf}: {path} allows at most {total} (sriov_totalvfs); \
         ask for {total} or fewer"
    )]
    NumVfsOutOfRange {
        /// The PF.
        pf: PciAddress,
        /// The requested count.
        requested: u32,
        /// `sriov_totalvfs`.
        total: u16,
        /// The `sriov_numvfs` file.
        path: PathBuf,
    },

    /// The PF has no driver bound, or one without SR-IOV support (the kernel answers
    /// `ENOENT`).
    #[error(
        "cannot change VFs of {pf}: no driver with SR-IOV support is bound to it \
         (writing {path} fails with ENOENT); load and bind the PF driver first \
         (e.g. `modprobe igb`, or echo {pf} > /sys/bus/pci/drivers_probe)"
    )]
    NoDriver {
        /// The PF.
        pf: PciAddress,
        /// The `sriov_numvfs` file.
        path: PathBuf,
    },

    /// The kernel refused to change the VF count (`EBUSY`): VFs already exist
    /// (`sriov_numvfs_store()`: "Disable before enabling"), some are still in use
    /// (assigned to a VM), or the driver is busy (i40e and ice during a VF reset).
    #[error(
        "the kernel refused to change the VF count of {pf} to {requested} (writing {}: EBUSY): {}",
        .path.display(),
        busy_reason(*.current, *.requested)
    )]
    NumVfsBusy {
        /// The PF.
        pf: PciAddress,
        /// VFs enabled when the write was attempted.
        current: u16,
        /// The count written.
        requested: u16,
        /// The `sriov_numvfs` file.
        path: PathBuf,
    },

    /// A bound PF driver without `sriov_configure` (the kernel answers `ENOENT`,
    /// logging "Driver does not support SRIOV configuration via sysfs"), or
    /// vfio-pci loaded without `enable_sriov=1` (its `sriov_configure` answers
    /// `ENOENT` too).
    #[error(
        "cannot change VFs of {pf}: its driver {driver} does not create VFs through \
         sysfs (writing {}: ENOENT){}",
        .path.display(),
        no_configure_fix(.driver)
    )]
    NoSriovConfigure {
        /// The PF.
        pf: PciAddress,
        /// The bound driver.
        driver: String,
        /// The `sriov_numvfs` file.
        path: PathBuf,
    },

    /// The kernel found no room for the VFs (`ENOMEM` from `sriov_enable()` in
    /// `drivers/pci/iov.c`): the VF BARs got no MMIO addresses ("not enough MMIO
    /// resources for SR-IOV"), or the last VF's bus number lies beyond the bus
    /// range of the port above ("can't enable N VFs (bus .. out of range ..)").
    /// `diagnosis` holds what the PF's readiness reading found right after the
    /// failed write ([`Sysfs::sriov_readiness`](crate::Sysfs::sriov_readiness)):
    /// the VF BAR and bus range findings, empty when it found neither.
    #[error(
        "the kernel has no room for {requested} VFs of {pf} (writing {}: ENOMEM): {}",
        .path.display(),
        no_resources_text(*.requested, .diagnosis)
    )]
    NumVfsNoResources {
        /// The PF.
        pf: PciAddress,
        /// The count written.
        requested: u16,
        /// The `sriov_numvfs` file.
        path: PathBuf,
        /// Findings on the VF BARs and bus numbers of the PF.
        diagnosis: Vec<crate::readiness::Finding>,
    },

    /// The PF driver (or the PCI core) refused the count with another errno.
    #[error(
        "{} of {pf} refused {requested} VFs (writing {}: {}): {}",
        .driver.as_deref().map_or_else(|| "the driver".to_string(), |d| format!("the driver {d}")),
        .path.display(),
        crate::numvfs::errno_name(*.errno),
        .refusal.explain(*.requested)
    )]
    NumVfsFailed {
        /// The PF.
        pf: PciAddress,
        /// The count written.
        requested: u16,
        /// The raw errno.
        errno: i32,
        /// What the errno means for a `sriov_numvfs` write.
        refusal: crate::numvfs::NumVfsRefusal,
        /// The PF's driver when the write was made.
        driver: Option<String>,
        /// The `sriov_numvfs` file.
        path: PathBuf,
    },

    /// The write succeeded, but `sriov_numvfs` reads another count afterwards:
    /// the driver created fewer VFs than asked and still returned success (bnxt_en
    /// creates none while its PF is down; the kernel logs "N VFs requested; only
    /// M enabled").
    #[error(
        "{} of {pf} left {enabled} VFs where {requested} were asked for, and \
         reported success ({} reads {enabled} after writing {requested}): {}",
        .driver.as_deref().map_or_else(|| "the driver".to_string(), |d| format!("the driver {d}")),
        .path.display(),
        short_fix(.driver.as_deref(), *.requested, *.enabled)
    )]
    NumVfsShort {
        /// The PF.
        pf: PciAddress,
        /// The count written.
        requested: u16,
        /// What `sriov_numvfs` reads after the write.
        enabled: u16,
        /// The PF's driver.
        driver: Option<String>,
        /// The `sriov_numvfs` file.
        path: PathBuf,
    },

    /// Changing between two non-zero VF counts means going through 0, which destroys
    /// every VF; the caller did not allow that.
    #[error(
        "refusing to change {pf} from {from} to {to} VFs: the kernel needs 0 first, \
         which destroys all {from} VFs{}; pass allow_recreate (CLI: --recreate) to do it",
        casualty_summary(.casualties)
    )]
    RecreateRefused {
        /// The PF.
        pf: PciAddress,
        /// Current count.
        from: u16,
        /// Requested count.
        to: u16,
        /// Every VF that would be destroyed, with what is in use on it.
        casualties: Vec<Casualty>,
    },

    /// Refusing to unbind a device whose netdev is up or carries addresses.
    #[error(
        "refusing to unbind {address} from {driver}: netdev {netdev} {reason}; \
         take it down first (`ip link set {netdev} down`, remove its addresses) or force"
    )]
    UnbindRefused {
        /// The device.
        address: PciAddress,
        /// Its current driver.
        driver: String,
        /// The busy netdev.
        netdev: String,
        /// `"is up"` or `"has addresses a, b"`.
        reason: String,
    },

    /// The driver a device is bound to has no `unbind` file, also after
    /// waiting: the kernel creates a driver's `bind` and `unbind` files only
    /// after it has probed every device it matched at registration
    /// (`bus_add_driver()` in `drivers/base/bus.c`), so a driver still loading
    /// (udev loading igbvf as VFs appear, say) has none yet; a driver that
    /// suppresses manual binding never has one.
    #[error(
        "cannot unbind {address} from {driver}: {path} did not appear within {}s (the driver \
         is still loading, or does not allow manual unbinding); run again once `udevadm settle` \
         returns",
        .waited.as_secs()
    )]
    UnbindFileMissing {
        /// The device.
        address: PciAddress,
        /// Its driver.
        driver: String,
        /// The missing file.
        path: PathBuf,
        /// How long it was waited for.
        waited: Duration,
    },

    /// The requested driver is not loaded (no `/sys/bus/pci/drivers/<name>`).
    #[error("driver {driver} is not loaded ({path} does not exist); run `modprobe {driver}`")]
    DriverNotLoaded {
        /// The driver.
        driver: String,
        /// The missing directory.
        path: PathBuf,
    },

    /// After `drivers_probe`, the device is not bound to the requested driver.
    #[error(
        "{address} is bound to {} after drivers_probe, not {wanted}; check `dmesg` \
         (does {wanted} support this device? is its IOMMU group viable?)",
        .got.as_deref().unwrap_or("no driver")
    )]
    BindFailed {
        /// The device.
        address: PciAddress,
        /// The requested driver.
        wanted: String,
        /// The driver actually bound.
        got: Option<String>,
    },

    /// Timed out waiting for VFs to appear.
    #[error(
        "timed out after {timeout:?} waiting for {} of {expected} VFs of {pf}: {}",
        .missing.len(),
        pending_summary(.missing)
    )]
    WaitTimeout {
        /// The PF.
        pf: PciAddress,
        /// VFs waited for.
        expected: u16,
        /// The timeout.
        timeout: Duration,
        /// What each missing VF still lacked.
        missing: Vec<PendingVf>,
    },

    /// A sysfs write was refused with `EPERM`/`EACCES`.
    #[error(
        "permission denied writing {path}: run as root (CAP_SYS_ADMIN); in a container \
         /sys is usually read-only"
    )]
    PermissionDenied {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The kernel rejected the value written (`EINVAL`).
    #[error("the kernel rejected {value:?} written to {path} (EINVAL){hint}")]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// What might help (may be empty).
        hint: String,
    },

    /// A sysfs file held something this crate cannot parse.
    #[error("unexpected content {content:?} in {path} (expected {expected})")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held (cut to 64 characters).
        content: String,
        /// What was expected.
        expected: &'static str,
    },

    /// Resetting PFs to 0 VFs would destroy VFs that are in use; nothing was
    /// written.
    #[error(
        "refusing to write 0 to sriov_numvfs of {}: that destroys every VF, and these \
         are in use:\n{}\nstop what uses them (the VM, `ip link set <netdev> down`, \
         its addresses) or pass allow_in_use (CLI: --allow-recreate) to do it anyway",
        impact_pfs(.pfs),
        impact_lines(.pfs)
    )]
    ResetRefused {
        /// Only the PFs with VFs in use, each with all its VFs.
        pfs: Vec<PfImpact>,
    },

    /// `sriov_drivers_autoprobe` was turned off around a VF count write and could
    /// not be turned back on: VFs created from now on get no driver.
    #[error(
        "could not turn sriov_drivers_autoprobe of {pf} back on after changing its VF \
         count: VFs it creates from now on get no driver; run `echo 1 > {}`{}",
        .path.display(),
        count_error_note(.count_error.as_deref())
    )]
    AutoprobeNotRestored {
        /// The PF.
        pf: PciAddress,
        /// Its `sriov_drivers_autoprobe` file.
        path: PathBuf,
        /// The count write's own error, when it had failed too.
        count_error: Option<Box<Error>>,
        /// Why the restoring write failed.
        #[source]
        source: Box<Error>,
    },

    /// A bind failed after `driver_override` was written, and restoring the old
    /// override failed too: only the new driver may bind the device now.
    #[error(
        "{bind_error}; also could not restore driver_override of {address} to {}, so \
         the device stays pinned to that override: run `{}`",
        .previous.as_deref().map_or_else(|| "none".to_string(), |p| format!("{p:?}")),
        override_fix(.previous.as_deref(), .path)
    )]
    OverrideNotRestored {
        /// The device.
        address: PciAddress,
        /// Its `driver_override` file.
        path: PathBuf,
        /// The override before the bind (`None`: none).
        previous: Option<String>,
        /// What made the bind fail.
        bind_error: Box<Error>,
        /// Why restoring the override failed.
        #[source]
        source: Box<Error>,
    },

    /// An error that did not name the device, from an operation on one device of a
    /// batch ([`Sysfs::probe_vfs`](crate::Sysfs::probe_vfs)).
    #[error("probing the default driver of {address} failed; check `dmesg` for {address}")]
    ProbeFailed {
        /// The device.
        address: PciAddress,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },

    /// A worker thread of a batch operation panicked: the operation's result is
    /// unknown.
    #[error(
        "the thread {what} panicked ({payload}); its result is unknown: check the \
         device in sysfs before retrying, and report this bug"
    )]
    WorkerPanicked {
        /// What the thread was doing, e.g. `writing sriov_numvfs of 0000:01:00.0`.
        what: String,
        /// The panic message (`"non-string panic payload"` when it had none).
        payload: String,
    },

    /// Any other I/O failure, with the operation and the path.
    #[error("{op} {path}")]
    Io {
        /// What was being done (`"reading"`, `"writing"`, `"listing"`, ...).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn busy_reason(current: u16, requested: u16) -> String {
    if requested == 0 {
        format!(
            "the driver keeps its {current} VFs while one is assigned to a guest; stop the \
             VM (or detach the VF from it) and write 0 again"
        )
    } else if current == 0 {
        "the driver is busy (i40e and ice answer EBUSY while a VF reset is in \
         progress); retry in a second"
            .to_string()
    } else {
        format!(
            "{current} VFs exist; set 0 first (destroys them; allow_recreate does that) and \
             make sure no VM still uses a VF"
        )
    }
}

fn no_configure_fix(driver: &str) -> String {
    if driver == "vfio-pci" {
        "; vfio-pci creates VFs only when loaded with enable_sriov=1: `modprobe -r vfio-pci \
         && modprobe vfio-pci enable_sriov=1` (or `options vfio-pci enable_sriov=1` in \
         /etc/modprobe.d/), or bind the PF to its own driver"
            .to_string()
    } else {
        format!(
            "; bind the PF to a driver that supports SR-IOV (usually its vendor's driver; \
             pci-pf-stub creates VFs for a PF that needs no driver of its own), or check \
             the {driver} documentation for another way"
        )
    }
}

fn no_resources_text(requested: u16, diagnosis: &[crate::readiness::Finding]) -> String {
    if diagnosis.is_empty() {
        return format!(
            "the kernel log (`dmesg`) names the cause: \"not enough MMIO resources for \
             SR-IOV\" when the VF BARs got no addresses (add pci=realloc to the kernel \
             command line and reboot; if that is not enough, enable \"SR-IOV support\" and \
             \"Above 4G decoding\" in the firmware setup), \"can't enable {requested} VFs \
             (bus .. out of range ..)\" when bus numbers run out (enable SR-IOV in the \
             firmware setup, or boot with pci=assign-busses)"
        );
    }
    let v: Vec<String> = diagnosis
        .iter()
        .map(|f| format!("{}; fix: {}", f.message, f.fix))
        .collect();
    v.join("; also: ")
}

fn short_fix(driver: Option<&str>, requested: u16, enabled: u16) -> String {
    let dmesg = "`dmesg` says why";
    if requested == 0 {
        return format!(
            "the driver keeps VFs while one is assigned to a guest (bnxt_en: \"Unable to \
             configure SRIOV since some VFs are assigned to VMs\"); stop the VM (or detach \
             the VF) and write 0 again ({dmesg})"
        );
    }
    match driver {
        Some("bnxt_en") => format!(
            "bnxt_en creates VFs only while the PF's interface is up and no firmware reset \
             runs (\"Reject SRIOV config request since if is down!\"): `ip link set <pf \
             netdev> up`, write 0 if {enabled} is not 0, and write {requested} again ({dmesg})"
        ),
        _ => format!(
            "the driver's own limit or state allowed only {enabled} ({dmesg}); ask for at most \
             {enabled}, or fix what it names, write 0 and write {requested} again"
        ),
    }
}

fn casualty_summary(c: &[Casualty]) -> String {
    let in_use: Vec<String> = c
        .iter()
        .filter(|c| !c.reasons.is_empty())
        .map(ToString::to_string)
        .collect();
    if in_use.is_empty() {
        String::new()
    } else {
        format!(" (in use: {})", in_use.join("; "))
    }
}

fn impact_pfs(pfs: &[PfImpact]) -> String {
    let v: Vec<String> = pfs.iter().map(|p| p.pf.to_string()).collect();
    v.join(", ")
}

fn impact_lines(pfs: &[PfImpact]) -> String {
    let v: Vec<String> = pfs
        .iter()
        .flat_map(|p| p.in_use().map(move |c| format!("  PF {} {c}", p.pf)))
        .collect();
    v.join("\n")
}

/// `echo vfio-pci > path`, or `echo > path` (a lone newline clears an override).
fn override_fix(previous: Option<&str>, path: &std::path::Path) -> String {
    match previous {
        Some(p) => format!("echo {p} > {}", path.display()),
        None => format!("echo > {}", path.display()),
    }
}

fn count_error_note(e: Option<&Error>) -> String {
    e.map_or_else(String::new, |e| {
        format!(" (the count write had failed too: {e})")
    })
}

fn pending_summary(p: &[PendingVf]) -> String {
    let v: Vec<String> = p.iter().map(ToString::to_string).collect();
    v.join("; ")
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
