//! `cargo run -p bench --release -- <all|coldstart|sizes|latency|sync|writeback|rules|bulk|hot-text|report> [options]`
//!
//! Prints each figure as a table next to its same-run baseline (as a ratio), stores the run in
//! `target/bench/last.json` (`report` prints it again). Speed is measured here, never asserted
//! in tests. See BENCHMARKS.md.
//!
//! Options: `--rounds N` (cold starts per binary, default 10), `--warm N` (warm invocations per
//! cold start, default 100), `--no-build` (use the release binaries already built),
//! `--no-arm64` (sizes: skip the cargo-lambda cross build), `--label NAME` (keep this cold-start
//! table next to others, e.g. `before`), `--max-links N` (sync: largest scenario measured in
//! one process, default 100000; bigger ones are derived), `--only f1,f2` (cold starts of these
//! functions only), `--env NAME=VALUE` (added to the functions' environment in cold starts: what-if
//! variants), `--keep-page-cache` (cold starts: do not drop the binaries from the page cache
//! first).

mod bulk;
mod coldstart;
mod hot_data;
mod hot_text;
mod latency;
mod report;
mod rules;
mod sizes;
mod stats;
mod sync;
mod world;
mod writeback;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use report::{Machine, Report, Table};

const USAGE: &str = "usage: bench <all|coldstart|sizes|latency|sync|writeback|rules|bulk|hot-text|report> [--rounds N] [--warm N] [--no-build] [--no-arm64] [--keep-page-cache] [--label NAME] [--max-links N] [--only f1,f2] [--env NAME=VALUE]";

#[derive(Debug, Clone)]
struct Args {
    command: String,
    rounds: usize,
    warm: usize,
    build: bool,
    arm64: bool,
    /// `--keep-page-cache`: start the binaries from the page cache as it is (what-if).
    keep_page_cache: bool,
    label: Option<String>,
    max_links: usize,
    /// Cold starts of these functions only (plus the baseline).
    only: Option<Vec<String>>,
    /// Extra environment for the functions' cold starts (what-if variants, e.g. `SSL_CERT_FILE`).
    env: Vec<(String, String)>,
}

fn parse_args(raw: &[String]) -> Result<Args, String> {
    let mut args = Args {
        command: String::new(),
        rounds: coldstart::Options::default().rounds,
        warm: coldstart::Options::default().warm,
        build: true,
        arm64: true,
        keep_page_cache: false,
        label: None,
        max_links: 1_000_000,
        only: None,
        env: Vec::new(),
    };
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse()
                .map_err(|_| format!("{name} needs a whole number"))
        };
        match arg.as_str() {
            "--rounds" => args.rounds = number("--rounds")?.max(1),
            "--warm" => args.warm = number("--warm")?,
            "--max-links" => args.max_links = number("--max-links")?,
            "--no-build" => args.build = false,
            "--no-arm64" => args.arm64 = false,
            "--keep-page-cache" => args.keep_page_cache = true,
            "--env" => {
                let pair = it
                    .next()
                    .ok_or_else(|| "--env needs NAME=VALUE".to_string())?;
                let (name, value) = pair
                    .split_once('=')
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| format!("--env needs NAME=VALUE, not `{pair}`"))?;
                args.env.push((name.to_string(), value.to_string()));
            }
            "--only" => {
                let list = it.next().ok_or_else(|| {
                    "--only needs a comma-separated list of functions".to_string()
                })?;
                let names: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(unknown) = names
                    .iter()
                    .find(|n| !coldstart::FUNCTIONS.contains(&n.as_str()))
                {
                    return Err(format!("`{unknown}` is not a function"));
                }
                args.only = Some(names);
            }
            "--label" => {
                args.label = Some(
                    it.next()
                        .ok_or_else(|| "--label needs a value".to_string())?
                        .clone(),
                )
            }
            "all" | "coldstart" | "sizes" | "latency" | "sync" | "writeback" | "rules" | "bulk"
            | "report" | "hot-text"
                if args.command.is_empty() =>
            {
                args.command = arg.clone()
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if args.command.is_empty() {
        return Err("which benchmark?".into());
    }
    Ok(args)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Builds every function and the baseline with the release profile, in one cargo invocation, at
/// the lowest priority.
fn build_release(root: &Path) -> Result<(), String> {
    build_release_with(root, &[])
}

/// [`build_release`] with more environment for cargo (and the build scripts).
fn build_release_with(root: &Path, env: &[(&str, &Path)]) -> Result<(), String> {
    let mut command = Command::new("nice");
    command
        .args(["-n", "19", "cargo", "build", "--release"])
        .current_dir(root);
    for (name, value) in env {
        command.env(name, value);
    }
    for bin in coldstart::FUNCTIONS
        .iter()
        .chain([&coldstart::HELLO, &coldstart::FLOOR])
    {
        command.args(["--bin", bin]);
    }
    let status = command
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build --release failed ({status})"))
    }
}

