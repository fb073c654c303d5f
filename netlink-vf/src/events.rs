//! Link notifications (RTNLGRP_LINK), to wait for new VF netdevs or renames
//! without polling sysfs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Op;
use crate::handle::Handle;
use crate::link::{parse_link_op, Link};
use crate::nl::{NlSocket, DEFAULT_RECV_BUF};
use crate::Error;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
/// RTMGRP_LINK: the legacy bind mask of RTNLGRP_LINK (group 1).
const RTMGRP_LINK: u32 = 1;

/// One link notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", content = "link", rename_all = "snake_case")]
pub enum LinkEvent {
    /// RTM_NEWLINK: a link appeared or changed (rename, up/down, MTU, ...).
    New(Link),
    /// RTM_DELLINK: a link went away (or left the namespace).
    Deleted(Link),
}

impl LinkEvent {
    /// The link the event is about.
    pub fn link(&self) -> &Link {
        match self {
            LinkEvent::New(l) | LinkEvent::Deleted(l) => l,
        }
    }
}

/// A subscription to RTNLGRP_LINK in the network namespace of the creating
/// thread. Subscribe *before* triggering the change you wait for (e.g. before
/// writing `sriov_numvfs`), or the event may be missed.
#[derive(Debug)]
pub struct LinkEvents {
    sock: NlSocket,
    queue: VecDeque<LinkEvent>,
}

impl LinkEvents {
    /// Joins RTNLGRP_LINK.
    ///
    /// # Errors
    /// [`Error::Socket`] when the socket cannot be opened or bound.
    pub fn new() -> Result<LinkEvents, Error> {
        Ok(LinkEvents {
            sock: NlSocket::open(RTMGRP_LINK, DEFAULT_RECV_BUF)?,
            queue: VecDeque::new(),
        })
    }

    /// The next event, waiting at most `timeout` (`None`: forever).
    /// `Ok(None)` on timeout.
    ///
    /// # Errors
    /// [`Error::Socket`] with ENOBUFS when the kernel dropped events because
    /// they were not read fast enough (re-read the state, then continue).
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<LinkEvent>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            let queue = &mut self.queue;
            let got = self
                .sock
                .recv_with_timeout(left, Op::LinkEvents, &mut |m| {
                    let ev = match m.ty {
                        RTM_NEWLINK => LinkEvent::New(parse_link_op(m.payload, Op::LinkEvents)?),
                        RTM_DELLINK => {
                            LinkEvent::Deleted(parse_link_op(m.payload, Op::LinkEvents)?)
                        }
                        _ => return Ok(()),
                    };
                    queue.push_back(ev);
                    Ok(())
                })?;
            if !got {
                return Ok(None);
            }
        }
    }

    /// Waits until an event satisfies `pred` and returns it.
    ///
    /// # Errors
    /// [`Error::Timeout`] when nothing matched within `timeout`; socket errors.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&LinkEvent) -> bool,
    ) -> Result<LinkEvent, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(Some(left))? {
                Some(e) if pred(&e) => return Ok(e),
                Some(_) => {}
                None => return Err(Error::Timeout { op: Op::LinkEvents }),
            }
        }
    }
}

/// What [`CarrierWatch::wait`] saw: the links that came back (up with
/// carrier) and those that did not before the timeout.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct CarrierOutcome {
    /// Up with carrier (IFF_UP and IFF_LOWER_UP).
    pub back: Vec<u32>,
    /// Not back when the wait ended (or gone).
    pub not_back: Vec<u32>,
}

impl CarrierOutcome {
    /// Whether every watched link came back.
    pub fn all_back(&self) -> bool {
        self.not_back.is_empty()
    }
}

/// A wait for the carrier of a set of links, on link events.
///
/// Subscribe first, then trigger the change (bring the links up, write a
/// PF's `sriov_numvfs`, which resets its link), then [`CarrierWatch::wait`]:
/// a carrier that comes back between the trigger and the wait is not missed.
///
/// ```no_run
/// use std::time::Duration;
/// use netlink_vf::{CarrierWatch, Handle, IfName};
///
/// let mut h = Handle::new()?;
/// let pf = h.index_of(&IfName::new("enp1s0f0")?)?;
/// let watch = CarrierWatch::new(&[pf])?;
/// h.set_up(pf, true)?;
/// let seen = watch.wait(&mut h, Duration::from_secs(15))?;
/// if !seen.all_back() {
///     eprintln!("no carrier on {:?}", seen.not_back);
/// }
/// # Ok::<(), netlink_vf::Error>(())
/// ```
#[derive(Debug)]
pub struct CarrierWatch {
    events: LinkEvents,
    indexes: Vec<u32>,
}

impl CarrierWatch {
    /// Joins RTNLGRP_LINK for the links `indexes`.
    ///
    /// # Errors
    /// [`Error::Socket`] when the subscription fails (reported, so a caller
    /// never waits on a watch that sees nothing).
    pub fn new(indexes: &[u32]) -> Result<CarrierWatch, Error> {
        Ok(CarrierWatch {
            events: LinkEvents::new()?,
            indexes: indexes.to_vec(),
        })
    }

    /// The links watched.
    pub fn indexes(&self) -> &[u32] {
        &self.indexes
    }

    /// Waits until every watched link is up with carrier, at most `timeout`.
    /// Each link's state is read with `handle` first (those already back are
    /// done at once; a link that no longer exists is not back). A timeout is
    /// not an error: the outcome says which links did not come back. When
    /// the kernel dropped events (ENOBUFS), the remaining links are read again.
    ///
    /// # Errors
    /// Socket errors other than ENOBUFS, and errors reading a link other
    /// than "no such device".
    pub fn wait(mut self, handle: &mut Handle, timeout: Duration) -> Result<CarrierOutcome, Error> {
        let deadline = Instant::now() + timeout;
        let mut waiting = self.indexes.clone();
        still_down(handle, &mut waiting)?;
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.events.next(Some(left)) {
                Ok(Some(e)) => {
                    let l = e.link();
                    if matches!(e, LinkEvent::New(_)) && l.up && l.lower_up {
                        waiting.retain(|&i| i != l.index);
                    }
                }
                Ok(None) => break,
                Err(e) if e.errno() == Some(libc::ENOBUFS) => still_down(handle, &mut waiting)?,
                Err(e) => return Err(e),
            }
        }
        let back = self
            .indexes
            .iter()
            .copied()
            .filter(|i| !waiting.contains(i))
            .collect();
        Ok(CarrierOutcome {
            back,
            not_back: waiting,
        })
    }
}

/// Keeps in `waiting` the links that are not up with carrier now.
fn still_down(handle: &mut Handle, waiting: &mut Vec<u32>) -> Result<(), Error> {
    let mut down = Vec::new();
    for &i in waiting.iter() {
        match handle.link_by_index(i) {
            Ok(l) if l.up && l.lower_up => {}
            Ok(_) => down.push(i),
            Err(e) if e.errno() == Some(libc::ENODEV) => down.push(i),
            Err(e) => return Err(e),
        }
    }
    *waiting = down;
    Ok(())
}
