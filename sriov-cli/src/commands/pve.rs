//! `pve sync-mappings`: the cluster's PCI resource mappings brought in line
//! with this node's VFs, through `pvesh`; and the stale-entry check `status`
//! runs on a Proxmox VE node.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use crate::host::{Detail, Host};
use crate::pve::mapping::{self, MapEntry, Stale};
use crate::pve::pvesh::{self, Api, Pvesh, PveshError};
use crate::pve::{wanted, Wanted};
use crate::state::HostState;
use crate::{CliError, Ctx};

/// How often one mapping is read and written again when its digest went
/// stale between the read and the write (someone else edited `pci.cfg`).
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// How long one pvesh call of the sync may take (the API waits up to 10 s
/// for the cluster lock, pve-cluster `cfs_lock_file`).
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `status` waits for pvesh before it reports no mappings.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the sync did, or would do, to one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    /// The mapping did not exist: created with this node's entries.
    Create,
    /// This node's entries were replaced (other nodes' kept).
    Update,
    /// Already in line: nothing written.
    Unchanged,
    /// A pvesh call failed: see `error`.
    Failed,
}

/// One mapping's outcome (`--json`).
#[derive(Debug, Serialize)]
pub(crate) struct MappingResult {
    /// The mapping id.
    pub id: String,
    /// What was done (or, with `--dry-run`, would be).
    pub action: Action,
    /// The VFs of this node the mapping carries.
    pub vfs: Vec<String>,
    /// The whole `map` list as read (empty for a new mapping).
    pub before: Vec<String>,
    /// The whole `map` list as written (or to be written).
    pub after: Vec<String>,
    /// pvesh calls that changed the file (0 or 1).
    pub writes: usize,
    /// Reads of the mapping (more than 1: the digest went stale, retried).
    pub attempts: u32,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `pve sync-mappings --json`.
#[derive(Debug, Serialize)]
struct SyncJson<'a> {
    node: &'a str,
    dry_run: bool,
    mappings: &'a [MappingResult],
    writes: usize,
    errors: Vec<String>,
}

/// Brings one mapping in line: read it, create it or replace this node's
/// entries with the digest of the read, and read again (at most
/// [`MAX_ATTEMPTS`] times) when PVE says the file changed meanwhile.
pub(crate) fn sync_one(api: &mut dyn Api, w: &Wanted, node: &str, dry_run: bool) -> MappingResult {
    let want: Vec<String> = w.entries.iter().map(|e| e.raw.clone()).collect();
    let mut res = MappingResult {
        id: w.id.clone(),
        action: Action::Failed,
        vfs: w.vfs.clone(),
        before: Vec::new(),
        after: Vec::new(),
        writes: 0,
        attempts: 0,
        error: None,
    };
    let fail = |mut res: MappingResult, e: String| {
        res.action = Action::Failed;
        res.error = Some(e);
        res
    };
    let mut last: Option<PveshError> = None;
    for attempt in 1..=MAX_ATTEMPTS {
        res.attempts = attempt;
        let current = match pvesh::get(api, &w.id) {
            Ok(c) => c,
            Err(e) => return fail(res, format!("mapping {}: {e}", w.id)),
        };
        match current {
            None => {
                res.action = Action::Create;
                res.before = Vec::new();
                res.after.clone_from(&want);
                if dry_run {
                    return res;
                }
                match pvesh::create(api, &w.id, &w.description, &want) {
                    Ok(()) => {
                        res.writes = 1;
                        return res;
                    }
                    // Created by another node since the read: read it again.
                    Err(e) if pvesh::is_already_defined(&e) => last = Some(e),
                    Err(e) => return fail(res, format!("mapping {}: {e}", w.id)),
                }
            }
            Some(m) => {
                res.before.clone_from(&m.map);
                let Some(new) = mapping::update(&m.map, node, &w.entries) else {
                    res.action = Action::Unchanged;
                    res.after = m.map;
                    return res;
                };
                res.action = Action::Update;
                res.after.clone_from(&new);
                if dry_run {
                    return res;
                }
                let Some(digest) = m.digest.as_deref() else {
                    return fail(
                        res,
                        format!(
                            "mapping {}: `pvesh get` returned no digest, so the write could undo another node's change: nothing written",
                            w.id
                        ),
                    );
                };
                match pvesh::set(api, &w.id, &new, Some(digest)) {
                    Ok(()) => {
                        res.writes = 1;
                        return res;
                    }
                    Err(e) if pvesh::is_stale_digest(&e) => last = Some(e),
                    Err(e) => return fail(res, format!("mapping {}: {e}", w.id)),
                }
            }
        }
    }
    let why = last.map(|e| e.to_string()).unwrap_or_default();
    fail(
        res,
        format!(
            "mapping {}: /etc/pve/mapping/pci.cfg changed between the read and the write {MAX_ATTEMPTS} times in a row (another node or user is editing it); nothing of this mapping was written; run `{}` again ({why})",
            w.id,
            mapping::FIX
        ),
    )
}

