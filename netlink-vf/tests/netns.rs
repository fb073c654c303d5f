//! Real-kernel tests: every test runs in its own private network namespace
//! (unshare(CLONE_NEWNET) on its own thread), makes veth pairs, and checks the
//! result through the client *and* through `ip -j` run inside the same namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{in_netns, ip, ip_flags, ip_json, ip_link, name, veth};
use netlink_vf::{
    CarrierOutcome, CarrierWatch, Error, Handle, IpPrefix, LinkChange, LinkEvent, LinkEvents,
    LinkState, MacAddr, OperState, Request, RouteSpec, VfAttr, VfConfig, VlanConfig, VlanId,
    VlanProto,
};

#[test]
fn ip_child_process_sees_the_test_namespace() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        veth(&mut h, "nsprobe0", "nsprobe1");
        let links = ip_json(&["link", "show"]);
        let names: Vec<&str> = links
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap())
            .collect();
        // lo + the pair, nothing of the host
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"nsprobe0") && names.contains(&"nsprobe1"));
        let ours: Vec<String> = h
            .links()
            .unwrap()
            .into_iter()
            .map(|l| l.name.to_string())
            .collect();
        assert_eq!(ours.len(), 3, "{ours:?}");
    });
}

#[test]
fn name_index_up_promisc_mtu_mac() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "va0", "va1");
        assert_eq!(h.name_of(a).unwrap().as_str(), "va0");
        assert_eq!(h.index_of(&name("va1")).unwrap(), b);
        assert_eq!(ip_link("va0")["ifindex"], a);
        let l = h.link_by_index(a).unwrap();
        assert_eq!(l.kind.as_deref(), Some("veth"));
        assert_eq!(l.link, Some(b));
        assert!(!l.up);

        h.set_up(a, true).unwrap();
        h.set_up(b, true).unwrap();
        assert!(h.link_by_index(a).unwrap().up);
        assert!(ip_flags("va0").contains(&"UP".to_string()));

        h.set_promisc(a, true).unwrap();
        assert!(h.link_by_index(a).unwrap().promisc);
        assert!(ip_flags("va0").contains(&"PROMISC".to_string()));
        h.set_promisc(a, false).unwrap();
        assert!(!h.link_by_index(a).unwrap().promisc);
        assert!(!ip_flags("va0").contains(&"PROMISC".to_string()));

        h.set_mtu(a, 9000).unwrap();
        assert_eq!(h.link_by_index(a).unwrap().mtu, Some(9000));
        assert_eq!(ip_link("va0")["mtu"], 9000);
        let e = h.set_mtu(a, 10).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        // NETLINK_EXT_ACK is on: the kernel's reason comes back with the errno
        let ext = e.ext_ack().unwrap_or_default().to_ascii_lowercase();
        assert!(ext.contains("mtu"), "ext ack: {e}");
        assert!(e.to_string().contains("EINVAL"), "{e}");

        let mac: MacAddr = "02:00:00:aa:bb:01".parse().unwrap();
        h.set_mac(a, mac).unwrap();
        assert_eq!(h.link_by_index(a).unwrap().mac, Some(mac));
        assert_eq!(ip_link("va0")["address"], "02:00:00:aa:bb:01");
        let e = h
            .set_mac(a, "01:00:5e:00:00:01".parse().unwrap())
            .unwrap_err();
        assert!(e.kernel().is_some(), "{e:?}");

        h.set_up(a, false).unwrap();
        assert!(!h.link_by_index(a).unwrap().up);
        assert!(!ip_flags("va0").contains(&"UP".to_string()));

        let e = h.link_by_name(&name("nosuch0")).unwrap_err();
        assert!(matches!(e, Error::NoDevice(_)), "{e:?}");
        assert!(e.to_string().contains("nosuch0"), "{e}");
        let e = h.set_up(9999, true).unwrap_err();
        assert!(matches!(e, Error::NoDevice(_)), "{e:?}");
    });
}

#[test]
fn rename_restores_up_state() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, _b) = veth(&mut h, "rn0", "rn1");
        // down link: plain rename
        h.set_name(a, &name("renamed0")).unwrap();
        assert_eq!(h.name_of(a).unwrap().as_str(), "renamed0");
        assert!(!h.link_by_index(a).unwrap().up);
        // up link: kernels before 6.2 refuse a live rename (EBUSY), newer
        // ones allow it; either way set_name ends renamed and up.
        h.set_up(a, true).unwrap();
        match h.execute(Request::set_name(a, &name("direct0"))) {
            Ok(()) => h.set_name(a, &name("renamed0")).unwrap(),
            Err(e) => assert!(matches!(e, Error::Busy(_)), "{e:?}"),
        }
        h.set_name(a, &name("eth1lxc9999v050")).unwrap();
        let l = h.link_by_index(a).unwrap();
        assert_eq!(l.name.as_str(), "eth1lxc9999v050");
        assert!(l.up);
        let j = ip_link("eth1lxc9999v050");
        assert_eq!(j["ifindex"], a);
        assert!(ip_flags("eth1lxc9999v050").contains(&"UP".to_string()));
        // name taken: typed EEXIST, and the link is still up under its old name
        let e = h.set_name(a, &name("rn1")).unwrap_err();
        assert!(matches!(e, Error::Exists(_)), "{e:?}");
        let l = h.link_by_index(a).unwrap();
        assert_eq!(l.name.as_str(), "eth1lxc9999v050");
        assert!(l.up);
    });
}

