//! Tables of measured times: one per question, with a speedup against a
//! baseline and a one-line verdict, printed as aligned text or Markdown.
//!
//! A table is split into *cases* (say "2 workers" or "64 KiB stream"); the
//! first row of each case is its baseline, and every other row in the case
//! gets `speedup = baseline time / its time`, so `2.00x` is twice as fast
//! and `0.10x` ten times slower. All rows of a case come from the same run.
//!
//! ```
//! use benches::report::Table;
//!
//! let mut t = Table::new("cpu_scaling", "one CPU-bound job at 2 workers");
//! t.row("2 workers", "sequential", 0.100);
//! t.row("2 workers", "rayon", 0.052);
//! assert!((t.rows()[1].speedup - 1.923).abs() < 0.01);
//! assert!(t.verdict().contains("rayon"));
//! assert!(t.text().contains("1.92x"));
//! assert!(t.markdown().starts_with("### cpu_scaling"));
//! ```

use std::fmt::Write as _;
use std::time::Instant;

/// Which side of the question a row stands for; the verdict pits the best
/// [`Model::Threads`] row against the best [`Model::Processes`] row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Neither: a sequential baseline, or a lock against a lock.
    Other,
    /// Threads in one process.
    Threads,
    /// Several processes.
    Processes,
}

