//! Planning: compare the config with the live state, validate the whole plan,
//! and list the typed changes in the order `setup` applies them.
//!
//! [`plan`] is pure: it reads a [`HostState`] and a [`Config`] and returns a
//! [`Plan`]. A plan with errors changes nothing (exit 2).

mod change;
mod vf;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use change::{Change, Op, Status, Step};

use crate::config::{Config, DriverSpec, Loc, PfKey, PfSpec};
use crate::state::{HostState, PfState, VfState};

/// A computed plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Changes in application order.
    pub changes: Vec<Change>,
    /// Things that are allowed but deserve attention.
    pub warnings: Vec<String>,
    /// Problems that make the plan invalid (exit 2, nothing applied), each
    /// starting with `file:line:col: ` when it comes from one key of the config.
    pub errors: Vec<String>,
    /// The config path, for error locations.
    path: PathBuf,
}

impl Plan {
    /// Records an error at `loc` of the config (`file:line:col: msg`).
    fn error(&mut self, loc: Option<Loc>, msg: String) {
        self.errors.push(match loc {
            Some(l) => format!("{}:{l}: {msg}", self.path.display()),
            None => format!("{}: {msg}", self.path.display()),
        });
    }
}

/// What the user allowed on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `--allow-recreate`: a VF count change that destroys VFs (non-zero to
    /// another non-zero count, through 0; or to 0) may destroy VFs in use.
    pub allow_recreate: bool,
    /// `--force-unbind`: a VF whose netdev is up or has addresses may be
    /// unbound from its network driver (e.g. to bind it to vfio-pci).
    pub force_unbind: bool,
    /// `--prune`: remove addresses the config does not list from the VF
    /// netdevs whose `addresses` it sets (link-local ones are kept).
    pub prune: bool,
}

/// Computes the plan for `cfg` against `live`.
pub fn plan(cfg: &Config, live: &HostState, opts: Options) -> Plan {
    let mut p = Plan {
        path: cfg.path.clone(),
        ..Plan::default()
    };
    // The netdev names of VFs this plan destroys (a count change of their
    // PF): they are free for the VFs created next.
    let released: BTreeSet<&str> = cfg
        .pfs
        .iter()
        .filter_map(|s| live.find_pf(&s.key).map(|pf| (s, pf)))
        .filter(|(s, pf)| destroys_vfs(pf, s.num_vfs) && destroy_allowed(pf, s.num_vfs, opts))
        .flat_map(|(_, pf)| pf.vfs.iter().filter_map(|v| v.netdev.as_deref()))
        .collect();
    let ctx = Ctx {
        live,
        opts,
        released: &released,
    };
    let mut seen: Vec<(&PfState, &PfKey)> = Vec::new();
    for spec in &cfg.pfs {
        let Some(pf) = live.find_pf(&spec.key) else {
            let what = match &spec.key {
                PfKey::Name(n) => {
                    format!("no network interface `{n}` belongs to an SR-IOV capable PCI device")
                }
                PfKey::Pci { written, .. } => format!("no SR-IOV capable PCI device at {written}"),
            };
            p.error(spec.key_loc, format!("PF {}: {what}", spec.key));
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(a, _)| a.address == pf.address) {
            p.error(
                spec.key_loc,
                format!(
                    "PF {} is the same device ({}) as PF {first}; configure each PF once",
                    spec.key, pf.address
                ),
            );
            continue;
        }
        seen.push((pf, &spec.key));
        plan_pf(spec, pf, &ctx, &mut p);
    }
    p.changes.sort_by_key(Change::step);
    p
}

/// What every part of one plan reads.
pub(crate) struct Ctx<'a> {
    pub live: &'a HostState,
    pub opts: Options,
    /// Names held by VFs that this plan destroys.
    pub released: &'a BTreeSet<&'a str>,
}

/// Whether changing the PF's count to `want` destroys its VFs: the kernel
/// goes from a non-zero count to another only through 0.
fn destroys_vfs(pf: &PfState, want: u32) -> bool {
    pf.num_vfs != 0 && pf.num_vfs != want
}

/// Whether the plan may destroy the PF's VFs (see [`check_destroy`]): a
/// recreate with `--allow-recreate`, a change to 0 when no VF is in use or
/// with the flag.
fn destroy_allowed(pf: &PfState, want: u32, opts: Options) -> bool {
    opts.allow_recreate || (want == 0 && pf.vfs.iter().all(|v| v.in_use.is_empty()))
}

/// One line per VF in use: `  VF i (address): what is in use`.
fn in_use_lines(pf: &PfState) -> Vec<String> {
    pf.vfs
        .iter()
        .filter(|v| !v.in_use.is_empty())
        .map(|v| {
            let why: Vec<String> = v.in_use.iter().map(ToString::to_string).collect();
            format!("  VF {} ({}): {}", v.index, v.address, why.join(", "))
        })
        .collect()
}

/// The checks of the PF itself and of its count; false when the PF's plan
/// cannot go on.
fn check_pf(spec: &PfSpec, pf: &PfState, opts: Options, p: &mut Plan) -> bool {
    let pfn = &spec.key;
    let before = p.errors.len();
    if pf.driver.is_none() {
        p.error(spec.key_loc, format!(
            "PF {pfn} ({addr}): no driver is bound, so the kernel cannot create VFs (bind its driver first: \
             load its module, or `echo {addr} > /sys/bus/pci/drivers_probe`)",
            addr = pf.address
        ));
    }
    if pf.total_vfs == 0 {
        p.error(
            spec.num_vfs_loc,
            format!(
                "PF {pfn} ({}): the device reports sriov_totalvfs = 0",
                pf.address
            ),
        );
    } else if spec.num_vfs > pf.total_vfs {
        p.error(
            spec.num_vfs_loc,
            format!(
                "PF {pfn} ({}): num_vfs = {} is above sriov_totalvfs = {}",
                pf.address, spec.num_vfs, pf.total_vfs
            ),
        );
    }
    if destroys_vfs(pf, spec.num_vfs) {
        check_destroy(spec, pf, opts, p);
    }
    p.errors.len() == before
}

