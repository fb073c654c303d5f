//! Applying a plan, phase by phase, with read-back verification.
//!
//! Each phase re-reads the host and re-plans, so a phase always works on what
//! is really there (new VFs after a count change, new names after renames).
//! Kernel access goes through the [`Host`] trait: [`crate::host::LiveHost`] in
//! production, a recording fake in tests.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::addr::IpNet;
use crate::addr::Mac;
use crate::config::{Config, DriverSpec, LinkState, VfSpec, VlanSpec};
use crate::plan::{plan, reload_blocked, wanted_trust, Change, Options, Status, Step};
use crate::state::{HostState, PfState, VfState};

/// PF-side attributes to set on one VF: only those that differ are `Some`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VfWant {
    /// VF index.
    pub index: u32,
    /// MAC.
    pub mac: Option<Mac>,
    /// VLAN.
    pub vlan: Option<VlanSpec>,
    /// Spoof checking.
    pub spoofchk: Option<bool>,
    /// Trust.
    pub trust: Option<bool>,
    /// Link state.
    pub link_state: Option<LinkState>,
    /// Min TX rate (set together with max: one kernel attribute).
    pub min_tx_rate: Option<u32>,
    /// Max TX rate.
    pub max_tx_rate: Option<u32>,
    /// RSS query.
    pub query_rss: Option<bool>,
}

/// What `setup` needs from the kernel. Errors are rendered messages (with
/// their cause chain), reported per change.
pub trait Host {
    /// Reads the current state.
    ///
    /// # Errors
    /// When sysfs or netlink cannot be read at all.
    fn read(&mut self) -> Result<HostState, String>;
    /// Sets the PF's own link up or down; after bringing it up, waits (a
    /// bounded time, no error on timeout: a PF without a cable stays without
    /// carrier) for its carrier, so VFs created next find the PF ready.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_pf_up(&mut self, pf: &PfState, up: bool) -> Result<(), String>;
    /// Writes `sriov_numvfs` (through 0 when `allow_recreate`).
    ///
    /// With `defer_probe`, VFs are created without drivers when the PF would
    /// otherwise probe them (`sriov_drivers_autoprobe` off around the write, then
    /// back on), so their PF-side settings (MAC, VLAN, ...) are in place before
    /// a VF driver first reads them, and a VF meant for vfio-pci never sees its
    /// network driver. Returns whether that happened: the caller then probes
    /// each VF itself.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_num_vfs(
        &mut self,
        pf: &PfState,
        n: u32,
        allow_recreate: bool,
        defer_probe: bool,
    ) -> Result<bool, String>;
    /// [`Host::set_num_vfs`] for several PFs at once: on a live host one
    /// thread per PF (a PF driver such as i40e takes seconds per write, and
    /// each PF's link then comes back on its own time), and one wait for all
    /// their carriers. Returns each write's result, in order, with how long
    /// the write took, and the time of that wait.
    fn set_num_vfs_all(
        &mut self,
        writes: &[(&PfState, u32)],
        allow_recreate: bool,
        defer_probe: bool,
    ) -> Batch<bool> {
        Batch {
            results: each_timed(writes, |&(pf, n)| {
                self.set_num_vfs(pf, n, allow_recreate, defer_probe)
            }),
            link_wait: Duration::ZERO,
        }
    }
    /// [`Host::set_pf_up`] for several PFs: every link set first, then one
    /// wait for all the carriers. Results in order, with their times, and the
    /// time of that wait.
    fn set_pf_links(&mut self, links: &[(&PfState, bool)]) -> Batch<()> {
        Batch {
            results: each_timed(links, |&(pf, up)| self.set_pf_up(pf, up)),
            link_wait: Duration::ZERO,
        }
    }
    /// Waits until `n` VFs exist (and have their drivers), reporting progress.
    ///
    /// # Errors
    /// Timeout.
    fn wait_for_vfs(
        &mut self,
        pf: &PfState,
        n: u32,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<(), String>;
    /// Sets PF-side VF attributes, all VFs of `pf` in one request; returns one
    /// result per attribute that failed, as (VF index, attribute, message).
    ///
    /// # Errors
    /// When the request could not be made at all.
    fn set_vf_attrs(
        &mut self,
        pf: &PfState,
        wants: &[VfWant],
    ) -> Result<Vec<(u32, String, String)>, String>;
    /// Binds a VF to a driver.
    ///
    /// # Errors
    /// The sysfs write that failed.
    fn bind_driver(&mut self, vf: &VfState, target: &DriverSpec, force: bool)
        -> Result<(), String>;
    /// Probes the driver the kernel picks for each of `vfs` (VFs created
    /// without one), as [`Host::bind_driver`] with [`DriverSpec::Default`]
    /// does for one; a live host probes several at a time. Results in order,
    /// with how long each probe took.
    fn probe_vfs(&mut self, vfs: &[&VfState]) -> Vec<(Result<(), String>, Duration)> {
        each_timed(vfs, |vf| self.bind_driver(vf, &DriverSpec::Default, false))
    }
    /// Reloads a VF's driver (unbind, probe), so that it reads the MAC the PF
    /// set; refused for a busy netdev unless `force`.
    ///
    /// # Errors
    /// The sysfs write that failed, or the refusal.
    fn reload_driver(&mut self, vf: &VfState, force: bool) -> Result<(), String>;
    /// Renames a link (taking it down and back up around the rename if needed).
    ///
    /// # Errors
    /// The kernel's refusal.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), String>;
    /// Sets the MTU.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), String>;
    /// Sets promiscuous mode.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_promisc(&mut self, link: &str, on: bool) -> Result<(), String>;
    /// Sets the link up or down.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn set_up(&mut self, link: &str, up: bool) -> Result<(), String>;
    /// Adds an address.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn add_address(&mut self, link: &str, addr: IpNet) -> Result<(), String>;
    /// Removes an address (`--prune`).
    ///
    /// # Errors
    /// The kernel's refusal.
    fn del_address(&mut self, link: &str, addr: IpNet) -> Result<(), String>;
    /// Sets the default route (of `gateway`'s family) to go via `gateway` on
    /// `link`, replacing one via another gateway or device.
    ///
    /// # Errors
    /// The kernel's refusal.
    fn add_default_route(&mut self, link: &str, gateway: IpAddr) -> Result<(), String>;
}

/// What `setup` reports while it waits (the CLI shows it on a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// VFs of a PF with their drivers and netdevs, so far.
    Vfs {
        /// The PF's label.
        pf: &'a str,
        /// VFs ready.
        ready: u32,
        /// VFs expected.
        want: u32,
    },
    /// Waiting (a bounded time) for a PF's carrier after bringing it up.
    Carrier {
        /// The PF's label.
        pf: &'a str,
    },
    /// About to write a PF's VF count (seconds for many VFs on some NICs).
    NumVfs {
        /// The PF's label.
        pf: &'a str,
        /// VFs now.
        from: u32,
        /// VFs wanted.
        to: u32,
        /// The PF has carrier now: the count change may take its link down
        /// for a moment, and setup then waits (a bounded time) for it to
        /// come back before setting VF attributes.
        carrier_wait: bool,
    },
}

/// How long one part of `setup` took (`setup --timings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// 0: a phase (its reading of the host, or its kernel work, or the
    /// read-back); 1: one kernel operation inside the phase above it.
    pub depth: u8,
    /// What was done, e.g. `eth0pve050: up` or `read host, plan (link)`.
    pub what: String,
    /// Wall-clock time.
    pub took: Duration,
}

