//! The phases of `apply`, one method each, in application order. Every
//! change is matched on its [`Op`]: each kind has exactly one place here.

use std::collections::{BTreeMap, BTreeSet};

use netlink_vf::VfConfig;
use sysfs_sriov::PciAddress;

use super::{finish, together, Engine, Progress, Timing};
use crate::config::DriverSpec;
use crate::host::{chain, Detail, HostError};
use crate::plan::{plan, Change, Op, Options, Status};
use crate::state::{HostState, PfState, VfState};

fn pf_of<'a>(state: &'a HostState, c: &Change) -> Option<&'a PfState> {
    state.pfs.iter().find(|p| p.address == c.pf_address)
}

fn vf_of<'a>(state: &'a HostState, c: &Change) -> Option<&'a VfState> {
    pf_of(state, c).and_then(|p| c.vf.and_then(|i| p.vf(i)))
}

/// The error of a change whose VF vanished since the host was read.
fn vanished(c: &Change) -> HostError {
    HostError::Vanished(format!(
        "VF {} of {}",
        c.vf.unwrap_or_default(),
        c.pf_address
    ))
}

/// A change whose PF vanished since it was planned.
fn gone(c: &mut Change, what: &str) {
    c.status = Status::Failed;
    c.detail = Some(format!("the {what} disappeared"));
}