async fn run_coldstart(root: &Path, args: &Args) -> Result<Table, String> {
    if args.build {
        build_release(root)?;
    }
    let target = target_dir(root);
    let mut world = coldstart::ColdWorld::start(root).await?;
    world.extra_env = args.env.clone();
    let options = coldstart::Options {
        rounds: args.rounds,
        warm: args.warm,
        drop_page_cache: !args.keep_page_cache,
    };
    let mut binaries = vec![coldstart::HELLO, coldstart::FLOOR];
    binaries.extend(coldstart::FUNCTIONS.iter().filter(|f| {
        args.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == *f))
    }));
    let runs = coldstart::measure(
        &target.join("release"),
        &world,
        &binaries,
        options,
        &target.join("bench").join("logs"),
    )
    .await?;
    let label = args
        .label
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    let mut table = coldstart::table(&runs, options, &label);
    if let Some(l) = &args.label {
        table.section = format!("coldstart:{l}");
    }
    if args.keep_page_cache {
        table.note("Variant (--keep-page-cache): the binaries started from the page cache as the build or a copy left it, not dropped from it first.");
    }
    if !args.env.is_empty() {
        let vars: Vec<String> = args.env.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        table.note(format!(
            "Variant: the functions (not the baseline) ran with {}.",
            vars.join(", ")
        ));
    }
    Ok(table)
}

fn run_sizes(root: &Path, args: &Args) -> Result<Table, String> {
    if args.build {
        build_release(root)?;
    }
    let mut bins: Vec<&str> = coldstart::FUNCTIONS.to_vec();
    bins.push(coldstart::HELLO);
    let note = if args.arm64 {
        match sizes::build_arm64(root, &bins) {
            Ok(()) => None,
            Err(e) => Some(format!(
                "The arm64 build did not run here ({e}); arm64 figures, where shown, are from an earlier build."
            )),
        }
    } else {
        Some("arm64 build skipped (--no-arm64): arm64 figures, where shown, are from an earlier build.".into())
    };
    Ok(sizes::table(&target_dir(root), note))
}

/// `bench hot-text`: every binary of the cold-start table built with its link map, run under
/// callgrind, and the functions that ran written to `infra/hot-text/hot-text.txt`
/// ([`hot_text`]). Not part of `all`: it rewrites a file of the project.
async fn run_hot_text(root: &Path, args: &Args) -> Result<Table, String> {
    let target = target_dir(root);
    let work = target.join("bench").join("hot-text");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    if args.build {
        build_release_with(root, &[("HOT_TEXT_MAPS", &work)])?;
    }
    let world = coldstart::ColdWorld::start(root).await?;
    let mut binaries = vec![coldstart::HELLO, coldstart::FLOOR];
    binaries.extend(coldstart::FUNCTIONS);
    let bin_dir = target.join("release");
    let (mut profiles, mut data) = (Vec::new(), Vec::new());
    for binary in binaries {
        let run = |warm| hot_text::Valgrind {
            bin_dir: &bin_dir,
            world: &world,
            binary,
            warm,
            work: &work,
        };
        let profile = hot_text::profile(&run(args.warm), &work).await?;
        let read = hot_data::profile(&run(hot_data::WARM.min(args.warm)), &work).await?;
        eprintln!(
            "hot-text: {binary}: {} functions ran, {} data sections read",
            profile.symbols.len(),
            read.sections.len()
        );
        profiles.push(profile);
        data.push(read);
    }
    let machine = Machine::describe();
    let note = |warm: usize| {
        format!(
            "Measured {} ({warm} warm events after the first, per binary).",
            machine.date
        )
    };
    let dir = root.join("infra").join("hot-text");
    let (list, data_list) = (dir.join("hot-text.txt"), dir.join("hot-data.txt"));
    std::fs::write(&list, hot_text::list(&profiles, &note(args.warm)))
        .map_err(|e| format!("{}: {e}", list.display()))?;
    let data_note = note(hot_data::WARM.min(args.warm));
    std::fs::write(&data_list, hot_data::list(&data, &data_note))
        .map_err(|e| format!("{}: {e}", data_list.display()))?;
    let mut table = hot_text::table(&profiles, &data);
    table.note(format!(
        "Written to {} and {}; the next release build links with them.",
        list.display(),
        data_list.display()
    ));
    Ok(table)
}

