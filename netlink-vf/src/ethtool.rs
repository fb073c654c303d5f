//! Driver name, driver version, firmware version and bus info of a netdev: the
//! `ethtool -i DEV` answer, through the `SIOCETHTOOL` ioctl with
//! `ETHTOOL_GDRVINFO` (`net/ethtool/ioctl.c`, `ethtool_get_drvinfo()`).
//!
//! The ioctl goes through a socket, and the kernel resolves the interface name in
//! that socket's network namespace (`sock_net()`), which is the namespace of the
//! thread that created the socket. [`driver_info`] opens its socket on the
//! calling thread; [`Handle::driver_info`] uses the handle's socket, so it
//! answers for the handle's namespace like every other handle call.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use serde::Serialize;

use crate::error::{Error, LinkRef, Op};
use crate::handle::Handle;
use crate::types::IfName;

/// `ETHTOOL_GDRVINFO` from `<linux/ethtool.h>`.
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
/// `IFNAMSIZ` from `<linux/if.h>`.
const IFNAMSIZ: usize = 16;

/// `struct ethtool_drvinfo` from `<linux/ethtool.h>` (196 bytes, no padding).
#[repr(C)]
#[derive(Clone, Copy)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `struct ifreq` with the `ifr_data` member of its union. The kernel copies
/// `sizeof(struct ifreq)` bytes (40 on 64-bit, 32 on 32-bit): `_pad` makes this
/// at least that large on both.
#[repr(C)]
struct IfreqData {
    name: [u8; IFNAMSIZ],
    data: *mut EthtoolDrvinfo,
    _pad: [u8; 16],
}

// The kernel ABI: the compiler checks the size here instead of a test.
const _: () = assert!(std::mem::size_of::<EthtoolDrvinfo>() == 196);
const _: () = assert!(std::mem::size_of::<IfreqData>() >= 32);

/// What a netdev's driver says about itself (`ethtool -i DEV`). Text fields are
/// `None` when the driver left them empty (veth has no firmware or bus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DriverInfo {
    /// The interface asked about.
    pub name: String,
    /// Driver name (`i40e`, `igb`, `veth`, ...).
    pub driver: String,
    /// Driver version. Since Linux 5.x in-tree drivers report the kernel release.
    pub version: Option<String>,
    /// Firmware version (`9.20 0x8000d95e 1.3146.0` on an X710); `None` when the
    /// driver reports none. Some drivers report `N/A`, kept as is.
    pub firmware_version: Option<String>,
    /// Bus address (`0000:02:00.0` for a PCI device).
    pub bus_info: Option<String>,
    /// Expansion ROM version.
    pub erom_version: Option<String>,
    /// Number of private flags (`ethtool --show-priv-flags`).
    pub n_priv_flags: u32,
    /// Number of statistics (`ethtool -S`).
    pub n_stats: u32,
}

/// Text up to the first NUL; `None` when empty.
fn c_text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(b.get(..end).unwrap_or_default());
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl DriverInfo {
    fn from_raw(name: &IfName, raw: &EthtoolDrvinfo) -> Self {
        Self {
            name: name.to_string(),
            driver: c_text(&raw.driver).unwrap_or_default(),
            version: c_text(&raw.version),
            firmware_version: c_text(&raw.fw_version),
            bus_info: c_text(&raw.bus_info),
            erom_version: c_text(&raw.erom_version),
            n_priv_flags: raw.n_priv_flags,
            n_stats: raw.n_stats,
        }
    }
}

/// `ioctl(fd, SIOCETHTOOL, {name, ETHTOOL_GDRVINFO})` on any socket.
fn gdrvinfo(fd: BorrowedFd<'_>, name: &IfName) -> Result<DriverInfo, Error> {
    let mut raw = EthtoolDrvinfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    let mut ifr = IfreqData {
        name: [0; IFNAMSIZ],
        data: &mut raw,
        _pad: [0; 16],
    };
    // IfName is 1..=15 bytes without NUL, so this leaves the terminating NUL.
    let bytes = name.as_str().as_bytes();
    let n = bytes.len().min(IFNAMSIZ - 1);
    if let (Some(dst), Some(src)) = (ifr.name.get_mut(..n), bytes.get(..n)) {
        dst.copy_from_slice(src);
    }
    // SAFETY: `fd` is an open socket borrowed for the call. SIOCETHTOOL reads
    // `sizeof(struct ifreq)` bytes from `ifr`, which is at least that large and
    // NUL-terminates the name; it then reads the `u32` command through
    // `ifr.data` and, for ETHTOOL_GDRVINFO, writes `sizeof(struct
    // ethtool_drvinfo)` bytes back through it: `raw` is a live `#[repr(C)]`
    // value of exactly that layout, exclusively borrowed here and not
    // otherwise accessed until the call returns.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SIOCETHTOOL as _,
            std::ptr::addr_of_mut!(ifr),
        )
    };
    if rc < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        return Err(Error::from_kernel(
            errno,
            Op::DriverInfo,
            Some(LinkRef::Name(name.to_string())),
            None,
        ));
    }
    Ok(DriverInfo::from_raw(name, &raw))
}

/// An `AF_NETLINK` datagram socket in the calling thread's network namespace:
/// enough for device ioctls, and available even where IPv4 is not.
fn ioctl_socket() -> Result<OwnedFd, Error> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
    socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(|e| Error::Socket {
        op: Op::DriverInfo,
        call: "socket",
        errno: e as i32,
    })
}

/// The `ethtool -i NAME` answer for interface `name` in the calling thread's
/// network namespace.
///
/// ```no_run
/// let info = netlink_vf::driver_info(&netlink_vf::IfName::new("enp2s0f0")?)?;
/// println!("{} {:?} firmware {:?}", info.driver, info.version, info.firmware_version);
/// # Ok::<(), netlink_vf::Error>(())
/// ```
///
/// # Errors
/// [`Error::NoDevice`] when there is no such interface in this namespace,
/// [`Error::NotSupported`] when its driver answers no ethtool requests, other
/// kernel errors as typed variants, [`Error::Socket`] when no socket can be
/// opened.
pub fn driver_info(name: &IfName) -> Result<DriverInfo, Error> {
    let fd = ioctl_socket()?;
    gdrvinfo(fd.as_fd(), name)
}

impl Handle {
    /// The `ethtool -i NAME` answer for interface `name`, in the namespace of
    /// this handle (its netlink socket carries the ioctl).
    ///
    /// # Errors
    /// As [`driver_info`].
    pub fn driver_info(&self, name: &IfName) -> Result<DriverInfo, Error> {
        gdrvinfo(self.socket_fd(), name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_text_stops_at_nul_and_maps_empty_to_none() {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(b"i40e");
        assert_eq!(c_text(&b).as_deref(), Some("i40e"));
        assert_eq!(c_text(&[0u8; 32]), None);
        assert_eq!(c_text(b"no nul at all").as_deref(), Some("no nul at all"));
    }
}
