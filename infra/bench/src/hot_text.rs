//! `bench hot-text`: which code each release binary runs at a cold start, written to
//! `infra/hot-text/hot-text.txt` for the linker (`infra/hot-text`: the code that runs, first).
//!
//! Every binary of the cold-start table is built with its link map (`HOT_TEXT_MAPS`), then
//! started under valgrind's callgrind against the same Runtime API, store and simulators as
//! `bench coldstart`, sent the same first event and `--warm` more, and stopped with SIGTERM
//! (callgrind writes its record then). Every instruction address the record shows inside the
//! executable's code is looked up in the link map: the input section that holds it names the
//! function (`.text.<symbol>`). The union over all binaries is the list, sorted.
//!
//! The binaries are the stripped release ones, exactly as `bench coldstart` and `sam build`
//! make them: callgrind's instruction addresses need no symbols, and the link map carries the
//! names. Code that only assembly files hold (`.text` without a name) cannot be listed: the C
//! runtime's start files are placed by file name in `infra/hot-text` instead, ring's assembler
//! (TLS, which the loopback world does not run) is left out. A second pass
//! ([`crate::hot_data`]) lists the read-only data each binary reads.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use emulation::runtime_api::RuntimeApi;

use crate::coldstart::{ColdWorld, event_for};
use crate::report::Table;

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// One input section of the executable's code, from the link map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub start: u64,
    pub size: u64,
    /// The symbol the section is named after (`.text.` / `.text.unlikely.` removed); `None` for
    /// a plain `.text` (assembly, the C runtime).
    pub symbol: Option<String>,
}

/// One input section of an lld link map (`-Map`): where it lies, its size, its name (what is
/// inside `file:(…)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSection {
    pub start: u64,
    pub size: u64,
    pub name: String,
}

/// The input sections of the output sections `outputs` in an lld link map, sorted by address.
pub fn map_sections(map: &str, outputs: &[&str]) -> Result<Vec<MapSection>, String> {
    let mut lines = map.lines();
    let header = lines.next().ok_or("the link map is empty")?;
    let (out_col, in_col) = match (header.find("Out"), header.find("In ")) {
        (Some(o), Some(i)) if i > o => (o, i),
        _ => return Err(format!("not an lld link map header: `{header}`")),
    };
    let column = |line: &str, col: usize| line.len() > col && line.as_bytes()[col] != b' ';
    let mut inside = false;
    let mut sections = Vec::new();
    for line in lines {
        if column(line, out_col) {
            let name = line[out_col..].split_whitespace().next().unwrap_or("");
            inside = outputs.contains(&name);
            continue;
        }
        if !inside || !column(line, in_col) {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(start), Some(_lma), Some(size)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(start), Ok(size)) = (
            u64::from_str_radix(start, 16),
            u64::from_str_radix(size, 16),
        ) else {
            continue;
        };
        let Some(name) = line[in_col..]
            .rsplit_once(":(")
            .and_then(|(_, rest)| rest.strip_suffix(')'))
        else {
            continue;
        };
        sections.push(MapSection {
            start,
            size,
            name: name.to_string(),
        });
    }
    sections.sort_by_key(|s| s.start);
    Ok(sections)
}

/// The code sections of an lld link map (`-Map`), sorted by address: the input sections of the
/// `.text` and `.text.hot` output sections.
pub fn code_sections(map: &str) -> Result<Vec<Section>, String> {
    Ok(map_sections(map, &[".text", ".text.hot"])?
        .into_iter()
        .map(|s| Section {
            start: s.start,
            size: s.size,
            symbol: s
                .name
                .strip_prefix(".text.unlikely.")
                .or_else(|| s.name.strip_prefix(".text."))
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        })
        .collect())
}

