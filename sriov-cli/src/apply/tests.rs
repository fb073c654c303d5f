use super::*;
use crate::config::parse;
use crate::host::fake::{fake, Fake};
use crate::plan::tests::Text;
use crate::state::LinkInfo;
use netlink_vf::MacAddr;
use std::path::Path;
use sysfs_sriov::InUse;

const CFG: &str = "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 0\npromisc = true\nvlan = 0\nname = \"eth0pve0\"\nup = true\n[[pf.vf]]\nindex = 1\nvlan = 50\nname = \"eth0pve050\"\nup = true\naddresses = [\"10.0.50.100/24\"]\ngateway = \"10.0.50.1\"\n[[pf.vf]]\nindex = 3\ndriver = \"vfio-pci\"\nvlan = 60\n";

#[test]
fn applies_in_order_then_converges() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    let mut seen = Vec::new();
    let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
        if let Progress::Vfs { pf, ready, want } = p {
            seen.push(format!("{pf} {ready}/{want}"));
        }
    });
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(seen, ["eno1 4/4"]);
    assert_eq!(
        f.log,
        [
            "numvfs 0000:01:00.0 4",
            "setvfs 0000:01:00.0 [0, 1, 3]",
            // The VFs were created without drivers: their PF-side
            // settings went first, VF 3 goes straight to vfio-pci, the
            // others get their network driver only now.
            "bind 0000:01:10.6 vfio-pci",
            "bind 0000:01:10.0 default",
            "bind 0000:01:10.2 default",
            "bind 0000:01:10.4 default",
            "rename eth1 eth0pve0",
            "promisc eth0pve0 true",
            "up eth0pve0 true",
            "rename eth2 eth0pve050",
            "up eth0pve050 true",
            "addr eth0pve050 10.0.50.100/24",
            "route eth0pve050 10.0.50.1",
        ]
    );
    // Second run: nothing to do.
    let p = plan(&cfg, &f.state, Options::default());
    assert!(p.changes.is_empty(), "{:?}", p.changes);
}

#[test]
fn timings_name_every_phase_and_every_kernel_operation_in_order() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    let lines: Vec<String> = o
        .timings
        .iter()
        .map(|t| format!("{}{}", "  ".repeat(usize::from(t.depth)), t.what))
        .collect();
    let mut want = Vec::new();
    for (step, ops) in [
        ("pf_link", &[][..]),
        ("num_vfs", &["eno1: sriov_numvfs 4"][..]),
        (
            "vf_attrs",
            &["eno1: VF attributes of 3 VFs, one request"][..],
        ),
        (
            "driver",
            &[
                "eno1 vf 3: driver vfio-pci",
                "eno1 vf 0: probe",
                "eno1 vf 1: probe",
                "eno1 vf 2: probe",
                "eno1: wait for the VF netdevs",
            ][..],
        ),
        (
            "link",
            &[
                "eth1: rename to eth0pve0",
                "eth0pve0: promisc on",
                "eth0pve0: up",
                "eth2: rename to eth0pve050",
                "eth0pve050: up",
            ][..],
        ),
        ("address", &["eth0pve050: address 10.0.50.100/24"][..]),
        ("route", &["eth0pve050: route default via 10.0.50.1"][..]),
    ] {
        // pf_link changed nothing: num_vfs plans on its reading; after a
        // phase that changed only what netlink shows, only netlink is read.
        want.push(match step {
            "num_vfs" => "plan (num_vfs; the host is as read before)".to_string(),
            "driver" | "route" => format!("read netlink, plan ({step})"),
            _ => format!("read host, plan ({step})"),
        });
        want.push(step.to_string());
        want.extend(ops.iter().map(|o| format!("  {o}")));
    }
    want.push("read back, verify".into());
    assert_eq!(lines, want);
    assert_eq!(
        (f.reads, f.refreshes),
        (4, 3),
        "a whole reading after a phase that changed sysfs (count, drivers, names) or at the start; netlink only after vf_attrs, address and route"
    );
    // A phase's time covers the operations listed under it.
    let mut phase = None;
    for t in &o.timings {
        match t.depth {
            0 => phase = Some(t.took),
            _ => assert!(
                phase.is_some_and(|p| t.took <= p),
                "{t:?} outside its phase"
            ),
        }
    }
}

