//! A simulated igb host for unit tests: applies what it is told to its
//! [`HostState`], except what `refuse` / `ignore` name, and logs every call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use netlink_vf::{IfName, IpPrefix, MacAddr, VfAttr, VfConfig, VlanConfig};
use sysfs_sriov::{Casualty, InUse, PciAddress, PfImpact, Timed};

use super::{Detail, Host, HostError, Resets, VfFailures};
use crate::config::DriverSpec;
use crate::state::{HostState, LinkInfo, PfState, VfAttrs, VfState};

/// A PCI address from a literal.
pub(crate) fn pci(s: &str) -> PciAddress {
    s.parse().unwrap()
}

/// A host with one igb PF `eno1` (0000:01:00.0) of 7 possible VFs, `n` of
/// them created, bound to igbvf as `eth1`.. (with netlink: attributes and
/// links read).
pub(crate) fn host(n: u32, netlink: bool) -> HostState {
    let pf_addr = pci("0000:01:00.0");
    let vfs = (0..n)
        .map(|i| {
            // igb's VF offset 0x80, stride 2: 01:10.0, 01:10.2, ... 01:11.0.
            let rid = 0x80 + 2 * i;
            let mut v = VfState::new(i, pci(&format!("0000:01:{:02x}.{}", rid >> 3, rid & 7)));
            v.driver = Some("igbvf".into());
            v.netdev = Some(format!("eth{}", i + 1));
            v.attrs = netlink.then(|| VfAttrs {
                mac: Some(MacAddr::ZERO),
                vlan: Some(VlanConfig::none()),
                trust: Some(false),
                spoofchk: Some(true),
                ..VfAttrs::default()
            });
            v.link = netlink.then(|| LinkInfo {
                ifindex: 10 + i,
                mtu: Some(1500),
                ..LinkInfo::default()
            });
            v
        })
        .collect();
    let mut links: BTreeSet<String> = (1..=n).map(|i| format!("eth{i}")).collect();
    links.insert("eno1".into());
    links.insert("lo".into());
    HostState {
        pfs: vec![PfState {
            netdevs: vec!["eno1".into()],
            driver: Some("igb".into()),
            total_vfs: 7,
            num_vfs: n,
            vfs,
            ..PfState::new(pf_addr)
        }],
        links,
        netlink,
        default_routes: netlink.then(Vec::new),
        notes: Vec::new(),
    }
}

fn fail(msg: &str) -> HostError {
    HostError::Fake(msg.to_string())
}

fn timed<T>(value: T) -> Timed<T> {
    Timed {
        value,
        took: Duration::ZERO,
    }
}

pub(crate) struct Fake {
    pub state: HostState,
    pub log: Vec<String>,
    pub refuse: Vec<&'static str>,
    pub ignore: Vec<&'static str>,
    pub fail_numvfs: bool,
    /// The one PF (address) whose count write fails, when not all do.
    pub fail_numvfs_of: Option<&'static str>,
    /// The one PF (address) whose count write fails with ENOMEM: the kernel
    /// could not place its VF BARs (sysfs-sriov's diagnosis attached).
    pub enomem_of: Option<&'static str>,
    /// VFs something brings up as soon as they are created (a network manager).
    pub up_on_create: Vec<u32>,
    /// `sriov_drivers_autoprobe` of the PF.
    pub autoprobe: bool,
    /// VFs created without a driver: what probing their default driver gives.
    pub unprobed: Vec<VfState>,
    /// VFs that a VF driver module loaded by udev on their "add" events binds
    /// behind setup's back (its `driver_attach()` once autoprobe is back on):
    /// bound at creation, their netdev registered only at the next wait, with
    /// a MAC the driver made up since the PF had none for it yet.
    pub bound_early: Vec<u32>,
    /// Those VFs' netdevs, registered at the next wait.
    pub registering: Vec<VfState>,
    /// How many times setup read the host.
    pub reads: usize,
    /// How many times `refresh` was called (netlink-only readings).
    pub refreshes: usize,
    /// Whether the carrier watch fails to subscribe.
    pub watch_fails: bool,
    /// Labels of the PFs whose carrier does not come back.
    pub no_carrier: Vec<String>,
    /// The PFs being watched.
    pub watched: Vec<String>,
    /// Every watch asked for, as `eno1,eno2`.
    pub watch_log: Vec<String>,
    /// Not the live system (a fixture root).
    pub fixture: bool,
}

