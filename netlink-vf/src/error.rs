//! The crate's one error type.

use std::fmt;

use serde::{Serialize, Serializer};

/// What the crate was doing when something failed; part of every kernel error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Op {
    /// Opening or configuring the netlink socket.
    OpenSocket,
    /// Sending or receiving on the socket.
    Transfer,
    /// RTM_GETLINK for one link.
    GetLink,
    /// RTM_GETLINK dump.
    ListLinks,
    /// RTM_GETLINK with RTEXT_FILTER_VF.
    GetVfs,
    /// RTM_SETLINK with IFLA_VFINFO_LIST.
    SetVfs,
    /// Rename (IFLA_IFNAME).
    SetName,
    /// IFF_UP.
    SetUp,
    /// IFF_PROMISC.
    SetPromisc,
    /// IFLA_MTU.
    SetMtu,
    /// IFLA_ADDRESS.
    SetMac,
    /// Several link settings in one RTM_SETLINK (`LinkChange`).
    SetLink,
    /// RTM_GETADDR dump.
    ListAddresses,
    /// RTM_NEWADDR.
    AddAddress,
    /// RTM_DELADDR.
    DelAddress,
    /// RTM_GETROUTE dump.
    ListRoutes,
    /// RTM_NEWROUTE.
    AddRoute,
    /// RTM_NEWROUTE with NLM_F_REPLACE.
    ReplaceRoute,
    /// RTM_DELROUTE.
    DelRoute,
    /// IFLA_NET_NS_PID / IFLA_NET_NS_FD.
    MoveToNetns,
    /// RTM_NEWLINK kind veth.
    CreateVeth,
    /// RTM_DELLINK.
    DeleteLink,
    /// RTM_NEWLINK kind bridge.
    CreateBridge,
    /// IFLA_MASTER (enslave to a bridge, or release).
    SetMaster,
    /// Joining RTNLGRP_LINK or waiting for an event.
    LinkEvents,
    /// SIOCETHTOOL ETHTOOL_GDRVINFO (`ethtool -i`).
    DriverInfo,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::OpenSocket => "open netlink socket",
            Op::Transfer => "netlink transfer",
            Op::GetLink => "get link",
            Op::ListLinks => "list links",
            Op::GetVfs => "read VF table",
            Op::SetVfs => "set VF attributes",
            Op::SetName => "rename link",
            Op::SetUp => "set link up/down",
            Op::SetPromisc => "set promiscuous mode",
            Op::SetMtu => "set MTU",
            Op::SetMac => "set MAC address",
            Op::SetLink => "set link name/MTU/flags",
            Op::ListAddresses => "list addresses",
            Op::AddAddress => "add address",
            Op::DelAddress => "delete address",
            Op::ListRoutes => "list routes",
            Op::AddRoute => "add route",
            Op::ReplaceRoute => "replace route",
            Op::DelRoute => "delete route",
            Op::MoveToNetns => "move link to network namespace",
            Op::CreateVeth => "create veth pair",
            Op::DeleteLink => "delete link",
            Op::CreateBridge => "create bridge",
            Op::SetMaster => "set link master",
            Op::LinkEvents => "link events",
            Op::DriverInfo => "read driver info (ethtool -i)",
        })
    }
}

/// The link an operation was about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkRef {
    /// By interface index.
    Index(u32),
    /// By name.
    Name(String),
    /// A VF of a PF: `pf` is the PF's interface index.
    Vf {
        /// PF interface index.
        pf: u32,
        /// VF number.
        vf: u32,
    },
}

impl fmt::Display for LinkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkRef::Index(i) => write!(f, "ifindex {i}"),
            LinkRef::Name(n) => f.write_str(n),
            LinkRef::Vf { pf, vf } => write!(f, "ifindex {pf} vf {vf}"),
        }
    }
}

