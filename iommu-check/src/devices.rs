//! Check 8: every SR-IOV PF and VF in an IOMMU group; a VF that shares its group with
//! devices it does not own cannot be given to a VM alone; a VF bound to vfio-pci has
//! its `/dev/vfio/<group>` node. PFs and VFs come from `sysfs-sriov`.

use std::collections::BTreeMap;

use sysfs_sriov::{PciAddress, Sysfs};

use crate::acs::{self, Acs};

use crate::iommu::Iommu;
use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

/// PCI class code of a PCI-to-PCI bridge (`0x0604xx`). vfio accepts bridges bound to
/// pcieport in a group (drivers/vfio/group.c: the driver allowlist), so a bridge is
/// not a device the VF has to share with a VM.
fn is_bridge(root: &Root, dev: &str) -> bool {
    let Ok(addr) = dev.parse::<PciAddress>() else {
        return false;
    };
    match root.read(&format!("sys/bus/pci/devices/{addr}/class")) {
        Read::Text(t) => t.trim().to_ascii_lowercase().starts_with("0x0604"),
        _ => false,
    }
}

/// Why the kernel did not isolate a device below `path` (nearest port first),
/// as a clause for the sharing message.
/// `pf_mf` is the PF's own ACS when it is one function of a multi-function
/// device.
fn why_shared(
    path: &[PciAddress],
    ports: &BTreeMap<PciAddress, Acs>,
    pf: &PciAddress,
    pf_mf: Option<&Acs>,
) -> String {
    let mut lacking = Vec::new();
    let mut unknown = Vec::new();
    for port in path {
        match ports.get(port) {
            Some(a) if a.isolates() => {}
            Some(a @ Acs::Unknown(_)) => unknown.push(format!("{port} ({})", a.describe())),
            Some(a) => lacking.push(format!("{port} ({})", a.describe())),
            None => unknown.push(port.to_string()),
        }
    }
    if !lacking.is_empty() {
        return format!(
            "; the port(s) above it do not isolate it: {}",
            lacking.join(", ")
        );
    }
    match pf_mf {
        Some(a) if !a.isolates() && !matches!(a, Acs::Unknown(_)) => {
            return format!(
                "; its PF {pf} is one function of a multi-function device whose functions are not isolated from each other ({}), unless a kernel quirk says they are",
                a.describe()
            );
        }
        Some(a @ Acs::Unknown(_)) => unknown.push(format!(
            "{pf} (a function of a multi-function device; {})",
            a.describe()
        )),
        _ => {}
    }
    if !unknown.is_empty() {
        format!(
            "; ACS of the device(s) that decide it: {}",
            unknown.join(", ")
        )
    } else if path.is_empty() && pf_mf.is_none() {
        String::new()
    } else {
        "; every port above it has ACS enabled, so the sharing comes from the device itself or a platform quirk".to_owned()
    }
}

/// Describes group members for a message: `0000:01:00.0 (its PF)`.
fn describe(dev: &str, pf: &PciAddress, siblings: &[PciAddress]) -> String {
    let Ok(addr) = dev.parse::<PciAddress>() else {
        return dev.to_owned();
    };
    if addr == *pf {
        format!("{dev} (its PF)")
    } else if siblings.contains(&addr) {
        format!("{dev} (another VF of the same PF)")
    } else {
        dev.to_owned()
    }
}

