//! PCI addresses (`domain:bus:device.function`), parsed once and trusted afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A PCI function address, `DDDD:BB:DD.F` as sysfs spells it.
///
/// Parsing is the only way to get one from text, and it checks every field, so a
/// `PciAddress` is always safe to use as a sysfs path component.
///
/// ```
/// use sysfs_sriov::PciAddress;
///
/// let a: PciAddress = "02:00.0".parse()?;
/// assert_eq!(a.to_string(), "0000:02:00.0");
/// assert_eq!(a.routing_id(), 0x0200);
/// # Ok::<(), sysfs_sriov::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    domain: u32,
    bus: u8,
    device: u8,
    function: u8,
}

impl PciAddress {
    /// Builds an address from its parts.
    ///
    /// # Errors
    /// [`Error::InvalidPciAddress`] when `device >= 32` or `function >= 8`.
    pub fn new(domain: u32, bus: u8, device: u8, function: u8) -> Result<Self, Error> {
        if device >= 32 {
            return Err(invalid(
                &format!("{domain:04x}:{bus:02x}:{device:02x}.{function}"),
                "device must be 00..1f",
            ));
        }
        if function >= 8 {
            return Err(invalid(
                &format!("{domain:04x}:{bus:02x}:{device:02x}.{function}"),
                "function must be 0..7",
            ));
        }
        Ok(Self {
            domain,
            bus,
            device,
            function,
        })
    }

    /// The PCI segment (domain), `0000` on most hosts.
    #[must_use]
    pub fn domain(&self) -> u32 {
        self.domain
    }

    /// The bus number.
    #[must_use]
    pub fn bus(&self) -> u8 {
        self.bus
    }

    /// The device (slot) number, `0..32`.
    #[must_use]
    pub fn device(&self) -> u8 {
        self.device
    }

    /// The function number, `0..8`.
    #[must_use]
    pub fn function(&self) -> u8 {
        self.function
    }

    /// `devfn` as the kernel packs it: `device << 3 | function`.
    #[must_use]
    pub fn devfn(&self) -> u8 {
        (self.device << 3) | self.function
    }

    /// The 16-bit routing id (requester id): `bus << 8 | devfn`.
    #[must_use]
    pub fn routing_id(&self) -> u16 {
        (u16::from(self.bus) << 8) | u16::from(self.devfn())
    }

    /// The address with routing id `rid` in `domain`. Every 16-bit value is a valid
    /// routing id, so this cannot fail.
    #[must_use]
    pub fn from_routing_id(domain: u32, rid: u16) -> Self {
        let [bus, devfn] = rid.to_be_bytes();
        Self {
            domain,
            bus,
            device: devfn >> 3,
            function: devfn & 7,
        }
    }

    /// The address of VF `index` (0-based) of a PF at `self` whose SR-IOV capability
    /// reports `offset` (First VF Offset) and `stride` (VF Stride).
    ///
    /// This is the kernel's rule (`drivers/pci/iov.c`, `pci_iov_virtfn_bus()` and
    /// `pci_iov_virtfn_devfn()`): routing id = PF routing id + offset + stride * index,
    /// where a carry out of `devfn` moves the VF to a higher bus number.
    ///
    /// Returns `None` when the result would need a bus number above 255.
    #[must_use]
    pub fn vf_address(&self, offset: u16, stride: u16, index: u32) -> Option<Self> {
        let rid =
            u64::from(self.routing_id()) + u64::from(offset) + u64::from(stride) * u64::from(index);
        let rid = u16::try_from(rid).ok()?;
        Some(Self::from_routing_id(self.domain, rid))
    }
}

fn invalid(input: &str, reason: &'static str) -> Error {
    Error::InvalidPciAddress {
        input: input.chars().take(64).collect(),
        reason,
    }
}