/// The outcome of `setup` (not dry-run).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every change attempted or skipped, with its final status.
    pub changes: Vec<Change>,
    /// A failure that stopped setup early (state unreadable).
    pub fatal: Option<String>,
    /// Where the time went, in order.
    pub timings: Vec<Timing>,
}

/// Runs `f`, recording how long it took under the label `what`.
fn timed<T>(timings: &mut Vec<Timing>, depth: u8, what: String, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    timings.push(Timing {
        depth,
        what,
        took: t.elapsed(),
    });
    r
}

impl Outcome {
    /// Whether everything was applied.
    pub fn converged(&self) -> bool {
        self.fatal.is_none() && self.changes.iter().all(|c| c.status == Status::Applied)
    }
}

fn spec_of<'a>(cfg: &'a Config, state: &HostState, c: &Change) -> Option<&'a VfSpec> {
    let pf = cfg.pfs.iter().find(|p| {
        state
            .find_pf(&p.key)
            .is_some_and(|s| s.address == c.pf_address)
    })?;
    pf.vfs.iter().find(|v| Some(v.index) == c.vf)
}

fn pf_of<'a>(state: &'a HostState, c: &Change) -> Option<&'a PfState> {
    state.pfs.iter().find(|p| p.address == c.pf_address)
}

fn vf_of<'a>(state: &'a HostState, c: &Change) -> Option<&'a VfState> {
    pf_of(state, c).and_then(|p| c.vf.and_then(|i| p.vf(i)))
}

