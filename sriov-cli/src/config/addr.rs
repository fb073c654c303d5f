//! Interface addresses as the config writes them (`10.0.50.100/24`), parsed
//! into netlink-vf's [`IpPrefix`] with the config's stricter rules, and the
//! subnet questions the validation asks.

use std::net::IpAddr;

use netlink_vf::IpPrefix;

/// Parses `address/prefix` (the prefix is required, unlike `ip address`'s
/// default of a host route); refuses multicast and unspecified addresses.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_prefix(s: &str) -> Result<IpPrefix, String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not an address with prefix (want e.g. 10.0.50.100/24)"))?;
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = p
        .parse()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("prefix length `{p}` out of range 0-{max}"))?;
    if addr.is_multicast() || addr.is_unspecified() {
        return Err(format!("`{addr}` cannot be an interface address"));
    }
    IpPrefix::new(addr, len).map_err(|e| e.to_string())
}

/// An address the kernel gives every interface by itself: IPv6 link-local
/// (`fe80::/10`) or IPv4 link-local (`169.254.0.0/16`).
pub fn is_link_local(p: &IpPrefix) -> bool {
    match p.addr() {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Whether `ip` lies in the subnet of `p`.
pub fn prefix_contains(p: &IpPrefix, ip: &IpAddr) -> bool {
    let len = u32::from(p.prefix_len());
    match (p.addr(), ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & m == u32::from(*b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & m == u128::from(*b) & m
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let n = parse_prefix("10.0.50.100/24").unwrap();
        assert_eq!(n.to_string(), "10.0.50.100/24");
        assert!(prefix_contains(&n, &"10.0.50.1".parse().unwrap()));
        assert!(!prefix_contains(&n, &"10.0.51.1".parse().unwrap()));
        let all = parse_prefix("10.0.0.1/0").unwrap();
        assert!(prefix_contains(&all, &"192.0.2.1".parse().unwrap()));
        assert!(parse_prefix("10.0.50.100").is_err());
        assert!(parse_prefix("10.0.50.100/33").is_err());
        assert!(parse_prefix("fd00::1/64").is_ok());
        assert!(parse_prefix("224.0.0.1/4").is_err());
        assert!(is_link_local(&parse_prefix("fe80::1/64").unwrap()));
        assert!(is_link_local(&parse_prefix("169.254.1.1/16").unwrap()));
        assert!(!is_link_local(&parse_prefix("10.0.0.1/8").unwrap()));
    }
}
