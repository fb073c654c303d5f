//! The live host: fills [`HostState`] from `sysfs-sriov` and `netlink-vf`, and
//! implements [`Host`] with them. This is the only module that touches the
//! kernel; everything it does is a library call.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netlink_vf::{
    Handle, IfName, IpPrefix, MacAddr, Qos, RouteSpec, VfAttr, VfConfig, VlanConfig, VlanId,
};
use sysfs_sriov::{DriverTarget, PciAddress, Sysfs};

use crate::addr::IpNet;
use crate::apply::{each_timed, Batch, Host, VfWant};
use crate::config::{DriverSpec, VlanProto, VlanSpec};
use crate::state::{HostState, InUse, LinkInfo, PfState, VfAttrs, VfCounters, VfState};

/// How long `setup` waits for new VFs (and their drivers and netdevs).
pub const VF_WAIT: Duration = Duration::from_secs(60);

/// Renders an error with its cause chain: `outer: inner: innermost`.
pub fn chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// One PF's `sriov_numvfs` write for [`Host::set_num_vfs`]: with
/// `defer_probe`, `sriov_drivers_autoprobe` off around it (when it was on and
/// can be written) so that the new VFs have no driver yet; returns whether
/// that happened. No netlink: it runs on a thread of its own per PF.
fn write_count(
    sysfs: &Sysfs,
    pf: &PfState,
    n: u32,
    allow_recreate: bool,
    defer_probe: bool,
) -> Result<bool, String> {
    let n = u16::try_from(n).map_err(|_| format!("num_vfs {n} is too large"))?;
    let addr = pci(&pf.address)?;
    let defer = defer_probe
        && n > 0
        && sysfs
            .sriov_info(&addr)
            .map_err(|e| chain(&e))?
            .drivers_autoprobe;
    // A PF whose flag cannot be written (read-only sysfs in a container,
    // a kernel without it) gets its VFs the usual way: probed at once.
    let defer = defer && sysfs.set_drivers_autoprobe(&addr, false).is_ok();
    let res = sysfs
        .set_num_vfs(&addr, n, allow_recreate)
        .map(|_| ())
        .map_err(|e| chain(&e));
    if defer {
        // Put it back at once, whatever the count write did: the PCI
        // core also reads it at every later probe of these VFs
        // (pci_device_can_probe), including the ones setup asks for.
        if let Err(e) = sysfs.set_drivers_autoprobe(&addr, true) {
            let msg = format!(
                "could not turn sriov_drivers_autoprobe of {} back on ({}); write 1 to /sys/bus/pci/devices/{}/sriov_drivers_autoprobe",
                pf.address,
                chain(&e),
                pf.address
            );
            return Err(match res {
                Ok(()) => msg,
                Err(r) => format!("{r}; also {msg}"),
            });
        }
    }
    res.map(|()| defer)
}

/// The one answer of a many-item host operation given one item.
fn only<T>(mut batch: Batch<T>) -> Result<T, String> {
    batch
        .results
        .pop()
        .map_or_else(|| Err("no answer from the host".to_string()), |(r, _)| r)
}

/// sysfs always; netlink only when the root is `/` (the kernel's netlink is not
/// rooted, so it would describe the wrong host for a fixture tree).
pub struct LiveHost {
    sysfs: Sysfs,
    root: std::path::PathBuf,
    nl: Option<Handle>,
    /// Why netlink is unavailable, for the note on stderr.
    pub nl_note: Option<String>,
    /// Ask for per-VF counters when reading.
    pub with_stats: bool,
    /// Link events subscribed before a VF count change on PFs that had
    /// carrier, with the PFs' ifindexes: a PF resets when VFs are enabled, and
    /// some VF attributes (igb's rates) are refused until its link is back.
    carrier_watch: Option<(netlink_vf::LinkEvents, Vec<u32>)>,
}

/// How many VFs are probed at a time.
const PROBE_THREADS: usize = 8;

/// How long to wait for a PF's link to come back after its VFs were created,
/// or to come up after `up = true` brought the PF up.
pub(crate) const CARRIER_WAIT: Duration = Duration::from_secs(15);

