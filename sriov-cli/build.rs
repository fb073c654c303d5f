//! Renders the man pages (clap_mangen) and the bash, zsh and fish completions
//! (clap_complete) from the clap definitions in `src/cli.rs`, the same module
//! the binary parses its command line with, so they cannot drift from it.
//! Nothing here is edited by hand or committed.
//!
//! Output: `$OUT_DIR/`, and the same files in `<target>/<profile>/sriov-cli-generated/`
//! (`man/sriov-cli*.8.gz`, `completions/{sriov-cli.bash,_sriov-cli,sriov-cli.fish}`),
//! the stable path that cargo-deb's assets name as `target/release/...`
//! (cargo-deb maps that prefix to the real target directory, `CARGO_TARGET_DIR`
//! and `--target` included). `OUT_DIR` is `<target>/<profile>/build/<pkg>-<hash>/out`.
//! Man pages are compressed as Debian wants them (`gzip -9n`: best level, no name,
//! no timestamp), so the package is reproducible.

use std::error::Error;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};

#[allow(dead_code)] // the build only renders the grammar; it parses nothing
#[path = "src/cli.rs"]
mod cli;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/cli.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    render(&out.join("sriov-cli-generated"))?;
    // <target>/<profile>/build/<pkg>-<hash>/out -> <target>/<profile>
    if let Some(profile_dir) = out.ancestors().nth(3) {
        render(&profile_dir.join("sriov-cli-generated"))?;
    }
    Ok(())
}

/// Writes `man/` and `completions/` under `dir`.
fn render(dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut cmd = cli::Cli::command();
    // Propagates the global options (--root, --config, ...) into the
    // subcommands, so every page lists them.
    cmd.build();
    let man = dir.join("man");
    fs::create_dir_all(&man)?;
    // `help` is no page of its own (every page is the help).
    let mut pages = no_help(cli::Cli::command());
    pages.build();
    man_pages(&pages, "sriov-cli", "sriov-cli", &date()?, &man)?;
    let comp = dir.join("completions");
    fs::create_dir_all(&comp)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "sriov-cli", &comp)?;
    }
    Ok(())
}

/// `cmd` and its subcommands without the `help` subcommand.
fn no_help(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_subcommand(true).mut_subcommands(no_help)
}

/// The pages' date (`YYYY-MM-DD`, UTC): `SOURCE_DATE_EPOCH` when set (a
/// reproducible build), else today.
fn date() -> Result<String, Box<dyn Error>> {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let secs: i64 = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => s.trim().parse()?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            .try_into()?,
    };
    // Days since 1970-01-01 to a civil date (H. Hinnant's `civil_from_days`).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

/// `name.8.gz` for `cmd`, then one page per subcommand (`sriov-cli-generate-lxc.8.gz`).
fn man_pages(
    cmd: &clap::Command,
    name: &str,
    bin: &str,
    date: &str,
    dir: &Path,
) -> Result<(), Box<dyn Error>> {
    let page = cmd.clone().name(name.to_string()).bin_name(bin.to_string());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .section("8")
        .date(date)
        .manual("System Administration")
        .source(format!("sriov-cli {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)?;
    let file = fs::File::create(dir.join(format!("{name}.8.gz")))?;
    let mut gz: GzEncoder<fs::File> = GzBuilder::new().write(file, Compression::best());
    gz.write_all(&roff)?;
    gz.finish()?;
    for sub in cmd.get_subcommands() {
        man_pages(
            sub,
            &format!("{name}-{}", sub.get_name()),
            &format!("{bin} {}", sub.get_name()),
            date,
            dir,
        )?;
    }
    Ok(())
}
