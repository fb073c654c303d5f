//! Resolving one VF's merged `[[pf.vf]]` keys into a [`VfSpec`], one group
//! of keys at a time.

use std::net::IpAddr;

use netlink_vf::{IfName, MacAddr, Qos, VlanConfig, VlanId};

use super::diag::{Diag, Src};
use super::raw::{RawVf, S};
use super::{
    auto_mac, parse_prefix, prefix_contains, DriverSpec, LinkState, PfKey, VfSpec, VlanProto,
};

/// What a `mac = "auto"` is computed from.
pub(super) struct AutoMac<'a> {
    pub cluster: &'a str,
    pub node_id: Option<u8>,
}

/// Resolves VF `index` of PF `key` from its merged keys `v` (the first entry
/// covering it starts at byte `start`); `None` when a key is invalid (every
/// problem is in `diags`).
pub(super) fn resolve_vf(
    key: &PfKey,
    index: u32,
    v: &RawVf,
    start: usize,
    src: &Src<'_>,
    auto: &AutoMac<'_>,
    diags: &mut Vec<Diag>,
) -> Option<VfSpec> {
    let d0 = diags.len();
    let mut r = Resolver {
        index,
        src,
        diags,
        out: VfSpec {
            index,
            loc: Some(src.loc(start)),
            ..VfSpec::default()
        },
    };
    let vlan = r.vlan(v);
    r.mac(v, key, auto, vlan);
    r.link(v);
    r.netdev(v);
    r.driver(v);
    r.pve(v);
    let out = r.out;
    if diags.len() > d0 {
        None
    } else {
        Some(out)
    }
}

/// One VF being resolved.
struct Resolver<'a, 'd> {
    index: u32,
    src: &'a Src<'a>,
    diags: &'d mut Vec<Diag>,
    out: VfSpec,
}