fn ip_addrs(dev: &str) -> Vec<String> {
    let v = ip_json(&["addr", "show", "dev", dev]);
    v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

#[test]
fn ipv4_and_ipv6_addresses() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, _) = veth(&mut h, "ad0", "ad1");
        let v4: IpPrefix = "10.0.50.100/24".parse().unwrap();
        let v6: IpPrefix = "fd00:50::100/64".parse().unwrap();
        h.add_address(a, &v4).unwrap();
        h.add_address(a, &v6).unwrap();
        let mine: Vec<IpPrefix> = h
            .addresses(Some(a))
            .unwrap()
            .into_iter()
            .map(|x| x.prefix)
            .collect();
        assert!(mine.contains(&v4) && mine.contains(&v6), "{mine:?}");
        let theirs = ip_addrs("ad0");
        assert!(theirs.contains(&v4.to_string()), "{theirs:?}");
        assert!(theirs.contains(&v6.to_string()), "{theirs:?}");

        let e = h.add_address(a, &v4).unwrap_err();
        assert!(matches!(e, Error::Exists(_)), "{e:?}");
        assert!(!h.ensure_address(a, &v4).unwrap());
        let extra: IpPrefix = "10.0.51.1/24".parse().unwrap();
        assert!(h.ensure_address(a, &extra).unwrap());

        h.del_address(a, &v4).unwrap();
        h.del_address(a, &v6).unwrap();
        let theirs = ip_addrs("ad0");
        assert!(
            !theirs.contains(&v4.to_string()) && !theirs.contains(&v6.to_string()),
            "{theirs:?}"
        );
        assert!(theirs.contains(&extra.to_string()));
        let e = h.del_address(a, &v4).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e:?}");
        // addresses(None) lists every link's
        assert!(h
            .addresses(None)
            .unwrap()
            .iter()
            .any(|x| x.prefix == extra && x.index == a));
    });
}

#[test]
fn routes_default_and_via_gateway() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "rt0", "rt1");
        h.set_up(a, true).unwrap();
        h.set_up(b, true).unwrap();
        h.add_address(a, &"10.1.0.1/24".parse().unwrap()).unwrap();
        h.add_address(a, &"fd01::1/64".parse().unwrap()).unwrap();

        let gw: IpAddr = "10.1.0.254".parse().unwrap();
        let def = RouteSpec::default_via(gw, Some(a));
        h.add_route(&def).unwrap();
        let net = RouteSpec::via(
            "10.2.0.0/24".parse().unwrap(),
            "10.1.0.2".parse().unwrap(),
            None,
        );
        h.add_route(&net).unwrap();
        let gw6: IpAddr = "fd01::fe".parse().unwrap();
        let def6 = RouteSpec::default_via(gw6, Some(a));
        h.add_route(&def6).unwrap();
        let dev = RouteSpec::dev("10.3.0.0/16".parse().unwrap(), a);
        h.add_route(&dev).unwrap();

        let routes = h.routes().unwrap();
        for spec in [&def, &net, &def6, &dev] {
            assert!(
                routes.iter().any(|r| r.matches(spec)),
                "{spec:?} not in {routes:?}"
            );
        }
        let d = routes
            .iter()
            .find(|r| r.is_default() && r.gateway == Some(gw))
            .unwrap();
        assert_eq!(d.oif, Some(a));
        let n = routes.iter().find(|r| r.matches(&net)).unwrap();
        assert_eq!(n.oif, Some(a), "kernel resolved the output device");

        // independent reader
        let j = ip_json(&["route", "show"]);
        let arr = j.as_array().unwrap();
        assert!(
            arr.iter().any(|r| r["dst"] == "default"
                && r["gateway"] == "10.1.0.254"
                && r["dev"] == "rt0"),
            "{j}"
        );
        assert!(
            arr.iter()
                .any(|r| r["dst"] == "10.2.0.0/24" && r["gateway"] == "10.1.0.2"),
            "{j}"
        );
        assert!(
            arr.iter()
                .any(|r| r["dst"] == "10.3.0.0/16" && r["dev"] == "rt0" && r["scope"] == "link"),
            "{j}"
        );
        let j6 = ip_json(&["-6", "route", "show"]);
        assert!(
            j6.as_array()
                .unwrap()
                .iter()
                .any(|r| r["dst"] == "default" && r["gateway"] == "fd01::fe"),
            "{j6}"
        );

        // idempotence: typed EEXIST, ensure_route reports "already there"
        let e = h.add_route(&def).unwrap_err();
        assert!(matches!(e, Error::Exists(_)), "{e:?}");
        assert!(!h.ensure_route(&def).unwrap());
        assert!(!h.ensure_route(&net).unwrap());

        // unreachable gateway
        let bad = RouteSpec::via(
            "10.9.0.0/24".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
            None,
        );
        let e = h.add_route(&bad).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENETUNREACH), "{e:?}");

        h.del_route(&net).unwrap();
        h.del_route(&def).unwrap();
        let e = h.del_route(&net).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e:?}");
        let routes = h.routes().unwrap();
        assert!(!routes.iter().any(|r| r.matches(&net)));
        assert!(h.ensure_route(&def).unwrap());

        // replace: a default route via another gateway is swapped, not doubled,
        // and replacing again changes nothing (checked with ip as well)
        let gw2: IpAddr = "10.1.0.253".parse().unwrap();
        let def2 = RouteSpec::default_via(gw2, Some(a));
        let e = h.add_route(&def2).unwrap_err();
        assert!(matches!(e, Error::Exists(_)), "plain add is refused: {e:?}");
        for _ in 0..2 {
            h.replace_route(&def2).unwrap();
            let defaults: Vec<_> = h
                .routes()
                .unwrap()
                .into_iter()
                .filter(|r| r.is_default() && r.gateway.is_some_and(|g| g.is_ipv4()))
                .collect();
            assert_eq!(defaults.len(), 1, "{defaults:?}");
            assert_eq!(defaults[0].gateway, Some(gw2));
        }
        let j = ip_json(&["route", "show", "default"]);
        let arr = j.as_array().unwrap();
        assert_eq!(arr.len(), 1, "{j}");
        assert_eq!(arr[0]["gateway"], "10.1.0.253", "{j}");
    });
}

