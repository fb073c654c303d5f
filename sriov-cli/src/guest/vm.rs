//! `/etc/pve/qemu-server/<vmid>.conf` (read only: `qm set` writes it) and
//! `/etc/pve/mapping/pci.cfg` (read only: the API writes it).

use std::collections::BTreeMap;

use super::{numbered, pve_key, section_header};

/// The most `hostpciN` a VM has (qemu-server src/PVE/QemuServer/PCI.pm
/// `$MAX_HOSTPCI_DEVICES`): indexes 0..16.
pub(crate) const MAX_HOSTPCI: u32 = 16;

/// What a VM config says about PCI passthrough.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct VmConf {
    /// `hostpciN` of the main and `[PENDING]` sections (a pending one is
    /// taken at the next start): index -> value.
    pub hostpci: BTreeMap<u32, String>,
    /// The machine type is q35 (`pcie=1` needs it).
    pub q35: bool,
}

/// Parses a VM config as qemu-server src/PVE/QemuServer.pm `parse_vm_config`
/// splits it: sections at `[...]`, `key: value` lines; snapshots are skipped.
pub(crate) fn parse(conf: &str) -> VmConf {
    let mut v = VmConf::default();
    let mut section: Option<String> = None;
    for line in conf.lines() {
        if let Some(s) = section_header(line) {
            section = Some(s.to_ascii_lowercase());
            continue;
        }
        let main = section.is_none();
        if !main && section.as_deref() != Some("pending") {
            continue;
        }
        let Some((k, val)) = pve_key(line) else {
            continue;
        };
        if let Some(n) = numbered(k, "hostpci") {
            v.hostpci.entry(n).or_insert_with(|| val.to_string());
        } else if k == "machine" && main {
            v.q35 = machine_is_q35(val);
        }
    }
    v
}

/// `machine: q35`, `pc-q35-9.0+pve1`, `type=q35,viommu=intel`: the base
/// type is q35 when the type holds `q35` (qemu-server
/// src/PVE/QemuServer/Machine.pm `machine_base_type`).
fn machine_is_q35(value: &str) -> bool {
    value
        .split(',')
        .find_map(|p| match p.split_once('=') {
            None => Some(p),
            Some(("type", t)) => Some(t),
            Some(_) => None,
        })
        .is_some_and(|t| t.contains("q35"))
}

/// The device of a `hostpciN` value: `mapping=<id>` or the host address
/// (`host=` or the default key; `01:00.1` means domain 0000), lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Device {
    /// A resource mapping id.
    Mapping(String),
    /// A host PCI address (one function; `;` lists are kept as written).
    Host(String),
}

/// Parses a `hostpciN` value's device (qemu-server
/// src/PVE/QemuServer/PCI.pm `$hostpci_fmt`: `host` is the default key).
pub(crate) fn device(value: &str) -> Option<Device> {
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("mapping", m)) => return Some(Device::Mapping(m.to_string())),
            Some(("host", h)) => return Some(Device::Host(norm_addr(h))),
            None => return Some(Device::Host(norm_addr(part))),
            Some(_) => {}
        }
    }
    None
}

fn norm_addr(a: &str) -> String {
    let a = a.to_ascii_lowercase();
    if a.matches(':').count() == 1 {
        format!("0000:{a}")
    } else {
        a
    }
}

/// The mapping ids of `/etc/pve/mapping/pci.cfg` with an entry for `node`
/// at `path` (pve-guest-common src/PVE/Mapping/PCI.pm: a section starts
/// with a line holding the id alone, then tab-indented `map node=...,path=...`
/// lines).
pub(crate) fn mappings_at(pci_cfg: &str, node: &str, path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut id: Option<&str> = None;
    for line in pci_cfg.lines() {
        if !line.starts_with(char::is_whitespace) {
            let t = line.trim();
            id = (!t.is_empty() && !t.contains(char::is_whitespace)).then_some(t);
            continue;
        }
        let Some(map) = line.trim().strip_prefix("map ") else {
            continue;
        };
        let mut n = None;
        let mut p = None;
        for kv in map.trim().split(',') {
            match kv.split_once('=') {
                Some(("node", v)) => n = Some(v),
                Some(("path", v)) => p = Some(v.to_ascii_lowercase()),
                _ => {}
            }
        }
        if let Some(i) = id {
            if n == Some(node) && p.as_deref() == Some(path) && !out.iter().any(|o| o == i) {
                out.push(i.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostpci_indexes_machine_and_devices() {
        let v = parse("machine: pc-q35-9.0+pve1\nhostpci0: 0000:01:00.0,pcie=1\nhostpci3: mapping=r0\n[PENDING]\nhostpci5: 02:00.1\n[snap]\nhostpci9: x\n");
        assert!(v.q35);
        assert_eq!(v.hostpci.keys().copied().collect::<Vec<_>>(), [0, 3, 5]);
        assert_eq!(
            device(&v.hostpci[&0]),
            Some(Device::Host("0000:01:00.0".into()))
        );
        assert_eq!(device(&v.hostpci[&3]), Some(Device::Mapping("r0".into())));
        assert_eq!(
            device(&v.hostpci[&5]),
            Some(Device::Host("0000:02:00.1".into()))
        );
        assert!(!parse("machine: pc-i440fx-9.0\n").q35);
        assert!(parse("machine: type=q35,viommu=intel\n").q35);
        assert!(!parse("ostype: l26\n").q35);
    }

    #[test]
    fn mappings_of_this_node_at_this_path() {
        let cfg = "r0-v050\n\tmap node=pve2,path=0000:02:02.1,id=8086:154c\n\tmap node=pve1,path=0000:02:02.1,id=8086:154c\n\nother\n\tmap node=pve1,path=0000:02:03.0,id=8086:154c\n";
        assert_eq!(mappings_at(cfg, "pve1", "0000:02:02.1"), ["r0-v050"]);
        assert!(mappings_at(cfg, "pve3", "0000:02:02.1").is_empty());
    }
}
