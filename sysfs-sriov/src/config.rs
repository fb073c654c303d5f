//! PCI configuration space as sysfs shows it (`<device>/config`), read once with
//! a bound and parsed without trusting a byte of it.
//!
//! Offsets and bits are those of `include/uapi/linux/pci_regs.h`. The kernel
//! gives an unprivileged reader only the first 64 bytes (`pci_read_config()` in
//! `drivers/pci/pci-sysfs.c`), so every reader here says "unknown" rather than
//! guessing when a capability lies beyond what was read.

use std::io::{self, Read};
use std::path::Path;

/// Config space is at most 4096 bytes (PCIe extended); a longer file is not one.
pub(crate) const CONFIG_MAX: u64 = 4096;

/// `PCI_STATUS` and its `PCI_STATUS_CAP_LIST` bit.
const STATUS: usize = 0x06;
const STATUS_CAP_LIST: u16 = 0x0010;
/// `PCI_CAPABILITY_LIST`: the first standard capability.
const CAP_PTR: usize = 0x34;
/// `PCI_CAP_ID_EXP`.
pub(crate) const CAP_ID_EXP: u8 = 0x10;
/// `PCI_EXT_CAP_ID_SRIOV`.
pub(crate) const EXT_CAP_ID_SRIOV: u16 = 0x0010;
/// `PCI_EXT_CAP_ID_ARI`.
#[cfg(test)]
pub(crate) const EXT_CAP_ID_ARI: u16 = 0x000e;

/// Offsets in the PCIe capability (`PCI_EXP_*`).
pub(crate) const EXP_FLAGS: usize = 0x02;
pub(crate) const EXP_DEVCAP2: usize = 0x24;
pub(crate) const EXP_DEVCTL2: usize = 0x28;
/// `PCI_EXP_DEVCAP2_ARI`: ARI Forwarding Supported.
pub(crate) const EXP_DEVCAP2_ARI: u32 = 0x0000_0020;
/// `PCI_EXP_DEVCTL2_ARI`: ARI Forwarding Enable.
pub(crate) const EXP_DEVCTL2_ARI: u16 = 0x0020;
/// `PCI_EXP_TYPE_ROOT_PORT`, `PCI_EXP_TYPE_DOWNSTREAM` (`PCI_EXP_FLAGS_TYPE` >> 4).
pub(crate) const EXP_TYPE_ROOT_PORT: u8 = 0x4;
pub(crate) const EXP_TYPE_DOWNSTREAM: u8 = 0x6;

/// Offsets in the SR-IOV capability (`PCI_SRIOV_*`).
pub(crate) const SRIOV_TOTAL_VF: usize = 0x0e;
pub(crate) const SRIOV_BAR: usize = 0x24;

/// `PCI_SECONDARY_BUS`, `PCI_SUBORDINATE_BUS` of a type 1 header.
pub(crate) const SECONDARY_BUS: usize = 0x19;
pub(crate) const SUBORDINATE_BUS: usize = 0x1a;

/// Reads at most [`CONFIG_MAX`] bytes of a `config` file, opened without
/// blocking and refused unless it is a regular file (as sysfs attributes are;
/// a FIFO planted there would block forever).
pub(crate) fn read(path: &Path) -> io::Result<Config> {
    let f = crate::attr::open_regular(path)?;
    let mut buf = Vec::new();
    f.take(CONFIG_MAX).read_to_end(&mut buf)?;
    Ok(Config(buf))
}

/// The bytes of one device's config space, as many as could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config(pub(crate) Vec<u8>);

impl Config {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn u8_at(&self, off: usize) -> Option<u8> {
        self.0.get(off).copied()
    }

    pub(crate) fn u16_at(&self, off: usize) -> Option<u16> {
        let b = self.0.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32_at(&self, off: usize) -> Option<u32> {
        let b = self.0.get(off..off.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The offset of standard capability `id`: `Ok(None)` when the list (fully
    /// read) has none, `Err(())` when the bytes read end before the list does.
    /// At most 48 entries are followed (`PCI_FIND_CAP_TTL`), so a looping list
    /// ends.
    pub(crate) fn find_cap(&self, id: u8) -> Result<Option<usize>, ()> {
        let status = self.u16_at(STATUS).ok_or(())?;
        if status & STATUS_CAP_LIST == 0 {
            return Ok(None);
        }
        let mut pos = usize::from(self.u8_at(CAP_PTR).ok_or(())?);
        for _ in 0..48 {
            // Pointers are dword aligned and lie above the header.
            pos &= !3;
            if pos < 0x40 {
                return Ok(None);
            }
            let cap_id = self.u8_at(pos).ok_or(())?;
            if cap_id == 0xff {
                return Ok(None);
            }
            if cap_id == id {
                return Ok(Some(pos));
            }
            pos = usize::from(self.u8_at(pos + 1).ok_or(())?);
        }
        Ok(None)
    }

    /// The offset of extended capability `id` (at 0x100 and after), with the
    /// same answers as [`Config::find_cap`]; at most 480 entries
    /// (`(4096 - 256) / 8`, as `pci_find_next_ext_capability()`).
    pub(crate) fn find_ext_cap(&self, id: u16) -> Result<Option<usize>, ()> {
        let mut pos = 0x100usize;
        for _ in 0..480 {
            let header = self.u32_at(pos).ok_or(())?;
            // No extended capabilities at all: 0, or all ones from a device
            // without extended config space.
            if header == 0 || header == 0xffff_ffff {
                return Ok(None);
            }
            if (header & 0xffff) as u16 == id {
                return Ok(Some(pos));
            }
            let next = ((header >> 20) & 0xffc) as usize;
            if next < 0x100 {
                return Ok(None);
            }
            pos = next;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_followed_with_bounds() {
        let mut c = vec![0u8; 4096];
        c[STATUS] = 0x10;
        c[CAP_PTR] = 0x40;
        c[0x40] = 0x01; // PM
        c[0x41] = 0x50;
        c[0x50] = CAP_ID_EXP;
        let c = Config(c);
        assert_eq!(c.find_cap(CAP_ID_EXP), Ok(Some(0x50)));
        assert_eq!(c.find_cap(0x11), Ok(None));
        // Cut short: unknown, not absent.
        let short = Config(c.0[..0x44].to_vec());
        assert_eq!(short.find_cap(CAP_ID_EXP), Err(()));
        // A loop ends.
        let mut looped = c.0.clone();
        looped[0x41] = 0x40;
        assert_eq!(Config(looped).find_cap(CAP_ID_EXP), Ok(None));
        // No extended space in 64 bytes.
        assert_eq!(Config(vec![0; 64]).find_ext_cap(EXT_CAP_ID_SRIOV), Err(()));
        let mut e = vec![0u8; 4096];
        e[0x100..0x104].copy_from_slice(&(0x0001u32 | (1 << 16) | (0x150 << 20)).to_le_bytes());
        e[0x150..0x154].copy_from_slice(&(0x000eu32 | (1 << 16) | (0x160 << 20)).to_le_bytes());
        e[0x160..0x164].copy_from_slice(&(0x0010u32 | (1 << 16)).to_le_bytes());
        let e = Config(e);
        assert_eq!(e.find_ext_cap(EXT_CAP_ID_ARI), Ok(Some(0x150)));
        assert_eq!(e.find_ext_cap(EXT_CAP_ID_SRIOV), Ok(Some(0x160)));
        assert_eq!(e.find_ext_cap(0x000d), Ok(None));
        assert_eq!(Config(vec![0xff; 4096]).find_ext_cap(0x10), Ok(None));
    }
}