#[test]
fn vf_requests_to_a_veth_are_typed_eopnotsupp() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, _) = veth(&mut h, "vf0", "vf1");
        // reference: iproute2 gets the same answer
        let (ok, stderr) = ip(&["link", "set", "vf0", "vf", "0", "vlan", "5"]);
        assert!(!ok);
        assert!(stderr.contains("Operation not supported"), "{stderr}");

        let single = h.set_vf(
            a,
            &VfConfig::new(0).vlan(VlanConfig::new(VlanId::new(5).unwrap())),
        );
        let e = single.unwrap_err();
        assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));

        let cfgs = [
            VfConfig::new(0)
                .mac("02:00:00:00:00:10".parse().unwrap())
                .vlan(VlanConfig::new(VlanId::new(50).unwrap()).qos("3".parse().unwrap()))
                .trust(true),
            VfConfig::new(1)
                .spoofchk(false)
                .link_state(LinkState::Disable),
            VfConfig::new(2)
                .vlan(VlanConfig::new(VlanId::new(7).unwrap()).proto(VlanProto::Dot1Ad))
                .max_tx_rate(100)
                .min_tx_rate(10)
                .query_rss(true),
            VfConfig::new(3), // empty: ignored
        ];
        let r = h.set_vfs(a, &cfgs).unwrap();
        assert!(!r.is_ok());
        assert_eq!(r.vfs.len(), 3);
        assert_eq!(r.applied(), 0);
        // 1 combined + 3 per VF + 8 per attribute
        assert_eq!(r.requests, 1 + 3 + 8);
        let failures: Vec<_> = r.failures().collect();
        assert_eq!(failures.len(), 8);
        for (vf, _attr, e) in &failures {
            assert!(matches!(e, Error::NotSupported(_)), "vf {vf}: {e:?}");
            assert!(e.to_string().contains(&format!("vf {vf}")), "{e}");
        }
        assert!(r.vf(2).unwrap().get(VfAttr::Rate).unwrap().error.is_some());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["vfs"][0]["attrs"][0]["error"]["errno_name"],
            "EOPNOTSUPP"
        );

        // reading the VF table of a link without VFs: empty, not an error
        assert!(h.vfs(a, true).unwrap().is_empty());
        assert!(h.vfs(a, false).unwrap().is_empty());
        // an unknown PF is one error, not a report of per-attribute failures
        let e = h.set_vfs(999_999, &cfgs).unwrap_err();
        assert!(matches!(e, Error::NoDevice(_)), "{e:?}");
        // only max_tx_rate: the current min is looked up first (none here -> 0)
        let r = h.set_vfs(a, &[VfConfig::new(0).max_tx_rate(5)]).unwrap();
        assert!(matches!(
            r.failures().next(),
            Some((0, VfAttr::Rate, Error::NotSupported(_)))
        ));
    });
}

/// Runs a second namespace on its own thread; `f` receives the commands.
type OtherNetns = (
    u32,
    mpsc::Sender<&'static str>,
    mpsc::Receiver<(Vec<String>, Vec<String>)>,
    std::thread::JoinHandle<()>,
);

fn other_netns() -> OtherNetns {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (cmd_tx, cmd_rx) = mpsc::channel::<&'static str>();
    let (res_tx, res_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        tid_tx.send(common::gettid()).unwrap();
        while let Ok(cmd) = cmd_rx.recv() {
            if cmd == "quit" {
                break;
            }
            let mut h = Handle::new().unwrap();
            let mine: Vec<String> = h
                .links()
                .unwrap()
                .into_iter()
                .map(|l| l.name.to_string())
                .collect();
            let theirs: Vec<String> = ip_json(&["link", "show"])
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["ifname"].as_str().unwrap().to_owned())
                .collect();
            res_tx.send((mine, theirs)).unwrap();
        }
    });
    let tid = tid_rx.recv().unwrap();
    (tid, cmd_tx, res_rx, t)
}

