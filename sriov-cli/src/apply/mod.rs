//! Applying a plan, phase by phase, with read-back verification.
//!
//! The engine decides what to do and in which order; every kernel operation
//! is one [`Host`] call. Each phase re-reads the host and re-plans, so a phase
//! always works on what is really there (new VFs after a count change, new
//! names after renames); a phase that changed nothing hands its reading to
//! the next one.

mod phases;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sysfs_sriov::PciAddress;

use crate::config::Config;
use crate::host::{chain, Detail, Host, HostError, CARRIER_WAIT};
use crate::plan::{plan, Change, Op, Options, Status, Step};
use crate::state::HostState;

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
    /// Things seen while applying that deserve attention (a PF whose carrier
    /// did not come back, a link watch that could not be set up).
    pub warnings: Vec<String>,
    /// A failure that stopped setup early (state unreadable).
    pub fatal: Option<String>,
    /// Where the time went, in order.
    pub timings: Vec<Timing>,
}

impl Outcome {
    /// Whether everything was applied.
    pub fn converged(&self) -> bool {
        self.fatal.is_none() && self.changes.iter().all(|c| c.status == Status::Applied)
    }
}

/// What the next phase plans on.
pub(crate) enum Reading {
    /// The host is as this reading shows (the last phase changed nothing).
    Same(HostState),
    /// The last phase changed only what netlink shows (links, VF
    /// attributes, addresses, routes): this reading's sysfs part stands.
    Netlink(HostState),
    /// Read the host again.
    Read,
}

impl Reading {
    /// The host now, read as little as this reading allows, with the timing
    /// line of the phase `step` that plans on it.
    fn take(self, host: &mut dyn Host, step: &str) -> Result<(HostState, String), HostError> {
        Ok(match self {
            Reading::Same(s) => (s, format!("plan ({step}; the host is as read before)")),
            Reading::Netlink(s) => (host.refresh(s)?, format!("read netlink, plan ({step})")),
            Reading::Read => (
                host.read(Detail::Plan)?,
                format!("read host, plan ({step})"),
            ),
        })
    }
}

/// The engine's state across phases.
pub(crate) struct Engine<'a> {
    cfg: &'a Config,
    host: &'a mut dyn Host,
    opts: Options,
    progress: &'a mut dyn FnMut(Progress<'_>),
    out: Outcome,
    /// PFs whose link or count failed: later phases skip them.
    dead_pfs: BTreeSet<PciAddress>,
    /// VFs whose driver or rename failed: later phases skip them.
    dead_vfs: BTreeSet<(PciAddress, u32)>,
    /// PFs whose new VFs were created without drivers: probed in the driver
    /// phase, after their PF-side attributes are set.
    unprobed: BTreeSet<PciAddress>,
}

