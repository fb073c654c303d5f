//! `bootcmd`: the Linux kernel command line, parsed exactly like the kernel parses
//! it, and edited where the boot loader keeps it.
//!
//! * [`Cmdline`] tokenizes like the kernel's `next_arg()` (`lib/cmdline.c`): quotes,
//!   bare `key` vs `key=`, `-` == `_` in names, `--` ending kernel parameters. It
//!   keeps every byte, so untouched text prints back byte for byte, and edits are
//!   token edits ([`Cmdline::ensure`], [`Cmdline::remove`], comma option lists),
//!   never substring edits.
//! * [`detect()`] reads a root directory and says which file holds the command line
//!   (`/etc/kernel/cmdline` or `/etc/default/grub`), which command refreshes the
//!   boot entries (`proxmox-boot-tool refresh`, `update-grub`, ...) and why.
//! * [`BootSetup::plan`] edits that file in place ([`kernel_cmdline`]: one line,
//!   `root=` kept; [`grub`]: the effective `GRUB_CMDLINE_LINUX_DEFAULT` across
//!   drop-ins, inside its own quotes), gives a unified diff for dry runs, compares
//!   with `/proc/cmdline` ("reboot pending"), and [`Plan::apply`] writes atomically
//!   with a backup, or not at all when nothing changes.
//! * [`replace_file`] is the same careful atomic writer for any file a tool
//!   produces (a Prometheus textfile): random temp name opened
//!   `O_EXCL|O_NOFOLLOW`, fsync, rename, fsync of the directory, and only onto a
//!   regular file or a new name (a symlink, FIFO or device is refused).
//! * [`iommu`] knows the IOMMU parameters: valid values, what to add per CPU
//!   vendor ([`iommu_params`], [`iommu_edits`]; never `amd_iommu=on`) and a
//!   [`lint`] for lines that defeat passthrough.
//!
//! Everything that parses or edits is a pure function over `&str`/bytes
//! ([`Cmdline::from_bytes`], [`Cmdline::apply`], [`grub::edit_text`],
//! [`GrubDefaults::from_texts`], [`kernel_cmdline::edit`]); only [`detect()`],
//! [`GrubDefaults::load`], [`BootSetup::plan`] and [`Plan::apply`] touch files,
//! always below the root they are given. Nothing here prints, exits or runs
//! commands: the refresh command is returned, not run.
//!
//! ```
//! use bootcmd::{iommu, Cmdline, CpuVendor};
//!
//! // The seed guide's AMD advice, fixed: `amd_iommu=on` is not an option.
//! let mut c = Cmdline::parse("root=ZFS=rpool/ROOT/pve-1 boot=zfs amd_iommu=on\n");
//! assert!(c.apply(&iommu::iommu_edits(CpuVendor::Amd))?);
//! assert_eq!(c.to_string(), "root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n");
//! assert!(iommu::lint(&c, Some(CpuVendor::Amd)).is_empty());
//!
//! // The same edits on a GRUB defaults file, inside the existing quotes.
//! let grub = "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n\
//!             GRUB_CMDLINE_LINUX_DEFAULT='quiet'\n";
//! let edited = bootcmd::grub::edit_text(grub, &iommu::iommu_edits(CpuVendor::Intel))?;
//! assert!(edited.ends_with("GRUB_CMDLINE_LINUX_DEFAULT='quiet intel_iommu=on iommu=pt'\n"));
//! # Ok::<(), bootcmd::Error>(())
//! ```
//!
//! On a live system (needs the files to be writable, so usually root):
//!
//! ```no_run
//! use std::path::Path;
//! use bootcmd::{detect, iommu_edits, CpuVendor};
//!
//! let root = Path::new("/");
//! let setup = detect(root)?;
//! let plan = setup.plan(root, &iommu_edits(CpuVendor::Intel))?;
//! print!("{}", plan.diff()); // dry run
//! for outcome in plan.apply()? {
//!     println!("{outcome}");
//! }
//! println!("now run: {}", setup.refresh_command());
//! # Ok::<(), bootcmd::Error>(())
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
pub use write::{replace_file, FileChange, WriteOutcome};