pub(crate) fn fake() -> Fake {
    Fake {
        state: host(0, true),
        log: Vec::new(),
        refuse: Vec::new(),
        ignore: Vec::new(),
        fail_numvfs: false,
        fail_numvfs_of: None,
        enomem_of: None,
        up_on_create: Vec::new(),
        autoprobe: true,
        unprobed: Vec::new(),
        bound_early: Vec::new(),
        registering: Vec::new(),
        reads: 0,
        refreshes: 0,
        watch_fails: false,
        no_carrier: Vec::new(),
        watched: Vec::new(),
        watch_log: Vec::new(),
        fixture: false,
    }
}

impl Fake {
    fn pf_mut(&mut self, address: PciAddress) -> &mut PfState {
        self.state
            .pfs
            .iter_mut()
            .find(|p| p.address == address)
            .unwrap()
    }

    fn vf_by_name(&mut self, name: &str) -> Option<&mut VfState> {
        self.state
            .pfs
            .iter_mut()
            .flat_map(|p| p.vfs.iter_mut())
            .find(|v| v.netdev.as_deref() == Some(name))
    }

    fn link_mut(&mut self, name: &str) -> &mut LinkInfo {
        self.vf_by_name(name)
            .unwrap()
            .link
            .get_or_insert_with(LinkInfo::default)
    }

    fn write_count(&mut self, pf: &PfState, n: u32) -> Result<bool, HostError> {
        self.log.push(format!("numvfs {} {n}", pf.address));
        let a = pf.address.to_string();
        if self.fail_numvfs || self.fail_numvfs_of == Some(a.as_str()) {
            return Err(fail("Device or resource busy (EBUSY)"));
        }
        if self.enomem_of == Some(a.as_str()) {
            use sysfs_sriov::{Finding, FindingKind};
            let kind = FindingKind::VfBarsUnassigned {
                bars: vec![0, 3],
                sizes: vec![None, None],
            };
            return Err(HostError::Sysfs(sysfs_sriov::Error::NumVfsNoResources {
                pf: pf.address,
                requested: u16::try_from(n).unwrap_or(u16::MAX),
                path: format!("/sys/bus/pci/devices/{a}/sriov_numvfs").into(),
                diagnosis: vec![Finding::new(&pf.address, kind)],
            }));
        }
        let defer = n > 0 && self.autoprobe;
        let at = self
            .state
            .pfs
            .iter()
            .position(|p| p.address == pf.address)
            .unwrap();
        let mut fresh = host(n, true);
        if at > 0 {
            // Another PF's VFs: bus and names of their own.
            for v in &mut fresh.pfs[0].vfs {
                let s =
                    v.address
                        .to_string()
                        .replacen("0000:01:", &format!("0000:{:02x}:", at + 1), 1);
                v.address = pci(&s);
                v.netdev = Some(format!("eth{}", 10 * at + v.index as usize + 1));
            }
            fresh.links = fresh.pfs[0]
                .vfs
                .iter()
                .filter_map(|v| v.netdev.clone())
                .collect();
        }
        let p = &mut self.state.pfs[at];
        for v in &p.vfs {
            if let Some(n) = &v.netdev {
                self.state.links.remove(n);
            }
        }
        p.vfs = fresh.pfs[0].vfs.clone();
        for v in &mut p.vfs {
            if self.up_on_create.contains(&v.index) {
                v.in_use = vec![InUse::NetdevUp {
                    netdev: v.netdev.clone().unwrap_or_default(),
                }];
            }
        }
        p.num_vfs = n;
        if defer {
            // Created unbound: no driver, no netdev yet.
            for v in &mut p.vfs {
                if self.bound_early.contains(&v.index) {
                    let mut made_up = v.clone();
                    let mac = format!("02:bb:00:00:00:{:02x}", v.index);
                    made_up.link = Some(LinkInfo {
                        mtu: Some(1500),
                        mac: mac.parse().ok(),
                        ..LinkInfo::default()
                    });
                    self.registering.push(made_up);
                } else {
                    self.unprobed.push(v.clone());
                    v.driver = None;
                }
                v.netdev = None;
                v.link = None;
            }
        } else {
            self.state.links.extend(fresh.links);
        }
        Ok(defer)
    }

