//! PCI resource mapping entries (`map` property strings) and how a node's
//! entries are brought in line with sysfs.
//!
//! A mapping's `map` is a list of property strings, one per node entry:
//! `node=pve1,path=0000:02:02.1,id=8086:154c,subsystem-id=8086:0000,iommugroup=40`
//! (pve-guest-common `src/PVE/Mapping/PCI.pm`, `$map_fmt`). PVE stores each
//! string as it was given (SectionConfig `check_value` returns it unchanged),
//! so another node's entries are kept here byte for byte: only this node's
//! strings are ever replaced.

use std::collections::BTreeMap;

use serde::Serialize;

/// One `map` entry, parsed: `key=value` pairs (their order does not matter,
/// as for pve-common's `parse_property_string`), and the string as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapEntry {
    /// The pairs.
    pub keys: BTreeMap<String, String>,
    /// The property string as PVE stores it.
    pub raw: String,
}

impl MapEntry {
    /// Parses a property string. `None` when a part has no `=` or a key
    /// repeats (pve-common refuses both: "duplicate key", "missing value").
    pub fn parse(raw: &str) -> Option<Self> {
        let mut keys = BTreeMap::new();
        for part in raw.split(',') {
            let (k, v) = part.split_once('=')?;
            if keys
                .insert(k.trim().to_string(), v.trim().to_string())
                .is_some()
            {
                return None;
            }
        }
        Some(Self {
            keys,
            raw: raw.to_string(),
        })
    }

    /// The `node` key.
    pub fn node(&self) -> Option<&str> {
        self.keys.get("node").map(String::as_str)
    }

    /// Builds an entry from its keys, rendered in PVE's key order
    /// (`node`, `path`, `id`, `subsystem-id`, `iommugroup`, `description`).
    pub fn new(pairs: &[(&str, Option<String>)]) -> Self {
        let mut keys = BTreeMap::new();
        let mut parts = Vec::new();
        for (k, v) in pairs {
            if let Some(v) = v {
                keys.insert((*k).to_string(), v.clone());
                parts.push(format!("{k}={v}"));
            }
        }
        Self {
            keys,
            raw: parts.join(","),
        }
    }
}

/// Whether `raw` is an entry of `node` (an unparsable entry belongs to no
/// node we know, and is kept as it is).
pub(crate) fn is_node_entry(raw: &str, node: &str) -> bool {
    MapEntry::parse(raw).is_some_and(|e| e.node() == Some(node))
}

/// The `map` list a mapping should hold: every other node's entry (and
/// every entry that does not parse) kept as it is and where it is, this
/// node's entries replaced by `want` (at the place of the first one, else at
/// the end). `None` when this node's entries already are `want`, compared
/// as parsed entries and in any order (the order of a node's entries only
/// says which free one a VM start tries first).
pub(crate) fn update(map: &[String], node: &str, want: &[MapEntry]) -> Option<Vec<String>> {
    let mut have: Vec<&BTreeMap<String, String>> = Vec::new();
    let parsed: Vec<Option<MapEntry>> = map.iter().map(|m| MapEntry::parse(m)).collect();
    for e in parsed.iter().flatten() {
        if e.node() == Some(node) {
            have.push(&e.keys);
        }
    }
    let mut a = have.clone();
    let mut b: Vec<&BTreeMap<String, String>> = want.iter().map(|w| &w.keys).collect();
    a.sort();
    b.sort();
    if a == b {
        return None;
    }
    let mut out = Vec::with_capacity(map.len() + want.len());
    let mut placed = false;
    for (raw, p) in map.iter().zip(&parsed) {
        if p.as_ref().is_some_and(|e| e.node() == Some(node)) {
            if !placed {
                out.extend(want.iter().map(|w| w.raw.clone()));
                placed = true;
            }
        } else {
            out.push(raw.clone());
        }
    }
    if !placed {
        out.extend(want.iter().map(|w| w.raw.clone()));
    }
    Some(out)
}

/// What sysfs shows for one PCI device, as PVE checks a mapping entry
/// against it at VM start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Device {
    /// `vendor:device`, lower-case hex without `0x`.
    pub id: String,
    /// `subsystem_vendor:subsystem_device`, when sysfs has them; `None` when
    /// not known here (then it is not checked).
    pub subsystem: Option<Option<String>>,
    /// The IOMMU group.
    pub iommugroup: Option<u32>,
}

/// Why one entry of this node no longer matches sysfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Stale {
    /// The mapping id.
    pub mapping: String,
    /// The entry, as stored.
    pub entry: String,
    /// What does not match, one line each.
    pub problems: Vec<String>,
    /// The command that fixes it.
    pub fix: String,
}

/// The command that brings this node's entries in line with sysfs.
pub(crate) const FIX: &str = "sriov-cli pve sync-mappings";

