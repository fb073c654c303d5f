//! PCIe Access Control Services (ACS) on the bridges above a device: the
//! usual reason a VF shares its IOMMU group. The kernel isolates a device
//! behind a downstream or root port only when that port has ACS with Source
//! Validation, P2P Request Redirect, P2P Completion Redirect and Upstream
//! Forwarding enabled (`REQ_ACS_FLAGS` in drivers/iommu/iommu.c, checked by
//! `pci_acs_path_enabled()`); the IOMMU driver asks `pci_enable_acs()` to turn
//! them on at boot where the port has them.
//!
//! A required bit that the port's ACS capability register does not have is
//! taken as hard-wired on, as the kernel does (`pci_acs_flags_enabled()`:
//! "capabilities are either required or only required if controllable").
//!
//! Read from each port's `config` file in sysfs: the extended capability list
//! starts at offset 0x100 (PCIe config space is 4096 bytes; sysfs gives the
//! part past 64 bytes only to root). Capability ID 0x000D is ACS: the
//! capability register at +4, the control register at +6.

use sysfs_sriov::PciAddress;

use crate::root::{Read, Root};

/// Extended capability ID of ACS.
const ACS_CAP_ID: u16 = 0x000d;
/// First extended capability.
const EXT_CAP_START: usize = 0x100;
/// At most this many capabilities are followed (4096 - 256 bytes of 4-byte
/// headers): a corrupt or looping list ends there.
const MAX_EXT_CAPS: usize = (4096 - EXT_CAP_START) / 4;

/// The control bits the kernel needs for isolation, with their `lspci` names.
pub(crate) const REQUIRED: [(u16, &str); 4] = [
    (0x0001, "SrcValid"),
    (0x0004, "ReqRedir"),
    (0x0008, "CmpltRedir"),
    (0x0010, "UpstreamFwd"),
];

/// What one port's config space says about ACS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Acs {
    /// Every bit the kernel requires is enabled (or not controllable, so
    /// hard-wired on).
    Enabled {
        /// ACS capability register.
        cap: u16,
        /// ACS control register.
        ctl: u16,
    },
    /// The port has ACS, but some required bits it can control are off.
    Partial {
        /// ACS capability register.
        cap: u16,
        /// ACS control register.
        ctl: u16,
        /// Required, controllable bits that are off, by `lspci` name.
        off: Vec<&'static str>,
    },
    /// No ACS capability in the extended list.
    Absent,
    /// The extended config space could not be read (not root, conventional
    /// PCI, missing file): why.
    Unknown(String),
}

impl Acs {
    /// Whether the kernel treats the port as isolating what is below it.
    pub(crate) fn isolates(&self) -> bool {
        matches!(self, Acs::Enabled { .. })
    }

    /// Evidence text, as `lspci -vvv` would put it.
    pub(crate) fn describe(&self) -> String {
        let names = |bits: u16| -> String {
            REQUIRED
                .iter()
                .filter(|(b, _)| bits & b != 0)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Acs::Enabled { cap, ctl } => {
                let fixed = names(!cap);
                format!(
                    "ACS enabled: {}{} (ACSCap {cap:#06x}, ACSCtl {ctl:#06x})",
                    names(*ctl & *cap),
                    if fixed.is_empty() {
                        String::new()
                    } else {
                        format!("; not controllable, so hard-wired on: {fixed}")
                    }
                )
            }
            Acs::Partial { cap, ctl, off } => format!(
                "ACS present but not isolating: {} off (ACSCap {cap:#06x}, ACSCtl {ctl:#06x})",
                off.join(", ")
            ),
            Acs::Absent => "no ACS capability".to_owned(),
            Acs::Unknown(why) => format!("ACS unknown: {why}"),
        }
    }
}