async fn run(args: &Args, root: &Path) -> Result<Report, String> {
    let mut tables = Vec::new();
    let all = args.command == "all";
    if args.command == "hot-text" {
        tables.push(run_hot_text(root, args).await?);
    }
    if all || args.command == "sizes" {
        tables.push(run_sizes(root, args)?);
    }
    if all || args.command == "coldstart" {
        let args = Args {
            build: args.build && !all,
            ..args.clone()
        };
        tables.push(run_coldstart(root, &args).await?);
    }
    if all || args.command == "latency" {
        let options = latency::Options::default();
        let measured = latency::measure_on_one_thread(options).await?;
        let note = (!local::FUNCTIONS.iter().any(|(n, _)| *n == "invoice-actions")).then(|| {
            "list and refresh: the local server does not mount invoice-actions yet, so its router runs on a second listener of the same process with the same App (same store, same simulators).".to_string()
        });
        tables.push(latency::table(&measured, options, note));
    }
    if all || args.command == "sync" {
        let figures = sync::measure(args.max_links).await?;
        tables.push(sync::table(&figures));
    }
    if all || args.command == "writeback" {
        let figures = writeback::measure().await?;
        tables.push(writeback::table(&figures));
    }
    if all || args.command == "rules" {
        let figures = rules::measure().await?;
        tables.push(rules::table(&figures));
    }
    if all || args.command == "bulk" {
        let figures = bulk::measure().await?;
        tables.push(bulk::table(&figures));
    }
    let machine = Machine::describe();
    for table in &mut tables {
        table.note(format!(
            "This table: {}, load average {} (1 min) when the run ended.",
            machine.date, machine.load
        ));
    }
    Ok(Report { machine, tables })
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&raw) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = world::workspace_root();
    let path = report::last_run_path(&target_dir(&root));
    if args.command == "report" {
        return match Report::load(&path) {
            Ok(report) => {
                println!("{}", report.to_markdown());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e} — run `cargo run -p bench --release -- all` first");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, &root)) {
        Ok(fresh) => {
            println!("{}", fresh.to_markdown());
            let mut last = Report::load(&path).unwrap_or_default();
            last.merge(fresh);
            if let Err(e) = last.save(&path) {
                eprintln!("could not store the run: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!(
                "stored in {} (`bench report` prints it again)",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &[&str]) -> Result<Args, String> {
        parse_args(&raw.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn commands_and_options() {
        let a = args(&["coldstart", "--rounds", "3", "--warm", "7", "--no-build"]).unwrap();
        assert_eq!(
            (a.command.as_str(), a.rounds, a.warm, a.build),
            ("coldstart", 3, 7, false)
        );
        let a = args(&["all"]).unwrap();
        assert_eq!(
            (a.rounds, a.warm, a.build, a.arm64, a.keep_page_cache),
            (10, 100, true, true, false)
        );
        assert!(
            args(&["coldstart", "--keep-page-cache"])
                .unwrap()
                .keep_page_cache
        );
        assert!(args(&[]).is_err());
        assert!(args(&["fast"]).unwrap_err().contains("fast"));
        assert!(args(&["sync", "--max-links"]).is_err());
        assert!(args(&["sync", "--max-links", "many"]).is_err());
        let only = args(&["coldstart", "--only", "settings,install"]).unwrap();
        assert_eq!(only.only.unwrap(), ["settings", "install"]);
        assert!(args(&["coldstart", "--only", "settings,nope"]).is_err());
        let env = args(&["coldstart", "--env", "SSL_CERT_DIR=/x=y"])
            .unwrap()
            .env;
        assert_eq!(env, [("SSL_CERT_DIR".to_string(), "/x=y".to_string())]);
        assert!(args(&["coldstart", "--env", "=1"]).is_err());
        assert_eq!(
            args(&["coldstart", "--label", "before"])
                .unwrap()
                .label
                .as_deref(),
            Some("before")
        );
    }
}
