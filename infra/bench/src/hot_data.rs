//! `bench hot-text`, its second pass: which read-only data each release binary reads at a cold
//! start, written to `infra/hot-text/hot-data.txt` for the linker (`infra/hot-text`).
//!
//! Code is half of what a start maps; the other half is the constants it reads — string
//! literals, vtables, tables — spread over the 1–2 MiB of `.rodata` and `.data.rel.ro`, where
//! each read maps the 64 KiB around it. The same fix applies: the constants read, together.
//!
//! Every binary is run under valgrind's lackey (`--trace-mem=yes`: every load and store, with
//! its address and size) against the cold-start world, with its first event and [`WARM`] more.
//! The trace is read as it comes (it is hundreds of megabytes): every byte read inside the
//! executable's data is marked, and every input section of `.rodata`, `.rodata.hot` or
//! `.data.rel.ro` holding a marked byte is named in the list (the link map names them).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::hot_text::{MapSection, Valgrind, map_sections};

/// Warm events after the first under lackey (it runs a binary ≈ 100 times slower): the
/// constants a warm event reads, the first one read already or its first few do.
pub const WARM: usize = 3;

/// The output sections whose input sections the list names.
const DATA_OUTPUTS: &[&str] = &[".rodata", ".rodata.hot", ".data.rel.ro"];

/// The bytes of one address range that were read or written.
#[derive(Debug, Clone)]
pub struct Touched {
    start: u64,
    marked: Vec<bool>,
}

impl Touched {
    /// Nothing touched yet in `start..end`.
    pub fn new(start: u64, end: u64) -> Self {
        let len = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
        Touched {
            start,
            marked: vec![false; len],
        }
    }

    /// Marks what one lackey line touched: ` L 04222cac,4` (load), ` S …` (store), ` M …`
    /// (modify); instruction lines (`I  …`) and valgrind's own messages are not data.
    pub fn record(&mut self, line: &str) {
        let Some(rest) = line
            .strip_prefix(" L ")
            .or_else(|| line.strip_prefix(" S "))
            .or_else(|| line.strip_prefix(" M "))
        else {
            return;
        };
        let Some((address, size)) = rest.trim().split_once(',') else {
            return;
        };
        let (Ok(address), Ok(size)) = (u64::from_str_radix(address, 16), size.parse::<u64>())
        else {
            return;
        };
        let end = self.start + self.marked.len() as u64;
        let (from, to) = (
            address.max(self.start),
            address.saturating_add(size).min(end),
        );
        for at in from..to {
            if let Some(byte) = usize::try_from(at - self.start)
                .ok()
                .and_then(|i| self.marked.get_mut(i))
            {
                *byte = true;
            }
        }
    }

    /// Whether any byte of `start..start + size` was touched.
    pub fn any(&self, start: u64, size: u64) -> bool {
        let from = start.max(self.start);
        let to = start
            .saturating_add(size.max(1))
            .min(self.start + self.marked.len() as u64);
        (from..to).any(|at| {
            usize::try_from(at - self.start)
                .ok()
                .and_then(|i| self.marked.get(i))
                .copied()
                .unwrap_or(false)
        })
    }
}

/// The input sections (`sections`) that hold a touched byte, by name, and their total size.
pub fn touched_sections(sections: &[MapSection], touched: &Touched) -> (BTreeSet<String>, u64) {
    let mut names = BTreeSet::new();
    let mut bytes = 0;
    for section in sections {
        if touched.any(section.start, section.size) && names.insert(section.name.clone()) {
            bytes += section.size;
        }
    }
    (names, bytes)
}

/// What one binary read of its data.
#[derive(Debug, Clone)]
pub struct DataProfile {
    pub binary: String,
    pub sections: BTreeSet<String>,
    /// Size of the sections read.
    pub read_bytes: u64,
    /// Size of all of `.rodata` and `.data.rel.ro`.
    pub data_bytes: u64,
}

