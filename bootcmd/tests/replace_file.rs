//! `replace_file` and `write_atomic` against a hostile or odd target directory:
//! symlinks planted at the temp names the old writers used (`sriov-cli stats
//! --output` wrote `.NAME.<pid>.tmp` with `O_CREAT|O_TRUNC`; bootcmd wrote
//! `.NAME.bootcmd-<pid>-<n>.tmp`), a target that is a symlink, a FIFO or a device,
//! and the cleanup after a failed step.
//!
//! All fixtures are temp dirs of real files, symlinks and FIFOs; the one
//! exception is `/dev/null`, named as a target that must be refused untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use bootcmd::write::write_atomic;
use bootcmd::{replace_file, Error};

/// The names in `dir`.
fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn mkfifo(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

/// Run `f` on a thread; fail (instead of hanging the suite) if it takes over 10 s,
/// as opening a FIFO for reading or writing does until the other end comes.
fn within_10s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} still blocked after 10 s"))
}

/// A target directory in which a local user planted, at every temp name the old
/// writers would use for this process and the next 50 pids, a symlink to a
/// root-only file elsewhere (or, for odd `n`, to a name there that does not
/// exist yet, to catch an `O_CREAT` through a dangling link).
struct Planted {
    dir: tempfile::TempDir,
    _elsewhere: tempfile::TempDir,
    /// (victim, its content): must stay byte for byte, mode 0600.
    victims: Vec<(PathBuf, Vec<u8>)>,
    /// Dangling link targets: must still not exist.
    absent: Vec<PathBuf>,
    /// (link, what it points at): must still be there, unchanged.
    links: Vec<(PathBuf, PathBuf)>,
}

impl Planted {
    /// Plant for the files `names` (the target, and its `.bak` for write_atomic).
    fn new(names: &[&str]) -> Planted {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let (mut victims, mut absent, mut links) = (Vec::new(), Vec::new(), Vec::new());
        let pid = std::process::id();
        for p in pid..=pid + 50 {
            let victim = elsewhere.path().join(format!("shadow-{p}"));
            let content = format!("root:$6$secret-of-{p}:19000:0:99999:7:::\n").into_bytes();
            fs::write(&victim, &content).unwrap();
            fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
            victims.push((victim.clone(), content));
            for name in names {
                // sriov-cli stats --output: `.NAME.PID.tmp`, O_CREAT|O_TRUNC.
                links.push((dir.path().join(format!(".{name}.{p}.tmp")), victim.clone()));
                // bootcmd's old put(): `.NAME.bootcmd-PID-N.tmp`, N in 0..100.
                for n in 0..100 {
                    let to = if n % 2 == 0 {
                        victim.clone()
                    } else {
                        let a = elsewhere.path().join(format!("created-{name}-{p}-{n}"));
                        absent.push(a.clone());
                        a
                    };
                    links.push((dir.path().join(format!(".{name}.bootcmd-{p}-{n}.tmp")), to));
                }
            }
        }
        for (link, to) in &links {
            symlink(to, link).unwrap();
        }
        Planted {
            dir,
            _elsewhere: elsewhere,
            victims,
            absent,
            links,
        }
    }

    /// Every victim as it was, no dangling target created, every link in place,
    /// and nothing in the directory but the links and `expected`.
    fn assert_untouched(&self, expected: &[&str]) {
        for (v, content) in &self.victims {
            assert_eq!(
                &fs::read(v).unwrap(),
                content,
                "{} was written",
                v.display()
            );
            assert_eq!(mode(v), 0o600, "{} changed mode", v.display());
        }
        for a in &self.absent {
            assert!(
                fs::symlink_metadata(a).is_err(),
                "{} was created",
                a.display()
            );
        }
        for (link, to) in &self.links {
            assert_eq!(&fs::read_link(link).unwrap(), to, "{}", link.display());
        }
        let mut want: BTreeSet<String> = self
            .links
            .iter()
            .map(|(l, _)| l.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        want.extend(expected.iter().map(|s| s.to_string()));
        assert_eq!(entries(self.dir.path()), want, "temp file left over");
    }
}

#[test]
fn replace_file_ignores_symlinks_planted_at_every_old_temp_name() {
    let planted = Planted::new(&["sriov.prom"]);
    let target = planted.dir.path().join("sriov.prom");
    replace_file(&target, b"sriov_vf_rx_bytes 1\n", 0o644).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"sriov_vf_rx_bytes 1\n");
    assert!(fs::symlink_metadata(&target).unwrap().file_type().is_file());
    planted.assert_untouched(&["sriov.prom"]);
    // And again over the file it just made.
    replace_file(&target, b"sriov_vf_rx_bytes 2\n", 0o644).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"sriov_vf_rx_bytes 2\n");
    planted.assert_untouched(&["sriov.prom"]);
}

