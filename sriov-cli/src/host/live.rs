//! The live host: [`Host`] on sysfs-sriov, netlink-vf and iommu-check. Every
//! method is a library call; the sequencing is the libraries'.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netlink_vf::{CarrierWatch, Handle, IfName, IpPrefix, RouteSpec, VfConfig};
use sysfs_sriov::{CountOptions, DriverTarget, PciAddress, PfImpact, Sysfs, Timed};

use super::{
    read::{read_state, refresh_netlink},
    Detail, Host, HostError, Resets, VfFailures, VF_WAIT,
};
use crate::config::DriverSpec;
use crate::state::{HostState, PfState, VfState};

/// How many VFs are probed at a time (a VF driver such as mlx5_core takes
/// long per VF, and the kernel probes different devices independently).
const PROBE_THREADS: usize = 8;

/// Whether `root` is the running system's `/` (also when written `/./` or
/// through a symlink): only then do netlink and sysfs describe the same host.
pub fn is_live_root(root: &Path) -> bool {
    root.canonicalize().is_ok_and(|p| p == Path::new("/"))
}

/// sysfs always; netlink only on the live system (the kernel's netlink is not
/// rooted, so it would describe the wrong host for a fixture tree).
pub struct LiveHost {
    sysfs: Sysfs,
    root: PathBuf,
    live: bool,
    nl: Result<Handle, String>,
    /// Links watched for their carrier, with their PFs' labels.
    watch: Option<(CarrierWatch, Vec<(u32, String)>)>,
}

impl LiveHost {
    /// Opens the host at `root` (netlink too, when `root` is the live `/`).
    pub fn new(root: &Path) -> Self {
        let live = is_live_root(root);
        let nl = if live {
            Handle::new().map_err(|e| {
                format!(
                    "netlink is unavailable ({}), so VF attributes, links, addresses and routes are unknown",
                    super::chain(&e)
                )
            })
        } else {
            Err(format!(
                "--root {} is not /, so netlink is not used: VF attributes, link state, addresses and routes show as unavailable",
                root.display()
            ))
        };
        LiveHost {
            sysfs: Sysfs::with_root(root),
            root: root.to_path_buf(),
            live,
            nl,
            watch: None,
        }
    }

    fn nl(&mut self) -> Result<&mut Handle, HostError> {
        self.nl
            .as_mut()
            .map_err(|why| HostError::NoNetlink(why.clone()))
    }

    fn index_of(&mut self, name: &str) -> Result<u32, HostError> {
        let n = ifname(name)?;
        Ok(self.nl()?.index_of(&n)?)
    }

    fn pf_index(&mut self, pf: &PfState, why: &'static str) -> Result<u32, HostError> {
        let name = pf.netdevs.first().ok_or(HostError::NoNetdev {
            pf: pf.address,
            why,
        })?;
        self.index_of(name)
    }
}

fn ifname(name: &str) -> Result<IfName, HostError> {
    IfName::new(name).map_err(|source| HostError::BadName {
        name: name.to_string(),
        source,
    })
}

fn count(n: u32) -> Result<u16, HostError> {
    u16::try_from(n).map_err(|_| HostError::CountTooLarge(n))
}

fn driver_target(d: &DriverSpec) -> DriverTarget {
    match d {
        DriverSpec::VfioPci => DriverTarget::VfioPci,
        DriverSpec::Default => DriverTarget::Default,
        DriverSpec::Named(n) => DriverTarget::Named(n.clone()),
    }
}

fn unit<T, E: Into<HostError>>(t: Timed<Result<T, E>>) -> Timed<Result<(), HostError>> {
    Timed {
        value: t.value.map(drop).map_err(Into::into),
        took: t.took,
    }
}

impl Host for LiveHost {
    fn live(&self) -> bool {
        self.live
    }

    fn netlink_note(&self) -> Option<String> {
        self.nl.as_ref().err().cloned()
    }

    fn read(&mut self, detail: Detail) -> Result<HostState, HostError> {
        read_state(&self.sysfs, &self.root, self.nl.as_mut().ok(), detail)
    }

    fn refresh(&mut self, mut st: HostState) -> Result<HostState, HostError> {
        match self.nl.as_mut() {
            Ok(nl) if st.netlink => {
                refresh_netlink(nl, &mut st)?;
                Ok(st)
            }
            _ => self.read(Detail::Plan),
        }
    }

    fn find_pf(&self, spec: &str) -> Result<PciAddress, HostError> {
        Ok(self.sysfs.find_pf(spec)?.address)
    }

    fn watch_carriers(&mut self, pfs: &[&PfState]) -> Result<(), HostError> {
        self.watch = None;
        let mut links = Vec::new();
        for pf in pfs {
            links.push((self.pf_index(pf, " to watch")?, pf.label()));
        }
        if links.is_empty() {
            return Ok(());
        }
        let indexes: Vec<u32> = links.iter().map(|(i, _)| *i).collect();
        self.watch = Some((CarrierWatch::new(&indexes)?, links));
        Ok(())
    }