/// Runs one binary under lackey and names the data sections it read (its link map in `maps`).
pub async fn profile(run: &Valgrind<'_>, maps: &Path) -> Result<DataProfile, String> {
    let sections = map_sections(&run.link_map(maps)?, DATA_OUTPUTS)?;
    let (Some(first), Some(last)) = (sections.first(), sections.last()) else {
        return Err(format!("{}: the link map shows no data", run.binary));
    };
    let touched = Arc::new(Mutex::new(Touched::new(
        first.start,
        last.start.saturating_add(last.size),
    )));
    let sink = Arc::clone(&touched);
    let each_line = Box::new(move |line: &str| {
        if let Ok(mut t) = sink.lock() {
            t.record(line);
        }
    });
    let args = ["--tool=lackey".to_string(), "--trace-mem=yes".to_string()];
    run.run("lackey", &args, Some(each_line)).await?;
    let touched = touched
        .lock()
        .map_err(|_| "the lackey reader stopped".to_string())?
        .clone();
    let (names, read_bytes) = touched_sections(&sections, &touched);
    if names.is_empty() {
        return Err(format!(
            "{}: lackey showed no read of its data (see {})",
            run.binary,
            run.work
                .join(format!("{}.lackey.log", run.binary))
                .display()
        ));
    }
    Ok(DataProfile {
        binary: run.binary.to_string(),
        sections: names,
        read_bytes,
        data_bytes: sections.iter().map(|s| s.size).sum(),
    })
}

/// `infra/hot-text/hot-data.txt` for `profiles`: a header, then the union of their sections.
pub fn list(profiles: &[DataProfile], note: &str) -> String {
    let all: BTreeSet<&String> = profiles.iter().flat_map(|p| &p.sections).collect();
    let mut out = format!(
        "# The read-only data a cold start of each Lambda binary reads: written by `bench hot-text`\n\
         # (infra/bench/src/hot_data.rs), read by the hot-text build helper (infra/hot-text).\n\
         # {note}\n"
    );
    for name in all {
        out.push_str(name);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_stores_mark_their_bytes_and_name_the_sections_that_hold_them() {
        let mut touched = Touched::new(0x1000, 0x2000);
        for line in [
            "==123== Lackey, an example Valgrind tool",
            "I  04016a50,3",
            " L 00001010,8",
            " S 00001ffe,4",
            " M 00000ff0,4",
            " L 00003000,8",
            " L zz,8",
        ] {
            touched.record(line);
        }
        assert!(touched.any(0x1017, 1));
        assert!(!touched.any(0x1018, 1), "an 8-byte load ends where it ends");
        assert!(
            touched.any(0x1fff, 1),
            "a store at the end, clipped to the range"
        );
        assert!(!touched.any(0x1800, 0x100));
        let sections = [
            MapSection {
                start: 0x1000,
                size: 0x10,
                name: ".rodata..Lanon.ab.1".into(),
            },
            MapSection {
                start: 0x1010,
                size: 0x4,
                name: ".rodata..Lanon.ab.2".into(),
            },
            MapSection {
                start: 0x1014,
                size: 0x100,
                name: ".data.rel.ro..Lanon.ab.3".into(),
            },
            MapSection {
                start: 0x1ff0,
                size: 0x10,
                name: ".rodata.str1.1".into(),
            },
        ];
        let (names, bytes) = touched_sections(&sections, &touched);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                ".data.rel.ro..Lanon.ab.3",
                ".rodata..Lanon.ab.2",
                ".rodata.str1.1"
            ]
        );
        assert_eq!(bytes, 0x4 + 0x100 + 0x10);
    }

    #[test]
    fn the_link_map_gives_the_data_sections() {
        let map = "             VMA              LMA     Size Align Out     In      Symbol
          202000           202000      200    16 .rodata.hot
          202000           202000       20     1         /t/x.o:(.rodata..Lanon.ab.1)
          203000           203000      400  4096 .rodata
          203000           203000       30     1         <internal>:(.rodata.str1.1)
          204000           204000      100    16 .text
          204000           204000      100    16         /t/x.o:(.text.main)
          849980           849980      100     8 .data.rel.ro
          849980           849980       18     8         /t/x.o:(.data.rel.ro..Lanon.ab.7)
";
        let sections = map_sections(map, DATA_OUTPUTS).unwrap();
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                ".rodata..Lanon.ab.1",
                ".rodata.str1.1",
                ".data.rel.ro..Lanon.ab.7"
            ]
        );
        let list = list(
            &[DataProfile {
                binary: "x".into(),
                sections: names.iter().map(|n| n.to_string()).collect(),
                read_bytes: 0,
                data_bytes: 0,
            }],
            "Measured now.",
        );
        assert!(list.starts_with("# The read-only data"));
        assert!(list.ends_with(".rodata..Lanon.ab.1\n.rodata.str1.1\n"));
    }
}
