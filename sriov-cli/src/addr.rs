//! Small value types the config needs before any library is involved: MAC
//! addresses, `address/prefix` pairs and interface names. Each is checked once,
//! when it is parsed.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An Ethernet MAC address: netlink-vf's type, checked once when parsed
/// (`is_multicast`, `is_zero`, lower-case `Display`, serde as a string).
pub use netlink_vf::MacAddr as Mac;

/// An interface address with its prefix length, as `ip address add` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length (0..=32 for IPv4, 0..=128 for IPv6).
    pub prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not an address with prefix (want e.g. 10.0.50.100/24)")
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("prefix length `{p}` out of range 0-{max}"))?;
        if addr.is_multicast() || addr.is_unspecified() {
            return Err(format!("`{addr}` cannot be an interface address"));
        }
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl IpNet {
    /// An address the kernel gives every interface by itself: IPv6 link-local
    /// (`fe80::/10`) or IPv4 link-local (`169.254.0.0/16`).
    pub fn is_link_local(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => a.is_link_local(),
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        }
    }

    /// Whether `ip` lies in this address's subnet.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(a) & m == u32::from(*b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(a) & m == u128::from(*b) & m
            }
            _ => false,
        }
    }
}

/// Checks a network interface name the way the kernel's `dev_valid_name()` does
/// (1..=15 bytes, not `.` or `..`, no `/`, `:`, whitespace or NUL), through
/// netlink-vf's [`netlink_vf::IfName`], so the CLI and the library agree.
///
/// # Errors
/// A message naming the rule that failed.
pub fn check_ifname(name: &str) -> Result<(), String> {
    netlink_vf::IfName::new(name)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip_and_errors() {
        let m: Mac = "02:AB:00:01:00:50".parse().unwrap();
        assert_eq!(m.to_string(), "02:ab:00:01:00:50");
        assert!(!m.is_multicast());
        assert!("03:00:00:00:00:01".parse::<Mac>().unwrap().is_multicast());
        assert!("02:00:00:00:00".parse::<Mac>().is_err());
        assert!("02:00:00:00:00:zz".parse::<Mac>().is_err());
        assert!("002:00:00:00:00:01".parse::<Mac>().is_err());
    }

    #[test]
    fn ipnet_parse() {
        let n: IpNet = "10.0.50.100/24".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.50.100/24");
        assert!(n.contains(&"10.0.50.1".parse().unwrap()));
        assert!(!n.contains(&"10.0.51.1".parse().unwrap()));
        assert!("10.0.50.100".parse::<IpNet>().is_err());
        assert!("10.0.50.100/33".parse::<IpNet>().is_err());
        assert!("fd00::1/64".parse::<IpNet>().is_ok());
        assert!("224.0.0.1/4".parse::<IpNet>().is_err());
    }

    #[test]
    fn ifnames() {
        assert!(check_ifname("eth1lxc9999v050").is_ok());
        assert!(check_ifname("eth1lxc9999v0500").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a b").is_err());
        assert!(check_ifname("..").is_err());
        assert!(check_ifname("").is_err());
    }
}

macro_rules! serialize_display {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_display!(IpNet);
