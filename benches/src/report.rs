//! Tables of measured times: one per question, with a speedup against a
//! baseline and a one-line verdict, printed as aligned text or Markdown.
//!
//! A table is split into *cases* (say "2 workers" or "64 KiB stream"); the
//! first row of each case is its baseline, and every other row in the case
//! gets `speedup = baseline time / its time`, so `2.00x` is twice as fast
//! and `0.10x` ten times slower. All rows of a case come from the same run.
//!
//! ```
//! use std::time::Duration;
//! use benches::report::Table;
//!
//! let mut t = Table::new("cpu_scaling", "one CPU-bound job at 2 workers");
//! t.row("2 workers", "sequential", Duration::from_millis(100));
//! t.row("2 workers", "rayon", Duration::from_millis(52));
//! assert!((t.rows()[1].speedup - 1.923).abs() < 0.01);
//! assert!(t.verdict().contains("rayon"));
//! assert!(t.text().contains("1.92x"));
//! assert!(t.markdown().starts_with("### cpu_scaling"));
//! ```

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// One measured approach.
#[derive(Debug, Clone)]
pub struct Row {
    /// The setting the row is compared within ("2 workers").
    pub case: String,
    /// What ran ("scoped threads").
    pub approach: String,
    /// Median time of one unit (see the table's `unit`).
    pub time: Duration,
    /// Baseline time / this time; 1.0 for the baseline itself.
    pub speedup: f64,
}

/// One question's table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Short name, the same as the criterion group (`spawn`).
    pub name: String,
    /// The question in a few words.
    pub question: String,
    /// What one time is ("per task", "per 1 000 messages").
    pub unit: String,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    /// An empty table for one question.
    pub fn new(name: &str, question: &str) -> Self {
        Self {
            name: name.to_string(),
            question: question.to_string(),
            unit: String::new(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Says what one time measures, shown in the heading.
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = unit.to_string();
        self
    }

    /// Adds a row; the first row of a case is that case's baseline.
    pub fn row(&mut self, case: &str, approach: &str, time: Duration) {
        let time = time.max(Duration::from_nanos(1));
        let speedup = match self.rows.iter().find(|r| r.case == case) {
            Some(base) => base.time.as_secs_f64() / time.as_secs_f64(),
            None => 1.0,
        };
        self.rows.push(Row {
            case: case.to_string(),
            approach: approach.to_string(),
            time,
            speedup,
        });
    }

    /// Adds a one-line note printed under the rows (a row left out, say).
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The rows in the order they were added.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The notes in the order they were added.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn cases(&self) -> Vec<&str> {
        let mut cases: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !cases.contains(&r.case.as_str()) {
                cases.push(&r.case);
            }
        }
        cases
    }

    /// One line: per case, which approach won and by how much against the
    /// baseline (or, when the baseline won, how far behind the runner-up is).
    pub fn verdict(&self) -> String {
        let mut parts = Vec::new();
        for case in self.cases() {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.case == case).collect();
            let base = rows[0];
            let Some(best) = rows.iter().min_by_key(|r| r.time) else {
                continue;
            };
            if rows.len() == 1 {
                continue;
            }
            if best.approach == base.approach {
                let runner = rows[1..].iter().min_by_key(|r| r.time).unwrap_or(&base);
                parts.push(format!(
                    "{case}: {} wins, {} is {:.1}x slower",
                    base.approach,
                    runner.approach,
                    1.0 / runner.speedup
                ));
            } else {
                parts.push(format!(
                    "{case}: {} wins, {:.1}x faster than {}",
                    best.approach, best.speedup, base.approach
                ));
            }
        }
        if parts.is_empty() {
            "nothing to compare".to_string()
        } else {
            parts.join("; ")
        }
    }

    fn heading(&self) -> String {
        if self.unit.is_empty() {
            format!("{}: {}", self.name, self.question)
        } else {
            format!("{}: {} (time {})", self.name, self.question, self.unit)
        }
    }

    /// Aligned plain text: heading, one line per row ending in the speedup
    /// (`1.93x`), notes, then `verdict: ...`.
    pub fn text(&self) -> String {
        let header = ["case", "approach", "time", "speedup"];
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.case.clone(),
                    r.approach.clone(),
                    duration(r.time),
                    ratio(r.speedup),
                ]
            })
            .collect();
        let mut width = header.map(|h| h.chars().count());
        for c in &cells {
            for (w, cell) in width.iter_mut().zip(c) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = format!("== {} ==\n", self.heading());
        let line = |out: &mut String, c: [&str; 4]| {
            let _ = writeln!(
                out,
                "  {:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}",
                c[0],
                c[1],
                c[2],
                c[3],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3]
            );
        };
        line(&mut out, header);
        for c in &cells {
            line(&mut out, [&c[0], &c[1], &c[2], &c[3]]);
        }
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        let _ = writeln!(out, "  verdict: {}", self.verdict());
        out
    }

    /// The same table as GitHub Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.heading());
        out.push_str("| case | approach | time | speedup |\n|---|---|---:|---:|\n");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                r.case,
                r.approach.replace('|', "\\|"),
                duration(r.time),
                ratio(r.speedup)
            );
        }
        out.push('\n');
        for n in &self.notes {
            let _ = writeln!(out, "Note: {n}\n");
        }
        let _ = writeln!(out, "**Verdict:** {}\n", self.verdict());
        out
    }
}