#[test]
fn move_links_to_another_netns_by_fd_and_pid() {
    require_root!();
    in_netns(|| {
        let (tid, cmd, res, t) = other_netns();
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "mv0", "mv1");
        let (c, _) = veth(&mut h, "mv2", "mv3");

        // by fd: /proc/self/task/<tid>/ns/net of the other thread
        let ns = std::fs::File::open(format!("/proc/self/task/{tid}/ns/net")).unwrap();
        h.move_to_netns_fd(b, ns.as_fd()).unwrap();
        // by pid (a thread id works: the kernel looks the task up)
        h.move_to_netns_pid(c, tid).unwrap();

        assert!(matches!(
            h.link_by_index(b).unwrap_err(),
            Error::NoDevice(_)
        ));
        assert!(matches!(
            h.link_by_name(&name("mv2")).unwrap_err(),
            Error::NoDevice(_)
        ));
        assert!(h.link_by_index(a).is_ok());
        let here: Vec<String> = ip_json(&["link", "show"])
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            !here.contains(&"mv1".to_string()) && !here.contains(&"mv2".to_string()),
            "{here:?}"
        );

        cmd.send("list").unwrap();
        let (mine, theirs) = res.recv().unwrap();
        for n in ["mv1", "mv2"] {
            assert!(mine.contains(&n.to_string()), "{mine:?}");
            assert!(theirs.contains(&n.to_string()), "{theirs:?}");
        }
        // lo cannot move
        let lo = h.index_of(&name("lo")).unwrap();
        let e = h.move_to_netns_pid(lo, tid).unwrap_err();
        assert!(e.kernel().is_some(), "{e:?}");
        // unknown pid
        let e = h.move_to_netns_pid(a, 0x7fff_fff0).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e:?}");
        cmd.send("quit").unwrap();
        t.join().unwrap();
    });
}

#[test]
fn link_events_for_new_renamed_and_deleted_links() {
    require_root!();
    in_netns(|| {
        let mut ev = LinkEvents::new().unwrap();
        let mut h = Handle::new().unwrap();
        // nothing yet: a timeout is Ok(None)
        assert!(ev.next(Some(Duration::from_millis(50))).unwrap().is_none());

        let (a, _) = veth(&mut h, "ev0", "ev1");
        let e = ev
            .wait_for(
                Duration::from_secs(5),
                |e| matches!(e, LinkEvent::New(l) if l.name.as_str() == "ev0"),
            )
            .unwrap();
        assert_eq!(e.link().index, a);

        h.set_name(a, &name("ev0renamed")).unwrap();
        let e = ev
            .wait_for(Duration::from_secs(5), |e| matches!(e, LinkEvent::New(l) if l.index == a && l.name.as_str() == "ev0renamed"))
            .unwrap();
        assert_eq!(e.link().name.as_str(), "ev0renamed");

        h.delete_link(a).unwrap();
        ev.wait_for(
            Duration::from_secs(5),
            |e| matches!(e, LinkEvent::Deleted(l) if l.index == a),
        )
        .unwrap();

        let e = ev
            .wait_for(Duration::from_millis(100), |_| false)
            .unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }));
    });
}

#[test]
fn batch_pipelines_and_maps_errors_to_requests() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        // create 40 veth pairs in one batch
        let reqs: Vec<Request> = (0..40)
            .map(|i| Request::create_veth(&name(&format!("ba{i}")), &name(&format!("bb{i}"))))
            .collect();
        let res = h.execute_all(&reqs).unwrap();
        assert!(res.iter().all(Result::is_ok), "{res:?}");

        let idx: Vec<u32> = (0..40)
            .map(|i| h.index_of(&name(&format!("ba{i}"))).unwrap())
            .collect();
        let mut b = h.batch();
        let mut pos = Vec::new();
        for (i, ix) in idx.iter().enumerate() {
            pos.push(b.push(Request::set_mtu(*ix, 1400 + i as u32)));
            b.push(Request::set_up(*ix, true));
        }
        let bad_mtu = b.push(Request::set_mtu(idx[0], 1));
        let bad_dev = b.push(Request::set_up(999_999, true));
        let dup = b.push(Request::create_veth(&name("ba0"), &name("bbx")));
        assert_eq!(b.len(), 83);
        let res = b.execute().unwrap();
        assert_eq!(res.len(), 83);
        for p in &pos {
            assert!(res[*p].is_ok(), "{:?}", res[*p]);
        }
        assert!(
            matches!(res[bad_mtu], Err(Error::InvalidArgument(_))),
            "{:?}",
            res[bad_mtu]
        );
        assert!(
            matches!(res[bad_dev], Err(Error::NoDevice(_))),
            "{:?}",
            res[bad_dev]
        );
        assert!(matches!(res[dup], Err(Error::Exists(_))), "{:?}", res[dup]);

        for (i, ix) in idx.iter().enumerate() {
            let l = h.link_by_index(*ix).unwrap();
            assert_eq!(l.mtu, Some(1400 + i as u32));
            assert!(l.up);
        }
        assert_eq!(ip_link("ba39")["mtu"], 1439);
    });
}

#[test]
fn pipelined_lookups_by_name_match_ip_and_report_missing_names() {
    require_root!();
    in_netns(|| {
        // A tiny buffer: lookup answers (whole RTM_NEWLINKs) come in several
        // windows and every datagram takes the resizing path.
        let mut h = Handle::with_recv_buffer(64).unwrap();
        let reqs: Vec<Request> = (0..70)
            .map(|i| Request::create_veth(&name(&format!("lk{i}")), &name(&format!("lp{i}"))))
            .collect();
        assert!(h.execute_all(&reqs).unwrap().iter().all(Result::is_ok));
        let mut names: Vec<_> = (0..70).rev().map(|i| name(&format!("lk{i}"))).collect();
        names.insert(35, name("nosuchlink0"));
        names.push(name("lp3"));
        let res = h.links_by_name(&names).unwrap();
        assert_eq!(res.len(), 72);
        for (n, r) in names.iter().zip(&res) {
            if n.as_str() == "nosuchlink0" {
                assert!(matches!(r, Err(Error::NoDevice(_))), "{r:?}");
                assert!(r.as_ref().unwrap_err().to_string().contains("nosuchlink0"));
                continue;
            }
            let l = r.as_ref().unwrap();
            assert_eq!(&l.name, n);
            assert_eq!(ip_link(n.as_str())["ifindex"], l.index, "{n}");
        }
        // the same answers as one lookup each
        let lp3 = res.last().unwrap().as_ref().unwrap();
        assert_eq!(*lp3, h.link_by_name(&name("lp3")).unwrap());
        assert_eq!(lp3.kind.as_deref(), Some("veth"));
        assert!(h.links_by_name(&[]).unwrap().is_empty());
    });
}