impl Serialize for LinkRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The context of a kernel rejection: which errno, for what, on which link, and
/// the kernel's extended ACK text when it sent one (NETLINK_EXT_ACK).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KernelError {
    /// Positive errno value (e.g. `libc::EOPNOTSUPP`).
    pub errno: i32,
    /// What was attempted.
    pub op: Op,
    /// Which link, when the operation was about one.
    pub link: Option<LinkRef>,
    /// NLMSGERR_ATTR_MSG, the kernel's human-readable reason.
    pub ext_ack: Option<String>,
    /// NLMSGERR_ATTR_OFFS, byte offset of the offending attribute in the request.
    pub ext_ack_offset: Option<u32>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(l) = &self.link {
            write!(f, " on {l}")?;
        }
        write!(f, ": {} ({})", strerror(self.errno), errno_name(self.errno))?;
        if let Some(m) = &self.ext_ack {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// Short symbolic errno name for messages (`EOPNOTSUPP`); `errno N` for others.
pub fn errno_name(errno: i32) -> String {
    let s = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENOBUFS => "ENOBUFS",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EMSGSIZE => "EMSGSIZE",
        _ => return format!("errno {errno}"),
    };
    s.to_owned()
}

fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // io::Error appends " (os error N)"; the symbolic name is printed instead.
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Every error of this crate.
///
/// Kernel rejections are sorted by errno into typed variants so callers can
/// match `Error::NotSupported(_)` instead of comparing numbers; all of them
/// carry a [`KernelError`] with the errno, operation, link and ext-ack text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// EOPNOTSUPP: the driver (or device type, e.g. veth) does not implement it.
    #[error("{0}")]
    NotSupported(KernelError),
    /// ENODEV: no such link.
    #[error("{0}")]
    NoDevice(KernelError),
    /// EEXIST: the address, route or name already exists.
    #[error("{0}")]
    Exists(KernelError),
    /// EPERM or EACCES: needs CAP_NET_ADMIN.
    #[error("{0}")]
    PermissionDenied(KernelError),
    /// EINVAL: the kernel or driver refused the value.
    #[error("{0}")]
    InvalidArgument(KernelError),
    /// EBUSY: e.g. renaming a link that is up on older kernels.
    #[error("{0}")]
    Busy(KernelError),
    /// EPROTONOSUPPORT: e.g. `vlan ... proto 802.1ad` on igb.
    #[error("{0}")]
    ProtocolNotSupported(KernelError),
    /// ENOENT, ESRCH or EADDRNOTAVAIL: the thing to delete or look up is not there.
    #[error("{0}")]
    NotFound(KernelError),
    /// Any other errno from the kernel.
    #[error("{0}")]
    Kernel(KernelError),
    /// A system call on the netlink socket failed.
    #[error("{op}: {call} failed: {} ({})", strerror(*errno), errno_name(*errno))]
    Socket {
        /// What was attempted.
        op: Op,
        /// The system call (`socket`, `sendto`, `recvfrom`, `poll`, ...).
        call: &'static str,
        /// Positive errno.
        errno: i32,
    },
    /// The kernel's reply could not be decoded.
    #[error("{op}: malformed netlink reply: {detail}")]
    Decode {
        /// What was attempted.
        op: Op,
        /// What was wrong.
        detail: String,
    },
    /// A value did not pass its constructor (interface name, MAC, VLAN id, ...).
    #[error("invalid {what} {input:?}: {reason}")]
    InvalidValue {
        /// Which kind of value.
        what: &'static str,
        /// The rejected input.
        input: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`)
    /// could not be listed, opened or entered.
    #[error("{}: {call} failed: {} ({})", path.display(), strerror(*errno), errno_name(*errno))]
    Netns {
        /// The file (or `proc` directory) it was read from.
        path: std::path::PathBuf,
        /// The call (`stat`, `readdir`, `open`, `setns`).
        call: &'static str,
        /// Positive errno.
        errno: i32,
    },
    /// Waiting for something (an event) timed out.
    #[error("{op}: timed out")]
    Timeout {
        /// What was awaited.
        op: Op,
    },
}

impl Error {
    /// Builds the typed variant for a negative or positive errno from the kernel.
    pub fn from_kernel(errno: i32, op: Op, link: Option<LinkRef>, ext_ack: Option<String>) -> Self {
        Self::from_kernel_error(KernelError {
            errno: errno.abs(),
            op,
            link,
            ext_ack,
            ext_ack_offset: None,
        })
    }

    pub(crate) fn from_kernel_error(k: KernelError) -> Self {
        match k.errno {
            libc::EOPNOTSUPP => Error::NotSupported(k),
            libc::ENODEV => Error::NoDevice(k),
            libc::EEXIST => Error::Exists(k),
            libc::EPERM | libc::EACCES => Error::PermissionDenied(k),
            libc::EINVAL => Error::InvalidArgument(k),
            libc::EBUSY => Error::Busy(k),
            libc::EPROTONOSUPPORT => Error::ProtocolNotSupported(k),
            libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL => Error::NotFound(k),
            _ => Error::Kernel(k),
        }
    }

    pub(crate) fn socket(op: Op, call: &'static str, e: &std::io::Error) -> Self {
        Error::Socket {
            op,
            call,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    pub(crate) fn decode(op: Op, detail: impl Into<String>) -> Self {
        Error::Decode {
            op,
            detail: detail.into(),
        }
    }

    /// The kernel context for kernel rejections, `None` for other errors.
    pub fn kernel(&self) -> Option<&KernelError> {
        match self {
            Error::NotSupported(k)
            | Error::NoDevice(k)
            | Error::Exists(k)
            | Error::PermissionDenied(k)
            | Error::InvalidArgument(k)
            | Error::Busy(k)
            | Error::ProtocolNotSupported(k)
            | Error::NotFound(k)
            | Error::Kernel(k) => Some(k),
            _ => None,
        }
    }

    fn kernel_mut(&mut self) -> Option<&mut KernelError> {
        match self {
            Error::NotSupported(k)
            | Error::NoDevice(k)
            | Error::Exists(k)
            | Error::PermissionDenied(k)
            | Error::InvalidArgument(k)
            | Error::Busy(k)
            | Error::ProtocolNotSupported(k)
            | Error::NotFound(k)
            | Error::Kernel(k) => Some(k),
            _ => None,
        }
    }

    /// The errno (kernel rejection or failed system call).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Socket { errno, .. } | Error::Netns { errno, .. } => Some(*errno),
            _ => self.kernel().map(|k| k.errno),
        }
    }

    /// The kernel's extended ACK message, if it sent one.
    pub fn ext_ack(&self) -> Option<&str> {
        self.kernel().and_then(|k| k.ext_ack.as_deref())
    }

    /// Replaces the link the error is about (e.g. to name a VF).
    pub(crate) fn with_link(mut self, link: LinkRef) -> Self {
        if let Some(k) = self.kernel_mut() {
            k.link = Some(link);
        }
        self
    }
}

impl Serialize for Error {
    /// `{"kind": "not_supported", "errno": 95, "errno_name": "EOPNOTSUPP",
    /// "ext_ack": null, "message": "..."}`
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let kind = match self {
            Error::NotSupported(_) => "not_supported",
            Error::NoDevice(_) => "no_device",
            Error::Exists(_) => "exists",
            Error::PermissionDenied(_) => "permission_denied",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::Busy(_) => "busy",
            Error::ProtocolNotSupported(_) => "protocol_not_supported",
            Error::NotFound(_) => "not_found",
            Error::Kernel(_) => "kernel",
            Error::Socket { .. } => "socket",
            Error::Netns { .. } => "netns",
            Error::Decode { .. } => "decode",
            Error::InvalidValue { .. } => "invalid_value",
            Error::Timeout { .. } => "timeout",
        };
        let mut st = s.serialize_struct("Error", 5)?;
        st.serialize_field("kind", kind)?;
        st.serialize_field("errno", &self.errno())?;
        st.serialize_field("errno_name", &self.errno().map(errno_name))?;
        st.serialize_field("ext_ack", &self.ext_ack())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn typed_variants_and_message() {
        let e = Error::from_kernel(
            -libc::EOPNOTSUPP,
            Op::SetVfs,
            Some(LinkRef::Vf { pf: 3, vf: 0 }),
            None,
        );
        assert!(matches!(e, Error::NotSupported(_)));
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));
        assert_eq!(
            e.to_string(),
            "set VF attributes on ifindex 3 vf 0: Operation not supported (EOPNOTSUPP)"
        );
        let e = Error::from_kernel(libc::EEXIST, Op::AddRoute, None, Some("File exists".into()));
        assert!(matches!(e, Error::Exists(_)));
        assert_eq!(e.ext_ack(), Some("File exists"));
        assert!(matches!(
            Error::from_kernel(1, Op::SetMtu, None, None),
            Error::PermissionDenied(_)
        ));
        assert!(matches!(
            Error::from_kernel(19, Op::SetMtu, None, None),
            Error::NoDevice(_)
        ));
        assert!(matches!(
            Error::from_kernel(93, Op::SetVfs, None, None),
            Error::ProtocolNotSupported(_)
        ));
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["kind"], "exists");
        assert_eq!(j["errno_name"], "EEXIST");
    }
}