/// This node's name as the mappings carry it: the config's `[node.NAME]`,
/// else `--node` or the hostname (as `generate pve-mapping`).
fn node_of(ctx: &Ctx, cfg_node: Option<&str>) -> Result<String, CliError> {
    let node = cfg_node.map_or_else(|| ctx.node_name(), str::to_string);
    crate::config::check_node_name(&node).map_err(|why| {
        CliError::Usage(format!(
            "node name {node:?} (from the hostname; give --node): {why}"
        ))
    })?;
    Ok(node)
}

pub(crate) fn sync_mappings(
    ctx: &Ctx,
    host: &mut dyn Host,
    out: &mut dyn Write,
    dry_run: bool,
    json: bool,
) -> Result<u8, CliError> {
    let cfg = ctx.load_config()?;
    let node = node_of(ctx, cfg.node.as_deref())?;
    let st = host.read(Detail::Plan)?;
    let want = wanted(&cfg, &st, &node).map_err(CliError::Invalid)?;
    if want.is_empty() {
        ctx.note(&format!(
            "no VF of {} for node {node} names a `vm` or a `mapping`: no mapping to keep",
            ctx.config_path().display()
        ));
    }
    let mut api = if want.is_empty() {
        None
    } else {
        Some(Pvesh::locate(SYNC_TIMEOUT).map_err(|e| CliError::Usage(e.to_string()))?)
    };
    let results: Vec<MappingResult> = want
        .iter()
        .filter_map(|w| api.as_mut().map(|a| sync_one(a, w, &node, dry_run)))
        .collect();
    report(out, &node, dry_run, json, &results)
}

/// Prints the outcome; a failed mapping makes the run fail (exit 1) after
/// the others were done.
pub(crate) fn report(
    out: &mut dyn Write,
    node: &str,
    dry_run: bool,
    json: bool,
    results: &[MappingResult],
) -> Result<u8, CliError> {
    let writes: usize = results.iter().map(|r| r.writes).sum();
    let errors: Vec<String> = results.iter().filter_map(|r| r.error.clone()).collect();
    if json {
        out.write_all(
            crate::render::json(&SyncJson {
                node,
                dry_run,
                mappings: results,
                writes,
                errors: errors.clone(),
            })
            .as_bytes(),
        )?;
    } else {
        for r in results {
            let verb = match (r.action, dry_run) {
                (Action::Create, false) => "created",
                (Action::Create, true) => "would be created",
                (Action::Update, false) => "updated",
                (Action::Update, true) => "would be updated",
                (Action::Unchanged, _) => "unchanged",
                (Action::Failed, _) => "FAILED",
            };
            let retried = if r.attempts > 1 {
                format!(" (read {} times: the file changed meanwhile)", r.attempts)
            } else {
                String::new()
            };
            writeln!(out, "mapping {}: {verb}{retried}", r.id)?;
            if matches!(r.action, Action::Create | Action::Update) {
                let mine = |m: &Vec<String>| -> Vec<String> {
                    m.iter()
                        .filter(|s| mapping::is_node_entry(s, node))
                        .cloned()
                        .collect()
                };
                let (b, a) = (mine(&r.before), mine(&r.after));
                for s in b.iter().filter(|s| !a.contains(s)) {
                    writeln!(out, "  - {s}")?;
                }
                for s in a.iter().filter(|s| !b.contains(s)) {
                    writeln!(out, "  + {s}")?;
                }
            }
        }
        writeln!(
            out,
            "node {node}: {}, {}{}",
            super::plural(results.len(), "mapping"),
            super::plural(writes, "write"),
            if dry_run { " (dry run)" } else { "" }
        )?;
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Failed(errors.join("\n")))
    }
}

