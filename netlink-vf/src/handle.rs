//! The blocking rtnetlink client.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::RouteNetlinkMessage;

use crate::addr::{address_message, parse_address, Address};
use crate::error::{LinkRef, Op};
use crate::link::{parse_link_op, Link};
use crate::nl::{encode, NlSocket, Outgoing, DEFAULT_RECV_BUF};
use crate::route::{parse_route, route_message, Route, RouteSpec, RT_TABLE_MAIN};
use crate::types::{IfName, IpPrefix, MacAddr};
use crate::vf::{
    set_vfs_message, vf_link, AttrOutcome, SetVfsReport, VfConfig, VfOutcome, VfState,
};
use crate::Error;

/// How many requests a [`Batch`] keeps in flight before collecting ACKs, so
/// the socket's receive queue can never overflow with answers.
const PIPELINE_WINDOW: usize = 128;
/// Dumps interrupted by concurrent changes (NLM_F_DUMP_INTR) are retried.
const DUMP_RETRIES: usize = 5;

/// One request that is answered with an ACK: a pure value, built without I/O,
/// executed by [`Handle::execute`] or pipelined in a [`Batch`].
#[derive(Debug, Clone)]
pub struct Request {
    msg: RouteNetlinkMessage,
    flags: u16,
    op: Op,
    link: Option<LinkRef>,
}

/// IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS: [`Link`] has no counters, so the
/// kernel need not sum the per-CPU IPv6 statistics of every link it answers with.
fn skip_stats() -> LinkAttribute {
    LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats])
}

/// At most this many lookups of [`Handle::links_by_name`] in flight: each
/// answer is a whole RTM_NEWLINK (1-3 KiB), unlike an ACK.
const LOOKUP_WINDOW: usize = 32;

/// Several settings of one link for a single RTM_SETLINK
/// ([`Request::set_link`]). The kernel applies them in its own order (MTU,
/// then the name, then the UP and PROMISC flags), and stops at the first it
/// refuses, keeping those before it: so a rename and bringing the link up can
/// share one request, a rename of a link that is already up cannot (EBUSY;
/// [`Handle::set_name`] handles that case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    /// New name (IFLA_IFNAME).
    pub name: Option<IfName>,
    /// New MTU (IFLA_MTU).
    pub mtu: Option<u32>,
    /// IFF_PROMISC on or off.
    pub promisc: Option<bool>,
    /// IFF_UP on or off.
    pub up: Option<bool>,
}

impl LinkChange {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == LinkChange::default()
    }
}

