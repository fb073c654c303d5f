//! Filling a [`HostState`] from sysfs (always) and netlink (on the live
//! system only).

use std::collections::BTreeMap;
use std::path::Path;

use netlink_vf::{Handle, IpPrefix};
use sysfs_sriov::Sysfs;

use super::{Detail, HostError};
use crate::state::{HostState, LinkInfo, NetnsLink, PfState, VfAttrs, VfIds, VfState};

/// Reads sysfs under `root`, then netlink details through `nl` when given.
pub(super) fn read_state(
    sysfs: &Sysfs,
    root: &Path,
    nl: Option<&mut Handle>,
    detail: Detail,
) -> Result<HostState, HostError> {
    let mut st = HostState {
        netlink: nl.is_some(),
        ..HostState::default()
    };
    // One netlink dump of links and addresses serves the in-use checks and
    // the netlink details; without netlink, sysfs-sriov's own source, once.
    let mut nl = nl;
    let dumps = match nl.as_deref_mut() {
        Some(h) => Some((h.links()?, h.addresses(None)?)),
        None => None,
    };
    let pfs = sysfs.pfs()?;
    let addresses = match &dumps {
        Some((links, addrs)) => addresses_by_name(links, addrs),
        None if pfs.iter().any(|p| p.sriov.num_vfs > 0) => sysfs.addresses()?,
        None => sysfs_sriov::Addresses::new(),
    };
    for pf in pfs {
        let vfs = sysfs.vfs(&pf.address)?;
        // What is in use on each VF (for the recreate, reset and unbind
        // checks), on the VFs just resolved.
        let impact = if vfs.is_empty() {
            Vec::new()
        } else {
            sysfs.impact_with(&vfs, &addresses)?
        };
        let mut ps = PfState::new(pf.address);
        ps.netdevs.clone_from(&pf.netdevs);
        ps.driver.clone_from(&pf.driver);
        ps.total_vfs = u32::from(pf.sriov.total_vfs);
        ps.num_vfs = u32::from(pf.sriov.num_vfs);
        ps.vendor_id = pf.vendor_id;
        ps.device_id = pf.device_id;
        ps.vendor_name.clone_from(&pf.vendor_name);
        ps.device_name.clone_from(&pf.device_name);
        ps.iommu_group = pf.iommu_group;
        ps.sriov = Some(pf.sriov);
        ps.class = pf.class;
        ps.vfs = vfs
            .into_iter()
            .map(|v| {
                let mut vs = VfState::new(v.index, v.address);
                vs.driver = v.driver;
                vs.netdev = v.netdevs.first().cloned();
                vs.iommu_group = v.iommu_group;
                vs.vfio_dev = v.vfio_dev.map(|p| {
                    // Show the host path, not the fixture one.
                    let rel = p.strip_prefix(root).unwrap_or(&p);
                    Path::new("/").join(rel).display().to_string()
                });
                vs.device_name = v.device_name;
                vs.ids = Some(VfIds {
                    vendor: v.vendor_id,
                    device: v.device_id,
                    subsystem: v.subsystem,
                });
                vs
            })
            .collect();
        for c in impact {
            if let Some(v) = ps.vfs.iter_mut().find(|v| v.index == c.index) {
                v.in_use = c.reasons;
            }
        }
        st.pfs.push(ps);
    }
    // Every interface name, for "name already taken" checks.
    st.links.extend(sysfs.interface_names()?);
    if let (Some(nl), Some((links, addrs))) = (nl, dumps) {
        read_netlink(nl, &links, addrs, &mut st, detail)?;
        if detail == Detail::Stats {
            read_other_netns(root, &mut st);
        }
    }
    Ok(st)
}

/// `stats`: a VF on a network driver whose netdev is in no namespace of ours
/// and whose PF keeps no counters for it is looked for in the host's other
/// network namespaces (a container's, `ip netns`'): the netdev whose parent
/// (IFLA_PARENT_DEV_NAME, bus `pci`) is the VF's address. Best effort: a
/// namespace that cannot be entered or read is named in a note and skipped.
fn read_other_netns(root: &Path, st: &mut HostState) {
    // The VFs looked for, by PCI address: the search ends when all are found.
    let mut wanted: BTreeMap<String, &mut VfState> = st
        .pfs
        .iter_mut()
        .flat_map(|p| &mut p.vfs)
        .filter(|v| {
            v.netdev.is_none()
                && v.driver.as_deref().is_some_and(|d| d != "vfio-pci")
                && v.attrs.as_ref().and_then(|a| a.stats).is_none()
        })
        .map(|v| (v.address.to_string(), v))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    match netlink_vf::namespaces(root) {
        Err(e) => notes.push(format!(
            "the other network namespaces (a container's) were not searched for VF netdevs: {e}"
        )),
        Ok(all) => {
            for ns in &all {
                if wanted.is_empty() {
                    break;
                }
                match Handle::in_netns(&ns.path).and_then(|mut h| h.links()) {
                    Ok(links) => {
                        for l in links {
                            if l.parent_bus.as_deref() != Some("pci") {
                                continue;
                            }
                            let Some(v) = l.parent_dev.as_ref().and_then(|d| wanted.remove(d))
                            else {
                                continue;
                            };
                            v.netns_link = Some(NetnsLink {
                                netns: ns.label(),
                                name: l.name.to_string(),
                                stats: l.stats,
                            });
                        }
                    }
                    // The process ended between the listing and the open.
                    Err(e) if e.errno() == Some(libc::ENOENT) || e.errno() == Some(libc::ESRCH) => {
                    }
                    Err(e) => {
                        let hint = matches!(e.errno(), Some(libc::EPERM | libc::EACCES));
                        notes.push(format!(
                            "{ns} was not searched for VF netdevs: {e}{}",
                            if hint { " (run as root)" } else { "" }
                        ));
                    }
                }
            }
        }
    }
    st.notes.extend(notes);
}

