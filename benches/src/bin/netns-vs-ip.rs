//! Real-kernel comparison, in a throwaway network namespace: rename + up +
//! address N veth links through
//!
//! 1. netlink-vf: the N names looked up in one pipelined exchange
//!    ([`Handle::links_by_name`]), then one pipelined [`netlink_vf::Batch`] of
//!    N RTM_SETLINKs that rename and bring up ([`Request::set_link`]) and N
//!    RTM_NEWADDRs,
//! 2. one `ip -batch FILE` process with the guide's commands (`link set dev
//!    OLD name NEW`, `link set dev NEW up`, `address add A dev NEW`),
//! 3. the same with iproute2's own merged form (`link set dev OLD name NEW
//!    up`, one request like ours), so the gain of merging is shown apart,
//! 4. one `ip` process per command (what the guide's boot script does, minus
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

use netlink_vf::{Handle, IfName, IpPrefix, LinkChange, Request};
use nix::sched::{unshare, CloneFlags};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Batch,
    IpBatch,
    IpBatchMerged,
    IpPerCommand,
}

impl Method {
    const ALL: [Method; 4] = [
        Method::Batch,
        Method::IpBatch,
        Method::IpBatchMerged,
        Method::IpPerCommand,
    ];

    fn label(self) -> &'static str {
        match self {
            Method::Batch => "netlink-vf Batch",
            Method::IpBatch => "ip -batch",
            Method::IpBatchMerged => "ip -batch merged",
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

/// iproute2's merged form: `link set dev OLD name NEW up` (one RTM_NEWLINK,
/// as ours), then the addresses.
fn merged_ip_commands(n: u32) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let mut c = ip_commands(i)[0].clone();
            c.push("up".into());
            c
        })
        .collect();
    out.extend((0..n).map(|i| ip_commands(i)[2].clone()));
    out
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

/// The N links' indexes, looked up by name in one pipelined exchange.
fn lookup(h: &mut Handle, n: u32) -> Res<Vec<u32>> {
    let names = (0..n)
        .map(|i| ifname(&old_name(i)))
        .collect::<Res<Vec<_>>>()?;
    h.links_by_name(&names)
        .map_err(|e| format!("lookup: {e}"))?
        .into_iter()
        .zip(&names)
        .map(|(r, name)| r.map(|l| l.index).map_err(|e| format!("{name}: {e}")))
        .collect()
}

/// One RTM_SETLINK per link: the new name and IFF_UP (the kernel renames
/// first, then opens).
fn rename_up_requests(n: u32, idx: &[u32]) -> Res<Vec<Request>> {
    (0..n)
        .zip(idx)
        .map(|(i, &x)| {
            let change = LinkChange {
                name: Some(ifname(&new_name(i))?),
                up: Some(true),
                ..LinkChange::default()
            };
            Ok(Request::set_link(x, &change))
        })
        .collect()
}

fn address_requests(n: u32, idx: &[u32]) -> Vec<Request> {
    (0..n)
        .zip(idx)
        .map(|(i, &x)| Request::add_address(x, &address(i)))
        .collect()
}

fn first_failure(what: &str, results: Vec<Result<(), netlink_vf::Error>>) -> Res<()> {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    match failed.first() {
        None => Ok(()),
        Some(f) => Err(format!(
            "{what}: {} requests failed, first: {f}",
            failed.len()
        )),
    }
}

/// `NETNS_VS_IP_DETAIL=1`: the same requests in separately timed parts, to
/// show where the kernel spends it, plus the renames and ups as separate
/// requests (the guide's form) for comparison.
fn run_batch_phases(h: &mut Handle, n: u32) -> Res<()> {
    let t = Instant::now();
    let idx = lookup(h, n)?;
    print!("    detail: lookup {:.2} ms;", ms(t.elapsed()));
    let mut phase = |what: &str, reqs: Vec<Request>| -> Res<()> {
        let t = Instant::now();
        let res = h.execute_all(&reqs).map_err(|e| format!("batch: {e}"))?;
        print!(" {what} {:.2} ms", ms(t.elapsed()));
        first_failure(what, res)
    };
    if std::env::var_os("NETNS_VS_IP_DETAIL").is_some_and(|v| v == "split") {
        let renames = (0..n)
            .zip(&idx)
            .map(|(i, &x)| Ok(Request::set_name(x, &ifname(&new_name(i))?)))
            .collect::<Res<Vec<_>>>()?;
        phase("renames", renames)?;
        phase(
            "ups",
            idx.iter().map(|&x| Request::set_up(x, true)).collect(),
        )?;
    } else {
        phase("renames+ups", rename_up_requests(n, &idx)?)?;
    }
    phase("addresses", address_requests(n, &idx))?;
    println!();
    Ok(())
}