fn hex_field(s: &str, max_len: usize, input: &str, what: &'static str) -> Result<u32, Error> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(input, what));
    }
    u32::from_str_radix(s, 16).map_err(|_| invalid(input, what))
}

impl FromStr for PciAddress {
    type Err = Error;

    /// Accepts `DDDD:BB:DD.F` and the short `BB:DD.F` (domain 0), hex, any case.
    fn from_str(input: &str) -> Result<Self, Error> {
        if input.len() > 16 {
            return Err(invalid(input, "too long for a PCI address"));
        }
        let (rest, function) = input
            .rsplit_once('.')
            .ok_or_else(|| invalid(input, "expected DDDD:BB:DD.F or BB:DD.F"))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [d, b, s] => (
                hex_field(d, 8, input, "domain must be 1..8 hex digits")?,
                *b,
                *s,
            ),
            [b, s] => (0, *b, *s),
            _ => return Err(invalid(input, "expected DDDD:BB:DD.F or BB:DD.F")),
        };
        let bus = hex_field(bus, 2, input, "bus must be 1..2 hex digits")?;
        let device = hex_field(device, 2, input, "device must be 1..2 hex digits")?;
        if function.len() != 1 {
            return Err(invalid(input, "function must be one digit 0..7"));
        }
        let function = hex_field(function, 1, input, "function must be one digit 0..7")?;
        // The field widths above bound every value; the conversions cannot fail.
        let bus = u8::try_from(bus).map_err(|_| invalid(input, "bus out of range"))?;
        let device = u8::try_from(device).map_err(|_| invalid(input, "device out of range"))?;
        let function =
            u8::try_from(function).map_err(|_| invalid(input, "function out of range"))?;
        if device >= 32 {
            return Err(invalid(input, "device must be 00..1f"));
        }
        if function >= 8 {
            return Err(invalid(input, "function must be 0..7"));
        }
        Ok(Self {
            domain,
            bus,
            device,
            function,
        })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

impl Serialize for PciAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PciAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_long_and_short_forms() {
        let a: PciAddress = "0000:02:00.0".parse().unwrap();
        assert_eq!(a, PciAddress::new(0, 2, 0, 0).unwrap());
        let b: PciAddress = "02:00.0".parse().unwrap();
        assert_eq!(a, b);
        let c: PciAddress = "10000:AF:1f.7".parse().unwrap();
        assert_eq!(c.to_string(), "10000:af:1f.7");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "0000:02:00",
            "0000:02:20.0",
            "0000:02:00.8",
            "0000:02:00.00",
            "0000:102:00.0",
            "../../etc",
            "0000:02:00.0/..",
            "00:00:02:00.0",
            "0000:02:00.0\0",
            "g000:02:00.0",
            "0000:+2:00.0",
            "0000:02:00.-1",
            "0000::00.0",
        ] {
            let e = bad.parse::<PciAddress>().unwrap_err();
            assert!(matches!(e, Error::InvalidPciAddress { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn routing_id_and_vf_prediction_match_the_igb_vm() {
        // vm-testbed.md: igb PF 0000:01:00.0, offset 128, stride 2.
        let pf: PciAddress = "0000:01:00.0".parse().unwrap();
        let got: Vec<String> = (0..7)
            .map(|i| pf.vf_address(128, 2, i).unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "0000:01:10.0",
                "0000:01:10.2",
                "0000:01:10.4",
                "0000:01:10.6",
                "0000:01:11.0",
                "0000:01:11.2",
                "0000:01:11.4"
            ]
        );
    }

    #[test]
    fn vf_prediction_rolls_over_to_next_bus_and_stops_at_255() {
        let pf: PciAddress = "0000:02:00.0".parse().unwrap();
        assert_eq!(
            pf.vf_address(16, 1, 239).unwrap().to_string(),
            "0000:02:1f.7"
        );
        assert_eq!(
            pf.vf_address(16, 1, 240).unwrap().to_string(),
            "0000:03:00.0"
        );
        let last: PciAddress = "0000:ff:00.0".parse().unwrap();
        assert_eq!(last.vf_address(0x100, 1, 0), None);
    }

    #[test]
    fn serde_is_a_string() {
        let a: PciAddress = "0000:02:00.1".parse().unwrap();
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, "\"0000:02:00.1\"");
        let back: PciAddress = serde_json::from_str(&j).unwrap();
        assert_eq!(a, back);
        assert!(serde_json::from_str::<PciAddress>("\"0000:02:00.9\"").is_err());
    }

    fn any_addr() -> impl Strategy<Value = PciAddress> {
        (any::<u16>(), any::<u8>(), 0u8..32, 0u8..8)
            .prop_map(|(d, b, s, f)| PciAddress::new(u32::from(d), b, s, f).unwrap())
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(a in any_addr()) {
            let s = a.to_string();
            prop_assert_eq!(s.parse::<PciAddress>().unwrap(), a);
            if a.domain() == 0 {
                let short = &s[5..];
                prop_assert_eq!(short.parse::<PciAddress>().unwrap(), a);
            }
            prop_assert_eq!(s.to_uppercase().parse::<PciAddress>().unwrap(), a);
        }

        #[test]
        fn routing_id_round_trip(a in any_addr()) {
            prop_assert_eq!(PciAddress::from_routing_id(a.domain(), a.routing_id()), a);
        }

        #[test]
        fn near_valid_strings_parse_to_what_they_print(
            s in "[0-9a-fA-F]{0,6}:?[0-9a-fA-F]{1,3}:[0-9a-fA-F]{1,3}\\.[0-9]{1,2}"
        ) {
            // Address-shaped strings (random widths and digits): whatever parses
            // holds exactly the numbers written, and prints back as the canonical
            // long form of the same address.
            if let Ok(a) = s.parse::<PciAddress>() {
                let d = a.to_string();
                prop_assert_eq!(d.parse::<PciAddress>().unwrap(), a);
                let (head, func) = s.rsplit_once('.').unwrap();
                let mut parts = head.rsplit(':');
                let dev = u32::from_str_radix(parts.next().unwrap(), 16).unwrap();
                let bus = u32::from_str_radix(parts.next().unwrap(), 16).unwrap();
                let dom = match parts.next() {
                    Some("") | None => 0,
                    Some(x) => u32::from_str_radix(x, 16).unwrap(),
                };
                prop_assert_eq!(u32::from(a.function()), func.parse::<u32>().unwrap());
                prop_assert_eq!(u32::from(a.device()), dev);
                prop_assert_eq!(u32::from(a.bus()), bus);
                prop_assert_eq!(a.domain(), dom);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            if let Ok(a) = s.parse::<PciAddress>() {
                // Whatever parses is a single safe path component.
                let d = a.to_string();
                prop_assert!(!d.contains('/') && !d.contains('\0') && d != "..");
            }
        }

        #[test]
        fn vf_prediction_is_the_kernel_formula(
            pf in any_addr(), offset in 1u16..=512, stride in 1u16..=8, index in 0u32..512
        ) {
            // drivers/pci/iov.c: bus = pf bus + ((devfn + offset + stride*n) >> 8),
            // devfn = (devfn + offset + stride*n) & 0xff.
            let sum = u32::from(pf.devfn()) + u32::from(offset) + u32::from(stride) * index;
            let bus = u32::from(pf.bus()) + (sum >> 8);
            let devfn = sum & 0xff;
            match pf.vf_address(offset, stride, index) {
                Some(vf) => {
                    prop_assert!(bus <= 255);
                    prop_assert_eq!(u32::from(vf.bus()), bus);
                    prop_assert_eq!(u32::from(vf.devfn()), devfn);
                    prop_assert_eq!(vf.domain(), pf.domain());
                }
                None => prop_assert!(bus > 255),
            }
        }
    }
}
