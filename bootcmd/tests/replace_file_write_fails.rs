//! A write that fails half-way (the file size limit, `RLIMIT_FSIZE`, makes the
//! second `write(2)` fail with `EFBIG`): the temp file is removed and the old
//! content stays. Its own test binary, because the limit is per process and
//! would break the other tests' writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

use bootcmd::{replace_file, Error};

/// Lowers the soft `RLIMIT_FSIZE` and ignores `SIGXFSZ` (which would kill the
/// process) until dropped.
struct FileSizeLimit {
    old: libc::rlimit,
    old_handler: libc::sighandler_t,
}

impl FileSizeLimit {
    fn new(bytes: u64) -> FileSizeLimit {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `old` is a valid, writable rlimit for the call.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut old) }, 0);
        // SAFETY: SIG_IGN is a valid disposition for SIGXFSZ.
        let old_handler = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        let new = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: old.rlim_max,
        };
        // SAFETY: `new` is a valid rlimit; only the soft limit is lowered.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &new) }, 0);
        FileSizeLimit { old, old_handler }
    }
}

impl Drop for FileSizeLimit {
    fn drop(&mut self) {
        // SAFETY: restores the limit and the handler read in `new`.
        unsafe {
            libc::setrlimit(libc::RLIMIT_FSIZE, &self.old);
            libc::signal(libc::SIGXFSZ, self.old_handler);
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn failed_write_removes_the_temp_file_and_keeps_the_old_content() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sriov.prom");
    fs::write(&p, "old\n").unwrap();
    let big = vec![b'#'; 64 * 1024];
    let got = {
        let _limit = FileSizeLimit::new(4096);
        replace_file(&p, &big, 0o644)
    };
    match got {
        Err(Error::Write { path, step, source }) => {
            assert_eq!(path, p);
            assert_eq!(step, "write temp file");
            assert_eq!(source.raw_os_error(), Some(libc::EFBIG), "{source}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fs::read(&p).unwrap(), b"old\n");
    assert_eq!(names(d.path()), ["sriov.prom"]);
}