    fn set_attrs(&mut self, pf: PciAddress, w: &VfConfig, fails: &mut VfFailures) {
        let refuse = self.refuse.clone();
        let ignore = self.ignore.clone();
        let vf = &mut self.pf_mut(pf).vfs[w.index as usize];
        let a = vf.attrs.get_or_insert_with(VfAttrs::default);
        let mut set = |attr: VfAttr, name: &str, f: &mut dyn FnMut()| {
            if refuse.contains(&name) {
                fails.push((w.index, attr, fail("Operation not supported (EOPNOTSUPP)")));
            } else if !ignore.contains(&name) {
                f();
            }
        };
        if let Some(m) = w.mac {
            set(VfAttr::Mac, "mac", &mut || a.mac = Some(m));
        }
        if let Some(v) = w.vlan {
            set(VfAttr::Vlan, "vlan", &mut || a.vlan = Some(v));
        }
        if let Some(t) = w.trust {
            set(VfAttr::Trust, "trust", &mut || a.trust = Some(t));
        }
        if let Some(t) = w.spoofchk {
            set(VfAttr::SpoofChk, "spoofchk", &mut || a.spoofchk = Some(t));
        }
        if let Some(t) = w.query_rss {
            set(VfAttr::QueryRss, "query_rss", &mut || a.query_rss = Some(t));
        }
        if let Some(s) = w.link_state {
            set(VfAttr::LinkState, "link_state", &mut || {
                a.link_state = Some(s)
            });
        }
        if w.min_tx_rate.is_some() || w.max_tx_rate.is_some() {
            let (lo, hi) = (w.min_tx_rate, w.max_tx_rate);
            set(VfAttr::Rate, "rate", &mut || {
                if lo.is_some() {
                    a.min_tx_rate = lo;
                }
                if hi.is_some() {
                    a.max_tx_rate = hi;
                }
            });
        }
    }
}

impl Host for Fake {
    fn live(&self) -> bool {
        !self.fixture
    }

    fn netlink_note(&self) -> Option<String> {
        None
    }

    fn read(&mut self, _: Detail) -> Result<HostState, HostError> {
        self.reads += 1;
        Ok(self.state.clone())
    }

    fn refresh(&mut self, _: HostState) -> Result<HostState, HostError> {
        // The fake's whole state is what a refresh would show.
        self.refreshes += 1;
        Ok(self.state.clone())
    }

    fn find_pf(&self, spec: &str) -> Result<PciAddress, HostError> {
        self.state
            .pfs
            .iter()
            .find(|p| p.netdevs.iter().any(|n| n == spec) || p.address.to_string() == spec)
            .map(|p| p.address)
            .ok_or_else(|| fail(&format!("no PF {spec}")))
    }

    fn watch_carriers(&mut self, pfs: &[&PfState]) -> Result<(), HostError> {
        self.watch_log
            .push(pfs.iter().map(|p| p.label()).collect::<Vec<_>>().join(","));
        if self.watch_fails {
            return Err(fail("cannot open a netlink socket (EMFILE)"));
        }
        self.watched = pfs.iter().map(|p| p.label()).collect();
        Ok(())
    }

