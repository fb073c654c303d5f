//! The plan of one VF: its PF-side attributes, driver, netdev settings,
//! addresses and route, and the checks that make such a plan invalid.

use netlink_vf::IpPrefix;

use super::{Change, Ctx, Op, Plan};
use crate::config::{is_link_local, DriverSpec, VfSpec};
use crate::state::{PfState, VfState};

/// Plans everything about VF `vs` of `pf` (`vf`: the VF as it is now, when it
/// exists and survives the plan's count change).
pub(super) fn plan_vf(
    pfn: &str,
    pf: &PfState,
    vs: &VfSpec,
    vf: Option<&VfState>,
    ctx: &Ctx<'_>,
    p: &mut Plan,
) {
    let mk = |op: Op| Change::new(pfn, pf.address, Some(vs.index), op);
    check_vf_live(pfn, vs, vf, ctx, p);
    trunk_warnings(pfn, pf, vs, p);
    plan_attrs(vs, vf, &mk, p);
    plan_driver(vs, vf, autoprobes(pf) && pf.is_network(), &mk, p);
    plan_reload(pfn, pf, vs, vf, &mk, ctx, p);
    check_unbind(pfn, vs, vf, ctx, p);
    // A VF bound to its network driver whose netdev is not visible here has
    // been moved to another network namespace (a running container took it):
    // its link settings are the container's business now.
    let elsewhere = vf.is_some_and(|v| {
        v.netdev.is_none()
            && v.driver.as_deref().is_some_and(|d| d != "vfio-pci")
            && vs.driver.is_none()
    });
    if elsewhere {
        if vs.name.is_some() || vs.up.is_some() || vs.promisc.is_some() || vs.mtu.is_some() {
            p.warnings.push(format!(
                "VF {} of {pfn}: its netdev is not in this network namespace (moved into a container{}?), so its name and link settings are left alone",
                vs.index,
                vs.lxc.map(|c| format!(" such as CT {c}")).unwrap_or_default()
            ));
        }
        return;
    }
    plan_link(vs, vf, &mk, p);
    plan_addresses(pfn, vs, vf, &mk, ctx, p);
}

fn check_vf_live(pfn: &str, vs: &VfSpec, vf: Option<&VfState>, ctx: &Ctx<'_>, p: &mut Plan) {
    if let Some(name) = &vs.name {
        let name = name.as_str();
        let own = vf.and_then(|v| v.netdev.as_deref()) == Some(name);
        // A name held by a VF that this plan destroys is free by the time
        // this VF is renamed.
        if !own && ctx.live.links.contains(name) && !ctx.released.contains(name) {
            p.error(
                vs.name_loc,
                format!(
                    "VF {} of {pfn}: the name `{name}` is already taken by another network interface",
                    vs.index
                ),
            );
        }
    }
    if let Some(v) = vf {
        if vs.wants_netdev() && vs.driver.is_none() && v.driver.as_deref() == Some("vfio-pci") {
            p.error(vs.loc, format!(
                "VF {} of {pfn} is bound to vfio-pci, so it has no netdev for `name`/`up`/`promisc`/`mtu`/`addresses`; set driver = \"default\" to give it back to its network driver",
                vs.index
            ));
        }
    }
}

