//! Planning: compare the config with the live state, validate the whole plan,
//! and list the changes in the order `setup` applies them.

use std::fmt;

use serde::Serialize;

use std::path::PathBuf;

use crate::config::{Config, DriverSpec, Loc, PfKey, PfSpec, VfSpec, VlanProto, VlanSpec};
use crate::state::{HostState, PfState, VfState};

/// The order of application; also the phases of `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The PF's own link (`up`), before its VFs are created.
    PfLink,
    /// `sriov_numvfs`.
    NumVfs,
    /// PF-side VF attributes, one netlink request per PF.
    VfAttrs,
    /// Driver binding.
    Driver,
    /// Rename, MTU, promisc, up.
    Link,
    /// Interface addresses.
    Address,
    /// Default routes.
    Route,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The JSON names (`"step"` of a change).
        f.write_str(match self {
            Step::PfLink => "pf_link",
            Step::NumVfs => "num_vfs",
            Step::VfAttrs => "vf_attrs",
            Step::Driver => "driver",
            Step::Link => "link",
            Step::Address => "address",
            Step::Route => "route",
        })
    }
}

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Computed, not applied (`--dry-run`, or not reached yet).
    Planned,
    /// Applied and read back as wanted (or not readable back).
    Applied,
    /// The kernel or driver refused it (errno and message in `detail`).
    Refused,
    /// Accepted, but reading back shows it did not take effect.
    Ignored,
    /// Failed for another reason.
    Failed,
    /// Not attempted because something it depends on failed.
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Planned => "planned",
            Status::Applied => "applied",
            Status::Refused => "refused",
            Status::Ignored => "ignored",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        })
    }
}

/// One change: the unit of `--dry-run` output, `--json` and apply reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Phase.
    pub step: Step,
    /// PF as named in the config.
    pub pf: String,
    /// PF PCI address.
    pub pf_address: String,
    /// VF index, when the change is about one VF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vf: Option<u32>,
    /// What changes: `num_vfs`, `mac`, `vlan`, `trust`, ..., `driver`,
    /// `reload` (the VF driver, so its netdev takes the PF-set MAC), `name`,
    /// `mtu`, `promisc`, `up` (also the PF's, step `pf_link`), `address`,
    /// `remove_address` (`--prune`), `route`.
    pub attr: String,
    /// Current value; `null` when unknown (netlink unavailable, VF not created yet).
    pub from: Option<String>,
    /// Wanted value.
    pub to: String,
    /// Where it stands.
    pub status: Status,
    /// Why it failed, or a note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Change {
    /// Identity of a change across re-plans: same PF, VF and attribute (and
    /// target, for addresses).
    pub fn same_target(&self, other: &Change) -> bool {
        self.pf_address == other.pf_address
            && self.vf == other.vf
            && self.attr == other.attr
            && match self.attr.as_str() {
                "address" => self.to == other.to,
                "remove_address" => self.from == other.from,
                _ => true,
            }
    }
}

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
    /// `--allow-recreate`: a non-zero to other non-zero VF count change may go
    /// through 0 (destroying every VF).
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
    let mut seen: Vec<(&str, &PfKey)> = Vec::new();
    for spec in &cfg.pfs {
        if let Some(pf) = live.find_pf(&spec.key) {
            if let Some((_, first)) = seen.iter().find(|(a, _)| *a == pf.address) {
                p.error(
                    spec.key_loc,
                    format!(
                        "PF {} is the same device ({}) as PF {first}; configure each PF once",
                        spec.key, pf.address
                    ),
                );
                continue;
            }
            seen.push((&pf.address, &spec.key));
        }
        let Some(pf) = live.find_pf(&spec.key) else {
            let what = match &spec.key {
                PfKey::Name(n) => {
                    format!("no network interface `{n}` belongs to an SR-IOV capable PCI device")
                }
                PfKey::Pci(a) => format!("no SR-IOV capable PCI device at {a}"),
            };
            p.error(spec.key_loc, format!("PF {}: {what}", spec.key));
            continue;
        };
        plan_pf(spec, pf, live, opts, &mut p);
    }
    p.changes.sort_by_key(|c| c.step);
    p
}

