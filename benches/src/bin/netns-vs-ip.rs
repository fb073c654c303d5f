//! Real-kernel comparison, in a throwaway network namespace: rename + up +
//! address N veth links through
//!
//! 1. netlink-vf's pipelined [`netlink_vf::Batch`] (what `sriov-cli setup` does),
//! 2. one `ip -batch FILE` process,
//! 3. one `ip` process per command (what the guide's boot script does, minus
//!    the bash around it, which only makes it slower).
//!
//! Every method gets fresh veths in a fresh namespace, created with netlink-vf
//! (not timed). Times are medians over `--reps` rounds with the methods
//! interleaved. The results are read back over netlink (every link renamed and
//! up, every address present) before a time counts. It prints times and ratios
//! against the issue's targets; it never asserts on timing.
//!
//! ```text
//! cargo run --release -p sriov-benches --bin netns-vs-ip -- [--sizes 64,256] [--reps 5]
//! ```
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for unshare(CLONE_NEWNET)) and
//! iproute2's `ip`; without either it says so loudly and exits 0.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use netlink_vf::{Handle, IfName, IpPrefix, Request};
use nix::sched::{unshare, CloneFlags};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Batch,
    IpBatch,
    IpPerCommand,
}

impl Method {
    const ALL: [Method; 3] = [Method::Batch, Method::IpBatch, Method::IpPerCommand];

    fn label(self) -> &'static str {
        match self {
            Method::Batch => "netlink-vf Batch",
            Method::IpBatch => "ip -batch",
            Method::IpPerCommand => "ip per command",
        }
    }
}

type Res<T> = Result<T, String>;

fn old_name(i: u32) -> String {
    format!("bv{i}")
}
fn new_name(i: u32) -> String {
    format!("lan{i}")
}
fn peer_name(i: u32) -> String {
    format!("bp{i}")
}
/// 10.H.L.1/24: one subnet per link, as VF netdevs on different VLANs get.
fn address(i: u32) -> IpPrefix {
    let [_, _, h, l] = i.to_be_bytes();
    // A /24 always fits IPv4.
    IpPrefix::new(IpAddr::V4(Ipv4Addr::new(10, h, l, 1)), 24)
        .unwrap_or_else(|_| IpPrefix::default_route(true))
}

fn ifname(s: &str) -> Res<IfName> {
    IfName::new(s).map_err(|e| format!("{s}: {e}"))
}

/// Every iproute2 command for `n` links in the guide's order (its unit file
/// renames every VF, then brings each up, then adds the addresses).
fn all_ip_commands(n: u32) -> Vec<Vec<String>> {
    let per: Vec<[Vec<String>; 3]> = (0..n).map(ip_commands).collect();
    (0..3)
        .flat_map(|phase| per.iter().map(move |c| c[phase].clone()))
        .collect()
}

/// The iproute2 commands for link `i`: rename, up, address.
fn ip_commands(i: u32) -> [Vec<String>; 3] {
    let (o, n) = (old_name(i), new_name(i));
    [
        vec![
            "link".into(),
            "set".into(),
            "dev".into(),
            o,
            "name".into(),
            n.clone(),
        ],
        vec![
            "link".into(),
            "set".into(),
            "dev".into(),
            n.clone(),
            "up".into(),
        ],
        vec![
            "address".into(),
            "add".into(),
            address(i).to_string(),
            "dev".into(),
            n,
        ],
    ]
}

/// Enters a new, empty network namespace (this process is single-threaded, so
/// the whole process and every `ip` it spawns live there) and opens a handle in it.
fn fresh_netns() -> Res<Handle> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    Handle::new().map_err(|e| format!("netlink socket: {e}"))
}

fn create_veths(h: &mut Handle, n: u32) -> Res<()> {
    let mut b = h.batch();
    for i in 0..n {
        b.push(Request::create_veth(
            &ifname(&old_name(i))?,
            &ifname(&peer_name(i))?,
        ));
    }
    let results = b.execute().map_err(|e| format!("creating veths: {e}"))?;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        return Err(format!("creating veths: {e}"));
    }
    Ok(())
}

