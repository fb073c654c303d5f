//! TEMPORARY: the contract of netlink_vf::CarrierWatch until it lands.
#![allow(missing_docs, dead_code)]
use netlink_vf::{Error, Handle, LinkEvents};
use std::time::{Duration, Instant};
pub struct CarrierWatch {
    ev: LinkEvents,
    idx: Vec<u32>,
}
#[derive(Debug, Default)]
pub struct CarrierOutcome {
    pub back: Vec<u32>,
    pub not_back: Vec<u32>,
}
impl CarrierWatch {
    pub fn new(indexes: &[u32]) -> Result<Self, Error> {
        Ok(Self {
            ev: LinkEvents::new()?,
            idx: indexes.to_vec(),
        })
    }
    pub fn wait(mut self, h: &mut Handle, timeout: Duration) -> Result<CarrierOutcome, Error> {
        let back = |l: &netlink_vf::Link| l.up && l.lower_up;
        let mut waiting: Vec<u32> = self
            .idx
            .iter()
            .copied()
            .filter(|&i| !h.link_by_index(i).is_ok_and(|l| back(&l)))
            .collect();
        let deadline = Instant::now() + timeout;
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ev.next(Some(left))? {
                Some(e) => {
                    let l = e.link();
                    if back(l) {
                        waiting.retain(|&i| i != l.index);
                    }
                }
                None => break,
            }
        }
        Ok(CarrierOutcome {
            back: self
                .idx
                .iter()
                .copied()
                .filter(|i| !waiting.contains(i))
                .collect(),
            not_back: waiting,
        })
    }
}