#[test]
fn write_atomic_ignores_symlinks_planted_at_every_old_temp_name() {
    let planted = Planted::new(&["cmdline", "cmdline.bak"]);
    let target = planted.dir.path().join("cmdline");
    fs::write(&target, "root=x\n").unwrap();
    let out = write_atomic(&target, b"root=x iommu=pt\n").unwrap();
    assert!(out.changed());
    assert_eq!(fs::read(&target).unwrap(), b"root=x iommu=pt\n");
    assert_eq!(
        fs::read(planted.dir.path().join("cmdline.bak")).unwrap(),
        b"root=x\n"
    );
    planted.assert_untouched(&["cmdline", "cmdline.bak"]);
}

#[test]
fn symlink_target_is_refused_and_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("shadow");
    fs::write(&victim, "root:secret\n").unwrap();
    let link = d.path().join("sriov.prom");
    symlink(&victim, &link).unwrap();
    let err = replace_file(&link, b"x\n", 0o644).unwrap_err();
    assert_eq!(
        err,
        Error::NotRegularFile {
            path: link.clone(),
            kind: "symbolic link"
        }
    );
    assert_eq!(fs::read(&victim).unwrap(), b"root:secret\n");
    assert_eq!(fs::read_link(&link).unwrap(), victim);
    assert_eq!(
        entries(d.path()),
        BTreeSet::from(["sriov.prom".to_string()])
    );

    // A dangling link: the file it names is not created either.
    let dangling = d.path().join("dangling");
    let nowhere = elsewhere.path().join("created");
    symlink(&nowhere, &dangling).unwrap();
    assert!(matches!(
        replace_file(&dangling, b"x\n", 0o644),
        Err(Error::NotRegularFile {
            kind: "symbolic link",
            ..
        })
    ));
    assert!(fs::symlink_metadata(&nowhere).is_err());
    assert_eq!(entries(d.path()).len(), 2);
}