/// One measured approach.
#[derive(Debug, Clone)]
pub struct Row {
    /// The setting the row is compared within ("2 workers").
    pub case: String,
    /// What ran ("scoped threads").
    pub approach: String,
    /// Seconds for one unit (see the table's `unit`), the best of a few
    /// runs.
    pub time: f64,
    /// Baseline time / this time; 1.0 for the baseline itself.
    pub speedup: f64,
    /// Threads, processes or neither.
    pub model: Model,
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
    headlines: Vec<String>,
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
            headlines: Vec::new(),
        }
    }

    /// Says what one time measures, shown in the heading.
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = unit.to_string();
        self
    }

    /// Adds a row; the first row of a case is that case's baseline.
    /// `seconds` is the time of one unit; it is clamped to at least 1 ps so
    /// every speedup is finite and positive.
    pub fn row(&mut self, case: &str, approach: &str, seconds: f64) {
        self.row_of(case, approach, Model::Other, seconds);
    }

    /// [`Table::row`] for a row that stands for threads or processes.
    pub fn row_of(&mut self, case: &str, approach: &str, model: Model, seconds: f64) {
        let time = if seconds.is_finite() {
            seconds.max(1e-12)
        } else {
            f64::MAX
        };
        let speedup = match self.rows.iter().find(|r| r.case == case) {
            Some(base) => base.time / time,
            None => 1.0,
        };
        self.rows.push(Row {
            case: case.to_string(),
            approach: approach.to_string(),
            time,
            speedup,
            model,
        });
    }

    /// Adds a case the verdict speaks about for the Rust rows (default:
    /// the first); Python's `py: ` cases always use their first.
    pub fn headline(&mut self, case: &str) {
        self.headlines.push(case.to_string());
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

    /// One line: in the headline case (and the first Python case), whether
    /// threads or processes win and by how much; where a case has only one
    /// model, which approach beats the baseline.
    pub fn verdict(&self) -> String {
        let cases = self.cases();
        let mut chosen: Vec<&str> = cases
            .iter()
            .copied()
            .filter(|c| self.headlines.iter().any(|h| h == c))
            .collect();
        if chosen.is_empty() {
            chosen.extend(cases.iter().copied().find(|c| !c.starts_with("py")));
        }
        chosen.extend(cases.iter().copied().find(|c| c.starts_with("py")));
        let parts: Vec<String> = chosen
            .into_iter()
            .filter_map(|c| self.case_verdict(c))
            .collect();
        if parts.is_empty() {
            "nothing to compare".to_string()
        } else {
            parts.join("; ")
        }
    }

    fn case_verdict(&self, case: &str) -> Option<String> {
        let rows: Vec<&Row> = self.rows.iter().filter(|r| r.case == case).collect();
        let fastest = |m: Option<Model>| {
            rows.iter()
                .filter(|r| m.is_none_or(|m| r.model == m))
                .min_by(|a, b| a.time.total_cmp(&b.time))
                .copied()
        };
        if let (Some(t), Some(p)) = (
            fastest(Some(Model::Threads)),
            fastest(Some(Model::Processes)),
        ) {
            let (win, lose, who) = if t.time <= p.time {
                (t, p, "threads")
            } else {
                (p, t, "processes")
            };
            if lose.time / win.time < TIE_BELOW {
                return Some(format!(
                    "{case}: a tie, {} and {} within {:.0}% of each other",
                    t.approach,
                    p.approach,
                    (TIE_BELOW - 1.0) * 100.0
                ));
            }
            return Some(format!(
                "{case}: {who} win, {} is {} faster than {}",
                win.approach,
                ratio(lose.time / win.time),
                lose.approach
            ));
        }
        let base = rows.first()?;
        let best = fastest(None)?;
        if rows.len() < 2 {
            return None;
        }
        Some(if best.approach == base.approach {
            let runner = rows[1..].iter().min_by(|a, b| a.time.total_cmp(&b.time))?;
            format!(
                "{case}: {} wins, {} is {} slower",
                base.approach,
                runner.approach,
                ratio(runner.time / base.time)
            )
        } else {
            format!(
                "{case}: {} wins, {} faster than {}",
                best.approach,
                ratio(best.speedup),
                base.approach
            )
        })
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

/// Threads and processes closer than this ratio are called a tie: one
/// run on a shared machine cannot tell them apart.
pub const TIE_BELOW: f64 = 1.05;

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

/// Seconds with three significant figures and a unit: `18.2 µs`.
pub fn duration(seconds: f64) -> String {
    let ns = seconds * 1e9;
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

/// `1234567` as `1 234 567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// What a report says about the run it came from, all measured in it.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line that made it.
    pub command: String,
    /// The one-minute load average just before the run, if Linux says.
    pub load_before: Option<f64>,
    /// The code measured: [`commit`], read before anything is written.
    pub commit: String,
    /// Seconds the measuring took.
    pub seconds: f64,
    /// The note naming the Python build of the `py` rows, or why there are
    /// none.
    pub python_note: Option<String>,
    /// Where the charts are, as the Markdown should link them.
    pub charts: Option<std::path::PathBuf>,
}

impl Run {
    /// A run of the current process's command line (shown as the `cargo
    /// run` that reproduces it), with the load average read now.
    pub fn start() -> Self {
        let rest: Vec<String> = std::env::args().skip(1).collect();
        Self {
            command: format!(
                "cargo run --release -p benches --bin compare -- {}",
                rest.join(" ")
            ),
            load_before: load_average(),
            commit: commit(),
            seconds: 0.0,
            python_note: None,
            charts: None,
        }
    }

    /// The whole report: every table as text, or as Markdown under its
    /// header (with each table's chart, when there are charts).
    pub fn render(&self, tables: &[Table], markdown: bool) -> String {
        let mut out = if markdown {
            self.markdown_header()
        } else {
            String::new()
        };
        if let Some(note) = &self.python_note {
            let _ = writeln!(out, "{}{note}\n", if markdown { "Note: " } else { "" });
        }
        for t in tables {
            if !markdown {
                out.push_str(&t.text());
            } else if let Some(dir) = &self.charts {
                let md = t.markdown();
                let (heading, rest) = md.split_once("\n\n").unwrap_or((&md, ""));
                let chart = dir.join(format!("{}.svg", t.name));
                let _ = write!(
                    out,
                    "{heading}\n\n![{}: {}]({})\n\n{rest}",
                    t.name,
                    t.question,
                    chart.display()
                );
            } else {
                out.push_str(&t.markdown());
            }
            out.push('\n');
        }
        if !markdown {
            let _ = writeln!(
                out,
                "lesson: threads share memory and start in microseconds; processes pay to start \
                 and to copy every byte, and win only where a lock (a GIL) stops threads ({:.1} s)",
                self.seconds
            );
        }
        out
    }

    /// Links the charts in `dir` from the Markdown, relative to the folder
    /// of the file the report goes into (if any).
    pub fn link_charts(&mut self, dir: &std::path::Path, file: Option<&std::path::Path>) {
        let base = file.and_then(std::path::Path::parent);
        let dir = base.and_then(|b| dir.strip_prefix(b).ok()).unwrap_or(dir);
        self.charts = Some(dir.to_path_buf());
    }

    /// The top of a Markdown report: machine and its load, date, command,
    /// how to read it.
    pub fn markdown_header(&self) -> String {
        let load = self.load_before.map_or(String::new(), |l| {
            format!(", load average {l:.2} before the run")
        });
        format!(
            "Machine: {}{load}. Date: {}. Code: {}, {}. Command: `{}` ({:.0} s in all).\n\n\
             Each time is the fastest of a few runs; *speedup* is the first row of the \
             same case divided by the row (2.00x = twice as fast). Rows marked `py` \
             are CPython, compared with their own first row.\n\n",
            machine(),
            today(),
            self.commit,
            env!("TVP_RUSTC_VERSION"),
            self.command.trim_end(),
            self.seconds
        )
    }
}

/// The commit the code was built from, and whether tracked files differ
/// from it: `commit 1a2b3c4d5e6f` or `commit 1a2b3c4d5e6f with uncommitted
/// changes` (`commit unknown` outside a git checkout).
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR")])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        None => "commit unknown".into(),
        Some(head) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if changes.is_empty() => format!("commit {head}"),
            _ => format!("commit {head} with uncommitted changes"),
        },
    }
}

