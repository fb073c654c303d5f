//! One change of a plan, typed: what kind of change (an [`Op`] with the
//! library types of its values), on which PF and VF, and where it stands.
//!
//! The text and JSON forms are the contract of `setup --dry-run` and `--json`:
//! `step`, `pf`, `pf_address`, `vf`, `attr`, `from`, `to`, `status`, `detail`,
//! with the attribute names and value texts below.

use std::fmt;
use std::net::IpAddr;

use netlink_vf::{IfName, IpPrefix, LinkState, MacAddr, VfAttr, VlanConfig, VlanProto};
use serde::ser::SerializeStruct;
use serde::Serialize;
use sysfs_sriov::PciAddress;

use crate::config::DriverSpec;

/// The order of application; also the phases of `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

impl Step {
    /// Every step, in application order.
    pub const ALL: [Step; 7] = [
        Step::PfLink,
        Step::NumVfs,
        Step::VfAttrs,
        Step::Driver,
        Step::Link,
        Step::Address,
        Step::Route,
    ];
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

/// What changes, with the current value (`None`: unknown, e.g. netlink
/// unavailable or the VF not created yet) and the wanted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The PF's own link up or down (step `pf_link`, attr `up`).
    PfUp {
        /// Now.
        from: Option<bool>,
        /// Wanted.
        to: bool,
    },
    /// `sriov_numvfs`.
    NumVfs {
        /// Now.
        from: u32,
        /// Wanted.
        to: u32,
    },
    /// The VF's MAC, set by the PF.
    Mac {
        /// Now.
        from: Option<MacAddr>,
        /// Wanted.
        to: MacAddr,
    },
    /// The VF's VLAN, QoS and protocol, set by the PF.
    Vlan {
        /// Now.
        from: Option<VlanConfig>,
        /// Wanted.
        to: VlanConfig,
    },
    /// Spoof checking.
    SpoofChk {
        /// Now.
        from: Option<bool>,
        /// Wanted.
        to: bool,
    },
    /// Trust.
    Trust {
        /// Now.
        from: Option<bool>,
        /// Wanted.
        to: bool,
    },
    /// The VF's administrative link state.
    LinkState {
        /// Now.
        from: Option<LinkState>,
        /// Wanted.
        to: LinkState,
    },
    /// Minimum TX rate, Mbit/s.
    MinTxRate {
        /// Now.
        from: Option<u32>,
        /// Wanted.
        to: u32,
    },
    /// Maximum TX rate, Mbit/s.
    MaxTxRate {
        /// Now.
        from: Option<u32>,
        /// Wanted.
        to: u32,
    },
    /// RSS query permission.
    QueryRss {
        /// Now.
        from: Option<bool>,
        /// Wanted.
        to: bool,
    },
    /// Driver binding.
    Driver {
        /// Now: `None` unknown (the VF does not exist yet), `Some(None)` no driver.
        from: Option<Option<String>>,
        /// Wanted.
        to: DriverSpec,
        /// Planned because the config sets netdev settings on a VF without a
        /// driver, not because it names one: a VF this run created without a
        /// driver is probed with the others instead.
        implicit: bool,
    },
    /// A reload of the VF's network driver, so that its netdev takes the MAC
    /// the PF set (attr `reload`, from the netdev's MAC to the PF-set one).
    Reload {
        /// The netdev's MAC now.
        from: MacAddr,
        /// The MAC the PF set.
        to: MacAddr,
    },
    /// Rename of the VF netdev (attr `name`).
    Rename {
        /// Now (`None`: no netdev yet).
        from: Option<String>,
        /// Wanted.
        to: IfName,
    },
    /// MTU of the VF netdev.
    Mtu {
        /// Now.
        from: Option<u32>,
        /// Wanted.
        to: u32,
    },
    /// The VF netdev's promiscuous flag (IFF_PROMISC).
    Promisc {
        /// Now.
        from: Option<bool>,
        /// Wanted.
        to: bool,
    },
    /// The VF netdev up or down.
    Up {
        /// Now.
        from: Option<bool>,
        /// Wanted.
        to: bool,
    },
    /// An address to add (attr `address`; from `(absent)` when the netdev's
    /// addresses are known).
    AddAddress {
        /// Whether the netdev's addresses were read.
        known: bool,
        /// The address.
        to: IpPrefix,
    },
    /// An address the config does not list, removed with `--prune` (attr
    /// `remove_address`, from the address, to `(none)`).
    RemoveAddress {
        /// The address.
        addr: IpPrefix,
    },
    /// The default route of the gateway's family via this VF (attr `route`).
    Route {
        /// The default route of that family now (`Some(None)`: none).
        from: Option<Option<(IpAddr, String)>>,
        /// The gateway.
        gateway: IpAddr,
    },
}