/// A count change that destroys every VF: a recreate (non-zero to another
/// non-zero count) needs `--allow-recreate`; a change to 0 needs it only when
/// a VF is in use. Either way the VFs in use are named, one line each.
fn check_destroy(spec: &PfSpec, pf: &PfState, opts: Options, p: &mut Plan) {
    let pfn = &spec.key;
    let in_use = in_use_lines(pf);
    let n = pf.num_vfs;
    let all = if n == 1 {
        "its VF".to_string()
    } else {
        format!("all {n} VFs")
    };
    if spec.num_vfs == 0 {
        if in_use.is_empty() {
            return;
        }
        let usage = format!("{} of them in use:", in_use.len());
        if opts.allow_recreate {
            p.warnings.push(format!(
                "PF {pfn}: num_vfs = 0 destroys {all}, {usage} (--allow-recreate)"
            ));
            p.warnings.extend(in_use);
        } else {
            p.error(spec.num_vfs_loc, format!(
                "PF {pfn}: num_vfs = 0 destroys {all}, {usage} re-run with --allow-recreate to do it anyway"
            ));
            p.errors.extend(in_use);
        }
        return;
    }
    let usage = if in_use.is_empty() {
        "; none of them is in use (bound to vfio-pci, up, with addresses, or in another network namespace)".to_string()
    } else {
        format!("; {} of them in use:", in_use.len())
    };
    if opts.allow_recreate {
        p.warnings.push(format!(
            "PF {pfn}: changing num_vfs {n} -> {} goes through 0 and destroys {all}{usage}",
            spec.num_vfs
        ));
        p.warnings.extend(in_use);
    } else {
        p.error(spec.num_vfs_loc, format!(
            "PF {pfn}: num_vfs is {n} and the config wants {}; the kernel only allows this through 0, which destroys {all}. Re-run with --allow-recreate to do it{usage}",
            spec.num_vfs
        ));
        p.errors.extend(in_use);
    }
}

fn plan_pf(spec: &PfSpec, pf: &PfState, ctx: &Ctx<'_>, p: &mut Plan) {
    if !check_pf(spec, pf, ctx.opts, p) {
        return;
    }
    let pfn = spec.key.to_string();
    let mk = |vf: Option<u32>, op: Op| Change::new(&pfn, pf.address, vf, op);
    if let Some(want) = spec.up {
        if pf.netdevs.is_empty() {
            p.error(
                spec.up_loc,
                format!(
                    "PF {pfn} ({}): `up` needs the PF's netdev, and it has none (its driver {} made no network interface)",
                    pf.address,
                    pf.driver.as_deref().unwrap_or("(none)")
                ),
            );
            return;
        }
        if pf.up != Some(want) {
            p.changes.push(mk(
                None,
                Op::PfUp {
                    from: pf.up,
                    to: want,
                },
            ));
            if !want && spec.num_vfs > 0 {
                p.warnings.push(format!(
                    "PF {pfn}: up = false takes the PF down, which stops its VFs' traffic on most NICs (igb, ixgbe)"
                ));
            }
        }
    }
    // igb and ixgbe answer their VFs' mailbox (the VF's MAC among it) only
    // while the PF's own link is up: a VF driver that starts under a PF that
    // is down makes up a random MAC (igbvf: "PF still in reset state"), which
    // the PF drops as spoofed. setup only brings the PF up when told to.
    let pf_driver = pf.driver.as_deref().unwrap_or_default();
    if spec.up.is_none()
        && pf.up == Some(false)
        && spec.num_vfs > 0
        && matches!(pf_driver, "igb" | "ixgbe")
    {
        p.warnings.push(format!(
            "PF {pfn} is down: {pf_driver} gives its VFs no MAC address until its own link is up (their drivers then make up a random one, which the PF drops as spoofed); add `up = true` to this [[pf]] so setup brings it up and waits for its carrier before creating the VFs"
        ));
    }
    if pf.num_vfs != spec.num_vfs {
        p.changes.push(mk(
            None,
            Op::NumVfs {
                from: pf.num_vfs,
                to: spec.num_vfs,
            },
        ));
    }
    // VFs that exist now and survive the count change keep their state; others are new.
    let survives = !destroys_vfs(pf, spec.num_vfs);
    for vs in &spec.vfs {
        let live_vf: Option<&VfState> = if survives { pf.vf(vs.index) } else { None };
        vf::plan_vf(&pfn, pf, vs, live_vf, ctx, p);
    }
    // The VFs the config does not mention, left without a driver by a run
    // killed after its count write, get theirs as an uninterrupted run gives
    // them (see plan_driver). Not on a PF that is not a NIC: its VFs' driver
    // may have given them up (nvme cannot start a VF without queue
    // resources), and a re-run would probe them again each time.
    if survives && vf::autoprobes(pf) && pf.is_network() {
        for v in pf.vfs.iter().filter(|v| v.driver.is_none()) {
            if spec.vfs.iter().all(|s| s.index != v.index) {
                p.changes.push(mk(
                    Some(v.index),
                    Op::Driver {
                        from: Some(None),
                        to: DriverSpec::Default,
                        implicit: true,
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests;