/// What netlink-vf offers a tool: look the names up, then one pipelined batch.
fn run_batch(h: &mut Handle, n: u32) -> Res<()> {
    if std::env::var_os("NETNS_VS_IP_DETAIL").is_some() {
        return run_batch_phases(h, n);
    }
    let idx = lookup(h, n)?;
    let mut b = h.batch();
    for r in rename_up_requests(n, &idx)? {
        b.push(r);
    }
    for r in address_requests(n, &idx) {
        b.push(r);
    }
    first_failure("batch", b.execute().map_err(|e| format!("batch: {e}"))?)
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

fn one_run(method: Method, n: u32, ip: &str, files: &BatchFiles) -> Res<Duration> {
    let mut h = fresh_netns()?;
    create_veths(&mut h, n)?;
    let t = Instant::now();
    match method {
        Method::Batch => run_batch(&mut h, n)?,
        Method::IpBatch => run_ip_batch(ip, &files.guide)?,
        Method::IpBatchMerged => run_ip_batch(ip, &files.merged)?,
        Method::IpPerCommand => run_ip_each(ip, n)?,
    }
    let dt = t.elapsed();
    verify(&mut h, n).map_err(|e| format!("{}: {e}", method.label()))?;
    Ok(dt)
}

/// The two `ip -batch` input files of one size, removed on drop.
struct BatchFiles {
    guide: std::path::PathBuf,
    merged: std::path::PathBuf,
}

impl Drop for BatchFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.guide);
        let _ = std::fs::remove_file(&self.merged);
    }
}

fn write_batch_file(n: u32, form: &str, cmds: Vec<Vec<String>>) -> Res<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "netns-vs-ip-{}-{n}-{form}.batch",
        std::process::id()
    ));
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for cmd in cmds {
        writeln!(f, "{}", cmd.join(" ")).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

fn write_batch_files(n: u32) -> Res<BatchFiles> {
    let guide = write_batch_file(n, "guide", all_ip_commands(n))?;
    let merged = write_batch_file(n, "merged", merged_ip_commands(n)).inspect_err(|_| {
        let _ = std::fs::remove_file(&guide);
    })?;
    Ok(BatchFiles { guide, merged })
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
        let files = match write_batch_files(n) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("netns-vs-ip: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut times: HashMap<&str, Vec<Duration>> = HashMap::new();
        for rep in 0..args.reps {
            for m in Method::ALL {
                match one_run(m, n, ip, &files) {
                    Ok(d) => {
                        println!("  N={n:<4} run {rep} {:<17} {:>9.2} ms", m.label(), ms(d));
                        times.entry(m.label()).or_default().push(d);
                    }
                    Err(e) => {
                        eprintln!("netns-vs-ip: N={n} {}: {e}", m.label());
                        return ExitCode::FAILURE;
                    }
                }
                // Let the previous namespace's teardown (a kernel work item) finish.
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        drop(files);
        let med: Vec<Duration> = Method::ALL
            .iter()
            .map(|m| median(times.entry(m.label()).or_default()))
            .collect();
        rows.push((n, med));
    }
    println!();
    println!(
        "{:>5} | {:>11} | {:>10} | {:>11} | {:>11} | {:>19} | {:>13} | {:>19}",
        "N",
        "netlink-vf",
        "ip -batch",
        "ip -b merged",
        "ip per cmd",
        "ours / ip -batch",
        "ours / merged",
        "per-command / ours"
    );
    println!("{}", "-".repeat(124));
    for (n, med) in &rows {
        let (ours, batch, merged, each) = (ms(med[0]), ms(med[1]), ms(med[2]), ms(med[3]));
        let r_batch = ours / batch;
        let r_merged = ours / merged;
        let r_each = each / ours;
        println!(
            "{n:>5} | {ours:>8.2} ms | {batch:>7.2} ms | {merged:>9.2} ms | {each:>8.2} ms | {r_batch:>7.3}x {:<11} | {r_merged:>12.3}x | {r_each:>7.1}x {:<11}",
            if r_batch <= 0.5 { "(<=0.5 ok)" } else { "(>0.5 MISS)" },
            if r_each >= 20.0 { "(>=20 ok)" } else { "(<20 MISS)" },
        );
    }
    println!();
    println!(
        "targets (issue 8): ours <= 0.5x of ip -batch (the guide's commands); ours >= 20x faster than one ip per command"
    );
    ExitCode::SUCCESS
}
