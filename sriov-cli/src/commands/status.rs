//! `status`: PFs and their VFs, as tables or JSON.

use std::io::Write;

use serde::Serialize;

use crate::host::{Detail, Host};
use crate::render::table;
use crate::state::{PfState, VfState};
use crate::{CliError, Ctx};

/// `status --json`: the same structs the table shows.
#[derive(Serialize)]
struct StatusJson<'a> {
    /// Whether netlink-backed fields were read.
    netlink: bool,
    /// The PFs.
    pfs: Vec<&'a PfState>,
    /// This node's resource mapping entries that no longer match sysfs:
    /// only on a Proxmox VE node (pvesh found).
    #[serde(skip_serializing_if = "Option::is_none")]
    mappings: Option<super::pve::MappingCheck>,
}

const NA: &str = "n/a";

fn onoff(b: Option<bool>) -> String {
    b.map_or_else(
        || NA.to_string(),
        |b| if b { "on" } else { "off" }.to_string(),
    )
}

fn vf_row(v: &VfState) -> Vec<String> {
    let a = v.attrs.as_ref();
    let na = || NA.to_string();
    vec![
        v.index.to_string(),
        v.address.to_string(),
        v.netdev.clone().unwrap_or_default(),
        v.driver.clone().unwrap_or_else(|| "(none)".into()),
        a.map_or_else(na, |a| a.mac.map_or_else(na, |m| m.to_string())),
        a.map_or_else(na, |a| {
            a.vlan.map_or_else(na, |v| {
                let mut s =
                    v.id.map_or_else(|| "-".to_string(), |id| id.get().to_string());
                if v.qos.get() != 0 {
                    s.push_str(&format!(" qos {}", v.qos.get()));
                }
                if v.proto == netlink_vf::VlanProto::Dot1Ad {
                    s.push_str(" 802.1ad");
                }
                s
            })
        }),
        onoff(a.and_then(|a| a.trust)),
        onoff(a.and_then(|a| a.spoofchk)),
        a.and_then(|a| a.link_state)
            .map_or_else(na, |s| s.to_string()),
        a.map_or_else(na, |a| match (a.min_tx_rate, a.max_tx_rate) {
            (None, None) => NA.to_string(),
            (lo, hi) => format!("{}/{}", lo.unwrap_or(0), hi.unwrap_or(0)),
        }),
        v.iommu_group.map(|g| g.to_string()).unwrap_or_default(),
        v.vfio_dev.clone().unwrap_or_default(),
    ]
}

/// The PF's heading line: identity, driver (with its version when readable),
/// ids, VF count, IOMMU group and firmware version (`n/a` when unreadable:
/// under `--root`, or a driver that does not answer `ethtool -i`).
fn pf_heading(p: &PfState) -> String {
    let name = match (&p.vendor_name, &p.device_name) {
        (Some(v), Some(d)) => format!("{v} {d}"),
        (None, Some(d)) => d.clone(),
        _ => String::new(),
    };
    let driver = match (&p.driver, &p.driver_version) {
        (Some(d), Some(v)) => format!("{d} {v}"),
        (Some(d), None) => d.clone(),
        (None, _) => "(none)".to_string(),
    };
    let mut head = format!(
        "PF {}  {}  driver {driver}  {name} [{:04x}:{:04x}]  VFs {} of {}",
        p.label(),
        p.address,
        p.vendor_id,
        p.device_id,
        p.num_vfs,
        p.total_vfs
    );
    if let Some(g) = p.iommu_group {
        head.push_str(&format!("  IOMMU group {g}"));
    }
    head.push_str(&format!(
        "  firmware {}",
        p.firmware.as_deref().unwrap_or(NA)
    ));
    // Known only through netlink (not under --root).
    match (p.up, p.carrier) {
        (Some(false), _) => head.push_str("  link down"),
        (Some(true), Some(true)) => head.push_str("  link up"),
        (Some(true), _) => head.push_str("  link up, no carrier"),
        (None, _) => {}
    }
    head
}

/// VFs whose netdev uses another MAC than the one the PF set for the VF: the
/// PF drops their traffic as spoofed until the VF driver reloads.
fn stale_macs(p: &PfState) -> Vec<String> {
    p.vfs
        .iter()
        .filter_map(|v| {
            let set = v.attrs.as_ref()?.mac.filter(|m| !m.is_zero())?;
            let used = v.link.as_ref()?.mac?;
            (used != set).then(|| {
                format!(
                    "VF {}: netdev {} uses MAC {used}, but the PF set {set} for the VF, so the PF may drop its traffic; reload its driver ({}): `sriov-cli setup` does when the config sets this MAC (--force-unbind if the netdev is in use)",
                    v.index,
                    v.netdev.as_deref().unwrap_or("?"),
                    v.driver.as_deref().unwrap_or("?")
                )
            })
        })
        .collect()
}