#[test]
fn one_request_renames_sets_mtu_promisc_and_brings_up() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, _) = veth(&mut h, "sl0", "sl1");
        let all = LinkChange {
            name: Some(name("eth0pve070")),
            mtu: Some(9000),
            promisc: Some(true),
            up: Some(true),
        };
        h.execute(Request::set_link(a, &all)).unwrap();
        let l = h.link_by_index(a).unwrap();
        assert_eq!(
            (l.name.as_str(), l.mtu, l.promisc, l.up),
            ("eth0pve070", Some(9000), true, true)
        );
        let flags = ip_flags("eth0pve070");
        assert!(flags.contains(&"UP".into()) && flags.contains(&"PROMISC".into()));
        assert_eq!(ip_link("eth0pve070")["mtu"], 9000);

        // Only the flags it names: promisc off leaves UP alone.
        let off = LinkChange {
            promisc: Some(false),
            ..LinkChange::default()
        };
        h.execute(Request::set_link(a, &off)).unwrap();
        let l = h.link_by_index(a).unwrap();
        assert!(l.up && !l.promisc);

        // The kernel stops at the first setting it refuses and keeps those
        // before it: a bad MTU (applied first) fails the whole request.
        let bad = LinkChange {
            name: Some(name("never0")),
            mtu: Some(10),
            up: Some(false),
            ..LinkChange::default()
        };
        let e = h.execute(Request::set_link(a, &bad)).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(e.to_string().contains("set link name/MTU/flags"), "{e}");
        let l = h.link_by_index(a).unwrap();
        assert_eq!(
            (l.name.as_str(), l.mtu, l.up),
            ("eth0pve070", Some(9000), true)
        );
        assert!(LinkChange::default().is_empty() && !off.is_empty());
    });
}

#[test]
fn large_dumps_with_a_tiny_receive_buffer() {
    require_root!();
    in_netns(|| {
        // 64-byte initial buffer: every datagram of the dump is bigger, so the
        // MSG_PEEK|MSG_TRUNC sizing path runs for each of them.
        let mut h = Handle::with_recv_buffer(64).unwrap();
        let reqs: Vec<Request> = (0..150)
            .map(|i| Request::create_veth(&name(&format!("la{i}")), &name(&format!("lb{i}"))))
            .collect();
        assert!(h.execute_all(&reqs).unwrap().iter().all(Result::is_ok));
        let links = h.links().unwrap();
        assert_eq!(links.len(), 301);
        let theirs = ip_json(&["link", "show"]);
        assert_eq!(theirs.as_array().unwrap().len(), 301);
        let l = h.link_by_name(&name("lb149")).unwrap();
        assert_eq!(l.kind.as_deref(), Some("veth"));
    });
}

#[test]
fn driver_info_of_a_veth_follows_the_namespace() {
    require_root!();
    // A handle opened here, in the host's namespace, carried into the test's.
    let host_handle = Handle::new().unwrap();
    in_netns(move || {
        let mut h = Handle::new().unwrap();
        veth(&mut h, "nlvfdrv0", "nlvfdrv1");

        // ethtool -i nlvfdrv0: driver veth, no firmware, no bus.
        let info = netlink_vf::driver_info(&name("nlvfdrv0")).unwrap();
        assert_eq!(info.name, "nlvfdrv0");
        assert_eq!(info.driver, "veth");
        assert!(info.version.is_some(), "{info:?}");
        assert_eq!(info.firmware_version, None);
        assert_eq!(info.bus_info, None);
        // veth has ethtool statistics (peer_ifindex, rx/tx queue counters).
        assert!(info.n_stats > 0, "{info:?}");
        // The handle of this namespace answers the same through its own socket.
        assert_eq!(h.driver_info(&name("nlvfdrv1")).unwrap().driver, "veth");

        // The host's handle resolves names in the host's namespace: not there.
        let e = host_handle.driver_info(&name("nlvfdrv0")).unwrap_err();
        assert!(matches!(e, Error::NoDevice(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "read driver info (ethtool -i) on nlvfdrv0: No such device (ENODEV)"
        );

        // lo has ethtool ops but no get_drvinfo and no parent device.
        let e = netlink_vf::driver_info(&name("lo")).unwrap_err();
        assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
        let e = netlink_vf::driver_info(&name("nosuch0")).unwrap_err();
        assert!(matches!(e, Error::NoDevice(_)), "{e:?}");
    });
}

/// Issue 12: a bridge port's promiscuity counter is not its promisc flag.
/// `Link::promisc` is IFF_PROMISC (what `ip link` shows as PROMISC), read
/// against iproute2's flags and `promiscuity`; the bridge and the port are
/// made with `create_bridge` and `set_master`.
#[test]
fn a_bridge_port_is_not_promisc_until_its_flag_is_set() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, _) = veth(&mut h, "brp0", "brp1");
        let br = h.create_bridge(&name("br0")).unwrap();
        assert_eq!(ip_link("br0")["ifindex"], br);
        assert_eq!(h.link_by_index(br).unwrap().kind.as_deref(), Some("bridge"));
        let e = h.create_bridge(&name("br0")).unwrap_err();
        assert!(matches!(e, Error::Exists(_)), "{e:?}");
        assert_eq!(h.link_by_index(a).unwrap().promiscuity, Some(0));

        h.set_master(a, Some(br)).unwrap();
        assert_eq!(ip_link("brp0")["master"], "br0");
        let l = h.link_by_index(a).unwrap();
        assert_eq!(l.master, Some(br));
        let counter = ip_json(&["-d", "link", "show", "brp0"])[0]["promiscuity"]
            .as_u64()
            .unwrap();
        assert!(counter > 0, "a bridge port's counter: {counter}");
        assert_eq!(l.promiscuity, Some(u32::try_from(counter).unwrap()));
        assert!(!ip_flags("brp0").contains(&"PROMISC".to_string()));
        assert!(!l.promisc, "a bridge port read as promisc: {l:?}");

        h.set_promisc(a, true).unwrap();
        assert!(ip_flags("brp0").contains(&"PROMISC".to_string()));
        let l = h.link_by_index(a).unwrap();
        assert!(l.promisc, "{l:?}");
        assert_eq!(l.promiscuity, Some(u32::try_from(counter).unwrap() + 1));

        h.set_promisc(a, false).unwrap();
        let l = h.link_by_index(a).unwrap();
        assert!(
            !l.promisc && l.promiscuity.unwrap_or(0) > 0 && l.master == Some(br),
            "{l:?}"
        );
        assert!(!ip_flags("brp0").contains(&"PROMISC".to_string()));

        // nomaster: no longer a port, the counter back to zero.
        h.set_master(a, None).unwrap();
        let l = h.link_by_index(a).unwrap();
        assert_eq!((l.master, l.promiscuity, l.promisc), (None, Some(0), false));
        assert!(ip_link("brp0").get("master").is_none());
        // A veth cannot be a master.
        let (c, _) = veth(&mut h, "brp2", "brp3");
        let e = h.set_master(c, Some(a)).unwrap_err();
        assert!(e.kernel().is_some(), "{e:?}");
    });
}