/// This node's mapping entries that no longer match sysfs (`status`).
#[derive(Debug, Serialize)]
pub(crate) struct MappingCheck {
    /// The node whose entries were checked.
    pub node: String,
    /// The stale entries, each with its fix.
    pub stale: Vec<Stale>,
    /// Why the mappings could not be read (then `stale` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Checks this node's entries of every mapping against `st`, when pvesh is
/// here (a Proxmox VE node); `None` otherwise. Never fails: a pvesh that
/// errs or hangs (no quorum) is reported in `error` after
/// [`STATUS_TIMEOUT`].
pub(crate) fn check_mappings(ctx: &Ctx, st: &HostState) -> Option<MappingCheck> {
    let mut api = match Pvesh::locate(STATUS_TIMEOUT) {
        Ok(a) => a,
        Err(PveshError::NotFound) => return None,
        Err(e) => {
            ctx.note(&format!("resource mappings not checked: {e}"));
            return None;
        }
    };
    let node = ctx.node_name();
    Some(check_with(&mut api, ctx, st, node))
}

fn check_with(api: &mut dyn Api, ctx: &Ctx, st: &HostState, node: String) -> MappingCheck {
    let list = match pvesh::list(api) {
        Ok(l) => l,
        Err(e) => {
            return MappingCheck {
                node,
                stale: Vec::new(),
                error: Some(e.to_string()),
            }
        }
    };
    let lookup = |addr: &str| lookup(ctx, st, addr);
    let mut stale = Vec::new();
    for m in &list {
        for raw in &m.map {
            let Some(e) = MapEntry::parse(raw) else {
                continue;
            };
            if e.node() != Some(node.as_str()) {
                continue;
            }
            let problems = mapping::problems(&e, &lookup);
            if !problems.is_empty() {
                stale.push(Stale {
                    mapping: m.id.clone().unwrap_or_default(),
                    entry: raw.clone(),
                    problems,
                    fix: mapping::FIX.to_string(),
                });
            }
        }
    }
    MappingCheck {
        node,
        stale,
        error: None,
    }
}

/// What sysfs shows for `addr`: a VF or PF read into `st`, else whether
/// such a device exists at all (one this tool does not read is not judged).
fn lookup(ctx: &Ctx, st: &HostState, addr: &str) -> Option<Option<mapping::Device>> {
    // Only a PCI address becomes a path.
    let a: sysfs_sriov::PciAddress = addr.parse().ok()?;
    for p in &st.pfs {
        if p.address == a {
            return Some(Some(mapping::Device {
                id: format!("{:04x}:{:04x}", p.vendor_id, p.device_id),
                subsystem: None,
                iommugroup: p.iommu_group,
            }));
        }
        if let Some(v) = p.vfs.iter().find(|v| v.address == a) {
            let ids = v.ids?;
            return Some(Some(mapping::Device {
                id: format!("{:04x}:{:04x}", ids.vendor, ids.device),
                subsystem: Some(ids.subsystem.map(|s| s.to_string())),
                iommugroup: v.iommu_group,
            }));
        }
    }
    let dev = ctx.under_root(&format!("/sys/bus/pci/devices/{a}"));
    std::fs::symlink_metadata(dev).ok().map(|_| None)
}

/// The `status` lines for `check` (on stderr, as the other warnings).
pub(crate) fn warn_stale(ctx: &Ctx, check: &MappingCheck) {
    if let Some(e) = &check.error {
        ctx.note(&format!("resource mappings not checked: {e}"));
    }
    for s in &check.stale {
        ctx.warn(&format!(
            "mapping {}: node {}'s entry `{}` no longer matches sysfs ({}): a VM using it fails to start (\"PCI device mapping invalid\"); fix: `{}`",
            s.mapping,
            check.node,
            s.entry,
            s.problems.join("; "),
            s.fix
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::pve::mapping::MapEntry;

    /// An API double in memory: one mapping's `map` and a digest that
    /// changes with every write, stale `stale_for` times (someone else
    /// writes between our read and our write).
    struct Fake {
        map: Option<Vec<String>>,
        digest: u32,
        stale_for: u32,
        calls: Vec<String>,
    }

    impl Api for Fake {
        fn call(&mut self, args: &[String]) -> Result<String, PveshError> {
            self.calls.push(args[0].clone());
            let err = |s: &str| PveshError::Failed {
                args: args.join(" "),
                code: 255,
                stderr: s.into(),
            };
            match args[0].as_str() {
                "get" => {
                    let Some(m) = &self.map else {
                        return Err(err("mapping 'm1' not found"));
                    };
                    let out = serde_json::json!({"map": m, "digest": self.digest.to_string(), "type": "pci"});
                    if self.stale_for > 0 {
                        self.stale_for -= 1;
                        self.digest += 1;
                    }
                    Ok(out.to_string())
                }
                "set" => {
                    let d = args.iter().position(|a| a == "--digest").unwrap();
                    if args[d + 1] != self.digest.to_string() {
                        return Err(err("update hardware mapping failed: detected modified configuration - file changed by other user? Try again."));
                    }
                    let maps = args
                        .windows(2)
                        .filter(|w| w[0] == "--map")
                        .map(|w| w[1].clone())
                        .collect();
                    self.map = Some(maps);
                    self.digest += 1;
                    Ok(String::new())
                }
                "create" => {
                    self.map = Some(vec![]);
                    Ok(String::new())
                }
                _ => Err(err("unknown")),
            }
        }
    }

    fn wanted_one() -> Wanted {
        Wanted {
            id: "m1".into(),
            description: "d".into(),
            entries: vec![MapEntry::parse(
                "node=pve1,path=0000:02:02.1,id=8086:154c,iommugroup=41",
            )
            .unwrap()],
            vfs: vec!["VF 1 of eno1".into()],
        }
    }

    #[test]
    fn a_stale_digest_is_retried_then_given_up_with_the_count() {
        let other = "node=pve2,path=0000:02:02.1,id=8086:154c,iommugroup=7".to_string();
        let mut f = Fake {
            map: Some(vec![other.clone()]),
            digest: 1,
            stale_for: 1,
            calls: vec![],
        };
        let r = sync_one(&mut f, &wanted_one(), "pve1", false);
        assert_eq!(r.action, Action::Update, "{:?}", r.error);
        assert_eq!((r.writes, r.attempts), (1, 2));
        assert_eq!(f.calls, ["get", "set", "get", "set"]);
        assert_eq!(f.map.as_ref().unwrap()[0], other);
        // Always stale: MAX_ATTEMPTS reads and writes, then a clear error.
        let mut f = Fake {
            map: Some(vec![other]),
            digest: 1,
            stale_for: u32::MAX,
            calls: vec![],
        };
        let r = sync_one(&mut f, &wanted_one(), "pve1", false);
        assert_eq!(r.action, Action::Failed);
        assert_eq!(r.writes, 0);
        assert_eq!(f.calls.len(), 2 * MAX_ATTEMPTS as usize);
        let e = r.error.unwrap();
        assert!(
            e.contains("changed between the read and the write 3 times"),
            "{e}"
        );
        assert!(e.contains("sriov-cli pve sync-mappings"), "{e}");
    }

    #[test]
    fn in_line_is_no_write_and_dry_run_writes_nothing() {
        let w = wanted_one();
        let mut f = Fake {
            map: Some(vec![w.entries[0].raw.clone()]),
            digest: 1,
            stale_for: 0,
            calls: vec![],
        };
        let r = sync_one(&mut f, &w, "pve1", false);
        assert_eq!((r.action, r.writes), (Action::Unchanged, 0));
        assert_eq!(f.calls, ["get"]);
        let mut f = Fake {
            map: None,
            digest: 1,
            stale_for: 0,
            calls: vec![],
        };
        let r = sync_one(&mut f, &w, "pve1", true);
        assert_eq!((r.action, r.writes), (Action::Create, 0));
        assert_eq!(f.calls, ["get"]);
    }
}
