//! The executable's hot code, first: a linker script that puts the functions a cold start runs
//! (`hot-text.txt`, measured by `bench hot-text`) together in a `.text.hot` section placed before
//! the rest of `.text`.
//!
//! **Why.** A Lambda's peak RSS is mostly its own executable's pages: the kernel maps the 64 KiB
//! around each page fault ("fault-around") from the page cache, and rustc lays functions out in
//! no particular order, so the code one request runs — a fifth of the binary — is spread over
//! nearly every 64 KiB of `.text` and nearly all of it becomes resident (BENCHMARKS.md, "What a
//! function's peak RSS is made of"). Packed together, the same code maps about its own size.
//! Nothing runs differently: the same functions, in another place.
//!
//! **How.** rustc emits each function in a section of its own (`.text.<symbol>`, or
//! `.text.unlikely.<symbol>` for cold-marked ones). The script lists them by name, exact first
//! (as measured, on x86_64), then with the parts that vary between targets and builds replaced
//! by a wildcard — the legacy hash (`17h<16 hex>E`), v0 crate disambiguators (`Cs<base62>_`),
//! LLVM's `.NNN` suffixes — so that an arm64 build (other hashes) and code changed since the
//! measurement still find theirs. A name that matches nothing costs nothing; the layout then
//! degrades towards today's, never below. The script only adds an output section (`INSERT
//! BEFORE .text`), so the linker's own layout is kept: it works with rust-lld (cargo) and with
//! zig's lld (cargo lambda, `sam build`), which refuses `--symbol-ordering-file` but takes a
//! script.
//!
//! **Read-only data, too.** Half of what a start maps beyond its code is the constants it reads
//! (string literals, vtables, tables: `.rodata`, `.data.rel.ro`), spread the same way. The
//! sections it reads (`hot-data.txt`, the second pass of `bench hot-text`) go first the same way:
//! a `.rodata.hot` section before `.rodata`, and first in `.data.rel.ro` ([`data_script`]).
//!
//! Release builds only; debug and test binaries link as before.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The measured list, one symbol per line (`#` comments).
pub const LIST: &str = "hot-text.txt";

/// The measured read-only data, one input section per line (`.rodata.…`, `.data.rel.ro.…`).
pub const DATA_LIST: &str = "hot-data.txt";

/// Code every start runs that the measurement does not name, placed first:
/// - the C runtime's start files (`_start` in `Scrt1.o`, `crtbeginS.o`'s init helpers): they
///   sit at the head of `.text`, and the fault on `_start` mapped the 64 KiB after it;
/// - SHA-256 with the CPU's SHA extensions (`sha2::sha256::x86` and the SHA and SSSE3
///   intrinsics it calls; request signing and token checks): picked at run time on the CPUs Lambda runs on, while valgrind's emulated CPU has no
///   SHA extensions and runs the portable code instead. Found with `perf record -e page-faults`
///   on a native cold start (BENCHMARKS.md, "The code that runs, first").
pub const ALWAYS: &[&str] = &[
    "*Scrt1.o(.text)",
    "*crt1.o(.text)",
    "*crti.o(.text)",
    "*crtbeginS.o(.text)",
    "*crtbegin.o(.text)",
    "*crtendS.o(.text)",
    "*crtend.o(.text)",
    "*(.text._ZN4sha26sha2563x86* .text._R*4sha26sha2563x86*)",
    "*(.text._ZN4core9core_arch3x863sha* .text._R*4core9core_arch3x863sha*)",
    "*(.text._ZN4core9core_arch3x865ssse3* .text._R*4core9core_arch3x865ssse3*)",
];

/// Read-only data every start reads that the measurement does not see: SHA-256's round
/// constants as the SHA-extension code reads them (see [`ALWAYS`]).
pub const ALWAYS_DATA: &[&str] = &["*(.rodata._ZN4sha26consts* .rodata._R*4sha26consts*)"];

/// Merged literals (strings, 4- to 32-byte constants): the linker makes one section of each
/// kind, read all over by every start; placed right after the measured data.
pub const MERGED_DATA: &str = "*(.rodata.str* .rodata.cst*)";

/// Build-script entry point for a package whose binaries are `bins`: in a release build, link
/// each of them with the hot-text script; with `HOT_TEXT_MAPS=<dir>` (set by `bench hot-text`),
/// also write each one's link map there (`<bin>.map`, what the measurement reads addresses
/// with; rust-lld only, zig refuses `-Map`).
pub fn link(bins: &[&str]) {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join(LIST);
    let data_list = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA_LIST);
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-changed={}", data_list.display());
    println!("cargo:rerun-if-env-changed=HOT_TEXT_MAPS");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let Ok(names) = std::fs::read_to_string(&list) else {
        println!(
            "cargo:warning=hot-text: {} is missing; linking without it",
            list.display()
        );
        return;
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let script = out.join("hot-text.ld");
    // Without the data list the code is still placed.
    let data = std::fs::read_to_string(&data_list).unwrap_or_default();
    if let Err(e) = std::fs::write(&script, script_for(&names, &data)) {
        println!(
            "cargo:warning=hot-text: writing {}: {e}; linking without it",
            script.display()
        );
        return;
    }
    let maps = std::env::var_os("HOT_TEXT_MAPS").map(PathBuf::from);
    for bin in bins {
        println!("cargo:rustc-link-arg-bin={bin}=-Wl,-T,{}", script.display());
        if let Some(dir) = &maps {
            println!(
                "cargo:rustc-link-arg-bin={bin}=-Wl,-Map,{}",
                dir.join(format!("{bin}.map")).display()
            );
        }
    }
}