/// The one-minute load average (`/proc/loadavg`), if there is one.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One line about this machine: cores and CPU model.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, {model}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Howard Hinnant's days-to-civil algorithm.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The line in a Markdown file after which `compare --update FILE` writes
/// its report; what is above it is the file's own text, kept as it is.
pub const MARKER: &str = "<!-- compare --update writes everything below this line -->";

/// `doc` up to and including its [`MARKER`] line, then `report`; `None`
/// when `doc` has no marker line.
///
/// ```
/// use benches::report::{MARKER, splice};
///
/// let doc = format!("# Results\n\nProse.\n\n{MARKER}\n\nold tables\n");
/// let new = splice(&doc, "new tables\n").unwrap();
/// assert_eq!(new, format!("# Results\n\nProse.\n\n{MARKER}\n\nnew tables\n"));
/// assert_eq!(splice("no marker", "x"), None);
/// ```
pub fn splice(doc: &str, report: &str) -> Option<String> {
    let at = doc.lines().position(|l| l.trim() == MARKER)?;
    let mut out: String = doc.lines().take(at + 1).flat_map(|l| [l, "\n"]).collect();
    out.push('\n');
    out.push_str(report);
    Some(out)
}

/// Writes `contents` to `path` through a temporary file in the same
/// folder, renamed into place: a reader (or a failed write) never sees a
/// half-written file, and nothing is left behind on failure.
pub fn write_whole(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ));
    }
    Ok(())
}

/// Checks that a new file can be made in `dir`, so a bad output path is
/// said before anything is measured.
pub fn check_writable(dir: &std::path::Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    write_whole(&dir.join(".compare-probe"), "")?;
    std::fs::remove_file(dir.join(".compare-probe"))
}

/// The text of `file`, checked before anything is measured: it must have
/// the [`MARKER`] line (else a usage error, exit 2) and its folder must
/// take a new file (else exit 74).
pub fn open_for_update(file: &std::path::Path) -> Result<String, lesson::Failure> {
    let doc = std::fs::read_to_string(file)
        .map_err(|e| lesson::Failure::usage(format_args!("cannot read {}: {e}", file.display())))?;
    if splice(&doc, "").is_none() {
        let f = file.display();
        return Err(lesson::Failure::usage(format_args!(
            "{f} has no line {MARKER}"
        )));
    }
    let dir = file.parent().unwrap_or(std::path::Path::new("."));
    check_writable(dir).map_err(|e| cannot_write(file, e))?;
    Ok(doc)
}

/// A file or folder that cannot be written: exit 74, one line.
pub fn cannot_write(path: &std::path::Path, e: std::io::Error) -> lesson::Failure {
    lesson::Failure::with_code(
        lesson::OUTPUT,
        format_args!("cannot write {}: {e}", path.display()),
    )
}

/// The approaches of one table, timed in interleaved rounds: every
/// approach once, then every approach again, and so on. Load from other
/// programs that comes and goes then hits all rows alike instead of
/// whichever row happened to run at that moment, so the ratios of one run
/// stay comparable. Each row keeps its fastest round, not the mean: on a
/// shared machine other work only ever adds time, so the minimum is the
/// steadiest estimate of what the code costs (Python's `timeit` advises the
/// same).
///
/// ```
/// use benches::report::{Model, Rounds, Table};
///
/// let mut t = Table::new("x", "sum a range");
/// let mut rounds = Rounds::default();
/// rounds.add("1e5", "loop", Model::Other, 1, || {
///     let s: u64 = (0..100_000u64).sum();
///     if s == 4_999_950_000 { Ok(()) } else { Err(std::io::Error::other("wrong sum")) }
/// });
/// rounds.add("1e5", "broken", Model::Other, 1, || Err(std::io::Error::other("wrong sum")));
/// rounds.run(3, &mut t);
/// assert_eq!(t.rows().len(), 1);
/// assert!(t.notes()[0].contains("broken (1e5): wrong sum"));
/// ```
#[derive(Default)]
pub struct Rounds<'a> {
    entries: Vec<Entry<'a>>,
}

