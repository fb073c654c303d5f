//! The configuration shown in the workspace README.md is a real one: it parses
//! and plans without errors on the bundled example host (with the PF renamed to
//! one the example has).

#![allow(clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn readme_config_parses_and_plans_on_the_example_host() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("workspace README.md");
    let start = readme
        .find("```toml\n")
        .expect("a ```toml block in README.md")
        + 8;
    let len = readme[start..].find("```").expect("the block's end");
    let text = readme[start..start + len].replace("name = \"eno1\"", "name = \"enp2s0f0\"");
    let config = sriov_cli::api::parse_config(&text, Path::new("README.md"))
        .unwrap_or_else(|e| panic!("README.md's config does not parse: {e:?}"));
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/pve1");
    let host = sriov_cli::api::read_host(Path::new(root)).expect("example host");
    let plan = sriov_cli::api::plan(&config, &host, sriov_cli::api::Options::default());
    assert!(
        plan.errors.is_empty(),
        "README.md's config is invalid: {:?}",
        plan.errors
    );
    assert!(
        !plan.changes.is_empty(),
        "README.md's config plans no change"
    );
}