pub(crate) fn status(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    pf: Option<&str>,
    json: bool,
) -> Result<u8, CliError> {
    if let Some(n) = host.netlink_note() {
        if ctx.verbose > 0 || !json {
            ctx.note(&n);
        }
    }
    let found = match pf {
        None => None,
        Some(spec) => Some(
            host.find_pf(spec)
                .map_err(|e| CliError::Usage(crate::host::chain(&e)))?,
        ),
    };
    let st = host.read(Detail::Status)?;
    let pfs: Vec<&PfState> = st
        .pfs
        .iter()
        .filter(|p| found.is_none_or(|a| p.address == a))
        .collect();
    // On a Proxmox VE node: this node's mapping entries against sysfs.
    let mappings = super::pve::check_mappings(ctx, &st);
    if json {
        out.write_all(
            crate::render::json(&StatusJson {
                netlink: st.netlink,
                pfs,
                mappings,
            })
            .as_bytes(),
        )?;
        return Ok(0);
    }
    if let Some(m) = &mappings {
        super::pve::warn_stale(ctx, m);
    }
    if pfs.is_empty() {
        writeln!(
            out,
            "No SR-IOV capable PCI devices found under {}.",
            ctx.root.display()
        )?;
        return Ok(0);
    }
    let s = ctx.out_style;
    for (i, p) in pfs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let head = pf_heading(p);
        writeln!(out, "{}", s.bold(&head))?;
        if p.vfs.is_empty() {
            writeln!(out, "  no VFs")?;
            continue;
        }
        let rows: Vec<Vec<String>> = p.vfs.iter().map(vf_row).collect();
        out.write_all(
            table(
                &[
                    "VF", "PCI", "NETDEV", "DRIVER", "MAC", "VLAN", "TRUST", "SPOOFCHK", "STATE",
                    "RATE", "IOMMU", "VFIO",
                ],
                &rows,
                s,
            )
            .as_bytes(),
        )?;
        for w in stale_macs(p) {
            ctx.warn(&w);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_shows_driver_and_firmware_versions_where_readable() {
        let mut p = PfState {
            netdevs: vec!["enp2s0f0".into()],
            driver: Some("i40e".into()),
            total_vfs: 64,
            vendor_id: 0x8086,
            device_id: 0x1572,
            device_name: Some("X710".into()),
            ..PfState::new("0000:02:00.0".parse().unwrap())
        };
        assert_eq!(
            pf_heading(&p),
            "PF enp2s0f0  0000:02:00.0  driver i40e  X710 [8086:1572]  VFs 0 of 64  firmware n/a"
        );
        p.driver_version = Some("6.8.12-4-pve".into());
        p.firmware = Some("9.20 0x8000d95e 1.3146.0".into());
        p.iommu_group = Some(20);
        assert_eq!(
            pf_heading(&p),
            "PF enp2s0f0  0000:02:00.0  driver i40e 6.8.12-4-pve  X710 [8086:1572]  VFs 0 of 64  IOMMU group 20  firmware 9.20 0x8000d95e 1.3146.0"
        );
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["driver_version"], "6.8.12-4-pve");
        assert_eq!(j["firmware"], "9.20 0x8000d95e 1.3146.0");
        // Link state, only when netlink saw it.
        assert!(j.get("up").is_none());
        p.up = Some(true);
        p.carrier = Some(false);
        assert!(pf_heading(&p).ends_with("  link up, no carrier"));
        p.carrier = Some(true);
        assert!(pf_heading(&p).ends_with("  link up"));
        p.up = Some(false);
        assert!(pf_heading(&p).ends_with("  link down"));
    }

    #[test]
    fn a_netdev_mac_other_than_the_pf_set_one_is_named() {
        use crate::state::{LinkInfo, VfAttrs, VfState};
        let vf = |i: u32, set: &str, used: &str| VfState {
            netdev: Some(format!("eth{i}")),
            driver: Some("igbvf".into()),
            attrs: Some(VfAttrs {
                mac: Some(set.parse().unwrap()),
                ..VfAttrs::default()
            }),
            link: Some(LinkInfo {
                mac: Some(used.parse().unwrap()),
                ..LinkInfo::default()
            }),
            ..VfState::new(i, "0000:02:10.0".parse().unwrap())
        };
        let p = PfState {
            vfs: vec![
                vf(0, "02:00:00:00:00:01", "02:00:00:00:00:01"),
                vf(1, "02:00:00:00:00:02", "7e:11:22:33:44:55"),
                // No MAC set by the PF (zero): nothing to compare.
                vf(2, "00:00:00:00:00:00", "7e:11:22:33:44:56"),
            ],
            ..PfState::new("0000:02:00.0".parse().unwrap())
        };
        let w = stale_macs(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "VF 1: netdev eth1 uses MAC 7e:11:22:33:44:55, but the PF set 02:00:00:00:00:02"
            ),
            "{}",
            w[0]
        );
    }
}