/// Reads the netlink fields of `st` again, keeping what sysfs showed.
pub(super) fn refresh_netlink(nl: &mut Handle, st: &mut HostState) -> Result<(), HostError> {
    let (links, addrs) = (nl.links()?, nl.addresses(None)?);
    read_netlink(nl, &links, addrs, st, Detail::Plan)
}

/// Interface name -> its addresses, from the netlink dumps, as sysfs-sriov's
/// in-use check takes them.
fn addresses_by_name(
    links: &[netlink_vf::Link],
    addrs: &[netlink_vf::Address],
) -> sysfs_sriov::Addresses {
    let names: BTreeMap<u32, &str> = links.iter().map(|l| (l.index, l.name.as_str())).collect();
    let mut out = sysfs_sriov::Addresses::new();
    for a in addrs {
        if let Some(n) = names.get(&a.index) {
            out.entry((*n).to_string())
                .or_default()
                .push(a.prefix.addr());
        }
    }
    out
}

fn read_netlink(
    nl: &mut Handle,
    links: &[netlink_vf::Link],
    addresses: Vec<netlink_vf::Address>,
    st: &mut HostState,
    detail: Detail,
) -> Result<(), HostError> {
    let by_name: BTreeMap<&str, &netlink_vf::Link> =
        links.iter().map(|l| (l.name.as_str(), l)).collect();
    let by_index: BTreeMap<u32, &str> = links.iter().map(|l| (l.index, l.name.as_str())).collect();
    st.links
        .extend(links.iter().map(|l| l.name.as_str().to_string()));
    let mut addrs: BTreeMap<u32, Vec<IpPrefix>> = BTreeMap::new();
    for a in addresses {
        addrs.entry(a.index).or_default().push(a.prefix);
    }
    let mut routes = Vec::new();
    for r in nl.routes()? {
        if r.is_default() && r.table == 254 {
            if let (Some(g), Some(oif)) = (r.gateway, r.oif) {
                if let Some(n) = by_index.get(&oif) {
                    routes.push((g, (*n).to_string()));
                }
            }
        }
    }
    st.default_routes = Some(routes);
    for pf in &mut st.pfs {
        // Nothing of an earlier reading stays (a refresh fills in again).
        (pf.ifindex, pf.up, pf.carrier) = (None, None, None);
        for v in &mut pf.vfs {
            (v.attrs, v.link) = (None, None);
        }
        let Some(l) = pf.netdevs.first().and_then(|n| by_name.get(n.as_str())) else {
            continue;
        };
        pf.ifindex = Some(l.index);
        pf.up = Some(l.up);
        pf.carrier = Some(l.up && l.lower_up);
        // `ethtool -i`: best effort, a driver without get_drvinfo leaves
        // both unknown ("where readable").
        // Only status shows them: setup's many readings skip the ioctl.
        if detail == Detail::Status {
            if let Ok(info) = nl.driver_info(&l.name) {
                pf.driver_version = info.version;
                pf.firmware = info.firmware_version;
            }
        }
        let vfs = nl.vfs(l.index, detail == Detail::Stats)?;
        // A driver without per-VF counters gets IFLA_VF_STATS zeroed by the
        // kernel: those zeros are "not counted", so no stats at all.
        let counted = pf
            .driver
            .as_deref()
            .is_none_or(netlink_vf::driver_counts_vf_stats);
        for v in &mut pf.vfs {
            v.attrs = Some(
                vfs.iter()
                    .find(|s| s.index == v.index)
                    .map(attrs_of)
                    .map(|mut a| {
                        if !counted {
                            a.stats = None;
                        }
                        a
                    })
                    .unwrap_or_default(),
            );
            if let Some(link) = v.netdev.as_deref().and_then(|n| by_name.get(n)) {
                v.link = Some(LinkInfo {
                    ifindex: link.index,
                    up: link.up,
                    promisc: link.promisc,
                    mtu: link.mtu,
                    addresses: addrs.get(&link.index).cloned().unwrap_or_default(),
                    mac: link.mac,
                    stats: link.stats.filter(|_| detail == Detail::Stats),
                });
            }
        }
    }
    Ok(())
}

fn attrs_of(s: &netlink_vf::VfState) -> VfAttrs {
    VfAttrs {
        mac: s.mac,
        vlan: Some(netlink_vf::VlanConfig {
            id: s.vlan,
            qos: s.qos.unwrap_or_default(),
            proto: s.vlan_proto.unwrap_or_default(),
        }),
        trust: s.trust,
        spoofchk: s.spoofchk,
        link_state: s.link_state,
        min_tx_rate: s.min_tx_rate,
        max_tx_rate: s.max_tx_rate,
        query_rss: s.query_rss,
        stats: s.stats,
    }
}
