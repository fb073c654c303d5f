//! Link notifications (RTNLGRP_LINK), to wait for new VF netdevs or renames
//! without polling sysfs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Op;
use crate::handle::Handle;
use crate::link::{index_and_flags, parse_link_op, Link, IFF_LOWER_UP, IFF_UP};
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
/// Only the fixed header of each notification is read (`ifi_index`,
/// `ifi_flags`), so no other link of the namespace, whatever its name or
/// attributes, can make the wait fail.
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
    /// Joins RTNLGRP_LINK for the links `indexes` (in the network namespace
    /// of the calling thread, which should be the one of the [`Handle`]
    /// later passed to [`CarrierWatch::wait`]).
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

    /// Like [`CarrierWatch::new`] with the socket's kernel receive queue set
    /// to `bytes` (SO_RCVBUF) instead of 1 MiB. A queue that overflows
    /// loses events (ENOBUFS), which [`CarrierWatch::wait`] makes up for by
    /// reading the links again; tests use a tiny queue to exercise that.
    ///
    /// # Errors
    /// [`Error::Socket`] when the subscription or the setsockopt fails.
    pub fn with_queue_size(indexes: &[u32], bytes: usize) -> Result<CarrierWatch, Error> {
        let watch = CarrierWatch::new(indexes)?;
        watch.events.sock.set_queue_size(bytes, Op::LinkEvents)?;
        Ok(watch)
    }

    /// The links watched.
    pub fn indexes(&self) -> &[u32] {
        &self.indexes
    }

    /// Waits until every watched link is up with carrier (IFF_UP and
    /// IFF_LOWER_UP), at most `timeout`.
    ///
    /// Each link's state is read with `handle` first: those already back
    /// are done at once, a link that no longer exists is not back. A timeout
    /// is not an error: the outcome says which links came back and which did
    /// not. The wait also ends early when every link still waited for has
    /// gone (RTM_DELLINK, or never existed). When the kernel dropped events
    /// (ENOBUFS: the socket's queue overflowed), the links still waited for
    /// are read again with `handle` and the wait goes on.
    ///
    /// Both lists keep the order of [`CarrierWatch::indexes`].
    ///
    /// # Errors
    /// Socket errors other than ENOBUFS, and errors reading a link other
    /// than "no such device".
    pub fn wait(mut self, handle: &mut Handle, timeout: Duration) -> Result<CarrierOutcome, Error> {
        let deadline = Instant::now() + timeout;
        let mut w = Waiting::new(&self.indexes);
        w.reread(handle)?;
        while !w.over() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let got = self
                .events
                .sock
                .recv_with_timeout(Some(left), Op::LinkEvents, &mut |m| {
                    if let Some((index, flags)) = index_and_flags(m.payload) {
                        match m.ty {
                            RTM_NEWLINK => w.seen(index, flags),
                            RTM_DELLINK => w.deleted(index),
                            _ => {}
                        }
                    }
                    Ok(())
                });
            match got {
                // A quiet poll: the loop checks the deadline.
                Ok(true | false) => {}
                Err(e) if e.errno() == Some(libc::ENOBUFS) => w.reread(handle)?,
                Err(e) => return Err(e),
            }
        }
        Ok(w.outcome(&self.indexes))
    }
}

/// The links a [`CarrierWatch::wait`] still waits for.
struct Waiting {
    /// Not yet up with carrier.
    down: Vec<u32>,
    /// Those of `down` that do not exist (now).
    gone: Vec<u32>,
}

impl Waiting {
    fn new(indexes: &[u32]) -> Self {
        Waiting {
            down: indexes.to_vec(),
            gone: Vec::new(),
        }
    }

    /// Nothing left to wait for: all back, or the rest gone.
    fn over(&self) -> bool {
        self.down.iter().all(|i| self.gone.contains(i))
    }

    /// A link's state from RTM_NEWLINK (or a fresh read).
    fn seen(&mut self, index: u32, flags: u32) {
        if !self.down.contains(&index) {
            return;
        }
        self.gone.retain(|&i| i != index);
        if flags & IFF_UP != 0 && flags & IFF_LOWER_UP != 0 {
            self.down.retain(|&i| i != index);
        }
    }

    /// RTM_DELLINK (or ENODEV on a read).
    fn deleted(&mut self, index: u32) {
        if self.down.contains(&index) && !self.gone.contains(&index) {
            self.gone.push(index);
        }
    }

    /// Reads every link still down with `handle`.
    fn reread(&mut self, handle: &mut Handle) -> Result<(), Error> {
        let mut unique = self.down.clone();
        unique.sort_unstable();
        unique.dedup();
        for i in unique {
            match handle.link_flags(i)? {
                Some(flags) => self.seen(i, flags),
                None => self.deleted(i),
            }
        }
        Ok(())
    }

    fn outcome(self, indexes: &[u32]) -> CarrierOutcome {
        let (not_back, back) = indexes.iter().partition(|i| self.down.contains(i));
        CarrierOutcome { back, not_back }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACK: u32 = IFF_UP | IFF_LOWER_UP;

    #[test]
    fn waiting_follows_new_and_deleted_links() {
        let mut w = Waiting::new(&[3, 4, 5]);
        w.seen(3, IFF_UP);
        w.seen(4, BACK);
        w.seen(9, BACK);
        assert!(!w.over());
        w.deleted(5);
        assert!(!w.over());
        w.deleted(3);
        assert!(w.over(), "only gone links left");
        // A link that comes back (moved back into the namespace) counts.
        w.seen(3, BACK);
        w.seen(5, IFF_UP);
        assert!(!w.over());
        w.deleted(4); // already back: stays back
        assert_eq!(
            w.outcome(&[3, 4, 5]),
            CarrierOutcome {
                back: vec![3, 4],
                not_back: vec![5],
            }
        );
    }

    #[test]
    fn a_carrier_without_up_or_up_without_carrier_is_not_back() {
        let mut w = Waiting::new(&[1, 2]);
        w.seen(1, IFF_LOWER_UP);
        w.seen(2, IFF_UP);
        let o = w.outcome(&[1, 2]);
        assert!(!o.all_back());
        assert_eq!(o.not_back, [1, 2]);
        assert!(CarrierOutcome::default().all_back());
    }
}