/// Applies `cfg` to the host, phase by phase, then reads back and verifies.
pub fn apply(
    cfg: &Config,
    host: &mut dyn Host,
    opts: Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Outcome {
    let mut out = Outcome::default();
    // Validation (before apply) refuses unbinding a busy VF without
    // --force-unbind. A VF created by this run that something (a network
    // manager) brought up meanwhile is not fatal here: the bind itself, with
    // the real flag, refuses that one VF and the rest applies.
    let replan = Options {
        force_unbind: true,
        ..opts
    };
    // PFs whose count failed, VFs whose driver/rename failed: later phases skip them.
    let mut dead_pfs: BTreeSet<String> = BTreeSet::new();
    // PFs whose new VFs were created without drivers: probed in the driver phase,
    // after their PF-side attributes are set.
    let mut unprobed: BTreeSet<String> = BTreeSet::new();
    let mut dead_vfs: BTreeSet<(String, u32)> = BTreeSet::new();
    // The state read for a phase that then changed nothing is still the
    // host's: the next phase (and the read-back) plan on it instead of
    // reading sysfs and netlink again.
    let mut unchanged: Option<HostState> = None;
    for step in [
        Step::PfLink,
        Step::NumVfs,
        Step::VfAttrs,
        Step::Driver,
        Step::Link,
        Step::Address,
        Step::Route,
    ] {
        let t_read = Instant::now();
        let reused = unchanged.is_some();
        let state = match unchanged.take().map_or_else(|| host.read(), Ok) {
            Ok(s) => s,
            Err(e) => {
                out.fatal = Some(e);
                return out;
            }
        };
        let p = plan(cfg, &state, replan);
        out.timings.push(Timing {
            depth: 0,
            what: if reused {
                format!("plan ({step}; the host is as read before)")
            } else {
                format!("read host, plan ({step})")
            },
            took: t_read.elapsed(),
        });
        // The phase's own line, filled in when it ends (its operations follow it).
        let phase_line = out.timings.len();
        out.timings.push(Timing {
            depth: 0,
            what: format!("{step}"),
            took: Duration::ZERO,
        });
        let t_phase = Instant::now();
        if !p.errors.is_empty() {
            out.fatal = Some(format!(
                "the host changed during setup: {}",
                p.errors.join("; ")
            ));
            return out;
        }
        let mut todo: Vec<Change> = Vec::new();
        for mut c in p.changes.into_iter().filter(|c| c.step == step) {
            let vf_dead =
                c.vf.is_some_and(|i| dead_vfs.contains(&(c.pf_address.clone(), i)));
            if dead_pfs.contains(&c.pf_address) || vf_dead {
                c.status = Status::Skipped;
                c.detail = Some(if vf_dead {
                    "an earlier step for this VF failed".into()
                } else {
                    "num_vfs of this PF was not applied".into()
                });
                out.changes.push(c);
            } else {
                todo.push(c);
            }
        }
        // Whether this phase may change the host: a change to make, or VFs
        // created without drivers that the driver phase probes.
        let touches = !todo.is_empty() || (step == Step::Driver && !unprobed.is_empty());
        match step {
            Step::PfLink => {
                // Every PF link in one go, then one wait for all carriers.
                let mut res: Vec<Option<Result<(), String>>> = vec![None; todo.len()];
                let mut links: Vec<(&PfState, bool)> = Vec::new();
                let mut at: Vec<usize> = Vec::new();
                for (i, c) in todo.iter().enumerate() {
                    match pf_of(&state, c) {
                        None => res[i] = Some(Err("the PF disappeared".to_string())),
                        Some(pf) => {
                            if c.to == "up" {
                                progress(Progress::Carrier { pf: pf.label() });
                            }
                            links.push((pf, c.to == "up"));
                            at.push(i);
                        }
                    }
                }
                let together = together(links.len());
                let done = host.set_pf_links(&links);
                for (&i, (r, took)) in at.iter().zip(done.results) {
                    out.timings.push(Timing {
                        depth: 1,
                        what: format!("{}: {}{together}", todo[i].pf, todo[i].to),
                        took,
                    });
                    res[i] = Some(r);
                }
                let labels: Vec<&str> = at.iter().map(|&i| todo[i].pf.as_str()).collect();
                out.timings.extend(link_wait_line(&labels, done.link_wait));
                for (mut c, r) in todo.into_iter().zip(res) {
                    finish(&mut c, r.unwrap_or_else(not_attempted), Status::Failed);
                    if c.status != Status::Applied {
                        dead_pfs.insert(c.pf_address.clone());
                    }
                    out.changes.push(c);
                }
            }
            Step::NumVfs => {
                // The counts of all PFs are written at once (a thread per PF
                // on a live host); a PF whose VFs got their drivers at once
                // is then waited for.
                let mut res: Vec<Option<Result<(), String>>> = vec![None; todo.len()];
                let mut writes: Vec<(&PfState, u32)> = Vec::new();
                let mut at: Vec<usize> = Vec::new();
                for (i, c) in todo.iter().enumerate() {
                    let Some(pf) = pf_of(&state, c) else {
                        res[i] = Some(Err("the PF disappeared".to_string()));
                        continue;
                    };
                    match c.to.parse::<u32>() {
                        Err(e) => res[i] = Some(Err(e.to_string())),
                        Ok(n) => {
                            progress(Progress::NumVfs {
                                pf: &c.pf,
                                from: pf.num_vfs,
                                to: n,
                                carrier_wait: pf.carrier == Some(true),
                            });
                            writes.push((pf, n));
                            at.push(i);
                        }
                    }
                }
                let together = together(writes.len());
                let done = host.set_num_vfs_all(&writes, opts.allow_recreate, true);
                let labels: Vec<&str> = at.iter().map(|&i| todo[i].pf.as_str()).collect();
                // The writes, then the wait for the PFs' links after them,
                // then any wait for VF drivers, in the order they happened.
                for ((&i, &(_, n)), (_, took)) in at.iter().zip(&writes).zip(&done.results) {
                    out.timings.push(Timing {
                        depth: 1,
                        what: format!("{}: sriov_numvfs {n}{together}", todo[i].pf),
                        took: *took,
                    });
                }
                out.timings.extend(link_wait_line(&labels, done.link_wait));
                for ((&i, &(pf, n)), (r, _)) in at.iter().zip(&writes).zip(done.results) {
                    let c = &todo[i];
                    res[i] = Some(match r {
                        Err(e) => Err(e),
                        Ok(true) => {
                            // The VFs exist once the write returns; the
                            // wait for their drivers comes after probing.
                            unprobed.insert(c.pf_address.clone());
                            Ok(())
                        }
                        Ok(false) => {
                            let label = c.pf.clone();
                            timed(
                                &mut out.timings,
                                1,
                                format!("{label}: wait for the VF drivers"),
                                || {
                                    host.wait_for_vfs(pf, n, &mut |seen, want| {
                                        progress(Progress::Vfs {
                                            pf: &label,
                                            ready: seen,
                                            want,
                                        })
                                    })
                                },
                            )
                        }
                    });
                }
                for (mut c, r) in todo.into_iter().zip(res) {
                    finish(&mut c, r.unwrap_or_else(not_attempted), Status::Failed);
                    if c.status != Status::Applied {
                        dead_pfs.insert(c.pf_address.clone());
                    }
                    out.changes.push(c);
                }
            }
            Step::VfAttrs => {
                let mut by_pf: BTreeMap<String, Vec<Change>> = BTreeMap::new();
                for c in todo {
                    by_pf.entry(c.pf_address.clone()).or_default().push(c);
                }
                for (addr, mut changes) in by_pf {
                    let mut wants: BTreeMap<u32, VfWant> = BTreeMap::new();
                    for c in &changes {
                        let (Some(i), Some(spec)) = (c.vf, spec_of(cfg, &state, c)) else {
                            continue;
                        };
                        let w = wants.entry(i).or_insert_with(|| VfWant {
                            index: i,
                            ..VfWant::default()
                        });
                        match c.attr.as_str() {
                            "mac" => w.mac = spec.mac,
                            "vlan" => w.vlan = spec.vlan,
                            "spoofchk" => w.spoofchk = spec.spoofchk,
                            "trust" => w.trust = wanted_trust(spec),
                            "link_state" => w.link_state = spec.link_state,
                            "min_tx_rate" | "max_tx_rate" => {
                                w.min_tx_rate = spec.min_tx_rate;
                                w.max_tx_rate = spec.max_tx_rate;
                            }
                            "query_rss" => w.query_rss = spec.query_rss,
                            _ => {}
                        }
                    }
                    let wants: Vec<VfWant> = wants.into_values().collect();
                    let res = match state.pfs.iter().find(|p| p.address == addr) {
                        None => Err("the PF disappeared".to_string()),
                        Some(pf) => timed(
                            &mut out.timings,
                            1,
                            format!(
                                "{}: VF attributes of {} VFs, one request",
                                pf.label(),
                                wants.len()
                            ),
                            || host.set_vf_attrs(pf, &wants),
                        ),
                    };
                    for c in &mut changes {
                        let r = match &res {
                            Err(e) => Err(e.clone()),
                            Ok(fails) => {
                                let rate = c.attr.ends_with("_tx_rate");
                                match fails.iter().find(|(i, a, _)| {
                                    Some(*i) == c.vf
                                        && (*a == c.attr
                                            || (rate && a.ends_with("_tx_rate"))
                                            || a == "*")
                                }) {
                                    Some((_, _, msg)) => Err(msg.clone()),
                                    None => Ok(()),
                                }
                            }
                        };
                        finish(c, r, Status::Refused);
                    }
                    out.changes.extend(changes);
                }
            }
            Step::Driver => {
                let mut rebound: BTreeSet<String> = BTreeSet::new();
                let mut bound: BTreeSet<(String, u32)> = BTreeSet::new();
                // What validation says about reloads (the re-plan forces them),
                // computed only when there is a reload to decide.
                let strict = todo
                    .iter()
                    .any(|c| c.attr == "reload")
                    .then(|| plan(cfg, &state, opts));
                for mut c in todo {
                    let implicit = spec_of(cfg, &state, &c).is_some_and(|s| s.driver.is_none());
                    if implicit && c.attr == "driver" && unprobed.contains(&c.pf_address) {
                        // A VF this run created without a driver: probed below
                        // with the others, not reported as a change of its own.
                        continue;
                    }
                    if let Some(i) = c.vf {
                        bound.insert((c.pf_address.clone(), i));
                    }
                    if c.attr == "reload" {
                        if let Some(s) = strict.as_ref().and_then(|p| {
                            p.changes
                                .iter()
                                .find(|s| s.same_target(&c) && reload_blocked(s))
                        }) {
                            c.status = Status::Skipped;
                            c.detail.clone_from(&s.detail);
                            out.changes.push(c);
                            continue;
                        }
                        let res = match vf_of(&state, &c) {
                            Some(vf) => timed(
                                &mut out.timings,
                                1,
                                format!("{} vf {}: driver reload", c.pf, vf.index),
                                || host.reload_driver(vf, opts.force_unbind),
                            ),
                            None => Err("the VF does not exist".to_string()),
                        };
                        finish(&mut c, res, Status::Failed);
                        if c.status == Status::Applied {
                            rebound.insert(c.pf_address.clone());
                        } else if let Some(i) = c.vf {
                            dead_vfs.insert((c.pf_address.clone(), i));
                        }
                        out.changes.push(c);
                        continue;
                    }
                    let res = match (
                        vf_of(&state, &c),
                        spec_of(cfg, &state, &c)
                            .map(|s| s.driver.clone().unwrap_or(DriverSpec::Default)),
                    ) {
                        (Some(vf), Some(d)) => timed(
                            &mut out.timings,
                            1,
                            format!("{} vf {}: driver {d}", c.pf, vf.index),
                            || host.bind_driver(vf, &d, opts.force_unbind),
                        ),
                        _ => Err("the VF does not exist".to_string()),
                    };
                    finish(&mut c, res, Status::Failed);
                    if c.status != Status::Applied {
                        if let Some(i) = c.vf {
                            dead_vfs.insert((c.pf_address.clone(), i));
                        }
                    } else if c.to != "vfio-pci" {
                        rebound.insert(c.pf_address.clone());
                    }
                    out.changes.push(c);
                }
                // VFs created without drivers and not bound above get the
                // driver the kernel picks (a VF whose bind failed stays unbound
                // rather than falling back to the host's network driver).
                // All of them at once (the live host probes several at a
                // time: a VF driver such as mlx5_core takes long per VF).
                let mut probes: Vec<(&PfState, &VfState)> = Vec::new();
                for addr in &unprobed {
                    let Some(pf) = state.pfs.iter().find(|p| &p.address == addr) else {
                        continue;
                    };
                    for vf in pf.vfs.iter().filter(|v| v.driver.is_none()) {
                        let key = (addr.clone(), vf.index);
                        if !bound.contains(&key) && !dead_vfs.contains(&key) {
                            probes.push((pf, vf));
                        }
                    }
                    rebound.insert(addr.clone());
                }
                let vfs: Vec<&VfState> = probes.iter().map(|&(_, vf)| vf).collect();
                for (&(pf, vf), (probed, took)) in probes.iter().zip(host.probe_vfs(&vfs)) {
                    out.timings.push(Timing {
                        depth: 1,
                        what: format!("{} vf {}: probe", pf.label(), vf.index),
                        took,
                    });
                    if let Err(e) = probed {
                        out.changes.push(Change {
                            step: Step::Driver,
                            pf: pf.label().to_string(),
                            pf_address: pf.address.clone(),
                            vf: Some(vf.index),
                            attr: "driver".into(),
                            from: Some("(none)".into()),
                            to: DriverSpec::Default.to_string(),
                            status: Status::Failed,
                            detail: Some(format!("probing the VF's driver: {e}")),
                        });
                        dead_vfs.insert((pf.address.clone(), vf.index));
                    }
                }
                // A VF given back to its network driver gets its netdev
                // asynchronously: wait for it before renaming or addressing it.
                for addr in rebound {
                    if let Some(pf) = state.pfs.iter().find(|p| p.address == addr) {
                        let label = pf.label().to_string();
                        let waited = timed(
                            &mut out.timings,
                            1,
                            format!("{label}: wait for the VF netdevs"),
                            || {
                                host.wait_for_vfs(pf, pf.num_vfs, &mut |ready, want| {
                                    progress(Progress::Vfs {
                                        pf: &label,
                                        ready,
                                        want,
                                    })
                                })
                            },
                        );
                        if let Err(e) = waited {
                            out.fatal = Some(e);
                            return out;
                        }
                    }
                }
            }
            Step::Link | Step::Address | Step::Route => {
                let mut renamed: BTreeMap<(String, u32), String> = BTreeMap::new();
                for mut c in todo {
                    let key = (c.pf_address.clone(), c.vf.unwrap_or(u32::MAX));
                    if dead_vfs.contains(&key) {
                        c.status = Status::Skipped;
                        c.detail = Some("an earlier step for this VF failed".into());
                        out.changes.push(c);
                        continue;
                    }
                    let name = renamed
                        .get(&key)
                        .cloned()
                        .or_else(|| vf_of(&state, &c).and_then(|v| v.netdev.clone()));
                    let spec = spec_of(cfg, &state, &c);
                    let res = match (name, spec) {
                        (None, _) => Err(match vf_of(&state, &c) {
                            None => "the VF does not exist".to_string(),
                            Some(v) => format!(
                                "the VF has no netdev (driver {})",
                                v.driver.as_deref().unwrap_or("none")
                            ),
                        }),
                        (Some(_), None) => Err("no config for this VF".to_string()),
                        (Some(link), Some(spec)) => timed(
                            &mut out.timings,
                            1,
                            match c.attr.as_str() {
                                "remove_address" => format!(
                                    "{link}: remove address {}",
                                    c.from.as_deref().unwrap_or_default()
                                ),
                                "name" => format!("{link}: rename to {}", c.to),
                                "up" => format!("{link}: {}", c.to),
                                attr => format!("{link}: {attr} {}", c.to),
                            },
                            || match c.attr.as_str() {
                                "name" => host.rename(&link, &c.to).map(|()| {
                                    renamed.insert(key.clone(), c.to.clone());
                                }),
                                "mtu" => spec.mtu.map_or(Ok(()), |m| host.set_mtu(&link, m)),
                                "promisc" => spec
                                    .promisc
                                    .map_or(Ok(()), |on| host.set_promisc(&link, on)),
                                "up" => spec.up.map_or(Ok(()), |on| host.set_up(&link, on)),
                                "address" => {
                                    c.to.parse::<IpNet>()
                                        .and_then(|a| host.add_address(&link, a))
                                }
                                "remove_address" => c
                                    .from
                                    .as_deref()
                                    .unwrap_or_default()
                                    .parse::<IpNet>()
                                    .and_then(|a| host.del_address(&link, a)),
                                "route" => spec
                                    .gateway
                                    .map_or(Ok(()), |g| host.add_default_route(&link, g)),
                                other => Err(format!("unknown change `{other}`")),
                            },
                        ),
                    };
                    finish(&mut c, res, Status::Failed);
                    if c.status != Status::Applied && c.attr == "name" {
                        dead_vfs.insert(key);
                    }
                    out.changes.push(c);
                }
            }
        }
        if let Some(t) = out.timings.get_mut(phase_line) {
            t.took = t_phase.elapsed();
        }
        if !touches {
            unchanged = Some(state);
        }
    }
    let t_verify = Instant::now();
    verify(cfg, host, unchanged, opts, &mut out);
    out.timings.push(Timing {
        depth: 0,
        what: "read back, verify".into(),
        took: t_verify.elapsed(),
    });
    out
}

/// What a host did for several PFs at once.
#[derive(Debug, Default)]
pub struct Batch<T> {
    /// One result per item, in order, with how long its own operation took.
    pub results: Vec<(Result<T, String>, Duration)>,
    /// How long the host then waited for the PFs' links (their carrier) to
    /// be up, once for all of them.
    pub link_wait: Duration,
}

/// The timing line of a [`Batch`]'s wait for links, if it waited.
fn link_wait_line(labels: &[&str], wait: Duration) -> Option<Timing> {
    (!wait.is_zero()).then(|| Timing {
        depth: 1,
        what: format!("wait for the link of {}", labels.join(", ")),
        took: wait,
    })
}

/// `f` on each item, one after the other, with how long each took.
pub(crate) fn each_timed<I, T>(
    items: &[I],
    mut f: impl FnMut(&I) -> Result<T, String>,
) -> Vec<(Result<T, String>, Duration)> {
    items
        .iter()
        .map(|i| {
            let t = Instant::now();
            let r = f(i);
            (r, t.elapsed())
        })
        .collect()
}

/// The suffix of a timing line of an operation done at the same time as
/// `n - 1` others (PF links, VF count writes).
fn together(n: usize) -> String {
    match n {
        0 | 1 => String::new(),
        2 => " (at the same time as the other PF)".to_string(),
        _ => format!(" (at the same time as the {} other PFs)", n - 1),
    }
}

/// A change whose operation the host never reported on (cannot happen: the
/// host answers every item it is given).
fn not_attempted() -> Result<(), String> {
    Err("not attempted (no answer from the host for this change)".to_string())
}

fn finish(c: &mut Change, res: Result<(), String>, fail: Status) {
    match res {
        Ok(()) => c.status = Status::Applied,
        Err(e) => {
            c.status = fail;
            c.detail = Some(e);
        }
    }
}

/// Reads back: whatever still differs was ignored by the driver (if it was
/// applied) or failed.
fn verify(
    cfg: &Config,
    host: &mut dyn Host,
    unchanged: Option<HostState>,
    opts: Options,
    out: &mut Outcome,
) {
    let state = match unchanged.map_or_else(|| host.read(), Ok) {
        Ok(s) => s,
        Err(e) => {
            out.fatal = Some(format!("reading back failed: {e}"));
            return;
        }
    };
    let p = plan(cfg, &state, opts);
    for r in p.changes {
        match out.changes.iter_mut().find(|c| c.same_target(&r)) {
            Some(c) if c.status == Status::Applied => {
                if r.from.is_none() {
                    // The kernel does not report it back: nothing to compare.
                    c.detail = Some("not reported back by the kernel, so not verified".into());
                } else {
                    c.status = Status::Ignored;
                    c.detail = Some(format!(
                        "accepted, but reads back as {}",
                        r.from.as_deref().unwrap_or("?")
                    ));
                }
            }
            Some(_) => {}
            None => {
                let mut r = r;
                r.status = Status::Failed;
                r.detail = Some("still differs after setup".into());
                out.changes.push(r);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use crate::config::parse;
    use crate::plan::tests::host;
    use crate::state::{LinkInfo, VfAttrs};
    use std::path::Path;

    /// A simulated igb host: applies what it is told to its `HostState`,
    /// except what `refuse` / `ignore` name.
    pub(crate) struct Fake {
        pub state: HostState,
        pub log: Vec<String>,
        pub refuse: Vec<&'static str>,
        pub ignore: Vec<&'static str>,
        pub fail_numvfs: bool,
        /// The one PF (address) whose count write fails, when not all do.
        pub fail_numvfs_of: Option<&'static str>,
        /// VFs something brings up as soon as they are created (a network manager).
        pub up_on_create: Vec<u32>,
        /// `sriov_drivers_autoprobe` of the PF.
        pub autoprobe: bool,
        /// VFs created without a driver: what probing their default driver gives.
        pub unprobed: Vec<VfState>,
        /// How many times setup read the host.
        pub reads: usize,
    }

    impl Fake {
        fn pf_mut(&mut self, address: &str) -> &mut PfState {
            self.state
                .pfs
                .iter_mut()
                .find(|p| p.address == address)
                .unwrap()
        }
        fn vf_by_name(&mut self, name: &str) -> Option<&mut VfState> {
            self.state
                .pfs
                .iter_mut()
                .flat_map(|p| p.vfs.iter_mut())
                .find(|v| v.netdev.as_deref() == Some(name))
        }
    }

    impl Host for Fake {
        fn read(&mut self) -> Result<HostState, String> {
            self.reads += 1;
            Ok(self.state.clone())
        }
        fn set_pf_up(&mut self, pf: &PfState, up: bool) -> Result<(), String> {
            self.log.push(format!("pf {} up {up}", pf.address));
            let p = self.pf_mut(&pf.address);
            p.up = Some(up);
            p.carrier = Some(up);
            Ok(())
        }
        fn set_num_vfs(
            &mut self,
            pf: &PfState,
            n: u32,
            _: bool,
            defer_probe: bool,
        ) -> Result<bool, String> {
            self.log.push(format!("numvfs {} {n}", pf.address));
            if self.fail_numvfs || self.fail_numvfs_of == Some(pf.address.as_str()) {
                return Err("Device or resource busy (EBUSY)".into());
            }
            let defer = defer_probe && n > 0 && self.autoprobe;
            let at = self
                .state
                .pfs
                .iter()
                .position(|p| p.address == pf.address)
                .unwrap();
            let mut fresh = host(n, true);
            if at > 0 {
                // Another PF's VFs: bus and names of their own.
                let bus = format!("0000:{:02x}:", at + 1);
                for v in &mut fresh.pfs[0].vfs {
                    v.address = v.address.replacen("0000:01:", &bus, 1);
                    v.netdev = Some(format!("eth{}", 10 * at + v.index as usize + 1));
                }
                fresh.links = fresh.pfs[0]
                    .vfs
                    .iter()
                    .filter_map(|v| v.netdev.clone())
                    .collect();
            }
            let p = &mut self.state.pfs[at];
            for v in &p.vfs {
                if let Some(n) = &v.netdev {
                    self.state.links.remove(n);
                }
            }
            p.vfs = fresh.pfs[0].vfs.clone();
            for v in &mut p.vfs {
                if self.up_on_create.contains(&v.index) {
                    v.in_use = vec![crate::state::InUse::Up {
                        netdev: v.netdev.clone().unwrap_or_default(),
                    }];
                }
            }
            p.num_vfs = n;
            if defer {
                // Created unbound: no driver, no netdev yet.
                self.unprobed.extend(p.vfs.iter().cloned());
                for v in &mut p.vfs {
                    v.driver = None;
                    v.netdev = None;
                    v.link = None;
                }
            } else {
                self.state.links.extend(fresh.links);
            }
            Ok(defer)
        }
        fn wait_for_vfs(
            &mut self,
            _: &PfState,
            n: u32,
            progress: &mut dyn FnMut(u32, u32),
        ) -> Result<(), String> {
            progress(n, n);
            Ok(())
        }
        fn set_vf_attrs(
            &mut self,
            pf: &PfState,
            wants: &[VfWant],
        ) -> Result<Vec<(u32, String, String)>, String> {
            self.log.push(format!(
                "setvfs {} {:?}",
                pf.address,
                wants.iter().map(|w| w.index).collect::<Vec<_>>()
            ));
            let mut fails = Vec::new();
            for w in wants {
                let vf = &mut self.state.pfs[0].vfs[w.index as usize];
                let a = vf.attrs.get_or_insert_with(VfAttrs::default);
                let mut set = |name: &str, f: &mut dyn FnMut()| {
                    if self.refuse.contains(&name) {
                        fails.push((
                            w.index,
                            name.to_string(),
                            "Operation not supported (EOPNOTSUPP)".to_string(),
                        ));
                    } else if !self.ignore.contains(&name) {
                        f();
                    }
                };
                if let Some(m) = w.mac {
                    set("mac", &mut || a.mac = Some(m));
                }
                if let Some(v) = w.vlan {
                    set("vlan", &mut || a.vlan = Some(v));
                }
                if let Some(t) = w.trust {
                    set("trust", &mut || a.trust = Some(t));
                }
                if let Some(t) = w.spoofchk {
                    set("spoofchk", &mut || a.spoofchk = Some(t));
                }
                if let Some(t) = w.query_rss {
                    set("query_rss", &mut || a.query_rss = Some(t));
                }
            }
            Ok(fails)
        }
        fn bind_driver(
            &mut self,
            vf: &VfState,
            target: &DriverSpec,
            force: bool,
        ) -> Result<(), String> {
            self.log.push(format!("bind {} {target}", vf.address));
            if self.refuse.contains(&format!("bind:{target}").as_str()) {
                return Err(format!("{target} did not bind"));
            }
            if !force && !vf.busy_netdev().is_empty() {
                return Err(format!("unbinding refused: {}", vf.in_use[0]));
            }
            let name = vf.netdev.clone();
            let probed = self.unprobed.iter().position(|u| u.address == vf.address);
            let v = self
                .state
                .pfs
                .iter_mut()
                .flat_map(|p| p.vfs.iter_mut())
                .find(|x| x.address == vf.address)
                .unwrap();
            if let (Some(p), DriverSpec::Default, None) = (probed, target, &v.driver) {
                let fresh = self.unprobed.remove(p);
                *v = VfState {
                    attrs: v.attrs.clone(),
                    ..fresh
                };
                if let Some(n) = &v.netdev {
                    self.state.links.insert(n.clone());
                }
                return Ok(());
            }
            if matches!(target, DriverSpec::Default) && v.driver.is_none() {
                // An unbound VF probed: igbvf, a netdev under a kernel name.
                let name = format!("eth{}", 100 + v.index);
                v.driver = Some("igbvf".into());
                v.netdev = Some(name.clone());
                v.link = Some(LinkInfo {
                    mtu: 1500,
                    ..LinkInfo::default()
                });
                self.state.links.insert(name);
                return Ok(());
            }
            v.driver = Some(target.to_string());
            v.netdev = None;
            v.link = None;
            if let Some(n) = name {
                self.state.links.remove(&n);
            }
            Ok(())
        }
        fn reload_driver(&mut self, vf: &VfState, force: bool) -> Result<(), String> {
            self.log.push(format!("reload {}", vf.address));
            if !force && !vf.busy_netdev().is_empty() {
                return Err(format!("unbinding refused: {}", vf.in_use[0]));
            }
            let v = self.state.pfs[0]
                .vfs
                .iter_mut()
                .find(|x| x.address == vf.address)
                .unwrap();
            // Back under a kernel name, down, without addresses, with the
            // MAC the PF set.
            let fresh = format!("eth{}", 100 + v.index);
            if let Some(old) = v.netdev.replace(fresh.clone()) {
                self.state.links.remove(&old);
            }
            self.state.links.insert(fresh);
            v.in_use.clear();
            v.link = Some(LinkInfo {
                mtu: 1500,
                mac: v.attrs.as_ref().and_then(|a| a.mac),
                ..LinkInfo::default()
            });
            Ok(())
        }
        fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
            self.log.push(format!("rename {from} {to}"));
            self.vf_by_name(from).unwrap().netdev = Some(to.into());
            self.state.links.remove(from);
            self.state.links.insert(to.into());
            Ok(())
        }
        fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), String> {
            self.log.push(format!("mtu {link} {mtu}"));
            self.vf_by_name(link)
                .unwrap()
                .link
                .get_or_insert_with(LinkInfo::default)
                .mtu = mtu;
            Ok(())
        }
        fn set_promisc(&mut self, link: &str, on: bool) -> Result<(), String> {
            self.log.push(format!("promisc {link} {on}"));
            self.vf_by_name(link)
                .unwrap()
                .link
                .get_or_insert_with(LinkInfo::default)
                .promisc = on;
            Ok(())
        }
        fn set_up(&mut self, link: &str, up: bool) -> Result<(), String> {
            self.log.push(format!("up {link} {up}"));
            self.vf_by_name(link)
                .unwrap()
                .link
                .get_or_insert_with(LinkInfo::default)
                .up = up;
            Ok(())
        }
        fn add_address(&mut self, link: &str, addr: IpNet) -> Result<(), String> {
            self.log.push(format!("addr {link} {addr}"));
            self.vf_by_name(link)
                .unwrap()
                .link
                .get_or_insert_with(LinkInfo::default)
                .addresses
                .push(addr);
            Ok(())
        }
        fn del_address(&mut self, link: &str, addr: IpNet) -> Result<(), String> {
            self.log.push(format!("deladdr {link} {addr}"));
            self.vf_by_name(link)
                .unwrap()
                .link
                .get_or_insert_with(LinkInfo::default)
                .addresses
                .retain(|a| *a != addr);
            Ok(())
        }
        fn add_default_route(&mut self, link: &str, gateway: IpAddr) -> Result<(), String> {
            self.log.push(format!("route {link} {gateway}"));
            let routes = self.state.default_routes.get_or_insert_with(Vec::new);
            routes.retain(|(g, _)| g.is_ipv4() != gateway.is_ipv4());
            routes.push((gateway, link.to_string()));
            Ok(())
        }
    }

    const CFG: &str = "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 0\npromisc = true\nvlan = 0\nname = \"eth0pve0\"\nup = true\n[[pf.vf]]\nindex = 1\nvlan = 50\nname = \"eth0pve050\"\nup = true\naddresses = [\"10.0.50.100/24\"]\ngateway = \"10.0.50.1\"\n[[pf.vf]]\nindex = 3\ndriver = \"vfio-pci\"\nvlan = 60\n";

    fn fake() -> Fake {
        Fake {
            state: host(0, true),
            log: Vec::new(),
            refuse: Vec::new(),
            ignore: Vec::new(),
            fail_numvfs: false,
            fail_numvfs_of: None,
            up_on_create: Vec::new(),
            autoprobe: true,
            unprobed: Vec::new(),
            reads: 0,
        }
    }

    #[test]
    fn applies_in_order_then_converges() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        let mut seen = Vec::new();
        let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
            if let Progress::Vfs { pf, ready, want } = p {
                seen.push(format!("{pf} {ready}/{want}"));
            }
        });
        assert!(o.converged(), "{:#?}", o.changes);
        assert_eq!(seen, ["eno1 4/4"]);
        assert_eq!(
            f.log,
            [
                "numvfs 0000:01:00.0 4",
                "setvfs 0000:01:00.0 [0, 1, 3]",
                // The VFs were created without drivers: their PF-side
                // settings went first, VF 3 goes straight to vfio-pci, the
                // others get their network driver only now.
                "bind 0000:01:10.6 vfio-pci",
                "bind 0000:01:10.0 default",
                "bind 0000:01:10.2 default",
                "bind 0000:01:10.4 default",
                "rename eth1 eth0pve0",
                "promisc eth0pve0 true",
                "up eth0pve0 true",
                "rename eth2 eth0pve050",
                "up eth0pve050 true",
                "addr eth0pve050 10.0.50.100/24",
                "route eth0pve050 10.0.50.1",
            ]
        );
        // Second run: nothing to do.
        let p = plan(&cfg, &f.state, Options::default());
        assert!(p.changes.is_empty(), "{:?}", p.changes);
    }

    #[test]
    fn timings_name_every_phase_and_every_kernel_operation_in_order() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(o.converged(), "{:#?}", o.changes);
        let lines: Vec<String> = o
            .timings
            .iter()
            .map(|t| format!("{}{}", "  ".repeat(usize::from(t.depth)), t.what))
            .collect();
        let mut want = Vec::new();
        for (step, ops) in [
            ("pf_link", &[][..]),
            ("num_vfs", &["eno1: sriov_numvfs 4"][..]),
            (
                "vf_attrs",
                &["eno1: VF attributes of 3 VFs, one request"][..],
            ),
            (
                "driver",
                &[
                    "eno1 vf 3: driver vfio-pci",
                    "eno1 vf 0: probe",
                    "eno1 vf 1: probe",
                    "eno1 vf 2: probe",
                    "eno1: wait for the VF netdevs",
                ][..],
            ),
            (
                "link",
                &[
                    "eth1: rename to eth0pve0",
                    "eth0pve0: promisc on",
                    "eth0pve0: up",
                    "eth2: rename to eth0pve050",
                    "eth0pve050: up",
                ][..],
            ),
            ("address", &["eth0pve050: address 10.0.50.100/24"][..]),
            ("route", &["eth0pve050: route default via 10.0.50.1"][..]),
        ] {
            // pf_link changed nothing: num_vfs plans on its reading.
            want.push(if step == "num_vfs" {
                "plan (num_vfs; the host is as read before)".to_string()
            } else {
                format!("read host, plan ({step})")
            });
            want.push(step.to_string());
            want.extend(ops.iter().map(|o| format!("  {o}")));
        }
        want.push("read back, verify".into());
        assert_eq!(lines, want);
        assert_eq!(
            f.reads, 7,
            "a reading per phase after one that changed something, and one to verify"
        );
        // A phase's time covers the operations listed under it.
        let mut phase = None;
        for t in &o.timings {
            match t.depth {
                0 => phase = Some(t.took),
                _ => assert!(
                    phase.is_some_and(|p| t.took <= p),
                    "{t:?} outside its phase"
                ),
            }
        }
    }

    #[test]
    fn progress_announces_the_count_write_and_whether_a_carrier_wait_follows() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        for carrier in [None, Some(true)] {
            let mut f = fake();
            f.state.pfs[0].carrier = carrier;
            let mut seen = Vec::new();
            let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
                seen.push(match p {
                    Progress::NumVfs {
                        pf,
                        from,
                        to,
                        carrier_wait,
                    } => format!("{pf} {from}->{to} wait={carrier_wait}"),
                    Progress::Vfs { pf, ready, want } => format!("{pf} {ready}/{want}"),
                    Progress::Carrier { pf } => format!("{pf} carrier"),
                });
            });
            assert!(o.converged(), "{:#?}", o.changes);
            let wait = carrier == Some(true);
            assert_eq!(seen, [format!("eno1 0->4 wait={wait}"), "eno1 4/4".into()]);
        }
    }

    #[test]
    fn phases_after_one_that_changed_nothing_plan_on_the_same_reading() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
        // An edit of one VLAN: only the VF attribute phase has work.
        let edited = parse(
            &CFG.replacen("vlan = 50", "vlan = 51", 1),
            Path::new("s.toml"),
            "h",
        )
        .unwrap();
        f.reads = 0;
        f.log.clear();
        let o = apply(&edited, &mut f, Options::default(), &mut |_| {});
        assert!(o.converged(), "{:#?}", o.changes);
        assert_eq!(f.log, ["setvfs 0000:01:00.0 [1]"]);
        // Read for pf_link (reused by num_vfs and vf_attrs), again after
        // the VLAN change for the driver phase (reused by every later phase
        // and by the read-back, which still sees the new VLAN).
        assert_eq!(f.reads, 2);
        let vlan = o.changes.iter().find(|c| c.attr == "vlan").unwrap();
        assert_eq!(vlan.status, Status::Applied);
        assert_eq!(vlan.detail, None);

        // A read-back on a reused reading still catches what the driver ignored.
        let again = parse(
            &CFG.replacen("vlan = 50", "vlan = 52", 1),
            Path::new("s.toml"),
            "h",
        )
        .unwrap();
        f.ignore = vec!["vlan"];
        let o = apply(&again, &mut f, Options::default(), &mut |_| {});
        let vlan = o.changes.iter().find(|c| c.attr == "vlan").unwrap();
        assert_eq!(vlan.status, Status::Ignored, "{vlan:?}");
        assert!(!o.converged());
    }

    #[test]
    fn a_pf_with_up_is_brought_up_before_its_vfs_exist() {
        let text = CFG.replacen("num_vfs = 4\n", "num_vfs = 4\nup = true\n", 1);
        let cfg = parse(&text, Path::new("s.toml"), "h").unwrap();
        assert_eq!(cfg.pfs[0].up, Some(true));
        let mut f = fake();
        f.state.pfs[0].up = Some(false);
        let mut seen = Vec::new();
        let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
            seen.push(format!("{p:?}"));
        });
        assert!(o.converged(), "{:#?}", o.changes);
        assert_eq!(seen[0], "Carrier { pf: \"eno1\" }", "{seen:?}");
        assert_eq!(
            &f.log[..2],
            ["pf 0000:01:00.0 up true", "numvfs 0000:01:00.0 4"]
        );
        let c = &o.changes[0];
        assert_eq!(
            (
                c.step,
                c.vf,
                c.attr.as_str(),
                c.from.as_deref(),
                c.to.as_str()
            ),
            (Step::PfLink, None, "up", Some("down"), "up")
        );
        // Converged: nothing more.
        f.log.clear();
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(o.converged() && o.changes.is_empty(), "{:#?}", o.changes);
        assert!(f.log.is_empty(), "{:?}", f.log);
        // A PF without a netdev cannot be brought up: refused before anything.
        f.state.pfs[0].netdevs.clear();
        let by_pci = text.replacen("name = \"eno1\"", "pci = \"0000:01:00.0\"", 1);
        let cfg = parse(&by_pci, Path::new("s.toml"), "h").unwrap();
        let p = plan(&cfg, &f.state, Options::default());
        assert!(
            p.errors
                .iter()
                .any(|e| e.contains("`up` needs the PF's netdev")),
            "{:?}",
            p.errors
        );
    }

    #[test]
    fn an_unbound_vf_gets_its_network_driver_back_before_its_link_settings() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
        // Someone unbinds VF 1 (eth0pve050) from igbvf.
        let v = &mut f.state.pfs[0].vfs[1];
        let name = v.netdev.take().unwrap();
        v.driver = None;
        v.link = None;
        f.state.links.remove(&name);
        let p = plan(&cfg, &f.state, Options::default());
        assert!(
            p.changes.iter().any(|c| c.attr == "driver"
                && c.vf == Some(1)
                && c.from.as_deref() == Some("(none)")
                && c.to == "default"),
            "{:?}",
            p.changes
        );
        f.log.clear();
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(o.converged(), "{:#?}", o.changes);
        assert_eq!(
            f.log,
            [
                "bind 0000:01:10.2 default",
                "rename eth101 eth0pve050",
                "up eth0pve050 true",
                "addr eth0pve050 10.0.50.100/24",
            ]
        );
        // A fresh host reports no such driver changes: new VFs are probed
        // as part of their creation.
        let mut f = fake();
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(
            !o.changes
                .iter()
                .any(|c| c.attr == "driver" && c.to == "default"),
            "{:?}",
            o.changes
        );
    }

    #[test]
    fn with_autoprobe_off_the_kernel_is_left_to_bind() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = Fake {
            autoprobe: false,
            ..fake()
        };
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(o.converged(), "{:#?}", o.changes);
        assert!(
            !f.log.iter().any(|l| l.ends_with(" default")),
            "{:?}",
            f.log
        );
        assert_eq!(
            &f.log[..3],
            [
                "numvfs 0000:01:00.0 4",
                "setvfs 0000:01:00.0 [0, 1, 3]",
                "bind 0000:01:10.6 vfio-pci"
            ]
        );
    }

    #[test]
    fn a_vf_whose_vfio_bind_fails_is_not_given_the_network_driver() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        f.refuse.push("bind:vfio-pci");
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(!o.converged());
        let failed: Vec<_> = o
            .changes
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| (c.vf, c.attr.as_str()))
            .collect();
        assert_eq!(failed, [(Some(3), "driver")]);
        assert!(
            !f.log.iter().any(|l| l == "bind 0000:01:10.6 default"),
            "{:?}",
            f.log
        );
        assert_eq!(f.state.pfs[0].vfs[3].driver, None);
        assert!(f.log.iter().any(|l| l == "bind 0000:01:10.0 default"));
    }

    #[test]
    fn a_stale_vf_mac_reloads_the_driver_and_setup_restores_the_netdev() {
        let cfg = parse(
            "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\nmac = \"02:00:00:00:00:01\"\nname = \"lan\"\nup = true\n",
            Path::new("s.toml"),
            "h",
        )
        .unwrap();
        let mut f = fake();
        assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
        // The VF driver kept an older MAC (it probed before the PF set this
        // one), the netdev is up, the PF has carrier.
        f.state.pfs[0].carrier = Some(true);
        let stale: Mac = "02:aa:00:00:00:09".parse().unwrap();
        let v = &mut f.state.pfs[0].vfs[1];
        v.link.get_or_insert_with(LinkInfo::default).mac = Some(stale);
        v.link.get_or_insert_with(LinkInfo::default).up = true;
        v.in_use = vec![crate::state::InUse::Up {
            netdev: "lan".into(),
        }];
        f.log.clear();

        // In use: the dry run plans it with the reason; setup skips it.
        let p = plan(&cfg, &f.state, Options::default());
        let planned = p.changes.iter().find(|c| c.attr == "reload").unwrap();
        assert_eq!(planned.status, Status::Planned);
        assert!(reload_blocked(planned));
        assert!(p.warnings.iter().any(|w| w.contains("--force-unbind")));
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(!o.converged());
        let c = o.changes.iter().find(|c| c.attr == "reload").unwrap();
        assert_eq!(c.status, Status::Skipped);
        assert_eq!(c.from.as_deref(), Some("02:aa:00:00:00:09"));
        let d = c.detail.as_deref().unwrap();
        assert!(d.contains("--force-unbind") && d.contains("lan"), "{d}");
        assert!(
            !f.log.iter().any(|l| l.starts_with("reload")),
            "{:?}",
            f.log
        );

        // Forced: reloaded, then renamed back and brought up again.
        let force = Options {
            force_unbind: true,
            ..Options::default()
        };
        let o = apply(&cfg, &mut f, force, &mut |_| {});
        assert!(o.converged(), "{:#?}", o.changes);
        assert_eq!(
            f.log,
            ["reload 0000:01:10.2", "rename eth101 lan", "up lan true"]
        );
        let mac = f.state.pfs[0].vfs[1].link.as_ref().and_then(|l| l.mac);
        assert_eq!(mac, Some("02:00:00:00:00:01".parse().unwrap()));

        // Without carrier on the PF a reload would not help: none planned.
        f.state.pfs[0].carrier = Some(false);
        f.state.pfs[0].vfs[1].link.as_mut().unwrap().mac = Some(stale);
        let p = plan(&cfg, &f.state, force);
        assert!(
            !p.changes.iter().any(|c| c.attr == "reload"),
            "{:?}",
            p.changes
        );
    }

    #[test]
    fn refused_and_ignored_are_reported_per_vf_and_the_rest_applies() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        f.refuse = vec!["trust"];
        f.ignore = vec!["vlan"];
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(!o.converged());
        let st: Vec<String> = o
            .changes
            .iter()
            .filter(|c| c.status != Status::Applied)
            .map(|c| {
                format!(
                    "{} {:?} {} {}",
                    c.status,
                    c.vf,
                    c.attr,
                    c.detail.clone().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            st,
            [
                "refused Some(0) trust Operation not supported (EOPNOTSUPP)",
                "ignored Some(1) vlan accepted, but reads back as 0",
                "ignored Some(3) vlan accepted, but reads back as 0",
            ]
        );
        assert!(f.log.contains(&"route eth0pve050 10.0.50.1".to_string()));
    }

    #[test]
    fn a_vf_brought_up_during_setup_fails_alone_at_bind() {
        // Validation saw no VFs; a network manager brings VF 3 up as soon as it
        // exists. The re-plan is not fatal: the bind (without --force-unbind)
        // refuses that VF and everything else applies.
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        f.up_on_create = vec![3];
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(o.fatal.is_none(), "{:?}", o.fatal);
        assert!(!o.converged());
        let bad: Vec<String> = o
            .changes
            .iter()
            .filter(|c| c.status != Status::Applied)
            .map(|c| format!("{} {:?} {}", c.status, c.vf, c.attr))
            .collect();
        assert_eq!(bad, ["failed Some(3) driver"]);
        assert!(f.log.contains(&"route eth0pve050 10.0.50.1".to_string()));
        // With --force-unbind the bind goes through.
        let mut f = fake();
        f.up_on_create = vec![3];
        let forced = Options {
            force_unbind: true,
            ..Options::default()
        };
        let o = apply(&cfg, &mut f, forced, &mut |_| {});
        assert!(o.converged(), "{:#?}", o.changes);
    }

    /// The fake host with a second PF (`eno2` at 0000:02:00.0, no VFs yet).
    fn fake_two_pfs() -> Fake {
        let mut f = fake();
        let mut second = f.state.pfs[0].clone();
        second.address = "0000:02:00.0".into();
        second.netdevs = vec!["eno2".into()];
        f.state.pfs.push(second);
        f.state.links.insert("eno2".into());
        f
    }

    const TWO_PFS: &str = "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\nup = true\n[[pf]]\npci = \"0000:02:00.0\"\nnum_vfs = 2\nup = true\n";

    #[test]
    fn the_links_and_counts_of_several_pfs_are_set_together() {
        let cfg = parse(TWO_PFS, Path::new("s.toml"), "h").unwrap();
        let mut f = fake_two_pfs();
        let mut counts = Vec::new();
        let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
            if let Progress::NumVfs { pf, to, .. } = p {
                counts.push(format!("{pf} {to}"));
            }
        });
        assert!(o.converged(), "{:#?}", o.changes);
        // Both links, then both counts (one call each: the live host writes
        // them on a thread per PF), then the probes of all six VFs.
        assert_eq!(
            f.log[..4],
            [
                "pf 0000:01:00.0 up true",
                "pf 0000:02:00.0 up true",
                "numvfs 0000:01:00.0 4",
                "numvfs 0000:02:00.0 2",
            ]
        );
        assert_eq!(f.log.len(), 4 + 6, "{:?}", f.log);
        assert_eq!(counts, ["eno1 4", "0000:02:00.0 2"]);
        assert_eq!(f.state.pfs[1].num_vfs, 2);
        assert_eq!(f.state.pfs[1].vfs[1].netdev.as_deref(), Some("eth12"));
        let lines: Vec<&str> = o.timings.iter().map(|t| t.what.as_str()).collect();
        assert!(
            lines.contains(&"eno1: up (at the same time as the other PF)")
                && lines
                    .contains(&"0000:02:00.0: sriov_numvfs 2 (at the same time as the other PF)"),
            "{lines:#?}"
        );
        // Again: nothing to do.
        f.log.clear();
        let again = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(again.converged() && f.log.is_empty(), "{:?}", f.log);
    }

    #[test]
    fn a_wait_for_links_gets_a_timing_line_only_when_the_host_waited() {
        assert!(link_wait_line(&["eno1"], Duration::ZERO).is_none());
        let l = link_wait_line(&["eno1", "0000:02:00.0"], Duration::from_millis(480)).unwrap();
        assert_eq!(
            (l.depth, l.what.as_str(), l.took),
            (
                1,
                "wait for the link of eno1, 0000:02:00.0",
                Duration::from_millis(480)
            )
        );
    }

    #[test]
    fn one_pf_whose_count_fails_leaves_the_other_pf_set_up() {
        let cfg = parse(TWO_PFS, Path::new("s.toml"), "h").unwrap();
        let mut f = fake_two_pfs();
        f.fail_numvfs_of = Some("0000:01:00.0");
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(!o.converged());
        let failed: Vec<(&str, &str)> = o
            .changes
            .iter()
            .filter(|c| c.status != Status::Applied)
            .map(|c| (c.pf_address.as_str(), c.detail.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            failed,
            [("0000:01:00.0", "Device or resource busy (EBUSY)")]
        );
        assert_eq!(f.state.pfs[0].num_vfs, 0);
        assert_eq!(f.state.pfs[1].num_vfs, 2);
        assert!(f.state.pfs[1]
            .vfs
            .iter()
            .all(|v| v.driver.as_deref() == Some("igbvf")));
    }

    #[test]
    fn a_failed_count_skips_the_pf_and_says_why() {
        let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
        let mut f = fake();
        f.fail_numvfs = true;
        let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
        assert!(!o.converged());
        assert_eq!(o.changes[0].status, Status::Failed);
        assert_eq!(
            o.changes[0].detail.as_deref(),
            Some("Device or resource busy (EBUSY)")
        );
        assert!(o.changes.len() > 1);
        assert!(
            o.changes[1..].iter().all(|c| c.status == Status::Skipped),
            "{:#?}",
            o.changes
        );
        assert_eq!(f.log, ["numvfs 0000:01:00.0 4"]);
    }
}
