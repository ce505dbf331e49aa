//! The figures of a run as tables, printed as Markdown and kept in `target/bench/last.json` so
//! `bench report` can print them again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One table of figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The section (`coldstart`, `sizes`, `latency`, `sync`).
    pub section: String,
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// What the figures mean, targets met or missed.
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(section: &str, title: &str, headers: &[&str]) -> Self {
        Table {
            section: section.into(),
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Table::default()
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The table as Markdown (cells padded for a readable terminal).
    pub fn to_markdown(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..columns)
                .map(|i| {
                    let cell = cells.get(i).map(String::as_str).unwrap_or("");
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    format!("{cell}{}", " ".repeat(pad))
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let mut out = format!("### {}\n\n", self.title);
        out.push_str(&line(&self.headers));
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat((*w).max(3))).collect();
        out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("\n- {note}"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// Where and when the figures were measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub date: String,
    pub cpu: String,
    pub nproc: usize,
    pub kernel: String,
    pub rustc: String,
    /// `/proc/loadavg`'s 1-minute figure when the run started (other engineers compile here).
    #[serde(default)]
    pub load: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        Machine {
            load,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpu,
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            kernel,
            rustc,
        }
    }
}

/// Everything one `bench` run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub tables: Vec<Table>,
}

impl Report {
    pub fn to_markdown(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "Measured {} on {} × {} (Linux {}, {}), load average {} at the start.\n\n",
            m.date, m.nproc, m.cpu, m.kernel, m.rustc, m.load
        );
        for table in &self.tables {
            out.push_str(&table.to_markdown());
            out.push('\n');
        }
        out
    }

    /// Replaces the tables of `sections` by `other`'s (a partial run keeps the other sections of
    /// the last run).
    pub fn merge(&mut self, other: Report) {
        let sections: Vec<String> = other.tables.iter().map(|t| t.section.clone()).collect();
        self.tables.retain(|t| !sections.contains(&t.section));
        self.tables.extend(other.tables);
        let order = ["coldstart", "sizes", "latency", "sync"];
        self.tables.sort_by_key(|t| {
            let kind = t.section.split(':').next().unwrap_or_default();
            order.iter().position(|s| *s == kind).unwrap_or(order.len())
        });
        self.machine = other.machine;
    }

    pub fn load(path: &Path) -> Result<Report, String> {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| format!("no stored run at {}: {e}", path.display()))?;
        serde_json::from_str(&raw)
            .map_err(|e| format!("{} is not a bench report: {e}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let raw = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, raw).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// `<target dir>/bench/last.json`.
pub fn last_run_path(target_dir: &Path) -> PathBuf {
    target_dir.join("bench").join("last.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(section: &str, value: &str) -> Table {
        let mut t = Table::new(section, "T", &["a", "long header"]);
        t.row(vec![value.into(), "x".into()]);
        t
    }

    #[test]
    fn markdown_tables_are_aligned() {
        let mut t = table("sync", "1234");
        t.note("a note");
        let md = t.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "### T");
        assert_eq!(lines[2], "| a    | long header |");
        assert_eq!(lines[3], "|------|-------------|");
        assert_eq!(lines[4], "| 1234 | x           |");
        assert!(md.contains("- a note"));
    }

    #[test]
    fn partial_runs_replace_only_their_sections() {
        let mut last = Report {
            machine: Machine::default(),
            tables: vec![table("sync", "old"), table("coldstart", "old")],
        };
        last.merge(Report {
            machine: Machine {
                nproc: 2,
                ..Machine::default()
            },
            tables: vec![table("sync", "new")],
        });
        assert_eq!(last.tables.len(), 2);
        assert_eq!(last.tables[0].section, "coldstart");
        assert_eq!(last.tables[0].rows[0][0], "old");
        assert_eq!(last.tables[1].rows[0][0], "new");
        assert_eq!(last.machine.nproc, 2);
    }

    #[test]
    fn reports_survive_a_round_trip() {
        let dir = std::env::temp_dir().join(format!("bench-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("last.json");
        let report = Report {
            machine: Machine::describe(),
            tables: vec![table("sizes", "1.0")],
        };
        report.save(&path).unwrap();
        assert_eq!(Report::load(&path).unwrap(), report);
        assert!(Report::load(&dir.join("missing.json")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