/// Characters that make a string lie on a terminal or in a command line:
/// controls (ESC, DEL, newlines, ...) and the bidirectional overrides.
pub(super) fn unprintable(s: &str) -> Option<char> {
    s.chars().find(|c| {
        c.is_control() || matches!(*c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// `U+001B (a control character)`.
fn char_name(c: char) -> String {
    let kind = if c.is_control() {
        "a control character"
    } else {
        "a bidirectional-text control"
    };
    format!("U+{:04X} ({kind})", u32::from(c))
}

impl Resolver<'_, '_> {
    fn at(&self, off: usize) -> Option<super::Loc> {
        Some(self.src.loc(off))
    }

    fn err(&mut self, off: usize, msg: String) {
        let loc = self.at(off);
        self.diags.push(Diag { loc, msg });
    }

    /// The number at `x` when it lies in `lo..=hi`.
    fn num(&mut self, x: &Option<S<i64>>, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let x = x.as_ref()?;
        let n = *x.get_ref();
        if n < lo || n > hi {
            let index = self.index;
            self.err(
                x.span().start,
                format!("VF {index}: {what} {n} out of range {lo}-{hi}"),
            );
            None
        } else {
            Some(n)
        }
    }

    /// `vlan`, `qos`, `vlan_proto`; returns the VLAN id for `mac = "auto"`.
    fn vlan(&mut self, v: &RawVf) -> Option<u16> {
        let index = self.index;
        let vlan = self
            .num(&v.vlan, 0, 4094, "vlan")
            .map(|n| u16::try_from(n).unwrap_or(0));
        let qos = self
            .num(&v.qos, 0, 7, "qos")
            .map(|n| u8::try_from(n).unwrap_or(0));
        let proto = match &v.vlan_proto {
            None => None,
            Some(p) => match p.get_ref().to_ascii_lowercase().as_str() {
                "802.1q" => Some(VlanProto::Dot1Q),
                "802.1ad" => Some(VlanProto::Dot1Ad),
                other => {
                    self.err(
                        p.span().start,
                        format!(
                            "VF {index}: vlan_proto `{other}` is not \"802.1Q\" or \"802.1ad\""
                        ),
                    );
                    None
                }
            },
        };
        if v.vlan.as_ref().is_none_or(|x| *x.get_ref() == 0) {
            if let Some(q) = v.qos.as_ref().filter(|q| *q.get_ref() != 0) {
                self.err(
                    q.span().start,
                    format!("VF {index}: qos needs a vlan (1-4094)"),
                );
            }
            if let Some(p) = v
                .vlan_proto
                .as_ref()
                .filter(|_| proto == Some(VlanProto::Dot1Ad))
            {
                self.err(
                    p.span().start,
                    format!("VF {index}: vlan_proto 802.1ad needs a vlan (1-4094)"),
                );
            }
        }
        if let Some(vl) = vlan {
            // The ranges were checked above; the library types check them again.
            let id = if vl == 0 { None } else { VlanId::new(vl).ok() };
            self.out.vlan = Some(VlanConfig {
                id,
                qos: Qos::new(qos.unwrap_or(0)).unwrap_or_default(),
                proto: proto.unwrap_or(VlanProto::Dot1Q),
            });
        }
        vlan
    }

    /// `mac`, explicit or `"auto"`.
    fn mac(&mut self, v: &RawVf, key: &PfKey, auto: &AutoMac<'_>, vlan: Option<u16>) {
        let index = self.index;
        let (cluster, node_id) = (auto.cluster, auto.node_id);
        if let Some(m) = &v.mac {
            if m.get_ref() == "auto" {
                match node_id {
                    Some(id) => {
                        self.out.mac = Some(auto_mac(cluster, &key.to_string(), id, vlan.unwrap_or(0)));
                        self.out.mac_auto = true;
                    }
                    None => self.err(
                        m.span().start,
                        format!("VF {index}: mac = \"auto\" needs a node id (`node_id = N` at the top, or `id = N` in [node.<hostname>])"),
                    ),
                }
            } else {
                match m.get_ref().parse::<MacAddr>() {
                    Ok(mac) if mac.is_multicast() => self.err(
                        m.span().start,
                        format!("VF {index}: MAC {mac} is a multicast address (first byte odd); a VF needs a unicast MAC"),
                    ),
                    Ok(mac) if mac.is_zero() => self.err(m.span().start, format!("VF {index}: MAC 00:00:00:00:00:00 is not an address")),
                    Ok(mac) => self.out.mac = Some(mac),
                    Err(e) => self.err(m.span().start, format!("VF {index}: {e}")),
                }
            }
        }
    }

    /// The on/off keys, `link_state`, the rates and `mtu`.
    fn link(&mut self, v: &RawVf) {
        let index = self.index;
        self.out.trust = v.trust.as_ref().map(|b| *b.get_ref());
        self.out.spoofchk = v.spoofchk.as_ref().map(|b| *b.get_ref());
        self.out.query_rss = v.query_rss.as_ref().map(|b| *b.get_ref());
        self.out.up = v.up.as_ref().map(|b| *b.get_ref());
        self.out.promisc = v.promisc.as_ref().map(|b| *b.get_ref());
        if let Some(ls) = &v.link_state {
            self.out.link_state = match ls.get_ref().as_str() {
                "auto" => Some(LinkState::Auto),
                "enable" => Some(LinkState::Enable),
                "disable" => Some(LinkState::Disable),
                other => {
                    self.err(ls.span().start, format!("VF {index}: link_state `{other}` is not \"auto\", \"enable\" or \"disable\""));
                    None
                }
            };
        }
        let rate_max = i64::from(u32::MAX);
        self.out.min_tx_rate = self
            .num(&v.min_tx_rate, 0, rate_max, "min_tx_rate")
            .map(|n| u32::try_from(n).unwrap_or(0));
        self.out.max_tx_rate = self
            .num(&v.max_tx_rate, 0, rate_max, "max_tx_rate")
            .map(|n| u32::try_from(n).unwrap_or(0));
        if let (Some(lo), Some(hi), Some(s)) =
            (self.out.min_tx_rate, self.out.max_tx_rate, &v.min_tx_rate)
        {
            if hi != 0 && lo > hi {
                self.err(
                    s.span().start,
                    format!("VF {index}: min_tx_rate {lo} is above max_tx_rate {hi}"),
                );
            }
        }
        self.out.mtu = self
            .num(&v.mtu, 68, 65535, "mtu")
            .map(|n| u32::try_from(n).unwrap_or(0));
    }

    /// `name`, `addresses`, `gateway`.
    fn netdev(&mut self, v: &RawVf) {
        let index = self.index;
        if let Some(n) = &v.name {
            let name = n.get_ref().replace("{index}", &index.to_string());
            if let Some(c) = unprintable(&name) {
                self.err(
                    n.span().start,
                    format!("VF {index}: name {name:?} contains {}, which a terminal or a command line would not show as written", char_name(c)),
                );
            } else {
                match IfName::new(&name) {
                    Ok(name) => {
                        self.out.name = Some(name);
                        self.out.name_loc = self.at(n.span().start);
                    }
                    Err(e) => self.err(n.span().start, format!("VF {index}: {e}")),
                }
            }
        }
        if let Some(list) = &v.addresses {
            for a in list.get_ref() {
                match parse_prefix(a.get_ref()) {
                    Ok(n) => {
                        if self.out.addresses.contains(&n) {
                            self.err(
                                a.span().start,
                                format!("VF {index}: address {n} listed twice"),
                            );
                        } else {
                            self.out.addresses.push(n);
                            self.out.address_locs.push(self.at(a.span().start));
                        }
                    }
                    Err(e) => self.err(a.span().start, format!("VF {index}: {e}")),
                }
            }
        }
        if let Some(g) = &v.gateway {
            match g.get_ref().parse::<IpAddr>() {
                Ok(ip) => {
                    if let Some(i) = self.out.addresses.iter().position(|a| a.addr() == ip) {
                        let own = self.out.address_locs.get(i).copied().flatten();
                        self.err(
                            g.span().start,
                            format!(
                                "VF {index}: gateway {ip} is this VF's own address{} (the gateway is another host on the subnet, e.g. the router)",
                                own.map_or_else(String::new, |l| format!(" (at {l})"))
                            ),
                        );
                    } else if !self.out.addresses.iter().any(|a| prefix_contains(a, &ip)) {
                        self.err(
                            g.span().start,
                            format!(
                                "VF {index}: gateway {ip} is not in the subnet of any of its addresses"
                            ),
                        );
                    } else {
                        self.out.gateway = Some(ip);
                        self.out.gateway_loc = self.at(g.span().start);
                    }
                }
                Err(_) => self.err(
                    g.span().start,
                    format!("VF {index}: gateway `{}` is not an IP address", g.get_ref()),
                ),
            }
        }
    }

    /// `driver`, and the netdev keys a vfio-pci VF cannot have.
    fn driver(&mut self, v: &RawVf) {
        let index = self.index;
        if let Some(d) = &v.driver {
            self.out.driver_loc = self.at(d.span().start);
            let name = d.get_ref();
            self.out.driver = match name.as_str() {
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
                    self.err(
                        d.span().start,
                        format!("VF {index}: `{n}` is not a driver name"),
                    );
                    None
                }
            };
        }
        if self.out.driver == Some(DriverSpec::VfioPci) {
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
                    self.err(off, format!("VF {index}: `{k}` needs a VF netdev, but driver = \"vfio-pci\" leaves none on the host"));
                }
            }
        }
    }

    /// `lxc`, `vm`, `mapping`, `description`.
    fn pve(&mut self, v: &RawVf) {
        let index = self.index;
        if let Some(c) = &v.lxc {
            match u32::try_from(*c.get_ref()).ok().filter(|c| *c >= 100) {
                Some(c) => self.out.lxc = Some(c),
                None => self.err(
                    c.span().start,
                    format!(
                        "VF {index}: lxc = {} is not a container id (100 or more)",
                        c.get_ref()
                    ),
                ),
            }
            if self.out.name.is_none() {
                self.err(
                    c.span().start,
                    format!("VF {index}: `lxc` needs `name` (the link the container takes)"),
                );
            }
        }
        if let Some(s) = &v.vm {
            if let Err(why) = check_vm_name(s.get_ref()) {
                self.err(
                    s.span().start,
                    format!("VF {index}: vm {:?}: {why}", s.get_ref()),
                );
            }
        }
        if let Some(s) = &v.mapping {
            if let Err(why) = check_mapping_id(s.get_ref()) {
                self.err(
                    s.span().start,
                    format!("VF {index}: mapping {:?}: {why}", s.get_ref()),
                );
            }
        }
        self.out.vm = v.vm.as_ref().map(|s| s.get_ref().clone());
        self.out.mapping = v.mapping.as_ref().map(|s| s.get_ref().clone());
        if let Some(d) = &v.description {
            if let Some(c) = unprintable(d.get_ref()) {
                self.err(
                    d.span().start,
                    format!("VF {index}: description contains {}, which a terminal or the pvesh command line would not show as written", char_name(c)),
                );
            }
        }
        self.out.description = v.description.as_ref().map(|s| s.get_ref().clone());
    }
}

/// The longest `mapping` id taken. Proxmox sets no limit of its own; the id
/// is repeated in every `hostpciN: mapping=<id>` line and in the web UI.
pub const MAX_MAPPING_ID: usize = 128;

/// A Proxmox resource mapping id, as pve-common's `pve-configid` format takes
/// it (`src/PVE/JSONSchema.pm`, `$CONFIGID_RE`: a letter, then letters,
/// digits, `_` and `-`, two characters at least), at most
/// [`MAX_MAPPING_ID`] long.
pub(crate) fn check_mapping_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if id.len() > MAX_MAPPING_ID {
        Err(format!(
            "has {} characters, more than the {MAX_MAPPING_ID} taken",
            id.chars().count()
        ))
    } else if id.len() < 2 || !first_ok || !rest_ok {
        Err("a Proxmox mapping id is a letter followed by letters, digits, `_` or `-` (two characters at least), as pvesh takes it".into())
    } else {
        Ok(())
    }
}

/// A Proxmox VM name, as pve-common's `dns-name` format takes it
/// (`pve_verify_dns_name`: labels of letters, digits and inner `-`, joined
/// by `.`).
pub(crate) fn check_vm_name(name: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err("a Proxmox VM name is a DNS name: letters, digits and `-` (not first or last in a label), labels joined by `.`".into())
    }
}