#[test]
fn progress_announces_the_count_write_and_whether_a_carrier_wait_follows() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    for carrier in [None, Some(true)] {
        let mut f = fake();
        f.state.pfs[0].carrier = carrier;
        let mut seen = Vec::new();
        let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
            seen.push(match p {
                Progress::NumVfs {
                    pf,
                    from,
                    to,
                    carrier_wait,
                } => format!("{pf} {from}->{to} wait={carrier_wait}"),
                Progress::Vfs { pf, ready, want } => format!("{pf} {ready}/{want}"),
                Progress::Carrier { pf } => format!("{pf} carrier"),
            });
        });
        assert!(o.converged(), "{:#?}", o.changes);
        let wait = carrier == Some(true);
        assert_eq!(seen, [format!("eno1 0->4 wait={wait}"), "eno1 4/4".into()]);
    }
}

#[test]
fn phases_after_one_that_changed_nothing_plan_on_the_same_reading() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
    // An edit of one VLAN: only the VF attribute phase has work.
    let edited = parse(
        &CFG.replacen("vlan = 50", "vlan = 51", 1),
        Path::new("s.toml"),
        "h",
    )
    .unwrap();
    f.reads = 0;
    f.refreshes = 0;
    f.log.clear();
    let o = apply(&edited, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(f.log, ["setvfs 0000:01:00.0 [1]"]);
    // Read for pf_link (reused by num_vfs and vf_attrs); after the VLAN
    // change only netlink is read again, for the driver phase (reused by
    // every later phase and by the read-back, which still sees the new VLAN).
    assert_eq!((f.reads, f.refreshes), (1, 1));
    let vlan = o.changes.iter().find(|c| c.attr() == "vlan").unwrap();
    assert_eq!(vlan.status, Status::Applied);
    assert_eq!(vlan.detail, None);

    // A read-back on a reused reading still catches what the driver ignored.
    let again = parse(
        &CFG.replacen("vlan = 50", "vlan = 52", 1),
        Path::new("s.toml"),
        "h",
    )
    .unwrap();
    f.ignore = vec!["vlan"];
    let o = apply(&again, &mut f, Options::default(), &mut |_| {});
    let vlan = o.changes.iter().find(|c| c.attr() == "vlan").unwrap();
    assert_eq!(vlan.status, Status::Ignored, "{vlan:?}");
    assert!(!o.converged());
}

#[test]
fn a_pf_with_up_is_brought_up_before_its_vfs_exist() {
    let text = CFG.replacen("num_vfs = 4\n", "num_vfs = 4\nup = true\n", 1);
    let cfg = parse(&text, Path::new("s.toml"), "h").unwrap();
    assert_eq!(cfg.pfs[0].up, Some(true));
    let mut f = fake();
    f.state.pfs[0].up = Some(false);
    let mut seen = Vec::new();
    let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
        seen.push(format!("{p:?}"));
    });
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(seen[0], "Carrier { pf: \"eno1\" }", "{seen:?}");
    assert_eq!(
        &f.log[..2],
        ["pf 0000:01:00.0 up true", "numvfs 0000:01:00.0 4"]
    );
    let c = &o.changes[0];
    assert_eq!(
        (c.step(), c.vf, c.attr(), c.from(), c.to()),
        (Step::PfLink, None, "up", Some("down".into()), "up".into())
    );
    // Converged: nothing more.
    f.log.clear();
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged() && o.changes.is_empty(), "{:#?}", o.changes);
    assert!(f.log.is_empty(), "{:?}", f.log);
    // A PF without a netdev cannot be brought up: refused before anything.
    f.state.pfs[0].netdevs.clear();
    let by_pci = text.replacen("name = \"eno1\"", "pci = \"0000:01:00.0\"", 1);
    let cfg = parse(&by_pci, Path::new("s.toml"), "h").unwrap();
    let p = plan(&cfg, &f.state, Options::default());
    assert!(
        p.errors
            .iter()
            .any(|e| e.contains("`up` needs the PF's netdev")),
        "{:?}",
        p.errors
    );
}

