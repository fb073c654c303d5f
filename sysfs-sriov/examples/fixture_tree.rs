//! Writes a small fixture host and prints its tree (feature `fixture`):
//! `cargo run -p sysfs-sriov --example fixture_tree --features fixture`.

use sysfs_sriov::fixture::{HostBuilder, PfSpec, VfDriver};

fn walk(dir: &std::path::Path, root: &std::path::Path) -> std::io::Result<()> {
    let mut ents: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    ents.sort_by_key(|e| e.file_name());
    for e in ents {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
        let ft = e.file_type()?;
        if ft.is_symlink() {
            println!("{rel} -> {}", std::fs::read_link(&p)?.display());
        } else if ft.is_dir() {
            walk(&p, root)?;
        } else {
            println!("{rel} = {:?}", std::fs::read_to_string(&p)?.trim_end());
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = HostBuilder::new()
        .pf(PfSpec::intel_82576("0000:01:00.0".parse()?)
            .netdev("eth0")
            .vfs(2)
            .vf_driver_at(1, VfDriver::VfioPci))
        .udev(true)
        .build()?;
    walk(host.root(), host.root())?;
    Ok(())
}