impl Engine<'_> {
    /// The PFs' own links: every link set, then one wait for the carriers of
    /// those brought up.
    pub(super) fn pf_links(&mut self, state: &HostState, todo: Vec<Change>) {
        let mut links: Vec<(&PfState, bool)> = Vec::new();
        let mut items: Vec<Change> = Vec::new();
        for mut c in todo {
            let Op::PfUp { to, .. } = c.op else {
                continue;
            };
            match pf_of(state, &c) {
                None => {
                    gone(&mut c, "PF");
                    self.dead_pfs.insert(c.pf_address);
                    self.out.changes.push(c);
                }
                Some(pf) => {
                    if to {
                        (self.progress)(Progress::Carrier { pf: &pf.label() });
                    }
                    links.push((pf, to));
                    items.push(c);
                }
            }
        }
        let ups: Vec<&PfState> = links
            .iter()
            .filter(|(_, up)| *up)
            .map(|(p, _)| *p)
            .collect();
        self.watch(&ups);
        let together = together(links.len());
        let names: Vec<String> = items.iter().map(|c| c.pf.clone()).collect();
        let done = self.host.set_pf_links(&links);
        for (mut c, t) in items.into_iter().zip(done) {
            self.out.timings.push(Timing {
                depth: 1,
                what: format!("{}: {}{together}", c.pf, c.op.to_text()),
                took: t.took,
            });
            finish(&mut c, t.value, Status::Failed);
            if c.status != Status::Applied {
                self.dead_pfs.insert(c.pf_address);
            }
            self.out.changes.push(c);
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.wait_carriers(&ups, &names);
    }

    /// The VF counts of all PFs, written at once; the PFs that had carrier
    /// are waited for after (a count change resets the PF).
    pub(super) fn num_vfs(&mut self, state: &HostState, todo: Vec<Change>) {
        let mut writes: Vec<(&PfState, u32)> = Vec::new();
        let mut items: Vec<Change> = Vec::new();
        for mut c in todo {
            let Op::NumVfs { from, to } = c.op else {
                continue;
            };
            let Some(pf) = pf_of(state, &c) else {
                gone(&mut c, "PF");
                self.dead_pfs.insert(c.pf_address);
                self.out.changes.push(c);
                continue;
            };
            (self.progress)(Progress::NumVfs {
                pf: &c.pf,
                from,
                to,
                carrier_wait: pf.carrier == Some(true),
            });
            writes.push((pf, to));
            items.push(c);
        }
        let had_carrier: Vec<&PfState> = writes
            .iter()
            .filter(|(p, _)| p.carrier == Some(true))
            .map(|(p, _)| *p)
            .collect();
        self.watch(&had_carrier);
        let together = together(writes.len());
        let done = self.host.set_num_vfs(&writes, self.opts.allow_recreate);
        crate::fault::point("num_vfs-written");
        for (c, t) in items.iter().zip(&done) {
            let Op::NumVfs { to, .. } = c.op else {
                continue;
            };
            self.out.timings.push(Timing {
                depth: 1,
                what: format!("{}: sriov_numvfs {to}{together}", c.pf),
                took: t.took,
            });
        }
        // VF settings need the PF's link back (igb refuses a TX rate without
        // it), and a VF driver probed while the PF is still resetting misses
        // its MAC: one wait for all (the PFs reset at the same time).
        if done.iter().any(|t| t.value.is_ok()) {
            let names: Vec<&str> = items.iter().map(|c| c.pf.as_str()).collect();
            self.wait_carriers(&had_carrier, &names);
        }
        for ((mut c, t), &(pf, n)) in items.into_iter().zip(done).zip(&writes) {
            let res = match t.value {
                Err(e) => Err(e),
                Ok(true) => {
                    // The VFs exist once the write returns; the wait for
                    // their drivers comes after probing.
                    self.unprobed.insert(c.pf_address);
                    Ok(())
                }
                Ok(false) => self.wait_for_vfs(pf, n, "wait for the VF drivers"),
            };
            finish(&mut c, res, Status::Failed);
            if c.status != Status::Applied {
                self.dead_pfs.insert(c.pf_address);
            }
            self.out.changes.push(c);
        }
    }

    /// Waits for `n` VFs of `pf` with their drivers and netdevs, showing
    /// progress, timed under `what`.
    fn wait_for_vfs(&mut self, pf: &PfState, n: u32, what: &str) -> Result<(), HostError> {
        let label = pf.label();
        let progress = &mut *self.progress;
        let t = std::time::Instant::now();
        let r = self.host.wait_for_vfs(pf, n, &mut |ready, want| {
            progress(Progress::Vfs {
                pf: &label,
                ready,
                want,
            });
        });
        self.out.timings.push(Timing {
            depth: 1,
            what: format!("{label}: {what}"),
            took: t.elapsed(),
        });
        r
    }

    /// PF-side VF attributes: one request per PF with every VF's changes;
    /// each change gets the kernel's answer for its VF and attribute.
    pub(super) fn vf_attrs(&mut self, state: &HostState, todo: Vec<Change>) {
        let mut by_pf: BTreeMap<PciAddress, Vec<Change>> = BTreeMap::new();
        for c in todo {
            by_pf.entry(c.pf_address).or_default().push(c);
        }
        for (addr, mut changes) in by_pf {
            let mut configs: BTreeMap<u32, VfConfig> = BTreeMap::new();
            for c in &changes {
                let Some(i) = c.vf else { continue };
                let w = configs.entry(i).or_insert_with(|| VfConfig::new(i));
                match &c.op {
                    Op::Mac { to, .. } => w.mac = Some(*to),
                    Op::Vlan { to, .. } => w.vlan = Some(*to),
                    Op::SpoofChk { to, .. } => w.spoofchk = Some(*to),
                    Op::Trust { to, .. } => w.trust = Some(*to),
                    Op::LinkState { to, .. } => w.link_state = Some(*to),
                    // One kernel attribute carries both rates: netlink-vf
                    // fills in the one not set from the VF's current value.
                    Op::MinTxRate { to, .. } => w.min_tx_rate = Some(*to),
                    Op::MaxTxRate { to, .. } => w.max_tx_rate = Some(*to),
                    Op::QueryRss { to, .. } => w.query_rss = Some(*to),
                    Op::PfUp { .. }
                    | Op::NumVfs { .. }
                    | Op::Driver { .. }
                    | Op::Reload { .. }
                    | Op::Rename { .. }
                    | Op::Mtu { .. }
                    | Op::Promisc { .. }
                    | Op::Up { .. }
                    | Op::AddAddress { .. }
                    | Op::RemoveAddress { .. }
                    | Op::Route { .. } => {}
                }
            }
            let configs: Vec<VfConfig> = configs.into_values().collect();
            let res = match state.pfs.iter().find(|p| p.address == addr) {
                None => Err("the PF disappeared".to_string()),
                Some(pf) => self
                    .timed(
                        format!(
                            "{}: VF attributes of {} VFs, one request",
                            pf.label(),
                            configs.len()
                        ),
                        |h| h.set_vf_attrs(pf, &configs),
                    )
                    .map_err(|e| chain(&e)),
            };
            for c in &mut changes {
                let failure = match (&res, c.op.vf_attr()) {
                    (Err(e), _) => Some(e.clone()),
                    (Ok(fails), Some(attr)) => fails
                        .iter()
                        .find(|(i, a, _)| Some(*i) == c.vf && *a == attr)
                        .map(|(_, _, e)| chain(e)),
                    (Ok(_), None) => Some(format!("`{}` is not a VF attribute", c.op.attr())),
                };
                match failure {
                    None => c.status = Status::Applied,
                    Some(e) => {
                        c.status = Status::Refused;
                        c.detail = Some(e);
                    }
                }
            }
            self.out.changes.extend(changes);
        }
    }

    /// Driver binds and reloads, then the probes of VFs created without a
    /// driver, then the wait for the netdevs of every PF whose VFs went back
    /// to a network driver.
    pub(super) fn drivers(&mut self, state: &HostState, todo: Vec<Change>) -> Result<(), String> {
        let mut rebound: BTreeSet<PciAddress> = BTreeSet::new();
        let mut bound: BTreeSet<(PciAddress, u32)> = BTreeSet::new();
        // What validation says about reloads (the re-plan forces them),
        // computed only when there is a reload to decide.
        let strict = todo
            .iter()
            .any(|c| matches!(c.op, Op::Reload { .. }))
            .then(|| plan(self.cfg, state, self.opts));
        for mut c in todo {
            let key = c.vf.map(|i| (c.pf_address, i));
            let res = match &c.op {
                Op::Driver { implicit: true, .. } if self.unprobed.contains(&c.pf_address) => {
                    // A VF this run created without a driver: probed below
                    // with the others, not reported as a change of its own.
                    continue;
                }
                Op::Reload { .. } => match self.reload(state, strict.as_ref(), &mut c) {
                    Some(res) => res,
                    None => {
                        self.out.changes.push(c);
                        continue;
                    }
                },
                Op::Driver { to, .. } => match vf_of(state, &c) {
                    None => Err(vanished(&c)),
                    Some(vf) => {
                        let force = self.opts.force_unbind;
                        self.timed(format!("{} vf {}: driver {to}", c.pf, vf.index), |h| {
                            h.bind_driver(vf, to, force)
                        })
                    }
                },
                _ => continue,
            };
            let to_network = !matches!(
                c.op,
                Op::Driver {
                    to: DriverSpec::VfioPci,
                    ..
                }
            );
            if let Some(k) = key {
                bound.insert(k);
            }
            finish(&mut c, res, Status::Failed);
            if c.status == Status::Applied {
                if to_network {
                    rebound.insert(c.pf_address);
                }
            } else if let Some(k) = key {
                self.dead_vfs.insert(k);
            }
            self.out.changes.push(c);
        }
        self.probe_unbound(state, &bound, &mut rebound);
        // A VF given back to its network driver gets its netdev
        // asynchronously: wait for it before renaming or addressing it.
        for addr in rebound {
            if let Some(pf) = state.pfs.iter().find(|p| p.address == addr) {
                self.wait_for_vfs(pf, pf.num_vfs, "wait for the VF netdevs")
                    .map_err(|e| chain(&e))?;
            }
        }
        Ok(())
    }

    /// A driver reload: skipped (`None`, the change's detail says why) when
    /// validation says its netdev is in use; otherwise the reload's result.
    fn reload(
        &mut self,
        state: &HostState,
        strict: Option<&crate::plan::Plan>,
        c: &mut Change,
    ) -> Option<Result<(), HostError>> {
        let blocked = strict.and_then(|p| {
            p.changes
                .iter()
                .find(|s| s.same_target(c) && s.reload_blocked())
        });
        if let Some(s) = blocked {
            c.status = Status::Skipped;
            c.detail.clone_from(&s.detail);
            return None;
        }
        Some(match vf_of(state, c) {
            None => Err(vanished(c)),
            Some(vf) => {
                let force = self.opts.force_unbind;
                self.timed(format!("{} vf {}: driver reload", c.pf, vf.index), |h| {
                    h.reload_driver(vf, force)
                })
            }
        })
    }

    /// VFs this run created without drivers can still have been bound before
    /// their PF-side MAC was set: udev loads the VF driver's module on the
    /// VFs' "add" events, and the module's `driver_attach()` binds every VF it
    /// matches once `sriov_drivers_autoprobe` is back on (it is only off
    /// around the count write). Such a VF's driver asked the PF for its MAC
    /// before there was one and made one up (igbvf: a random address); its
    /// netdev registers during the driver phase's waits, after that phase's
    /// reading, so the link phase's plan is the first to show its reload.
    /// Called with the link phase's reading and plan: when they hold such
    /// reloads, does them, waits for the netdevs, and returns a new reading
    /// and plan; otherwise returns them as they are. Nothing to do when this
    /// run created no VFs.
    pub(super) fn late_reloads(
        &mut self,
        state: HostState,
        p: crate::plan::Plan,
    ) -> Result<(HostState, crate::plan::Plan), String> {
        let late: Vec<Change> = if self.unprobed.is_empty() {
            Vec::new()
        } else {
            p.changes
                .iter()
                .filter(|c| matches!(c.op, Op::Reload { .. }))
                .filter(|c| {
                    let dead =
                        c.vf.is_some_and(|i| self.dead_vfs.contains(&(c.pf_address, i)));
                    !dead && !self.out.changes.iter().any(|d| d.same_target(c))
                })
                .cloned()
                .collect()
        };
        if late.is_empty() {
            return Ok((state, p));
        }
        let strict = plan(self.cfg, &state, self.opts);
        let mut rebound: BTreeSet<PciAddress> = BTreeSet::new();
        for mut c in late {
            let Some(res) = self.reload(&state, Some(&strict), &mut c) else {
                self.out.changes.push(c);
                continue;
            };
            finish(&mut c, res, Status::Failed);
            if c.status == Status::Applied {
                rebound.insert(c.pf_address);
            } else if let Some(i) = c.vf {
                self.dead_vfs.insert((c.pf_address, i));
            }
            self.out.changes.push(c);
        }
        for addr in rebound {
            if let Some(pf) = state.pfs.iter().find(|p| p.address == addr) {
                self.wait_for_vfs(pf, pf.num_vfs, "wait for the reloaded VF netdevs")
                    .map_err(|e| chain(&e))?;
            }
        }
        let t = std::time::Instant::now();
        let state = self.host.read(Detail::Plan).map_err(|e| chain(&e))?;
        let replan = Options {
            force_unbind: true,
            ..self.opts
        };
        let p = plan(self.cfg, &state, replan);
        self.out.timings.push(Timing {
            depth: 1,
            what: "read host, plan again (VFs bound before their MAC was set, reloaded)".into(),
            took: t.elapsed(),
        });
        Ok((state, p))
    }

    /// VFs created without drivers and not bound above get the driver the
    /// kernel picks (a VF whose bind failed stays unbound rather than falling
    /// back to the host's network driver), all at once.
    fn probe_unbound(
        &mut self,
        state: &HostState,
        bound: &BTreeSet<(PciAddress, u32)>,
        rebound: &mut BTreeSet<PciAddress>,
    ) {
        let mut probes: Vec<(&PfState, &VfState)> = Vec::new();
        for addr in &self.unprobed {
            let Some(pf) = state.pfs.iter().find(|p| &p.address == addr) else {
                continue;
            };
            for vf in pf.vfs.iter().filter(|v| v.driver.is_none()) {
                let key = (*addr, vf.index);
                if !bound.contains(&key) && !self.dead_vfs.contains(&key) {
                    probes.push((pf, vf));
                }
            }
            rebound.insert(*addr);
        }
        let vfs: Vec<&VfState> = probes.iter().map(|&(_, vf)| vf).collect();
        let done = self.host.probe_vfs(&vfs);
        for (&(pf, vf), t) in probes.iter().zip(done) {
            self.out.timings.push(Timing {
                depth: 1,
                what: format!("{} vf {}: probe", pf.label(), vf.index),
                took: t.took,
            });
            if let Err(e) = t.value {
                let mut c = Change::new(
                    &pf.label(),
                    pf.address,
                    Some(vf.index),
                    Op::Driver {
                        from: Some(None),
                        to: DriverSpec::Default,
                        implicit: true,
                    },
                );
                c.status = Status::Failed;
                c.detail = Some(format!("probing the VF's driver: {}", chain(&e)));
                self.out.changes.push(c);
                self.dead_vfs.insert((pf.address, vf.index));
            }
        }
    }

    /// The VF netdevs: renames, MTU, promisc, up, addresses and routes, each
    /// on the netdev's current name (a rename earlier in the phase counts).
    pub(super) fn netdevs(&mut self, state: &HostState, todo: Vec<Change>) {
        let mut renamed: BTreeMap<(PciAddress, u32), String> = BTreeMap::new();
        for mut c in todo {
            let key = (c.pf_address, c.vf.unwrap_or(u32::MAX));
            let vf = vf_of(state, &c);
            let link = renamed
                .get(&key)
                .cloned()
                .or_else(|| vf.and_then(|v| v.netdev.clone()));
            let Some(link) = link else {
                c.status = Status::Failed;
                c.detail = Some(match vf {
                    None => "the VF does not exist".to_string(),
                    Some(v) => format!(
                        "the VF has no netdev (driver {})",
                        v.driver.as_deref().unwrap_or("none")
                    ),
                });
                self.out.changes.push(c);
                continue;
            };
            let what = match &c.op {
                Op::RemoveAddress { addr } => format!("{link}: remove address {addr}"),
                Op::Rename { to, .. } => format!("{link}: rename to {to}"),
                Op::Up { .. } => format!("{link}: {}", c.op.to_text()),
                op => format!("{link}: {} {}", op.attr(), op.to_text()),
            };
            let op = c.op.clone();
            let res = self.timed(what, |h| match &op {
                Op::Rename { to, .. } => h.rename(&link, to),
                Op::Mtu { to, .. } => h.set_mtu(&link, *to),
                Op::Promisc { to, .. } => h.set_promisc(&link, *to),
                Op::Up { to, .. } => h.set_up(&link, *to),
                Op::AddAddress { to, .. } => h.add_address(&link, to),
                Op::RemoveAddress { addr } => h.del_address(&link, addr),
                Op::Route { gateway, .. } => h.set_default_route(&link, *gateway),
                Op::PfUp { .. }
                | Op::NumVfs { .. }
                | Op::Mac { .. }
                | Op::Vlan { .. }
                | Op::SpoofChk { .. }
                | Op::Trust { .. }
                | Op::LinkState { .. }
                | Op::MinTxRate { .. }
                | Op::MaxTxRate { .. }
                | Op::QueryRss { .. }
                | Op::Driver { .. }
                | Op::Reload { .. } => Err(HostError::NotInPhase(op.attr())),
            });
            finish(&mut c, res, Status::Failed);
            if let Op::Rename { to, .. } = &c.op {
                if c.status == Status::Applied {
                    renamed.insert(key, to.to_string());
                } else {
                    self.dead_vfs.insert(key);
                }
            }
            self.out.changes.push(c);
        }
    }
}