impl LiveHost {
    /// Opens the host at `root`.
    pub fn new(root: &Path) -> Self {
        let sysfs = Sysfs::with_root(root);
        let (nl, nl_note) = if root == Path::new("/") {
            match Handle::new() {
                Ok(h) => (Some(h), None),
                Err(e) => (None, Some(format!("netlink is unavailable ({}), so VF attributes, links, addresses and routes are unknown", chain(&e)))),
            }
        } else {
            (
                None,
                Some(format!(
                    "--root {} is not /, so netlink is not used: VF attributes, link state, addresses and routes show as unavailable",
                    root.display()
                )),
            )
        };
        Self {
            sysfs,
            root: root.to_path_buf(),
            nl,
            nl_note,
            with_stats: false,
            carrier_watch: None,
        }
    }

    /// The sysfs handle.
    pub fn sysfs(&self) -> &Sysfs {
        &self.sysfs
    }

    fn nl(&mut self) -> Result<&mut Handle, String> {
        self.nl
            .as_mut()
            .ok_or_else(|| "netlink is not available".to_string())
    }

    /// The PF's netdev link, when netlink is available.
    fn pf_link(&mut self, pf: &PfState) -> Option<netlink_vf::Link> {
        let name = IfName::new(pf.netdevs.first()?).ok()?;
        self.nl.as_mut()?.link_by_name(&name).ok()
    }

    /// After a VF count change: waits (on link events, no polling) until every
    /// PF that had carrier before has it again. A timeout is not an error: the
    /// attributes that need the link are then refused and reported.
    fn wait_for_carrier(&mut self) {
        let Some((mut events, mut waiting)) = self.carrier_watch.take() else {
            return;
        };
        let back = |l: &netlink_vf::Link| l.up && l.lower_up;
        if let Some(nl) = self.nl.as_mut() {
            waiting.retain(|&i| !nl.link_by_index(i).is_ok_and(|l| back(&l)));
        }
        if waiting.is_empty() {
            return;
        }
        let _ = events.wait_for(CARRIER_WAIT, |e| {
            let l = e.link();
            if back(l) {
                waiting.retain(|&i| i != l.index);
            }
            waiting.is_empty()
        });
    }

    /// [`Self::wait_for_carrier`], and how long it took.
    fn timed_carrier_wait(&mut self) -> Duration {
        let t = Instant::now();
        self.wait_for_carrier();
        t.elapsed()
    }

    /// Subscribes to link events for the PFs among `pfs` whose link is up with
    /// carrier now, before their VF counts change (so the carrier coming back
    /// is not missed).
    fn watch_carrier(&mut self, pfs: &[&PfState]) {
        self.carrier_watch = None;
        let indexes: Vec<u32> = pfs
            .iter()
            .filter_map(|pf| self.pf_link(pf))
            .filter(|l| l.up && l.lower_up)
            .map(|l| l.index)
            .collect();
        if indexes.is_empty() {
            return;
        }
        if let Ok(ev) = netlink_vf::LinkEvents::new() {
            self.carrier_watch = Some((ev, indexes));
        }
    }

    fn index_of(&mut self, name: &str) -> Result<u32, String> {
        let n = IfName::new(name).map_err(|e| chain(&e))?;
        self.nl()?.index_of(&n).map_err(|e| chain(&e))
    }

