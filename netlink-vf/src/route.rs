//! Routes in the main table (`ip route add/del/show`).

use std::net::IpAddr;

use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::RouteNetlinkMessage;
use serde::Serialize;

use crate::addr::family;
use crate::error::Op;
use crate::types::IpPrefix;
use crate::Error;

/// A route to add or delete: `ip route add DEST [via GW] [dev DEV]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RouteSpec {
    /// Destination; a zero-length prefix is the default route.
    pub destination: IpPrefix,
    /// Next hop (`via`).
    pub gateway: Option<IpAddr>,
    /// Output interface index (`dev`).
    pub oif: Option<u32>,
}

impl RouteSpec {
    /// `ip route add default via GW [dev DEV]` (IPv4 or IPv6 by the gateway).
    pub fn default_via(gateway: IpAddr, oif: Option<u32>) -> Self {
        let any: IpAddr = if gateway.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        Self {
            // a /0 is always a valid prefix length
            destination: IpPrefix::default_route(any.is_ipv4()),
            gateway: Some(gateway),
            oif,
        }
    }

    /// `ip route add DEST via GW [dev DEV]`.
    pub fn via(destination: IpPrefix, gateway: IpAddr, oif: Option<u32>) -> Self {
        Self {
            destination,
            gateway: Some(gateway),
            oif,
        }
    }

    /// `ip route add DEST dev DEV` (directly connected, scope link).
    pub fn dev(destination: IpPrefix, oif: u32) -> Self {
        Self {
            destination,
            gateway: None,
            oif: Some(oif),
        }
    }
}

/// A route read from the main table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Route {
    /// Destination network (`0.0.0.0/0` / `::/0` for the default route).
    pub destination: IpPrefix,
    /// Next hop.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source (RTA_PREFSRC).
    pub prefsrc: Option<IpAddr>,
    /// Metric (RTA_PRIORITY).
    pub priority: Option<u32>,
    /// Routing table id.
    pub table: u32,
    /// `rtm_protocol` (2 kernel, 3 boot, 4 static, ...).
    pub protocol: u8,
    /// `rtm_scope` (0 universe, 253 link, 254 host).
    pub scope: u8,
}

impl Route {
    /// True for `default` routes.
    pub fn is_default(&self) -> bool {
        self.destination.is_default()
    }

    /// True when this route matches what `spec` would add.
    pub fn matches(&self, spec: &RouteSpec) -> bool {
        self.destination == spec.destination
            && (spec.gateway.is_none() || self.gateway == spec.gateway)
            && (spec.oif.is_none() || self.oif == spec.oif)
    }
}

pub(crate) const RT_TABLE_MAIN: u8 = 254;

/// RTM_NEWROUTE/RTM_DELROUTE body, like iproute2's `ip route add`:
/// main table, protocol boot, scope link without a gateway else universe.
pub(crate) fn route_message(spec: &RouteSpec) -> RouteMessage {
    let h = RouteHeader {
        address_family: family(&spec.destination.addr()),
        destination_prefix_length: spec.destination.prefix_len(),
        table: RT_TABLE_MAIN,
        protocol: RouteProtocol::Boot,
        scope: if spec.gateway.is_none() {
            RouteScope::Link
        } else {
            RouteScope::Universe
        },
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    let mut attrs = Vec::new();
    if !spec.destination.is_default() {
        attrs.push(RouteAttribute::Destination(RouteAddress::from(
            spec.destination.addr(),
        )));
    }
    if let Some(gw) = spec.gateway {
        attrs.push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(oif) = spec.oif {
        attrs.push(RouteAttribute::Oif(oif));
    }
    let mut m = RouteMessage::default();
    m.header = h;
    m.attributes = attrs;
    m
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(crate) fn parse_route(ty: u16, payload: &[u8], op: Op) -> Result<Option<Route>, Error> {
    let mut h = NetlinkHeader::default();
    h.message_type = ty;
    let msg = RouteNetlinkMessage::deserialize(&h, payload)
        .map_err(|e| Error::decode(op, format!("RTM_NEWROUTE: {e}")))?;
    let RouteNetlinkMessage::NewRoute(m) = msg else {
        return Ok(None);
    };
    let fam_v4 = u8::from(m.header.address_family) == libc::AF_INET as u8;
    let fam_v6 = u8::from(m.header.address_family) == libc::AF_INET6 as u8;
    if !fam_v4 && !fam_v6 {
        return Ok(None);
    }
    let mut r = Route {
        destination: IpPrefix::default_route(fam_v4),
        gateway: None,
        oif: None,
        prefsrc: None,
        priority: None,
        table: u32::from(m.header.table),
        protocol: u8::from(m.header.protocol),
        scope: u8::from(m.header.scope),
    };
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => {
                if let Some(ip) = ip_of(d) {
                    r.destination = IpPrefix::new(ip, m.header.destination_prefix_length)
                        .map_err(|e| Error::decode(op, e.to_string()))?;
                }
            }
            RouteAttribute::Gateway(g) => r.gateway = ip_of(g),
            RouteAttribute::PrefSource(p) => r.prefsrc = ip_of(p),
            RouteAttribute::Oif(o) => r.oif = Some(*o),
            RouteAttribute::Priority(p) => r.priority = Some(*p),
            RouteAttribute::Table(t) => r.table = *t,
            _ => {}
        }
    }
    Ok(Some(r))
}
