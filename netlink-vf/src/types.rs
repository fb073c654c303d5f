//! Checked value types: constructed once, valid forever ("parse, don't validate").
//!
//! Every type here implements `FromStr` and `Display` so that
//! `x.to_string().parse() == Ok(x)`, and (de)serializes as that string, except
//! for the small integers ([`VlanId`], [`Qos`]) which serialize as numbers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Kernel limit for a netdev name, without the trailing NUL (`IFNAMSIZ - 1`).
pub const IFNAME_MAX_LEN: usize = 15;

fn invalid(what: &'static str, input: &str, reason: &'static str) -> Error {
    Error::InvalidValue {
        what,
        input: input.to_owned(),
        reason,
    }
}

macro_rules! serde_via_string {
    ($t:ty, $what:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A network interface name that the kernel will accept.
///
/// The rule of the kernel's `dev_valid_name()` (net/core/dev.c), byte by
/// byte: 1..=15 bytes (`IFNAMSIZ - 1`), not `.` or `..`, and no byte that is
/// `/`, `:`, NUL or whitespace by the kernel's own `isspace()`. That one
/// uses the kernel's ctype table (lib/ctype.c), which marks 0x09..=0x0d,
/// 0x20 **and 0xa0** (Latin-1 no-break space) as space: a UTF-8 name whose
/// bytes hold 0xa0 (`"ethà"` is `65 74 68 c3 a0`) is refused by the kernel
/// with EINVAL, so it is refused here too. This is the one place of that
/// rule in the workspace; a value of this type can also be joined to a path
/// such as `/sys/class/net`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

/// Whether the kernel's `isspace()` is true for byte `b`.
///
/// include/linux/ctype.h: `isspace(c)` is `_ctype[(unsigned char)c] & _S`;
/// lib/ctype.c's `_ctype[]` sets `_S` on 9..=13 (`_C|_S`), 32 (`_S|_SP`) and
/// 160 (`_S|_SP`, Latin-1 no-break space), on nothing else: 0x85 (NEL) and
/// 0x1c..=0x1f, whitespace to some C libraries, are not space to the kernel.
pub(crate) fn kernel_isspace(b: u8) -> bool {
    matches!(b, 0x09..=0x0d | 0x20 | 0xa0)
}

/// Why byte `b` cannot be in an interface name, or `None` when it can
/// (`dev_valid_name()` in net/core/dev.c, after the length and `.`/`..`).
fn bad_name_byte(b: u8) -> Option<&'static str> {
    Some(match b {
        b'/' => "contains `/`",
        b':' => "contains `:`",
        0 => "contains NUL",
        0x09 => "contains a byte the kernel counts as whitespace (0x09, tab)",
        0x0a => "contains a byte the kernel counts as whitespace (0x0a, line feed)",
        0x0b => "contains a byte the kernel counts as whitespace (0x0b, vertical tab)",
        0x0c => "contains a byte the kernel counts as whitespace (0x0c, form feed)",
        0x0d => "contains a byte the kernel counts as whitespace (0x0d, carriage return)",
        0x20 => "contains a byte the kernel counts as whitespace (0x20, space)",
        0xa0 => "contains a byte the kernel counts as whitespace (0xa0: Latin-1 no-break space to the kernel's isspace(), and part of UTF-8 characters such as `à`, c3 a0)",
        // Unreachable while the arms above list every byte of kernel_isspace()
        // (a unit test checks that); kept so the two can never disagree.
        b if kernel_isspace(b) => "contains a byte the kernel counts as whitespace",
        _ => return None,
    })
}

impl IfName {
    /// Checks `name` and wraps it.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when `name` breaks one of the rules above.
    pub fn new(name: &str) -> Result<Self, Error> {
        name.parse()
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "interface name";
        if s.is_empty() {
            return Err(invalid(WHAT, s, "is empty"));
        }
        if s.len() > IFNAME_MAX_LEN {
            return Err(invalid(WHAT, s, "is longer than 15 bytes"));
        }
        if s == "." || s == ".." {
            return Err(invalid(WHAT, s, "is `.` or `..`"));
        }
        if let Some(reason) = s.bytes().find_map(bad_name_byte) {
            return Err(invalid(WHAT, s, reason));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_string!(IfName, "interface name");

/// A 48-bit Ethernet MAC address; `Display` is lower-case `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`, what a VF without an administrative MAC reports.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// True for `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// True when the I/G bit is set (multicast/broadcast); drivers reject such
    /// a VF MAC with EINVAL.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Builds a MAC from the first six bytes of a kernel attribute.
    pub(crate) fn from_slice(b: &[u8]) -> Option<Self> {
        let a: [u8; 6] = b.get(..6)?.try_into().ok()?;
        Some(Self(a))
    }
}

impl FromStr for MacAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "MAC address";
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 {
                return Err(invalid(WHAT, s, "has more than six octets"));
            }
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    WHAT,
                    s,
                    "octets must be 1-2 hex digits separated by `:`",
                ));
            }
            out[n] = u8::from_str_radix(part, 16)
                .map_err(|_| invalid(WHAT, s, "octets must be 1-2 hex digits separated by `:`"))?;
            n += 1;
        }
        if n != 6 {
            return Err(invalid(WHAT, s, "needs six octets"));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

serde_via_string!(MacAddr, "MAC address");

/// An 802.1Q VLAN id, 1..=4094 (0 means "no VLAN" and is modelled as `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VlanId(u16);

impl VlanId {
    /// Checks the range.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] outside 1..=4094.
    pub fn new(id: u16) -> Result<Self, Error> {
        if (1..=4094).contains(&id) {
            Ok(Self(id))
        } else {
            Err(invalid("VLAN id", &id.to_string(), "must be 1..=4094"))
        }
    }

    /// The numeric id.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for VlanId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let n: u16 = s
            .parse()
            .map_err(|_| invalid("VLAN id", s, "must be a number 1..=4094"))?;
        Self::new(n)
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for VlanId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u16::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An 802.1p priority (PCP), 0..=7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct Qos(u8);

impl Qos {
    /// Checks the range.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] above 7.
    pub fn new(q: u8) -> Result<Self, Error> {
        if q <= 7 {
            Ok(Self(q))
        } else {
            Err(invalid("VLAN QoS", &q.to_string(), "must be 0..=7"))
        }
    }

    /// The numeric priority.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl FromStr for Qos {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let n: u8 = s
            .parse()
            .map_err(|_| invalid("VLAN QoS", s, "must be a number 0..=7"))?;
        Self::new(n)
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Qos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u8::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// VLAN tag protocol of a VF VLAN. `Display` matches iproute2 (`802.1Q`, `802.1ad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VlanProto {
    /// 802.1Q, ethertype 0x8100 (the default).
    #[default]
    Dot1Q,
    /// 802.1ad (QinQ S-tag), ethertype 0x88a8.
    Dot1Ad,
}

impl VlanProto {
    /// The ethertype, host order.
    pub fn ethertype(self) -> u16 {
        match self {
            VlanProto::Dot1Q => 0x8100,
            VlanProto::Dot1Ad => 0x88a8,
        }
    }

    /// Maps an ethertype back; `None` for anything else.
    pub fn from_ethertype(t: u16) -> Option<Self> {
        match t {
            0x8100 => Some(VlanProto::Dot1Q),
            0x88a8 => Some(VlanProto::Dot1Ad),
            _ => None,
        }
    }
}

impl FromStr for VlanProto {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "802.1q" => Ok(VlanProto::Dot1Q),
            "802.1ad" => Ok(VlanProto::Dot1Ad),
            _ => Err(invalid("VLAN protocol", s, "must be 802.1Q or 802.1ad")),
        }
    }
}