fn link_msg(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

impl Request {
    /// The message that will be sent.
    pub fn message(&self) -> &RouteNetlinkMessage {
        &self.msg
    }

    /// The operation, for error reports.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The complete request bytes with sequence number `seq` (port id 0).
    pub fn to_bytes(&self, seq: u32) -> Vec<u8> {
        encode(self.msg.clone(), self.flags, seq)
    }

    fn setlink(index: u32, m: LinkMessage, op: Op) -> Self {
        Request {
            msg: RouteNetlinkMessage::SetLink(m),
            flags: 0,
            op,
            link: Some(LinkRef::Index(index)),
        }
    }

    /// `ip link set dev DEV up|down` (IFF_UP in `ifi_flags`/`ifi_change`).
    pub fn set_up(index: u32, up: bool) -> Self {
        let mut m = link_msg(index);
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        Self::setlink(index, m, Op::SetUp)
    }

    /// `ip link set dev DEV promisc on|off`.
    pub fn set_promisc(index: u32, on: bool) -> Self {
        let mut m = link_msg(index);
        m.header.change_mask = LinkFlags::Promisc;
        if on {
            m.header.flags = LinkFlags::Promisc;
        }
        Self::setlink(index, m, Op::SetPromisc)
    }

    /// `ip link set dev DEV mtu MTU`.
    pub fn set_mtu(index: u32, mtu: u32) -> Self {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        Self::setlink(index, m, Op::SetMtu)
    }

    /// `ip link set dev DEV address LLADDR`.
    pub fn set_mac(index: u32, mac: MacAddr) -> Self {
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::Address(mac.octets().to_vec()));
        Self::setlink(index, m, Op::SetMac)
    }

    /// `ip link set dev DEV name NAME` as a bare request: the kernel refuses
    /// (EBUSY) while the link is up; [`Handle::set_name`] handles that.
    pub fn set_name(index: u32, name: &IfName) -> Self {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        Self::setlink(index, m, Op::SetName)
    }

    /// `ip link set dev DEV mtu M name NAME promisc on up` as one
    /// RTM_SETLINK (see [`LinkChange`] for the kernel's order).
    ///
    /// ```
    /// use netlink_vf::{IfName, LinkChange, Request};
    /// let change = LinkChange {
    ///     name: Some(IfName::new("eth0pve050")?),
    ///     up: Some(true),
    ///     ..LinkChange::default()
    /// };
    /// let req = Request::set_link(7, &change);
    /// assert!(!req.to_bytes(1).is_empty());
    /// # Ok::<(), netlink_vf::Error>(())
    /// ```
    pub fn set_link(index: u32, change: &LinkChange) -> Self {
        let mut m = link_msg(index);
        if let Some(mtu) = change.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(name) = &change.name {
            m.attributes.push(LinkAttribute::IfName(name.to_string()));
        }
        for (flag, on) in [
            (LinkFlags::Promisc, change.promisc),
            (LinkFlags::Up, change.up),
        ] {
            if let Some(on) = on {
                m.header.change_mask |= flag;
                if on {
                    m.header.flags |= flag;
                }
            }
        }
        // A single setting keeps its own operation in error reports.
        let op = match (
            change.name.is_some(),
            change.mtu.is_some(),
            change.promisc.is_some(),
            change.up.is_some(),
        ) {
            (true, false, false, false) => Op::SetName,
            (false, true, false, false) => Op::SetMtu,
            (false, false, true, false) => Op::SetPromisc,
            (false, false, false, true) => Op::SetUp,
            _ => Op::SetLink,
        };
        Self::setlink(index, m, op)
    }

    /// `ip link set PF vf N ...` for any number of VFs in one RTM_SETLINK.
    pub fn set_vfs(pf_index: u32, configs: &[VfConfig]) -> Self {
        Request {
            msg: set_vfs_message(pf_index, configs),
            flags: 0,
            op: Op::SetVfs,
            link: Some(LinkRef::Index(pf_index)),
        }
    }

    /// `ip link set dev DEV netns PID`.
    pub fn move_to_netns_pid(index: u32, pid: u32) -> Self {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::NetNsPid(pid));
        Self::setlink(index, m, Op::MoveToNetns)
    }

    /// `ip address add PREFIX dev DEV` (EEXIST when present).
    pub fn add_address(index: u32, prefix: &IpPrefix) -> Self {
        Request {
            msg: RouteNetlinkMessage::NewAddress(address_message(index, prefix)),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            op: Op::AddAddress,
            link: Some(LinkRef::Index(index)),
        }
    }

    /// `ip address del PREFIX dev DEV`.
    pub fn del_address(index: u32, prefix: &IpPrefix) -> Self {
        Request {
            msg: RouteNetlinkMessage::DelAddress(address_message(index, prefix)),
            flags: 0,
            op: Op::DelAddress,
            link: Some(LinkRef::Index(index)),
        }
    }

    /// `ip route add ...` (EEXIST when present).
    pub fn add_route(spec: &RouteSpec) -> Self {
        Request {
            msg: RouteNetlinkMessage::NewRoute(route_message(spec)),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            op: Op::AddRoute,
            link: spec.oif.map(LinkRef::Index),
        }
    }

    /// `ip route replace ...`: adds the route, or replaces the one with the
    /// same destination, TOS and metric (another gateway or device).
    pub fn replace_route(spec: &RouteSpec) -> Self {
        Request {
            msg: RouteNetlinkMessage::NewRoute(route_message(spec)),
            flags: NLM_F_CREATE | NLM_F_REPLACE,
            op: Op::ReplaceRoute,
            link: spec.oif.map(LinkRef::Index),
        }
    }

    /// `ip route del ...`.
    pub fn del_route(spec: &RouteSpec) -> Self {
        let mut m: RouteMessage = route_message(spec);
        // Let the kernel match any protocol/scope, like `ip route del`.
        m.header.protocol = netlink_packet_route::route::RouteProtocol::Unspec;
        m.header.scope = netlink_packet_route::route::RouteScope::NoWhere;
        Request {
            msg: RouteNetlinkMessage::DelRoute(m),
            flags: 0,
            op: Op::DelRoute,
            link: spec.oif.map(LinkRef::Index),
        }
    }

    /// `ip link add NAME type veth peer name PEER`.
    pub fn create_veth(name: &IfName, peer: &IfName) -> Self {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        Request {
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            op: Op::CreateVeth,
            link: Some(LinkRef::Name(name.to_string())),
        }
    }

    /// `ip link add NAME type bridge` (a bridge with the kernel's defaults,
    /// down).
    pub fn create_bridge(name: &IfName) -> Self {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        Request {
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            op: Op::CreateBridge,
            link: Some(LinkRef::Name(name.to_string())),
        }
    }

    /// `ip link set dev DEV master MASTER` (`Some`), or `... nomaster`
    /// (`None`: IFLA_MASTER 0), e.g. to make a link a bridge port.
    pub fn set_master(index: u32, master: Option<u32>) -> Self {
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::Controller(master.unwrap_or(0)));
        Self::setlink(index, m, Op::SetMaster)
    }

    /// `ip link del dev DEV`.
    pub fn delete_link(index: u32) -> Self {
        Request {
            msg: RouteNetlinkMessage::DelLink(link_msg(index)),
            flags: 0,
            op: Op::DeleteLink,
            link: Some(LinkRef::Index(index)),
        }
    }
}