/// The watch is made before both ends of a veth (created down) come up; the
/// wait sees both carriers.
#[test]
fn carrier_watch_sees_both_ends_of_a_veth_come_up() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "cw0", "cw1");
        let watch = CarrierWatch::new(&[a, b]).unwrap();
        assert_eq!(watch.indexes(), [a, b]);
        h.set_up(a, true).unwrap();
        h.set_up(b, true).unwrap();
        let seen = watch.wait(&mut h, Duration::from_secs(10)).unwrap();
        assert!(seen.all_back(), "{seen:?}");
        assert_eq!(seen.back, [a, b]);
        assert!(seen.not_back.is_empty());
        assert!(ip_flags("cw0").contains(&"LOWER_UP".to_string()));
    });
}

/// Up while the peer stays down: no carrier, so the wait ends at its (short)
/// timeout with that link in `not_back`, and no error.
#[test]
fn carrier_watch_times_out_without_error_when_a_link_stays_down() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (c, d) = veth(&mut h, "cw2", "cw3");
        let (e, f) = veth(&mut h, "cw4", "cw5");
        let watch = CarrierWatch::new(&[c, e]).unwrap();
        h.set_up(c, true).unwrap();
        h.set_up(e, true).unwrap();
        h.set_up(f, true).unwrap();
        let t = Instant::now();
        let seen = watch.wait(&mut h, Duration::from_millis(400)).unwrap();
        let took = t.elapsed();
        assert_eq!((seen.back, seen.not_back), (vec![e], vec![c]));
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(!ip_flags("cw2").contains(&"LOWER_UP".to_string()));
        assert!(!h.link_by_index(d).unwrap().up);
    });
}

/// A watch made after the links are already up with carrier returns at once.
#[test]
fn carrier_watch_on_links_already_up_returns_at_once() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "cw6", "cw7");
        h.set_up(a, true).unwrap();
        h.set_up(b, true).unwrap();
        // The carrier of a veth follows its peer's up at once.
        assert!(ip_flags("cw6").contains(&"LOWER_UP".to_string()));
        let t = Instant::now();
        let seen = CarrierWatch::new(&[b, a])
            .unwrap()
            .wait(&mut h, Duration::from_secs(30))
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(seen.back, [b, a]);
        assert!(seen.all_back());
        // Nothing to wait for at all.
        let seen = CarrierWatch::new(&[])
            .unwrap()
            .wait(&mut h, Duration::from_secs(30))
            .unwrap();
        assert_eq!(seen, CarrierOutcome::default());
    });
}

/// A link that does not exist is not back, and the wait does not sit out
/// its timeout for it; nor for a watched link deleted during the wait.
#[test]
fn carrier_watch_on_missing_or_deleted_links_ends_early_not_back() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let t = Instant::now();
        let seen = CarrierWatch::new(&[9999])
            .unwrap()
            .wait(&mut h, Duration::from_secs(30))
            .unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!((seen.back, seen.not_back), (vec![], vec![9999]));

        let (a, b) = veth(&mut h, "cw8", "cw9");
        let watch = CarrierWatch::new(&[a, b]).unwrap();
        // Deleted from another thread of the namespace while the wait runs.
        let (tx, rx) = mpsc::channel();
        let killer = std::thread::spawn(move || {
            let mut h2 = Handle::new().unwrap();
            std::thread::sleep(Duration::from_millis(200));
            h2.delete_link(a).unwrap(); // takes its peer b with it
            tx.send(Instant::now()).unwrap();
        });
        let seen = watch.wait(&mut h, Duration::from_secs(30)).unwrap();
        let ended = Instant::now();
        killer.join().unwrap();
        let deleted = rx.recv().unwrap();
        assert_eq!((seen.back, seen.not_back), (vec![], vec![a, b]));
        assert!(
            ended.saturating_duration_since(deleted) < Duration::from_secs(2),
            "the wait went on after the links were gone"
        );
    });
}

