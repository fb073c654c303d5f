//! The other network namespaces of the host, and a [`Handle`] opened inside
//! one of them.
//!
//! A VF netdev moved into a container (`lxc.net.N.type = phys`) or into an
//! `ip netns` namespace leaves the host's namespace: its PF still lists the
//! VF, but the netdev, its counters included, is only visible from inside.
//! [`namespaces`] finds the namespaces the way `ip netns` and `lsns -t net`
//! do (the names under `/run/netns`, and every process's `/proc/PID/ns/net`,
//! one entry per namespace), and [`Handle::in_netns`] opens an rtnetlink
//! socket in one: a socket keeps the namespace it was created in, so the
//! handle works from any thread afterwards.
//!
//! ```no_run
//! use std::path::Path;
//! use netlink_vf::{namespaces, Handle};
//!
//! # fn main() -> Result<(), netlink_vf::Error> {
//! for ns in namespaces(Path::new("/"))? {
//!     let mut h = Handle::in_netns(&ns.path)?;
//!     for l in h.links()? {
//!         if l.parent_bus.as_deref() == Some("pci") {
//!             println!("{ns}: {} on {:?}", l.name, l.parent_dev);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::{Error, Handle};

/// A network namespace other than the caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// A file that holds it: `/run/netns/NAME`, else `/proc/PID/ns/net` of
    /// its lowest pid (under the root the listing was given).
    pub path: PathBuf,
    /// Its `ip netns` name, when it has one.
    pub name: Option<String>,
    /// The lowest pid running in it (a container's init), when any does.
    pub pid: Option<u32>,
    /// Its identity: the device and inode of its nsfs file (`ls -iL
    /// /proc/PID/ns/net`), the same for every file that holds it.
    pub id: (u64, u64),
}

impl Netns {
    /// A short label: the `ip netns` name, else `pid:N`.
    pub fn label(&self) -> String {
        match (&self.name, self.pid) {
            (Some(n), _) => n.clone(),
            (None, Some(p)) => format!("pid:{p}"),
            (None, None) => self.path.display().to_string(),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, self.pid) {
            (Some(n), Some(p)) => write!(f, "network namespace {n} (pid {p})"),
            (Some(n), None) => write!(f, "network namespace {n}"),
            (None, Some(p)) => write!(f, "the network namespace of pid {p}"),
            (None, None) => write!(f, "network namespace {}", self.path.display()),
        }
    }
}

