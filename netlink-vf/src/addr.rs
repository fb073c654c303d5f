//! Interface addresses (`ip address add/del/show`).

use std::net::IpAddr;

use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::Serialize;

use crate::error::Op;
use crate::types::IpPrefix;
use crate::Error;

/// An address assigned to a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// Address and prefix length.
    pub prefix: IpPrefix,
    /// `ifa_scope` (0 global, 253 link, 254 host).
    pub scope: u8,
    /// IFA_LABEL (IPv4 only).
    pub label: Option<String>,
}

pub(crate) fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// RTM_NEWADDR/RTM_DELADDR body for `prefix` on `index`, like
/// `ip address add PREFIX dev DEV`: IFA_LOCAL and IFA_ADDRESS both set to the
/// address (no peer).
pub(crate) fn address_message(index: u32, prefix: &IpPrefix) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&prefix.addr());
    m.header.prefix_len = prefix.prefix_len();
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    m.attributes = vec![
        AddressAttribute::Local(prefix.addr()),
        AddressAttribute::Address(prefix.addr()),
    ];
    m
}

pub(crate) fn parse_address(ty: u16, payload: &[u8], op: Op) -> Result<Option<Address>, Error> {
    let mut h = NetlinkHeader::default();
    h.message_type = ty;
    let msg = RouteNetlinkMessage::deserialize(&h, payload)
        .map_err(|e| Error::decode(op, format!("RTM_NEWADDR: {e}")))?;
    let RouteNetlinkMessage::NewAddress(m) = msg else {
        return Ok(None);
    };
    let mut local = None;
    let mut address = None;
    let mut label = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            _ => {}
        }
    }
    // For IPv4 IFA_LOCAL is the interface address (IFA_ADDRESS may be a peer);
    // IPv6 only sends IFA_ADDRESS.
    let Some(ip) = local.or(address) else {
        return Ok(None);
    };
    let prefix =
        IpPrefix::new(ip, m.header.prefix_len).map_err(|e| Error::decode(op, e.to_string()))?;
    Ok(Some(Address {
        index: m.header.index,
        prefix,
        scope: u8::from(m.header.scope),
        label,
    }))
}