/// Only the fixed header of a notification is read: events of another link
/// whose name is not UTF-8 (the kernel allows any byte but `/`, `:`, NUL
/// and whitespace; `Link::name` cannot hold it) do not break the wait.
#[test]
fn carrier_watch_ignores_what_it_does_not_need_of_other_links() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    require_root!();
    in_netns(|| {
        let odd = OsStr::from_bytes(b"\xff\xff\xff\xff\xff\xff");
        let out = std::process::Command::new("ip")
            .args(["link", "add"])
            .arg(odd)
            .args(["type", "veth", "peer", "name", "oddpeer"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "cwa", "cwb");
        let watch = CarrierWatch::new(&[a, b]).unwrap();
        let out = std::process::Command::new("ip")
            .args(["link", "set", "dev"])
            .arg(odd)
            .args(["up", "mtu", "1400"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        h.set_up(a, true).unwrap();
        h.set_up(b, true).unwrap();
        let seen = watch.wait(&mut h, Duration::from_secs(10)).unwrap();
        assert_eq!(seen.back, [a, b]);
    });
}

/// Events dropped because the socket's queue overflowed (ENOBUFS) are not
/// lost carriers: the wait reads the links again. A burst of pipelined MTU
/// changes on other links (one notification each) while the wait runs
/// overflows the watch's tiny queue; the links watched come up in the same
/// burst, so their own events are likely among those dropped.
#[test]
fn carrier_watch_sees_carriers_through_a_burst_of_events() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "cwc", "cwd");
        let others: Vec<u32> = (0..8)
            .map(|i| veth(&mut h, &format!("burst{i}a"), &format!("burst{i}b")).0)
            .collect();
        let watch = CarrierWatch::with_queue_size(&[a, b], 1).unwrap();
        let burst = std::thread::spawn(move || {
            let mut h2 = Handle::new().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let mut reqs = Vec::new();
            for round in 0..250u32 {
                for &o in &others {
                    reqs.push(Request::set_mtu(o, 1280 + round));
                }
            }
            reqs.push(Request::set_up(a, true));
            reqs.push(Request::set_up(b, true));
            for r in h2.execute_all(&reqs).unwrap() {
                r.unwrap();
            }
        });
        let seen = watch.wait(&mut h, Duration::from_secs(20)).unwrap();
        burst.join().unwrap();
        assert_eq!(seen.back, [a, b], "{seen:?}");
    });
}

/// The kernel's own `dev_valid_name()` refuses a name with byte 0xa0
/// (`ethà`, 65 74 68 c3 a0) with EINVAL: a rename request carrying those
/// bytes is sent as is (the bytes of `Request::set_name` with the name
/// patched, on a socket of its own), and IfName refuses the name first,
/// saying why.
#[test]
fn the_kernel_refuses_a_name_with_byte_0xa0_and_ifname_refuses_it_first() {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    require_root!();
    in_netns(|| {
        let e = netlink_vf::IfName::new("ethà").unwrap_err();
        assert!(
            e.to_string()
                .contains("a byte the kernel counts as whitespace (0xa0"),
            "{e}"
        );

        let mut h = Handle::new().unwrap();
        let (a, _) = veth(&mut h, "nm0", "nm1");
        let mut bytes = Request::set_name(a, &name("ethxx")).to_bytes(77);
        let at = bytes
            .windows(6)
            .position(|w| w == b"ethxx\0")
            .expect("IFLA_IFNAME in the request");
        bytes[at..at + 5].copy_from_slice("ethà".as_bytes());
        let mut sock = Socket::new(NETLINK_ROUTE).unwrap();
        sock.bind_auto().unwrap();
        sock.send_to(&bytes, &SocketAddr::new(0, 0), 0).unwrap();
        let (reply, _) = sock.recv_from_full().unwrap();
        let ty = u16::from_ne_bytes([reply[4], reply[5]]);
        let seq = u32::from_ne_bytes(reply[8..12].try_into().unwrap());
        let errno = i32::from_ne_bytes(reply[16..20].try_into().unwrap());
        assert_eq!((ty, seq), (2, 77), "NLMSG_ERROR for our request");
        assert_eq!(errno, -libc::EINVAL, "the kernel's answer to `ethà`");
        assert_eq!(h.name_of(a).unwrap().as_str(), "nm0");
        // The same request with a name IfName takes is fine (the patch, not
        // the message, made the kernel refuse).
        h.execute(Request::set_name(a, &name("ethxx"))).unwrap();
        assert_eq!(ip_link("ethxx")["ifindex"], a);

        let (ok, err) = ip(&["link", "add", "ethà", "type", "veth", "peer", "name", "p0"]);
        assert!(!ok, "the kernel took `ethà`");
        assert!(err.contains("Invalid argument"), "{err}");
        // A name the kernel takes although Unicode calls it whitespace
        // (U+2028, e2 80 a8), and IfName takes it too.
        veth(&mut h, "e\u{2028}x", "p1");
        assert!(ip_flags("e\u{2028}x").contains(&"BROADCAST".to_string()));
    });
}