    fn wait_carriers(&mut self, _: Duration) -> Result<Vec<String>, HostError> {
        let w = std::mem::take(&mut self.watched);
        if !w.is_empty() {
            // A wait that takes time, as a live one does (timing lines).
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(w.into_iter()
            .filter(|l| self.no_carrier.contains(l))
            .collect())
    }

    fn set_pf_links(&mut self, links: &[(&PfState, bool)]) -> Vec<Timed<Result<(), HostError>>> {
        links
            .iter()
            .map(|&(pf, up)| {
                self.log.push(format!("pf {} up {up}", pf.address));
                let p = self.pf_mut(pf.address);
                p.up = Some(up);
                p.carrier = Some(up);
                timed(Ok(()))
            })
            .collect()
    }

    fn set_num_vfs(
        &mut self,
        writes: &[(&PfState, u32)],
        _: bool,
    ) -> Vec<Timed<Result<bool, HostError>>> {
        writes
            .iter()
            .map(|&(pf, n)| timed(self.write_count(pf, n)))
            .collect()
    }

    fn wait_for_vfs(
        &mut self,
        _: &PfState,
        n: u32,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<(), HostError> {
        for fresh in std::mem::take(&mut self.registering) {
            if let Some(v) = self
                .state
                .pfs
                .iter_mut()
                .flat_map(|p| p.vfs.iter_mut())
                .find(|x| x.address == fresh.address)
            {
                v.netdev.clone_from(&fresh.netdev);
                v.link = fresh.link;
                if let Some(n) = &fresh.netdev {
                    self.state.links.insert(n.clone());
                }
            }
        }
        progress(n, n);
        Ok(())
    }

    fn set_vf_attrs(
        &mut self,
        pf: &PfState,
        configs: &[VfConfig],
    ) -> Result<VfFailures, HostError> {
        self.log.push(format!(
            "setvfs {} {:?}",
            pf.address,
            configs.iter().map(|w| w.index).collect::<Vec<_>>()
        ));
        let mut fails = Vec::new();
        for w in configs {
            self.set_attrs(pf.address, w, &mut fails);
        }
        Ok(fails)
    }

    fn bind_driver(&mut self, vf: &VfState, to: &DriverSpec, force: bool) -> Result<(), HostError> {
        self.log.push(format!("bind {} {to}", vf.address));
        if self.refuse.contains(&format!("bind:{to}").as_str()) {
            return Err(fail(&format!("{to} did not bind")));
        }
        if !force && !vf.busy_netdev().is_empty() {
            return Err(fail(&format!("unbinding refused: {}", vf.in_use[0])));
        }
        let name = vf.netdev.clone();
        let probed = self.unprobed.iter().position(|u| u.address == vf.address);
        let v = self
            .state
            .pfs
            .iter_mut()
            .flat_map(|p| p.vfs.iter_mut())
            .find(|x| x.address == vf.address)
            .unwrap();
        if let (Some(p), DriverSpec::Default, None) = (probed, to, &v.driver) {
            let fresh = self.unprobed.remove(p);
            *v = VfState {
                attrs: v.attrs.clone(),
                ..fresh
            };
            if let Some(n) = &v.netdev {
                self.state.links.insert(n.clone());
            }
            return Ok(());
        }
        if matches!(to, DriverSpec::Default) && v.driver.is_none() {
            // An unbound VF probed: igbvf, a netdev under a kernel name.
            let name = format!("eth{}", 100 + v.index);
            v.driver = Some("igbvf".into());
            v.netdev = Some(name.clone());
            v.link = Some(LinkInfo {
                mtu: Some(1500),
                ..LinkInfo::default()
            });
            self.state.links.insert(name);
            return Ok(());
        }
        v.driver = Some(to.to_string());
        v.netdev = None;
        v.link = None;
        if let Some(n) = name {
            self.state.links.remove(&n);
        }
        Ok(())
    }

    fn probe_vfs(&mut self, vfs: &[&VfState]) -> Vec<Timed<Result<(), HostError>>> {
        vfs.iter()
            .map(|vf| timed(self.bind_driver(vf, &DriverSpec::Default, false)))
            .collect()
    }

    fn reload_driver(&mut self, vf: &VfState, force: bool) -> Result<(), HostError> {
        self.log.push(format!("reload {}", vf.address));
        if !force && !vf.busy_netdev().is_empty() {
            return Err(fail(&format!("unbinding refused: {}", vf.in_use[0])));
        }
        let v = self.state.pfs[0]
            .vfs
            .iter_mut()
            .find(|x| x.address == vf.address)
            .unwrap();
        // Back under a kernel name, down, without addresses, with the MAC
        // the PF set.
        let fresh = format!("eth{}", 100 + v.index);
        let old = v.netdev.replace(fresh.clone());
        v.in_use.clear();
        v.link = Some(LinkInfo {
            mtu: Some(1500),
            mac: v.attrs.as_ref().and_then(|a| a.mac),
            ..LinkInfo::default()
        });
        if let Some(old) = old {
            self.state.links.remove(&old);
        }
        self.state.links.insert(fresh);
        Ok(())
    }

    fn rename(&mut self, link: &str, to: &IfName) -> Result<(), HostError> {
        self.log.push(format!("rename {link} {to}"));
        if self.state.links.contains(to.as_str()) {
            return Err(fail("File exists (EEXIST)"));
        }
        self.vf_by_name(link).unwrap().netdev = Some(to.to_string());
        self.state.links.remove(link);
        self.state.links.insert(to.to_string());
        Ok(())
    }

    fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), HostError> {
        self.log.push(format!("mtu {link} {mtu}"));
        self.link_mut(link).mtu = Some(mtu);
        Ok(())
    }

    fn set_promisc(&mut self, link: &str, on: bool) -> Result<(), HostError> {
        self.log.push(format!("promisc {link} {on}"));
        self.link_mut(link).promisc = on;
        Ok(())
    }

    fn set_up(&mut self, link: &str, up: bool) -> Result<(), HostError> {
        self.log.push(format!("up {link} {up}"));
        self.link_mut(link).up = up;
        Ok(())
    }

    fn add_address(&mut self, link: &str, addr: &IpPrefix) -> Result<(), HostError> {
        self.log.push(format!("addr {link} {addr}"));
        self.link_mut(link).addresses.push(*addr);
        Ok(())
    }

    fn del_address(&mut self, link: &str, addr: &IpPrefix) -> Result<(), HostError> {
        self.log.push(format!("deladdr {link} {addr}"));
        self.link_mut(link).addresses.retain(|a| a != addr);
        Ok(())
    }

    fn set_default_route(&mut self, link: &str, gateway: IpAddr) -> Result<(), HostError> {
        self.log.push(format!("route {link} {gateway}"));
        let routes = self.state.default_routes.get_or_insert_with(Vec::new);
        routes.retain(|(g, _)| g.is_ipv4() != gateway.is_ipv4());
        routes.push((gateway, link.to_string()));
        Ok(())
    }

    fn reset_impact(&self, pfs: &[PciAddress]) -> Result<Vec<PfImpact>, HostError> {
        Ok(pfs
            .iter()
            .filter_map(|a| self.state.pfs.iter().find(|p| p.address == *a))
            .map(|p| PfImpact {
                pf: p.address,
                num_vfs: u16::try_from(p.num_vfs).unwrap(),
                casualties: p
                    .vfs
                    .iter()
                    .map(|v| Casualty {
                        index: v.index,
                        address: v.address,
                        driver: v.driver.clone(),
                        netdevs: v.netdev.iter().cloned().collect(),
                        reasons: v.in_use.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    fn reset(&mut self, pfs: &[PciAddress]) -> Result<Resets, HostError> {
        let mut out = Vec::new();
        for a in pfs {
            self.log.push(format!("reset {a}"));
            let p = self.pf_mut(*a);
            p.num_vfs = 0;
            p.vfs.clear();
            out.push((*a, timed(Ok(()))));
        }
        Ok(out)
    }

    fn iommu_report(&self) -> Result<iommu_check::Report, HostError> {
        Err(fail("no IOMMU report in the fake host"))
    }

    fn sriov_readiness(&self) -> Result<Vec<sysfs_sriov::Readiness>, HostError> {
        Err(fail("no SR-IOV readiness in the fake host"))
    }
}
