//! The shape of the code, as the project holds it: no source file over 700 lines of non-test
//! code and no function over 80 lines unless a `// Long function: <why>` comment right above it
//! says why. The wire models (`shared/wire`) and the simulators (`infra/sandbox`) are exempt:
//! they mirror documents and APIs of others, one type or endpoint after another. Test code —
//! files under a `tests/` folder, `#[cfg(test)]` modules, and the conformance suites compiled
//! for the test crates (`contract.rs`, `testing.rs`) — is not counted.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 80;
const LONG_MARKER: &str = "// Long function:";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Every production `.rs` file the rules apply to.
fn sources() -> Vec<PathBuf> {
    let root = root();
    let mut out = Vec::new();
    for top in ["shared", "functions", "infra"] {
        collect(&root.join(top), &mut out);
    }
    out.retain(|p| {
        let rel = p
            .strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .to_string();
        !rel.starts_with("shared/wire/")
            && !rel.starts_with("infra/sandbox/")
            && !rel
                .split('/')
                .any(|part| part == "tests" || part == "target")
            && !rel.contains("node_modules")
            && !rel.ends_with("/contract.rs")
            && !rel.ends_with("/testing.rs")
    });
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source with string and char literals and comments blanked out (same length, same
/// lines), so that braces can be counted.
fn code_only(source: &str) -> Vec<u8> {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to.min(bytes.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = source[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
                blank(&mut out, i, end);
                i = end;
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                if bytes.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = source[start..]
                    .find(&close)
                    .map_or(bytes.len(), |p| start + p + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}') — not a lifetime ('a).
                let end = if bytes.get(i + 1) == Some(&b'\\') {
                    bytes[i + 2..]
                        .iter()
                        .position(|&b| b == b'\'')
                        .map(|p| i + 2 + p)
                } else if bytes.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    source[i + 1..]
                        .chars()
                        .next()
                        .filter(|c| c.len_utf8() > 1)
                        .and_then(|c| {
                            (bytes.get(i + 1 + c.len_utf8()) == Some(&b'\''))
                                .then_some(i + 1 + c.len_utf8())
                        })
                };
                match end {
                    Some(end) => {
                        blank(&mut out, i, end + 1);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The line ranges (0-based, inclusive) of each `{ … }` block that opens on `open_line`.
fn block_end(code: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in code.iter().enumerate().skip(from) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            b';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

fn line_of(code: &[u8], at: usize) -> usize {
    code[..at].iter().filter(|&&b| b == b'\n').count()
}

/// Lines (0-based) inside `#[cfg(test)]` items.
fn test_lines(source: &str, code: &[u8]) -> Vec<bool> {
    let lines = source.lines().count() + 1;
    let mut is_test = vec![false; lines];
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        if line.trim_start().starts_with("#[cfg(test)]")
            && let Some(end) = block_end(code, offset)
        {
            let (a, b) = (line_of(code, offset), line_of(code, end));
            for flag in &mut is_test[a..=b.min(lines - 1)] {
                *flag = true;
            }
        }
        offset += line.len();
    }
    is_test
}

struct Shape {
    non_test_lines: usize,
    long_functions: Vec<(String, usize, usize)>,
}

fn shape(source: &str) -> Shape {
    let code = code_only(source);
    let is_test = test_lines(source, &code);
    let lines: Vec<&str> = source.lines().collect();
    let non_test_lines = (0..lines.len()).filter(|&i| !is_test[i]).count();
    let mut long_functions = Vec::new();
    let code_text = String::from_utf8_lossy(&code).to_string();
    let mut offset = 0;
    for (n, line) in code_text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        let is_fn = trimmed.starts_with("fn ")
            || ["pub ", "pub(crate) ", "async ", "const ", "unsafe "]
                .iter()
                .any(|p| trimmed.starts_with(p) && trimmed.contains("fn "));
        if is_fn && !is_test[n] {
            let fn_at = offset + line.find("fn ").unwrap_or(0);
            if let Some(end) = block_end(&code, fn_at) {
                let length = line_of(&code, end) - n + 1;
                if length > MAX_FN_LINES && !marked_long(&lines, n) {
                    let name = trimmed
                        .split("fn ")
                        .nth(1)
                        .unwrap_or("")
                        .split(['(', '<'])
                        .next()
                        .unwrap_or("")
                        .to_string();
                    long_functions.push((name, n + 1, length));
                }
            }
        }
        offset += line.len();
    }
    Shape {
        non_test_lines,
        long_functions,
    }
}

/// A `// Long function:` comment among the comments and attributes right above line `n`.
fn marked_long(lines: &[&str], n: usize) -> bool {
    lines[..n]
        .iter()
        .rev()
        .take_while(|l| {
            let t = l.trim_start();
            t.starts_with("//") || t.starts_with("#[")
        })
        .any(|l| l.trim_start().starts_with(LONG_MARKER))
}

#[test]
fn files_and_functions_stay_small() {
    let root = root();
    let mut problems = Vec::new();
    let files = sources();
    assert!(
        files.len() > 50,
        "the source walk found only {} files",
        files.len()
    );
    for path in files {
        let source = std::fs::read_to_string(&path).expect("readable source");
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let shape = shape(&source);
        if shape.non_test_lines > MAX_FILE_LINES {
            problems.push(format!(
                "{rel}: {} lines of non-test code (at most {MAX_FILE_LINES})",
                shape.non_test_lines
            ));
        }
        for (name, line, length) in shape.long_functions {
            problems.push(format!(
                "{rel}:{line}: fn {name} is {length} lines (at most {MAX_FN_LINES} without a `{LONG_MARKER} <why>` comment above it)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_functions_tests_and_literals() {
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    let long = format!("fn long() {{\n{body}}}\n");
    assert_eq!(shape(&long).long_functions.len(), 1);
    let marked = format!("// Long function: a table written out.\n{long}");
    assert!(shape(&marked).long_functions.is_empty());
    let in_tests = format!("#[cfg(test)]\nmod tests {{\n{long}}}\n");
    let s = shape(&in_tests);
    assert!(s.long_functions.is_empty());
    assert_eq!(s.non_test_lines, 0);
    let tricky =
        "fn f() -> char {\n    let _ = \"}}}\";\n    let _ = r#\"{\"#;\n    // }\n    '}'\n}\n";
    let s = shape(tricky);
    assert!(s.long_functions.is_empty());
    assert_eq!(s.non_test_lines, 6);
    let lifetimes = format!("fn g<'a>(x: &'a str) -> &'a str {{\n{body}    x\n}}\n");
    assert_eq!(shape(&lifetimes).long_functions.len(), 1);
}