pub(crate) fn check(root: &Root, iommu: &Iommu, in_container: bool) -> Check {
    let sysfs = Sysfs::with_root(root.path(""));
    let devices = Root::shown("sys/bus/pci/devices");
    let pfs = match sysfs.pfs() {
        Ok(p) => p,
        Err(e) => {
            return Check::new(
                CheckId::Devices,
                Status::Warn,
                format!("cannot list SR-IOV devices: {e}"),
            )
            .with_evidence(devices, "unreadable")
            .with_remedy("Run the check as root on the host with sysfs mounted.");
        }
    };
    if pfs.is_empty() {
        return Check::new(
            CheckId::Devices,
            Status::Info,
            "no SR-IOV capable device found (no sriov_totalvfs in any PCI device)",
        )
        .with_evidence(devices, "no device with sriov_totalvfs");
    }

    let mut check = Check::new(CheckId::Devices, Status::Pass, "");
    let mut vf_total = 0usize;
    let mut vfio_total = 0usize;
    let (mut shared, mut missing_node, mut no_group) = (0usize, 0usize, 0usize);
    let iommu_on = iommu.active();
    // ACS of every port above a PF, read once per port.
    let mut ports: BTreeMap<PciAddress, Acs> = BTreeMap::new();
    for pf in &pfs {
        let pf_name = match pf.netdevs.first() {
            Some(n) => format!("{} ({n})", pf.address),
            None => pf.address.to_string(),
        };
        match pf.iommu_group {
            Some(g) => check.push_evidence(
                format!("{}/{}/iommu_group", devices, pf.address),
                format!("group {g}"),
            ),
            None if iommu_on => {
                no_group += 1;
                check.push_finding(
                    Status::Fail,
                    pf.address.to_string(),
                    format!("PF {pf_name} is in no IOMMU group"),
                );
            }
            None => {}
        }
        // The bridges between the PF (and so its VFs) and the root complex.
        let path: Vec<PciAddress> = acs::upstream(root, &pf.address);
        for port in &path {
            let a = ports
                .entry(*port)
                .or_insert_with(|| acs::of_port(root, port));
            if iommu_on {
                check.push_evidence(
                    format!("{devices}/{port}/config"),
                    format!("{} (above PF {})", a.describe(), pf.address),
                );
            }
        }
        // The PF's own ACS, when it is one function of several.
        let pf_mf = acs::of_multifunction(root, &pf.address);
        let vfs = match sysfs.vfs(&pf.address) {
            Ok(v) => v,
            Err(e) => {
                check.push_finding(
                    Status::Warn,
                    pf.address.to_string(),
                    format!("cannot read the VFs of {pf_name}: {e}"),
                );
                continue;
            }
        };
        if vfs.is_empty() {
            check.push_finding(
                Status::Info,
                pf.address.to_string(),
                format!(
                    "PF {pf_name}: no VFs enabled (sriov_numvfs {}, up to {})",
                    pf.sriov.num_vfs, pf.sriov.total_vfs
                ),
            );
        }
        let siblings: Vec<PciAddress> = vfs.iter().map(|v| v.address).collect();
        for vf in &vfs {
            vf_total += 1;
            let subject = vf.address.to_string();
            let Some(group) = vf.iommu_group else {
                if iommu_on {
                    no_group += 1;
                    check.push_finding(
                        Status::Fail,
                        subject,
                        format!("VF {} of {pf_name} is in no IOMMU group", vf.index),
                    );
                }
                continue;
            };
            let members: Vec<&String> = iommu
                .group(group)
                .map(|g| g.devices.iter().filter(|d| **d != subject).collect())
                .unwrap_or_default();
            let (bridges, others): (Vec<&String>, Vec<&String>) =
                members.into_iter().partition(|d| is_bridge(root, d));
            if !others.is_empty() {
                shared += 1;
                let named: Vec<String> = others
                    .iter()
                    .map(|d| describe(d, &pf.address, &siblings))
                    .collect();
                check.push_finding(
                    Status::Warn,
                    subject.clone(),
                    format!(
                        "VF {} of {pf_name} shares IOMMU group {group} with {}: it can only be passed through together with them, and none of them may stay on a host driver{}",
                        vf.index,
                        named.join(", "),
                        why_shared(&path, &ports, &pf.address, pf_mf.as_ref())
                    ),
                );
            } else if !bridges.is_empty() {
                check.push_finding(
                    Status::Info,
                    subject.clone(),
                    format!(
                        "VF {} shares IOMMU group {group} only with bridge(s) {}, which vfio accepts",
                        vf.index,
                        bridges.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            if vf.driver.as_deref() == Some("vfio-pci") {
                vfio_total += 1;
                let node = format!("dev/vfio/{group}");
                if vf.vfio_dev.is_some() {
                    check.push_evidence(Root::shown(&node), format!("present (VF {subject})"));
                } else {
                    missing_node += 1;
                    check.push_finding(
                        if in_container {
                            Status::Warn
                        } else {
                            Status::Fail
                        },
                        subject.clone(),
                        format!(
                            "VF {} is bound to vfio-pci but {} is missing{}",
                            vf.index,
                            Root::shown(&node),
                            if in_container {
                                " (possibly not passed into this container)"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
        }
    }

    let status = check
        .findings
        .iter()
        .fold(Status::Pass, |acc, f| acc.worst(f.status));
    check.status = status;
    let base = format!(
        "{} PF(s), {vf_total} VF(s), {vfio_total} bound to vfio-pci",
        pfs.len()
    );
    let mut problems = Vec::new();
    if no_group > 0 {
        problems.push(format!("{no_group} without an IOMMU group"));
    }
    if missing_node > 0 {
        problems.push(format!(
            "{missing_node} vfio-pci VF(s) without /dev/vfio node"
        ));
    }
    if shared > 0 {
        problems.push(format!("{shared} VF(s) share their IOMMU group"));
    }
    check.summary = if !iommu_on {
        format!("{base}; no IOMMU, so no device is in a group")
    } else if problems.is_empty() && vf_total > 0 {
        format!("{base}; every VF in an IOMMU group of its own")
    } else if problems.is_empty() {
        base
    } else {
        format!("{base}; {}", problems.join(", "))
    };
    if !iommu_on {
        check.push_finding(
            Status::Info,
            "iommu-groups",
            "no IOMMU: no device is in a group (see \"IOMMU in the kernel\")",
        );
        if check.status == Status::Pass {
            check.status = Status::Skip;
        }
    }
    let mut remedies = Vec::new();
    if shared > 0 {
        remedies.push("For a shared group, pass the whole group to one VM, or move the card to a slot whose root port has ACS (`lspci -vvv` shows ACSCtl); avoid pcie_acs_override, it only fakes isolation.");
    }
    if no_group > 0 {
        remedies.push("A device without an IOMMU group while the IOMMU is on usually sits behind a bridge the IOMMU does not cover: check `dmesg` for the device and the firmware's DMAR/IVRS device scopes.");
    }
    if missing_node > 0 {
        remedies.push("For a vfio-pci VF without /dev/vfio/<group>: check that devtmpfs is mounted on /dev and that vfio_iommu_type1 is loaded, then rebind (`sriov-cli` bind or `echo <addr> > /sys/bus/pci/drivers_probe`).");
    }
    if !remedies.is_empty() {
        check.remedy = Some(remedies.join(" "));
    }
    check
}