fn onoff(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

fn updown(b: bool) -> String {
    if b { "up" } else { "down" }.to_string()
}

/// `50`, `50 qos 3`, `50 proto 802.1ad`; `0` when untagged.
pub fn vlan_text(v: &VlanConfig) -> String {
    let mut s = v.id.map_or(0, netlink_vf::VlanId::get).to_string();
    if v.qos.get() != 0 {
        s.push_str(&format!(" qos {}", v.qos.get()));
    }
    if v.proto == VlanProto::Dot1Ad {
        s.push_str(" proto 802.1ad");
    }
    s
}

impl Op {
    /// The phase this change is applied in.
    pub fn step(&self) -> Step {
        match self {
            Op::PfUp { .. } => Step::PfLink,
            Op::NumVfs { .. } => Step::NumVfs,
            Op::Mac { .. }
            | Op::Vlan { .. }
            | Op::SpoofChk { .. }
            | Op::Trust { .. }
            | Op::LinkState { .. }
            | Op::MinTxRate { .. }
            | Op::MaxTxRate { .. }
            | Op::QueryRss { .. } => Step::VfAttrs,
            Op::Driver { .. } | Op::Reload { .. } => Step::Driver,
            Op::Rename { .. } | Op::Mtu { .. } | Op::Promisc { .. } | Op::Up { .. } => Step::Link,
            Op::AddAddress { .. } | Op::RemoveAddress { .. } => Step::Address,
            Op::Route { .. } => Step::Route,
        }
    }

    /// The contract's attribute name (`attr` in JSON).
    pub fn attr(&self) -> &'static str {
        match self {
            Op::PfUp { .. } | Op::Up { .. } => "up",
            Op::NumVfs { .. } => "num_vfs",
            Op::Mac { .. } => "mac",
            Op::Vlan { .. } => "vlan",
            Op::SpoofChk { .. } => "spoofchk",
            Op::Trust { .. } => "trust",
            Op::LinkState { .. } => "link_state",
            Op::MinTxRate { .. } => "min_tx_rate",
            Op::MaxTxRate { .. } => "max_tx_rate",
            Op::QueryRss { .. } => "query_rss",
            Op::Driver { .. } => "driver",
            Op::Reload { .. } => "reload",
            Op::Rename { .. } => "name",
            Op::Mtu { .. } => "mtu",
            Op::Promisc { .. } => "promisc",
            Op::AddAddress { .. } => "address",
            Op::RemoveAddress { .. } => "remove_address",
            Op::Route { .. } => "route",
        }
    }

    /// The kernel attribute of a PF-side VF setting (what a netlink VF
    /// request reports failures by); `None` for every other change.
    pub fn vf_attr(&self) -> Option<VfAttr> {
        Some(match self {
            Op::Mac { .. } => VfAttr::Mac,
            Op::Vlan { .. } => VfAttr::Vlan,
            Op::SpoofChk { .. } => VfAttr::SpoofChk,
            Op::Trust { .. } => VfAttr::Trust,
            Op::LinkState { .. } => VfAttr::LinkState,
            Op::MinTxRate { .. } | Op::MaxTxRate { .. } => VfAttr::Rate,
            Op::QueryRss { .. } => VfAttr::QueryRss,
            _ => return None,
        })
    }

    /// The current value as the contract writes it; `None` when unknown.
    pub fn from_text(&self) -> Option<String> {
        match self {
            Op::PfUp { from, .. } | Op::Up { from, .. } => from.map(updown),
            Op::NumVfs { from, .. } => Some(from.to_string()),
            Op::Mac { from, .. } => from.map(|m| m.to_string()),
            Op::Vlan { from, .. } => from.as_ref().map(vlan_text),
            Op::SpoofChk { from, .. }
            | Op::Trust { from, .. }
            | Op::QueryRss { from, .. }
            | Op::Promisc { from, .. } => from.map(onoff),
            Op::LinkState { from, .. } => from.map(|s| s.to_string()),
            Op::MinTxRate { from, .. } | Op::MaxTxRate { from, .. } | Op::Mtu { from, .. } => {
                from.map(|n| n.to_string())
            }
            Op::Driver { from, .. } => from
                .as_ref()
                .map(|d| d.clone().unwrap_or_else(|| "(none)".into())),
            Op::Reload { from, .. } => Some(from.to_string()),
            Op::Rename { from, .. } => from.clone(),
            Op::AddAddress { known, .. } => known.then(|| "(absent)".to_string()),
            Op::RemoveAddress { addr } => Some(addr.to_string()),
            Op::Route { from, .. } => from.as_ref().map(|r| match r {
                Some((g, d)) => format!("default via {g} dev {d}"),
                None => "(none)".to_string(),
            }),
        }
    }

    /// The wanted value as the contract writes it.
    pub fn to_text(&self) -> String {
        match self {
            Op::PfUp { to, .. } | Op::Up { to, .. } => updown(*to),
            Op::NumVfs { to, .. } => to.to_string(),
            Op::Mac { to, .. } => to.to_string(),
            Op::Vlan { to, .. } => vlan_text(to),
            Op::SpoofChk { to, .. }
            | Op::Trust { to, .. }
            | Op::QueryRss { to, .. }
            | Op::Promisc { to, .. } => onoff(*to),
            Op::LinkState { to, .. } => to.to_string(),
            Op::MinTxRate { to, .. } | Op::MaxTxRate { to, .. } | Op::Mtu { to, .. } => {
                to.to_string()
            }
            Op::Driver { to, .. } => to.to_string(),
            Op::Reload { to, .. } => to.to_string(),
            Op::Rename { to, .. } => to.to_string(),
            Op::AddAddress { to, .. } => to.to_string(),
            Op::RemoveAddress { .. } => "(none)".to_string(),
            Op::Route { gateway, .. } => format!("default via {gateway}"),
        }
    }

    /// Whether `self` and `other` change the same thing (same kind; for
    /// addresses, the same address).
    pub fn same_kind(&self, other: &Op) -> bool {
        match (self, other) {
            (Op::AddAddress { to: a, .. }, Op::AddAddress { to: b, .. }) => a == b,
            (Op::RemoveAddress { addr: a }, Op::RemoveAddress { addr: b }) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// One change: the unit of `--dry-run` output, `--json` and apply reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// PF as named in the config.
    pub pf: String,
    /// PF PCI address.
    pub pf_address: PciAddress,
    /// VF index, when the change is about one VF.
    pub vf: Option<u32>,
    /// What changes.
    pub op: Op,
    /// Where it stands.
    pub status: Status,
    /// Why it failed, or a note.
    pub detail: Option<String>,
}

impl Change {
    /// A planned change.
    pub fn new(pf: &str, pf_address: PciAddress, vf: Option<u32>, op: Op) -> Self {
        Change {
            pf: pf.to_string(),
            pf_address,
            vf,
            op,
            status: Status::Planned,
            detail: None,
        }
    }

    /// The phase.
    pub fn step(&self) -> Step {
        self.op.step()
    }

    /// Identity of a change across re-plans: same PF, VF and attribute (and
    /// address, for addresses).
    pub fn same_target(&self, other: &Change) -> bool {
        self.pf_address == other.pf_address && self.vf == other.vf && self.op.same_kind(&other.op)
    }

    /// Whether `setup` will skip this planned change: a driver reload whose
    /// netdev is in use without `--force-unbind` (the reason is its `detail`).
    pub fn reload_blocked(&self) -> bool {
        matches!(self.op, Op::Reload { .. }) && self.detail.is_some()
    }

    /// `PF eno1 VF 1` or `PF eno1 (0000:01:00.0)`.
    pub fn subject(&self) -> String {
        match self.vf {
            Some(i) => format!("PF {} VF {i}", self.pf),
            None => format!("PF {} ({})", self.pf, self.pf_address),
        }
    }

    /// How the attribute reads in text: `reload` is about the netdev's MAC.
    pub fn label(&self) -> &'static str {
        match self.op {
            Op::Reload { .. } => "netdev MAC (driver reload)",
            Op::RemoveAddress { .. } => "address",
            _ => self.op.attr(),
        }
    }
}

/// `PF eno1 VF 1: vlan 0 -> 50` (`?` for an unknown current value).
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} -> {}",
            self.subject(),
            self.label(),
            self.op.from_text().as_deref().unwrap_or("?"),
            self.op.to_text()
        )
    }
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = 7 + usize::from(self.vf.is_some()) + usize::from(self.detail.is_some());
        let mut st = s.serialize_struct("Change", n)?;
        st.serialize_field("step", &self.step())?;
        st.serialize_field("pf", &self.pf)?;
        st.serialize_field("pf_address", &self.pf_address)?;
        if let Some(vf) = self.vf {
            st.serialize_field("vf", &vf)?;
        }
        st.serialize_field("attr", self.op.attr())?;
        st.serialize_field("from", &self.op.from_text())?;
        st.serialize_field("to", &self.op.to_text())?;
        st.serialize_field("status", &self.status)?;
        if let Some(d) = &self.detail {
            st.serialize_field("detail", d)?;
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> PciAddress {
        "0000:01:00.0".parse().unwrap()
    }

    #[test]
    fn json_keeps_the_contract_field_order_and_values() {
        let mut c = Change::new(
            "eth0",
            pf(),
            Some(0),
            Op::LinkState {
                from: Some(LinkState::Auto),
                to: LinkState::Enable,
            },
        );
        c.status = Status::Refused;
        c.detail = Some("x".into());
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"step":"vf_attrs","pf":"eth0","pf_address":"0000:01:00.0","vf":0,"attr":"link_state","from":"auto","to":"enable","status":"refused","detail":"x"}"#
        );
        let n = Change::new("eth0", pf(), None, Op::NumVfs { from: 0, to: 7 });
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"step":"num_vfs","pf":"eth0","pf_address":"0000:01:00.0","attr":"num_vfs","from":"0","to":"7","status":"planned"}"#
        );
    }

    #[test]
    fn texts_of_every_kind() {
        let v = VlanConfig::new(netlink_vf::VlanId::new(50).unwrap())
            .qos(netlink_vf::Qos::new(3).unwrap())
            .proto(VlanProto::Dot1Ad);
        assert_eq!(vlan_text(&v), "50 qos 3 proto 802.1ad");
        assert_eq!(vlan_text(&VlanConfig::none()), "0");
        let a: IpPrefix = "10.0.50.100/24".parse().unwrap();
        let cases = [
            (
                Op::AddAddress { known: true, to: a },
                Some("(absent)"),
                "10.0.50.100/24",
                "address",
            ),
            (
                Op::AddAddress {
                    known: false,
                    to: a,
                },
                None,
                "10.0.50.100/24",
                "address",
            ),
            (
                Op::RemoveAddress { addr: a },
                Some("10.0.50.100/24"),
                "(none)",
                "remove_address",
            ),
            (
                Op::Driver {
                    from: Some(None),
                    to: DriverSpec::VfioPci,
                    implicit: false,
                },
                Some("(none)"),
                "vfio-pci",
                "driver",
            ),
            (
                Op::Route {
                    from: Some(Some(("10.0.0.1".parse().unwrap(), "eth9".into()))),
                    gateway: "10.0.50.1".parse().unwrap(),
                },
                Some("default via 10.0.0.1 dev eth9"),
                "default via 10.0.50.1",
                "route",
            ),
            (
                Op::Route {
                    from: Some(None),
                    gateway: "10.0.50.1".parse().unwrap(),
                },
                Some("(none)"),
                "default via 10.0.50.1",
                "route",
            ),
            (
                Op::PfUp {
                    from: Some(false),
                    to: true,
                },
                Some("down"),
                "up",
                "up",
            ),
            (
                Op::Mtu {
                    from: None,
                    to: 9000,
                },
                None,
                "9000",
                "mtu",
            ),
        ];
        for (op, from, to, attr) in cases {
            assert_eq!(op.from_text().as_deref(), from, "{op:?}");
            assert_eq!(op.to_text(), to, "{op:?}");
            assert_eq!(op.attr(), attr, "{op:?}");
        }
    }

    #[test]
    fn same_target_tells_addresses_apart() {
        let a: IpPrefix = "10.0.50.100/24".parse().unwrap();
        let b: IpPrefix = "10.0.50.101/24".parse().unwrap();
        let c = |op| Change::new("eth0", pf(), Some(1), op);
        assert!(
            c(Op::AddAddress { known: true, to: a }).same_target(&c(Op::AddAddress {
                known: false,
                to: a
            }))
        );
        assert!(!c(Op::AddAddress { known: true, to: a })
            .same_target(&c(Op::AddAddress { known: true, to: b })));
        assert!(c(Op::Mtu { from: None, to: 1 }).same_target(&c(Op::Mtu {
            from: Some(3),
            to: 2
        })));
        assert!(!c(Op::Mtu { from: None, to: 1 }).same_target(&c(Op::Up {
            from: None,
            to: true
        })));
    }
}