/// The instruction addresses a callgrind record (`--dump-instr=yes --compress-pos=no`) shows.
pub fn executed_addresses(record: &str) -> BTreeSet<u64> {
    record
        .lines()
        .filter_map(|l| l.strip_prefix("0x"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .collect()
}

/// The named sections (`sections`, sorted) that hold any of `addresses`, and their total size.
pub fn executed_symbols(
    sections: &[Section],
    addresses: &BTreeSet<u64>,
) -> (BTreeSet<String>, u64) {
    let mut names = BTreeSet::new();
    let mut bytes = 0;
    for section in sections {
        let Some(end) = section.start.checked_add(section.size) else {
            continue;
        };
        if addresses.range(section.start..end).next().is_none() {
            continue;
        }
        if let Some(symbol) = &section.symbol {
            bytes += section.size;
            names.insert(symbol.clone());
        }
    }
    (names, bytes)
}

/// What one binary ran.
#[derive(Debug, Clone)]
pub struct Profile {
    pub binary: String,
    pub symbols: BTreeSet<String>,
    /// Size of the functions that ran.
    pub ran_bytes: u64,
    /// Size of all the executable's code.
    pub code_bytes: u64,
}

/// Takes valgrind's log line by line as it comes ([`Valgrind::run`]).
pub type LineSink = Box<dyn FnMut(&str) + Send>;

/// A release binary to run under valgrind against the cold-start world: the directory it is
/// in, its name, the warm events after its first, where its logs and records go.
pub struct Valgrind<'a> {
    pub bin_dir: &'a Path,
    pub world: &'a ColdWorld,
    pub binary: &'a str,
    pub warm: usize,
    pub work: &'a Path,
}

impl Valgrind<'_> {
    /// Runs the binary under valgrind with `tool_args`, sends its first event and `warm` more,
    /// then stops it with SIGTERM (valgrind's tools write their records then). With `each_line`,
    /// valgrind's log (stderr) is handed over line by line as it comes; else it goes to the log
    /// file with the binary's output (`<work>/<binary>.<tag>.log`).
    pub async fn run(
        &self,
        tag: &str,
        tool_args: &[String],
        each_line: Option<LineSink>,
    ) -> Result<(), String> {
        let binary = self.binary;
        let log = self.work.join(format!("{binary}.{tag}.log"));
        let api = RuntimeApi::start(binary)
            .await
            .map_err(|e| format!("runtime API: {e}"))?;
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let stderr = match each_line {
            Some(_) => Stdio::piped(),
            None => Stdio::from(
                log_file
                    .try_clone()
                    .map_err(|e| format!("{}: {e}", log.display()))?,
            ),
        };
        let mut child = tokio::process::Command::new("valgrind")
            .args(tool_args)
            .arg(self.bin_dir.join(binary))
            .env_clear()
            .envs(self.world.env(binary, &api.host()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting valgrind (apt: valgrind): {e}"))?;
        let reader = match (each_line, child.stderr.take()) {
            (Some(mut each), Some(err)) => Some(tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::with_capacity(1 << 20, err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    each(&line);
                }
            })),
            _ => None,
        };
        let ran = async {
            api.wait_ready(READY_TIMEOUT).await?;
            for _ in 0..=self.warm {
                let (_, event) = event_for(binary)?;
                api.invoke(event.to_string().as_bytes()).await?;
            }
            Ok::<(), String>(())
        }
        .await;
        if let Some(pid) = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let stopped = tokio::time::timeout(STOP_TIMEOUT, child.wait()).await;
        if let Some(reader) = reader {
            let _ = tokio::time::timeout(STOP_TIMEOUT, reader).await;
        }
        ran.map_err(|e| format!("{binary} under valgrind: {e} (see {})", log.display()))?;
        if stopped.is_err() {
            return Err(format!(
                "{binary} did not stop on SIGTERM (see {})",
                log.display()
            ));
        }
        Ok(())
    }

    /// The binary's link map (written by the build with `HOT_TEXT_MAPS`).
    pub fn link_map(&self, maps: &Path) -> Result<String, String> {
        let path = maps.join(format!("{}.map", self.binary));
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (built with HOT_TEXT_MAPS?)", path.display()))
    }
}

/// Runs `binary` (in `bin_dir`) under callgrind with its first event and `warm` more, then reads
/// its record against its link map (in `maps`).
pub async fn profile(run: &Valgrind<'_>, maps: &Path) -> Result<Profile, String> {
    let binary = run.binary;
    let record = run.work.join(format!("{binary}.callgrind"));
    let _ = std::fs::remove_file(&record);
    let args = [
        "--tool=callgrind".to_string(),
        "--dump-instr=yes".to_string(),
        "--compress-strings=no".to_string(),
        "--compress-pos=no".to_string(),
        format!("--callgrind-out-file={}", record.display()),
    ];
    run.run("callgrind", &args, None).await?;
    let record =
        std::fs::read_to_string(&record).map_err(|e| format!("{}: {e}", record.display()))?;
    let sections = code_sections(&run.link_map(maps)?)?;
    let (symbols, ran_bytes) = executed_symbols(&sections, &executed_addresses(&record));
    if symbols.is_empty() {
        return Err(format!(
            "{binary}: no function of its own ran under callgrind (see {})",
            run.work.join(format!("{binary}.callgrind.log")).display()
        ));
    }
    Ok(Profile {
        binary: binary.to_string(),
        symbols,
        ran_bytes,
        code_bytes: sections.iter().map(|s| s.size).sum(),
    })
}