fn plan_pf(spec: &PfSpec, pf: &PfState, live: &HostState, opts: Options, p: &mut Plan) {
    let pfn = spec.key.to_string();
    let err_count = p.errors.len();
    if pf.driver.is_none() {
        p.error(spec.key_loc, format!(
            "PF {pfn} ({}): no driver is bound, so the kernel cannot create VFs (bind its network driver first)",
            pf.address
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
    let recreate = pf.num_vfs != 0 && spec.num_vfs != 0 && pf.num_vfs != spec.num_vfs;
    if recreate {
        // One line per VF in use, saying what is in use on it.
        let in_use: Vec<String> = pf
            .vfs
            .iter()
            .filter(|v| !v.in_use.is_empty())
            .map(|v| {
                let why: Vec<String> = v.in_use.iter().map(ToString::to_string).collect();
                format!("  VF {} ({}): {}", v.index, v.address, why.join(", "))
            })
            .collect();
        let n = pf.num_vfs;
        let all = if n == 1 {
            "its VF".to_string()
        } else {
            format!("all {n} VFs")
        };
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
    if p.errors.len() > err_count {
        return;
    }
    let mk = |step, vf: Option<u32>, attr: &str, from: Option<String>, to: String| Change {
        step,
        pf: pfn.clone(),
        pf_address: pf.address.clone(),
        vf,
        attr: attr.to_string(),
        from,
        to,
        status: Status::Planned,
        detail: None,
    };
    if let Some(want) = spec.up {
        let updown = |u: bool| if u { "up" } else { "down" }.to_string();
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
                Step::PfLink,
                None,
                "up",
                pf.up.map(updown),
                updown(want),
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
            Step::NumVfs,
            None,
            "num_vfs",
            Some(pf.num_vfs.to_string()),
            spec.num_vfs.to_string(),
        ));
    }
    // VFs that exist now and survive the count change keep their state; others are new.
    let survives = !recreate && spec.num_vfs >= pf.num_vfs;
    let i40e = pf.driver.as_deref() == Some("i40e");
    for vs in &spec.vfs {
        let live_vf = if survives { pf.vf(vs.index) } else { None };
        check_vf_live(&pfn, vs, live_vf, live, p);
        trunk_warnings(&pfn, pf, vs, i40e, p);
        plan_vf(vs, live_vf, &mk, live, opts.prune, p);
        plan_reload(&pfn, pf, vs, live_vf, &mk, opts, p);
        check_unbind(&pfn, vs, live_vf, opts, p);
    }
}

fn check_vf_live(pfn: &str, vs: &VfSpec, vf: Option<&VfState>, live: &HostState, p: &mut Plan) {
    if let Some(name) = &vs.name {
        let own = vf.and_then(|v| v.netdev.as_deref()) == Some(name.as_str());
        if !own && live.links.contains(name) {
            p.error(
                vs.name_loc,
                format!(
                "VF {} of {pfn}: the name `{name}` is already taken by another network interface",
                vs.index
            ),
            );
        }
    }
    let wants_netdev = vs.name.is_some()
        || vs.up.is_some()
        || vs.promisc.is_some()
        || vs.mtu.is_some()
        || !vs.addresses.is_empty();
    if let Some(v) = vf {
        if wants_netdev && vs.driver.is_none() && v.driver.as_deref() == Some("vfio-pci") {
            p.error(vs.loc, format!(
                "VF {} of {pfn} is bound to vfio-pci, so it has no netdev for `name`/`up`/`promisc`/`mtu`/`addresses`; set driver = \"default\" to give it back to its network driver",
                vs.index
            ));
        }
    }
}

/// A driver change unbinds the VF from its network driver: refuse it (as the
/// kernel-facing bind would, but before anything changed) when its netdev is up
/// or has addresses, unless `--force-unbind`.
fn check_unbind(pfn: &str, vs: &VfSpec, vf: Option<&VfState>, opts: Options, p: &mut Plan) {
    let (Some(d), Some(v)) = (&vs.driver, vf) else {
        return;
    };
    let changes = p.changes.iter().any(|c| {
        c.step == Step::Driver && c.attr == "driver" && c.vf == Some(vs.index) && c.pf == pfn
    });
    let busy = v.busy_netdev();
    if !changes || busy.is_empty() {
        return;
    }
    let netdev = v.netdev.as_deref().unwrap_or("?");
    let why: Vec<String> = busy.iter().map(ToString::to_string).collect();
    let driver = v.driver.as_deref().unwrap_or("its driver");
    if opts.force_unbind {
        p.warnings.push(format!(
            "VF {} of {pfn} ({}): {}; binding it to {d} takes netdev {netdev} away (--force-unbind)",
            vs.index,
            v.address,
            why.join(", ")
        ));
    } else {
        p.error(vs.driver_loc, format!(
            "VF {} of {pfn} ({}): binding it to {d} would unbind {driver} and take away netdev {netdev}, which is in use: {}. Take it down and remove its addresses first (`ip link set {netdev} down`, `ip address flush dev {netdev}`), or re-run with --force-unbind to unbind it anyway",
            vs.index,
            v.address,
            why.join(", ")
        ));
    }
}

/// A VF network driver that read its MAC before the PF set the one configured
/// keeps using the old one until it loads again (igbvf and ixgbevf: "Reload the
/// VF driver to make this change effective"), and the PF then drops the VF's
/// traffic as spoofed. Plan a reload of the driver when the PF already has the
/// configured MAC, the netdev does not, and the PF has carrier (a VF driver
/// probed while the PF is down gets no MAC from it at all, so a reload then
/// changes nothing). A netdev that is up or has addresses is reloaded only with
/// `--force-unbind`; otherwise the change is planned with the reason in its
/// `detail` (see [`reload_blocked`]) and a warning, and `setup` skips it.
fn plan_reload<F>(
    pfn: &str,
    pf: &PfState,
    vs: &VfSpec,
    vf: Option<&VfState>,
    mk: &F,
    opts: Options,
    p: &mut Plan,
) where
    F: Fn(Step, Option<u32>, &str, Option<String>, String) -> Change,
{
    let (Some(v), Some(want)) = (vf, vs.mac) else {
        return;
    };
    let Some(have) = v.link.as_ref().and_then(|l| l.mac) else {
        return;
    };
    let pf_set = v.attrs.as_ref().and_then(|a| a.mac) == Some(want);
    let net_driver = v.driver.as_deref().is_some_and(|d| d != "vfio-pci");
    let rebinding = p.changes.iter().any(|c| {
        c.step == Step::Driver && c.attr == "driver" && c.vf == Some(vs.index) && c.pf == pfn
    });
    if have == want || !pf_set || !net_driver || rebinding || pf.carrier != Some(true) {
        return;
    }
    let mut c = mk(
        Step::Driver,
        Some(vs.index),
        "reload",
        Some(have.to_string()),
        want.to_string(),
    );
    let busy = v.busy_netdev();
    if !busy.is_empty() {
        let netdev = v.netdev.as_deref().unwrap_or("?");
        let driver = v.driver.as_deref().unwrap_or("?");
        let why: Vec<String> = busy.iter().map(ToString::to_string).collect();
        if opts.force_unbind {
            p.warnings.push(format!(
                "VF {} of {pfn}: reloading {driver} so that {netdev} takes MAC {want} takes {netdev} away for a moment ({}; --force-unbind); setup then restores what the config sets",
                vs.index,
                why.join(", ")
            ));
        } else {
            let msg = format!(
                "VF {} of {pfn}: netdev {netdev} still uses MAC {have}, not {want} which the PF gave the VF, so the PF may drop its traffic; {driver} takes a PF-set MAC only when it loads, and {netdev} is in use ({}). Re-run with --force-unbind to reload {driver} (setup then restores the name, link settings and addresses the config sets), or reload it by hand",
                vs.index,
                why.join(", ")
            );
            p.warnings.push(msg.clone());
            c.detail = Some(msg);
        }
    }
    p.changes.push(c);
}

/// Whether `setup` will skip this planned change: a driver reload whose
/// netdev is in use without `--force-unbind` (the reason is its `detail`).
pub fn reload_blocked(c: &Change) -> bool {
    c.attr == "reload" && c.detail.is_some()
}

fn trunk_warnings(pfn: &str, pf: &PfState, vs: &VfSpec, i40e: bool, p: &mut Plan) {
    if !vs.is_trunk() {
        return;
    }
    if vs.driver == Some(DriverSpec::VfioPci) {
        p.warnings.push(format!(
            "VF {} of {pfn} goes to a VM without a VLAN: the guest sees every VLAN of the switch port, and a compromised VM gets the whole trunk; set `vlan` unless the VM really routes VLANs",
            vs.index
        ));
    }
    if vs.trust == Some(false) {
        p.warnings.push(format!(
            "VF {} of {pfn} is a promiscuous trunk but trust = false: the PF driver will not deliver other MACs' traffic to it",
            vs.index
        ));
    }
    if i40e && vs.promisc == Some(true) {
        p.warnings.push(format!(
            "VF {} of {pfn}: i40e delivers all VLANs to a promiscuous VF only with the PF-wide private flag: `ethtool --set-priv-flags {} vf-true-promisc-support on` (affects every VF of the port)",
            vs.index,
            pf.label()
        ));
    }
}

/// The trust value setup applies: explicit, or on for promiscuous trunks.
pub fn wanted_trust(vs: &VfSpec) -> Option<bool> {
    vs.trust.or(if vs.is_trunk() && vs.promisc == Some(true) {
        Some(true)
    } else {
        None
    })
}

fn fmt_vlan(v: &VlanSpec) -> String {
    let mut s = v.vlan.to_string();
    if v.qos != 0 {
        s.push_str(&format!(" qos {}", v.qos));
    }
    if v.proto == VlanProto::Dot1Ad {
        s.push_str(" proto 802.1ad");
    }
    s
}

fn onoff(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

fn plan_vf<F>(
    vs: &VfSpec,
    vf: Option<&VfState>,
    mk: &F,
    live: &HostState,
    prune: bool,
    p: &mut Plan,
) where
    F: Fn(Step, Option<u32>, &str, Option<String>, String) -> Change,
{
    let i = Some(vs.index);
    let attrs = vf.and_then(|v| v.attrs.as_ref());
    let mut attr = |name: &str, cur: Option<String>, want: Option<String>| {
        if let Some(w) = want {
            if cur.as_deref() != Some(w.as_str()) {
                p.changes.push(mk(Step::VfAttrs, i, name, cur, w));
            }
        }
    };
    attr(
        "mac",
        attrs.and_then(|a| a.mac).map(|m| m.to_string()),
        vs.mac.map(|m| m.to_string()),
    );
    attr(
        "vlan",
        attrs.and_then(|a| a.vlan.as_ref()).map(fmt_vlan),
        vs.vlan.as_ref().map(fmt_vlan),
    );
    attr(
        "spoofchk",
        attrs.and_then(|a| a.spoofchk).map(onoff),
        vs.spoofchk.map(onoff),
    );
    attr(
        "trust",
        attrs.and_then(|a| a.trust).map(onoff),
        wanted_trust(vs).map(onoff),
    );
    attr(
        "link_state",
        attrs.and_then(|a| a.link_state).map(|s| s.to_string()),
        vs.link_state.map(|s| s.to_string()),
    );
    attr(
        "min_tx_rate",
        attrs.and_then(|a| a.min_tx_rate).map(|r| r.to_string()),
        vs.min_tx_rate.map(|r| r.to_string()),
    );
    attr(
        "max_tx_rate",
        attrs.and_then(|a| a.max_tx_rate).map(|r| r.to_string()),
        vs.max_tx_rate.map(|r| r.to_string()),
    );
    attr(
        "query_rss",
        attrs.and_then(|a| a.query_rss).map(onoff),
        vs.query_rss.map(onoff),
    );

    // Driver.
    let cur_driver = vf.map(|v| v.driver.clone().unwrap_or_else(|| "(none)".into()));
    if let Some(d) = &vs.driver {
        let ok = match (d, vf.and_then(|v| v.driver.as_deref())) {
            (DriverSpec::VfioPci, Some("vfio-pci")) => true,
            (DriverSpec::Default, Some(cur)) => cur != "vfio-pci",
            (DriverSpec::Named(n), Some(cur)) => cur == n,
            _ => false,
        };
        if !ok {
            p.changes
                .push(mk(Step::Driver, i, "driver", cur_driver, d.to_string()));
        }
    } else if vf.is_some_and(|v| v.driver.is_none())
        && (vs.name.is_some()
            || vs.up.is_some()
            || vs.promisc.is_some()
            || vs.mtu.is_some()
            || !vs.addresses.is_empty())
    {
        // An unbound VF (unbound by hand, or created while the PF's autoprobe
        // was off) has no netdev for its link settings: give it the network
        // driver the kernel picks.
        p.changes.push(mk(
            Step::Driver,
            i,
            "driver",
            cur_driver,
            DriverSpec::Default.to_string(),
        ));
    }

    // Netdev side. A VF bound to its network driver whose netdev is not
    // visible here has been moved to another network namespace (a running
    // container took it): its link settings are the container's business now.
    let elsewhere = vf.is_some_and(|v| {
        v.netdev.is_none()
            && v.driver.as_deref().is_some_and(|d| d != "vfio-pci")
            && vs.driver.is_none()
    });
    let wants_netdev =
        vs.name.is_some() || vs.up.is_some() || vs.promisc.is_some() || vs.mtu.is_some();
    if elsewhere {
        if wants_netdev {
            p.warnings.push(format!(
                "VF {} of {}: its netdev is not in this network namespace (moved into a container{}?), so its name and link settings are left alone",
                vs.index,
                mk(Step::Link, i, "", None, String::new()).pf,
                vs.lxc.map(|c| format!(" such as CT {c}")).unwrap_or_default()
            ));
        }
        return;
    }
    let link = vf.and_then(|v| v.link.as_ref());
    let cur_name = vf.and_then(|v| v.netdev.clone());
    if let Some(n) = &vs.name {
        if cur_name.as_deref() != Some(n.as_str()) {
            p.changes
                .push(mk(Step::Link, i, "name", cur_name.clone(), n.clone()));
        }
    }
    let mut link_attr = |name: &str, cur: Option<String>, want: Option<String>| {
        if let Some(w) = want {
            if cur.as_deref() != Some(w.as_str()) {
                p.changes.push(mk(Step::Link, i, name, cur, w));
            }
        }
    };
    link_attr(
        "mtu",
        link.map(|l| l.mtu.to_string()),
        vs.mtu.map(|m| m.to_string()),
    );
    link_attr(
        "promisc",
        link.map(|l| onoff(l.promisc)),
        vs.promisc.map(onoff),
    );
    link_attr(
        "up",
        link.map(|l| if l.up { "up" } else { "down" }.to_string()),
        vs.up.map(|u| if u { "up" } else { "down" }.to_string()),
    );
    // An LXC VF's addresses and gateway belong to the container (`generate lxc`).
    let host_addresses: &[crate::addr::IpNet] = if vs.lxc.is_some() { &[] } else { &vs.addresses };
    // setup adds addresses; an address the config no longer lists (the old one
    // after an edit) is removed with --prune, else named in a warning. Removed
    // first: deleting a primary IPv4 address also deletes the secondaries of
    // its subnet, which the adds would otherwise have to follow.
    if let (Some(l), false) = (link, host_addresses.is_empty()) {
        let netdev = vs.name.as_deref().or(cur_name.as_deref()).unwrap_or("?");
        for extra in l
            .addresses
            .iter()
            .filter(|a| !host_addresses.contains(a) && !a.is_link_local())
        {
            if prune {
                p.changes.push(mk(
                    Step::Address,
                    i,
                    "remove_address",
                    Some(extra.to_string()),
                    "(none)".to_string(),
                ));
            } else {
                p.warnings.push(format!(
                    "VF {} of {}: {netdev} also has {extra}, which the config does not list; setup only adds addresses, so remove it if it is stale (`ip address del {extra} dev {netdev}`, or re-run setup with --prune)",
                    vs.index,
                    mk(Step::Address, i, "", None, String::new()).pf,
                ));
            }
        }
    }
    for a in host_addresses {
        let has = link.map(|l| l.addresses.contains(a));
        if has != Some(true) {
            let from = link.map(|_| "(absent)".to_string());
            p.changes
                .push(mk(Step::Address, i, "address", from, a.to_string()));
        }
    }
    if let Some(gw) = vs.gateway.filter(|_| vs.lxc.is_none()) {
        let dev = vs.name.clone().or(cur_name);
        let present = live.default_routes.as_ref().map(|routes| {
            routes
                .iter()
                .any(|(g, d)| *g == gw && dev.as_deref() == Some(d.as_str()))
        });
        if present != Some(true) {
            let from = live.default_routes.as_ref().map(|r| {
                r.iter()
                    .filter(|(g, _)| g.is_ipv4() == gw.is_ipv4())
                    .map(|(g, d)| format!("default via {g} dev {d}"))
                    .next()
                    .unwrap_or_else(|| "(none)".into())
            });
            if let Some(old) = from.as_deref().filter(|f| *f != "(none)") {
                p.warnings.push(format!(
                    "VF {} of {}: setup replaces the default route ({old}) with the one via {gw} dev {}",
                    vs.index,
                    mk(Step::Route, i, "", None, String::new()).pf,
                    dev.as_deref().unwrap_or("?")
                ));
            }
            p.changes.push(mk(
                Step::Route,
                i,
                "route",
                from,
                format!("default via {gw}"),
            ));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use crate::config::parse;
    use crate::state::{LinkInfo, VfAttrs};
    use std::path::Path;

    /// A host with one igb PF `eno1` of 7 possible VFs, `n` of them created.
    #[test]
    fn a_pf_that_is_down_without_up_gets_a_warning_for_igb_and_ixgbe_only() {
        let text = "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 1\nvlan = 50\n";
        let warned = |driver: &str, up: Option<bool>, cfg_text: &str| -> bool {
            let mut h = host(0, true);
            h.pfs[0].driver = Some(driver.into());
            h.pfs[0].up = up;
            let p = plan(&cfg(cfg_text), &h, Options::default());
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            let w: Vec<&String> = p
                .warnings
                .iter()
                .filter(|w| w.contains("is down"))
                .collect();
            if let Some(w) = w.first() {
                assert!(
                    w.starts_with(&format!(
                        "PF eno1 is down: {driver} gives its VFs no MAC address"
                    )) && w.contains("add `up = true` to this [[pf]]"),
                    "{w}"
                );
            }
            !w.is_empty()
        };
        assert!(warned("igb", Some(false), text));
        assert!(warned("ixgbe", Some(false), text));
        // i40e hands out MACs through its admin queue, up or not.
        assert!(!warned("i40e", Some(false), text));
        assert!(!warned("igb", Some(true), text));
        // Unknown (no netlink): no guess.
        assert!(!warned("igb", None, text));
        // `up = true` takes care of it; `up = false` has its own warning.
        let with_up = text.replacen("num_vfs = 2\n", "num_vfs = 2\nup = true\n", 1);
        assert!(!warned("igb", Some(false), &with_up));
        // No VFs wanted: nothing to warn about.
        assert!(!warned(
            "igb",
            Some(false),
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 0\n"
        ));
    }

    pub(crate) fn host(n: u32, netlink: bool) -> HostState {
        let vfs = (0..n)
            .map(|i| VfState {
                index: i,
                address: format!("0000:01:10.{}", i * 2 % 8),
                driver: Some("igbvf".into()),
                netdev: Some(format!("eth{}", i + 1)),
                attrs: netlink.then(|| VfAttrs {
                    mac: Some("00:00:00:00:00:00".parse().unwrap()),
                    vlan: Some(VlanSpec {
                        vlan: 0,
                        qos: 0,
                        proto: VlanProto::Dot1Q,
                    }),
                    trust: Some(false),
                    spoofchk: Some(true),
                    ..VfAttrs::default()
                }),
                link: netlink.then(|| LinkInfo {
                    ifindex: 10 + i,
                    mtu: 1500,
                    ..LinkInfo::default()
                }),
                ..VfState::default()
            })
            .collect();
        let mut links: std::collections::BTreeSet<String> =
            (1..=n).map(|i| format!("eth{i}")).collect();
        links.insert("eno1".into());
        links.insert("lo".into());
        HostState {
            pfs: vec![PfState {
                address: "0000:01:00.0".into(),
                netdevs: vec!["eno1".into()],
                driver: Some("igb".into()),
                total_vfs: 7,
                num_vfs: n,
                vfs,
                ..PfState::default()
            }],
            links,
            netlink,
            default_routes: netlink.then(Vec::new),
        }
    }

    const NO: Options = Options {
        allow_recreate: false,
        force_unbind: false,
        prune: false,
    };
    const RECREATE: Options = Options {
        allow_recreate: true,
        force_unbind: false,
        prune: false,
    };

    fn cfg(t: &str) -> Config {
        parse(t, Path::new("s.toml"), "h").unwrap()
    }

    const CFG: &str = "node_id = 1\n[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\nvlan = 50\nname = \"eth0pve050\"\nup = true\naddresses = [\"10.0.50.100/24\"]\ngateway = \"10.0.50.1\"\n[[pf.vf]]\nindex = 0\npromisc = true\nvlan = 0\n";

    fn summary(p: &Plan) -> Vec<String> {
        p.changes
            .iter()
            .map(|c| format!("{:?} {:?} {} {:?}->{}", c.step, c.vf, c.attr, c.from, c.to))
            .collect()
    }

    #[test]
    fn fresh_host_plans_everything_in_order() {
        let p = plan(&cfg(CFG), &host(0, true), NO);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(
            summary(&p),
            [
                "NumVfs None num_vfs Some(\"0\")->4",
                "VfAttrs Some(0) vlan None->0",
                "VfAttrs Some(0) trust None->on",
                "VfAttrs Some(1) vlan None->50",
                "Link Some(0) promisc None->on",
                "Link Some(1) name None->eth0pve050",
                "Link Some(1) up None->up",
                "Address Some(1) address None->10.0.50.100/24",
                "Route Some(1) route Some(\"(none)\")->default via 10.0.50.1",
            ]
        );
    }

    #[test]
    fn converged_host_plans_nothing() {
        let mut h = host(4, true);
        let vf0 = &mut h.pfs[0].vfs[0];
        vf0.attrs.as_mut().unwrap().trust = Some(true);
        vf0.link.as_mut().unwrap().promisc = true;
        let vf1 = &mut h.pfs[0].vfs[1];
        vf1.netdev = Some("eth0pve050".into());
        vf1.attrs.as_mut().unwrap().vlan = Some(VlanSpec {
            vlan: 50,
            qos: 0,
            proto: VlanProto::Dot1Q,
        });
        let l = vf1.link.as_mut().unwrap();
        l.up = true;
        l.addresses = vec!["10.0.50.100/24".parse().unwrap()];
        h.links.insert("eth0pve050".into());
        h.default_routes = Some(vec![("10.0.50.1".parse().unwrap(), "eth0pve050".into())]);
        let p = plan(&cfg(CFG), &h, NO);
        assert!(
            p.errors.is_empty() && p.changes.is_empty(),
            "{:?} {:?}",
            p.errors,
            summary(&p)
        );
    }

    #[test]
    fn an_address_the_config_no_longer_lists_is_warned_about() {
        let mut h = host(4, true);
        let vf1 = &mut h.pfs[0].vfs[1];
        vf1.netdev = Some("eth0pve050".into());
        vf1.link.as_mut().unwrap().addresses = vec![
            "10.0.50.99/24".parse().unwrap(),
            "fe80::1/64".parse().unwrap(),
        ];
        h.links.insert("eth0pve050".into());
        let p = plan(&cfg(CFG), &h, NO);
        let w: Vec<&String> = p
            .warnings
            .iter()
            .filter(|w| w.contains("also has"))
            .collect();
        assert_eq!(w.len(), 1, "{:?}", p.warnings);
        assert!(
            w[0].contains("eth0pve050 also has 10.0.50.99/24")
                && w[0].contains("ip address del 10.0.50.99/24 dev eth0pve050"),
            "{}",
            w[0]
        );
        assert!(p
            .changes
            .iter()
            .any(|c| c.attr == "address" && c.to == "10.0.50.100/24"));
        assert!(w[0].contains("--prune"), "{}", w[0]);

        // --prune: the stale address goes first (a primary IPv4 address takes
        // its subnet's secondaries with it), then the configured one is added;
        // the link-local one stays; no warning.
        let prune = Options { prune: true, ..NO };
        let p = plan(&cfg(CFG), &h, prune);
        assert!(!p.warnings.iter().any(|w| w.contains("also has")));
        let addr: Vec<(&str, Option<&str>, &str)> = p
            .changes
            .iter()
            .filter(|c| c.step == Step::Address)
            .map(|c| (c.attr.as_str(), c.from.as_deref(), c.to.as_str()))
            .collect();
        assert_eq!(
            addr,
            [
                ("remove_address", Some("10.0.50.99/24"), "(none)"),
                ("address", Some("(absent)"), "10.0.50.100/24"),
            ]
        );
        let diff = crate::render::diff(&p.changes, "s.toml", crate::render::Style::default());
        assert!(
            diff.contains("-address 10.0.50.99/24\n+address (none)\n"),
            "{diff}"
        );
    }

    #[test]
    fn recreate_needs_the_flag_and_names_vfs_in_use() {
        let mut h = host(3, true);
        h.pfs[0].vfs[0].in_use = vec![crate::state::InUse::Up {
            netdev: "eth1".into(),
        }];
        h.pfs[0].vfs[2].in_use = vec![crate::state::InUse::Passthrough {
            driver: "vfio-pci".into(),
        }];
        let p = plan(&cfg(CFG), &h, NO);
        assert_eq!(
            p.errors,
            [
                "s.toml:4:11: PF eno1: num_vfs is 3 and the config wants 4; the kernel only allows this through 0, which destroys all 3 VFs. Re-run with --allow-recreate to do it; 2 of them in use:",
                "  VF 0 (0000:01:10.0): netdev eth1 is up",
                "  VF 2 (0000:01:10.4): bound to vfio-pci",
            ]
        );
        assert!(p.changes.is_empty());
        // Nothing in use: still says how many VFs go.
        let p = plan(&cfg(CFG), &host(2, true), NO);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(
            p.errors[0].contains("destroys all 2 VFs")
                && p.errors[0].contains("none of them is in use"),
            "{:?}",
            p.errors
        );
        let p = plan(&cfg(CFG), &host(2, true), RECREATE);
        assert!(p.errors.is_empty());
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.changes[0].attr, "num_vfs");
    }

    #[test]
    fn live_validation() {
        let mut h = host(0, true);
        h.links.insert("eth0pve050".into());
        h.pfs[0].driver = None;
        let c = cfg("[[pf]]\nname = \"eno1\"\nnum_vfs = 9\n[[pf.vf]]\nindex = 1\nname = \"eth0pve050\"\n[[pf]]\npci = \"07:00.0\"\nnum_vfs = 1\n");
        let p = plan(&c, &h, NO);
        assert_eq!(
            p.errors,
            [
                "s.toml:2:8: PF eno1 (0000:01:00.0): no driver is bound, so the kernel cannot create VFs (bind its network driver first)",
                "s.toml:3:11: PF eno1 (0000:01:00.0): num_vfs = 9 is above sriov_totalvfs = 7",
                "s.toml:8:7: PF 07:00.0: no SR-IOV capable PCI device at 07:00.0",
            ]
        );
        h.pfs[0].driver = Some("igb".into());
        let p = plan(&cfg("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 1\nname = \"eth0pve050\"\n"), &h, NO);
        assert!(
            p.errors.iter().any(|e| e
                .starts_with("s.toml:6:8: VF 1 of eno1: the name `eth0pve050` is already taken")),
            "{:?}",
            p.errors
        );
    }

    #[test]
    fn same_pf_by_name_and_address_is_an_error() {
        let c = cfg(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf]]\npci = \"0000:01:00.0\"\nnum_vfs = 2\n",
        );
        let p = plan(&c, &host(0, true), NO);
        assert_eq!(p.errors, ["s.toml:5:7: PF 0000:01:00.0 is the same device (0000:01:00.0) as PF eno1; configure each PF once"]);
    }

    #[test]
    fn vf_moved_into_a_container_is_left_alone() {
        let mut h = host(2, true);
        h.pfs[0].vfs[1].netdev = None;
        h.pfs[0].vfs[1].link = None;
        let c = cfg("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 1\nvlan = 50\nname = \"eth1lxc9999v050\"\nup = true\nlxc = 9999\n");
        let p = plan(&c, &h, NO);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(summary(&p), ["VfAttrs Some(1) vlan Some(\"0\")->50"]);
        assert_eq!(p.warnings.len(), 1);
        assert!(
            p.warnings[0].contains("moved into a container such as CT 9999"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn vfio_bound_vf_cannot_take_netdev_keys() {
        let mut h = host(2, true);
        h.pfs[0].vfs[1].driver = Some("vfio-pci".into());
        h.pfs[0].vfs[1].netdev = None;
        h.pfs[0].driver = Some("igb".into());
        let p = plan(
            &cfg("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 1\nup = true\n"),
            &h,
            NO,
        );
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(
            p.errors[0].starts_with("s.toml:4:1: VF 1 of eno1 is bound to vfio-pci"),
            "{:?}",
            p.errors
        );
    }

    #[test]
    fn binding_a_busy_vf_is_refused_before_anything_changes() {
        let mut h = host(2, true);
        h.pfs[0].vfs[1].in_use = vec![
            crate::state::InUse::Up {
                netdev: "eth2".into(),
            },
            crate::state::InUse::Addresses {
                netdev: "eth2".into(),
                addresses: vec!["10.0.0.5".parse().unwrap()],
            },
        ];
        let c = cfg("[[pf]]\nname = \"eno1\"\nnum_vfs = 2\n[[pf.vf]]\nindex = 1\nvlan = 50\ndriver = \"vfio-pci\"\n");
        let p = plan(&c, &h, NO);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        let e = &p.errors[0];
        for want in [
            "s.toml:7:10: VF 1 of eno1 (0000:01:10.2)",
            "vfio-pci",
            "netdev eth2",
            "eth2 is up",
            "has addresses 10.0.0.5",
            "ip link set eth2 down",
            "--force-unbind",
        ] {
            assert!(e.contains(want), "{want:?} not in {e}");
        }
        // An idle VF binds without complaint.
        h.pfs[0].vfs[1].in_use.clear();
        assert!(plan(&c, &h, NO).errors.is_empty());
        // --force-unbind: allowed, with a warning.
        h.pfs[0].vfs[1].in_use = vec![crate::state::InUse::Up {
            netdev: "eth2".into(),
        }];
        let forced = Options {
            force_unbind: true,
            ..NO
        };
        let p = plan(&c, &h, forced);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert!(p.warnings.iter().any(|w| w.contains("--force-unbind")));
        assert!(p.changes.iter().any(|c| c.step == Step::Driver));
    }

    #[test]
    fn trunk_to_vm_and_i40e_warn() {
        let mut h = host(0, false);
        h.pfs[0].driver = Some("i40e".into());
        let c = cfg("[[pf]]\nname = \"eno1\"\nnum_vfs = 3\n[[pf.vf]]\nindex = 0\ndriver = \"vfio-pci\"\n[[pf.vf]]\nindex = 1\npromisc = true\n");
        let p = plan(&c, &h, NO);
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("goes to a VM without a VLAN"));
        assert!(p.warnings[1].contains("ethtool --set-priv-flags eno1 vf-true-promisc-support on"));
    }

    #[test]
    fn unknown_state_plans_with_null_from() {
        let p = plan(&cfg(CFG), &host(4, false), NO);
        let vlan = p
            .changes
            .iter()
            .find(|c| c.attr == "vlan" && c.vf == Some(1))
            .unwrap();
        assert_eq!(vlan.from, None);
        assert!(p.changes.iter().all(|c| c.attr != "num_vfs"));
    }
}
