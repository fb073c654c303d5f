//! `/etc/pve/lxc/<ctid>.conf`: the `lxc.net.N.*` entries of the config's
//! VFs, written in place.
//!
//! Which lines are ours: PVE keeps raw `lxc.*` keys in order, byte for byte
//! but for the separator (`lxc.x = v` comes back as `lxc.x: v`), while it
//! folds every `#` line of a section into the `description` and writes that
//! at the top of the file (pve-container src/PVE/LXC/Config.pm,
//! `parse_pct_config` / `write_pct_config`): a comment marker around our block
//! would not stay there after the next `pct set`. And LXC refuses unknown
//! `lxc.net.N.*` keys, so no marker key either. An entry is therefore ours by
//! what it is: an `lxc.net.N` group whose `type` is `phys` and whose `link`
//! names a VF of the config. Such a group is replaced whole; every other line
//! stays as it is.

use std::collections::{BTreeMap, BTreeSet};

use super::{numbered, pve_key, section_header};

/// One VF's entry: the keys after `lxc.net.N.` in order (`type: phys`
/// first: LXC needs the type before the other keys of an index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The `link` (the VF's netdev name on the host).
    pub link: String,
    /// `type: phys`, `link: ...`, ...
    pub keys: Vec<String>,
}

/// The result of [`edit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// The new file.
    pub text: String,
    /// The index each entry got, in order.
    pub indexes: Vec<u32>,
    /// The indexes of the entries of ours that were there before.
    pub replaced: Vec<u32>,
}

/// A raw LXC key line (`^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$`,
/// `parse_pct_config`): key and value.
pub(crate) fn lxc_key(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("lxc.")?;
    let end = rest
        .find(|c: char| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || c == '.')
        })
        .unwrap_or(rest.len());
    let (key, after) = line.split_at(4 + end);
    let value = match after.strip_prefix(':') {
        Some(v) => v,
        None => after.trim_start().strip_prefix('=')?,
    };
    Some((key, value.trim()))
}

/// `lxc.net.N.<rest>`: N.
fn net_index(key: &str) -> Option<(u32, &str)> {
    let rest = key.strip_prefix("lxc.net.")?;
    let (n, sub) = rest.split_once('.')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((n.parse().ok()?, sub))
}

/// The `lock:` of the main section (`backup`, `snapshot`, `migrate`, ...):
/// PVE refuses to change a locked container (pve-guest-common
/// src/PVE/AbstractConfig.pm `check_lock`), and so do we.
pub(crate) fn lock_value(conf: &str) -> Option<&str> {
    for line in conf.lines() {
        if section_header(line).is_some() {
            break;
        }
        if let Some(("lock", v)) = pve_key(line) {
            return Some(v);
        }
    }
    None
}

/// Rewrites `conf` so that it holds `entries`, at the lowest indexes above
/// every `netN` (main and `[pve:pending]` sections: PVE turns each into an
/// `lxc.net.N`) and every `lxc.net.N` not ours; `ours(link)` says whether a
/// `phys` link is a VF of the config. Our old groups are removed and the new
/// block goes where the first of them was, else after the last line of the
/// main section (PVE writes raw keys after its own). Snapshot sections and
/// every other line are left byte for byte.
pub(crate) fn edit(conf: &str, ours: &dyn Fn(&str) -> bool, entries: &[Entry]) -> Edit {
    let chunks: Vec<&str> = conf.split_inclusive('\n').collect();
    let content = |c: &str| c.trim_end_matches('\n').to_string();
    let main_end = chunks
        .iter()
        .position(|c| section_header(&content(c)).is_some())
        .unwrap_or(chunks.len());
    // Indexes taken, and the type and link of each raw group of the main
    // section.
    let mut used: BTreeSet<u32> = BTreeSet::new();
    let mut groups: BTreeMap<u32, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut section: Option<String> = None;
    for (i, c) in chunks.iter().enumerate() {
        let line = content(c);
        if let Some(s) = section_header(&line) {
            section = Some(s.to_ascii_lowercase());
            continue;
        }
        let main = i < main_end;
        if !main && section.as_deref() != Some("pve:pending") {
            continue;
        }
        if let Some(n) = pve_key(&line).and_then(|(k, _)| numbered(k, "net")) {
            used.insert(n);
        } else if let Some((k, v)) = lxc_key(&line) {
            if let Some((n, sub)) = net_index(k) {
                if !main {
                    used.insert(n);
                    continue;
                }
                let g = groups.entry(n).or_default();
                match sub {
                    "type" => g.0 = Some(v.to_string()),
                    "link" => g.1 = Some(v.to_string()),
                    _ => {}
                }
            }
        }
    }
    let mine: BTreeSet<u32> = groups
        .iter()
        .filter(|(_, (t, l))| t.as_deref() == Some("phys") && l.as_deref().is_some_and(ours))
        .map(|(n, _)| *n)
        .collect();
    used.extend(groups.keys().filter(|n| !mine.contains(n)));
    let first = used.iter().next_back().map_or(0, |m| m + 1);
    let indexes: Vec<u32> = (first..).take(entries.len()).collect();
    let mut block = String::new();
    for (n, e) in indexes.iter().zip(entries) {
        for k in &e.keys {
            block.push_str(&format!("lxc.net.{n}.{k}\n"));
        }
    }
    let is_mine = |i: usize| {
        i < main_end
            && lxc_key(&content(chunks[i]))
                .and_then(|(k, _)| net_index(k))
                .is_some_and(|(n, _)| mine.contains(&n))
    };
    let at = (0..chunks.len()).find(|i| is_mine(*i)).unwrap_or_else(|| {
        chunks[..main_end]
            .iter()
            .rposition(|c| !c.trim().is_empty())
            .map_or(0, |p| p + 1)
    });
    let mut text = String::with_capacity(conf.len() + block.len());
    for (i, c) in chunks.iter().enumerate() {
        if i == at {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&block);
        }
        if !is_mine(i) {
            text.push_str(c);
        }
    }
    if at >= chunks.len() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&block);
    }
    Edit {
        text,
        indexes,
        replaced: mine.into_iter().collect(),
    }
}

