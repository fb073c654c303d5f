//! The [`Sysfs`] handle: a root directory every path derives from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::name::check_netdev_name;
use crate::pci::PciAddress;

/// The root of the live system. The only place this crate spells it.
pub const DEFAULT_ROOT: &str = "/";

/// Where interface addresses come from when checking whether a VF netdev is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressSource {
    /// `getifaddrs(3)`: IPv4 and IPv6 of the calling thread's network namespace.
    Getifaddrs,
    /// `<root>/proc/net/if_inet6` (IPv6 only). The default for fixture roots, where
    /// the live system's addresses would be meaningless.
    ProcIfInet6,
}

/// A handle on sysfs (and the few `/run`, `/dev`, `/proc` files SR-IOV work needs),
/// rooted anywhere: `/` on a live host, a temp dir in tests.
///
/// Every path this crate touches is `root` joined with a relative path such as
/// `sys/bus/pci/devices/0000:02:00.0/sriov_numvfs`.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
    addresses: AddressSource,
    poll_interval: Duration,
    /// How long an unbind waits for a registering driver's `unbind` file.
    unbind_file_wait: Duration,
    /// The fixture's stand-in for the kernel's answer to `sriov_numvfs` writes
    /// (set only by [`crate::fixture::Host::sysfs`]).
    #[cfg(any(test, feature = "fixture"))]
    answers: Option<crate::fixture::Answers>,
}

impl Default for Sysfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Sysfs {
    /// The live system: root [`DEFAULT_ROOT`], addresses from `getifaddrs`.
    pub fn new() -> Self {
        Self::with_root(DEFAULT_ROOT)
    }

    /// A handle rooted at `root`. Unless the root is `/`, interface addresses are
    /// read from `<root>/proc/net/if_inet6` (see [`AddressSource`]).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let addresses = if root == Path::new(DEFAULT_ROOT) {
            AddressSource::Getifaddrs
        } else {
            AddressSource::ProcIfInet6
        };
        Self {
            root,
            addresses,
            poll_interval: Duration::from_millis(20),
            unbind_file_wait: crate::bind::UNBIND_FILE_WAIT,
            #[cfg(any(test, feature = "fixture"))]
            answers: None,
        }
    }

    #[cfg(any(test, feature = "fixture"))]
    pub(crate) fn with_fixture_answers(mut self, answers: crate::fixture::Answers) -> Self {
        self.answers = Some(answers);
        self
    }

    /// What the fixture says the kernel answers to writing `n` to the
    /// `sriov_numvfs` of `pf`; `None`: a plain file write.
    #[cfg(any(test, feature = "fixture"))]
    pub(crate) fn fixture_answer(
        &self,
        pf: &PciAddress,
        n: u16,
    ) -> Option<crate::fixture::NumVfsAnswer> {
        let answers = self.answers.as_ref()?;
        let map = answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(pf).copied().filter(|a| a.applies_to(n))
    }

    /// Chooses where interface addresses come from.
    #[must_use]
    pub fn with_address_source(mut self, source: AddressSource) -> Self {
        self.addresses = source;
        self
    }

    /// Sets the poll interval of [`Sysfs::wait_for_vfs`] (default 20 ms, at least 1 ms).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The configured address source.
    pub fn address_source(&self) -> AddressSource {
        self.addresses
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    pub(crate) fn unbind_file_wait(&self) -> Duration {
        self.unbind_file_wait
    }

    /// Sets how long an unbind waits for the `unbind` file of a driver that is
    /// still registering (default 10 s; see [`Error::UnbindFileMissing`]).
    ///
    /// [`Error::UnbindFileMissing`]: crate::Error::UnbindFileMissing
    #[must_use]
    pub fn with_unbind_file_wait(mut self, wait: Duration) -> Self {
        self.unbind_file_wait = wait;
        self
    }

    /// `root` joined with a relative path.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// `sys/bus/pci/devices/<addr>`. A [`PciAddress`] is a safe component by
    /// construction.
    pub(crate) fn device_dir(&self, addr: &PciAddress) -> PathBuf {
        self.path("sys/bus/pci/devices").join(addr.to_string())
    }

    /// A file in a device directory. `file` is a crate constant, never user input.
    pub(crate) fn device_file(&self, addr: &PciAddress, file: &str) -> PathBuf {
        self.device_dir(addr).join(file)
    }

    /// `sys/bus/pci/drivers/<driver>`; `driver` must be validated by the caller.
    pub(crate) fn driver_dir(&self, driver: &str) -> PathBuf {
        self.path("sys/bus/pci/drivers").join(driver)
    }

    /// `sys/class/net/<name>`; `name` must be validated by the caller.
    pub(crate) fn class_net(&self, name: &str) -> PathBuf {
        self.path("sys/class/net").join(name)
    }

    /// `sys/class/net/<name>` of an existing interface: the name is checked
    /// before the path is built, and a missing entry is [`Error::NetdevNotFound`].
    pub(crate) fn existing_class_net(&self, name: &str) -> Result<PathBuf> {
        check_netdev_name(name)?;
        let dir = self.class_net(name);
        if std::fs::symlink_metadata(&dir).is_err() {
            return Err(Error::NetdevNotFound {
                name: name.to_string(),
                path: dir,
            });
        }
        Ok(dir)
    }

    /// `dev/vfio/<group>`.
    pub(crate) fn vfio_dev(&self, group: u32) -> PathBuf {
        self.path("dev/vfio").join(group.to_string())
    }
}