/// The problems of `entry` against sysfs, PVE's own checks
/// (pve-guest-common `src/PVE/Mapping/PCI.pm`, `assert_valid`): each path
/// (`;`-separated; a path without a function means its function 0) must
/// exist with the entry's `id` and `subsystem-id`, and the first one in the
/// entry's `iommugroup`. `lookup` answers for a PCI address: `None` for no
/// such device, `Some(None)` for a device it cannot tell about (not a PF or
/// VF known here: not checked).
pub(crate) fn problems(
    entry: &MapEntry,
    lookup: &dyn Fn(&str) -> Option<Option<Device>>,
) -> Vec<String> {
    let strip = |s: &str| s.replace("0x", "");
    let mut out = Vec::new();
    let paths = entry.keys.get("path").map(String::as_str).unwrap_or("");
    for (i, path) in paths.split(';').enumerate() {
        let full = if path.contains('.') {
            path.to_string()
        } else {
            format!("{path}.0")
        };
        let dev = match lookup(&full) {
            None => {
                out.push(format!("path {full}: no such PCI device in sysfs"));
                continue;
            }
            Some(None) => continue,
            Some(Some(d)) => d,
        };
        let mut check = |key: &str, sysfs: Option<String>| {
            let conf = entry.keys.get(key).map(|v| strip(v));
            match (conf, sysfs) {
                (None, None) => {}
                (None, Some(s)) => {
                    out.push(format!("{full}: no {key} in the entry, sysfs says {s}"));
                }
                (Some(c), None) => {
                    out.push(format!("{full}: {key} {c} in the entry, sysfs has none"));
                }
                (Some(c), Some(s)) if c != s => {
                    out.push(format!("{full}: {key} {c} in the entry, sysfs says {s}"));
                }
                _ => {}
            }
        };
        check("id", Some(dev.id.clone()));
        if let Some(sub) = &dev.subsystem {
            check("subsystem-id", sub.clone());
        }
        // PVE checks the IOMMU group of the first device only.
        if i == 0 {
            check("iommugroup", dev.iommugroup.map(|g| g.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> MapEntry {
        MapEntry::parse(s).unwrap()
    }

    #[test]
    fn entries_parse_in_any_key_order_and_refuse_junk() {
        let a = e("node=pve1,path=0000:02:02.1,id=8086:154c,iommugroup=40");
        let b = e("iommugroup=40,id=8086:154c,path=0000:02:02.1,node=pve1");
        assert_eq!(a.keys, b.keys);
        assert_ne!(a.raw, b.raw);
        assert_eq!(a.node(), Some("pve1"));
        assert!(MapEntry::parse("node=pve1,path").is_none());
        assert!(MapEntry::parse("node=a,node=b").is_none());
    }

    #[test]
    fn update_replaces_only_this_nodes_entries_and_keeps_the_rest_byte_for_byte() {
        let other = "path=0000:02:02.1,node=pve2,id=8086:154c".to_string();
        let junk = "not a property string".to_string();
        let mine_old = "node=pve1,path=0000:02:02.1,id=8086:154c,iommugroup=40".to_string();
        let map = vec![other.clone(), mine_old, junk.clone()];
        let want = vec![MapEntry::new(&[
            ("node", Some("pve1".into())),
            ("path", Some("0000:02:02.1".into())),
            ("id", Some("8086:154c".into())),
            ("iommugroup", Some("41".into())),
        ])];
        let new = update(&map, "pve1", &want).unwrap();
        assert_eq!(
            new,
            [
                other.clone(),
                "node=pve1,path=0000:02:02.1,id=8086:154c,iommugroup=41".to_string(),
                junk.clone()
            ]
        );
        // Now in line: nothing to do, whatever the key order of the stored string.
        assert_eq!(update(&new, "pve1", &want), None);
        let reordered = vec![
            other.clone(),
            "iommugroup=41,id=8086:154c,path=0000:02:02.1,node=pve1".to_string(),
        ];
        assert_eq!(update(&reordered, "pve1", &want), None);
        // No entry for this node yet: appended.
        let new = update(std::slice::from_ref(&other), "pve1", &want).unwrap();
        assert_eq!(new.len(), 2);
        assert_eq!(new[0], other);
    }

    #[test]
    fn several_entries_of_one_node_compare_in_any_order() {
        let w = |p: &str| {
            MapEntry::new(&[
                ("node", Some("pve1".into())),
                ("path", Some(p.into())),
                ("id", Some("8086:10ca".into())),
            ])
        };
        let want = vec![w("0000:01:10.0"), w("0000:01:10.2")];
        let map = vec![want[1].raw.clone(), want[0].raw.clone()];
        assert_eq!(update(&map, "pve1", &want), None);
        // One missing: the whole set for this node is written.
        let new = update(&map[..1], "pve1", &want).unwrap();
        assert_eq!(new, [want[0].raw.clone(), want[1].raw.clone()]);
    }

    #[test]
    fn problems_follow_pves_assert_valid() {
        let dev = Device {
            id: "8086:154c".into(),
            subsystem: Some(Some("8086:0000".into())),
            iommugroup: Some(41),
        };
        let lookup = |p: &str| match p {
            "0000:02:02.1" => Some(Some(dev.clone())),
            "0000:00:1f.0" => Some(None),
            _ => None,
        };
        let ok = e("node=pve1,path=0000:02:02.1,id=8086:154c,subsystem-id=8086:0000,iommugroup=41");
        assert!(problems(&ok, &lookup).is_empty());
        let stale = e("node=pve1,path=0000:02:02.1,id=0x8086:0x154c,iommugroup=40");
        assert_eq!(
            problems(&stale, &lookup),
            [
                "0000:02:02.1: no subsystem-id in the entry, sysfs says 8086:0000",
                "0000:02:02.1: iommugroup 40 in the entry, sysfs says 41"
            ]
        );
        let gone = e("node=pve1,path=0000:02:03.1,id=8086:154c");
        assert_eq!(
            problems(&gone, &lookup),
            ["path 0000:02:03.1: no such PCI device in sysfs"]
        );
        // A device this tool does not know is not judged.
        assert!(problems(&e("node=pve1,path=0000:00:1f,id=1:2"), &lookup).is_empty());
        // The IOMMU group of the second path is not checked (PVE does not).
        let two = e("node=pve1,path=0000:00:1f.0;0000:02:02.1,id=8086:154c,subsystem-id=8086:0000,iommugroup=1");
        assert!(problems(&two, &lookup).is_empty());
    }
}