/// Whether container `ctid` runs: LXC's command socket
/// `@/var/lib/lxc/<ctid>/command` is listed in `/proc/net/unix` (the test of
/// pve-container src/PVE/LXC.pm `list_active_containers`).
pub(crate) fn running(proc_net_unix: &str, ctid: u32) -> bool {
    let want = format!("@/var/lib/lxc/{ctid}/command");
    proc_net_unix
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(7) == Some(want.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(link: &str) -> Entry {
        Entry {
            link: link.into(),
            keys: vec![
                "type: phys".into(),
                format!("link: {link}"),
                "flags: up".into(),
            ],
        }
    }

    fn ours(l: &str) -> bool {
        l.starts_with("vf")
    }

    #[test]
    fn appends_after_the_main_section_and_keeps_snapshots() {
        let conf = "#my notes\narch: amd64\nnet0: name=eth0,bridge=vmbr0\nlxc.net.3.type: veth\n\n[snap]\nnet7: x\n";
        let e = edit(conf, &ours, &[entry("vfa")]);
        assert_eq!(e.indexes, [4]);
        assert_eq!(
            e.text,
            "#my notes\narch: amd64\nnet0: name=eth0,bridge=vmbr0\nlxc.net.3.type: veth\nlxc.net.4.type: phys\nlxc.net.4.link: vfa\nlxc.net.4.flags: up\n\n[snap]\nnet7: x\n"
        );
        // Converges: the second edit changes nothing.
        let again = edit(&e.text, &ours, &[entry("vfa")]);
        assert_eq!(again.text, e.text);
        assert_eq!(again.replaced, [4]);
    }

    #[test]
    fn replaces_its_groups_in_place_and_moves_off_a_new_net_index() {
        // net1 was added (web UI) after our lxc.net.1: ours moves to 2.
        let conf = "net0: a\nlxc.net.1.type = phys\nlxc.net.1.link: vfa\nlxc.net.1.hwaddr: x\nnet1: b\nlxc.apparmor.profile: unconfined\n";
        let e = edit(conf, &ours, &[entry("vfa"), entry("vfb")]);
        assert_eq!(e.replaced, [1]);
        assert_eq!(e.indexes, [2, 3]);
        assert_eq!(
            e.text,
            "net0: a\nlxc.net.2.type: phys\nlxc.net.2.link: vfa\nlxc.net.2.flags: up\nlxc.net.3.type: phys\nlxc.net.3.link: vfb\nlxc.net.3.flags: up\nnet1: b\nlxc.apparmor.profile: unconfined\n"
        );
    }

    #[test]
    fn someone_elses_phys_entry_and_pending_nets_are_kept_and_skipped() {
        let conf = "lxc.net.0.type: phys\nlxc.net.0.link: eno9\n[pve:pending]\nnet5: x\n";
        let e = edit(conf, &ours, &[entry("vfa")]);
        assert_eq!(e.indexes, [6]);
        assert!(e
            .text
            .starts_with("lxc.net.0.type: phys\nlxc.net.0.link: eno9\nlxc.net.6.type: phys\n"));
        assert!(e.text.ends_with("[pve:pending]\nnet5: x\n"));
    }

    #[test]
    fn a_last_line_without_newline_gets_one() {
        let e = edit("arch: amd64", &ours, &[entry("vfa")]);
        assert!(e.text.starts_with("arch: amd64\nlxc.net.0.type: phys\n"));
        assert_eq!(edit("", &ours, &[entry("vfa")]).indexes, [0]);
    }

    #[test]
    fn lock_and_running() {
        assert_eq!(lock_value("arch: x\nlock: backup\n"), Some("backup"));
        assert_eq!(lock_value("arch: x\n[s]\nlock: backup\n"), None);
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 41923 @/var/lib/lxc/101/command\n";
        assert!(running(unix, 101));
        assert!(!running(unix, 10));
    }

    #[test]
    fn raw_keys_parse_like_pve() {
        assert_eq!(
            lxc_key("lxc.net.1.type: phys"),
            Some(("lxc.net.1.type", "phys"))
        );
        assert_eq!(
            lxc_key("lxc.net.1.type  = phys "),
            Some(("lxc.net.1.type", "phys"))
        );
        assert_eq!(lxc_key("lxc.net.1.type phys"), None);
        assert_eq!(
            net_index("lxc.net.12.ipv4.address"),
            Some((12, "ipv4.address"))
        );
    }
}