#[test]
fn an_unbound_vf_gets_its_network_driver_back_before_its_link_settings() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
    // Someone unbinds VF 1 (eth0pve050) from igbvf.
    let v = &mut f.state.pfs[0].vfs[1];
    let name = v.netdev.take().unwrap();
    v.driver = None;
    v.link = None;
    f.state.links.remove(&name);
    let p = plan(&cfg, &f.state, Options::default());
    assert!(
        p.changes.iter().any(|c| c.attr() == "driver"
            && c.vf == Some(1)
            && c.from().as_deref() == Some("(none)")
            && c.to() == "default"),
        "{:?}",
        p.changes
    );
    f.log.clear();
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(
        f.log,
        [
            "bind 0000:01:10.2 default",
            "rename eth101 eth0pve050",
            "up eth0pve050 true",
            "addr eth0pve050 10.0.50.100/24",
        ]
    );
    // A fresh host reports no such driver changes: new VFs are probed
    // as part of their creation.
    let mut f = fake();
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(
        !o.changes
            .iter()
            .any(|c| c.attr() == "driver" && c.to() == "default"),
        "{:?}",
        o.changes
    );
}

#[test]
fn with_autoprobe_off_the_kernel_is_left_to_bind() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = Fake {
        autoprobe: false,
        ..fake()
    };
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert!(
        !f.log.iter().any(|l| l.ends_with(" default")),
        "{:?}",
        f.log
    );
    assert_eq!(
        &f.log[..3],
        [
            "numvfs 0000:01:00.0 4",
            "setvfs 0000:01:00.0 [0, 1, 3]",
            "bind 0000:01:10.6 vfio-pci"
        ]
    );
}

#[test]
fn a_vf_whose_vfio_bind_fails_is_not_given_the_network_driver() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    f.refuse.push("bind:vfio-pci");
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(!o.converged());
    let failed: Vec<_> = o
        .changes
        .iter()
        .filter(|c| c.status == Status::Failed)
        .map(|c| (c.vf, c.attr()))
        .collect();
    assert_eq!(failed, [(Some(3), "driver")]);
    assert!(
        !f.log.iter().any(|l| l == "bind 0000:01:10.6 default"),
        "{:?}",
        f.log
    );
    assert_eq!(f.state.pfs[0].vfs[3].driver, None);
    assert!(f.log.iter().any(|l| l == "bind 0000:01:10.0 default"));
}