impl fmt::Display for VlanProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VlanProto::Dot1Q => "802.1Q",
            VlanProto::Dot1Ad => "802.1ad",
        })
    }
}

serde_via_string!(VlanProto, "VLAN protocol");

/// Administrative link state of a VF (`ip link set PF vf N state auto|enable|disable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LinkState {
    /// Follow the PF's link (IFLA_VF_LINK_STATE_AUTO = 0).
    #[default]
    Auto,
    /// Always up (IFLA_VF_LINK_STATE_ENABLE = 1).
    Enable,
    /// Always down (IFLA_VF_LINK_STATE_DISABLE = 2).
    Disable,
}

impl LinkState {
    /// The kernel's `IFLA_VF_LINK_STATE_*` value.
    pub fn to_raw(self) -> u32 {
        match self {
            LinkState::Auto => 0,
            LinkState::Enable => 1,
            LinkState::Disable => 2,
        }
    }

    /// Maps a kernel value; `None` for values this crate does not know.
    pub fn from_raw(v: u32) -> Option<Self> {
        match v {
            0 => Some(LinkState::Auto),
            1 => Some(LinkState::Enable),
            2 => Some(LinkState::Disable),
            _ => None,
        }
    }
}

impl FromStr for LinkState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "auto" => Ok(LinkState::Auto),
            "enable" => Ok(LinkState::Enable),
            "disable" => Ok(LinkState::Disable),
            _ => Err(invalid(
                "VF link state",
                s,
                "must be auto, enable or disable",
            )),
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkState::Auto => "auto",
            LinkState::Enable => "enable",
            LinkState::Disable => "disable",
        })
    }
}

serde_via_string!(LinkState, "VF link state");