/// Sends `n` broadcast Ethernet frames out of link `ifindex` through an
/// AF_PACKET socket (the test's own traffic, not the library's).
fn send_frames(ifindex: u32, n: usize) {
    // SAFETY: a plain socket(2) call; the fd is checked and closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    let mut frame = [0u8; 60];
    frame[..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0xaa, 0xbb, 0x01]);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental ethertype
                                                             // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_ifindex = ifindex as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    for _ in 0..n {
        // SAFETY: frame and to outlive the call; the lengths are theirs.
        let r = unsafe {
            libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::addr_of!(to).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 60, "sendto: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
}

#[test]
fn link_counters_match_iproute2_after_traffic() {
    require_root!();
    in_netns(|| {
        let mut h = Handle::new().unwrap();
        let (a, b) = veth(&mut h, "vs0", "vs1");
        h.set_up(a, true).unwrap();
        h.set_up(b, true).unwrap();
        // Until linkwatch sees the carrier, the device's queue drops frames.
        for _ in 0..200 {
            let mut up = |i| h.link_by_index(i).unwrap().operstate == Some(OperState::Up);
            if up(a) && up(b) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let before = h.link_by_index(b).unwrap().stats.unwrap();
        send_frames(a, 7);
        // Counters only grow: iproute2's reading (an independent reader of
        // IFLA_STATS64) lies between two of ours.
        let first = h.link_by_index(b).unwrap().stats.unwrap();
        let theirs = &ip_json(&["-s", "link", "show", "vs1"])[0]["stats64"]["rx"];
        let second = h.link_by_index(b).unwrap().stats.unwrap();
        let ip_packets = theirs["packets"].as_u64().unwrap();
        let ip_bytes = theirs["bytes"].as_u64().unwrap();
        assert!(
            first.rx_packets <= ip_packets && ip_packets <= second.rx_packets,
            "{first:?} {theirs} {second:?}"
        );
        assert!(
            first.rx_bytes <= ip_bytes && ip_bytes <= second.rx_bytes,
            "{first:?} {theirs} {second:?}"
        );
        assert!(
            first.rx_packets >= before.rx_packets + 7,
            "{before:?} -> {first:?}"
        );
        assert!(
            first.rx_bytes >= before.rx_bytes + 7 * 60,
            "{before:?} -> {first:?}"
        );
        let sent = h.link_by_index(a).unwrap().stats.unwrap();
        assert!(sent.tx_packets >= 7, "{sent:?}");
        let ip_tx = ip_json(&["-s", "link", "show", "vs0"])[0]["stats64"]["tx"]["packets"]
            .as_u64()
            .unwrap();
        assert!(sent.tx_packets <= ip_tx, "{sent:?} vs ip {ip_tx}");
    });
}

/// An `ip netns add` namespace, deleted on drop.
struct NamedNetns(String);

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// `ip -n NS -s -j link show dev NAME` as one JSON object.
fn ip_in(ns: &str, dev: &str) -> serde_json::Value {
    ip_json(&["-n", ns, "-s", "link", "show", "dev", dev])[0].clone()
}

#[test]
fn a_handle_in_another_namespace_sees_its_links_and_counters() {
    require_root!();
    let ns = NamedNetns(format!("nlvf{}", std::process::id()));
    let (ok, err) = ip(&["netns", "add", &ns.0]);
    assert!(ok, "ip netns add {}: {err}", ns.0);
    let own = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
    let all = netlink_vf::namespaces(std::path::Path::new("/")).unwrap();
    let found = all
        .iter()
        .find(|n| n.name.as_deref() == Some(ns.0.as_str()))
        .unwrap_or_else(|| panic!("{} not listed: {all:?}", ns.0));
    assert_eq!(found.path, std::path::Path::new("/run/netns").join(&ns.0));
    use std::os::unix::fs::MetadataExt;
    assert!(
        all.iter().all(|n| n.id != (own.dev(), own.ino())),
        "our own namespace is listed: {all:?}"
    );

    let mut h = Handle::in_netns(&found.path).unwrap();
    let a = h.create_veth(&name("nsx0"), &name("nsx1")).unwrap();
    let b = h.index_of(&name("nsx1")).unwrap();
    h.set_up(a, true).unwrap();
    h.set_up(b, true).unwrap();
    // The caller's namespace is untouched: the pair is only in the other one.
    let after = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
    assert_eq!((own.dev(), own.ino()), (after.dev(), after.ino()));
    let (here, _) = ip(&["link", "show", "dev", "nsx0"]);
    assert!(!here, "nsx0 is in the caller's namespace");
    assert_eq!(ip_in(&ns.0, "nsx0")["ifindex"], a);
    // Counters read through the handle lie between two of iproute2's (IPv6
    // neighbour discovery may send while we read).
    for _ in 0..200 {
        if h.link_by_index(b).unwrap().operstate == Some(OperState::Up) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first = ip_in(&ns.0, "nsx0")["stats64"]["tx"]["packets"]
        .as_u64()
        .unwrap();
    let links = h.links().unwrap();
    let second = ip_in(&ns.0, "nsx0")["stats64"]["tx"]["packets"]
        .as_u64()
        .unwrap();
    let ours = links
        .iter()
        .find(|l| l.index == a)
        .and_then(|l| l.stats)
        .unwrap()
        .tx_packets;
    assert!(
        first <= ours && ours <= second,
        "ip {first} <= ours {ours} <= ip {second}"
    );
    assert_eq!(links.len(), 3, "lo and the pair: {links:?}");
}