fn netns_error(path: &Path, call: &'static str, e: &io::Error) -> Error {
    Error::Netns {
        path: path.to_path_buf(),
        call,
        errno: e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// Every network namespace under `root` (`/` for the running system; a
/// fixture tree in tests) but the caller's own (`proc/self/ns/net`): named
/// ones (`run/netns/*`) first, by name, then the others by their lowest pid.
/// Processes that end while the listing runs, or whose namespace file cannot
/// be read (not root), are left out.
///
/// # Errors
/// [`Error::Netns`] when `root/proc` cannot be listed, or the caller's own
/// namespace cannot be read.
pub fn namespaces(root: &Path) -> Result<Vec<Netns>, Error> {
    let own_path = root.join("proc/self/ns/net");
    let own = fs::metadata(&own_path)
        .map(|m| (m.dev(), m.ino()))
        .map_err(|e| netns_error(&own_path, "stat", &e))?;
    let mut by_id: BTreeMap<(u64, u64), Netns> = BTreeMap::new();
    // `ip netns add` bind-mounts each namespace at /run/netns/NAME.
    let run = root.join("run/netns");
    if let Ok(dir) = fs::read_dir(&run) {
        let mut named: Vec<(String, PathBuf)> = dir
            .flatten()
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect();
        named.sort();
        for (name, path) in named {
            let Ok(m) = fs::metadata(&path) else { continue };
            let id = (m.dev(), m.ino());
            // An empty mount point (a namespace deleted under us) has the
            // tmpfs's device, not nsfs's: it is still a distinct file, and
            // opening it for setns fails later with a named error.
            if id == own {
                continue;
            }
            by_id.entry(id).or_insert(Netns {
                path,
                name: Some(name),
                pid: None,
                id,
            });
        }
    }
    let proc = root.join("proc");
    let mut pids: Vec<u32> = fs::read_dir(&proc)
        .map_err(|e| netns_error(&proc, "readdir", &e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let path = proc.join(pid.to_string()).join("ns/net");
        let Ok(m) = fs::metadata(&path) else { continue };
        let id = (m.dev(), m.ino());
        if id == own {
            continue;
        }
        by_id
            .entry(id)
            .and_modify(|n| {
                n.pid.get_or_insert(pid);
            })
            .or_insert(Netns {
                path,
                name: None,
                pid: Some(pid),
                id,
            });
    }
    let mut all: Vec<Netns> = by_id.into_values().collect();
    all.sort_by(|a, b| (a.name.is_none(), &a.name, a.pid).cmp(&(b.name.is_none(), &b.name, b.pid)));
    Ok(all)
}

impl Handle {
    /// Opens a NETLINK_ROUTE socket inside the network namespace held by
    /// `ns` (`/run/netns/NAME`, `/proc/PID/ns/net`): on a short-lived thread
    /// that enters it with `setns(2)`, so the caller's own namespace never
    /// changes. The handle acts on that namespace from then on.
    ///
    /// # Errors
    /// [`Error::Netns`] when the file cannot be opened or entered (needs
    /// CAP_SYS_ADMIN); [`Error::Socket`] as for [`Handle::new`].
    pub fn in_netns(ns: &Path) -> Result<Handle, Error> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let f = fs::File::open(ns).map_err(|e| netns_error(ns, "open", &e))?;
                nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                    |e| Error::Netns {
                        path: ns.to_path_buf(),
                        call: "setns",
                        errno: e as i32,
                    },
                )?;
                Handle::new()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Netns {
                    path: ns.to_path_buf(),
                    call: "thread",
                    errno: libc::EIO,
                })
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A fixture root: `proc/<pid>/ns/net` files, where hard links to one
    /// file stand for processes in one namespace (one inode), and
    /// `proc/self/ns/net` links to the caller's.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Self {
            let d = std::env::temp_dir().join(format!("nlvf-netns-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(d.join("ns")).unwrap();
            Tree(d)
        }
        /// A namespace file `ns/<id>`.
        fn ns(&self, id: &str) -> PathBuf {
            let p = self.0.join("ns").join(id);
            if !p.exists() {
                fs::write(&p, id).unwrap();
            }
            p
        }
        fn proc(&self, pid: &str, ns: &str) {
            let d = self.0.join("proc").join(pid).join("ns");
            fs::create_dir_all(&d).unwrap();
            fs::hard_link(self.ns(ns), d.join("net")).unwrap();
        }
        fn named(&self, name: &str, ns: &str) {
            let d = self.0.join("run/netns");
            fs::create_dir_all(&d).unwrap();
            fs::hard_link(self.ns(ns), d.join(name)).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn one_entry_per_namespace_named_first_the_callers_left_out() {
        let t = Tree::new("list");
        t.proc("self", "host");
        t.proc("1", "host");
        t.proc("700", "host");
        // A container: init 4242 and a child, one namespace.
        t.proc("4243", "ct101");
        t.proc("4242", "ct101");
        // `ip netns add vm5` with a process in it, and one without.
        t.named("vm5", "vm5");
        t.proc("900", "vm5");
        t.named("empty", "empty");
        // Not a pid.
        fs::create_dir_all(t.0.join("proc/sys")).unwrap();
        let all = namespaces(&t.0).unwrap();
        let got: Vec<(Option<&str>, Option<u32>, String)> = all
            .iter()
            .map(|n| (n.name.as_deref(), n.pid, n.label()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("empty"), None, "empty".to_string()),
                (Some("vm5"), Some(900), "vm5".to_string()),
                (None, Some(4242), "pid:4242".to_string()),
            ]
        );
        assert_eq!(all[1].path, t.0.join("run/netns/vm5"));
        assert_eq!(all[2].path, t.0.join("proc/4242/ns/net"));
        assert_eq!(all[1].to_string(), "network namespace vm5 (pid 900)");
        assert_eq!(all[2].to_string(), "the network namespace of pid 4242");
        let ids: std::collections::BTreeSet<_> = all.iter().map(|n| n.id).collect();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn a_process_whose_namespace_cannot_be_read_is_left_out() {
        let t = Tree::new("gone");
        t.proc("self", "host");
        t.proc("10", "ct");
        // A pid directory without its ns file: the process ended.
        fs::create_dir_all(t.0.join("proc/11")).unwrap();
        let all = namespaces(&t.0).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].pid, Some(10));
    }

    #[test]
    fn no_proc_is_an_error_naming_the_file() {
        let t = Tree::new("noproc");
        let e = namespaces(&t.0).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("proc/self/ns/net") && s.contains("ENOENT"),
            "{s}"
        );
    }

    #[test]
    fn entering_a_file_that_is_no_namespace_is_a_named_error() {
        let t = Tree::new("enter");
        let f = t.ns("plain");
        let e = Handle::in_netns(&f).unwrap_err();
        match &e {
            Error::Netns { path, call, errno } => {
                assert_eq!(path, &f);
                assert_eq!(*call, "setns");
                assert_eq!(*errno, libc::EINVAL, "{e}");
            }
            other => panic!("{other:?}"),
        }
        let e = Handle::in_netns(&t.0.join("missing")).unwrap_err();
        assert!(
            e.to_string().contains("open") && e.to_string().contains("ENOENT"),
            "{e}"
        );
    }
}
