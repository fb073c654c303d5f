//! Check 9: are we inside a container? Then `/proc/cmdline`, `/proc/interrupts` and
//! the IOMMU groups are the host's, while `/etc` (boot configuration) is the
//! container's: some conclusions do not hold and the report says so.

use crate::report::{Check, CheckId, Status};
use crate::root::{Read, Root};

/// Evidence that this is a container: the manager's name and which file said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    pub(crate) manager: String,
    pub(crate) evidence: Vec<(String, String)>,
}

/// Managers named in `/proc/1/cgroup` paths.
const CGROUP_HINTS: [(&str, &str); 5] = [
    ("/lxc.payload", "lxc"),
    ("/lxc/", "lxc"),
    ("/docker", "docker"),
    ("/libpod", "podman"),
    ("/kubepods", "kubernetes"),
];

fn sane(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_graphic()))
        .then(|| name.to_owned())
}

pub(crate) fn detect(root: &Root) -> Option<Container> {
    let mut manager: Option<String> = None;
    let mut evidence = Vec::new();

    // systemd's own detection sources, most specific first.
    if let Read::Text(env) = root.read("proc/1/environ") {
        if let Some(v) = env
            .split('\0')
            .find_map(|kv| kv.strip_prefix("container="))
            .and_then(sane)
        {
            evidence.push((Root::shown("proc/1/environ"), format!("container={v}")));
            manager.get_or_insert(v);
        }
    }
    if let Read::Text(t) = root.read("run/systemd/container") {
        if let Some(v) = sane(&t) {
            evidence.push((Root::shown("run/systemd/container"), v.clone()));
            manager.get_or_insert(v);
        }
    }
    if root.exists(".dockerenv") {
        evidence.push((Root::shown(".dockerenv"), "present".to_owned()));
        manager.get_or_insert_with(|| "docker".to_owned());
    }
    if root.exists("run/.containerenv") {
        evidence.push((Root::shown("run/.containerenv"), "present".to_owned()));
        manager.get_or_insert_with(|| "podman".to_owned());
    }
    if let Read::Text(t) = root.read("proc/1/cgroup") {
        for line in t.lines() {
            let path = line.splitn(3, ':').nth(2).unwrap_or("");
            if let Some((_, name)) = CGROUP_HINTS.iter().find(|(hint, _)| path.contains(hint)) {
                evidence.push((Root::shown("proc/1/cgroup"), line.to_owned()));
                manager.get_or_insert_with(|| (*name).to_owned());
                break;
            }
        }
    }
    manager.map(|manager| Container { manager, evidence })
}

pub(crate) fn check(container: Option<&Container>) -> Check {
    match container {
        None => Check::new(
            CheckId::Container,
            Status::Pass,
            "not in a container: the files read describe this host",
        )
        .with_evidence(
            "/proc/1/environ, /run/systemd/container, /.dockerenv, /run/.containerenv, /proc/1/cgroup",
            "no container marker",
        ),
        Some(c) => {
            let mut check = Check::new(
                CheckId::Container,
                Status::Warn,
                format!(
                    "running inside a container ({}): /proc/cmdline, /proc/interrupts and the IOMMU groups are the host's, the boot configuration under /etc is not, and /dev/vfio may be hidden; conclusions are limited",
                    c.manager
                ),
            )
            .with_remedy("Run `sriov-cli check-iommu` on the host itself for a complete verdict.");
            for (s, o) in &c.evidence {
                check.push_evidence(s.clone(), o.clone());
            }
            check
        }
    }
}