/// `NETNS_VS_IP_DETAIL=1`: the same requests as three batches (all renames,
/// all ups, all addresses), each timed, to show where the kernel spends it.
fn run_batch_phases(
    h: &mut Handle,
    n: u32,
    index: &HashMap<String, u32>,
    dump: Duration,
) -> Res<()> {
    let mut idx = Vec::new();
    for i in 0..n {
        let name = old_name(i);
        idx.push(*index.get(&name).ok_or_else(|| format!("{name} missing"))?);
    }
    let mut phase = |what: &str, reqs: Vec<Request>| -> Res<()> {
        let t = Instant::now();
        let res = h.execute_all(&reqs).map_err(|e| format!("batch: {e}"))?;
        print!(" {what} {:.2} ms", ms(t.elapsed()));
        match res.into_iter().find(Result::is_err) {
            Some(Err(e)) => Err(format!("{what}: {e}")),
            _ => Ok(()),
        }
    };
    print!("    detail: link dump {:.2} ms;", ms(dump));
    let renames = (0..n)
        .zip(&idx)
        .map(|(i, &x)| Ok(Request::set_name(x, &ifname(&new_name(i))?)))
        .collect::<Res<Vec<_>>>()?;
    phase("renames", renames)?;
    phase(
        "ups",
        idx.iter().map(|&x| Request::set_up(x, true)).collect(),
    )?;
    phase(
        "addresses",
        (0..n)
            .zip(&idx)
            .map(|(i, &x)| Request::add_address(x, &address(i)))
            .collect(),
    )?;
    println!();
    Ok(())
}

/// What `sriov-cli` does: resolve names with one dump, then one pipelined batch.
fn run_batch(h: &mut Handle, n: u32) -> Res<()> {
    let t = Instant::now();
    let links = h.links().map_err(|e| format!("link dump: {e}"))?;
    let dump = t.elapsed();
    let index: HashMap<String, u32> = links
        .into_iter()
        .map(|l| (l.name.to_string(), l.index))
        .collect();
    if std::env::var_os("NETNS_VS_IP_DETAIL").is_some() {
        return run_batch_phases(h, n, &index, dump);
    }
    let mut idx = Vec::new();
    for i in 0..n {
        let name = old_name(i);
        idx.push(*index.get(&name).ok_or_else(|| format!("{name} missing"))?);
    }
    // One pipelined batch, in the guide's order (renames, ups, addresses).
    let mut b = h.batch();
    for (i, &x) in (0..n).zip(&idx) {
        b.push(Request::set_name(x, &ifname(&new_name(i))?));
    }
    for &x in &idx {
        b.push(Request::set_up(x, true));
    }
    for (i, &x) in (0..n).zip(&idx) {
        b.push(Request::add_address(x, &address(i)));
    }
    let results = b.execute().map_err(|e| format!("batch: {e}"))?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} requests failed, first: {}",
            failed.len(),
            failed[0]
        ))
    }
}

fn run_ip_batch(ip: &str, file: &std::path::Path) -> Res<()> {
    let st = Command::new(ip)
        .arg("-batch")
        .arg(file)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("{ip}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("ip -batch exited with {st}"))
    }
}

fn run_ip_each(ip: &str, n: u32) -> Res<()> {
    for cmd in all_ip_commands(n) {
        let st = Command::new(ip)
            .args(&cmd)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("{ip}: {e}"))?;
        if !st.success() {
            return Err(format!("ip {} exited with {st}", cmd.join(" ")));
        }
    }
    Ok(())
}

/// Reads the namespace back over netlink: every link renamed and up, every
/// address present.
fn verify(h: &mut Handle, n: u32) -> Res<()> {
    let links = h.links().map_err(|e| format!("link dump: {e}"))?;
    let by_name: HashMap<String, (u32, bool)> = links
        .into_iter()
        .map(|l| (l.name.to_string(), (l.index, l.up)))
        .collect();
    let addrs = h
        .addresses(None)
        .map_err(|e| format!("address dump: {e}"))?;
    for i in 0..n {
        let name = new_name(i);
        let (idx, up) = *by_name
            .get(&name)
            .ok_or_else(|| format!("{name} not found after the run"))?;
        if !up {
            return Err(format!("{name} is not up"));
        }
        let want = address(i);
        if !addrs.iter().any(|a| a.index == idx && a.prefix == want) {
            return Err(format!("{name} lacks {want}"));
        }
    }
    Ok(())
}

fn one_run(method: Method, n: u32, ip: &str, batch_file: &std::path::Path) -> Res<Duration> {
    let mut h = fresh_netns()?;
    create_veths(&mut h, n)?;
    let t = Instant::now();
    match method {
        Method::Batch => run_batch(&mut h, n)?,
        Method::IpBatch => run_ip_batch(ip, batch_file)?,
        Method::IpPerCommand => run_ip_each(ip, n)?,
    }
    let dt = t.elapsed();
    verify(&mut h, n).map_err(|e| format!("{}: {e}", method.label()))?;
    Ok(dt)
}

