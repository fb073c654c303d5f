//! Link notifications (RTNLGRP_LINK), to wait for new VF netdevs or renames
//! without polling sysfs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Op;
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
