//! `bootcmd`: the Linux kernel command line, parsed exactly like the kernel parses
//! it, and edited where the boot loader keeps it.
//!
//! ```
//! use bootcmd::{iommu, Cmdline, CpuVendor};
//!
//! let mut c = Cmdline::parse("root=ZFS=rpool/ROOT/pve-1 boot=zfs amd_iommu=on\n");
//! c.apply(&iommu::iommu_edits(CpuVendor::Amd)).unwrap();
//! assert_eq!(c.to_string(), "root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n");
//! assert!(iommu::lint(&c, Some(CpuVendor::Amd)).is_empty());
//! ```

pub mod cmdline;
pub mod detect;
pub mod error;
pub mod grub;
pub mod iommu;
pub mod kernel_cmdline;
pub mod write;

pub use cmdline::{compare, key_kind, Cmdline, Edit, KeyKind, Param, Pending, COMMAND_LINE_SIZE};
pub use detect::{detect, BootSetup, CmdlineSource, Firmware, Loader, Plan};
pub use error::{Error, Result};
pub use grub::GrubDefaults;
pub use iommu::{iommu_edits, iommu_params, lint, CpuVendor, Finding, Recommended, Severity};
pub use write::{FileChange, WriteOutcome};
