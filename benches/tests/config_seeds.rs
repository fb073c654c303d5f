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
];

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
