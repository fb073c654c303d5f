//! The config seeds get past the parser into the planner (the fuzz property
//! would otherwise only exercise error paths), against the property's hosts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use sriov_benches::props::config_hosts;
use sriov_cli::api::{self, Options};

fn seed(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/config")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (seed, node, expect an error-free plan on the netlink host with
/// `--allow-recreate --force-unbind`)
const SEEDS: &[(&str, &str, bool)] = &[
    ("x710-node-id-busy-vf.toml", "", true),
    ("node-sections.toml", "fuzz", true),
    ("testbed-guide.toml", "", true),
    ("pve1-example.toml", "pve1", true),
    ("reload-and-pf-link.toml", "", true),
];

/// The reload seed reaches the driver-reload and PF-link planning on the
/// netlink host: blocked (with its reason) without `--force-unbind`, plain
/// with it; `up = false` on eth0 planned with a warning.
#[test]
fn reload_seed_plans_a_reload_and_a_pf_link_change() {
    let name = "reload-and-pf-link.toml";
    let cfg = api::parse_config(&seed(name), Path::new(name)).unwrap();
    let host = &config_hosts()[0];
    assert!(host.netlink);
    for force in [false, true] {
        let opts = Options {
            force_unbind: force,
            ..Options::default()
        };
        let p = api::plan(&cfg, host, opts);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let reload = p
            .changes
            .iter()
            .find(|c| c.op.attr() == "reload" && c.vf == Some(2))
            .unwrap_or_else(|| panic!("no reload planned: {:?}", p.changes));
        assert_eq!(reload.op.from_text().as_deref(), Some("02:00:00:00:00:99"));
        assert_eq!(reload.reload_blocked(), !force, "{reload:?}");
        let link: Vec<_> = p
            .changes
            .iter()
            .filter(|c| c.step() == api::Step::PfLink)
            .collect();
        assert_eq!(link.len(), 1, "{link:?}");
        assert_eq!(
            (link[0].pf.as_str(), link[0].op.to_text().as_str()),
            ("eth0", "down")
        );
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("up = false takes the PF down")));
    }
}

#[test]
fn config_seeds_parse_and_plan_to_changes() {
    for (name, node, clean) in SEEDS {
        let text = seed(name);
        let cfg = api::parse_config_for_node(&text, Path::new(name), node)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for host in config_hosts() {
            for force in [false, true] {
                let opts = Options {
                    allow_recreate: force,
                    force_unbind: force,
                    prune: force,
                };
                let p = api::plan(&cfg, host, opts);
                eprintln!(
                    "{name} (netlink {}, {opts:?}): {} changes, errors {:?}",
                    host.netlink,
                    p.changes.len(),
                    p.errors
                );
                assert!(
                    !p.changes.is_empty() || !p.errors.is_empty(),
                    "{name}: neither changes nor errors"
                );
                if *clean && force && host.netlink {
                    assert!(p.errors.is_empty(), "{name}: {:?}", p.errors);
                }
            }
        }
    }
}