/// A blocking rtnetlink client bound to the network namespace of the thread
/// that created it.
///
/// Owns exactly one socket; not `Clone`. Every request carries NLM_F_ACK and a
/// fresh sequence number, and replies are matched by that number.
#[derive(Debug)]
pub struct Handle {
    sock: NlSocket,
}

impl Handle {
    /// The netlink socket's fd, borrowed for ioctls in the handle's namespace.
    pub(crate) fn socket_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.fd()
    }

    /// Opens a NETLINK_ROUTE socket with NETLINK_EXT_ACK enabled.
    ///
    /// # Errors
    /// [`Error::Socket`] when the socket cannot be created or configured.
    pub fn new() -> Result<Handle, Error> {
        Self::with_recv_buffer(DEFAULT_RECV_BUF)
    }

    /// Like [`Handle::new`] with a given initial receive buffer size (it still
    /// grows to fit any datagram; tests use a tiny one to exercise that).
    ///
    /// # Errors
    /// [`Error::Socket`] when the socket cannot be created or configured.
    pub fn with_recv_buffer(bytes: usize) -> Result<Handle, Error> {
        Ok(Handle {
            sock: NlSocket::open(0, bytes)?,
        })
    }

    /// Sends one request and waits for its ACK.
    ///
    /// # Errors
    /// The kernel's rejection as a typed [`Error`], or a socket error.
    pub fn execute(&mut self, req: Request) -> Result<(), Error> {
        self.sock.ack(req.msg, req.flags, req.op, req.link)
    }

    /// Pipelines `reqs` (see [`Batch`]): results are in request order.
    ///
    /// # Errors
    /// Only socket-level failures; kernel rejections are in the vector.
    pub fn execute_all(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error> {
        let mut out = Vec::with_capacity(reqs.len());
        for window in reqs.chunks(PIPELINE_WINDOW) {
            let outgoing: Vec<Outgoing> = window
                .iter()
                .map(|r| {
                    let seq = self.sock.next_seq();
                    Outgoing {
                        bytes: r.to_bytes(seq),
                        seq,
                    }
                })
                .collect();
            let acks = self.sock.pipeline(&outgoing, Op::Transfer)?;
            for (ack, r) in acks.into_iter().zip(window) {
                out.push(ack.into_result(r.op, r.link.clone()));
            }
        }
        Ok(out)
    }

    /// Starts a pipelined batch.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            handle: self,
            reqs: Vec::new(),
        }
    }

    fn get_link(&mut self, mut m: LinkMessage, link: LinkRef, op: Op) -> Result<Link, Error> {
        if !m
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::ExtMask(_)))
        {
            m.attributes.push(skip_stats());
        }
        let (replies, _) =
            self.sock
                .transact(RouteNetlinkMessage::GetLink(m), 0, op, Some(link.clone()))?;
        for (ty, payload) in replies {
            if ty == RTM_NEWLINK {
                return parse_link_op(&payload, op);
            }
        }
        Err(Error::decode(op, format!("no RTM_NEWLINK for {link}")))
    }

    /// `ifi_flags` of link `index`, `None` when there is no such link;
    /// only the fixed header is read (the attributes, the name included,
    /// are not parsed).
    pub(crate) fn link_flags(&mut self, index: u32) -> Result<Option<u32>, Error> {
        let op = Op::GetLink;
        let mut m = link_msg(index);
        m.attributes.push(skip_stats());
        let replies = match self.sock.transact(
            RouteNetlinkMessage::GetLink(m),
            0,
            op,
            Some(LinkRef::Index(index)),
        ) {
            Ok((replies, _)) => replies,
            Err(Error::NoDevice(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        replies
            .iter()
            .find(|(ty, _)| *ty == RTM_NEWLINK)
            .and_then(|(_, p)| crate::link::index_and_flags(p))
            .map(|(_, flags)| Some(flags))
            .ok_or_else(|| Error::decode(op, format!("no RTM_NEWLINK for link {index}")))
    }

    /// Looks a link up by name (`ip link show dev NAME`).
    ///
    /// # Errors
    /// [`Error::NoDevice`] when there is no such link.
    pub fn link_by_name(&mut self, name: &IfName) -> Result<Link, Error> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(m, LinkRef::Name(name.to_string()), Op::GetLink)
    }

    /// Looks a link up by index.
    ///
    /// # Errors
    /// [`Error::NoDevice`] when there is no such link.
    pub fn link_by_index(&mut self, index: u32) -> Result<Link, Error> {
        self.get_link(link_msg(index), LinkRef::Index(index), Op::GetLink)
    }

    /// Name to index.
    ///
    /// # Errors
    /// [`Error::NoDevice`] when there is no such link.
    pub fn index_of(&mut self, name: &IfName) -> Result<u32, Error> {
        self.link_by_name(name).map(|l| l.index)
    }

    /// Looks many links up by name, pipelined (a few round trips for all of
    /// them instead of one each, and without dumping every link of the
    /// namespace): one result per name, in order, [`Error::NoDevice`] for a
    /// name that does not exist.
    ///
    /// # Errors
    /// Only socket-level failures; a missing link is in the vector.
    pub fn links_by_name(&mut self, names: &[IfName]) -> Result<Vec<Result<Link, Error>>, Error> {
        let op = Op::GetLink;
        let mut out = Vec::with_capacity(names.len());
        for window in names.chunks(LOOKUP_WINDOW) {
            let outgoing: Vec<Outgoing> = window
                .iter()
                .map(|n| {
                    let mut m = LinkMessage::default();
                    m.attributes.push(LinkAttribute::IfName(n.to_string()));
                    m.attributes.push(skip_stats());
                    let seq = self.sock.next_seq();
                    Outgoing {
                        bytes: encode(RouteNetlinkMessage::GetLink(m), 0, seq),
                        seq,
                    }
                })
                .collect();
            let answers = self.sock.pipeline_replies(&outgoing, op)?;
            for ((ack, replies), name) in answers.into_iter().zip(window) {
                let link = LinkRef::Name(name.to_string());
                out.push(ack.into_result(op, Some(link.clone())).and_then(|()| {
                    replies
                        .iter()
                        .find(|(ty, _)| *ty == RTM_NEWLINK)
                        .ok_or_else(|| Error::decode(op, format!("no RTM_NEWLINK for {link}")))
                        .and_then(|(_, p)| parse_link_op(p, op))
                }));
            }
        }
        Ok(out)
    }

    /// Index to name.
    ///
    /// # Errors
    /// [`Error::NoDevice`] when there is no such link.
    pub fn name_of(&mut self, index: u32) -> Result<IfName, Error> {
        self.link_by_index(index).map(|l| l.name)
    }

    fn dump(&mut self, msg: RouteNetlinkMessage, op: Op) -> Result<Vec<(u16, Vec<u8>)>, Error> {
        let mut last = Vec::new();
        for _ in 0..DUMP_RETRIES {
            let (replies, interrupted) = self.sock.transact(msg.clone(), NLM_F_DUMP, op, None)?;
            if !interrupted {
                return Ok(replies);
            }
            last = replies;
        }
        Ok(last)
    }

    /// Every link in the namespace (`ip link show`).
    ///
    /// # Errors
    /// Socket or decode errors.
    pub fn links(&mut self) -> Result<Vec<Link>, Error> {
        let op = Op::ListLinks;
        let mut m = LinkMessage::default();
        m.attributes.push(skip_stats());
        let replies = self.dump(RouteNetlinkMessage::GetLink(m), op)?;
        replies
            .iter()
            .filter(|(ty, _)| *ty == RTM_NEWLINK)
            .map(|(_, p)| parse_link_op(p, op))
            .collect()
    }

    /// A PF with its VF table (RTM_GETLINK with IFLA_EXT_MASK =
    /// RTEXT_FILTER_VF, plus RTEXT_FILTER_SKIP_STATS unless `with_stats`).
    ///
    /// # Errors
    /// [`Error::NoDevice`] for an unknown index; socket or decode errors.
    pub fn link_with_vfs(&mut self, pf_index: u32, with_stats: bool) -> Result<Link, Error> {
        let mut m = link_msg(pf_index);
        let mut mask = vec![LinkExtentMask::Vf];
        if !with_stats {
            mask.push(LinkExtentMask::SkipStats);
        }
        m.attributes.push(LinkAttribute::ExtMask(mask));
        self.get_link(m, LinkRef::Index(pf_index), Op::GetVfs)
    }

    /// The VF table of a PF (`ip link show dev PF`, the `vf N` lines; with
    /// `with_stats`, `ip -s link show dev PF`). Empty for links without VFs.
    ///
    /// # Errors
    /// [`Error::NoDevice`] for an unknown index; socket or decode errors.
    pub fn vfs(&mut self, pf_index: u32, with_stats: bool) -> Result<Vec<VfState>, Error> {
        Ok(self
            .link_with_vfs(pf_index, with_stats)?
            .vfs
            .unwrap_or_default())
    }

    /// Applies `configs` to the VFs of PF `pf_index` in one RTM_SETLINK
    /// (`ip link set PF vf N ...` for every N at once).
    ///
    /// When the kernel rejects the request (it stops at the first failing VF
    /// attribute; earlier ones stay applied), the configs are retried
    /// pipelined, first one request per VF, then one per attribute of each
    /// failing VF, so the report names exactly which VF and attribute failed
    /// (errno + extended ACK) while everything else is applied.
    ///
    /// The isolation stages re-send attributes that may already have been
    /// applied by the first request; VF attributes are idempotent (setting the
    /// same value again is a no-op for the kernel, though some drivers reset a
    /// VF when its MAC is written).
    ///
    /// A config with only one of `min_tx_rate`/`max_tx_rate` gets the other
    /// from the current VF table (IFLA_VF_RATE always sets both), like iproute2.
    ///
    /// # Errors
    /// [`Error::NoDevice`] when the PF does not exist, [`Error::PermissionDenied`]
    /// without CAP_NET_ADMIN, socket-level failures; per-attribute rejections
    /// are in the returned [`SetVfsReport`].
    pub fn set_vfs(&mut self, pf_index: u32, configs: &[VfConfig]) -> Result<SetVfsReport, Error> {
        let mut configs: Vec<VfConfig> =
            configs.iter().filter(|c| !c.is_empty()).cloned().collect();
        if configs
            .iter()
            .any(|c| c.min_tx_rate.is_some() != c.max_tx_rate.is_some())
        {
            let current = match self.vfs(pf_index, false) {
                Ok(v) => v,
                Err(Error::NotSupported(_)) => Vec::new(),
                Err(e) => return Err(e),
            };
            for c in &mut configs {
                if c.min_tx_rate.is_some() == c.max_tx_rate.is_some() {
                    continue;
                }
                let cur = current.iter().find(|v| v.index == c.index);
                if c.min_tx_rate.is_none() {
                    c.min_tx_rate = Some(cur.and_then(|v| v.min_tx_rate).unwrap_or(0));
                }
                if c.max_tx_rate.is_none() {
                    c.max_tx_rate = Some(cur.and_then(|v| v.max_tx_rate).unwrap_or(0));
                }
            }
        }
        let mut report = SetVfsReport {
            pf_index,
            requests: 0,
            vfs: configs
                .iter()
                .map(|c| VfOutcome {
                    index: c.index,
                    attrs: c
                        .attrs()
                        .into_iter()
                        .map(|attr| AttrOutcome { attr, error: None })
                        .collect(),
                })
                .collect(),
        };
        if configs.is_empty() {
            return Ok(report);
        }
        report.requests += 1;
        let first = self.execute(Request::set_vfs(pf_index, &configs));
        let first_err = match first {
            Ok(()) => return Ok(report),
            // About the PF or the caller, not a VF attribute: retrying per VF
            // would only repeat it.
            Err(e @ (Error::NoDevice(_) | Error::PermissionDenied(_))) => return Err(e),
            Err(e) if e.kernel().is_some() => e,
            Err(e) => return Err(e),
        };
        if configs.len() == 1 && configs[0].attrs().len() == 1 {
            let vf = configs[0].index;
            report.vfs[0].attrs[0].error = Some(first_err.with_link(vf_link(pf_index, vf)));
            return Ok(report);
        }
        // Stage 2: one request per VF.
        let per_vf: Vec<Request> = configs
            .iter()
            .map(|c| Request::set_vfs(pf_index, std::slice::from_ref(c)))
            .collect();
        report.requests += per_vf.len();
        let vf_results = self.execute_all(&per_vf)?;
        // Stage 3: one request per attribute of every failing VF.
        let mut per_attr: Vec<(usize, usize, Request)> = Vec::new();
        for (i, (c, res)) in configs.iter().zip(vf_results).enumerate() {
            let Err(e) = res else { continue };
            let attrs = c.attrs();
            if attrs.len() == 1 {
                report.vfs[i].attrs[0].error = Some(e.with_link(vf_link(pf_index, c.index)));
                continue;
            }
            for (j, a) in attrs.into_iter().enumerate() {
                per_attr.push((i, j, Request::set_vfs(pf_index, &[c.only(a)])));
            }
        }
        if per_attr.is_empty() {
            return Ok(report);
        }
        let reqs: Vec<Request> = per_attr.iter().map(|(_, _, r)| r.clone()).collect();
        report.requests += reqs.len();
        let attr_results = self.execute_all(&reqs)?;
        for ((i, j, _), res) in per_attr.into_iter().zip(attr_results) {
            if let Err(e) = res {
                let vf = report.vfs[i].index;
                report.vfs[i].attrs[j].error = Some(e.with_link(vf_link(pf_index, vf)));
            }
        }
        Ok(report)
    }

    /// Applies one VF attribute set and returns `Ok` only when all of it
    /// applied; shorthand for single-VF callers.
    ///
    /// # Errors
    /// The first rejected attribute's error (see [`Handle::set_vfs`]).
    pub fn set_vf(&mut self, pf_index: u32, config: &VfConfig) -> Result<(), Error> {
        self.set_vfs(pf_index, std::slice::from_ref(config))?
            .into_result()
    }

    /// Renames a link (`ip link set dev OLD name NEW`).
    ///
    /// Kernels before 6.2 refuse to rename a running link (EBUSY, see
    /// `dev_change_name()` and IFF_LIVE_RENAME_OK); newer ones allow it. The
    /// rename is tried as is first; on EBUSY an up link is taken down, renamed
    /// and brought back up, and the up state is restored even when the rename
    /// then fails.
    ///
    /// # Errors
    /// [`Error::Exists`] when the name is taken, [`Error::NoDevice`], ...
    pub fn set_name(&mut self, index: u32, name: &IfName) -> Result<(), Error> {
        let link = self.link_by_index(index)?;
        if &link.name == name {
            return Ok(());
        }
        match self.execute(Request::set_name(index, name)) {
            Err(Error::Busy(_)) if link.up => {}
            other => return other,
        }
        self.execute(Request::set_up(index, false))?;
        let renamed = self.execute(Request::set_name(index, name));
        let restored = self.execute(Request::set_up(index, true));
        renamed?;
        restored
    }

    /// `ip link set dev DEV up` / `down`.
    ///
    /// # Errors
    /// Kernel rejection (e.g. [`Error::NoDevice`]).
    pub fn set_up(&mut self, index: u32, up: bool) -> Result<(), Error> {
        self.execute(Request::set_up(index, up))
    }

    /// `ip link set dev DEV promisc on|off`.
    ///
    /// # Errors
    /// Kernel rejection.
    pub fn set_promisc(&mut self, index: u32, on: bool) -> Result<(), Error> {
        self.execute(Request::set_promisc(index, on))
    }

    /// `ip link set dev DEV mtu MTU`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] outside the device's min/max MTU.
    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), Error> {
        self.execute(Request::set_mtu(index, mtu))
    }

    /// `ip link set dev DEV address LLADDR`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] e.g. for a multicast address.
    pub fn set_mac(&mut self, index: u32, mac: MacAddr) -> Result<(), Error> {
        self.execute(Request::set_mac(index, mac))
    }

    /// Addresses of one link (`ip address show dev DEV`), or of all links.
    ///
    /// # Errors
    /// Socket or decode errors.
    pub fn addresses(&mut self, index: Option<u32>) -> Result<Vec<Address>, Error> {
        let op = Op::ListAddresses;
        let replies = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            op,
        )?;
        let mut out = Vec::new();
        for (ty, p) in replies {
            if let Some(a) = parse_address(ty, &p, op)? {
                if index.is_none_or(|i| i == a.index) {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// `ip address add PREFIX dev DEV`.
    ///
    /// # Errors
    /// [`Error::Exists`] when the address is already there (see
    /// [`Handle::ensure_address`]).
    pub fn add_address(&mut self, index: u32, prefix: &IpPrefix) -> Result<(), Error> {
        self.execute(Request::add_address(index, prefix))
    }

    /// Adds the address unless present; `Ok(true)` when it was added.
    ///
    /// # Errors
    /// As [`Handle::add_address`], except EEXIST.
    pub fn ensure_address(&mut self, index: u32, prefix: &IpPrefix) -> Result<bool, Error> {
        match self.add_address(index, prefix) {
            Ok(()) => Ok(true),
            Err(Error::Exists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ip address del PREFIX dev DEV`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (EADDRNOTAVAIL) when it is not there.
    pub fn del_address(&mut self, index: u32, prefix: &IpPrefix) -> Result<(), Error> {
        self.execute(Request::del_address(index, prefix))
    }

    /// IPv4 and IPv6 routes of the main table (`ip route show` + `ip -6 route show`).
    ///
    /// # Errors
    /// Socket or decode errors.
    pub fn routes(&mut self) -> Result<Vec<Route>, Error> {
        let op = Op::ListRoutes;
        let replies = self.dump(RouteNetlinkMessage::GetRoute(RouteMessage::default()), op)?;
        let mut out = Vec::new();
        for (ty, p) in replies {
            if let Some(r) = parse_route(ty, &p, op)? {
                if r.table == u32::from(RT_TABLE_MAIN) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// `ip route add DEST [via GW] [dev DEV]`.
    ///
    /// # Errors
    /// [`Error::Exists`] when the route exists (see [`Handle::ensure_route`]),
    /// [`Error::Kernel`] with ENETUNREACH for an unreachable gateway.
    pub fn add_route(&mut self, spec: &RouteSpec) -> Result<(), Error> {
        self.execute(Request::add_route(spec))
    }

    /// Adds the route unless present; `Ok(true)` when it was added.
    ///
    /// # Errors
    /// As [`Handle::add_route`], except EEXIST.
    pub fn ensure_route(&mut self, spec: &RouteSpec) -> Result<bool, Error> {
        match self.add_route(spec) {
            Ok(()) => Ok(true),
            Err(Error::Exists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ip route replace DEST [via GW] [dev DEV]`: the route afterwards, whether
    /// it was missing or another route had its destination and metric (a
    /// default route via another gateway). Idempotent.
    ///
    /// # Errors
    /// [`Error::Kernel`] with ENETUNREACH for an unreachable gateway,
    /// [`Error::NoDevice`] for a missing device.
    pub fn replace_route(&mut self, spec: &RouteSpec) -> Result<(), Error> {
        self.execute(Request::replace_route(spec))
    }

    /// `ip route del DEST [via GW] [dev DEV]`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (ESRCH) when there is no such route.
    pub fn del_route(&mut self, spec: &RouteSpec) -> Result<(), Error> {
        self.execute(Request::del_route(spec))
    }

    /// `ip link set dev DEV netns PID`: moves the link into the network
    /// namespace of process (or thread) `pid`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (ESRCH) for an unknown pid, [`Error::InvalidArgument`]
    /// for links that cannot move (e.g. `lo`).
    pub fn move_to_netns_pid(&mut self, index: u32, pid: u32) -> Result<(), Error> {
        self.execute(Request::move_to_netns_pid(index, pid))
    }

    /// `ip link set dev DEV netns NAME`: moves the link into the namespace
    /// behind `netns` (an open `/proc/PID/ns/net` or `/run/netns/NAME`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `netns` is not a network namespace.
    pub fn move_to_netns_fd(&mut self, index: u32, netns: BorrowedFd<'_>) -> Result<(), Error> {
        let mut m = link_msg(index);
        // The kernel resolves the fd during this call; the borrow keeps it open.
        m.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        self.execute(Request::setlink(index, m, Op::MoveToNetns))
    }

    /// `ip link add NAME type veth peer name PEER`; returns the index of `name`.
    ///
    /// # Errors
    /// [`Error::Exists`] when a name is taken.
    pub fn create_veth(&mut self, name: &IfName, peer: &IfName) -> Result<u32, Error> {
        self.execute(Request::create_veth(name, peer))?;
        self.index_of(name)
    }

    /// `ip link add NAME type bridge`; returns the bridge's index.
    ///
    /// # Errors
    /// [`Error::Exists`] when the name is taken; [`Error::NotSupported`]
    /// (or another kernel error) when the kernel has no bridge support.
    pub fn create_bridge(&mut self, name: &IfName) -> Result<u32, Error> {
        self.execute(Request::create_bridge(name))?;
        self.index_of(name)
    }

    /// `ip link set dev DEV master MASTER` / `nomaster` (see
    /// [`Request::set_master`]).
    ///
    /// # Errors
    /// [`Error::NoDevice`] for an unknown index or master; the kernel's
    /// refusal when `master` cannot take the link as a port (e.g.
    /// [`Error::NotSupported`] when it is not a bridge or bond).
    pub fn set_master(&mut self, index: u32, master: Option<u32>) -> Result<(), Error> {
        self.execute(Request::set_master(index, master))
    }

    /// `ip link del dev DEV`.
    ///
    /// # Errors
    /// [`Error::NoDevice`] for an unknown index.
    pub fn delete_link(&mut self, index: u32) -> Result<(), Error> {
        self.execute(Request::delete_link(index))
    }
}

pub(crate) const RTM_NEWLINK: u16 = 16;

/// Pipelined requests: everything pushed is sent at once (packed into few
/// datagrams), then the ACKs are collected by sequence number, so N operations
/// cost about one round trip. Each result maps to its request.
///
/// ```no_run
/// # fn main() -> Result<(), netlink_vf::Error> {
/// use netlink_vf::{Handle, Request};
/// let mut h = Handle::new()?;
/// let mut b = h.batch();
/// let up = b.push(Request::set_up(5, true));
/// let mtu = b.push(Request::set_mtu(5, 9000));
/// let results = b.execute()?;
/// results[up].clone()?;
/// results[mtu].clone()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Batch<'h> {
    handle: &'h mut Handle,
    reqs: Vec<Request>,
}

impl Batch<'_> {
    /// Queues a request; returns its position in the result vector.
    pub fn push(&mut self, req: Request) -> usize {
        self.reqs.push(req);
        self.reqs.len() - 1
    }

    /// Number of queued requests.
    pub fn len(&self) -> usize {
        self.reqs.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Sends everything and collects one result per request, in push order.
    ///
    /// # Errors
    /// Only socket-level failures; kernel rejections are per request.
    pub fn execute(self) -> Result<Vec<Result<(), Error>>, Error> {
        self.handle.execute_all(&self.reqs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn setlink(r: &Request) -> &LinkMessage {
        match r.message() {
            RouteNetlinkMessage::SetLink(m) => m,
            other => panic!("not RTM_SETLINK: {other:?}"),
        }
    }

    #[test]
    fn set_link_carries_exactly_the_named_settings() {
        let all = LinkChange {
            name: Some(IfName::new("eth0pve070").unwrap()),
            mtu: Some(9000),
            promisc: Some(true),
            up: Some(true),
        };
        let r = Request::set_link(7, &all);
        let m = setlink(&r);
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.change_mask, LinkFlags::Up | LinkFlags::Promisc);
        assert_eq!(m.header.flags, LinkFlags::Up | LinkFlags::Promisc);
        assert_eq!(
            m.attributes,
            vec![
                LinkAttribute::Mtu(9000),
                LinkAttribute::IfName("eth0pve070".into())
            ]
        );
        assert_eq!(r.op(), Op::SetLink);

        // down and promisc off: in the change mask, not in the flags
        let r = Request::set_link(
            3,
            &LinkChange {
                promisc: Some(false),
                up: Some(false),
                ..LinkChange::default()
            },
        );
        let m = setlink(&r);
        assert_eq!(m.header.change_mask, LinkFlags::Up | LinkFlags::Promisc);
        assert!(m.header.flags.is_empty() && m.attributes.is_empty());

        // one setting: the same request (and error label) as its own constructor
        let up = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        assert_eq!(
            Request::set_link(3, &up).to_bytes(9),
            Request::set_up(3, true).to_bytes(9)
        );
        assert_eq!(Request::set_link(3, &up).op(), Op::SetUp);
        let mtu = LinkChange {
            mtu: Some(1400),
            ..LinkChange::default()
        };
        assert_eq!(
            Request::set_link(3, &mtu).to_bytes(9),
            Request::set_mtu(3, 1400).to_bytes(9)
        );
    }
}