    /// Reads the state: sysfs first, then netlink details when available.
    ///
    /// # Errors
    /// sysfs errors (rendered).
    pub fn read_state(&mut self) -> Result<HostState, String> {
        let mut st = HostState {
            netlink: self.nl.is_some(),
            ..HostState::default()
        };
        let pfs = self.sysfs.pfs().map_err(|e| chain(&e))?;
        for pf in pfs {
            let vfs = self.sysfs.vfs(&pf.address).map_err(|e| chain(&e))?;
            // What is in use on each VF (for the recreate and reload checks),
            // on the VFs just resolved.
            let impact = if pf.sriov.num_vfs > 0 {
                self.sysfs.impact_of(&vfs).map_err(|e| chain(&e))?
            } else {
                Vec::new()
            };
            st.pfs.push(PfState {
                address: pf.address.to_string(),
                netdevs: pf.netdevs.clone(),
                ifindex: None,
                up: None,
                carrier: None,
                driver: pf.driver.clone(),
                driver_version: None,
                firmware: None,
                total_vfs: u32::from(pf.sriov.total_vfs),
                num_vfs: u32::from(pf.sriov.num_vfs),
                vendor_id: pf.vendor_id,
                device_id: pf.device_id,
                vendor_name: pf.vendor_name.clone(),
                device_name: pf.device_name.clone(),
                iommu_group: pf.iommu_group,
                vfs: vfs
                    .into_iter()
                    .map(|v| VfState {
                        index: v.index,
                        address: v.address.to_string(),
                        driver: v.driver,
                        netdev: v.netdevs.first().cloned(),
                        iommu_group: v.iommu_group,
                        vfio_dev: v.vfio_dev.map(|p| {
                            // Show the host path, not the fixture one.
                            let rel = p.strip_prefix(&self.root).unwrap_or(&p);
                            Path::new("/").join(rel).display().to_string()
                        }),
                        device_name: v.device_name,
                        attrs: None,
                        link: None,
                        in_use: Vec::new(),
                    })
                    .collect(),
            });
            if let Some(ps) = st.pfs.last_mut() {
                for c in impact {
                    if let Some(v) = ps.vfs.iter_mut().find(|v| v.index == c.index) {
                        v.in_use = c.reasons.iter().filter_map(in_use_of).collect();
                    }
                }
            }
        }
        // Every interface name, for "name already taken" checks.
        st.links
            .extend(self.sysfs.interface_names().map_err(|e| chain(&e))?);
        if self.nl.is_some() {
            if let Err(e) = self.read_netlink(&mut st) {
                return Err(format!("reading netlink state: {e}"));
            }
        }
        Ok(st)
    }

    fn read_netlink(&mut self, st: &mut HostState) -> Result<(), String> {
        let with_stats = self.with_stats;
        let nl = self.nl()?;
        let links = nl.links().map_err(|e| chain(&e))?;
        let by_name: BTreeMap<String, &netlink_vf::Link> = links
            .iter()
            .map(|l| (l.name.as_str().to_string(), l))
            .collect();
        let by_index: BTreeMap<u32, String> = links
            .iter()
            .map(|l| (l.index, l.name.as_str().to_string()))
            .collect();
        for l in &links {
            st.links.insert(l.name.as_str().to_string());
        }
        let mut addrs: BTreeMap<u32, Vec<IpNet>> = BTreeMap::new();
        for a in nl.addresses(None).map_err(|e| chain(&e))? {
            addrs.entry(a.index).or_default().push(IpNet {
                addr: a.prefix.addr(),
                prefix: a.prefix.prefix_len(),
            });
        }
        let mut routes = Vec::new();
        for r in nl.routes().map_err(|e| chain(&e))? {
            if r.is_default() && r.table == 254 {
                if let (Some(g), Some(oif)) = (r.gateway, r.oif) {
                    if let Some(n) = by_index.get(&oif) {
                        routes.push((g, n.clone()));
                    }
                }
            }
        }
        st.default_routes = Some(routes);
        for pf in &mut st.pfs {
            let Some(l) = pf.netdevs.first().and_then(|n| by_name.get(n)) else {
                continue;
            };
            pf.ifindex = Some(l.index);
            pf.up = Some(l.up);
            pf.carrier = Some(l.up && l.lower_up);
            // `ethtool -i`: best effort, a driver without get_drvinfo leaves
            // both unknown ("where readable").
            if let Ok(info) = nl.driver_info(&l.name) {
                pf.driver_version = info.version;
                pf.firmware = info.firmware_version;
            }
            let vfs = nl.vfs(l.index, with_stats).map_err(|e| chain(&e))?;
            for v in &mut pf.vfs {
                v.attrs = Some(
                    vfs.iter()
                        .find(|s| s.index == v.index)
                        .map(attrs_of)
                        .unwrap_or_default(),
                );
                if let Some(link) = v.netdev.as_ref().and_then(|n| by_name.get(n)) {
                    v.link = Some(LinkInfo {
                        ifindex: link.index,
                        up: link.up,
                        promisc: link.promisc,
                        mtu: link.mtu.unwrap_or(0),
                        addresses: addrs.get(&link.index).cloned().unwrap_or_default(),
                        mac: link.mac,
                    });
                }
            }
        }
        Ok(())
    }
}