#[test]
fn a_stale_vf_mac_reloads_the_driver_and_setup_restores_the_netdev() {
    let cfg = parse(
        "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\nmac = \"02:00:00:00:00:01\"\nname = \"lan\"\nup = true\n",
        Path::new("s.toml"),
        "h",
    )
    .unwrap();
    let mut f = fake();
    assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
    // The VF driver kept an older MAC (it probed before the PF set this
    // one), the netdev is up, the PF has carrier.
    f.state.pfs[0].carrier = Some(true);
    let stale: MacAddr = "02:aa:00:00:00:09".parse().unwrap();
    let v = &mut f.state.pfs[0].vfs[1];
    v.link.get_or_insert_with(LinkInfo::default).mac = Some(stale);
    v.link.get_or_insert_with(LinkInfo::default).up = true;
    v.in_use = vec![InUse::NetdevUp {
        netdev: "lan".into(),
    }];
    f.log.clear();

    // In use: the dry run plans it with the reason; setup skips it.
    let p = plan(&cfg, &f.state, Options::default());
    let planned = p.changes.iter().find(|c| c.attr() == "reload").unwrap();
    assert_eq!(planned.status, Status::Planned);
    assert!(planned.reload_blocked());
    assert!(p.warnings.iter().any(|w| w.contains("--force-unbind")));
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(!o.converged());
    let c = o.changes.iter().find(|c| c.attr() == "reload").unwrap();
    assert_eq!(c.status, Status::Skipped);
    assert_eq!(c.from().as_deref(), Some("02:aa:00:00:00:09"));
    let d = c.detail.as_deref().unwrap();
    assert!(d.contains("--force-unbind") && d.contains("lan"), "{d}");
    assert!(
        !f.log.iter().any(|l| l.starts_with("reload")),
        "{:?}",
        f.log
    );

    // Forced: reloaded, then renamed back and brought up again.
    let force = Options {
        force_unbind: true,
        ..Options::default()
    };
    let o = apply(&cfg, &mut f, force, &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(
        f.log,
        ["reload 0000:01:10.2", "rename eth101 lan", "up lan true"]
    );
    let mac = f.state.pfs[0].vfs[1].link.as_ref().and_then(|l| l.mac);
    assert_eq!(mac, Some("02:00:00:00:00:01".parse().unwrap()));

    // Without carrier on the PF a reload would not help: none planned.
    f.state.pfs[0].carrier = Some(false);
    f.state.pfs[0].vfs[1].link.as_mut().unwrap().mac = Some(stale);
    let p = plan(&cfg, &f.state, force);
    assert!(
        !p.changes.iter().any(|c| c.attr() == "reload"),
        "{:?}",
        p.changes
    );
}

#[test]
fn a_vf_bound_before_its_mac_was_set_is_reloaded_in_the_same_run() {
    // The replug boot of the systemd guest (backports): igbvf was not
    // loaded, udev loaded it on the VFs' "add" events, and it bound VF 1
    // after the count write, before setup set VF 1's MAC; its netdev came
    // up with a made-up MAC after the driver phase had read the host.
    let cfg = parse(
        "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n[[pf.vf]]\nindex = 1\nmac = \"02:00:00:00:00:01\"\nname = \"lan\"\n",
        Path::new("s.toml"),
        "h",
    )
    .unwrap();
    let mut f = Fake {
        bound_early: vec![1],
        ..fake()
    };
    f.state.pfs[0].carrier = Some(true);
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(
        f.log,
        [
            "numvfs 0000:01:00.0 4",
            "setvfs 0000:01:00.0 [1]",
            "bind 0000:01:10.0 default",
            "bind 0000:01:10.4 default",
            "bind 0000:01:10.6 default",
            "reload 0000:01:10.2",
            "rename eth101 lan",
        ]
    );
    let c = o.changes.iter().find(|c| c.attr() == "reload").unwrap();
    assert_eq!(c.status, Status::Applied);
    assert_eq!(c.from().as_deref(), Some("02:bb:00:00:00:01"));
    let mac = f.state.pfs[0].vfs[1].link.as_ref().and_then(|l| l.mac);
    assert_eq!(mac, Some("02:00:00:00:00:01".parse().unwrap()));
    // The extra reading is timed under its own name.
    assert!(o
        .timings
        .iter()
        .any(|t| t.what == "read host, plan again (VFs bound before their MAC was set, reloaded)"));
    // Nothing left for a second run.
    let p = plan(&cfg, &f.state, Options::default());
    assert!(p.changes.is_empty(), "{:?}", p.changes);
}

#[test]
fn refused_and_ignored_are_reported_per_vf_and_the_rest_applies() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    f.refuse = vec!["trust"];
    f.ignore = vec!["vlan"];
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(!o.converged());
    let st: Vec<String> = o
        .changes
        .iter()
        .filter(|c| c.status != Status::Applied)
        .map(|c| {
            format!(
                "{} {:?} {} {}",
                c.status,
                c.vf,
                c.attr(),
                c.detail.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        st,
        [
            "refused Some(0) trust Operation not supported (EOPNOTSUPP)",
            "ignored Some(1) vlan accepted, but reads back as 0",
            "ignored Some(3) vlan accepted, but reads back as 0",
        ]
    );
    assert!(f.log.contains(&"route eth0pve050 10.0.50.1".to_string()));
}

#[test]
fn a_vf_brought_up_during_setup_fails_alone_at_bind() {
    // Validation saw no VFs; a network manager brings VF 3 up as soon as it
    // exists. The re-plan is not fatal: the bind (without --force-unbind)
    // refuses that VF and everything else applies.
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    f.up_on_create = vec![3];
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.fatal.is_none(), "{:?}", o.fatal);
    assert!(!o.converged());
    let bad: Vec<String> = o
        .changes
        .iter()
        .filter(|c| c.status != Status::Applied)
        .map(|c| format!("{} {:?} {}", c.status, c.vf, c.attr()))
        .collect();
    assert_eq!(bad, ["failed Some(3) driver"]);
    assert!(f.log.contains(&"route eth0pve050 10.0.50.1".to_string()));
    // With --force-unbind the bind goes through.
    let mut f = fake();
    f.up_on_create = vec![3];
    let forced = Options {
        force_unbind: true,
        ..Options::default()
    };
    let o = apply(&cfg, &mut f, forced, &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
}

/// The fake host with a second PF (`eno2` at 0000:02:00.0, no VFs yet).
fn fake_two_pfs() -> Fake {
    let mut f = fake();
    let mut second = f.state.pfs[0].clone();
    second.address = "0000:02:00.0".parse().unwrap();
    second.netdevs = vec!["eno2".into()];
    f.state.pfs.push(second);
    f.state.links.insert("eno2".into());
    f
}

const TWO_PFS: &str = "[[pf]]\nname = \"eno1\"\nnum_vfs = 4\nup = true\n[[pf]]\npci = \"0000:02:00.0\"\nnum_vfs = 2\nup = true\n";

#[test]
fn the_links_and_counts_of_several_pfs_are_set_together() {
    let cfg = parse(TWO_PFS, Path::new("s.toml"), "h").unwrap();
    let mut f = fake_two_pfs();
    let mut counts = Vec::new();
    let o = apply(&cfg, &mut f, Options::default(), &mut |p| {
        if let Progress::NumVfs { pf, to, .. } = p {
            counts.push(format!("{pf} {to}"));
        }
    });
    assert!(o.converged(), "{:#?}", o.changes);
    // Both links, then both counts (one call each: the live host writes
    // them on a thread per PF), then the probes of all six VFs.
    assert_eq!(
        f.log[..4],
        [
            "pf 0000:01:00.0 up true",
            "pf 0000:02:00.0 up true",
            "numvfs 0000:01:00.0 4",
            "numvfs 0000:02:00.0 2",
        ]
    );
    assert_eq!(f.log.len(), 4 + 6, "{:?}", f.log);
    assert_eq!(counts, ["eno1 4", "0000:02:00.0 2"]);
    assert_eq!(f.state.pfs[1].num_vfs, 2);
    assert_eq!(f.state.pfs[1].vfs[1].netdev.as_deref(), Some("eth12"));
    let lines: Vec<&str> = o.timings.iter().map(|t| t.what.as_str()).collect();
    assert!(
        lines.contains(&"eno1: up (at the same time as the other PF)")
            && lines.contains(&"0000:02:00.0: sriov_numvfs 2 (at the same time as the other PF)"),
        "{lines:#?}"
    );
    // One wait for both links after the ups, and after the count writes,
    // named as the config names the PFs.
    let waits = lines
        .iter()
        .filter(|l| **l == "wait for the link of eno1, 0000:02:00.0")
        .count();
    assert_eq!(waits, 2, "{lines:#?}");
    // Again: nothing to do.
    f.log.clear();
    let again = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(again.converged() && f.log.is_empty(), "{:?}", f.log);
}

#[test]
fn one_pf_whose_count_fails_leaves_the_other_pf_set_up() {
    let cfg = parse(TWO_PFS, Path::new("s.toml"), "h").unwrap();
    let mut f = fake_two_pfs();
    f.fail_numvfs_of = Some("0000:01:00.0");
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(!o.converged());
    let failed: Vec<(String, &str)> = o
        .changes
        .iter()
        .filter(|c| c.status != Status::Applied)
        .map(|c| (c.pf_address.to_string(), c.detail.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        failed,
        [(
            "0000:01:00.0".to_string(),
            "Device or resource busy (EBUSY)"
        )]
    );
    assert_eq!(f.state.pfs[0].num_vfs, 0);
    assert_eq!(f.state.pfs[1].num_vfs, 2);
    assert!(f.state.pfs[1]
        .vfs
        .iter()
        .all(|v| v.driver.as_deref() == Some("igbvf")));
}

#[test]
fn a_count_write_without_room_for_the_vf_bars_stops_that_pf_with_the_diagnosis() {
    // Issue 15: ENOMEM from sriov_numvfs ("not enough MMIO resources for
    // SR-IOV"): that PF stops with sysfs-sriov's diagnosis and its fix, the
    // other PF is set up.
    let cfg = parse(TWO_PFS, Path::new("s.toml"), "h").unwrap();
    let mut f = fake_two_pfs();
    f.enomem_of = Some("0000:01:00.0");
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(!o.converged());
    let failed: Vec<&Change> = o
        .changes
        .iter()
        .filter(|c| c.status != Status::Applied)
        .collect();
    assert_eq!(failed[0].pf_address.to_string(), "0000:01:00.0");
    assert_eq!(failed[0].status, Status::Failed);
    let why = failed[0].detail.as_deref().unwrap_or("");
    assert!(
        why.contains("ENOMEM") && why.contains("pci=realloc"),
        "{why}"
    );
    assert!(
        failed
            .iter()
            .all(|c| c.pf_address.to_string() == "0000:01:00.0"),
        "{failed:#?}"
    );
    assert_eq!(f.state.pfs[1].num_vfs, 2);
}

#[test]
fn a_failed_count_skips_the_pf_and_says_why() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    f.fail_numvfs = true;
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(!o.converged());
    assert_eq!(o.changes[0].status, Status::Failed);
    assert_eq!(
        o.changes[0].detail.as_deref(),
        Some("Device or resource busy (EBUSY)")
    );
    assert!(o.changes.len() > 1);
    assert!(
        o.changes[1..].iter().all(|c| c.status == Status::Skipped),
        "{:#?}",
        o.changes
    );
    assert_eq!(f.log, ["numvfs 0000:01:00.0 4"]);
}

/// Issue 12, end to end on the fake host: 4 named VFs, then 6 with the same
/// names and --allow-recreate: the recreate frees the names, the new VFs
/// take them, and the end state is that of a fresh setup of the 6-VF config.
#[test]
fn a_recreate_with_the_same_names_converges_like_a_fresh_setup() {
    let vfs = "[[pf.vf]]\nindex = 0\nname = \"eth0pve0\"\nup = true\n[[pf.vf]]\nindex = 1\nname = \"eth0pve1\"\naddresses = [\"10.0.60.100/24\"]\n";
    let four = parse(
        &format!("[[pf]]\nname = \"eno1\"\nnum_vfs = 4\n{vfs}"),
        Path::new("s.toml"),
        "h",
    )
    .unwrap();
    let six = parse(
        &format!("[[pf]]\nname = \"eno1\"\nnum_vfs = 6\n{vfs}"),
        Path::new("s.toml"),
        "h",
    )
    .unwrap();
    let mut f = fake();
    assert!(apply(&four, &mut f, Options::default(), &mut |_| {}).converged());
    let recreate = Options {
        allow_recreate: true,
        ..Options::default()
    };
    let p = plan(&six, &f.state, recreate);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let o = apply(&six, &mut f, recreate, &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    let mut fresh = fake();
    assert!(apply(&six, &mut fresh, Options::default(), &mut |_| {}).converged());
    let names = |f: &Fake| -> Vec<Option<String>> {
        f.state.pfs[0]
            .vfs
            .iter()
            .map(|v| v.netdev.clone())
            .collect()
    };
    assert_eq!(names(&f), names(&fresh));
    assert_eq!(f.state.links, fresh.state.links);
    assert_eq!(
        f.state.pfs[0].vfs[1].link.as_ref().unwrap().addresses,
        fresh.state.pfs[0].vfs[1].link.as_ref().unwrap().addresses
    );
}

/// The carrier wait: a PF with carrier is watched before its count write;
/// a watch that cannot be set up, and a carrier that does not come back, are
/// said (not swallowed), and setup goes on.
#[test]
fn carrier_watch_failures_and_timeouts_are_reported() {
    let cfg = parse(CFG, Path::new("s.toml"), "h").unwrap();
    let mut f = fake();
    f.state.pfs[0].carrier = Some(true);
    f.no_carrier = vec!["eno1".into()];
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(f.watch_log, ["eno1"]);
    assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
    assert!(
        o.warnings[0].starts_with("no carrier on eno1 after 15 s"),
        "{}",
        o.warnings[0]
    );

    let mut f = fake();
    f.state.pfs[0].carrier = Some(true);
    f.watch_fails = true;
    let o = apply(&cfg, &mut f, Options::default(), &mut |_| {});
    assert!(o.converged(), "{:#?}", o.changes);
    assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
    assert!(
        o.warnings[0]
            .starts_with("cannot watch the links of eno1 (cannot open a netlink socket (EMFILE))"),
        "{}",
        o.warnings[0]
    );
    // A PF without carrier is not waited for.
    let mut f = fake();
    assert!(apply(&cfg, &mut f, Options::default(), &mut |_| {}).converged());
    assert!(f.watch_log.is_empty(), "{:?}", f.watch_log);
}
