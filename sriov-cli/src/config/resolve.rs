//! Resolving a raw `[[pf]]` into a [`PfSpec`]: selectors expanded, entries
//! merged per VF, every value checked; and the rules across PFs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netlink_vf::{IfName, MacAddr};
use sysfs_sriov::PciAddress;

use super::diag::{Diag, Loc, Src};
use super::raw::{RawPf, RawVf, S};
use super::vf::{resolve_vf, AutoMac};
use super::{PfKey, PfSpec};

pub(super) fn check_node_id(id: &S<i64>, src: &Src<'_>, diags: &mut Vec<Diag>) -> Option<u8> {
    match u8::try_from(*id.get_ref()) {
        Ok(v) => Some(v),
        Err(_) => {
            diags.push(Diag {
                loc: Some(src.loc(id.span().start)),
                msg: format!("node id {} out of range 0-255", id.get_ref()),
            });
            None
        }
    }
}

/// Parses `"0-3,8,10-11"` into indices.
pub(super) fn parse_range(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| format!("range `{s}`: `{part}` is not N or N-M"))?;
        let b: u32 = b
            .parse()
            .map_err(|_| format!("range `{s}`: `{part}` is not N or N-M"))?;
        if b < a {
            return Err(format!("range `{s}`: `{part}` runs backwards"));
        }
        if b - a > 65535 {
            return Err(format!("range `{s}` is too large"));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

pub(super) fn resolve_pf(
    rp: &S<RawPf>,
    src: &Src<'_>,
    cluster: &str,
    node_id: Option<u8>,
    diags: &mut Vec<Diag>,
) -> Option<PfSpec> {
    let loc = Some(src.loc(rp.span().start));
    let p = rp.get_ref();
    let d0 = diags.len();
    let key_loc = p
        .name
        .as_ref()
        .map(|n| n.span().start)
        .or(p.pci.as_ref().map(|a| a.span().start))
        .map(|o| src.loc(o));
    let num_vfs_loc = p.num_vfs.as_ref().map(|n| src.loc(n.span().start));
    let key = pf_key(p, loc, src, diags)?;
    let num_vfs = match &p.num_vfs {
        None => {
            diags.push(Diag {
                loc,
                msg: format!("PF {key}: `num_vfs` is required"),
            });
            return None;
        }
        Some(n) => match u32::try_from(*n.get_ref()).ok().filter(|v| *v <= 65535) {
            Some(v) => v,
            None => {
                diags.push(Diag {
                    loc: Some(src.loc(n.span().start)),
                    msg: format!("num_vfs {} out of range 0-65535", n.get_ref()),
                });
                return None;
            }
        },
    };

    // Expand selectors, merge entries per index.
    let mut merged: BTreeMap<u32, (RawVf, usize)> = BTreeMap::new();
    for entry in &p.vf {
        let v = entry.get_ref();
        let eloc = src.loc(entry.span().start);
        let Some(idx) = selected(v, eloc, src, diags) else {
            continue;
        };
        let selector_loc = v
            .index
            .as_ref()
            .map(|s| s.span().start)
            .or(v.range.as_ref().map(|s| s.span().start))
            .or(v.indices.as_ref().map(|s| s.span().start))
            .unwrap_or(entry.span().start);
        let many = idx.len() > 1;
        for field in [
            (
                "mac",
                v.mac
                    .as_ref()
                    .filter(|m| m.get_ref() != "auto")
                    .map(|m| m.span().start),
            ),
            ("addresses", v.addresses.as_ref().map(|a| a.span().start)),
            ("gateway", v.gateway.as_ref().map(|a| a.span().start)),
        ] {
            if let (true, Some(off)) = (many, field.1) {
                diags.push(Diag {
                    loc: Some(src.loc(off)),
                    msg: format!(
                        "`{}` cannot be shared by several VFs; set it in a per-VF entry",
                        field.0
                    ),
                });
            }
        }
        if let (true, Some(n)) = (many, &v.name) {
            if !n.get_ref().contains("{index}") {
                diags.push(Diag {
                    loc: Some(src.loc(n.span().start)),
                    msg: "a `name` shared by several VFs must contain `{index}`".into(),
                });
            }
        }
        for i in idx {
            if i >= num_vfs {
                diags.push(Diag {
                    loc: Some(src.loc(selector_loc)),
                    msg: format!("VF index {i} is not below num_vfs = {num_vfs} of PF {key}"),
                });
                continue;
            }
            match merged.get_mut(&i) {
                Some((acc, _)) => acc.merge(v, src, i, diags),
                None => {
                    let mut acc = RawVf::default();
                    acc.merge(v, src, i, diags);
                    merged.insert(i, (acc, entry.span().start));
                }
            }
        }
    }

    let mut vfs = Vec::new();
    for (index, (raw, start)) in merged {
        let auto = AutoMac { cluster, node_id };
        if let Some(vf) = resolve_vf(&key, index, &raw, start, src, &auto, diags) {
            vfs.push(vf);
        }
    }
    if diags.len() > d0 {
        return None;
    }
    Some(PfSpec {
        key,
        loc,
        key_loc,
        num_vfs_loc,
        num_vfs,
        up: p.up.as_ref().map(|u| *u.get_ref()),
        up_loc: p.up.as_ref().map(|u| src.loc(u.span().start)),
        vfs,
    })
}

fn is_pci_address(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (dom_ok, rest) = match parts.as_slice() {
        [d, b, df] => (hex(d, 4), (*b, *df)),
        [b, df] => (true, (*b, *df)),
        _ => return false,
    };
    let Some((dev, func)) = rest.1.split_once('.') else {
        return false;
    };
    dom_ok
        && hex(rest.0, 2)
        && hex(dev, 2)
        && u8::from_str_radix(dev, 16).is_ok_and(|d| d < 32)
        && func.len() == 1
        && func.chars().all(|c| ('0'..='7').contains(&c))
}

/// The guide's MAC scheme: `xx:xx:xx:yy:VV:VV`, `xx` from a hash of the cluster
/// name and PF, locally administered and unicast; `yy` the node id; the VLAN
/// written so that it reads as decimal (VLAN 50 -> `00:50`, 1234 -> `12:34`).
pub fn auto_mac(cluster: &str, pf: &str, node_id: u8, vlan: u16) -> MacAddr {
    // FNV-1a 64: stable across versions and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cluster.bytes().chain([0u8]).chain(pf.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    let hi = vlan / 100;
    let lo = vlan % 100;
    let bcd = |n: u16| -> u8 {
        let n = u8::try_from(n).unwrap_or(0);
        ((n / 10) << 4) | (n % 10)
    };
    MacAddr([(b[0] & 0xfc) | 0x02, b[1], b[2], node_id, bcd(hi), bcd(lo)])
}

/// several default gateways of one family.
/// Rules across PFs: one PF listed twice, VF names used twice, MACs used twice,
pub(super) fn check_cross_pf(pfs: &[PfSpec], diags: &mut Vec<Diag>) {
    for (i, a) in pfs.iter().enumerate() {
        if let Some(b) = pfs.iter().take(i).find(|b| b.key == a.key) {
            diags.push(Diag {
                loc: a.loc,
                msg: format!(
                    "PF {} is already configured at {}",
                    a.key,
                    b.loc.map_or_else(String::new, |l| l.to_string())
                ),
            });
        }
    }
    let mut names: BTreeMap<&str, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    let mut macs: BTreeMap<MacAddr, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    let mut gw: BTreeMap<bool, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    let mut addrs: BTreeMap<IpAddr, (&PfKey, u32, Option<Loc>)> = BTreeMap::new();
    for pf in pfs {
        for vf in &pf.vfs {
            for (i, a) in vf.addresses.iter().enumerate() {
                let loc = vf.address_locs.get(i).copied().flatten().or(vf.loc);
                if let Some((k, j, l)) = addrs.get(&a.addr()) {
                    diags.push(Diag {
                        loc,
                        msg: format!(
                            "VF {} of {}: address {} is already used by VF {j} of {k}{}; an address belongs on one interface",
                            vf.index,
                            pf.key,
                            a.addr(),
                            at(*l)
                        ),
                    });
                } else {
                    addrs.insert(a.addr(), (&pf.key, vf.index, loc));
                }
            }
            if let Some(n) = &vf.name {
                if let Some((k, i, l)) = names.get(n.as_str()) {
                    diags.push(Diag {
                        loc: vf.loc,
                        msg: format!(
                            "VF {} of {}: name `{n}` is already used by VF {i} of {k}{}",
                            vf.index,
                            pf.key,
                            at(*l)
                        ),
                    });
                } else {
                    names.insert(n.as_str(), (&pf.key, vf.index, vf.loc));
                }
            }
            if let Some(m) = vf.mac {
                if let Some((k, i, l)) = macs.get(&m) {
                    let hint = if vf.mac_auto {
                        " (auto MACs differ only by node and VLAN: set `mac` explicitly for one of them)"
                    } else {
                        ""
                    };
                    diags.push(Diag {
                        loc: vf.loc,
                        msg: format!(
                            "VF {} of {}: MAC {m} is already used by VF {i} of {k}{}{hint}",
                            vf.index,
                            pf.key,
                            at(*l)
                        ),
                    });
                } else {
                    macs.insert(m, (&pf.key, vf.index, vf.loc));
                }
            }
            if let Some(g) = vf.gateway.filter(|_| vf.lxc.is_none()) {
                if let Some((k, i, l)) = gw.get(&g.is_ipv4()) {
                    diags.push(Diag {
                        loc: vf.loc,
                        msg: format!(
                            "VF {} of {}: a default gateway is already set on VF {i} of {k}{}",
                            vf.index,
                            pf.key,
                            at(*l)
                        ),
                    });
                } else {
                    gw.insert(g.is_ipv4(), (&pf.key, vf.index, vf.loc));
                }
            }
        }
    }
}

pub(super) fn at(l: Option<Loc>) -> String {
    l.map_or_else(String::new, |l| format!(" (at {l})"))
}

/// The PF's `name` or `pci`, checked.
fn pf_key(p: &RawPf, loc: Option<Loc>, src: &Src<'_>, diags: &mut Vec<Diag>) -> Option<PfKey> {
    Some(match (&p.name, &p.pci) {
        (Some(n), None) => {
            if let Err(e) = IfName::new(n.get_ref()) {
                diags.push(Diag {
                    loc: Some(src.loc(n.span().start)),
                    msg: format!("PF name: {e}"),
                });
            }
            PfKey::Name(n.get_ref().clone())
        }
        (None, Some(a)) => {
            let address = match a.get_ref().parse::<PciAddress>() {
                Ok(address) if is_pci_address(a.get_ref()) => address,
                _ => {
                    diags.push(Diag {
                        loc: Some(src.loc(a.span().start)),
                        msg: format!(
                            "`{}` is not a PCI address (want DDDD:BB:DD.F like 0000:02:00.0)",
                            a.get_ref()
                        ),
                    });
                    return None;
                }
            };
            PfKey::Pci {
                address,
                written: a.get_ref().clone(),
            }
        }
        (Some(_), Some(a)) => {
            diags.push(Diag {
                loc: Some(src.loc(a.span().start)),
                msg: "set either `name` or `pci` for a PF, not both".into(),
            });
            return None;
        }
        (None, None) => {
            diags.push(Diag {
                loc,
                msg: "[[pf]] needs `name = \"<netdev>\"` or `pci = \"0000:02:00.0\"`".into(),
            });
            return None;
        }
    })
}

/// The VF indices one `[[pf.vf]]` entry selects (`index`, `range` or
/// `indices`: exactly one of them).
fn selected(v: &RawVf, eloc: Loc, src: &Src<'_>, diags: &mut Vec<Diag>) -> Option<Vec<u32>> {
    let sel = [v.index.is_some(), v.range.is_some(), v.indices.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if sel != 1 {
        diags.push(Diag {
            loc: Some(eloc),
            msg: "[[pf.vf]] needs exactly one of `index`, `range` or `indices`".into(),
        });
        return None;
    }
    if let Some(i) = &v.index {
        match u32::try_from(*i.get_ref()) {
            Ok(i) => Some(vec![i]),
            Err(_) => {
                diags.push(Diag {
                    loc: Some(src.loc(i.span().start)),
                    msg: format!("VF index {} is out of range 0-{}", i.get_ref(), u32::MAX),
                });
                None
            }
        }
    } else if let Some(r) = &v.range {
        match parse_range(r.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                diags.push(Diag {
                    loc: Some(src.loc(r.span().start)),
                    msg: e,
                });
                None
            }
        }
    } else if let Some(list) = &v.indices {
        if list.get_ref().is_empty() {
            diags.push(Diag {
                loc: Some(src.loc(list.span().start)),
                msg: "`indices = []` selects no VF: list at least one index, or remove this [[pf.vf]]".into(),
            });
            return None;
        }
        match list
            .get_ref()
            .iter()
            .map(|i| u32::try_from(*i))
            .collect::<Result<Vec<u32>, _>>()
        {
            Ok(v) => Some(v),
            Err(_) => {
                diags.push(Diag {
                    loc: Some(src.loc(list.span().start)),
                    msg: format!("VF indices must lie in 0-{}", u32::MAX),
                });
                None
            }
        }
    } else {
        None
    }
}
