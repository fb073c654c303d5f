//! Proxmox VE: the VFs that are passed through, their resource mappings,
//! and the `pvesh` calls that keep those mappings in line with sysfs.
//!
//! Nothing here writes `/etc/pve/mapping/pci.cfg`: every change goes through
//! the API (`pvesh`), which takes the cluster lock and checks the digest.

pub(crate) mod mapping;
pub(crate) mod pvesh;

use crate::config::{Config, DriverSpec, PfSpec, VfSpec};
use crate::state::HostState;
use mapping::MapEntry;

/// One passthrough VF with what Proxmox needs to know about it.
pub(crate) struct Passthrough<'a> {
    /// Its PF in the config.
    pub pf: &'a PfSpec,
    /// The VF in the config.
    pub vf: &'a VfSpec,
    /// Its PCI address (from sysfs, or computed for a VF not created yet).
    pub address: String,
    /// `vendor:device`.
    pub id: Option<String>,
    /// `subsystem_vendor:subsystem_device` (only for an existing VF).
    pub subsystem: Option<String>,
    /// IOMMU group (only for an existing VF).
    pub group: Option<u32>,
    /// Whether the VF exists in sysfs now.
    pub exists: bool,
}

impl Passthrough<'_> {
    /// The mapping id: the config's `mapping`, else derived from `vm` and
    /// the VLAN (`router0-v050`), else from the PF and VF index.
    pub fn mapping_name(&self) -> String {
        if let Some(m) = &self.vf.mapping {
            return m.clone();
        }
        let vlan = self.vf.vlan.and_then(|v| v.id).map(netlink_vf::VlanId::get);
        let name = match (&self.vf.vm, vlan) {
            (Some(vm), Some(v)) => format!("{vm}-v{v:03}"),
            (Some(vm), None) => format!("{vm}-trunk{}", self.vf.index),
            (None, Some(v)) => format!("{}-vf{}-v{v:03}", self.pf.key, self.vf.index),
            (None, None) => format!("{}-vf{}", self.pf.key, self.vf.index),
        };
        // A derived id must still be a mapping id: `.` and `:` (a VM's DNS
        // name, a PF given by PCI address) become `-`, and it starts with a
        // letter.
        let mut id: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
            id.insert_str(0, "vf-");
        }
        id
    }

    /// `VF 9 of enp2s0f1`: the mapping's description when the config gives
    /// none, and the node entry's own.
    pub fn label(&self) -> String {
        format!("VF {} of {}", self.vf.index, self.pf.key)
    }
}

/// The config's VFs that `keep` selects, with their PCI identity: as sysfs
/// shows the VF when it exists, else as it will be (the PF's VF offset,
/// stride and device id; the subsystem id is unknown until the VF exists).
fn select<'a>(
    cfg: &'a Config,
    st: &HostState,
    keep: &dyn Fn(&VfSpec) -> bool,
) -> Vec<Passthrough<'a>> {
    let mut out = Vec::new();
    for pf in &cfg.pfs {
        let live = st.find_pf(&pf.key);
        for vf in pf.vfs.iter().filter(|v| keep(v)) {
            let lv = live.and_then(|p| p.vf(vf.index));
            let Some(address) = live.and_then(|p| p.vf_address(vf.index)) else {
                continue;
            };
            let ids = lv.and_then(|v| v.ids);
            let id = match (ids, live) {
                (Some(ids), _) => Some((ids.vendor, ids.device)),
                (None, Some(p)) => p.sriov.map(|s| (p.vendor_id, s.vf_device)),
                _ => None,
            }
            .map(|(vendor, device)| format!("{vendor:04x}:{device:04x}"));
            out.push(Passthrough {
                pf,
                vf,
                address: address.to_string(),
                id,
                subsystem: ids.and_then(|i| i.subsystem).map(|s| s.to_string()),
                group: lv.and_then(|v| v.iommu_group),
                exists: lv.is_some(),
            });
        }
    }
    out
}