/// Applies `cfg` to the host, phase by phase, then reads back and verifies.
#[cfg(test)]
pub fn apply(
    cfg: &Config,
    host: &mut dyn Host,
    opts: Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Outcome {
    apply_from(cfg, host, opts, progress, None)
}

/// [`apply`], starting from `read`: the reading the caller validated the
/// plan on (`setup`), which the first phase then plans on instead of reading
/// the host again.
pub fn apply_from(
    cfg: &Config,
    host: &mut dyn Host,
    opts: Options,
    progress: &mut dyn FnMut(Progress<'_>),
    read: Option<HostState>,
) -> Outcome {
    let mut e = Engine {
        cfg,
        host,
        opts,
        progress,
        out: Outcome::default(),
        dead_pfs: BTreeSet::new(),
        dead_vfs: BTreeSet::new(),
        unprobed: BTreeSet::new(),
    };
    let mut next = read.map_or(Reading::Read, Reading::Same);
    for step in Step::ALL {
        match e.phase(step, next) {
            Ok(n) => next = n,
            Err(fatal) => {
                e.out.fatal = Some(fatal);
                return e.out;
            }
        }
    }
    let t = Instant::now();
    e.verify(next);
    e.out.timings.push(Timing {
        depth: 0,
        what: "read back, verify".into(),
        took: t.elapsed(),
    });
    e.out
}

impl Engine<'_> {
    /// One phase: read (or reuse) the host, re-plan, apply this step's
    /// changes. Returns the reading when the phase changed nothing.
    fn phase(&mut self, step: Step, reading: Reading) -> Result<Reading, String> {
        let t_read = Instant::now();
        let (state, what) = reading
            .take(self.host, &step.to_string())
            .map_err(|e| chain(&e))?;
        // Validation (before apply) refuses unbinding a busy VF without
        // --force-unbind. A VF created by this run that something (a network
        // manager) brought up meanwhile is not fatal here: the bind itself,
        // with the real flag, refuses that one VF and the rest applies.
        let replan = Options {
            force_unbind: true,
            ..self.opts
        };
        let p = plan(self.cfg, &state, replan);
        crate::fault::point(&format!("{step}-planned"));
        self.out.timings.push(Timing {
            depth: 0,
            what,
            took: t_read.elapsed(),
        });
        // The phase's own line, filled in when it ends (its operations follow it).
        let phase_line = self.out.timings.len();
        self.out.timings.push(Timing {
            depth: 0,
            what: step.to_string(),
            took: Duration::ZERO,
        });
        let t_phase = Instant::now();
        // VFs bound before their MAC was set show up only now (see
        // `late_reloads`): reloaded first, under this phase's line.
        let (state, p) = match step {
            Step::Link => self.late_reloads(state, p)?,
            _ => (state, p),
        };
        if !p.errors.is_empty() {
            return Err(format!(
                "the host changed during setup: {}",
                p.errors.join("; ")
            ));
        }
        let todo = self.skip_dead(p.changes.into_iter().filter(|c| c.step() == step));
        // Whether this phase may change the host: a change to make, or VFs
        // created without drivers that the driver phase probes.
        let touches = !todo.is_empty() || (step == Step::Driver && !self.unprobed.is_empty());
        // Changes sysfs shows too: VFs, drivers, netdev names.
        let sysfs_too = match step {
            Step::NumVfs | Step::Driver => true,
            Step::Link => todo.iter().any(|c| matches!(c.op, Op::Rename { .. })),
            Step::PfLink | Step::VfAttrs | Step::Address | Step::Route => false,
        };
        match step {
            Step::PfLink => self.pf_links(&state, todo),
            Step::NumVfs => self.num_vfs(&state, todo),
            Step::VfAttrs => self.vf_attrs(&state, todo),
            Step::Driver => self.drivers(&state, todo)?,
            Step::Link | Step::Address | Step::Route => self.netdevs(&state, todo),
        }
        if let Some(t) = self.out.timings.get_mut(phase_line) {
            t.took = t_phase.elapsed();
        }
        crate::fault::point(&step.to_string());
        Ok(if !touches {
            Reading::Same(state)
        } else if sysfs_too {
            Reading::Read
        } else {
            Reading::Netlink(state)
        })
    }

    /// The changes whose PF or VF failed earlier are reported skipped; the
    /// rest are returned.
    fn skip_dead(&mut self, changes: impl Iterator<Item = Change>) -> Vec<Change> {
        let mut todo = Vec::new();
        for mut c in changes {
            let vf_dead =
                c.vf.is_some_and(|i| self.dead_vfs.contains(&(c.pf_address, i)));
            if self.dead_pfs.contains(&c.pf_address) || vf_dead {
                c.status = Status::Skipped;
                c.detail = Some(if vf_dead {
                    "an earlier step for this VF failed".into()
                } else {
                    "num_vfs of this PF was not applied".into()
                });
                self.out.changes.push(c);
            } else {
                todo.push(c);
            }
        }
        todo
    }

    /// Runs `f`, recording how long it took under the label `what`.
    fn timed<T>(&mut self, what: String, f: impl FnOnce(&mut dyn Host) -> T) -> T {
        let t = Instant::now();
        let r = f(&mut *self.host);
        self.out.timings.push(Timing {
            depth: 1,
            what,
            took: t.elapsed(),
        });
        r
    }

    /// Subscribes to the carrier of `pfs` before an operation that resets
    /// their links; a failed subscription is said, and setup goes on without
    /// waiting.
    fn watch(&mut self, pfs: &[&crate::state::PfState]) {
        if pfs.is_empty() {
            return;
        }
        if let Err(e) = self.host.watch_carriers(pfs) {
            self.out.warnings.push(format!(
                "cannot watch the links of {} ({}): setup does not wait for their carrier, and VF settings that need it may be refused",
                labels(pfs),
                chain(&e)
            ));
        }
    }

    /// The one wait for the watched PFs' carriers, with its timing line
    /// naming the PFs of the operations before it (as the config names them).
    fn wait_carriers(&mut self, pfs: &[&crate::state::PfState], names: &[&str]) {
        if pfs.is_empty() {
            return;
        }
        let t = Instant::now();
        let r = self.host.wait_carriers(CARRIER_WAIT);
        let took = t.elapsed();
        if !took.is_zero() {
            self.out.timings.push(Timing {
                depth: 1,
                what: format!("wait for the link of {}", names.join(", ")),
                took,
            });
        }
        match r {
            Ok(not_back) if not_back.is_empty() => {}
            Ok(not_back) => self.out.warnings.push(format!(
                "no carrier on {} after {} s (no cable, or the switch port is down?): VF settings that need the PF's link (igb's TX rates) may be refused, and VF drivers may start without a MAC",
                not_back.join(", "),
                CARRIER_WAIT.as_secs()
            )),
            Err(e) => self.out.warnings.push(format!(
                "waiting for the link of {}: {}",
                labels(pfs),
                chain(&e)
            )),
        }
    }

    /// Reads back: whatever still differs was ignored by the driver (if it
    /// was applied) or failed.
    fn verify(&mut self, reading: Reading) {
        let state = match reading.take(self.host, "verify") {
            Ok((s, _)) => s,
            Err(e) => {
                self.out.fatal = Some(format!("reading back failed: {}", chain(&e)));
                return;
            }
        };
        let p = plan(self.cfg, &state, self.opts);
        for mut r in p.changes {
            match self.out.changes.iter_mut().find(|c| c.same_target(&r)) {
                Some(c) if c.status == Status::Applied => match r.op.from_text() {
                    // The kernel does not report it back: nothing to compare.
                    None => {
                        c.detail = Some("not reported back by the kernel, so not verified".into());
                    }
                    Some(now) => {
                        c.status = Status::Ignored;
                        c.detail = Some(format!("accepted, but reads back as {now}"));
                    }
                },
                Some(_) => {}
                None => {
                    r.status = Status::Failed;
                    r.detail = Some("still differs after setup".into());
                    self.out.changes.push(r);
                }
            }
        }
    }
}

/// `eth0, eth1`.
fn labels(pfs: &[&crate::state::PfState]) -> String {
    let l: Vec<String> = pfs.iter().map(|p| p.label()).collect();
    l.join(", ")
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

/// Sets the change's status from the result of its operation.
fn finish(c: &mut Change, res: Result<(), HostError>, fail: Status) {
    match res {
        Ok(()) => c.status = Status::Applied,
        Err(e) => {
            c.status = fail;
            c.detail = Some(chain(&e));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