/// An IP address with a prefix length, as in `ip address add 10.0.50.100/24`.
///
/// The host bits are kept (it is an interface address, not a network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// Checks that `len` fits the address family (32 for IPv4, 128 for IPv6).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when the prefix length is too long.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, Error> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(invalid(
                "IP prefix",
                &format!("{addr}/{len}"),
                "prefix length longer than the address",
            ));
        }
        Ok(Self { addr, len })
    }

    /// `0.0.0.0/0` (IPv4) or `::/0`: the destination of a default route.
    pub fn default_route(ipv4: bool) -> Self {
        let addr = if ipv4 {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        Self { addr, len: 0 }
    }

    /// The address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for a zero-length prefix (`0.0.0.0/0`, `::/0`: the default route).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }
}

impl FromStr for IpPrefix {
    type Err = Error;
    /// `ADDR/LEN`; a bare address means a host prefix (/32 or /128), as in iproute2.
    fn from_str(s: &str) -> Result<Self, Error> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| invalid("IP prefix", s, "address is not IPv4 or IPv6"))?;
        let len = match l {
            Some(l) => l
                .parse()
                .map_err(|_| invalid("IP prefix", s, "prefix length is not a number"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, len)
            .map_err(|_| invalid("IP prefix", s, "prefix length longer than the address"))
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

serde_via_string!(IpPrefix, "IP prefix");

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        for ok in ["eth0", "a", "enp1s0f0v63", "eth1lxc9999v050", "x.y-z_0"] {
            let n: IfName = ok.parse().unwrap();
            assert_eq!(n.to_string(), ok);
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a\tb",
            "a\0b",
            "eth0:1",
            "0123456789abcdef",
        ] {
            assert!(
                matches!(bad.parse::<IfName>(), Err(Error::InvalidValue { .. })),
                "{bad:?}"
            );
        }
        assert!("0123456789abcde".parse::<IfName>().is_ok());
    }

    /// `dev_valid_name()` byte by byte: `ethà` is `65 74 68 c3 a0`, and the
    /// kernel's isspace(0xa0) is true (lib/ctype.c), so the kernel refuses
    /// it with EINVAL; the check says so before any request is made.
    #[test]
    fn ifname_follows_the_kernels_isspace_not_unicodes() {
        let e = "ethà".parse::<IfName>().unwrap_err();
        assert_eq!(
            e,
            Error::InvalidValue {
                what: "interface name",
                input: "ethà".into(),
                reason: bad_name_byte(0xa0).unwrap(),
            }
        );
        let e = e.to_string();
        assert!(
            e.contains("a byte the kernel counts as whitespace (0xa0"),
            "{e}"
        );
        let e = "a b".parse::<IfName>().unwrap_err().to_string();
        assert!(e.contains("whitespace (0x20, space)"), "{e}");
        for bad in ["a\u{b}b", "a\u{c}b", "a\rb", "a\nb", "\u{a0}"] {
            assert!(bad.parse::<IfName>().is_err(), "{bad:?}");
        }
        // Whitespace to Unicode but not to the kernel (U+2028 is e2 80 a8,
        // U+0085 is c2 85): the kernel takes these names, and so does IfName.
        // (sriov-cli refuses control characters in names on its own.)
        for ok in ["a\u{2028}b", "a\u{85}b", "eth\u{1b}"] {
            assert!(ok.parse::<IfName>().is_ok(), "{ok:?}");
        }
    }

    /// `_S` of the kernel's `_ctype[]` (lib/ctype.c), transcribed row by
    /// row as the table is laid out there (8 or 16 entries a row).
    fn ctype_s(c: u8) -> bool {
        const S: bool = true;
        const O: bool = false;
        #[rustfmt::skip]
        const TABLE: [bool; 256] = [
            O,O,O,O,O,O,O,O,                  /* 0-7 */
            O,S,S,S,S,S,O,O,                  /* 8-15: _C|_S for HT LF VT FF CR */
            O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, /* 16-31 */
            S,O,O,O,O,O,O,O,                  /* 32-39: _S|_SP */
            O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, /* 40-63 */
            O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, /* 64-95 */
            O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O, /* 96-127 */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 128-143: 0 */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 144-159: 0 */
            S,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 160-175: _S|_SP, then _P */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 176-191 */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 192-207 */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 208-223 */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 224-239 */
            O,O,O,O,O,O,O,O,O,O,O,O,O,O,O,O, /* 240-255 */
        ];
        TABLE[usize::from(c)]
    }

    /// A reference of `dev_valid_name()` (net/core/dev.c) in C terms, on
    /// bytes: `*name == '\0'`, `strnlen(name, IFNAMSIZ) == IFNAMSIZ`,
    /// `.`/`..`, then `/`, `:` or `isspace()` on any byte (a NUL inside a
    /// Rust string would end the C string early: the netlink attribute is
    /// refused instead, so it is invalid too).
    fn dev_valid_name(b: &[u8]) -> bool {
        !(b.is_empty()
            || b.len() >= 16
            || b == b"."
            || b == b".."
            || b.iter()
                .any(|&c| c == b'/' || c == b':' || c == 0 || ctype_s(c)))
    }

    #[test]
    fn every_byte_against_the_kernels_table() {
        for b in 0..=255u8 {
            let bad = b == b'/' || b == b':' || b == 0 || ctype_s(b);
            assert_eq!(bad_name_byte(b).is_some(), bad, "byte {b:#04x}");
            assert_eq!(kernel_isspace(b), ctype_s(b), "byte {b:#04x}");
            if ctype_s(b) {
                let why = bad_name_byte(b).unwrap();
                assert!(why.contains(&format!("({b:#04x}")), "{b:#04x}: {why}");
            }
            if b.is_ascii() {
                let name = format!("a{}b", char::from(b));
                assert_eq!(name.parse::<IfName>().is_ok(), !bad, "{name:?}");
            }
        }
    }

    /// Every Unicode scalar value inside a name: valid exactly when none of
    /// its UTF-8 bytes is refused (0xa0 hides in U+00A0, U+00E0 `à`,
    /// U+0120, ..., U+2020, ...).
    #[test]
    fn every_char_in_a_name_against_the_reference() {
        let mut refused_non_ascii = 0;
        for c in (0..=0x10_ffffu32).filter_map(char::from_u32) {
            let name = format!("e{c}");
            let ok = name.parse::<IfName>().is_ok();
            assert_eq!(ok, dev_valid_name(name.as_bytes()), "{name:?}");
            if !c.is_ascii() && !ok {
                refused_non_ascii += 1;
            }
        }
        // Every non-ASCII char whose UTF-8 holds the byte 0xa0, no other.
        let expect = (0x80..=0x10_ffffu32)
            .filter_map(char::from_u32)
            .filter(|c| c.to_string().bytes().any(|b| b == 0xa0))
            .count();
        assert_eq!(refused_non_ascii, expect);
    }

    proptest::proptest! {
        #[test]
        fn ifname_agrees_with_dev_valid_name(s in "\\PC{0,8}|[\\x00-\\x7f\u{a0}-\u{ff}]{0,17}") {
            proptest::prop_assert_eq!(s.parse::<IfName>().is_ok(), dev_valid_name(s.as_bytes()), "{:?}", s);
        }
    }

    #[test]
    fn mac_round_trip() {
        let m: MacAddr = "02:AA:0b:0:ff:1".parse().unwrap();
        assert_eq!(m.to_string(), "02:aa:0b:00:ff:01");
        assert_eq!(m.to_string().parse::<MacAddr>().unwrap(), m);
        for bad in [
            "",
            "02:aa",
            "02:aa:bb:cc:dd:ee:ff",
            "0g:00:00:00:00:00",
            "002:0:0:0:0:0",
            "::::::",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!("01:00:5e:00:00:01"
            .parse::<MacAddr>()
            .unwrap()
            .is_multicast());
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"02:aa:0b:00:ff:01\"");
    }

    #[test]
    fn vlan_qos_proto_state() {
        assert!(VlanId::new(0).is_err());
        assert!(VlanId::new(4095).is_err());
        assert_eq!("4094".parse::<VlanId>().unwrap().get(), 4094);
        assert!(Qos::new(8).is_err());
        assert_eq!("7".parse::<Qos>().unwrap().to_string(), "7");
        for p in [VlanProto::Dot1Q, VlanProto::Dot1Ad] {
            assert_eq!(p.to_string().parse::<VlanProto>().unwrap(), p);
            assert_eq!(VlanProto::from_ethertype(p.ethertype()), Some(p));
        }
        for s in [LinkState::Auto, LinkState::Enable, LinkState::Disable] {
            assert_eq!(s.to_string().parse::<LinkState>().unwrap(), s);
            assert_eq!(LinkState::from_raw(s.to_raw()), Some(s));
        }
        let v: VlanId = serde_json::from_str("50").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "50");
        assert!(serde_json::from_str::<VlanId>("0").is_err());
    }

    #[test]
    fn prefix_round_trip() {
        for s in ["10.0.50.100/24", "fd00::1/64", "0.0.0.0/0", "::/0"] {
            let p: IpPrefix = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert_eq!("10.1.2.3".parse::<IpPrefix>().unwrap().prefix_len(), 32);
        assert!("10.0.0.1/33".parse::<IpPrefix>().is_err());
        assert!("fd00::1/129".parse::<IpPrefix>().is_err());
        assert!("nonsense/8".parse::<IpPrefix>().is_err());
    }
}