/// The vfio-pci VFs of the config (`generate pve-mapping`, `hostpci`).
pub(crate) fn passthrough<'a>(cfg: &'a Config, st: &HostState) -> Vec<Passthrough<'a>> {
    select(cfg, st, &|v| v.driver == Some(DriverSpec::VfioPci))
}

/// The VFs whose config names a `vm` or a `mapping`: the ones
/// `pve sync-mappings` keeps a mapping entry for (a VM takes a VF through a
/// mapping; a vfio-pci VF for no VM and no mapping is left to `hostpci`).
pub(crate) fn mapped<'a>(cfg: &'a Config, st: &HostState) -> Vec<Passthrough<'a>> {
    select(cfg, st, &|v| v.vm.is_some() || v.mapping.is_some())
}

/// One mapping as this node wants it.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    /// The mapping id.
    pub id: String,
    /// The description for a new mapping.
    pub description: String,
    /// This node's entries, one per VF, in config order.
    pub entries: Vec<MapEntry>,
    /// The VFs, `VF 9 of enp2s0f1`.
    pub vfs: Vec<String>,
}

/// The node entry for one VF: its current path, ids and IOMMU group, and
/// which VF it is.
pub(crate) fn entry(node: &str, p: &Passthrough<'_>) -> MapEntry {
    MapEntry::new(&[
        ("node", Some(node.to_string())),
        ("path", Some(p.address.clone())),
        ("id", p.id.clone()),
        ("subsystem-id", p.subsystem.clone()),
        ("iommugroup", p.group.map(|g| g.to_string())),
        ("description", Some(entry_description(p))),
    ])
}

/// A node entry's description: `VF 9 of enp2s0f1`, with what a property
/// string cannot hold (`,` and `=`) and any control character written as `-`.
fn entry_description(p: &Passthrough<'_>) -> String {
    p.label()
        .chars()
        .map(|c| {
            if c == ',' || c == '=' || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect()
}

/// The mappings this node wants, grouped by id (VFs sharing one id are one
/// mapping with several entries for this node: alternatives, of which a VM
/// start takes the first free one). Every VF must exist and have its ids
/// read from sysfs; the errors name each one that does not, and the fix.
pub(crate) fn wanted(cfg: &Config, st: &HostState, node: &str) -> Result<Vec<Wanted>, Vec<String>> {
    let mut errors = Vec::new();
    let mut out: Vec<Wanted> = Vec::new();
    for p in mapped(cfg, st) {
        let id = p.mapping_name();
        if let Err(why) = crate::config::check_mapping_id(&id) {
            errors.push(format!("{}: mapping id {id:?}: {why}", p.label()));
            continue;
        }
        if !p.exists || p.id.is_none() || p.group.is_none() {
            errors.push(format!(
                "{} ({}, mapping {id}) does not exist in sysfs now (or has no IOMMU group): run `sriov-cli setup` first, and check that the IOMMU is on (`sriov-cli check-iommu`)",
                p.label(),
                p.address
            ));
            continue;
        }
        let e = entry(node, &p);
        match out.iter_mut().find(|w| w.id == id) {
            Some(w) => {
                w.entries.push(e);
                w.vfs.push(p.label());
            }
            None => out.push(Wanted {
                id,
                description: p.vf.description.clone().unwrap_or_else(|| p.label()),
                entries: vec![e],
                vfs: vec![p.label()],
            }),
        }
    }
    // A VF of the config on a PF this host does not have is not selected by
    // `mapped` (no address): name it too.
    for pf in &cfg.pfs {
        if st.find_pf(&pf.key).is_none()
            && pf.vfs.iter().any(|v| v.vm.is_some() || v.mapping.is_some())
        {
            errors.push(format!(
                "PF {} of the config is not on this host: its VFs with a `vm` or `mapping` have no mapping entry; check the PF's name (or [node.{node}] section)",
                pf.key
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