    fn wait_carriers(&mut self, timeout: Duration) -> Result<Vec<String>, HostError> {
        let Some((watch, links)) = self.watch.take() else {
            return Ok(Vec::new());
        };
        let outcome = watch.wait(self.nl()?, timeout)?;
        Ok(links
            .into_iter()
            .filter(|(i, _)| outcome.not_back.contains(i))
            .map(|(_, label)| label)
            .collect())
    }

    fn set_pf_links(&mut self, links: &[(&PfState, bool)]) -> Vec<Timed<Result<(), HostError>>> {
        links
            .iter()
            .map(|&(pf, up)| {
                let t = std::time::Instant::now();
                let value = self
                    .pf_index(pf, " to bring up or down")
                    .and_then(|i| Ok(self.nl()?.set_up(i, up)?));
                Timed {
                    value,
                    took: t.elapsed(),
                }
            })
            .collect()
    }

    fn set_num_vfs(
        &mut self,
        writes: &[(&PfState, u32)],
        allow_recreate: bool,
    ) -> Vec<Timed<Result<bool, HostError>>> {
        let mut out: Vec<Option<Timed<Result<bool, HostError>>>> = Vec::new();
        let mut todo = Vec::new();
        for &(pf, n) in writes {
            match count(n) {
                Ok(n) => {
                    todo.push((pf.address, n));
                    out.push(None);
                }
                Err(e) => out.push(Some(Timed {
                    value: Err(e),
                    took: Duration::ZERO,
                })),
            }
        }
        let opts = CountOptions {
            allow_recreate,
            defer_probe: true,
        };
        let mut done = self.sysfs.write_counts(&todo, opts).into_iter();
        out.into_iter()
            .map(|slot| {
                slot.or_else(|| {
                    done.next().map(|t| Timed {
                        value: t.value.map(|d| d.probe_deferred).map_err(Into::into),
                        took: t.took,
                    })
                })
                .unwrap_or(Timed {
                    value: Err(HostError::CountTooLarge(u32::MAX)),
                    took: Duration::ZERO,
                })
            })
            .collect()
    }

    fn wait_for_vfs(
        &mut self,
        pf: &PfState,
        n: u32,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<(), HostError> {
        self.sysfs
            .wait_for_vfs(&pf.address, count(n)?, VF_WAIT, &mut |p| {
                progress(u32::from(p.ready), u32::from(p.expected));
            })?;
        Ok(())
    }

    fn set_vf_attrs(
        &mut self,
        pf: &PfState,
        configs: &[VfConfig],
    ) -> Result<VfFailures, HostError> {
        let idx = self.pf_index(pf, " to send VF settings to")?;
        let report = self.nl()?.set_vfs(idx, configs)?;
        Ok(report
            .failures()
            .map(|(i, a, e)| (i, a, HostError::Netlink(e.clone())))
            .collect())
    }

    fn bind_driver(&mut self, vf: &VfState, to: &DriverSpec, force: bool) -> Result<(), HostError> {
        self.sysfs
            .bind_driver(&vf.address, &driver_target(to), force)?;
        Ok(())
    }

    fn probe_vfs(&mut self, vfs: &[&VfState]) -> Vec<Timed<Result<(), HostError>>> {
        let addrs: Vec<PciAddress> = vfs.iter().map(|v| v.address).collect();
        self.sysfs
            .probe_vfs(&addrs, PROBE_THREADS)
            .into_iter()
            .map(unit)
            .collect()
    }

    fn reload_driver(&mut self, vf: &VfState, force: bool) -> Result<(), HostError> {
        self.sysfs.reload_driver(&vf.address, force)?;
        Ok(())
    }

    fn rename(&mut self, link: &str, to: &IfName) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        Ok(self.nl()?.set_name(idx, to)?)
    }

    fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        Ok(self.nl()?.set_mtu(idx, mtu)?)
    }

    fn set_promisc(&mut self, link: &str, on: bool) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        Ok(self.nl()?.set_promisc(idx, on)?)
    }

    fn set_up(&mut self, link: &str, up: bool) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        Ok(self.nl()?.set_up(idx, up)?)
    }

    fn add_address(&mut self, link: &str, addr: &IpPrefix) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        self.nl()?.ensure_address(idx, addr)?;
        Ok(())
    }

    fn del_address(&mut self, link: &str, addr: &IpPrefix) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        Ok(self.nl()?.del_address(idx, addr)?)
    }

    fn set_default_route(&mut self, link: &str, gateway: IpAddr) -> Result<(), HostError> {
        let idx = self.index_of(link)?;
        // Replace, not add: a default route via another gateway or device
        // (the old one after a config edit) would make a plain add fail with
        // EEXIST and leave the host on the old route.
        Ok(self
            .nl()?
            .replace_route(&RouteSpec::default_via(gateway, Some(idx)))?)
    }

    fn reset_impact(&self, pfs: &[PciAddress]) -> Result<Vec<PfImpact>, HostError> {
        Ok(self.sysfs.reset_impact(pfs)?)
    }

    fn reset(&mut self, pfs: &[PciAddress]) -> Result<Resets, HostError> {
        Ok(self
            .sysfs
            .reset_pfs(pfs, true)?
            .into_iter()
            .map(|(a, t)| (a, unit(t)))
            .collect())
    }

    fn iommu_report(&self) -> Result<iommu_check::Report, HostError> {
        Ok(iommu_check::check(&self.root)?)
    }

    fn sriov_readiness(&self) -> Result<Vec<sysfs_sriov::Readiness>, HostError> {
        Ok(self.sysfs.sriov_readiness_all()?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use netlink_vf::{VlanConfig, VlanId};

    #[test]
    fn only_a_root_that_resolves_to_slash_is_live() {
        assert!(is_live_root(Path::new("/")));
        assert!(is_live_root(Path::new("/./")));
        assert!(is_live_root(Path::new("/tmp/..")));
        assert!(!is_live_root(Path::new("/tmp")));
        assert!(!is_live_root(Path::new("/nonexistent-sriov-root")));
        let d = tempfile::tempdir().unwrap();
        let up = d.path().join("up");
        std::os::unix::fs::symlink("/", &up).unwrap();
        assert!(is_live_root(&up), "a symlink to / is the live system");
        assert!(!LiveHost::new(d.path()).live());
    }

    /// The real kernel in a private network namespace: veths take the VF
    /// netdev's part for rename/MTU/promisc/up/address/route and the carrier
    /// watch, and the PF's part for a VF request (which veth answers with
    /// EOPNOTSUPP, reported per VF and attribute).
    #[test]
    fn link_operations_in_a_netns() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED link_operations_in_a_netns: needs root (CAP_NET_ADMIN for a private netns)");
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut host = LiveHost::new(Path::new("/"));
            assert!(host.live());
            host.nl()
                .unwrap()
                .create_veth(&IfName::new("vt0").unwrap(), &IfName::new("vt1").unwrap())
                .unwrap();
            let to = IfName::new("eth0pve050").unwrap();
            host.rename("vt0", &to).unwrap();
            host.set_mtu("eth0pve050", 9000).unwrap();
            host.set_promisc("eth0pve050", true).unwrap();
            // Both ends up: the watch sees their carrier.
            let mut pf = PfState::new("0000:01:00.0".parse().unwrap());
            pf.netdevs = vec!["vt1".into()];
            let mut other = pf.clone();
            other.netdevs = vec!["eth0pve050".into()];
            host.watch_carriers(&[&pf, &other]).unwrap();
            host.set_up("eth0pve050", true).unwrap();
            host.set_up("vt1", true).unwrap();
            assert_eq!(
                host.wait_carriers(Duration::from_secs(5)).unwrap(),
                Vec::<String>::new()
            );
            let a: IpPrefix = "10.0.50.100/24".parse().unwrap();
            host.add_address("eth0pve050", &a).unwrap();
            host.add_address("eth0pve050", &a).unwrap(); // idempotent
            let gw: IpAddr = "10.0.50.1".parse().unwrap();
            host.set_default_route("eth0pve050", gw).unwrap();
            host.set_default_route("eth0pve050", gw).unwrap();
            let st = host.read(Detail::Plan).unwrap();
            assert!(st.links.contains("eth0pve050") && !st.links.contains("vt0"));
            assert_eq!(
                st.default_routes,
                Some(vec![(gw, "eth0pve050".to_string())])
            );
            let l = host.nl().unwrap().link_by_name(&to).unwrap();
            assert!(l.up && l.promisc);
            assert_eq!(l.mtu, Some(9000));

            // A VF request to a device without VFs: refused per VF and attribute.
            let want = VfConfig::new(0).vlan(VlanConfig::new(VlanId::new(50).unwrap()));
            let fails = host.set_vf_attrs(&pf, &[want]).unwrap();
            assert_eq!(fails.len(), 1, "{fails:?}");
            assert_eq!((fails[0].0, fails[0].1), (0, netlink_vf::VfAttr::Vlan));
            let e = super::super::chain(&fails[0].2);
            assert!(
                e.contains("EOPNOTSUPP") || e.contains("not supported"),
                "{e}"
            );
            // A watch on a link that stays down: a timeout, said, not an error.
            host.set_up("vt1", false).unwrap();
            host.watch_carriers(&[&pf]).unwrap();
            assert_eq!(
                host.wait_carriers(Duration::from_millis(300)).unwrap(),
                ["vt1"]
            );
        })
        .join()
        .unwrap();
    }
}