struct Entry<'a> {
    case: String,
    approach: String,
    model: Model,
    per: u64,
    run: Box<dyn FnMut() -> std::io::Result<()> + 'a>,
    best: f64,
    error: Option<std::io::Error>,
}

impl<'a> Rounds<'a> {
    /// Adds an approach: `run` does `per` units of work once and checks
    /// its answer (an error drops the row and becomes a note).
    pub fn add(
        &mut self,
        case: &str,
        approach: &str,
        model: Model,
        per: u64,
        run: impl FnMut() -> std::io::Result<()> + 'a,
    ) {
        self.entries.push(Entry {
            case: case.to_string(),
            approach: approach.to_string(),
            model,
            per: per.max(1),
            run: Box::new(run),
            best: f64::INFINITY,
            error: None,
        });
    }

    /// Adds a note-only entry: the approach could not even be set up.
    pub fn fail(&mut self, case: &str, approach: &str, error: impl std::fmt::Display) {
        let error = std::io::Error::other(error.to_string());
        self.add(case, approach, Model::Other, 1, move || {
            Err(std::io::Error::new(error.kind(), error.to_string()))
        });
    }

    /// One warm-up round, then `reps` timed rounds; adds the rows (fastest
    /// round / `per`) and notes to `table` in the order they were added.
    pub fn run(mut self, reps: usize, table: &mut Table) {
        for round in 0..=reps.max(1) {
            for e in self.entries.iter_mut().filter(|e| e.error.is_none()) {
                let start = Instant::now();
                match (e.run)() {
                    Ok(()) if round > 0 => {
                        e.best = e.best.min(start.elapsed().as_secs_f64());
                    }
                    Ok(()) => {}
                    Err(err) => e.error = Some(err),
                }
            }
        }
        for e in self.entries {
            match e.error {
                None => table.row_of(&e.case, &e.approach, e.model, e.best / e.per as f64),
                Some(err) => table.note(format!("{} ({}): {err}", e.approach, e.case)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_have_their_own_baseline() {
        let mut t = Table::new("x", "q");
        t.row("a", "base", 0.010);
        t.row("a", "fast", 0.005);
        t.row("b", "base", 0.001);
        t.row("b", "slow", 0.004);
        let s: Vec<f64> = t.rows().iter().map(|r| r.speedup).collect();
        assert_eq!(s, [1.0, 2.0, 1.0, 0.25]);
        assert_eq!(t.verdict(), "a: fast wins, 2.00x faster than base");
        t.headline("b");
        assert_eq!(t.verdict(), "b: base wins, slow is 4.00x slower");
    }

    #[test]
    fn verdict_pits_threads_against_processes() {
        let mut t = Table::new("x", "q");
        t.row("c", "sequential", 1.0);
        t.row_of("c", "threads", Model::Threads, 0.5);
        t.row_of("c", "pool", Model::Processes, 0.25);
        t.row("py: c", "sequential", 1.0);
        t.row_of("py: c", "threading", Model::Threads, 1.0);
        t.row_of("py: c", "Pool", Model::Processes, 0.5);
        assert_eq!(
            t.verdict(),
            "c: processes win, pool is 2.00x faster than threads; \
             py: c: processes win, Pool is 2.00x faster than threading"
        );
    }

    #[test]
    fn threads_and_processes_within_five_percent_are_a_tie() {
        let mut t = Table::new("x", "q");
        t.row("c", "sequential", 1.0);
        t.row_of("c", "threads", Model::Threads, 0.101);
        t.row_of("c", "pool", Model::Processes, 0.100);
        assert_eq!(
            t.verdict(),
            "c: a tie, threads and pool within 5% of each other"
        );
    }

    #[test]
    fn every_text_row_ends_in_a_ratio() {
        let mut t = Table::new("x", "q").unit("per task");
        t.row("a", "one", 18e-6);
        t.row("a", "two", 2.0);
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
        assert_eq!(duration(950e-9), "950 ns");
        assert_eq!(duration(1.5e-3), "1.50 ms");
        assert_eq!(duration(2.5e-9), "2.50 ns");
        assert_eq!(ratio(1.234), "1.23x");
        assert_eq!(ratio(123.4), "123x");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1_000), "1 000");
        assert_eq!(thousands(2_000_000), "2 000 000");
    }

    #[test]
    fn today_is_a_date() {
        let d = today();
        assert_eq!(d.len(), 10, "{d}");
        assert!(d.starts_with("20"), "{d}");
    }
}