/// Parses ACS out of a config space dump (`config` in sysfs).
pub(crate) fn parse(config: &[u8]) -> Acs {
    if config.len() < EXT_CAP_START + 4 {
        return Acs::Unknown(format!(
            "{} bytes of config space, the extended capabilities need 4096 (read as root; conventional PCI has none)",
            config.len()
        ));
    }
    let mut off = EXT_CAP_START;
    for _ in 0..MAX_EXT_CAPS {
        let Some(h) = u32_at(config, off) else {
            return Acs::Unknown(format!("capability list runs past the end at {off:#x}"));
        };
        // An all-zero (or all-ones, no device) header ends the list.
        if h == 0 || h == u32::MAX {
            return Acs::Absent;
        }
        let id = (h & 0xffff) as u16;
        if id == ACS_CAP_ID {
            let (Some(cap), Some(ctl)) = (u16_at(config, off + 4), u16_at(config, off + 6)) else {
                return Acs::Unknown(format!("ACS capability at {off:#x} is cut off"));
            };
            // Only what the port can control is required of it.
            let off_bits: Vec<&'static str> = REQUIRED
                .iter()
                .filter(|(b, _)| cap & b != 0 && ctl & b == 0)
                .map(|(_, n)| *n)
                .collect();
            return if off_bits.is_empty() {
                Acs::Enabled { cap, ctl }
            } else {
                Acs::Partial {
                    cap,
                    ctl,
                    off: off_bits,
                }
            };
        }
        // Next pointer: bits 31:20, dword aligned; 0 ends the list, and a
        // pointer back into the legacy space is corrupt.
        let next = ((h >> 20) & 0xffc) as usize;
        if next == 0 {
            return Acs::Absent;
        }
        if next < EXT_CAP_START {
            return Acs::Unknown(format!("capability list points back to {next:#x}"));
        }
        off = next;
    }
    Acs::Unknown("capability list does not end".to_owned())
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

/// The PCI bridges above `dev`, nearest first, from its sysfs path
/// (`/sys/devices/pci0000:00/0000:00:03.0/0000:02:00.0`).
pub(crate) fn upstream(root: &Root, dev: &PciAddress) -> Vec<PciAddress> {
    let Some(target) = root.read_link(&format!("sys/bus/pci/devices/{dev}")) else {
        return Vec::new();
    };
    let mut chain: Vec<PciAddress> = target
        .components()
        .filter_map(|c| c.as_os_str().to_str()?.parse::<PciAddress>().ok())
        .filter(|a| a != dev)
        .collect();
    chain.reverse();
    chain
}

/// ACS of one port, read from `root`.
pub(crate) fn of_port(root: &Root, port: &PciAddress) -> Acs {
    match root.read_bytes(&format!("sys/bus/pci/devices/{port}/config")) {
        Ok(b) => parse(&b),
        Err(Read::Missing) => Acs::Unknown("no config file".to_owned()),
        Err(r) => Acs::Unknown(r.describe_absence()),
    }
}

/// The ACS of a device that is one function of a multi-function device
/// (header type bit 7, in the first 64 bytes anyone may read): the kernel
/// keeps such functions in one group unless their ACS (or a quirk) says
/// they cannot reach each other (`pci_acs_enabled()`, multi-function
/// endpoints). `None` for a single-function device or no readable header.
pub(crate) fn of_multifunction(root: &Root, dev: &PciAddress) -> Option<Acs> {
    let b = root
        .read_bytes(&format!("sys/bus/pci/devices/{dev}/config"))
        .ok()?;
    (*b.get(0x0e)? & 0x80 != 0).then(|| parse(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4096 bytes of config space with the given extended capabilities
    /// (offset, id, next, payload).
    fn config(caps: &[(usize, u16, usize, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        for (off, id, next, payload) in caps {
            let h = u32::from(*id) | (1 << 16) | ((*next as u32) << 20);
            b[*off..off + 4].copy_from_slice(&h.to_le_bytes());
            b[off + 4..off + 4 + payload.len()].copy_from_slice(payload);
        }
        b
    }

    #[test]
    fn acs_after_other_capabilities_enabled_or_partial() {
        // AER at 0x100 -> ACS at 0x148 (cap 0x005f, ctl 0x001d: SV RR CR UF).
        let b = config(&[
            (0x100, 0x0001, 0x148, &[]),
            (0x148, 0x000d, 0, &[0x5f, 0, 0x1d, 0]),
        ]);
        assert_eq!(
            parse(&b),
            Acs::Enabled {
                cap: 0x5f,
                ctl: 0x1d
            }
        );
        assert!(parse(&b).isolates());
        assert_eq!(
            parse(&b).describe(),
            "ACS enabled: SrcValid ReqRedir CmpltRedir UpstreamFwd (ACSCap 0x005f, ACSCtl 0x001d)"
        );
        // Capable of all, only SV enabled (ACS not requested: no IOMMU driver).
        let b = config(&[(0x100, 0x000d, 0, &[0x1f, 0, 0x01, 0])]);
        let a = parse(&b);
        assert_eq!(
            a,
            Acs::Partial {
                cap: 0x1f,
                ctl: 0x01,
                off: vec!["ReqRedir", "CmpltRedir", "UpstreamFwd"]
            }
        );
        assert!(!a.isolates());
        assert_eq!(
            a.describe(),
            "ACS present but not isolating: ReqRedir, CmpltRedir, UpstreamFwd off (ACSCap 0x001f, ACSCtl 0x0001)"
        );
        // A port that cannot control P2P redirect: the kernel takes those
        // bits as hard-wired on, and SV + UF are on, so it isolates.
        let b = config(&[(0x100, 0x000d, 0, &[0x11, 0, 0x11, 0])]);
        assert!(parse(&b).isolates());
        assert_eq!(
            parse(&b).describe(),
            "ACS enabled: SrcValid UpstreamFwd; not controllable, so hard-wired on: ReqRedir CmpltRedir (ACSCap 0x0011, ACSCtl 0x0011)"
        );
        // ... but one it can control and has off is named.
        let b = config(&[(0x100, 0x000d, 0, &[0x11, 0, 0x01, 0])]);
        assert_eq!(
            parse(&b),
            Acs::Partial {
                cap: 0x11,
                ctl: 0x01,
                off: vec!["UpstreamFwd"]
            }
        );
    }

    #[test]
    fn no_acs_short_reads_and_corrupt_lists() {
        assert_eq!(parse(&config(&[(0x100, 0x0001, 0, &[])])), Acs::Absent);
        assert_eq!(parse(&config(&[])), Acs::Absent);
        // 64 bytes: what a non-root reader gets.
        assert!(matches!(parse(&[0u8; 64]), Acs::Unknown(w) if w.contains("64 bytes")));
        // A loop: 0x100 -> 0x100 ... ends, it does not hang.
        let b = config(&[(0x100, 0x0001, 0x100, &[])]);
        assert!(matches!(parse(&b), Acs::Unknown(w) if w.contains("does not end")));
        // Pointing back into the legacy space.
        let b = config(&[(0x100, 0x0001, 0x40, &[])]);
        assert!(matches!(parse(&b), Acs::Unknown(_)));
        // All ones: the device is gone.
        assert_eq!(parse(&vec![0xff; 4096]), Acs::Absent);
        // ACS header at the very end, registers cut off.
        let mut b = vec![0u8; 0x104];
        b[0x100..0x104].copy_from_slice(&(0x000d_u32 | (1 << 16)).to_le_bytes());
        assert!(matches!(parse(&b), Acs::Unknown(w) if w.contains("cut off")));
    }

    proptest::proptest! {
        /// Any config space, however corrupt: an answer, no panic, no hang;
        /// an ACS verdict only from a full-size dump.
        #[test]
        fn any_bytes_give_an_answer(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4200),
            patch_at in 0usize..4096,
            next in 0u32..4096,
        ) {
            let mut b = bytes;
            // Steer some inputs into long or looping capability lists.
            if b.len() >= patch_at + 4 {
                let h = 0x000d_u32.wrapping_add(patch_at as u32 & 1) | (next << 20);
                b[patch_at..patch_at + 4].copy_from_slice(&h.to_le_bytes());
            }
            let a = parse(&b);
            if b.len() < EXT_CAP_START + 4 {
                proptest::prop_assert!(matches!(a, Acs::Unknown(_)));
            }
            if a.isolates() {
                proptest::prop_assert!(b.len() >= EXT_CAP_START + 8);
            }
            proptest::prop_assert!(!a.describe().is_empty());
        }
    }

    #[test]
    fn multi_function_devices_are_told_apart_by_their_header() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let put = |addr: &str, bytes: &[u8]| {
            let d = dir.path().join(format!("sys/bus/pci/devices/{addr}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("config"), bytes).unwrap();
        };
        let mut single = vec![0u8; 64];
        single[0x0e] = 0x00;
        let mut multi = config(&[(0x100, 0x000d, 0, &[0x0c, 0, 0x00, 0])]);
        multi[0x0e] = 0x80;
        put("0000:02:00.0", &single);
        put("0000:03:00.0", &multi);
        put("0000:04:00.0", &multi[..64]);
        let a = |s: &str| s.parse::<PciAddress>().unwrap();
        assert_eq!(of_multifunction(&root, &a("0000:02:00.0")), None);
        // An endpoint's ACS can control RR and CR (0x0c) and has them off.
        assert_eq!(
            of_multifunction(&root, &a("0000:03:00.0")),
            Some(Acs::Partial {
                cap: 0x0c,
                ctl: 0,
                off: vec!["ReqRedir", "CmpltRedir"]
            })
        );
        // Multi-function, but its ACS is past what a non-root reader sees.
        assert!(matches!(
            of_multifunction(&root, &a("0000:04:00.0")),
            Some(Acs::Unknown(_))
        ));
        assert_eq!(of_multifunction(&root, &a("0000:05:00.0")), None);
    }
}
