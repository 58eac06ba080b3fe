//! The `compare` tables as pictures: one SVG bar chart per table, one bar
//! per row, the approaches down the side and the time per unit along a log
//! scale (a pool's 5 ns and CPython's 17 µs fit on one axis). The colour
//! says who ran it, Rust or CPython, and as what: threads, processes, or
//! neither (a baseline, a lock against a lock).
//!
//! ```
//! use benches::report::{Model, Table};
//!
//! let mut t = Table::new("cpu_scaling", "one CPU-bound job").unit("per job");
//! t.row("primes", "sequential", 0.100);
//! t.row_of("primes", "rayon x2", Model::Threads, 0.052);
//! t.row_of("py: primes", "py Pool(fork) x2", Model::Processes, 0.9);
//! let svg = benches::chart::svg(&t).unwrap();
//! assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
//! assert!(svg.contains("CPython processes") && svg.contains("Rust threads"));
//! ```

use std::error::Error;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{Model, Row, Table, duration, write_whole};

/// Who ran a row and as what, in legend order, with its colour.
const KINDS: [(bool, Model, &str, RGBColor); 6] = [
    (
        false,
        Model::Threads,
        "Rust threads",
        RGBColor(31, 119, 180),
    ),
    (
        false,
        Model::Processes,
        "Rust processes",
        RGBColor(255, 127, 14),
    ),
    (
        false,
        Model::Other,
        "Rust, neither",
        RGBColor(140, 140, 140),
    ),
    (
        true,
        Model::Threads,
        "CPython threads",
        RGBColor(44, 160, 44),
    ),
    (
        true,
        Model::Processes,
        "CPython processes",
        RGBColor(214, 39, 40),
    ),
    (
        true,
        Model::Other,
        "CPython, neither",
        RGBColor(148, 103, 189),
    ),
];

fn is_python(r: &Row) -> bool {
    r.case.starts_with("py")
}

/// The chart of one table, as an SVG document.
pub fn svg(table: &Table) -> io::Result<String> {
    let mut out = String::new();
    draw(table, &mut out).map_err(|e| io::Error::other(format!("chart {}: {e}", table.name)))?;
    Ok(out)
}

fn draw(table: &Table, out: &mut String) -> Result<(), Box<dyn Error>> {
    let rows: Vec<&Row> = table.rows().iter().filter(|r| r.time < 1e6).collect();
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} · {}", r.case, r.approach))
        .collect();
    let n = rows.len().max(1);
    let fastest = rows.iter().map(|r| r.time).fold(f64::INFINITY, f64::min);
    let slowest = rows.iter().map(|r| r.time).fold(0.0, f64::max);
    // Whole decades, with room after the slowest bar for its time.
    let decade = |t: f64, up: bool| {
        let e = t.log10();
        10f64.powf(if up { e.ceil() } else { e.floor() })
    };
    let (lo, hi) = if rows.is_empty() {
        (1e-9, 1.0)
    } else {
        (decade(fastest / 1.5, false), decade(slowest * 3.0, true))
    };
    let label_px = 6 * labels.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u32;
    let size = (label_px + 800, 22 * n as u32 + 110);
    // The first row at the top: plotters counts upwards.
    let slot = |i: usize| n - 1 - i;
    {
        let root = SVGBackend::with_string(out, size).into_drawing_area();
        root.fill(&WHITE)?;
        // The legend sits right of the plot, never over a bar.
        let (plot, side) = root.split_horizontally(size.0 - 160);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                format!("{}: {}", table.name, table.question),
                ("sans-serif", 16),
            )
            .margin(12)
            .margin_right(40)
            .x_label_area_size(36)
            .y_label_area_size(label_px + 10)
            .build_cartesian_2d((lo..hi).log_scale(), (0..n - 1).into_segmented())?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < labels.len() => labels[slot(*i)].clone(),
            _ => String::new(),
        };
        let time_of = |t: &f64| duration(*t);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(8)
            .x_max_light_lines(1)
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_label_formatter(&time_of)
            .x_desc(format!("time {}, log scale", table.unit))
            .draw()?;
        let value =
            TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let mut shown = 0;
        for (python, model, name, colour) in KINDS {
            let mine: Vec<(usize, &Row)> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| is_python(r) == python && r.model == model)
                .map(|(i, r)| (slot(i), *r))
                .collect();
            if mine.is_empty() {
                continue;
            }
            chart.draw_series(mine.iter().map(|&(y, r)| {
                let mut bar = Rectangle::new(
                    [
                        (lo, SegmentValue::Exact(y)),
                        (r.time, SegmentValue::Exact(y + 1)),
                    ],
                    colour.filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))?;
            chart.draw_series(mine.iter().map(|&(y, r)| {
                Text::new(
                    format!(" {}", duration(r.time)),
                    (r.time, SegmentValue::CenterOf(y)),
                    value.clone(),
                )
            }))?;
            let y = 40 + 20 * shown;
            side.draw(&Rectangle::new([(0, y), (12, y + 12)], colour.filled()))?;
            side.draw(&Text::new(name, (18, y), ("sans-serif", 13)))?;
            shown += 1;
        }
        root.present()?;
    }
    Ok(())
}

/// Makes `dir` (and its parents) and checks that a file can be written in
/// it, so a bad `--svg` is said before anything is measured.
pub fn prepare(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    crate::report::check_writable(dir)
}

/// The file the chart of `table` goes to.
pub fn path(dir: &Path, table: &Table) -> PathBuf {
    dir.join(format!("{}.svg", table.name))
}

/// Draws every table, then writes each to `DIR/<name>.svg` whole (see
/// [`write_whole`]): no chart is ever left half-written.
pub fn write_all(tables: &[Table], dir: &Path) -> io::Result<()> {
    let charts = tables.iter().map(svg).collect::<io::Result<Vec<_>>>()?;
    for (t, chart) in tables.iter().zip(charts) {
        write_whole(&path(dir, t), &chart)?;
    }
    Ok(())
}