fn trunk_warnings(pfn: &str, pf: &PfState, vs: &VfSpec, p: &mut Plan) {
    // VLANs are a NIC's: an NVMe VF for a VM has none to leak.
    if !vs.is_trunk() || !pf.is_network() {
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
    if pf.driver.as_deref() == Some("i40e") && vs.promisc == Some(true) {
        p.warnings.push(format!(
            "VF {} of {pfn}: i40e delivers all VLANs to a promiscuous VF only with the PF-wide private flag: `ethtool --set-priv-flags {} vf-true-promisc-support on` (affects every VF of the port)",
            vs.index,
            pf.label()
        ));
    }
}

/// Pushes `op(from, to)` when the config sets `to` and it differs from `from`.
fn differ<T: PartialEq + Copy>(
    p: &mut Plan,
    mk: &impl Fn(Op) -> Change,
    from: Option<T>,
    to: Option<T>,
    op: impl Fn(Option<T>, T) -> Op,
) {
    if let Some(to) = to {
        if from != Some(to) {
            p.changes.push(mk(op(from, to)));
        }
    }
}

fn plan_attrs(vs: &VfSpec, vf: Option<&VfState>, mk: &impl Fn(Op) -> Change, p: &mut Plan) {
    let a = vf.and_then(|v| v.attrs.as_ref());
    differ(p, mk, a.and_then(|a| a.mac), vs.mac, |from, to| Op::Mac {
        from,
        to,
    });
    differ(p, mk, a.and_then(|a| a.vlan), vs.vlan, |from, to| {
        Op::Vlan { from, to }
    });
    differ(
        p,
        mk,
        a.and_then(|a| a.spoofchk),
        vs.spoofchk,
        |from, to| Op::SpoofChk { from, to },
    );
    differ(
        p,
        mk,
        a.and_then(|a| a.trust),
        vs.wanted_trust(),
        |from, to| Op::Trust { from, to },
    );
    differ(
        p,
        mk,
        a.and_then(|a| a.link_state),
        vs.link_state,
        |from, to| Op::LinkState { from, to },
    );
    differ(
        p,
        mk,
        a.and_then(|a| a.min_tx_rate),
        vs.min_tx_rate,
        |from, to| Op::MinTxRate { from, to },
    );
    differ(
        p,
        mk,
        a.and_then(|a| a.max_tx_rate),
        vs.max_tx_rate,
        |from, to| Op::MaxTxRate { from, to },
    );
    differ(
        p,
        mk,
        a.and_then(|a| a.query_rss),
        vs.query_rss,
        |from, to| Op::QueryRss { from, to },
    );
}

/// Whether the kernel gives `pf`'s new VFs their driver by itself
/// (`sriov_drivers_autoprobe`; absent before Linux 4.12, which always does).
pub(super) fn autoprobes(pf: &PfState) -> bool {
    pf.sriov.is_none_or(|s| s.drivers_autoprobe)
}

fn plan_driver(
    vs: &VfSpec,
    vf: Option<&VfState>,
    autoprobe: bool,
    mk: &impl Fn(Op) -> Change,
    p: &mut Plan,
) {
    let from = vf.map(|v| v.driver.clone());
    let cur = vf.and_then(|v| v.driver.as_deref());
    if let Some(d) = &vs.driver {
        let ok = match (d, cur) {
            (DriverSpec::VfioPci, Some("vfio-pci")) => true,
            (DriverSpec::Default, Some(cur)) => cur != "vfio-pci",
            (DriverSpec::Named(n), Some(cur)) => cur == n,
            _ => false,
        };
        if !ok {
            p.changes.push(mk(Op::Driver {
                from,
                to: d.clone(),
                implicit: false,
            }));
        }
    } else if vf.is_some_and(|v| v.driver.is_none()) && (vs.wants_netdev() || autoprobe) {
        // An unbound VF (unbound by hand, or created while the PF's autoprobe
        // was off) has no netdev for its link settings: give it the network
        // driver the kernel picks. On a PF that autoprobes, a VF without a
        // driver is what a run killed after its count write leaves (setup
        // creates VFs with autoprobe off and probes them later): probe it, as
        // an uninterrupted run would have.
        p.changes.push(mk(Op::Driver {
            from,
            to: DriverSpec::Default,
            implicit: true,
        }));
    }
}

fn plan_link(vs: &VfSpec, vf: Option<&VfState>, mk: &impl Fn(Op) -> Change, p: &mut Plan) {
    let link = vf.and_then(|v| v.link.as_ref());
    let cur_name = vf.and_then(|v| v.netdev.clone());
    if let Some(n) = &vs.name {
        if cur_name.as_deref() != Some(n.as_str()) {
            p.changes.push(mk(Op::Rename {
                from: cur_name,
                to: n.clone(),
            }));
        }
    }
    // An MTU the kernel did not report is unknown, not 0.
    differ(p, mk, link.and_then(|l| l.mtu), vs.mtu, |from, to| {
        Op::Mtu { from, to }
    });
    differ(p, mk, link.map(|l| l.promisc), vs.promisc, |from, to| {
        Op::Promisc { from, to }
    });
    differ(p, mk, link.map(|l| l.up), vs.up, |from, to| Op::Up {
        from,
        to,
    });
}

fn plan_addresses(
    pfn: &str,
    vs: &VfSpec,
    vf: Option<&VfState>,
    mk: &impl Fn(Op) -> Change,
    ctx: &Ctx<'_>,
    p: &mut Plan,
) {
    let link = vf.and_then(|v| v.link.as_ref());
    let cur_name = vf.and_then(|v| v.netdev.clone());
    // An LXC VF's addresses and gateway belong to the container (`generate lxc`).
    let host_addresses: &[IpPrefix] = if vs.lxc.is_some() { &[] } else { &vs.addresses };
    // setup adds addresses; an address the config no longer lists (the old one
    // after an edit) is removed with --prune, else named in a warning. Removed
    // first: deleting a primary IPv4 address also deletes the secondaries of
    // its subnet, which the adds would otherwise have to follow.
    if let (Some(l), false) = (link, host_addresses.is_empty()) {
        let netdev = vs
            .name
            .as_ref()
            .map(|n| n.as_str())
            .or(cur_name.as_deref())
            .unwrap_or("?");
        for extra in l
            .addresses
            .iter()
            .filter(|a| !host_addresses.contains(a) && !is_link_local(a))
        {
            if ctx.opts.prune {
                p.changes.push(mk(Op::RemoveAddress { addr: *extra }));
            } else {
                p.warnings.push(format!(
                    "VF {} of {pfn}: {netdev} also has {extra}, which the config does not list; setup only adds addresses, so remove it if it is stale (`ip address del {extra} dev {netdev}`, or re-run setup with --prune)",
                    vs.index,
                ));
            }
        }
    }
    for a in host_addresses {
        if link.map(|l| l.addresses.contains(a)) != Some(true) {
            p.changes.push(mk(Op::AddAddress {
                known: link.is_some(),
                to: *a,
            }));
        }
    }
    let Some(gw) = vs.gateway.filter(|_| vs.lxc.is_none()) else {
        return;
    };
    let dev = vs.name.as_ref().map(|n| n.to_string()).or(cur_name);
    let routes = ctx.live.default_routes.as_ref();
    let present = routes.map(|r| {
        r.iter()
            .any(|(g, d)| *g == gw && dev.as_deref() == Some(d.as_str()))
    });
    if present == Some(true) {
        return;
    }
    let from = routes.map(|r| {
        r.iter()
            .find(|(g, _)| g.is_ipv4() == gw.is_ipv4())
            .map(|(g, d)| (*g, d.clone()))
    });
    if let Some(Some((g, d))) = &from {
        p.warnings.push(format!(
            "VF {} of {pfn}: setup replaces the default route (default via {g} dev {d}) with the one via {gw} dev {}",
            vs.index,
            dev.as_deref().unwrap_or("?")
        ));
    }
    p.changes.push(mk(Op::Route { from, gateway: gw }));
}

/// A VF network driver that read its MAC before the PF set the one configured
/// keeps using the old one until it loads again (igbvf and ixgbevf: "Reload the
/// VF driver to make this change effective"), and the PF then drops the VF's
/// traffic as spoofed. Plan a reload of the driver when the PF already has the
/// configured MAC, the netdev does not, and the PF has carrier (a VF driver
/// probed while the PF is down gets no MAC from it at all, so a reload then
/// changes nothing). A netdev that is up or has addresses is reloaded only with
/// `--force-unbind`; otherwise the change is planned with the reason in its
/// `detail` (see [`Change::reload_blocked`]) and a warning, and `setup` skips it.
fn plan_reload(
    pfn: &str,
    pf: &PfState,
    vs: &VfSpec,
    vf: Option<&VfState>,
    mk: &impl Fn(Op) -> Change,
    ctx: &Ctx<'_>,
    p: &mut Plan,
) {
    let (Some(v), Some(want)) = (vf, vs.mac) else {
        return;
    };
    let Some(have) = v.link.as_ref().and_then(|l| l.mac) else {
        return;
    };
    let pf_set = v.attrs.as_ref().and_then(|a| a.mac) == Some(want);
    let net_driver = v.driver.as_deref().is_some_and(|d| d != "vfio-pci");
    let rebinding = p.changes.iter().any(|c| {
        matches!(c.op, Op::Driver { .. }) && c.vf == Some(vs.index) && c.pf_address == pf.address
    });
    if have == want || !pf_set || !net_driver || rebinding || pf.carrier != Some(true) {
        return;
    }
    let mut c = mk(Op::Reload {
        from: have,
        to: want,
    });
    let busy = v.busy_netdev();
    if !busy.is_empty() {
        let netdev = v.netdev.as_deref().unwrap_or("?");
        let driver = v.driver.as_deref().unwrap_or("?");
        let why: Vec<String> = busy.iter().map(ToString::to_string).collect();
        if ctx.opts.force_unbind {
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

/// A driver change unbinds the VF from its network driver: refuse it (as the
/// kernel-facing bind would, but before anything changed) when its netdev is up
/// or has addresses, unless `--force-unbind`.
fn check_unbind(pfn: &str, vs: &VfSpec, vf: Option<&VfState>, ctx: &Ctx<'_>, p: &mut Plan) {
    let (Some(d), Some(v)) = (&vs.driver, vf) else {
        return;
    };
    let changes = p
        .changes
        .iter()
        .any(|c| matches!(c.op, Op::Driver { .. }) && c.vf == Some(vs.index) && c.pf == pfn);
    let busy = v.busy_netdev();
    if !changes || busy.is_empty() {
        return;
    }
    let netdev = v.netdev.as_deref().unwrap_or("?");
    let why: Vec<String> = busy.iter().map(ToString::to_string).collect();
    let driver = v.driver.as_deref().unwrap_or("its driver");
    if ctx.opts.force_unbind {
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