fn in_use_of(r: &sysfs_sriov::InUse) -> Option<InUse> {
    Some(match r {
        sysfs_sriov::InUse::Passthrough { driver } => InUse::Passthrough {
            driver: driver.clone(),
        },
        sysfs_sriov::InUse::NetdevUp { netdev } => InUse::Up {
            netdev: netdev.clone(),
        },
        sysfs_sriov::InUse::HasAddresses { netdev, addresses } => InUse::Addresses {
            netdev: netdev.clone(),
            addresses: addresses.clone(),
        },
        sysfs_sriov::InUse::OtherNamespace { driver } => InUse::OtherNetns {
            driver: driver.clone(),
        },
        _ => return None,
    })
}

fn attrs_of(s: &netlink_vf::VfState) -> VfAttrs {
    VfAttrs {
        mac: s.mac,
        vlan: Some(VlanSpec {
            vlan: s.vlan.map_or(0, VlanId::get),
            qos: s.qos.map_or(0, Qos::get),
            proto: s.vlan_proto.unwrap_or(VlanProto::Dot1Q),
        }),
        trust: s.trust,
        spoofchk: s.spoofchk,
        link_state: s.link_state,
        min_tx_rate: s.min_tx_rate,
        max_tx_rate: s.max_tx_rate,
        query_rss: s.query_rss,
        stats: s.stats.map(|c| VfCounters {
            rx_packets: c.rx_packets,
            tx_packets: c.tx_packets,
            rx_bytes: c.rx_bytes,
            tx_bytes: c.tx_bytes,
            broadcast: c.broadcast,
            multicast: c.multicast,
            rx_dropped: c.rx_dropped.unwrap_or(0),
            tx_dropped: c.tx_dropped.unwrap_or(0),
        }),
    }
}

fn pci(addr: &str) -> Result<PciAddress, String> {
    addr.parse::<PciAddress>().map_err(|e| chain(&e))
}

fn vf_config(w: &VfWant) -> Result<VfConfig, String> {
    let mut c = VfConfig::new(w.index);
    if let Some(m) = w.mac {
        c = c.mac(MacAddr(m.0));
    }
    if let Some(v) = w.vlan {
        let vc = if v.vlan == 0 {
            VlanConfig::none()
        } else {
            VlanConfig::new(VlanId::new(v.vlan).map_err(|e| chain(&e))?)
                .qos(Qos::new(v.qos).map_err(|e| chain(&e))?)
                .proto(v.proto)
        };
        c = c.vlan(vc);
    }
    if let Some(b) = w.spoofchk {
        c = c.spoofchk(b);
    }
    if let Some(b) = w.trust {
        c = c.trust(b);
    }
    if let Some(s) = w.link_state {
        c = c.link_state(s);
    }
    if let Some(r) = w.min_tx_rate {
        c = c.min_tx_rate(r);
    }
    if let Some(r) = w.max_tx_rate {
        c = c.max_tx_rate(r);
    }
    if let Some(b) = w.query_rss {
        c = c.query_rss(b);
    }
    Ok(c)
}

fn attr_name(a: VfAttr) -> &'static str {
    match a {
        VfAttr::Mac => "mac",
        VfAttr::Vlan => "vlan",
        VfAttr::SpoofChk => "spoofchk",
        VfAttr::QueryRss => "query_rss",
        VfAttr::LinkState => "link_state",
        VfAttr::Trust => "trust",
        VfAttr::Rate => "max_tx_rate",
    }
}

impl Host for LiveHost {
    fn read(&mut self) -> Result<HostState, String> {
        self.read_state()
    }

    fn set_num_vfs(
        &mut self,
        pf: &PfState,
        n: u32,
        allow_recreate: bool,
        defer_probe: bool,
    ) -> Result<bool, String> {
        only(self.set_num_vfs_all(&[(pf, n)], allow_recreate, defer_probe))
    }