/// The lines of a list that the script can name (blank and `#` lines ignored).
fn entries(list: &str) -> Vec<&str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| usable(l))
        .collect()
}

/// The linker script for the list `names` (one symbol per line; blank and `#` lines ignored):
/// [`ALWAYS`], every name exactly, then every name's cross-build pattern (each pattern once);
/// then the read-only data of `data` ([`data_script`]).
pub fn script_for(names: &str, data: &str) -> String {
    let names = entries(names);
    let mut script = String::from(
        "/* Generated from infra/hot-text/hot-text.txt by the hot-text build helper. */\nSECTIONS\n{\n  .text.hot :\n  {\n",
    );
    for always in ALWAYS {
        let _ = writeln!(script, "    {always}");
    }
    for name in &names {
        let _ = writeln!(script, "    *(.text.{name} .text.unlikely.{name})");
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        let pattern = pattern_of(name);
        if seen.insert(pattern.clone()) {
            let _ = writeln!(script, "    *(.text.{pattern} .text.unlikely.{pattern})");
        }
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    script.push_str(&data_script(&entries(data)));
    script
}

/// The read-only data a cold start reads, together: the `.rodata.…` input sections of `data` in
/// a `.rodata.hot` section before `.rodata`, and the `.data.rel.ro.…` ones (constants holding
/// addresses: vtables, tables of strings) first in `.data.rel.ro`. That output section keeps its
/// name, so the linker still counts it as RELRO (read-only after relocation, next to
/// `.init_array`); every other `.data.rel.ro` input follows. Constants without a name of their
/// own are named after their crate's hash and a counter (`.rodata..Lanon.<hash>.<n>`): stable
/// for the dependencies, drifting in the crates that change, which then lie where they did
/// before. Merged strings and literals (`.rodata.str…`, `.rodata.cst…`) are one section of each
/// kind, placed whole after the measured data ([`MERGED_DATA`]). Named constants also match
/// across builds by their pattern.
pub fn data_script(data: &[&str]) -> String {
    let pick = |prefix: &str| -> Vec<String> {
        let mut exact = Vec::new();
        let mut patterns = std::collections::BTreeSet::new();
        for name in data.iter().filter_map(|d| d.strip_prefix(prefix)) {
            if name.is_empty() || name.starts_with("str") || name.starts_with("cst") {
                continue;
            }
            exact.push(format!("    *({prefix}{name})"));
            if !name.starts_with(".L") {
                patterns.insert(format!("    *({prefix}{})", pattern_of(name)));
            }
        }
        exact.extend(patterns);
        exact
    };
    let (rodata, relro) = (pick(".rodata."), pick(".data.rel.ro."));
    let mut script = String::new();
    if !rodata.is_empty() {
        script.push_str("SECTIONS\n{\n  .rodata.hot :\n  {\n");
        for always in ALWAYS_DATA {
            let _ = writeln!(script, "    {always}");
        }
        for line in rodata {
            let _ = writeln!(script, "{line}");
        }
        let _ = writeln!(script, "    {MERGED_DATA}");
        script.push_str("  }\n}\nINSERT BEFORE .rodata;\n");
    }
    if !relro.is_empty() {
        script.push_str("SECTIONS\n{\n  .data.rel.ro :\n  {\n");
        for line in relro {
            let _ = writeln!(script, "{line}");
        }
        script.push_str("    *(.data.rel.ro .data.rel.ro.*)\n  }\n}\nINSERT AFTER .init_array;\n");
    }
    script
}

/// A symbol the script can name: the characters of mangled Rust and C symbols only (no
/// whitespace, parentheses or glob characters that would change the script's meaning).
fn usable(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
}

/// `name` with what differs between builds and targets as wildcards, and anything after it (an
/// LLVM `.NNN` suffix) allowed.
pub fn pattern_of(name: &str) -> String {
    let name = strip_llvm_suffix(name);
    let mut out = String::with_capacity(name.len() + 2);
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // v0: a crate disambiguator `Cs<base62>_`.
        if name[i..].starts_with("Cs")
            && let Some(len) = name[i + 2..].find('_')
            && len > 0
            && name[i + 2..i + 2 + len]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            out.push_str("Cs*_");
            i += 2 + len + 1;
            continue;
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    // Legacy: the trailing hash `17h<16 hex>E`.
    if let Some(at) = out.len().checked_sub(20)
        && out.is_char_boundary(at)
        && is_legacy_hash(&out[at..])
    {
        out.truncate(at + 3);
    }
    out.push('*');
    out
}

fn is_legacy_hash(tail: &str) -> bool {
    tail.len() == 20
        && tail.starts_with("17h")
        && tail.ends_with('E')
        && tail[3..19].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `name` without LLVM's `.NNN` / `.llvm.NNN` suffixes.
fn strip_llvm_suffix(name: &str) -> &str {
    let mut name = name;
    loop {
        let Some((head, tail)) = name.rsplit_once('.') else {
            return name;
        };
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            name = head.strip_suffix(".llvm").unwrap_or(head);
        } else {
            return name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_lose_their_hash_and_v0_names_their_crate_disambiguators() {
        assert_eq!(
            pattern_of(
                "_ZN9hashbrown3raw21RawTable$LT$T$C$A$GT$14reserve_rehash17hb0fb11d0e1cb7159E"
            ),
            "_ZN9hashbrown3raw21RawTable$LT$T$C$A$GT$14reserve_rehash17h*"
        );
        assert_eq!(
            pattern_of(
                "_RNvXs2_NtNtCsjrHSEGnQ3l9_3std4hash6randomNtB5_13DefaultHasherNtNtCsgEmfK2I1SDS_4core4hash6Hasher5write.7021"
            ),
            "_RNvXs2_NtNtCs*_3std4hash6randomNtB5_13DefaultHasherNtNtCs*_4core4hash6Hasher5write*"
        );
        assert_eq!(
            pattern_of("_ZN4core3fmt5write17h0123456789abcdefE.llvm.1234"),
            "_ZN4core3fmt5write17h*"
        );
        assert_eq!(pattern_of("memcpy"), "memcpy*");
        // Not a hash: kept as it is.
        assert_eq!(
            pattern_of("_ZN3foo17hnothexnothexnotE"),
            "_ZN3foo17hnothexnothexnotE*"
        );
    }

    #[test]
    fn the_script_lists_the_start_files_then_exact_names_then_each_pattern_once() {
        let list = "# measured\n\n_ZN3foo3bar17h0123456789abcdefE\n_ZN3foo3bar17hfedcba9876543210E\nbad name(\n";
        let script = script_for(list, "");
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(
            lines[5], "    *Scrt1.o(.text)",
            "the C runtime's start first"
        );
        let lines = &lines[ALWAYS.len()..];
        assert_eq!(
            lines[5..9],
            [
                "    *(.text._ZN3foo3bar17h0123456789abcdefE .text.unlikely._ZN3foo3bar17h0123456789abcdefE)",
                "    *(.text._ZN3foo3bar17hfedcba9876543210E .text.unlikely._ZN3foo3bar17hfedcba9876543210E)",
                "    *(.text._ZN3foo3bar17h* .text.unlikely._ZN3foo3bar17h*)",
                "  }",
            ]
        );
        assert!(
            !script.contains("bad name"),
            "a name that would break the script is left out"
        );
        assert!(script.trim_end().ends_with("INSERT BEFORE .text;"));
    }

    #[test]
    fn read_only_data_goes_first_in_its_sections_and_the_merged_literals_follow_it() {
        let data = "# measured\n.rodata..Lanon.0a1b.12\n.rodata.str1.1\n.rodata.cst16\n\
                    .rodata._ZN3foo5TABLE17h0123456789abcdefE\n.data.rel.ro..Lanon.0a1b.3\n";
        let script = script_for("_ZN3foo3bar17h0123456789abcdefE\n", data);
        let rodata = script
            .split("  .rodata.hot :")
            .nth(1)
            .and_then(|s| s.split("INSERT BEFORE .rodata;").next())
            .unwrap_or_default();
        assert!(rodata.contains("    *(.rodata..Lanon.0a1b.12)\n"));
        assert!(rodata.contains("    *(.rodata._ZN3foo5TABLE17h0123456789abcdefE)\n"));
        assert!(
            rodata.contains("    *(.rodata._ZN3foo5TABLE17h*)\n"),
            "a named constant also by its pattern"
        );
        assert!(
            !rodata.contains("str1") && !rodata.contains("cst16"),
            "merged literals are one section each: not named one by one"
        );
        assert!(
            rodata
                .trim_end()
                .ends_with(&format!("    {MERGED_DATA}\n  }}\n}}")),
            "but placed right after the measured data: {rodata}"
        );
        assert!(
            !rodata.contains("Lanon.0a1b.*"),
            "no pattern for unnamed constants"
        );
        let relro = script.split("  .data.rel.ro :").nth(1).unwrap_or_default();
        let first = relro.find("*(.data.rel.ro..Lanon.0a1b.3)");
        let rest = relro.find("*(.data.rel.ro .data.rel.ro.*)");
        assert!(
            first.is_some() && first < rest,
            "measured first, then the rest: {relro}"
        );
        assert!(script.trim_end().ends_with("INSERT AFTER .init_array;"));
        assert_eq!(
            data_script(&[]),
            "",
            "without a measured list the data keeps the linker's layout"
        );
    }
}