fn write_batch_file(n: u32) -> Res<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("netns-vs-ip-{}-{n}.batch", std::process::id()));
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for cmd in all_ip_commands(n) {
        writeln!(f, "{}", cmd.join(" ")).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Args {
    sizes: Vec<u32>,
    reps: usize,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        sizes: vec![64, 256],
        reps: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sizes" => {
                let v = it.next().ok_or("--sizes needs a value")?;
                a.sizes = v
                    .split(',')
                    .map(|s| s.parse().map_err(|_| format!("bad size {s}")))
                    .collect::<Res<_>>()?;
            }
            "--reps" => {
                let v = it.next().ok_or("--reps needs a value")?;
                a.reps = v.parse().map_err(|_| format!("bad --reps {v}"))?;
            }
            // `cargo bench` passes --bench; libtest-style filters are ignored.
            "--bench" => {}
            "-h" | "--help" => {
                println!("netns-vs-ip [--sizes 64,256] [--reps 5]   (root; needs iproute2's ip)");
                std::process::exit(0);
            }
            _ => {}
        }
    }
    if a.sizes.iter().any(|&n| n == 0 || n > 60_000) || a.reps == 0 {
        return Err("sizes must be 1..=60000 and --reps at least 1".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("netns-vs-ip: {e}");
            return ExitCode::from(2);
        }
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "netns-vs-ip: SKIPPED: needs root (unshare(CLONE_NEWNET), creating veths); rerun as root"
        );
        return ExitCode::SUCCESS;
    }
    let ip = "ip";
    match Command::new(ip).arg("-V").output() {
        Ok(o) if o.status.success() => {
            println!(
                "iproute2: {}",
                String::from_utf8_lossy(&o.stdout).trim().replace('\n', " ")
            );
        }
        _ => {
            eprintln!("netns-vs-ip: SKIPPED: iproute2's `ip` is not on PATH");
            return ExitCode::SUCCESS;
        }
    }
    println!(
        "rename + up + address add on N veths, fresh namespace per run, median of {} runs",
        args.reps
    );
    let mut rows = Vec::new();
    for &n in &args.sizes {
        let file = match write_batch_file(n) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("netns-vs-ip: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut times: HashMap<&str, Vec<Duration>> = HashMap::new();
        for rep in 0..args.reps {
            for m in Method::ALL {
                match one_run(m, n, ip, &file) {
                    Ok(d) => {
                        println!("  N={n:<4} run {rep} {:<17} {:>9.2} ms", m.label(), ms(d));
                        times.entry(m.label()).or_default().push(d);
                    }
                    Err(e) => {
                        eprintln!("netns-vs-ip: N={n} {}: {e}", m.label());
                        let _ = std::fs::remove_file(&file);
                        return ExitCode::FAILURE;
                    }
                }
                // Let the previous namespace's teardown (a kernel work item) finish.
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let _ = std::fs::remove_file(&file);
        let med: Vec<Duration> = Method::ALL
            .iter()
            .map(|m| median(times.entry(m.label()).or_default()))
            .collect();
        rows.push((n, med));
    }
    println!();
    println!(
        "{:>5} | {:>16} | {:>10} | {:>14} | {:>19} | {:>22}",
        "N",
        "netlink-vf Batch",
        "ip -batch",
        "ip per command",
        "ours / ip -batch",
        "per-command / ours"
    );
    println!("{}", "-".repeat(100));
    for (n, med) in &rows {
        let (ours, batch, each) = (ms(med[0]), ms(med[1]), ms(med[2]));
        let r_batch = ours / batch;
        let r_each = each / ours;
        println!(
            "{n:>5} | {ours:>13.2} ms | {batch:>7.2} ms | {each:>11.2} ms | {r_batch:>9.3}x {:<9} | {r_each:>12.1}x {:<9}",
            if r_batch <= 0.5 { "(<=0.5 ok)" } else { "(>0.5 MISS)" },
            if r_each >= 20.0 { "(>=20 ok)" } else { "(<20 MISS)" },
        );
    }
    println!();
    println!(
        "targets (issue 8): ours <= 0.5x of ip -batch; ours >= 20x faster than one ip per command"
    );
    ExitCode::SUCCESS
}
