//! Network interfaces as sysfs shows them (`/sys/class/net/<name>`), plus their
//! addresses and udev state: what decides whether a VF netdev is "in use".

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;

use crate::attr;
use crate::error::{Error, Result};
use crate::name::check_netdev_name;
use crate::pci::PciAddress;
use crate::sysfs::{AddressSource, Sysfs};

/// `IFF_UP` from `<linux/if.h>`.
const IFF_UP: u32 = 0x1;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Netdev {
    /// Interface name.
    pub name: String,
    /// `ifindex`.
    pub ifindex: Option<u32>,
    /// Administratively up (`IFF_UP` in `flags`).
    pub up: bool,
    /// `operstate` (`up`, `down`, `unknown`, ...).
    pub operstate: Option<String>,
    /// MAC address (`address`).
    pub mac: Option<String>,
    /// The PCI device behind it (`device` link), if any.
    pub device: Option<PciAddress>,
    /// `name_assign_type`: 1 enumerated by the kernel (`eth3`; udev will usually
    /// rename it), 2 predictable (by the driver), 3 user-chosen, 4 renamed. `None`
    /// when unknown (the kernel answers EINVAL for reads of unknown types).
    pub name_assign_type: Option<u8>,
    /// IP addresses (from the handle's [`AddressSource`]; only those visible in the
    /// current network namespace).
    pub addresses: Vec<IpAddr>,
    /// `Some(true)` once udev has processed it (`/run/udev/data/n<ifindex>` exists),
    /// `Some(false)` while udev runs but has not, `None` when udev is not running.
    /// Renaming before udev is done races udev's own rename.
    pub udev_processed: Option<bool>,
}

impl Netdev {
    /// Whether the interface is up or carries addresses, i.e. taking it away would
    /// disturb something.
    #[must_use]
    pub fn in_use(&self) -> bool {
        self.up || !self.addresses.is_empty()
    }
}

/// Interface name -> its IPv4 and IPv6 addresses (what makes a VF netdev
/// "in use" by [`InUse::HasAddresses`](crate::InUse)).
pub type Addresses = BTreeMap<String, Vec<IpAddr>>;
pub(crate) type AddressMap = Addresses;

impl Sysfs {
    /// Reads one network interface.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name that is not a valid interface name (checked
    /// before any path is built), [`Error::NetdevNotFound`], I/O and parse errors.
    pub fn netdev(&self, name: &str) -> Result<Netdev> {
        check_netdev_name(name)?;
        let addrs = self.address_map()?;
        self.netdev_with(name, &addrs)
    }

    pub(crate) fn netdev_with(&self, name: &str, addrs: &AddressMap) -> Result<Netdev> {
        let dir = self.existing_class_net(name)?;
        let ifindex = attr::read_dec_opt::<u32>(&dir.join("ifindex"))?;
        let flags = attr::read_hex_u32_opt(&dir.join("flags"))?.unwrap_or(0);
        let device = attr::link_name(&dir.join("device"))?.and_then(|n| n.parse().ok());
        Ok(Netdev {
            name: name.to_string(),
            ifindex,
            up: flags & IFF_UP != 0,
            operstate: attr::read_opt(&dir.join("operstate"))?,
            mac: attr::read_opt(&dir.join("address"))?,
            name_assign_type: attr::read_dec_opt::<u8>(&dir.join("name_assign_type"))
                .ok()
                .flatten(),
            device,
            addresses: addrs.get(name).cloned().unwrap_or_default(),
            udev_processed: self.udev_processed(ifindex),
        })
    }

    /// The names of every network interface under the root (`sys/class/net`),
    /// sorted; an empty list when that directory does not exist. Entries that are
    /// no valid interface name are skipped. Like all of sysfs, this shows the
    /// network namespace of whoever mounted it, not necessarily the caller's.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be listed.
    pub fn interface_names(&self) -> Result<Vec<String>> {
        Ok(attr::list_dir(&self.path("sys/class/net"))?
            .into_iter()
            .filter(|n| check_netdev_name(n).is_ok())
            .collect())
    }

    /// Whether udev runs under this root (`run/udev/control` exists).
    pub fn udev_running(&self) -> bool {
        self.path("run/udev/control").exists()
    }

    fn udev_processed(&self, ifindex: Option<u32>) -> Option<bool> {
        if !self.udev_running() {
            return None;
        }
        // The database entry alone is not enough: the boot-path guest saw udev
        // rename a VF netdev after its entry existed. While udev has events
        // queued (`run/udev/queue` exists; what `udevadm settle` waits for) a
        // name may still change.
        Some(
            ifindex.is_some_and(|i| self.path(&format!("run/udev/data/n{i}")).exists())
                && !self.path("run/udev/queue").exists(),
        )
    }

    /// The netdev names under `sys/bus/pci/devices/<addr>/net/`, sorted.
    pub(crate) fn netdev_names(&self, addr: &PciAddress) -> Result<Vec<String>> {
        Ok(attr::list_dir(&self.device_file(addr, "net"))?
            .into_iter()
            .filter(|n| check_netdev_name(n).is_ok())
            .collect())
    }

    /// Every interface's addresses, from the configured [`AddressSource`]
    /// (one `getifaddrs(3)` call on the live system).
    ///
    /// # Errors
    /// The source could not be read.
    pub fn addresses(&self) -> Result<Addresses> {
        self.address_map()
    }

    /// Interface name -> addresses, from the configured [`AddressSource`].
    pub(crate) fn address_map(&self) -> Result<AddressMap> {
        match self.address_source() {
            AddressSource::Getifaddrs => getifaddrs_map(),
            AddressSource::ProcIfInet6 => {
                let path = self.path("proc/net/if_inet6");
                Ok(attr::read_opt(&path)?
                    .map(|s| parse_if_inet6(&s))
                    .unwrap_or_default())
            }
        }
    }
}

fn getifaddrs_map() -> Result<AddressMap> {
    let it = nix::ifaddrs::getifaddrs().map_err(|e| Error::Io {
        op: "listing interface addresses via",
        path: "getifaddrs(3)".into(),
        source: e.into(),
    })?;
    let mut map = AddressMap::new();
    for ifa in it {
        let Some(a) = ifa.address else { continue };
        let ip = if let Some(v4) = a.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = a.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        map.entry(ifa.interface_name).or_default().push(ip);
    }
    Ok(map)
}

/// Parses `/proc/net/if_inet6`: one address per line, `addr32hex ifindex plen scope
/// flags name` (see `net/ipv6/addrconf.c`, `if6_seq_show()`).
pub(crate) fn parse_if_inet6(s: &str) -> AddressMap {
    let mut map = AddressMap::new();
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(hex), Some(name)) = (f.first(), f.last()) else {
            continue;
        };
        if f.len() < 6 || hex.len() != 32 {
            continue;
        }
        let Ok(v) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        map.entry((*name).to_string())
            .or_default()
            .push(IpAddr::V6(Ipv6Addr::from(v)));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_inet6_lines() {
        // Captured from a Debian host: `cat /proc/net/if_inet6`.
        let s = "00000000000000000000000000000001 01 80 10 80       lo\n\
                 fe800000000000000211223344556677 03 40 20 80 enp2s0f0v0\n\
                 garbage\n";
        let m = parse_if_inet6(s);
        assert_eq!(m["lo"], vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(m["enp2s0f0v0"][0].to_string(), "fe80::211:2233:4455:6677");
        assert_eq!(m.len(), 2);
    }
}