#[test]
fn dev_stdout_is_refused_as_a_symlink() {
    let stdout = Path::new("/dev/stdout");
    match fs::symlink_metadata(stdout) {
        Ok(m) if m.file_type().is_symlink() => {}
        other => {
            eprintln!("SKIPPED dev_stdout_is_refused_as_a_symlink: /dev/stdout is not a symlink here ({other:?})");
            return;
        }
    }
    assert_eq!(
        replace_file(stdout, b"x\n", 0o644),
        Err(Error::NotRegularFile {
            path: stdout.to_owned(),
            kind: "symbolic link"
        })
    );
    assert!(fs::symlink_metadata(stdout)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn fifo_target_is_refused_at_once_and_stays_a_fifo() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("sriov.prom");
    mkfifo(&fifo);

    let f = fifo.clone();
    let got = within_10s("replace_file on a FIFO", move || {
        replace_file(&f, b"x\n", 0o644)
    });
    assert_eq!(
        got,
        Err(Error::NotRegularFile {
            path: fifo.clone(),
            kind: "FIFO"
        })
    );

    // write_atomic reads the old content first: it must not open the FIFO.
    let f = fifo.clone();
    let got = within_10s("write_atomic on a FIFO", move || write_atomic(&f, b"x\n"));
    assert_eq!(
        got,
        Err(Error::NotRegularFile {
            path: fifo.clone(),
            kind: "FIFO"
        })
    );
    // Also when reached through a symlink (write_atomic follows it).
    let link = d.path().join("link");
    symlink(&fifo, &link).unwrap();
    let l = link.clone();
    let got = within_10s("write_atomic via a symlink to a FIFO", move || {
        write_atomic(&l, b"x\n")
    });
    assert_eq!(
        got,
        Err(Error::NotRegularFile {
            path: fifo.clone(),
            kind: "FIFO"
        })
    );

    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(
        entries(d.path()),
        BTreeSet::from(["link".to_string(), "sriov.prom".to_string()])
    );
}

#[test]
fn dev_null_is_refused_before_anything_is_created_in_dev() {
    let null = Path::new("/dev/null");
    let err = replace_file(null, b"x\n", 0o644).unwrap_err();
    assert_eq!(
        err,
        Error::NotRegularFile {
            path: null.to_owned(),
            kind: "character device"
        }
    );
    assert_eq!(
        err.to_string(),
        "/dev/null is a character device, not a regular file; refusing to replace it"
    );
    assert!(fs::symlink_metadata(null)
        .unwrap()
        .file_type()
        .is_char_device());
    let left: Vec<_> = entries(Path::new("/dev"))
        .into_iter()
        .filter(|n| n.starts_with(".null.") && n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temp files left in /dev: {left:?}");
}

#[test]
fn write_atomic_refuses_a_character_device() {
    let d = tempfile::tempdir().unwrap();
    let dev = d.path().join("null");
    let c = CString::new(dev.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    if rc != 0 {
        eprintln!(
            "SKIPPED write_atomic_refuses_a_character_device: mknod needs CAP_MKNOD ({})",
            std::io::Error::last_os_error()
        );
        return;
    }
    assert_eq!(
        write_atomic(&dev, b"x\n"),
        Err(Error::NotRegularFile {
            path: dev.clone(),
            kind: "character device"
        })
    );
    assert!(fs::symlink_metadata(&dev)
        .unwrap()
        .file_type()
        .is_char_device());
    // No temp file, no null.bak.
    assert_eq!(entries(d.path()), BTreeSet::from(["null".to_string()]));
}

#[test]
fn directory_target_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("sriov.prom");
    fs::create_dir(&sub).unwrap();
    assert_eq!(
        replace_file(&sub, b"x\n", 0o644),
        Err(Error::NotRegularFile {
            path: sub.clone(),
            kind: "directory"
        })
    );
    assert_eq!(
        entries(d.path()),
        BTreeSet::from(["sriov.prom".to_string()])
    );
}

#[test]
fn creates_the_file_when_absent_with_the_mode_given_not_the_umask() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sriov.prom");
    // 0666 would come out 0644 under the usual umask 022 if the umask applied.
    replace_file(&p, b"new\n", 0o666).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new\n");
    assert_eq!(mode(&p), 0o666);
    assert_eq!(
        entries(d.path()),
        BTreeSet::from(["sriov.prom".to_string()])
    );
}

#[test]
fn replaces_an_existing_file_and_applies_the_mode() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sriov.prom");
    fs::write(&p, "old, longer than the new content\n").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    replace_file(&p, b"new\n", 0o640).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new\n");
    assert_eq!(mode(&p), 0o640);
    replace_file(&p, b"", 0o400).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"");
    assert_eq!(mode(&p), 0o400);
    assert_eq!(
        entries(d.path()),
        BTreeSet::from(["sriov.prom".to_string()])
    );
}

#[test]
fn empty_path_fails_at_create_temp_file() {
    let err = replace_file(Path::new(""), b"x", 0o644).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Write {
                step: "create temp file",
                source,
                ..
            } if source.kind() == std::io::ErrorKind::InvalidInput
        ),
        "{err:?}"
    );
}

#[test]
fn missing_parent_fails_at_create_temp_file_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("no-such-dir/sriov.prom");
    let err = replace_file(&p, b"x\n", 0o644).unwrap_err();
    match &err {
        Error::Write { path, step, source } => {
            assert_eq!(path, &p);
            assert_eq!(*step, "create temp file");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("cannot write {} (create temp file)", p.display())
    );
    assert!(entries(d.path()).is_empty());
}

#[test]
fn failed_rename_removes_the_temp_file_and_keeps_the_old_content() {
    // write_atomic first writes the backup `cmdline.bak`; make that a non-empty
    // directory, so the temp file is created and written, and the rename fails.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cmdline");
    fs::write(&p, "root=x\n").unwrap();
    let bak = d.path().join("cmdline.bak");
    fs::create_dir(&bak).unwrap();
    fs::write(bak.join("keep"), "k").unwrap();
    let err = write_atomic(&p, b"root=x iommu=pt\n").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Write { path, step: "rename temp file", .. } if *path == bak
        ),
        "{err:?}"
    );
    assert_eq!(fs::read(&p).unwrap(), b"root=x\n");
    assert_eq!(fs::read(bak.join("keep")).unwrap(), b"k");
    assert_eq!(
        entries(d.path()),
        BTreeSet::from(["cmdline".to_string(), "cmdline.bak".to_string()])
    );
}