    fn set_num_vfs_all(
        &mut self,
        writes: &[(&PfState, u32)],
        allow_recreate: bool,
        defer_probe: bool,
    ) -> Batch<bool> {
        let pfs: Vec<&PfState> = writes.iter().map(|&(pf, _)| pf).collect();
        self.watch_carrier(&pfs);
        let sysfs = &self.sysfs;
        let write =
            |&(pf, n): &(&PfState, u32)| write_count(sysfs, pf, n, allow_recreate, defer_probe);
        // Several PFs: a thread each. A write blocks in the PF driver (i40e
        // takes seconds), and different PFs do not wait for each other in
        // the kernel.
        let results: Vec<(Result<bool, String>, Duration)> = if writes.len() < 2 {
            each_timed(writes, write)
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = writes
                    .iter()
                    .map(|w| {
                        s.spawn(move || {
                            let t = Instant::now();
                            (write(w), t.elapsed())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .zip(writes)
                    .map(|(h, (pf, _))| {
                        h.join().unwrap_or_else(|_| {
                            (
                                Err(format!(
                                    "the thread writing sriov_numvfs of {} panicked",
                                    pf.address
                                )),
                                Duration::ZERO,
                            )
                        })
                    })
                    .collect()
            })
        };
        // VF settings need the PF's link back (igb refuses a TX rate without
        // it), and a VF driver probed while the PF is still resetting misses
        // its MAC. The caller waits for VF drivers only after probing them,
        // so wait for the carriers here (the PFs reset at the same time: this
        // waits for the slowest).
        let link_wait = if results.iter().any(|(r, _)| *r == Ok(true)) {
            self.timed_carrier_wait()
        } else {
            Duration::ZERO
        };
        Batch { results, link_wait }
    }

    fn wait_for_vfs(
        &mut self,
        pf: &PfState,
        n: u32,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<(), String> {
        let n = u16::try_from(n).map_err(|_| format!("num_vfs {n} is too large"))?;
        self.sysfs
            .wait_for_vfs(&pci(&pf.address)?, n, VF_WAIT, &mut |p| {
                progress(u32::from(p.ready), u32::from(p.expected));
            })
            .map(|_| ())
            .map_err(|e| chain(&e))?;
        self.wait_for_carrier();
        Ok(())
    }

    fn set_vf_attrs(
        &mut self,
        pf: &PfState,
        wants: &[VfWant],
    ) -> Result<Vec<(u32, String, String)>, String> {
        let name = pf
            .netdevs
            .first()
            .ok_or_else(|| format!("PF {} has no netdev to send VF settings to", pf.address))?
            .clone();
        let idx = self.index_of(&name)?;
        let configs = wants.iter().map(vf_config).collect::<Result<Vec<_>, _>>()?;
        let report = self.nl()?.set_vfs(idx, &configs).map_err(|e| chain(&e))?;
        Ok(report
            .failures()
            .map(|(i, a, e)| (i, attr_name(a).to_string(), chain(e)))
            .collect())
    }

    fn bind_driver(
        &mut self,
        vf: &VfState,
        target: &DriverSpec,
        force: bool,
    ) -> Result<(), String> {
        let t = match target {
            DriverSpec::VfioPci => DriverTarget::VfioPci,
            DriverSpec::Default => DriverTarget::Default,
            DriverSpec::Named(n) => DriverTarget::Named(n.clone()),
        };
        self.sysfs
            .bind_driver(&pci(&vf.address)?, &t, force)
            .map(|_| ())
            .map_err(|e| chain(&e))
    }

    fn set_pf_up(&mut self, pf: &PfState, up: bool) -> Result<(), String> {
        only(self.set_pf_links(&[(pf, up)]))
    }

    fn probe_vfs(&mut self, vfs: &[&VfState]) -> Vec<(Result<(), String>, Duration)> {
        let sysfs = &self.sysfs;
        let probe = |vf: &&VfState| {
            pci(&vf.address).and_then(|a| {
                sysfs
                    .bind_driver(&a, &DriverTarget::Default, false)
                    .map(|_| ())
                    .map_err(|e| chain(&e))
            })
        };
        if vfs.len() < 2 {
            return each_timed(vfs, probe);
        }
        // A few threads take the VFs in turn: each probe is the VF driver's
        // own work (a mailbox exchange with the PF, firmware commands), and
        // the kernel probes different devices independently.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut done: Vec<(usize, Result<(), String>, Duration)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..PROBE_THREADS.min(vfs.len()))
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(vf) = vfs.get(i) else { break };
                            let t = Instant::now();
                            mine.push((i, probe(vf), t.elapsed()));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        done.sort_by_key(|&(i, _, _)| i);
        let mut out: Vec<(Result<(), String>, Duration)> = Vec::with_capacity(vfs.len());
        let mut it = done.into_iter().peekable();
        for (i, vf) in vfs.iter().enumerate() {
            match it.next_if(|(j, _, _)| *j == i) {
                Some((_, r, took)) => out.push((r, took)),
                None => out.push((
                    Err(format!(
                        "the thread probing {} stopped before it",
                        vf.address
                    )),
                    Duration::ZERO,
                )),
            }
        }
        out
    }

    fn set_pf_links(&mut self, links: &[(&PfState, bool)]) -> Batch<()> {
        // Subscribe first, so no carrier coming up is missed; then every
        // link, then one wait for all of them (each PF negotiates its link
        // on its own: the wait is the slowest one's, not their sum).
        let mut events = if links.iter().any(|&(_, up)| up) {
            netlink_vf::LinkEvents::new().ok()
        } else {
            None
        };
        let mut waiting = Vec::new();
        let results = links
            .iter()
            .map(|&(pf, up)| {
                let t = Instant::now();
                let r = pf
                    .netdevs
                    .first()
                    .ok_or_else(|| format!("PF {} has no netdev", pf.address))
                    .cloned()
                    .and_then(|name| self.index_of(&name))
                    .and_then(|idx| {
                        self.nl()?.set_up(idx, up).map_err(|e| chain(&e))?;
                        if up {
                            waiting.push(idx);
                        }
                        Ok(())
                    });
                (r, t.elapsed())
            })
            .collect();
        let link_wait = match events.take().filter(|_| !waiting.is_empty()) {
            Some(ev) => {
                self.carrier_watch = Some((ev, waiting));
                self.timed_carrier_wait()
            }
            None => Duration::ZERO,
        };
        Batch { results, link_wait }
    }

    fn reload_driver(&mut self, vf: &VfState, force: bool) -> Result<(), String> {
        self.sysfs
            .reload_driver(&pci(&vf.address)?, force)
            .map(|_| ())
            .map_err(|e| chain(&e))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        let idx = self.index_of(from)?;
        let to = IfName::new(to).map_err(|e| chain(&e))?;
        self.nl()?.set_name(idx, &to).map_err(|e| chain(&e))
    }

    fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), String> {
        let idx = self.index_of(link)?;
        self.nl()?.set_mtu(idx, mtu).map_err(|e| chain(&e))
    }

    fn set_promisc(&mut self, link: &str, on: bool) -> Result<(), String> {
        let idx = self.index_of(link)?;
        self.nl()?.set_promisc(idx, on).map_err(|e| chain(&e))
    }

    fn set_up(&mut self, link: &str, up: bool) -> Result<(), String> {
        let idx = self.index_of(link)?;
        self.nl()?.set_up(idx, up).map_err(|e| chain(&e))
    }

    fn add_address(&mut self, link: &str, addr: IpNet) -> Result<(), String> {
        let idx = self.index_of(link)?;
        let p = IpPrefix::new(addr.addr, addr.prefix).map_err(|e| chain(&e))?;
        self.nl()?
            .ensure_address(idx, &p)
            .map(|_| ())
            .map_err(|e| chain(&e))
    }

    fn del_address(&mut self, link: &str, addr: IpNet) -> Result<(), String> {
        let idx = self.index_of(link)?;
        let prefix = IpPrefix::new(addr.addr, addr.prefix).map_err(|e| chain(&e))?;
        self.nl()?.del_address(idx, &prefix).map_err(|e| chain(&e))
    }

    fn add_default_route(&mut self, link: &str, gateway: IpAddr) -> Result<(), String> {
        let idx = self.index_of(link)?;
        // Replace, not add: a default route via another gateway or device
        // (the old one after a config edit) would make a plain add fail with
        // EEXIST and leave the host on the old route.
        self.nl()?
            .replace_route(&RouteSpec::default_via(gateway, Some(idx)))
            .map_err(|e| chain(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real kernel in a private network namespace: veths take the VF
    /// netdev's part for rename/MTU/promisc/up/address/route, and the PF's part
    /// for a VF request (which veth answers with EOPNOTSUPP).
    #[test]
    fn link_operations_in_a_netns() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED link_operations_in_a_netns: needs root (CAP_NET_ADMIN for a private netns)");
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut host = LiveHost::new(Path::new("/"));
            {
                let nl = host.nl().unwrap();
                nl.create_veth(&IfName::new("vt0").unwrap(), &IfName::new("vt1").unwrap())
                    .unwrap();
            }
            host.rename("vt0", "eth0pve050").unwrap();
            host.set_mtu("eth0pve050", 9000).unwrap();
            host.set_promisc("eth0pve050", true).unwrap();
            host.set_up("eth0pve050", true).unwrap();
            host.set_up("vt1", true).unwrap();
            let a: IpNet = "10.0.50.100/24".parse().unwrap();
            host.add_address("eth0pve050", a).unwrap();
            host.add_address("eth0pve050", a).unwrap(); // idempotent
            let gw: IpAddr = "10.0.50.1".parse().unwrap();
            host.add_default_route("eth0pve050", gw).unwrap();
            host.add_default_route("eth0pve050", gw).unwrap();
            let st = host.read_state().unwrap();
            assert!(st.links.contains("eth0pve050") && !st.links.contains("vt0"));
            assert_eq!(
                st.default_routes,
                Some(vec![(gw, "eth0pve050".to_string())])
            );
            let l = host
                .nl()
                .unwrap()
                .link_by_name(&IfName::new("eth0pve050").unwrap())
                .unwrap();
            assert!(l.up && l.promisc);
            assert_eq!(l.mtu, Some(9000));

            // A VF request to a device without VFs: refused per VF and attribute.
            let pf = PfState {
                netdevs: vec!["vt1".into()],
                ..PfState::default()
            };
            let want = VfWant {
                index: 0,
                vlan: Some(VlanSpec {
                    vlan: 50,
                    qos: 0,
                    proto: VlanProto::Dot1Q,
                }),
                ..VfWant::default()
            };
            let fails = host.set_vf_attrs(&pf, &[want]).unwrap();
            assert_eq!(fails.len(), 1, "{fails:?}");
            assert_eq!((fails[0].0, fails[0].1.as_str()), (0, "vlan"));
            assert!(
                fails[0].2.contains("EOPNOTSUPP") || fails[0].2.contains("not supported"),
                "{}",
                fails[0].2
            );
        })
        .join()
        .unwrap();
    }

    /// The threaded probe path on a fixture tree (no kernel: a probe there
    /// succeeds unless the VF's device is gone): one answer per VF, in the
    /// VFs' order, each failure naming its own VF, however the threads
    /// interleave.
    #[test]
    fn probes_on_threads_answer_for_each_vf_in_order() {
        use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};
        let pf: PciAddress = "0000:03:00.0".parse().unwrap();
        let fx = HostBuilder::new()
            .pf(PfSpec::intel_x710(pf).vfs(20).vf_driver(VfDriver::None))
            .build()
            .unwrap();
        let mut host = LiveHost::new(fx.root());
        let state = host.read_state().unwrap();
        let vfs: Vec<&VfState> = state.pfs[0].vfs.iter().collect();
        // More VFs than threads: each thread takes several in turn.
        assert!(vfs.len() == 20 && PROBE_THREADS < vfs.len());
        // Two VFs vanish before they are probed.
        for i in [2, 13] {
            fx.remove(&format!("sys/bus/pci/devices/{}", vfs[i].address))
                .unwrap();
        }
        let got = host.probe_vfs(&vfs);
        assert_eq!(got.len(), 20);
        for (i, (r, _)) in got.iter().enumerate() {
            if i == 2 || i == 13 {
                let e = r.as_ref().unwrap_err();
                assert!(e.contains(&vfs[i].address), "VF {i}: {e}");
            } else {
                assert!(r.is_ok(), "VF {i}: {r:?}");
            }
        }
        // Each probe that ran asked for the kernel's own driver: the
        // fixture's "(null)" override was overwritten with an empty one.
        for (i, vf) in vfs.iter().enumerate().filter(|(i, _)| *i != 2 && *i != 13) {
            let a: PciAddress = vf.address.parse().unwrap();
            assert_eq!(fx.read_attr(&a, "driver_override").unwrap(), "", "VF {i}");
        }
    }
}