/// A speedup as `1.93x`: three significant figures, so a tiny ratio never
/// prints as zero.
pub fn ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else if r >= 10.0 {
        format!("{r:.1}x")
    } else if r >= 0.01 || r <= 0.0 || !r.is_finite() {
        format!("{r:.2}x")
    } else {
        // Keep three significant figures so a tiny ratio never prints as 0.
        let decimals = (2.0 - r.log10().floor()) as usize;
        format!("{r:.decimals$}x")
    }
}

/// A duration with three significant figures and a unit: `18.2 µs`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else if v >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

/// Runs `f` once to warm up, then `reps` times, and returns the median
/// time of one run divided by `per` (the units of work one run does).
pub fn median<E>(
    reps: usize,
    per: u32,
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<Duration, E> {
    f()?;
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2] / per.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_have_their_own_baseline() {
        let mut t = Table::new("x", "q");
        t.row("a", "base", Duration::from_millis(10));
        t.row("a", "fast", Duration::from_millis(5));
        t.row("b", "base", Duration::from_millis(1));
        t.row("b", "slow", Duration::from_millis(4));
        let s: Vec<f64> = t.rows().iter().map(|r| r.speedup).collect();
        assert_eq!(s, [1.0, 2.0, 1.0, 0.25]);
        let v = t.verdict();
        assert!(v.contains("a: fast wins, 2.0x faster than base"), "{v}");
        assert!(v.contains("b: base wins, slow is 4.0x slower"), "{v}");
    }

    #[test]
    fn every_text_row_ends_in_a_ratio() {
        let mut t = Table::new("x", "q").unit("per task");
        t.row("a", "one", Duration::from_micros(18));
        t.row("a", "two", Duration::from_secs(2));
        t.note("three: not available yet");
        let text = t.text();
        let rows: Vec<&str> = text.lines().skip(2).take(2).collect();
        assert!(rows[0].ends_with("1.00x"), "{text}");
        assert!(rows[1].ends_with("0.00000900x"), "{text}");
        assert!(
            text.contains("18.0 µs") && text.contains("2.00 s"),
            "{text}"
        );
        assert!(text.contains("note: three: not available yet"));
        assert!(t.markdown().contains("| a | one | 18.0 µs | 1.00x |"));
    }

    #[test]
    fn formats() {
        assert_eq!(duration(Duration::from_nanos(950)), "950 ns");
        assert_eq!(duration(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(ratio(1.234), "1.23x");
        assert_eq!(ratio(123.4), "123x");
    }
}
