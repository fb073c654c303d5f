//! Resolving one VF's merged `[[pf.vf]]` keys into a [`VfSpec`].

use std::net::IpAddr;

use netlink_vf::{IfName, MacAddr, Qos, VlanConfig, VlanId};

use super::diag::{Diag, Src};
use super::raw::{RawVf, S};
use super::{
    auto_mac, parse_prefix, prefix_contains, DriverSpec, LinkState, PfKey, VfSpec, VlanProto,
};

#[allow(clippy::too_many_arguments)]
pub(super) fn resolve_vf(
    key: &PfKey,
    index: u32,
    v: &RawVf,
    start: usize,
    src: &Src<'_>,
    cluster: &str,
    node_id: Option<u8>,
    diags: &mut Vec<Diag>,
) -> Option<VfSpec> {
    let d0 = diags.len();
    let at = |off: usize| Some(src.loc(off));
    let mut err = |off: usize, msg: String| diags.push(Diag { loc: at(off), msg });
    let mut out = VfSpec {
        index,
        loc: at(start),
        ..VfSpec::default()
    };
    let num = |x: &Option<S<i64>>,
               lo: i64,
               hi: i64,
               what: &str,
               err: &mut dyn FnMut(usize, String)|
     -> Option<i64> {
        let x = x.as_ref()?;
        let n = *x.get_ref();
        if n < lo || n > hi {
            err(
                x.span().start,
                format!("VF {index}: {what} {n} out of range {lo}-{hi}"),
            );
            None
        } else {
            Some(n)
        }
    };

    let vlan = num(&v.vlan, 0, 4094, "vlan", &mut err).map(|n| u16::try_from(n).unwrap_or(0));
    let qos = num(&v.qos, 0, 7, "qos", &mut err).map(|n| u8::try_from(n).unwrap_or(0));
    let proto = match &v.vlan_proto {
        None => None,
        Some(p) => match p.get_ref().to_ascii_lowercase().as_str() {
            "802.1q" => Some(VlanProto::Dot1Q),
            "802.1ad" => Some(VlanProto::Dot1Ad),
            other => {
                err(
                    p.span().start,
                    format!("VF {index}: vlan_proto `{other}` is not \"802.1Q\" or \"802.1ad\""),
                );
                None
            }
        },
    };
    if v.vlan.as_ref().is_none_or(|x| *x.get_ref() == 0) {
        if let Some(q) = v.qos.as_ref().filter(|q| *q.get_ref() != 0) {
            err(
                q.span().start,
                format!("VF {index}: qos needs a vlan (1-4094)"),
            );
        }
        if let Some(p) = v
            .vlan_proto
            .as_ref()
            .filter(|_| proto == Some(VlanProto::Dot1Ad))
        {
            err(
                p.span().start,
                format!("VF {index}: vlan_proto 802.1ad needs a vlan (1-4094)"),
            );
        }
    }
    if let Some(vl) = vlan {
        // The ranges were checked above; the library types check them again.
        let id = if vl == 0 { None } else { VlanId::new(vl).ok() };
        out.vlan = Some(VlanConfig {
            id,
            qos: Qos::new(qos.unwrap_or(0)).unwrap_or_default(),
            proto: proto.unwrap_or(VlanProto::Dot1Q),
        });
    }

    if let Some(m) = &v.mac {
        if m.get_ref() == "auto" {
            match node_id {
                Some(id) => {
                    out.mac = Some(auto_mac(cluster, &key.to_string(), id, vlan.unwrap_or(0)));
                    out.mac_auto = true;
                }
                None => err(
                    m.span().start,
                    format!("VF {index}: mac = \"auto\" needs a node id (`node_id = N` at the top, or `id = N` in [node.<hostname>])"),
                ),
            }
        } else {
            match m.get_ref().parse::<MacAddr>() {
                Ok(mac) if mac.is_multicast() => err(
                    m.span().start,
                    format!("VF {index}: MAC {mac} is a multicast address (first byte odd); a VF needs a unicast MAC"),
                ),
                Ok(mac) if mac.is_zero() => err(m.span().start, format!("VF {index}: MAC 00:00:00:00:00:00 is not an address")),
                Ok(mac) => out.mac = Some(mac),
                Err(e) => err(m.span().start, format!("VF {index}: {e}")),
            }
        }
    }
    out.trust = v.trust.as_ref().map(|b| *b.get_ref());
    out.spoofchk = v.spoofchk.as_ref().map(|b| *b.get_ref());
    out.query_rss = v.query_rss.as_ref().map(|b| *b.get_ref());
    out.up = v.up.as_ref().map(|b| *b.get_ref());
    out.promisc = v.promisc.as_ref().map(|b| *b.get_ref());
    if let Some(ls) = &v.link_state {
        out.link_state = match ls.get_ref().as_str() {
            "auto" => Some(LinkState::Auto),
            "enable" => Some(LinkState::Enable),
            "disable" => Some(LinkState::Disable),
            other => {
                err(ls.span().start, format!("VF {index}: link_state `{other}` is not \"auto\", \"enable\" or \"disable\""));
                None
            }
        };
    }
    let rate_max = i64::from(u32::MAX);
    out.min_tx_rate = num(&v.min_tx_rate, 0, rate_max, "min_tx_rate", &mut err)
        .map(|n| u32::try_from(n).unwrap_or(0));
    out.max_tx_rate = num(&v.max_tx_rate, 0, rate_max, "max_tx_rate", &mut err)
        .map(|n| u32::try_from(n).unwrap_or(0));
    if let (Some(lo), Some(hi), Some(s)) = (out.min_tx_rate, out.max_tx_rate, &v.min_tx_rate) {
        if hi != 0 && lo > hi {
            err(
                s.span().start,
                format!("VF {index}: min_tx_rate {lo} is above max_tx_rate {hi}"),
            );
        }
    }
    out.mtu = num(&v.mtu, 68, 65535, "mtu", &mut err).map(|n| u32::try_from(n).unwrap_or(0));
    if let Some(n) = &v.name {
        let name = n.get_ref().replace("{index}", &index.to_string());
        match IfName::new(&name) {
            Ok(name) => {
                out.name = Some(name);
                out.name_loc = at(n.span().start);
            }
            Err(e) => err(n.span().start, format!("VF {index}: {e}")),
        }
    }
    if let Some(list) = &v.addresses {
        for a in list.get_ref() {
            match parse_prefix(a.get_ref()) {
                Ok(n) => {
                    if out.addresses.contains(&n) {
                        err(
                            a.span().start,
                            format!("VF {index}: address {n} listed twice"),
                        );
                    } else {
                        out.addresses.push(n);
                        out.address_locs.push(at(a.span().start));
                    }
                }
                Err(e) => err(a.span().start, format!("VF {index}: {e}")),
            }
        }
    }
    if let Some(g) = &v.gateway {
        match g.get_ref().parse::<IpAddr>() {
            Ok(ip) => {
                if let Some(i) = out.addresses.iter().position(|a| a.addr() == ip) {
                    let own = out.address_locs.get(i).copied().flatten();
                    err(
                        g.span().start,
                        format!(
                            "VF {index}: gateway {ip} is this VF's own address{} (the gateway is another host on the subnet, e.g. the router)",
                            own.map_or_else(String::new, |l| format!(" (at {l})"))
                        ),
                    );
                } else if !out.addresses.iter().any(|a| prefix_contains(a, &ip)) {
                    err(
                        g.span().start,
                        format!(
                            "VF {index}: gateway {ip} is not in the subnet of any of its addresses"
                        ),
                    );
                } else {
                    out.gateway = Some(ip);
                    out.gateway_loc = at(g.span().start);
                }
            }
            Err(_) => err(
                g.span().start,
                format!("VF {index}: gateway `{}` is not an IP address", g.get_ref()),
            ),
        }
    }
    if let Some(d) = &v.driver {
        out.driver_loc = at(d.span().start);
        let name = d.get_ref();
        out.driver = match name.as_str() {
            "vfio-pci" => Some(DriverSpec::VfioPci),
            "default" => Some(DriverSpec::Default),
            n if !n.is_empty()
                && n.len() < 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Some(DriverSpec::Named(n.to_string()))
            }
            n => {
                err(
                    d.span().start,
                    format!("VF {index}: `{n}` is not a driver name"),
                );
                None
            }
        };
    }
    if out.driver == Some(DriverSpec::VfioPci) {
        let netdev_keys: [(&str, Option<usize>); 7] = [
            ("name", v.name.as_ref().map(|s| s.span().start)),
            ("up", v.up.as_ref().map(|s| s.span().start)),
            ("promisc", v.promisc.as_ref().map(|s| s.span().start)),
            ("mtu", v.mtu.as_ref().map(|s| s.span().start)),
            ("addresses", v.addresses.as_ref().map(|s| s.span().start)),
            ("gateway", v.gateway.as_ref().map(|s| s.span().start)),
            ("lxc", v.lxc.as_ref().map(|s| s.span().start)),
        ];
        for (k, off) in netdev_keys {
            if let Some(off) = off {
                err(off, format!("VF {index}: `{k}` needs a VF netdev, but driver = \"vfio-pci\" leaves none on the host"));
            }
        }
    }
    if let Some(c) = &v.lxc {
        match u32::try_from(*c.get_ref()).ok().filter(|c| *c >= 100) {
            Some(c) => out.lxc = Some(c),
            None => err(
                c.span().start,
                format!(
                    "VF {index}: lxc = {} is not a container id (100 or more)",
                    c.get_ref()
                ),
            ),
        }
        if out.name.is_none() {
            err(
                c.span().start,
                format!("VF {index}: `lxc` needs `name` (the link the container takes)"),
            );
        }
    }
    for (what, s) in [("vm", &v.vm), ("mapping", &v.mapping)] {
        if let Some(s) = s {
            let t = s.get_ref();
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                err(
                    s.span().start,
                    format!(
                        "VF {index}: {what} `{t}` may only hold letters, digits, `-`, `_` and `.`"
                    ),
                );
            }
        }
    }
    out.vm = v.vm.as_ref().map(|s| s.get_ref().clone());
    out.mapping = v.mapping.as_ref().map(|s| s.get_ref().clone());
    out.description = v.description.as_ref().map(|s| s.get_ref().clone());
    if diags.len() > d0 {
        None
    } else {
        Some(out)
    }
}
