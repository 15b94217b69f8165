//! The table of figures, each with its goal and whether this run met it.

use std::fmt::Write;
use std::time::Duration;

pub struct Row {
    id: &'static str,
    what: String,
    figure: String,
    goal: String,
    /// `None` where there is no goal, only a figure to know.
    met: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    pub fn new() -> Self {
        Report::default()
    }

    /// A figure with a goal.
    pub fn goal(&mut self, id: &'static str, what: impl Into<String>, figure: String, goal: &str, met: bool) {
        self.push(id, what.into(), figure, goal.to_owned(), Some(met));
    }

    /// A figure worth knowing, without a goal.
    pub fn figure(&mut self, id: &'static str, what: impl Into<String>, figure: String) {
        self.push(id, what.into(), figure, "—".to_owned(), None);
    }

    fn push(&mut self, id: &'static str, what: String, figure: String, goal: String, met: Option<bool>) {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("  {id} {what}: {figure} (goal {goal}) {mark}");
        self.rows.push(Row {
            id,
            what,
            figure,
            goal,
            met,
        });
    }

    pub fn markdown(&self, phase: Duration, cores: usize) -> String {
        let mut out = String::new();
        let date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d %H:%M UTC")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Leasehold benchmarks, {date}, {cores} cores, {} s per load phase\n",
            phase.as_secs()
        );
        let _ = writeln!(out, "| id | what | figure | goal | |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for row in &self.rows {
            let mark = match row.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {mark} |",
                row.id, row.what, row.figure, row.goal
            );
        }
        out
    }
}

/// The `q`-quantile (0..=1) of `values`, sorted in place.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index.min(values.len() - 1)]
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}