/// `infra/hot-text/hot-text.txt` for `profiles`: a header, then the union of their symbols.
pub fn list(profiles: &[Profile], note: &str) -> String {
    let mut all = BTreeSet::new();
    for p in profiles {
        all.extend(p.symbols.iter().cloned());
    }
    let mut out = format!(
        "# The functions a cold start of each Lambda binary runs: written by `bench hot-text`\n\
         # (infra/bench/src/hot_text.rs), read by the hot-text build helper (infra/hot-text).\n\
         # {note}\n"
    );
    for name in all {
        out.push_str(&name);
        out.push('\n');
    }
    out
}

/// The figures of a run: per binary, how much of its code ran and of its data was read.
pub fn table(profiles: &[Profile], data: &[crate::hot_data::DataProfile]) -> Table {
    let mut table = Table::new(
        "hot-text",
        "Code a cold start runs and read-only data it reads (bench hot-text), of the executable's",
        &[
            "binary",
            "functions that ran",
            "their size KiB",
            "all code KiB",
            "share",
            "data sections read",
            "their size KiB",
            "all data KiB",
        ],
    );
    let kib = |bytes: u64| format!("{:.0}", bytes as f64 / 1024.0);
    for p in profiles {
        let read = data.iter().find(|d| d.binary == p.binary);
        table.row(vec![
            p.binary.clone(),
            p.symbols.len().to_string(),
            kib(p.ran_bytes),
            kib(p.code_bytes),
            format!(
                "{:.0} %",
                100.0 * p.ran_bytes as f64 / (p.code_bytes.max(1)) as f64
            ),
            read.map_or("–".into(), |d| d.sections.len().to_string()),
            read.map_or("–".into(), |d| kib(d.read_bytes)),
            read.map_or("–".into(), |d| kib(d.data_bytes)),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "             VMA              LMA     Size Align Out     In      Symbol
          203000           203000    dd2a5  4096 .rodata
          203000           203000      120     4         /t/x.o:(.rodata._ZN3foo4main17h0123456789abcdefE)
          391f00           391f00      200    16 .text.hot
          391f00           391f00      100    16         /t/x.o:(.text._ZN3foo3hot17h0123456789abcdefE)
          391f00           391f00      100     1                 foo::hot::h0123456789abcdef
          392000           392000      100    16         /t/x.o:(.text.unlikely._ZN3foo4cold17h0123456789abcdefE)
          392100           392100      400    64 .text
          392100           392100      200    16         /usr/lib/Scrt1.o:(.text)
          392300           392300      200    16         /t/x.o:(.text._RNvCs1a2b_3foo4main.123)
";

    #[test]
    fn the_map_names_each_code_section_and_the_record_picks_those_that_ran() {
        let sections = code_sections(MAP).unwrap();
        assert_eq!(sections.len(), 4, "{sections:?}");
        assert_eq!(
            sections[0].symbol.as_deref(),
            Some("_ZN3foo3hot17h0123456789abcdefE")
        );
        assert_eq!(
            sections[1].symbol.as_deref(),
            Some("_ZN3foo4cold17h0123456789abcdefE")
        );
        assert_eq!(sections[2].symbol, None, "assembly without a name");
        assert_eq!(
            sections[3].symbol.as_deref(),
            Some("_RNvCs1a2b_3foo4main.123")
        );
        let record = "version: 1\nob=/t/bin\nfn=0x0000000000391f00\n0x391f10 0 3\n0x391f20 0 1\ncalls=1 0x7f0000001000\n0x391f30 0 9\nfn=0x392100\n0x392110 0 1\n0x3923ff 0 2\n0x7f0000001000 0 1\n";
        let addresses = executed_addresses(record);
        assert_eq!(addresses.len(), 6);
        let (names, bytes) = executed_symbols(&sections, &addresses);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                "_RNvCs1a2b_3foo4main.123",
                "_ZN3foo3hot17h0123456789abcdefE"
            ]
        );
        assert_eq!(
            bytes, 0x300,
            "the hot one and main, not the cold one or the C start"
        );
    }

    #[test]
    fn a_file_that_is_not_a_link_map_is_refused() {
        assert!(code_sections("").is_err());
        assert!(code_sections("Memory map of something else\n").is_err());
    }
}
